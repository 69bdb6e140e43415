"""Typed shapes of the API's JSON, for the OpenAPI schema at ``/openapi.json`` and the page at ``/docs``.

These describe the JSON the pipeline already produces (:meth:`pipeline.answer.Answer.to_dict`,
:meth:`pipeline.retrieve.Retriever.paragraph_records`); the server sends that JSON as it is and never
re-serialises it through these models, so the API and ``pipeline … --json`` cannot drift apart. Optional
keys are left out of the JSON when empty, as the command line leaves them out.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Footnote(BaseModel):
    marker: str = Field(description="the footnote's mark as printed")
    text: str


class Match(BaseModel):
    """A reference matched by a citation lookup."""

    text: str = Field(description="the reference as the report prints it")
    key: str = Field(description="its normalized key, e.g. 'res:65/230'")
    where: str = Field(description='"text", "item:a" or "footnote:1"')
    start: int
    end: int


class Hit(BaseModel):
    """One result: a paragraph, its scores and the sentence that best answers the query."""

    paragraph: int = Field(description="the paragraph's number")
    score: float = Field(description="fused score (1.0 for lookups)")
    section: list[str] = Field(description="headings the paragraph falls under, outermost first")
    text: str = Field(description="the paragraph's full text, lettered items included")
    answer: str = Field(description="the best answering sentence")
    answer_span: list[int] = Field(
        description="[start, end) of the answer in text", min_length=2, max_length=2
    )
    scores: dict[str, float] = Field(
        description="each channel's score: lexical, dense, dense_paragraph, dense_sentence"
    )
    footnotes: list[Footnote]
    match: list[Match] | None = Field(None, description="citation lookups only: the matched references")


class Answer(BaseModel):
    """The answer to one query: the shape of ``pipeline search --json``."""

    query: str = Field(description="the query as answered (white space folded, truncated)")
    route: Literal["question", "paragraph", "citation"]
    results: list[Hit]
    terms: list[str] | None = Field(
        None, description="questions: the report terms matched on, strongest first"
    )
    warnings: list[str] | None = Field(
        None, description="what the reader should know (truncation, a missing paragraph)"
    )


class Item(BaseModel):
    label: str = Field(description='the item\'s letter, e.g. "a"')
    text: str


class Citation(BaseModel):
    key: str
    kind: str = Field(description="resolution, symbol or article")
    text: str
    where: str = Field(description='"text", "item:a" or "footnote:1"')
    start: int
    end: int


class Paragraph(BaseModel):
    """One paragraph: the shape of ``pipeline paragraphs --json``."""

    number: int
    section: list[str]
    text: str = Field(description="the paragraph's own text (before any lettered items)")
    items: list[Item]
    footnotes: list[Footnote]
    sentences: list[str]
    citations: list[Citation]


class GlossWord(BaseModel):
    text: str = Field(description="a word as the analyzer cuts the text")
    gloss: list[str] = Field(description="its CC-CEDICT English senses ([] for words that are not Chinese)")


class Gloss(BaseModel):
    words: list[GlossWord]


class BatchRecord(BaseModel):
    """One line of the NDJSON stream of ``/api/batch``, in input order: an answer (the keys of
    :class:`Answer`) or an ``error`` for a line that could not be read or answered."""

    id: str | None = Field(None, description="the query's id (absent for a line that could not be read)")
    line: int | None = Field(
        None, description="the input line (for a JSON list body: the element's position)"
    )
    query: str | None = None
    route: Literal["question", "paragraph", "citation"] | None = None
    results: list[Hit] | None = None
    terms: list[str] | None = None
    warnings: list[str] | None = None
    error: str | None = Field(
        None, description="why this line has no answer (the message `pipeline batch` prints)"
    )
    status: int | None = Field(
        None, description="only on a last record that ends the stream early (503, 500)"
    )


class ArtifactInfo(BaseModel):
    path: str
    inputs: dict[str, Any] | None = Field(None, description="what the artifact was built from (its manifest)")
    info: dict[str, Any] | None = Field(None, description="what its builder recorded (sizes, versions)")
    error: str | None = Field(None, description="why the manifest could not be read")


class CorpusInfo(BaseModel):
    path: str
    sha256: str
    paragraphs: int
    symbol: str | None = Field(None, description="the document symbol, e.g. CTOC/COP/2012/7")


class CoalescerInfo(BaseModel):
    calls: int = Field(description="search_many calls made for questions")
    questions: int = Field(description="questions answered through them")
    largest: int = Field(description="most questions answered by one call")


class Health(BaseModel):
    status: Literal["ok", "stopping"]
    version: str
    uptime_s: float
    started: str = Field(description="UTC start time, ISO 8601")
    corpus: CorpusInfo
    indexes: dict[str, ArtifactInfo] = Field(description="lexical, dense, model, translator")
    model: str = Field(description="the embedding model's id")
    encoder: str = Field(description="the query encoder: numpy or sentence-transformers")
    coalescer: CoalescerInfo
    limits: dict[str, int | float]


class Error(BaseModel):
    """Every failure."""

    error: str = Field(description="what went wrong, naming the parameter, line or file at fault")
    status: int = Field(description="the HTTP status, repeated")
