"""Raw report text -> :class:`~pipeline.corpus.Corpus`.

The parser reads a UN report in the plain-text layout of the CTOC documents, in Chinese or in English: front
matter, headings ("一." / "I." for chapters, "A." for lettered sections, "1." for numbered sub-headings inside
them), numbered paragraphs "N. …", lettered items "(a) …", footnotes printed after a rule "_____" at the foot of
a page (which in the plain text can fall in the middle of another paragraph), annexes whose paragraph numbering
restarts, and lines broken anywhere, inside words, numbers, references and URLs.

Every decision is a general rule, never a patch for one paragraph:

* **Language.** :func:`detect_language` reads the share of CJK ideographs and of Latin letters among the
  letters of the body: Chinese ("zh") or Latin-script text parsed with the English layout ("en"), or neither.
  A language named by the caller (or by the file name, ``*.zh.txt`` / ``*.en.txt``) that contradicts a clear
  detection is an error; fr/es/ru/ar are recognized names that cannot be parsed yet.
* A line can open a new unit (heading, paragraph, item) only at a *block start*: the unit before it is a
  heading or its text ends with terminal punctuation. Anywhere else a line is a continuation, so "28 条",
  "2012 年" or "10 月 19 日" at the start of a line stay in the sentence they belong to. In English, an item
  ending in "; and" / "; or" also ends its block, and a line ending in a citation abbreviation ("para.",
  "vol.", "No.", "e.g." …) does not.
* Chapters: "一." (Chinese) at a block start is always a chapter heading. In English, "I." … at a block start
  is a chapter heading when its Roman numeral is the next chapter number of the part, or when it reads as a
  heading block; a single letter that is also a Roman numeral ("C.", "D.", "I.") is a lettered section when
  the letter sequence of the chapter expects it.
* "A." at a block start is a lettered section when its line group reads as a heading block: in Chinese
  without 。；！？, in English without terminal punctuation (. ; : ! ?) at its end, at most 120 characters.
* "N. text" at a block start is paragraph N only when N is the next paragraph number of the current part. A
  heading block numbered 1, 2, … inside a section is a sub-heading. Anything else is a numbering error (gap,
  duplicate, order break), reported with file and line and the part ("in annex II") when not the body.
* A printed deletion "12.-14. [Deleted]", "12-14. (deleted)", "12. [Deleted]" or "12.-14. [删除]" takes its
  numbers: they are absent from the paragraphs (no text is invented), the numbering goes on after them, and
  the line is kept in :attr:`Corpus.residue`. Nothing else may skip a number.
* A heading's continuation lines must not read as prose (Chinese: a line holding 。；！？; English: a line
  ending in . ; ! ?): text that is in no numbered paragraph is an error, never glued to a heading.
* **Annexes.** A line "附件" / "附件一" … or "Annex" / "Annex I" … at a block start opens an annex: a heading of
  level 0 whose label is the annex as printed ("Annex II", "附件二") and whose title is the annex title lines
  that follow (the section path reads "Annex II. Draft recommendations › A. …"); chapters, lettered and
  numbered headings inside it nest under it with levels 1–3. When its first numbered paragraph is 1, the
  annex is a new numbering part: its paragraphs carry ``part`` = "annex" or "annex II" (always this English
  lower-case form with the Roman numeral; a Chinese "附件二" gives "annex II"). When it continues the current
  numbering instead, its paragraphs stay in the current part. Annexes are numbered I, II, … in order; an
  unnumbered "Annex" is the only one.
* After a rule "_____", lines " k text" with k the next footnote number are footnotes; a footnote ends at
  its terminal punctuation, and the body resumes — joined to the sentence the page break interrupted. A line
  "* text" there is the note to an asterisk of the front matter ("agenda*"): it goes to the front matter.
* A footnote marker is the next footnote number glued to what precedes it and not part of a longer number
  or identifier. Chinese: glued to a CJK character or punctuation ("……平方英里。1"). English: glued to a
  lower-case word ("Convention2"), or after punctuation closing a word ("Somalia.3 The", "Protocol,”4"), or
  after a number's full stop when a new sentence follows ("in 2013.2 The", "resolution 55/25.3 The") or its
  comma ("in 2012,4 which"); never inside a longer number ("2012", "1.5", "1,300"), after "/" ("65/230",
  "A/RES/55/25"), glued to a capital ("G20") or inside a symbol or address ("CTOC/COP/WG.2", "www…/page1").
  The marker is removed from the text (Chinese: with the space after it) and the footnote is attached to
  that paragraph at that offset; footnotes are matched in order, each on or after its marker's page.
* **Front matter.** The symbol is the first document symbol printed in the masthead (before the session,
  dates and agenda lines); the title is the longest block between those lines and the report type ("秘书处的
  报告", "秘书处的说明", "秘书处编写的背景文件", "Report of the Secretariat", "Note by the Secretariat", "Background
  paper prepared by the Secretariat" …).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path

from pipeline.corpus import Corpus, Footnote, Item, Metadata, Paragraph, Section, Sentence
from pipeline.errors import UserError
from pipeline.store import sha256_bytes
from pipeline.text import CJK_IDEOGRAPHS, CJK_PUNCTUATION, LATIN_LETTERS, join_fragment, split_sentences

__all__ = [
    "LANGUAGES",
    "PARSED_LANGUAGES",
    "IngestError",
    "decode_report",
    "detect_language",
    "ingest_file",
    "lang_from_name",
    "parse_report",
    "settle_identity",
]

#: Language codes of UN documents (the six official languages); only :data:`PARSED_LANGUAGES` can be parsed.
LANGUAGES = ("zh", "en", "fr", "es", "ru", "ar")
PARSED_LANGUAGES = ("zh", "en")

_CN_NUM = "一二三四五六七八九十"
_RE_CHAPTER = re.compile(rf"^([{_CN_NUM}]+)[.．、]\s*(\S.*)$")
_RE_ROMAN = re.compile(r"^([IVXL]+)[.．]\s+(\S.*)$")
_RE_LETTER = re.compile(r"^([A-Z])[.．]\s+(\S.*)$")
_RE_NUMBERED = re.compile(r"^(\d{1,3})[.．]\s+(\S.*)$")
_RE_NUMBER_ONLY = re.compile(r"^(\d{1,3})[.．]$")
_RE_ITEM = re.compile(r"^\(([a-z])\)\s*(\S.*)$")
_RE_RULE = re.compile(r"^_{5,}$")
_RE_FOOTNOTE = re.compile(r"^(\d{1,3})\s+(\S.*)$")
_RE_STAR_NOTE = re.compile(r"^\*{1,3}\s*\S")
_RE_ANNEX_ZH = re.compile(rf"^附件([{_CN_NUM}]*)$")
_RE_ANNEX_EN = re.compile(r"^(?:Annex|ANNEX)(?:\s+([IVXL]+))?$")
_RE_DELETED = re.compile(
    r"^(\d{1,3})(?:[.．]?\s*[-–—‐]\s*(\d{1,3}))?[.．]\s*[\[［(（【]\s*(?:deleted|删除|已删除)\s*[\]］)）】][.。]?$",
    re.IGNORECASE,
)
_TERMINAL = "。；：！？.;:!?"
_SENTENCE_PUNCT = "。；！？"
_MAX_HEADING_CHARS = 120
_RE_BLOCK_END = re.compile(r"[。；：！？.;:!?][”’）)]*(?:\d{1,3})?\s*$")
# English: citation abbreviations that end a line without ending the sentence ("see A/67/100, para." + "12").
_ABBREVIATIONS_EN = r"(?:vol|vols|No|Nos|para|paras|p|pp|art|arts|chap|sect|e\.g|i\.e|cf|Mr|Ms|Mrs|Dr)"
_RE_ABBREV_END_EN = re.compile(rf"(?<![\w.]){_ABBREVIATIONS_EN}\.\s*$")
_RE_BLOCK_END_EN = re.compile(r"(?:[.;:!?][”’\"')\]]*(?:\d{1,3})?|;\s+(?:and|or))\s*$")
_RE_SENTENCE_END_EN = re.compile(r"[.;:!?][”’\"')\]]*\s*$")  # a heading block ends with none of these
_RE_PROSE_END_EN = re.compile(r"[.;!?][”’\"')\]]*\s*$")  # a completed heading ending so is prose
_RE_NOTE_END_EN = re.compile(r"[.!?][”’\"')\]]*\s*$")

_CJK = re.compile(f"[{CJK_IDEOGRAPHS}]")
_LATIN = re.compile(f"[{LATIN_LETTERS}]")


class IngestError(UserError, ValueError):
    """A report that cannot be parsed faithfully; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


# --------------------------------------------------------------------------------------------- language


def detect_language(text: str) -> str | None:
    """The script that dominates ``text``: "zh" for Chinese, "en" for Latin script, None when neither does.

    Among the letters of the text (``str.isalpha``: ideographs, Latin, Cyrillic, Arabic, kana …), "zh" when at
    least half are CJK ideographs (a Chinese report quoting English titles and URLs stays well above that:
    ideographs are ~97% of the letters of the CTOC/COP/2012/7 Chinese text), "en" when at least 90% are
    Latin letters and there are no more ideographs than a name or two would bring (≤ 2%); None otherwise
    (no letters, a bilingual text, another script). "en" means "Latin script, parsed with the English
    layout": French or Spanish text also gives "en"; name those languages explicitly.
    """
    letters = sum(1 for c in text if c.isalpha())
    if not letters:
        return None
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text))
    if cjk / letters >= 0.5:
        return "zh"
    if latin / letters >= 0.9 and cjk / letters <= 0.02:
        return "en"
    return None


_SCRIPT = {"zh": "zh", "en": "en", "fr": "en", "es": "en", "ru": None, "ar": None}
_LANG_NAME = {"zh": "Chinese", "en": "Latin-script (English)"}


def _check_language(path: str | Path, lang: str, detected: str | None, line: int = 1) -> None:
    """Raise when ``lang`` is not a UN language or contradicts a clear detection of the text's script."""
    if lang not in LANGUAGES:
        raise IngestError(path, 0, f"unknown language {lang!r} (use one of {', '.join(LANGUAGES)})")
    if detected is not None and _SCRIPT[lang] != detected:
        raise IngestError(
            path,
            line,
            f"the report is given as {lang} but its text is {_LANG_NAME[detected]}; "
            f"check the file (or its name, e.g. *.{detected}.txt) and the language given",
        )


def _unsupported(lang: str) -> str:
    return f"language {lang} is not supported yet (zh and en reports can be parsed)"


def lang_from_name(path: str | Path) -> str | None:
    """The language a file name declares: ``report.zh.txt`` -> "zh" (any of :data:`LANGUAGES`), else None."""
    m = re.search(r"\.([a-z]{2})\.txt$", Path(path).name)
    return m.group(1) if m and m.group(1) in LANGUAGES else None


# ----------------------------------------------------------------------------------------- decoding


def decode_report(raw: bytes, path: str | Path) -> str:
    """Decode the report's bytes as UTF-8, or fail with a message that says what the bytes are.

    Raises:
        IngestError: empty file, or bytes that are not UTF-8 (GB18030/GBK is recognized and named).
    """
    if not raw.strip():
        raise IngestError(path, 1, "the file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        try:
            raw.decode("gb18030")
        except UnicodeDecodeError:
            raise IngestError(path, line, f"not UTF-8 text (invalid byte 0x{raw[e.start]:02x})") from None
        raise IngestError(
            path,
            line,
            "not UTF-8: the bytes look like GB18030/GBK-encoded Chinese; "
            "convert the file first, e.g. `iconv -f GB18030 -t UTF-8`",
        ) from None


# ------------------------------------------------------------------------------------------ numerals

_ROMAN = [(50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]


def _to_roman(n: int) -> str:
    out = ""
    for value, sym in _ROMAN:
        while n >= value:
            out += sym
            n -= value
    return out


def _roman_value(s: str) -> int | None:
    """The value of a canonical Roman numeral up to 89 ("IV" -> 4), else None ("IIII", "VX")."""
    for n in range(1, 90):
        if _to_roman(n) == s:
            return n
    return None


def _cn_value(s: str) -> int | None:
    """The value of a Chinese numeral up to 99 ("二" -> 2, "十二" -> 12, "二十" -> 20), else None."""
    digits = {c: i + 1 for i, c in enumerate(_CN_NUM[:9])}
    if s in digits:
        return digits[s]
    m = re.fullmatch(rf"([{_CN_NUM[:9]}]?)十([{_CN_NUM[:9]}]?)", s)
    if not m:
        return None
    return (digits[m.group(1)] if m.group(1) else 1) * 10 + (digits[m.group(2)] if m.group(2) else 0)


# ------------------------------------------------------------------------------------------- layouts


def _is_structural(s: str, lang: str) -> bool:
    """A line that opens a unit of its own (so a heading block cannot run into it)."""
    regexes = [_RE_CHAPTER, _RE_LETTER, _RE_NUMBERED, _RE_RULE, _RE_NUMBER_ONLY, _RE_DELETED]
    regexes.append(_RE_ANNEX_ZH if lang == "zh" else _RE_ANNEX_EN)
    if lang == "en":
        regexes.append(_RE_ROMAN)
    return any(r.match(s) for r in regexes)


def _is_heading_block(lines: list[str], start: int, lang: str = "zh") -> bool:
    """True when the line group opening at ``start`` (up to the next structural line) reads as a heading."""
    text = lines[start].strip()
    for j in range(start + 1, len(lines)):
        s = lines[j].strip()
        if not s:
            continue
        if _is_structural(s, lang):
            break
        text = text + s if lang == "zh" else join_fragment(text, s)
        if len(text) > _MAX_HEADING_CHARS:
            return False
    if len(text) > _MAX_HEADING_CHARS:
        return False
    if lang == "zh":
        return not any(c in _SENTENCE_PUNCT for c in text)
    return not _RE_SENTENCE_END_EN.search(text)


def _ends_block(text: str, lang: str) -> bool:
    """Text after which a new unit may start: it ends a sentence (possibly followed by a footnote marker)."""
    if lang == "zh":
        return bool(_RE_BLOCK_END.search(text))
    return bool(_RE_BLOCK_END_EN.search(text)) and not _RE_ABBREV_END_EN.search(text)


def _note_ended(text: str, lang: str) -> bool:
    """A footnote's text is complete (the next line is a new footnote or the body again)."""
    if lang == "zh":
        return text.rstrip()[-1:] in _SENTENCE_PUNCT + "."
    return bool(_RE_NOTE_END_EN.search(text)) and not _RE_ABBREV_END_EN.search(text)


def _prose_line(lines: list[tuple[int, str]], lang: str) -> int | None:
    """The first of a heading's continuation lines that ends a sentence (Chinese: holds 。；！？; English: ends
    in . ; ! ?), or None when they read as a heading."""
    for lineno, s in lines:
        if any(c in _SENTENCE_PUNCT for c in s) if lang == "zh" else _RE_PROSE_END_EN.search(s):
            return lineno
    return None


_RE_SYMBOL = re.compile(r"\b[A-Z]{1,8}(?:/[A-Z0-9.]+){2,}\b")
_MASTHEAD = re.compile(r"Distr\.|Original:|^V\.\d{2}-\d{5}|^\*\d+\*$|^United Nations$|^联\s*合\s*国$")
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"


@dataclass(frozen=True)
class _FrontRules:
    session: re.Pattern[str]
    dates: Callable[[str], tuple[str, str | None] | None]
    agenda: re.Pattern[str]
    report_type: re.Pattern[str]
    join: Callable[[list[str]], str]


def _zh_dates(line: str) -> tuple[str, str | None] | None:
    if not re.search(r"\d{4}\s*年.*日", line):
        return None
    dates, _, place = line.partition("，")
    return dates.strip(), place.strip() or None


def _en_dates(line: str) -> tuple[str, str | None] | None:
    m = re.match(rf"^([A-Z][^,\d]*),\s*(\d.*\b(?:{_MONTHS})\s+\d{{4}})$", line)
    return (m.group(2).strip(), m.group(1).strip()) if m else None


_FRONT = {
    "zh": _FrontRules(
        session=re.compile(r"^第.{1,8}届会议"),
        dates=_zh_dates,
        agenda=re.compile(r"议程\*?\s*项目\s*(\S+)"),
        report_type=re.compile(r"(?:的报告|的说明|的背景文件)$"),
        join="".join,
    ),
    "en": _FrontRules(
        session=re.compile(r"^[A-Z][A-Za-z -]{0,40}\b(?:session|meeting)$"),
        dates=_en_dates,
        agenda=re.compile(r"^Items?\s+(.+?)\s+of\s+the\s+(?:provisional\s+)?agenda\*?$"),
        report_type=re.compile(
            r"^(?:(?:Report|Note)\s+(?:of|by)|Background paper prepared by)\s+the\s+\S.{0,60}$"
        ),
        join=lambda lines: reduce(join_fragment, lines, ""),
    ),
}


def _parse_front_matter(lines: list[str], lang: str = "zh") -> tuple[Metadata, list[str]]:
    rules = _FRONT[lang]
    blocks: list[list[str]] = []
    cur: list[str] = []
    for line in lines:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    meta = Metadata(language=lang)
    masthead: list[list[str]] = []  # blocks before the first session/dates/agenda line
    rest: list[list[str]] = []  # blocks after it that carry none of those lines
    for block in blocks:
        found = False
        for k, line in enumerate(block):
            if meta.session is None and rules.session.search(line):
                meta.session, found = line, True
            elif meta.dates is None and (d := rules.dates(line)):
                (meta.dates, meta.place), found = d, True
            elif meta.agenda_item is None and (m := rules.agenda.search(line)):
                meta.agenda_item = m.group(1)
                meta.agenda_title = rules.join(block[k + 1 :]) or None
                found = True
                break
        if found:
            rest = []  # the title comes after the last of them
        elif meta.session or meta.dates or meta.agenda_item:
            rest.append(block)
        else:
            masthead.append(block)
    for block in masthead:
        if m := _RE_SYMBOL.search(" ".join(block)):
            meta.symbol, meta.symbol_source = m.group(0), "front matter"
            break
    if not (
        meta.session or meta.dates or meta.agenda_item
    ):  # no such lines: any block but the masthead's own
        rest = [b for b in masthead if not any(_MASTHEAD.search(x) or _RE_SYMBOL.search(x) for x in b)]
    candidates = rest
    for block in reversed(candidates):
        if rules.report_type.search(rules.join(block)):
            meta.report_type = rules.join(block)
            candidates = [b for b in candidates if b is not block]
            break
    if candidates:
        meta.title = rules.join(max(candidates, key=lambda b: len(rules.join(b))))
    return meta, [line.strip() for line in lines if line.strip()]


def _body_start(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        s = line.strip()
        if _RE_CHAPTER.match(s) or ((m := _RE_NUMBERED.match(s)) and m.group(1) == "1"):
            return i
        if (m := _RE_ROMAN.match(s)) and m.group(1) == "I":
            return i
    return len(lines)


# ------------------------------------------------------------------------------------------ footnotes


def _marker_zh(text: str, marker: str, pos: int) -> tuple[int, int] | None:
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


_EN_CLOSERS = "”’\"')]"


def _marker_en(text: str, marker: str, pos: int) -> tuple[int, int] | None:
    """The first English footnote marker ``marker`` at or after ``pos``: (start, end) of the digits to remove.

    Accepted: glued to a lower-case word ("Convention2", "Convention2,"); after a full stop, "!" or "?" that
    closes a word ("Somalia.3"), an acronym ("UNODC.3") or a number ("in 2013.2", "resolution 5/1.3") when a
    new sentence follows (white space then a capital, or the end); after "," ";" ":" that follows a word or a
    number ("in 2012,4 which"); after a closing quote or bracket that follows no digit. Refused: inside a longer
    number ("2012", "1.5", "1,300"), after "/" ("A/RES/55/25"), inside a token holding "/" unless after the
    number that ends it and punctuation ("CTOC/COP/WG.2", "www.unodc.org/x2" are refused; "resolution
    55/25.3 The" is a marker).
    """
    for m in re.finditer(rf"(?<!\d){marker}(?!\d)", text[pos:]):
        start, end = pos + m.start(), pos + m.end()
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
            ok = (space_after or punct_after) and not addressy
        elif prev in ".!?":
            if before.isdigit():
                ok = new_sentence
            elif before.isupper():
                ok = new_sentence and not addressy
            else:
                ok = space_after and (before.isalpha() or before in _EN_CLOSERS) and not addressy
        elif prev in ",;:":
            # after a word, or a number or symbol that ends there ("in 2012,4 which"; "1,300" is refused above)
            ok = space_after and (
                before.isdigit() or ((before.isalpha() or before in _EN_CLOSERS) and not addressy)
            )
        elif prev in _EN_CLOSERS:
            ok = (space_after or punct_after) and bool(before) and not before.isdigit() and not addressy
        else:
            ok = False
        if ok:
            return start, end
    return None


def _attach_footnotes(
    path: str | Path, paragraphs: list[Paragraph], notes: list[tuple[int, str, int]], lang: str = "zh"
) -> None:
    """Move each footnote to the paragraph carrying its marker, and take the marker out of the text."""
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


# -------------------------------------------------------------------------------------------- parsing


@dataclass
class _Unit:
    kind: str  # "heading" | "para" | "item" | "deleted"
    text: str
    line: int
    ref: object  # Section | Paragraph | Item | None
    lang: str = "zh"
    joined: list[tuple[int, str]] = field(default_factory=list)  # a heading's continuation lines

    def ends_block(self) -> bool:
        """A heading, a deletion, or text ending a sentence (possibly followed by a footnote marker: "。1")."""
        return self.kind in ("heading", "deleted") or _ends_block(self.text, self.lang)


@dataclass
class _Part:
    """A numbering part: the body ("") or an annex whose paragraph numbering restarts."""

    name: str
    next_no: int = 1
    seen: dict[int, int] = field(default_factory=dict)

    def where(self) -> str:
        return f" in {self.name}" if self.name else ""


def _annex_part(label: str, lang: str) -> tuple[str, int] | None:
    """The part name ("annex", "annex II") and annex number (0 when unnumbered) of an annex heading line."""
    if lang == "zh":
        m = _RE_ANNEX_ZH.match(label)
        if not m:
            return None
        if not m.group(1):
            return "annex", 0
        n = _cn_value(m.group(1))
        return (f"annex {_to_roman(n)}", n) if n else None
    m = _RE_ANNEX_EN.match(label)
    if not m:
        return None
    if not m.group(1):
        return "annex", 0
    n = _roman_value(m.group(1))
    return (f"annex {m.group(1)}", n) if n else None


def parse_report(
    text: str, path: str | Path = "<text>", sha256: str | None = None, lang: str | None = None
) -> Corpus:
    """Parse a report's text into a :class:`Corpus`.

    Args:
        text: the report, decoded.
        path: shown in error messages and recorded in the corpus.
        sha256: hash of the source bytes; computed from ``text`` when omitted.
        lang: the report's language ("zh", "en"; fr/es/ru/ar are refused as not supported yet), or None to
            detect it (:func:`detect_language` on the body).

    Returns:
        The corpus; ``metadata.language`` and every paragraph's ``lang`` are the language, every paragraph's
        ``document`` is the symbol when the front matter prints one (else "": see :func:`settle_identity`).

    Raises:
        IngestError: a language that is not supported, cannot be told or contradicts the text; numbering gaps,
            duplicates or order breaks; a paragraph with no text; prose in no numbered paragraph; a footnote
            without a marker; or no paragraphs at all; the message names file and line.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _body_start(lines)
    detected = detect_language("\n".join(lines[start:]) if start < len(lines) else text)
    if lang is not None:
        _check_language(path, lang, detected)
        if lang not in PARSED_LANGUAGES:
            raise IngestError(path, 0, _unsupported(lang))
    elif detected is None:
        raise IngestError(
            path,
            1,
            "cannot tell the report's language (neither Chinese nor Latin script dominates its text); "
            "name the file *.zh.txt or *.en.txt, or give the language",
        )
    lang = lang or detected
    assert lang is not None
    if start == len(lines):
        first = "'1. ' or 'I. '" if lang == "en" else "'1. '"
        raise IngestError(path, 1, f"no numbered paragraphs found (expected a line starting with {first})")
    meta, front = _parse_front_matter(lines[:start], lang)

    sections: list[Section] = []
    paragraphs: list[Paragraph] = []
    residue: list[tuple[int, str]] = []
    notes: list[tuple[int, str, int]] = []
    path_stack: list[Section] = []  # current heading path
    parts: list[_Part] = [_Part("")]
    annexes: dict[str, int] = {}  # part name -> line of its annex heading
    pending: tuple[str, int] | None = None  # (part name, line) of an annex whose first paragraph has not come
    unit: _Unit | None = None
    note_open: list | None = None  # [number or "*", text, line] of the note being read
    in_notes = False
    sub_count = 0
    chapters = 0  # chapters of the current part (English Roman numerals)
    letters = 0  # lettered sections of the current chapter

    def close() -> None:
        nonlocal unit
        if unit is None:
            return
        if unit.kind == "heading":
            if (bad := _prose_line(unit.joined, lang)) is not None:
                raise IngestError(
                    path,
                    bad,
                    f"text after the heading at line {unit.line} is in no numbered paragraph "
                    "(a paragraph must start with its number)",
                )
            unit.ref.title = unit.text  # type: ignore[attr-defined]
        elif unit.kind in ("para", "item"):
            unit.ref.text = unit.text  # type: ignore[attr-defined]
        unit = None

    def open_heading(label: str, title: str, level: int, lineno: int) -> Section:
        nonlocal unit, sub_count, letters
        close()
        sec = Section(label=label, title=title, level=level, line=lineno)
        sections.append(sec)
        while path_stack and path_stack[-1].level >= level:
            path_stack.pop()
        path_stack.append(sec)
        if level < 3:
            sub_count = 0
        if level < 2:
            letters = 0
        unit = _Unit("heading", title, lineno, sec, lang)
        return sec

    def claim(first: int) -> _Part | None:
        """The part whose next number is ``first`` (right after an annex heading, 1 opens the annex's own
        numbering part and the current part's next number continues it), or None."""
        nonlocal pending
        cur = parts[-1]
        if pending is not None:
            name, _ = pending
            if first == 1:
                parts.append(_Part(name))
                pending = None
                return parts[-1]
            if first == cur.next_no:
                pending = None
                return cur
            return None
        return cur if first == cur.next_no else None

    def numbering_error(n: int, lineno: int) -> IngestError:
        cur = parts[-1]
        if pending is not None:
            name, at = pending
            return IngestError(
                path,
                lineno,
                f"numbering of the {name} (line {at}): expected paragraph 1 (numbering restarts) "
                f"or {cur.next_no} (numbering continues), found {n}",
            )
        expected = cur.next_no
        if n in cur.seen:
            return IngestError(
                path,
                lineno,
                f"duplicate paragraph number {n}{cur.where()} (first at line {cur.seen[n]}); expected {expected}",
            )
        what = "numbering gap" if n > expected else "numbering out of order"
        return IngestError(path, lineno, f"{what}{cur.where()}: expected paragraph {expected}, found {n}")

    for idx in range(start, len(lines)):
        lineno = idx + 1
        s = lines[idx].strip()
        if not s:
            continue
        if _RE_RULE.match(s):
            residue.append((lineno, s))
            in_notes = True
            note_open = None
            continue
        if in_notes:
            if note_open is not None and not _note_ended(note_open[1], lang):
                note_open[1] = join_fragment(note_open[1], s)
                if note_open[0] == "*":
                    front.append(s)
                continue
            m = _RE_FOOTNOTE.match(s)
            if (
                m
                and int(m.group(1)) == len(notes) + (isinstance(note_open, list) and note_open[0] != "*") + 1
            ):
                if note_open is not None and note_open[0] != "*":
                    notes.append(tuple(note_open))  # type: ignore[arg-type]
                note_open = [int(m.group(1)), m.group(2), lineno]
                continue
            if _RE_STAR_NOTE.match(s):  # the note to an asterisk of the front matter ("agenda*")
                if note_open is not None and note_open[0] != "*":
                    notes.append(tuple(note_open))  # type: ignore[arg-type]
                note_open = ["*", s, lineno]
                front.append(s)
                continue
            if note_open is not None and note_open[0] != "*":
                notes.append(tuple(note_open))  # type: ignore[arg-type]
            note_open = None
            in_notes = False

        block_start = unit is None or unit.ends_block()
        if block_start:
            if annex := _annex_part(s, lang):
                name, number = annex
                if name in annexes:
                    raise IngestError(path, lineno, f"a second {name} (the first at line {annexes[name]})")
                earlier = [_annex_number(a) for a in annexes]
                if (number == 0 and earlier) or 0 in earlier:
                    raise IngestError(path, lineno, f"{s}: an unnumbered annex must be the only annex")
                if number and number != len(earlier) + 1:
                    raise IngestError(
                        path,
                        lineno,
                        f"annex out of order: expected annex {_to_roman(len(earlier) + 1)}, found {s}",
                    )
                annexes[name] = lineno
                # the label as printed ("附件二"; "Annex II" whatever the case of "ANNEX")
                label = s if lang == "zh" else "Annex" + s[5:]
                open_heading(label, "", 0, lineno)
                pending = (name, lineno)
                chapters = 0
                continue
            if lang == "zh" and (m := _RE_CHAPTER.match(s)):
                open_heading(m.group(1), m.group(2), 1, lineno)
                continue
            if lang == "en" and (m := _RE_ROMAN.match(s)) and (value := _roman_value(m.group(1))):
                letter_expected = len(m.group(1)) == 1 and ord(m.group(1)) - ord("A") == letters
                if (value == chapters + 1 and not letter_expected) or (
                    not _RE_LETTER.match(s) and _is_heading_block(lines, idx, lang)
                ):
                    chapters = value
                    open_heading(m.group(1), m.group(2), 1, lineno)
                    continue
            if (m := _RE_LETTER.match(s)) and _is_heading_block(lines, idx, lang):
                letters = ord(m.group(1)) - ord("A") + 1
                open_heading(m.group(1), m.group(2), 2, lineno)
                continue
            if m := _RE_NUMBER_ONLY.match(s):
                raise IngestError(path, lineno, f"paragraph {m.group(1)} has no text")
            if m := _RE_DELETED.match(s):
                first = int(m.group(1))
                last = int(m.group(2) or first)
                if last < first:
                    raise IngestError(
                        path, lineno, f"deleted paragraphs {first}-{last}: the range runs backwards"
                    )
                part = claim(first)
                if part is None:
                    raise numbering_error(first, lineno)
                close()
                for n in range(first, last + 1):
                    part.seen[n] = lineno
                part.next_no = last + 1
                residue.append((lineno, s))
                unit = _Unit("deleted", s, lineno, None, lang)
                continue
            if m := _RE_NUMBERED.match(s):
                n = int(m.group(1))
                part = claim(n)
                if part is not None:
                    close()
                    # close() has just completed any heading, so the path's strings are final
                    para = Paragraph(
                        number=n,
                        section=[sec.heading for sec in path_stack],
                        text="",
                        line=lineno,
                        part=part.name,
                    )
                    paragraphs.append(para)
                    part.seen[n] = lineno
                    part.next_no = n + 1
                    unit = _Unit("para", m.group(2), lineno, para, lang)
                    continue
                if n == sub_count + 1 and path_stack and _is_heading_block(lines, idx, lang):
                    sub_count = n
                    open_heading(m.group(1), m.group(2), 3, lineno)
                    continue
                raise numbering_error(n, lineno)
            if (m := _RE_ITEM.match(s)) and paragraphs and unit is not None and unit.kind in ("para", "item"):
                para = paragraphs[-1]
                want = chr(ord("a") + len(para.items))
                # "(i)" after an item ending in ":" opens its sub-items (i), (ii), which stay in its text
                sub_items = want == "i" and unit.kind == "item" and unit.text.rstrip().endswith((":", "："))
                if m.group(1) == want and not sub_items:
                    close()
                    item = Item(label=want, text="", line=lineno)
                    para.items.append(item)
                    unit = _Unit("item", m.group(2), lineno, item, lang)
                    continue
        if unit is None:
            raise IngestError(path, lineno, "text before the first heading or paragraph")
        if unit.kind == "deleted":
            raise IngestError(
                path,
                lineno,
                f"text after the deleted paragraphs of line {unit.line} is in no numbered paragraph",
            )
        if unit.kind == "heading":
            unit.joined.append((lineno, s))
        unit.text = join_fragment(unit.text, s)
    if note_open is not None and note_open[0] != "*":
        notes.append(tuple(note_open))  # type: ignore[arg-type]
    close()

    for para in paragraphs:
        if not para.text and not para.items:
            raise IngestError(
                path,
                para.line,
                f"paragraph {para.number}{' of the ' + para.part if para.part else ''} has no text",
            )
    _attach_footnotes(path, paragraphs, notes, lang)
    for para in paragraphs:
        full = para.full_text
        para.sentences = [Sentence(sp.text, sp.start, sp.end) for sp in split_sentences(full)]
        para.lang = lang
        para.document = meta.symbol or ""
    if sha256 is None:
        sha256 = sha256_bytes(text.encode("utf-8"))
    return Corpus(
        path=str(path),
        sha256=sha256,
        metadata=meta,
        sections=sections,
        paragraphs=paragraphs,
        front_matter=front,
        residue=residue,
    )


def _annex_number(name: str) -> int:
    """0 for "annex", the value of its numeral for "annex II"."""
    _, _, numeral = name.partition(" ")
    return (_roman_value(numeral) or 0) if numeral else 0


# ------------------------------------------------------------------------------------------- identity


def settle_identity(
    corpus: Corpus, symbol: str | None = None, lang: str | None = None, *, source: str = "catalog"
) -> Corpus:
    """Give a parsed report its identity: the document symbol and language, on the metadata and on every
    paragraph (``document``, ``lang``), so that citations and language versions line up.

    Args:
        corpus: a parsed report.
        symbol: the document symbol; None keeps the one its front matter prints.
        lang: the language of this version; None keeps the parsed one.
        source: where a given symbol comes from ("catalog", "--symbol"), recorded as ``metadata.symbol_source``
            when the front matter printed none.

    Returns:
        The same corpus.

    Raises:
        IngestError: no symbol known (neither given nor printed: give it with --symbol), a given symbol that
            differs from the printed one, a language that contradicts the text or the parse, or one not supported
            yet (file named).
    """
    meta = corpus.metadata
    printed = meta.symbol if meta.symbol_source == "front matter" else None
    if symbol is not None:
        symbol = symbol.strip()
        if printed and re.sub(r"\s", "", printed) != re.sub(r"\s", "", symbol):
            raise IngestError(
                corpus.path,
                1,
                f"the report prints the symbol {printed} in its front matter, but {symbol} was given",
            )
    symbol = symbol or meta.symbol
    if not symbol:
        raise IngestError(
            corpus.path, 1, "the report prints no document symbol in its front matter; give it with --symbol"
        )
    if lang is not None:
        text = "\n".join(p.full_text for p in corpus.paragraphs)
        _check_language(corpus.path, lang, detect_language(text))
        if lang not in PARSED_LANGUAGES:
            raise IngestError(corpus.path, 0, _unsupported(lang))
        if lang != meta.language:
            raise IngestError(corpus.path, 1, f"the report was parsed as {meta.language}, not {lang}")
    if meta.symbol != symbol:
        meta.symbol, meta.symbol_source = symbol, (meta.symbol_source if symbol == printed else source)
    meta.language = lang or meta.language
    for p in corpus.paragraphs:
        p.document = symbol
        p.lang = meta.language
    return corpus


# ---------------------------------------------------------------------------------------------- files


def ingest_file(path: str | Path, lang: str | None = None) -> Corpus:
    """Read and parse a report file.

    Args:
        path: the report's text file (UTF-8).
        lang: the report's language; None takes the file name's (``NAME.zh.txt``), else detects it.

    Returns:
        The corpus; every paragraph's ``document`` is the printed symbol or "" until :func:`settle_identity`
        settles it (the library does, from its catalog: :func:`pipeline.library.load_library`).

    Raises:
        IngestError: unreadable, empty, not UTF-8, in a language not supported yet or contradicting its text,
            or structurally broken input (file and line named).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(
            path,
            0,
            "no such report; set PIPELINE_HOME to a folder holding corpus/ (with the report) "
            "and indexes/, or run from such a folder",
        ) from None
    except OSError as e:
        raise IngestError(path, 0, f"cannot read the file: {e.strerror or e}") from None
    hint = lang or lang_from_name(path)
    if hint is not None and hint not in PARSED_LANGUAGES:
        _check_language(path, hint, None)
        raise IngestError(path, 0, _unsupported(hint))
    return parse_report(decode_report(raw, path), path, sha256_bytes(raw), lang=hint)
