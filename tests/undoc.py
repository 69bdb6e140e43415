"""UN-looking PDF and Word documents made from the plain-text reports, for the tests of the PDF and .docx
readers (a helper module, not a test module: tests import it with ``from undoc import …``).

A parsed report (:class:`~pipeline.corpus.Corpus`) is written as a Flat ODT (:func:`render_fodt`) in the
layout of a UN document, which LibreOffice headless converts to PDF or .docx (:func:`convert`);
:func:`generated` does both, once per text and format in a cache folder. The readers are then checked by
comparing their parse of the generated file with the text's parse, paragraph by paragraph.

The layout:

* **One master page** ("UN Page") on a mirrored page layout (``style:page-usage="mirrored"``), A4, whose
  header and footer differ on the first page (``style:header-first`` / ``style:footer-first``), on left
  (even) pages (``style:header-left`` / ``style:footer-left``) and on right (odd) pages (``style:header`` /
  ``style:footer``). (A master page of its own for page 1, followed by the body's, prints the same PDF, but
  LibreOffice's Word export then cuts the document into two sections, splitting the paragraph that runs
  over from page 1 into two; Word's "different first page" of a single section is what a UN .docx has.)
* **Page 1**: a masthead table ("United Nations" / "联合国" on the left, the symbol large on the right; the
  body's name, then "Distr.: General", the date, ("Chinese",) "Original: English" on the right), the
  session, dates and place, and agenda lines, the agenda line's asterisk being a real footnote with the
  citation "*" (``text:note-citation text:label="*"``), the agenda title, the title (bold, large) and the
  report type. Its footer holds the job number ("V.12-55236 (C)") and the barcode's text ("*1255236*"); its
  header is empty.
* **Later pages**: the symbol in the header and "N/M" with the job number in the footer
  (``text:page-number`` / ``text:page-count`` fields), on the left of even pages and on the right of odd
  ones.
* **The body**: headings as :attr:`~pipeline.corpus.Section.heading` prints them (an annex as its label line,
  "Annex I", on a new page and its title line), bold; numbered paragraphs "N.<tab>text" with a hanging
  indent, lettered items "(a)<tab>text" indented further, printed deletions ("3.-4. [Deleted]") where the
  text had them; every footnote a real footnote (numbered automatically) at its marker's offset; justified
  text, 10 pt (Liberation Serif; Noto Serif CJK SC for Chinese), footnotes 9 pt, on A4.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from pipeline.corpus import Corpus, Paragraph, Section
from pipeline.ingest import ingest_file
from pipeline.ingest.layout import RE_DELETED

__all__ = [
    "CONVERT_TIMEOUT",
    "DEFAULT_DATE",
    "DEFAULT_JOB",
    "ConversionError",
    "convert",
    "generated",
    "render_fodt",
    "soffice_available",
]

CONVERT_TIMEOUT = 180.0  # seconds for one LibreOffice conversion
DEFAULT_JOB = "V.12-55236"
DEFAULT_DATE = "17 August 2012"
_FILTERS = {"pdf": "pdf:writer_pdf_Export", "docx": "docx:MS Word 2007 XML"}

# A4, in cm: the text block is 16.6 cm wide; the body's text starts 1.27 cm in from its left edge.
_PAGE_W, _PAGE_H = 21.0, 29.7
_MARGIN_TOP, _MARGIN_BOTTOM, _MARGIN_SIDE = 1.5, 1.3, 2.2
_TEXT_W = _PAGE_W - 2 * _MARGIN_SIDE


@dataclass(frozen=True)
class _Lang:
    """What differs between the English and the Chinese layout."""

    un: str  # "United Nations" in the masthead
    body: str  # the body's name, when the front matter prints none
    job_suffix: str  # "(E)" / "(C)" after the job number on page 1
    language_line: str | None  # the masthead's language line of a translation ("Chinese")
    font_size: str  # body text
    line_height: str  # body text (exact)
    note_size: str
    note_line_height: str
    masthead_body_size: str  # the body's name in the masthead
    session_line_height: str  # the session, dates and agenda lines


_LANGS = {
    "en": _Lang(
        un="United Nations",
        body="Conference of the Parties to the United Nations Convention against Transnational "
        "Organized Crime",
        job_suffix="(E)",
        language_line=None,
        font_size="10pt",
        line_height="12pt",
        note_size="9pt",
        note_line_height="10.5pt",
        masthead_body_size="13pt",
        session_line_height="12pt",
    ),
    "zh": _Lang(
        un="联合国",
        body="联合国打击跨国有组织犯罪公约缔约方会议",
        job_suffix="(C)",
        language_line="Chinese",
        font_size="10.5pt",
        line_height="17pt",
        note_size="9pt",
        note_line_height="13pt",
        masthead_body_size="12pt",
        session_line_height="15pt",
    ),
}


class ConversionError(RuntimeError):
    """LibreOffice failed to convert a document (the message carries its output)."""


# ---------------------------------------------------------------------------------------- front matter


def _front_line(corpus: Corpus, pattern: str) -> str | None:
    """The first front-matter line matching ``pattern`` (a regex searched in the stripped line)."""
    return next((line for line in corpus.front_matter if re.search(pattern, line)), None)


def _job_of(corpus: Corpus) -> str | None:
    line = _front_line(corpus, r"^V\.\d{2}-\d{5}\b")
    return line.split()[0] if line else None


def _date_of(corpus: Corpus) -> str | None:
    lines = corpus.front_matter
    for k, line in enumerate(lines[:-1]):
        if line.startswith("Distr.") and re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", lines[k + 1]):
            return lines[k + 1]
    return None


def _body_name(corpus: Corpus, lang: _Lang) -> str:
    """The body's name from the masthead lines between "United Nations …" and "Distr.", else the default."""
    lines = corpus.front_matter
    for k, line in enumerate(lines):
        if re.match(r"^(?:United Nations|联\s*合\s*国)\b", line):
            name: list[str] = []
            for nxt in lines[k + 1 :]:
                if nxt.startswith("Distr."):
                    if name:
                        return " ".join(name) if corpus.lang != "zh" else "".join(name)
                    break
                name.append(nxt)
            break
    return lang.body


_RE_AGENDA = r"^Items?\s.*\bagenda\*?$|议程\*?\s*项目"


def _agenda_line(corpus: Corpus) -> tuple[str, str | None]:
    """The agenda line as the text before its asterisk and the text after it (None: the line has no
    asterisk, so no note). A line the front matter does not print is written "Item 3 of the provisional
    agenda*" / "临时议程*项目 3"."""
    printed = _front_line(corpus, _RE_AGENDA)
    if printed:
        before, star, after = printed.partition("*")
        return before, (after if star else None)
    item = corpus.metadata.agenda_item or ""
    if corpus.lang == "zh":
        return "临时议程", f"项目 {item}"
    return f"Item {item} of the provisional agenda", ""


def _agenda_note(corpus: Corpus, symbol: str) -> str:
    """The text of the note to the agenda line's asterisk (without the asterisk): the provisional agenda's
    symbol."""
    printed = _front_line(corpus, r"^\*(?!\d+\*$)\s*\S")  # not the barcode "*1404711*"
    if printed:
        return printed.lstrip("*").strip()
    head = symbol.rsplit("/", 1)[0]
    return f"{head}/1。" if corpus.lang == "zh" else f"{head}/1."


# ---------------------------------------------------------------------------------------- XML pieces


_RE_XML_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _t(s: str) -> str:
    """Text as ODF paragraph content: escaped, tabs and line breaks as elements, runs of spaces kept (ODF
    folds them, and drops a paragraph's leading ones)."""

    def spaces(m: re.Match[str]) -> str:
        run = m.group(0)
        if m.start() == 0:
            return f'<text:s text:c="{len(run)}"/>'
        return " " + (f'<text:s text:c="{len(run) - 1}"/>' if len(run) > 1 else "")

    s = escape(_RE_XML_BAD.sub("", s))
    s = re.sub(r"^ +| {2,}", spaces, s)
    return s.replace("\t", "<text:tab/>").replace("\n", "<text:line-break/>")


def _p(style: str, content: str) -> str:
    return f'<text:p text:style-name="{style}">{content}</text:p>'


class _Notes:
    """Numbers the text:note elements of the document."""

    def __init__(self) -> None:
        self.count = 0
        self.auto = 0  # automatically numbered notes so far

    def note(self, text: str, label: str | None = None) -> str:
        """A footnote: ``label`` is a custom citation ("*"); None numbers it automatically."""
        self.count += 1
        if label is None:
            self.auto += 1
            citation = f"<text:note-citation>{self.auto}</text:note-citation>"
        else:
            citation = (
                f"<text:note-citation text:label={quoteattr(label)}>{escape(label)}</text:note-citation>"
            )
        return (
            f'<text:note text:id="ftn{self.count}" text:note-class="footnote">{citation}'
            f"<text:note-body>{_p('Footnote', _t(text))}</text:note-body></text:note>"
        )


def _with_notes(p: Paragraph, notes: _Notes) -> str:
    """A paragraph's text with its footnotes anchored at their markers' offsets."""
    out: list[str] = []
    pos = 0
    for fn in sorted(p.footnotes, key=lambda f: f.offset if f.offset >= 0 else len(p.text)):
        at = fn.offset if 0 <= fn.offset <= len(p.text) else len(p.text)
        out.append(_t(p.text[pos:at]))
        label = None if fn.marker == str(notes.auto + 1) else fn.marker
        out.append(notes.note(fn.text, label))
        pos = at
    out.append(_t(p.text[pos:]))
    return "".join(out)


# ---------------------------------------------------------------------------------------- styles


def _styles(lang: _Lang) -> str:
    western = "Liberation Serif"
    asian = "Noto Serif CJK SC"
    language = 'fo:language="en" fo:country="GB" style:language-asian="zh" style:country-asian="CN"'
    size = lang.font_size

    def text_props(size: str, bold: bool = False, extra: str = "") -> str:
        weight = ' fo:font-weight="bold" style:font-weight-asian="bold"' if bold else ""
        return f'<style:text-properties fo:font-size="{size}" style:font-size-asian="{size}"{weight}{extra}/>'

    def para(
        name: str,
        parent: str = "Standard",
        *,
        props: str = "",
        text: str = "",
        cls: str = "text",
        tabs: str = "",
    ) -> str:
        display = name.replace("_20_", " ")
        return (
            f'<style:style style:name="{name}" style:display-name="{display}" style:family="paragraph" '
            f'style:parent-style-name="{parent}" style:class="{cls}">'
            f"<style:paragraph-properties {props}>{tabs}</style:paragraph-properties>{text}</style:style>"
        )

    # LibreOffice keeps a paragraph's left and right margins as one property: a style setting one of them
    # sets both, so every body style names its right margin
    right = 'fo:margin-right="1.27cm"'
    body = (
        f'fo:text-align="justify" fo:line-height="{lang.line_height}" fo:margin-top="0cm" '
        f'fo:margin-bottom="0.21cm" fo:widows="2" fo:orphans="2" fo:margin-left="1.27cm" {right}'
    )
    heading = 'fo:keep-with-next="always" fo:text-align="start" fo:margin-left="1.27cm" fo:margin-right="1cm"'
    side_tab = (
        "<style:tab-stops>"
        f'<style:tab-stop style:position="{_TEXT_W:.2f}cm" style:type="right"/>'
        "</style:tab-stops>"
    )
    styles = [
        '<style:default-style style:family="paragraph">'
        '<style:paragraph-properties fo:hyphenation-ladder-count="no-limit" style:writing-mode="lr-tb" '
        'style:line-break="strict" style:punctuation-wrap="hanging" style:tab-stop-distance="1.27cm"/>'
        f'<style:text-properties style:font-name="{western}" fo:font-size="{size}" '
        f'style:font-name-asian="{asian}" style:font-size-asian="{size}" '
        f'style:font-name-complex="{western}" style:font-size-complex="{size}" {language} '
        'fo:hyphenate="false"/>'
        "</style:default-style>",
        '<style:style style:name="Standard" style:family="paragraph" style:class="text"/>',
        para("UN_20_Body", props=body),
        para(
            "UN_20_Para",
            "UN_20_Body",
            props=f'fo:margin-left="1.9cm" {right} fo:text-indent="-0.63cm" style:auto-text-indent="false"',
        ),
        para(
            "UN_20_Item",
            "UN_20_Body",
            props=f'fo:margin-left="2.54cm" {right} fo:text-indent="-0.64cm" style:auto-text-indent="false"',
        ),
        para(
            "UN_20_Heading_20_1",
            "UN_20_Body",
            props=f'{heading} fo:margin-top="0.42cm" fo:margin-bottom="0.3cm" fo:line-height="14pt"',
            text=text_props("12pt", bold=True),
        ),
        para(
            "UN_20_Heading_20_2",
            "UN_20_Body",
            props=f'{heading} fo:margin-top="0.3cm" fo:margin-bottom="0.25cm"',
            text=text_props(size, bold=True),
        ),
        para(
            "UN_20_Heading_20_3",
            "UN_20_Body",
            props=f'{heading} fo:margin-top="0.2cm" fo:margin-bottom="0.2cm"',
            text=text_props(size, bold=True),
        ),
        para(
            "UN_20_Annex",
            "UN_20_Heading_20_1",
            props='fo:break-before="page" fo:margin-top="0cm"',
            text=text_props("12pt", bold=True),
        ),
        para(
            "UN_20_Annex_20_Title",
            "UN_20_Heading_20_1",
            props='fo:margin-top="0.2cm" fo:margin-bottom="0.5cm"',
            text=text_props("13pt", bold=True),
        ),
        # page 1
        para("UN_20_Masthead", props='fo:line-height="100%"'),
        para("UN_20_Masthead_20_UN", "UN_20_Masthead", text=text_props("15pt")),
        para(
            "UN_20_Masthead_20_Symbol",
            "UN_20_Masthead",
            props='fo:text-align="end"',
            text=text_props("16pt", bold=True),
        ),
        para(
            "UN_20_Masthead_20_Body",
            "UN_20_Masthead",
            props='fo:margin-top="0.2cm" fo:margin-right="0.3cm"',
            text=text_props(lang.masthead_body_size, bold=True),
        ),
        para("UN_20_Masthead_20_Distr", "UN_20_Masthead", props='fo:margin-left="1.5cm"'),
        para(
            "UN_20_Session",
            props=f'fo:margin-right="8.5cm" fo:line-height="{lang.session_line_height}"',
            text=text_props(size),
        ),
        para("UN_20_Session_20_Bold", "UN_20_Session", text=text_props(size, bold=True)),
        para(
            "UN_20_Title",
            props=(
                'fo:margin-left="1.27cm" fo:margin-right="1.5cm" fo:margin-top="0.9cm" '
                'fo:margin-bottom="0.4cm" fo:line-height="19pt" fo:keep-with-next="always"'
            ),
            text=text_props("16pt", bold=True),
        ),
        para(
            "UN_20_Report_20_Type",
            props=(
                'fo:margin-left="1.27cm" fo:margin-top="0.2cm" fo:margin-bottom="0.6cm" '
                'fo:keep-with-next="always"'
            ),
            text=text_props("12pt", bold=True),
        ),
        para(
            "UN_20_Job",
            props='fo:line-height="100%"',
            text=text_props("8pt"),
        ),
        para(
            "UN_20_Barcode",
            props='fo:line-height="100%" fo:margin-top="0.1cm"',
            text='<style:text-properties style:font-name="Liberation Mono" fo:font-size="14pt" '
            'fo:letter-spacing="0.05cm"/>',
        ),
        # running header and footer
        para("Header", tabs=side_tab, text=text_props("9pt", bold=True), cls="extra"),
        para("Header_20_Left", "Header", props='fo:text-align="start"', cls="extra"),
        para("Header_20_Right", "Header", props='fo:text-align="end"', cls="extra"),
        para("Footer", tabs=side_tab, text=text_props("8pt"), cls="extra"),
        # footnotes
        para(
            "Footnote",
            props=(
                'fo:margin-left="1.9cm" fo:text-indent="-0.63cm" style:auto-text-indent="false" '
                f'fo:text-align="justify" fo:line-height="{lang.note_line_height}" fo:margin-bottom="0.05cm"'
            ),
            text=text_props(lang.note_size),
            cls="extra",
        ),
        # the citation in the footnote area, and in the text (superscript)
        '<style:style style:name="Footnote_20_Symbol" style:display-name="Footnote Symbol" '
        'style:family="text"><style:text-properties style:text-position="super 58%"/></style:style>',
        '<style:style style:name="Footnote_20_anchor" style:display-name="Footnote anchor" '
        'style:family="text"><style:text-properties style:text-position="super 58%"/></style:style>',
        '<text:notes-configuration text:note-class="footnote" text:citation-style-name="Footnote_20_Symbol" '
        'text:citation-body-style-name="Footnote_20_anchor" style:num-format="1" text:start-value="0" '
        'text:footnotes-position="page" text:start-numbering-at="document"/>',
    ]
    return "".join(styles)


def _page_layouts() -> str:
    page = (
        f'fo:page-width="{_PAGE_W}cm" fo:page-height="{_PAGE_H}cm" style:print-orientation="portrait" '
        f'fo:margin-top="{_MARGIN_TOP}cm" fo:margin-bottom="{_MARGIN_BOTTOM}cm" '
        f'fo:margin-left="{_MARGIN_SIDE}cm" fo:margin-right="{_MARGIN_SIDE}cm" style:writing-mode="lr-tb"'
    )
    sep = (
        '<style:footnote-sep style:width="0.018cm" style:distance-before-sep="0.15cm" '
        'style:distance-after-sep="0.15cm" style:line-style="solid" style:adjustment="left" '
        'style:rel-width="20%" style:color="#000000"/>'
    )
    header = (
        '<style:header-style><style:header-footer-properties fo:min-height="0.4cm" '
        'fo:margin-bottom="0.6cm" style:dynamic-spacing="false"/></style:header-style>'
    )
    footer = (
        '<style:footer-style><style:header-footer-properties fo:min-height="0.4cm" '
        'fo:margin-top="0.5cm" style:dynamic-spacing="false"/></style:footer-style>'
    )
    return (
        f'<style:page-layout style:name="pm1" style:page-usage="mirrored">'
        f"<style:page-layout-properties {page}>{sep}</style:page-layout-properties>"
        f"{header}{footer}</style:page-layout>"
    )


def _automatic_styles() -> str:
    """The masthead table's styles: its first row ruled thick below, its second thin; the table, the
    document's first element, names the master page."""
    total = _TEXT_W
    left = 9.6
    return (
        '<style:style style:name="Masthead" style:family="table" style:master-page-name="UN_20_Page">'
        f'<style:table-properties style:width="{total:.2f}cm" table:align="left" fo:margin-bottom="0.4cm"/>'
        "</style:style>"
        '<style:style style:name="Masthead.A" style:family="table-column">'
        f'<style:table-column-properties style:column-width="{left:.2f}cm"/></style:style>'
        '<style:style style:name="Masthead.B" style:family="table-column">'
        f'<style:table-column-properties style:column-width="{total - left:.2f}cm"/></style:style>'
        '<style:style style:name="Masthead.R1" style:family="table-cell">'
        '<style:table-cell-properties style:vertical-align="bottom" fo:padding="0.05cm" '
        'fo:border-top="none" fo:border-left="none" fo:border-right="none" '
        'fo:border-bottom="2.2pt solid #000000"/></style:style>'
        '<style:style style:name="Masthead.R2" style:family="table-cell">'
        '<style:table-cell-properties style:vertical-align="top" fo:padding-top="0.15cm" '
        'fo:padding-bottom="0.3cm" fo:padding-left="0.05cm" fo:padding-right="0.05cm" '
        'fo:border-top="none" fo:border-left="none" fo:border-right="none" '
        'fo:border-bottom="1pt solid #000000"/></style:style>'
    )


def _master_pages(symbol: str, job: str, lang: _Lang) -> str:
    barcode = "*" + re.sub(r"\D", "", job) + "*"
    sym = _t(symbol)
    page = (
        '<text:page-number text:select-page="current">1</text:page-number>/'
        "<text:page-count>1</text:page-count>"
    )
    # one master page, as a UN document in Word has one section with a different first page: a master page
    # of its own for page 1 would make LibreOffice's Word export cut the document, and the paragraph running
    # over from page 1, into two sections
    return (
        '<style:master-page style:name="UN_20_Page" style:display-name="UN Page" '
        'style:page-layout-name="pm1">'
        f"<style:header>{_p('Header_20_Right', sym)}</style:header>"
        f"<style:header-left>{_p('Header_20_Left', sym)}</style:header-left>"
        f"<style:header-first>{_p('Header', '')}</style:header-first>"
        f"<style:footer>{_p('Footer', _t(job) + '<text:tab/>' + page)}</style:footer>"
        f"<style:footer-left>{_p('Footer', page + '<text:tab/>' + _t(job))}</style:footer-left>"
        f"<style:footer-first>{_p('UN_20_Job', _t(f'{job} {lang.job_suffix}'))}"
        f"{_p('UN_20_Barcode', _t(barcode))}</style:footer-first>"
        "</style:master-page>"
    )


# ---------------------------------------------------------------------------------------- the document


def _front_page(corpus: Corpus, symbol: str, date: str, lang: _Lang, notes: _Notes) -> str:
    meta = corpus.metadata
    zh = corpus.lang == "zh"
    distr = ["Distr.: General", date, ""]
    if lang.language_line:
        distr.append(lang.language_line)
    distr.append("Original: English")
    masthead = (
        '<table:table table:name="Masthead" table:style-name="Masthead">'
        '<table:table-column table:style-name="Masthead.A"/>'
        '<table:table-column table:style-name="Masthead.B"/>'
        '<table:table-row><table:table-cell table:style-name="Masthead.R1" office:value-type="string">'
        f"{_p('UN_20_Masthead_20_UN', _t(lang.un))}</table:table-cell>"
        '<table:table-cell table:style-name="Masthead.R1" office:value-type="string">'
        f"{_p('UN_20_Masthead_20_Symbol', _t(symbol))}</table:table-cell></table:table-row>"
        '<table:table-row><table:table-cell table:style-name="Masthead.R2" office:value-type="string">'
        f"{_p('UN_20_Masthead_20_Body', _t(_body_name(corpus, lang)))}</table:table-cell>"
        '<table:table-cell table:style-name="Masthead.R2" office:value-type="string">'
        + "".join(_p("UN_20_Masthead_20_Distr", _t(line)) for line in distr)
        + "</table:table-cell></table:table-row></table:table>"
    )
    out = [masthead]
    if meta.session:
        out.append(_p("UN_20_Session_20_Bold", _t(meta.session)))
    if meta.dates:
        where = (
            (f"{meta.dates}，{meta.place}" if zh else f"{meta.place}, {meta.dates}")
            if meta.place
            else meta.dates
        )
        out.append(_p("UN_20_Session", _t(where)))
    if meta.agenda_item or _front_line(corpus, _RE_AGENDA):
        before, after = _agenda_line(corpus)
        note = notes.note(_agenda_note(corpus, symbol), "*") + _t(after) if after is not None else ""
        out.append(_p("UN_20_Session", _t(before) + note))
        if meta.agenda_title:
            out.append(_p("UN_20_Session_20_Bold", _t(meta.agenda_title)))
    if meta.title:
        out.append(_p("UN_20_Title", _t(meta.title)))
    if meta.report_type:
        out.append(_p("UN_20_Report_20_Type", _t(meta.report_type)))
    return "".join(out)


def _heading(sec: Section) -> str:
    if sec.level == 0:  # an annex: its label line, then its title line
        label = _p("UN_20_Annex", _t(sec.label))
        return label + (_p("UN_20_Annex_20_Title", _t(sec.title)) if sec.title else "")
    return _p(f"UN_20_Heading_20_{min(max(sec.level, 1), 3)}", _t(sec.heading))


def _deletion(line: str) -> str:
    """A printed deletion as printed ("3.-4. [Deleted]"): its label is too wide for the hanging indent."""
    return _p("UN_20_Para", _t(line.strip()))


def _paragraph(p: Paragraph, notes: _Notes) -> str:
    out = [_p("UN_20_Para", _t(f"{p.number}.\t") + _with_notes(p, notes))]
    out.extend(_p("UN_20_Item", _t(f"({it.label})\t{it.text}")) for it in p.items)
    return "".join(out)


def _body(corpus: Corpus, notes: _Notes) -> str:
    """Headings, paragraphs and printed deletions, in the order of their lines in the text."""
    units: list[tuple[int, str]] = [(sec.line, _heading(sec)) for sec in corpus.sections]
    units += [(p.line, _paragraph(p, notes)) for p in corpus.paragraphs]
    units += [(line, _deletion(text)) for line, text in corpus.residue if RE_DELETED.match(text.strip())]
    return "".join(xml for _, xml in sorted(units, key=lambda u: u[0]))


def render_fodt(
    corpus: Corpus,
    *,
    job: str | None = None,
    date: str | None = None,
    symbol: str | None = None,
) -> str:
    """A parsed report as a Flat ODT document in the layout of a UN document (see the module's docstring).

    Args:
        corpus: the parsed report (``ingest_file(path)``).
        job: the job number ("V.12-55236"); None takes the one its front matter prints, else
            ``DEFAULT_JOB``.
        date: the date under "Distr.: General"; None takes the printed one, else ``DEFAULT_DATE``.
        symbol: the document symbol; None takes the corpus's (printed or settled).

    Raises:
        ValueError: no symbol known.
    """
    symbol = symbol or corpus.symbol
    if not symbol:
        raise ValueError(f"{corpus.path}: no document symbol printed or given")
    zh = corpus.lang == "zh"
    lang = _LANGS["zh" if zh else "en"]
    job = job or _job_of(corpus) or DEFAULT_JOB
    date = date or _date_of(corpus) or DEFAULT_DATE
    notes = _Notes()
    front = _front_page(corpus, symbol, date, lang, notes)
    body = _body(corpus, notes)
    title = corpus.metadata.title or symbol
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
        'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
        'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">'
        f"<office:meta><dc:title>{escape(title)}</dc:title>"
        f"<dc:language>{'zh-CN' if zh else 'en-GB'}</dc:language></office:meta>"
        "<office:font-face-decls>"
        '<style:font-face style:name="Liberation Serif" svg:font-family="&apos;Liberation Serif&apos;" '
        'style:font-family-generic="roman" style:font-pitch="variable"/>'
        '<style:font-face style:name="Liberation Mono" svg:font-family="&apos;Liberation Mono&apos;" '
        'style:font-family-generic="modern" style:font-pitch="fixed"/>'
        '<style:font-face style:name="Noto Serif CJK SC" svg:font-family="&apos;Noto Serif CJK SC&apos;" '
        'style:font-family-generic="roman" style:font-pitch="variable"/>'
        "</office:font-face-decls>"
        f"<office:styles>{_styles(lang)}</office:styles>"
        f"<office:automatic-styles>{_page_layouts()}{_automatic_styles()}</office:automatic-styles>"
        f"<office:master-styles>{_master_pages(symbol, job, lang)}</office:master-styles>"
        f"<office:body><office:text>{front}{body}</office:text></office:body>"
        "</office:document>\n"
    )


# ---------------------------------------------------------------------------------------- LibreOffice


def soffice_available() -> bool:
    """True when LibreOffice's ``soffice`` is on the PATH."""
    return shutil.which("soffice") is not None


_profile_lock = threading.Lock()
_profile: dict[int, Path] = {}  # per process: pid -> its LibreOffice profile folder


def _session_profile() -> Path:
    """This process's private LibreOffice profile (made on first use, removed at exit), so that test
    processes running at once never share one; conversions inside a process take turns
    (:data:`_profile_lock`)."""
    pid = os.getpid()
    if pid not in _profile:
        d = Path(tempfile.mkdtemp(prefix="undoc-lo-profile-"))
        atexit.register(shutil.rmtree, d, True)
        _profile[pid] = d
    return _profile[pid]


def _kill_group(proc: subprocess.Popen[str], wait: float = 5.0) -> None:
    """Kill a process's group (it leads one) and wait, a few seconds at most, until none of it is left."""
    deadline = time.monotonic() + wait
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with contextlib.suppress(ProcessLookupError):
        while time.monotonic() < deadline:
            os.killpg(proc.pid, 0)
            time.sleep(0.05)


def convert(
    fodt_path: str | Path,
    fmt: str,
    outdir: str | Path,
    *,
    timeout: float = CONVERT_TIMEOUT,
    profile: str | Path | None = None,
) -> Path:
    """Convert a document with LibreOffice headless.

    Args:
        fodt_path: the document (a Flat ODT).
        fmt: "pdf" or "docx" (Word 2007-365, the "MS Word 2007 XML" filter).
        outdir: where the converted file is written (same stem, new suffix).
        timeout: seconds before LibreOffice is killed.
        profile: a LibreOffice user profile folder to use; None uses this process's private one.

    Returns:
        The converted file.

    Raises:
        ConversionError: soffice missing, failing, timing out or writing nothing (its output quoted).
    """
    if fmt not in _FILTERS:
        raise ValueError(f"fmt must be one of {sorted(_FILTERS)}, not {fmt!r}")
    soffice = shutil.which("soffice")
    if soffice is None:
        raise ConversionError(
            "LibreOffice is not installed (no soffice on the PATH): "
            "apt-get install --no-install-recommends libreoffice-writer-nogui fonts-liberation fonts-noto-cjk"
        )
    src = Path(fodt_path).resolve()
    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{src.stem}.{fmt}"
    target.unlink(missing_ok=True)
    with _profile_lock:
        prof = Path(profile) if profile is not None else _session_profile()
        cmd = [
            soffice,
            "--headless",
            "--norestore",
            "--nologo",
            "--nolockcheck",
            "--nodefault",
            f"-env:UserInstallation={prof.resolve().as_uri()}",
            "--convert-to",
            _FILTERS[fmt],
            "--outdir",
            str(out),
            str(src),
        ]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)  # soffice is a script: end soffice.bin with it
            output, _ = proc.communicate()
            raise ConversionError(
                f"LibreOffice did not convert {src.name} to {fmt} within {timeout:g} s; its output:\n{output}"
            ) from None
    if proc.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        raise ConversionError(
            f"LibreOffice failed to convert {src.name} to {fmt} (exit status {proc.returncode}, "
            f"{'no' if not target.is_file() else 'an empty'} {target.name}); command: {' '.join(cmd)}\n"
            f"its output:\n{output}"
        )
    return target


def _catalog_symbol(path: Path) -> str | None:
    """The symbol the catalog (``documents.json`` beside the report) gives the file, if any."""
    catalog = path.parent / "documents.json"
    try:
        entry = json.loads(catalog.read_text(encoding="utf-8")).get(path.name)
    except (OSError, ValueError):
        return None
    return entry.get("symbol") if isinstance(entry, dict) else None


_LAYOUT_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:8]


def generated(corpus_path: str | Path, fmt: str, cache_dir: str | Path, *, symbol: str | None = None) -> Path:
    """The report at ``corpus_path`` rendered (:func:`render_fodt`) and converted to ``fmt``
    (:func:`convert`), made once per text and format: the file is cached in ``cache_dir`` under the text's
    sha256 (and this module's, so that a kept cache never serves an older layout) and reused while the text
    is unchanged. Files are moved into place whole, so processes sharing a cache never see half a file.

    Args:
        corpus_path: a report in the plain-text layout.
        fmt: "pdf" or "docx".
        cache_dir: the cache folder (a session's temporary folder).
        symbol: the document symbol when the text prints none; None takes the catalog's
            (``documents.json`` beside the report).

    Returns:
        The PDF or .docx.

    Raises:
        ConversionError: LibreOffice failed (see :func:`convert`).
        ValueError: no symbol known for the report.
    """
    path = Path(corpus_path)
    # the text's hash, and this module's, so that a cache folder kept between runs never serves a file
    # made by an older layout
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16] + "-" + _LAYOUT_VERSION
    cache = Path(cache_dir)
    stem = f"{path.name.removesuffix('.txt').replace('.', '-')}-{digest}"
    target = cache / f"{stem}.{fmt}"
    if target.is_file() and target.stat().st_size > 0:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    fodt = cache / f"{stem}.fodt"
    if not fodt.is_file():
        corpus = ingest_file(path)
        text = render_fodt(corpus, symbol=symbol or corpus.symbol or _catalog_symbol(path))
        tmp = fodt.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, fodt)
    with tempfile.TemporaryDirectory(prefix="undoc-out-", dir=cache) as work:
        made = convert(fodt, fmt, work)
        os.replace(made, target)  # whole, even with another process making the same file
    return target
