"""Exact references: the query router, paragraph lookups and the citation index.

A query is routed before any retrieval runs:

* ``paragraph`` — the query *is* a paragraph reference ("23", "paragraph 23", "para. 7", "¶17", "§ 12",
  "第 41 段", "第四十一段", "paragraphs 15-17", "第 3 至 5 段", "第23段和第24段", "¶23-¶25", "para 65(d)"),
  with or without a document symbol before or after it: those paragraphs, in the order asked. A number no
  document has is a warning; a symbol the library does not hold is a warning naming the closest ones.
* ``document`` — the query is a document symbol and nothing else: the document's overview when the library
  holds it, else a warning naming the closest symbols it holds.
* ``citation`` — the query names a resolution or decision (also by its UN symbol: ``A/RES/65/230``,
  ``S/RES/1851 (2008)``), a document symbol or a Convention article that the library cites: every paragraph
  citing it, in document order, with the matched span. A query that is nothing but such a reference to
  something the library does not cite is answered with a warning and no results.
* ``question`` — everything else goes to retrieval.

References are exact or refused, never guessed: a query that is a reference is never answered as a question.

The citation index is built from the corpus (paragraph text, items and footnotes) with the identifier
recogniser the router uses (:func:`~pipeline.identifiers.find_references`), so "第 65/230 号决议",
"resolution 65/230" and "A/RES/65/230" meet on one key.
Nothing here imports torch or jieba: a lookup starts in milliseconds.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.answer import Hit
from pipeline.corpus import Corpus, Paragraph
from pipeline.identifiers import (
    Identifier,
    chinese_numeral,
    find_references,
    parse_paragraph_reference,
)
from pipeline.text import symbol_key

if TYPE_CHECKING:
    from pipeline.library import Library

CITABLE = ("resolution", "symbol", "article")
_FIELD_ORDER = {"text": 0, "item": 1, "footnote": 2}
# a Security Council resolution's key, with or without its year: "1851(2008)", "1851"
_SC_KEY = re.compile(r"(?P<n>\d{1,4})(?:\((?P<y>\d{4})\))?")


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


def _reading_order(c: Citation) -> tuple[int, int, int, str, int]:
    """Library order: row, then text, items, footnotes (footnotes by number), then offset."""
    kind, _, name = c.where.partition(":")
    return (c.row, _FIELD_ORDER[kind], int(name) if name.isdigit() else 0, name, c.start)


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
        order = _FIELD_ORDER
        for row, p in enumerate(corpus.paragraphs):
            found = []
            for where, text in _fields(p):
                for ident in find_references(text):
                    if ident.kind in CITABLE:
                        c = Citation(
                            ident.key, ident.kind, p.number, where, ident.text, ident.start, ident.end, row
                        )
                        index.by_key.setdefault(ident.key, []).append(c)
                        found.append(c)
            index.by_row[row] = sorted(found, key=lambda c: (order[c.where.split(":")[0]], c.where, c.start))
        return index

    def lookup(self, key: str) -> list[Citation]:
        """Every citation of ``key``, in document order.

        A Security Council resolution named without its year (``1851``) matches it with every year
        (``1851(2008)``), and one with its year also matches where the text names it without.
        """
        m = _SC_KEY.fullmatch(key)
        if m is None:
            return self.by_key.get(key, [])
        n = m.group("n")
        keys = [key, n] if m.group("y") else [k for k in self.by_key if k == n or k.startswith(n + "(")]
        lists = [self.by_key[k] for k in dict.fromkeys(keys) if k in self.by_key]
        if len(lists) < 2:
            return lists[0] if lists else []
        return sorted((c for cs in lists for c in cs), key=_reading_order)

    def in_paragraph(self, row: int) -> list[Citation]:
        """Every citation the paragraph at ``row`` contains (text, items, footnotes), in reading order."""
        return self.by_row.get(row, [])


# --- routing -------------------------------------------------------------------------------------------


@dataclass
class Route:
    """The router's decision for a query.

    Attributes:
        kind: "paragraph", "citation", "document" or "question".
        paragraphs: for "paragraph": the requested numbers (with item label) in order.
        identifiers: for "citation": the citable identifiers named by the query; for "document": the
            document's symbol when the library cites it.
        document: for "paragraph", the library's document the reference names (None: every document); for
            "document", the library's document (None when the library does not hold it).
        part: the annex a reference names ("annex", "annex II"; "" for the body).
        warnings: what the reader should know about the reference (a document the library does not hold,
            a reference it does not cite).
        missing: the reference names something the library does not have: it is answered with the warnings
            and no results.
    """

    kind: str
    paragraphs: list[tuple[int, str | None]] = field(default_factory=list)
    identifiers: list[Identifier] = field(default_factory=list)
    document: str | None = None
    part: str = ""
    warnings: list[str] = field(default_factory=list)
    missing: bool = False


_ROMAN = ["", "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"]
_RE_ANNEX = re.compile(r"(?i)\bannex(?:\s+(?P<roman>[IVX]{1,4}))?\b|附件(?P<zh>[一二三四五六七八九十]{0,3})")
_SEPARATORS = re.compile(r"^[\s,，、;；:：]+|[\s,，、;；:：]+$")
_RE_YEAR_AFTER = re.compile(r"\s*[(（]\s*\d{4}\s*[)）]$")
_SEPARATOR_CHARS = " \t\r\n\u00a0\u3000,，、;；:："
# What may stand around a document symbol in a reference to the document: "document CTOC/COP/2012/7",
# "CTOC/COP/2012/7 号文件", "paragraphs 23 and 24 of CTOC/COP/2012/7".
_DOCUMENT_WORDS = re.compile(r"(?i)^(?:documents?|doc\.?|symbol)(?=\s|$)|(?:号文件|文件|号)$|\bof$")
# What may stand around a resolution, decision, article or symbol in a query that is only a reference
# ("General Assembly resolution 65/230", "安全理事会第 1851 (2008)号决议", "which paragraphs cite S/1999/1?").
_REFERENCE_WORDS = re.compile(
    r"(?i)\b(?:general\s+assembly|security\s+council|economic\s+and\s+social\s+council|human\s+rights\s+council|"
    r"ecosoc|unga|unsc|ga|sc|un|united\s+nations|resolutions?|res|decisions?|dec|documents?|doc|symbol|"
    r"articles?|arts?|of|the|and|or|convention|protocols?|annex|which|what|where|paragraphs?|paras?|"
    r"cite[sd]?|citing|mentions?|mentioned|refers?|to|is|are|show|find|see)\b"
    r"|大会|安全理事会|安理会|经济及社会理事会|经社理事会|人权理事会|联合国|公约|议定书|决议|决定|文件|哪些段落?|"
    r"引用了?|提到了?|号|第|条|和|及|与|的|[(（]\s*\d{4}\s*[)）]|[\s\W_]"
)


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


def _strip_document_words(text: str) -> str:
    """``text`` without separators at its ends nor the words that may stand around a symbol."""
    prev = None
    while prev != text:
        prev = text
        text = _DOCUMENT_WORDS.sub("", text.strip(_SEPARATOR_CHARS)).strip()
    return text


def closest_symbols(symbol: str, symbols: list[str], n: int = 3) -> list[str]:
    """The library's symbols most like ``symbol``, best first (at most ``n``; none when nothing is alike).

    Similarity is the mean of two :class:`difflib.SequenceMatcher` ratios: over the symbols' parts (the
    components between slashes, so ``CTOC/COP/2013/7`` shares three of four parts with ``CTOC/COP/2012/7``)
    and over their characters (so ``WG.2`` is near ``WG.3``); case, width and spaces are ignored.
    """
    want = symbol_key(symbol)
    scored = []
    for s in symbols:
        have = symbol_key(s)
        by_part = difflib.SequenceMatcher(None, want.split("/"), have.split("/"), autojunk=False).ratio()
        by_char = difflib.SequenceMatcher(None, want, have, autojunk=False).ratio()
        scored.append(((by_part + by_char) / 2, s))
    ranked = sorted(scored, key=lambda x: -x[0])
    return [s for score, s in ranked[:n] if score >= 0.5]


def _not_in_library(name: str, symbols: list[str], cited: bool, closest: bool = True) -> str:
    """The warning for a document (or resolution) the library does not hold, naming the closest symbols it
    holds (``closest``) and saying whether the library cites it."""
    close = closest_symbols(name, symbols) if closest else []
    if close:
        where = f"the closest in it: {', '.join(close)}"
    else:
        listed = ", ".join(symbols[:5]) + (f" and {len(symbols) - 5} more" if len(symbols) > 5 else "")
        where = f"it holds {listed}" if symbols else "it is empty"
    note = (
        f"; the library cites it: look up {name} alone for the paragraphs citing it"
        if cited
        else "; no paragraph of the library cites it"
    )
    return f"{name} is not in the library ({where}){note}"


def _describe(ident: Identifier) -> str:
    """An identifier as a reader names it: "resolution 65/230", "resolution 1851 (2008)", "article 28"."""
    if ident.kind == "article":
        return "article " + ident.key.split(":", 1)[1]
    if ident.kind == "resolution":
        m = _SC_KEY.fullmatch(ident.key)
        return "resolution " + (f"{m.group('n')} ({m.group('y')})" if m and m.group("y") else ident.key)
    return ident.key


def _only_references(query: str, idents: list[Identifier]) -> bool:
    """Whether ``query`` is nothing but the references ``idents`` (and the words that name them)."""
    rest = query
    for ident in sorted(idents, key=lambda i: -i.start):
        rest = rest[: ident.start] + " " + rest[ident.end :]
    return not _REFERENCE_WORDS.sub("", unicodedata.normalize("NFKC", rest))


def _document_reference(
    query: str, refs: list[Identifier], symbols: list[str], index: CitationIndex | None
) -> Route | None:
    """A reference naming a document by its symbol — with paragraphs ("CTOC/COP/2012/7 ¶23",
    "CTOC/COP/2012/7，第23段和第24段", "paras. 23 and 24 of CTOC/COP/2012/7", "…, annex, para. 3") or alone
    ("CTOC/COP/2012/7", "ctoc / cop / 2012 / 7") — or None.

    A symbol the library holds gives a paragraph lookup in it, or its overview; one it does not hold gives a
    warning naming the closest symbols it holds (and no results) — unless the symbol stands alone and the
    library cites it, which is a citation lookup (None here). Paragraphs of a resolution
    ("A/RES/65/230, para. 3") are not in the library either.
    """
    held = {symbol_key(s): s for s in symbols}
    alone = held.get(symbol_key(_RE_YEAR_AFTER.sub("", _strip_document_words(query))))
    if alone is not None:  # any spelling the library's symbols accept: case, width, spaces
        return _document_route(alone, "", index)
    for ident in refs:
        if ident.kind not in ("symbol", "resolution"):
            continue
        part, rest = _annex(query[: ident.start] + " " + query[ident.end :])
        rest = _strip_document_words(rest)
        # a resolution by its UN symbol may be a document of the library too ("A/RES/65/230, para. 3")
        written = ident.key if ident.kind == "symbol" else _RE_YEAR_AFTER.sub("", ident.text)
        symbol = held.get(symbol_key(written))
        cited = index is not None and bool(index.lookup(ident.key))
        name = _describe(ident)
        if not rest and ident.kind == "symbol":
            if symbol is not None:
                return _document_route(symbol, part, index)
            if cited and not part:
                return None
            warning = _not_in_library(name, symbols, cited)
            return Route("document", part=part, warnings=[warning], missing=True)
        paras = parse_paragraph_reference(rest) if rest else None
        if not paras:
            continue
        if symbol is not None:
            return Route("paragraph", paragraphs=paras, document=symbol, part=part)
        warning = _not_in_library(name, symbols, cited, closest=ident.kind == "symbol")
        return Route("paragraph", paragraphs=paras, part=part, warnings=[warning], missing=True)
    return None


def _document_route(symbol: str, part: str, index: CitationIndex | None) -> Route:
    """The route of a document of the library named alone: its overview — and, when the library cites it, the
    paragraphs citing it."""
    cited = index is not None and bool(index.lookup(symbol))
    ident = Identifier("symbol", symbol, symbol, 0, len(symbol))
    return Route("document", identifiers=[ident] if cited else [], document=symbol, part=part)


def route(query: str, index: CitationIndex | None = None, symbols: list[str] | None = None) -> Route:
    """Decide how to answer ``query``.

    A paragraph reference may name a document of the library (``symbols``) and an annex; a document symbol
    alone is a document route. A query naming a citable identifier goes to the citation index when the
    library cites it (when ``index`` is given) — so "resolution 65/230" and "which paragraphs cite resolution
    65/230?" both return every citing paragraph. A query that is nothing but references the library does not
    cite is a citation route with a warning and no results; a question merely mentioning one is left to
    retrieval.

    Raises:
        QueryError: a paragraph range that runs backwards or is too long.
    """
    refs = find_references(query)
    if symbols is not None and (ref := _document_reference(query, refs, symbols, index)) is not None:
        return ref
    part, rest = _annex(query)
    paras = parse_paragraph_reference(_SEPARATORS.sub("", rest.strip()) if part else query)
    if paras:
        return Route("paragraph", paragraphs=paras, part=part)
    idents = [i for i in refs if i.kind in CITABLE]
    if idents and (index is None or any(index.lookup(i.key) for i in idents)):
        return Route("citation", identifiers=idents)
    if idents and _only_references(query, idents):
        named = ", ".join(_describe(i) for i in idents)
        warning = f"the library does not cite {named}"
        return Route("citation", identifiers=idents, warnings=[warning], missing=True)
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
        (the rest is still answered); consecutive numbers none has are one warning ("no paragraphs
        66-70 in …").
    """
    docs = documents if documents is not None else getattr(corpus, "documents", [corpus])
    where = [{p.key: p for p in d.paragraphs} for d in docs]
    hits: list[Hit] = []
    warnings: list[str] = []
    seen: set[tuple[str, str, str, int]] = set()
    run: list[int] = []  # numbers no document has, consecutive

    def say_missing() -> None:
        if run:
            warnings.append(_missing(docs, run[0], run[-1], part))
            run.clear()

    for number, label in requested:
        found = [w[(part, number)] for w in where if (part, number) in w]
        if not found:
            if run and number != run[-1] + 1:
                say_missing()
            run.append(number)
            continue
        say_missing()
        for p in found:
            if (p.document, p.lang, p.part, p.number) in seen:
                continue
            seen.add((p.document, p.lang, p.part, p.number))
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
    say_missing()
    return hits, list(dict.fromkeys(warnings))


def _missing(docs: list[Corpus], first: int, last: int, part: str) -> str:
    """What the documents say of numbers ``first``-``last`` none of them has ("no paragraph 99 in …: it has
    paragraphs 1-65"; "no paragraphs 66-70 in …")."""
    from pipeline.library import numbered

    _, said = numbered(docs, first, part)
    if last == first:
        return said
    return said.replace(f"no paragraph {first} ", f"no paragraphs {first}-{last} ")


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
        item = item_span(p, label)
        if item is None:
            return None
        offset = item[0] + len(f"({label}) ") + c.start
    for s in p.sentences:
        if s.start <= offset < s.end:
            return (s.start, s.end)
    return None
