"""What the home's artifacts record about themselves (their manifests), for a health report such as the
server's ``/api/health``: read only, nothing is verified or built here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.store import Artifact

__all__ = ["artifact_info", "document_manifests", "index_manifests"]


def artifact_info(art: Artifact) -> dict[str, Any]:
    """An artifact's path and its manifest's ``inputs`` and ``info`` (or the reason it cannot be read)."""
    try:
        m = art.read_manifest()
    except PipelineError as e:
        return {"path": str(art.directory), "error": str(e)}
    return {"path": str(art.directory), "inputs": m["inputs"], "info": m.get("info", {})}


def document_manifests(cfg: Config, key: str) -> dict[str, dict[str, Any]]:
    """What one report's indexes (``indexes/docs/KEY/``) record about themselves: lexical, dense."""
    from pipeline.dense import dense_artifact
    from pipeline.layout import dense_dir, lexical_dir
    from pipeline.lexical import lexical_artifact

    return {
        "lexical": artifact_info(lexical_artifact(lexical_dir(cfg, key))),
        "dense": artifact_info(dense_artifact(dense_dir(cfg, key))),
    }


def index_manifests(cfg: Config) -> dict[str, dict[str, Any]]:
    """What the library's shared artifacts under ``indexes/`` record about themselves: model, translator,
    query encoder graph (each report's own indexes: :func:`document_manifests`)."""
    from pipeline.translate.cedict import CACHE_SUBDIR, reverse_index_artifact

    out: dict[str, dict[str, Any]] = {}
    if cfg.model is None:
        from pipeline.models.convert import model_artifact

        out["model"] = artifact_info(model_artifact(cfg))
    else:
        out["model"] = {"path": str(cfg.model), "info": {"given_with": "--model"}}
    out["translator"] = artifact_info(reverse_index_artifact(cfg.index_dir / CACHE_SUBDIR))
    from pipeline.models.onnx_encoder import graph_artifact

    out["query_encoder"] = artifact_info(graph_artifact(cfg))
    return out
