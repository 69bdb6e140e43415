"""``pipeline serve``: the HTTP API and the web page, a thin shell over the public Python API.

One module per job:

* :mod:`~pipeline.server.options` — :class:`ServerOptions` (host, port, token, limits) and the loopback rule.
* :mod:`~pipeline.server.state` — :func:`load_retriever` (everything loaded and verified at start) and
  :class:`ServerState` (the retriever, the coalescer, the paragraphs' JSON, the library's listing, the health
  snapshot).
* :mod:`~pipeline.server.coalesce` — :class:`Coalescer`: concurrent questions (of the same documents and
  language) answered together.
* :mod:`~pipeline.server.api` — ``/api/search``, ``/api/cite``, ``/api/paragraphs``, ``/api/documents``,
  ``/api/gloss``, ``/api/health``, the library filters (``doc``, ``lang``, ``parallel``, ``part``) and the
  token check.
* :mod:`~pipeline.server.batch` — ``POST /api/batch``, streamed as NDJSON.
* :mod:`~pipeline.server.originals` — ``/doc/SYMBOL/LANG.pdf``: the PDF (or Word) file a report was added
  as, checked against its hash.
* :mod:`~pipeline.server.pages` — the web page and ``/static``.
* :mod:`~pipeline.server.docs` — the offline ``/docs`` page (Swagger UI from ``swagger_ui_bundle``).
* :mod:`~pipeline.server.errors` — the one error shape ``{"error", "status"}`` and its handlers.
* :mod:`~pipeline.server.models` — typed response shapes for the OpenAPI schema.
* :mod:`~pipeline.server.app` — :func:`create_app`; :mod:`~pipeline.server.run` — :func:`serve`.

Usage from Python::

    from pipeline import Config
    from pipeline.server import create_app, load_retriever

    app = create_app(load_retriever(Config()))   # an ASGI app for any ASGI server
"""

from __future__ import annotations

from pipeline.server.app import create_app
from pipeline.server.coalesce import Coalescer, CoalescerClosed
from pipeline.server.options import TOKEN_ENV, ServerOptions, is_loopback
from pipeline.server.run import serve
from pipeline.server.state import ServerState, load_retriever

__all__ = [
    "TOKEN_ENV",
    "Coalescer",
    "CoalescerClosed",
    "ServerOptions",
    "ServerState",
    "create_app",
    "is_loopback",
    "load_retriever",
    "serve",
]
