"""The FastAPI application: the API, the batch stream, the pages, and one error shape for all of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI

from pipeline import __version__
from pipeline.server.api import api_router
from pipeline.server.batch import batch_router
from pipeline.server.docs import install_docs
from pipeline.server.errors import HostCheck, RequestCheck, install_error_handlers
from pipeline.server.options import ServerOptions
from pipeline.server.originals import originals_router
from pipeline.server.pages import WEB_DIR, install_pages
from pipeline.server.state import ServerState

if TYPE_CHECKING:
    from pipeline import Retriever

DESCRIPTION = """\
Find the numbered paragraphs of a library of UN reports (Chinese and English versions, aligned by paragraph
number) that answer a question in Chinese or English; look up paragraphs and citations. Every result names its
document and cites it UN-style ("CTOC/COP/2012/7, para. 23", "CTOC/COP/2012/7，第23段"); `doc`, `lang` and
`parallel` filter as `--doc`, `--lang` and `--parallel` do, and `/api/documents` lists the library. Every JSON
shape is the one `pipeline … --json` prints. Every failure is `{"error": "…", "status": N}`.
"""


def create_app(
    retriever: Retriever, options: ServerOptions | None = None, *, web_dir: Path | None = None
) -> FastAPI:
    """The server's ASGI application over ``retriever``.

    Args:
        retriever: answers every request; load it with :func:`pipeline.server.state.load_retriever` so that
            index problems surface before the first request.
        options: limits and token (defaults: :class:`ServerOptions`).
        web_dir: the folder of the web page (default ``pipeline/web``).

    Returns:
        The app; its lifespan stops the request coalescer at shutdown.
    """
    options = (options or ServerOptions()).validate()
    state = ServerState.create(retriever, options)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="pipeline",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # the default pages load their scripts from a CDN; /docs is served offline (docs.py)
        redoc_url=None,
        lifespan=lifespan,
        # no OpenTelemetry: nothing is exported, and checking for a provider read the environment on
        # every request (4 % of the time the server held the GIL under a hybrid load)
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        openapi_tags=[
            {"name": "answers", "description": "questions, references, batches"},
            {"name": "report", "description": "the library: its documents, their paragraphs and words"},
            {"name": "server", "description": "health"},
        ],
    )
    app.state.pipeline = state
    app.add_middleware(RequestCheck)  # inside HostCheck: a foreign Host is refused first
    if options.allowed_hosts:
        app.add_middleware(HostCheck, allowed=options.allowed_hosts)
    install_error_handlers(app)  # its CatchAll goes outside HostCheck
    app.include_router(api_router(options))
    app.include_router(batch_router(options))
    app.include_router(originals_router())
    install_docs(app)
    install_pages(app, web_dir if web_dir is not None else WEB_DIR)
    return app
