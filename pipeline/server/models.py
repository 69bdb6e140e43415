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


Lang = Literal["zh", "en", "fr", "es", "ru", "ar"]


class AlignedSentences(BaseModel):
    """A bead: sentences of the shown version and of another version that say the same thing."""

    source: list[int] | None = Field(
        description="[start, end) of the bead's sentences in the shown paragraph's text (null: none)"
    )
    target: list[int] | None = Field(
        description="[start, end) of the bead's sentences in this version's text (null: none)"
    )
    score: float = Field(description="cosine of the two sides × a length penalty (-0.1 for an unmatched one)")


class Parallel(BaseModel):
    """The same-numbered paragraph in another language version of the document (``parallel=true``)."""

    lang: Lang
    citation: str = Field(description="its UN-style citation, in its language")
    text: str = Field(description="its full text, lettered items included")
    alignment: list[AlignedSentences] | None = Field(
        None,
        description="its sentences aligned with the shown version's (from the sentence vectors of the dense "
        "index; absent without them), in reading order",
    )
    answer: str | None = Field(
        None, description="for a question: the sentences of this version aligned with the hit's answer"
    )
    answer_span: list[int] | None = Field(
        None, description="their [start, end) character offsets in this version's text"
    )


class Hit(BaseModel):
    """One result: a paragraph of one document, its scores and the sentence that best answers the query."""

    document: str = Field(description="the document's symbol, e.g. CTOC/COP/2012/7")
    lang: Lang = Field(description="the language of the document version the paragraph is from")
    part: str | None = Field(
        None,
        description='only for a paragraph of an annex: the annex ("annex", "annex II"); '
        "numbering restarts there",
    )
    paragraph: int = Field(description="the paragraph's number (as printed)")
    citation: str = Field(
        description="UN-style citation in the version's language: 'CTOC/COP/2012/7, para. 23' or "
        "'CTOC/COP/2012/7，第23段'"
    )
    page: int | None = Field(
        None,
        description="the page of the report's PDF the paragraph starts on (1-based; absent for a text "
        "without pages); with a PDF original, /doc/SYMBOL/LANG.pdf#page=N shows it",
    )
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
    links: list[str] | None = Field(
        None, description="symbols of the documents this paragraph cites that are themselves in the library"
    )
    parallel: list[Parallel] | None = Field(
        None,
        description="with parallel=true: the same-numbered paragraph of each other language version "
        "of the document",
    )


class Section(BaseModel):
    """A heading of a document and the paragraphs under it."""

    part: str = Field(description='"" for the body, else the annex')
    heading: str = Field(description="the heading as printed, e.g. 'B. 海盗行为'")
    level: int = Field(description="1 for the outermost headings, 2 for those under them, …")
    first: int = Field(description="the first paragraph under it")
    last: int = Field(description="the last paragraph under it")


class Overview(BaseModel):
    """A document of the library named alone (route "document")."""

    symbol: str = Field(description="the document symbol")
    title: str = Field(description="its title as catalogued (may be empty)")
    languages: list[Lang] = Field(description="every language version the library holds")
    lang: Lang = Field(description="the version described")
    paragraphs: int = Field(description="its numbered paragraphs")
    ranges: list[PartRange] = Field(description="first and last paragraph number of the body and each annex")
    sections: list[Section] = Field(description="every heading with paragraphs under it, in reading order")


class Answer(BaseModel):
    """The answer to one query: the shape of ``pipeline search --json``."""

    query: str = Field(description="the query as answered (white space folded, truncated)")
    route: Literal["question", "paragraph", "citation", "document"] = Field(
        description="how the query was answered: a question (retrieval), a paragraph or citation lookup, or "
        "a document named by its symbol alone (its overview)"
    )
    no_answer: bool = Field(
        False,
        description="true when the library does not seem to answer the question: the results are then only "
        "the closest paragraphs, not answers (always false for paragraph and citation lookups)",
    )
    no_answer_score: float | None = Field(
        None,
        description="questions only: the evidence that the library answers the question (higher: more "
        "likely); below the language's threshold (settings no_answer_zh, no_answer_en) it sets no_answer",
    )
    results: list[Hit]
    terms: list[str] | None = Field(
        None, description="questions: the report terms matched on, strongest first"
    )
    warnings: list[str] | None = Field(
        None, description="what the reader should know (truncation, a missing paragraph)"
    )
    overview: Overview | None = Field(
        None, description='only for route "document": the document\'s symbol, title, versions and sections'
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
    in_library: bool | None = Field(
        None, description="true for a cited document symbol that is itself in the library (absent otherwise)"
    )


class ParagraphFootnote(BaseModel):
    marker: str = Field(description="the footnote's mark as printed")
    text: str
    offset: int = Field(description="where the marker stands in the paragraph's text (-1: not found)")


class Paragraph(BaseModel):
    """One paragraph: the shape of ``pipeline paragraphs --json``."""

    document: str = Field(description="the document's symbol")
    lang: Lang = Field(description="the language of the document version")
    part: str | None = Field(None, description='only in an annex: the annex ("annex", "annex II")')
    number: int
    page: int | None = Field(
        None, description="the page of the report's PDF it starts on (1-based; absent without pages)"
    )
    section: list[str]
    text: str = Field(description="the paragraph's own text (before any lettered items)")
    items: list[Item]
    footnotes: list[ParagraphFootnote]
    sentences: list[str]
    citation: str = Field(description="its UN-style citation, e.g. 'CTOC/COP/2012/7, para. 23'")
    citations: list[Citation] = Field(description="every citation the paragraph contains, in reading order")


class PartRange(BaseModel):
    part: str = Field(description='"" for the body, else the annex')
    first: int
    last: int


class Document(BaseModel):
    """One language version of a document of the library (``pipeline documents --json``, without the file)."""

    symbol: str = Field(description="the document symbol, e.g. CTOC/COP/2012/7")
    lang: Lang
    title: str = Field(description="its title as catalogued (may be empty)")
    paragraphs: int = Field(description="its numbered paragraphs, annexes included")
    parts: list[str] = Field(
        description='its annexes whose paragraph numbering restarts ("annex", "annex II")'
    )
    added: str = Field(description="when it was added to the library (ISO 8601; may be empty)")
    format: Literal["pdf", "docx", "doc"] | None = Field(
        None, description="only for a report given as PDF or Word: what it was given as"
    )
    original: str | None = Field(
        None,
        description="only with format: the file as given, inside the corpus folder "
        "('originals/NAME.LANG.pdf'); served at /doc/SYMBOL/LANG.pdf (.docx, .doc)",
    )
    original_sha256: str | None = Field(None, description="only with format: the file's sha256")
    ranges: list[PartRange] = Field(
        description="first and last paragraph number of the body and of each annex"
    )


class Documents(BaseModel):
    """The library: every document version, in library order."""

    documents: list[Document]


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
    route: Literal["question", "paragraph", "citation", "document"] | None = None
    no_answer: bool = Field(
        False,
        description="true when the library does not seem to answer the question (the results are only the "
        "closest paragraphs); absent on an error line",
    )
    no_answer_score: float | None = Field(
        None, description="questions only: the evidence that the library answers it (see Answer)"
    )
    results: list[Hit] | None = None
    terms: list[str] | None = None
    warnings: list[str] | None = None
    overview: Overview | None = None
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
    path: str = Field(description="the folder of the report files")
    sha256: str = Field(description="one hash of every document's identity and text")
    paragraphs: int = Field(description="paragraphs of the whole library")
    documents: int = Field(description="document versions in the library")
    symbol: str | None = Field(
        None, description="the document symbol when the library holds one document (its versions), else null"
    )


class DocumentInfo(BaseModel):
    symbol: str
    lang: Lang
    path: str = Field(description="the report file")
    sha256: str
    paragraphs: int
    indexes: dict[str, ArtifactInfo] = Field(description="its lexical and dense index")


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
    documents: list[DocumentInfo] = Field(
        description="each document version and its indexes, in library order"
    )
    indexes: dict[str, ArtifactInfo] = Field(description="shared by the library: model, translator")
    model: str = Field(description="the embedding model's id")
    encoder: str = Field(description="the query encoder: numpy or sentence-transformers")
    coalescer: CoalescerInfo
    limits: dict[str, int | float]


class Error(BaseModel):
    """Every failure."""

    error: str = Field(description="what went wrong, naming the parameter, line or file at fault")
    status: int = Field(description="the HTTP status, repeated")
