"""References are exact or refused, never guessed.

A table of reference queries — paragraph lists and ranges in the forms people type (Chinese and English, with
Chinese numerals, with a document symbol before or after or none), numbers no document has, symbols the
library does not hold, resolutions by their UN symbols, documents named alone — each with the route it must
take and the exact paragraphs (or the warning) it must give, run through the Python API, the HTTP API and a
batch. None is ever answered as a question.

The library (``support.build_library_home``): the session's report (CTOC/COP/2012/7, zh), the synthetic
report added as A/TEST/2030/1 (zh) and its English version (8 aligned paragraphs and a 2-paragraph annex;
its paragraph 1 cites CTOC/COP/2012/7). Expected paragraphs are computed from the parsed reports, never
written down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import REAL, SYNTHETIC_SYMBOL, library_retriever

from pipeline.batch import read_queries, run_batch
from pipeline.cli import main
from pipeline.errors import QueryError
from pipeline.render import answer_text
from pipeline.server import create_app

TEST = SYNTHETIC_SYMBOL
LAST = 65  # the real report's last paragraph: checked against the parsed report below


@dataclass(frozen=True)
class Paras:
    """Exactly these paragraphs, in this order, of every document (version) that has each (or of ``doc``'s),
    and no warning unless ``warn`` (a needle the warnings must hold)."""

    numbers: tuple[int, ...]
    doc: str | None = None
    part: str = ""
    warn: str = ""


@dataclass(frozen=True)
class Refused:
    """No results, and warnings holding every needle (and naming the closest symbols ``closest``)."""

    needles: tuple[str, ...]
    closest: tuple[str, ...] = ()


@dataclass(frozen=True)
class Same:
    """The hits of the citation lookup ``canonical`` (which has some)."""

    canonical: str


@dataclass(frozen=True)
class Cited:
    """Every paragraph of the library citing ``key``, in library order (the citation index's own rows)."""

    key: str


@dataclass(frozen=True)
class Overview:
    """The overview of ``symbol`` (the version in ``lang``), and as hits the paragraphs citing it."""

    symbol: str
    lang: str
    part: str | None = None


def R(*numbers: int) -> tuple[int, ...]:
    return tuple(numbers)


def span(a: int, b: int) -> tuple[int, ...]:
    return tuple(range(a, b + 1))


NOT_HELD = "is not in the library"
TABLE: list[tuple[str, str, Any]] = [
    # lists and ranges, no symbol (only the real report has these numbers)
    ("第23段和第24段", "paragraph", Paras(R(23, 24))),
    ("第23段至第25段", "paragraph", Paras(span(23, 25))),
    ("第23至25段", "paragraph", Paras(span(23, 25))),
    ("第二十三、二十四段", "paragraph", Paras(R(23, 24))),
    ("第23、24段", "paragraph", Paras(R(23, 24))),
    ("第 23 段、第 24 段和第 26 段", "paragraph", Paras(R(23, 24, 26))),
    ("第二十三段至第二十五段", "paragraph", Paras(span(23, 25))),
    ("第二十三至二十五段", "paragraph", Paras(span(23, 25))),
    ("第六十五段", "paragraph", Paras(R(65))),
    ("第２３段", "paragraph", Paras(R(23))),
    ("paras. 23 and 24", "paragraph", Paras(R(23, 24))),
    ("paragraphs 23–25", "paragraph", Paras(span(23, 25))),
    ("paragraphs 23-25", "paragraph", Paras(span(23, 25))),
    ("paras 23, 24 and 26", "paragraph", Paras(R(23, 24, 26))),
    ("¶¶23–24", "paragraph", Paras(R(23, 24))),
    ("¶23-¶25", "paragraph", Paras(span(23, 25))),
    ("para. 23 and para. 24", "paragraph", Paras(R(23, 24))),
    ("paragraphs 23 to 25", "paragraph", Paras(span(23, 25))),
    ("paragraphs 23 through 25", "paragraph", Paras(span(23, 25))),
    ("Paras 23 AND 24", "paragraph", Paras(R(23, 24))),
    ("§§ 23-24", "paragraph", Paras(R(23, 24))),
    ("ＰＡＲＡＧＲＡＰＨＳ　２３–２４", "paragraph", Paras(R(23, 24))),
    ("23-25", "paragraph", Paras(span(23, 25))),
    ("23, 24 and 26", "paragraph", Paras(R(23, 24, 26))),
    ("paras. 26 and 23", "paragraph", Paras(R(26, 23))),  # in the order asked
    # numbers several documents have: each document's, in library order
    ("第2段", "paragraph", Paras(R(2))),
    ("paras 2 and 3", "paragraph", Paras(R(2, 3))),
    ("第七至九段", "paragraph", Paras(span(7, 9))),
    # with a document symbol, before or after
    (f"{REAL}, paras. 23 and 24", "paragraph", Paras(R(23, 24), REAL)),
    (f"{REAL} 第23段和第24段", "paragraph", Paras(R(23, 24), REAL)),
    (f"{REAL}，第23至25段", "paragraph", Paras(span(23, 25), REAL)),
    (f"paras. 23 and 24 of {REAL}", "paragraph", Paras(R(23, 24), REAL)),
    (f"第23段和第24段，{REAL}", "paragraph", Paras(R(23, 24), REAL)),
    (f"{REAL} ¶¶23–24", "paragraph", Paras(R(23, 24), REAL)),
    (f"{REAL} 号文件第二十三段", "paragraph", Paras(R(23), REAL)),
    (f"document {REAL}, paragraph 23", "paragraph", Paras(R(23), REAL)),
    (f"{TEST} ¶2", "paragraph", Paras(R(2), TEST)),
    (f"{TEST.lower()} paras 2-3", "paragraph", Paras(R(2, 3), TEST)),
    (f"{TEST}, annex, para. 1", "paragraph", Paras(R(1), TEST, "annex")),
    (f"{TEST}，附件，第1段和第2段", "paragraph", Paras(R(1, 2), TEST, "annex")),
    # numbers no document has: a warning and no results, whatever their size
    ("第9999段", "paragraph", Refused(("no paragraph 9999 ",))),
    ("第999段", "paragraph", Refused(("no paragraph 999 ",))),
    ("para 9999", "paragraph", Refused(("no paragraph 9999 ",))),
    ("para 999", "paragraph", Refused(("no paragraph 999 ",))),
    ("9999", "paragraph", Refused(("no paragraph 9999 ",))),
    ("999", "paragraph", Refused(("no paragraph 999 ",))),
    ("第100000段", "paragraph", Refused(("no paragraph 100000 ",))),
    ("paragraph 123456789", "paragraph", Refused(("no paragraph 123456789 ",))),
    ("第九千九百九十九段", "paragraph", Refused(("no paragraph 9999 ",))),
    (f"{REAL} ¶ {LAST + 1}", "paragraph", Refused((f"no paragraph {LAST + 1} in {REAL}",))),
    (
        f"{REAL} 第{LAST + 1}段至第{LAST + 3}段",
        "paragraph",
        Refused((f"no paragraphs {LAST + 1}-{LAST + 3} in {REAL}",)),
    ),
    (
        f"paragraphs {LAST}-{LAST + 2}",
        "paragraph",
        Paras(R(LAST), warn=f"no paragraphs {LAST + 1}-{LAST + 2}"),
    ),
    # document symbols the library does not hold: a warning naming the closest symbols it holds
    ("CTOC/COP/2013/7, para. 3", "paragraph", Refused(("CTOC/COP/2013/7 " + NOT_HELD,), (REAL,))),
    ("CTOC/COP/2013/7 第3段和第4段", "paragraph", Refused(("CTOC/COP/2013/7 " + NOT_HELD,), (REAL,))),
    ("paras. 3 and 4 of CTOC/COP/2013/7", "paragraph", Refused(("CTOC/COP/2013/7 " + NOT_HELD,), (REAL,))),
    ("CTOC/COP/2013/7", "document", Refused(("CTOC/COP/2013/7 " + NOT_HELD, "no paragraph"), (REAL,))),
    ("A/TEST/2031/1", "document", Refused(("A/TEST/2031/1 " + NOT_HELD,), (TEST,))),
    ("S/1999/1", "document", Refused(("S/1999/1 " + NOT_HELD, "no paragraph of the library cites it"))),
    # resolutions by their UN symbols: the resolution's citations
    ("A/RES/65/230", "citation", Same("resolution 65/230")),
    ("A/RES/65/230 (2010)", "citation", Same("resolution 65/230")),
    ("General Assembly resolution 65/230", "citation", Same("resolution 65/230")),
    ("大会第 65/230 号决议", "citation", Same("resolution 65/230")),
    ("Ａ／ＲＥＳ／６５／２３０", "citation", Same("resolution 65/230")),
    ("S/RES/1851 (2008)", "citation", Same("第 1851 (2008)号决议")),
    ("S/RES/1851(2008)", "citation", Same("第 1851 (2008)号决议")),
    ("s/res/1851 (2008)", "citation", Same("第 1851 (2008)号决议")),
    ("Security Council resolution 1851 (2008)", "citation", Same("第 1851 (2008)号决议")),
    ("S/RES/1851", "citation", Same("第 1851 (2008)号决议")),
    ("安全理事会第 1851 号决议", "citation", Same("第 1851 (2008)号决议")),
    ("A/RES/80/12", "citation", Same("resolution 80/12")),
    # references the library does not cite: a warning, never a search
    ("A/RES/99/999", "citation", Refused(("the library does not cite resolution 99/999",))),
    ("resolution 99/999", "citation", Refused(("the library does not cite resolution 99/999",))),
    ("which paragraphs cite resolution 99/999?", "citation", Refused(("does not cite resolution 99/999",))),
    ("S/RES/9999 (2030)", "citation", Refused(("does not cite resolution 9999 (2030)",))),
    ("article 999", "citation", Refused(("does not cite article 999",))),
    (
        "A/RES/65/230, para. 3",
        "paragraph",
        Refused(("resolution 65/230 " + NOT_HELD, "the library cites it")),
    ),
    # a symbol the library cites but does not hold: the paragraphs citing it
    ("A/CONF.999/2029/5", "citation", Cited("A/CONF.999/2029/5")),
    # documents of the library named alone: the overview (and the paragraphs citing it)
    (REAL, "document", Overview(REAL, "zh")),
    (REAL.lower(), "document", Overview(REAL, "zh")),
    ("ctoc / cop / 2012 / 7", "document", Overview(REAL, "zh")),
    ("ＣＴＯＣ／ＣＯＰ／２０１２／７", "document", Overview(REAL, "zh")),
    (TEST, "document", Overview(TEST, "en")),
    (f"document {TEST}", "document", Overview(TEST, "en")),
    (f"{TEST} 号文件", "document", Overview(TEST, "zh")),
    (f"{TEST}, annex", "document", Overview(TEST, "en", "annex")),
]
QUERIES = [q for q, _, _ in TABLE]


def test_the_table_is_large_and_unique() -> None:
    assert len(TABLE) >= 60 and len(set(QUERIES)) == len(QUERIES)


@pytest.fixture(scope="module")
def lib_home(library_home_ro: Path) -> Path:
    return library_home_ro


@pytest.fixture(scope="module")
def r(lib_home: Path) -> Any:
    return library_retriever(lib_home)


@pytest.fixture(scope="module")
def client(r: Any) -> Any:
    with TestClient(create_app(r)) as c:
        yield c


def keyed(hits: list[dict[str, Any]]) -> list[tuple[str, str, str, int]]:
    return [(h["document"], h["lang"], h.get("part", ""), h["paragraph"]) for h in hits]


def expected_paragraphs(r: Any, spec: Paras) -> list[tuple[str, str, str, int]]:
    """What the parsed reports have of ``spec``'s numbers: each number in the order asked, each document
    version that has it in library order, each once."""
    out: list[tuple[str, str, str, int]] = []
    for n in spec.numbers:
        for d in r.library.documents:
            has = any(p.number == n and p.part == spec.part for p in d.paragraphs)
            if has and spec.doc in (None, d.symbol) and (d.symbol, d.lang, spec.part, n) not in out:
                out.append((d.symbol, d.lang, spec.part, n))
    return out


def citing(r: Any, key: str) -> list[tuple[str, str, str, int]]:
    """The paragraphs the citation index says cite ``key``, in library order."""
    rows = sorted({c.row for c in r.citations.by_key.get(key, [])})
    return [(p.document, p.lang, p.part, p.number) for p in (r.library.paragraphs[i] for i in rows)]


def check_overview(r: Any, ov: dict[str, Any], spec: Overview) -> None:
    d = r.library.document(spec.symbol, spec.lang)
    assert (ov["symbol"], ov["lang"]) == (spec.symbol, spec.lang)
    assert ov["languages"] == [v.lang for v in r.library.versions(spec.symbol)]
    shown = [p for p in d.paragraphs if spec.part is None or p.part == spec.part]
    assert ov["paragraphs"] == len(shown)
    for rng in ov["ranges"]:
        nums = [p.number for p in shown if p.part == rng["part"]]
        assert (rng["first"], rng["last"]) == (min(nums), max(nums))
    paths = {(p.part, tuple(p.section[:i])) for p in shown for i in range(1, len(p.section) + 1)}
    assert len(ov["sections"]) == len(paths) and paths
    for s in ov["sections"]:
        under = [
            p.number
            for p in shown
            if p.part == s["part"]
            and len(p.section) >= s["level"]
            and p.section[s["level"] - 1] == s["heading"]
        ]
        assert (s["first"], s["last"]) == (min(under), max(under)), s


def check(r: Any, query: str, route: str, spec: Any, got: dict[str, Any]) -> None:
    """``got`` (an answer's JSON) is what the table says ``query`` must give."""
    assert got["route"] == route != "question", (query, got.get("route"), got.get("warnings"))
    warnings = " | ".join(got.get("warnings") or [])
    hits = keyed(got["results"])
    if isinstance(spec, Paras):
        want = expected_paragraphs(r, spec)
        assert want and hits == want, (query, hits, want)
        assert (spec.warn in warnings) if spec.warn else not warnings, (query, warnings)
    elif isinstance(spec, Refused):
        assert hits == [] and "overview" not in got, (query, hits)
        for needle in spec.needles:
            assert needle in warnings, (query, needle, warnings)
        if spec.closest:
            assert "closest in it: " + ", ".join(spec.closest) in warnings, (query, warnings)
    elif isinstance(spec, Same):
        want = keyed(r.search(spec.canonical).to_dict()["results"])
        assert want and hits == want and not warnings, (query, hits, want)
    elif isinstance(spec, Cited):
        want = citing(r, spec.key)
        assert want and hits == want, (query, hits, want)
    else:
        check_overview(r, got["overview"], spec)
        assert hits == citing(r, spec.symbol), (query, hits)


def test_the_library_is_what_the_table_assumes(r: Any) -> None:
    real = r.library.document(REAL)
    assert max(p.number for p in real.paragraphs) == LAST and {23, 24, 25, 26} <= set(real.numbers)
    assert [(d.symbol, d.lang) for d in r.library.documents] == [(REAL, "zh"), (TEST, "zh"), (TEST, "en")]
    assert max(r.library.document(TEST).numbers) < 23  # lists of 23… are the real report's alone
    assert citing(r, REAL) and not citing(r, TEST)  # A/TEST/2030/1 (en) ¶1 cites the real report


@pytest.mark.parametrize(("query", "route", "spec"), TABLE, ids=QUERIES)
def test_python_api(r: Any, query: str, route: str, spec: Any) -> None:
    check(r, query, route, spec, r.search(query).to_dict())
    plan = r.plan(query)
    assert plan.route.kind == route and not plan.terms  # routed, never analysed as a question


def test_http_api(r: Any, client: Any) -> None:
    for query, route, spec in TABLE:
        resp = client.get("/api/search", params={"q": query})
        assert resp.status_code == 200, (query, resp.text)
        body = resp.json()
        check(r, query, route, spec, body)
        assert body == r.search(query).to_dict()
        cited = client.get("/api/cite", params={"q": query})  # the same answer: a reference is a reference
        assert cited.status_code == 200 and cited.json() == body, query
    batch = client.post("/api/batch", json=[{"id": str(i), "query": q} for i, q in enumerate(QUERIES)])
    assert batch.status_code == 200, batch.text
    records = [json.loads(line) for line in batch.text.splitlines() if line.strip()]
    assert [rec["id"] for rec in records] == [str(i) for i in range(len(TABLE))]
    for rec, (query, route, spec) in zip(records, TABLE, strict=True):
        check(r, query, route, spec, rec)


def test_batch(r: Any, tmp_path: Path) -> None:
    src = tmp_path / "refs.jsonl"
    src.write_text(
        "".join(json.dumps({"id": f"q{i}", "query": q}) + "\n" for i, q in enumerate(QUERIES)), "utf-8"
    )
    good, bad = read_queries(src)
    assert not bad and len(good) == len(TABLE)
    out = tmp_path / "answers.jsonl"

    def answer(qs: list[str]) -> list[dict[str, Any]]:
        return [a.to_dict() for a in r.search_many(qs)]

    report = run_batch(good, answer, str(out), "jsonl", resume=False, options={}, chunk=7)
    assert report.answered == len(TABLE) and not report.bad
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    for i, (rec, (query, route, spec)) in enumerate(zip(records, TABLE, strict=True)):
        assert rec["id"] == f"q{i}"
        check(r, query, route, spec, rec)
    text = tmp_path / "answers.txt"
    run_batch(good, answer, str(text), "text", resume=False, options={})
    assert "[route: question" not in text.read_text("utf-8")


def test_batch_command(lib_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, r: Any) -> None:
    """``pipeline batch`` on the library's home (in-process): the same routes and paragraphs."""
    monkeypatch.setenv("PIPELINE_HOME", str(lib_home))
    src = tmp_path / "refs.txt"
    src.write_text("\n".join(QUERIES) + "\n", "utf-8")
    out = tmp_path / "answers.jsonl"
    assert main(["batch", str(src), "-o", str(out), "--mode", "lexical", "--quiet"]) == 0
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    for rec, (query, route, spec) in zip(records, TABLE, strict=True):
        check(r, query, route, spec, rec)


# --- what the table does not show -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("第 25 至 23 段", "empty range 25-23"),
        ("paragraphs 25-23", "empty range 25-23"),
        ("paragraphs 1-99999", "too long"),
        (f"{REAL} 第1至100000段", "too long"),
    ],
)
def test_impossible_ranges_are_refused(r: Any, query: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        r.search(query)


def test_questions_that_mention_references_stay_questions(r: Any) -> None:
    for q in (
        "what does resolution 99/999 say about piracy",
        f"piracy in {TEST}",
        "S/1999/1 第 59 段说了什么关于索马里的话",
        "What happened in 2011?",
        "1,167",
    ):
        assert r.plan(q, "lexical").route.kind == "question", q


def test_overview_text(r: Any) -> None:
    real = r.library.document(REAL)
    text = answer_text(r.search(REAL))
    assert "[route: document" in text and "(no results)" not in text
    for p in (real.paragraphs[0], real.paragraphs[-1]):
        assert p.section[-1] in text
    assert f"¶{real.paragraphs[0].number}-{real.paragraphs[-1].number}" in text
    annex = answer_text(r.search(f"{TEST}, annex"))
    assert "[annex]" in annex and "body" not in annex.split("paragraphs:")[1].split("\n")[0]


def test_the_overview_of_a_document_filtered_out_still_answers(r: Any) -> None:
    ans = r.search(REAL, docs=[TEST])  # the paragraphs of A/TEST/2030/1 citing it, and its overview
    assert ans.route == "document" and ans.overview and ans.overview["symbol"] == REAL
    assert [(h.document, h.lang) for h in ans.hits] == [(TEST, "en")]


def test_openapi_describes_the_overview(client: Any) -> None:
    comps = client.get("/openapi.json").json()["components"]["schemas"]
    assert "overview" in comps["Answer"]["properties"] and "Overview" in comps
    assert "document" in json.dumps(comps["Answer"]["properties"]["route"])


@pytest.mark.parametrize(
    ("ref", "code"),
    [
        (REAL, 0),  # cited by A/TEST/2030/1: its overview and the citing paragraph
        ("resolution 80/12", 0),
        ("S/RES/1851 (2008)", 0),
        ("resolution 99/999", 1),  # found nothing: partly answered, as README's table says
        ("CTOC/COP/2013/7", 1),
        ("S/1999/1", 1),
        ("para 9999", 1),
        ("pirates", 2),  # not a reference: bad input
    ],
)
def test_cite_exit_codes(
    lib_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], ref: str, code: int
) -> None:
    monkeypatch.setenv("PIPELINE_HOME", str(lib_home))
    assert main(["cite", ref, "--json"]) == code
    out, err = capsys.readouterr()
    if code == 2:
        assert "pipeline: error: no paragraph number or reference" in err
    else:
        body = json.loads(out)
        assert body["route"] != "question" and bool(body["results"]) == (code == 0)


# --- the pieces -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "matched"),
    [
        ("A/RES/65/230", "65/230", "A/RES/65/230"),
        ("A/RES/65/230 (2010)", "65/230", "A/RES/65/230 (2010)"),
        ("A/RES/65/37 A", "65/37A", "A/RES/65/37 A"),
        ("A/RES/ES-10/19", "ES-10/19", "A/RES/ES-10/19"),
        ("E/RES/2011/33", "2011/33", "E/RES/2011/33"),
        ("A/HRC/RES/17/1", "17/1", "A/HRC/RES/17/1"),
        ("S/RES/1851 (2008)", "1851(2008)", "S/RES/1851 (2008)"),
        ("S/RES/1851（2008）", "1851(2008)", "S/RES/1851（2008）"),
        ("S/RES/1851", "1851", "S/RES/1851"),
        ("resolution 1851", "1851", "resolution 1851"),
        ("第 1851 号决议", "1851", "第 1851 号决议"),
    ],
)
def test_resolutions_by_their_un_symbols(text: str, key: str, matched: str) -> None:
    from pipeline.identifiers import find_identifiers, find_references

    [ident] = find_references(text)
    assert (ident.kind, ident.key, ident.text) == ("resolution", key, matched)
    assert text[ident.start : ident.end] == matched
    if "/RES/" in text:  # the analyzer's recogniser is unchanged (a symbol): no index term changes
        assert find_identifiers(text)[0].kind == "symbol"


def test_symbols_that_are_not_resolutions_stay_symbols() -> None:
    from pipeline.identifiers import find_references

    for text in ("CTOC/COP/2012/7", "S/2009/146", "A/CONF.999/2029/5", "A/RES/65/230 A new text"):
        kinds = [(i.kind, i.key) for i in find_references(text)]
        assert kinds[0][0] == ("resolution" if "RES" in text else "symbol"), kinds
    assert [i.key for i in find_references("A/RES/65/230 A new text")] == ["65/230"]


def test_a_security_council_resolution_without_its_year_matches_every_year(r: Any) -> None:
    assert r.citations.lookup("1851") == r.citations.lookup("1851(2008)") != []
    assert r.citations.lookup("1851(1999)") == []


def test_closest_symbols() -> None:
    from pipeline.cite import closest_symbols

    held = [REAL, "CTOC/COP/WG.2/2013/3", TEST]
    assert closest_symbols("CTOC/COP/2013/7", held)[0] == REAL
    assert closest_symbols("ctoc/cop/wg.3/2013/3", held)[0] == "CTOC/COP/WG.2/2013/3"
    assert closest_symbols("A/TEST/2031/1", held) == [TEST]
    assert closest_symbols("S/1999/1", held) == []


def test_chinese_numerals_of_every_size() -> None:
    from pipeline.cite import chinese_numeral

    assert [chinese_numeral(s) for s in ("一千", "一千零一", "两千三百", "一万", "九万九千九百九十九")] == [
        1000,
        1001,
        2300,
        10000,
        99999,
    ]
