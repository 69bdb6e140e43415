"""Changing the library: adding report files and removing documents, all or nothing.

Sits above :mod:`pipeline.build` (it indexes a new report with build's public functions) and
:mod:`pipeline.library` (it reads the other language versions of a document).

**The catalog is the commit point.** Each report's indexes live in their own folder named after its symbol,
language and the hash of the text it was added with (:func:`pipeline.layout.doc_key`), and are never rewritten
in place: adding a report writes its new folders and *then* swaps the catalog (one rename); removing one swaps
the catalog first. A kill at any moment therefore leaves the catalog of before (whose folders are all still
there) or the catalog of after (whose folders were all written before it) — the library answers as it did, or
as it should. Folders no catalog names any more are removed at the start of the next ``add``/``remove``/
``build`` (:func:`pipeline.build.collect_garbage`), so a search that read the previous catalog still finds its
files.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.build import (
    clean_leftovers,
    collect_garbage,
    ensure_dense,
    ensure_lexical,
    passage_embedder,
    refresh_ann,
)
from pipeline.catalog import (
    ORIGINALS,
    Entry,
    LibraryError,
    file_name_problem,
    now,
    read_catalog,
    write_catalog,
    write_entry,
)
from pipeline.config import Config
from pipeline.errors import PipelineError
from pipeline.ingest import layout_text, parse_layout, read_report_bytes, settle_identity
from pipeline.layout import doc_key, lang_of_name
from pipeline.library import default_entries, load_document, load_library
from pipeline.store import build_lock, sha256_bytes, write_bytes_atomic
from pipeline.text import symbol_key

if TYPE_CHECKING:
    from pipeline.analyze import Analyzer
    from pipeline.corpus import Corpus

__all__ = ["Change", "add_reports", "alignment_report", "remove_documents"]

Log = Callable[[str], None]


@dataclass
class Change:
    """What ``add`` or ``remove`` did: the entries added or removed, and what the user should know."""

    entries: list[Entry] = field(default_factory=list)
    unchanged: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


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

        msg = (
            f"{new.symbol}: the {new.lang} version has {len(new.paragraphs)} paragraphs, "
            f"the {other.lang} version {len(other.paragraphs)}"
        )
        if extra := mine - theirs:
            msg += f"; only in {new.lang}: {show(extra)}"
        if missing := theirs - mine:
            msg += f"; only in {other.lang}: {show(missing)}"
        out.append(msg + " — paragraphs are aligned by number, so these have no counterpart")
    return out


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


@dataclass
class _Given:
    """One file given to ``add``: its path, the bytes of its layout text (the file itself for text), the
    parsed report, the format it was read as and, for PDF and Word, the file's own bytes."""

    path: Path
    raw: bytes
    corpus: Corpus
    format: str = "text"
    original: bytes | None = None


def _target_name(cfg: Config, path: Path, symbol: str, lang: str, raw: bytes, taken: set[str]) -> str:
    """The report's file name inside ``corpus/``: its own when it is already there or reads ``NAME.LANG.txt``
    with the right language, else ``SYMBOL-SLUG.LANG.txt``; a name the library uses, or a file in ``corpus/``
    with other bytes, gets a numeric suffix (only the candidate names' files are read). A PDF or Word file's
    layout text is named after it: ``report.zh.pdf`` → ``report.zh.txt``."""
    if path.parent.resolve() == cfg.corpus_dir.resolve() and path.suffix == ".txt":
        if (problem := file_name_problem(path.name)) is not None:
            raise LibraryError(f"{path}: a report's file name {problem}; rename it")
        return path.name
    base = path.name.rsplit(".", 2)[0] if lang_of_name(path.name) == lang else ""
    if not base and path.suffix.lower() in (".pdf", ".docx", ".doc"):
        base = path.stem
    # one rule for names (catalog.file_name_problem): no hidden name, no control characters, short enough
    base = re.sub(r"[\x00-\x1f\x7f/\\]+", "-", base).lstrip(". -")[:120]
    base = base or doc_key(symbol, lang, "").rsplit(".", 2)[0].lower()

    def free(name: str) -> bool:
        if name in taken:
            return False
        target = cfg.corpus_dir / name
        return not target.exists() or (target.stat().st_size == len(raw) and target.read_bytes() == raw)

    name, i = f"{base}.{lang}.txt", 2
    while not free(name):
        name, i = f"{base}-{i}.{lang}.txt", i + 1
    return name


Progress = Callable[[int, int, Path], None]


def _parse_files(
    paths: Sequence[str | Path], symbol: str | None, lang: str | None, progress: Progress | None = None
) -> list[_Given]:
    """Read and parse every file (text, PDF or Word, told by its content) and settle its identity, before
    anything is written and before the build lock is taken; refuses a folder, a pipe or device, a missing or
    oversized file (:func:`pipeline.ingest.read_report_bytes`) and two files of one version."""
    parsed: list[_Given] = []
    seen: dict[tuple[str, str], Path] = {}
    for i, raw_path in enumerate(paths, 1):
        path = Path(raw_path)
        given = read_report_bytes(path)
        text, fmt = layout_text(given, path)
        raw = given if fmt == "text" else text.encode("utf-8")
        hint = lang or lang_of_name(path.name)
        corpus = parse_layout(text, fmt, path, sha256_bytes(raw), hint)
        settle_identity(corpus, symbol, hint)
        parsed.append(_Given(path, raw, corpus, fmt, None if fmt == "text" else given))
        if progress is not None:
            progress(i, len(paths), path)
    for g in parsed:
        ident = (g.corpus.symbol, g.corpus.lang)
        if ident in seen:
            raise LibraryError(f"{g.path}: {g.corpus.label} is also given as {seen[ident]}")
        seen[ident] = g.path
    return parsed


def _not_written(e: OSError, cfg: Config, what: str) -> LibraryError:
    """The error for a write that failed during ``add``/``remove`` (a full disk, a read-only folder): the
    library is as it was."""
    where = getattr(e, "filename", None) or cfg.corpus_dir
    return LibraryError(
        f"cannot write {where}: {e.strerror or e}; nothing was {what} (the library is as it was)"
    )


def _check_spellings(entries: Sequence[Entry], parsed: Sequence[_Given]) -> None:
    """Refuse a second spelling of a symbol the library has (UN symbols ignore case: ``ctoc/cop/2012/7`` is
    ``CTOC/COP/2012/7``), so one document never becomes two."""
    spelled = {symbol_key(e.symbol): e.symbol for e in entries}
    for path, corpus in ((g.path, g.corpus) for g in parsed):
        known = spelled.setdefault(symbol_key(corpus.symbol), corpus.symbol)
        if known != corpus.symbol:
            raise LibraryError(
                f"{path}: {corpus.symbol} is {known}, already in the library (symbols ignore case); "
                f"give --symbol {known}"
            )


@dataclass
class _Adding:
    """The state of one ``add``: the catalog being made, the files to copy, and what is shared across files
    (one analyzer, one passage embedder, one embedding cache read once)."""

    cfg: Config
    entries: list[Entry]
    parsed: list[_Given]
    title: str | None
    embedder: Any
    log: Log
    change: Change = field(default_factory=Change)
    files: list[tuple[str, bytes]] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    replaced_originals: list[str] = field(default_factory=list)
    analyzer: Analyzer | None = None
    cache: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.new_entries = list(self.entries)
        self.taken = {e.file for e in self.entries}
        self.given = {(g.corpus.symbol, g.corpus.lang) for g in self.parsed}

    def others(self, corpus: Corpus) -> list[Corpus]:
        """The other language versions of ``corpus``'s document: given now, or already in the library."""
        out = [g.corpus for g in self.parsed if g.corpus.symbol == corpus.symbol and g.corpus is not corpus]
        return out + [
            load_document(self.cfg, e)
            for e in self.entries
            if e.symbol == corpus.symbol and e.lang != corpus.lang and (e.symbol, e.lang) not in self.given
        ]

    def index(self, corpus: Corpus, entry: Entry) -> None:
        """Write the new report's own indexes (its folder is new: nothing the catalog names is touched)."""
        from pipeline.analyze import Analyzer

        self.analyzer = self.analyzer or Analyzer(self.cfg)
        ensure_lexical(self.cfg, corpus, self.analyzer, entry.key)
        if self.embedder is None:  # one passage embedder (the model converted and hashed once) for every file
            self.embedder = passage_embedder(self.cfg)
        cache = self._cache()
        index, _ = ensure_dense(self.cfg, corpus, entry.key, self.embedder, cache=cache)
        for keys, vectors in (
            (index.paragraph_keys, index.paragraphs),
            (index.sentence_keys, index.sentences),
        ):
            for i, k in enumerate(keys):  # a later file of this add (another version) reuses these vectors
                cache.setdefault(k, vectors[i])
        write_entry(self.cfg, entry)  # beside the indexes: what a lost catalog is rebuilt from
        self.log(f"add: {corpus.label} — embedded {index.embedded} texts")

    def _cache(self) -> dict[str, Any]:
        if self.cache is None:
            from pipeline.dense import library_cache

            self.cache = library_cache(self.cfg, self.embedder.identity)
        return self.cache

    def add(self, given: _Given, old: Entry | None) -> None:
        """Index one report and enter it in the catalog being made (a PDF or Word file is kept beside its
        layout text, under ``corpus/originals/``)."""
        path, raw, corpus = given.path, given.raw, given.corpus
        self.change.warnings += alignment_report(corpus, self.others(corpus))
        name = _target_name(self.cfg, path, corpus.symbol, corpus.lang, raw, self.taken)
        self.taken.add(name)
        entry = Entry(
            name,
            corpus.symbol,
            corpus.lang,
            corpus.sha256,
            self.title or corpus.metadata.title or "",
            len(corpus.paragraphs),
            now(),
        )
        if given.original is not None:
            suffix = {"pdf": ".pdf", "docx": ".docx", "doc": ".doc"}[given.format]
            entry.format = given.format
            entry.original = f"{ORIGINALS}/{name[: -len('.txt')]}{suffix}"
            entry.original_sha256 = sha256_bytes(given.original)
            self.files.append((entry.original, given.original))
        self.log(f"add: {corpus.label} — {len(corpus.paragraphs)} paragraphs from {path} ({given.format})")
        self.index(corpus, entry)
        if not (self.cfg.corpus_dir / name).exists():
            self.files.append((name, raw))
        if old is not None:
            self.new_entries[self.new_entries.index(old)] = entry
            if old.file != name:
                self.replaced.append(old.file)
            if old.original and old.original != entry.original:
                self.replaced_originals.append(old.original)
        else:
            self.new_entries.append(entry)
        self.change.entries.append(entry)

    def commit(self) -> None:
        """Copy the new files into ``corpus/``, then swap the catalog (the commit point). A write that fails
        (a full disk) removes the files it copied and leaves the library as it was.

        Raises:
            LibraryError: a file or the catalog could not be written (nothing changed).
        """
        copied: list[Path] = []
        try:
            for name, raw in self.files:
                if "/" in name:
                    (self.cfg.corpus_dir / name).parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(self.cfg.corpus_dir / name, raw)
                copied.append(self.cfg.corpus_dir / name)
            write_catalog(self.cfg, self.new_entries, previous=self.entries)
        except OSError:
            for f in copied:
                f.unlink(missing_ok=True)
            raise
        for name in self.replaced:
            (self.cfg.corpus_dir / name).unlink(missing_ok=True)
        for old in self.replaced_originals:
            if old not in {e.original for e in self.new_entries}:
                (self.cfg.corpus_dir / old).unlink(missing_ok=True)


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
    progress: Progress | None = None,
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
        paths: report files in the UN layout: UTF-8 text, PDF (with a text layer) or Word (.docx; .doc through
            LibreOffice), told by their content.
        symbol: the document symbol, for reports that do not print it.
        lang: the language ("zh", "en"), when neither the name nor the text settles it.
        title: the title to record (default: the report's own).
        replace: replace a version already in the library with a different text (else refused).
        embedder: a passage embedder to use instead of the model (tests, benchmarks).
        log: progress messages.
        progress: called with (files read, files given, file) as each file is read and parsed.

    Raises:
        LibraryError: a file that cannot join the library (named), or a conflict with the catalog.
        IngestError: a file that does not parse (file and line named).
    """
    t0 = time.perf_counter()
    if not paths:
        raise LibraryError("no report files given")
    parsed = _parse_files(paths, symbol, lang, progress)  # before the lock: reading never holds it up
    with build_lock(cfg.index_dir, log=log):
        entries = _current_entries(cfg)
        clean_leftovers(cfg)
        collect_garbage(cfg, {e.key for e in entries})
        _check_spellings(entries, parsed)
        docs = {(e.symbol, e.lang): e for e in entries}
        adding = _Adding(cfg, entries, parsed, title, embedder, log or (lambda _m: None))
        for given in parsed:
            path, corpus = given.path, given.corpus
            old = docs.get((corpus.symbol, corpus.lang))
            if old is not None and old.sha256 == corpus.sha256:
                adding.change.unchanged.append(old)
                continue
            if old is not None and not replace:
                raise LibraryError(
                    f"{path}: {corpus.label} is already in the library (corpus/{old.file}) "
                    "with a different text; give --replace to replace it"
                )
            try:
                adding.add(given, old)
            except OSError as e:
                raise _not_written(e, cfg, "added") from None
        if adding.change.entries:
            try:
                adding.commit()
            except OSError as e:
                raise _not_written(e, cfg, "added") from None
            identity = adding.embedder.identity if adding.embedder is not None else None
            _refresh_ann(cfg, adding.new_entries, identity, adding.log)
    adding.change.seconds = time.perf_counter() - t0
    return adding.change


def remove_documents(cfg: Config, symbol: str, lang: str | None = None, log: Log | None = None) -> Change:
    """Take a document (every language version, or the one in ``lang``) out of the library, atomically.

    The catalog is swapped first (the commit point); the report's indexes are deleted by the next change to
    the library. Its file stays in ``corpus/`` (nothing the user gave is deleted): ``pipeline add`` brings it
    back without re-embedding while its indexes remain.

    Raises:
        LibraryError: no such document in the library.
    """
    t0 = time.perf_counter()
    change = Change()
    with build_lock(cfg.index_dir, log=log):
        entries = _current_entries(cfg)
        clean_leftovers(cfg)
        collect_garbage(cfg, {e.key for e in entries})
        gone = [e for e in entries if symbol_key(e.symbol) == symbol_key(symbol) and lang in (None, e.lang)]
        if not gone:
            listed = ", ".join(f"{e.symbol} ({e.lang})" for e in entries) or "the library is empty"
            raise LibraryError(
                f"no document {symbol}{f' ({lang})' if lang else ''} in the library ({listed})"
            )
        kept = [e for e in entries if e not in gone]
        try:
            write_catalog(cfg, kept, previous=entries)  # the commit point
        except OSError as e:
            raise _not_written(e, cfg, "removed") from None
        change.entries = gone
        _refresh_ann(cfg, kept, None, log or (lambda _m: None))
    change.seconds = time.perf_counter() - t0
    return change


def _refresh_ann(cfg: Config, entries: Sequence[Entry], embedder: dict[str, Any] | None, log: Log) -> None:
    """After the catalog's swap: the ANN index gets the change (:func:`pipeline.build.refresh_ann`: an added
    report's vectors are added to it). The change is made whatever happens here: an index left stale is not
    used (the dense channel scans exactly, or refuses with ``ann=on``) until ``pipeline build`` updates it."""
    from pipeline.ann import ann_artifact, ann_dir, ann_wanted

    if not ann_wanted(cfg, sum(e.paragraphs for e in entries)) and not ann_dir(cfg).exists():
        return
    try:
        if embedder is None:  # a removal embeds nothing: the vectors are those the index was built from
            stored = ann_artifact(ann_dir(cfg)).read_manifest()["inputs"] if ann_dir(cfg).exists() else {}
            embedder = {
                k[len("embedder.") :]: v for k, v in stored.items() if k.startswith("embedder.")
            } or None
        line = refresh_ann(cfg, load_library(cfg), embedder)
    except (PipelineError, OSError) as e:
        log(f"ann: not updated ({str(e).splitlines()[0]}); `pipeline build` updates it")
        return
    if line:
        log(line)
