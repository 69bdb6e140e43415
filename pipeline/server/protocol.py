"""uvicorn's h11 protocol, except that a request the HTTP layer refuses gets the server's JSON error shape.

h11 refuses what it cannot parse before the app sees it: a TLS ClientHello on the plain port,
``Content-Length: -1``, two ``Host`` headers, a broken request line or header line, a head over
:data:`~pipeline.server.run.MAX_HEAD_BYTES`. uvicorn then answers a plain-text "Invalid HTTP request
received."; :class:`JsonErrorH11Protocol` answers ``{"error": "malformed HTTP request: …", "status": 400}``
(431 for the oversized head) as ``application/json`` with ``Connection: close``, and closes the connection.
Everything else is uvicorn's :class:`~uvicorn.protocols.http.h11_impl.H11Protocol` unchanged.
"""

from __future__ import annotations

from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from pipeline.server.errors import json_bytes

#: Longest reason from h11 quoted in an error (a header line it quotes can be megabytes long).
MAX_REASON_CHARS = 200


class _Connection(h11.Connection):
    """An h11 connection that keeps the last protocol error of the peer (uvicorn's handler drops it)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.remote_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        """h11's next event; a :class:`h11.RemoteProtocolError` is remembered, then raised as before."""
        try:
            return super().next_event()
        except h11.RemoteProtocolError as e:
            self.remote_error = e
            raise


def error_for(e: h11.RemoteProtocolError | None, max_head_bytes: int) -> tuple[int, str]:
    """The status and message answering h11's refusal ``e``: 431 for a head over ``max_head_bytes``, 400
    for everything else (h11's 501 for an unknown Transfer-Encoding too: the request is the problem)."""
    if e is not None and e.error_status_hint == 431:
        return 431, f"request line and headers too large (over {max_head_bytes:,} bytes)"
    reason = str(e) if e is not None and str(e) else "cannot parse the request"
    if len(reason) > MAX_REASON_CHARS:
        reason = reason[: MAX_REASON_CHARS - 1] + "…"
    return 400, f"malformed HTTP request: {reason}"


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol whose answer to a request h11 refuses is the JSON error shape."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = self.config.h11_max_incomplete_event_size
        self.max_head_bytes = DEFAULT_MAX_INCOMPLETE_EVENT_SIZE if limit is None else limit
        self.conn = _Connection(h11.SERVER, self.max_head_bytes)

    def send_400_response(self, msg: str) -> None:
        """Answer the refused request with the JSON error and close, where an answer is still possible: not
        once a response to this request has begun (then the connection is only closed)."""
        conn = self.conn
        assert isinstance(conn, _Connection)
        status, message = error_for(conn.remote_error, self.max_head_bytes)
        self.logger.warning("%s", message)
        if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            body = json_bytes({"error": message, "status": status})
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"x-content-type-options", b"nosniff"),
                (b"connection", b"close"),
            ]
            try:
                self.transport.write(
                    conn.send(
                        h11.Response(status_code=status, headers=headers, reason=STATUS_PHRASES[status])
                    )
                    or b""
                )
                self.transport.write(conn.send(h11.Data(data=body)) or b"")
                self.transport.write(conn.send(h11.EndOfMessage()) or b"")
            except h11.LocalProtocolError:
                pass  # a HEAD request: the headers went out, a body may not follow
        self.transport.close()
