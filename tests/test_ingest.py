"""Ingest: the report's structure, each trap of its layout, accounting of every character, bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from pipeline.corpus import Corpus
from pipeline.ingest import IngestError, ingest_file, parse_report
from pipeline.store import sha256_file

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "corpus" / "ctoc-cop-2012-7.zh.txt"
SYNTHETIC = ROOT / "tests" / "data" / "synthetic-report.zh.txt"
REPORT_SHA256 = "79ffa7c837df1adf679522d638d33bac729a04bc15ded9a05a0803b2020bacda"


@pytest.fixture(scope="module")
def synthetic() -> Corpus:
    return ingest_file(SYNTHETIC)


def test_report_is_the_published_text():
    assert sha256_file(REPORT) == REPORT_SHA256


def test_sixty_five_paragraphs_in_order(corpus):
    assert corpus.numbers == list(range(1, 66))
    assert all(p.text or p.items for p in corpus.paragraphs)
    assert corpus.sha256 == REPORT_SHA256


def test_front_matter(corpus):
    m = corpus.metadata
    assert m.session == "第六届会议"
    assert m.dates.startswith("2012 年 10 月 15 日") and m.place == "维也纳"
    assert m.agenda_item == "3"
    assert "新形式和新方面" in m.agenda_title
    assert m.title.startswith("就运用《联合国打击跨国有组织犯罪公约》") and m.title.endswith("提供技术援助")
    assert m.report_type == "秘书处的报告"
    assert m.symbol == "CTOC/COP/2012/7" and m.symbol_source == "catalog"  # not printed in this text


def test_sections_and_levels(corpus):
    levels = Counter(s.level for s in corpus.sections)
    assert levels == {1: 5, 2: 6, 3: 2}
    assert [s.label for s in corpus.sections if s.level == 1] == list("一二三四五")
    assert [s.label for s in corpus.sections if s.level == 2] == list("ABCDEF")


# --- traps: each would break a naive line-based parser -------------------------------------------------


def test_latin_words_broken_over_lines_are_joined_with_one_space(corpus):
    text = corpus.paragraph(61).text
    assert "Pôle régional de lutte contre la criminalité organisée en Europe du Sud-Est" in text
    # in general: no Latin word is glued to another across a line break and no double spaces arise
    for p in corpus.paragraphs:
        assert "  " not in p.full_text


def test_urls_broken_over_lines_are_rejoined(corpus):
    assert (
        "www.unodc.org/documents/data-and-analysis/Studies/Central_Africa_Report_2011_web.pdf"
        in corpus.paragraph(35).text
    )
    urls = [u for p in corpus.paragraphs for u in re.findall(r"www\.[^\s）)，。]+", p.full_text)]
    assert len(urls) == 3
    assert all(u.endswith(".pdf") for u in urls), urls


def test_references_split_over_lines_and_blank_lines(corpus):
    p6 = corpus.paragraph(6).text
    assert "第 28 条" in p6 and "第 26 条" in p6
    assert "第 5 条将参加" in corpus.paragraph(4).text
    # a reference is never left split: "第" is never followed directly by a line-break artefact
    for p in corpus.paragraphs:
        assert not re.search(r"第\d", p.full_text), p.number
        assert not re.search(r"\d[\u4e00-\u9fff]", p.full_text.replace("\n", ""))


def test_numbers_at_line_start_are_not_paragraphs(corpus):
    assert "2010 年 10 月 19 日和 20 日举行" in corpus.paragraph(2).text
    assert "西亚 12 个国家" in corpus.paragraph(12).text
    assert "1,000 万美元" in corpus.paragraph(29).text


def test_footnote_printed_inside_another_paragraph_goes_to_its_marker(corpus):
    p17, p23 = corpus.paragraph(17), corpus.paragraph(23)
    assert [fn.marker for fn in p17.footnotes] == ["1"]
    assert "S/2012/50" in p17.footnotes[0].text
    assert p17.text.endswith("280 万平方英里。")  # the bare marker is not glued to the number
    assert p17.footnotes[0].offset == len(p17.text)
    assert "S/2012/50" not in p23.full_text and "秘书长关于" not in p23.full_text
    assert not p23.footnotes
    # paragraph 23 is continuous across the page break the footnote interrupted
    assert "正在或已经受到起诉；67 人被定罪" in p23.text
    assert sum(len(p.footnotes) for p in corpus.paragraphs) == 1


def test_lines_beginning_with_a_space_are_continuations(corpus):
    assert "日益严重的威胁的核心所在" in corpus.paragraph(8).text
    assert "法医学软件和硬件" in corpus.paragraph(12).text


def test_headings_never_leak_into_paragraph_text(corpus):
    for p in corpus.paragraphs:
        for sec in corpus.sections:
            assert not p.full_text.endswith(sec.title), (p.number, sec.heading)
            assert sec.heading not in p.full_text and sec.heading.replace(". ", ".") not in p.full_text
    assert corpus.paragraph(50).text.endswith("并避免重复和重叠。")
    assert corpus.paragraph(55).text.endswith("发生率的工具。")
    assert corpus.paragraph(61).text.endswith("区域组织的官员。")
    assert corpus.paragraph(64).text.endswith("刑事司法对策。")
    assert corpus.paragraph(41).text.endswith("的机会。")
    assert corpus.paragraph(44).text.endswith("有关的活动。")


def test_numbered_subheadings_are_not_paragraphs(corpus):
    assert corpus.paragraph(1).text.startswith("《联合国打击跨国有组织犯罪公约》缔约方会议")
    assert corpus.paragraph(2).text.startswith("本报告是根据")
    assert corpus.paragraph(1).section == ["一. 导言"]
    p42, p45 = corpus.paragraph(42), corpus.paragraph(45)
    assert p42.section[:2] == ["三. 技术援助活动综述", "D. 文化财产"]
    assert p42.section[2] == "1. 促进运用《联合国打击跨国有组织犯罪公约》及其各项议定书打击文化财产贩运"
    assert p45.section[2] == "2. 制定针对文化财产贩运的预防犯罪和刑事司法对策具体准则"
    assert corpus.paragraph(51).section == ["三. 技术援助活动综述", "E. 贩运器官"]  # level 3 closed by E.
    assert corpus.paragraph(62).section == ["四. 研究和趋势分析"]


def test_lettered_items(corpus):
    p65 = corpus.paragraph(65)
    assert [it.label for it in p65.items] == list("abcdef")
    assert p65.text == "缔约方会议不妨采取下列措施："
    assert p65.items[3].text == "促请缔约国参加并支持旨在起诉海盗罪的国家、区域和国际努力；"
    # inline enumerations inside a sentence stay in the text
    assert "(a)就网络犯罪侦查技术" in corpus.paragraph(10).text and not corpus.paragraph(10).items


def test_sentences_have_true_offsets_and_cover_the_text(corpus):
    for p in corpus.paragraphs:
        full = p.full_text
        assert p.sentences
        for s in p.sentences:
            assert full[s.start : s.end] == s.text
        covered = "".join(s.text for s in p.sentences)
        assert re.sub(r"\s", "", covered) == re.sub(r"\s", "", full)
    # Latin full stops inside URLs and numbers do not cut sentences
    assert any("Toolkit.pdf" in s.text and "www.unodc.org" in s.text for s in corpus.paragraph(36).sentences)
    assert len(corpus.paragraph(65).sentences) == 7


def test_index_text_is_width_folded(corpus):
    p15 = corpus.paragraph(15)
    assert "（S/2009/146，第 59 段）" in p15.text  # display keeps the original characters
    assert "(S/2009/146,第 59 段)" in p15.index_text
    assert "S/2012/50" in corpus.paragraph(17).index_text  # footnotes are indexed with their paragraph


def _nonspace(s: str) -> Counter:
    return Counter(c for c in s if not c.isspace())


def _accounting(path: Path, c: Corpus) -> tuple[Counter, Counter]:
    raw = _nonspace(path.read_text(encoding="utf-8"))
    placed = Counter()
    for line in c.front_matter:
        placed += _nonspace(line)
    for s in c.sections:
        placed += _nonspace(s.heading)
    for _, r in c.residue:
        placed += _nonspace(r)
    for p in c.paragraphs:
        placed += _nonspace(f"{p.number}.{p.text}")
        for it in p.items:
            placed += _nonspace(f"({it.label}){it.text}")
        for fn in p.footnotes:
            placed += _nonspace(fn.marker * 2 + fn.text)  # the marker stands in the text and before the note
    return raw, placed


@pytest.mark.parametrize("path", [REPORT, SYNTHETIC], ids=["report", "synthetic"])
def test_every_character_is_placed_exactly_once(path):
    c = ingest_file(path)
    raw, placed = _accounting(path, c)
    missing, invented = raw - placed, placed - raw
    if missing or invented:
        print("not placed:", dict(missing), "\ninvented or duplicated:", dict(invented))
    assert not missing and not invented
    assert all(set(r) == {"_"} for _, r in c.residue)  # residue is only footnote rules


# --- a second report in the same layout, with its own traps ----------------------------------------------


def test_synthetic_report_structure(synthetic):
    c = synthetic
    assert c.numbers == list(range(1, 9))
    assert c.metadata.report_type == "秘书长的报告" and c.metadata.agenda_item == "7"
    assert "第 18 条规定" in c.paragraph(1).text and "2029 年 11 月" in c.paragraph(1).text
    assert "Cooperation against online fraud and related offences" in c.paragraph(2).text
    assert "www.example.org/training/Online_Fraud_Module_3.pdf" in c.paragraph(3).text
    assert "在 5 个模拟案件中" in c.paragraph(4).text
    assert c.paragraph(4).section[-1] == "1. 调查能力"
    assert c.paragraph(6).section[-1] == "2. 国际合作"
    assert c.paragraph(7).section == ["二. 技术援助", "B. 野生动物贩运"]
    # footnote 1 marked in paragraph 2, footnote 2 marked mid-paragraph in 5, both printed inside 5
    assert [f.marker for f in c.paragraph(2).footnotes] == ["1"]
    assert [f.marker for f in c.paragraph(5).footnotes] == ["2"]
    assert c.paragraph(5).footnotes[0].text == "见 A/CONF.999/2029/5 号文件，其中载有各区域的详细数据。"
    assert c.paragraph(5).text.endswith("预算外资源。秘书处将在下一份报告中介绍进展情况。")
    assert [it.label for it in c.paragraph(6).items] == ["a", "b"]
    assert c.paragraph(6).items[1].text == "在第 80/12 号决议框架内开展联合调查。"


# --- bad input ------------------------------------------------------------------------------------------


def _write(tmp_path: Path, text: str | bytes, name: str = "r.txt") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return p


def _err(path: Path) -> IngestError:
    with pytest.raises(IngestError) as ei:
        ingest_file(path)
    assert str(path) in str(ei.value)
    return ei.value


GOOD = "一. 导言\n1. 第一段。\n\n2. 第二段，\n3 个国家。\n3. 第三段。\n"


def test_good_minimal_report(tmp_path):
    c = ingest_file(_write(tmp_path, GOOD))
    assert c.numbers == [1, 2, 3] and c.paragraph(2).text == "第二段，3 个国家。"


def test_empty_file(tmp_path):
    assert _err(_write(tmp_path, " \n\n")).line == 1


def test_gb18030_is_recognized(tmp_path):
    e = _err(_write(tmp_path, GOOD.encode("gb18030")))
    assert "GB18030" in str(e)


def test_numbering_gap(tmp_path):
    e = _err(_write(tmp_path, GOOD.replace("2. 第二段", "4. 第二段")))
    assert e.line == 4 and "expected paragraph 2, found 4" in str(e)


def test_duplicate_number(tmp_path):
    e = _err(_write(tmp_path, GOOD.replace("3. 第三段", "2. 第三段")))
    assert e.line == 6 and "duplicate" in str(e)


def test_order_break(tmp_path):
    e = _err(_write(tmp_path, "一. 导言\n1. 第一段。\n3. 第三段。\n2. 第二段。\n"))
    assert e.line == 3


def test_paragraph_without_text(tmp_path):
    e = _err(_write(tmp_path, "一. 导言\n1. 第一段。\n2.\n3. 第三段。\n"))
    assert e.line == 3 and "no text" in str(e)


def test_no_paragraphs(tmp_path):
    e = _err(_write(tmp_path, "只有一行文字。\n"))
    assert "no numbered paragraphs" in str(e)


def test_parse_report_accepts_text():
    assert parse_report(GOOD).numbers == [1, 2, 3]


# --- command --------------------------------------------------------------------------------------------


def test_cli_paragraphs_json():
    out = subprocess.run(
        [sys.executable, "-m", "pipeline", "paragraphs", "--json"], capture_output=True, text=True, check=True
    ).stdout
    data = json.loads(out)
    assert [d["number"] for d in data] == list(range(1, 66))
    assert set(data[0]) == {
        "document",
        "lang",
        "number",
        "section",
        "text",
        "items",
        "footnotes",
        "sentences",
        "citation",
        "citations",
    }
    assert (data[0]["document"], data[0]["lang"], data[22]["citation"]) == (
        "CTOC/COP/2012/7",
        "zh",
        "CTOC/COP/2012/7，第23段",
    )
    assert data[16]["footnotes"][0]["marker"] == "1"
    # every citation a paragraph carries, where it stands (S/2012/50 is in paragraph 17's footnote)
    assert {"key": "S/2012/50", "where": "footnote:1"}.items() <= data[16]["citations"][0].items()
    assert [c["key"] for c in data[9]["citations"]].count("65/230") == 1
    assert data[64]["items"][0]["label"] == "a"


def test_cli_paragraph_readable_and_errors():
    r = subprocess.run([sys.executable, "-m", "pipeline", "paragraphs", "23"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith(
        "CTOC/COP/2012/7，第23段  三. 技术援助活动综述 › B. 海盗行为"
    )
    r = subprocess.run([sys.executable, "-m", "pipeline", "paragraphs", "66"], capture_output=True, text=True)
    assert r.returncode == 2 and "1-65" in r.stderr
