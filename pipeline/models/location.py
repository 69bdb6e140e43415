"""Where the converted default model lives and how it is recorded: light enough for the query side (the query
encoder locates the model here; only :mod:`pipeline.models.convert`, called by
``pipeline build``, writes it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.store import Artifact

__all__ = ["CONVERTER_VERSION", "MODEL_NAME", "SOURCE_FILE", "default_dest", "model_artifact"]

CONVERTER_VERSION = "2"  # 2: written as an artifact (manifest with file hashes)
MODEL_NAME = "multilingual-e5-small"
SOURCE_FILE = "e5-small-q4.bin"


def default_dest(cfg: Config | None = None) -> Path:
    """Directory the converted model is written to (``indexes/models/multilingual-e5-small``)."""
    if cfg is None:
        from pipeline.config import Config

        cfg = Config()
    return cfg.models_dir / MODEL_NAME


def model_artifact(cfg: Config | None = None, dest: Path | None = None) -> Artifact:
    """The converted model directory as an artifact (manifest, file hashes, atomic swap)."""
    from pipeline.store import Artifact

    path = dest if dest is not None else default_dest(cfg)
    return Artifact(path, "model", CONVERTER_VERSION, "converted model")
