"""Router, paragraph lookups and the exact citation index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cite import CitationIndex, chinese_numeral, cite, parse_paragraph_reference, route
from pipeline.errors import QueryError
from pipeline.retrieve import Retriever

DEV = Path(__file__).resolve().parent.parent / "corpus" / "eval" / "dev.jsonl"


@pytest.fixture(scope="module")
def index(corpus):
    return CitationIndex.build(corpus)


def _dev(kinds):
    return [q for q in map(json.loads, DEV.read_text(encoding="utf-8").splitlines()) if q["kind"] in kinds]


def test_every_citation_points_at_its_text(corpus, index):
    assert index.by_key
    for key, cites in index.by_key.items():
        for c in cites:
            p = corpus.paragraph(c.paragraph)
            fields = (
                {"text": p.text}
                | {f"item:{i.label}": i.text for i in p.items}
                | {f"footnote:{f.marker}": f.text for f in p.footnotes}
            )
            assert fields[c.where][c.start : c.end] == c.text
        assert [c.paragraph for c in cites] == sorted(c.paragraph for c in cites)  # document order


def test_resolution_lists_cite_each_member(index):
    for key in ("1851(2008)", "1897(2009)", "1976(2011)", "2015(2011)"):
        assert 19 in [c.paragraph for c in index.lookup(key)]
    assert [c.paragraph for c in index.lookup("65/230")] == [10, 12]


@pytest.mark.parametrize("q", _dev({"reference", "paragraph"}), ids=lambda q: q["id"])
def test_dev_lookups_are_exact(q, index):
    r = route(q["query"], index)
    if r.kind == "paragraph":
        got = list(dict.fromkeys(n for n, _ in r.paragraphs))
    else:
        assert r.kind == "citation", r
        got = [cs[0].paragraph for _, cs in cite(index, r.identifiers)]
    assert got == q["relevant"]


def test_questions_are_not_routed_to_lookups(index):
    wrong = [
        q["query"] for q in _dev({"question", "paraphrase"}) if route(q["query"], index).kind != "question"
    ]
    assert not wrong


@pytest.mark.parametrize(
    "text,expected",
    [
        ("23", [23]),
        ("paragraph 23", [23]),
        ("para. 7", [7]),
        ("¶17", [17]),
        ("第 41 段", [41]),
        ("第四十一段", [41]),
        ("paragraphs 15-17", [15, 16, 17]),
        ("第 3 至 5 段", [3, 4, 5]),
        ("paras 3 and 5", [3, 5]),
        ("show paragraph 9", [9]),
    ],
)
def test_paragraph_reference_forms(text, expected):
    assert [n for n, _ in parse_paragraph_reference(text)] == expected


@pytest.mark.parametrize(
    "text",
    ["What happened in 2011?", "第 28 条规定了什么", "S/2009/146 第 59 段说了什么关于索马里的话", "1,167"],
)
def test_not_paragraph_references(text):
    assert parse_paragraph_reference(text) is None


def test_chinese_numerals():
    assert [chinese_numeral(s) for s in ("一", "十", "十五", "二十", "四十一", "六十五", "一百零二")] == [
        1,
        10,
        15,
        20,
        41,
        65,
        102,
    ]
    assert chinese_numeral("段") is None


@pytest.fixture(scope="module")
def lookups(corpus, cfg):
    """A retriever that can only look up (no index, no model is ever loaded for these tests)."""
    return Retriever(corpus, cfg=cfg)


def test_item_lookup_answers_with_the_item(lookups):
    ans = lookups.search("para 65(d)")
    assert ans.route == "paragraph" and [h.paragraph for h in ans.hits] == [65]
    assert ans.hits[0].answer.startswith("(d) 促请缔约国参加并支持")


def test_footnote_citation_answers_with_paragraph_and_match(lookups):
    ans = lookups.search("S/2012/50")
    assert ans.route == "citation" and [h.paragraph for h in ans.hits] == [17]
    assert ans.hits[0].match[0]["where"] == "footnote:1"


def test_out_of_range_paragraph_warns(lookups):
    ans = lookups.search("paragraph 99")
    assert ans.route == "paragraph" and not ans.hits and "1-65" in ans.warnings[0]


def test_reversed_range_is_refused_not_half_answered(lookups):
    for q in ("paragraph 17-15", "第 17 至 15 段", "paras 9 to 3"):
        with pytest.raises(QueryError, match="empty range"):
            lookups.search(q)
    assert [h.paragraph for h in lookups.search("paragraph 15-17").hits] == [15, 16, 17]


def test_missing_item_is_said_not_silently_widened(lookups):
    ans = lookups.search("para 65(z)")
    assert [h.paragraph for h in ans.hits] == [65] and "no item (z)" in ans.warnings[0]
    ans = lookups.search("para 64(a)")
    assert "paragraph 64 has no item (a)" in ans.warnings[0] and "none" in ans.warnings[0]
    assert not lookups.search("para 65(d)").warnings


def test_lookup_refuses_what_is_not_a_reference(lookups):
    # a reference to what the library does not have is answered: a warning and no results (`cite` exit 1)
    ans = lookups.lookup("S/1999/1")
    assert ans.route == "document" and not ans.hits
    assert "S/1999/1 is not in the library" in ans.warnings[0] and "no paragraph" in ans.warnings[0]
    ans = lookups.lookup("resolution 99/999")
    assert ans.route == "citation" and not ans.hits
    assert ans.warnings == ["the library does not cite resolution 99/999"]
    with pytest.raises(QueryError, match="no paragraph number or reference"):
        lookups.lookup("pirates")


def test_lookups_do_not_import_heavy_libraries():
    import subprocess
    import sys

    code = (
        "import sys; from pipeline.cli import main; main(['cite', 'resolution 65/230', '--json']); "
        "main(['search', '第 41 段', '--json']); "
        "assert 'torch' not in sys.modules and 'jieba' not in sys.modules, "
        "sorted(m for m in sys.modules if m in ('torch','jieba'))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_chinese_numerals_written_digit_by_digit() -> None:
    from pipeline.cite import chinese_numeral

    assert chinese_numeral("九九九") == 999 and chinese_numeral("四一") == 41
    assert chinese_numeral("四十一") == 41 and chinese_numeral("一百零二") == 102
    assert chinese_numeral("九") == 9
