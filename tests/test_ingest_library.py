"""Ingest of the library's reports: English layout, language detection and identity, annexes whose numbering
restarts, printed deletions, footnote markers among identifiers — on the short reports of tests/data/library/
(README.md there says what each one exercises), each rule also checked on a held-out report it was not
written against."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import pytest

from pipeline.corpus import Corpus
from pipeline.ingest import (
    IngestError,
    detect_language,
    ingest_file,
    lang_from_name,
    parse_report,
    settle_identity,
)

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "tests" / "data" / "library"
REPORT = ROOT / "corpus" / "ctoc-cop-2012-7.zh.txt"

ZH = LIB / "ctoc-cop-wg2-2013-3.zh.txt"  # (a)
EN = LIB / "ctoc-cop-2014-5.en.txt"  # (b)
ZH_EN = LIB / "ctoc-cop-wg2-2013-3.en.txt"  # (c) the English version of (a)
GAP = LIB / "ctoc-cop-2015-2-gap.en.txt"  # (d)
ANNEX_GAP = LIB / "ctoc-cop-2016-3-annex-gap.zh.txt"  # (d) in an annex
MISALIGNED = LIB / "ctoc-cop-wg2-2013-3-misaligned.en.txt"  # (e)
HELD_EN = LIB / "ctoc-cop-2017-6.en.txt"  # held out: English layout, annexes, markers
HELD_ZH = LIB / "ctoc-cop-wg7-2017-2.zh.txt"  # held out: Chinese annexes, markers

BROKEN = {GAP, ANNEX_GAP}
PARSEABLE = sorted(p for p in LIB.glob("*.txt") if p not in BROKEN)


def _load(path: Path) -> Corpus:
    return ingest_file(path)


@pytest.fixture(scope="module")
def zh() -> Corpus:
    return _load(ZH)


@pytest.fixture(scope="module")
def en() -> Corpus:
    return _load(EN)


@pytest.fixture(scope="module")
def zh_en() -> Corpus:
    return _load(ZH_EN)


@pytest.fixture(scope="module")
def held_en() -> Corpus:
    return _load(HELD_EN)


@pytest.fixture(scope="module")
def held_zh() -> Corpus:
    return _load(HELD_ZH)


def _keys(c: Corpus) -> list[tuple[str, int]]:
    return [p.key for p in c.paragraphs]


def _labels(p) -> list[str]:
    return [h.split(".", 1)[0] for h in p.section]


# --- the data ---------------------------------------------------------------------------------------------


def test_every_library_file_is_named_by_language_and_described():
    readme = (LIB / "README.md").read_text(encoding="utf-8")
    files = sorted(LIB.glob("*.txt"))
    assert set(files) == {
        ZH,
        EN,
        ZH_EN,
        GAP,
        ANNEX_GAP,
        MISALIGNED,
        HELD_EN,
        HELD_ZH,
        LIB / "ctoc-cop-2018-4.en.txt",
    }
    for f in files:
        assert lang_from_name(f) in ("zh", "en"), f.name
        assert f"`{f.name}`" in readme, f"{f.name} is not described in README.md"


# --- (a) a Chinese report with its symbol, sections, footnotes and an annex ---------------------------------


def test_chinese_report_structure_and_annex_numbering_restarts(zh):
    assert _keys(zh) == [("", n) for n in range(1, 7)] + [("annex", 1), ("annex", 2)]
    assert zh.parts == ["", "annex"]
    assert zh.paragraph(1, "annex").text.startswith("各国应当考虑将伪造药品贩运定为严重犯罪")
    assert zh.paragraph(1).text.startswith("缔约方会议在题为“打击伪造药品贩运”")
    assert zh.paragraph(3).section == ["二. 技术援助活动", "A. 立法援助", "1. 示范立法条文"]
    assert zh.paragraph(4).section[-1] == "2. 培训"
    assert zh.paragraph(5).section == ["二. 技术援助活动", "B. 国际合作"]  # B. closes the numbered level
    assert zh.paragraph(6).section == ["三. 结论"]
    # the annex is a level-0 heading: its label as printed and its title lines; sections restart under it
    annex = zh.paragraph(1, "annex").section
    assert annex == ["附件. 关于打击伪造药品贩运的建议草案", "A. 预防"]
    assert zh.paragraph(2, "annex").section == ["附件. 关于打击伪造药品贩运的建议草案", "B. 执法"]
    assert [(s.label, s.level) for s in zh.sections] == [
        ("一", 1),
        ("二", 1),
        ("A", 2),
        ("1", 3),
        ("2", 3),
        ("B", 2),
        ("三", 1),
        ("附件", 0),
        ("A", 2),
        ("B", 2),
    ]


def test_chinese_front_matter_prints_the_symbol(zh):
    m = zh.metadata
    assert (m.symbol, m.symbol_source, m.language) == ("CTOC/COP/WG.2/2013/3", "front matter", "zh")
    assert (m.dates, m.place, m.agenda_item) == ("2013 年 10 月 7 日至 9 日", "维也纳", "2")
    assert m.agenda_title == "运用《有组织犯罪公约》打击伪造药品贩运"
    assert m.title == "打击伪造药品贩运方面的技术援助活动"
    assert m.report_type == "秘书处的说明"
    assert m.session is None  # a working group prints no session
    assert {(p.document, p.lang) for p in zh.paragraphs} == {("CTOC/COP/WG.2/2013/3", "zh")}
    assert zh.paragraph(2, "annex").citation == "CTOC/COP/WG.2/2013/3，附件，第2段"
    # the note to "议程*" is printed at the foot of page 1: it joins the front matter, not paragraph 2
    assert zh.front_matter[-1] == "* CTOC/COP/WG.2/2013/1。"
    assert "CTOC/COP/WG.2/2013/1" not in zh.paragraph(2).full_text


def test_chinese_footnotes_go_to_their_markers_across_the_page_break(zh):
    p2, p3 = zh.paragraph(2), zh.paragraph(3)
    assert [(f.marker, f.line) for f in p2.footnotes] == [("1", 46)]
    assert p2.text[: p2.footnotes[0].offset].endswith("有多达 30%是伪造药品。")
    # the page break fell inside a sentence, and a line "12 条" opens the next page: one sentence again
    assert "执法能力的不足，并在第 12 条所述的没收和扣押方面规避各国的管辖权。" in p2.text
    assert [f.marker for f in p3.footnotes] == ["2"]
    assert p3.text[: p3.footnotes[0].offset].endswith("进行了审查。")
    assert "www.unodc.org/documents/treaties/Model_Provisions_Falsified_Medicines.pdf 查阅" in p3.text
    a1 = zh.paragraph(1, "annex")
    assert [(f.marker, f.text) for f in a1.footnotes] == [("3", "见《公约》第 2 条(b)款。")]
    assert a1.text.endswith("剥夺自由。")
    assert [it.label for it in zh.paragraph(5).items] == ["a", "b"]
    assert zh.paragraph(5).items[1].text == "根据大会第 67/186 号决议指定负责打击伪造药品贩运的联络点。"


# --- (b) an English report --------------------------------------------------------------------------------


def test_english_front_matter(en):
    m = en.metadata
    assert (m.symbol, m.symbol_source, m.language) == ("CTOC/COP/2014/5", "front matter", "en")
    assert (m.session, m.dates, m.place) == ("Seventh session", "6-10 October 2014", "Vienna")
    assert (m.agenda_item, m.agenda_title) == ("4 (b)", "Implementation of the Firearms Protocol")
    assert m.title == (
        "Technical assistance provided to States to implement the Protocol against the Illicit "
        "Manufacturing of and Trafficking in Firearms, Their Parts and Components and Ammunition"
    )
    assert m.report_type == "Report of the Secretariat"
    assert en.front_matter[-1] == "* CTOC/COP/2014/1."
    assert {(p.document, p.lang) for p in en.paragraphs} == {("CTOC/COP/2014/5", "en")}
    assert en.paragraph(5, "annex II").citation == "CTOC/COP/2014/5, annex II, para. 5"


def test_english_headings(en):
    assert [(s.label, s.level) for s in en.sections] == [
        ("I", 1),
        ("II", 1),
        ("III", 1),
        ("A", 2),
        ("B", 2),
        ("C", 2),
        ("IV", 1),
        ("Annex I", 0),
        ("Annex II", 0),
    ]
    # "C." is a Roman numeral too: the letter sequence of chapter III expects it
    assert en.paragraph(7).section == ["III. Capacity-building", "C. Data collection"]
    assert en.paragraph(8).section == ["IV. Conclusions and recommendations"]
    assert en.paragraph(1, "annex I").section == ["Annex I. Technical assistance activities by region"]
    assert en.paragraph(1, "annex II").section == [
        "Annex II. Draft recommendations of the Working Group on Firearms"
    ]


def test_english_annexes_restart_and_printed_deletions_keep_numbers_aligned(en):
    assert en.parts == ["", "annex I", "annex II"]
    assert _keys(en) == (
        [("", n) for n in range(1, 9)]
        + [("annex I", 1), ("annex I", 2)]
        + [("annex II", n) for n in (1, 2, 5)]
    )
    assert (129, "3.-4. [Deleted]") in en.residue  # kept, not invented into paragraphs
    assert en.paragraph(5, "annex II").text.startswith("States should consider the establishment")
    with pytest.raises(KeyError):
        en.paragraph(3, "annex II")


def test_english_footnote_markers_are_told_from_identifiers(en):
    expect = {  # paragraph -> (marker, the text just before it)
        1: ("1", "Ammunition (the Firearms Protocol)."),  # after a full stop, a new sentence follows
        2: ("2", "became parties to the Protocol"),  # glued to a word
        3: (
            "3",
            "General Assembly resolution A/RES/55/25.",
        ),  # after a symbol's closing number and a full stop
        5: ("4", "Training Material developed in 2012,"),  # after a year and a comma
        6: ("5", "seized weapons in the Sahel region."),  # at the paragraph's end
        7: ("6", "more than 40 per cent of seizures."),
    }
    for n, (marker, before) in expect.items():
        p = en.paragraph(n)
        assert [f.marker for f in p.footnotes] == [marker], n
        assert p.text[: p.footnotes[0].offset].endswith(before), (n, p.text[: p.footnotes[0].offset][-40:])
    assert sum(len(p.footnotes) for p in en.paragraphs) == 6
    # the numbers that are not markers stay as printed
    assert "in its resolution 55/255, had 110 States parties" in en.paragraph(2).text
    assert "parties to the Protocol and a further 12 States" in en.paragraph(2).text
    assert "in line with resolution 65/230." in en.paragraph(4).text and not en.paragraph(4).footnotes
    assert "In Mali, 2,317 firearms" in en.paragraph(6).text and "5,400 surplus" in en.paragraph(6).text
    assert (
        en.paragraph(5).footnotes[0].text
        == "Available from www.unodc.org/documents/firearms/Training_Material_2012.pdf."
    )
    assert en.paragraph(2).footnotes[0].text == (
        "See the status of ratification at "
        "www.unodc.org/unodc/en/treaties/CTOC/countrylist-firearmsprotocol.html."
    )
    assert en.paragraph(1).footnotes[0].text == "United Nations, Treaty Series, vol. 2326, No. 39574."


def test_english_page_break_and_items(en):
    p7 = en.paragraph(7)
    assert (
        "information on the origin of seized firearms was rarely available, which hinders the tracing"
        in p7.text
    )
    assert [f.line for f in p7.footnotes] == [94]
    p8 = en.paragraph(8)
    assert p8.text == "The Conference may wish to:"
    assert [it.label for it in p8.items] == ["a", "b", "c"]
    assert p8.items[1].text.endswith("exchange information on seizures; and")  # "; and" ends the item's block
    assert p8.items[2].text.startswith("Request the Secretariat")


def test_english_sentences(en):
    p7 = en.paragraph(7)
    assert [s.text[:24] for s in p7.sentences] == [
        "The Conference, in its r",
        "A questionnaire was sent",
        "The results show that mo",
        "The study found that inf",
    ]
    p1 = en.paragraph(1)
    assert (
        len(p1.sentences) == 2
        and p1.sentences[1].text == "The present report covers the period from October 2012 to June 2014."
    )
    p8 = en.paragraph(8)
    assert p8.sentences[0].text == "The Conference may wish to:" and p8.sentences[1].text.startswith(
        "(a) Invite States"
    )


def test_english_sentence_ending_in_a_number_is_cut(en):
    assert len(en.paragraph(3).sentences) == 3  # "... resolution A/RES/55/25. The Secretariat ..."


def test_english_item_ending_in_and_stays_one_sentence(en):
    assert all(s.text != "and" for s in en.paragraph(8).sentences)


# --- (c) an aligned English version of (a), (e) a misaligned one --------------------------------------------


def test_language_versions_align_by_number_part_and_structure(zh, zh_en):
    assert zh_en.metadata.symbol == zh.metadata.symbol
    assert (zh_en.lang, zh.lang) == ("en", "zh")
    assert _keys(zh_en) == _keys(zh)
    for p, q in zip(zh.paragraphs, zh_en.paragraphs, strict=True):
        assert len(p.section) == len(q.section), p.key
        assert _labels(p)[1:] == _labels(q)[1:] or p.part, p.key  # "二"/"II" differ; A, B, 1, 2 do not
        assert [f.marker for f in p.footnotes] == [f.marker for f in q.footnotes], p.key
        assert [it.label for it in p.items] == [it.label for it in q.items], p.key
    assert zh_en.paragraph(1, "annex").section == [
        "Annex. Draft recommendations on combating trafficking in falsified medicines",
        "A. Prevention",
    ]
    assert zh_en.metadata.report_type == "Note by the Secretariat"
    assert zh_en.paragraph(2).text[: zh_en.paragraph(2).footnotes[0].offset].endswith("are falsified.")
    assert "gaps in enforcement capacity, and evade national jurisdiction" in zh_en.paragraph(2).text
    assert zh_en.paragraph(1, "annex").citation == "CTOC/COP/WG.2/2013/3, annex, para. 1"


def test_misaligned_version_parses_but_lacks_a_paragraph(zh):
    c = _load(MISALIGNED)
    assert c.metadata.symbol == zh.metadata.symbol and c.lang == "en"
    assert set(_keys(zh)) - set(_keys(c)) == {("", 6)}
    assert set(_keys(c)) <= set(_keys(zh))


# --- (d) numbering errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "line", "message"),
    [
        (GAP, 33, "numbering gap: expected paragraph 3, found 4"),
        (ANNEX_GAP, 36, "numbering gap in annex: expected paragraph 3, found 4"),
    ],
    ids=["body", "annex"],
)
def test_numbering_gap_names_file_and_line(path, line, message):
    with pytest.raises(IngestError) as ei:
        ingest_file(path)
    e = ei.value
    assert (e.path, e.line) == (str(path), line)
    assert str(e) == f"{path}:{line}: {message}"
    assert path.read_text(encoding="utf-8").splitlines()[line - 1].strip().startswith("4. ")


# --- properties of every parseable report of the library, and of the real report ----------------------------


def _nonspace(s: str) -> str:
    return "".join(c for c in s if not c.isspace())


def _is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(c in it for c in small)


def _unit_starts(c: Corpus) -> list[int]:
    starts = (
        [s.line for s in c.sections]
        + [p.line for p in c.paragraphs]
        + [ln for ln, r in c.residue if "_" not in r]
    )
    return sorted(starts)


@pytest.mark.parametrize("path", [*PARSEABLE, REPORT], ids=lambda p: p.name)
def test_every_character_is_placed_exactly_once(path):
    c = ingest_file(path)
    raw = Counter(_nonspace(path.read_text(encoding="utf-8")))
    placed = Counter()
    for line in c.front_matter:
        placed += Counter(_nonspace(line))
    for s in c.sections:
        placed += Counter(
            _nonspace(s.label + ("" if s.level == 0 else ".") + s.title)
        )  # "Annex I" has no "."
    for _, r in c.residue:
        placed += Counter(_nonspace(r))
    for p in c.paragraphs:
        placed += Counter(_nonspace(f"{p.number}.{p.full_text}"))
        for fn in p.footnotes:
            placed += Counter(_nonspace(fn.marker * 2 + fn.text))  # in the text and before the note
    assert raw - placed == Counter() and placed - raw == Counter(), (raw - placed, placed - raw)


@pytest.mark.parametrize("path", [*PARSEABLE, REPORT], ids=lambda p: p.name)
def test_each_paragraph_is_its_own_source_lines_in_order(path):
    """A paragraph's text is read, in order, from the lines between its number and the next unit; what else
    stands there is exactly footnote markers, footnotes, rules and front-matter notes printed on a page
    break."""
    c = ingest_file(path)
    src = path.read_text(encoding="utf-8").splitlines()
    starts = _unit_starts(c) + [len(src) + 1]
    notes = {fn.line: fn for p in c.paragraphs for fn in p.footnotes}
    for p in c.paragraphs:
        end = next(s for s in starts if s > p.line)
        span = "".join(_nonspace(x) for x in src[p.line - 1 : end - 1])
        own = _nonspace(f"{p.number}.{p.full_text}")
        assert _is_subsequence(own, span), p.key
        extra = Counter(span) - Counter(own)
        expected = Counter(_nonspace("".join(fn.marker for fn in p.footnotes)))
        for ln in range(p.line, end):
            if ln in notes:
                expected += Counter(_nonspace(notes[ln].marker + notes[ln].text))
            if _nonspace(src[ln - 1]) and set(_nonspace(src[ln - 1])) == {"_"}:
                expected += Counter(_nonspace(src[ln - 1]))
            if src[ln - 1].strip() in c.front_matter:
                expected += Counter(_nonspace(src[ln - 1]))
        assert extra == expected, (p.key, extra - expected, expected - extra)


@pytest.mark.parametrize("path", [*PARSEABLE, REPORT], ids=lambda p: p.name)
def test_no_heading_or_footnote_text_leaks_into_paragraphs(path):
    c = ingest_file(path)
    for p in c.paragraphs:
        full = p.full_text
        for sec in c.sections:
            assert sec.heading not in full and not full.endswith(sec.title), (p.key, sec.heading)
        for q in c.paragraphs:
            for fn in q.footnotes:
                assert fn.text not in full and fn.text[:20] not in full, (p.key, fn.marker)
        assert not re.match(r"\d{1,3}[.．]\s", p.text), p.key  # no paragraph swallowed the next one's number
        for s in p.sentences:
            assert full[s.start : s.end] == s.text
        assert "".join(_nonspace(s.text) for s in p.sentences) == _nonspace(full)
    for sec in c.sections:
        assert len(sec.title) <= 160 and not re.search(r"[。；！？]|[.;!?]$", sec.title), sec.heading


@pytest.mark.parametrize("path", PARSEABLE, ids=lambda p: p.name)
def test_identity_numbering_and_language(path):
    c = ingest_file(path)
    assert c.lang == lang_from_name(path) == detect_language(path.read_text(encoding="utf-8"))
    assert c.symbol and all(p.document == c.symbol and p.lang == c.lang for p in c.paragraphs)
    assert len(set(_keys(c))) == len(c.paragraphs)
    deleted = {}
    for _, r in c.residue:
        if m := re.match(r"(\d+)\D*?(?:[-–](\d+))?[.．]\s*[\[(（]", r):
            deleted.setdefault(m.group(1), int(m.group(2) or m.group(1)))
    for part in c.parts:
        nums = [p.number for p in c.paragraphs if p.part == part]
        assert nums[0] == 1, part
        for a, b in itertools.pairwise(nums):
            assert b == a + 1 or (str(a + 1) in deleted and b == deleted[str(a + 1)] + 1), (part, a, b)


# --- held-out reports: each rule on a report it was not written against -------------------------------------


def test_held_out_english_report(held_en):
    c = held_en
    m = c.metadata
    assert (m.symbol, m.language, m.session, m.place, m.agenda_item) == (
        "CTOC/COP/2017/6",
        "en",
        "Ninth session",
        "Vienna",
        "3",
    )
    assert m.report_type == "Report of the Secretary-General"
    assert m.title == "Countering the smuggling of migrants by sea: activities of the Secretariat"
    assert c.front_matter[-1] == "* CTOC/COP/2017/1."
    assert c.parts == ["", "annex I", "annex II"]
    assert [p.number for p in c.paragraphs if p.part == ""] == list(range(1, 13))
    assert [p.number for p in c.paragraphs if p.part == "annex I"] == [1, 2, 3]
    assert [p.number for p in c.paragraphs if p.part == "annex II"] == [1, 2, 6, 7]  # "3-5. (deleted)"
    assert [s.label for s in c.sections if s.level == 1] == ["I", "II", "III", "IV"]
    assert [s.label for s in c.sections if s.level == 2] == ["A", "B", "C", "D", "A", "B"]
    assert c.paragraph(9).section == ["III. Activities", "C. Research"]
    assert c.paragraph(10).section == [
        "III. Activities",
        "D. Cooperation at sea",
        "1. Maritime crime programme",
    ]
    assert c.paragraph(11).section[-1] == "2. Regional platforms"
    assert c.paragraph(12).section == ["IV. Conclusions"]
    assert c.paragraph(1, "annex I").section == ["Annex I. Meetings of the Working Group"]
    assert c.paragraph(2, "annex II").section == ["Annex II. Draft guidelines", "B. Protection"]
    assert c.paragraph(6, "annex II").text == "States should share information on smuggling vessels."
    p12 = c.paragraph(12)
    assert [it.label for it in p12.items] == ["a", "b", "c", "d"]
    assert p12.items[2].text.endswith("covers smuggling at sea; or")  # "; or" ends the item's block
    # (i), (ii) after an item ending in ":" are its sub-items and stay in its text
    assert p12.items[1].text.endswith(
        "two areas: (i) The rescue of persons in distress; and (ii) The prosecution of smugglers;"
    )


def test_held_out_english_footnote_markers(held_en):
    c = held_en
    where = {fn.marker: (p.key, p.text[: fn.offset]) for p in c.paragraphs for fn in p.footnotes}
    assert sorted(where) == ["1", "2", "3", "4", "5", "6", "7"]
    expect = {
        "1": (("", 1), "as the UNTOC Migrants Protocol (2000)."),
        "2": (("", 2), "General Assembly resolution 70/1,"),
        "3": (("", 4), "What is often called “boat migration”"),
        "4": (("", 5), "reached Europe by sea in 2015 and 2016."),
        "5": (("", 6), "on the central and eastern Mediterranean routes"),
        "6": (("", 9), "as reflected in its report CTOC/COP/WG.7/2016/3."),
        "7": (("annex I", 2), "had also discussed migrant smuggling at sea."),
    }
    for marker, (key, before) in expect.items():
        assert where[marker][0] == key and where[marker][1].endswith(before), (marker, where[marker])
    assert (
        "in its resolution 2240 (2015) on migrant smuggling" in c.paragraph(3).text
        and not c.paragraph(3).footnotes
    )
    assert "discussed at the G20 summit." in c.paragraph(5).text
    assert (
        "noted that the G7 countries had" in c.paragraph(2, "annex I").text
    )  # a capital glued to digits: no marker
    assert (
        "(the Protocol (A/RES/55/25, annex III) entered into force on 28 January 2004" in c.paragraph(1).text
    )
    assert "migrants travelled on 1,012 boats" in c.paragraph(5).text
    # the page break fell after "fewer on"; five footnotes and the agenda note stand between the halves
    assert "routes and fewer on the western route." in c.paragraph(6).text
    notes = {fn.marker: fn.text for p in c.paragraphs for fn in p.footnotes}
    assert (
        notes["3"]
        == "The term is used in the present report without prejudice to the status of the persons concerned."
    )
    assert notes["4"].endswith("available from http://migration.iom.int/europe.")
    assert notes["6"].endswith(
        "www.unodc.org/unodc/en/treaties/CTOC/working-group-on-the-smuggling-of-migrants.html."
    )


def test_held_out_chinese_report(held_zh):
    c = held_zh
    m = c.metadata
    assert (m.symbol, m.symbol_source, m.language) == ("CTOC/COP/WG.7/2017/2", "front matter", "zh")
    assert (m.report_type, m.title) == ("秘书处编写的背景文件", "各国在打击海上偷运移民方面的良好做法")
    assert c.front_matter[-1] == "* CTOC/COP/WG.7/2017/1。"
    assert c.parts == ["", "annex I", "annex II"]
    assert _keys(c) == [("", n) for n in range(1, 6)] + [("annex I", 1), ("annex I", 2)] + [
        ("annex II", n) for n in (1, 2, 3, 6)
    ]
    assert [s.heading for s in c.sections if s.level == 0] == ["附件一. 工作组以往的建议", "附件二. 建议草案"]
    assert c.paragraph(3, "annex II").section == ["附件二. 建议草案", "B. 国际合作"]
    assert c.paragraph(4).section == ["二. 良好做法", "B. 海上合作"]
    where = {fn.marker: (p.key, p.text[: fn.offset]) for p in c.paragraphs for fn in p.footnotes}
    expect = {
        "1": (("", 1), "该议程载于大会第 70/1 号决议。"),
        "2": (("", 3), "各国在“偷运移民问题工作组”"),
        "3": (("annex I", 1), "建议各国加强海上合作。"),
        "4": (("annex II", 2), "负责海上合作的主管机关。"),
    }
    for marker, (key, before) in expect.items():
        assert where[marker][0] == key and where[marker][1].endswith(before), (marker, where[marker])
    assert c.paragraph(3).text.startswith(
        "各国在“偷运移民问题工作组”的框架内"
    )  # the marker's space goes with it
    assert (
        "2016 年，12 个沿海国签订了" in c.paragraph(3).text
    )  # a number opening a line stays in its sentence
    assert "信息交流能够大幅提高拦截偷运船只的效率。" in c.paragraph(4).text  # across the page break
    assert "第 8 条第 7 款" in c.paragraph(1, "annex II").text


def test_chinese_citation_of_a_numbered_annex(held_zh):
    assert held_zh.paragraph(2, "annex I").citation == "CTOC/COP/WG.7/2017/2，附件一，第2段"


# --- language detection and hints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("缔约方会议不妨采取下列措施：审查 CTOC/COP/2012/7 号文件和 www.unodc.org 上的资料。", "zh"),
        ("The Conference may wish to adopt the following measures.", "en"),
        ("La Conférence souhaitera peut-être prendre les mesures suivantes.", "en"),  # Latin script
        ("The report of the 工作组 and the 缔约方会议 in Vienna", None),  # neither dominates
        ("Конференция, возможно, пожелает принять следующие меры.", None),
        ("12. 13. 2012/7", None),
        ("", None),
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_real_report_is_detected_as_chinese():
    text = REPORT.read_text(encoding="utf-8")
    assert detect_language(text) == "zh"
    c = ingest_file(REPORT)
    assert c.lang == "zh" and {p.lang for p in c.paragraphs} == {"zh"} and c.parts == [""]


def test_lang_from_name():
    assert [
        lang_from_name(n) for n in ("a.zh.txt", "b.en.txt", "c.fr.txt", "d.ar.txt", "e.txt", "f.xx.txt")
    ] == [
        "zh",
        "en",
        "fr",
        "ar",
        None,
        None,
    ]


def _copy(tmp_path: Path, src: Path, name: str) -> Path:
    p = tmp_path / name
    p.write_bytes(src.read_bytes())
    return p


def test_a_language_that_contradicts_the_text_is_refused(tmp_path):
    wrong = _copy(tmp_path, ZH, "report.en.txt")
    with pytest.raises(IngestError) as ei:
        ingest_file(wrong)
    assert str(wrong) in str(ei.value) and "given as en but its text is Chinese" in str(ei.value)
    with pytest.raises(IngestError, match="given as zh but its text is Latin-script"):
        ingest_file(EN, lang="zh")
    with pytest.raises(IngestError, match="given as en"):
        parse_report(REPORT.read_text(encoding="utf-8"), REPORT, lang="en")


@pytest.mark.parametrize("lang", ["fr", "es", "ru", "ar"])
def test_other_un_languages_are_not_supported_yet(tmp_path, lang):
    f = _copy(tmp_path, EN, f"report.{lang}.txt")
    with pytest.raises(IngestError) as ei:
        ingest_file(f)
    assert str(ei.value) == f"{f}:0: language {lang} is not supported yet (zh and en reports can be parsed)"


def test_unknown_language_and_undetectable_text(tmp_path):
    with pytest.raises(IngestError, match="unknown language 'xx'"):
        ingest_file(EN, lang="xx")
    with pytest.raises(IngestError, match="cannot tell the report's language"):
        parse_report("1. 12/7.\n", "x.txt")
    # a hint settles an undetectable text
    assert parse_report("1. 12/7.\n", "x.txt", lang="en").numbers == [1]


def test_given_language_is_a_hint(tmp_path):
    f = _copy(tmp_path, ZH_EN, "no-suffix.txt")
    c = ingest_file(f, lang="en")
    assert c.lang == "en" and c.metadata.symbol_source == "front matter"
    with pytest.raises(IngestError, match="given as zh"):
        ingest_file(f, lang="zh")


# --- identity -----------------------------------------------------------------------------------------------


def test_settle_identity_needs_a_symbol():
    c = ingest_file(REPORT)  # prints no symbol
    assert c.metadata.symbol is None and {p.document for p in c.paragraphs} == {""}
    with pytest.raises(IngestError) as ei:
        settle_identity(c)
    assert str(REPORT) in str(ei.value) and "--symbol" in str(ei.value)
    settle_identity(c, "CTOC/COP/2012/7", "zh")
    assert (c.metadata.symbol, c.metadata.symbol_source, c.lang) == ("CTOC/COP/2012/7", "catalog", "zh")
    assert {(p.document, p.lang) for p in c.paragraphs} == {("CTOC/COP/2012/7", "zh")}
    assert c.paragraph(23).citation == "CTOC/COP/2012/7，第23段"
    c2 = settle_identity(ingest_file(REPORT), "CTOC/COP/2012/7", source="--symbol")
    assert c2.metadata.symbol_source == "--symbol"


def test_settle_identity_checks_the_printed_symbol_and_the_language(zh):
    c = ingest_file(ZH)
    settle_identity(c, "CTOC/COP/WG.2/2013/3", "zh")  # agrees with the front matter
    assert c.metadata.symbol_source == "front matter"
    with pytest.raises(
        IngestError, match="prints the symbol CTOC/COP/WG.2/2013/3 in its front matter, but CTOC/COP/2013/3"
    ):
        settle_identity(ingest_file(ZH), "CTOC/COP/2013/3")
    with pytest.raises(IngestError) as ei:
        settle_identity(ingest_file(ZH), None, "en")
    assert str(ZH) in str(ei.value) and "its text is Chinese" in str(ei.value)
    assert settle_identity(ingest_file(ZH)).symbol == "CTOC/COP/WG.2/2013/3"
    with pytest.raises(IngestError, match="language fr is not supported yet"):
        settle_identity(ingest_file(ZH_EN), lang="fr")  # Latin script, but parsed with the English layout
    with pytest.raises(IngestError, match="unknown language 'xx'"):
        settle_identity(ingest_file(ZH_EN), lang="xx")


# --- annex and deletion rules on small texts ----------------------------------------------------------------

HEAD_EN = " I. Introduction\n\n1. First paragraph.\n\n2. Second paragraph.\n\n"
HEAD_ZH = "一. 导言\n1. 第一段。\n2. 第二段。\n"


def _err(text: str, lang: str | None = None) -> IngestError:
    with pytest.raises(IngestError) as ei:
        parse_report(text, "t.txt", lang=lang)
    return ei.value


def test_annex_continuing_the_numbering_stays_in_the_body():
    c = parse_report(HEAD_EN + "Annex\n\nList of participants\n\n3. Third paragraph.\n")
    assert _keys(c) == [("", 1), ("", 2), ("", 3)]
    assert c.paragraph(3).section == ["Annex. List of participants"]


def test_chinese_numbered_annexes_take_the_english_part_name():
    c = parse_report(HEAD_ZH + "附件一\n名单\n1. 甲。\n附件二\n建议\n1. 乙。\n2. 丙。\n")
    assert c.parts == ["", "annex I", "annex II"]
    assert [s.heading for s in c.sections if s.level == 0] == ["附件一. 名单", "附件二. 建议"]


@pytest.mark.parametrize(
    ("tail", "line", "message"),
    [
        ("Annex II\n\nTitle\n\n1. Text.\n", 7, "annex out of order: expected annex I, found Annex II"),
        ("Annex I\n\nT\n\n1. A.\n\nAnnex I\n\nT\n\n1. B.\n", 13, "a second annex I (the first at line 7)"),
        (
            "Annex\n\nT\n\n1. A.\n\nAnnex II\n\nT\n\n1. B.\n",
            13,
            "Annex II: an unnumbered annex must be the only annex",
        ),
        (
            "Annex I\n\nTitle\n\n5. Text.\n",
            11,
            (
                "numbering of the annex I (line 7): expected paragraph 1 (numbering "
                "restarts) or 3 (numbering continues), found 5"
            ),
        ),
        (
            "Annex I\n\nTitle\n\n1. A.\n\n2. B.\n\n2. C.\n",
            15,
            "duplicate paragraph number 2 in annex I (first at line 13)",
        ),
        (
            "Annex\n\nTitle\n\nThe participants were welcomed by the Chair.\n\n1. A.\n",
            11,
            "text after the heading at line 7 is in no numbered paragraph",
        ),
    ],
    ids=["order", "twice", "unnumbered-and-numbered", "restart-or-continue", "duplicate-in-annex", "prose"],
)
def test_annex_errors_name_the_line(tail, line, message):
    e = _err(HEAD_EN + tail)
    assert e.line == line and message in e.message, str(e)


def test_printed_deletions():
    c = parse_report(HEAD_EN + "3-5. (deleted)\n\n6. Sixth paragraph.\n\n7. [Deleted]\n\n8. Eighth.\n")
    assert c.numbers == [1, 2, 6, 8]
    assert [r for _, r in c.residue] == ["3-5. (deleted)", "7. [Deleted]"]
    c = parse_report(HEAD_ZH + "3.-4. [删除]\n5. 第五段。\n")
    assert c.numbers == [1, 2, 5]
    assert "expected paragraph 3, found 4" in _err(HEAD_ZH + "4.-5. [删除]\n6. 第六段。\n").message
    assert "runs backwards" in _err(HEAD_ZH + "3.-2. [删除]\n").message
    e = _err(HEAD_ZH + "3.-4. [删除]\n并无编号的文字。\n")
    assert e.line == 5 and "in no numbered paragraph" in e.message
    e = _err(HEAD_ZH + "3.-4. [删除]\n4. 第四段。\n")
    assert e.line == 5 and "duplicate paragraph number 4 (first at line 4)" in e.message


# --- English marker and block rules on small texts ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text", "before"),
    [
        ("in force in 2003.1 The Protocol", "in force in 2003. The Protocol", "in force in 2003."),
        ("resolution 65/230,1 and the", "resolution 65/230, and the", "resolution 65/230,"),
        ("the Convention1 and the", "the Convention and the", "the Convention"),
        ("called “boat migration”1 by", "called “boat migration” by", "called “boat migration”"),
        ("by UNODC.1 It", "by UNODC. It", "by UNODC."),
    ],
)
def test_english_markers(body, text, before):
    c = parse_report(
        f" I. Introduction\n\n1. As noted {body} ends here.\n__________\n\n 1 A note.\n", lang="en"
    )
    p = c.paragraph(1)
    assert p.text == f"As noted {text} ends here." and p.text[: p.footnotes[0].offset].endswith(before)


@pytest.mark.parametrize(
    "body",
    [
        "in 2012 and 2013",
        "document CTOC/COP/WG.1 and",
        "the G1 group",
        "about 1.1 million",
        "see A/RES/55/1 and",
        "www.unodc.org/page1 and",
        "version 2.1 of",
        "paragraphs 1, 2",
    ],
)
def test_english_numbers_that_are_not_markers(body):
    e = _err(f" I. Introduction\n\n1. As noted {body} here.\n__________\n\n 1 A note.\n", lang="en")
    assert e.line == 6 and "footnote 1 is printed but its marker is not found" in e.message


def test_english_block_rules():
    # a line ending in a citation abbreviation does not end a block: "12. …" there stays in the sentence
    c = parse_report(" I. Introduction\n\n1. As stated in A/67/100, para.\n12. The text goes on.\n")
    assert c.numbers == [1] and c.paragraph(1).text == "As stated in A/67/100, para. 12. The text goes on."
    # a chapter title longer than a heading block may be is still a chapter heading
    title = (
        "Use of the United Nations Convention against Transnational Organized Crime and the Protocols "
        "thereto to combat new and emerging forms of crime"
    )
    c = parse_report(f" I. {title}\n\n1. Text.\n")
    assert len(title) > 120 and [s.heading for s in c.sections] == [f"I. {title}"]


def test_letter_that_is_also_a_roman_numeral_follows_the_letter_sequence():
    # an annex with sections A-J and no chapters: "I." is the ninth section, not chapter I
    letters = "ABCDEFGHIJ"
    body = "".join(f"{x}. Section {x}\n\n{n}. Text {n}.\n\n" for n, x in enumerate(letters, 1))
    c = parse_report(HEAD_EN + "Annex\n\nGuidelines\n\n" + body)
    assert [(s.label, s.level) for s in c.sections[1:]] == [("Annex", 0)] + [(x, 2) for x in letters]
    assert c.paragraph(9, "annex").section == ["Annex. Guidelines", "I. Section I"]
    # while at the start of a part "I." is chapter I, and after chapter I "II." is chapter II
    c = parse_report(" I. Introduction\n\n1. Text.\n\n II. Findings\n\nA. First\n\n2. Text.\n")
    assert [(s.label, s.level) for s in c.sections] == [("I", 1), ("II", 1), ("A", 2)]


def test_sub_items_after_an_item_ending_in_a_colon_stay_in_it():
    items = "".join(f" ({x}) Item {x};\n\n" for x in "abcdefg")
    c = parse_report(
        HEAD_EN + f"3. The Conference may wish to:\n\n{items} (h) Request two things:\n\n"
        " (i) The first; and\n\n (ii) The second.\n"
    )
    p = c.paragraph(3)
    assert [it.label for it in p.items] == list("abcdefgh")
    assert p.items[-1].text == "Request two things: (i) The first; and (ii) The second."
    # without the colon, "(i)" is the ninth item
    c = parse_report(HEAD_EN + f"3. The Conference may wish to:\n\n{items} (h) Item h;\n\n (i) Item i.\n")
    assert [it.label for it in c.paragraph(3).items] == list("abcdefghi")
