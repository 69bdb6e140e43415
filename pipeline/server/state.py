"""What the server holds while it runs: the retriever, loaded once, and what is derived from it once.

:func:`load_retriever` loads every component up front through the public API, so a missing, stale or
damaged index refuses to start the server with the command line's message, instead of failing the first
request. :class:`ServerState` keeps the retriever, the :class:`~pipeline.server.coalesce.Coalescer`, the
paragraphs' JSON (the report does not change while the server runs) and the health snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from pipeline import __version__
from pipeline.errors import PipelineError
from pipeline.server.coalesce import Coalescer
from pipeline.server.errors import json_bytes
from pipeline.server.options import ServerOptions

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.retrieve import Retriever
    from pipeline.store import Artifact


def load_retriever(cfg: Config, log: Callable[[str], None] | None = None) -> Retriever:
    """A retriever with everything loaded and verified: the report, its citations, the BM25 index, the dense
    index, the query encoder (and the model it needs) and the translator.

    Raises:
        PipelineError: a component is missing, stale or damaged (nothing is built here: run
            ``pipeline build``, or ``pipeline serve --build``), or a setting is wrong.
    """
    from pipeline.retrieve import Retriever

    r = Retriever.from_config(cfg, build_missing=False, log=log)
    r.corpus  # noqa: B018 - each access loads and verifies one component
    r.citations  # noqa: B018
    r.lexical  # noqa: B018
    r.dense  # noqa: B018
    r.encoder  # noqa: B018
    r.analyzer.translator  # noqa: B018
    return r


def artifact_info(art: Artifact) -> dict[str, Any]:
    """An artifact's path and its manifest's ``inputs`` and ``info`` (or the reason it cannot be read)."""
    try:
        m = art.read_manifest()
    except PipelineError as e:
        return {"path": str(art.directory), "error": str(e)}
    return {"path": str(art.directory), "inputs": m["inputs"], "info": m.get("info", {})}


def index_manifests(cfg: Config) -> dict[str, dict[str, Any]]:
    """What each artifact under ``indexes/`` records about itself: lexical, dense, model, translator."""
    from pipeline.dense import dense_artifact, dense_dir
    from pipeline.lexical import lexical_artifact, lexical_dir
    from pipeline.translate.cedict import CACHE_SUBDIR, reverse_index_artifact

    out = {
        "lexical": artifact_info(lexical_artifact(lexical_dir(cfg))),
        "dense": artifact_info(dense_artifact(dense_dir(cfg))),
    }
    if cfg.model is None:
        from pipeline.models.convert import model_artifact

        out["model"] = artifact_info(model_artifact(cfg))
    else:
        out["model"] = {"path": str(cfg.model), "info": {"given_with": "--model"}}
    out["translator"] = artifact_info(reverse_index_artifact(cfg.index_dir / CACHE_SUBDIR))
    return out


@dataclass
class ServerState:
    """The server's shared state (``app.state.pipeline``).

    Attributes:
        retriever: answers everything.
        options: limits and listening options.
        coalescer: answers concurrent questions together.
        paragraphs: each paragraph's record as JSON bytes, by number.
        all_paragraphs: every record, as one JSON array.
        snapshot: the parts of ``/api/health`` fixed at start.
        batch_limiter: batch chunks are answered one at a time, so a large batch shares the CPU with the
            questions of interactive users instead of crowding them out.
    """

    retriever: Retriever
    options: ServerOptions
    coalescer: Coalescer
    paragraphs: dict[int, bytes]
    all_paragraphs: bytes
    snapshot: dict[str, Any]
    started: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    batch_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))

    @classmethod
    def create(cls, retriever: Retriever, options: ServerOptions) -> ServerState:
        """Derive the state from a retriever (its report and citations are loaded here)."""
        records = retriever.paragraph_records()
        coalescer = Coalescer(
            retriever.search_many,
            window=options.coalesce_ms / 1000,
            max_batch=options.coalesce_max,
            workers=options.coalesce_workers,
        )
        return cls(
            retriever=retriever,
            options=options,
            coalescer=coalescer,
            paragraphs={int(rec["number"]): json_bytes(rec) for rec in records},
            all_paragraphs=json_bytes(records),
            snapshot=_snapshot(retriever, options),
        )

    def health(self) -> dict[str, Any]:
        """The ``/api/health`` record."""
        s = self.coalescer.stats
        return {
            "status": "stopping" if self.coalescer.closed else "ok",
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started_monotonic, 3),
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(timespec="seconds"),
            **self.snapshot,
            "coalescer": {"calls": s.calls, "questions": s.questions, "largest": s.largest},
        }

    def close(self) -> None:
        """Stop the coalescer (questions still queued are refused)."""
        self.coalescer.close()


def _snapshot(r: Retriever, options: ServerOptions) -> dict[str, Any]:
    from pipeline.embed import model_id

    corpus = r.corpus
    try:
        encoder = str(getattr(r.encoder, "kind", type(r.encoder).__name__))
    except PipelineError as e:  # a retriever that loads lazily (tests): say why instead of failing
        encoder = f"unavailable: {e}"
    return {
        "corpus": {
            "path": str(corpus.path),
            "sha256": corpus.sha256,
            "paragraphs": len(corpus.paragraphs),
            "symbol": corpus.metadata.symbol,
        },
        "indexes": index_manifests(r.cfg),
        "model": model_id(r.cfg),
        "encoder": encoder,
        "limits": {
            "max_body_bytes": options.max_body_bytes,
            "max_batch_lines": options.max_batch_lines,
            "max_k": options.max_k,
            "max_query_chars": options.max_query_chars,
            "truncate_query_chars": r.cfg.max_query_chars,
            "max_gloss_chars": options.max_gloss_chars,
            "coalesce_ms": options.coalesce_ms,
            "coalesce_max": options.coalesce_max,
            "coalesce_workers": options.coalesce_workers,
            "blas_threads": options.blas_threads,
        },
    }
