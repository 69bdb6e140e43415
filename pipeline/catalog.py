"""The catalog ``corpus/documents.json``: which report files are in the library, and what each one is.

::

    {"ctoc-cop-2012-7.zh.txt": {"symbol": "CTOC/COP/2012/7", "lang": "zh", "title": "…",
                                "sha256": "…", "paragraphs": 65, "added": "2026-12-01T05:00:00+00:00"}, …}

Entries keep the order reports were added in (the library's order). The catalog is the commit point of every
change to the library: it is written in one atomic swap (:func:`write_catalog`) after everything it names is
in place. This module reads and writes the file and nothing else: it knows neither reports nor indexes.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import UserError
from pipeline.layout import CATALOG, LANGS, catalog_path, doc_key, lang_of_name
from pipeline.store import write_bytes_atomic

if TYPE_CHECKING:
    from pipeline.config import Config

__all__ = ["CATALOG", "Entry", "LibraryError", "now", "read_catalog", "stray_files", "write_catalog"]


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


def now() -> str:
    """The time a report is added, as the catalog records it (UTC, seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def write_catalog(cfg: Config, entries: Sequence[Entry]) -> None:
    """Swap in a new catalog (atomic: the old one or the new one, never a mix). Entries keep their order: the
    library's order (the order reports were added)."""
    data = {e.file: e.to_json() for e in entries}
    write_bytes_atomic(catalog_path(cfg), (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def stray_files(cfg: Config, entries: Sequence[Entry]) -> list[Path]:
    """Report files in ``corpus/`` that the catalog does not list (``NAME.LANG.txt``)."""
    listed = {e.file for e in entries}
    return sorted(p for p in cfg.corpus_dir.glob("*.txt") if lang_of_name(p.name) and p.name not in listed)
