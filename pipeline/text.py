"""Character-level text rules shared by ingest and the analyzers: normalization, line joining, sentences.

Nothing here knows about paragraphs or reports; these are the rules of mixed Chinese/Latin typography.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

#: CJK ideographs as the body of a regex character class (BMP blocks and the supplementary ones that occur in
#: UN texts): the one definition of "a Chinese character" for ingest, the analyzer, translation and retrieval.
CJK_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
#: CJK punctuation and full-width forms, as the body of a regex character class.
CJK_PUNCTUATION = "\u3000-\u303f\uff00-\uffef"
#: Latin letters (ASCII and Latin-1/Extended-A/B, without × and ÷): the one definition of "a Latin letter".
LATIN_LETTERS = "A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f"
_IDEOGRAPH = re.compile(f"[{CJK_IDEOGRAPHS}]")
# CJK punctuation and full-width forms (and curly quotes, ellipsis, dashes): no space is ever inserted
# next to these.
_CJK_PUNCT = re.compile(f"[{CJK_PUNCTUATION}\u2018-\u201f\u2026\u2014\u00b7]")
_LATIN_WORD = re.compile(f"[{LATIN_LETTERS}]{{2,}}")
_LATIN_OR_DIGIT = re.compile(r"[0-9A-Za-z\u00c0-\u024f%]")
_URLISH_TAIL = re.compile(r"(?:https?://|www\.|\w/)\S*$")

_SPACE_RUN = re.compile(r"\s+")


def is_ideograph(ch: str) -> bool:
    """True for a CJK ideograph."""
    return bool(_IDEOGRAPH.match(ch))


def query_language(text: str) -> Literal["zh", "en"]:
    """ "zh" when a text is mostly Chinese, else "en" (two CJK characters weigh as one Latin word)."""
    cjk = len(_IDEOGRAPH.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    return "zh" if cjk and cjk >= 2 * latin else "en"


def normalize(text: str) -> str:
    """Indexing form: NFKC (full-width/half-width folding) and runs of white space folded to one space."""
    return _SPACE_RUN.sub(" ", unicodedata.normalize("NFKC", text)).strip()


#: The longest document symbol taken (UN symbols run 10-40 characters; A/HRC/WG.6/40/L.10/Add.1/Rev.1 has 31).
MAX_SYMBOL_CHARS = 80
_SYMBOL_CHARS = re.compile(r"[A-Za-z0-9/.()\-_*]+")


def symbol_form(text: str) -> str:
    """A document symbol as the library stores it: width-folded (NFKC: full-width ``ＣＴＯＣ／…`` becomes
    ``CTOC/…``) and without white space (``CTOC/COP/2012/ 7`` becomes ``CTOC/COP/2012/7``); the case is kept
    as written.

    Raises:
        ValueError: an empty symbol, one longer than :data:`MAX_SYMBOL_CHARS`, or one with characters no UN
            symbol has (letters, digits and ``/ . ( ) - _ *`` only); the message says which.
    """
    form = _SPACE_RUN.sub("", unicodedata.normalize("NFKC", text))
    if not form:
        raise ValueError("an empty document symbol")
    if len(form) > MAX_SYMBOL_CHARS:
        raise ValueError(f"a document symbol of {len(form)} characters (at most {MAX_SYMBOL_CHARS})")
    if not _SYMBOL_CHARS.fullmatch(form):
        bad = sorted({c for c in form if not _SYMBOL_CHARS.fullmatch(c)})
        shown = ", ".join(repr(c) for c in bad[:5])
        raise ValueError(
            f"{form[:40]!r} is not a document symbol (it has {shown}; use letters, digits and / . - ( ))"
        )
    return form


def symbol_key(text: str) -> str:
    """What two spellings of one symbol share: UN symbols are case-insensitive (``ctoc/cop/2012/7`` is
    ``CTOC/COP/2012/7``). Width and white space are folded as in :func:`symbol_form`; never raises."""
    return _SPACE_RUN.sub("", unicodedata.normalize("NFKC", text)).casefold()


def join_fragment(left: str, right: str) -> str:
    """Join two fragments of a line-broken text with the separator the typography calls for.

    Rules (each one general, none about a particular document):

    * CJK next to CJK (ideograph or punctuation): no space — Chinese has none.
    * An ideograph next to a Latin letter or digit: one space, the convention of UN Chinese texts
      ("第 28 条", "2010 年 10 月", "意大利 carabinieri"), so a reference broken over lines reads as printed.
    * CJK punctuation next to anything: no space ("。2011 年", "（S/2012/50）"); curly quotes count as CJK
      punctuation except in English, where an opening quote starting the next fragment or a closing quote
      ending this one is spaced from the word beside it ("called" + "“boat migration”").
    * Latin next to Latin: one space ("de lutte contre" + "la criminalité"), except inside a URL or a
      document symbol broken after ``.``, ``_``, ``/`` or ``-`` ("www.unodc." + "org/…", "UNODC/CCPCJ/" +
      "EG.1/…"), which is re-joined without a space.

    Args:
        left: text so far (may end in white space, which is ignored).
        right: the next fragment (leading white space ignored).

    Returns:
        The joined text.
    """
    left = left.rstrip()
    right = right.lstrip()
    if not left:
        return right
    if not right:
        return left
    a, b = left[-1], right[0]
    if (b in "“‘" and not is_ideograph(right[1:2]) and not _CJK_PUNCT.match(a) and not is_ideograph(a)) or (
        a in "”’" and not is_ideograph(left[-2:-1]) and not _CJK_PUNCT.match(b) and not is_ideograph(b)
    ):
        sep = " "  # an English quotation opening the next line, or closing this one: 'called' + '“boat'
    elif _CJK_PUNCT.match(a) or _CJK_PUNCT.match(b):
        sep = ""
    elif is_ideograph(a) and is_ideograph(b):
        sep = ""
    elif is_ideograph(a) or is_ideograph(b):
        sep = " " if (_LATIN_OR_DIGIT.match(a) or _LATIN_OR_DIGIT.match(b)) else ""
    elif a in "._/-" and _URLISH_TAIL.search(left.split()[-1]) and not b.isspace():
        sep = ""
    elif a == "," and b.isdigit() and left[-2:-1].isdigit():
        sep = ""  # a number broken after its thousands separator: "1," + "167"
    else:
        sep = " "
    return left + sep + right


@dataclass(frozen=True)
class Span:
    """A sentence: its text and ``[start, end)`` character offsets into the string it was cut from."""

    text: str
    start: int
    end: int


# Sentence ends: CJK terminal punctuation, then any closing quotes/brackets; Latin ";" anywhere, Latin "."
# "!" "?" only before white space not followed by a lower-case letter, or at the end (see split_sentences).
_CJK_END = "。；！？"
_CLOSERS = "”’」』）)]》〉\"'"


#: English abbreviations whose "." does not end a sentence: citations ("para. 59", "vol. 2326", "No. 39574",
#: "pp. 10-12", "art. 5", "chap. 3"), "e.g." / "i.e." / "cf." / "viz.", "v." in case names, and titles
#: ("Mr. Smith"). Each is matched as a whole word in the case listed; one in lower case of two letters or more
#: is also matched with a capital first letter, as printed opening a sentence ("Para. 5", "E.g. the"), while
#: "No" is matched only with its capital (so "… the answer was no." ends its sentence) and "p", "v" only in
#: lower case ("chapter V." ends one). The one list for sentences (:func:`split_sentences`) and for line ends
#: (:mod:`pipeline.ingest.layout`).
ABBREVIATIONS_EN = (
    "para",
    "paras",
    "subpara",
    "subparas",
    "art",
    "arts",
    "No",
    "Nos",
    "vol",
    "vols",
    "p",
    "pp",
    "chap",
    "sect",
    "e.g",
    "i.e",
    "cf",
    "viz",
    "v",
    "vs",
    "Mr",
    "Ms",
    "Mrs",
    "Messrs",
    "Dr",
    "Prof",
)
_ABBREVIATION_FORMS = sorted(
    set(ABBREVIATIONS_EN) | {a[0].upper() + a[1:] for a in ABBREVIATIONS_EN if a[0].islower() and len(a) > 1},
    key=len,
    reverse=True,
)
_RE_ABBREVIATION_END = re.compile(rf"(?<![\w.])(?:{'|'.join(map(re.escape, _ABBREVIATION_FORMS))})\.\Z")
_LONGEST_ABBREVIATION = len(_ABBREVIATION_FORMS[0]) + 1


def ends_in_abbreviation(text: str, end: int | None = None) -> bool:
    """True when ``text[:end]`` ends, white space aside, in one of :data:`ABBREVIATIONS_EN` and its "."
    ("see A/67/100, para.", "e.g.", "Mr."), taken as a whole word (not "xpara." nor "U.S.p.")."""
    stop = len(text) if end is None else end
    while stop > 0 and text[stop - 1].isspace():
        stop -= 1
    return bool(_RE_ABBREVIATION_END.search(text, max(0, stop - _LONGEST_ABBREVIATION), stop))


_RE_ITEM_JOINER = re.compile(r"[ \t]*(?:and|or)[ \t]*(?:\n|$)")
_RE_NEXT_CAPITAL = re.compile(r"\s+[A-Z]")
_RE_NEXT_LOWER = re.compile(r"[ \t]+[a-z\u00df-\u00f6\u00f8-\u00ff]")


def split_sentences(text: str) -> list[Span]:
    """Split text into sentences with offsets.

    Splits at line breaks, after 。；！？ (and any closing quotes or brackets that follow them), after a Latin
    ";" (but not the "; and" / "; or" that closes a list item), and after a Latin ".", "!" or "?" followed by
    white space (so "www.unodc.org", "1.7 亿" and "EG.1/2012/4" are not cut); after a number only before a
    capital letter and not when the number opens a line (an enumerator, "1. "). A Latin "." "!" "?" after a
    letter does not cut before a lower-case letter (an English sentence never opens with one: "etc. and"),
    after an initial ("A." in headings), nor a "." ending one of :data:`ABBREVIATIONS_EN` ("(S/2009/146,
    para. 59).", "e.g. the Convention", "Mr. Smith said."): "See S/2009/146, para. 59. The Council" is cut
    after "59." only.

    Args:
        text: the text to cut.

    Returns:
        Non-empty sentences in order; white space at the edges is excluded from each span.
    """
    cuts: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        end = None
        if ch == "\n":
            cuts.append(i)
            i += 1
            continue
        if ch in _CJK_END:
            end = i + 1
        elif ch == ";":
            if not _RE_ITEM_JOINER.match(text, i + 1):  # "…; and" closing a list item stays one sentence
                end = i + 1
        elif ch in ".!?" and (i + 1 == n or text[i + 1].isspace()):
            prev = text[i - 1] if i else ""
            if prev.isdigit():
                # a number ending a sentence ("resolution 55/25. The", "in 2013. It") is cut before a capital;
                # an enumerator opening a line ("1. The") is not
                j = i - 1
                while j > 0 and text[j - 1].isdigit():
                    j -= 1
                if j > 0 and text[j - 1] != "\n" and _RE_NEXT_CAPITAL.match(text, i + 1):
                    end = i + 1
            elif prev.isupper() and (i < 2 or not text[i - 2].isalpha()):
                pass  # initials: "A." in headings
            elif ch == "." and ends_in_abbreviation(text, i + 1):
                pass  # "para. 59", "e.g. the", "Mr. Smith"
            elif not _RE_NEXT_LOWER.match(text, i + 1):  # a sentence never opens in lower case ("etc. and")
                end = i + 1
        if end is not None:
            while end < n and text[end] in _CLOSERS:
                end += 1
            cuts.append(end)
            i = end
            continue
        i += 1
    spans: list[Span] = []
    start = 0
    for cut in [*cuts, n]:
        seg = text[start:cut]
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg.rstrip())
        if seg.strip():
            spans.append(Span(seg.strip(), start + lead, start + trail))
        start = cut
    return spans


_NO_LINE_START = set("，。、；：？！）》」』”’%,.;:?!)")


def display_width(text: str) -> int:
    """Terminal columns taken by ``text`` (East Asian wide and full-width characters count two)."""
    import unicodedata as ud

    return sum(2 if ud.east_asian_width(c) in "WF" else 1 for c in text)


def wrap_display(text: str, width: int = 100, indent: str = "", subsequent: str = "") -> list[str]:
    """Wrap mixed CJK/Latin text to ``width`` terminal columns.

    Breaks anywhere between CJK characters and at spaces between Latin words; never inside a Latin word
    shorter than the line.
    """
    import unicodedata as ud

    if "\n" in text:
        out: list[str] = []
        for i, part in enumerate(text.split("\n")):
            out += wrap_display(part, width, indent if i == 0 else subsequent, subsequent)
        return out
    lines: list[str] = []
    cur, cur_w = indent, display_width(indent)
    for token in re.findall(r"[A-Za-z0-9\u00c0-\u024f_./:%,()\-]+|\s+|.", text):
        w = sum(2 if ud.east_asian_width(c) in "WF" else 1 for c in token)
        # closing punctuation never starts a line: let it hang one character past the width
        hang = token in _NO_LINE_START and cur_w + w <= width + 2
        if cur_w + w > width and cur.strip() and not hang:
            lines.append(cur.rstrip())
            cur, cur_w = subsequent, display_width(subsequent)
            if token.isspace():
                continue
        cur += token
        cur_w += w
    if cur.strip():
        lines.append(cur.rstrip())
    return lines
