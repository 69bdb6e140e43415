"""The library: every report of the home, parsed, in catalog order, and its paragraphs as one list.

A document is identified by its symbol; two files with one symbol and different languages are two *language
versions* of it, aligned by paragraph number (UN documents share their numbering across languages). The
catalog (:mod:`pipeline.catalog`) says which files are in the library; :func:`load_library` parses them;
:class:`Library` answers "which documents", "which rows" and "which paragraph" for everything above it.
Changing the library (``add``/``remove``) is :mod:`pipeline.changes`.

BM25 statistics (document frequencies, average length) are library-wide: each report's index keeps raw term
frequencies, and the library's indexes are merged when they load
(:func:`pipeline.lexical.load_lexical_indexes`), so adding a report never re-tokenizes the others and scores
equal those of one index over every paragraph.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.catalog import CATALOG, Entry, LibraryError, now, read_catalog
from pipeline.config import Config
from pipeline.errors import QueryError
from pipeline.ingest import (
    IngestError,
    decode_report,
    ingest_file,
    parse_report,
    read_report_bytes,
    settle_identity,
)
from pipeline.layout import LANGS, catalog_path, doc_key
from pipeline.store import sha256_bytes
from pipeline.text import symbol_key

if TYPE_CHECKING:
    from pipeline.corpus import Corpus, Paragraph

__all__ = [
    "Library",
    "as_library",
    "load_corpus",
    "load_document",
    "load_library",
    "numbered",
    "refresh_catalog",
]


@dataclass
class Library:
    """The reports of a home, in catalog order, and their paragraphs as one list (the indexes' row order).

    Attributes:
        documents: each report version (a :class:`~pipeline.corpus.Corpus` with its symbol and language).
        entries: the catalog entry of each document (same order).
        paragraphs: every paragraph of every document, documents in order.
    """

    documents: list[Corpus]
    entries: list[Entry]
    paragraphs: list[Paragraph] = field(init=False)

    def __post_init__(self) -> None:
        self.paragraphs = [p for d in self.documents for p in d.paragraphs]
        self.offsets = np.cumsum([0] + [len(d.paragraphs) for d in self.documents]).tolist()
        self._row = {id(p): i for i, p in enumerate(self.paragraphs)}
        self._where = {(d.symbol, d.lang, p.part, p.number): p for d in self.documents for p in d.paragraphs}

    # --- identity --------------------------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        """Document symbols, in library order, each once."""
        return list(dict.fromkeys(d.symbol for d in self.documents))

    @property
    def numbers(self) -> list[int]:
        """Row ids of the paragraphs (what the indexes of the library are keyed by)."""
        return list(range(len(self.paragraphs)))

    def row(self, p: Paragraph) -> int:
        """The paragraph's row in :attr:`paragraphs`."""
        return self._row[id(p)]

    def versions(self, symbol: str) -> list[Corpus]:
        """Every language version of a document, in library order."""
        return [d for d in self.documents if d.symbol == symbol]

    def document(self, symbol: str, lang: str | None = None) -> Corpus:
        """One version of a document (the first in library order when ``lang`` is None).

        Raises:
            QueryError: no such document (the message lists the library).
        """
        for d in self.documents:
            if d.symbol == symbol and (lang is None or d.lang == lang):
                return d
        raise QueryError(
            f"no document {symbol}{f' ({lang})' if lang else ''} in the library ({self.describe()})"
        )

    def describe(self) -> str:
        return ", ".join(f"{d.symbol} ({d.lang})" for d in self.documents) or "it is empty"

    def resolve_symbol(self, text: str) -> str | None:
        """The library's symbol written as ``text`` (case, width and spaces ignored), or None."""
        want = symbol_key(text)
        return next((s for s in self.symbols if symbol_key(s) == want), None)

    # --- selection -------------------------------------------------------------------------------

    def select(self, docs: Sequence[str] | None = None, lang: str | None = None) -> list[Corpus]:
        """The documents ``--doc`` and ``--lang`` leave in play (all when both are None).

        Raises:
            QueryError: an unknown symbol, an unknown language, or a combination that leaves nothing.
        """
        if lang is not None and lang not in LANGS:
            raise QueryError(f"unknown language {lang!r} (use one of {', '.join(LANGS)})")
        chosen = list(self.documents)
        if docs:
            symbols = []
            for s in docs:
                found = self.resolve_symbol(s)
                if found is None:
                    raise QueryError(f"no document {s} in the library ({self.describe()})")
                symbols.append(found)
            chosen = [d for d in chosen if d.symbol in symbols]
        if lang is not None:
            chosen = [d for d in chosen if d.lang == lang]
        if not chosen:
            wanted = " ".join([*(docs or []), *([f"in {lang}"] if lang else [])])
            raise QueryError(f"no document in the library matches {wanted} ({self.describe()})")
        return chosen

    def rows(self, docs: Sequence[str] | None = None, lang: str | None = None) -> np.ndarray | None:
        """Row ids of the selected documents' paragraphs, or None when every document is selected."""
        chosen = self.select(docs, lang)
        if len(chosen) == len(self.documents):
            return None
        idx = [i for i, d in enumerate(self.documents) if d in chosen]
        return np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in idx]).astype(np.int64)

    def paragraph(self, number: int, part: str = "") -> Paragraph:
        """Paragraph ``number`` when exactly one document has it (a one-report library, say).

        Raises:
            KeyError: no document has it, or several do (name the document then: :meth:`find`).
        """
        found, missing = numbered(self.documents, number, part)
        if len(found) == 1:
            return found[0]
        if not found:
            raise KeyError(missing)
        raise KeyError(f"paragraph {number} is in {len(found)} documents ({self.describe()}): name one")

    def find(self, symbol: str, lang: str, number: int, part: str = "") -> Paragraph | None:
        """The paragraph ``number`` (of ``part``) of one version, or None."""
        return self._where.get((symbol, lang, part, number))

    def parallel(self, p: Paragraph) -> list[Paragraph]:
        """The same-numbered paragraph of every other language version of ``p``'s document."""
        out = []
        for d in self.versions(p.document):
            if d.lang != p.lang and (q := self.find(d.symbol, d.lang, p.number, p.part)) is not None:
                out.append(q)
        return out

    def missing_versions(self, p: Paragraph) -> list[str]:
        """Languages of ``p``'s document that have no paragraph with its number."""
        return [
            d.lang
            for d in self.versions(p.document)
            if d.lang != p.lang and self.find(d.symbol, d.lang, p.number, p.part) is None
        ]

    def key(self, corpus: Corpus) -> str:
        """The index folder key of one of the library's documents (the catalog's hash, else the file's)."""
        for d, e in zip(self.documents, self.entries, strict=True):
            if d is corpus:
                return doc_key(e.symbol, e.lang, e.sha256 or d.sha256)
        raise KeyError(corpus.label)

    def keyed(self) -> list[tuple[Corpus, str]]:
        """Each document with its index folder key, in library order (what the indexes load from)."""
        return [(d, self.key(d)) for d in self.documents]

    def listing(self) -> list[dict[str, Any]]:
        """One row per document version, in library order (``pipeline documents --json``,
        ``/api/documents``): symbol, lang, title, paragraphs, parts, date added, file, format (and the
        original PDF or Word file with its sha256), sha256, whether the
        text is the one it was added with (``current``) and each numbering part's first and last number."""
        rows = []
        for d, e in zip(self.documents, self.entries, strict=True):
            ranges: dict[str, list[int]] = {}
            for p in d.paragraphs:
                r = ranges.setdefault(p.part, [p.number, p.number])
                r[0], r[1] = min(r[0], p.number), max(r[1], p.number)
            rows.append(
                {
                    "symbol": d.symbol,
                    "lang": d.lang,
                    "title": e.title or (d.metadata.title or ""),
                    "paragraphs": len(d.paragraphs),
                    "parts": [x for x in d.parts if x],
                    "added": e.added,
                    "file": e.file,
                    "format": e.format,
                    **({"original": e.original, "original_sha256": e.original_sha256} if e.original else {}),
                    "sha256": d.sha256,
                    "current": not e.sha256 or e.sha256 == d.sha256,
                    "ranges": [{"part": part, "first": a, "last": b} for part, (a, b) in ranges.items()],
                }
            )
        return rows

    def overview(self, symbol: str, lang: str | None = None, part: str | None = None) -> dict[str, Any]:
        """What a document is and how it is laid out (a query that is its symbol alone): its symbol, title and
        languages (every version's), and for one version (``lang``; default: the first in library order) its
        paragraphs, each part's first and last paragraph number, and its sections — each heading with the
        first and last paragraph under it, per part ("" the body, else the annex), outermost headings first
        and in reading order. ``part`` keeps one part only.

        Raises:
            QueryError: no such document (or version).
        """
        d = self.document(symbol, lang)
        entry = next(e for v, e in zip(self.documents, self.entries, strict=True) if v is d)
        ranges: dict[str, list[int]] = {}
        sections: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
        shown = [p for p in d.paragraphs if part is None or p.part == part]
        for p in shown:
            r = ranges.setdefault(p.part, [p.number, p.number])
            r[0], r[1] = min(r[0], p.number), max(r[1], p.number)
            for depth in range(len(p.section)):
                s = sections.setdefault(
                    (p.part, tuple(p.section[: depth + 1])),
                    {"part": p.part, "heading": p.section[depth], "level": depth + 1, "first": p.number},
                )
                s["first"], s["last"] = min(s["first"], p.number), max(s.get("last", p.number), p.number)
        return {
            "symbol": d.symbol,
            "title": entry.title or (d.metadata.title or ""),
            "languages": [v.lang for v in self.versions(symbol)],
            "lang": d.lang,
            "paragraphs": len(shown),
            "ranges": [{"part": name, "first": a, "last": b} for name, (a, b) in ranges.items()],
            "sections": list(sections.values()),
        }

    @property
    def sha256(self) -> str:
        """One hash of every document's text and identity (changes when any report changes)."""
        h = hashlib.sha256()
        for d in self.documents:
            h.update(f"{d.symbol}\0{d.lang}\0{d.sha256}\n".encode())
        return h.hexdigest()


def as_library(corpus: Corpus | Library) -> Library:
    """The library itself, or a library of the one report given (paragraphs labelled with its identity)."""
    if isinstance(corpus, Library):
        return corpus
    for p in corpus.paragraphs:
        p.document = p.document or corpus.symbol
        p.lang = p.lang or corpus.lang
    return Library(
        [corpus], [Entry(corpus.path.rsplit("/", 1)[-1], corpus.symbol, corpus.lang, corpus.sha256)]
    )


def numbered(documents: Sequence[Corpus], number: int, part: str = "") -> tuple[list[Paragraph], str]:
    """Paragraph ``number`` (of ``part``) of each document that has it, in order, and what the others say
    ("no paragraph 99 in …: it has paragraphs 1-65"; joined by "; ")."""
    found, missing = [], []
    for d in documents:
        try:
            found.append(d.paragraph(number, part))
        except KeyError as e:
            missing.append(e.args[0])
    return found, "; ".join(missing)


def default_entries(cfg: Config) -> list[Entry]:
    """The library of a home without a catalog: the configured report alone, its identity from its header."""
    corpus = ingest_file(cfg.document_path)
    if not corpus.symbol:
        raise LibraryError(
            f"{cfg.document_path}: the report prints no document symbol and corpus/{CATALOG} is missing; "
            f"add it with `pipeline add {cfg.document_path} --symbol SYMBOL`"
        )
    return [Entry(cfg.document, corpus.symbol, corpus.lang, corpus.sha256)]


def load_document(cfg: Config, entry: Entry, accept_changes: bool = False) -> Corpus:
    """Parse one catalogued report (its file read once) and give it the catalog's identity.

    Args:
        cfg: settings.
        entry: its catalog entry.
        accept_changes: take a text that differs from the one the catalog recorded (``pipeline build
            --accept-changes``); otherwise that is refused.

    Raises:
        LibraryError: the file is missing, or its text is not the one it was added with (a truncated or
            edited report is never indexed silently).
        IngestError: it does not parse.
    """
    path = cfg.corpus_dir / entry.file
    if not path.is_file():
        raise LibraryError(
            f"{path}: listed in corpus/{CATALOG} as {entry.symbol} ({entry.lang}) but the file is missing; "
            f"put it back, or `pipeline remove {entry.symbol} --lang {entry.lang}`"
        )
    raw = read_report_bytes(path)
    sha = sha256_bytes(raw)
    if entry.sha256 and sha != entry.sha256 and not accept_changes:
        had = f"{entry.paragraphs} paragraphs, " if entry.paragraphs else ""
        raise LibraryError(
            f"{path}: the text of {entry.symbol} ({entry.lang}) changed since it was added "
            f"(catalog: {had}sha256 {entry.sha256[:12]}…; the file now: {len(raw):,} bytes, "
            f"sha256 {sha[:12]}…); put the original back, or take the new text with "
            "`pipeline build --accept-changes`"
        )
    corpus = parse_report(decode_report(raw, path), path, sha, lang=entry.lang)
    settle_identity(corpus, entry.symbol, entry.lang)
    return corpus


def load_library(cfg: Config | None = None, accept_changes: bool = False) -> Library:
    """Parse every report of the catalog (milliseconds each; nothing cached).

    Args:
        cfg: settings.
        accept_changes: take reports whose text changed since they were added (``pipeline build``).

    Raises:
        LibraryError: an unreadable catalog, a listed file that is missing or whose text changed.
        IngestError: a report that does not parse (file and line named).
    """
    cfg = cfg or Config()
    entries = read_catalog(cfg)
    if entries is None:
        entries = default_entries(cfg)
    if not entries:
        raise LibraryError(
            f"the library is empty: add a report with `pipeline add FILE` ({catalog_path(cfg)})"
        )
    return Library([load_document(cfg, e, accept_changes) for e in entries], entries)


def load_corpus(cfg: Config | None = None) -> Corpus:
    """Parse the configured report (``cfg.document_path``) with the identity the library's catalog gives it
    (the whole library: :func:`load_library`). Parsing takes milliseconds; nothing is cached."""
    cfg = cfg or Config()
    entries = read_catalog(cfg)
    entry = next((e for e in entries or [] if e.file == cfg.document), None)
    if entry is None:
        if entries:
            raise IngestError(
                cfg.document_path,
                0,
                f"not in the library (corpus/documents.json); `pipeline add {cfg.document_path}` it",
            )
        [entry] = default_entries(cfg)
    return load_document(cfg, entry)


def refresh_catalog(library: Library) -> list[Entry]:
    """The catalog entries as the files are now: each report's hash and paragraph count (and a title and date
    added where the entry has none)."""
    out = []
    for doc, e in zip(library.documents, library.entries, strict=True):
        out.append(
            Entry(
                e.file,
                e.symbol,
                e.lang,
                doc.sha256,
                e.title or (doc.metadata.title or ""),
                len(doc.paragraphs),
                e.added or now(),
                format=e.format,
                original=e.original,
                original_sha256=e.original_sha256,
                extra=dict(e.extra),
            )
        )
    return out
