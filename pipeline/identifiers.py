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

Dates, years and plain numbers are not identifiers. :func:`find_references` (what the citation index and the
query router use) also reads a resolution's UN symbol as the resolution: ``A/RES/65/230`` -> ``65/230``,
``S/RES/1851 (2008)`` -> ``1851(2008)``, and names a Security Council resolution without its year
(``S/RES/1851``, ``resolution 1851``, ``第 1851 号决议`` -> ``1851``); the analyzer keeps to
:func:`find_identifiers`, so no index term changes. :func:`parse_paragraph_reference` reads a query that is
a paragraph reference ("第23段和第24段", "paras. 23 and 24", "¶23-¶25", "第二十三、二十四段").

Matching runs on a width-folded copy of the text (NFKC applied one character at a time, so full-width
``６５／２３０`` works) and the reported spans index the original string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pipeline.errors import QueryError

__all__ = [
    "MAX_RANGE",
    "Identifier",
    "chinese_numeral",
    "find_identifiers",
    "find_references",
    "fold_width",
    "parse_paragraph_reference",
]


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


# --- references: resolutions by their UN symbol ----------------------------------------------------------

_RES_COMPONENTS = ("RES", "DEC")
_SESSION = re.compile(r"(?:ES-|S-)?\d{1,4}")  # a session: 65, an emergency or special session: ES-10, S-26
_RES_NUMBER = re.compile(r"\d{1,4}[A-H]?")  # a resolution's number, with a part letter: 37A
# "A/RES/65/37 A": a part letter followed by what may follow a reference (not "A/RES/65/230 A new text")
_PART_AFTER = re.compile(
    r"[ ](?P<p>[A-H])(?=[ \t]*(?:号|[,，;；.。)）(（、]|$|和|及|以及|\s+(?:and|or|of|on|in)\b))"
)
_YEAR_AFTER = re.compile(r"[ \t\u00a0\u3000]*[(（][ \t\u3000]*(?P<y>\d{4})[ \t\u3000]*[)）]")
# A Security Council resolution named without its year: "resolution 1851", "第 1851 号决议".
_SC_NO_YEAR = re.compile(
    rf"(?i)\bresolutions?{_WS}(?P<n1>\d{{3,4}})(?![\d/]|[.,]\d|{_WS}\()|第{_WS}(?P<n2>\d{{3,4}}){_WS}号决议"
)


def _year(text: str, end: int) -> tuple[str, int]:
    """A year in parentheses right after ``end`` ("(2008)", "（2008）"): ``(year, its end)``, else
    ``("", end)``."""
    m = _YEAR_AFTER.match(text, end)
    if m is None:
        return "", end
    y = int(m.group("y"))
    return (str(y), m.end()) if 1945 <= y <= 2099 else ("", end)


def _resolution_symbol(ident: Identifier, text: str) -> Identifier | None:
    """The resolution a UN symbol names (``A/RES/65/230``, ``A/RES/65/230 (2010)``, ``S/RES/1851 (2008)``,
    ``E/RES/2011/33``, ``A/RES/ES-10/19``, decisions ``…/DEC/…``), its span taking a year in parentheses
    that follows; None for any other symbol."""
    parts = ident.key.split("/")
    at = next((i for i, c in enumerate(parts) if c in _RES_COMPONENTS and i > 0), None)
    if at is None:
        return None
    num = parts[at + 1 :]
    year, end = _year(text, ident.end)
    if len(num) == 1 and parts[0] == "S" and at == 1 and num[0].isdigit() and len(num[0]) <= 4:
        n = int(num[0])
        key = f"{n}({year})" if year else str(n)  # without its year: matched against every year's
    elif len(num) == 2 and _SESSION.fullmatch(num[0]) and _RES_NUMBER.fullmatch(num[1]):
        session = str(int(num[0])) if num[0].isdigit() else num[0]
        number = num[1].rstrip("ABCDEFGH")
        letter = num[1][len(number) :]
        if not letter and not year and (m := _PART_AFTER.match(text, ident.end)):
            letter, end = m.group("p"), m.end()
            year, end = _year(text, end)
        key = f"{session}/{int(number)}{letter}"
    else:
        return None
    return Identifier("resolution", key, text[ident.start : end], ident.start, end)


def find_references(text: str) -> list[Identifier]:
    """:func:`find_identifiers`, with resolutions also recognised by their UN symbols and Security Council
    resolutions also without their year — so that ``A/RES/65/230``, ``General Assembly resolution 65/230``
    and ``第 65/230 号决议`` all give the key ``65/230``, and ``S/RES/1851 (2008)`` or ``S/RES/1851(2008)``
    the key ``1851(2008)`` of ``第 1851 (2008)号决议``. A Security Council resolution named without a year
    (``S/RES/1851``, ``resolution 1851``, ``第 1851 号决议``) has the bare number as its key (``1851``); the
    citation index matches it with every year's.

    Args:
        text: Chinese, English or mixed text (full-width characters allowed).

    Returns:
        Non-overlapping identifiers ordered by ``start``; spans index ``text`` itself.
    """
    found: list[Identifier] = []
    for ident in find_identifiers(text):
        res = _resolution_symbol(ident, text) if ident.kind == "symbol" else None
        if res is not None:
            # a year taken into the span may have been read as a number of its own
            found = [i for i in found if i.end <= res.start]
            found.append(res)
        elif not found or ident.start >= found[-1].end:
            found.append(ident)
    folded, origin = fold_width(text)
    for m in _SC_NO_YEAR.finditer(folded):
        s, e = _span(origin, m.start(), m.end())
        if any(i.start < e and s < i.end for i in found):
            continue
        n = int(m.group("n1") or m.group("n2"))
        found.append(Identifier("resolution", str(n), text[s:e], s, e))
    return sorted(found, key=lambda i: i.start)


# --- paragraph references (read by the router, pipeline.cite) ---------------------------------------------

_CN_DIGITS = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def chinese_numeral(s: str) -> int | None:
    """Value of a Chinese numeral below 100,000,000 ("四十一" -> 41, "十五" -> 15, "一百零二" -> 102,
    "一千零一" -> 1001, "九万九千九百九十九" -> 99999), digits written one by one ("九九九" -> 999,
    "四一" -> 41), else None."""
    if not s or any(c not in _CN_DIGITS and c not in _CN_UNITS and c != "万" for c in s):
        return None
    if all(c in _CN_DIGITS for c in s):  # positional, as in "第九九九段"
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    total, section, cur = 0, 0, 0
    for c in s:
        if c in _CN_DIGITS:
            cur = _CN_DIGITS[c]
        elif c in _CN_UNITS:
            section += (cur or 1) * _CN_UNITS[c]
            cur = 0
        else:  # 万
            total += ((section + cur) or 1) * 10_000
            section, cur = 0, 0
    return total + section + cur


# A number: digits of any length (a number no document has is a warning, whatever its size), or a Chinese
# numeral.
#: The longest paragraph range a reference may ask for (the most numbered paragraphs a report may have).
MAX_RANGE = 20_000
_NUM = r"(?:\d+|[零〇一二两三四五六七八九十百千万]{1,12})"
_RANGE_WORDS = r"-|–|—|~|～|至|到|to|through"
_RANGE_SEP = rf"\s*(?:{_RANGE_WORDS}|and|&|,(?!\d{{3}}\b)|，|、|和|及|与)\s*"  # "1,167" is a number
_SUB = r"(?:\s*\(\s*[a-z]\s*\))?"  # "65(d)"
_PARA_WORD = r"(?:paragraphs?|paras?\.?|pars?\.?|¶+|§+|段落?)"
# "paragraphs 23 and 24", "¶23-¶25", "paras. 23 and para. 24": the word may stand again before each number
_RE_PARA_EN = re.compile(
    rf"{_PARA_WORD}\s*(?P<nums>{_NUM}{_SUB}(?:{_RANGE_SEP}(?:{_PARA_WORD}\s*)?{_NUM}{_SUB})*)", re.IGNORECASE
)
_RE_PARA_ZH = re.compile(
    rf"第\s*(?P<nums>{_NUM}{_SUB}(?:{_RANGE_SEP}(?:第\s*)?{_NUM}{_SUB})*)\s*段(?P<sub>{_SUB})"
)
_RE_BARE = re.compile(rf"^\s*(?P<nums>\d+{_SUB}(?:{_RANGE_SEP}\d+{_SUB})*)\s*$")
# "第23段和第24段", "第23段至第25段": each number with its own 段 reads as "第23和第24段"
_RE_ZH_REPEAT = re.compile(rf"段{_SUB}(?P<sep>{_RANGE_SEP})(?=第)")
_RE_NUMBER = re.compile(rf"(?:(?:第|{_PARA_WORD})\s*)?({_NUM})\s*(?:\(\s*([a-z])\s*\))?", re.IGNORECASE)
_FILLER = re.compile(
    r"(?i)\b(?:show|me|print|display|read|open|get|give|find|see|cite|text|of|the|what|does|do|did|say|says|"
    r"is|in|please|full|content|contents|look|up|document|doc)\b|请|显示|查看|给我|看看|打开|原文|全文|内容|是什么|"
    r"说了什么|讲了什么|号文件|文件|的|[?？.。!！:：\s]"
)


def _value(number: str) -> int | None:
    """A number's value (digits, full-width digits or a Chinese numeral), or None."""
    if number.isdigit():
        digits = number.lstrip("0") or "0"
        return int(digits) if len(digits) <= 4000 else None  # int() refuses longer digit strings
    return chinese_numeral(number)


def _expand(nums: str) -> list[tuple[int, str | None]]:
    """ "15-17" -> [(15,None),(16,None),(17,None)]; "3 and 5" -> 3, 5; "65(d)" -> (65, "d").

    Raises:
        QueryError: a range that runs backwards, or one longer than :data:`MAX_RANGE`.
    """
    parts = re.split(rf"({_RANGE_SEP})", nums, flags=re.IGNORECASE)
    out: list[tuple[int, str | None]] = []
    pending_range = False
    for part in parts:
        if not part.strip():
            continue
        if re.fullmatch(_RANGE_SEP, part, flags=re.IGNORECASE):
            pending_range = bool(re.search(_RANGE_WORDS, part, flags=re.IGNORECASE))
            continue
        m = _RE_NUMBER.match(part.strip())
        if not m:
            continue
        value = _value(m.group(1))
        if value is None:
            continue
        if pending_range and out:
            start = out[-1][0]
            if value < start:
                raise QueryError(
                    f"empty range {start}-{value}: the first paragraph number must not exceed the second"
                )
            if value - start >= MAX_RANGE:
                raise QueryError(
                    f"the range {start}-{value} is too long: a reference may ask for at most {MAX_RANGE:,} "
                    "paragraphs (no report has more)"
                )
            out.extend((n, None) for n in range(start + 1, value + 1))
        else:
            out.append((value, m.group(2).lower() if m.group(2) else None))
        pending_range = False
    return out


def parse_paragraph_reference(query: str) -> list[tuple[int, str | None]] | None:
    """Paragraph numbers (with an optional item letter) when the whole query is a paragraph reference.

    Lists and ranges in the forms people type are read: "第23段和第24段", "第23段至第25段", "第23至25段",
    "第二十三、二十四段", "paras. 23 and 24", "paragraphs 23–25", "paras 23, 24 and 26", "¶¶23–24",
    "¶23-¶25"; full-width characters are folded first.

    Returns:
        ``[(number, item_label_or_None), …]`` in the order asked, or None when the query is something else
        (a question that merely mentions a paragraph stays a question).

    Raises:
        QueryError: a range that runs backwards, or one longer than :data:`MAX_RANGE`.
    """
    query = _RE_ZH_REPEAT.sub(lambda m: m.group("sep"), unicodedata.normalize("NFKC", query))
    found: list[tuple[int, str | None]] = []
    rest = query
    for rx in (_RE_PARA_EN, _RE_PARA_ZH, _RE_BARE):
        for m in rx.finditer(query):
            nums = m.group("nums") + (m.groupdict().get("sub") or "")
            found.extend(_expand(nums))
            rest = rest.replace(m.group(0), " ")
    if not found:
        return None
    return found if not _FILLER.sub("", rest) else None
