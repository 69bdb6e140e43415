"""The server's settings: where it listens, its token, and the limits on what one request may ask for.

Everything has a default fit for one user on one machine; ``pipeline serve --help`` lists the options that
change them. Retrieval settings (``top_k``, ``max_query_chars`` …) stay in :class:`pipeline.config.Config`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pipeline import MAX_K, UserError

#: Environment variable holding the token when ``--token`` is not given.
TOKEN_ENV = "PIPELINE_TOKEN"


@dataclass(frozen=True)
class ServerOptions:
    """How the server listens and what it accepts.

    Attributes:
        host: address to listen on; loopback by default. Any other address needs a token.
        port: TCP port; 0 picks a free one (the URL printed at start names it).
        token: when set, every ``/api`` call (and ``/doc``, the reports' original files) must send
            ``Authorization: Bearer TOKEN`` (a token in the URL is refused: it would be written to access
            logs).
        max_body_bytes: largest request body (a batch); larger is refused with 413.
        max_batch_lines: most queries in one batch; more is refused with 413.
        max_k: largest ``k`` a request may ask for (the smallest is 1).
        max_query_chars: longest ``q`` accepted at all (413 beyond). Queries longer than the retrieval
            setting ``max_query_chars`` (1,000 by default) but within this are truncated with a warning, as
            the command line does.
        max_gloss_chars: longest text ``/api/gloss`` cuts into words (413 beyond).
        batch_chunk: batch queries answered at a time (and streamed back together).
        coalesce_ms: how long concurrent questions are collected before they are answered together
            (see :mod:`pipeline.server.coalesce`).
        coalesce_max: most questions answered together.
        coalesce_workers: threads answering groups of questions side by side (one per core).
        access_log: log one line per request (off by default: it costs throughput).
        allowed_hosts: when not empty, the only host names a request's ``Host`` header may carry (others are
            refused with 400): :func:`pipeline.server.run.serve` sets the loopback names when the server
            listens on a loopback address without a token, so a web page cannot reach it through DNS
            rebinding.
        blas_threads: threads each coalescer worker computes a forward pass with (ONNX Runtime intra-op
            threads, or BLAS threads for the NumPy pass; the ``query_threads`` setting when that is set). One
            by default: the coalescer's workers then run side by side, one core each, instead of threads
            spinning against them and against the requests' Python work (on 2 cores, measured 2-3x more
            questions per second under load). Applied by :func:`pipeline.server.run.serve`.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_body_bytes: int = 8 << 20
    max_batch_lines: int = 10_000
    max_k: int = 100
    max_query_chars: int = 100_000
    max_gloss_chars: int = 5_000
    batch_chunk: int = 32
    coalesce_ms: float = 4.0
    coalesce_max: int = 16
    coalesce_workers: int = 2
    access_log: bool = False
    blas_threads: int = 1
    allowed_hosts: tuple[str, ...] = ()

    def validate(self) -> ServerOptions:
        """Check every value; returns ``self``.

        Raises:
            UserError: naming the option and what it may be.
        """
        if not 0 <= self.port <= 65535:
            raise UserError(f"--port {self.port}: use a port from 0 to 65535 (0 picks a free one)")
        if self.token is not None and (not self.token or not all(0x21 <= ord(c) <= 0x7E for c in self.token)):
            raise UserError(
                "the token must be one or more visible ASCII characters (no spaces): "
                "it travels in an HTTP header"
            )
        for name in (
            "max_body_bytes",
            "max_batch_lines",
            "max_k",
            "max_query_chars",
            "max_gloss_chars",
            "batch_chunk",
            "coalesce_max",
            "coalesce_workers",
            "blas_threads",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"--{name.replace('_', '-')} {value!r}: must be a whole number of at least 1")
        if self.max_k > MAX_K:
            raise UserError(f"--max-k {self.max_k}: at most {MAX_K}")
        if not 0 <= self.coalesce_ms <= 1000:
            raise UserError(f"--coalesce-ms {self.coalesce_ms}: must be from 0 to 1000 milliseconds")
        return self

    def check_exposure(self) -> None:
        """Refuse to listen beyond this machine without a token.

        Raises:
            UserError: ``host`` is not a loopback address and no token is set.
        """
        if not is_loopback(self.host) and not self.token:
            raise UserError(
                f"--host {self.host} is reachable from other machines: give a token with --token TOKEN or "
                f"the {TOKEN_ENV} environment variable (clients then send 'Authorization: Bearer TOKEN'), "
                "or listen on 127.0.0.1"
            )


#: The names a loopback server answers to when it checks the Host header.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1); False for anything else, including
    names that could resolve anywhere and the wildcard addresses ``0.0.0.0`` and ``::``."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def url_host(host: str) -> str:
    """``host`` as it stands in a URL (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
