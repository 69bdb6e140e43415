"""Write the query encoder's transformer layers as an ONNX graph, from the converted model's weights.

The graph is built operator by operator with ``onnx.helper`` from the very tensors the NumPy forward pass
(:mod:`pipeline.models.numpy_encoder`) reads, so both compute the same arithmetic: nothing is traced,
downloaded or converted by another tool. It holds what is heavy to compute and light to store, the encoder
layers (86 MB for multilingual-e5-small); what is heavy to store and light to compute stays outside: the
250k-row word-embedding table is looked up in NumPy from the memory-mapped weights (a query reads a few dozen
rows), which keeps the graph a quarter of the model's size and its load under a second.

Inputs (:func:`graph_feeds` makes them from a padded batch): ``tokens`` float32 [real tokens, hidden], the
word + position + token-type rows of the batch's real tokens, summed (before the embedding LayerNorm) —
the GEMMs, nearly all the arithmetic, run over these rows only, where a padded batch of questions wastes a
quarter to a third of it on padding; ``bias`` float32 [batch, 1, 1, padded length], the attention bias of
the padded layout attention works in; ``unpack`` and ``pack``, the row maps between the two layouts;
``pool`` (0/1, [batch, real tokens]) and ``count`` ([batch, 1]) for the mean. Output: ``pooled`` float32
[batch, hidden], the mean of the last layer over each text's tokens (not normalized).

Only :func:`write_graph` imports ``onnx`` (at ``pipeline build``); the query side needs ``onnxruntime``
alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pipeline.models.numpy_encoder import NumpyEncoder

#: the operator set the graph is written in (LayerNormalization needs 17)
OPSET = 17
#: what the graph's arithmetic is; part of the artifact's inputs (a change rewrites the graph)
GRAPH_VERSION = "2"  # 2: packed (no padding in the GEMMs), q, k and v one GEMM


class _Graph:
    """Collects nodes and initializers, naming intermediate values uniquely."""

    def __init__(self) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        self._n += 1
        out = f"{kind.lower()}_{self._n}"
        self.nodes.append(self.helper.make_node(kind, list(inputs), [out], **attrs))
        return out


def _build(enc: NumpyEncoder) -> Any:
    """The ONNX model of ``enc``'s layers (see the module's docstring for inputs and output)."""
    from onnx import TensorProto, helper

    g = _Graph()
    f32 = np.float32
    hidden = enc._p("embeddings.word_embeddings.weight").shape[1]
    heads, d = enc.heads, hidden // enc.heads
    eps = float(enc.eps)

    def weight(name: str) -> np.ndarray:
        return np.asarray(enc._p(name), f32)

    def layer_norm(x: str, prefix: str) -> str:
        w = g.const(prefix + ".weight", weight(prefix + ".weight"))
        b = g.const(prefix + ".bias", weight(prefix + ".bias"))
        return g.op("LayerNormalization", x, w, b, axis=-1, epsilon=eps)

    def linear(x: str, *prefixes: str) -> str:
        # x @ W.T + b over the real tokens only; several layers reading the same x are one GEMM
        wt = np.concatenate([weight(p + ".weight").T for p in prefixes], axis=1)
        b = np.concatenate([weight(p + ".bias") for p in prefixes])
        name = "+".join(prefixes)
        return g.op("Add", g.op("MatMul", x, g.const(name + ".weight.T", wt)), g.const(name + ".bias", b))

    head_dims = g.const("head_dims", np.array([heads, d], np.int64))
    n_and_t = g.const("n_and_t", np.array([0, 3], np.int64))
    flat = g.const("flat", np.array([-1, hidden], np.int64))
    scale = g.const("scale", np.array(1.0 / np.sqrt(d), f32))
    one = g.const("one", np.array(1.0, f32))
    half = g.const("half", np.array(0.5, f32))
    inv_sqrt2 = g.const("inv_sqrt2", np.array(1 / np.sqrt(2), f32))
    thirds = g.const("thirds", np.array([hidden] * 3, np.int64))

    # [n, t, heads, d]: the padded layout attention works in, n and t read off the bias's shape
    padded = g.op("Concat", g.op("Gather", g.op("Shape", "bias"), n_and_t), head_dims, axis=0)
    x = layer_norm("tokens", "embeddings.LayerNorm")
    for i in range(enc.layers):
        p = f"encoder.layer.{i}.attention."
        qkv = linear(x, p + "self.query", p + "self.key", p + "self.value")
        outs = [f"{qkv}_{j}" for j in range(3)]
        g.nodes.append(helper.make_node("Split", [qkv, thirds], outs, axis=1))

        def heads_of(v: str, perm: list[int]) -> str:
            return g.op("Transpose", g.op("Reshape", g.op("Gather", v, "unpack", axis=0), padded), perm=perm)

        q, k, v = (
            heads_of(outs[0], [0, 2, 1, 3]),
            heads_of(outs[1], [0, 2, 3, 1]),
            heads_of(outs[2], [0, 2, 1, 3]),
        )
        s = g.op("Softmax", g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), "bias"), axis=-1)
        ctx = g.op("Reshape", g.op("Transpose", g.op("MatMul", s, v), perm=[0, 2, 1, 3]), flat)
        ctx = g.op("Gather", ctx, "pack", axis=0)  # back to the real tokens
        x = layer_norm(g.op("Add", linear(ctx, p + "output.dense"), x), p + "output.LayerNorm")
        p = f"encoder.layer.{i}."
        u = linear(x, p + "intermediate.dense")
        u = g.op("Mul", g.op("Mul", half, u), g.op("Add", one, g.op("Erf", g.op("Mul", u, inv_sqrt2))))
        x = layer_norm(g.op("Add", linear(u, p + "output.dense"), x), p + "output.LayerNorm")
    g.nodes.append(helper.make_node("Div", [g.op("MatMul", "pool", x), "count"], ["pooled"]))
    graph = helper.make_graph(
        g.nodes,
        "query-encoder",
        [
            helper.make_tensor_value_info("tokens", TensorProto.FLOAT, ["real", hidden]),
            helper.make_tensor_value_info("bias", TensorProto.FLOAT, ["batch", 1, 1, "padded"]),
            helper.make_tensor_value_info("unpack", TensorProto.INT64, ["batch_x_padded"]),
            helper.make_tensor_value_info("pack", TensorProto.INT64, ["real"]),
            helper.make_tensor_value_info("pool", TensorProto.FLOAT, ["batch", "real"]),
            helper.make_tensor_value_info("count", TensorProto.FLOAT, ["batch", 1]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", hidden])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pipeline")
    model.ir_version = 8  # readable by every onnxruntime since 1.14
    return model


def graph_feeds(x: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    """The graph's inputs for a padded batch (``NumpyEncoder.embeddings``'s ``x`` [n, t, hidden] and
    ``mask`` [n, t]): the real tokens' rows, the attention bias of the padded layout (the lowest float for
    padding: its ``exp`` is exactly 0, as in the NumPy pass), the row maps between the two layouts, and the
    0/1 pooling matrix with each text's token count."""
    n, t = mask.shape
    flat_mask = mask.reshape(-1)
    pack = np.flatnonzero(flat_mask)
    unpack = np.zeros(n * t, dtype=np.int64)
    unpack[pack] = np.arange(len(pack))
    counts = mask.sum(1)
    pool = np.zeros((n, len(pack)), dtype=np.float32)
    pool[np.repeat(np.arange(n), counts), np.arange(len(pack))] = 1.0
    return {
        "tokens": np.ascontiguousarray(x.reshape(-1, x.shape[-1])[pack], dtype=np.float32),
        "bias": np.where(mask, 0.0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :],
        "unpack": unpack,
        "pack": pack.astype(np.int64),
        "pool": pool,
        "count": np.maximum(counts, 1).astype(np.float32)[:, None],
    }


def write_graph(model_dir: str | Path, out: str | Path) -> Path:
    """Write the ONNX graph of the encoder layers of the sentence-transformers model in ``model_dir``.

    Raises:
        UnsupportedModel: the NumPy pass (whose arithmetic the graph repeats) cannot run this model.
    """
    import onnx

    model = _build(NumpyEncoder(model_dir))
    onnx.checker.check_model(model)
    out = Path(out)
    onnx.save_model(model, str(out))
    return out
