"""The interactive API documentation at ``/docs``, served entirely from this machine.

FastAPI's default ``/docs`` loads Swagger UI from a CDN; this one loads it from the ``swagger_ui_bundle``
package (``/static/swagger/…``: only the three files the page needs — the bundle's other files name
outside hosts), with a Content-Security-Policy that keeps the browser from fetching anything elsewhere.

The bundled Swagger UI (4.x) reads OpenAPI 3.0 only, while FastAPI writes 3.1. ``/openapi.json`` stays the
3.1 schema; the docs page reads ``/openapi-3.0.json``, the same schema written the 3.0 way
(:func:`openapi_30`: ``anyOf [X, null]`` → ``X`` + ``nullable``, ``const`` → ``enum``, list ``examples`` →
``example``, numeric exclusive bounds → boolean ones).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import FileResponse, Response

from pipeline.server.errors import ApiError, json_response

#: The Swagger UI files the docs page loads.
SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:"
)
OPENAPI_30_URL = "/openapi-3.0.json"


def swagger_dir() -> Path:
    """The folder of the Swagger UI files shipped in the ``swagger_ui_bundle`` package."""
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


def tidy(node: Any) -> Any:
    """Drop keys FastAPI writes beside a ``$ref`` that contradict it (``"type": "string"`` for a streamed
    response's model)."""
    if isinstance(node, dict):
        out = {k: tidy(v) for k, v in node.items()}
        if "$ref" in out:
            out.pop("type", None)
        return out
    if isinstance(node, list):
        return [tidy(v) for v in node]
    return node


def openapi_30(node: Any) -> Any:
    """An OpenAPI 3.1 document (or part of one) written the OpenAPI 3.0 way (see the module)."""
    if isinstance(node, list):
        return [openapi_30(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi_30(v) for k, v in node.items()}
    if out.get("openapi", "").startswith("3.1"):
        out["openapi"] = "3.0.3"
    for key in ("anyOf", "oneOf"):
        alts = out.get(key)
        if isinstance(alts, list) and {"type": "null"} in alts:
            rest = [a for a in alts if a != {"type": "null"}]
            del out[key]
            out["nullable"] = True
            if len(rest) == 1 and "$ref" not in rest[0]:
                out = {**rest[0], **out}
            elif len(rest) == 1:
                out["allOf"] = rest
            elif rest:
                out[key] = rest
    if isinstance(out.get("type"), list):
        types = [t for t in out["type"] if t != "null"]
        if len(types) < len(out["type"]):
            out["nullable"] = True
        out["type"] = types[0] if len(types) == 1 else out["type"]
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if isinstance(out.get("examples"), list):
        examples = out.pop("examples")
        if examples:
            out["example"] = examples[0]
    for bound, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(bound)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[plain] = value
            out[bound] = True
    return out


def install_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/openapi-3.0.json`` and ``/static/swagger/…`` to ``app``; tidy its schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = tidy(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    async def schema_30() -> Response:
        return json_response(openapi_30(app.openapi()))

    async def swagger_file(name: str) -> Response:
        media = SWAGGER_FILES.get(name)
        if media is None:
            raise ApiError(404, f"not found: /static/swagger/{name}")
        return FileResponse(
            swagger_dir() / name, media_type=media, headers={"Cache-Control": "public, max-age=86400"}
        )

    async def docs(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root + OPENAPI_30_URL,
            title=f"{app.title} — API",
            swagger_js_url=f"{root}/static/swagger/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/static/swagger/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/swagger/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    app.add_api_route(OPENAPI_30_URL, schema_30, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/static/swagger/{name}", swagger_file, methods=["GET", "HEAD"], include_in_schema=False
    )
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
