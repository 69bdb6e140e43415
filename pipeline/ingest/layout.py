"""The line patterns of the report layout and the predicates built on them, shared by the parser and the
front matter: what a line opens (chapter, lettered section, numbered paragraph, item, rule, footnote, annex,
printed deletion), where a block ends, and whether a group of lines reads as a heading.

* A line can open a new unit (heading, paragraph, item) only at a *block start*: the unit before it is a
  heading or its text ends with terminal punctuation (:func:`ends_block`). In English, an item ending in
  "; and" / "; or" also ends its block, and a line ending in a citation abbreviation ("para.", "vol.", "No.",
  "e.g." …: :data:`pipeline.text.ABBREVIATIONS_EN`, the list the sentence splitter uses) does not.
* A line group (a line and those after it up to the next structural line: chapter, lettered section,
  numbered paragraph, rule, annex, deletion) reads as a heading block (:func:`is_heading_block`) when it does
  not end a sentence: in Chinese it holds no 。；！？; in English it does not end in terminal punctuation
  (. ; : ! ? with any closing quotes or brackets, and any footnote marker after them: "crime.3", unless the
  "." follows a digit, as in "Goal 16.4"). A heading is told by this, not by its length: UN sub-headings run
  to 150-250 characters, so the bound (:data:`MAX_HEADING_CHARS`, 300) only keeps a group that runs on past
  any heading from being read to its end. A numbered paragraph is never a heading block: its text ends in
  ". ; :" (a paragraph ending in ":" goes on with its items, the last of which ends in "." or ";").
"""

from __future__ import annotations

import re

from pipeline.ingest.numerals import CN_NUM, cn_value, roman_value, to_roman
from pipeline.text import ends_in_abbreviation, join_fragment

RE_CHAPTER = re.compile(rf"^([{CN_NUM}]+)[.．、]\s*(\S.*)$")
RE_ROMAN = re.compile(r"^([IVXL]+)[.．]\s+(\S.*)$")
RE_LETTER = re.compile(r"^([A-Z])[.．]\s+(\S.*)$")
RE_NUMBERED = re.compile(r"^(\d{1,3})[.．]\s+(\S.*)$")
#: Paragraphs 1000-99999: taken only where the numbering expects that number (a line may open with a year).
RE_NUMBERED_LONG = re.compile(r"^(\d{4,5})[.．]\s+(\S.*)$")
RE_NUMBER_ONLY = re.compile(r"^(\d{1,3})[.．]$")
RE_ITEM = re.compile(r"^\(([a-z])\)\s*(\S.*)$")
RE_RULE = re.compile(r"^_{5,}$")
RE_FOOTNOTE = re.compile(r"^(\d{1,3})\s+(\S.*)$")
RE_STAR_NOTE = re.compile(r"^\*{1,3}\s*\S")
RE_ANNEX_ZH = re.compile(rf"^附件([{CN_NUM}]*)$")
RE_ANNEX_EN = re.compile(r"^(?:Annex|ANNEX)(?:\s+([IVXL]+))?$")
RE_DELETED = re.compile(
    r"^(\d{1,3})(?:[.．]?\s*[-–—‐]\s*(\d{1,3}))?[.．]\s*[\[［(（【]\s*(?:deleted|删除|已删除)\s*[\]］)）】][.。]?$",
    re.IGNORECASE,
)
SENTENCE_PUNCT = "。；！？"
#: The longest heading block read, in characters (label and continuation lines included): above the longest UN
#: headings (150-250 characters), far below a paragraph that would run on to the next numbered line.
MAX_HEADING_CHARS = 300
_RE_BLOCK_END = re.compile(r"[。；：！？.;:!?][”’）)]*(?:\d{1,3})?\s*$")
_RE_BLOCK_END_EN = re.compile(r"(?:[.;:!?][”’\"')\]]*(?:\d{1,3})?|;\s+(?:and|or))\s*$")
# a heading block ends with none of these: terminal punctuation, closers, a footnote marker after a non-digit
_RE_SENTENCE_END_EN = re.compile(r"(?:[.;:!?][”’\"')\]]*|(?<!\d)[.;:!?][”’\"')\]]*\d{1,3})\s*$")
_RE_PROSE_END_EN = re.compile(r"[.;!?][”’\"')\]]*\s*$")  # a completed heading ending so is prose
_RE_NOTE_END_EN = re.compile(r"[.!?][”’\"')\]]*\s*$")


def is_structural(s: str, lang: str) -> bool:
    """A line that opens a unit of its own (so a heading block cannot run into it)."""
    regexes = [RE_CHAPTER, RE_LETTER, RE_NUMBERED, RE_RULE, RE_NUMBER_ONLY, RE_DELETED]
    regexes.append(RE_ANNEX_ZH if lang == "zh" else RE_ANNEX_EN)
    if lang == "en":
        regexes.append(RE_ROMAN)
    return any(r.match(s) for r in regexes)


def is_heading_block(lines: list[str], start: int, lang: str = "zh") -> bool:
    """True when the line group opening at ``start`` (up to the next structural line) reads as a heading."""
    text = lines[start].strip()
    for j in range(start + 1, len(lines)):
        s = lines[j].strip()
        if not s:
            continue
        if is_structural(s, lang):
            break
        text = text + s if lang == "zh" else join_fragment(text, s)
        if len(text) > MAX_HEADING_CHARS:
            return False
    if len(text) > MAX_HEADING_CHARS:
        return False
    if lang == "zh":
        return not any(c in SENTENCE_PUNCT for c in text)
    return not _RE_SENTENCE_END_EN.search(text)


def ends_block(text: str, lang: str) -> bool:
    """Text after which a new unit may start: it ends a sentence (possibly followed by a footnote marker)."""
    if lang == "zh":
        return bool(_RE_BLOCK_END.search(text))
    return bool(_RE_BLOCK_END_EN.search(text)) and not ends_in_abbreviation(text)


def note_ended(text: str, lang: str) -> bool:
    """A footnote's text is complete (the next line is a new footnote or the body again)."""
    if lang == "zh":
        return text.rstrip()[-1:] in SENTENCE_PUNCT + "."
    return bool(_RE_NOTE_END_EN.search(text)) and not ends_in_abbreviation(text)


def prose_line(lines: list[tuple[int, str]], lang: str) -> int | None:
    """The first of a heading's continuation lines that ends a sentence (Chinese: holds 。；！？; English:
    ends in . ; ! ?, not in a citation abbreviation such as "para."), or None when they read as a heading."""
    for lineno, s in lines:
        if lang == "zh":
            if any(c in SENTENCE_PUNCT for c in s):
                return lineno
        elif _RE_PROSE_END_EN.search(s) and not ends_in_abbreviation(s):
            return lineno
    return None


def body_start(lines: list[str]) -> int:
    """Index of the body's first line (a chapter "一.", paragraph "1." or chapter "I."), or ``len(lines)``."""
    for i, line in enumerate(lines):
        s = line.strip()
        if RE_CHAPTER.match(s) or ((m := RE_NUMBERED.match(s)) and m.group(1) == "1"):
            return i
        if (m := RE_ROMAN.match(s)) and m.group(1) == "I":
            return i
    return len(lines)


def annex_part(label: str, lang: str) -> tuple[str, int] | None:
    """The part name ("annex", "annex II") and annex number (0 when unnumbered) of an annex heading line."""
    if lang == "zh":
        m = RE_ANNEX_ZH.match(label)
        if not m:
            return None
        if not m.group(1):
            return "annex", 0
        n = cn_value(m.group(1))
        return (f"annex {to_roman(n)}", n) if n else None
    m = RE_ANNEX_EN.match(label)
    if not m:
        return None
    if not m.group(1):
        return "annex", 0
    n = roman_value(m.group(1))
    return (f"annex {m.group(1)}", n) if n else None


def annex_number(name: str) -> int:
    """0 for "annex", the value of its numeral for "annex II"."""
    _, _, numeral = name.partition(" ")
    return (roman_value(numeral) or 0) if numeral else 0
