"""The front matter: the lines before the body, read into the report's :class:`~pipeline.corpus.Metadata`.

**Front matter.** The symbol is the first document symbol printed in the masthead (before the session, dates
and agenda lines); the title is the longest block between those lines and the report type ("秘书处的报告",
"秘书处的说明", "秘书处编写的背景文件", "Report of the Secretariat", "Note by the Secretariat", "Background
paper prepared by the Secretariat" …). The masthead's date and the language it names are kept too
(:attr:`~pipeline.corpus.Metadata.issued`, :attr:`~pipeline.corpus.Metadata.masthead_language`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce

from pipeline.corpus import Metadata
from pipeline.text import join_fragment

__all__ = ["parse_front_matter"]

_RE_SYMBOL = re.compile(r"\b[A-Z]{1,8}(?:/[A-Z0-9.]+){2,}\b")
_MASTHEAD = re.compile(r"Distr\.|Original:|^V\.\d{2}-\d{5}|^\*\d+\*$|^United Nations$|^联\s*合\s*国$")
_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"


@dataclass(frozen=True)
class _FrontRules:
    """How one language prints the front matter's lines, and how its lines join into one text."""

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


def parse_front_matter(lines: list[str], lang: str = "zh") -> tuple[Metadata, list[str]]:
    """Read the lines before the body.

    Args:
        lines: the report's lines before its body.
        lang: "zh" or "en".

    Returns:
        The metadata (symbol, session, dates, place, agenda item and title, report type, title, as found) and
        the non-blank lines, stripped.
    """
    rules = _FRONT[lang]
    meta = Metadata(language=lang)
    masthead, rest = _sort_blocks(_blocks(lines), rules, meta)
    for block in masthead:
        if m := _RE_SYMBOL.search(" ".join(block)):
            meta.symbol, meta.symbol_source = m.group(0), "front matter"
            break
    _read_masthead([line for block in masthead for line in block], meta)
    if not (meta.session or meta.dates or meta.agenda_item):
        # no such lines: any block but the masthead's own
        rest = [b for b in masthead if not any(_MASTHEAD.search(x) or _RE_SYMBOL.search(x) for x in b)]
    _read_title(rest, rules, meta)
    return meta, [line.strip() for line in lines if line.strip()]


_RE_ISSUED = re.compile(rf"^\d{{1,2}}\s+(?:{_MONTHS})\s+\d{{4}}$")
_LANGUAGE_NAMES = {
    "Arabic": "ar",
    "Chinese": "zh",
    "English": "en",
    "French": "fr",
    "Russian": "ru",
    "Spanish": "es",
}


def _read_masthead(lines: list[str], meta: Metadata) -> None:
    """The masthead's date ("17 August 2012") and the language it names: the version's own line ("Chinese"),
    else the original's ("Original: English", which an original version prints alone)."""
    original = None
    for line in lines:
        if meta.issued is None and _RE_ISSUED.match(line):
            meta.issued = line
        elif line in _LANGUAGE_NAMES and meta.masthead_language is None:
            meta.masthead_language = _LANGUAGE_NAMES[line]
        elif m := re.match(r"^Original:\s*(\w+)$", line):
            original = _LANGUAGE_NAMES.get(m.group(1))
    if meta.masthead_language is None:
        meta.masthead_language = original


def _blocks(lines: list[str]) -> list[list[str]]:
    """The groups of non-blank lines (stripped) between blank lines."""
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
    return blocks


def _sort_blocks(
    blocks: list[list[str]], rules: _FrontRules, meta: Metadata
) -> tuple[list[list[str]], list[list[str]]]:
    """Read the session, dates and agenda lines into ``meta``; return the masthead (the blocks before the
    first of those lines) and the rest (the blocks after the last of them that carry none)."""
    masthead: list[list[str]] = []
    rest: list[list[str]] = []
    for block in blocks:
        if _read_session_lines(block, rules, meta):
            rest = []  # the title comes after the last of them
        elif meta.session or meta.dates or meta.agenda_item:
            rest.append(block)
        else:
            masthead.append(block)
    return masthead, rest


def _read_session_lines(block: list[str], rules: _FrontRules, meta: Metadata) -> bool:
    """Read the first session, dates and agenda lines of ``block`` not read yet; True when it held any. The
    lines after an agenda line are the agenda item's title."""
    found = False
    for k, line in enumerate(block):
        if meta.session is None and rules.session.search(line):
            meta.session, found = line, True
        elif meta.dates is None and (d := rules.dates(line)):
            (meta.dates, meta.place), found = d, True
        elif meta.agenda_item is None and (m := rules.agenda.search(line)):
            meta.agenda_item = m.group(1)
            meta.agenda_title = rules.join(block[k + 1 :]) or None
            return True
    return found


def _read_title(candidates: list[list[str]], rules: _FrontRules, meta: Metadata) -> None:
    """Read the report type (the last candidate block naming one) and the title (the longest other block)."""
    for block in reversed(candidates):
        if rules.report_type.search(rules.join(block)):
            meta.report_type = rules.join(block)
            candidates = [b for b in candidates if b is not block]
            break
    if candidates:
        meta.title = rules.join(max(candidates, key=lambda b: len(rules.join(b))))
