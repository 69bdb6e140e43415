"""The web page and its static files, served from this machine.

* ``/``, ``/p/{n}``, ``/cite``, ``/batch`` → ``pipeline/web/index.html`` (the page routes on the client);
  a minimal placeholder while that file does not exist.
* ``/static/…`` → files in ``pipeline/web/`` (Starlette's :class:`~starlette.staticfiles.StaticFiles`,
  which refuses any path that resolves outside the folder, symlinks included).

The API documentation page is :mod:`pipeline.server.docs`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from pipeline.server.errors import ApiError

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
PLACEHOLDER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pipeline</title></head>
<body><h1>pipeline</h1>
<p>The web page is not installed (no <code>pipeline/web/index.html</code>). The API is under
<code>/api</code>: <a href="/docs">API documentation</a>, <a href="/api/health">health</a>.</p>
</body></html>
"""


def install_pages(app: FastAPI, web_dir: Path = WEB_DIR) -> None:
    """Add the page routes and ``/static`` to ``app`` (after :func:`pipeline.server.docs.install_docs`, whose
    ``/static/swagger/…`` route must match first)."""
    web_dir = Path(web_dir)

    async def index() -> Response:
        page = web_dir / "index.html"
        if page.is_file():
            return FileResponse(
                page, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
            )
        return HTMLResponse(PLACEHOLDER)

    for path in ("/", "/p/{n}", "/cite", "/batch"):
        app.add_api_route(path, index, methods=["GET", "HEAD"], include_in_schema=False)

    if web_dir.is_dir():
        app.mount("/static", StaticFiles(directory=web_dir, follow_symlink=False), name="static")
    else:

        async def no_static(path: str) -> Response:
            raise ApiError(404, f"not found: /static/{path} (the web page is not installed)")

        app.add_api_route("/static/{path:path}", no_static, methods=["GET", "HEAD"], include_in_schema=False)
