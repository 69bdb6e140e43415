"""A whole report as one document: ``GET /api/doc/{symbol}?lang=xx`` (the JSON the page ``/doc/{symbol}``
draws, :mod:`pipeline.server.pages`).

One document version from its first paragraph to its last: the front matter (the catalog's title and date
added, the masthead's session, place, dates, agenda item, report type and date of issue, and the masthead's
lines as printed), its language versions, the original PDF or Word file when it was given as one, its
sections with the first and last paragraph under each (per numbering part), and every paragraph with its
number, the anchor the page gives it, its lettered items and its footnotes (numbered through the document).

* The symbol is the path after ``/api/doc/`` (its slashes are its own; ``%2F`` works too), matched as the
  ``doc`` filter matches it (case, width and spaces ignored). Without ``lang``: the first version in library
  order.
* Anchors: ``para-N`` in the body, ``annex-para-N`` / ``annex-II-para-N`` in an annex whose numbering
  restarts; sections ``sec-K``, footnotes ``fn-K`` (K counts from 1 through the document).
* An unknown symbol, or a language the document has no version in, is a 404 naming what the library has.
* Behind the same token as ``/api``. The library does not change while the server runs: each version's JSON
  is made once, on its first request.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

import pipeline.server.models as models
from pipeline.server.api import LangName, State, require_token
from pipeline.server.errors import ApiError, json_bytes
from pipeline.server.originals import original_url
from pipeline.server.state import Original

if TYPE_CHECKING:
    from pipeline import Corpus, Library

__all__ = ["anchor", "doc_url", "document_record", "find_version", "report_router"]

#: The masthead's fields the page shows, in its order (``pipeline.corpus.Metadata``).
FRONT = ("session", "dates", "place", "agenda_item", "agenda_title", "title", "report_type", "issued")
_RE_UNSAFE = re.compile(r"[^A-Za-z0-9]+")


def anchor(part: str, number: int) -> str:
    """The page's anchor of a paragraph: ``para-23``, ``annex-para-2``, ``annex-II-para-2``."""
    prefix = _RE_UNSAFE.sub("-", part).strip("-")
    return f"{prefix}-para-{number}" if prefix else f"para-{number}"


def doc_url(symbol: str, lang: str | None = None) -> str:
    """The page of a document (version): ``/doc/CTOC/COP/2012/7?lang=zh`` (each segment percent-encoded)."""
    path = "/doc/" + "/".join(quote(seg, safe="") for seg in symbol.split("/"))
    return f"{path}?lang={quote(lang)}" if lang else path


def find_version(library: Library, symbol: str, lang: str | None = None) -> Corpus:
    """The version of ``symbol`` in ``lang`` (the first in library order without one).

    Raises:
        ApiError: 404 for an unknown symbol, or a language the document has no version in.
    """
    found = library.resolve_symbol(symbol) if symbol.strip() else None
    if found is None:
        raise ApiError(404, f"no document {symbol!r} in the library ({library.describe()})")
    versions = library.versions(found)
    for d in versions:
        if lang is None or d.lang == lang:
            return d
    have = ", ".join(d.lang for d in versions)
    raise ApiError(404, f"no {lang} version of {found} in the library (it has {have})")


def _original(o: Original | None) -> dict[str, str] | None:
    return None if o is None else {"format": o.format, "url": original_url(o.symbol, o.lang, o.format)}


def _body(d: Corpus) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The document's sections (each heading with the first and last paragraph under it) and its paragraphs
    (each naming the sections that start with it), in reading order."""
    sections: list[dict[str, Any]] = []
    paragraphs: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []  # the open section of each depth
    path: list[str] = []
    part: str | None = None
    footnotes = 0
    for p in d.paragraphs:
        if p.part != part:
            part, path, current = p.part, [], []
        same = 0
        while same < min(len(path), len(p.section)) and path[same] == p.section[same]:
            same += 1
        del current[same:]
        starts = []
        for depth in range(same, len(p.section)):
            s = {
                "id": f"sec-{len(sections) + 1}",
                "part": p.part,
                "heading": p.section[depth],
                "level": depth + 1,
                "first": p.number,
                "last": p.number,
                "anchor": anchor(p.part, p.number),
            }
            sections.append(s)
            current.append(s)
            starts.append(s["id"])
        for s in current:
            s["last"] = p.number
        path = list(p.section)
        notes = []
        for fn in p.footnotes:
            footnotes += 1
            notes.append({"id": f"fn-{footnotes}", "marker": fn.marker, "text": fn.text, "offset": fn.offset})
        paragraphs.append(
            {
                **({"part": p.part} if p.part else {}),
                "number": p.number,
                "anchor": anchor(p.part, p.number),
                "citation": p.citation,
                **({"page": p.page} if p.page is not None else {}),
                "sections": starts,
                "text": p.text,
                "items": [{"label": it.label, "text": it.text} for it in p.items],
                "footnotes": notes,
            }
        )
    return sections, paragraphs


def document_record(
    library: Library, originals: dict[tuple[str, str], Original], d: Corpus
) -> dict[str, Any]:
    """The JSON of ``/api/doc/{symbol}`` for the version ``d`` (see the module)."""
    entry = next(e for v, e in zip(library.documents, library.entries, strict=True) if v is d)
    meta = d.metadata
    front = {k: v for k in FRONT if (v := getattr(meta, k, None))}
    if entry.added:
        front["added"] = entry.added
    ranges: dict[str, list[int]] = {}
    for p in d.paragraphs:
        r = ranges.setdefault(p.part, [p.number, p.number])
        r[0], r[1] = min(r[0], p.number), max(r[1], p.number)
    sections, paragraphs = _body(d)
    versions = library.versions(d.symbol)
    return {
        "symbol": d.symbol,
        "lang": d.lang,
        "title": entry.title or (meta.title or ""),
        "languages": [v.lang for v in versions],
        "versions": [
            {
                "lang": v.lang,
                "paragraphs": len(v.paragraphs),
                "url": doc_url(v.symbol, v.lang),
                **({"original": o} if (o := _original(originals.get((v.symbol, v.lang)))) else {}),
            }
            for v in versions
        ],
        "front": front,
        "masthead": list(d.front_matter),
        **({"original": o} if (o := _original(originals.get((d.symbol, d.lang)))) else {}),
        "parts": [{"part": name, "first": a, "last": b} for name, (a, b) in ranges.items()],
        "sections": sections,
        "paragraphs": paragraphs,
    }


# --- the schema ------------------------------------------------------------------------------------------


class OriginalFile(BaseModel):
    format: Literal["pdf", "docx", "doc"] = Field(description="what the report was given as")
    url: str = Field(description="where it is served, e.g. /doc/CTOC/COP/2012/7/en.pdf")


class DocVersion(BaseModel):
    lang: models.Lang
    paragraphs: int = Field(description="its numbered paragraphs, annexes included")
    url: str = Field(description="its page, e.g. /doc/CTOC/COP/2012/7?lang=en")
    original: OriginalFile | None = Field(None, description="only for a version given as PDF or Word")


class DocSection(models.Section):
    id: str = Field(description="its anchor on the page: sec-1, sec-2, … in reading order")
    anchor: str = Field(description="the anchor of its first paragraph")


class DocFootnote(models.ParagraphFootnote):
    id: str = Field(description="its anchor on the page: fn-1, fn-2, … through the document")


class DocParagraph(BaseModel):
    part: str | None = Field(None, description='only in an annex: the annex ("annex", "annex II")')
    number: int
    anchor: str = Field(description="its anchor on the page: para-N, annex-para-N, annex-II-para-N")
    citation: str = Field(description="its UN-style citation, in the version's language")
    page: int | None = Field(None, description="the page of the PDF it starts on (absent without pages)")
    sections: list[str] = Field(description="the ids of the sections that start with it, outermost first")
    text: str = Field(description="its own text (before any lettered items)")
    items: list[models.Item]
    footnotes: list[DocFootnote]


class DocView(BaseModel):
    """One document version as a whole (``/api/doc/{symbol}``)."""

    symbol: str
    lang: models.Lang = Field(description="the version shown")
    title: str = Field(description="its title as catalogued, else as its masthead prints it (may be empty)")
    languages: list[models.Lang] = Field(description="every language version the library holds")
    versions: list[DocVersion]
    front: dict[str, str] = Field(
        description="the front matter found: session, dates, place, agenda_item, agenda_title, title, "
        "report_type, issued (the masthead's date), added (to the library); each only when known"
    )
    masthead: list[str] = Field(description="the front matter's lines as printed")
    original: OriginalFile | None = Field(None, description="only for a version given as PDF or Word")
    parts: list[models.PartRange] = Field(description="first and last paragraph of the body and each annex")
    sections: list[DocSection] = Field(description="every heading, in reading order")
    paragraphs: list[DocParagraph]


def report_router() -> APIRouter:
    """The ``/api/doc/{symbol}`` route (behind the server's token, like the rest of ``/api``)."""
    router = APIRouter(prefix="/api", dependencies=[Depends(require_token)])
    made: dict[tuple[str, str], bytes] = {}

    @router.get(
        "/doc/{symbol:path}",
        response_model=DocView,
        tags=["report"],
        summary="A whole document version",
        responses={
            401: {
                "model": models.Error,
                "description": "the server has a token and the request did not send it",
            },
            404: {"model": models.Error, "description": "no such document, or no version in that language"},
            422: {"model": models.Error, "description": "a language that is not one of the six"},
        },
    )
    async def document(
        state: State,
        symbol: Annotated[str, PathParam(description="the document's symbol, e.g. CTOC/COP/2012/7")],
        lang: Annotated[
            LangName | None, Query(description="the version (default: the first in library order)")
        ] = None,
    ) -> Response:
        """The report as one document, for reading it whole (the page `/doc/SYMBOL`): front matter, language
        versions, original file, sections with their paragraph ranges, and every paragraph with its number,
        anchor, items and footnotes."""
        library = state.retriever.library
        d = find_version(library, symbol, lang)
        body = made.get((d.symbol, d.lang))
        if body is None:
            record = await run_in_threadpool(document_record, library, state.originals, d)
            body = made[d.symbol, d.lang] = json_bytes(record)
        return Response(body, media_type="application/json")

    return router
