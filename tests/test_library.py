"""The library: adding and removing reports all or nothing, search and lookups across documents, UN-style
citations, language versions aligned by paragraph number, and evaluation with qrels that name a document.

Every test works in a scratch home holding the real report (CTOC/COP/2012/7, zh) and adds the test reports of
``tests/data/library`` (written in the UN layout for these tests) with the fake embedder, so nothing loads
torch.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import (
    FIREARMS,
    FOLLOW_UP,
    GAP,
    NO_SYMBOL,
    REAL,
    WG2,
    WG2_EN,
    WG2_EN_BAD,
    WG2_ZH,
    FakeEmbedder,
    open_library,
    run_pipeline,
    scratch_home,
)

from pipeline.catalog import LibraryError, read_catalog
from pipeline.changes import add_reports, remove_documents
from pipeline.config import Config
from pipeline.errors import QueryError, UserError
from pipeline.ingest import IngestError
from pipeline.library import load_library


def snapshot(cfg: Config) -> dict[str, bytes]:
    """Every file of corpus/ and indexes/docs/ (what add and remove may change)."""
    out = {}
    for root in (cfg.corpus_dir, cfg.index_dir / "docs"):
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.name != ".lock":
                out[str(p.relative_to(cfg.root))] = p.read_bytes()
    return out


# --- adding: identity, all or nothing, only the new report's paragraphs -------------------------------------


def test_a_report_without_a_settled_identity_is_refused_naming_the_file(lib: Config) -> None:
    before = snapshot(lib)
    with pytest.raises(UserError) as e:
        add_reports(lib, [NO_SYMBOL], embedder=FakeEmbedder())
    assert str(NO_SYMBOL) in str(e.value) and "--symbol" in str(e.value) and e.value.exit_code == 2
    assert snapshot(lib) == before
    change = add_reports(
        lib, [NO_SYMBOL], symbol="A/TEST/2030/1", embedder=FakeEmbedder()
    )  # given at add: fine
    assert [(x.symbol, x.lang) for x in change.entries] == [("A/TEST/2030/1", "zh")]


def test_a_report_that_does_not_parse_changes_nothing(lib: Config) -> None:
    before = snapshot(lib)
    with pytest.raises(IngestError) as e:
        add_reports(lib, [FIREARMS, GAP], embedder=FakeEmbedder())  # the good one is not added either
    assert f"{GAP}:33:" in str(e.value)
    assert snapshot(lib) == before


def test_add_indexes_only_the_new_report(lib: Config, analyzer: Any) -> None:
    from pipeline.dense import corpus_texts

    old = {  # every file of the other report's folder (its lock file says who last held it: not data)
        p: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in (lib.index_dir / "docs").rglob("*")
        if p.is_file() and p.name != ".lock"
    }
    fake = FakeEmbedder()
    change = add_reports(lib, [WG2_ZH], embedder=fake)
    [entry] = change.entries
    assert (entry.symbol, entry.lang, entry.paragraphs) == (WG2, "zh", 8) and entry.file == WG2_ZH.name
    library = load_library(lib)
    new = library.document(WG2, "zh")
    _, ptexts, _, stexts = corpus_texts(new)
    assert sorted(set(fake.calls)) == sorted(
        set(ptexts) | set(stexts)
    )  # its own texts, each once, nothing else
    assert {
        p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in old
    } == old  # the other report's files untouched
    assert (lib.corpus_dir / WG2_ZH.name).read_bytes() == WG2_ZH.read_bytes()
    assert [(e.symbol, e.lang) for e in read_catalog(lib)] == [(REAL, "zh"), (WG2, "zh")]
    again = add_reports(lib, [WG2_ZH], embedder=fake)  # idempotent
    assert not again.entries and [e.symbol for e in again.unchanged] == [WG2]


def test_library_bm25_equals_one_index_over_every_paragraph(lib: Config, analyzer: Any) -> None:
    """Each report keeps raw term frequencies; merged, they score exactly as one index built over all."""
    from pipeline.lexical import BM25Index

    add_reports(lib, [WG2_ZH, FIREARMS], embedder=FakeEmbedder())
    r = open_library(lib, analyzer)
    tokens = [analyzer.tokenize(p.index_text) for p in r.library.paragraphs]
    whole = BM25Index.build(tokens, list(range(len(tokens))), k1=lib.bm25_k1, b=lib.bm25_b, idf=lib.bm25_idf)
    for q in ("伪造药品", "firearms protocol", "海盗 索马里", "technical assistance"):
        terms = r.plan(q, "lexical").bm25_terms
        np.testing.assert_allclose(r.lexical.scores(terms), whole.scores(terms), rtol=1e-12, atol=1e-12)


# --- searching and looking up across documents --------------------------------------------------------------


def test_search_across_documents_with_filters(lib: Config, analyzer: Any) -> None:
    add_reports(lib, [WG2_ZH, FIREARMS], embedder=FakeEmbedder())
    r = open_library(lib, analyzer)
    a = r.search("Firearms Protocol States parties", k=3, mode="lexical")
    assert a.hits[0].document == "CTOC/COP/2014/5" and a.hits[0].lang == "en"
    d = a.hits[0].to_dict()
    assert d["document"] == "CTOC/COP/2014/5" and d["citation"] == f"CTOC/COP/2014/5, para. {d['paragraph']}"
    zh = r.search("伪造药品贩运", k=5, mode="hybrid")
    assert {h.document for h in zh.hits} <= {REAL, WG2, "CTOC/COP/2014/5"} and zh.hits[0].document == WG2
    only = r.search("伪造药品贩运", k=5, docs=[REAL])
    assert only.hits and {h.document for h in only.hits} == {REAL}
    assert all(h.citation.startswith(f"{REAL}，第") for h in only.hits)
    assert {h.lang for h in r.search("trafficking", k=20, lang="en").hits} == {"en"}
    with pytest.raises(QueryError, match="no document A/NOPE in the library"):
        r.search("piracy", docs=["A/NOPE"])
    # a filter ranks the selected documents as if alone: the same order as the full ranking restricted to them
    full = [h.citation for h in r.search("伪造药品贩运", k=100, mode="lexical").hits if h.document == REAL]
    assert [h.citation for h in r.search("伪造药品贩运", k=100, mode="lexical", docs=[REAL]).hits] == full


def test_paragraph_lookups_name_a_document(lib: Config, analyzer: Any) -> None:
    add_reports(lib, [WG2_ZH], embedder=FakeEmbedder())
    r = open_library(lib, analyzer)
    for q in (f"{WG2} ¶2", f"{WG2}，第2段", f"{WG2}, para. 2", f"{WG2} 第 2 段"):
        a = r.search(q)
        assert a.route == "paragraph" and [h.citation for h in a.hits] == [f"{WG2}，第2段"], q
    annex = r.search(f"{WG2}, annex, para. 1")
    assert [(h.part, h.paragraph) for h in annex.hits] == [("annex", 1)]
    assert annex.hits[0].citation == f"{WG2}，附件，第1段" and "附件" in annex.hits[0].section[0]
    both = r.search("第2段")  # a bare number: that paragraph of each document
    assert [h.document for h in both.hits] == [REAL, WG2]
    assert [h.document for h in r.search("第2段", docs=[WG2]).hits] == [WG2]
    assert r.search("第 41 段").hits[0].document == REAL  # only the real report has a ¶41
    missing = r.search(f"{WG2} ¶41")
    assert not missing.hits and any("no paragraph 41" in w for w in missing.warnings)


def test_citation_lookups_return_every_document_in_order(lib: Config, analyzer: Any) -> None:
    add_reports(lib, [WG2_ZH, FIREARMS], embedder=FakeEmbedder())
    r = open_library(lib, analyzer)
    a = r.lookup("resolution 65/230")
    docs = [h.document for h in a.hits]
    assert (
        REAL in docs
        and "CTOC/COP/2014/5" in docs
        and docs == sorted(docs, key=[REAL, WG2, "CTOC/COP/2014/5"].index)
    )
    rows = [r.library.row(r.library.find(h.document, h.lang, h.paragraph, h.part)) for h in a.hits]
    assert rows == sorted(rows)  # library order: document by document, paragraph by paragraph
    assert [h.document for h in r.lookup("resolution 65/230", docs=["CTOC/COP/2014/5"]).hits] == [
        "CTOC/COP/2014/5"
    ]


def test_a_cited_symbol_in_the_library_is_a_link(lib: Config, analyzer: Any) -> None:
    add_reports(lib, [FIREARMS, FOLLOW_UP], embedder=FakeEmbedder())
    r = open_library(lib, analyzer)
    [hit] = r.search("CTOC/COP/2018/4 ¶1").hits
    assert hit.links == [REAL, "CTOC/COP/2014/5"] and hit.to_dict()["links"] == hit.links
    [rec] = r.paragraph_records([1], docs=["CTOC/COP/2018/4"])
    marked = {c["key"] for c in rec["citations"] if c.get("in_library")}
    assert marked == {REAL, "CTOC/COP/2014/5"}
    from pipeline.render import answer_text

    assert "→ in the library: CTOC/COP/2012/7, CTOC/COP/2014/5" in answer_text(r.search("CTOC/COP/2018/4 ¶1"))
    # a citation lookup of the symbol finds the citing paragraphs
    assert [h.citation for h in r.lookup(REAL).hits] == [
        "CTOC/COP/2018/4, para. 1",
        "CTOC/COP/2018/4, para. 2",
    ]


# --- language versions --------------------------------------------------------------------------------------


def test_language_versions_align_by_number(lib: Config, analyzer: Any) -> None:
    change = add_reports(lib, [WG2_ZH, WG2_EN], embedder=FakeEmbedder())
    assert not change.warnings and [(e.symbol, e.lang) for e in change.entries] == [(WG2, "zh"), (WG2, "en")]
    r = open_library(lib, analyzer)
    assert [d.label for d in r.library.versions(WG2)] == [f"{WG2} (zh)", f"{WG2} (en)"]
    a = r.search("伪造药品示范立法条文", k=3, docs=[WG2], lang="zh", parallel=True)
    for h in a.hits:
        [v] = h.parallel
        en = r.library.find(WG2, "en", h.paragraph, h.part)
        assert {k: v[k] for k in ("lang", "citation", "text")} == {
            "lang": "en",
            "citation": en.citation,
            "text": en.full_text,
        }
        assert [b["target"] for b in v["alignment"] if b["target"]][-1][1] == en.sentences[-1].end  # aligned
        assert v["citation"] == f"{WG2}, " + ("annex, " if h.part else "") + f"para. {h.paragraph}"
    assert "parallel" not in r.search("伪造药品示范立法条文", k=1).hits[0].to_dict()  # only when asked
    lookup = r.lookup(f"{WG2} ¶3", lang="en", parallel=True)
    assert [(h.lang, h.parallel[0]["lang"]) for h in lookup.hits] == [("en", "zh")]


def test_a_misaligned_version_is_reported_on_add(lib: Config, analyzer: Any) -> None:
    add_reports(lib, [WG2_ZH], embedder=FakeEmbedder())
    change = add_reports(lib, [WG2_EN_BAD], embedder=FakeEmbedder())
    [warning] = change.warnings
    assert "the en version has 7 paragraphs, the zh version 8" in warning and "only in zh: 6" in warning
    r = open_library(lib, analyzer)
    a = r.lookup(f"{WG2} ¶6", lang="zh", parallel=True)
    assert a.hits[0].parallel == [] and any("the en version has no paragraph 6" in w for w in a.warnings)


# --- removing, replacing ------------------------------------------------------------------------------------


def test_remove_is_atomic_and_keeps_the_file(lib: Config, analyzer: Any) -> None:
    add_reports(lib, [WG2_ZH, WG2_EN], embedder=FakeEmbedder())
    keys = {e.key for e in read_catalog(lib)}
    change = remove_documents(lib, WG2, lang="en")
    assert [(e.symbol, e.lang) for e in change.entries] == [(WG2, "en")]
    assert [(e.symbol, e.lang) for e in read_catalog(lib)] == [(REAL, "zh"), (WG2, "zh")]
    assert (lib.corpus_dir / WG2_EN.name).is_file()  # nothing the user gave is deleted
    assert {d.name for d in (lib.index_dir / "docs").iterdir()} == keys  # folders kept until the next change
    remove_documents(lib, WG2.lower())  # symbols match whatever their case
    add_reports(lib, [FIREARMS], embedder=FakeEmbedder())  # the next change collects the unnamed folders
    assert {d.name for d in (lib.index_dir / "docs").iterdir()} == {e.key for e in read_catalog(lib)}
    with pytest.raises(LibraryError, match="no document A/NOPE in the library"):
        remove_documents(lib, "A/NOPE")
    r = open_library(lib, analyzer)
    assert [d.symbol for d in r.library.documents] == [REAL, "CTOC/COP/2014/5"]


def test_replacing_a_version_needs_replace(lib: Config, tmp_path: Path) -> None:
    add_reports(lib, [WG2_EN], embedder=FakeEmbedder())
    edited = tmp_path / WG2_EN.name
    edited.write_text(
        WG2_EN.read_text(encoding="utf-8").replace("Vienna", "Vienna, Austria"), encoding="utf-8"
    )
    before = snapshot(lib)
    with pytest.raises(LibraryError, match="already in the library.*--replace"):
        add_reports(lib, [edited], embedder=FakeEmbedder())
    assert snapshot(lib) == before
    change = add_reports(lib, [edited], replace=True, embedder=FakeEmbedder())
    [entry] = change.entries
    assert (lib.corpus_dir / entry.file).read_bytes() == edited.read_bytes()
    assert [e.file for e in read_catalog(lib)].count(entry.file) == 1 and not (
        lib.corpus_dir / WG2_EN.name
    ).exists()


def test_a_file_changed_after_add_is_refused_until_accepted(lib: Config, analyzer: Any) -> None:
    """A report edited (or truncated) in corpus/ is never indexed silently: loading the library names the file
    and the catalog's hash; `build --accept-changes` takes the new text, its old index is stale for it."""
    from pipeline.build import build_all
    from pipeline.errors import StaleIndexError
    from pipeline.lexical import load_lexical_indexes

    add_reports(lib, [FIREARMS], embedder=FakeEmbedder())
    path = lib.corpus_dir / FIREARMS.name
    path.write_text(path.read_text(encoding="utf-8").replace("110 States", "111 States"), encoding="utf-8")
    changed = r"ctoc-cop-2014-5\.en\.txt: the text of CTOC/COP/2014/5 \(en\) changed"
    with pytest.raises(LibraryError, match=changed):
        load_library(lib)
    with pytest.raises(LibraryError, match="--accept-changes"):
        list(build_all(lib, lexical_only=True))
    with pytest.raises(StaleIndexError, match="corpus_sha256"):
        load_lexical_indexes(lib, load_library(lib, accept_changes=True).keyed(), analyzer)
    lines = list(build_all(lib, lexical_only=True, accept_changes=True))
    assert "catalog: corpus/documents.json updated" in lines
    [doc] = [d for d in load_library(lib).documents if d.symbol == "CTOC/COP/2014/5"]  # accepted: reads again
    assert "111 States" in " ".join(p.full_text for p in doc.paragraphs)


# --- evaluation ---------------------------------------------------------------------------------------------


def test_qrels_may_name_a_document(tmp_path: Path) -> None:
    from pipeline.evaluate import QrelsError, evaluate, load_qrels, ranked_keys

    path = tmp_path / "q.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(x)
            for x in [
                {"id": "a", "query": "piracy", "relevant": [23], "lang": "en", "kind": "question"},
                {
                    "id": "b",
                    "query": "firearms",
                    "relevant": [2],
                    "lang": "en",
                    "kind": "question",
                    "document": "X/2",
                },
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    valid = {REAL: set(range(1, 66)), "X/2": {1, 2}}
    a, b = load_qrels(path, valid=valid, default_document=REAL)
    assert (a.document, b.document) == (REAL, "X/2")
    # a hit on another document with the same number is not relevant; versions of one document count once
    assert ranked_keys(b, [(REAL, 2), ("X/2", 2), ("X/2", 2)]) == [(REAL, 2), 2]
    m = evaluate([a, b], [ranked_keys(a, [("X/2", 23), (REAL, 23)]), ranked_keys(b, [(REAL, 2), ("X/2", 2)])])
    assert m["all"]["R@1"] == 0.0 and m["all"]["R@3"] == 1.0
    path.write_text(
        json.dumps({"id": "c", "query": "q", "relevant": [3], "document": "X/2"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(
        QrelsError, match=r"q.jsonl:1: 'relevant' names paragraph\(s\) \[3\] that X/2 does not have"
    ):
        load_qrels(path, valid=valid, default_document=REAL)
    path.write_text(
        json.dumps({"id": "c", "query": "q", "relevant": [3], "document": "Y/9"}) + "\n", encoding="utf-8"
    )
    with pytest.raises(QrelsError, match="document 'Y/9' is not in the library"):
        load_qrels(path, valid=valid, default_document=REAL)


def test_catalog_errors_name_the_file(lib: Config) -> None:
    cat = lib.corpus_dir / "documents.json"
    for text, what in [
        ("{", "not valid JSON"),
        ('{"x.zh.txt": {"lang": "zh"}}', 'needs a "symbol"'),
        (
            '{"a.zh.txt": {"symbol": "A/1", "lang": "zh"}, "b.zh.txt": {"symbol": "A/1", "lang": "zh"}}',
            "listed twice",
        ),
    ]:
        cat.write_text(text, encoding="utf-8")
        with pytest.raises(LibraryError, match=what) as e:
            load_library(lib)
        assert str(cat) in str(e.value)
    cat.write_text(json.dumps({"gone.zh.txt": {"symbol": "A/1", "lang": "zh"}}), encoding="utf-8")
    with pytest.raises(LibraryError, match="the file is missing"):
        load_library(lib)
    shutil.copy(WG2_ZH, lib.corpus_dir / "stray.zh.txt")
    from pipeline.catalog import stray_files

    assert [p.name for p in stray_files(lib, [])] == ["ctoc-cop-2012-7.zh.txt", "stray.zh.txt"]


# --- the command line, with the real model ------------------------------------------------------------------


@pytest.mark.slow  # `pipeline add` embeds with the real model (~1 min on 2 cores)
def test_cli_add_search_cite_remove(home: Path, tmp_path: Path, retriever: Any) -> None:
    import os
    import subprocess

    retriever.dense  # noqa: B018 - the real report's dense index, built once in the session home
    h = scratch_home(home, tmp_path / "home")
    shutil.copytree(home / "indexes" / "docs", h / "indexes" / "docs")
    os.symlink(home / "indexes" / "models", h / "indexes" / "models")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        r = run_pipeline(h, *args)
        assert "Traceback" not in r.stderr, r.stderr
        return r

    r = cli("add", str(WG2_ZH), str(WG2_EN), str(FIREARMS))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("added ") == 3 and f"added {WG2} (en): 8 paragraphs" in r.stdout
    docs = json.loads(cli("documents", "--json").stdout)["documents"]
    assert [(d["symbol"], d["lang"], d["paragraphs"]) for d in docs] == [
        (REAL, "zh", 65),
        (WG2, "zh", 8),
        (WG2, "en", 8),
        ("CTOC/COP/2014/5", "en", 13),
    ]
    a = json.loads(cli("search", "Firearms Protocol States parties", "--json").stdout)
    assert a["results"][0]["document"] == "CTOC/COP/2014/5"
    assert a["results"][0]["citation"].startswith("CTOC/COP/2014/5, para. ")
    only = json.loads(cli("search", "piracy off Somalia", "--doc", REAL, "--json").stdout)
    assert {x["document"] for x in only["results"]} == {REAL}
    text = cli("search", "伪造药品示范立法条文", "--doc", WG2, "--lang", "zh", "--parallel").stdout
    assert f"{WG2}，第" in text and f"⇄ {WG2}, para." in text
    r = cli("cite", f"{WG2} 第2段")
    assert r.returncode == 0 and r.stdout.splitlines()[1].startswith(f" 1. {WG2}，第2段")
    r = cli("search", "--doc", "A/NOPE", "piracy")
    assert r.returncode == 2 and "no document A/NOPE in the library" in r.stderr
    r = cli("remove", "CTOC/COP/2014/5")
    assert r.returncode == 0 and "removed CTOC/COP/2014/5 (en)" in r.stdout
    assert "not in the library: " in cli("documents").stdout  # its file stays, listed as not in the library
    r = cli("add", str(NO_SYMBOL))
    assert r.returncode == 2 and str(NO_SYMBOL) in r.stderr and "--symbol" in r.stderr


def test_add_reads_each_existing_file_at_most_once(lib: Config) -> None:
    """Adding one report to a library of three reads no file of the home twice (the catalog, the other
    version's text, each report's dense vectors for the embedding cache …): measured with an audit hook."""
    import sys

    add_reports(lib, [WG2_ZH, FIREARMS], embedder=FakeEmbedder())
    existing = {str(p.resolve()) for p in lib.root.rglob("*") if p.is_file()}
    opened: list[str] = []
    recording = [True]

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if recording[0] and event == "open" and isinstance(args[0], str | Path):
            path, mode = str(Path(args[0]).resolve()), args[1] or "r"
            if path in existing and not any(c in str(mode) for c in "wxa+") and not path.endswith(".lock"):
                opened.append(path)

    sys.addaudithook(hook)
    try:
        change = add_reports(lib, [WG2_EN], embedder=FakeEmbedder())
    finally:
        recording[0] = False  # audit hooks cannot be removed: this one stops recording
    assert [e.symbol for e in change.entries] == [WG2]
    twice = sorted({p for p in opened if opened.count(p) > 1})
    assert twice == [], twice
    assert any(p.endswith("documents.json") for p in opened)  # the hook did see the home's reads
