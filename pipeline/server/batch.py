"""``POST /api/batch``: a body of queries in, their answers streamed back as NDJSON in input order.

The body is a JSON list (of strings or ``{"id", "query"}`` objects), JSONL, CSV or plain text — chosen by
``format=`` or the Content-Type; ``doc``, ``lang`` and ``parallel`` filter as in ``/api/search``. It is read
by :func:`pipeline.batch.parse_queries`, the reader of ``pipeline batch`` (a JSON list is first written out as
JSONL, one element per line, so its "line" is the element's position), so a bad line gets the message
``pipeline batch`` prints for it, naming the upload by ``name=`` (its file name: folders dropped, control
characters escaped, cut to :data:`MAX_NAME_CHARS`) or else as ``<request body>``. A body that is Chinese
GB18030/GBK instead of UTF-8 is read, and the stream starts with one record ``{"warnings": [...]}`` (no
``line``) that says so. The good lines are answered :attr:`~pipeline.server.options.ServerOptions.batch_chunk`
at a time with ``Retriever.search_many``; each chunk is streamed as soon as it is answered, and an answer's
own ``warnings`` stay in its record. ``X-Total-Lines`` says how many line records the stream will carry, so a
page can show progress. A client that goes away stops the batch: the chunk being answered is the last.
"""

import json
import logging
import re
import unicodedata
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from pipeline import BadLine, BatchInputError, BatchQuery, PipelineError, Retriever, parse_queries
from pipeline.server.api import (
    ERRORS,
    NO_FILTERS,
    Filters,
    LangName,
    ModeName,
    State,
    filters,
    require_token,
    select,
)
from pipeline.server.errors import ApiError, json_bytes, pipeline_status
from pipeline.server.models import BatchRecord
from pipeline.server.options import ServerOptions
from pipeline.server.state import ServerState

log = logging.getLogger("pipeline.server")

BODY_NAME = "<request body>"
#: The longest upload name messages show (a longer one is cut, keeping its extension).
MAX_NAME_CHARS = 120
#: Content-Type → body format.
CONTENT_TYPES = {
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/jsonlines": "jsonl",
    "text/csv": "csv",
    "text/plain": "text",
}
BodyFormat = Literal["json", "jsonl", "csv", "text"]


def body_format(content_type: str | None, fmt: str | None) -> str:
    """The body's format: ``fmt`` when given, else from the Content-Type (which must not name another charset
    than UTF-8).

    Raises:
        ApiError: 415 for a Content-Type that is none of the accepted ones.
    """
    mime, _, params = (content_type or "").partition(";")
    mime = mime.strip().lower()
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower().replace("_", "-") not in (
            "utf-8",
            "utf8",
            "us-ascii",
        ):
            raise ApiError(
                415, f"the body must be UTF-8 (Content-Type says charset={value.strip()}); convert it first"
            )
    if fmt:
        return fmt
    if mime in CONTENT_TYPES:
        return CONTENT_TYPES[mime]
    accepted = ", ".join(CONTENT_TYPES)
    what = f"Content-Type {mime!r}" if mime else "no Content-Type"
    raise ApiError(415, f"{what}: send one of {accepted}, or say format=json|jsonl|csv|text")


def source_name(name: str | None) -> str:
    """How messages name the body: the uploaded file's ``name`` without its folders, control, format and
    line-separator characters escaped (``\\u202e``), cut to :data:`MAX_NAME_CHARS`; :data:`BODY_NAME` without
    a name."""
    base = re.split(r"[/\\]", name or "")[-1].strip()
    base = "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") else c for c in base
    )
    if len(base) > MAX_NAME_CHARS:
        _, dot, ext = base.rpartition(".")
        keep = f".{ext}" if dot and 0 < len(ext) <= 10 else ""
        base = base[: MAX_NAME_CHARS - 1 - len(keep)] + "…" + keep
    return base or BODY_NAME


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    too_big = ApiError(
        413, f"the request body is larger than this server accepts ({limit:,} bytes); split the batch"
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def json_list_as_jsonl(raw: bytes, name: str = BODY_NAME) -> bytes:
    """A JSON list body as JSONL: each element on its own line (a string ``s`` becomes ``{"query": s}``).

    Raises:
        ApiError: 400 for a body that is not UTF-8, not JSON, or not a list.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, f"{name}: not UTF-8 (byte 0x{raw[e.start]:02X} at offset {e.start})") from None
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as e:
        raise ApiError(400, f"{name}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise ApiError(400, f"{name}: invalid JSON (nested too deeply)") from None
    except ValueError as e:  # an integer with too many digits
        raise ApiError(400, f"{name}: invalid JSON ({str(e).split(':')[0]})") from None
    if not isinstance(data, list):
        raise ApiError(
            400,
            f'{name}: expected a JSON list of queries (strings or {{"id", "query"}} objects), '
            f"got a JSON {type(data).__name__}",
        )
    lines = [
        json.dumps({"query": x} if isinstance(x, str) else x) for x in data
    ]  # ASCII: surrogates stay escapes
    return "".join(line + "\n" for line in lines).encode("ascii")


def parse_body(
    raw: bytes, fmt: str, max_lines: int, name: str = BODY_NAME
) -> tuple[list[BatchQuery], list[BadLine], list[str]]:
    """The body's queries, bad lines and warnings about the whole body (as ``pipeline batch`` reads a file;
    ``name`` names the body in the messages).

    Raises:
        ApiError: 400 for a body that cannot be used at all or holds no query, 413 for too many lines.
    """
    if fmt == "json":
        raw, fmt = json_list_as_jsonl(raw, name), "jsonl"
    warnings: list[str] = []
    try:
        good, bad = parse_queries(raw, fmt, name=name, warn=warnings.append)
    except BatchInputError as e:
        raise ApiError(400, str(e)) from None
    total = len(good) + len(bad)
    if total == 0:
        raise ApiError(400, f"{name}: no queries (send one query per line, a JSON list, JSONL or CSV)")
    if total > max_lines:
        raise ApiError(413, f"{name}: {total:,} queries; this server answers at most {max_lines:,} per batch")
    return good, bad, warnings


def answer_chunk(
    r: Retriever, part: list[BatchQuery | BadLine], k: int | None, mode: ModeName, f: Filters = NO_FILTERS
) -> bytes:
    """The NDJSON records of one chunk, in order: ``{"id", "line", **answer}`` for a good line (answered with
    ``Retriever.search_many``), ``{"line", "error"}`` for a bad one."""
    queries = [e.query for e in part if isinstance(e, BatchQuery)]
    found = iter(r.search_many(queries, k, mode, **f.search) if queries else [])
    out = []
    for e in part:
        if isinstance(e, BadLine):
            out.append(json_bytes({"line": e.line, "error": e.message}))
        else:
            out.append(json_bytes({"id": e.id, "line": e.line, **next(found).to_dict()}))
    return b"\n".join(out) + b"\n"


async def stream_records(
    state: ServerState,
    entries: list[BatchQuery | BadLine],
    k: int | None,
    mode: ModeName,
    f: Filters = NO_FILTERS,
    warnings: list[str] | None = None,
) -> AsyncIterator[bytes]:
    """NDJSON records in input order, :attr:`~ServerOptions.batch_chunk` lines at a time, each chunk answered
    on a worker thread (one batch chunk at a time across the server), after one ``{"warnings"}`` record when
    there are ``warnings`` about the whole body. A failure that stops the whole batch ends the stream with
    ``{"error", "status"}``.

    When the client goes away, Starlette cancels this generator (it listens for the disconnect while it
    streams): a chunk already on its worker thread is finished, no further chunk is started."""
    if warnings:
        yield json_bytes({"warnings": warnings}) + b"\n"
    step = state.options.batch_chunk
    for start in range(0, len(entries), step):
        part = entries[start : start + step]
        try:
            yield await anyio.to_thread.run_sync(
                answer_chunk, state.retriever, part, k, mode, f, limiter=state.batch_limiter
            )
        except PipelineError as e:
            yield json_bytes({"error": str(e), "status": pipeline_status(e)}) + b"\n"
            return
        except Exception:
            log.exception("bug while answering a batch")
            yield (
                json_bytes(
                    {"error": "internal server error (the server's log has the details)", "status": 500}
                )
                + b"\n"
            )
            return


class NDJSONResponse(StreamingResponse):
    """A stream of JSON lines."""

    media_type = "application/x-ndjson"


def batch_router(options: ServerOptions) -> APIRouter:
    """The ``/api/batch`` route."""
    router = APIRouter(prefix="/api", dependencies=[Depends(require_token)])
    ndjson = {
        "model": BatchRecord,
        "content": {"application/x-ndjson": {"schema": {"$ref": "#/components/schemas/BatchRecord"}}},
        "description": "one JSON record (BatchRecord) per line, in input order",
        "headers": {
            "X-Total-Lines": {
                "description": "line records the stream will carry (a first record of warnings about the "
                "whole body, without a line, is not counted)",
                "schema": {"type": "integer"},
            }
        },
    }
    responses = {
        **ERRORS,
        200: ndjson,
        415: {"model": ERRORS[400]["model"], "description": "a Content-Type that is not accepted"},
    }

    @router.post(
        "/batch",
        tags=["answers"],
        summary="Answer many queries (NDJSON stream)",
        responses=responses,
        response_class=NDJSONResponse,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "array",
                            "items": {
                                "oneOf": [
                                    {"type": "string"},
                                    {
                                        "type": "object",
                                        "properties": {"id": {"type": "string"}, "query": {"type": "string"}},
                                        "required": ["query"],
                                    },
                                ]
                            },
                        }
                    },
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                    "text/plain": {"schema": {"type": "string"}},
                },
            }
        },
    )
    async def batch(
        request: Request,
        state: State,
        k: Annotated[
            int | None, Query(ge=1, le=options.max_k, description=f"results per question, 1-{options.max_k}")
        ] = None,
        mode: Annotated[ModeName, Query(description="retrieval channel(s) for questions")] = "hybrid",
        format: Annotated[
            BodyFormat | None, Query(description="the body's format (default: from the Content-Type)")
        ] = None,
        doc: Annotated[
            list[str] | None,
            Query(
                description="only this document (its symbol); repeat for several (default: the whole library)"
            ),
        ] = None,
        lang: Annotated[
            LangName | None, Query(description="only the documents' versions in this language")
        ] = None,
        parallel: Annotated[
            bool,
            Query(description="give each result its paragraph in the document's other language versions"),
        ] = False,
        name: Annotated[
            str | None,
            Query(
                description="the uploaded file's name, naming the body in messages (folders dropped, cut to "
                f"{MAX_NAME_CHARS} characters; default {BODY_NAME})"
            ),
        ] = None,
    ) -> NDJSONResponse:
        """Like `pipeline batch FILE`: a JSON list, JSONL (`{"id", "query"}` per line), CSV (a header with a
        `query` column) or plain text (one query per line). Answers stream back as NDJSON in input order;
        a bad line is reported in its place as `{"line", "error"}` with the message `pipeline batch` prints,
        and the other lines are answered. A GB18030/GBK body is read, the stream then starts with
        `{"warnings": [...]}`. An unknown `doc` is refused (400) before anything is answered."""
        f = filters(doc, lang, parallel)
        select(state.retriever, f)
        fmt = body_format(request.headers.get("content-type"), format)
        raw = await read_body(request, state.options.max_body_bytes)
        good, bad, warnings = await run_in_threadpool(
            parse_body, raw, fmt, state.options.max_batch_lines, source_name(name)
        )
        entries: list[BatchQuery | BadLine] = sorted([*good, *bad], key=lambda e: e.line)
        headers = {"X-Total-Lines": str(len(entries)), "Cache-Control": "no-store"}
        return NDJSONResponse(
            stream_records(state, entries, k, mode, f, warnings),
            media_type="application/x-ndjson",
            headers=headers,
        )

    return router
