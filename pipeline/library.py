"""The library: every report of the home, its catalog, and adding and removing reports all-or-nothing.

A home's ``corpus/`` holds report files and the catalog ``corpus/documents.json``, which says which files are
in the library and what each one is::

    {"ctoc-cop-2012-7.zh.txt": {"symbol": "CTOC/COP/2012/7", "lang": "zh", "title": "…",
                                "sha256": "…", "paragraphs": 65, "added": "2026-12-01T05:00:00+00:00"}, …}

A document is identified by its symbol; two files with one symbol and different languages are two *language
versions* of it, aligned by paragraph number (UN documents share their numbering across languages).

**The catalog is the commit point.** Each report's indexes live in their own folder named after its symbol,
language and the hash of the text it was added with (``indexes/docs/CTOC-COP-2012-7.zh.79ffa7c837df/``), and
are never rewritten in place: adding a report writes its new folders and *then* swaps the catalog (one
rename); removing one swaps the catalog first. A kill at any moment therefore leaves the catalog of before
(whose folders are all still there) or the catalog of after (whose folders were all written before it) —
the library answers as it did, or as it should. Folders no catalog names any more are removed at the start
of the next ``add``/``remove``/``build``, so a search that read the previous catalog still finds its files.

BM25 statistics (document frequencies, average length) are library-wide: each report's index keeps raw term
frequencies, and the library merges them when it loads (:func:`pipeline.lexical.load_library_lexical`), so
adding a report never re-tokenizes the others and scores equal those of one index over every paragraph.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config import Config
from pipeline.errors import QueryError, UserError
from pipeline.store import build_lock, write_bytes_atomic

if TYPE_CHECKING:
    from pipeline.corpus import Corpus, Paragraph

__all__ = ["CATALOG", "Entry", "Library", "LibraryError", "add_reports", "load_library", "read_catalog", "remove_documents"]

CATALOG = "documents.json"
LANGS = ("zh", "en", "fr", "es", "ru", "ar")
_RE_LANG_SUFFIX = re.compile(r"\.(zh|en|fr|es|ru|ar)\.txt$")

Log = Callable[[str], None]


class LibraryError(UserError, ValueError):
    """A report that cannot join the library, or a catalog that cannot be read; the message names the file."""


@dataclass
class Entry:
    """One catalog entry: a report file and its identity."""

    file: str
    symbol: str
    lang: str
    sha256: str = ""
    title: str = ""
    paragraphs: int = 0
    added: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Name of the report's index folder: symbol, language and the hash it was added with."""
        return doc_key(self.symbol, self.lang, self.sha256)

    def to_json(self) -> dict[str, Any]:
        out = {**self.extra, "symbol": self.symbol, "lang": self.lang, "sha256": self.sha256}
        if self.title:
            out["title"] = self.title
        if self.paragraphs:
            out["paragraphs"] = self.paragraphs
        if self.added:
            out["added"] = self.added
        return out


def doc_key(symbol: str, lang: str, sha256: str) -> str:
    """``CTOC/COP/2012/7``, ``zh``, ``79ffa7…`` → ``CTOC-COP-2012-7.zh.79ffa7c837df`` (safe as a folder name)."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", symbol).strip("-.") or "report"
    return f"{slug}.{lang}.{sha256[:12]}"


def corpus_key(corpus: Corpus) -> str:
    """The index folder key of a parsed report from its own identity and hash (the library uses the hash its
    catalog recorded instead: :func:`key_of`)."""
    return doc_key(corpus.symbol, corpus.lang, corpus.sha256)


def doc_dir(cfg: Config, key: str) -> Path:
    """``indexes/docs/KEY``: the folder of one report's indexes."""
    return cfg.index_dir / "docs" / key


def catalog_path(cfg: Config) -> Path:
    return cfg.corpus_dir / CATALOG


def read_catalog(cfg: Config) -> list[Entry] | None:
    """The catalog's entries in library order, or None when the home has no catalog.

    Raises:
        LibraryError: the catalog is not UTF-8 JSON of the documented shape (file and line named).
    """
    path = catalog_path(cfg)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise LibraryError(f"{path}: cannot read the catalog ({e.strerror or e})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise LibraryError(f"{path}:1: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise LibraryError(f"{path}:{e.lineno}: not valid JSON ({e.msg}); fix the catalog") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise LibraryError(f'{path}:1: expected an object {{"file name": {{"symbol": …, "lang": …}}, …}}')
    entries: list[Entry] = []
    seen: dict[tuple[str, str], str] = {}
    for name, v in data.items():
        symbol, lang = v.get("symbol"), v.get("lang")
        if not isinstance(symbol, str) or not symbol.strip() or lang not in LANGS:
            raise LibraryError(
                f"{path}: entry {name!r} needs a \"symbol\" and a \"lang\" (one of {', '.join(LANGS)})"
            )
        if "/" in name or name.startswith("."):
            raise LibraryError(f"{path}: entry {name!r} must be a file name inside corpus/")
        if (symbol, lang) in seen:
            raise LibraryError(f"{path}: {symbol} ({lang}) is listed twice: {seen[symbol, lang]!r} and {name!r}")
        seen[symbol, lang] = name
        known = {"symbol", "lang", "sha256", "title", "paragraphs", "added"}
        entries.append(Entry(
            file=name, symbol=symbol, lang=lang, sha256=str(v.get("sha256") or ""),
            title=str(v.get("title") or v.get("title_en") or ""), paragraphs=int(v.get("paragraphs") or 0),
            added=str(v.get("added") or ""), extra={k: x for k, x in v.items() if k not in known and k != "title_en"},
        ))
    return entries


def write_catalog(cfg: Config, entries: Sequence[Entry]) -> None:
    """Swap in a new catalog (atomic: the old one or the new one, never a mix). Entries keep their order: the
    library's order (the order reports were added)."""
    data = {e.file: e.to_json() for e in entries}
    write_bytes_atomic(catalog_path(cfg), (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


# --------------------------------------------------------------------------------------------- loading


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
        raise QueryError(f"no document {symbol}{f' ({lang})' if lang else ''} in the library ({self.describe()})")

    def describe(self) -> str:
        return ", ".join(f"{d.symbol} ({d.lang})" for d in self.documents) or "it is empty"

    def resolve_symbol(self, text: str) -> str | None:
        """The library's symbol written as ``text`` (case and spaces ignored), or None."""
        want = re.sub(r"\s+", "", text).upper()
        for s in self.symbols:
            if re.sub(r"\s+", "", s).upper() == want:
                return s
        return None

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
        return [d.lang for d in self.versions(p.document)
                if d.lang != p.lang and self.find(d.symbol, d.lang, p.number, p.part) is None]

    @property
    def sha256(self) -> str:
        """One hash of every document's text and identity (changes when any report changes)."""
        import hashlib

        h = hashlib.sha256()
        for d in self.documents:
            h.update(f"{d.symbol}\0{d.lang}\0{d.sha256}\n".encode())
        return h.hexdigest()


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
    from pipeline.ingest import ingest_file

    corpus = ingest_file(cfg.document_path)
    if not corpus.symbol:
        raise LibraryError(
            f"{cfg.document_path}: the report prints no document symbol and corpus/{CATALOG} is missing; "
            f"add it with `pipeline add {cfg.document_path} --symbol SYMBOL`"
        )
    return [Entry(cfg.document, corpus.metadata.symbol, corpus.metadata.language, corpus.sha256)]


def load_document(cfg: Config, entry: Entry) -> Corpus:
    """Parse one catalogued report and give it the catalog's identity."""
    from pipeline.ingest import ingest_file, settle_identity

    path = cfg.corpus_dir / entry.file
    if not path.is_file():
        raise LibraryError(
            f"{path}: listed in corpus/{CATALOG} as {entry.symbol} ({entry.lang}) but the file is missing; "
            f"put it back, or `pipeline remove {entry.symbol} --lang {entry.lang}`"
        )
    corpus = ingest_file(path, lang=entry.lang)
    settle_identity(corpus, entry.symbol, entry.lang)
    return corpus


def load_library(cfg: Config | None = None) -> Library:
    """Parse every report of the catalog (milliseconds each; nothing cached).

    Raises:
        LibraryError: an unreadable catalog or a listed file that is missing.
        IngestError: a report that does not parse (file and line named).
    """
    cfg = cfg or Config()
    entries = read_catalog(cfg)
    if entries is None:
        entries = default_entries(cfg)
    if not entries:
        raise LibraryError(f"the library is empty: add a report with `pipeline add FILE` ({catalog_path(cfg)})")
    return Library([load_document(cfg, e) for e in entries], entries)


def load_corpus(cfg: Config | None = None) -> Corpus:
    """Parse the configured report (``cfg.document_path``) with the identity the library's catalog gives it (the
    whole library: :func:`load_library`). Parsing takes milliseconds; nothing is cached."""
    from pipeline.ingest import IngestError

    cfg = cfg or Config()
    entries = read_catalog(cfg)
    entry = next((e for e in entries or [] if e.file == cfg.document), None)
    if entry is None:
        if entries:
            raise IngestError(cfg.document_path, 0, f"not in the library (corpus/documents.json); "
                              f"`pipeline add {cfg.document_path}` it")
        [entry] = default_entries(cfg)
    return load_document(cfg, entry)


def key_of(library: Library, corpus: Corpus) -> str:
    """The index folder key of one of the library's documents (the catalog's hash, else the file's)."""
    for d, e in zip(library.documents, library.entries, strict=True):
        if d is corpus:
            return doc_key(e.symbol, e.lang, e.sha256 or d.sha256)
    raise KeyError(corpus.label)


# --------------------------------------------------------------------------------------------- changes


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def stray_files(cfg: Config, entries: Sequence[Entry]) -> list[Path]:
    """Report files in ``corpus/`` that the catalog does not list (``NAME.LANG.txt``)."""
    listed = {e.file for e in entries}
    return sorted(p for p in cfg.corpus_dir.glob("*.txt") if _RE_LANG_SUFFIX.search(p.name) and p.name not in listed)


def collect_garbage(cfg: Config, entries: Sequence[Entry]) -> list[Path]:
    """Remove index folders no catalog entry names (call under the build lock)."""
    root = cfg.index_dir / "docs"
    if not root.is_dir():
        return []
    keep = {e.key for e in entries}
    removed = []
    for d in root.iterdir():
        if d.is_dir() and d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def alignment_report(new: Corpus, others: Iterable[Corpus]) -> list[str]:
    """How ``new`` disagrees with the other language versions of its document: paragraphs one version has and
    the other lacks, per numbering part. Empty when the versions align paragraph for paragraph."""
    out = []
    mine = {(p.part, p.number) for p in new.paragraphs}
    for other in others:
        theirs = {(p.part, p.number) for p in other.paragraphs}
        if mine == theirs:
            continue

        def show(keys: set[tuple[str, int]]) -> str:
            items = sorted(keys)
            text = ", ".join((f"{part} " if part else "") + str(n) for part, n in items[:12])
            return text + (f" … ({len(items)} in all)" if len(items) > 12 else "")

        msg = (f"{new.symbol}: the {new.lang} version has {len(new.paragraphs)} paragraphs, the {other.lang} version "
               f"{len(other.paragraphs)}")
        if extra := mine - theirs:
            msg += f"; only in {new.lang}: {show(extra)}"
        if missing := theirs - mine:
            msg += f"; only in {other.lang}: {show(missing)}"
        out.append(msg + " — paragraphs are aligned by number, so these have no counterpart")
    return out


def refresh_catalog(library: Library) -> list[Entry]:
    """The catalog entries as the files are now: each report's hash and paragraph count (and a title and date
    added where the entry has none)."""
    out = []
    for doc, e in zip(library.documents, library.entries, strict=True):
        out.append(Entry(e.file, e.symbol, e.lang, doc.sha256, e.title or (doc.metadata.title or ""),
                         len(doc.paragraphs), e.added or _now(), dict(e.extra)))
    return out


@dataclass
class Change:
    """What ``add`` or ``remove`` did: the entries added or removed, and what the user should know."""

    entries: list[Entry] = field(default_factory=list)
    unchanged: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _current_entries(cfg: Config) -> list[Entry]:
    entries = read_catalog(cfg)
    if entries is not None:
        return entries
    if cfg.document_path.is_file():
        try:
            return default_entries(cfg)
        except LibraryError:
            return []
    return []


def _target_name(cfg: Config, path: Path, symbol: str, lang: str, taken: set[str]) -> str:
    """The report's file name inside ``corpus/``: its own when it is already there or reads ``NAME.LANG.txt``
    with the right language, else ``SYMBOL-SLUG.LANG.txt``; a name another file holds gets a numeric suffix."""
    if path.parent.resolve() == cfg.corpus_dir.resolve():
        return path.name
    m = _RE_LANG_SUFFIX.search(path.name)
    base = path.name[: m.start()] if m and m.group(1) == lang else doc_key(symbol, lang, "").rsplit(".", 2)[0].lower()
    name, i = f"{base}.{lang}.txt", 2
    while name in taken:
        name, i = f"{base}-{i}.{lang}.txt", i + 1
    return name


def _differing_files(cfg: Config, raw: bytes) -> set[str]:
    """Names of report files in ``corpus/`` whose bytes are not ``raw`` (a name that must not be overwritten)."""
    out = set()
    for p in cfg.corpus_dir.glob("*.txt"):
        if p.stat().st_size != len(raw) or p.read_bytes() != raw:
            out.add(p.name)
    return out


def add_reports(
    cfg: Config,
    paths: Sequence[str | Path],
    *,
    symbol: str | None = None,
    lang: str | None = None,
    title: str | None = None,
    replace: bool = False,
    embedder: Any = None,
    log: Log | None = None,
) -> Change:
    """Add report files to the library, all or nothing.

    Each file is parsed, given its identity (the symbol printed in its front matter, else ``symbol``; the
    language given, else from its name ``NAME.LANG.txt``, else detected), checked against the other language
    versions of its document (a paragraph one version has and another lacks is reported), indexed (its own
    paragraphs only: BM25 term frequencies and embeddings, reusing any vectors the home already has for the
    same texts), copied into ``corpus/``, and only then entered in the catalog — one atomic swap for all
    the files. A file that fails to parse or to settle its identity changes nothing.

    Args:
        cfg: settings.
        paths: report files (UTF-8 text in the UN layout).
        symbol: the document symbol, for reports that do not print it.
        lang: the language ("zh", "en"), when neither the name nor the text settles it.
        title: the title to record (default: the report's own).
        replace: replace a version already in the library with a different text (else refused).
        embedder: a passage embedder to use instead of the model (tests, benchmarks).
        log: progress messages.

    Raises:
        LibraryError: a file that cannot join the library (named), or a conflict with the catalog.
        IngestError: a file that does not parse (file and line named).
    """
    import time

    from pipeline.analyze import Analyzer
    from pipeline.build import _dense_stage, _lexical_stage, clean_leftovers
    from pipeline.ingest import decode_report, parse_report, settle_identity
    from pipeline.store import sha256_bytes, write_bytes_atomic

    t0 = time.perf_counter()
    say = log or (lambda _m: None)
    if not paths:
        raise LibraryError("no report files given")
    change = Change()
    with build_lock(cfg.index_dir, log=log):
        entries = _current_entries(cfg)
        clean_leftovers(cfg)
        collect_garbage(cfg, entries)
        docs = {(e.symbol, e.lang): e for e in entries}
        parsed: list[tuple[Path, bytes, Corpus]] = []
        for raw_path in paths:
            path = Path(raw_path)
            if path.is_dir():
                raise LibraryError(f"{path}: is a directory; give the report files")
            try:
                raw = path.read_bytes()
            except FileNotFoundError:
                raise LibraryError(f"{path}: no such file") from None
            except OSError as e:
                raise LibraryError(f"{path}: cannot read ({e.strerror or e})") from None
            m = _RE_LANG_SUFFIX.search(path.name)
            hint = lang or (m.group(1) if m else None)
            corpus = parse_report(decode_report(raw, path), path, sha256_bytes(raw), lang=hint)
            settle_identity(corpus, symbol, hint)
            parsed.append((path, raw, corpus))
        seen: dict[tuple[str, str], Path] = {}
        for path, _, corpus in parsed:
            ident = (corpus.symbol, corpus.lang)
            if ident in seen:
                raise LibraryError(f"{path}: {corpus.label} is also given as {seen[ident]}")
            seen[ident] = path
        analyzer = Analyzer(cfg)
        new_entries = list(entries)
        taken = {e.file for e in entries}
        files: list[tuple[str, bytes]] = []
        replaced_files: list[str] = []
        for path, raw, corpus in parsed:
            old = docs.get((corpus.symbol, corpus.lang))
            if old is not None and old.sha256 == corpus.sha256:
                change.unchanged.append(old)
                continue
            if old is not None and not replace:
                raise LibraryError(
                    f"{path}: {corpus.label} is already in the library (corpus/{old.file}) with a different text; "
                    "give --replace to replace it"
                )
            others = [c for _, _, c in parsed if c.symbol == corpus.symbol and c is not corpus]
            others += [load_document(cfg, e) for e in entries
                       if e.symbol == corpus.symbol and e.lang != corpus.lang and (e.symbol, e.lang) not in seen]
            change.warnings += alignment_report(corpus, others)
            if path.parent.resolve() == cfg.corpus_dir.resolve():
                name = path.name  # already in corpus/ (added by hand, or edited in place)
            else:
                name = _target_name(cfg, path, corpus.symbol, corpus.lang, taken | _differing_files(cfg, raw))
            taken.add(name)
            entry = Entry(name, corpus.symbol, corpus.lang, corpus.sha256, title or corpus.metadata.title or "",
                          len(corpus.paragraphs), _now())
            say(f"add: {corpus.label} — {len(corpus.paragraphs)} paragraphs from {path}")
            _lexical_stage(cfg, corpus, analyzer, key=entry.key)
            if embedder is None:  # one passage embedder (the model converted and hashed once) for every file
                from pipeline.embed import PassageEmbedder
                from pipeline.models.convert import ensure_model

                if cfg.model is None:
                    ensure_model(cfg)
                embedder = PassageEmbedder(cfg, verify="full")
            index, _ = _dense_stage(cfg, corpus, key=entry.key, embedder=embedder)
            say(f"add: {corpus.label} — embedded {index.embedded} texts")
            if not (cfg.corpus_dir / name).exists():
                files.append((name, raw))
            if old is not None:
                new_entries[new_entries.index(old)] = entry
                if old.file != name:
                    replaced_files.append(old.file)
            else:
                new_entries.append(entry)
            change.entries.append(entry)
        if not change.entries:
            change.seconds = time.perf_counter() - t0
            return change
        for name, raw in files:
            write_bytes_atomic(cfg.corpus_dir / name, raw)
        write_catalog(cfg, new_entries)  # the commit point
        for name in replaced_files:
            (cfg.corpus_dir / name).unlink(missing_ok=True)
    change.seconds = time.perf_counter() - t0
    return change


def remove_documents(cfg: Config, symbol: str, lang: str | None = None, log: Log | None = None) -> Change:
    """Take a document (every language version, or the one in ``lang``) out of the library, atomically.

    The catalog is swapped first (the commit point); the report's indexes are deleted by the next change to
    the library. Its file stays in ``corpus/`` (nothing the user gave is deleted): ``pipeline add`` brings it
    back without re-embedding while its indexes remain.

    Raises:
        LibraryError: no such document in the library.
    """
    import time

    from pipeline.build import clean_leftovers

    t0 = time.perf_counter()
    change = Change()
    with build_lock(cfg.index_dir, log=log):
        entries = _current_entries(cfg)
        clean_leftovers(cfg)
        collect_garbage(cfg, entries)
        want = re.sub(r"\s+", "", symbol).upper()
        gone = [e for e in entries if re.sub(r"\s+", "", e.symbol).upper() == want and (lang is None or e.lang == lang)]
        if not gone:
            listed = ", ".join(f"{e.symbol} ({e.lang})" for e in entries) or "the library is empty"
            raise LibraryError(f"no document {symbol}{f' ({lang})' if lang else ''} in the library ({listed})")
        write_catalog(cfg, [e for e in entries if e not in gone])  # the commit point
        change.entries = gone
    change.seconds = time.perf_counter() - t0
    return change
