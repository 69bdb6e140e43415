"""The query translator: English (or mixed) query -> weighted Chinese terms, and Chinese -> Chinese synonyms.

:class:`Translator` splits a query into pass-through pieces and runs of Latin words, then translates each run
with the glossary (longest phrase first), the CC-CEDICT reverse index (phrases, then single words) and
finally passes untranslatable words through lower-cased. See :mod:`pipeline.translate` for the overview.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pipeline.store import sha256_bytes
from pipeline.text import CJK_IDEOGRAPHS
from pipeline.translate.cedict import CACHE_SUBDIR, MAX_CANDIDATES, MAX_CEDICT_PHRASE, load_reverse_index
from pipeline.translate.glossary import (
    GLOSSARY_FILE,
    STOPWORDS_FILE,
    build_trie,
    parse_glossary,
    read_stopwords,
    utf8_text,
)
from pipeline.translate.lemma import ARTICLES, COMMAS, HARD_BREAKS, WORD_OR_BREAK, lemma
from pipeline.translate.senses import Gloss, Glosser, glossary_senses

if TYPE_CHECKING:
    from pipeline.config import Config

#: Bump when translation behaviour changes in a way that should invalidate lexical-index manifests.
TRANSLATOR_VERSION = "1"

_CJK_RUN = re.compile(f"([{CJK_IDEOGRAPHS}]+)")
_IS_CJK = re.compile(f"^[{CJK_IDEOGRAPHS}]+$")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
_URLISH = re.compile(r"^(?:https?://|www\.)|[A-Za-z0-9]\.[A-Za-z]{2,}(?:/|$)|@")
# punctuation stripped from both ends of a whitespace-separated chunk (parentheses handled separately)
_EDGE_PUNCT = "\"'“”‘’«»,;:!?[]{}<>。，；：！？【】《》、."

# Function words of French, Italian, Spanish and German: two or more of them (or of accented words) in a run
# of Latin words mark a foreign name or title, whose words are then passed through as well.
_FOREIGN = frozenset(
    """de du des la le les et en contre pour sur dans par avec une un au aux del della delle di il lo
    los las el y por con und der die das von zu für""".split()  # noqa: SIM905 - word lists read best as text
)


@dataclass
class _Word:
    """One Latin word of a query with its matching keys."""

    text: str
    lower: str
    lem: str
    keys: tuple[str, ...]


_COMMA_WORD = _Word(",", ",", ",", (",",))


@dataclass
class _Pass:
    """A query piece returned unchanged (Chinese run, number, identifier, URL)."""

    term: str


class Translator:
    """English -> weighted Chinese terms for BM25 queries.

    Attributes:
        reverse_index_builds: how many times this process built the CC-CEDICT reverse index (tests use it
            to check that the cache is reused).
    """

    reverse_index_builds: ClassVar[int] = 0

    def __init__(
        self,
        glossary: dict[tuple[str, ...], list[tuple[str, float]]],
        reverse: Mapping[str, tuple[tuple[str, float], ...]],
        vocab: frozenset[str],
        stopwords: frozenset[str],
        case_sensitive: frozenset[str],
        fingerprint: dict[str, str],
        cache_path: Path | None = None,
        forward: Mapping[str, tuple[str, ...]] | None = None,
        display: Mapping[str, tuple[str, ...]] | None = None,
        glossary_zh: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._forward = forward if forward is not None else {}  # (a lazy map: never ask its len())
        self._glosser = Glosser(glossary_zh or {}, display if display is not None else {}, vocab)
        self._glossary = glossary
        self._trie = build_trie(glossary)
        self._reverse = reverse
        self._vocab = vocab
        self._stop = stopwords
        self._case_sensitive = case_sensitive
        self._fingerprint = dict(fingerprint)
        self.cache_path = cache_path

    # ---------------------------------------------------------------- loading

    @classmethod
    def load(cls, cfg: Config) -> Translator:
        """Load the glossary and the cached CC-CEDICT reverse index (building the cache if needed).

        Args:
            cfg: project settings; the glossary and stopwords come from ``cfg.corpus_dir``, the cache
                lives in ``cfg.index_dir / "translate"``.

        Returns:
            A ready translator.
        """
        corpus = Path(cfg.corpus_dir)
        stopwords = read_stopwords(corpus / STOPWORDS_FILE)
        rev = load_reverse_index(Path(cfg.index_dir) / CACHE_SUBDIR, stopwords)
        if rev.built:
            cls.reverse_index_builds += 1

        gloss_path = corpus / GLOSSARY_FILE
        glossary_bytes = gloss_path.read_bytes() if gloss_path.is_file() else b""
        glossary_text = utf8_text(glossary_bytes, gloss_path)
        glossary, case_sensitive = parse_glossary(glossary_text, rev.vocab, stopwords)
        fingerprint = {
            "translator_version": TRANSLATOR_VERSION,
            "glossary_sha256": sha256_bytes(glossary_bytes),
            "cedict_sha256": rev.meta["cedict_sha256"],
            "stopwords_sha256": rev.meta["stopwords_sha256"],
            "jieba_dict_sha256": rev.meta["jieba_dict_sha256"],
        }
        return cls(
            glossary,
            rev.index,
            rev.vocab,
            stopwords,
            case_sensitive,
            fingerprint,
            rev.path,
            rev.forward,
            rev.display,
            glossary_senses(glossary_text, rev.vocab),
        )

    # ---------------------------------------------------------------- public API

    def fingerprint(self) -> dict[str, str]:
        """Hashes of everything translation depends on, for lexical-index manifests."""
        return dict(self._fingerprint)

    def translate(self, query: str) -> list[tuple[str, float]]:
        """Translate a query into weighted Chinese (and pass-through) terms.

        Args:
            query: English, Chinese or mixed text.

        Returns:
            ``[(term, weight)]`` in query order, each term once (with its highest weight), weights in
            (0, 1]. Chinese runs, numbers and identifiers come back unchanged; untranslatable Latin words
            lower-cased.
        """
        out: dict[str, float] = {}

        def emit(term: str, w: float) -> None:
            if term and w > 0:
                out[term] = max(out.get(term, 0.0), min(1.0, w))

        for group in self._segment(query):
            if isinstance(group, _Pass):
                emit(group.term, 1.0)
            else:
                for term, w in self._translate_words(group):
                    emit(term, w)
        return list(out.items())

    def glosses(self, word: str) -> Gloss:
        """A Chinese word's English glosses for a reader: the glossary's terms, then CC-CEDICT's senses,
        else the glosses of its parts ("网络 network + 犯罪 crime"); [] for a word that is not Chinese or
        has no known part. A :class:`~pipeline.translate.senses.Gloss`: a ``list[str]`` that also tells
        each gloss's source (see :mod:`pipeline.translate.senses`)."""
        return self._glosser.gloss(word)

    def synonyms(self, word: str) -> list[tuple[str, float]]:
        """Chinese words meaning the same as ``word``, found by pivoting through English.

        ``word``'s CC-CEDICT glosses (first senses weigh most) are translated back with :meth:`translate`
        (glossary first, then the reverse index): 假药 -> "fake drugs" -> 伪药, 病人 -> "patient" -> 患者,
        问卷 -> "questionnaire" -> 调查表. This bridges a Chinese query's everyday words to a report's
        formal terms without any list written for one document.

        Args:
            word: a Chinese word.

        Returns:
            ``[(chinese, weight)]``, best first, at most :data:`MAX_CANDIDATES` + 1, weights in (0, 1];
            empty when the dictionary does not know the word.
        """
        found: dict[str, float] = {}
        for pos, gloss in enumerate(self._forward.get(word, ())):
            sense = 1.0 / (1.0 + 0.5 * pos)
            for zh, w in self.translate(gloss):
                if zh != word and _IS_CJK.match(zh) and len(zh) > 1:
                    found[zh] = max(found.get(zh, 0.0), sense * w)
        ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[: MAX_CANDIDATES + 1]
        return [(zh, round(w, 3)) for zh, w in ranked]

    # ---------------------------------------------------------------- internals

    def _segment(self, query: str) -> Iterator[_Pass | list[_Word]]:
        """Split a query into pass-through pieces and runs of consecutive Latin words.

        Sentence punctuation (``. ; : ! ?``) ends a run; a comma stays in the run as a ``","`` word that only
        a glossary term written with a comma can cross (``Educational, Scientific and Cultural``).
        """
        words: list[_Word] = []
        for piece in _CJK_RUN.split(query):
            if not piece:
                continue
            if _IS_CJK.match(piece):
                if words:
                    yield words
                    words = []
                yield _Pass(piece)
                continue
            for raw in piece.split():
                chunk = self._strip_edges(raw)
                if chunk and (
                    any(c.isdigit() for c in chunk)
                    or _URLISH.search(chunk)
                    or ("/" in chunk and _LATIN_LETTER.search(chunk))
                ):
                    if words:
                        yield words
                        words = []
                    yield _Pass(chunk if any(c.isdigit() for c in chunk) else chunk.lower())
                    continue
                for m in WORD_OR_BREAK.finditer(raw):
                    tok = m.group(0)
                    if tok in COMMAS:
                        if words and words[-1].lower != ",":
                            words.append(_COMMA_WORD)
                    elif tok in HARD_BREAKS:
                        if words:
                            yield words
                            words = []
                    else:
                        words.append(self._word(tok))
        if words:
            yield words

    @staticmethod
    def _strip_edges(chunk: str) -> str:
        chunk = chunk.strip(_EDGE_PUNCT)
        # keep parentheses only when balanced inside an identifier such as 1846(2008)
        while chunk and chunk[0] in "(（":
            chunk = chunk[1:]
        while chunk and chunk[-1] in ")）" and chunk.count("(") < chunk.count(")"):
            chunk = chunk[:-1]
        return chunk.strip(_EDGE_PUNCT)

    def _word(self, w: str) -> _Word:
        lower = w.lower().replace("\u2019", "'")
        lem = lemma(w, self._vocab)
        if w.isupper() and len(w) >= 2:
            keys = (w,) if w in self._case_sensitive else (w, lem)
        else:
            keys = (lem,)
        return _Word(w, lower, lem, keys)

    @staticmethod
    def _plain(w: _Word) -> str:
        """The word as a pass-through term: lower case, without a possessive 's."""
        return w.lower.removesuffix("'s")

    def _is_stop(self, w: _Word) -> bool:
        if w.text.isupper() and len(w.text) >= 2 and w.text in self._case_sensitive:
            return False
        return w.lower in self._stop or w.lem in self._stop

    def _glossary_match(self, words: list[_Word], i: int) -> tuple[int, list[tuple[str, float]]] | None:
        """Longest glossary phrase starting at ``words[i]`` (articles inside are skipped)."""
        best: tuple[int, list[tuple[str, float]]] | None = None
        stack: list[tuple[dict[str, Any], int]] = [(self._trie, i)]
        while stack:
            node, j = stack.pop()
            if "\0" in node and j > i and (best is None or j > best[0]):
                best = (j, node["\0"])
            if j >= len(words):
                continue
            w = words[j]
            for k in w.keys:
                child = node.get(k)
                if child is not None:
                    stack.append((child, j + 1))
            if j > i and w.lower in ARTICLES:
                stack.append((node, j + 1))
        return best

    def _translate_words(self, words: list[_Word]) -> list[tuple[str, float]]:
        """Weighted terms for one run of Latin words: foreign names, glossary, CC-CEDICT, pass-through."""
        results: list[tuple[str, float]] = []

        # foreign names/titles ("Pôle régional de lutte contre ..."): their words also match as Latin text
        markers = [w.lower in _FOREIGN or not w.lower.isascii() for w in words]
        foreign = sum(markers) >= 2 and 4 * sum(markers) >= len(words)
        if foreign:
            for w, mark in zip(words, markers, strict=True):
                if w is not _COMMA_WORD and (mark or not self._is_stop(w)):
                    results.append((self._plain(w), 1.0))
            words = [w for w, mark in zip(words, markers, strict=True) if not mark]

        # (a) glossary phrases, longest first; leftovers collected in runs for the dictionary
        rest: list[list[_Word]] = [[]]
        i = 0
        while i < len(words):
            if words[i].lower in ARTICLES:
                i += 1
                continue
            if words[i] is _COMMA_WORD:
                rest.append([])
                i += 1
                continue
            m = self._glossary_match(words, i)
            if m is not None:
                end, targets = m
                results.extend(targets)
                rest.append([])
                i = end
            else:
                rest[-1].append(words[i])
                i += 1

        # (b) CC-CEDICT: phrases (2..4 words, not starting/ending in a stopword) then single words
        for run in rest:
            j = 0
            while j < len(run):
                matched = False
                for n in range(min(MAX_CEDICT_PHRASE, len(run) - j), 1, -1):
                    span = run[j : j + n]
                    if self._is_stop(span[0]) or self._is_stop(span[-1]):
                        continue
                    cands = self._reverse.get(" ".join(w.lem for w in span))
                    if cands:
                        results.extend(cands)
                        j += n
                        matched = True
                        break
                if matched:
                    continue
                w = run[j]
                j += 1
                if self._is_stop(w) or len(w.lower) < 2:
                    continue
                cands = self._reverse.get(w.lem) or self._reverse.get(w.lower)
                if cands:
                    results.extend(cands)
                else:
                    # (c) untranslatable Latin word: keep it for Latin text in the report
                    results.append((self._plain(w), 1.0))
        return results
