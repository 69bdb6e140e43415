"""``pipeline serve``: check the options, build when asked, load everything, listen, print the URL.

The order matters: a host reachable from other machines without a token is refused before anything loads
(exit code 2); ``--build`` runs :func:`pipeline.build.build_all`; then every component is loaded and
verified (:func:`~pipeline.server.state.load_retriever` — a missing, stale or damaged index is the command
line's ``pipeline: error: …`` with exit code 3); then the socket is bound (a port in use is exit code 2) and
uvicorn serves the app with one worker. The URL to open is printed once the server accepts connections
(with ``#token=TOKEN`` when the server has a token: :func:`start_message`). SIGTERM
stops it cleanly (exit code 0), Ctrl-C too (exit code 130, as every interrupted command).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pipeline import EXIT_OK, UserError
from pipeline.server.options import LOOPBACK_NAMES, ServerOptions, is_loopback, url_host

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from pipeline import Config

#: Longest request line and header block uvicorn reads (h11's default is 16 KiB): a query just over the
#: server's ``max_query_chars`` (100,000) in percent-encoded Chinese characters, 9 bytes each, must reach the
#: app to be refused with a 413 JSON. Beyond this the HTTP layer answers a 431 JSON error itself
#: (:class:`~pipeline.server.protocol.JsonErrorH11Protocol`).
MAX_HEAD_BYTES = 2 << 20


def effective_options(options: ServerOptions) -> ServerOptions:
    """``options`` checked, with the Host check on for a loopback server without a token.

    Raises:
        UserError: a bad value, or a host reachable from other machines without a token.
    """
    options.validate()
    options.check_exposure()
    if is_loopback(options.host) and not options.token and not options.allowed_hosts:
        return dataclasses.replace(options, allowed_hosts=(*LOOPBACK_NAMES, options.host.strip("[]")))
    return options


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``.

    Raises:
        UserError: the address cannot be used (in use, not this machine's, not an address).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UserError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise UserError(
            f"cannot listen on {url_host(host)}:{port}: {e.strerror or e} (choose another --port)"
        ) from None
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: FastAPI, options: ServerOptions) -> uvicorn.Config:
    """uvicorn's settings for the app: one worker, h11 (answering what it cannot parse with the JSON error:
    :mod:`pipeline.server.protocol`), no access log unless asked for, headers up to :data:`MAX_HEAD_BYTES`,
    at most 10 s to finish open requests at shutdown."""
    import uvicorn

    from pipeline.server.protocol import JsonErrorH11Protocol

    return uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        workers=1,
        http=JsonErrorH11Protocol,
        loop="asyncio",
        lifespan="on",
        access_log=options.access_log,
        log_level="info" if options.access_log else "warning",
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_graceful_shutdown=10,
        server_header=False,
        proxy_headers=False,
    )


def server_url(sock: socket.socket) -> str:
    """``http://HOST:PORT/`` of a bound socket (the real port when 0 was asked for)."""
    host, port = sock.getsockname()[:2]
    return f"http://{url_host(host)}:{port}/"


def open_url(url: str, token: str | None) -> str:
    """The page's URL to open in a browser: ``url``, with ``#token=TOKEN`` when the server has a token (the
    page takes it from the fragment, which the browser never sends to the server, keeps it for the tab and
    removes it from the address bar). A server listening on every address (0.0.0.0, ::) is opened on this
    machine through the loopback address."""
    for wildcard, loopback in (("//0.0.0.0:", "//127.0.0.1:"), ("//[::]:", "//[::1]:")):
        url = url.replace(wildcard, loopback, 1)
    return f"{url}#token={quote(token, safe='')}" if token else url


def start_message(url: str, token: str | None) -> str:
    """The line printed once the server accepts connections: where it listens and the URL to open."""
    return (
        f"pipeline: serving {url} (open {open_url(url, token)} in a browser; "
        f"API docs: {open_url(url, None)}docs); Ctrl-C to stop"
    )


def serve(
    cfg: Config, options: ServerOptions, *, build: bool = False, out: Callable[[str], None] | None = None
) -> int:
    """Run the server until it is stopped; returns the exit code.

    Args:
        cfg: settings (the home, the model, retrieval settings).
        options: where to listen, the token and the limits.
        build: run ``pipeline build`` first.
        out: where progress lines and the URL go (stdout, flushed).

    Raises:
        UserError: bad options, or a host reachable from other machines without a token (exit code 2).
        PipelineError: an index or model that must be (re)built (exit code 3).
    """
    from pipeline.server.app import create_app
    from pipeline.server.state import load_retriever

    say = out or (lambda line: print(line, flush=True))

    def err(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    options = effective_options(options)
    if build:
        from pipeline import build_all

        for line in build_all(cfg, log=err):
            err(line)
    # the coalescer's workers answer questions side by side, each computing with blas_threads threads
    # (ONNX Runtime intra-op threads, or BLAS threads for the NumPy pass): workers × threads ≤ cores
    cfg = dataclasses.replace(cfg, query_workers=1, query_threads=cfg.query_threads or options.blas_threads)
    limit_blas_threads(options.blas_threads, log=err)
    retriever = load_retriever(cfg, log=err)
    app = create_app(retriever, options)
    _log_to_stderr()
    sock = bind_socket(options.host, options.port)
    import uvicorn

    server = uvicorn.Server(uvicorn_config(app, options))
    url = server_url(sock)
    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum: int, frame: Any) -> None:
        # before uvicorn takes over SIGTERM: stop as soon as it starts; after its clean shutdown it raises
        # SIGTERM again, which lands here too: then the exit code is 0
        server.should_exit = True

    signal.signal(signal.SIGTERM, stop)
    try:
        asyncio.run(_run(server, sock, lambda: say(start_message(url, options.token))))
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    return EXIT_OK


def limit_blas_threads(n: int, log: Callable[[str], None] | None = None) -> bool:
    """Let the BLAS library under NumPy use at most ``n`` threads (through threadpoolctl, which
    sentence-transformers brings along); True when applied. Without threadpoolctl nothing changes (the
    ``OPENBLAS_NUM_THREADS`` environment variable, set before the server starts, does the same)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        if log:
            log(
                "pipeline: threadpoolctl is not installed; BLAS threads left as they are "
                f"(set OPENBLAS_NUM_THREADS={n})"
            )
        return False
    threadpool_limits(limits=n, user_api="blas")
    return True


async def _run(server: uvicorn.Server, sock: socket.socket, ready: Callable[[], None]) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    if server.started:
        ready()
    await task


def _log_to_stderr() -> None:
    """Send the server's log (bugs with their tracebacks) to stderr."""
    logger = logging.getLogger("pipeline.server")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("pipeline: %(levelname)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
