"""Footnotes: read them where they are printed (:class:`NoteReader`), then find each one's marker in the
paragraphs, take it out of the text and attach the footnote there (:func:`attach_footnotes`).

After a rule "_____", lines " k text" with k the next footnote number are footnotes; a footnote ends at its
terminal punctuation, and the body resumes — joined to the sentence the page break interrupted. A line
"* text" there is the note to an asterisk of the front matter ("agenda*"): it goes to the front matter.

A footnote marker is the next footnote number glued to what precedes it and not part of a longer number or
identifier. Chinese: glued to a CJK character or punctuation ("……平方英里。1"). English: glued to a lower-case
word ("Convention2"), or after punctuation closing a word ("Somalia.3 The", "Protocol,”4"), or after a
number's full stop when a new sentence follows ("in 2013.2 The", "resolution 55/25.3 The") or its comma ("in
2012,4 which"); never inside a longer number ("2012", "1.5", "1,300"), after "/" ("65/230", "A/RES/55/25"),
glued to a capital ("G20") or inside a symbol or address ("CTOC/COP/WG.2", "www…/page1"). The marker is
removed from the text (Chinese: with the space after it) and the footnote is attached to that paragraph at
that offset; footnotes are matched in order, each on or after its marker's page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.corpus import Footnote, Paragraph
from pipeline.ingest.errors import IngestError
from pipeline.ingest.layout import RE_FOOTNOTE, RE_STAR_NOTE, note_ended
from pipeline.text import CJK_IDEOGRAPHS, CJK_PUNCTUATION, join_fragment

__all__ = ["NoteReader", "attach_footnotes"]

_EN_CLOSERS = "”’\"')]"


@dataclass
class _Note:
    """The footnote being read: its number ("*" for the note to an asterisk of the front matter)."""

    marker: int | str
    text: str
    line: int

    @property
    def numbered(self) -> bool:
        """A numbered footnote (not the note to an asterisk)."""
        return self.marker != "*"


class NoteReader:
    """Reads the footnotes printed after each rule "_____" while the parser reads the body.

    Args:
        lang: "zh" or "en", whose rule for the end of a footnote applies.
        front: the front matter's lines; the note to an asterisk of the front matter is added to them.

    Attributes:
        notes: the numbered footnotes read and complete: (number, text, line), in order.
    """

    def __init__(self, lang: str, front: list[str]) -> None:
        self.lang = lang
        self.front = front
        self.notes: list[tuple[int, str, int]] = []
        self.note: _Note | None = None  # the note being read
        self.active = False  # after a rule, until the body resumes

    def rule(self) -> None:
        """A rule: footnotes follow. A note still open when a rule comes is not kept."""
        self.active = True
        self.note = None

    def read(self, s: str, lineno: int) -> bool:
        """Read a line after a rule: the open note's continuation, the next footnote or the note to an
        asterisk. False for a line of the body (then the footnotes end) or when no rule came before."""
        if not self.active:
            return False
        note = self.note
        if note is not None and not note_ended(note.text, self.lang):
            note.text = join_fragment(note.text, s)
            if not note.numbered:
                self.front.append(s)
            return True
        m = RE_FOOTNOTE.match(s)
        if m and int(m.group(1)) == len(self.notes) + (note is not None and note.numbered) + 1:
            self.flush()
            self.note = _Note(int(m.group(1)), m.group(2), lineno)
            return True
        if RE_STAR_NOTE.match(s):  # the note to an asterisk of the front matter ("agenda*")
            self.flush()
            self.note = _Note("*", s, lineno)
            self.front.append(s)
            return True
        self.flush()
        self.active = False
        return False

    def end(self) -> None:
        """The footnotes end here (a page break, or the end of a paragraph's footnotes in a Word file): the
        open note is kept and the next line is the body's."""
        self.flush()
        self.active = False

    def flush(self) -> None:
        """Keep the open numbered footnote (the note to an asterisk is in the front matter already)."""
        if self.note is not None and self.note.numbered:
            self.notes.append((int(self.note.marker), self.note.text, self.note.line))
        self.note = None


def _marker_zh(text: str, marker: str, pos: int) -> tuple[int, int] | None:
    """The first Chinese footnote marker ``marker`` at or after ``pos``: (start, end) of the digits and the
    spaces after them, to remove."""
    pattern = re.compile(
        rf"(?<=[{CJK_PUNCTUATION}{CJK_IDEOGRAPHS}”’]){marker}(?![\d.,%])(?=\s|$|[{CJK_PUNCTUATION}])"
    )
    m = pattern.search(text, pos)
    if m is None:
        return None
    end = m.end()
    while end < len(text) and text[end] == " ":  # the marker's own spacing goes with it
        end += 1
    return m.start(), end


def _marker_en(text: str, marker: str, pos: int) -> tuple[int, int] | None:
    """The first English footnote marker ``marker`` at or after ``pos``: (start, end) of the digits to remove.

    Accepted: glued to a lower-case word ("Convention2", "Convention2,"); after a full stop, "!" or "?" that
    closes a word ("Somalia.3"), an acronym ("UNODC.3") or a number ("in 2013.2", "resolution 5/1.3") when a
    new sentence follows (white space then a capital, or the end); after "," ";" ":" that follows a word or a
    number ("in 2012,4 which"); after a closing quote or bracket that follows no digit. Refused: inside a
    longer number ("2012", "1.5", "1,300"), after "/" ("A/RES/55/25"), inside a token holding "/" unless after
    the number that ends it and punctuation ("CTOC/COP/WG.2", "www.unodc.org/x2" are refused; "resolution
    55/25.3 The" is a marker).
    """
    for m in re.finditer(rf"(?<!\d){marker}(?!\d)", text[pos:]):
        start, end = pos + m.start(), pos + m.end()
        if _is_marker_en(text, start, end):
            return start, end
    return None


def _is_marker_en(text: str, start: int, end: int) -> bool:
    """Whether the digits at ``text[start:end]`` (no digit on either side) are a footnote marker by the rules
    of :func:`_marker_en`, read from the two characters before them, their token and what follows them."""
    prev = text[start - 1] if start else ""
    before = text[start - 2] if start > 1 else ""
    nxt = text[end] if end < len(text) else ""
    token = text[:start].rsplit(None, 1)[-1] if text[:start].strip() else ""
    addressy = "/" in token or "@" in token or "www" in token.lower()
    space_after = nxt == "" or nxt.isspace()
    punct_after = nxt in ",;:.)" and not (nxt in ".," and text[end + 1 : end + 2].isdigit())
    rest = text[end:].lstrip()
    new_sentence = not rest or (space_after and (rest[0].isupper() or rest[0] in '“"('))
    if prev.isalpha() and prev.islower():
        return (space_after or punct_after) and not addressy
    if prev in ".!?":
        if before.isdigit():
            return new_sentence
        if before.isupper():
            return new_sentence and not addressy
        return space_after and (before.isalpha() or before in _EN_CLOSERS) and not addressy
    if prev in ",;:":
        # after a word, or a number or symbol that ends there ("in 2012,4 which"; "1,300" is refused above)
        return space_after and (
            before.isdigit() or ((before.isalpha() or before in _EN_CLOSERS) and not addressy)
        )
    if prev in _EN_CLOSERS:
        return (space_after or punct_after) and bool(before) and not before.isdigit() and not addressy
    return False


def attach_footnotes(
    path: str | Path, paragraphs: list[Paragraph], notes: list[tuple[int, str, int]], lang: str = "zh"
) -> None:
    """Move each footnote to the paragraph carrying its marker, and take the marker out of the text.

    Args:
        path: the report, for error messages.
        paragraphs: the report's paragraphs, in order; changed in place.
        notes: the footnotes as printed, in order: (number, text, line).
        lang: "zh" or "en", whose marker rules apply.

    Raises:
        IngestError: a footnote whose marker is found in no paragraph up to its line, after the previous one.
    """
    find = _marker_zh if lang == "zh" else _marker_en
    after = (0, 0)  # (paragraph index, offset) after which the next marker must stand
    for marker, text, line in [(str(n), t, ln) for n, t, ln in notes]:
        found = None
        for pi in range(after[0], len(paragraphs)):
            p = paragraphs[pi]
            if p.line > line:
                break  # a footnote is printed on the page of its marker: never before it
            span = find(p.text, marker, after[1] if pi == after[0] else 0)
            if span:
                found = (pi, span)
        if found is None:
            raise IngestError(
                path, line, f"footnote {marker} is printed but its marker is not found in any paragraph"
            )
        pi, (start, end) = found
        p = paragraphs[pi]
        p.text = p.text[:start] + p.text[end:]
        p.footnotes.append(Footnote(marker=marker, text=text, offset=start, line=line))
        after = (pi, start)
