"""Where everything of a home lives: the catalog, each report's index folder and the keys that name them.

Every layer may use this module (it imports nothing of the project but the settings' type): the catalog
(:mod:`pipeline.catalog`) and the library name their files with it, :mod:`pipeline.lexical` and
:mod:`pipeline.dense` save and load one report's index in the folder it gives, and :mod:`pipeline.build`
removes the folders no catalog names any more.

A report's indexes live in ``indexes/docs/KEY/``, where the key is made of the report's symbol, language and
the sha256 of the text it was added with (``CTOC-COP-2012-7.zh.79ffa7c837df``): a folder is never rewritten
for another text, which is what lets the catalog be the commit point of the library.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.corpus import Corpus

__all__ = [
    "CATALOG",
    "CATALOG_BACKUP",
    "ENTRY_FILE",
    "LANGS",
    "catalog_backup_path",
    "catalog_path",
    "corpus_key",
    "dense_dir",
    "doc_dir",
    "doc_key",
    "docs_root",
    "lang_of_name",
    "lexical_dir",
]

#: The catalog's file name inside ``corpus/``.
CATALOG = "documents.json"
#: Its backup beside it: a copy of the last catalog written, kept in case the catalog is damaged.
CATALOG_BACKUP = "documents.json.bak"
#: Each report's catalog entry, kept in its index folder (to rebuild a catalog that is lost with its backup).
ENTRY_FILE = "entry.json"
#: The six official languages of the United Nations, as report files name them (``NAME.zh.txt``).
LANGS = ("zh", "en", "fr", "es", "ru", "ar")
_RE_LANG_SUFFIX = re.compile(r"\.(zh|en|fr|es|ru|ar)\.(?:txt|pdf|docx|doc)$", re.IGNORECASE)


def lang_of_name(name: str) -> str | None:
    """The language a report file's name gives (``report.en.txt``, ``report.zh.pdf`` → ``en``, ``zh``), or
    None."""
    m = _RE_LANG_SUFFIX.search(name)
    return m.group(1).lower() if m else None


def doc_key(symbol: str, lang: str, sha256: str) -> str:
    """``CTOC/COP/2012/7``, ``zh``, ``79ffa7…`` →
    ``CTOC-COP-2012-7.zh.79ffa7c837df`` (safe as a folder name)."""
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", symbol).strip("-.") or "report"
    return f"{slug}.{lang}.{sha256[:12]}"


def corpus_key(corpus: Corpus) -> str:
    """The index folder key of a parsed report from its own identity and hash (a library names each document's
    folder with the hash its catalog recorded instead: :meth:`pipeline.library.Library.key`)."""
    return doc_key(corpus.symbol, corpus.lang, corpus.sha256)


def catalog_path(cfg: Config) -> Path:
    """``corpus/documents.json``: the catalog of the home's library."""
    return cfg.corpus_dir / CATALOG


def catalog_backup_path(cfg: Config) -> Path:
    """``corpus/documents.json.bak``: the copy of the last catalog written."""
    return cfg.corpus_dir / CATALOG_BACKUP


def docs_root(cfg: Config) -> Path:
    """``indexes/docs``: where every report's index folder lives."""
    return cfg.index_dir / "docs"


def doc_dir(cfg: Config, key: str) -> Path:
    """``indexes/docs/KEY``: the folder of one report's indexes."""
    return docs_root(cfg) / key


def lexical_dir(cfg: Config, key: str) -> Path:
    """``indexes/docs/KEY/lexical``: one report's BM25 term frequencies."""
    return doc_dir(cfg, key) / "lexical"


def dense_dir(cfg: Config, key: str) -> Path:
    """``indexes/docs/KEY/dense``: one report's paragraph and sentence vectors."""
    return doc_dir(cfg, key) / "dense"
