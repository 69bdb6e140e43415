"""Recognition of citable identifiers in Chinese and English text.

Four kinds are recognised, each reduced to a *key* that is identical whichever language it was written in:

* ``resolution`` -- resolutions and decisions: ``第 65/230 号决议``, ``resolution 65/230`` -> ``65/230``;
  Security Council style ``1851 (2008)`` -> ``1851(2008)``; a lettered part ``65/37 A`` -> ``65/37A``.
  Lists (``第 64/179、65/232 和 66/181 号决议``) give one identifier per item, since every item has the
  shape of a resolution number on its own.
* ``symbol`` -- United Nations document symbols, upper-cased without spaces: ``S/2009/146``,
  ``CTOC/COP/WG.3/4``, ``UNODC/CCPCJ/EG.1/2012/4``.
* ``article`` -- articles of the Convention: ``第 28 条``, ``article 28``, ``art. 28`` -> ``article:28``;
  lists ``第 5 条、第 6 条和第 23 条``, ``第 5、6 和 8 条``, ``articles 27 and 29`` give one per article.
* ``number`` -- quantities written with separators or magnitude words: ``1,167`` -> ``1167``;
  ``1.7 亿`` -> ``1.7亿``; ``4,000 万`` -> ``4000万``; English magnitudes are converted to the Chinese
  form so that ``170 million`` -> ``1.7亿`` and ``40 million`` -> ``4000万``; percentages ``50 %`` -> ``50%``.

Dates, years and plain numbers are not identifiers. Matching runs on a width-folded copy of the text (NFKC
applied one character at a time, so full-width ``６５／２３０`` works) and the reported spans index the
original string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["Identifier", "find_identifiers", "fold_width"]


@dataclass(frozen=True)
class Identifier:
    """One identifier found in a text.

    Attributes:
        kind: ``"resolution"`` (also decisions), ``"symbol"``, ``"article"`` or ``"number"``.
        key: normalised form, identical whether written in Chinese or English.
        text: the matched text as it appears in the input.
        start: start offset in the input string.
        end: end offset (exclusive) in the input string.
    """

    kind: str
    key: str
    text: str
    start: int
    end: int


def fold_width(text: str) -> tuple[str, list[int]]:
    """NFKC-fold ``text`` one character at a time and keep a map back to the original offsets.

    Args:
        text: any string.

    Returns:
        ``(folded, origin)`` where ``origin[i]`` is the offset in ``text`` of the character that produced
        ``folded[i]``; ``origin`` has one extra final entry equal to ``len(text)``.
    """
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch.isascii():
            out.append(ch)
            origin.append(i)
            continue
        folded = unicodedata.normalize("NFKC", ch)
        for c in folded:
            out.append(c)
            origin.append(i)
    origin.append(len(text))
    return "".join(out), origin


# --- patterns (on NFKC-folded text) ---------------------------------------------------------------------

_WS = r"[ \t\r\n\u00a0]*"  # NFKC has turned U+3000 into a plain space
_SEP_ZH = rf"{_WS}(?:、|,|，|;|和|及|以及|与|或|至|到|-|–){_WS}"

# Document symbol: an upper-case series component, then "/" components; whitespace may follow a slash
# (line breaks in the source). Components may contain dots and hyphens but do not end in them.
_SYMBOL_COMPONENT = r"[A-Za-z0-9](?:[A-Za-z0-9.\-]*[A-Za-z0-9])?"
_SYMBOL = re.compile(
    rf"(?<![A-Za-z0-9/._\-])[A-Za-z]{{1,12}}(?:/[ \t\r\n]*{_SYMBOL_COMPONENT}){{1,8}}(?![A-Za-z0-9/])"
)

# Resolution number: session/number, optionally a part letter; or Security Council "1851 (2008)".
_RES_SLASH = r"(?<![A-Za-z0-9/.\-_])(?P<a>\d{1,4})/(?P<b>\d{1,4})(?![0-9/]|\.\d)"
# Part letter: attached ("65/37A") or one space then a capital, followed by 号, punctuation, end or a
# connective word -- so that "65/230 A new text" does not swallow the article "A".
_RES_PART = (
    r"(?:(?P<p1>[A-H])(?![A-Za-z0-9])"
    r"|[ ](?P<p2>[A-H])(?=[ \t]*(?:号|[,，;；.。)）、]|$|和|及|以及|\s+(?:and|or|of|on|in)\b)))"
)
_RESOLUTION = re.compile(rf"{_RES_SLASH}(?:{_RES_PART})?", re.MULTILINE)
_RES_SC = re.compile(rf"(?<![0-9/.,])(?P<n>\d{{3,4}}){_WS}\({_WS}(?P<y>(?:19[4-9]|20\d)\d){_WS}\)")

# Articles, Chinese: 第 5 条 / 第 5、6 和 8 条 / 第 2 条(b)款 (the 款 part is not part of the match).
_ART_ZH = re.compile(rf"第{_WS}(?P<list>\d{{1,3}}(?:{_SEP_ZH}第?{_WS}\d{{1,3}})*){_WS}条")
# Articles, English: article 28 / articles 27 and 29 / art. 28 / arts. 5, 6 and 8.
_ART_EN = re.compile(
    r"\b(?:articles?|arts?\.?)\s+(?P<list>\d{1,3}(?:\s*(?:,|;|and|or|&|to|-|–)\s*(?:articles?\s+)?\d{1,3}"
    r"(?!\d)(?![/,.]\d))*)(?![\d/]|[.,]\d)",
    re.IGNORECASE,
)
_INT = re.compile(r"\d{1,3}")

# Numbers: separators, magnitude words, percentages.
_NUM_BODY = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_NUMBER = re.compile(
    rf"(?<![A-Za-z0-9/.,_\-])(?P<num>{_NUM_BODY})(?:(?P<unit>{_WS}(?:亿|万|千万|百万))"
    rf"|(?P<enunit>[ ]?(?:thousand|million|billion|trillion)\b|(?:bn|m)\b)"
    rf"|(?P<pct>[ ]?%))?(?![0-9])",
    re.IGNORECASE,
)

_ZH_UNIT = {
    "万": Decimal(10) ** 4,
    "百万": Decimal(10) ** 6,
    "千万": Decimal(10) ** 7,
    "亿": Decimal(10) ** 8,
}
_EN_UNIT = {
    "thousand": Decimal(10) ** 3,
    "million": Decimal(10) ** 6,
    "m": Decimal(10) ** 6,
    "billion": Decimal(10) ** 9,
    "bn": Decimal(10) ** 9,
    "trillion": Decimal(10) ** 12,
}

_PRIORITY = {"symbol": 0, "resolution": 1, "article": 2, "number": 3}


def _fmt_decimal(d: Decimal) -> str:
    """Format a decimal without exponent or trailing zeros (``Decimal('1.70')`` -> ``'1.7'``)."""
    s = format(d.normalize(), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def _magnitude_key(value: Decimal) -> str:
    """Express an amount in the Chinese form used by the report: ``1.7亿``, ``4000万`` or plain digits."""
    if value >= _ZH_UNIT["亿"]:
        return _fmt_decimal(value / _ZH_UNIT["亿"]) + "亿"
    if value >= _ZH_UNIT["万"]:
        return _fmt_decimal(value / _ZH_UNIT["万"]) + "万"
    return _fmt_decimal(value)


def _number_key(m: re.Match[str]) -> str | None:
    raw = m.group("num")
    has_sep = "," in raw
    digits = raw.replace(",", "")
    try:
        value = Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the pattern only admits digits
        return None
    if m.group("pct"):
        return _fmt_decimal(value) + "%"
    unit = m.group("unit")
    if unit:
        unit = unit.strip(" \t\r\n\u00a0")
        if unit in ("万", "亿"):
            # keep the report's own unit: "1.7 亿" -> "1.7亿", "4,000 万" -> "4000万"
            return _fmt_decimal(value) + unit
        return _magnitude_key(value * _ZH_UNIT[unit])
    enunit = m.group("enunit")
    if enunit:
        word = enunit.strip().lower()
        return _magnitude_key(value * _EN_UNIT[word])
    if has_sep:
        return _fmt_decimal(value)
    return None  # plain numbers, years, dates are not identifiers


def _span(origin: list[int], start: int, end: int) -> tuple[int, int]:
    return origin[start], origin[end - 1] + 1


def find_identifiers(text: str) -> list[Identifier]:
    """Find resolutions, document symbols, Convention articles and quantities in ``text``.

    Args:
        text: Chinese, English or mixed text (full-width characters allowed).

    Returns:
        Non-overlapping identifiers ordered by ``start``; spans index ``text`` itself.
    """
    if not text:
        return []
    folded, origin = fold_width(text)
    # (start, end, kind, key) in folded coordinates
    cands: list[tuple[int, int, str, str]] = []

    for m in _SYMBOL.finditer(folded):
        raw = m.group(0)
        compact = re.sub(r"\s+", "", raw)
        parts = compact.split("/")
        if not any(ch.isdigit() for ch in compact):
            continue  # "CTOC/COP" alone, "and/or"
        if not raw[0].isupper() and len(parts) < 3:
            continue  # lower-case series need at least two slashes to count as a symbol
        cands.append((m.start(), m.end(), "symbol", compact.upper()))

    for m in _RESOLUTION.finditer(folded):
        a, b = int(m.group("a")), int(m.group("b"))
        if a == 0 or b == 0:
            continue
        part = m.group("p1") or m.group("p2") or ""
        cands.append((m.start(), m.end(), "resolution", f"{a}/{b}{part}"))
    for m in _RES_SC.finditer(folded):
        cands.append((m.start(), m.end(), "resolution", f"{int(m.group('n'))}({m.group('y')})"))

    for rx in (_ART_ZH, _ART_EN):
        for m in rx.finditer(folded):
            nums = list(_INT.finditer(m.group("list")))
            base = m.start("list")
            if len(nums) == 1:
                cands.append((m.start(), m.end(), "article", f"article:{int(nums[0].group(0))}"))
                continue
            # one identifier per listed article; the first spans from the keyword, the last to the end
            for j, n in enumerate(nums):
                s = m.start() if j == 0 else base + n.start()
                e = m.end() if j == len(nums) - 1 else base + n.end()
                cands.append((s, e, "article", f"article:{int(n.group(0))}"))

    for m in _NUMBER.finditer(folded):
        key = _number_key(m)
        if key is not None:
            end = m.end()
            while end > m.start() and folded[end - 1] in " \t\r\n\u00a0":
                end -= 1
            cands.append((m.start(), end, "number", key))

    # Resolve overlaps: earlier start first, then higher priority kind, then longer match.
    cands.sort(key=lambda c: (c[0], _PRIORITY[c[2]], -(c[1] - c[0])))
    chosen: list[tuple[int, int, str, str]] = []
    for c in cands:
        if chosen and c[0] < chosen[-1][1]:
            prev = chosen[-1]
            # a citation that starts inside a quantity match wins over the quantity
            if prev[2] == "number" and _PRIORITY[c[2]] < _PRIORITY["number"]:
                chosen[-1] = c
            continue
        chosen.append(c)

    out: list[Identifier] = []
    for s, e, kind, key in chosen:
        os_, oe = _span(origin, s, e)
        out.append(Identifier(kind=kind, key=key, text=text[os_:oe], start=os_, end=oe))
    return out
