"""What the server holds while it runs: the retriever, loaded once, and what is derived from it once.

:func:`load_retriever` loads every component up front through the public API, so a missing, stale or
damaged index refuses to start the server with the command line's message, instead of failing the first
request. :class:`ServerState` keeps the retriever, the :class:`~pipeline.server.coalesce.Coalescer`, each
paragraph's JSON record (the library does not change while the server runs), the library's listing and the
health snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio

from pipeline import PipelineError, __version__, document_manifests, index_manifests, model_id
from pipeline.server.coalesce import Coalescer
from pipeline.server.errors import json_bytes
from pipeline.server.options import ServerOptions

if TYPE_CHECKING:
    from pipeline import Config, Corpus, Library, Retriever


def load_retriever(cfg: Config, log: Callable[[str], None] | None = None) -> Retriever:
    """A retriever with everything loaded and verified: the library of reports, their citations, the BM25
    index, the dense index, the query encoder (and the model it needs) and the translator.

    Raises:
        PipelineError: a component is missing, stale or damaged (nothing is built here: run
            ``pipeline build``, or ``pipeline serve --build``), or a setting is wrong.
    """
    from pipeline import Retriever

    r = Retriever.from_config(cfg)
    r.library  # noqa: B018 - each access loads and verifies one component
    r.citations  # noqa: B018
    r.lexical  # noqa: B018
    r.dense  # noqa: B018
    r.encoder  # noqa: B018
    r.analyzer.translator  # noqa: B018
    return r


def document_rows(library: Library) -> list[dict[str, Any]]:
    """The library's listing (``/api/documents``): the rows of ``pipeline documents --json`` without the file,
    hash and ``current``, plus each numbering part's first and last paragraph number. ``format`` is left out
    for a report given as text (like every optional key); a report given as PDF or Word has its ``format``,
    ``original`` and ``original_sha256`` (served at ``/doc/SYMBOL/LANG.pdf``:
    :mod:`pipeline.server.originals`)."""
    return [
        {
            k: v
            for k, v in row.items()
            if k not in ("file", "sha256", "current") and not (k == "format" and not row.get("original"))
        }
        for row in library.listing()
    ]


@dataclass(frozen=True)
class Original:
    """The file a document version was given as (PDF or Word), as the catalog names it.

    Attributes:
        symbol: the document's symbol, as the library writes it.
        lang: the version's language.
        format: "pdf", "docx" or "doc" (the file's extension).
        name: its path inside ``corpus/`` ("originals/NAME.LANG.pdf"), from the catalog only.
        sha256: the hash it was added with; a file that no longer has it is never served.
    """

    symbol: str
    lang: str
    format: str
    name: str
    sha256: str


def original_files(library: Library) -> dict[tuple[str, str], Original]:
    """Each document version given as PDF or Word, by ``(symbol, lang)``."""
    return {
        (row["symbol"], row["lang"]): Original(
            row["symbol"], row["lang"], str(row.get("format") or ""), row["original"], row["original_sha256"]
        )
        for row in library.listing()
        if row.get("original")
    }


#: A paragraph's place in the library: (symbol, lang, part, number).
Place = tuple[str, str, str, int]


@dataclass
class ServerState:
    """The server's shared state (``app.state.pipeline``).

    Attributes:
        retriever: answers everything.
        options: limits and listening options.
        coalescer: answers concurrent questions together.
        records: each paragraph's record as JSON bytes, by its place ``(symbol, lang, part, number)``, in
            library order.
        all_paragraphs: every record, as one JSON array.
        documents: the ``/api/documents`` body.
        snapshot: the parts of ``/api/health`` fixed at start.
        batch_limiter: batch chunks are answered one at a time, so a large batch shares the CPU with the
            questions of interactive users instead of crowding them out.
        originals: the versions given as PDF or Word, by ``(symbol, lang)`` (``/doc/SYMBOL/LANG.pdf``).
    """

    retriever: Retriever
    options: ServerOptions
    coalescer: Coalescer
    records: dict[Place, bytes]
    all_paragraphs: bytes
    documents: bytes
    snapshot: dict[str, Any]
    started: float = field(default_factory=time.time)
    started_monotonic: float = field(default_factory=time.monotonic)
    batch_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))
    originals: dict[tuple[str, str], Original] = field(default_factory=dict)

    @classmethod
    def create(cls, retriever: Retriever, options: ServerOptions) -> ServerState:
        """Derive the state from a retriever (its library and citations are loaded here)."""
        records = retriever.paragraph_records()
        coalescer = Coalescer(
            retriever.search_many,
            window=options.coalesce_ms / 1000,
            max_batch=options.coalesce_max,
            workers=options.coalesce_workers,
        )
        return cls(
            retriever=retriever,
            options=options,
            coalescer=coalescer,
            records={
                (rec["document"], rec["lang"], rec.get("part", ""), int(rec["number"])): json_bytes(rec)
                for rec in records
            },
            all_paragraphs=json_bytes(records),
            documents=json_bytes({"documents": document_rows(retriever.library)}),
            snapshot=_snapshot(retriever, options),
            originals=original_files(retriever.library),
        )

    def paragraph_list(self, documents: list[Corpus] | None = None, part: str | None = None) -> bytes:
        """The JSON array of the records of ``documents`` (all when None), only
        those of ``part`` when given."""
        if documents is None and part is None:
            return self.all_paragraphs
        keep = None if documents is None else {(d.symbol, d.lang) for d in documents}
        chosen = [
            body
            for (symbol, lang, p, _), body in self.records.items()
            if (keep is None or (symbol, lang) in keep) and (part is None or p == part)
        ]
        return b"[" + b",".join(chosen) + b"]"

    def paragraph(self, documents: list[Corpus], number: int, part: str = "") -> list[bytes]:
        """The records of paragraph ``number`` (of ``part``) in each of ``documents`` that has it."""
        out = []
        for d in documents:
            body = self.records.get((d.symbol, d.lang, part, number))
            if body is not None:
                out.append(body)
        return out

    def health(self) -> dict[str, Any]:
        """The ``/api/health`` record."""
        s = self.coalescer.stats
        return {
            "status": "stopping" if self.coalescer.closed else "ok",
            "version": __version__,
            "uptime_s": round(time.monotonic() - self.started_monotonic, 3),
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(timespec="seconds"),
            **self.snapshot,
            "coalescer": {"calls": s.calls, "questions": s.questions, "largest": s.largest},
        }

    def close(self) -> None:
        """Stop the coalescer (questions still queued are refused)."""
        self.coalescer.close()


def _snapshot(r: Retriever, options: ServerOptions) -> dict[str, Any]:
    library = r.library
    try:
        encoder = str(getattr(r.encoder, "kind", type(r.encoder).__name__))
    except PipelineError as e:  # a retriever that loads lazily (tests): say why instead of failing
        encoder = f"unavailable: {e}"
    return {
        "corpus": {
            "path": str(r.cfg.corpus_dir),
            "sha256": library.sha256,
            "paragraphs": len(library.paragraphs),
            "documents": len(library.documents),
            "symbol": library.symbols[0] if len(library.symbols) == 1 else None,
        },
        "documents": [
            {
                "symbol": d.symbol,
                "lang": d.lang,
                "path": str(d.path),
                "sha256": d.sha256,
                "paragraphs": len(d.paragraphs),
                "indexes": document_manifests(r.cfg, library.key(d)),
            }
            for d in library.documents
        ],
        "indexes": index_manifests(r.cfg),
        "model": model_id(r.cfg),
        "encoder": encoder,
        "limits": {
            "max_body_bytes": options.max_body_bytes,
            "max_batch_lines": options.max_batch_lines,
            "max_k": options.max_k,
            "max_query_chars": options.max_query_chars,
            "truncate_query_chars": r.cfg.max_query_chars,
            "max_gloss_chars": options.max_gloss_chars,
            "coalesce_ms": options.coalesce_ms,
            "coalesce_max": options.coalesce_max,
            "coalesce_workers": options.coalesce_workers,
            "blas_threads": options.blas_threads,
        },
    }
