"""The interactive API documentation at ``/docs``, served entirely from this machine.

FastAPI's default ``/docs`` loads Swagger UI from a CDN; this one loads it from the ``swagger_ui_bundle``
package (``/static/swagger/…``: only the files the page needs — the bundle's other files name
outside hosts) and starts it from a served script (:data:`SWAGGER_INIT`): the page lives under the policy of
every response (:data:`pipeline.server.errors.CSP`: no inline script or style, nothing fetched elsewhere).

The bundled Swagger UI (4.x) reads OpenAPI 3.0 only, while FastAPI writes 3.1. ``/openapi.json`` stays the
3.1 schema; the docs page reads ``/openapi-3.0.json``, the same schema written the 3.0 way
(:func:`openapi_30`: ``anyOf [X, null]`` → ``X`` + ``nullable``, ``const`` → ``enum``, list ``examples`` →
``example``, numeric exclusive bounds → boolean ones).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import FileResponse, HTMLResponse, Response

from pipeline.server.errors import ApiError, json_response

#: The Swagger UI files the docs page loads.
SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
#: The script that starts Swagger UI (served as ``/static/swagger/swagger-init.js``, not inline: the page's
#: policy allows no inline script); it reads the schema's URL from the page.
SWAGGER_INIT = """\
"use strict";
(() => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
"""
SWAGGER_INIT_NAME = "swagger-init.js"
DOCS_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="referrer" content="no-referrer">
<link rel="stylesheet" href="{static}/swagger-ui.css">
<link rel="icon" href="{static}/favicon-32x32.png">
<title>{title}</title>
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="{static}/{init}"></script>
</body>
</html>
"""
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
        if name == SWAGGER_INIT_NAME:
            return Response(SWAGGER_INIT, media_type="text/javascript", headers={"Cache-Control": "no-cache"})
        media = SWAGGER_FILES.get(name)
        if media is None:
            raise ApiError(404, f"not found: /static/swagger/{name}")
        return FileResponse(
            swagger_dir() / name, media_type=media, headers={"Cache-Control": "public, max-age=86400"}
        )

    async def docs(request: Request) -> Response:
        root = request.scope.get("root_path", "").rstrip("/")
        page = DOCS_PAGE.format(
            static=html.escape(f"{root}/static/swagger"),
            title=html.escape(f"{app.title} — API"),
            openapi_url=html.escape(root + OPENAPI_30_URL),
            init=SWAGGER_INIT_NAME,
        )
        return HTMLResponse(page)  # its Content-Security-Policy is every response's (errors.CSP)

    app.add_api_route(OPENAPI_30_URL, schema_30, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/static/swagger/{name}", swagger_file, methods=["GET", "HEAD"], include_in_schema=False
    )
    app.add_api_route("/docs", docs, methods=["GET"], include_in_schema=False)
