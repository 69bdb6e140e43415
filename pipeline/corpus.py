"""The structured report: document metadata, sections, numbered paragraphs, items, sentences, footnotes.

These dataclasses are what every later stage consumes. Display text keeps the report's own characters;
``index_text`` is the normalized form (NFKC, folded white space) that the indexes see.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.text import normalize

_ROMAN_ZH = {
    "I": "一",
    "II": "二",
    "III": "三",
    "IV": "四",
    "V": "五",
    "VI": "六",
    "VII": "七",
    "VIII": "八",
    "IX": "九",
    "X": "十",
}


def cite_paragraph(symbol: str, number: int, lang: str, part: str = "") -> str:
    """A UN-style paragraph citation: ``CTOC/COP/2012/7, para. 23`` in English (and every language but
    Chinese), ``CTOC/COP/2012/7，第23段`` in Chinese; an annex paragraph names its annex
    (``…, annex, para. 3`` / ``…，附件，第3段``). Without a symbol the paragraph alone
    ("para. 23" / "第23段")."""
    if lang == "zh":
        where = ""
        if part:
            _, _, roman = part.partition(" ")
            where = "附件" + _ROMAN_ZH.get(roman, roman) + "，"
        cite = f"{where}第{number}段"
        return f"{symbol}，{cite}" if symbol else cite
    cite = (f"{part}, " if part else "") + f"para. {number}"
    return f"{symbol}, {cite}" if symbol else cite


@dataclass
class Footnote:
    """A footnote, attached to the paragraph whose text carries its marker.

    Attributes:
        marker: the footnote's mark as printed ("1").
        text: the footnote's text.
        offset: where the marker stood in the paragraph's ``text`` (character offset), or -1.
        line: line of the source file where the footnote text was printed.
    """

    marker: str
    text: str
    offset: int = -1
    line: int = 0


@dataclass
class Item:
    """A lettered sub-item "(a)" of a paragraph."""

    label: str
    text: str
    line: int = 0


@dataclass
class Sentence:
    """A sentence of a paragraph with ``[start, end)`` offsets into :attr:`Paragraph.full_text`."""

    text: str
    start: int
    end: int


@dataclass
class Section:
    """A heading of the report.

    Attributes:
        label: its number or letter as printed ("三", "D", "1").
        title: the heading's text without the label.
        level: 1 for 一./二., 2 for A./B., 3 for numbered sub-headings inside a lettered section.
        line: line of the source file where it starts.
    """

    label: str
    title: str
    level: int
    line: int = 0

    @property
    def heading(self) -> str:
        """The heading as printed: label, full stop, title ("D. 文化财产")."""
        return f"{self.label}. {self.title}"


@dataclass
class Paragraph:
    """A numbered paragraph.

    Attributes:
        number: its printed number.
        section: headings it falls under, outermost first.
        text: the paragraph's own text (for a paragraph with lettered items, the part before them).
        items: lettered sub-items, in order.
        footnotes: footnotes whose markers stand in this paragraph.
        sentences: sentences of :attr:`full_text`, with offsets into it.
        line: line of the source file where the paragraph starts.
        page: the page it starts on (1-based), when the source has pages (a PDF, or text with form feeds),
            else None.
    """

    number: int
    section: list[str]
    text: str
    items: list[Item] = field(default_factory=list)
    footnotes: list[Footnote] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    line: int = 0
    part: str = ""
    document: str = ""
    lang: str = ""
    page: int | None = None

    @property
    def key(self) -> tuple[str, int]:
        """The paragraph's place inside its document: ``(part, number)``; ``part`` is "" for the body and
        names an annex ("annex", "annex II") whose numbering restarts."""
        return (self.part, self.number)

    @property
    def citation(self) -> str:
        """The UN-style citation in the document's language: ``CTOC/COP/2012/7, para. 23`` or
        ``CTOC/COP/2012/7，第23段`` (with the annex when the paragraph is in one)."""
        return cite_paragraph(self.document, self.number, self.lang, self.part)

    @property
    def full_text(self) -> str:
        """Text with its items, one per line as "(a) …": what a reader sees and what sentences index into."""
        parts = [self.text] + [f"({it.label}) {it.text}" for it in self.items]
        return "\n".join(p for p in parts if p)

    @property
    def index_text(self) -> str:
        """Normalized text for indexing: full text plus footnote texts, NFKC-folded."""
        return normalize(" ".join([self.full_text, *(fn.text for fn in self.footnotes)]))

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``pipeline paragraphs --json``."""
        return {
            "document": self.document,
            "lang": self.lang,
            **({"part": self.part} if self.part else {}),
            "number": self.number,
            **({"page": self.page} if self.page is not None else {}),
            "section": list(self.section),
            "text": self.text,
            "items": [{"label": it.label, "text": it.text} for it in self.items],
            "footnotes": [
                {"marker": fn.marker, "text": fn.text, "offset": fn.offset} for fn in self.footnotes
            ],
            "sentences": [s.text for s in self.sentences],
        }


@dataclass
class Metadata:
    """Front matter of the report."""

    symbol: str | None = None
    symbol_source: str | None = None  # "front matter" or "catalog"
    session: str | None = None
    dates: str | None = None
    place: str | None = None
    agenda_item: str | None = None
    agenda_title: str | None = None
    title: str | None = None
    report_type: str | None = None
    language: str = "zh"
    issued: str | None = None  # the masthead's date ("17 August 2012")
    masthead_language: str | None = None  # the language the masthead names ("Chinese" → "zh"), if any


@dataclass
class Corpus:
    """A parsed report.

    Attributes:
        path: the source file.
        sha256: hash of the source bytes (indexes record it to detect staleness).
        metadata: front matter.
        sections: every heading in document order.
        paragraphs: numbered paragraphs in order.
        front_matter: the front-matter lines as printed (for accounting and display).
        residue: page residue that is neither text nor structure (footnote rules), as (line, text).
    """

    path: str
    sha256: str
    metadata: Metadata
    sections: list[Section]
    paragraphs: list[Paragraph]
    front_matter: list[str] = field(default_factory=list)
    residue: list[tuple[int, str]] = field(default_factory=list)

    def paragraph(self, number: int, part: str = "") -> Paragraph:
        """The paragraph with this number in the body (or in the annex ``part``).

        Raises:
            KeyError: no such paragraph (the message gives the valid range).
        """
        for p in self.paragraphs:
            if p.number == number and p.part == part:
                return p
        nums = [p.number for p in self.paragraphs if p.part == part]
        where = f"the {part} of " if part else ""
        if not nums:
            raise KeyError(f"no {part} in {self.label}")
        raise KeyError(
            f"no paragraph {number} in {where}{self.label}: it has paragraphs {nums[0]}-{nums[-1]}"
        )

    @property
    def symbol(self) -> str:
        """The document symbol ("" when not settled)."""
        return self.metadata.symbol or ""

    @property
    def lang(self) -> str:
        """The language of this version of the document."""
        return self.metadata.language

    @property
    def label(self) -> str:
        """How messages name the report: its symbol and language, or "report"."""
        return f"{self.symbol} ({self.lang})" if self.symbol else "report"

    @property
    def parts(self) -> list[str]:
        """The numbering parts in order: "" (the body) and each annex whose paragraph numbering restarts."""
        return list(dict.fromkeys(p.part for p in self.paragraphs))

    @property
    def numbers(self) -> list[int]:
        return [p.number for p in self.paragraphs]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "metadata": asdict(self.metadata),
            "sections": [asdict(s) | {"heading": s.heading} for s in self.sections],
            "paragraphs": [p.to_dict() for p in self.paragraphs],
        }
