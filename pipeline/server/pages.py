"""The web pages and their static files, served from this machine.

* ``/``, ``/p/{n}`` (``n`` a number), ``/cite``, ``/batch`` → ``pipeline/web/index.html`` (the page routes
  on the client); a minimal placeholder while that file does not exist.
* ``/doc/{symbol}`` (``?lang=xx``) → ``pipeline/web/doc.html``: a whole report, which ``doc.js`` draws from
  ``/api/doc/{symbol}`` (:mod:`pipeline.server.report`, registered here). The symbol keeps its slashes
  (``/doc/CTOC/COP/2012/7``); a symbol the library holds is matched before the originals
  (``/doc/{symbol}/{lang}.{ext}``, :mod:`pipeline.server.originals`), so that one whose last segment has a dot
  (``A/C.3/68/L.23``) is still a page, and anything else that looks like a file goes on to the originals.
  An unknown symbol, or a language the document has no version in, is a 404. A server with a token serves
  the page for any symbol (the page itself is not behind the token, so it tells nothing of the library; the
  page asks for the token and shows the API's answer).
* ``/static/…`` → files in ``pipeline/web/`` (Starlette's :class:`~starlette.staticfiles.StaticFiles`,
  which refuses any path that resolves outside the folder, symlinks included).
* A page that does not exist (``/nonsense``, ``/p/abc``, an unknown document) is a 404: an HTML page for a
  browser (a GET or HEAD whose ``Accept`` names ``text/html``), the JSON error for anything else; always the
  JSON error under ``/api/`` and ``/static/``.

The doc page and the 404 page are sent with a Content-Security-Policy that allows this server's own scripts,
styles and requests only. The API documentation page is :mod:`pipeline.server.docs`.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Match, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from pipeline.server.errors import ApiError, error_response
from pipeline.server.report import find_version, report_router

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pipeline</title></head>
<body><h1>pipeline</h1>
<p>The web page is not installed (no <code>pipeline/web/index.html</code>). The API is under
<code>/api</code>: <a href="/docs">API documentation</a>, <a href="/api/health">health</a>.</p>
</body></html>
"""
#: The doc page's and the 404 page's policy: nothing but this server's own files and API.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
NOT_FOUND_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not found · 未找到</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/app.css">
<link rel="stylesheet" href="/static/doc.css">
</head>
<body class="doc-page">
<main id="main" class="not-found">
<h1>Not found <span lang="zh-Hans">· 未找到</span></h1>
<p class="error">{message}</p>
<p lang="zh-Hans">没有这个页面或文件。</p>
<p><a href="/">Search the library</a> · <a href="/" lang="zh-Hans">检索文库</a></p>
</main>
</body>
</html>
"""
_RE_NUMBER = re.compile(r"[0-9]+")


def not_found_page(message: str) -> HTMLResponse:
    """The HTML 404 page, with ``message`` (escaped)."""
    return HTMLResponse(
        NOT_FOUND_PAGE.replace("{message}", html.escape(message)),
        status_code=404,
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_CSP},
    )


def wants_html(request: Request) -> bool:
    """A browser asking for a page: a GET or HEAD that accepts ``text/html``, outside ``/api/`` and
    ``/static/``."""
    top = request.url.path.split("/")[1]
    return (
        request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and top not in ("api", "static")
    )


def _send_page(page: Path, csp: bool = False) -> Response:
    if not page.is_file():
        return HTMLResponse(PLACEHOLDER)
    headers = {"Cache-Control": "no-cache"} | ({"Content-Security-Policy": PAGE_CSP} if csp else {})
    return FileResponse(page, media_type="text/html; charset=utf-8", headers=headers)


class KnownDocument(Route):
    """``/doc/{symbol}`` that matches only a symbol the library holds (see the module)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            state = scope["app"].state.pipeline
            if state.retriever.library.resolve_symbol(child["path_params"]["symbol"]) is None:
                return Match.NONE, {}
        return match, child


def install_not_found(app: FastAPI) -> None:
    """Answer a browser's request for a page that does not exist with the HTML 404 page, anything else with
    the JSON error (the handler :func:`pipeline.server.errors.install_error_handlers` installed)."""
    json_handler = app.exception_handlers.get(StarletteHTTPException)

    async def not_found(request: Request, exc: Exception) -> Response:
        detail = str(exc.detail) if isinstance(exc, StarletteHTTPException) else ""
        if wants_html(request):
            return not_found_page(
                detail if detail and detail != "Not Found" else f"not found: {request.url.path}"
            )
        if json_handler is not None:
            response: Response = await json_handler(request, exc)
            return response
        return error_response(404, detail or f"not found: {request.url.path}")

    app.add_exception_handler(404, not_found)


def install_doc_page(app: FastAPI, web_dir: Path) -> None:
    """``/doc/{symbol}``: the page of a whole report, and ``/api/doc/{symbol}``, its JSON."""
    app.include_router(report_router())

    async def doc_page(request: Request) -> Response:
        state = request.app.state.pipeline
        if not state.options.token:
            try:
                find_version(
                    state.retriever.library,
                    request.path_params["symbol"],
                    request.query_params.get("lang") or None,
                )
            except ApiError as e:
                raise StarletteHTTPException(404, e.message) from None
        return _send_page(web_dir / "doc.html", csp=True)

    methods = ["GET", "HEAD"]
    # first of all routes: before the originals' /doc/{symbol}/{lang}.{ext}
    app.router.routes.insert(0, KnownDocument("/doc/{symbol:path}", doc_page, methods=methods))
    # after them: a symbol the library does not hold
    app.add_route("/doc/{symbol:path}", doc_page, methods=methods, include_in_schema=False)


def install_pages(app: FastAPI, web_dir: Path = WEB_DIR) -> None:
    """Add the page routes, the doc page (and its API route), the 404 page and ``/static`` to ``app`` (after
    :func:`pipeline.server.docs.install_docs`, whose ``/static/swagger/…`` route must match first, and after
    the originals' router)."""
    web_dir = Path(web_dir)

    async def index() -> Response:
        return _send_page(web_dir / "index.html")

    async def paragraph_page(n: str) -> Response:
        if not _RE_NUMBER.fullmatch(n):
            raise StarletteHTTPException(404, f"not found: /p/{n} (a paragraph's page is /p/NUMBER)")
        return await index()

    for path in ("/", "/cite", "/batch"):
        app.add_api_route(path, index, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route("/p/{n}", paragraph_page, methods=["GET", "HEAD"], include_in_schema=False)
    install_doc_page(app, web_dir)
    install_not_found(app)

    if web_dir.is_dir():
        app.mount("/static", StaticFiles(directory=web_dir, follow_symlink=False), name="static")
    else:

        async def no_static(path: str) -> Response:
            raise ApiError(404, f"not found: /static/{path} (the web page is not installed)")

        app.add_api_route("/static/{path:path}", no_static, methods=["GET", "HEAD"], include_in_schema=False)
