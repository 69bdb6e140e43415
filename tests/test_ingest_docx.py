"""The Word reader (pipeline.ingest.docx): .docx files built here — with python-docx, and with raw XML parts
written into the zip for what python-docx cannot make (footnotes, automatic numbering) — read into layout text
and parsed by the report parser: typed and automatic numbers, footnotes reattached, headers and footers left
out, the front matter, bad files refused, and the shipped reports rebuilt as Word files giving the same
paragraphs as their text."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import docx
import pytest
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import qn
from docx.shared import Pt

from pipeline.corpus import Corpus
from pipeline.ingest import IngestError, ingest_file, parse_report
from pipeline.ingest.docx import docx_layout
from pipeline.ingest.layout import RE_RULE, body_start
from pipeline.ingest.numerals import cn_value, roman_value
from pipeline.ingest.wordnumbering import format_number
from pipeline.ingest.wordparts import MAX_PART_BYTES

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "corpus" / "ctoc-cop-2012-7.zh.txt"
LIB = ROOT / "tests" / "data" / "library"

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
REL_FOOTNOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"
CT_FOOTNOTES = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"


# --- building .docx files -----------------------------------------------------------------------------------


@dataclass
class Doc:
    """A python-docx document plus the parts python-docx cannot write: footnotes and a numbering part."""

    doc: Any = field(default_factory=lambda: docx.Document())
    notes: dict[int, tuple[list[str], str | None]] = field(default_factory=dict)  # id -> (paragraphs, mark)
    numbering: str | None = None

    def para(self, text: str = "", *, after: float | None = None, style: str | None = None) -> Any:
        """A paragraph; ``after``: its space after in points (the default style's is 10 pt)."""
        p = self.doc.add_paragraph(style=style)
        if text:
            p.add_run(text)
        if after is not None:
            p.paragraph_format.space_after = Pt(after)
        return p

    def block(self, lines: list[str]) -> list[Any]:
        """A block of the front matter: one paragraph per line, no space inside, space after the last."""
        return [self.para(line, after=0 if k < len(lines) - 1 else 12) for k, line in enumerate(lines)]

    def note(self, p: Any, texts: list[str] | str, mark: str | None = None) -> None:
        """A footnote reference at the end of paragraph ``p`` (a custom mark when ``mark`` is given)."""
        note_id = len(self.notes) + 1
        self.notes[note_id] = ([texts] if isinstance(texts, str) else texts, mark)
        ref = OxmlElement("w:footnoteReference")
        ref.set(qn("w:id"), str(note_id))
        if mark:
            ref.set(qn("w:customMarkFollows"), "1")
        run = p.add_run()
        run._r.append(ref)
        if mark:  # as Word writes it: the mark in the reference's own run
            t = OxmlElement("w:t")
            t.text = mark
            run._r.append(t)

    def bytes(self, replace: dict[str, bytes] | None = None) -> bytes:
        """The .docx file; ``replace``: parts written over python-docx's (name -> bytes)."""
        buf = io.BytesIO()
        self.doc.save(buf)
        with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as z:
            parts = {name: z.read(name) for name in z.namelist()}
        if self.notes:
            parts["word/footnotes.xml"] = footnotes_xml(self.notes)
            rels = parts["word/_rels/document.xml.rels"].decode()
            rel = f'<Relationship Id="rIdNotes" Type="{REL_FOOTNOTES}" Target="footnotes.xml"/>'
            parts["word/_rels/document.xml.rels"] = rels.replace(
                "</Relationships>", rel + "</Relationships>"
            ).encode()
            types = parts["[Content_Types].xml"].decode()
            override = f'<Override PartName="/word/footnotes.xml" ContentType="{CT_FOOTNOTES}"/>'
            parts["[Content_Types].xml"] = types.replace("</Types>", override + "</Types>").encode()
        if self.numbering is not None:
            parts["word/numbering.xml"] = self.numbering.encode()
        parts.update(replace or {})
        return zip_parts(parts)


def zip_parts(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


def run_xml(text: str) -> str:
    return f'<w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r>'


def footnotes_xml(notes: dict[int, tuple[list[str], str | None]]) -> bytes:
    """word/footnotes.xml: the separators (one with text, which must not be read) and the footnotes, a
    numbered one opening with its w:footnoteRef mark, a custom-mark one with its mark typed."""
    out = [
        f'<w:footnotes xmlns:w="{W_NS}">',
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>',
        '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r>'
        "</w:p></w:footnote>",
        '<w:footnote w:type="continuationNotice" w:id="99">'
        f"<w:p>{run_xml('NOTICE continued on the next page')}</w:p></w:footnote>",
    ]
    for note_id, (texts, mark) in notes.items():
        paras = []
        for k, text in enumerate(texts):
            lead = ""
            if k == 0:
                lead = (
                    run_xml(mark)
                    if mark
                    else '<w:r><w:rPr><w:rStyle w:val="FootnoteReference"/></w:rPr><w:footnoteRef/></w:r>'
                )
                lead += "<w:r><w:tab/></w:r>"
            paras.append(f'<w:p><w:pPr><w:pStyle w:val="FootnoteText"/></w:pPr>{lead}{run_xml(text)}</w:p>')
        out.append(f'<w:footnote w:id="{note_id}">{"".join(paras)}</w:footnote>')
    out.append("</w:footnotes>")
    return "".join(out).encode()


def numbering_xml(
    abstracts: dict[int, list[tuple[str, str, int]]], nums: dict[int, tuple[int, dict[int, int]]]
) -> str:
    """word/numbering.xml: abstract lists (levels: (numFmt, lvlText, start)) and lists (numId -> (abstract,
    {ilvl: startOverride}))."""
    out = [f'<w:numbering xmlns:w="{W_NS}">']
    for ab_id, levels in abstracts.items():
        out.append(f'<w:abstractNum w:abstractNumId="{ab_id}"><w:multiLevelType w:val="multilevel"/>')
        for ilvl, (fmt, text, start) in enumerate(levels):
            out.append(
                f'<w:lvl w:ilvl="{ilvl}"><w:start w:val="{start}"/><w:numFmt w:val="{fmt}"/>'
                f'<w:lvlText w:val="{text}"/><w:lvlJc w:val="left"/></w:lvl>'
            )
        out.append("</w:abstractNum>")
    for num_id, (ab_id, overrides) in nums.items():
        ov = "".join(
            f'<w:lvlOverride w:ilvl="{k}"><w:startOverride w:val="{v}"/></w:lvlOverride>'
            for k, v in overrides.items()
        )
        out.append(f'<w:num w:numId="{num_id}"><w:abstractNumId w:val="{ab_id}"/>{ov}</w:num>')
    out.append("</w:numbering>")
    return "".join(out)


def numbered(p: Any, num_id: int, ilvl: int = 0) -> Any:
    """Give paragraph ``p`` Word's automatic numbering: list ``num_id``, level ``ilvl``."""
    num_pr = p._p.get_or_add_pPr().get_or_add_numPr()
    num_pr.get_or_add_ilvl().val = ilvl
    num_pr.get_or_add_numId().val = num_id
    return p


def read(data: bytes, lang: str, name: str = "report.docx") -> Corpus:
    return parse_report(docx_layout(data, name), name, lang=lang)


def squash(s: str) -> str:
    return re.sub(r"\s+", "", s)


# --- the English and Chinese front matter, typed numbers, footnotes -----------------------------------------

EN_FRONT = [
    [
        "Conference of the Parties to the",
        "United Nations Convention",
        "against Transnational",
        "Organized Crime",
    ],
    ["Distr.: General", "22 July 2014"],
    ["Original: English"],
]


def english_report() -> Doc:
    """A short English report in UN layout: the masthead as a table, session lines, agenda item with an
    asterisk note, a two-line title, the report type, typed headings, paragraphs and items, footnotes."""
    d = Doc()
    table = d.doc.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "United Nations"
    table.cell(0, 1).text = "CTOC/COP/2014/5"
    for block in EN_FRONT:
        d.block(block)
    session = d.block(["Seventh session", "Vienna, 6-10 October 2014", "Item 4 (b) of the provisional agenda",
                       "Implementation of the Firearms Protocol"])  # fmt: skip
    d.note(session[2], "CTOC/COP/2014/1.", mark="*")
    d.block(["Technical assistance provided to States to implement the", "Firearms Protocol"])
    d.block(["Report of the Secretariat"])
    d.para("I.\tIntroduction", style="Heading 1")
    p = d.para(
        "1.\tIn its resolution 6/2, the Conference requested the Secretariat to report on the Protocol"
    )
    d.note(p, "United Nations, Treaty Series, vol. 2326, No. 39574.")
    p.add_run(" adopted by the General Assembly in its resolution 55/255. The present report covers 2013.")
    p = d.para("2.\tIn 2013, five States became parties to the Convention")
    d.note(p, ["See the status of ratification at", "www.unodc.org/treaties."])
    p.add_run(", and a further 12 States initiated the ratification process:")
    d.para("(a)\tLegislative assistance was provided to 14 States;")
    d.para("(b)\tTraining was given to 640 officers in 2012, covering firearms offences.")
    d.para("II.\tLegislative assistance", style="Heading 1")
    d.para("A.\tModel law", style="Heading 2")
    p = d.para("3.\tThe Secretariat reviewed draft legislation in 2012,")
    d.note(p, "Available from www.unodc.org/documents")  # no full stop: must not swallow the next note
    p.add_run(" and commented on two laws")
    d.note(p, "See CTOC/COP/WG.6/2014/2.")
    p.add_run(" adopted in 2013.")
    return d


def test_english_report_typed_numbers_footnotes_and_front_matter():
    d = english_report()
    corpus = read(d.bytes(), "en")
    m = corpus.metadata
    assert m.symbol == "CTOC/COP/2014/5"
    assert (m.session, m.place, m.dates) == ("Seventh session", "Vienna", "6-10 October 2014")
    assert (m.agenda_item, m.agenda_title) == ("4 (b)", "Implementation of the Firearms Protocol")
    assert m.title == "Technical assistance provided to States to implement the Firearms Protocol"
    assert m.report_type == "Report of the Secretariat"
    assert "Item 4 (b) of the provisional agenda*" in corpus.front_matter
    assert corpus.front_matter[-1] == "* CTOC/COP/2014/1."  # the note to the asterisk

    assert [(p.number, p.section) for p in corpus.paragraphs] == [
        (1, ["I. Introduction"]),
        (2, ["I. Introduction"]),
        (3, ["II. Legislative assistance", "A. Model law"]),
    ]
    p1, p2, p3 = corpus.paragraphs
    assert p1.text.startswith("In its resolution 6/2") and "Protocol adopted by" in p1.text
    assert [(f.marker, f.text) for f in p1.footnotes] == [
        ("1", "United Nations, Treaty Series, vol. 2326, No. 39574.")
    ]
    assert p1.text[: p1.footnotes[0].offset].endswith("on the Protocol")
    assert p2.text.endswith("initiated the ratification process:")
    assert [(it.label, it.text) for it in p2.items] == [
        ("a", "Legislative assistance was provided to 14 States;"),
        ("b", "Training was given to 640 officers in 2012, covering firearms offences."),
    ]
    # a footnote of two Word paragraphs is one footnote
    assert [(f.marker, f.text) for f in p2.footnotes] == [
        ("2", "See the status of ratification at www.unodc.org/treaties.")
    ]
    assert p2.text[: p2.footnotes[0].offset].endswith("parties to the Convention")
    assert (
        p3.text
        == "The Secretariat reviewed draft legislation in 2012, and commented on two laws adopted in 2013."
    )
    assert [(f.marker, f.text, p3.text[: f.offset][-6:]) for f in p3.footnotes] == [
        ("3", "Available from www.unodc.org/documents", " 2012,"),
        ("4", "See CTOC/COP/WG.6/2014/2.", "o laws"),
    ]
    everything = " ".join(p.full_text + " ".join(f.text for f in p.footnotes) for p in corpus.paragraphs)
    assert "NOTICE" not in everything and "NOTICE" not in " ".join(corpus.front_matter)


def test_layout_text_conventions():
    text = docx_layout(english_report().bytes(), "r.docx")
    lines = text.split("\n")
    # the masthead table's cells are blocks; the session lines one block with the agenda item's title
    assert lines[:3] == ["United Nations", "", "CTOC/COP/2014/5"]
    i = lines.index("Seventh session")
    assert lines[i : i + 4] == [
        "Seventh session",
        "Vienna, 6-10 October 2014",
        "Item 4 (b) of the provisional agenda*",
        "Implementation of the Firearms Protocol",
    ]
    assert lines[i - 1] == lines[i + 4] == ""
    # tabs after numbers are spaces; footnotes after their paragraph, ended by "\v"
    j = lines.index("I. Introduction")  # the body's first line: the front matter's note comes after it
    assert lines[j + 1 : j + 4] == ["__________________", "* CTOC/COP/2014/1.", "\v"]
    assert lines[j + 4].startswith("1. In its resolution") and "Protocol1 adopted" in lines[j + 4]
    k = next(n for n, line in enumerate(lines) if line.startswith("3. "))
    assert lines[k] == (
        "3. The Secretariat reviewed draft legislation in 2012,3 and commented on two laws4 adopted in 2013."
    )
    assert lines[k + 1 : k + 7] == [
        "__________________",
        " 3 Available from www.unodc.org/documents",
        "\v",  # the note does not end a sentence: closed before the next one
        "__________________",
        " 4 See CTOC/COP/WG.6/2014/2.",
        "\v",
    ]


def test_two_references_in_a_row_are_two_numbers():
    d = Doc()
    p = d.para("1.\tText")
    d.note(p, "First.")
    d.note(p, "Second.")
    p.add_run(" more.")
    lines = docx_layout(d.bytes(), "r.docx").split("\n")
    assert lines[:5] == ["1. Text1 2 more.", "__________________", " 1 First.", " 2 Second.", "\v"]


def test_chinese_marker_followed_by_text_gets_a_space():
    d = Doc()
    d.block(["第六届会议"])
    d.para("一. 导言")
    p = d.para("1. 报告见秘书长的报告。")
    d.note(p, "S/2012/50。")
    p.add_run("到 2012 年，共有 80 人正等待审判。")
    text = docx_layout(d.bytes(), "r.docx")
    assert "1. 报告见秘书长的报告。1 到 2012 年" in text
    corpus = parse_report(text, "r.docx", lang="zh")
    (p1,) = corpus.paragraphs
    assert squash(p1.text) == squash("报告见秘书长的报告。到 2012 年，共有 80 人正等待审判。")
    assert p1.footnotes[0].text == "S/2012/50。" and p1.text[: p1.footnotes[0].offset].endswith("报告。")


def test_blank_lines_follow_empty_paragraphs_and_spacing():
    d = Doc()
    d.para("one", after=0)
    d.para("two", after=0)
    d.para("")  # an empty paragraph separates
    d.para("three", after=0)
    d.para("four", after=6)  # 6 pt = 120 twips: a block
    d.para("five", after=3)
    d.para("six")
    h = d.para("seven", after=0)
    h.paragraph_format.space_before = Pt(0)
    d.para("eight", after=0).paragraph_format.space_before = Pt(12)
    assert docx_layout(d.bytes(), "r.docx").split("\n") == [
        "one", "two", "", "three", "four", "", "five", "six", "", "seven", "", "eight", "",
    ]  # fmt: skip


def test_spacing_from_styles_lines_and_contextual_spacing():
    d = Doc()
    styles = d.doc.styles
    tight = styles.add_style("Tight", 1)
    tight.paragraph_format.space_after = Pt(0)
    tight.paragraph_format.space_before = Pt(0)
    spaced = styles.add_style("Spaced", 1)
    spaced.base_style = tight
    spaced.paragraph_format.space_after = Pt(12)
    d.para("a", style="Tight")
    d.para("b", style="Tight")
    d.para("c", style="Spaced")  # space after from its own style
    d.para("d", style="Spaced")  # … unless contextual spacing is on (below)
    d.para("e", style="Tight")
    lines_p = d.para("f", style="Tight")
    sp = OxmlElement("w:spacing")
    sp.set(qn("w:beforeLines"), "50")  # half a line: a block
    lines_p._p.get_or_add_pPr().append(sp)
    ctx = OxmlElement("w:contextualSpacing")
    spaced.element.get_or_add_pPr().append(ctx)
    assert docx_layout(d.bytes(), "r.docx").split("\n") == ["a", "b", "c", "d", "", "e", "", "f", ""]


def test_line_breaks_deleted_and_inserted_text_hidden_text_and_fields():
    d = Doc()
    p = d.para("first line")
    p.add_run().add_break()
    p.add_run("second line")
    body = (
        f'<w:del w:id="1" w:author="x"><w:r><w:delText>DELETED</w:delText></w:r></w:del>'
        f'<w:ins w:id="2" w:author="x">{run_xml(" inserted")}</w:ins>'
        f"<w:r><w:rPr><w:vanish/></w:rPr><w:t>HIDDEN</w:t></w:r>"
        f'<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>'
        f'<w:r><w:fldChar w:fldCharType="separate"/></w:r>{run_xml(" 7")}'
        f'<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        f'<w:hyperlink><w:r><w:t xml:space="preserve"> link</w:t></w:r></w:hyperlink>'
    )
    p2 = d.para()
    for el in parse_xml(f'<w:x xmlns:w="{W_NS}">{body}</w:x>'):
        p2._p.append(el)
    lines = docx_layout(d.bytes(), "r.docx").split("\n")
    assert lines == ["first line", "second line", "", "inserted 7 link", ""]


# --- automatic numbering ----------------------------------------------------------------------------------


def test_format_number():
    cases = {
        ("decimal", 12): "12",
        ("lowerLetter", 1): "a",
        ("lowerLetter", 27): "aa",
        ("upperLetter", 3): "C",
        ("upperRoman", 4): "IV",
        ("upperRoman", 1994): "MCMXCIV",
        ("lowerRoman", 9): "ix",
        ("chineseCounting", 1): "一",
        ("chineseCounting", 10): "十",
        ("chineseCounting", 12): "十二",
        ("chineseCounting", 20): "二十",
        ("chineseCountingThousand", 105): "一百零五",
        ("ideographTraditional", 2): "乙",
        ("decimalZero", 3): "03",
        ("decimalFullWidth", 12): "１２",
        ("decimalEnclosedCircle", 3): "③",
        ("none", 5): "",
        ("somethingNew", 5): "5",
    }
    assert {k: format_number(k[1], k[0]) for k in cases} == cases


def auto_numbered(lang: str = "en") -> Doc:
    """Chapters (upperRoman or Chinese counting, level 0), lettered sections (level 1, restarting in each
    chapter), paragraphs numbered 1, 2, … across chapters with items (a), (b) at level 1 restarting under each
    paragraph; an annex whose paragraphs restart at 1 through a list with a startOverride."""
    d = Doc()
    chapter_fmt = "upperRoman" if lang == "en" else "chineseCounting"
    d.numbering = numbering_xml(
        {
            1: [(chapter_fmt, "%1.", 1), ("upperLetter", "%2.", 1)],
            2: [("decimal", "%1.", 1), ("lowerLetter", "(%2)", 1)],
        },
        {1: (1, {}), 2: (2, {}), 3: (2, {}), 4: (2, {0: 1})},
    )
    zh = lang == "zh"
    d.block(["第六届会议"] if zh else ["Sixth session"])
    numbered(d.para("导言" if zh else "Introduction", style="Heading 1"), 1)
    numbered(d.para("第一段。" if zh else "First paragraph."), 2)
    numbered(d.para("第二段如下：" if zh else "Second paragraph:"), 2)
    numbered(d.para("甲项；" if zh else "item one;"), 2, 1)
    numbered(d.para("乙项。" if zh else "item two."), 2, 1)
    numbered(d.para("活动" if zh else "Activities", style="Heading 1"), 1)
    numbered(d.para("网络犯罪" if zh else "Cybercrime", style="Heading 2"), 1, 1)
    # list 3 shares list 2's abstract numbering and has no override: it continues it (3, then its items)
    numbered(d.para("第三段如下：" if zh else "Third paragraph:"), 3)
    numbered(d.para("丙项。" if zh else "item three."), 3, 1)
    numbered(d.para("海盗" if zh else "Piracy", style="Heading 2"), 1, 1)
    numbered(d.para("第四段。" if zh else "Fourth paragraph."), 2)
    numbered(d.para("建议" if zh else "Recommendations", style="Heading 1"), 1)  # restarts the letters
    numbered(d.para("环境" if zh else "Environment", style="Heading 2"), 1, 1)
    numbered(d.para("第五段。" if zh else "Fifth paragraph."), 2)
    d.para("附件" if zh else "Annex")
    numbered(d.para("附件第一段。" if zh else "First paragraph of the annex."), 4)  # startOverride 1
    numbered(d.para("附件第二段。" if zh else "Second paragraph of the annex."), 4)
    return d


def test_automatic_numbering_rendered_as_printed():
    lines = [line for line in docx_layout(auto_numbered().bytes(), "r.docx").split("\n") if line]
    assert lines == [
        "Sixth session",
        "I. Introduction",
        "1. First paragraph.",
        "2. Second paragraph:",
        "(a) item one;",
        "(b) item two.",
        "II. Activities",
        "A. Cybercrime",
        "3. Third paragraph:",
        "(a) item three.",
        "B. Piracy",
        "4. Fourth paragraph.",
        "III. Recommendations",
        "A. Environment",
        "5. Fifth paragraph.",
        "Annex",
        "1. First paragraph of the annex.",
        "2. Second paragraph of the annex.",
    ]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_automatic_numbering_parsed(lang):
    corpus = read(auto_numbered(lang).bytes(), lang)
    assert [p.key for p in corpus.paragraphs] == [("", n) for n in range(1, 6)] + [("annex", 1), ("annex", 2)]
    one, two, three = ["I", "II", "III"] if lang == "en" else ["一", "二", "三"]
    annex = "Annex" if lang == "en" else "附件"
    assert [(s.level, s.label) for s in corpus.sections] == [
        (1, one), (1, two), (2, "A"), (2, "B"), (1, three), (2, "A"), (0, annex),
    ]  # fmt: skip
    p2, p3 = corpus.paragraphs[1:3]
    assert [it.label for it in p2.items] == ["a", "b"] and [it.label for it in p3.items] == ["a"]
    assert p3.section[-1] == "A. " + ("Cybercrime" if lang == "en" else "网络犯罪")


def test_lists_sharing_an_abstract_numbering_share_its_count():
    """As Word counts: numIds over one abstract numbering continue one count; a startOverride restarts it at
    the list's first paragraph, and the other list then continues from there."""
    d = Doc()
    d.numbering = numbering_xml({3: [("decimal", "%1.", 1)]}, {1: (3, {}), 2: (3, {0: 8}), 5: (3, {})})
    for num_id in (1, 1, 1, 2, 1, 5, 2):
        numbered(d.para("x", after=0), num_id)
    lines = docx_layout(d.bytes(), "r.docx").split("\n")
    assert lines == ["1. x", "2. x", "3. x", "8. x", "9. x", "10. x", "11. x", ""]


def test_chinese_and_custom_number_formats():
    d = Doc()
    d.numbering = (
        f'<w:numbering xmlns:w="{W_NS}" '
        'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
        'xmlns:w14="http://schemas.microsoft.com/office/word/2010/wordml">'
        '<w:abstractNum w:abstractNumId="1"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
        '<w:numFmt w:val="taiwaneseCountingThousand"/><w:lvlText w:val="%1、"/><w:suff w:val="nothing"/>'
        "</w:lvl>"
        "</w:abstractNum>"
        '<w:abstractNum w:abstractNumId="2"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
        '<mc:AlternateContent><mc:Choice Requires="w14">'
        '<w:numFmt w:val="custom" w:format="001, 002, 003, ..."/></mc:Choice>'
        '<mc:Fallback><w:numFmt w:val="decimal"/></mc:Fallback></mc:AlternateContent>'
        '<w:lvlText w:val="%1."/></w:lvl></w:abstractNum>'
        '<w:num w:numId="1"><w:abstractNumId w:val="1"/></w:num>'
        '<w:num w:numId="2"><w:abstractNumId w:val="2"/></w:num>'
        "</w:numbering>"
    )
    for _ in range(11):
        numbered(d.para("导言", after=0), 1)
    numbered(d.para("x", after=0), 2)
    lines = docx_layout(d.bytes(), "r.docx").split("\n")
    assert lines[:2] == ["一、导言", "二、导言"] and lines[9:12] == ["十、导言", "十一、导言", "001. x"]


def test_numbering_from_paragraph_styles_and_numbering_styles():
    """Headings numbered through their style (numPr in styles.xml, the level tied to the style by the level's
    pStyle), and a list whose abstract numbering links to a numbering style (numStyleLink)."""
    d = Doc()
    d.numbering = (
        f'<w:numbering xmlns:w="{W_NS}">'
        '<w:abstractNum w:abstractNumId="1"><w:styleLink w:val="Outline"/>'
        '<w:lvl w:ilvl="0"><w:start w:val="1"/><w:numFmt w:val="upperRoman"/><w:pStyle w:val="Heading1"/>'
        '<w:lvlText w:val="%1."/></w:lvl>'
        '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="upperLetter"/><w:pStyle w:val="Heading2"/>'
        '<w:lvlText w:val="%2."/></w:lvl></w:abstractNum>'
        '<w:abstractNum w:abstractNumId="2"><w:numStyleLink w:val="Outline"/></w:abstractNum>'
        '<w:num w:numId="1"><w:abstractNumId w:val="1"/></w:num>'
        '<w:num w:numId="2"><w:abstractNumId w:val="2"/></w:num>'
        "</w:numbering>"
    )
    styles = d.doc.styles.element
    outline = parse_xml(
        f'<w:style xmlns:w="{W_NS}" w:type="numbering" w:styleId="Outline"><w:name w:val="Outline"/>'
        '<w:pPr><w:numPr><w:numId w:val="1"/></w:numPr></w:pPr></w:style>'
    )
    styles.append(outline)
    for style_id in ("Heading1", "Heading2"):
        style = styles.find(f'{qn("w:style")}[@{qn("w:styleId")}="{style_id}"]')
        style.get_or_add_pPr().get_or_add_numPr().get_or_add_numId().val = 2  # through the numbering style
    d.para("Introduction", style="Heading 1")
    d.para("Activities", style="Heading 1")
    d.para("Cybercrime", style="Heading 2")
    d.para("Piracy", style="Heading 2")
    d.para("Recommendations", style="Heading 1")
    lines = [line for line in docx_layout(d.bytes(), "r.docx").split("\n") if line]
    assert lines == [
        "I. Introduction",
        "II. Activities",
        "A. Cybercrime",
        "B. Piracy",
        "III. Recommendations",
    ]


def test_numbering_start_restart_and_suffix_details():
    d = Doc()
    d.numbering = (
        f'<w:numbering xmlns:w="{W_NS}">'
        '<w:abstractNum w:abstractNumId="7">'
        '<w:lvl w:ilvl="0"><w:start w:val="5"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1."/>'
        '<w:suff w:val="space"/></w:lvl>'
        '<w:lvl w:ilvl="1"><w:start w:val="1"/><w:numFmt w:val="decimal"/><w:lvlText w:val="%1.%2"/>'
        '<w:lvlRestart w:val="0"/><w:suff w:val="nothing"/></w:lvl>'
        '<w:lvl w:ilvl="2"><w:start w:val="1"/><w:numFmt w:val="bullet"/><w:lvlText w:val="\uf0b7"/></w:lvl>'
        "</w:abstractNum>"
        '<w:num w:numId="1"><w:abstractNumId w:val="7"/></w:num>'
        "</w:numbering>"
    )
    numbered(d.para("five"), 1)
    numbered(d.para("-sub"), 1, 1)
    numbered(d.para("six"), 1)
    numbered(d.para("-sub, not restarted (lvlRestart 0)"), 1, 1)
    numbered(d.para("bullet"), 1, 2)
    numbered(d.para(""), 1)  # an empty numbered paragraph still shows its number
    d.para("typed 9.\tkept as typed")
    numbered(d.para("no list"), 0)  # numId 0: numbering removed
    lines = [line for line in docx_layout(d.bytes(), "r.docx").split("\n") if line]
    assert lines == [
        "5. five",
        "5.1-sub",
        "6. six",
        "6.2-sub, not restarted (lvlRestart 0)",
        "• bullet",
        "7.",
        "typed 9. kept as typed",
        "no list",
    ]


# --- headers, footers and the masthead symbol --------------------------------------------------------------


def with_header_and_footer(d: Doc, first: str, other: str, footer: str) -> None:
    section = d.doc.sections[0]
    section.different_first_page_header_footer = True
    section.first_page_header.paragraphs[0].text = first
    section.header.paragraphs[0].text = other
    section.footer.paragraphs[0].text = footer
    section.first_page_footer.paragraphs[0].text = footer


def test_headers_and_footers_are_not_text_but_give_the_symbol():
    d = Doc()
    with_header_and_footer(
        d, "HEADERWORD CTOC/COP/2012/7 first page", "HEADERWORD CTOC/COP/2012/7", "FOOTERWORD V.12-55555"
    )
    d.block(["第六届会议", "2012 年 10 月 15 日至 19 日，维也纳"])
    d.block(["技术援助"])
    d.block(["秘书处的报告"])
    d.para("一. 导言")
    d.para("1. 第一段。")
    d.para("2. 第二段。")
    text = docx_layout(d.bytes(), "r.docx")
    assert text.split("\n")[:2] == ["CTOC/COP/2012/7", ""]
    assert "HEADERWORD" not in text and "FOOTERWORD" not in text and "first page" not in text
    corpus = parse_report(text, "r.docx", lang="zh")
    assert corpus.metadata.symbol == "CTOC/COP/2012/7"
    assert (corpus.metadata.title, corpus.metadata.report_type) == ("技术援助", "秘书处的报告")
    assert [p.number for p in corpus.paragraphs] == [1, 2]
    assert all(p.document == "CTOC/COP/2012/7" for p in corpus.paragraphs)


def test_symbol_printed_in_the_body_wins_over_the_header():
    d = english_report()
    with_header_and_footer(d, "CTOC/COP/2099/1", "CTOC/COP/2099/1", "V.14-04711")
    text = docx_layout(d.bytes(), "r.docx")
    assert "CTOC/COP/2099/1" not in text and "V.14-04711" not in text
    assert parse_report(text, "r.docx", lang="en").metadata.symbol == "CTOC/COP/2014/5"


def test_without_a_different_first_page_the_default_header_is_the_first_pages():
    d = Doc()
    d.doc.sections[0].header.paragraphs[0].text = "CTOC/COP/WG.2/2013/3"
    d.para("一. 导言")
    d.para("1. 第一段。")
    assert docx_layout(d.bytes(), "r.docx").startswith("CTOC/COP/WG.2/2013/3\n\n")


# --- bad files ----------------------------------------------------------------------------------------------


def refused(data: bytes) -> str:
    with pytest.raises(IngestError) as e:
        docx_layout(data, "bad.docx")
    assert e.value.path == "bad.docx" and e.value.line == 0
    return e.value.message


def test_not_a_zip():
    assert refused(b"plain text, not a Word file") == "is not a Word .docx file (not a zip archive)"
    assert refused(b"") == "is not a Word .docx file (not a zip archive)"


def test_encrypted_or_old_format_word_file():
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    assert "is encrypted or an old-format Word file" in refused(ole)


def test_zip_without_the_document_part():
    message = refused(zip_parts({"hello.txt": b"hi"}))
    assert "word/document.xml" in message and "not a Word .docx file" in message


def test_damaged_xml_names_the_part():
    good = Doc()
    good.para("1. text.")
    assert "word/document.xml is not well-formed XML" in refused(
        good.bytes({"word/document.xml": b"<w:document"})
    )
    d = english_report()
    broken = d.bytes({"word/footnotes.xml": b"<w:footnotes><w:footnote></w:footnotes>"})
    assert "word/footnotes.xml is not well-formed XML" in refused(broken)
    entity = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    assert "word/document.xml" in refused(good.bytes({"word/document.xml": entity}))


def test_strict_open_xml_is_read_like_transitional():
    d = english_report()
    data = d.bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    for name in ("word/document.xml", "word/footnotes.xml", "word/styles.xml"):
        parts[name] = parts[name].replace(W_NS.encode(), b"http://purl.oclc.org/ooxml/wordprocessingml/main")
    assert docx_layout(zip_parts(parts), "strict.docx") == docx_layout(data, "r.docx")


def test_zip_bomb_is_refused():
    d = Doc()
    d.para("1. text.")
    big = b"<" + b" " * (MAX_PART_BYTES + 1) + b"/>"  # deflates to a few tens of kB
    data = d.bytes({"word/styles.xml": big})
    assert len(data) < 1_000_000
    assert "word/styles.xml unpacks to more than 64 MiB" in refused(data)


# --- the shipped reports rebuilt as Word files --------------------------------------------------------------


class Numberer:
    """Automatic numbering for a rebuilt report: Word's counting mirrored (one count per abstract numbering),
    so that a number the list would not give next (a restart in an annex, numbers skipped by a printed
    deletion) starts a new list with a ``startOverride``, as Word's "set numbering value" does."""

    def __init__(self, abstract: int, first_num: int, nums: dict[int, tuple[int, dict[int, int]]]) -> None:
        self.abstract = abstract
        self.nums = nums
        self.num_id = first_num
        self.nums[first_num] = (abstract, {})
        self.counts: dict[int, int] = {}

    def number(self, p: Any, level: int, value: int) -> None:
        nxt = self.counts[level] + 1 if level in self.counts else 1
        if nxt != value:
            self.num_id = max(self.nums) + 1
            self.nums[self.num_id] = (self.abstract, {level: value})
        self.counts = {k: v for k, v in self.counts.items() if k < level}
        self.counts[level] = value
        numbered(p, self.num_id, level)


def rebuild(
    path: Path, *, auto: bool, header_symbol: str | None = None, star_note: str | None = None
) -> tuple[bytes, Corpus]:
    """A Word file of the report at ``path`` (its text parsed by ingest_file): the front matter's blocks as
    printed (a masthead line with a symbol as a two-cell table; the agenda line's asterisk note as a
    custom-mark footnote), headings, numbered paragraphs and their items, footnotes as real footnotes at their
    offsets, printed deletions; numbers typed ("N.\\t…") or, with ``auto``, Word's automatic numbering."""
    corpus = ingest_file(path)
    lang = corpus.metadata.language
    lines = path.read_text(encoding="utf-8").split("\n")
    start = body_start(lines)
    front_count = len([x for x in lines[:start] if x.strip()])
    star = " ".join(corpus.front_matter[front_count:]) or star_note
    d = Doc()
    nums: dict[int, tuple[int, dict[int, int]]] = {}
    chapter_fmt = "upperRoman" if lang == "en" else "chineseCounting"
    headings = Numberer(1, 1, nums)
    paragraphs = Numberer(2, 100, nums)
    if header_symbol:
        section = d.doc.sections[0]
        section.different_first_page_header_footer = True
        section.first_page_header.paragraphs[0].text = header_symbol
        section.header.paragraphs[0].text = f"{header_symbol} page header"
        section.footer.paragraphs[0].text = "V.12-00000 footer"
    block: list[str] = []
    for line in [*lines[:start], ""]:
        if line.strip():
            block.append(line.strip())
            continue
        if not block:
            continue
        symbol = re.search(r"[A-Z]{1,8}(?:/[A-Z0-9.]+){2,}", " ".join(block))
        if len(block) == 1 and symbol:
            table = d.doc.add_table(rows=1, cols=2)
            table.cell(0, 0).text = block[0][: symbol.start()].strip()
            table.cell(0, 1).text = symbol.group(0)
        else:
            paras = d.block([re.sub(r"(agenda|议程)\*", r"\1", x) for x in block])
            for p, x in zip(paras, block):
                if re.search(r"(agenda|议程)\*", x) and star:
                    head, _, tail = x.partition("*")
                    p.clear()
                    p.add_run(head)
                    d.note(p, star.lstrip("* "), mark="*")
                    p.add_run(tail)
        block = []

    events: list[tuple[int, str, Any]] = [(s.line, "section", s) for s in corpus.sections]
    events += [(p.line, "para", p) for p in corpus.paragraphs]
    events += [(n, "deleted", t) for n, t in corpus.residue if not RE_RULE.match(t)]
    for _, kind, obj in sorted(events, key=lambda e: e[0]):
        if kind == "section":
            if obj.level == 0:
                d.para(obj.label)
                if obj.title:
                    d.para(obj.title)
                continue
            style = f"Heading {obj.level}"
            if auto:
                if obj.level == 1:
                    value = (roman_value if lang == "en" else cn_value)(obj.label)
                else:
                    value = ord(obj.label) - 64 if obj.level == 2 else int(obj.label)
                assert value
                headings.number(d.para(obj.title, style=style), obj.level - 1, value)
            else:
                d.para(f"{obj.label}.\t{obj.title}", style=style)
        elif kind == "deleted":
            d.para(obj)  # typed; the paragraph after it starts a list at its number
        else:
            para = d.para() if auto else d.para(f"{obj.number}.\t")
            if auto:
                paragraphs.number(para, 0, obj.number)
            text, pos = obj.text, 0
            for fn in sorted(obj.footnotes, key=lambda f: f.offset):
                para.add_run(text[pos : fn.offset])
                d.note(para, fn.text)
                pos = fn.offset
            para.add_run(text[pos:])
            for item in obj.items:
                if auto:
                    paragraphs.number(d.para(item.text), 1, ord(item.label) - 96)
                else:
                    d.para(f"({item.label})\t{item.text}")
    d.numbering = numbering_xml(
        {
            1: [(chapter_fmt, "%1.", 1), ("upperLetter", "%2.", 1), ("decimal", "%3.", 1)],
            2: [("decimal", "%1.", 1), ("lowerLetter", "(%2)", 1)],
        },
        nums,
    )
    return d.bytes(), corpus


def shape(corpus: Corpus) -> dict[str, Any]:
    """What must come out the same from the text and from the Word file, white space aside."""
    return {
        "paragraphs": [
            (
                p.part,
                p.number,
                [squash(s) for s in p.section],
                squash(p.text),
                [(it.label, squash(it.text)) for it in p.items],
                [(f.marker, squash(f.text), len(squash(p.text[: f.offset]))) for f in p.footnotes],
            )
            for p in corpus.paragraphs
        ],
        "sections": [(s.level, s.label, squash(s.title)) for s in corpus.sections],
        "deleted": [squash(t) for _, t in corpus.residue if not RE_RULE.match(t)],
    }


REPORTS = [
    REPORT,
    LIB / "ctoc-cop-2014-5.en.txt",
    LIB / "ctoc-cop-2017-6.en.txt",
    LIB / "ctoc-cop-wg2-2013-3.zh.txt",
    LIB / "ctoc-cop-wg2-2013-3.en.txt",
    LIB / "ctoc-cop-wg7-2017-2.zh.txt",
]


@pytest.mark.parametrize("auto", [False, True], ids=["typed", "automatic"])
@pytest.mark.parametrize("path", REPORTS, ids=lambda p: p.name)
def test_rebuilt_report_reads_like_its_text(path, auto):
    star = "CTOC/COP/2012/1。" if path == REPORT else None
    data, text_corpus = rebuild(
        path, auto=auto, header_symbol="CTOC/COP/2012/7" if path == REPORT else None, star_note=star
    )
    lang = text_corpus.metadata.language
    word = read(data, lang, path.with_suffix(".docx").name)
    assert shape(word) == shape(text_corpus)
    assert len(word.paragraphs) == len(text_corpus.paragraphs) > 0
    meta, expected = word.metadata, text_corpus.metadata
    if path == REPORT:  # the text prints no symbol; the Word file's first-page header does
        assert (expected.symbol, meta.symbol) == (None, "CTOC/COP/2012/7")
        assert word.front_matter == ["CTOC/COP/2012/7", *text_corpus.front_matter, "* CTOC/COP/2012/1。"]
        texts = [p.full_text + " ".join(f.text for f in p.footnotes) for p in word.paragraphs]
        assert not any("page header" in t or "footer" in t for t in texts + word.front_matter)
        meta.symbol = None
    else:  # the same lines, but for a masthead line whose two table cells are two lines
        assert squash("".join(word.front_matter)) == squash("".join(text_corpus.front_matter))
    for name in (
        "symbol",
        "session",
        "dates",
        "place",
        "agenda_item",
        "agenda_title",
        "title",
        "report_type",
    ):
        assert squash(getattr(meta, name) or "") == squash(getattr(expected, name) or ""), name


def test_the_report_has_its_sixty_five_paragraphs_and_footnote():
    data, _ = rebuild(REPORT, auto=True, header_symbol="CTOC/COP/2012/7")
    corpus = read(data, "zh")
    assert corpus.numbers == list(range(1, 66))
    (p17,) = [p for p in corpus.paragraphs if p.footnotes]
    assert p17.number == 17 and p17.footnotes[0].text.startswith("秘书长关于在索马里")
    assert [it.label for it in corpus.paragraphs[-1].items] == list("abcdef")
    assert corpus.metadata.title.startswith("就运用《联合国打击跨国有组织犯罪公约》")


def test_twenty_page_report_is_read_whole():
    """A 20-page report (about 8,000 words, 120 paragraphs, 40 footnotes, automatic numbering): every numbered
    paragraph and every footnote read (its speed is measured by the benchmark script, not asserted here)."""
    d = Doc()
    d.numbering = numbering_xml(
        {1: [("upperRoman", "%1.", 1)], 2: [("decimal", "%1.", 1), ("lowerLetter", "(%2)", 1)]},
        {1: (1, {}), 2: (2, {})},
    )
    d.block(["Seventh session", "Vienna, 6-10 October 2014", "Item 4 of the provisional agenda"])
    d.block(["A long report"])
    d.block(["Report of the Secretariat"])
    sentence = (
        "The Secretariat provided technical assistance to States parties in implementing the Convention. "
    )
    for n in range(1, 121):
        if n % 20 == 1:
            numbered(d.para(f"Chapter {n // 20 + 1}", style="Heading 1"), 1)
        p = numbered(d.para((sentence * 4).rstrip()), 2)
        if n % 3 == 0:
            d.note(p, "See the report of the Conference on its sixth session (CTOC/COP/2012/15).")
            p.add_run(sentence * 2)
        if n % 10 == 0:
            for _ in range(3):
                numbered(d.para("an item of the paragraph;"), 2, 1)
    corpus = parse_report(docx_layout(d.bytes(), "long.docx"), "long.docx", lang="en")
    assert corpus.numbers == list(range(1, 121))
    assert sum(len(p.footnotes) for p in corpus.paragraphs) == 40


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_report_saved_again_by_libreoffice_reads_the_same(tmp_path):
    """LibreOffice writes numbering, footnotes and styles its own way (a restarted list continued by a new
    numId without override, the custom mark repeated in the footnote, Chinese counting as
    taiwaneseCountingThousand): the rebuilt reports saved again by it read the same."""
    paths = [LIB / "ctoc-cop-2014-5.en.txt", LIB / "ctoc-cop-wg7-2017-2.zh.txt"]
    corpora = {}
    for path in paths:
        data, corpora[path.stem] = rebuild(path, auto=True)
        (tmp_path / f"{path.stem}.docx").write_bytes(data)
    out = tmp_path / "out"
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            "--convert-to",
            "docx:MS Word 2007 XML",
            "--outdir",
            str(out),
            *[str(tmp_path / f"{p.stem}.docx") for p in paths],
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    for stem, text_corpus in corpora.items():
        word = read((out / f"{stem}.docx").read_bytes(), text_corpus.metadata.language, f"{stem}.docx")
        assert shape(word) == shape(text_corpus)
        assert word.front_matter[-1].startswith("* CTOC/COP/")
