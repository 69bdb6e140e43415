"""The query encoder's layers run by ONNX Runtime, from a graph ``pipeline build`` writes (an artifact).

Same arithmetic as the NumPy pass (:mod:`pipeline.models.numpy_encoder`, whose tokenizer, embedding lookup,
batching and normalisation it reuses): the graph (:mod:`pipeline.models.onnx_graph`) is written from the
same tensors, in float32. Vectors agree with the NumPy pass within 1e-6 and every development ranking is
the same (``tests/test_onnx_encoder.py``); on these 2-core machines it embeds a question about 2.8 times as
fast with one thread (README, Performance).

**Threads.** A session runs its operators on ``threads`` intra-op threads (default 1) and never spins
waiting for work: callers that answer questions side by side (the server's query workers) each get one
thread, so workers × threads never exceeds the cores; a single caller may ask for more.

The graph is an artifact under ``indexes/models/query-encoder`` (manifest with the files' sha256, atomic
swap) with the tokenizer in its fast form (:mod:`pipeline.models.unigram`), its inputs naming the model it
was written from: a graph of another model, or of another version of the graph, is stale and the NumPy pass
answers until ``pipeline build`` writes it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.models.numpy_encoder import NumpyEncoder
from pipeline.models.onnx_graph import GRAPH_VERSION, graph_feeds
from pipeline.models.unigram import VOCAB_FILE, FastUnigram

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.store import Artifact

__all__ = ["GRAPH_FILE", "OnnxEncoder", "graph_artifact", "graph_inputs", "onnxruntime_available"]

GRAPH_FILE = "encoder.onnx"


def graph_artifact(cfg: Config) -> Artifact:
    """The query encoder's ONNX graph and fast tokenizer as an artifact (``indexes/models/query-encoder``)."""
    from pipeline.store import Artifact

    return Artifact(cfg.models_dir / "query-encoder", "query-encoder", GRAPH_VERSION, "query encoder graph")


def graph_inputs(model_identity: dict[str, str]) -> dict[str, Any]:
    """What the artifact is written from: the model (its name and weights' hash,
    :func:`pipeline.embed.model_identity`) and the ``marshal`` format its tokenizer file is in."""
    import marshal

    return {
        "model": model_identity["model"],
        "model_sha256": model_identity["model_sha256"],
        "marshal": marshal.version,
    }


def onnxruntime_available() -> bool:
    """True when ``onnxruntime`` can be imported (it is a dependency; a broken install falls back)."""
    import importlib.util

    return importlib.util.find_spec("onnxruntime") is not None


class OnnxEncoder(NumpyEncoder):
    """A :class:`NumpyEncoder` whose transformer layers run in an ONNX Runtime session.

    Args:
        path: the sentence-transformers model directory (tokenizer, embedding table).
        graph: the ONNX file written from it (:func:`pipeline.models.onnx_graph.write_graph`).
        threads: intra-op threads of the session (see the module's docstring).
    """

    kind = "onnx"

    def __init__(self, path: str | Path, graph: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        super().__init__(path)
        graph = Path(graph)
        self._fast: Any = None
        if (graph.parent / VOCAB_FILE).is_file():
            self._fast = FastUnigram(graph.parent, self.path / "tokenizer.json", self.max_len)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3  # errors only: the session's notes are not the user's business
        self.threads = opts.intra_op_num_threads
        self.session: Any = ort.InferenceSession(str(graph), opts, providers=["CPUExecutionProvider"])

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids as :meth:`NumpyEncoder.tokenize` gives them (the fast form when the artifact has it)."""
        if self._fast is None:
            return super().tokenize(texts)
        return self._fast.encode_batch(texts)

    def _forward(self, ids: list[list[int]]) -> np.ndarray:
        out = self.session.run(["pooled"], graph_feeds(*self.embeddings(ids)))[0]
        return np.asarray(out, dtype=np.float32)
