"""What a query returns: :class:`Answer` with its ranked :class:`Hit` s, and their one JSON shape.

A hit carries everything a citation needs — paragraph number, section path, text, footnotes, the answering
sentence and its span — so rendering it (command line, JSON, the server) needs no corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.corpus import Paragraph


@dataclass
class Hit:
    """One answer: a paragraph, its scores, and the sentence that best answers the query.

    Attributes:
        paragraph: the paragraph number.
        score: the fused score (for lookups: 1.0).
        section: the headings the paragraph falls under, outermost first.
        text: the paragraph's full text (items included).
        footnotes: ``(marker, text)`` of the paragraph's footnotes.
        scores: each channel's score ("lexical", "dense", "dense_paragraph", "dense_sentence", "citation").
        answer: the best answering sentence, as printed.
        answer_span: its ``[start, end)`` in :attr:`text`.
        match: for citation lookups, the matched references: {"text", "key", "where", "start", "end"}.
    """

    paragraph: int
    score: float
    section: tuple[str, ...] = ()
    text: str = ""
    footnotes: tuple[tuple[str, str], ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    answer: str = ""
    answer_span: tuple[int, int] = (0, 0)
    match: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, p: Paragraph, score: float, scores: dict[str, float], span: tuple[int, int] | None = None,
           answer: str | None = None, match: list[dict[str, Any]] | None = None) -> Hit:
        """A hit on paragraph ``p``; the answer is the text at ``span`` unless given."""
        text = p.full_text
        span = span if span is not None else (0, len(text))
        return cls(
            paragraph=p.number,
            score=float(score),
            section=tuple(p.section),
            text=text,
            footnotes=tuple((fn.marker, fn.text) for fn in p.footnotes),
            scores=scores,
            answer=text[span[0] : span[1]] if answer is None else answer,
            answer_span=span,
            match=match,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of one result."""
        r: dict[str, Any] = {
            "paragraph": self.paragraph,
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
        return r


@dataclass
class Answer:
    """The answer to one query.

    Attributes:
        query: the query as answered (folded white space, truncated).
        route: "question", "paragraph" or "citation"; "error" when the query could not be answered.
        lang: the query's language, "zh" or "en".
        hits: ranked results.
        warnings: what the user should know (truncation, a paragraph that does not exist, …).
        error: why the query could not be answered (only in batches; a single search raises instead).
        terms: for a question, the report-vocabulary terms it was matched on (its own words, translations,
            synonyms), strongest first — what a reader's eye should look for in the text.
    """

    query: str
    route: str
    lang: str
    hits: list[Hit]
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    terms: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by every mode and command (and the server)."""
        if self.error is not None:
            return {"query": self.query, "error": self.error}
        out: dict[str, Any] = {"query": self.query, "route": self.route, "results": [h.to_dict() for h in self.hits]}
        if self.terms:
            out["terms"] = list(self.terms)
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out
