"""The layout parser: a report's text (Chinese or English, in the plain-text layout of the CTOC documents)
into a :class:`~pipeline.corpus.Corpus`.

:class:`ReportParser` reads the body line by line; each layout rule is one of its methods. Every decision is a
general rule, never a patch for one paragraph:

* A line opens a new unit only at a block start (:mod:`pipeline.ingest.layout`); anywhere else it continues
  the unit before it, so "28 条", "2012 年" or "10 月 19 日" at the start of a line stay in their sentence.
* **Chapters** (:meth:`ReportParser._chapter`): "一." (Chinese) at a block start is always a chapter heading.
  In English, "I." … at a block start is a chapter heading when its Roman numeral is the next chapter number
  of the part, or when it reads as a heading block; a single letter that is also a Roman numeral ("C.", "D.",
  "I.") is a lettered section when the letter sequence of the chapter expects it.
* **Lettered sections** (:meth:`ReportParser._lettered_section`): "A." at a block start when its line group
  reads as a heading block.
* **Numbered paragraphs** (:meth:`ReportParser._numbered`): "N. text" at a block start is paragraph N only
  when N is the next paragraph number of the current part (:mod:`pipeline.ingest.numbering`). A heading block
  numbered 1, 2, … inside a section is a sub-heading. Anything else is a numbering error.
* **Lettered items** (:meth:`ReportParser._item`): "(a) …" after a paragraph or item, in letter order; "(i)"
  after an item ending in ":" opens its sub-items, which stay in its text.
* **Printed deletions** (:meth:`ReportParser._deletion`): "12.-14. [Deleted]", "12-14. (deleted)", "12.
  [Deleted]" or "12.-14. [删除]" takes its numbers: they are absent from the paragraphs (no text is invented),
  the numbering goes on after them, and the line is kept in :attr:`Corpus.residue`. Nothing else may skip a
  number.
* **Headings** (:meth:`ReportParser._close`): a heading's continuation lines must not read as prose (Chinese:
  a line holding 。；！？; English: a line ending in . ; ! ?): text that is in no numbered paragraph is an
  error, never glued to a heading.
* **Annexes** (:meth:`ReportParser._annex`): a line "附件" / "附件一" … or "Annex" / "Annex I" … at a block
  start opens an annex: a heading of level 0 whose label is the annex as printed ("Annex II", "附件二") and
  whose title is the annex title lines that follow (the section path reads
  "Annex II. Draft recommendations › A. …"); chapters, lettered and numbered headings inside it nest under it
  with levels 1–3. Its first numbered paragraph tells whether its numbering restarts
  (:mod:`pipeline.ingest.numbering`).
* **Footnotes** (:mod:`pipeline.ingest.footnotes`): the lines after a rule "_____" are read by a
  :class:`~pipeline.ingest.footnotes.NoteReader`; once the body is read, each footnote is attached to the
  paragraph carrying its marker.
* **Pages** (:meth:`ReportParser._read_line`): a line holding a form feed "\\f" (what ``pdftotext`` prints,
  and what the PDF reader writes between pages) is a page break: it ends the page's footnotes, and each
  paragraph records the page it starts on (1-based; None when the text has no form feed). A line holding a
  vertical tab "\\v" ends footnotes without a page break (the Word reader writes one after the footnotes
  of a paragraph).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.corpus import Corpus, Item, Metadata, Paragraph, Section, Sentence
from pipeline.ingest.errors import IngestError
from pipeline.ingest.footnotes import NoteReader, attach_footnotes
from pipeline.ingest.front import parse_front_matter
from pipeline.ingest.language import detect_language, settle_language
from pipeline.ingest.layout import (
    RE_CHAPTER,
    RE_DELETED,
    RE_ITEM,
    RE_LETTER,
    RE_NUMBER_ONLY,
    RE_NUMBERED,
    RE_NUMBERED_LONG,
    RE_ROMAN,
    RE_RULE,
    annex_part,
    body_start,
    ends_block,
    is_heading_block,
    prose_line,
)
from pipeline.ingest.numbering import Numbering, Part
from pipeline.ingest.numerals import roman_value
from pipeline.store import sha256_bytes
from pipeline.text import join_fragment, split_sentences

__all__ = ["ReportParser", "parse_report"]


@dataclass
class _Unit:
    """The unit being read: its text grows with each continuation line until the next unit opens."""

    kind: str  # "heading" | "para" | "item" | "deleted"
    text: str
    line: int
    ref: Section | Paragraph | Item | None
    lang: str = "zh"
    joined: list[tuple[int, str]] = field(default_factory=list)  # a heading's continuation lines

    def ends_block(self) -> bool:
        """A heading, a deletion, or text ending a sentence (possibly followed
        by a footnote marker: "。1")."""
        return self.kind in ("heading", "deleted") or ends_block(self.text, self.lang)


#: The most numbered paragraphs a report may have (the longest UN reports have a few hundred; a limit keeps a
#: wrong file from taking the library's time and memory). Numbers up to 99,999 are read.
MAX_PARAGRAPHS = 20_000


def parse_report(
    text: str, path: str | Path = "<text>", sha256: str | None = None, lang: str | None = None
) -> Corpus:
    """Parse a report's text into a :class:`Corpus`.

    Args:
        text: the report, decoded.
        path: shown in error messages and recorded in the corpus.
        sha256: hash of the source bytes; computed from ``text`` when omitted.
        lang: the report's language ("zh", "en"; fr/es/ru/ar are refused as not supported yet), or None to
            detect it (:func:`~pipeline.ingest.language.detect_language` on the body).

    Returns:
        The corpus; ``metadata.language`` and every paragraph's ``lang`` are the language, every paragraph's
        ``document`` is the symbol when the front matter prints one (else "": see
        :func:`~pipeline.ingest.identity.settle_identity`).

    Raises:
        IngestError: a language that is not supported, cannot be told or contradicts the text; numbering gaps,
            duplicates or order breaks; a paragraph with no text; prose in no numbered paragraph; a footnote
            without a marker; or no paragraphs at all; the message names file and line.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = body_start(lines)
    detected = detect_language("\n".join(lines[start:]) if start < len(lines) else text)
    lang = settle_language(path, lang, detected)
    if start == len(lines):
        first = "'1. ' or 'I. '" if lang == "en" else "'1. '"
        raise IngestError(path, 1, f"no numbered paragraphs found (expected a line starting with {first})")
    meta, front = parse_front_matter(lines[:start], lang)
    if sha256 is None:
        sha256 = sha256_bytes(text.encode("utf-8"))
    corpus = ReportParser(lines, path, lang, front).parse(start, meta, sha256)
    if len(corpus.paragraphs) > MAX_PARAGRAPHS:
        raise IngestError(
            path,
            1,
            f"{len(corpus.paragraphs):,} numbered paragraphs; reports of at most {MAX_PARAGRAPHS:,} are read",
        )
    return corpus


class ReportParser:
    """Reads the body of one report, line by line, into sections, paragraphs and footnotes.

    Args:
        lines: the report's lines (the front matter's too: line numbers count from the file's first line).
        path: the report, for error messages and the corpus.
        lang: "zh" or "en": the layout rules to apply.
        front: the front matter's lines; the note to an asterisk of the front matter is added to them.
    """

    def __init__(self, lines: list[str], path: str | Path, lang: str, front: list[str]) -> None:
        self.lines = lines
        self.path = path
        self.lang = lang
        self.front = front
        self.sections: list[Section] = []
        self.paragraphs: list[Paragraph] = []
        self.residue: list[tuple[int, str]] = []  # (line, text) of rules and printed deletions
        self.path_stack: list[Section] = []  # current heading path
        self.numbering = Numbering(path)
        self.unit: _Unit | None = None
        self.footnotes = NoteReader(lang, front)
        self.sub_count = 0  # numbered sub-headings of the current lettered section
        self.chapters = 0  # chapters of the current part (English Roman numerals)
        self.letters = 0  # lettered sections of the current chapter
        self.page = 1  # the page being read (form feeds counted)
        self.paged = any("\f" in line for line in lines)

    def parse(self, start: int, meta: Metadata, sha256: str) -> Corpus:
        """Read the body from line index ``start`` on into a corpus carrying ``meta`` and ``sha256``.

        Raises:
            IngestError: a layout rule broken (file and line named).
        """
        for idx in range(start, len(self.lines)):
            self._read_line(idx)
        self.footnotes.flush()
        self._close()
        for para in self.paragraphs:
            if not para.text and not para.items:
                part = f" of the {para.part}" if para.part else ""
                raise IngestError(self.path, para.line, f"paragraph {para.number}{part} has no text")
        attach_footnotes(self.path, self.paragraphs, self.footnotes.notes, self.lang)
        for para in self.paragraphs:
            para.sentences = [Sentence(sp.text, sp.start, sp.end) for sp in split_sentences(para.full_text)]
            para.lang = self.lang
            para.document = meta.symbol or ""
        return Corpus(
            path=str(self.path),
            sha256=sha256,
            metadata=meta,
            sections=self.sections,
            paragraphs=self.paragraphs,
            front_matter=self.front,
            residue=self.residue,
        )

    # ------------------------------------------------------------------------------------------- lines

    def _read_line(self, idx: int) -> None:
        """Read line ``idx``: a rule, a footnote line, a line opening a unit, or a continuation."""
        raw = self.lines[idx]
        lineno, s = idx + 1, raw.strip()
        if "\f" in raw or "\v" in raw:  # a page break, or the end of a paragraph's footnotes
            self.footnotes.end()
            self.page += raw.count("\f")
        if not s:
            return
        if RE_RULE.match(s):
            self.residue.append((lineno, s))
            self.footnotes.rule()
            return
        if self.footnotes.read(s, lineno):
            return
        if (self.unit is None or self.unit.ends_block()) and self._open_unit(idx, s, lineno):
            return
        self._continue_unit(s, lineno)

    def _open_unit(self, idx: int, s: str, lineno: int) -> bool:
        """At a block start, the first rule that opens a unit with this line; False when none does."""
        return (
            self._annex(s, lineno)
            or self._chapter(idx, s, lineno)
            or self._lettered_section(idx, s, lineno)
            or self._deletion(s, lineno)
            or self._numbered(idx, s, lineno)
            or self._item(s, lineno)
        )

    def _continue_unit(self, s: str, lineno: int) -> None:
        """A line that opens nothing continues the unit being read (a broken line, joined to it)."""
        unit = self.unit
        if unit is None:
            raise IngestError(self.path, lineno, "text before the first heading or paragraph")
        if unit.kind == "deleted":
            raise IngestError(
                self.path,
                lineno,
                f"text after the deleted paragraphs of line {unit.line} is in no numbered paragraph",
            )
        if unit.kind == "heading":
            unit.joined.append((lineno, s))
        unit.text = join_fragment(unit.text, s)

    # ---------------------------------------------------------------------------------------- headings

    def _close(self) -> None:
        """Complete the unit being read: a heading's title (its continuation lines must not read as prose),
        a paragraph's or item's text."""
        unit = self.unit
        if unit is None:
            return
        if isinstance(unit.ref, Section):
            if (bad := prose_line(unit.joined, self.lang)) is not None:
                raise IngestError(
                    self.path,
                    bad,
                    f"text after the heading at line {unit.line} is in no numbered paragraph "
                    "(a paragraph must start with its number)",
                )
            unit.ref.title = unit.text
        elif isinstance(unit.ref, (Paragraph, Item)):
            unit.ref.text = unit.text
        self.unit = None

    def _open_heading(self, label: str, title: str, level: int, lineno: int) -> None:
        """Open a heading of ``level`` (0 annex, 1 chapter, 2 lettered section, 3 numbered sub-heading)."""
        self._close()
        sec = Section(label=label, title=title, level=level, line=lineno)
        self.sections.append(sec)
        while self.path_stack and self.path_stack[-1].level >= level:
            self.path_stack.pop()
        self.path_stack.append(sec)
        if level < 3:
            self.sub_count = 0
        if level < 2:
            self.letters = 0
        self.unit = _Unit("heading", title, lineno, sec, self.lang)

    def _annex(self, s: str, lineno: int) -> bool:
        """An annex heading "附件二" / "Annex II" (level 0); its first paragraph
        will tell its numbering part."""
        annex = annex_part(s, self.lang)
        if annex is None:
            return False
        name, number = annex
        self.numbering.open_annex(s, name, number, lineno)
        # the label as printed ("附件二"; "Annex II" whatever the case of "ANNEX")
        label = s if self.lang == "zh" else "Annex" + s[5:]
        self._open_heading(label, "", 0, lineno)
        self.chapters = 0
        return True

    def _chapter(self, idx: int, s: str, lineno: int) -> bool:
        """A chapter heading: "一." in Chinese, always; "IV." in English when it is the next chapter number
        (unless the letter sequence of the chapter expects that letter as a lettered section) or when it is
        not a single letter and its line group reads as a heading block."""
        if self.lang == "zh":
            if m := RE_CHAPTER.match(s):
                self._open_heading(m.group(1), m.group(2), 1, lineno)
                return True
            return False
        m = RE_ROMAN.match(s)
        value = roman_value(m.group(1)) if m else None
        if m is None or not value:
            return False
        numeral = m.group(1)
        letter_expected = len(numeral) == 1 and ord(numeral) - ord("A") == self.letters
        if (value == self.chapters + 1 and not letter_expected) or (
            not RE_LETTER.match(s) and is_heading_block(self.lines, idx, self.lang)
        ):
            self.chapters = value
            self._open_heading(numeral, m.group(2), 1, lineno)
            return True
        return False

    def _lettered_section(self, idx: int, s: str, lineno: int) -> bool:
        """A lettered section heading: "A." whose line group reads as a heading block."""
        if (m := RE_LETTER.match(s)) and is_heading_block(self.lines, idx, self.lang):
            self.letters = ord(m.group(1)) - ord("A") + 1
            self._open_heading(m.group(1), m.group(2), 2, lineno)
            return True
        return False

    # -------------------------------------------------------------------------------------- paragraphs

    def _deletion(self, s: str, lineno: int) -> bool:
        """A printed deletion "12.-14. [Deleted]": its numbers are taken (no paragraph), the line is kept in
        the residue."""
        m = RE_DELETED.match(s)
        if m is None:
            return False
        first = int(m.group(1))
        last = int(m.group(2) or first)
        if last < first:
            message = f"deleted paragraphs {first}-{last}: the range runs backwards"
            raise IngestError(self.path, lineno, message)
        part = self.numbering.claim(first)
        if part is None:
            raise self.numbering.error(first, lineno)
        self._close()
        part.take(first, last, lineno)
        self.residue.append((lineno, s))
        self.unit = _Unit("deleted", s, lineno, None, self.lang)
        return True

    def _numbered(self, idx: int, s: str, lineno: int) -> bool:
        """A numbered line "N. text": paragraph N when a part expects N, else a numbered sub-heading 1, 2, …
        inside a section when it reads as a heading block, else a numbering error ("N." alone is one too)."""
        if m := RE_NUMBER_ONLY.match(s):
            raise IngestError(self.path, lineno, f"paragraph {m.group(1)} has no text")
        m = RE_NUMBERED.match(s) or RE_NUMBERED_LONG.match(s)
        if m is None:
            return False
        n = int(m.group(1))
        part = self.numbering.claim(n)
        if part is not None:
            self._open_paragraph(part, n, m.group(2), lineno)
            return True
        if n >= 1000:  # "2012. …" opening a line is text unless the numbering expects that paragraph
            return False
        if n == self.sub_count + 1 and self.path_stack and is_heading_block(self.lines, idx, self.lang):
            self.sub_count = n
            self._open_heading(m.group(1), m.group(2), 3, lineno)
            return True
        raise self.numbering.error(n, lineno)

    def _open_paragraph(self, part: Part, n: int, text: str, lineno: int) -> None:
        """Open paragraph ``n`` of ``part`` under the current heading path."""
        self._close()  # completes any heading, so the path's strings are final
        para = Paragraph(
            number=n,
            section=[sec.heading for sec in self.path_stack],
            text="",
            line=lineno,
            part=part.name,
            page=self.page if self.paged else None,
        )
        self.paragraphs.append(para)
        part.take(n, n, lineno)
        self.unit = _Unit("para", text, lineno, para, self.lang)

    def _item(self, s: str, lineno: int) -> bool:
        """A lettered item "(a) text" after a paragraph or item: the paragraph's next one, in letter order."""
        unit = self.unit
        m = RE_ITEM.match(s)
        if not (m and self.paragraphs and unit is not None and unit.kind in ("para", "item")):
            return False
        para = self.paragraphs[-1]
        want = chr(ord("a") + len(para.items))
        # "(i)" after an item ending in ":" opens its sub-items (i), (ii), which stay in its text
        sub_items = want == "i" and unit.kind == "item" and unit.text.rstrip().endswith((":", "："))
        if m.group(1) != want or sub_items:
            return False
        self._close()
        item = Item(label=want, text="", line=lineno)
        para.items.append(item)
        self.unit = _Unit("item", m.group(2), lineno, item, self.lang)
        return True
