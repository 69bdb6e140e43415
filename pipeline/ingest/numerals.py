"""Chapter and annex numerals: Roman ("IV") and Chinese ("十二") numerals to numbers and back."""

from __future__ import annotations

import re

__all__ = ["CN_NUM", "cn_value", "roman_value", "to_roman"]

#: The Chinese numeral characters one to ten, as printed in chapter and annex numbers.
CN_NUM = "一二三四五六七八九十"
_ROMAN = [
    (1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
    (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"),
]  # fmt: skip


def to_roman(n: int) -> str:
    """The canonical Roman numeral of ``n`` (4 -> "IV"); "" for 0."""
    out = ""
    for value, sym in _ROMAN:
        while n >= value:
            out += sym
            n -= value
    return out


def roman_value(s: str) -> int | None:
    """The value of a canonical Roman numeral up to 89 ("IV" -> 4), else None ("IIII", "VX")."""
    for n in range(1, 90):
        if to_roman(n) == s:
            return n
    return None


def cn_value(s: str) -> int | None:
    """The value of a Chinese numeral up to 99 ("二" -> 2, "十二" -> 12, "二十" -> 20), else None."""
    digits = {c: i + 1 for i, c in enumerate(CN_NUM[:9])}
    if s in digits:
        return digits[s]
    m = re.fullmatch(rf"([{CN_NUM[:9]}]?)十([{CN_NUM[:9]}]?)", s)
    if not m:
        return None
    return (digits[m.group(1)] if m.group(1) else 1) * 10 + (digits[m.group(2)] if m.group(2) else 0)
