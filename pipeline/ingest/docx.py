"""The Word reader: a ``.docx`` file -> *layout text*, the plain-text layout the report parser reads
(:func:`pipeline.ingest.parse_report`), so a Word report gives the same paragraphs as its text.

Only the standard library is used (``zipfile`` and ``xml.etree.ElementTree``). :func:`docx_layout` reads the
main document part (``word/document.xml``) in document order — paragraphs, and the paragraphs of tables (the
UN masthead is often one) — with the footnotes (``word/footnotes.xml``), the automatic numbering
(``word/numbering.xml``) and the paragraph styles (``word/styles.xml``). This module holds the body's reading
(runs, footnote references, tables) and the layout; the zip archive, its XML parts and the paragraph styles
are read by :mod:`pipeline.ingest.wordparts`, the automatic numbering is counted and printed by
:mod:`pipeline.ingest.wordnumbering`. The rules:

* **Lines.** One line per Word paragraph; a line break (``w:br``, ``w:cr``) starts a new line of the same
  block, a page or column break a new block. A tab becomes a space ("1.<tab>text" -> "1. text"). Deleted
  text (``w:del``, ``w:moveFrom``), hidden text (``w:vanish``), field codes, drawings and text boxes are not
  read; inserted text (``w:ins``, ``w:moveTo``), hyperlinks, fields' results and content controls are.
* **Blank lines.** An empty line is written between two paragraphs separated by an empty paragraph, by a table
  cell's edge, or by spacing (the space after the first plus the space before the second, from the paragraph,
  its style chain or the document defaults, at least :data:`BLOCK_SPACING` twips = 6 pt; ``contextualSpacing``
  between paragraphs of one style is honoured): the front matter's blocks (session / dates / agenda lines, the
  title, the report type) come out as in the text layout.
* **Automatic numbering** (``w:numPr``, on the paragraph or its style) is rendered as the reader sees it:
  "12. ", "(a) ", "IV. ", "一、" — the level's ``lvlText`` with each "%N" in level N's format (decimal,
  lower/upper letter, lower/upper Roman, Chinese counting, …), counted as Word counts: per abstract numbering
  (lists — numIds — sharing one continue each other's count), a list's ``startOverride`` restarting the count
  at its first paragraph of that level, lower levels restarting (``lvlRestart`` honoured); then the level's
  suffix (tab or space: one space; nothing). Numbers typed as text are kept as typed. See
  :mod:`pipeline.ingest.wordnumbering`.
* **Footnotes.** A footnote reference is written as the footnote's number (its place in the order of
  references; footnotes with no text are left out) glued to the text where it stands, as the text layout
  prints markers ("……报告。1", "Convention2"); a space is put after it when a letter, an ideograph or a digit
  follows, and between two references in a row (so "。1到" cannot read as one word, nor "2" + "2012" or "3" +
  "4" as one number). After the paragraph carrying references come a rule "__________________", one line
  " N text" per footnote (its paragraphs joined by a space; its own mark ``w:footnoteRef`` left out) and a
  line holding only "\\v", which ends the footnotes for the parser. A footnote whose text does not end a
  sentence is closed by "\\v" and a new rule before the next one (the parser would otherwise read the next
  footnote as its continuation). A footnote with a custom mark (``w:customMarkFollows``, the "*" of
  "临时议程*" / "provisional agenda*") keeps its mark in the text and is written "* text". Footnotes
  referenced in the front matter are written after the body's first paragraph (the front matter's blocks stay
  as they are).
* **Masthead.** Headers and footers are not read as text. When the front matter (the lines before the body)
  prints no document symbol, the symbol of the header shown on the first page (a string like
  CTOC/COP/2012/7, nothing else of it) is written as the first line.

Refused, with :class:`~pipeline.ingest.errors.IngestError` (line 0): bytes that are not a zip archive, an OLE
file (an encrypted ``.docx`` or an old ``.doc``), a zip without the main document part, a part whose XML is
damaged (named), a zip whose entries are encrypted or corrupt, and any part that unpacks to more than
:data:`~pipeline.ingest.wordparts.MAX_PART_BYTES` (a zip bomb).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.ingest.errors import IngestError
from pipeline.ingest.layout import body_start, note_ended
from pipeline.ingest.wordnumbering import Lists, symbol_text
from pipeline.ingest.wordparts import (
    NS_R,
    PPR,
    TYPE,
    VAL,
    Package,
    ParaProps,
    Styles,
    is_on,
    of_type,
    toggle,
    w,
)

__all__ = ["BLOCK_SPACING", "docx_layout"]

#: The spacing between two paragraphs (twips; 120 = 6 pt) from which they are separate blocks (a blank line).
BLOCK_SPACING = 120

_RULE = "_" * 18
_END_NOTES = "\v"
_RE_SYMBOL = re.compile(r"\b[A-Z]{1,8}(?:/[A-Z0-9.]+){2,}\b")  # as the front matter reads symbols
_FRONT_LINES = 60  # the lines searched for a symbol when the body's start is not found

_P, _R, _T, _TAB, _BR, _CR, _TBL, _TR, _TC = (
    w(n) for n in ("p", "r", "t", "tab", "br", "cr", "tbl", "tr", "tc")
)
_RPR, _SDT, _SDT_CONTENT, _CUSTOM_XML = (w(n) for n in ("rPr", "sdt", "sdtContent", "customXml"))
_FOOTNOTE_REF = w("footnoteReference")
_ID = w("id")
_VANISH, _WEB_HIDDEN, _SYM, _CHAR = w("vanish"), w("webHidden"), w("sym"), w("char")
_INLINE_CONTAINERS = {
    w(n) for n in ("ins", "moveTo", "hyperlink", "smartTag", "fldSimple", "customXml", "dir", "bdo")
}
_CHARS = {w("noBreakHyphen"): "-", w("softHyphen"): ""}
_BREAK = None  # a block boundary in the paragraph stream (a table cell's edge)


# ------------------------------------------------------------------------------------------------ the body


@dataclass
class _Note:
    """A footnote as referenced: its mark ("3", or a custom mark "*") and its text."""

    mark: str
    text: str
    numbered: bool


@dataclass
class _Para:
    """A Word paragraph read: its lines and what the layout needs around it."""

    lines: list[str]
    props: ParaProps
    style: str | None
    notes: list[_Note]
    empty: bool


class _Text:
    """Collects a paragraph's text from its runs (and insertions, hyperlinks, fields' results …)."""

    def __init__(self, reader: _Reader | None) -> None:
        self.reader = reader  # None inside a footnote: references are not counted there
        self.parts: list[str] = []
        self.notes: list[_Note] = []
        self.custom: _Note | None = None  # a custom-mark footnote waiting for its mark (the next text)
        self.after_marker = False

    def add(self, text: str) -> None:
        if not text:
            return
        if self.custom is not None and text.strip():  # the custom mark: its symbols ("*", "**"), or a letter
            s = text.strip()
            m = re.match(r"[^\w\s]+", s)
            self.custom.mark = m.group(0) if m else s[0]
            self.custom = None
        if self.after_marker and (text[0].isalnum()):
            self.parts.append(" ")
        self.after_marker = False
        self.parts.append(text)

    def walk(self, el: ET.Element) -> None:
        for child in el:
            tag = child.tag
            if tag == _R:
                self.run(child)
            elif tag in _INLINE_CONTAINERS:
                self.walk(child)
            elif tag == _SDT:
                content = child.find(_SDT_CONTENT)
                if content is not None:
                    self.walk(content)

    def run(self, r: ET.Element) -> None:
        rpr = r.find(_RPR)
        if rpr is not None and (toggle(rpr.find(_VANISH)) or toggle(rpr.find(_WEB_HIDDEN))):
            return
        for child in r:
            tag = child.tag
            if tag == _T:
                self.add((child.text or "").replace("\t", " "))
            elif tag == _TAB:
                self.add(" ")
            elif tag == _BR:
                self.add("\n\n" if child.get(TYPE) in ("page", "column") else "\n")
            elif tag == _CR:
                self.add("\n")
            elif tag == _FOOTNOTE_REF and self.reader is not None:
                self.reference(child)
            elif tag == _SYM:
                char = child.get(_CHAR)
                self.add(symbol_text(chr(int(char, 16))) if char and _is_hex(char) else "")
            elif tag in _CHARS:
                self.add(_CHARS[tag])

    def reference(self, ref: ET.Element) -> None:
        assert self.reader is not None
        text = self.reader.note_text(ref.get(_ID, ""))
        if not text:  # no such footnote, or one without text: nothing to print or attach
            return
        if is_on(ref.get(w("customMarkFollows"))):
            self.custom = _Note("*", text, numbered=False)
            self.notes.append(self.custom)
            return
        self.reader.note_count += 1
        mark = str(self.reader.note_count)
        if self.after_marker:  # two references in a row: "3 4", never one number "34"
            self.parts.append(" ")
        self.parts.append(mark)
        self.after_marker = True
        self.notes.append(_Note(mark, text, numbered=True))

    def text(self) -> str:
        return "".join(self.parts)


def _is_hex(s: str) -> bool:
    return bool(re.fullmatch(r"[0-9A-Fa-f]{1,6}", s))


def _blocks(container: ET.Element) -> Iterator[ET.Element | None]:
    """The paragraphs of a container in document order, tables' cells included; None at a cell's edges."""
    for child in container:
        tag = child.tag
        if tag == _P:
            yield child
        elif tag == _TBL:
            yield _BREAK
            for cell in _cells(child):
                yield _BREAK
                yield from _blocks(cell)
            yield _BREAK
        elif tag == _SDT:
            content = child.find(_SDT_CONTENT)
            if content is not None:
                yield from _blocks(content)
        elif tag == _CUSTOM_XML:
            yield from _blocks(child)


def _cells(table: ET.Element) -> Iterator[ET.Element]:
    """A table's cells, row by row (rows and cells may be wrapped in content controls)."""

    def unwrap(el: ET.Element, want: str) -> Iterator[ET.Element]:
        for child in el:
            if child.tag == want:
                yield child
            elif child.tag == _SDT:
                content = child.find(_SDT_CONTENT)
                if content is not None:
                    yield from unwrap(content, want)
            elif child.tag == _CUSTOM_XML:
                yield from unwrap(child, want)

    for row in unwrap(table, _TR):
        yield from unwrap(row, _TC)


class _Reader:
    """Reads the body's paragraphs, numbering them and counting footnote references in document order."""

    def __init__(self, styles: Styles, lists: Lists, footnotes: ET.Element | None) -> None:
        self.styles = styles
        self.lists = lists
        self.note_count = 0
        self.footnotes: dict[str, ET.Element] = {}
        if footnotes is not None:
            for note in footnotes.iter(w("footnote")):
                if note.get(TYPE, "normal") == "normal":
                    self.footnotes[note.get(_ID, "")] = note

    def note_text(self, note_id: str) -> str:
        """A footnote's text: its paragraphs joined by a space, without its own mark."""
        note = self.footnotes.get(note_id)
        if note is None:
            return ""
        texts = []
        for p in _blocks(note):
            if p is not None:
                collector = _Text(None)
                collector.walk(p)
                texts.append(" ".join(collector.text().split()))
        return " ".join(t for t in texts if t)

    def paragraphs(self, body: ET.Element) -> Iterator[_Para | None]:
        for p in _blocks(body):
            yield None if p is None else self.paragraph(p)

    def paragraph(self, p: ET.Element) -> _Para:
        ppr = p.find(PPR)
        style_el = ppr.find(w("pStyle")) if ppr is not None else None
        style = style_el.get(VAL) if style_el is not None else self.styles.default_style
        props = self.styles.props(style).merged(ppr)
        collector = _Text(self)
        collector.walk(p)
        text = collector.text()
        label = self.lists.label(props.num_id, props.ilvl, style) if props.num_id not in (None, "0") else ""
        lines = [line.strip() for line in (label + text).split("\n")]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        return _Para(lines, props, style, collector.notes, empty=not lines and not collector.notes)


# ---------------------------------------------------------------------------------------------- the layout


def _note_lines(notes: list[_Note]) -> list[str]:
    """The footnotes after a paragraph: a rule, " N text" per footnote, "\\v"; a footnote whose text does not
    end a sentence is closed before the next one."""
    out = [_RULE]
    for k, note in enumerate(notes):
        if k and not (note_ended(notes[k - 1].text, "zh") and note_ended(notes[k - 1].text, "en")):
            out += [_END_NOTES, _RULE]
        if note.numbered:
            out.append(f" {note.mark} {note.text}")
        else:
            body = note.text
            while body.startswith(note.mark):  # the mark printed in the note (twice, as LibreOffice saves it)
                body = body[len(note.mark) :].lstrip()
            out.append(f"{note.mark} {body}")
    out.append(_END_NOTES)
    return out


def _spaced(prev: _Para, cur: _Para) -> bool:
    """Whether the spacing between two paragraphs makes them separate blocks."""
    same_style = prev.style == cur.style
    after = 0 if (prev.props.contextual and same_style) else prev.props.space("after")
    before = 0 if (cur.props.contextual and same_style) else cur.props.space("before")
    return after + before >= BLOCK_SPACING


def _header_symbol(package: Package, body: ET.Element, rels: dict[str, tuple[str, str]]) -> str:
    """The document symbol printed in the header of the first page, or ""."""
    sect = next((s for s in body.iter(w("sectPr"))), None)
    if sect is None:
        return ""
    refs = {ref.get(TYPE, "default"): ref.get(f"{{{NS_R}}}id", "") for ref in sect.iter(w("headerReference"))}
    first_page = bool(toggle(sect.find(w("titlePg"))))
    rel_id = refs.get("first") if first_page else refs.get("default")
    if not rel_id or rel_id not in rels:
        return ""
    header = package.xml(rels[rel_id][1])
    if header is None:
        return ""
    text = " ".join(t.text or "" for t in header.iter(_T))
    m = _RE_SYMBOL.search(text)
    return m.group(0) if m else ""


def docx_layout(raw: bytes, path: str | Path) -> str:
    """A Word report (``.docx`` bytes) as the layout text the report parser reads.

    Args:
        raw: the file's bytes.
        path: the file, named in error messages.

    Returns:
        The layout text (lines joined by "\\n"): front matter blocks, headings, numbered paragraphs and items
        with their automatic numbers, each paragraph's footnotes after a rule and ended by a "\\v" line (see
        the module's rules); parse it with :func:`pipeline.ingest.parse_report`.

    Raises:
        IngestError: not a zip archive, an encrypted or old-format (OLE) Word file, no main document part,
            damaged XML (the part named), a damaged or encrypted zip entry, a part over
            :data:`~pipeline.ingest.wordparts.MAX_PART_BYTES` unpacked.
    """
    package = Package(raw, path)
    main = "word/document.xml"
    root_rels = package.relationships("")
    main = of_type(root_rels, "officeDocument") or main
    if main not in package.names:
        main = "word/document.xml"
    document = package.xml(main)
    if document is None:
        raise IngestError(path, 0, "is not a Word .docx file (the zip archive holds no word/document.xml)")
    body = document.find(w("body"))
    if body is None:
        raise IngestError(path, 0, f"is a damaged Word file: {main} has no body")
    rels = package.relationships(main)

    def part(kind: str, default: str) -> ET.Element | None:
        return package.xml(of_type(rels, kind) or default)

    styles = Styles(part("styles", "word/styles.xml"))
    reader = _Reader(styles, Lists(part("numbering", "word/numbering.xml"), styles), part("footnotes", ""))
    paras = list(reader.paragraphs(body))
    body_index = next(
        (i for i, p in enumerate(paras) if p is not None and p.lines and body_start(p.lines) < len(p.lines)),
        None,
    )
    front = [
        line
        for p in (paras[:body_index] if body_index is not None else paras)
        if p is not None
        for line in p.lines
    ]
    out: list[str] = []
    if not any(_RE_SYMBOL.search(line) for line in front[:_FRONT_LINES]):
        symbol = _header_symbol(package, body, rels)
        if symbol:
            out += [symbol, ""]
    deferred: list[_Note] = []  # the footnotes of the front matter, written after the body's first line
    prev: _Para | None = None
    blank = False
    for i, para in enumerate(paras):
        if para is None or para.empty:
            blank = True
            continue
        if prev is not None and (blank or _spaced(prev, para)):
            out.append("")
        blank = False
        out += para.lines
        notes = para.notes
        if body_index is None or i < body_index:
            deferred, notes = deferred + notes, []
        elif deferred:
            deferred, notes = [], deferred + notes
        if notes:
            out += _note_lines(notes)
        prev = para
    if deferred:
        out += _note_lines(deferred)
    return "\n".join(out) + "\n"
