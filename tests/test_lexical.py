"""BM25 index: parity with rank-bm25, retrieval on the real report, persistence and staleness."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from pipeline import lexical
from pipeline.analyze import Analyzer
from pipeline.config import Config
from pipeline.lexical import BM25Index, build_lexical_index, ensure_lexical_index, lexical_manifest
from pipeline.store import MissingIndexError, StaleIndexError, sha256_file


def _standin_corpus(cfg: Config) -> Any:
    """Paragraphs split at "N. " line starts after joining lines (used only if pipeline.ingest is missing)."""
    raw = cfg.document_path.read_text(encoding="utf-8")
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    paras: list[SimpleNamespace] = []
    for ln in lines:
        m = re.match(r"^(\d+)\. (.*)$", ln)
        if m and int(m.group(1)) == len(paras) + 1:
            paras.append(SimpleNamespace(number=int(m.group(1)), index_text=m.group(2)))
        elif paras:
            paras[-1].index_text += ln
    return SimpleNamespace(sha256=sha256_file(cfg.document_path), paragraphs=paras)


@pytest.fixture(scope="module")
def cfg() -> Config:
    return Config()


@pytest.fixture(scope="module")
def corpus(cfg: Config) -> Any:
    try:
        from pipeline.ingest import load_corpus
    except ImportError:
        return _standin_corpus(cfg)
    return load_corpus(cfg)


@pytest.fixture(scope="module")
def analyzer(cfg: Config) -> Analyzer:
    return Analyzer(cfg)


@pytest.fixture(scope="module")
def docs(corpus: Any, analyzer: Analyzer) -> tuple[list[list[str]], list[int]]:
    paras = list(corpus.paragraphs)
    return [analyzer.tokenize(p.index_text) for p in paras], [p.number for p in paras]


QUERY_TEXTS = [
    "第 65/230 号决议",
    "resolution 65/230",
    "ransom paid to pirates in 2011",
    "海盗 赎金 海盗",
    "文化财产贩运",
    "technical assistance for cybercrime",
    "第 28 条",
    "毒品和犯罪问题办公室",
    "未出现的词 nonexistentword",
]


@pytest.fixture(scope="module")
def queries(docs: tuple[list[list[str]], list[int]], analyzer: Analyzer) -> list[list[str]]:
    """Unweighted token queries: analysed texts plus random samples of document tokens (fixed seed)."""
    tokens, _ = docs
    out = [[t for t, w in analyzer.analyze_query(q) for _ in range(max(1, round(w)))] for q in QUERY_TEXTS]
    rng = random.Random(1234)
    vocab = sorted({t for d in tokens for t in d})
    for _ in range(40):
        doc = rng.choice(tokens)
        q = rng.sample(doc, min(len(doc), rng.randint(1, 6)))
        if rng.random() < 0.5:
            q.append(rng.choice(vocab))
        if rng.random() < 0.3:
            q.append(q[0])  # repeated term
        out.append(q)
    # the most common terms (those Okapi floors) on their own
    df: dict[str, int] = {}
    for d in tokens:
        for t in set(d):
            df[t] = df.get(t, 0) + 1
    out.append(sorted(df, key=lambda t: (-df[t], t))[:5])
    return out


def _unit(q: list[str]) -> list[tuple[str, float]]:
    return [(t, 1.0) for t in q]


@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (1.2, 0.5), (2.0, 1.0), (0.9, 0.0)])
def test_okapi_parity_with_rank_bm25(docs: Any, queries: list[list[str]], k1: float, b: float) -> None:
    tokens, ids = docs
    ref = BM25Okapi(tokens, k1=k1, b=b)
    idx = BM25Index.build(tokens, ids, k1=k1, b=b, idf="okapi")
    assert idx.n_docs == len(tokens) == 65
    assert any(v < 0 for v in (math.log(65 - n + 0.5) - math.log(n + 0.5) for n in idx.df)), "floor exercised"
    for q in queries:
        np.testing.assert_allclose(idx.scores(_unit(q)), ref.get_scores(q), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("k1", "b"), [(1.5, 0.75), (1.2, 0.5)])
def test_lucene_parity(docs: Any, queries: list[list[str]], k1: float, b: float) -> None:
    tokens, ids = docs
    n = len(tokens)
    ref = BM25Okapi(tokens, k1=k1, b=b)
    df: dict[str, int] = {}
    for freqs in ref.doc_freqs:
        for t in freqs:
            df[t] = df.get(t, 0) + 1
    ref.idf = {t: math.log(1 + (n - m + 0.5) / (m + 0.5)) for t, m in df.items()}  # Lucene idf
    idx = BM25Index.build(tokens, ids, k1=k1, b=b, idf="lucene")
    avgdl = sum(len(d) for d in tokens) / n
    for q in queries:
        got = idx.scores(_unit(q))
        np.testing.assert_allclose(got, ref.get_scores(q), rtol=1e-10, atol=1e-12)
        # and against the formula written out directly
        direct = np.zeros(n)
        for t in q:
            if t not in df:
                continue
            idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            for j, d in enumerate(tokens):
                f = d.count(t)
                direct[j] += idf * f * (k1 + 1) / (f + k1 * (1 - b + b * len(d) / avgdl))
        np.testing.assert_allclose(got, direct, rtol=1e-10, atol=1e-12)
        assert (got >= 0).all()


def test_weighted_sum(docs: Any) -> None:
    tokens, ids = docs
    idx = BM25Index.build(tokens, ids)
    terms = [("海盗", 1.0), ("赎金", 0.5), ("支付", 0.25), ("nonexistent", 3.0)]
    expected = sum(w * idx.scores([(t, 1.0)]) for t, w in terms)
    np.testing.assert_allclose(idx.scores(terms), expected)
    np.testing.assert_allclose(idx.scores([("海盗", 1.0), ("海盗", 1.0)]), idx.scores([("海盗", 2.0)]))


@pytest.mark.parametrize("variant", ["lucene", "okapi"])
def test_search_matches_scores(docs: Any, queries: list[list[str]], variant: str) -> None:
    tokens, ids = docs
    idx = BM25Index.build(tokens, ids, idf=variant)
    rng = random.Random(99)
    for q in queries:
        # unit weights, then random weights including negative ones (exercises every candidate path)
        for weighted in (_unit(q), [(t, rng.choice([1.0, 0.3, -0.5])) for t in q]):
            s = idx.scores(weighted)
            hits = idx.search(weighted, k=7)
            matched = [i for i, d in enumerate(tokens) if {t for t, w in weighted if w} & set(d)]
            order = sorted(matched, key=lambda i: (-s[i], i))[:7]
            assert [h[0] for h in hits] == [ids[i] for i in order]
            np.testing.assert_allclose([h[1] for h in hits], [s[i] for i in order])
    assert idx.search([("nonexistentword", 1.0)], k=5) == []
    assert idx.search([("海盗", 1.0)], k=0) == []
    assert len(idx.search([("海盗", 1.0)], k=1000)) == sum("海盗" in d for d in tokens)


@pytest.mark.parametrize("query", ["第 65/230 号决议", "resolution 65/230"])
def test_resolution_queries_in_both_languages(docs: Any, analyzer: Analyzer, query: str) -> None:
    tokens, ids = docs
    for variant in ("lucene", "okapi"):
        idx = BM25Index.build(tokens, ids, idf=variant)
        hits = idx.search(analyzer.analyze_query(query), k=5)
        assert {h[0] for h in hits[:2]} == {10, 12}, (variant, hits)


def test_english_query_reaches_chinese_paragraph(docs: Any, analyzer: Analyzer) -> None:
    if analyzer.translator is None:
        pytest.skip("pipeline.translate is not available: English queries cannot reach Chinese text")
    tokens, ids = docs
    q = analyzer.analyze_query("ransom paid to pirates in 2011")
    assert any(any("\u4e00" <= c <= "\u9fff" for c in t) for t, _ in q)
    idx = BM25Index.build(tokens, ids)
    assert 29 in [h[0] for h in idx.search(q, k=3)]


# --- persistence ------------------------------------------------------------------------------------


class _IndexDirConfig(Config):
    """The real config with ``indexes/`` moved to a temporary directory."""

    def __init__(self, index_dir: Path, **kw: Any) -> None:
        super().__init__(**kw)
        self._index_dir = index_dir

    @property
    def index_dir(self) -> Path:  # type: ignore[override]
        return self._index_dir


def _no_temp_files(d: Path) -> bool:
    return not [p for p in d.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


def test_save_load_roundtrip(tmp_path: Path, docs: Any, queries: list[list[str]], cfg: Config, corpus: Any,
                             analyzer: Analyzer) -> None:
    tokens, ids = docs
    idx = BM25Index.build(tokens, ids, k1=cfg.bm25_k1, b=cfg.bm25_b)
    manifest = lexical_manifest(cfg, corpus, analyzer)
    idx.save(tmp_path / "lex", manifest)
    assert _no_temp_files(tmp_path / "lex")
    back = BM25Index.load(tmp_path / "lex", manifest)
    assert back.vocab == idx.vocab and back.doc_ids.tolist() == ids
    for q in queries:
        np.testing.assert_array_equal(back.scores(_unit(q)), idx.scores(_unit(q)))


@pytest.mark.parametrize(
    ("key", "value"),
    [("bm25_k1", 1.2), ("bm25_b", 0.5), ("bm25_idf", "okapi"), ("corpus_sha256", "0" * 64),
     ("analyzer.analyzer_version", "0"), ("analyzer.userdict_sha256", "f" * 64)],
)
def test_stale_index_refused(tmp_path: Path, docs: Any, cfg: Config, corpus: Any, analyzer: Analyzer,
                             key: str, value: Any) -> None:
    tokens, ids = docs
    manifest = lexical_manifest(cfg, corpus, analyzer)
    BM25Index.build(tokens, ids, k1=cfg.bm25_k1, b=cfg.bm25_b).save(tmp_path, manifest)
    with pytest.raises(StaleIndexError, match=re.escape(key)):
        BM25Index.load(tmp_path, {**manifest, key: value})


def test_missing_and_half_written_index(tmp_path: Path, docs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens, ids = docs
    with pytest.raises(MissingIndexError):
        BM25Index.load(tmp_path / "nothing", {})
    idx = BM25Index.build(tokens, ids)
    idx.save(tmp_path, {"corpus_sha256": "x"})
    # a save that dies half-way leaves no manifest (so the index counts as missing) and no temp files
    real = lexical.write_json_atomic

    def failing(path: Any, obj: Any) -> None:
        if Path(path).name == "params.json":
            raise OSError("disk full")
        real(path, obj)

    monkeypatch.setattr(lexical, "write_json_atomic", failing)
    with pytest.raises(OSError, match="disk full"):
        idx.save(tmp_path, {"corpus_sha256": "y"})
    assert _no_temp_files(tmp_path)
    with pytest.raises(MissingIndexError):
        BM25Index.load(tmp_path, {"corpus_sha256": "y"})


def test_ensure_rebuilds_only_when_manifest_differs(tmp_path: Path, corpus: Any, analyzer: Analyzer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_build = lexical.build_lexical_index

    def counting(*a: Any, **kw: Any) -> BM25Index:
        calls.append(1)
        return real_build(*a, **kw)

    monkeypatch.setattr(lexical, "build_lexical_index", counting)
    c1 = _IndexDirConfig(tmp_path)
    first = ensure_lexical_index(c1, corpus, analyzer)
    assert len(calls) == 1 and (tmp_path / "lexical" / "manifest.json").is_file()
    second = ensure_lexical_index(c1, corpus, analyzer)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.scores([("海盗", 1.0)]), second.scores([("海盗", 1.0)]))
    c2 = _IndexDirConfig(tmp_path, bm25_k1=1.2)
    with pytest.raises(StaleIndexError, match="bm25_k1"):
        lexical.load_lexical_index(c2, corpus, analyzer)
    third = ensure_lexical_index(c2, corpus, analyzer)
    assert len(calls) == 2 and third.k1 == 1.2
    assert _no_temp_files(tmp_path / "lexical")


def test_build_lexical_index_uses_paragraph_numbers(tmp_path: Path, corpus: Any, analyzer: Analyzer) -> None:
    idx = build_lexical_index(_IndexDirConfig(tmp_path), corpus, analyzer, save=False)
    assert idx.doc_ids.tolist() == [p.number for p in corpus.paragraphs]
    assert not (tmp_path / "lexical").exists()
