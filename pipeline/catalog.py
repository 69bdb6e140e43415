"""The catalog ``corpus/documents.json``: which report files are in the library, and what each one is.

::

    {"ctoc-cop-2012-7.zh.txt": {"symbol": "CTOC/COP/2012/7", "lang": "zh", "title": "…",
                                "sha256": "…", "paragraphs": 65, "added": "2026-12-01T05:00:00+00:00"}, …}

Entries keep the order reports were added in (the library's order). The catalog is the commit point of every
change to the library: it is written in one atomic swap (:func:`write_catalog`) after everything it names is
in place. This module reads and writes the file and nothing else: it knows neither reports nor indexes.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import UserError
from pipeline.layout import (
    CATALOG,
    CATALOG_BACKUP,
    ENTRY_FILE,
    LANGS,
    catalog_backup_path,
    catalog_path,
    doc_dir,
    doc_key,
    docs_root,
    lang_of_name,
)
from pipeline.store import sha256_file, write_bytes_atomic
from pipeline.text import symbol_form, symbol_key

if TYPE_CHECKING:
    from pipeline.config import Config

__all__ = [
    "CATALOG",
    "Entry",
    "LibraryError",
    "ORIGINALS",
    "file_name_problem",
    "now",
    "parse_catalog",
    "read_catalog",
    "restorable",
    "restore_catalog",
    "stray_files",
    "write_catalog",
    "write_entry",
]


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
    #: what the report was given as: "text", "pdf", "docx" or "doc"; the file in corpus/ is its layout text
    format: str = "text"
    #: the file as given, kept under corpus/ ("originals/NAME.LANG.pdf"), and its sha256 ("" for text)
    original: str = ""
    original_sha256: str = ""
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
        if self.format != "text":
            out |= {"format": self.format, "original": self.original, "original_sha256": self.original_sha256}
        return out


#: The longest report file name taken into ``corpus/`` (bytes, UTF-8).
MAX_FILE_NAME_BYTES = 200


def file_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a report's file name inside ``corpus/`` (None when it can): one rule for the
    catalog and for ``add``. A name is a plain file name — no folder, not hidden (``.name``), no control
    characters, at most :data:`MAX_FILE_NAME_BYTES` bytes — ending in ``.txt``."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        return "must be a file name inside corpus/"
    if name.startswith("."):
        return "must not start with '.' (a hidden file)"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "must not contain control characters"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_FILE_NAME_BYTES:
        return f"is longer than {MAX_FILE_NAME_BYTES} bytes"
    if not name.endswith(".txt"):
        return "must end in .txt"
    return None


#: Where the files given as PDF or Word are kept, inside ``corpus/``.
ORIGINALS = "originals"


def _original_name_ok(name: str) -> bool:
    """An original's catalog name: ``originals/NAME`` with NAME a plain, visible file name."""
    folder, _, base = name.partition("/")
    return (
        folder == ORIGINALS
        and bool(base)
        and "/" not in base
        and "\\" not in base
        and not base.startswith(".")
        and not any(ord(c) < 32 or ord(c) == 127 for c in base)
    )


def parse_catalog(raw: bytes, path: Path) -> list[Entry]:
    """The entries of a catalog's bytes, in library order.

    Raises:
        LibraryError: not UTF-8 JSON of the documented shape (file and line named).
    """
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise LibraryError(f"{path}:1: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise LibraryError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise LibraryError(f'{path}:1: expected an object {{"file name": {{"symbol": …, "lang": …}}, …}}')
    entries: list[Entry] = []
    seen: dict[tuple[str, str], str] = {}
    for name, v in data.items():
        symbol, lang = v.get("symbol"), v.get("lang")
        if not isinstance(symbol, str) or not symbol.strip() or lang not in LANGS:
            raise LibraryError(
                f'{path}: entry {name!r} needs a "symbol" and a "lang" (one of {", ".join(LANGS)})'
            )
        if (problem := file_name_problem(name)) is not None:
            raise LibraryError(f"{path}: entry {name!r} {problem}")
        try:
            symbol = symbol_form(symbol)
        except ValueError as e:
            raise LibraryError(f"{path}: entry {name!r}: {e}") from None
        if (symbol_key(symbol), lang) in seen:
            raise LibraryError(
                f"{path}: {symbol} ({lang}) is listed twice: {seen[symbol_key(symbol), lang]!r} and {name!r}"
            )
        seen[symbol_key(symbol), lang] = name
        known = {"symbol", "lang", "sha256", "title", "paragraphs", "added", "format", "original"}
        known |= {"original_sha256"}
        original = str(v.get("original") or "")
        if original and not _original_name_ok(original):
            raise LibraryError(f'{path}: entry {name!r}: "original" must be a file in corpus/originals/')
        try:
            paragraphs = int(v.get("paragraphs") or 0)
        except (TypeError, ValueError):
            raise LibraryError(f'{path}: entry {name!r}: "paragraphs" is not a number') from None
        entries.append(
            Entry(
                file=name,
                symbol=symbol,
                lang=lang,
                sha256=str(v.get("sha256") or ""),
                title=str(v.get("title") or v.get("title_en") or ""),
                paragraphs=paragraphs,
                added=str(v.get("added") or ""),
                format=str(v.get("format") or "text"),
                original=original,
                original_sha256=str(v.get("original_sha256") or ""),
                extra={k: x for k, x in v.items() if k not in known and k != "title_en"},
            )
        )
    return entries


def read_catalog(cfg: Config) -> list[Entry] | None:
    """The catalog's entries in library order, or None when the home has no catalog (and nothing to restore
    one from: a home whose report was never added).

    Raises:
        LibraryError: the catalog is damaged (not UTF-8 JSON of the documented shape: file and line named) or
            missing while its backup or the reports' indexes remain — ``pipeline build`` restores it.
    """
    path = catalog_path(cfg)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if restorable(cfg):
            raise LibraryError(
                f"{path}: the catalog is missing; `pipeline build` restores it (from its backup "
                f"{CATALOG_BACKUP} or the reports' indexes)"
            ) from None
        return None
    except OSError as e:
        raise LibraryError(f"{path}: cannot read the catalog ({e.strerror or e})") from None
    try:
        return parse_catalog(raw, path)
    except LibraryError as e:
        raise LibraryError(
            f"{e}; the catalog is damaged: `pipeline build` restores it (from its backup {CATALOG_BACKUP} "
            "or the reports' indexes)"
        ) from None


def restorable(cfg: Config) -> bool:
    """True when the home has something a lost catalog can be restored from: its backup, or a report's index
    folder with its entry."""
    if catalog_backup_path(cfg).is_file():
        return True
    root = docs_root(cfg)
    return root.is_dir() and any((d / ENTRY_FILE).is_file() for d in root.iterdir())


def _catalog_bytes(entries: Sequence[Entry]) -> bytes:
    data = {e.file: e.to_json() for e in entries}
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_entry(cfg: Config, entry: Entry, only_if_changed: bool = False) -> None:
    """Keep ``entry`` in its report's index folder (``indexes/docs/KEY/entry.json``), written atomically
    (``only_if_changed``: left alone when it already says the same)."""
    folder = doc_dir(cfg, entry.key)
    data = _catalog_bytes([entry])
    if only_if_changed:
        try:
            if (folder / ENTRY_FILE).read_bytes() == data:
                return
        except OSError:
            pass
    folder.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(folder / ENTRY_FILE, data)


def restore_catalog(cfg: Config) -> str | None:
    """Restore a missing or damaged catalog (call under the build lock): from its backup when the backup reads
    and every report it lists is in ``corpus/`` with the text it was added with, else from the entries kept in
    the reports' index folders (those whose text is still there, in the order they were added).

    Returns:
        What was done (for the user), or None when the catalog reads (or the home never had one).

    Raises:
        LibraryError: the catalog is lost and nothing verifies to restore it from.
    """
    path = catalog_path(cfg)
    try:
        parse_catalog(path.read_bytes(), path)
        return None
    except FileNotFoundError:
        if not restorable(cfg):
            return None
        why = "missing"
    except (OSError, LibraryError) as err:
        why = f"damaged: {str(err).split(': ', 1)[-1]}"
    backup = catalog_backup_path(cfg)
    try:
        entries = parse_catalog(backup.read_bytes(), backup)
        if entries and all(_verifies(cfg, e) for e in entries):
            write_bytes_atomic(path, _catalog_bytes(entries))
            n = len(entries)
            return f"catalog: corpus/{CATALOG} was {why}; restored from {CATALOG_BACKUP} ({n} report(s))"
    except (OSError, LibraryError):
        pass
    found: dict[tuple[str, str], Entry] = {}
    root = docs_root(cfg)
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            [entry] = parse_catalog((d / ENTRY_FILE).read_bytes(), d / ENTRY_FILE)
        except (OSError, LibraryError, ValueError):
            continue
        if _verifies(cfg, entry) and (symbol_key(entry.symbol), entry.lang) not in found:
            found[symbol_key(entry.symbol), entry.lang] = entry
    entries = sorted(found.values(), key=lambda e: (e.added, e.file))
    if not entries:
        raise LibraryError(
            f"{path}: the catalog is {why}, and neither {CATALOG_BACKUP} nor the reports' indexes give one "
            "whose reports are in corpus/ unchanged; add the reports again with `pipeline add`"
        )
    write_bytes_atomic(path, _catalog_bytes(entries))
    names = ", ".join(f"{e.symbol} ({e.lang})" for e in entries)
    return f"catalog: corpus/{CATALOG} was {why}; rebuilt from the reports' indexes: {names}"


def _verifies(cfg: Config, entry: Entry) -> bool:
    """The entry's report is in ``corpus/`` with the text it was added with."""
    f = cfg.corpus_dir / entry.file
    return f.is_file() and (not entry.sha256 or sha256_file(f) == entry.sha256)


def now() -> str:
    """The time a report is added, as the catalog records it (UTC, seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def write_catalog(cfg: Config, entries: Sequence[Entry], previous: Sequence[Entry] | None = None) -> None:
    """Swap in a new catalog (atomic: the old one or the new one, never a mix), after its backup. Entries keep
    their order: the library's order (the order reports were added).

    The backup ``documents.json.bak`` is written first, so it always holds a catalog that was committed or
    was about to be (everything it names is written before either file). When the catalog itself cannot be
    written (a full disk), the backup goes back to ``previous`` where it can, and the error is raised.
    """
    data = _catalog_bytes(entries)
    write_bytes_atomic(catalog_backup_path(cfg), data)
    try:
        write_bytes_atomic(catalog_path(cfg), data)
    except OSError:
        if previous is not None:
            with contextlib.suppress(OSError):
                write_bytes_atomic(catalog_backup_path(cfg), _catalog_bytes(previous))
        raise


def stray_files(cfg: Config, entries: Sequence[Entry]) -> list[Path]:
    """Report files in ``corpus/`` that the catalog does not list (``NAME.LANG.txt``)."""
    listed = {e.file for e in entries}
    return sorted(p for p in cfg.corpus_dir.glob("*.txt") if lang_of_name(p.name) and p.name not in listed)
