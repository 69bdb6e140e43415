"""Write the query encoder's transformer layers as an ONNX graph, from the converted model's weights.

The graph is built operator by operator with ``onnx.helper`` from the very tensors the NumPy forward pass
(:mod:`pipeline.models.numpy_encoder`) reads, so both compute the same arithmetic: nothing is traced,
downloaded or converted by another tool. It holds what is heavy to compute and light to store, the encoder
layers (86 MB for multilingual-e5-small); what is heavy to store and light to compute stays outside: the
250k-row word-embedding table is looked up in NumPy from the memory-mapped weights (a query reads a few dozen
rows), which keeps the graph a quarter of the model's size and its load under a second.

Inputs: ``embeddings`` float32 [batch, tokens, hidden] (word + position + token-type rows, summed, before the
embedding LayerNorm) and ``mask`` float32 [batch, tokens] (1 for a token, 0 for padding). Output: ``pooled``
float32 [batch, hidden], the mean of the last layer over the real tokens (not normalized).

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
GRAPH_VERSION = "1"


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

    def layer_norm(x: str, prefix: str) -> str:
        w = g.const(prefix + ".weight", np.asarray(enc._p(prefix + ".weight"), f32))
        b = g.const(prefix + ".bias", np.asarray(enc._p(prefix + ".bias"), f32))
        return g.op("LayerNormalization", x, w, b, axis=-1, epsilon=eps)

    def linear(x: str, prefix: str) -> str:
        # x @ W.T + b, with W.T stored (one GEMM over every token of the batch, as the NumPy pass does)
        wt = g.const(prefix + ".weight.T", np.asarray(enc._p(prefix + ".weight"), f32).T)
        b = g.const(prefix + ".bias", np.asarray(enc._p(prefix + ".bias"), f32))
        return g.op("Add", g.op("MatMul", x, wt), b)

    split_shape = g.const("split_shape", np.array([0, 0, heads, d], np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, hidden], np.int64))
    scale = g.const("scale", np.array(1.0 / np.sqrt(d), f32))
    one = g.const("one", np.array(1.0, f32))
    lowest = g.const("lowest", np.array(np.finfo(np.float32).min, f32))
    half = g.const("half", np.array(0.5, f32))
    inv_sqrt2 = g.const("inv_sqrt2", np.array(1 / np.sqrt(2), f32))
    axes_12 = g.const("axes_12", np.array([1, 2], np.int64))
    axes_2 = g.const("axes_2", np.array([2], np.int64))
    axes_1 = g.const("axes_1", np.array([1], np.int64))
    tiny = g.const("tiny", np.array(1e-9, f32))

    # padding gets the lowest float as attention bias: exp() of it is exactly 0, as in the NumPy pass
    bias = g.op("Unsqueeze", g.op("Mul", g.op("Sub", one, "mask"), lowest), axes_12)  # [n, 1, 1, t]
    x = layer_norm("embeddings", "embeddings.LayerNorm")
    for i in range(enc.layers):
        p = f"encoder.layer.{i}."

        def heads_of(name: str, perm: list[int], p: str = p) -> str:
            return g.op("Transpose", g.op("Reshape", linear(x, p + name), split_shape), perm=perm)

        q = heads_of("attention.self.query", [0, 2, 1, 3])
        k = heads_of("attention.self.key", [0, 2, 3, 1])
        v = heads_of("attention.self.value", [0, 2, 1, 3])
        s = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), bias)
        s = g.op("Softmax", s, axis=-1)
        ctx = g.op("Reshape", g.op("Transpose", g.op("MatMul", s, v), perm=[0, 2, 1, 3]), merge_shape)
        attended = g.op("Add", linear(ctx, p + "attention.output.dense"), x)
        x = layer_norm(attended, p + "attention.output.LayerNorm")
        u = linear(x, p + "intermediate.dense")
        u = g.op("Mul", g.op("Mul", half, u), g.op("Add", one, g.op("Erf", g.op("Mul", u, inv_sqrt2))))
        x = layer_norm(g.op("Add", linear(u, p + "output.dense"), x), p + "output.LayerNorm")
    m = g.op("Unsqueeze", "mask", axes_2)  # [n, t, 1]
    total = g.op("ReduceSum", g.op("Mul", x, m), axes_1, keepdims=0)
    count = g.op("Max", g.op("ReduceSum", m, axes_1, keepdims=0), tiny)
    g.nodes.append(helper.make_node("Div", [total, count], ["pooled"]))
    graph = helper.make_graph(
        g.nodes,
        "query-encoder",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", hidden]),
            helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", hidden])],
        g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pipeline")
    model.ir_version = 8  # readable by every onnxruntime since 1.14
    return model


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
