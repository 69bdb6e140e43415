"""A NumPy forward pass for BERT / XLM-RoBERTa sentence-transformers models (mean pooling, normalized).

Used for *queries*: importing sentence-transformers (and with it transformers and torch) costs 3-4 s on these
CPUs, more than the whole cold-start budget of a search, while a query of a few dozen tokens needs only
~0.6 GFLOP. This encoder imports NumPy, SciPy's ``erf`` and the Rust ``tokenizers`` package, memory-maps
the safetensors weights (only the embedding rows a query uses are ever read), and reproduces the model's
arithmetic in float32. Passages are still embedded by sentence-transformers at build time; tests check that
both give the same vectors (cosine > 0.9999).

Supported: ``model_type`` "bert" or "xlm-roberta" with absolute positions, "gelu" activation, a
sentence-transformers directory whose modules are Transformer -> Pooling(mean) [-> Normalize]. Anything
else raises :class:`UnsupportedModel` and callers fall back to sentence-transformers.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "F64": np.float64}


class UnsupportedModel(ValueError):
    """The model directory is not one this encoder can run exactly."""


def mmap_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Memory-map every tensor of a ``.safetensors`` file as a read-only NumPy array (no copy, no read)."""
    path = Path(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    base = 8 + n
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    out: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        dt = _DTYPES.get(meta["dtype"])
        if dt is None:
            raise UnsupportedModel(f"tensor dtype {meta['dtype']} of {name} is not supported")
        a, b = meta["data_offsets"]
        # a plain ndarray view of the map (no copy): indexing a np.memmap goes through its Python __getitem__
        out[name] = np.asarray(raw[base + a : base + b]).view(dt).reshape(meta["shape"])
    return out


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    var = (xc * xc).mean(-1, keepdims=True)
    return xc / np.sqrt(var + eps) * w + b


class NumpyEncoder:
    """Sentence embeddings from a local sentence-transformers directory, computed with NumPy.

    Args:
        path: the model directory (config.json, model.safetensors, tokenizer.json, modules.json, …).

    Raises:
        UnsupportedModel: architecture, pooling or files this encoder cannot reproduce exactly.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            cfg = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
            modules = json.loads((self.path / "modules.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise UnsupportedModel(
                f"not a local sentence-transformers directory: {self.path} ({e})"
            ) from None
        mtype = cfg.get("model_type")
        if mtype not in ("bert", "xlm-roberta"):
            raise UnsupportedModel(f"model_type {mtype!r} is not supported")
        if (
            cfg.get("hidden_act", "gelu") != "gelu"
            or cfg.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise UnsupportedModel("only gelu activation and absolute positions are supported")
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds[:2] != ["Transformer", "Pooling"] or any(
            k not in ("Transformer", "Pooling", "Normalize") for k in kinds
        ):
            raise UnsupportedModel(f"modules {kinds} are not Transformer -> Pooling [-> Normalize]")
        pool_dir = self.path / next(m["path"] for m in modules if m["type"].endswith("Pooling"))
        pool = json.loads((pool_dir / "config.json").read_text(encoding="utf-8"))
        if not pool.get("pooling_mode_mean_tokens") or any(
            pool.get(k) for k in pool if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"
        ):
            raise UnsupportedModel("only mean pooling is supported")
        weights = self.path / "model.safetensors"
        if not weights.is_file():
            raise UnsupportedModel(f"{weights} is missing")
        self.normalize = "Normalize" in kinds
        self.heads = int(cfg["num_attention_heads"])
        self.layers = int(cfg["num_hidden_layers"])
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.xlmr = mtype == "xlm-roberta"
        self.pad_id = int(cfg.get("pad_token_id", 1 if self.xlmr else 0))
        st_cfg_path = self.path / "sentence_bert_config.json"
        st_cfg = json.loads(st_cfg_path.read_text(encoding="utf-8")) if st_cfg_path.is_file() else {}
        max_pos = int(cfg["max_position_embeddings"]) - (self.pad_id + 1 if self.xlmr else 0)
        self.max_len = min(int(st_cfg.get("max_seq_length", max_pos)), max_pos)
        if not (self.path / "tokenizer.json").is_file():
            raise UnsupportedModel(f"{self.path / 'tokenizer.json'} is missing")
        self._tokenizer: Any = None
        self.w = mmap_safetensors(weights)
        prefix = next(
            (p for p in ("", "roberta.", "bert.") if f"{p}embeddings.word_embeddings.weight" in self.w), None
        )
        if prefix is None:
            raise UnsupportedModel("no embeddings.word_embeddings.weight in the weights")
        self.prefix = prefix

    def _p(self, name: str) -> np.ndarray:
        return self.w[self.prefix + name]

    @property
    def tokenizer(self) -> Any:
        """The model's ``tokenizers`` tokenizer, truncating to the maximum length (loaded on first use)."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            self._tokenizer = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            self._tokenizer.enable_truncation(self.max_len)
        return self._tokenizer

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids with special tokens, truncated to the model's maximum length."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def embeddings(self, ids: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Padded token ids of a batch looked up: word + position + token-type rows, summed (before the
        embedding LayerNorm), float32 [n, t, hidden], and the mask, bool [n, t] (True for a real token)."""
        n, t = len(ids), max(len(x) for x in ids)
        tok = np.full((n, t), self.pad_id, dtype=np.int64)
        mask = np.zeros((n, t), dtype=bool)
        for i, x in enumerate(ids):
            tok[i, : len(x)] = x
            mask[i, : len(x)] = True
        if self.xlmr:  # RoBERTa numbers positions from padding_idx + 1 and gives pads padding_idx
            pos = np.cumsum(mask, axis=1) * mask + self.pad_id
        else:
            pos = np.broadcast_to(np.arange(t), (n, t))
        x = (
            np.asarray(self._p("embeddings.word_embeddings.weight")[tok], dtype=np.float32)
            + self._p("embeddings.position_embeddings.weight")[pos]
            + self._p("embeddings.token_type_embeddings.weight")[0]
        )
        return x, mask

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        """Mean-pooled last layer (not normalized) of a batch of token ids, float32 [n, hidden]."""
        from scipy.special import erf

        x, mask = self.embeddings(ids)
        n, t = mask.shape
        x = _layer_norm(
            x, self._p("embeddings.LayerNorm.weight"), self._p("embeddings.LayerNorm.bias"), self.eps
        )
        h = self.heads
        d = x.shape[-1] // h
        bias = np.where(mask, 0.0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]
        scale = np.float32(1.0 / np.sqrt(d))
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(v: np.ndarray, name: str, p: str = p) -> np.ndarray:
                # one 2-D GEMM over every token of the batch (a 3-D matmul would run one small GEMM per text)
                flat = v.reshape(-1, v.shape[-1]) @ self._p(p + name + ".weight").T + self._p(
                    p + name + ".bias"
                )
                return flat.reshape(*v.shape[:-1], flat.shape[-1])

            q = lin(x, "attention.self.query").reshape(n, t, h, d).transpose(0, 2, 1, 3)
            k = lin(x, "attention.self.key").reshape(n, t, h, d).transpose(0, 2, 3, 1)
            v = lin(x, "attention.self.value").reshape(n, t, h, d).transpose(0, 2, 1, 3)
            s = (q @ k) * scale + bias
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(0, 2, 1, 3).reshape(n, t, h * d)
            x = _layer_norm(
                lin(ctx, "attention.output.dense") + x,
                self._p(p + "attention.output.LayerNorm.weight"),
                self._p(p + "attention.output.LayerNorm.bias"),
                self.eps,
            )
            u = lin(x, "intermediate.dense")
            u = 0.5 * u * (1.0 + erf(u * np.float32(1 / np.sqrt(2))))
            x = _layer_norm(
                lin(u, "output.dense") + x,
                self._p(p + "output.LayerNorm.weight"),
                self._p(p + "output.LayerNorm.bias"),
                self.eps,
            )
        m = mask[:, :, None].astype(np.float32)
        return (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)

    def encode(self, texts: Sequence[str], prompt: str = "", batch_tokens: int = 512) -> np.ndarray:
        """Embed texts (the prompt is prepended to each); rows are L2-normalized when the model says so.

        Texts are sorted by token length and batched under a padded-token budget (512 tokens measured fastest
        on 2 cores: the activations stay in cache), each layer one 2-D GEMM over the batch's tokens.
        """
        if not texts:
            return np.zeros((0, self._p("embeddings.word_embeddings.weight").shape[1]), dtype=np.float32)
        ids = self.tokenize([prompt + t for t in texts])
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), self._p("embeddings.word_embeddings.weight").shape[1]), dtype=np.float32)
        batch: list[int] = []
        for i in [*order, None]:
            if i is not None and (not batch or (len(batch) + 1) * len(ids[i]) <= batch_tokens):
                batch.append(i)
                continue
            if batch:
                out[batch] = self._forward([ids[j] for j in batch])
            batch = [i] if i is not None else []
        if self.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def load_numpy_encoder(path: str | Path) -> Any:
    """A :class:`NumpyEncoder`, or None when the directory is not supported (callers fall back)."""
    try:
        return NumpyEncoder(path)
    except UnsupportedModel:
        return None
