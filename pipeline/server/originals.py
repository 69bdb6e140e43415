"""The files reports were given as: ``GET /doc/{symbol}/{lang}.pdf`` (``.docx``, ``.doc`` for Word).

A report added as PDF or Word keeps that file under ``corpus/originals/`` (the catalog's ``original``, with
its ``original_sha256``); the library's text and every paragraph's ``page`` come from it, so a result can
link to its page: ``/doc/CTOC/COP/2012/7/en.pdf#page=4``.

* The symbol is the path up to the last ``/`` (its slashes are its own; ``%2F`` works too), matched as the
  ``doc`` filter matches it (case, width and spaces ignored); the last segment is ``LANG.EXT``.
* The file's path comes from the catalog as loaded at start only, never from the URL; it must lie inside
  ``corpus/originals/`` once symbolic links are resolved.
* The bytes sent are the bytes hashed: a file that no longer has the hash it was added with is a 409 and a
  missing one a 404, never another file.
* An unknown symbol or language, a version added as text or given in another format: 404.
* Behind the same token as ``/api`` (a page with a token opens the file from a fetch that sends it).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

import pipeline.server.models as models
from pipeline.server.api import State, require_token
from pipeline.server.errors import ApiError
from pipeline.server.state import Original, ServerState

__all__ = ["MEDIA_TYPES", "original_url", "originals_router", "read_original"]

#: What each kind of original is sent as, and whether a browser shows it (inline) or saves it.
MEDIA_TYPES = {
    "pdf": ("application/pdf", "inline"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "attachment"),
    "doc": ("application/msword", "attachment"),
}
LANGS = ("zh", "en", "fr", "es", "ru", "ar")
#: The catalog's name of an original: one visible file directly inside ``originals/``.
_RE_NAME = re.compile(r"^originals/(?!\.)[^/\\\x00-\x1f\x7f]+$")
_RE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

ERRORS = {
    401: {"model": models.Error, "description": "the server has a token and the request did not send it"},
    404: {
        "model": models.Error,
        "description": "no such document version, none given as this format, or its file is missing",
    },
    409: {"model": models.Error, "description": "the file has changed since the report was added"},
}


def original_url(symbol: str, lang: str, fmt: str) -> str:
    """The path of a version's original: ``/doc/CTOC/COP/2012/7/en.pdf`` (each segment percent-encoded)."""
    return "/doc/" + "/".join(quote(seg, safe="") for seg in symbol.split("/")) + f"/{lang}.{fmt}"


def download_name(o: Original) -> str:
    """A file name for the download that needs no quoting: ``CTOC-COP-2012-7.en.pdf``."""
    stem = _RE_UNSAFE.sub("-", o.symbol).strip("-.") or "document"
    return f"{stem}.{o.lang}.{o.format}"


def read_original(corpus_dir: Path, o: Original) -> bytes:
    """The original's bytes, verified against the hash it was added with.

    Raises:
        ApiError: 404 when the catalog's name is not a file of ``corpus/originals/`` or the file is missing
            or unreadable; 409 when its bytes are not the ones added.
    """
    where = f"corpus/{o.name}"
    label = f"{o.symbol} ({o.lang})"
    if not _RE_NAME.match(o.name) or not o.sha256:
        raise ApiError(404, f"{label}: the catalog's original {o.name!r} is not a file of corpus/originals/")
    folder = corpus_dir / "originals"
    try:
        path = (corpus_dir / o.name).resolve(strict=True)
        if not path.is_relative_to(folder.resolve(strict=True)) or not path.is_file():
            raise ApiError(404, f"{label}: {where} is not a file inside corpus/originals/")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ApiError(
            404, f"{label}: its original {where} is missing; add the report again with `pipeline add`"
        ) from None
    except OSError as e:
        raise ApiError(404, f"{label}: cannot read its original {where} ({e.strerror or e})") from None
    got = hashlib.sha256(data).hexdigest()
    if got != o.sha256:
        raise ApiError(
            409,
            f"{label}: its original {where} has changed since the report was added (sha256 {got[:12]}…, "
            f"added with {o.sha256[:12]}…); put the original back, or add the report again with "
            "`pipeline add`",
        )
    return data


def find_original(state: ServerState, symbol: str, lang: str, ext: str) -> Original:
    """The original a request names.

    Raises:
        ApiError: 404 for an unknown symbol, language or format, or a version that has no such original.
    """
    library = state.retriever.library
    found = library.resolve_symbol(symbol) if symbol.strip() else None
    if found is None:
        raise ApiError(404, f"no document {symbol!r} in the library ({library.describe()})")
    if lang not in LANGS or ext not in MEDIA_TYPES:
        raise ApiError(
            404, f"not found: a document's original is /doc/{found}/LANG.pdf (or .docx, .doc for Word)"
        )
    if not any(d.lang == lang for d in library.versions(found)):
        raise ApiError(404, f"no document {found} ({lang}) in the library ({library.describe()})")
    o = state.originals.get((found, lang))
    if o is None:
        raise ApiError(404, f"{found} ({lang}) was added as text: there is no original file to send")
    if o.format != ext:
        raise ApiError(
            404, f"{found} ({lang}) was given as {o.format}, not {ext}: {original_url(found, lang, o.format)}"
        )
    return o


def originals_router() -> APIRouter:
    """The ``/doc`` route (behind the server's token, like ``/api``)."""
    router = APIRouter(dependencies=[Depends(require_token)], responses=ERRORS)

    @router.get(
        "/doc/{symbol:path}/{lang}.{ext}",
        tags=["report"],
        summary="The PDF or Word file a document version was added as",
        response_class=Response,
        responses={
            200: {
                "content": {m: {} for m, _ in MEDIA_TYPES.values()},
                "description": "the file, exactly as added",
            }
        },
    )
    async def original(
        state: State,
        symbol: Annotated[str, PathParam(description="the document's symbol, e.g. CTOC/COP/2012/7")],
        lang: Annotated[str, PathParam(description="the version's language: zh, en, fr, es, ru or ar")],
        ext: Annotated[str, PathParam(description="pdf, or docx / doc for a report given as Word")],
    ) -> Response:
        """The file a report was given as (`pipeline add report.pdf`), checked against the hash it was added
        with: a PDF opens in the browser (`#page=N` goes to a paragraph's page), a Word file downloads."""
        o = find_original(state, symbol, lang, ext)
        data = await run_in_threadpool(read_original, state.retriever.cfg.corpus_dir, o)
        media_type, disposition = MEDIA_TYPES[o.format]
        return Response(
            data,
            media_type=media_type,
            headers={
                "Content-Disposition": f'{disposition}; filename="{download_name(o)}"',
                "Cache-Control": "no-cache",
                "ETag": f'"{o.sha256}"',
            },
        )

    return router
