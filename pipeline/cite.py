"""Exact references: the query router, paragraph lookups and the citation index.

A query is routed before any retrieval runs:

* ``paragraph`` — the query *is* a paragraph reference ("23", "paragraph 23", "para. 7", "¶17", "§ 12",
  "第 41 段", "第四十一段", "paragraphs 15-17", "第 3 至 5 段", "para 65(d)"): those paragraphs, in the
  order asked.
* ``citation`` — the query names a resolution or decision, a document symbol or a Convention article that
  the report cites: every paragraph citing it, in document order, with the matched span.
* ``question`` — everything else goes to retrieval.

The citation index is built from the corpus (paragraph text, items and footnotes) with the same
identifier recogniser the analyzer uses, so "第 65/230 号决议" and "resolution 65/230" meet on one key.
Nothing here imports torch or jieba: a lookup starts in milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.answer import Hit
from pipeline.corpus import Corpus, Paragraph
from pipeline.errors import QueryError
from pipeline.identifiers import Identifier, find_identifiers

if TYPE_CHECKING:
    from pipeline.library import Library

CITABLE = ("resolution", "symbol", "article")


@dataclass(frozen=True)
class Citation:
    """One place where the report cites an identifier.

    Attributes:
        key: the identifier's normalized key ("65/230", "S/2009/146", "article:28").
        kind: "resolution", "symbol" or "article".
        paragraph: the citing paragraph's number.
        row: the citing paragraph's row in the library (document order).
        where: "text", "item:a" or "footnote:1".
        text: the matched text as printed.
        start: offset of the match in that field.
        end: end offset of the match in that field.
    """

    key: str
    kind: str
    paragraph: int
    where: str
    text: str
    start: int
    end: int
    row: int = 0


def _fields(p: Paragraph) -> list[tuple[str, str]]:
    return (
        [("text", p.text)]
        + [(f"item:{it.label}", it.text) for it in p.items]
        + [(f"footnote:{fn.marker}", fn.text) for fn in p.footnotes]
    )


@dataclass
class CitationIndex:
    """Identifier key -> citations in document order."""

    by_key: dict[str, list[Citation]] = field(default_factory=dict)

    by_row: dict[int, list[Citation]] = field(default_factory=dict)

    @classmethod
    def build(cls, corpus: Corpus | Library) -> CitationIndex:
        """Index every citation of a report or of the library (rows in library order)."""
        index = cls()
        order = {"text": 0, "item": 1, "footnote": 2}
        for row, p in enumerate(corpus.paragraphs):
            found = []
            for where, text in _fields(p):
                for ident in find_identifiers(text):
                    if ident.kind in CITABLE:
                        c = Citation(
                            ident.key, ident.kind, p.number, where, ident.text, ident.start, ident.end, row
                        )
                        index.by_key.setdefault(ident.key, []).append(c)
                        found.append(c)
            index.by_row[row] = sorted(found, key=lambda c: (order[c.where.split(":")[0]], c.where, c.start))
        return index

    def lookup(self, key: str) -> list[Citation]:
        """Every citation of ``key``, in document order."""
        return self.by_key.get(key, [])

    def in_paragraph(self, row: int) -> list[Citation]:
        """Every citation the paragraph at ``row`` contains (text, items, footnotes), in reading order."""
        return self.by_row.get(row, [])


# --- paragraph references ------------------------------------------------------------------------------

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


def chinese_numeral(s: str) -> int | None:
    """Value of a Chinese numeral below 1000 ("四十一" -> 41, "十五" -> 15, "一百零二" -> 102), digits written
    one by one ("九九九" -> 999, "四一" -> 41), else None."""
    if not s or any(c not in _CN_DIGITS and c not in "十百" for c in s):
        return None
    if all(c in _CN_DIGITS for c in s):  # positional, as in "第九九九段"
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    total, cur = 0, 0
    for c in s:
        if c in _CN_DIGITS:
            cur = _CN_DIGITS[c]
        elif c == "十":
            total += (cur or 1) * 10
            cur = 0
        elif c == "百":
            total += (cur or 1) * 100
            cur = 0
    return total + cur


_NUM = r"(?:\d{1,5}|[零〇一二两三四五六七八九十百]{1,5})"  # digits: up to paragraph 99,999
_RANGE_SEP = r"\s*(?:-|–|—|~|～|至|到|to|through|and|&|,(?!\d{3}\b)|，|、|和|及|与)\s*"  # "1,167" is a number
_SUB = r"(?:\s*\(\s*[a-z]\s*\))?"  # "65(d)"
_PARA_WORD = r"(?:paragraphs?|paras?\.?|pars?\.?|¶+|§+|段落?)"
_RE_PARA_EN = re.compile(
    rf"{_PARA_WORD}\s*(?P<nums>{_NUM}{_SUB}(?:{_RANGE_SEP}{_NUM}{_SUB})*)", re.IGNORECASE
)
_RE_PARA_ZH = re.compile(rf"第\s*(?P<nums>{_NUM}(?:{_RANGE_SEP}(?:第\s*)?{_NUM})*)\s*段{_SUB}")
_RE_BARE = re.compile(rf"^\s*(?P<nums>\d{{1,3}}{_SUB}(?:{_RANGE_SEP}\d{{1,3}}{_SUB})*)\s*$")
_FILLER = re.compile(
    r"(?i)\b(?:show|me|print|display|read|open|get|give|find|see|cite|text|of|the|what|does|do|did|say|says|"
    r"is|in|please|full|content|contents|look|up)\b|请|显示|查看|给我|看看|打开|原文|全文|内容|是什么|说了什么|讲了什么|"
    r"的|[?？.。!！:：\s]"
)


def _expand(nums: str) -> list[tuple[int, str | None]]:
    """ "15-17" -> [(15,None),(16,None),(17,None)]; "3 and 5" -> 3, 5; "65(d)" -> (65, "d")."""
    parts = re.split(rf"({_RANGE_SEP})", nums)
    out: list[tuple[int, str | None]] = []
    pending_range = False
    for part in parts:
        if not part.strip():
            continue
        if re.fullmatch(_RANGE_SEP, part):
            pending_range = bool(re.search(r"-|–|—|~|～|至|到|to|through", part))
            continue
        m = re.match(rf"(?:第\s*)?({_NUM})\s*(?:\(\s*([a-z])\s*\))?", part.strip())
        if not m:
            continue
        value = int(m.group(1)) if m.group(1).isdigit() else chinese_numeral(m.group(1))
        if value is None:
            continue
        if pending_range and out:
            start = out[-1][0]
            if value < start:
                raise QueryError(
                    f"empty range {start}-{value}: the first paragraph number must not exceed the second"
                )
            out.extend((n, None) for n in range(start + 1, value + 1))
        else:
            out.append((value, m.group(2)))
        pending_range = False
    return out


def parse_paragraph_reference(query: str) -> list[tuple[int, str | None]] | None:
    """Paragraph numbers (with an optional item letter) when the whole query is a paragraph reference.

    Returns:
        ``[(number, item_label_or_None), …]`` in the order asked, or None when the query is something else
        (a question that merely mentions a paragraph stays a question).
    """
    found: list[tuple[int, str | None]] = []
    rest = query
    for rx in (_RE_PARA_EN, _RE_PARA_ZH, _RE_BARE):
        for m in rx.finditer(query):
            found.extend(_expand(m.group("nums")))
            rest = rest.replace(m.group(0), " ")
    if not found:
        return None
    return found if not _FILLER.sub("", rest) else None


# --- routing -------------------------------------------------------------------------------------------


@dataclass
class Route:
    """The router's decision for a query.

    Attributes:
        kind: "paragraph", "citation" or "question".
        paragraphs: for "paragraph": the requested numbers (with item label) in order.
        identifiers: for "citation": the citable identifiers named by the query.
    """

    kind: str
    paragraphs: list[tuple[int, str | None]] = field(default_factory=list)
    identifiers: list[Identifier] = field(default_factory=list)
    document: str | None = None
    part: str = ""


_ROMAN = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]
_RE_ANNEX = re.compile(r"(?i)\bannex(?:\s+(?P<roman>[IVX]{1,4}))?\b|附件(?P<zh>[一二三四五六七八九十]{0,3})")
_SEPARATORS = re.compile(r"^[\s,，、;；:：]+|[\s,，、;；:：]+$")


def _annex(query: str) -> tuple[str, str]:
    """``(part, rest)``: the annex a reference names ("annex", "annex II"; "" for
    none) and the query without it."""
    m = _RE_ANNEX.search(query)
    if not m:
        return "", query
    roman = (m.group("roman") or "").upper()
    if m.group("zh"):
        value = chinese_numeral(m.group("zh"))
        roman = _ROMAN[value] if value and value < len(_ROMAN) else ""
    rest = query[: m.start()] + " " + query[m.end() :]
    return ("annex " + roman).strip(), rest


def _document_reference(query: str, symbols: list[str]) -> Route | None:
    """A paragraph reference naming a document of the library ("CTOC/COP/2012/7 ¶23",
    "CTOC/COP/2012/7，第23段", "CTOC/COP/2012/7, annex, para. 3"), or None."""
    wanted = {re.sub(r"\s+", "", s).upper(): s for s in symbols}
    for ident in find_identifiers(query):
        if ident.kind != "symbol" or ident.key.upper() not in wanted:
            continue
        rest = _SEPARATORS.sub("", query[: ident.start] + " " + query[ident.end :])
        part, rest = _annex(rest)
        rest = _SEPARATORS.sub("", rest.strip())
        paras = parse_paragraph_reference(rest) if rest else None
        if paras:
            return Route("paragraph", paragraphs=paras, document=wanted[ident.key.upper()], part=part)
    return None


def route(query: str, index: CitationIndex | None = None, symbols: list[str] | None = None) -> Route:
    """Decide how to answer ``query``.

    A paragraph reference may name a document of the library (``symbols``) and an annex. A query naming a
    citable identifier goes to the citation index when the library cites it (when ``index`` is given) — so
    "resolution 65/230" and "which paragraphs cite resolution 65/230?" both return every citing paragraph.
    An identifier the library never cites leaves the query to retrieval.
    """
    if symbols and (ref := _document_reference(query, symbols)) is not None:
        return ref
    part, rest = _annex(query)
    paras = parse_paragraph_reference(_SEPARATORS.sub("", rest.strip()) if part else query)
    if paras:
        return Route("paragraph", paragraphs=paras, part=part)
    idents = [i for i in find_identifiers(query) if i.kind in CITABLE]
    if idents and (index is None or any(index.lookup(i.key) for i in idents)):
        return Route("citation", identifiers=idents)
    return Route("question")


def cite(index: CitationIndex, identifiers: list[Identifier]) -> list[tuple[int, list[Citation]]]:
    """Rows of the paragraphs citing any of ``identifiers``, in library order,
    each with its matching citations.

    With several identifiers (a list such as "resolutions 1851 (2008) and 1897 (2009)") a paragraph citing
    more of them ranks no differently: document order is the order of a citation list.
    """
    hits: dict[int, list[Citation]] = {}
    for ident in identifiers:
        for c in index.lookup(ident.key):
            hits.setdefault(c.row, []).append(c)
    return sorted(hits.items())


# --- answering lookups ---------------------------------------------------------------------------------


def lookup_paragraphs(
    corpus: Corpus | Library,
    requested: list[tuple[int, str | None]],
    part: str = "",
    documents: list[Corpus] | None = None,
) -> tuple[list[Hit], list[str]]:
    """Hits for the paragraphs a reference asked for, in the order asked, each once — of every document in
    ``documents`` (default: all) that has it, so a bare "第23段" in a library
    answers with paragraph 23 of each.

    The answer span is the whole paragraph, or the item asked for ("65(d)").

    Returns:
        ``(hits, warnings)``: a number no document has, or an item a paragraph does not have, is a warning
        (the rest is still answered).
    """
    docs = documents if documents is not None else getattr(corpus, "documents", [corpus])
    hits: list[Hit] = []
    warnings: list[str] = []
    seen: set[tuple[str, str, int]] = set()
    from pipeline.library import numbered

    for number, label in requested:
        found, missing = numbered(docs, number, part)
        if not found:
            warnings.append(missing)
            continue
        for p in found:
            if (p.document, p.lang, p.number) in seen:
                continue
            seen.add((p.document, p.lang, p.number))
            span = None
            if label is not None:
                span = item_span(p, label)
                if span is None:
                    labels = ", ".join(f"({it.label})" for it in p.items) or "none"
                    warnings.append(
                        f"paragraph {number} has no item ({label}) (its items: {labels}); "
                        "showing the whole paragraph"
                    )
            hits.append(Hit.of(p, 1.0, {"paragraph": 1.0}, span))
    return hits, warnings


def lookup_citations(
    corpus: Corpus | Library,
    index: CitationIndex,
    identifiers: list[Identifier],
    rows: set[int] | None = None,
) -> list[Hit]:
    """Hits for every paragraph citing any of ``identifiers``, in library order, with the matched spans
    (only the paragraphs at ``rows`` when given: the ``--doc``/``--lang`` selection).

    The answer is the sentence holding the first citation, or the footnote's text when it stands there.
    """
    hits: list[Hit] = []
    for row, cites in cite(index, identifiers):
        if rows is not None and row not in rows:
            continue
        p = corpus.paragraphs[row]
        span = citation_span(p, cites[0])
        match: list[dict[str, Any]] = [
            {"text": c.text, "key": c.key, "where": c.where, "start": c.start, "end": c.end} for c in cites
        ]
        if span is not None:
            hits.append(Hit.of(p, 1.0, {"citation": 1.0}, span, match=match))
        else:
            note = next(fn.text for fn in p.footnotes if cites[0].where == f"footnote:{fn.marker}")
            hits.append(Hit.of(p, 1.0, {"citation": 1.0}, (0, 0), answer=note, match=match))
    return hits


def item_span(p: Paragraph, label: str) -> tuple[int, int] | None:
    """Span of item ``(label)`` in the paragraph's full text, or None when it has no such item."""
    for s in p.sentences:
        if s.text.startswith(f"({label})"):
            return (s.start, s.end)
    return None


def citation_span(p: Paragraph, c: Citation) -> tuple[int, int] | None:
    """Span of the sentence holding a citation; None when it stands in a footnote."""
    if c.where.startswith("footnote"):
        return None
    offset = c.start
    if c.where.startswith("item:"):
        label = c.where.split(":", 1)[1]
        s = item_span(p, label)
        if s is None:
            return None
        offset = s[0] + len(f"({label}) ") + c.start
    for s in p.sentences:
        if s.start <= offset < s.end:
            return (s.start, s.end)
    return None
