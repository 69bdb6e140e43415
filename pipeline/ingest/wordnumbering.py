"""Word's automatic numbering (``word/numbering.xml``), as :mod:`pipeline.ingest.docx` renders it: the
label a numbered paragraph (``w:numPr``, on the paragraph or its style) shows — "12. ", "(a) ", "IV. ",
"一、".

:class:`Lists` reads the part and counts in document order: a level's ``lvlText`` with each "%N" in level
N's format (:func:`format_number`: decimal, lower/upper letter, lower/upper Roman, Chinese counting, …),
counted as Word counts — per abstract numbering (lists — numIds — sharing one continue each other's count),
a list's ``startOverride`` restarting the count at its first paragraph of that level, lower levels
restarting (``lvlRestart`` honoured), numbering styles followed (``w:numStyleLink``) — then the level's
suffix (tab or space: one space; nothing). Bullets are printed as the character they show
(:func:`symbol_text`, which also maps a symbol font's private-use characters to Unicode).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from pipeline.ingest.numerals import to_roman
from pipeline.ingest.wordparts import VAL, Styles, to_int, toggle, w

__all__ = ["Lists", "format_number", "symbol_text"]


_CN_DIGITS = "零一二三四五六七八九"
_LEGAL_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_CN_COUNTING = {
    "chineseCounting", "chineseCountingThousand", "japaneseCounting", "taiwaneseCounting",
    "taiwaneseCountingThousand",
}  # fmt: skip


@dataclass
class _Level:
    """One level of a list: how its numbers are counted and printed."""

    start: int
    fmt: str
    text: str
    restart: int | None  # lvlRestart: restarts after a level up to this one (1-based) is used; 0 never
    legal: bool
    suffix: str
    style: str | None


def _num_format(lvl: ET.Element) -> str:
    """A level's number format; inside ``mc:AlternateContent`` (a "custom" format of Word 2010 on, e.g. "一,
    二, 三, ..." or "001, 002, 003, ...") the custom format when it is one of these, else the fallback."""
    direct = lvl.find(w("numFmt"))
    if direct is not None:
        return direct.get(VAL) or "decimal"
    formats = list(lvl.iter(w("numFmt")))
    for el in formats:
        custom = el.get(w("format"), "")
        if el.get(VAL) == "custom" and custom:
            if custom[0] in _CN_DIGITS[1:]:
                return "chineseCounting"
            if re.match(r"0+1\b", custom):
                return f"decimalZero{len(custom.split(',')[0])}"
    return next((el.get(VAL, "") for el in formats if el.get(VAL) not in (None, "custom")), "decimal")


def _level(lvl: ET.Element) -> _Level:
    def val(name: str) -> str | None:
        el = lvl.find(w(name))
        return el.get(VAL) if el is not None else None

    restart = val("lvlRestart")
    suffix = {"nothing": "", "space": " "}.get(val("suff") or "tab", " ")
    return _Level(
        start=to_int(val("start")),
        fmt=_num_format(lvl),
        text=val("lvlText") or "",
        restart=to_int(restart) if restart is not None else None,
        legal=bool(toggle(lvl.find(w("isLgl")))),
        suffix=suffix,
        style=val("pStyle"),
    )


class Lists:
    """Word's automatic numbering: the numbers of numbered paragraphs, counted in document order."""

    def __init__(self, root: ET.Element | None, styles: Styles) -> None:
        self.styles = styles
        self.abstract: dict[str, dict[int, _Level]] = {}
        self.style_links: dict[str, str] = {}  # abstractNumId -> numbering style (w:numStyleLink)
        self.nums: dict[str, tuple[str, dict[int, tuple[int | None, _Level | None]]]] = {}
        self.counters: dict[str, dict[int, int]] = {}  # per abstract numbering: level -> count
        self.entered: set[tuple[str, int]] = set()  # (numId, level) seen: a startOverride applies once
        if root is None:
            return
        for ab in root.iter(w("abstractNum")):
            ab_id = ab.get(w("abstractNumId"), "")
            self.abstract[ab_id] = {to_int(lvl.get(w("ilvl"))): _level(lvl) for lvl in ab.iter(w("lvl"))}
            link = ab.find(w("numStyleLink"))
            if link is not None and link.get(VAL):
                self.style_links[ab_id] = link.get(VAL, "")
        for num in root.iter(w("num")):
            ab_ref = num.find(w("abstractNumId"))
            if ab_ref is None:
                continue
            overrides: dict[int, tuple[int | None, _Level | None]] = {}
            for ov in num.iter(w("lvlOverride")):
                start = ov.find(w("startOverride"))
                lvl = ov.find(w("lvl"))
                overrides[to_int(ov.get(w("ilvl")))] = (
                    to_int(start.get(VAL)) if start is not None else None,
                    _level(lvl) if lvl is not None else None,
                )
            self.nums[num.get(w("numId"), "")] = (ab_ref.get(VAL, ""), overrides)

    def _abstract(self, ab_id: str) -> tuple[str, dict[int, _Level]]:
        """An abstract numbering's id and levels, following a numbering style's link to the list it stands
        for (``w:numStyleLink``)."""
        for _ in range(5):
            style = self.style_links.get(ab_id)
            num_id = self.styles.numbering_style_num(style) if style else None
            if num_id is None or num_id not in self.nums:
                break
            ab_id = self.nums[num_id][0]
        return ab_id, self.abstract.get(ab_id, {})

    def label(self, num_id: str | None, ilvl: int | None, style_id: str | None) -> str:
        """Count the next number of list ``num_id`` at level ``ilvl`` and return it as printed, with its
        suffix ("12. ", "(a) "); "" when the paragraph is not numbered."""
        if not num_id or num_id not in self.nums:
            return ""
        ab_id, overrides = self.nums[num_id]
        ab_id, levels = self._abstract(ab_id)
        if ilvl is None:  # a style's list: the level tied to the style, else the first
            ilvl = next((k for k, lv in levels.items() if style_id and lv.style == style_id), 0)

        def level(k: int) -> _Level | None:
            override = overrides.get(k)
            return override[1] if override and override[1] is not None else levels.get(k)

        def start(k: int) -> int:
            override = overrides.get(k)
            if override and override[0] is not None:
                return override[0]
            lv = level(k)
            return lv.start if lv else 0

        current = level(ilvl)
        if current is None:
            return ""
        # Word counts per abstract numbering: lists (numIds) sharing one continue each other's count, and a
        # list with a startOverride restarts it at its first paragraph of that level
        counts = self.counters.setdefault(ab_id, {})
        restart_at = overrides.get(ilvl, (None, None))[0] if (num_id, ilvl) not in self.entered else None
        self.entered.add((num_id, ilvl))
        if restart_at is not None:
            counts[ilvl] = restart_at
        else:
            counts[ilvl] = counts[ilvl] + 1 if ilvl in counts else start(ilvl)
        for k in [k for k in counts if k > ilvl]:
            lv = level(k)
            restart = lv.restart if lv else None
            if restart is None or (restart > 0 and ilvl < restart):
                del counts[k]
        if current.fmt == "bullet":
            return symbol_text(current.text) + current.suffix if current.text else ""

        def number(m: re.Match[str]) -> str:
            k = int(m.group(1)) - 1
            lv = level(k)
            fmt = "decimal" if current.legal else (lv.fmt if lv else "decimal")
            return format_number(counts.get(k, start(k)), fmt)

        text = re.sub(r"%([1-9])", number, current.text)
        return text + current.suffix if text else ""


def _chinese(n: int, digits: str = _CN_DIGITS, units: str = "十百千") -> str:
    """A Chinese counting numeral (12 -> 十二, 20 -> 二十, 105 -> 一百零五) up to 9999."""
    if n < 10:
        return digits[n]
    if n >= 10000:
        return str(n)
    out, zero = "", False
    for power, unit in ((1000, units[2]), (100, units[1]), (10, units[0]), (1, "")):
        d = n // power % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += digits[0]
            zero = False
        out += ("" if (power == 10 and d == 1 and not out and digits is _CN_DIGITS) else digits[d]) + unit
    return out


def format_number(n: int, fmt: str) -> str:
    """A list counter ``n`` in Word's number format ``fmt`` (``w:numFmt``); decimal for formats not known."""
    if fmt in ("upperRoman", "lowerRoman"):
        roman = to_roman(n) if n > 0 else str(n)
        return roman if fmt == "upperRoman" else roman.lower()
    if fmt in ("upperLetter", "lowerLetter"):
        if n <= 0:
            return str(n)
        letter = chr(ord("A") + (n - 1) % 26) * ((n - 1) // 26 + 1)  # Word: …, Z, AA, BB, …
        return letter if fmt == "upperLetter" else letter.lower()
    if fmt in _CN_COUNTING:
        return _chinese(n) if n >= 0 else str(n)
    if fmt in ("chineseLegalSimplified", "ideographLegalTraditional"):
        return _chinese(n, _LEGAL_DIGITS, "拾佰仟") if n >= 0 else str(n)
    if fmt in ("ideographDigital", "taiwaneseDigital", "japaneseDigitalTenThousand"):
        return "".join("〇一二三四五六七八九"[int(c)] for c in str(n)) if n >= 0 else str(n)
    if fmt == "ideographTraditional" and 1 <= n <= 10:
        return "甲乙丙丁戊己庚辛壬癸"[n - 1]
    if fmt == "ideographZodiac" and 1 <= n <= 12:
        return "子丑寅卯辰巳午未申酉戌亥"[n - 1]
    if fmt in ("decimalFullWidth", "decimalFullWidth2"):
        return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in str(n))
    if fmt in ("decimalEnclosedCircle", "decimalEnclosedCircleChinese") and 1 <= n <= 20:
        return chr(0x2460 + n - 1)
    if fmt == "decimalEnclosedParen" and 1 <= n <= 20:
        return chr(0x2474 + n - 1)
    if fmt == "decimalEnclosedFullstop" and 1 <= n <= 20:
        return chr(0x2488 + n - 1)
    if fmt == "decimalZero":
        return f"{n:02d}"
    if fmt.startswith("decimalZero") and fmt[11:].isdigit():  # a custom "001, 002, 003, ..."
        return f"{n:0{int(fmt[11:])}d}"
    if fmt == "none":
        return ""
    return str(n)


def symbol_text(text: str) -> str:
    """Characters of a symbol font (U+F000–U+F0FF) as the Unicode characters they show."""
    special = {0xF0B7: "•", 0xF0A7: "▪", 0xF0D8: "➢", 0xF0FC: "✓", 0xF06F: "o", 0xF02D: "-"}
    return "".join(
        special.get(ord(c), chr(ord(c) - 0xF000)) if 0xF000 <= ord(c) <= 0xF0FF else c for c in text
    )
