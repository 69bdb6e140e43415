"""The JSON API under ``/api``: search, cite, paragraphs, gloss, health (the batch is in
:mod:`pipeline.server.batch`).

Each endpoint calls the public Python API and returns its JSON as the command line prints it with
``--json``; nothing here ranks, routes or formats an answer. Questions go through the request coalescer;
paragraph and citation references (``Retriever.plan(q).route.kind``) are looked up at once.
"""

import asyncio
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from pipeline.answer import Answer
from pipeline.errors import QueryError
from pipeline.plan import Mode as ModeName
from pipeline.retrieve import Retriever
from pipeline.server import models
from pipeline.server.coalesce import CoalescerClosed
from pipeline.server.errors import ApiError, json_response
from pipeline.server.options import ServerOptions
from pipeline.server.state import ServerState

ERRORS = {
    400: {"model": models.Error, "description": "bad input: an empty or contentless query, a malformed body"},
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
    description="Only when the server was started with --token (or PIPELINE_TOKEN); `?token=` works too.",
)


async def get_state(request: Request) -> ServerState:
    """The server's state (dependency; ``async`` so FastAPI does not hand it to a worker thread)."""
    state: ServerState = request.app.state.pipeline
    return state


async def require_token(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse an ``/api`` call without the server's token (when it has one) with 401."""
    state: ServerState = request.app.state.pipeline
    expected = state.options.token
    if not expected:
        return
    sent = creds.credentials if creds is not None else request.query_params.get("token")
    if sent is None or not hmac.compare_digest(sent.encode("utf-8", "replace"), expected.encode("utf-8")):
        why = "wrong token" if sent is not None else "this server needs a token"
        raise ApiError(
            401,
            f"{why}: send the header 'Authorization: Bearer TOKEN' (or add ?token=TOKEN to the URL)",
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


def lookup_or_none(r: Retriever, q: str, k: int | None, mode: ModeName) -> Answer | None:
    """The answer to a paragraph or citation reference (``Retriever.search``), None for a question (which
    the coalescer answers).

    Raises:
        QueryError: the query cannot be answered (empty, nothing to search for, …).
    """
    if r.plan(q, mode).route.kind == "question":
        return None
    return r.search(q, k, mode)


def answer_json(answer: Answer) -> Response:
    """An answer as ``pipeline search --json`` prints it; one that could not be answered is a 400."""
    if answer.error is not None:
        raise QueryError(answer.error)
    return json_response(answer.to_dict())


def api_router(options: ServerOptions) -> APIRouter:
    """The ``/api`` routes; ``options`` sets the limits the schema shows (``k`` up to ``max_k``)."""
    router = APIRouter(prefix="/api", dependencies=[Depends(require_token)], responses=ERRORS)
    K = Annotated[
        int | None,
        Query(
            ge=1,
            le=options.max_k,
            description=f"results for a question, 1-{options.max_k} (default: the top_k setting, 5)",
        ),
    ]
    Mode = Annotated[ModeName, Query(description="retrieval channel(s) for questions")]

    @router.get("/search", response_model=models.Answer, tags=["answers"], summary="Answer one query")
    async def search(
        state: State,
        q: Annotated[
            str,
            Query(
                description="a question, a paragraph reference ('第 41 段', '23') or a citation "
                "('resolution 65/230'), in Chinese or English"
            ),
        ],
        k: K = None,
        mode: Mode = "hybrid",
    ) -> Response:
        """Like `pipeline search QUERY --json`: paragraph and citation references are looked up exactly,
        questions retrieved (hybrid by default). Concurrent questions are answered together."""
        check_length(q, state.options.max_query_chars, "q")
        # one trip to a worker thread: a lookup is answered there, a question comes back as None
        answer = await run_in_threadpool(lookup_or_none, state.retriever, q, k, mode)
        if answer is None:
            try:
                future = state.coalescer.submit(q, k, mode)
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
    ) -> Response:
        """Like `pipeline cite REF --json`: every paragraph citing the reference, in document order, with the
        matched text. A text that is not a reference, or one the report does not cite, is a 400."""
        check_length(q, state.options.max_query_chars, "q")
        return answer_json(await run_in_threadpool(state.retriever.lookup, q))

    @router.get(
        "/paragraphs", response_model=list[models.Paragraph], tags=["report"], summary="Every paragraph"
    )
    async def paragraphs(state: State) -> Response:
        """Like `pipeline paragraphs --json`: number, section, text, items, footnotes, sentences and
        citations of each paragraph."""
        return Response(state.all_paragraphs, media_type="application/json")

    @router.get(
        "/paragraphs/{n}",
        response_model=models.Paragraph,
        tags=["report"],
        summary="One paragraph",
        responses={404: {"model": models.Error, "description": "the report has no such paragraph"}},
    )
    async def paragraph(
        state: State, n: Annotated[int, Path(description="the paragraph's number")]
    ) -> Response:
        """Like `pipeline paragraphs N --json` (one record, not a list)."""
        body = state.paragraphs.get(n)
        if body is not None:
            return Response(body, media_type="application/json")
        try:
            records = state.retriever.paragraph_records([n])
        except QueryError as e:
            raise ApiError(404, str(e)) from None
        return json_response(records[0])

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

    @router.get(
        "/health", response_model=models.Health, tags=["server"], summary="Status, versions and indexes"
    )
    async def health(state: State) -> Response:
        """Status, version, uptime, the report, each index's manifest (what it was built from), the model
        and the query encoder, and how the coalescer has grouped questions."""
        return json_response(state.health())

    return router
