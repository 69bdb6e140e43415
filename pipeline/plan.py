"""A query, analysed once: the :class:`QueryPlan` every channel and the answer-sentence step read.

Planning a question runs the analyzer once (its own terms plus English->Chinese translations), pivots
Chinese words the report never uses through CC-CEDICT to report vocabulary (synonyms), measures how much
of the query the index knows (coverage) and writes the text the dense channel embeds. Paragraph and
citation lookups are routed first and analysed not at all, so they never load jieba.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from pipeline.cite import CitationIndex, Route, route
from pipeline.errors import QueryError
from pipeline.text import CJK_IDEOGRAPHS, query_language

if TYPE_CHECKING:
    from pipeline.analyze import Analyzer
    from pipeline.config import Config

Mode = Literal["hybrid", "lexical", "dense"]
MODES: tuple[Mode, ...] = ("hybrid", "lexical", "dense")
_RE_CJK = re.compile(f"[{CJK_IDEOGRAPHS}]")
_RE_SPACE = re.compile(r"\s+")
# what makes a query searchable: a letter or a digit of any script (after dropping format and private-use
# characters), or a CJK ideograph
_CONTENT = frozenset("LN")


@dataclass(frozen=True)
class QueryPlan:
    """Everything retrieval needs to know about one query, computed once.

    Attributes:
        text: the query as answered (white space folded, truncated to ``max_query_chars``).
        lang: "zh" when mostly Chinese, else "en".
        route: the router's decision (paragraph lookup, citation lookup or question).
        terms: the analyzer's weighted BM25 terms (the query's own, plus translations of English words).
        synonyms: report-vocabulary terms found for Chinese words the index does not know, weighted.
        coverage: share of the query's IDF mass the index knows (0-1; 1 when not measured).
        dense_text: the text the dense channel embeds.
        warnings: things the user should know (truncation, replaced characters).
    """

    text: str
    lang: Literal["zh", "en"]
    route: Route
    terms: tuple[tuple[str, float], ...] = ()
    synonyms: tuple[tuple[str, float], ...] = ()
    coverage: float = 1.0
    dense_text: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bm25_terms(self) -> list[tuple[str, float]]:
        """The lexical channel's query: the terms, then the synonyms."""
        return [*self.terms, *self.synonyms]

    @property
    def overlap_terms(self) -> list[tuple[str, float]]:
        """Terms for the answer sentence's term overlap: lower-cased, single Latin letters dropped."""
        return [(t.lower(), w) for t, w in self.terms if len(t) > 1 or _RE_CJK.match(t)]


def clean_query(query: object, max_chars: int) -> tuple[str, list[str]]:
    """Validate and normalise a raw query.

    Lone surrogates (bytes that were not UTF-8 on the command line, or ``\\ud800`` in JSON) are replaced by
    U+FFFD with a warning; white space is folded; a query longer than ``max_chars`` is truncated with a
    warning.

    Raises:
        QueryError: not a string, empty, or nothing searchable in it (only punctuation, symbols, emoji,
            format or private-use characters).
    """
    if not isinstance(query, str):
        raise QueryError("the query must be text")
    warnings: list[str] = []
    if any(0xD800 <= ord(c) <= 0xDFFF for c in query):
        query = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in query)
        warnings.append("the query had bytes that are not UTF-8 text; they were replaced by \ufffd")
    q = _RE_SPACE.sub(" ", query).strip()
    if not q:
        raise QueryError("empty query: type a question, a paragraph number or a reference")
    if not any(unicodedata.category(c)[0] in _CONTENT for c in q):
        raise QueryError(
            "nothing to search for: the query has no letters or digits (only punctuation, symbols or "
            "invisible characters)"
        )
    if len(q) > max_chars:
        warnings.append(f"query truncated from {len(q)} to {max_chars} characters")
        q = q[:max_chars].rstrip()
    return q, warnings


def route_query(
    text: str, citations: CitationIndex, warnings: list[str], symbols: list[str] | None = None
) -> QueryPlan:
    """A plan that only routes: enough for paragraph and citation lookups (no analysis). ``symbols``: the
    library's documents, which a paragraph reference may name."""
    return QueryPlan(
        text=text, lang=query_language(text), route=route(text, citations, symbols), warnings=tuple(warnings)
    )


class Planner:
    """Turns a question into a :class:`QueryPlan`.

    Args:
        cfg: settings (pivot weight, whether the dense text carries the report's terms).
        analyzer: the analyzer (its translator gives translations and synonyms).
        vocab: the lexical index's term ids (what the report's vocabulary is).
        idf: the lexical index's IDF per term id (for coverage).
    """

    def __init__(self, cfg: Config, analyzer: Analyzer, vocab: Mapping[str, int], idf: np.ndarray) -> None:
        self.cfg = cfg
        self.analyzer = analyzer
        self.vocab = vocab
        self.idf = idf
        n = len(idf)
        self._unseen_idf = float(np.log(1.0 + (max(n, 1) + 0.5) / 0.5))

    def plan(self, base: QueryPlan) -> QueryPlan:
        """Add the analysis to a routed question's plan."""
        text = base.text
        terms = self.analyzer.analyze_query(text)
        synonyms = self._synonyms(terms)
        coverage = self._coverage(terms) if base.lang == "zh" else 1.0
        dense_text = self._dense_text(text, [*terms, *synonyms]) if self.cfg.dense_query_terms else text
        return QueryPlan(
            text=text,
            lang=base.lang,
            route=base.route,
            terms=tuple(terms),
            synonyms=tuple(synonyms),
            coverage=coverage,
            dense_text=dense_text,
            warnings=base.warnings,
        )

    def _synonyms(self, terms: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """Report-vocabulary synonyms of Chinese query words the index does not know.

        A word absent from the vocabulary (假药, 问卷, 电脑) is pivoted through its CC-CEDICT English glosses
        back to Chinese (:meth:`pipeline.translate.Translator.synonyms`); those that occur in the report are
        added at ``cfg.pivot_weight`` times their weight.
        """
        unknown = [(t, w) for t, w in terms if t not in self.vocab and len(t) >= 2 and _RE_CJK.match(t)]
        if self.cfg.pivot_weight <= 0 or not unknown:
            return []
        translator = self.analyzer.translator  # loaded only now: a query of known words needs none
        if translator is None:
            return []
        have = {t for t, _ in terms}
        extra: dict[str, float] = {}
        for term, w in unknown:
            for zh, sw in translator.synonyms(term):
                for tok in self.analyzer.tokenize(zh):
                    if tok in self.vocab and tok not in have:
                        extra[tok] = max(extra.get(tok, 0.0), w * sw * self.cfg.pivot_weight)
        return list(extra.items())

    def _coverage(self, terms: list[tuple[str, float]]) -> float:
        """Share of the query's IDF mass (its own terms, before expansion) found in the index vocabulary.

        An unknown term counts with the IDF of a term in no paragraph, the largest there is.
        """
        known = total = 0.0
        for term, w in terms:
            tid = self.vocab.get(term)
            idf = float(self.idf[tid]) if tid is not None else self._unseen_idf
            total += w * idf
            known += w * idf if tid is not None else 0.0
        return known / total if total > 0 else 0.0

    def _dense_text(self, text: str, terms: list[tuple[str, float]]) -> str:
        """The query as embedded: the user's words followed by the report-vocabulary Chinese terms the
        lexical channel found for it (translations of English words, synonyms of unknown Chinese words).

        A small multilingual model matches a Chinese paragraph far better when the query also carries the
        paragraph's own Chinese terms; the user's words stay first so their meaning dominates.
        """
        extra = [t for t, _ in terms if t in self.vocab and _RE_CJK.match(t) and t not in text]
        return f"{text} {' '.join(dict.fromkeys(extra))}" if extra else text
