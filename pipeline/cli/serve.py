"""The ``serve`` command: the web page and the JSON API."""

from __future__ import annotations

import argparse
import os

from pipeline.config import Config

SERVE_DESCRIPTION = (
    "Serve the web page and the JSON API (FastAPI on uvicorn, one worker): /api/search, /api/cite, "
    "/api/paragraphs, /api/documents, /api/gloss, /api/batch, /api/health (search, cite and batch take doc=, "
    "lang= and parallel= as the commands take --doc, --lang and --parallel); API documentation at /docs "
    "(offline). The library is loaded once: restart the server after `pipeline add` or `remove`. Everything "
    "is loaded and verified at start: a missing, stale or damaged index is refused as the other commands "
    "refuse it (exit code 3; --build builds first). Listens on 127.0.0.1 by default; any other --host needs "
    "a token (--token, or the environment variable PIPELINE_TOKEN, which keeps it out of `ps`): every /api "
    "call must then send the header 'Authorization: Bearer TOKEN' (a token in the URL is refused: URLs are "
    "logged). Without a token, only requests "
    "addressed to 127.0.0.1, localhost or ::1 are answered (no other web page can reach it). SIGTERM stops "
    "it cleanly."
)


def cmd_serve(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline serve``: run the server until it is stopped; returns its exit code."""
    from pipeline.server import TOKEN_ENV, ServerOptions, serve

    options = ServerOptions(
        host=args.host,
        port=args.port,
        token=args.token if args.token is not None else (os.environ.get(TOKEN_ENV) or None),
        max_body_bytes=args.max_body,
        max_batch_lines=args.max_batch_lines,
        max_k=args.max_k,
        max_query_chars=args.max_query_chars,
        coalesce_ms=args.coalesce_ms,
        coalesce_max=args.coalesce_max,
        coalesce_workers=args.coalesce_workers,
        access_log=args.access_log,
        blas_threads=args.blas_threads,
    )
    return serve(cfg, options, build=args.build)


def _serve_count(text: str) -> int:
    """A whole number of at least 1 (``serve``'s limits)."""
    try:
        n = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``pipeline`` parser's subcommands."""
    p = sub.add_parser("serve", help="serve the web page and the JSON API", description=SERVE_DESCRIPTION)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--build", action="store_true", help="run `pipeline build` first")
    p.add_argument("--token", help="require this bearer token on every /api call (default: $PIPELINE_TOKEN)")
    p.add_argument(
        "--max-body",
        type=_serve_count,
        default=8 << 20,
        metavar="BYTES",
        help="largest request body (default 8 MiB)",
    )
    p.add_argument(
        "--max-batch-lines",
        type=_serve_count,
        default=10_000,
        metavar="N",
        help="most queries in one batch (default 10,000)",
    )
    p.add_argument(
        "--max-k",
        type=_serve_count,
        default=100,
        metavar="N",
        help="largest k a request may ask for, up to 1000 (default 100)",
    )
    p.add_argument(
        "--max-query-chars",
        type=_serve_count,
        default=100_000,
        metavar="N",
        help="longest query accepted at all (default 100,000; queries over the max_query_chars "
        "setting, 1,000, are truncated with a warning)",
    )
    p.add_argument(
        "--coalesce-ms",
        type=float,
        default=4.0,
        metavar="MS",
        help="how long concurrent questions are collected to be embedded together (default 4)",
    )
    p.add_argument(
        "--coalesce-max",
        type=_serve_count,
        default=16,
        metavar="N",
        help="most questions embedded together (default 16)",
    )
    p.add_argument(
        "--coalesce-workers",
        type=_serve_count,
        default=2,
        metavar="N",
        help="threads embedding groups of questions side by side (default 2, one per core)",
    )
    p.add_argument(
        "--blas-threads",
        type=_serve_count,
        default=1,
        metavar="N",
        help="threads per coalescer worker's forward pass (ONNX Runtime or BLAS; default 1: each worker "
        "keeps to one core)",
    )
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=cmd_serve)
