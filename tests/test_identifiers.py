"""Identifier recognition: resolutions, document symbols, Convention articles, quantities."""

from __future__ import annotations

import re

import pytest

from pipeline.config import Config
from pipeline.identifiers import Identifier, find_identifiers


def keys(text: str, kind: str | None = None) -> list[str]:
    return [i.key for i in find_identifiers(text) if kind is None or i.kind == kind]


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("第 65/230 号决议", "resolution", "65/230"),
        ("resolution 65/230", "resolution", "65/230"),
        ("安全理事会第 1851 (2008)号决议", "resolution", "1851(2008)"),
        ("第 2011/33 号决议", "resolution", "2011/33"),
        ("第 5/1 号决议", "resolution", "5/1"),
        ("第 4/2 号决定", "resolution", "4/2"),
        ("decision 4/2", "resolution", "4/2"),
        ("第 20/7 号决议", "resolution", "20/7"),
        ("第 65/37 A 号决议", "resolution", "65/37A"),
        ("resolution 65/37 A of the General Assembly", "resolution", "65/37A"),
        ("（S/2009/146，第 59 段）", "symbol", "S/2009/146"),
        ("CTOC/COP/WG.3/4 号文件", "symbol", "CTOC/COP/WG.3/4"),
        ("UNODC/CCPCJ/EG.1/2012/4 号文件", "symbol", "UNODC/CCPCJ/EG.1/2012/4"),
        ("UNODC/CCPCJ/ EG.1/2012/4 号文件", "symbol", "UNODC/CCPCJ/EG.1/2012/4"),
        ("（S/2012/50）。", "symbol", "S/2012/50"),
        ("see document s/2012/50.", "symbol", "S/2012/50"),
        ("第 28 条", "article", "article:28"),
        ("第28条", "article", "article:28"),
        ("article 28", "article", "article:28"),
        ("art. 28", "article", "article:28"),
        ("Article 28", "article", "article:28"),
        ("第 2 条(b)款", "article", "article:2"),
        ("Security Council resolution 1816 (2008)", "resolution", "1816(2008)"),
        ("1,167 名索马里人", "number", "1167"),
        ("1.7 亿美元", "number", "1.7亿"),
        ("4,000 万美元", "number", "4000万"),
        ("about $170 million", "number", "1.7亿"),
        ("US$ 40 million", "number", "4000万"),
        ("增加了 50%", "number", "50%"),
    ],
)
def test_single_identifier(text: str, kind: str, key: str) -> None:
    found = find_identifiers(text)
    assert [(i.kind, i.key) for i in found] == [(kind, key)]
    ident = found[0]
    assert text[ident.start : ident.end] == ident.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "安全理事会第 1851 (2008)、1897 (2009)、1976 (2011)和 2015 (2011)号决议",
            ["1851(2008)", "1897(2009)", "1976(2011)", "2015(2011)"],
        ),
        ("大会第 64/179、65/232 和 66/181 号决议", ["64/179", "65/232", "66/181"]),
        ("以及第 66/231 和 65/37 A 号决议", ["66/231", "65/37A"]),
        ("第 5 条、第 6 条、第 8 条和第 23 条", ["article:5", "article:6", "article:8", "article:23"]),
        ("第 5、6 和 8 条", ["article:5", "article:6", "article:8"]),
        ("articles 27 and 29", ["article:27", "article:29"]),
        ("articles 5, 6, 8 and 23 of the Convention", ["article:5", "article:6", "article:8", "article:23"]),
        ("resolutions 64/179 and 65/232", ["64/179", "65/232"]),
        ("CTOC/COP/WG.3/4 和 CTOC/COP/WG.2/3 号文件", ["CTOC/COP/WG.3/4", "CTOC/COP/WG.2/3"]),
    ],
)
def test_lists(text: str, expected: list[str]) -> None:
    found = find_identifiers(text)
    assert [i.key for i in found] == expected
    assert len({i.kind for i in found}) == 1
    for i in found:
        assert text[i.start : i.end] == i.text


def test_same_key_in_both_languages() -> None:
    assert keys("第 65/230 号决议") == keys("General Assembly resolution 65/230") == ["65/230"]
    assert keys("第 28 条") == keys("article 28") == keys("Art. 28") == ["article:28"]
    assert keys("第 1816 (2008)号决议") == keys("resolution 1816(2008)") == ["1816(2008)"]


def test_full_width_spans_map_to_original() -> None:
    text = "大会第６５／２３０号决议和第２８条，文件Ｓ／２００９／１４６"
    found = find_identifiers(text)
    assert [(i.kind, i.key) for i in found] == [
        ("resolution", "65/230"),
        ("article", "article:28"),
        ("symbol", "S/2009/146"),
    ]
    for i in found:
        assert text[i.start : i.end] == i.text
    assert found[0].text == "６５／２３０"


def test_spans_with_characters_that_nfkc_expands() -> None:
    # U+2474 "⑴" folds to "(1)" (3 characters): offsets after it must still index the original string
    text = "⑴ 第 65/230 号决议；⑵ article 28"
    found = find_identifiers(text)
    assert [i.key for i in found] == ["65/230", "article:28"]
    for i in found:
        assert text[i.start : i.end] == i.text


@pytest.mark.parametrize(
    "text",
    [
        "2012 年 10 月 15 日至 19 日，维也纳",
        "往船只遭到 286 次袭击，其中 31 次袭击得手",
        "来自 16 个国家的 20 名专家",
        "In 2011, 23 people were acquitted",
        "www.unodc.org/documents/data-and-analysis/tocta/TOCTA_Report_2010_low_res.pdf",
        "2012/10/19",
        "and/or",
        "CTOC/COP",
        "第六届会议",
        "第 59 段",
    ],
)
def test_not_identifiers(text: str) -> None:
    assert find_identifiers(text) == []


def test_resolution_part_letter_not_taken_from_a_following_word() -> None:
    assert keys("resolution 65/230 A new approach") == ["65/230"]


def test_identifier_is_frozen_and_ordered() -> None:
    found = find_identifiers("article 5 and resolution 65/230 and S/2012/50 and 1,750")
    assert [i.kind for i in found] == ["article", "resolution", "symbol", "number"]
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))
    with pytest.raises(AttributeError):
        found[0].key = "x"  # type: ignore[misc]
    assert isinstance(found[0], Identifier)


def test_real_report_invariants() -> None:
    """On the whole report: spans are exact, ordered and disjoint; no year or date becomes an identifier."""
    cfg = Config()
    text = cfg.document_path.read_text(encoding="utf-8")
    # join lines the way an ingest step would (line breaks fall inside words and numbers)
    joined = "".join(line.strip() for line in text.splitlines())
    found = find_identifiers(joined)
    assert found, "the report cites resolutions, articles and documents"
    for a, b in zip(found, found[1:]):
        assert a.end <= b.start
    for i in found:
        assert joined[i.start : i.end] == i.text
        if (
            i.kind == "number"
        ):  # plain integers, years and dates are never quantities: a separator, % or unit is
            assert re.search(r"\d,\d|%|万|亿|千|百|million|billion|thousand", i.text, re.IGNORECASE), i.text
        # no year-only or date-like keys
        assert not (i.kind == "resolution" and "/" not in i.key and "(" not in i.key)
    kinds = {i.kind for i in found}
    assert kinds == {"resolution", "symbol", "article", "number"}
    # every "号决议"/"号决定" citation in the report has at least one resolution identifier before it
    pos = 0
    while (at := joined.find("号决", pos)) != -1:
        pos = at + 1
        before = [i for i in found if i.kind == "resolution" and at - 40 <= i.end <= at]
        context = joined[max(0, at - 12) : at]
        if any(ch.isdigit() for ch in context):
            assert before, f"no resolution found before {joined[max(0, at - 30) : at + 3]!r}"
