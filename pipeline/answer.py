"""What a query returns: :class:`Answer` with its ranked :class:`Hit` s, and their one JSON shape.

A hit carries everything a citation needs — paragraph number, section path, text, footnotes, the answering
sentence and its span — so rendering it (command line, JSON, the server) needs no corpus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.errors import QueryError

if TYPE_CHECKING:
    from pipeline.corpus import Paragraph

#: How much the answer sentence's term overlap counts beside its dense cosine.
OVERLAP_WEIGHT = 0.1


@dataclass
class Hit:
    """One answer: a paragraph, its scores, and the sentence that best answers the query.

    Attributes:
        paragraph: the paragraph number (as printed: an annex restarts it, see ``part``).
        document: the document symbol ("CTOC/COP/2012/7").
        lang: the language of the document version the paragraph is from.
        part: "" for the body, else the annex ("annex", "annex II").
        score: the fused score (for lookups: 1.0).
        section: the headings the paragraph falls under, outermost first.
        text: the paragraph's full text (items included).
        footnotes: ``(marker, text)`` of the paragraph's footnotes.
        scores: each channel's score ("lexical", "dense", "dense_paragraph", "dense_sentence", "citation").
        answer: the best answering sentence, as printed.
        answer_span: its ``[start, end)`` in :attr:`text`.
        match: for citation lookups, the matched references: {"text", "key", "where", "start", "end"}.
        links: document symbols the paragraph cites that are themselves in the library.
        parallel: the same-numbered paragraph of the document's other language versions (``--parallel``):
            ``{"lang", "citation", "text"}`` each.
        page: the page of the report file (PDF) the paragraph starts on, when it has pages.
    """

    paragraph: int
    score: float
    document: str = ""
    lang: str = ""
    part: str = ""
    section: tuple[str, ...] = ()
    text: str = ""
    footnotes: tuple[tuple[str, str], ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    answer: str = ""
    answer_span: tuple[int, int] = (0, 0)
    match: list[dict[str, Any]] | None = None
    links: list[str] = field(default_factory=list)
    parallel: list[dict[str, str]] | None = None
    page: int | None = None

    @property
    def citation(self) -> str:
        """UN-style: ``CTOC/COP/2012/7, para. 23`` (``CTOC/COP/2012/7，第23段`` for a Chinese version)."""
        from pipeline.corpus import cite_paragraph

        return cite_paragraph(self.document, self.paragraph, self.lang, self.part)

    @classmethod
    def of(
        cls,
        p: Paragraph,
        score: float,
        scores: dict[str, float],
        span: tuple[int, int] | None = None,
        answer: str | None = None,
        match: list[dict[str, Any]] | None = None,
    ) -> Hit:
        """A hit on paragraph ``p``; the answer is the text at ``span`` unless given."""
        text = p.full_text
        span = span if span is not None else (0, len(text))
        return cls(
            paragraph=p.number,
            score=float(score),
            document=p.document,
            lang=p.lang,
            part=p.part,
            section=tuple(p.section),
            text=text,
            footnotes=tuple((fn.marker, fn.text) for fn in p.footnotes),
            scores=scores,
            answer=text[span[0] : span[1]] if answer is None else answer,
            answer_span=span,
            match=match,
            page=p.page,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one result."""
        r: dict[str, Any] = {
            "document": self.document,
            "lang": self.lang,
            **({"part": self.part} if self.part else {}),
            "paragraph": self.paragraph,
            "citation": self.citation,
            **({"page": self.page} if self.page is not None else {}),
            "score": round(float(self.score), 6),
            "section": list(self.section),
            "text": self.text,
            "answer": self.answer,
            "answer_span": list(self.answer_span),
            "scores": {k: round(float(v), 6) for k, v in self.scores.items()},
            "footnotes": [{"marker": m, "text": t} for m, t in self.footnotes],
        }
        if self.match is not None:
            r["match"] = self.match
        if self.links:
            r["links"] = list(self.links)
        if self.parallel is not None:
            r["parallel"] = list(self.parallel)
        return r


@dataclass
class Answer:
    """The answer to one query.

    Attributes:
        query: the query as answered (folded white space, truncated).
        route: "question", "paragraph", "citation" or "document"; "error" when the query could not be
            answered.
        lang: the query's language, "zh" or "en".
        hits: ranked results.
        warnings: what the user should know (truncation, a paragraph that does not exist, …).
        error: why the query could not be answered (only in batches; a single search raises instead).
        exception: the error itself (kept as the object raised; not part of the JSON shape).
        terms: for a question, the report-vocabulary terms it was matched on (its own words, translations,
            synonyms), strongest first — what a reader's eye should look for in the text.
        no_answer: the library does not seem to answer this question (its hits are the closest paragraphs,
            not answers): :mod:`pipeline.abstain` decides from the channels' raw scores. Always False for
            paragraph and citation lookups.
        no_answer_score: the evidence that the library answers it (higher: more likely; compared with the
            language's threshold), for a question.
        overview: for a document named alone (route "document"): its symbol, title, languages, paragraphs and
            sections with the first and last paragraph under each heading
            (:meth:`pipeline.library.Library.overview`).
    """

    query: str
    route: str
    lang: str
    hits: list[Hit]
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    terms: list[str] = field(default_factory=list)
    exception: QueryError | None = field(default=None, repr=False, compare=False)
    no_answer: bool = False
    no_answer_score: float | None = None
    overview: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by every mode and command (and the server)."""
        if self.error is not None:
            return {"query": self.query, "error": self.error}
        out: dict[str, Any] = {
            "query": self.query,
            "route": self.route,
            "no_answer": self.no_answer,
            "results": [h.to_dict() for h in self.hits],
        }
        if self.no_answer_score is not None:
            out["no_answer_score"] = round(self.no_answer_score, 6)
        if self.terms:
            out["terms"] = list(self.terms)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        if self.overview is not None:
            out["overview"] = self.overview
        return out


def answer_span(
    p: Paragraph, terms: Sequence[tuple[str, float]], sentence_cos: np.ndarray | None
) -> tuple[int, int]:
    """The span of the sentence that best answers the query: its dense cosine (when the dense channel
    ran) plus :data:`OVERLAP_WEIGHT` times the share of the query's term weight (``terms``: the plan's
    overlap terms) it contains."""
    if not p.sentences:
        return (0, len(p.full_text))
    from pipeline.text import normalize

    overlap = np.zeros(len(p.sentences))
    if terms:
        total = sum(w for _, w in terms)
        for i, s in enumerate(p.sentences):
            st = normalize(s.text).lower()
            overlap[i] = sum(w for t, w in terms if t in st) / total
    score = (
        overlap
        if sentence_cos is None
        else np.asarray(sentence_cos, dtype=np.float64) + OVERLAP_WEIGHT * overlap
    )
    best = p.sentences[int(np.argmax(score))]
    return (best.start, best.end)
