"""Answering a query: plan → (paragraph lookup | citation lookup | lexical + dense → fuse) → answer sentence.

:class:`Retriever` coordinates; it owns no analysis, scoring or fusion of its own. It holds its components —
the library of reports, the analyzer, the BM25 index, the dense index and the query encoder (each index
over every paragraph of the library, in library order) — and loads each on first
need (:meth:`Retriever.from_config`), so a paragraph or citation lookup never imports jieba or torch and the
lexical mode never loads the embedding model. Every query is analysed once into a
:class:`~pipeline.plan.QueryPlan` that each channel and the answer-sentence step read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.abstain import CANDIDATES, evidence, features
from pipeline.align import VersionAligner
from pipeline.answer import Answer, Hit, answer_span
from pipeline.backends.base import Channels, Scored, one_per_paragraph
from pipeline.backends.local import LocalChannels
from pipeline.cite import CitationIndex, lookup_citations, lookup_paragraphs
from pipeline.config import Config
from pipeline.errors import MissingIndexError, PipelineError, QueryError
from pipeline.fanout import fan_out, workers_for
from pipeline.fusion import lexical_weight
from pipeline.library import Library, as_library, numbered
from pipeline.plan import MODES, Mode, Planner, QueryPlan, clean_query, route_query
from pipeline.text import CJK_IDEOGRAPHS

if TYPE_CHECKING:
    from pipeline.analyze import Analyzer
    from pipeline.corpus import Corpus, Paragraph
    from pipeline.dense import DenseIndex
    from pipeline.embed import QueryEncoder
    from pipeline.lexical import BM25Index

__all__ = ["MODES", "Mode", "Retriever"]

#: Largest k a query may ask for.
MAX_K = 1000
_CJK_WORD = re.compile(f"[{CJK_IDEOGRAPHS}]")


class Retriever:
    """Answers queries over a library of reports (or one report).

    Construct it from its components (any left out is loaded from ``cfg`` on first use), or with
    :meth:`from_config`, which loads everything lazily.

    Args:
        library: the library (:func:`pipeline.library.load_library`), or one parsed report (a library of one).
        cfg: settings (defaults: :class:`~pipeline.config.Config`).
        analyzer: the bilingual analyzer.
        lexical: the BM25 index.
        dense: the dense index.
        encoder: the query encoder.
        citations: where the library cites what (built from the library when left out).
        channels: the question channels (default: in process, or Qdrant when ``cfg.backend`` says so).

    It never builds: a missing, stale or damaged index is refused
    (:class:`~pipeline.errors.MissingIndexError`, :class:`~pipeline.errors.StaleIndexError`), and
    ``pipeline build`` (:mod:`pipeline.build`) makes it.
    """

    def __init__(
        self,
        library: Library | Corpus | None = None,
        *,
        cfg: Config | None = None,
        analyzer: Analyzer | None = None,
        lexical: BM25Index | None = None,
        dense: DenseIndex | None = None,
        encoder: QueryEncoder | None = None,
        citations: CitationIndex | None = None,
        channels: Channels | None = None,
    ) -> None:
        self.cfg = cfg or Config()
        self.cfg.validate()
        self._library = as_library(library) if library is not None else None
        self._analyzer = analyzer
        self._lexical = lexical
        self._dense = dense
        self._encoder = encoder
        self._citations = citations
        self._planner: Planner | None = None
        self._channels = channels
        self._aligner: VersionAligner | None = None

    @classmethod
    def from_config(cls, cfg: Config | None = None) -> Retriever:
        """A retriever that loads the library, indexes and model of ``cfg`` as they are first needed."""
        return cls(cfg=cfg)

    # --- components (loaded on first use, never built: ``pipeline build`` builds) --------------------

    @property
    def library(self) -> Library:
        """The reports (catalog order) and their paragraphs (the indexes' row order)."""
        if self._library is None:
            from pipeline.library import load_library

            self._library = load_library(self.cfg)
        return self._library

    @property
    def citations(self) -> CitationIndex:
        """Where the library cites each resolution, document symbol and article."""
        if self._citations is None:
            self._citations = CitationIndex.build(self.library)
        return self._citations

    @property
    def analyzer(self) -> Analyzer:
        """The bilingual analyzer (jieba, stemming, English→Chinese translation)."""
        if self._analyzer is None:
            from pipeline.analyze import Analyzer

            self._analyzer = Analyzer(self.cfg)
        return self._analyzer

    @property
    def lexical(self) -> BM25Index:
        """The library's BM25 index.

        Raises:
            MissingIndexError: a report's index is not built (``pipeline build``); Stale/CorruptIndexError.
        """
        if self._lexical is None:
            from pipeline.lexical import load_lexical_indexes

            self._lexical = load_lexical_indexes(self.cfg, self.library.keyed(), self.analyzer)
        return self._lexical

    @property
    def dense(self) -> DenseIndex:
        """The library's dense index.

        Raises:
            MissingIndexError: a report's index is not built (``pipeline build``); Stale/CorruptIndexError.
        """
        if self._dense is None:
            from pipeline.dense import load_dense_indexes
            from pipeline.embed import embedder_identity

            self._dense = load_dense_indexes(self.cfg, self.library.keyed(), embedder_identity(self.cfg))
            if len(self._dense.numbers) != len(self.library.paragraphs):
                raise MissingIndexError(
                    "the dense index does not match the library's paragraphs; run `pipeline build`"
                )
        return self._dense

    @property
    def aligner(self) -> VersionAligner:
        """Aligns the sentences of a paragraph's language versions (:mod:`pipeline.align`), from the dense
        index's sentence vectors (no alignment when the library has none)."""
        if self._aligner is None:
            self._aligner = VersionAligner(self.library, lambda: _or_none(lambda: self.dense))
        return self._aligner

    @property
    def encoder(self) -> QueryEncoder:
        """The query encoder (see :class:`pipeline.embed.QueryEncoder` for which one)."""
        if self._encoder is None:
            from pipeline.embed import QueryEncoder

            if self.cfg.backend != "qdrant":
                self.dense  # noqa: B018 - the model is verified with the index that was embedded by it
            self._encoder = QueryEncoder(self.cfg)
        return self._encoder

    def _get_channels(self) -> Channels:
        """The question channels: in process (default) or on the configured Qdrant collection."""
        if self._channels is None:
            if self.cfg.backend == "qdrant":
                from pipeline.backends.channels import QdrantChannels

                self._channels = QdrantChannels(self.cfg, self.library)
            else:
                self._channels = LocalChannels(self.cfg, lambda: self.lexical, lambda: self.dense)
        assert self._channels is not None
        return self._channels

    def _get_planner(self) -> Planner:
        """Analyses questions into plans against the library's vocabulary (and its IDF)."""
        if self._planner is None:
            ch = self._get_channels()
            self._planner = Planner(self.cfg, self.analyzer, ch.term_id, ch.idf)
        return self._planner

    # --- queries -----------------------------------------------------------------------------------

    def plan(self, query: str, mode: Mode = "hybrid") -> QueryPlan:
        """Validate, route and (for a question) analyse one query.

        Raises:
            QueryError: an empty query, one with nothing to search for, or an empty paragraph range.
        """
        _check_mode(mode)
        text, warnings = clean_query(query, self.cfg.max_query_chars)
        base = route_query(text, self.citations, warnings, self.library.symbols)
        if base.route.kind != "question":
            return base
        return self._get_planner().plan(base)

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: Mode = "hybrid",
        *,
        docs: Sequence[str] | None = None,
        lang: str | None = None,
        parallel: bool = False,
    ) -> Answer:
        """Answer one query: paragraph and citation references are looked up, questions retrieved.

        Args:
            query: a question, a paragraph reference ("第 41 段", "paragraph 15-17", "CTOC/COP/2012/7 ¶23") or
                a citation ("resolution 65/230"), in Chinese or English.
            k: results for a question (default ``cfg.top_k``); lookups return every requested or citing
                paragraph.
            mode: "hybrid" (default), "lexical" or "dense".
            docs: search only these documents (symbols); default: the whole library.
            lang: search only the versions in this language ("zh", "en").
            parallel: give each hit the same-numbered paragraph of its document's other language versions.

        Raises:
            QueryError: the query cannot be answered (the message says why).
        """
        answer = self.search_many([query], k=k, mode=mode, docs=docs, lang=lang, parallel=parallel)[0]
        if answer.exception is not None:
            raise answer.exception
        return answer

    def search_many(
        self,
        queries: Sequence[str | QueryPlan],
        k: int | None = None,
        mode: Mode = "hybrid",
        progress: Callable[[int], None] | None = None,
        *,
        docs: Sequence[str] | None = None,
        lang: str | None = None,
        parallel: bool = False,
    ) -> list[Answer]:
        """Answer many queries; questions are embedded in batches.

        A query that cannot be answered does not stop the others: its :class:`Answer` has ``error`` set (and
        ``exception``, the :class:`~pipeline.errors.QueryError` itself).

        Args:
            queries: raw query strings, or plans already made by :meth:`plan` (with the same ``mode``; not
                planned again).
            k: results per question (default ``cfg.top_k``).
            mode: "hybrid", "lexical" or "dense".
            progress: called with the number of queries finished, as they finish.
            docs: search only these documents; ``lang``: only versions in this language.
            parallel: attach the other language versions' same-numbered paragraphs to each hit.

        Returns:
            One :class:`Answer` per query, in order.

        Raises:
            QueryError: an unknown document or language in ``docs``/``lang`` (nothing is answered then).
        """
        _check_mode(mode)
        k = self._check_k(k)
        selected = self.library.select(docs, lang)
        rows = self.library.rows(docs, lang)
        answers: list[Answer | None] = [None] * len(queries)
        questions: list[tuple[int, QueryPlan]] = []
        for i, q in enumerate(queries):
            try:
                plan = q if isinstance(q, QueryPlan) else self.plan(q, mode)
                if plan.route.kind != "question":
                    answers[i] = self._lookup(plan, selected, rows)
            except QueryError as e:
                answers[i] = Answer(
                    q if isinstance(q, str) else repr(q), "error", "en", [], error=str(e), exception=e
                )
            if answers[i] is not None:
                if progress:
                    progress(1)
                continue
            questions.append((i, plan))
        workers = workers_for(self.cfg.query_workers) if self.cfg.backend == "local" else 1
        if workers > 1 and questions:  # what the threads share is loaded first, once
            _ = (self.lexical if mode != "dense" else None, self._get_channels(), self.library.paragraphs)
            _ = (self.dense, self.encoder) if mode != "lexical" else None
        found = fan_out(
            lambda part: self._questions(part, k, mode, rows, docs, lang),
            [p for _, p in questions],
            self.cfg.batch_size,
            workers,
            progress,
        )
        for (i, _), ans in zip(questions, found, strict=True):
            answers[i] = ans
        out = [a for a in answers if a is not None]
        for a in out:
            self._decorate(a, parallel)
        return out

    def lookup(
        self,
        reference: str,
        *,
        docs: Sequence[str] | None = None,
        lang: str | None = None,
        parallel: bool = False,
    ) -> Answer:
        """Answer a paragraph or citation reference exactly (``pipeline cite``).

        Raises:
            QueryError: the text is not a reference, or names something the library does not cite.
        """
        text, warnings = clean_query(reference, self.cfg.max_query_chars)
        plan = route_query(text, self.citations, warnings, self.library.symbols)
        if plan.route.kind == "question":
            from pipeline.identifiers import find_identifiers

            named = [i.text for i in find_identifiers(text) if i.kind != "number"]
            if named:
                raise QueryError(f"the library does not cite {', '.join(named)}")
            raise QueryError(
                f"no paragraph number or reference recognized in {text!r} (try: 23, 'paragraph 15-17', "
                "'第 41 段', 'CTOC/COP/2012/7 ¶23', 'resolution 65/230', 'S/2009/146', 'article 28')"
            )
        answer = self._lookup(plan, self.library.select(docs, lang), self.library.rows(docs, lang))
        return self._decorate(answer, parallel)

    def paragraphs(
        self,
        numbers: Sequence[int] | None = None,
        *,
        docs: Sequence[str] | None = None,
        lang: str | None = None,
        part: str = "",
    ) -> list[Paragraph]:
        """Paragraphs by number (all when None) of the selected documents, in library order.

        Raises:
            QueryError: a number none of the selected documents has (the message gives the ranges).
        """
        selected = self.library.select(docs, lang)
        if numbers is None:
            return [p for d in selected for p in d.paragraphs if not part or p.part == part]
        out: list[Paragraph] = []
        for n in numbers:
            found, missing = numbered(selected, n, part)
            if not found:
                raise QueryError(missing)
            out += found
        return out

    def paragraph_records(
        self,
        numbers: Sequence[int] | None = None,
        *,
        docs: Sequence[str] | None = None,
        lang: str | None = None,
        part: str = "",
    ) -> list[dict[str, Any]]:
        """Paragraphs as JSON records (``pipeline paragraphs --json``, the server): each paragraph's fields,
        its UN-style citation, and every citation it contains (resolution, document symbol, article) with its
        key, text and place — ``in_library`` marks a cited document that is itself in the library.

        Raises:
            QueryError: a number none of the selected documents has.
        """
        symbols = set(self.library.symbols)
        return [
            {
                **p.to_dict(),
                "citation": p.citation,
                "citations": [
                    {
                        "key": c.key,
                        "kind": c.kind,
                        "text": c.text,
                        "where": c.where,
                        "start": c.start,
                        "end": c.end,
                        **(
                            {"in_library": True}
                            if c.kind == "symbol" and c.key in symbols and c.key != p.document
                            else {}
                        ),
                    }
                    for c in self.citations.in_paragraph(self.library.row(p))
                ],
            }
            for p in self.paragraphs(numbers, docs=docs, lang=lang, part=part)
        ]

    def _links(self, p: Paragraph) -> list[str]:
        """Document symbols ``p`` cites that are in the library (other than its own), in reading order."""
        symbols = set(self.library.symbols)
        out = [
            c.key
            for c in self.citations.in_paragraph(self.library.row(p))
            if c.kind == "symbol" and c.key in symbols and c.key != p.document
        ]
        return list(dict.fromkeys(out))

    def gloss(self, text: str) -> list[tuple[str, list[str]]]:
        """``text`` cut into words (as the analyzer's segmenter cuts it), each Chinese word with its English
        glosses (glossary, CC-CEDICT or its parts: :mod:`pipeline.translate.senses`), others with []."""
        translator = self.analyzer.translator
        return [
            (w, translator.glosses(w) if translator is not None and _CJK_WORD.match(w) else [])
            for w in self.analyzer.words(text)
        ]

    # --- internals ---------------------------------------------------------------------------------

    def _decorate(self, answer: Answer, parallel: bool) -> Answer:
        """Give each hit its library links and (``parallel``) the other language versions of its paragraph."""
        if len(self.library.documents) < 2 or answer.error is not None:
            return answer
        for h in answer.hits:
            p = self.library.find(h.document, h.lang, h.paragraph, h.part)
            if p is None:
                continue
            h.links = self._links(p)
            if parallel:
                h.parallel = self.aligner.versions(p, h.answer_span if answer.route == "question" else None)
                answer.warnings += [
                    f"{h.citation}: the {x} version has no paragraph {h.paragraph}"
                    for x in self.library.missing_versions(p)
                ]
        return answer

    def _matched(self, plan: QueryPlan) -> list[str]:
        """The plan's terms that occur in the library, strongest first (for highlighting)."""
        vocab = self._get_channels().term_id
        weights: dict[str, float] = {}
        for t, w in plan.bm25_terms:
            if t in vocab and w > weights.get(t, 0.0):
                weights[t] = w
        return sorted(weights, key=lambda t: (-weights[t], t))

    def _check_k(self, k: int | None) -> int:
        k = self.cfg.top_k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise QueryError(f"k must be a whole number from 1 to {MAX_K} (got {k!r})")
        return k

    def _lookup(self, plan: QueryPlan, selected: list[Corpus], rows: np.ndarray | None) -> Answer:
        """A reference, answered exactly: the paragraphs asked for, the paragraphs citing something, or a
        document's overview. A reference to what the library does not have (a document, a paragraph number,
        an uncited resolution) is answered with warnings and no results — never searched for instead."""
        route = plan.route
        warnings = [*plan.warnings, *route.warnings]
        if route.missing:
            return Answer(plan.text, route.kind, plan.lang, [], warnings)
        if route.kind == "document":
            return self._overview(plan, selected, rows, warnings)
        if route.kind == "paragraph":
            docs = selected
            if route.document is not None:
                docs = [d for d in selected if d.symbol == route.document]
                if not docs:
                    raise QueryError(f"{route.document} is not among the documents searched")
            hits, more = lookup_paragraphs(self.library, route.paragraphs, route.part, docs)
            warnings += more
        else:
            hits = lookup_citations(
                self.library, self.citations, route.identifiers, None if rows is None else set(rows.tolist())
            )
        return Answer(plan.text, route.kind, plan.lang, hits, warnings)

    def _overview(
        self, plan: QueryPlan, selected: list[Corpus], rows: np.ndarray | None, warnings: list[str]
    ) -> Answer:
        """A document named alone: its overview, and the paragraphs of the selected documents citing it, if
        any. The overview is of a selected version (any, when ``--doc``/``--lang`` leave none of the
        document's), the one in the query's language when there is one, else the first."""
        route = plan.route
        symbol = route.document or ""
        versions = [d for d in selected if d.symbol == symbol] or self.library.versions(symbol)
        d = next((v for v in versions if v.lang == plan.lang), versions[0])
        part = route.part or None
        if part is not None and part not in d.parts:
            warnings.append(
                f"no {part} in {d.label}: its parts are the body" + "".join(f", {x}" for x in d.parts if x)
            )
            part = None  # the whole document's overview, then
        overview = self.library.overview(d.symbol, d.lang, part)
        hits = (
            lookup_citations(
                self.library, self.citations, route.identifiers, None if rows is None else set(rows.tolist())
            )
            if route.identifiers
            else []
        )
        return Answer(plan.text, "document", plan.lang, hits, warnings, overview=overview)

    def _questions(
        self,
        plans: list[QueryPlan],
        k: int,
        mode: Mode,
        rows: np.ndarray | None = None,
        docs: Sequence[str] | None = None,
        lang: str | None = None,
    ) -> list[Answer]:
        """Questions, one path for every backend: encode (a batch), then per question the channels' fused top
        ``k``, each row a hit with its answer sentence."""
        cfg = self.cfg
        channels = self._get_channels()
        qv = self.encoder.encode([p.dense_text for p in plans]) if mode != "lexical" else None
        paragraphs = self.library.paragraphs
        versions = len({d.lang for d in self.library.documents})  # at most this many versions of a paragraph
        out: list[Answer] = []
        for qi, plan in enumerate(plans):
            w = lexical_weight(plan.lang, cfg.lexical_weight_zh, cfg.lexical_weight_en, plan.coverage)
            results, any_term = channels.search(
                plan,
                None if qv is None else qv[qi],
                max(k, CANDIDATES) * versions,  # the signal looks at CANDIDATES paragraphs; k are shown
                w,
                lexical=mode != "dense",
                rows=rows,
                docs=docs,
                lang=lang,
            )
            results = self._in_language(
                one_per_paragraph(results, paragraphs, lang or plan.lang)[: max(k, CANDIDATES)],
                lang or plan.lang,
            )
            warnings = list(plan.warnings)
            if mode != "dense" and not any_term:
                where = "the library" if len(self.library.documents) > 1 else "the report"
                if rows is not None:  # --doc / --lang: the words may be elsewhere in the library
                    where = "the documents searched"
                warnings.append(
                    f"no word of the query occurs in {where}" + ("" if qv is not None else "; no results")
                )
            hits = [
                Hit.of(
                    paragraphs[s.row],
                    s.fused,
                    s.scores,
                    answer_span(paragraphs[s.row], plan.overlap_terms, s.sentence_cos),
                )
                for s in results[:k]
            ]
            answer = Answer(plan.text, "question", plan.lang, hits, warnings, terms=self._matched(plan))
            self._judge(answer, [s.scores for s in results], any_term)
            out.append(answer)
        return out

    def _in_language(self, results: list[Scored], lang: str) -> list[Scored]:
        """Each paragraph shown in ``lang`` when its document has that version (found by another version, its
        answer sentence is then chosen by the query's terms alone)."""
        out = []
        for r in results:
            p = self.library.paragraphs[r.row]
            other = self.library.find(p.document, lang, p.number, p.part) if p.lang != lang else None
            out.append(Scored(self.library.row(other), r.fused, r.scores, None) if other is not None else r)
        return out

    def _judge(self, answer: Answer, scores: list[dict[str, float]], any_term: bool) -> None:
        """Set the answer's no-answer flag (:mod:`pipeline.abstain`) from its candidates' channel scores;
        without the dense channel, a question none of whose words occurs in the library is flagged."""
        feats = features(scores)
        if feats is None:
            answer.no_answer = not any_term
            return
        answer.no_answer_score = evidence(feats, answer.lang)
        threshold = self.cfg.no_answer_zh if answer.lang == "zh" else self.cfg.no_answer_en
        answer.no_answer = answer.no_answer_score < threshold


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise QueryError(f"unknown mode {mode!r} (use {', '.join(MODES)})")


def _or_none(get: Callable[[], DenseIndex]) -> DenseIndex | None:
    """The dense index, or None when the library has none usable (alignment is then left out)."""
    try:
        return get()
    except PipelineError:
        return None
