"""The bilingual glossary (``corpus/glossary.tsv``) and the English stopword list.

A glossary line is ``english<TAB>chinese[<TAB>weight]``. Its English side is split and lemmatised exactly
like a query, so ``counterfeit medicines`` matches the entry ``counterfeit medicine``. Acronyms whose
lower-case form is an ordinary English word (``WHO``, ``COP``, ``US``) are kept case-sensitive; other
acronyms match in any case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import UserError
from pipeline.translate.lemma import ARTICLES, COMMAS, HARD_BREAKS, WORD_OR_BREAK, lemma

log = logging.getLogger(__name__)

GLOSSARY_FILE = "glossary.tsv"
STOPWORDS_FILE = "stopwords-en.txt"

_FALLBACK_STOPWORDS = frozenset(
    """a an and are as at be by did do does for from how in is it of on or that the this to was were what
    when where which who why with""".split()  # noqa: SIM905 - word lists read best as text
)


def read_stopwords(path: Path) -> frozenset[str]:
    """English stopwords from ``path`` (one a line, ``#`` comments), lower-cased.

    Args:
        path: the stopwords file (``corpus/stopwords-en.txt``).

    Returns:
        The stopwords; a small built-in list when the file does not exist.
    """
    if not path.is_file():
        return _FALLBACK_STOPWORDS
    words = set()
    for line in utf8_text(path.read_bytes(), path).splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            words.add(line)
    return frozenset(words)


def utf8_text(data: bytes, path: Path) -> str:
    """``data`` decoded as UTF-8 (a BOM is dropped).

    Raises:
        UserError: naming the file and line of the first byte that is not UTF-8.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not UTF-8 text; save the file as UTF-8") from None


def parse_glossary(
    text: str, vocab: frozenset[str], stopwords: frozenset[str]
) -> tuple[dict[tuple[str, ...], list[tuple[str, float]]], frozenset[str]]:
    """Parse ``glossary.tsv``.

    Malformed lines are skipped with a warning; weights are clamped to [0.01, 1] (default 1.0); articles
    inside a multi-word term are dropped, as the matcher skips them in queries.

    Args:
        text: the file's text.
        vocab: known base forms for :func:`~pipeline.translate.lemma.lemma` (the CC-CEDICT gloss words).
        stopwords: English stopwords; an acronym whose lower-case form is one stays case-sensitive.

    Returns:
        ``({key tuple: [(zh, weight)]}, case-sensitive acronyms)``; an acronym that is not case-sensitive
        gets a key with its upper-case form and one with its lemma.
    """
    glossary: dict[tuple[str, ...], list[tuple[str, float]]] = {}
    case_sensitive: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            log.warning("glossary line %d ignored: %r", lineno, line)
            continue
        en, zh = cols[0].strip(), cols[1].strip()
        try:
            weight = float(cols[2]) if len(cols) > 2 and cols[2].strip() else 1.0
        except ValueError:
            log.warning("glossary line %d: bad weight %r", lineno, cols[2])
            weight = 1.0
        weight = min(1.0, max(0.01, weight))
        words = [m.group(0) for m in WORD_OR_BREAK.finditer(en) if m.group(0) not in HARD_BREAKS]
        words = [w if w not in COMMAS else "," for w in words]
        if not any(w != "," for w in words):
            continue
        variants: list[list[str]] = []
        for w in words:
            if w == ",":
                variants.append([","])
            elif w.isupper() and len(w) >= 2:
                low = w.lower()
                if low in stopwords or low in vocab:
                    case_sensitive.add(w)
                    variants.append([w])
                else:
                    variants.append([w, lemma(w, vocab)])
            else:
                if w.lower() in ARTICLES and len(words) > 1:
                    continue
                variants.append([lemma(w, vocab)])
        for key in _product(variants):
            targets = glossary.setdefault(tuple(key), [])
            if all(t != zh for t, _ in targets):
                targets.append((zh, weight))
    return glossary, frozenset(case_sensitive)


def build_trie(glossary: dict[tuple[str, ...], list[tuple[str, float]]]) -> dict[str, Any]:
    """Word trie over the glossary keys for longest-match lookup; ``"\\0"`` marks a node ending a term.

    Args:
        glossary: as returned by :func:`parse_glossary`.

    Returns:
        Nested ``{word: {word: ..., "\\0": [(zh, weight)]}}`` dicts.
    """
    root: dict[str, Any] = {}
    for key, targets in glossary.items():
        node = root
        for k in key:
            node = node.setdefault(k, {})
        node["\0"] = targets
    return root


def _product(variants: list[list[str]]) -> Iterator[list[str]]:
    """Every key obtained by choosing one variant per word position (in order)."""
    if not variants:
        yield []
        return
    for head in variants[0]:
        for tail in _product(variants[1:]):
            yield [head, *tail]
