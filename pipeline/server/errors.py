"""Every failure as one JSON shape, ``{"error": message, "status": code}``, and the JSON encoding itself.

* :class:`ApiError` — what the server itself refuses (a body too large, a wrong Content-Type, a missing
  token, a paragraph the report does not have).
* :class:`~pipeline.errors.PipelineError` — what the pipeline refuses: an index or model problem
  (exit code 3 on the command line) is 503, everything else (an empty query …) 400, with the message the
  command line prints.
* Request validation (``k=abc``, ``mode=fast``) is 422 with a message naming the parameter.
* Unknown routes are 404, wrong methods 405, all in the same shape.
* Anything else is a bug: the traceback goes to the server's log, the client gets a 500 without it
  (:class:`CatchAll`, which also gives every response the security headers: :data:`SECURITY_HEADERS`).
* Before any route: a Host header that is not the server's name (:class:`HostCheck`), a URL that is not
  UTF-8, a POST from a page of another site, a ``/static`` file that is not the web page's
  (:class:`RequestCheck`).
"""

from __future__ import annotations

import http
import json
import logging
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline import EXIT_INDEX, PipelineError

log = logging.getLogger("pipeline.server")

_WHERE = {
    "query": "query parameter",
    "path": "path parameter",
    "header": "header",
    "body": "request body",
    "cookie": "cookie",
}


class ApiError(Exception):
    """A request the server refuses, with its HTTP status.

    Args:
        status: the HTTP status (4xx, or 503).
        message: what went wrong and what to do instead.
        headers: extra response headers (``WWW-Authenticate`` for 401).
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON; text that cannot be UTF-8 (a lone surrogate) is written as a ``\\u`` escape."""
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode("ascii")


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response of ``obj`` exactly as given (no response-model filtering)."""
    return Response(json_bytes(obj), status_code=status, headers=headers, media_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The one error shape: ``{"error": message, "status": status}``."""
    return json_response({"error": message, "status": status}, status, headers)


def pipeline_status(e: PipelineError) -> int:
    """503 for an index or model to (re)build (exit code 3), 400 for bad input."""
    return 503 if e.exit_code == EXIT_INDEX else 400


def validation_message(errors: Any) -> str:
    """FastAPI's validation errors as one sentence naming each parameter, e.g. "query parameter 'k': Input
    should be less than or equal to 100 (got '500')"."""
    parts = []
    for err in errors:
        loc = [str(x) for x in err.get("loc", ())]
        where = _WHERE.get(loc[0], loc[0]) if loc else "request"
        name = ".".join(loc[1:])
        got = "" if err.get("type") == "missing" or "input" not in err else f" (got {_short(err['input'])})"
        parts.append(
            f"{where} {name!r}: {err.get('msg', 'invalid')}{got}"
            if name
            else f"{where}: {err.get('msg')}{got}"
        )
    return "; ".join(parts) or "invalid request"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the JSON error shape."""

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, exc.headers)

    async def pipeline_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PipelineError)
        return error_response(pipeline_status(exc), str(exc))

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, validation_message(exc.errors()))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        phrase = http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else ""
        message = str(exc.detail)
        if status == 404 and message == phrase:
            message = f"not found: {request.url.path} (the API is under /api; its documentation at /docs)"
        elif status == 405 and message == phrase:
            message = f"method {request.method} is not allowed on {request.url.path}"
        return error_response(status, message, getattr(exc, "headers", None))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(PipelineError, pipeline_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_middleware(CatchAll)


#: The Content-Security-Policy of every response (the web page, the API documentation page, the API, the
#: files): scripts and styles from this server's files only (nothing inline, no eval), requests to this
#: server only, no framing by any page. The web page's icon is a ``data:`` URL. A PDF shown in the browser
#: (``/doc/…``, or from a blob URL when the page holds a token: that tab inherits this policy) is plugin and
#: frame content from this server or a blob, which the tab may read back.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self' blob:",
        "object-src 'self' blob:",
        "frame-src 'self' blob:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

#: Headers every response carries (a response that sets one itself keeps its own value).
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode("ascii")),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


def add_security_headers(message: Message) -> None:
    """Add :data:`SECURITY_HEADERS` to an ``http.response.start`` message, except those it already has."""
    headers = message.setdefault("headers", [])
    present = {bytes(k).lower() for k, _ in headers}
    headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)


class CatchAll:
    """ASGI middleware: an exception nothing else handled is a bug — log its traceback, answer 500 JSON.
    Every response also gets :data:`SECURITY_HEADERS` (Content-Security-Policy, ``X-Content-Type-Options:
    nosniff``, ``Referrer-Policy: no-referrer``).

    When the response has already begun (a stream), nothing can be sent any more: the error is logged and
    the connection ends. A client gone before its body arrived (it hung up, or sent a body the HTTP layer
    refused) is no bug: there is nobody to answer, nothing is logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                add_security_headers(message)
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except ClientDisconnect:
            return
        except Exception:
            log.exception("bug while answering %s %s", scope.get("method"), scope.get("path"))
            if not started:
                await error_response(500, "internal server error (the server's log has the details)")(
                    scope, receive, tracked
                )


#: What ``/static`` serves: the web page's own files (no Python source, no ``__pycache__``, no dot files).
STATIC_SUFFIXES = (".html", ".css", ".js", ".svg", ".png")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RequestCheck:
    """ASGI middleware: refuse, before any route sees it,

    * a URL whose percent-encoded bytes are not UTF-8 (``?q=%FF%FE``): 400 naming the parameter, instead of
      the text with U+FFFD in their place;
    * a request that changes something (POST …) sent by a page of another site (a ``text/plain`` form needs
      no CORS preflight): 403. ``Sec-Fetch-Site`` decides when the browser sends it (``same-origin`` and
      ``none``, the user's own action, pass); otherwise ``Origin`` must name this server's ``Host``. Clients
      that are not browsers send neither and pass;
    * a ``/static`` file that is not one of the web page's kinds (:data:`STATIC_SUFFIXES`): 404.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = not_utf8(scope) or cross_site(scope) or static_refused(scope.get("path", ""))
            if refusal is not None:
                await error_response(*refusal)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _shown(raw: bytes, limit: int = 40) -> str:
    text = raw.decode("ascii", "backslashreplace")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def not_utf8(scope: Scope) -> tuple[int, str] | None:
    """400 for a path or query parameter whose percent-encoded bytes are not UTF-8."""
    raw_path = scope.get("raw_path")
    if raw_path is not None and not _is_utf8(raw_path):
        return 400, (
            f"the path {_shown(raw_path, 80)} is not UTF-8 text once its %XX escapes are decoded "
            "(percent-encode text as UTF-8)"
        )
    for pair in bytes(scope.get("query_string") or b"").split(b"&"):
        name, _, value = pair.partition(b"=")
        if not (_is_utf8(name) and _is_utf8(value)):
            shown = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8", "replace")
            return 400, (
                f"query parameter {shown!r} is not UTF-8 text: {_shown(pair)} does not decode as UTF-8 "
                "(percent-encode text as UTF-8)"
            )
    return None


def _is_utf8(raw: bytes) -> bool:
    if b"%" not in raw and raw.isascii():
        return True
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def cross_site(scope: Scope) -> tuple[int, str] | None:
    """403 for a request other than GET/HEAD/OPTIONS sent by a page of another site (see
    :class:`RequestCheck`)."""
    if scope.get("method", "GET") in _SAFE_METHODS:
        return None
    headers = dict(scope.get("headers") or ())
    site = headers.get(b"sec-fetch-site")
    origin = headers.get(b"origin")
    if site is not None:
        if site.strip().lower() in (b"same-origin", b"none"):
            return None
        sender = f"Sec-Fetch-Site: {_shown(site)}"
    elif origin is None or _same_origin(origin, headers.get(b"host", b"")):
        return None
    else:
        sender = f"Origin: {_shown(origin, 80)}"
    return 403, (
        f"cross-origin request refused ({sender}): a page of another site may not send {scope['method']} "
        "requests to this server; use its own page, or a client that is not a browser"
    )


def _same_origin(origin: bytes, host: bytes) -> bool:
    """``origin`` ("http://127.0.0.1:8000") names the host and port of the ``Host`` header."""
    text = origin.decode("latin-1").strip().lower()
    scheme, sep, netloc = text.partition("://")
    if not sep or scheme not in ("http", "https") or not netloc or "/" in netloc:
        return False  # "null" (a sandboxed frame, a file), or not an origin at all
    default = ":80" if scheme == "http" else ":443"
    want = host.decode("latin-1").strip().lower()
    return netloc.removesuffix(default) == want.removesuffix(default)


def static_refused(path: str) -> tuple[int, str] | None:
    """404 for a ``/static`` path that is not one of the web page's files (see :data:`STATIC_SUFFIXES`)."""
    if not path.startswith("/static/"):
        return None
    parts = path[len("/static/") :].split("/")
    if all(parts) and not any(p.startswith((".", "_")) for p in parts):
        if parts[-1].lower().endswith(STATIC_SUFFIXES):
            return None
    return 404, f"not found: {path} (/static serves the web page's own files only)"


class HostCheck:
    """ASGI middleware: refuse (400) a request whose ``Host`` header names none of ``allowed`` hosts, or that
    has more than one.

    A server on the loopback address without a token is open to any web page the user visits through DNS
    rebinding (a name that resolves to 127.0.0.1); such a request carries that name in its ``Host`` header.

    Args:
        app: the application.
        allowed: host names (without port) that may appear, e.g. ``("127.0.0.1", "localhost", "::1")``.
    """

    def __init__(self, app: ASGIApp, allowed: tuple[str, ...]) -> None:
        self.app = app
        self.allowed = frozenset(h.lower().strip("[]") for h in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            hosts = [v.decode("latin-1") for k, v in scope["headers"] if k == b"host"]
            if len(hosts) > 1:  # h11 refuses these itself; another HTTP layer might pass them on
                message = f"{len(hosts)} Host headers: a request names one host"
                await error_response(400, message)(scope, receive, send)
                return
            host = hosts[0] if hosts else ""
            if host.startswith("[") and "]" in host:
                name = host[1 : host.index("]")]
            else:
                name = host.split(":")[0] if host.count(":") == 1 else host
            if name.lower() not in self.allowed:
                message = (
                    f"Host {host!r} is not this server's name; open it as http://127.0.0.1:PORT/ "
                    "(a server reachable under other names needs --token)"
                )
                await error_response(400, message)(scope, receive, send)
                return
        await self.app(scope, receive, send)
