"""The JSON API under ``/api``: search, cite, paragraphs, documents, gloss, health (the batch is in
:mod:`pipeline.server.batch`).

Each endpoint calls the public Python API and returns its JSON as the command line prints it with
``--json``; nothing here ranks, routes or formats an answer. Questions go through the request coalescer;
paragraph, citation and document references (``Retriever.plan(q).route.kind``) are looked up at once. A
document symbol alone is answered with its ``overview`` (route "document"); a well-formed reference the
library neither holds nor cites is a 200 with no results and a warning naming the closest symbols, not a 400.

The library filters are the command line's: ``doc`` (repeatable: ``--doc``), ``lang`` (``--lang``),
``parallel`` (``--parallel``) and, for paragraphs, ``part`` (``--annex``). An unknown document is a 400 with
the library's message (the documents it has).
"""

import asyncio
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

import pipeline.server.models as models
from pipeline import Answer, Corpus, QueryError, QueryPlan, Retriever
from pipeline import Mode as ModeName
from pipeline.server.coalesce import CoalescerClosed
from pipeline.server.errors import ApiError, json_response
from pipeline.server.options import ServerOptions
from pipeline.server.state import ServerState

ERRORS = {
    400: {
        "model": models.Error,
        "description": "bad input: an empty or contentless query, a `doc` filter naming a document the "
        "library does not have, a malformed body, a URL whose percent-encoded bytes are not UTF-8 (a "
        "reference the library does not cite is a 200 with a warning)",
    },
    401: {"model": models.Error, "description": "the server has a token and the request did not send it"},
    413: {"model": models.Error, "description": "a query, text, body or batch over the server's limits"},
    422: {
        "model": models.Error,
        "description": "a parameter of the wrong type or range (the message names it)",
    },
    503: {"model": models.Error, "description": "an index or model to (re)build, or the server is stopping"},
}

_bearer = HTTPBearer(
    auto_error=False,
    description="Only when the server was started with --token (or PIPELINE_TOKEN); only this header is "
    "accepted (a token in the URL would end up in access logs and browser history).",
)


async def get_state(request: Request) -> ServerState:
    """The server's state (dependency; ``async`` so FastAPI does not hand it to a worker thread)."""
    state: ServerState = request.app.state.pipeline
    return state


async def require_token(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse an ``/api`` call without the server's token (when it has one) with 401. Only the
    ``Authorization: Bearer`` header counts: never a query parameter (URLs are logged), never a cookie."""
    state: ServerState = request.app.state.pipeline
    expected = state.options.token
    if not expected:
        return
    sent = creds.credentials if creds is not None else None  # never ?token=: URLs are logged
    if sent is None or not hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode("utf-8")):
        why = "wrong token" if sent is not None else "this server needs a token"
        raise ApiError(
            401,
            f"{why}: send the header 'Authorization: Bearer TOKEN'",
            headers={"WWW-Authenticate": "Bearer"},
        )


State = Annotated[ServerState, Depends(get_state)]


def check_length(text: str, limit: int, name: str) -> None:
    """413 for a parameter longer than ``limit`` characters."""
    if len(text) > limit:
        raise ApiError(
            413,
            f"query parameter {name!r} is {len(text):,} characters long; "
            f"this server accepts at most {limit:,}",
        )


#: Languages a document version may be in (``--lang``).
LangName = Literal["zh", "en", "fr", "es", "ru", "ar"]
_RE_PART = re.compile(r"(?i)^\s*(?:annex|附件)(?:\s*(?P<roman>[ivx]{1,4}))?\s*$")


@dataclass(frozen=True)
class Filters:
    """The library filters of one request (the command line's ``--doc``, ``--lang``, ``--parallel``)."""

    docs: list[str] | None = None
    lang: str | None = None
    parallel: bool = False

    @property
    def search(self) -> dict[str, object]:
        """The keywords of ``Retriever.search`` / ``search_many`` / ``lookup``."""
        return {"docs": self.docs, "lang": self.lang, "parallel": self.parallel}


#: No filter: the whole library.
NO_FILTERS = Filters()


def filters(doc: Sequence[str] | None, lang: str | None, parallel: bool = False) -> Filters:
    """The request's filters; empty ``doc`` values are ignored."""
    docs = [d.strip() for d in doc or () if d and d.strip()]
    return Filters(docs or None, lang or None, parallel)


def select(r: Retriever, f: Filters) -> list[Corpus]:
    """The documents the filters leave in play.

    Raises:
        QueryError: an unknown document or language, or nothing left (400, the message lists the library).
    """
    return r.library.select(f.docs, f.lang)


def part_name(part: str | None) -> str:
    """``part=`` as the library names parts: "" (the body), "annex", "annex II".

    Raises:
        ApiError: 400 for anything else.
    """
    if part is None or not part.strip():
        return ""
    m = _RE_PART.match(part)
    if not m:
        raise ApiError(
            400, f"query parameter 'part': {part!r} is not a part of a document (use 'annex' or 'annex II')"
        )
    return "annex" + (f" {m.group('roman').upper()}" if m.group("roman") else "")


def lookup_or_plan(
    r: Retriever, q: str, k: int | None, mode: ModeName, f: Filters = NO_FILTERS
) -> Answer | QueryPlan:
    """The answer to a paragraph or citation reference, or the plan of a question (which the coalescer answers
    without planning it again).

    Raises:
        QueryError: the query cannot be answered (empty, nothing to search for, an unknown document, …).
    """
    select(r, f)  # an unknown document is refused before anything is answered
    plan = r.plan(q, mode)
    if plan.route.kind == "question":
        return plan
    answer = r.search_many([plan], k, mode, **f.search)[0]
    if answer.exception is not None:
        raise answer.exception
    return answer


def answer_json(answer: Answer) -> Response:
    """An answer as ``pipeline search --json`` prints it; one that could not be answered is a 400."""
    if answer.error is not None:
        raise answer.exception or QueryError(answer.error)
    return json_response(answer.to_dict())


class _Params:
    """The query parameters the routes share, typed and described for the OpenAPI schema; ``options`` sets the
    limits the schema shows (``k`` up to ``max_k``)."""

    def __init__(self, options: ServerOptions) -> None:
        self.K = Annotated[
            int | None,
            Query(
                ge=1,
                le=options.max_k,
                description=f"results for a question, 1-{options.max_k} (default: the top_k setting, 5)",
            ),
        ]
        self.Mode = Annotated[ModeName, Query(description="retrieval channel(s) for questions")]
        self.Doc = Annotated[
            list[str] | None,
            Query(
                description="only this document (its symbol, e.g. CTOC/COP/2012/7); repeat for several "
                "(default: the whole library)"
            ),
        ]
        self.Lang = Annotated[
            LangName | None, Query(description="only the documents' versions in this language")
        ]
        self.Parallel = Annotated[
            bool,
            Query(
                description="give each result the same-numbered paragraph of its document's other language "
                "versions (`parallel`)"
            ),
        ]
        self.Part = Annotated[
            str | None,
            Query(description="number within an annex ('annex', 'annex II') instead of the body"),
        ]


def api_router(options: ServerOptions) -> APIRouter:
    """The ``/api`` routes; ``options`` sets the limits the schema shows (``k`` up to ``max_k``)."""
    router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=ERRORS)
    P = _Params(options)
    _answer_routes(router, P)
    _report_routes(router, P)
    _server_routes(router)
    return router


def _answer_routes(router: APIRouter, P: _Params) -> None:
    """``/api/search`` and ``/api/cite``."""

    @router.get("/search", response_model=models.Answer, tags=["answers"], summary="Answer one query")
    async def search(
        state: State,
        q: Annotated[
            str,
            Query(
                description="a question, a paragraph reference ('第 41 段', '23', 'CTOC/COP/2012/7 ¶23'), "
                "a citation ('resolution 65/230') or a document symbol alone ('CTOC/COP/2012/7'), in Chinese "
                "or English"
            ),
        ],
        k: P.K = None,
        mode: P.Mode = "hybrid",
        doc: P.Doc = None,
        lang: P.Lang = None,
        parallel: P.Parallel = False,
    ) -> Response:
        """Like `pipeline search QUERY --json [--doc SYMBOL] [--lang LANG] [--parallel]`: paragraph and
        citation references are looked up exactly, questions retrieved (hybrid by default). Concurrent
        questions are answered together.

        A document symbol alone (`CTOC/COP/2012/7`) gets `"route": "document"` and an `overview` of that
        document when the library holds it: symbol, title, languages, the version described, its paragraph
        count, the first and last paragraph of each part, and its sections (heading, level, part, first and
        last paragraph); `results` are then the paragraphs of other documents citing it. A symbol the library
        neither holds nor cites is a 200 with no results and a warning naming the closest symbols."""
        check_length(q, state.options.max_query_chars, "q")
        f = filters(doc, lang, parallel)
        # one trip to a worker thread: a lookup is answered there, a question comes back as None
        answer = await run_in_threadpool(lookup_or_plan, state.retriever, q, k, mode, f)
        if isinstance(answer, QueryPlan):
            try:
                future = state.coalescer.submit(answer, k, mode, **f.search)
            except CoalescerClosed as e:
                raise ApiError(503, str(e)) from None
            answer = await asyncio.wrap_future(future)
        return answer_json(answer)

    @router.get(
        "/cite", response_model=models.Answer, tags=["answers"], summary="Paragraphs citing a reference"
    )
    async def cite(
        state: State,
        q: Annotated[
            str,
            Query(
                description="e.g. 'resolution 65/230', '第 1851 (2008)号决议', 'S/2009/146', "
                "'article 28', or paragraph numbers"
            ),
        ],
        doc: P.Doc = None,
        lang: P.Lang = None,
        parallel: P.Parallel = False,
    ) -> Response:
        """Like `pipeline cite REF --json`: every paragraph citing the reference, in library order, with the
        matched text. A document symbol the library holds also gets its `overview` (`"route": "document"`,
        as in `/api/search`). A well-formed reference the library does not cite is a 200 with no results and
        a warning (for a symbol, naming the closest symbols); a text that is not a reference is a 400."""
        check_length(q, state.options.max_query_chars, "q")
        f = filters(doc, lang, parallel)
        return answer_json(await run_in_threadpool(lambda: state.retriever.lookup(q, **f.search)))


def _report_routes(router: APIRouter, P: _Params) -> None:
    """``/api/paragraphs``, ``/api/paragraphs/{n}``, ``/api/documents`` and ``/api/gloss``."""

    @router.get(
        "/paragraphs", response_model=list[models.Paragraph], tags=["report"], summary="Every paragraph"
    )
    async def paragraphs(
        state: State, doc: P.Doc = None, lang: P.Lang = None, part: P.Part = None
    ) -> Response:
        """Like `pipeline paragraphs --json [--doc SYMBOL] [--lang LANG]`: document, language, number,
        section, text, items, footnotes, sentences, citation and the citations of each paragraph, in
        library order (with `part`, only the paragraphs of that annex)."""
        f = filters(doc, lang)
        chosen = None if f == NO_FILTERS else select(state.retriever, f)
        return Response(
            state.paragraph_list(chosen, None if part is None else part_name(part)),
            media_type="application/json",
        )

    @router.get(
        "/paragraphs/{n}",
        response_model=models.Paragraph,
        tags=["report"],
        summary="One paragraph",
        responses={
            400: {
                "model": models.Error,
                "description": "a document the library does not have, or a number several documents have "
                "(name one with `doc` and `lang`)",
            },
            404: {"model": models.Error, "description": "the document has no such paragraph"},
        },
    )
    async def paragraph(
        state: State,
        n: Annotated[int, Path(description="the paragraph's number")],
        doc: P.Doc = None,
        lang: P.Lang = None,
        part: P.Part = None,
    ) -> Response:
        """Like `pipeline paragraphs N --json --doc SYMBOL --lang LANG` (one record, not a list). Without
        `doc` the library must have exactly one paragraph with this number (a library of one report)."""
        r = state.retriever
        chosen = select(r, filters(doc, lang))
        where = part_name(part)
        found = state.paragraph(chosen, n, where)
        if len(found) == 1:
            return Response(found[0], media_type="application/json")
        if found:
            names = ", ".join(
                d.label for d in chosen if r.library.find(d.symbol, d.lang, n, where) is not None
            )
            raise ApiError(
                400,
                f"paragraph {n} is in {len(found)} document versions ({names}): "
                "name one with doc=SYMBOL and lang=LANG",
            )
        try:
            records = r.paragraph_records([n], docs=[d.symbol for d in chosen], lang=lang, part=where)
        except QueryError as e:
            raise ApiError(404, str(e)) from None
        return json_response(records[0])  # not reached: every record is cached at start

    @router.get(
        "/documents", response_model=models.Documents, tags=["report"], summary="The library's documents"
    )
    async def documents(state: State) -> Response:
        """Like `pipeline documents --json` (without the text files and their hashes): each document version's
        symbol, language, title, paragraph count, annexes, date added and numbering ranges, in library order;
        for a report given as PDF or Word, its format and original file (served at `/doc/SYMBOL/LANG.pdf`)."""
        return Response(state.documents, media_type="application/json")

    @router.get(
        "/gloss", response_model=models.Gloss, tags=["report"], summary="English glosses of a text's words"
    )
    async def gloss(
        state: State,
        text: Annotated[str, Query(description="Chinese text, e.g. an answer sentence")],
    ) -> Response:
        """The text cut into words as the analyzer cuts it, each Chinese word with its CC-CEDICT senses."""
        check_length(text, state.options.max_gloss_chars, "text")
        if not text.strip():
            raise ApiError(400, "query parameter 'text' is empty: give the text to gloss")
        words = await run_in_threadpool(state.retriever.gloss, text)
        return json_response({"words": [{"text": w, "gloss": list(g)} for w, g in words]})


def _server_routes(router: APIRouter) -> None:
    """``/api/health``."""

    @router.get(
        "/health", response_model=models.Health, tags=["server"], summary="Status, versions and indexes"
    )
    async def health(state: State) -> Response:
        """Status, version, uptime, the library (each document version and its indexes' manifests), the
        model, the translator and the query encoder, and how the coalescer has grouped questions.

        It names the absolute paths of the library's files and indexes: behind the token like every `/api`
        route when the server has one; without a token the server listens on this machine only."""
        return json_response(state.health())
