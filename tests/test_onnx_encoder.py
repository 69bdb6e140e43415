"""One rule for query vectors, faster: the ONNX Runtime graph written at build, its fast tokenizer, and the
workers that answer a batch side by side — the same ids, the same vectors (within 1e-6) and the same
rankings as the NumPy pass on every development question."""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import DEV, ROOT

from pipeline.evaluate import load_qrels
from pipeline.fanout import chunks, fan_out

OUT_OF_SCOPE = ROOT / "corpus" / "eval" / "out-of-scope.jsonl"


# ---------------------------------------------------------------------------- fan-out (no model)


@pytest.mark.parametrize("n", [0, 1, 3, 4, 17, 64, 65, 128, 209, 1000])
@pytest.mark.parametrize("size", [1, 16, 64])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_chunks_cover_everything_once_in_order_within_the_size(n: int, size: int, workers: int) -> None:
    parts = chunks(n, size, workers)
    assert [i for r in parts for i in r] == list(range(n))
    assert all(0 < len(r) <= size for r in parts)
    if parts:
        assert len({len(r) for r in parts[:-1]}) <= 1 and len(parts[-1]) <= len(parts[0])  # even chunks
    if workers > 1 and n >= 2 * workers:
        assert len(parts) >= workers  # every thread gets work


def test_fan_out_keeps_the_order_uses_threads_and_reports_progress() -> None:
    seen: set[str] = set()
    done: list[int] = []

    def work(part: list[int]) -> list[int]:
        seen.add(threading.current_thread().name)
        time.sleep(0.02)  # still busy when the next chunk is handed out: the pool starts its second thread
        return [x * x for x in part]

    items = list(range(100))
    assert fan_out(work, items, 10, 2, done.append) == [x * x for x in items]
    assert sum(done) == 100 and len(done) == 10
    assert len(seen) == 2 and all(name.startswith("pipeline-fanout") for name in seen)
    assert fan_out(work, items, 10, 1) == [x * x for x in items]


def test_fan_out_raises_what_a_chunk_raised() -> None:
    def work(part: list[int]) -> list[int]:
        if 57 in part:
            raise ValueError("chunk with 57")
        return part

    with pytest.raises(ValueError, match="57"):
        fan_out(work, list(range(100)), 10, 2)


# ---------------------------------------------------------------------------- the real model


def _texts(cfg: Any) -> list[str]:
    """Every sentence and paragraph of the library, the evaluation questions, and generated text: mixed
    scripts, full-width forms, controls, emoji, private-use and astral characters, special tokens' text,
    runs longer than the model's 512 tokens."""
    from pipeline.library import load_library

    lib = load_library(cfg)
    texts = [p.text for p in lib.paragraphs]
    texts += [p.text[s.start : s.end] for p in lib.paragraphs for s in p.sentences]
    for path in (DEV, OUT_OF_SCOPE):
        texts += [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line]
    rng = random.Random(7)
    alphabet = "abcXYZ 09伪药对患者有什么危害。，！？“”\u00a0\u3000①Ⅱ﹏ﬁé́\t\n\u200b😀𠀀\ue000<>/s＄％ｱ"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(2000)]
    texts += ["<s>", "a <mask> b", "</s>x", "x" * 3000, "伪" * 700, "", " ", "query: "]
    return texts


@pytest.fixture(scope="module")
def graph(retriever: Any) -> Path:
    """The graph and fast tokenizer, written in the session home as ``pipeline build`` writes them."""
    from pipeline.embed import ensure_query_graph

    path, how = ensure_query_graph(retriever.cfg)
    assert path is not None and path.is_file(), how
    return path


@pytest.fixture(scope="module")
def encoders(retriever: Any, graph: Path) -> tuple[Any, Any]:
    from pipeline.embed import QueryEncoder

    onnx = QueryEncoder(dataclasses.replace(retriever.cfg, query_encoder="onnx"))
    numpy = QueryEncoder(dataclasses.replace(retriever.cfg, query_encoder="numpy"))
    assert (onnx.kind, numpy.kind) == ("onnx", "numpy")
    return onnx, numpy


@pytest.mark.slow
def test_the_fast_tokenizer_gives_the_ids_of_the_models_tokenizer(retriever: Any, encoders: Any) -> None:
    onnx, numpy = encoders
    assert onnx._numpy._fast is not None  # the artifact's fast form is what answers
    texts = [onnx.prompt + t for t in _texts(retriever.cfg)]
    fast = onnx._numpy.tokenize(texts)
    slow = numpy._numpy.tokenize(texts)
    wrong = [(t[:40], a[:12], b[:12]) for t, a, b in zip(texts, fast, slow, strict=True) if a != b]
    assert not wrong, wrong[:5]
    assert max(map(len, fast)) == onnx._numpy.max_len  # truncation as the model's tokenizer does it


@pytest.mark.slow
def test_onnx_vectors_equal_the_numpy_pass_alone_and_batched(encoders: Any) -> None:
    onnx, numpy = encoders
    queries = [q.query for q in load_qrels(DEV)]
    batched = onnx.encode(queries)
    alone = np.stack([onnx.encode([q])[0] for q in queries[::3]])
    reference = numpy.encode(queries)
    assert batched.dtype == np.float32 and batched.shape == reference.shape
    assert np.abs(batched - reference).max() < 1e-6
    assert np.abs(alone - batched[::3]).max() < 1e-6
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_every_dev_ranking_is_the_numpy_passes_with_workers(retriever: Any, encoders: Any, mode: str) -> None:
    """ONNX with two workers answering chunks side by side against the NumPy pass answering alone: the
    same top 10 (paragraphs and order) and the same no-answer flags on every development question."""
    from pipeline.retrieve import Retriever

    onnx, numpy = encoders
    queries = [q.query for q in load_qrels(DEV)]

    def ranked(encoder: Any, workers: int) -> list[tuple[list[Any], bool]]:
        cfg = dataclasses.replace(retriever.cfg, query_workers=workers, batch_size=16)
        r = Retriever(
            retriever.library, cfg=cfg, analyzer=retriever.analyzer, lexical=retriever.lexical,
            dense=retriever.dense, encoder=encoder, citations=retriever.citations,
        )  # fmt: skip
        answers = r.search_many(queries, k=10, mode=mode)
        return [([(h.document, h.paragraph) for h in a.hits], a.no_answer) for a in answers]

    assert ranked(onnx, 2) == ranked(numpy, 1)


@pytest.mark.slow
def test_a_stale_or_damaged_graph_is_never_used(retriever: Any, graph: Path, tmp_path: Path) -> None:
    """Written from another model, or changed on disk: "auto" answers with the NumPy pass (the same
    vectors), ``query_encoder=onnx`` refuses naming ``pipeline build``, and a build writes it again."""
    import shutil

    from pipeline.embed import QueryEncoder, ensure_query_graph
    from pipeline.errors import MissingIndexError
    from pipeline.models.onnx_encoder import graph_artifact

    home = tmp_path / "home"
    shutil.copytree(retriever.cfg.root / "corpus", home / "corpus")
    shutil.copytree(retriever.cfg.models_dir, home / "indexes" / "models", symlinks=True)
    cfg = dataclasses.replace(retriever.cfg, root=home)
    art = graph_artifact(cfg)
    assert QueryEncoder(cfg).kind == "onnx"

    manifest = json.loads(art.path("manifest.json").read_text(encoding="utf-8"))
    manifest["inputs"]["model_sha256"] = "0" * 64  # as if written from another model
    art.path("manifest.json").chmod(0o644)
    art.path("manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert QueryEncoder(cfg).kind == "numpy"
    with pytest.raises(MissingIndexError, match="pipeline build"):
        QueryEncoder(dataclasses.replace(cfg, query_encoder="onnx"))
    assert ensure_query_graph(cfg)[1] == "written" and QueryEncoder(cfg).kind == "onnx"

    onnx_file = art.path("encoder.onnx")
    onnx_file.chmod(0o644)
    data = bytearray(onnx_file.read_bytes())
    data[-100] ^= 0xFF  # one weight changed, same size
    onnx_file.write_bytes(bytes(data))
    assert QueryEncoder(cfg).kind == "numpy"
    assert ensure_query_graph(cfg)[1] == "written" and QueryEncoder(cfg).kind == "onnx"
