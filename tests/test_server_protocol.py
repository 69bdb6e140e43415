"""Requests the HTTP layer itself refuses, over real sockets: two Host headers, ``Content-Length: -1``, a TLS
ClientHello on the plain HTTP port, broken request lines, header lines and chunked bodies, a head larger
than the server reads. Each gets the server's one JSON error shape (``{"error": …, "status": …}``, 400 or
431 for the oversized head) with ``Connection: close``, never uvicorn's plain-text "Invalid HTTP request
received.", and no traceback reaches the server's log. The server keeps answering others."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from support import live_server

from pipeline.server import ServerOptions, create_app
from pipeline.server.errors import HostCheck
from pipeline.server.run import MAX_HEAD_BYTES

#: Seconds any socket of these tests waits: a server that never answers fails the test, never hangs it.
TIMEOUT = 10

#: The start of a TLS 1.2 ClientHello, as a browser sends it to ``https://`` on a plain HTTP port.
TLS_HELLO = bytes.fromhex(
    "16030100c4010000c00303"
    + "5a" * 32  # client random
    + "00"  # no session id
    + "0004c02fc030"  # 2 cipher suites
    + "0100"  # compression: null
    + "0093"  # extensions length
    + "0000000e000c0000096c6f63616c686f7374"  # server_name: localhost
    + "00" * 130
)

BAD_REQUESTS: dict[str, bytes] = {
    "two Host headers": (
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: rebinding.example\r\nConnection: close\r\n\r\n"
    ),
    "two equal Host headers": (
        b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    ),
    "Content-Length -1": (
        b"POST /api/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jsonl\r\n"
        b"Content-Length: -1\r\n\r\n"
    ),
    "conflicting Content-Lengths": (
        b"POST /api/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"
    ),
    "TLS ClientHello": TLS_HELLO,
    "no Host in HTTP/1.1": b"GET /api/health HTTP/1.1\r\nConnection: close\r\n\r\n",
    "request line without version": b"GET /api/health\r\nHost: 127.0.0.1\r\n\r\n",
    "garbage request line": b"hello there, server\r\n\r\n",
    "HTTP version without digits": b"GET / HTTP/one\r\nHost: 127.0.0.1\r\n\r\n",
    "header line without colon": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nthis is no header\r\n\r\n",
    "space before the colon": b"GET / HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n",
    "NUL in a header value": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a\x00b\r\n\r\n",
    "control character in the target": b"GET /a\x01b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "unsupported Transfer-Encoding": (
        b"POST /api/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n"
    ),
    "bad chunk size after the request reached the app": (
        b"POST /api/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jsonl\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n"
    ),
}


class _Records(logging.Handler):
    """Every log record of the server (uvicorn's loggers do not propagate to the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def port(fast_retriever: Any) -> Iterator[int]:
    with live_server(create_app(fast_retriever)) as p:
        yield p


@contextmanager
def logged() -> Iterator[list[logging.LogRecord]]:
    """The records the server logs in the block. Enter it once the server runs: uvicorn's configuration of
    its loggers at start would remove the handler."""
    handler = _Records()
    loggers = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.error", "asyncio", "pipeline.server")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield handler.records
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


@pytest.fixture
def server_log(port: int) -> Iterator[list[logging.LogRecord]]:
    """What the module's server logs during one test."""
    with logged() as records:
        yield records


def exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a new connection, say nothing more, and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.settimeout(TIMEOUT)
        s.sendall(data)
        chunks = []
        while chunk := s.recv(1 << 16):
            chunks.append(chunk)
    return b"".join(chunks)


def parse(data: bytes) -> tuple[str, dict[str, str], bytes]:
    """Status line, headers (lower-case names; a repeated name keeps the last) and body of one response."""
    assert b"\r\n\r\n" in data, data[:300]
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return lines[0], headers, body


def assert_json_error(data: bytes, status: int = 400) -> dict[str, Any]:
    """``data`` is one JSON error response of ``status`` that closes the connection; returns its body."""
    status_line, headers, body = parse(data)
    assert status_line.startswith(f"HTTP/1.1 {status} "), data[:300]
    assert headers["content-type"] == "application/json", headers
    assert headers["connection"].lower() == "close", headers
    assert int(headers["content-length"]) == len(body), headers
    error = json.loads(body)
    assert set(error) == {"error", "status"} and error["status"] == status, error
    if status == 400:
        assert error["error"].startswith("malformed HTTP request: "), error
    assert "Invalid HTTP request received" not in error["error"]
    return error


def assert_clean_log(records: list[logging.LogRecord]) -> None:
    """Nothing logged an error or a traceback."""
    bad = [r for r in records if r.exc_info or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()]
    assert not bad, [(r.name, r.getMessage(), r.exc_info) for r in bad]


def assert_still_serving(port: int) -> None:
    data = exchange(port, b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 "), data[:300]


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_malformed_requests_get_the_json_error(
    port: int, server_log: list[logging.LogRecord], name: str
) -> None:
    data = exchange(port, BAD_REQUESTS[name])
    assert_json_error(data)
    assert_still_serving(port)
    assert_clean_log(server_log)
    assert any("malformed HTTP request" in r.getMessage() for r in server_log), "the log says nothing"


def test_two_host_headers_are_refused_with_the_host_check_on(fast_retriever: Any) -> None:
    """A loopback server without a token checks the Host header: a first Host that is allowed does not
    smuggle in a second one (the check would read one, another layer the other)."""
    options = ServerOptions(allowed_hosts=("127.0.0.1", "localhost"))
    with live_server(create_app(fast_retriever, options)) as p, logged() as records:
        error = assert_json_error(exchange(p, BAD_REQUESTS["two Host headers"]))
        assert "Host" in error["error"]
        assert_still_serving(p)
    assert_clean_log(records)
    assert any("malformed HTTP request" in r.getMessage() for r in records), "the log says nothing"


def test_the_host_check_refuses_two_host_headers_that_reach_the_app() -> None:
    """Should an HTTP layer pass two Host headers on (h11 does not), the Host check refuses them before the
    app: the first may be allowed while another layer reads the second."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app was reached")

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/health",
        "headers": [(b"host", b"127.0.0.1"), (b"host", b"rebinding.example")],
    }
    asyncio.run(HostCheck(app, ("127.0.0.1",))(scope, receive, send))
    assert sent[0]["status"] == 400
    assert (b"content-type", b"application/json") in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == {"error": "2 Host headers: a request names one host", "status": 400}


def test_a_bad_request_after_a_good_one_on_the_same_connection(
    port: int, server_log: list[logging.LogRecord]
) -> None:
    """Keep-alive: the first request is answered as usual, the malformed second one with the JSON error."""
    good = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    data = exchange(port, good + b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: x\r\n\r\n")
    first_head, _, rest = data.partition(b"\r\n\r\n")
    assert first_head.startswith(b"HTTP/1.1 200 "), data[:300]
    length = int(parse(data)[1]["content-length"])
    assert_json_error(rest[length:])
    assert_clean_log(server_log)


def test_a_client_gone_before_its_body_arrived_is_no_bug(
    port: int, server_log: list[logging.LogRecord]
) -> None:
    """A batch whose body stops halfway and whose client hangs up: nobody to answer, nothing in the log."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as s:
        s.sendall(
            b"POST /api/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jsonl\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"query": "pirates"}\n'
        )
        time.sleep(0.3)  # the app is reading the body
    assert_still_serving(port)
    time.sleep(0.3)
    assert_clean_log(server_log)


def test_a_head_larger_than_the_server_reads_is_431_json(
    port: int, server_log: list[logging.LogRecord]
) -> None:
    """One byte over :data:`~pipeline.server.run.MAX_HEAD_BYTES` without the end of the headers: 431 (all of
    it is sent before the server answers, so the close cannot reset the connection before it is read)."""
    prefix = b"GET /api/search?q="
    data = exchange(port, prefix + b"a" * (MAX_HEAD_BYTES + 1 - len(prefix)))
    error = assert_json_error(data, status=431)
    assert "too" in error["error"] and "large" in error["error"], error
    assert_still_serving(port)
    assert_clean_log(server_log)


def test_a_malformed_body_after_the_answer_only_closes_the_connection(fast_retriever: Any) -> None:
    """A chunked batch over the body limit is answered 413 at once; a broken chunk after that cannot be
    answered any more (the 413 went out): the connection is closed, nothing in the log, others are served."""
    with live_server(create_app(fast_retriever, ServerOptions(max_body_bytes=100))) as p, logged() as records:
        with socket.create_connection(("127.0.0.1", p), timeout=TIMEOUT) as s:
            s.settimeout(TIMEOUT)
            s.sendall(
                b"POST /api/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jsonl\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n" + b"c8\r\n" + b"a" * 200 + b"\r\n"
            )
            first = s.recv(1 << 16)
            s.sendall(b"zz\r\n")
            rest = b"".join(iter(lambda: s.recv(1 << 16), b""))
        status_line, headers, body = parse(first + rest)
        assert status_line.startswith("HTTP/1.1 413 ") and json.loads(body)["status"] == 413, first + rest
        assert_still_serving(p)
    assert_clean_log(records)
