"""BM25 index: parity with rank-bm25, retrieval on the real report, persistence, staleness and integrity.

The report, the analyzer and the session home come from ``conftest.py``; tests that write an index write it
under ``tmp_path`` (a ``Config(root=tmp_path)`` only moves ``indexes/``: the corpus and analyzer stay the
session's).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rank_bm25 import BM25Okapi
from support import index_dir_of
from support import scratch_home as _scratch_home

from pipeline import lexical
from pipeline.analyze import Analyzer
from pipeline.config import Config
from pipeline.errors import CorruptIndexError, MissingIndexError, StaleIndexError, UserError
from pipeline.layout import corpus_key
from pipeline.lexical import BM25Index, build_lexical_index, lexical_inputs, lexical_is_current
from pipeline.store import Staging


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
    assert analyzer.translator is not None  # enabled by default; failing to load it raises, never None
    tokens, ids = docs
    q = analyzer.analyze_query("ransom paid to pirates in 2011")
    assert any(any("\u4e00" <= c <= "\u9fff" for c in t) for t, _ in q)
    idx = BM25Index.build(tokens, ids)
    assert 29 in [h[0] for h in idx.search(q, k=3)]


# --- persistence ------------------------------------------------------------------------------------

FILES = (
    "tf_data.npy",
    "tf_indices.npy",
    "tf_indptr.npy",
    "doc_len.npy",
    "doc_ids.npy",
    "vocab.json",
    "params.json",
)


def _only(parent: Path, *names: str) -> None:
    """``parent`` holds exactly ``names``: no staging directory, no ``.old`` directory, no temp file (the
    writers' lock file, ``.lock``, is allowed)."""
    assert sorted(p.name for p in parent.iterdir() if p.name != ".lock") == sorted(
        n for n in names if n != ".lock"
    )


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_save_load_roundtrip(
    tmp_path: Path, docs: Any, queries: list[list[str]], cfg: Config, corpus: Any, analyzer: Analyzer
) -> None:
    tokens, ids = docs
    idx = BM25Index.build(tokens, ids, k1=cfg.bm25_k1, b=cfg.bm25_b)
    inputs = lexical_inputs(cfg, corpus, analyzer)
    idx.save(tmp_path / "lex", inputs)
    _only(tmp_path, "lex")
    _only(tmp_path / "lex", "manifest.json", ".verified.json", *FILES)  # hashed at write: verified
    m = json.loads((tmp_path / "lex" / "manifest.json").read_text(encoding="utf-8"))
    assert m["kind"] == "bm25" and m["inputs"] == inputs and sorted(m["files"]) == sorted(FILES)
    for name, entry in m["files"].items():
        assert entry["size"] == (tmp_path / "lex" / name).stat().st_size and len(entry["sha256"]) == 64
    for back in (BM25Index.load(tmp_path / "lex", inputs), BM25Index.load(tmp_path / "lex")):
        assert back.vocab == idx.vocab and back.doc_ids.tolist() == ids
        for q in queries:
            np.testing.assert_array_equal(back.scores(_unit(q)), idx.scores(_unit(q)))


def test_inputs_are_what_changes_the_index(cfg: Config, corpus: Any, analyzer: Analyzer) -> None:
    """The report's text and language and the analyzer (with its user dictionary); never query-time data, and
    not BM25's parameters either: the index keeps raw term frequencies and the library applies k1, b and the
    IDF variant when it merges the reports' indexes."""
    inputs = lexical_inputs(cfg, corpus, analyzer)
    for key in (
        "corpus_sha256",
        "lang",
        "analyzer.analyzer_version",
        "analyzer.userdict_sha256",
        "analyzer.stopwords_sha256",
    ):
        assert key in inputs
    assert not [k for k in inputs if re.search(r"gloss|translat|cedict|prompt|bm25", k)], inputs
    assert json.loads(json.dumps(inputs)) == inputs  # compared with a manifest read back from JSON


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("lang", "en"),
        ("corpus_sha256", "0" * 64),
        ("analyzer.analyzer_version", "0"),
        ("analyzer.userdict_sha256", "f" * 64),
        ("new_key", 1),
    ],
)
def test_stale_index_refused(
    tmp_path: Path, docs: Any, cfg: Config, corpus: Any, analyzer: Analyzer, key: str, value: Any
) -> None:
    tokens, ids = docs
    inputs = lexical_inputs(cfg, corpus, analyzer)
    BM25Index.build(tokens, ids, k1=cfg.bm25_k1, b=cfg.bm25_b).save(tmp_path, inputs)
    with pytest.raises(StaleIndexError, match=re.escape(key)) as e:
        BM25Index.load(tmp_path, {**inputs, key: value})
    assert not isinstance(e.value, CorruptIndexError) and "pipeline build" in str(e.value)
    assert e.value.exit_code == 3


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("truncate tf_data.npy", "tf_data.npy"),
        ("flip vocab.json", "vocab.json"),
        ("delete doc_len.npy", "doc_len.npy"),
        ("garbage manifest.json", "manifest.json"),
        ("list manifest.json", "manifest.json"),
    ],
)
def test_damaged_index_refused(tmp_path: Path, docs: Any, damage: str, named: str) -> None:
    """Every file is checked against the manifest, with or without inputs to compare."""
    tokens, ids = docs
    BM25Index.build(tokens, ids).save(tmp_path, {"corpus_sha256": "x"})
    verb, name = damage.split()
    p = tmp_path / name
    if verb == "truncate":
        p.write_bytes(b"")
    elif verb == "flip":
        data = bytearray(p.read_bytes())
        data[len(data) // 2] ^= 0x01
        p.write_bytes(bytes(data))
    elif verb == "delete":
        p.unlink()
    elif verb == "garbage":
        p.write_bytes(os.urandom(300))
    else:
        p.write_text("[]")
    for inputs in ({"corpus_sha256": "x"}, None):
        with pytest.raises(CorruptIndexError, match=re.escape(named)) as e:
            BM25Index.load(tmp_path, inputs)
        assert "pipeline build" in str(e.value)


def test_missing_index(tmp_path: Path) -> None:
    with pytest.raises(MissingIndexError, match="pipeline build"):
        BM25Index.load(tmp_path / "nothing", {})
    with pytest.raises(MissingIndexError):
        BM25Index.load(tmp_path / "nothing")


def test_failed_save_keeps_the_old_index(tmp_path: Path, docs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save that dies half-way (here: the disk fills while params.json is written) replaces nothing and
    leaves no staging directory behind."""
    import errno

    tokens, ids = docs
    d = tmp_path / "lex"
    BM25Index.build(tokens, ids).save(d, {"corpus_sha256": "x"})
    before = _snapshot(d)
    real = Staging.write_json

    def failing(self: Staging, name: str, obj: Any) -> Path:
        if name == "params.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, name, obj)

    monkeypatch.setattr(Staging, "write_json", failing)
    with pytest.raises(UserError, match="no space left.*nothing was replaced"):
        BM25Index.build(tokens, ids, k1=1.2).save(d, {"corpus_sha256": "y"})
    assert _snapshot(d) == before
    _only(tmp_path, "lex")
    assert BM25Index.load(d, {"corpus_sha256": "x"}).k1 == 1.5
    with pytest.raises(StaleIndexError, match="corpus_sha256"):
        BM25Index.load(d, {"corpus_sha256": "y"})


def test_build_rebuilds_only_when_inputs_differ(
    tmp_path: Path, corpus: Any, analyzer: Analyzer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.build import ensure_lexical

    calls: list[int] = []
    real_build = lexical.build_lexical_index

    def counting(*a: Any, **kw: Any) -> BM25Index:
        calls.append(1)
        return real_build(*a, **kw)

    monkeypatch.setattr(lexical, "build_lexical_index", counting)
    c1 = Config(root=tmp_path)  # indexes/ under tmp_path; corpus and analyzer are the session's
    assert not lexical_is_current(c1, corpus, analyzer)
    first, built = ensure_lexical(c1, corpus, analyzer, corpus_key(corpus))
    d = lexical.lexical_dir(c1, corpus_key(corpus))
    assert len(calls) == 1 and (d / "manifest.json").is_file()
    assert lexical_is_current(c1, corpus, analyzer)
    second, built_again = ensure_lexical(c1, corpus, analyzer, corpus_key(corpus))
    assert len(calls) == 1 and built and not built_again
    np.testing.assert_array_equal(first.scores([("海盗", 1.0)]), second.scores([("海盗", 1.0)]))
    # another k1 needs no rebuild: the library applies it to the saved term frequencies when it merges them
    c2 = Config(root=tmp_path, bm25_k1=1.2)
    assert lexical_is_current(c2, corpus, analyzer)
    from pipeline.library import as_library

    merged = lexical.load_lexical_indexes(c2, as_library(corpus).keyed(), analyzer)
    assert len(calls) == 1 and merged.k1 == 1.2
    tokens = [analyzer.tokenize(p.index_text) for p in corpus.paragraphs]
    fresh = BM25Index.build(tokens, list(range(len(tokens))), k1=1.2, b=c2.bm25_b, idf=c2.bm25_idf)
    np.testing.assert_allclose(merged.scores([("海盗", 1.0)]), fresh.scores([("海盗", 1.0)]), rtol=1e-12)
    assert not np.allclose(merged.scores([("海盗", 1.0)]), first.scores([("海盗", 1.0)]))
    _only(tmp_path / "indexes", ".lock", "docs")
    _only(d, "manifest.json", ".verified.json", *FILES)


def test_build_lexical_index_ids_are_rows(tmp_path: Path, corpus: Any, analyzer: Analyzer) -> None:
    """A report's index is keyed by paragraph position: numbers repeat where an annex restarts them."""
    idx = build_lexical_index(Config(root=tmp_path), corpus, analyzer, save=False)
    assert idx.doc_ids.tolist() == list(range(len(corpus.paragraphs)))
    assert not (tmp_path / "indexes").exists()


# --- the glossary is query-time data ------------------------------------------------------------------


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PIPELINE_HOME": str(home)},
        check=False,
    )
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.mark.slow  # several CLI processes in a scratch home (~10 s)
def test_glossary_edit_does_not_make_the_lexical_index_stale(
    tmp_path: Path, home: Path, analyzer: Analyzer
) -> None:
    """Editing corpus/glossary.tsv changes how English queries are translated, not the index: the index stays
    current (no rebuild, no refusal) and the new glossary line is used by the very next search."""
    assert analyzer.translator is not None  # the session home's translator cache is current: copy that one
    h = _scratch_home(home, tmp_path / "home")
    assert _cli(h, "build", "--lexical-only").returncode == 0
    manifest = (index_dir_of(h, "lexical") / "manifest.json").read_bytes()
    query = ["search", "--mode", "lexical", "--json", "ransom paid to pirates in 2011"]
    before = _cli(h, *query)
    assert before.returncode == 0, before.stderr

    unknown = _cli(h, "search", "--mode", "lexical", "--json", "zzqbuccaneer")
    assert unknown.returncode == 0 and not any(r["score"] > 0 for r in json.loads(unknown.stdout)["results"])
    with open(h / "corpus" / "glossary.tsv", "a", encoding="utf-8") as f:
        f.write("zzqbuccaneer\t海盗\n")

    after = _cli(h, *query)
    assert after.returncode == 0, after.stderr
    assert [r["paragraph"] for r in json.loads(after.stdout)["results"]] == [
        r["paragraph"] for r in json.loads(before.stdout)["results"]
    ]
    new_word = _cli(h, "search", "--mode", "lexical", "--json", "zzqbuccaneer")
    assert new_word.returncode == 0, new_word.stderr
    hits = json.loads(new_word.stdout)["results"]
    assert hits and all(
        r["score"] > 0 and "海盗" in r["text"] for r in hits
    )  # the new line is in use at once
    b = _cli(h, "build", "--lexical-only")
    assert b.returncode == 0 and "lexical: up to date" in b.stderr, b.stderr
    assert (index_dir_of(h, "lexical") / "manifest.json").read_bytes() == manifest

    # the user dictionary, by contrast, changes the tokens: the index is refused until rebuilt
    with open(h / "corpus" / "userdict.txt", "a", encoding="utf-8") as f:
        f.write("赎金支付 5 n\n")
    refused = _cli(h, *query)
    assert refused.returncode == 3 and "analyzer.userdict_sha256" in refused.stderr
    assert "pipeline build" in refused.stderr
    b = _cli(h, "build", "--lexical-only")
    assert b.returncode == 0 and "lexical: built" in b.stderr, b.stderr
    assert _cli(h, *query).returncode == 0
