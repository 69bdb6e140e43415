"""The PDF reader: a report's text layer, laid out by the positions and fonts of its characters, into layout
text (:mod:`pipeline.ingest.formats`).

PDFium (``pypdfium2``, Apache-2.0/BSD) gives every character with its box, baseline and font size; the layout
is then decided from the whole document's geometry, never from one report's strings:

* **Lines**: characters between PDFium's line breaks, sorted top to bottom and left to right. A horizontal gap
  of half a character or more (a tab after "1.") reads as a space; a run of digits set smaller and raised
  above the line's baseline is a footnote marker, glued to the text before it ("……报告。1", "Convention2").
* **Page furniture**: a line printed at the same height with the same text (digits aside) on many pages is a
  running header or footer ("CTOC/COP/2012/7" alternating left and right, "4/11"). Everything in the
  header band of pages 2 on (page 1 carries the masthead there) and in the footer band of every page (page
  1's job number "V.12-55236 (C)" and barcode "*1255236*") is dropped. A document too short to repeat its
  furniture falls back on the UN conventions for page numbers, job numbers and barcodes in the margins.
* **Footnotes**: the lines at the foot of a page set smaller than the body text, from the first one that
  starts with the next footnote number (or "*", the note to the agenda's asterisk): written after a rule
  "_____" as " N text", then the page break — where the text parser expects them. A footnote too long for
  its page goes on at the foot of the next page, before that page's first footnote: those lines are joined
  to it. The body size is the largest size that sets a fifth of the characters (long footnotes can outweigh
  the body).
* **Blocks**: a vertical gap wider than 1.75 lines is a blank line (the front matter's blocks).
* **Pages**: a form feed line between pages, so each paragraph records its page.
"""

from __future__ import annotations

import ctypes
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from pipeline.ingest.errors import IngestError
from pipeline.text import CJK_IDEOGRAPHS, CJK_PUNCTUATION, join_fragment

__all__ = ["pdf_layout"]

RULE = "__________________"
_SMALL = 0.92  # a footnote line is set smaller than this share of the body size
#: the words of a margin line that is furniture: a page number "4/11", a job number "V.12-55236" and its
#: language "(C)", a barcode "*1255236*"
_RE_FURNITURE = re.compile(r"^(?:\d{1,4}/\d{1,4}|[A-Z]{1,2}\.?\d{2}-\d{4,6}|\([A-Z]\)|\*\d{5,}\*)$")
_RE_CJK = re.compile(f"[{CJK_IDEOGRAPHS}]")
_RE_CJK_PUNCT = re.compile(f"[{CJK_PUNCTUATION}]")
_QUOTES = "“”‘’\"'"
#: what opens a numbered paragraph, item or heading line before its tab: "12.", "(a)", "IV.", "一."
_RE_ENUMERATOR = re.compile(
    r"^\s*(?:\d{1,5}[.．]|\([a-z]{1,4}\)|[IVXL]{1,6}[.．]|[A-Z][.．]|[一二三四五六七八九十]+[.．、])$"
)
_MARGIN = 0.10  # share of the page height at the top and bottom where a lone furniture line may stand


@dataclass
class _Char:
    ch: str
    left: float
    right: float
    base: float  # baseline, from the page's top
    size: float
    generated: bool = False  # a space PDFium inferred from a gap (no glyph printed)


@dataclass
class _Line:
    """A printed line: its text and where and how it is set (coordinates from the page's top-left)."""

    page: int
    chars: list[_Char]
    text: str = ""
    x0: float = 0.0
    top: float = 0.0
    bottom: float = 0.0
    size: float = 0.0
    lead: str = ""  # the raised digits opening the line (a footnote's number), if any
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        solid = [c for c in self.chars if not c.ch.isspace()]
        self.size = median(c.size for c in solid) if solid else 0.0
        base = median(c.base for c in solid if c.size >= self.size * 0.9) if solid else 0.0
        self.top = base - self.size
        self.bottom = base + self.size * 0.25
        self.x0 = min((c.left for c in solid), default=0.0)
        self.text, self.lead = _line_text(self.chars, self.size, base)

    @property
    def shape(self) -> str:
        """The text with digits folded and its words in order: what a running header or footer keeps from
        page to page, on the left or the right ("2/3 V.13-85217" on even pages, "V.13-85217 3/3" on odd)."""
        return " ".join(sorted(re.sub(r"\d+", "#", self.text).split()))


def _raised(c: _Char, size: float, base: float) -> bool:
    return c.ch.isdigit() and c.size < size * 0.8 and c.base < base - size * 0.15


def _spaced(left: str, right: str) -> bool:
    """Whether a gap between two characters is a space: between Latin letters or digits, and between an
    ideograph and a Latin letter or digit (the UN Chinese convention, "西亚 12 个", as
    :func:`pipeline.text.join_fragment` joins lines); never next to CJK punctuation or between ideographs
    (justified Chinese spreads them apart)."""
    if _RE_CJK_PUNCT.match(left) or _RE_CJK_PUNCT.match(right):
        return False
    if left in _QUOTES or right in _QUOTES:  # curly quotes: Chinese glues them, English spaces them
        return not (_RE_CJK.match(left) or _RE_CJK.match(right))
    return not (_RE_CJK.match(left) and _RE_CJK.match(right))


def _line_text(chars: list[_Char], size: float, base: float) -> tuple[str, str]:
    """The line's text and its leading raised digits.

    A space is a printed space glyph; a gap (a space PDFium inferred, or half a character or more between two
    glyphs) reads as one where :func:`_spaced` says so, and after a line's enumerator ("1.", "(a)": the tab
    after it). Raised digits are glued to what precedes them (a footnote marker)."""
    out: list[str] = []
    lead: list[str] = []
    prev: _Char | None = None
    gap = False  # a gap seen since the last glyph
    leading = True
    for c in chars:
        raised = _raised(c, size, base)
        if leading and raised:
            lead.append(c.ch)
            prev = c
            continue
        if leading and c.ch.isspace() and lead:
            continue
        leading = False
        if c.ch.isspace():
            if c.generated:
                gap = True
            elif out and out[-1] != " ":
                out.append(" ")
            continue
        after_marker = prev is not None and _raised(prev, size, base) and not raised
        if raised and out and out[-1] == " " and prev is not None and not _raised(prev, size, base):
            out.pop()  # a marker is glued to the word it follows
        elif after_marker and out and out[-1] != " " and c.ch.isalnum():
            out.append(" ")  # and spaced from the word after it ("。1 伪造", "Somalia.3 The")
        elif out and out[-1] != " ":
            wide = prev is not None and c.left - prev.right > 0.5 * size
            if (gap or wide) and (_spaced(out[-1], c.ch) or _RE_ENUMERATOR.match("".join(out))):
                out.append(" ")
        out.append(c.ch)
        gap = False
        prev = c
    return "".join(out).strip(), "".join(lead)


def _open(raw: bytes, path: str | Path) -> Any:
    try:
        import pypdfium2 as pdfium
    except ImportError:  # pragma: no cover - a dependency of the project
        raise IngestError(path, 0, "reading PDF needs pypdfium2 (pip install pypdfium2)") from None
    try:
        return pdfium.PdfDocument(raw)
    except pdfium.PdfiumError as e:
        text = str(e)
        if "password" in text.lower():
            message = "the PDF is encrypted (password-protected); give an unprotected copy"
            raise IngestError(path, 0, message) from None
        raise IngestError(path, 0, f"the PDF is damaged or not a PDF ({text})") from None


def _page_lines(page: Any, index: int) -> list[_Line]:
    """The printed lines of one page, top to bottom."""
    import pypdfium2.raw as pdfium_c

    height = page.get_height()
    textpage = page.get_textpage()
    tp = textpage.raw
    n = pdfium_c.FPDFText_CountChars(tp)
    rect = pdfium_c.FS_RECTF()
    ox, oy = ctypes.c_double(), ctypes.c_double()
    lines: list[_Line] = []
    cur: list[_Char] = []
    for i in range(n):
        u = pdfium_c.FPDFText_GetUnicode(tp, i)
        ch = "-" if u == 2 else chr(u) if u else ""  # PDFium reports a hyphen ending a line as U+0002
        if ch in ("\r", "\n", "") or (u < 32 and u not in (2, 9)):
            if ch in ("\r", "\n") and cur:
                lines.append(_Line(index, cur))
                cur = []
            continue
        pdfium_c.FPDFText_GetLooseCharBox(tp, i, rect)  # the advance, not the ink: "，" fills its em
        pdfium_c.FPDFText_GetCharOrigin(tp, i, ox, oy)
        size = pdfium_c.FPDFText_GetFontSize(tp, i)
        generated = bool(pdfium_c.FPDFText_IsGenerated(tp, i))
        c = _Char(ch, rect.left, rect.right, height - oy.value, size, generated)
        if cur and c.base - cur[-1].base > 0.6 * size and c.left < cur[-1].left:
            lines.append(_Line(index, cur))  # back to the left margin, lower down: a new line PDFium ran on
            cur = []
        cur.append(c)
    if cur:
        lines.append(_Line(index, cur))
    textpage.close()
    lines = _merge([ln for ln in lines if ln.text or ln.lead])
    lines.sort(key=lambda ln: (round(ln.top), ln.x0))
    return lines


def _merge(pieces: list[_Line]) -> list[_Line]:
    """Join the pieces of one printed line: PDFium breaks a line where its baseline moves (after a raised
    footnote marker, "2016.4" | "In the central …"). Pieces that overlap vertically and follow each other
    closely from left to right are one line; a gap of a fifth of a character between them is a space."""
    out: list[_Line] = []
    for piece in sorted(pieces, key=lambda ln: ln.x0):
        for i, line in enumerate(out):
            overlap = min(line.bottom, piece.bottom) - max(line.top, piece.top)
            height = min(line.bottom - line.top, piece.bottom - piece.top)
            right = max(c.right for c in line.chars)
            gap = piece.x0 - right
            size = max(line.size, piece.size)
            if height > 0 and overlap > 0.5 * height and -0.1 * size < gap < 2 * size:
                space = [_Char(" ", right, piece.x0, line.chars[-1].base, size, True)]
                if gap <= 0.15 * size:
                    space = []
                out[i] = _Line(line.page, line.chars + space + piece.chars)
                break
        else:
            out.append(piece)
    return out


def _body_size(pages: list[list[_Line]]) -> float:
    """The body text's size: the largest size that sets at least a fifth of the characters (headings are
    larger but few; footnotes are smaller, and a report with long footnotes may set more characters in them
    than in the body)."""
    sizes: Counter[float] = Counter()
    for lines in pages:
        for ln in lines:
            sizes[round(ln.size * 2) / 2] += len(ln.text)
    total = sum(sizes.values())
    common = [size for size, count in sizes.items() if count >= 0.2 * total]
    return max(common) if common else 0.0


def _furniture(pages: list[list[_Line]], height: float) -> tuple[float, float]:
    """The header band's bottom and the footer band's top: the extent of the lines repeated at one height on
    many pages (running headers, page numbers). (0, height) when nothing repeats."""
    seen: dict[tuple[int, str], set[int]] = defaultdict(set)
    for lines in pages:
        for ln in lines:
            seen[(round(ln.top / 3), ln.shape)].add(ln.page)
    need = max(2, int(0.4 * (len(pages) - 1)))
    header, footer = 0.0, height
    for lines in pages:
        for ln in lines:
            if len(seen[(round(ln.top / 3), ln.shape)]) < need:
                continue
            if ln.top < height / 3:
                header = max(header, ln.bottom)
            elif ln.top > 2 * height / 3:
                footer = min(footer, ln.top)
    return header, footer


def _conventional(ln: _Line, height: float) -> bool:
    """A page number, job number or barcode printed in the top or bottom margin (the UN conventions)."""
    in_margin = ln.top < height * _MARGIN or ln.bottom > height * (1 - _MARGIN)
    words = re.sub(r"\s*/\s*", "/", ln.text).split()
    return in_margin and all(_RE_FURNITURE.match(w) for w in words)


def _split_notes(
    lines: list[_Line], body: float, next_note: int, open_note: bool
) -> tuple[list[_Line], list[_Line], list[_Line]]:
    """The page's body lines, the continuation of the previous page's last footnote, and its footnote lines:
    the run of smaller lines at its foot, from the first that opens a footnote. The smaller lines at the foot
    before that first one continue the previous page's last footnote when that page ended with footnotes
    (``open_note``: a footnote may break at a sentence's end too); otherwise they are the body's."""
    k = len(lines)
    while k > 0 and 0 < lines[k - 1].size < body * _SMALL:
        k -= 1
    for j in range(k, len(lines) + 1):
        if j == len(lines) or _note_number(lines[j], next_note) is not None or lines[j].text.startswith("*"):
            if open_note and j > k:
                return lines[:k], lines[k:j], lines[j:]
            return (lines[:j], [], lines[j:]) if j < len(lines) else (lines, [], [])
    return lines, [], []


def _note_number(ln: _Line, expected: int) -> str | None:
    """The footnote number opening a footnote line (raised, or followed by a space), or None."""
    if ln.lead:
        return ln.lead
    m = re.match(r"^(\d{1,3})(?:\s+|(?=\D))", ln.text)
    if m and int(m.group(1)) >= expected and not re.match(r"^\d{1,3}[.,/]\d", ln.text):
        return m.group(1)
    return None


def _note_lines(notes: list[_Line], next_note: int) -> tuple[list[str], int]:
    """The page's footnotes as the text layout prints them, one line each: " N text" (its printed lines
    joined, so a footnote line ending a sentence never reads as the footnote's end), "* text" for the
    agenda's note."""
    out: list[str] = []
    for ln in notes:
        number = _note_number(ln, next_note)
        if number is not None and int(number) == next_note:
            rest = ln.text if ln.lead else ln.text[len(number) :]
            out.append(f" {number} {rest.strip()}")
            next_note += 1
        elif out and not (ln.text.startswith("*") and not out[-1].startswith("*")):
            out[-1] = join_fragment(out[-1], ln.text)
        else:
            out.append(ln.text)
    return out, next_note


def pdf_layout(raw: bytes, path: str | Path) -> str:
    """The layout text of a PDF report's text layer.

    Raises:
        IngestError: an encrypted or damaged PDF, or pages without a text layer (scanned; the pages named).
    """
    pdf = _open(raw, path)
    try:
        count = len(pdf)
        if count == 0:
            raise IngestError(path, 0, "the PDF has no pages")
        height = pdf[0].get_height()
        pages = [_page_lines(pdf[i], i + 1) for i in range(count)]
    finally:
        pdf.close()
    empty = [i + 1 for i, lines in enumerate(pages) if sum(len(ln.text) for ln in lines) < 3]
    if empty:
        plural = "s" if len(empty) > 1 else ""
        which = "every page" if len(empty) == count else f"page{plural} {_ranges(empty)}"
        raise IngestError(
            path,
            0,
            f"{which} of the PDF has no text layer (a scan?); OCR is not supported: "
            "give the report's Word file, a PDF with text, or its text",
        )
    body = _body_size(pages)
    header, footer = _furniture(pages, height)
    out: list[str] = []
    next_note = 1
    notes_end: int | None = None  # where the previous page's footnotes end in ``out``
    for lines in pages:
        page = lines[0].page if lines else 0
        kept = [
            ln
            for ln in lines
            if ln.top < footer - 1
            and not (page > 1 and ln.bottom <= header + 1)
            and not _conventional(ln, height)
        ]
        open_note = notes_end is not None  # the previous page ended with footnotes
        text_lines, continued, notes = _split_notes(kept, body, next_note, open_note)
        if continued and notes_end is not None:  # the previous page's last footnote, carried over
            for ln in continued:
                out[notes_end - 1] = join_fragment(out[notes_end - 1], ln.text)
        notes_end = None
        prev: _Line | None = None
        for ln in text_lines:
            if prev is not None and ln.top - prev.top > 1.75 * max(ln.size, prev.size, body * 0.5):
                out.append("")
            out.append(ln.text if not ln.lead else ln.lead + ln.text)
            prev = ln
        if notes:
            written, next_note = _note_lines(notes, next_note)
            out += ["", RULE, *written]
            notes_end = len(out)
        out.append("\f")
    return "\n".join(out[:-1]) + "\n"


def _ranges(numbers: list[int]) -> str:
    """ "1–3, 7" for [1, 2, 3, 7]."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in numbers[1:] + [0]:
        if n == prev + 1:
            prev = n
            continue
        parts.append(f"{start}–{prev}" if prev > start else str(start))
        start = prev = n
    return ", ".join(parts)
