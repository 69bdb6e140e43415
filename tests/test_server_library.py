"""The API over a library of several reports (FastAPI's TestClient, the fake embedder): the ``doc``, ``lang``,
``parallel`` and ``part`` filters, ``/api/documents``, document-qualified paragraphs, and the JSON of every
endpoint equal to the command line's ``--json`` for the same filters (run in-process on the same home).

The library (``support.build_library_home``): the session's report (CTOC/COP/2012/7, zh), the synthetic
report of tests/data added as A/TEST/2030/1 (zh), and an English version of it (``support.SYNTHETIC_EN``: 8
aligned paragraphs and a 2-paragraph annex the Chinese version lacks; its paragraph 1 cites CTOC/COP/2012/7,
so that hit links to another document).
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import SYNTHETIC_SYMBOL, assert_error, build_library_home, library_retriever

from pipeline.cli import main
from pipeline.server import ServerOptions, create_app

CTOC = "CTOC/COP/2012/7"
TEST = SYNTHETIC_SYMBOL


@pytest.fixture(scope="module")
def lib_home(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_library_home(home, tmp_path_factory.mktemp("library") / "home")


@pytest.fixture(scope="module")
def lib_retriever(lib_home: Path) -> Any:
    return library_retriever(lib_home)


@pytest.fixture(scope="module")
def library_client(lib_retriever: Any) -> Any:
    with TestClient(create_app(lib_retriever, ServerOptions(batch_chunk=3))) as c:
        yield c


@pytest.fixture
def cli(lib_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """``pipeline … --json`` in-process on the library's home: returns its JSON."""
    monkeypatch.setenv("PIPELINE_HOME", str(lib_home))

    def run(*argv: str) -> Any:
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert code in (0, 1), err
        return json.loads(out)

    return run


# --- the library -------------------------------------------------------------------------------------------


def test_documents_lists_the_library_as_the_cli_does(
    library_client: Any, cli: Any, lib_retriever: Any
) -> None:
    body = library_client.get("/api/documents").json()
    rows = body["documents"]
    assert {(r["symbol"], r["lang"]) for r in rows} == {(CTOC, "zh"), (TEST, "zh"), (TEST, "en")}
    assert [(r["symbol"], r["lang"]) for r in rows] == [
        (d.symbol, d.lang) for d in lib_retriever.library.documents
    ]
    listed = cli("documents", "--json")["documents"]
    assert len(listed) == len(rows)
    for api_row, cli_row in zip(rows, listed, strict=True):
        common = {"symbol", "lang", "title", "paragraphs", "parts", "added"}
        assert common <= set(api_row) and common <= set(cli_row)
        assert {k: api_row[k] for k in common} == {k: cli_row[k] for k in common}
    by = {(r["symbol"], r["lang"]): r for r in rows}
    assert by[TEST, "en"]["parts"] == ["annex"] and by[TEST, "en"]["paragraphs"] == 10
    assert by[TEST, "en"]["ranges"] == [
        {"part": "", "first": 1, "last": 8},
        {"part": "annex", "first": 1, "last": 2},
    ]
    assert (
        by[CTOC, "zh"]["ranges"] == [{"part": "", "first": 1, "last": 65}] and by[CTOC, "zh"]["parts"] == []
    )
    assert by[TEST, "zh"]["title"] == "加强执法合作以打击网络诈骗和野生动物贩运的进展情况"


def test_health_describes_each_document_and_its_indexes(library_client: Any, lib_retriever: Any) -> None:
    h = library_client.get("/api/health").json()
    assert h["corpus"]["documents"] == 3 and h["corpus"]["paragraphs"] == 65 + 8 + 10
    assert h["corpus"]["symbol"] is None  # two documents: no one symbol
    assert h["corpus"]["sha256"] == lib_retriever.library.sha256
    assert [(d["symbol"], d["lang"], d["paragraphs"]) for d in h["documents"]] == [
        (d.symbol, d.lang, len(d.paragraphs)) for d in lib_retriever.library.documents
    ]
    for d in h["documents"]:
        assert d["indexes"]["lexical"]["inputs"]["corpus_sha256"] == d["sha256"]
        assert d["indexes"]["dense"]["inputs"]["embedder.model"] == "fake-v1"


# --- filters: search, cite, batch ----------------------------------------------------------------------


def _versions_without_alignment(records: list[dict[str, Any]]) -> None:
    """Check every hit's versions are aligned, then drop the alignment (for comparing with the CLI)."""
    for r in records:
        for hit in r["results"]:
            assert all(v["alignment"] for v in hit["parallel"])
            hit["parallel"] = [{k: v[k] for k in ("lang", "citation", "text")} for v in hit["parallel"]]


@pytest.mark.parametrize(
    ("q", "filters"),
    [
        ("online fraud investigators", ["--doc", TEST]),
        ("online fraud investigators", ["--doc", TEST, "--lang", "en"]),
        ("wildlife trafficking", ["--lang", "zh"]),
        ("野生动物贩运", ["--doc", TEST, "--lang", "zh", "--parallel"]),
        ("海盗赎金", ["--doc", CTOC]),
        ("海盗赎金", ["--doc", CTOC, "--doc", TEST]),
        ("诈骗", []),
    ],
)
def test_search_filters_equal_cli_json(library_client: Any, cli: Any, q: str, filters: list[str]) -> None:
    params: dict[str, Any] = {"q": q, "mode": "lexical", "k": 5}
    docs = [filters[i + 1] for i, a in enumerate(filters) if a == "--doc"]
    if docs:
        params["doc"] = docs
    if "--lang" in filters:
        params["lang"] = filters[filters.index("--lang") + 1]
    if "--parallel" in filters:
        params["parallel"] = "true"
    resp = library_client.get("/api/search", params=params)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    if "--parallel" in filters:  # the versions' sentence alignment comes from the dense index, which the
        # command line (the real model's identity) finds stale in this fake-embedded home: compared apart
        _versions_without_alignment([body])
    assert body == cli("search", q, "--mode", "lexical", "-k", "5", *filters, "--json")
    assert body["results"]
    for hit in body["results"]:
        assert not docs or hit["document"] in docs
        assert "lang" not in params or hit["lang"] == params["lang"]
        assert hit["citation"].startswith(hit["document"])
        assert ("parallel" in hit) == ("parallel" in params and hit["document"] == TEST)


def test_hybrid_questions_with_filters_are_the_direct_search(library_client: Any, lib_retriever: Any) -> None:
    for q, docs, lang, parallel in [
        ("How many investigators were trained?", [TEST], None, True),
        ("野生动物贩运", None, "zh", False),
        ("pirates ransom", [CTOC], "zh", False),
    ]:
        params: dict[str, Any] = {"q": q, "parallel": str(parallel).lower()}
        if docs:
            params["doc"] = docs
        if lang:
            params["lang"] = lang
        body = library_client.get("/api/search", params=params).json()
        assert body == lib_retriever.search(q, docs=docs, lang=lang, parallel=parallel).to_dict(), q


def test_parallel_versions_and_citations(library_client: Any) -> None:
    body = library_client.get("/api/search", params={"q": f"{TEST} ¶3", "parallel": "true"}).json()
    assert body["route"] == "paragraph"
    hits = {h["lang"]: h for h in body["results"]}
    assert set(hits) == {"zh", "en"}
    assert hits["en"]["citation"] == f"{TEST}, para. 3" and hits["zh"]["citation"] == f"{TEST}，第3段"
    [zh_of_en] = hits["en"]["parallel"]
    assert zh_of_en["lang"] == "zh" and zh_of_en["citation"] == f"{TEST}，第3段"
    assert zh_of_en["text"] == hits["zh"]["text"]
    # a paragraph the other version lacks: no parallel, and a warning says so
    annex = library_client.get(
        "/api/search", params={"q": f"{TEST}, annex, para. 1", "parallel": "true"}
    ).json()
    [hit] = annex["results"]
    assert hit["part"] == "annex" and hit["citation"] == f"{TEST}, annex, para. 1" and hit["parallel"] == []
    assert any("zh version has no paragraph 1" in w for w in annex["warnings"])


def test_links_name_the_cited_documents_of_the_library(library_client: Any, cli: Any) -> None:
    body = library_client.get("/api/search", params={"q": "resolution 80/12", "lang": "en"}).json()
    assert body == cli("search", "resolution 80/12", "--lang", "en", "--json")
    first = next(h for h in body["results"] if h["paragraph"] == 1)
    assert first["links"] == [CTOC]
    assert all("links" not in h for h in body["results"] if h["paragraph"] != 1)
    rec = library_client.get("/api/paragraphs/1", params={"doc": TEST, "lang": "en"}).json()
    cited = [c for c in rec["citations"] if c["key"] == CTOC]
    assert cited and all(c["in_library"] is True for c in cited)
    assert all("in_library" not in c for c in rec["citations"] if c["kind"] != "symbol")


def test_bare_paragraph_reference_answers_each_document(library_client: Any, cli: Any) -> None:
    body = library_client.get("/api/search", params={"q": "第3段"}).json()
    assert body == cli("search", "第3段", "--json")
    assert sorted((h["document"], h["lang"]) for h in body["results"]) == sorted(
        [(CTOC, "zh"), (TEST, "zh"), (TEST, "en")]
    )
    only = library_client.get("/api/search", params={"q": "第3段", "doc": CTOC}).json()
    assert [(h["document"], h["citation"]) for h in only["results"]] == [(CTOC, f"{CTOC}，第3段")]


def test_cite_filters_equal_cli_json(library_client: Any, cli: Any) -> None:
    for ref, filters in (
        ("resolution 80/12", []),
        ("resolution 80/12", ["--lang", "zh"]),
        (CTOC, ["--doc", TEST]),
        ("resolution 65/230", ["--doc", CTOC, "--parallel"]),
    ):
        params: dict[str, Any] = {"q": ref}
        if "--doc" in filters:
            params["doc"] = filters[filters.index("--doc") + 1]
        if "--lang" in filters:
            params["lang"] = filters[filters.index("--lang") + 1]
        if "--parallel" in filters:
            params["parallel"] = "1"
        resp = library_client.get("/api/cite", params=params)
        assert resp.status_code == 200, resp.text
        assert resp.json() == cli("cite", ref, *filters, "--json"), (ref, filters)
        assert resp.json()["results"]


def test_batch_filters_equal_cli_batch(
    library_client: Any, lib_home: Path, tmp_path: Path, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = ["online fraud", "第 3 段", "resolution 80/12", "野生动物", "海盗"]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(queries) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    monkeypatch.setenv("PIPELINE_HOME", str(lib_home))
    assert (
        main(
            [
                "batch",
                str(src),
                "-o",
                str(out),
                "-q",
                "--mode",
                "lexical",
                "-k",
                "2",
                "--doc",
                TEST,
                "--lang",
                "en",
                "--parallel",
            ]
        )
        == 0
    )
    capsys.readouterr()
    expected = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    resp = library_client.post(
        "/api/batch",
        params={"mode": "lexical", "k": 2, "doc": TEST, "lang": "en", "parallel": "true"},
        content="\n".join(queries).encode(),
        headers={"content-type": "text/plain"},
    )
    assert resp.status_code == 200, resp.text
    got = [json.loads(line) for line in resp.text.splitlines()]
    assert [r.pop("line") for r in got] == [1, 2, 3, 4, 5]  # the API says where each record came from
    _versions_without_alignment(got)  # the command line finds this home's fake dense index stale (above)
    assert got == expected
    assert all(h["document"] == TEST and h["lang"] == "en" for r in got for h in r["results"])


def test_unknown_documents_and_languages_are_400_naming_the_library(library_client: Any) -> None:
    library = f"{TEST} (en)"
    for path in ("/api/search", "/api/cite"):
        assert_error(
            library_client.get(path, params={"q": "第 3 段", "doc": "X/NONE/1"}),
            400,
            "no document X/NONE/1 in the library",
            library,
            f"{CTOC} (zh)",
        )
        assert_error(library_client.get(path, params={"q": "第 3 段", "lang": "fr"}), 400, "fr", library)
        assert_error(
            library_client.get(path, params={"q": "第 3 段", "lang": "xx"}), 422, "query parameter 'lang'"
        )
    # a question is refused before it reaches the coalescer
    assert_error(
        library_client.get("/api/search", params={"q": "pirates", "doc": "X/NONE/1"}), 400, "X/NONE/1"
    )
    assert_error(
        library_client.get("/api/search", params={"q": "第 3 段", "doc": CTOC, "lang": "en"}), 400, "matches"
    )
    assert_error(
        library_client.post(
            "/api/batch",
            params={"doc": "X/NONE/1"},
            content=b"pirates\n",
            headers={"content-type": "text/plain"},
        ),
        400,
        "no document X/NONE/1",
    )
    for path in ("/api/paragraphs", "/api/paragraphs/3"):
        assert_error(library_client.get(path, params={"doc": "X/NONE/1"}), 400, "no document X/NONE/1")
    # symbols are matched as the command line matches them: case and spaces do not matter
    ok = library_client.get("/api/search", params={"q": "第 3 段", "doc": "a/test/2030/1"}).json()
    assert {h["document"] for h in ok["results"]} == {TEST}


def test_coalescer_never_mixes_filters(lib_retriever: Any) -> None:
    """Concurrent questions asked of different documents, languages and with or without parallel versions
    are answered each with its own filters (grouped only with questions of the same filters)."""
    app = create_app(lib_retriever, ServerOptions(coalesce_ms=60, coalesce_max=64))
    asks = [
        (q, docs, lang, parallel)
        for q in ("online fraud", "野生动物贩运", "trained investigators", "海盗赎金")
        for docs, lang, parallel in (
            (None, None, False),
            ([TEST], None, True),
            ([TEST], "en", False),
            ([CTOC], None, False),
            (None, "zh", True),
        )
    ]
    with TestClient(app) as c:
        start = threading.Barrier(len(asks))

        def ask(a: tuple[str, Any, Any, bool]) -> Any:
            q, docs, lang, parallel = a
            params: dict[str, Any] = {"q": q, "parallel": str(parallel).lower()}
            if docs:
                params["doc"] = docs
            if lang:
                params["lang"] = lang
            start.wait()
            return c.get("/api/search", params=params)

        with ThreadPoolExecutor(len(asks)) as pool:
            responses = list(pool.map(ask, asks))
        stats = c.get("/api/health").json()["coalescer"]
    for (q, docs, lang, parallel), resp in zip(asks, responses, strict=True):
        assert resp.status_code == 200, resp.text
        assert resp.json() == lib_retriever.search(q, docs=docs, lang=lang, parallel=parallel).to_dict(), (
            q,
            docs,
            lang,
        )
    assert stats["questions"] == len(asks) and stats["largest"] > 1  # grouped, yet each answered as asked


# --- paragraphs ----------------------------------------------------------------------------------------


def test_document_qualified_paragraphs_equal_cli_json(library_client: Any, cli: Any) -> None:
    for n, filters in (
        (3, ["--doc", TEST, "--lang", "en"]),
        (3, ["--doc", TEST, "--lang", "zh"]),
        (17, ["--doc", CTOC]),
        (2, ["--doc", TEST, "--lang", "en", "--annex"]),
    ):
        params: dict[str, Any] = {"doc": filters[1]}
        if "--lang" in filters:
            params["lang"] = filters[3]
        if "--annex" in filters:
            params["part"] = "annex"
        resp = library_client.get(f"/api/paragraphs/{n}", params=params)
        assert resp.status_code == 200, resp.text
        assert [resp.json()] == cli("paragraphs", str(n), *filters, "--json")
    rec = library_client.get("/api/paragraphs/2", params={"doc": TEST, "lang": "en", "part": "Annex"}).json()
    assert rec["part"] == "annex" and rec["citation"] == f"{TEST}, annex, para. 2"
    # a number only one document has needs no document
    assert library_client.get("/api/paragraphs/40").json()["citation"] == f"{CTOC}，第40段"


def test_paragraph_lists_equal_cli_json(library_client: Any, cli: Any) -> None:
    everything = library_client.get("/api/paragraphs").json()
    assert everything == cli("paragraphs", "--json")
    assert len(everything) == 83
    for filters in (
        ["--doc", TEST],
        ["--doc", TEST, "--lang", "en"],
        ["--lang", "zh"],
        ["--doc", CTOC, "--doc", TEST],
    ):
        params: dict[str, Any] = {"doc": [filters[i + 1] for i, a in enumerate(filters) if a == "--doc"]}
        if "--lang" in filters:
            params["lang"] = filters[filters.index("--lang") + 1]
        expected = cli("paragraphs", *filters, "--json")
        assert library_client.get("/api/paragraphs", params=params).json() == expected
    annex = library_client.get("/api/paragraphs", params={"doc": TEST, "part": "annex"}).json()
    assert [(r["lang"], r["part"], r["number"]) for r in annex] == [("en", "annex", 1), ("en", "annex", 2)]


def test_paragraph_errors(library_client: Any) -> None:
    body = assert_error(
        library_client.get("/api/paragraphs/3"), 400, "paragraph 3 is in 3 document versions", "doc="
    )
    assert f"{TEST} (en)" in body["error"] and f"{CTOC} (zh)" in body["error"]
    assert_error(library_client.get("/api/paragraphs/3", params={"doc": TEST}), 400, "2 document versions")
    assert_error(
        library_client.get("/api/paragraphs/9", params={"doc": TEST, "lang": "en"}),
        404,
        f"no paragraph 9 in {TEST} (en): it has paragraphs 1-8",
    )
    assert_error(
        library_client.get("/api/paragraphs/66"),
        404,
        f"no paragraph 66 in {CTOC} (zh): it has paragraphs 1-65",
    )
    assert_error(
        library_client.get("/api/paragraphs/1", params={"doc": TEST, "lang": "zh", "part": "annex"}),
        404,
        f"no annex in {TEST} (zh)",
    )
    preamble = {"doc": TEST, "lang": "en", "part": "preamble"}
    assert_error(library_client.get("/api/paragraphs/1", params=preamble), 400, "query parameter 'part'")
    assert_error(
        library_client.get("/api/paragraphs/1", params={"doc": TEST, "lang": "de"}),
        422,
        "query parameter 'lang'",
    )
