"""Dense index: build/save/load, staleness, integrity, incremental rebuilds and scoring.

Fast tests use a stand-in corpus and the deterministic fake embedder of ``support.py`` (prompt, identity,
dims, encode), so they exercise the index logic without a model; the slow test builds the real index of the
report with the converted model and checks that it retrieves the right paragraphs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import FAKE_DIM, FakeEmbedder, fake_vector

from pipeline import dense
from pipeline.config import Config
from pipeline.errors import CorruptIndexError, MissingIndexError, StaleIndexError

DIM = FAKE_DIM
FILES = ("paragraphs.npy", "sentences.npy", "sentence_map.json", "manifest.json")


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
    symbol: str = "A/TEST/1"
    lang: str = "zh"
    sha256: str = "0" * 64
    label: str = "A/TEST/1 (zh)"


def ddir(tcfg: Config, corpus: FakeCorpus) -> Path:
    """The fake report's dense index folder (indexes/docs/KEY/dense)."""
    return dense.dense_dir(tcfg, dense._key(corpus, None))


def make_paragraph(number: int, sentences: list[str]) -> FakeParagraph:
    text, spans, pos = "", [], 0
    for s in sentences:
        spans.append(FakeSentence(s, pos, pos + len(s)))
        text += s
        pos += len(s)
    return FakeParagraph(number, text, spans)


@pytest.fixture
def tcfg(tmp_path: Path) -> Config:
    """A home under tmp_path (only its indexes/ is used)."""
    return Config(root=tmp_path)


@pytest.fixture
def fake_corpus() -> FakeCorpus:
    return FakeCorpus(
        [
            make_paragraph(1, ["海盗行为日渐增多。", "索马里沿海。"]),
            make_paragraph(2, ["网络犯罪。", "身份相关犯罪。", "伪造药品。"]),
            make_paragraph(3, []),  # a paragraph without sentences
            make_paragraph(4, ["文化财产贩运。"]),
        ]
    )


def distinct_texts(corpus: FakeCorpus) -> int:
    _, ptexts, _, stexts = dense.corpus_texts(corpus)
    return len(set(ptexts) | set(stexts))


def build_and_save(tcfg: Config, corpus: FakeCorpus, embedder: FakeEmbedder) -> dense.DenseIndex:
    return dense.build_dense_index(tcfg, corpus, embedder)


def test_build_save_load_roundtrip(
    tcfg: Config, fake_corpus: FakeCorpus, fake_embedder: FakeEmbedder
) -> None:
    index = dense.DenseIndex.build(fake_corpus, fake_embedder)
    assert (
        index.embedded == len(fake_embedder.calls) == len(set(fake_embedder.calls)) == 4 + 6 - 1
    )  # ¶4 = its sentence
    assert index.embedded == distinct_texts(fake_corpus)
    d = ddir(tcfg, fake_corpus)
    inputs = dense.dense_inputs(fake_corpus, fake_embedder.identity)
    index.save(d, inputs)
    assert sorted(p.name for p in d.iterdir()) == sorted([*FILES, ".verified.json"])
    assert sorted(p.name for p in d.parent.iterdir() if p.name != ".lock") == ["dense"]  # no staging dir left
    loaded = dense.DenseIndex.load(d, inputs)
    assert isinstance(loaded.paragraphs, np.memmap) and isinstance(loaded.sentences, np.memmap)
    assert loaded.paragraphs.dtype == np.float32 and loaded.paragraphs.shape == (4, DIM)
    assert loaded.sentences.shape == (6, DIM)
    np.testing.assert_array_equal(loaded.paragraphs, index.paragraphs)
    np.testing.assert_array_equal(loaded.sentences, index.sentences)
    assert loaded.numbers == [0, 1, 2, 3] and loaded.embedded == 0  # rows: numbers may repeat (annexes)
    assert loaded.paragraph_keys == index.paragraph_keys and loaded.sentence_keys == index.sentence_keys
    smap = json.loads((d / "sentence_map.json").read_text(encoding="utf-8"))
    assert [(s["paragraph"], s["index"], s["start"], s["end"]) for s in smap["sentences"]][:3] == [
        (0, 0, 0, 9),
        (0, 1, 9, 15),
        (1, 0, 0, 5),
    ]
    assert smap["paragraphs"][0]["key"] == dense.text_key("passage: ", fake_corpus.paragraphs[0].text)
    m = loaded.manifest
    assert m["dims"] == DIM and m["n_paragraphs"] == 4 and m["n_sentences"] == 6
    assert m["inputs"] == inputs
    assert inputs["embedder.passage_prompt"] == "passage: "
    assert inputs["embedder.model_sha256"] == fake_embedder.identity["model_sha256"]
    assert "query_prompt" not in json.dumps(inputs)  # the query prompt is query-time only
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "dense" and sorted(manifest["files"]) == sorted(FILES[:3])
    # the embedded text is prompt + paragraph text
    first = fake_corpus.paragraphs[0].text
    np.testing.assert_allclose(loaded.paragraphs[0], fake_vector("passage: " + first))
    # the module-level entry points agree
    again = dense.load_dense_index(tcfg, fake_corpus, fake_embedder.identity)
    np.testing.assert_array_equal(again.sentences, index.sentences)


def test_load_without_index_raises_missing(
    tcfg: Config, fake_corpus: FakeCorpus, fake_embedder: FakeEmbedder
) -> None:
    with pytest.raises(MissingIndexError, match="pipeline build"):
        dense.load_dense_index(tcfg, fake_corpus, fake_embedder.identity)
    assert dense.cached_vectors(ddir(tcfg, fake_corpus), fake_embedder.identity) == {}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ("corpus", "texts_sha256"),
        ("offsets", "texts_sha256"),
        ("prompt", "embedder.passage_prompt"),
        ("model", "embedder.model_sha256"),
    ],
)
def test_stale_index_is_refused(
    tcfg: Config, fake_corpus: FakeCorpus, fake_embedder: FakeEmbedder, change: str, key: str
) -> None:
    build_and_save(tcfg, fake_corpus, fake_embedder)
    identity = fake_embedder.identity
    if change == "corpus":
        fake_corpus.paragraphs[1] = make_paragraph(2, ["网络犯罪。", "新的句子。"])
    elif change == "offsets":  # same texts, other sentence spans: the map the index stores changes
        fake_corpus.paragraphs[0].sentences[1].start += 1
    elif change == "prompt":
        identity = FakeEmbedder(prompt="").identity
    else:
        identity = FakeEmbedder(name="fake-v2").identity
    with pytest.raises(StaleIndexError, match=key) as e:
        dense.load_dense_index(tcfg, fake_corpus, identity)
    assert not isinstance(e.value, CorruptIndexError) and "pipeline build" in str(e.value)


@pytest.mark.parametrize("how", ["zeros", "negated", "overwritten"])
def test_damaged_file_is_refused(
    tcfg: Config, fake_corpus: FakeCorpus, fake_embedder: FakeEmbedder, how: str
) -> None:
    """A file that is not what the manifest says is refused even when it is a valid .npy of the right
    shape."""
    index = build_and_save(tcfg, fake_corpus, fake_embedder)
    path = ddir(tcfg, fake_corpus) / "sentences.npy"
    if how == "zeros":
        np.save(path, np.zeros((6, DIM), np.float32))
    elif how == "negated":
        np.save(path, -np.asarray(index.sentences))
    else:
        with open(path, "r+b") as f:
            f.seek(200)
            f.write(os.urandom(500))
    for inputs in (dense.dense_inputs(fake_corpus, fake_embedder.identity), None):
        with pytest.raises(CorruptIndexError, match="sentences.npy") as e:
            dense.DenseIndex.load(ddir(tcfg, fake_corpus), inputs)
        assert "pipeline build" in str(e.value) and e.value.exit_code == 3
    # and the embedding cache does not hand the damaged vectors back
    assert dense.cached_vectors(ddir(tcfg, fake_corpus), fake_embedder.identity) == {}


def test_rebuild_embeds_only_changed_texts(
    tcfg: Config, fake_corpus: FakeCorpus, fake_embedder: FakeEmbedder
) -> None:
    emb = fake_embedder
    assert build_and_save(tcfg, fake_corpus, emb).embedded == 9
    # unchanged: everything comes from the cache
    emb.calls.clear()
    assert build_and_save(tcfg, fake_corpus, emb).embedded == 0 and emb.calls == []
    # one paragraph changed: only its new text and its new sentence are embedded
    fake_corpus.paragraphs[1] = make_paragraph(2, ["网络犯罪。", "新的句子。"])
    index = build_and_save(tcfg, fake_corpus, emb)
    assert sorted(emb.calls) == sorted(["网络犯罪。新的句子。", "新的句子。"])
    assert index.embedded == 2
    loaded = dense.load_dense_index(tcfg, fake_corpus, emb.identity)
    assert loaded.sentences.shape == (5, DIM)
    np.testing.assert_allclose(index.sentences[3], fake_vector("passage: 新的句子。"))
    np.testing.assert_array_equal(loaded.sentences, index.sentences)
    # force: every text embedded again, as the words say
    emb.calls.clear()
    index = dense.build_dense_index(tcfg, fake_corpus, emb, force=True)
    assert index.embedded == len(emb.calls) == distinct_texts(fake_corpus) == 8
    # another model or another passage prompt: nothing is reused
    for other in (FakeEmbedder(name="fake-v2"), FakeEmbedder(prompt="")):
        index = build_and_save(tcfg, fake_corpus, other)
        assert index.embedded == len(other.calls) == 8
        first = fake_corpus.paragraphs[0].text
        np.testing.assert_allclose(index.paragraphs[0], fake_vector(other.prompt + first))


def test_damaged_index_is_not_used_as_a_cache(
    tcfg: Config, fake_corpus: FakeCorpus, fake_embedder: FakeEmbedder
) -> None:
    """Damaged vectors are never reused: with the embedding store gone too, the rebuild embeds everything
    and equals a clean build (with the store, its verified vectors serve: tests/test_embeddings.py)."""
    import shutil

    clean = build_and_save(tcfg, fake_corpus, fake_embedder)
    P = np.array(clean.paragraphs)
    path = ddir(tcfg, fake_corpus) / "paragraphs.npy"
    with open(path, "r+b") as f:
        f.seek(128)
        f.write(os.urandom(600))
    shutil.rmtree(tcfg.index_dir / "embeddings")
    fake_embedder.calls.clear()
    repaired = build_and_save(tcfg, fake_corpus, fake_embedder)
    assert repaired.embedded == len(fake_embedder.calls) == 9
    loaded = dense.load_dense_index(tcfg, fake_corpus, fake_embedder.identity)
    np.testing.assert_array_equal(loaded.paragraphs, P)


def test_cached_vectors(tcfg: Config, fake_corpus: FakeCorpus, fake_embedder: FakeEmbedder) -> None:
    index = build_and_save(tcfg, fake_corpus, fake_embedder)
    cache = dense.cached_vectors(ddir(tcfg, fake_corpus), fake_embedder.identity)
    assert set(cache) == set(index.paragraph_keys) | set(index.sentence_keys) and len(cache) == 9
    key = index.paragraph_keys[1]
    np.testing.assert_array_equal(cache[key], index.paragraphs[1])
    assert dense.cached_vectors(ddir(tcfg, fake_corpus), FakeEmbedder(name="other").identity) == {}
    (ddir(tcfg, fake_corpus) / "manifest.json").write_text("[]")
    assert dense.cached_vectors(ddir(tcfg, fake_corpus), fake_embedder.identity) == {}


def test_search_combines_paragraph_and_best_sentence(
    fake_corpus: FakeCorpus, fake_embedder: FakeEmbedder
) -> None:
    index = dense.DenseIndex.build(fake_corpus, fake_embedder)
    q = fake_vector("passage: 身份相关犯罪。")  # exactly sentence 2.1
    para = index.paragraphs @ q
    best = np.array(
        [
            max(index.sentences[0] @ q, index.sentences[1] @ q),
            max(index.sentences[i] @ q for i in (2, 3, 4)),
            para[2],  # no sentences: falls back to the paragraph cosine
            index.sentences[5] @ q,
        ]
    )
    sc = index.scores(q, sentence_weight=0.25)
    np.testing.assert_allclose(sc["paragraph"], para, rtol=1e-6)
    np.testing.assert_allclose(sc["sentence"], best, rtol=1e-6)
    np.testing.assert_allclose(sc["combined"], 0.75 * para + 0.25 * best, rtol=1e-6)
    default = index.scores(q)
    np.testing.assert_allclose(default["combined"], 0.5 * para + 0.5 * best, rtol=1e-6)
    hits = index.search(q, k=2)
    assert len(hits) == 2 and hits[0].score >= hits[1].score
    assert hits[0].score == pytest.approx(float(default["combined"].max()))
    top = hits[0]
    assert top.number == 1 and top.sentence == 1  # row 1 = ¶2, "身份相关犯罪。"
    assert (top.start, top.end) == (5, 12)
    assert index.search(q.reshape(1, -1), k=10)[0].number == 1  # (1, dim) accepted, k capped by size
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
        smap = [
            {"paragraph": n, "index": j, "start": 0, "end": 1}
            for n, c in zip(numbers, counts)
            for j in range(c)
        ]
        index = dense.DenseIndex(para, sent, numbers, smap, manifest={})
        q = rng.normal(size=8).astype(np.float32)
        sc = index.scores(q, sentence_weight=0.3)
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
    smap = [
        {"paragraph": 2, "index": 0, "start": 0, "end": 1},
        {"paragraph": 1, "index": 0, "start": 0, "end": 1},
    ]
    with pytest.raises(ValueError, match="grouped by paragraph"):
        dense.DenseIndex(np.eye(2, dtype=np.float32), np.eye(2, dtype=np.float32), [1, 2], smap, manifest={})


def test_best_sentence(fake_corpus: FakeCorpus, fake_embedder: FakeEmbedder) -> None:
    index = dense.DenseIndex.build(fake_corpus, fake_embedder)
    q = fake_vector("passage: 索马里沿海。")
    hit = index.best_sentence(0, q)  # row 0 = ¶1
    assert hit.number == 0 and hit.sentence == 1 and (hit.start, hit.end) == (9, 15)
    assert hit.sentence_cosine == pytest.approx(float(index.sentences[1] @ q), rel=1e-6)
    none = index.best_sentence(2, q)
    assert none.sentence == -1 and none.sentence_cosine == pytest.approx(none.paragraph_cosine)
    with pytest.raises(KeyError):
        index.best_sentence(99, q)
    with pytest.raises(ValueError):
        index.scores(np.ones(DIM + 1, np.float32))


def test_importing_embed_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pipeline.embed, pipeline.dense; "
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ---------------------------------------------------------------------------- slow: the real index


@pytest.mark.slow
def test_real_index_retrieves_relevant_paragraphs(tmp_path: Path, home: Path, model_home: Path) -> None:
    """The report embedded with the converted model (given as a model directory, so nothing is converted
    in ``tmp_path``), saved, loaded back and searched with the query encoder every command uses."""
    from pipeline.embed import PassageEmbedder, QueryEncoder
    from pipeline.library import load_corpus

    corpus: Any = load_corpus(Config(root=home))
    cfg = Config(root=tmp_path, model=str(model_home))
    embedder = PassageEmbedder(cfg)
    index = dense.build_dense_index(cfg, corpus, embedder)
    n_sent = sum(len(p.sentences) for p in corpus.paragraphs)
    assert index.paragraphs.shape == (len(corpus.paragraphs), 384) and index.sentences.shape == (n_sent, 384)
    assert index.embedded == distinct_texts(corpus)
    loaded = dense.load_dense_index(cfg, corpus, embedder.identity)
    np.testing.assert_array_equal(loaded.paragraphs, index.paragraphs)
    encoder = QueryEncoder(cfg)
    by_row = corpus.paragraphs  # the index's ids are rows (numbers can repeat where an annex restarts them)
    for query, term in [("索马里沿海的海盗", "海盗"), ("trafficking in cultural property", "文化财产")]:
        q = encoder.encode([query])[0]
        hits = loaded.search(q, k=3)
        assert term in by_row[hits[0].number].index_text, (query, hits)
        best = loaded.best_sentence(hits[0].number, q)
        sentence = by_row[best.number].sentences[best.sentence]
        assert (best.start, best.end) == (sentence.start, sentence.end)
