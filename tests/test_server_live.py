"""The server over real sockets (uvicorn in a thread, bound to 127.0.0.1 on a free port, the fast retriever):
what an HTTP client library would tidy away — raw paths with ``..``, URLs of a megabyte — and clients that
misbehave: one that sends half a request, one that never reads the batch it asked for. Every server here
stops when its test ends."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from support import live_server

from pipeline.server import create_app

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def port(fast_retriever: Any) -> Iterator[int]:
    with live_server(create_app(fast_retriever)) as p:
        yield p


def http(
    port: int,
    target: str,
    method: str = "GET",
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """Send one request exactly as written (no normalisation of ``target``) and read the whole response."""
    head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode("latin-1") + b"\r\n" + body)
        data = read_all(s)
    return parse_response(data)


def read_all(s: socket.socket) -> bytes:
    chunks = []
    while chunk := s.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        out, rest = [], body
        while True:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            out.append(rest[:size])
            rest = rest[size + 2 :]
        body = b"".join(out)
    return status, headers, body


TRAVERSALS = [
    "/static/../../pyproject.toml",
    "/static/../cli.py",
    "/static/../__init__.py",
    "/static/%2e%2e/%2e%2e/pyproject.toml",
    "/static/%2E%2E/cli.py",
    "/static/..%2f..%2fpyproject.toml",
    "/static/..%2Fcli.py",
    "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/static/%252e%252e/%252e%252e/pyproject.toml",
    "/static/..%5c..%5cpyproject.toml",
    "/static/..\\..\\pyproject.toml",
    "/static/....//....//pyproject.toml",
    "/static//work/main/pyproject.toml",
    "/static/%2fetc%2fpasswd",
    "/static/swagger/../../../pyproject.toml",
    "/static/swagger/..%2f..%2f..%2fpyproject.toml",
    "/static/swagger/%2e%2e%2fswagger-initializer.js",
    "/../pyproject.toml",
    "/p/../../pyproject.toml",
    "/static/app.css/../../cli.py",
    "/static/%00../cli.py",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_static_paths_cannot_leave_the_folder(port: int, target: str) -> None:
    status, headers, body = http(port, target)
    assert status in (400, 404), (target, status, body[:200])
    assert b"[project]" not in body and b"def main" not in body and b"root:" not in body
    if status == 404:
        assert headers["content-type"].startswith("application/json")
        assert set(json.loads(body)) == {"error", "status"}


def test_a_symlink_out_of_the_web_folder_is_not_followed(fast_retriever: Any, tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>t</title>", encoding="utf-8")
    (web / "ok.css").write_text("body{}", encoding="utf-8")
    (web / "leak.txt").symlink_to(ROOT / "pyproject.toml")
    (web / "up").symlink_to(ROOT)
    with live_server(create_app(fast_retriever, web_dir=web)) as p:
        assert http(p, "/static/ok.css")[0] == 200
        for target in ("/static/leak.txt", "/static/up/pyproject.toml"):
            status, _, body = http(p, target)
            assert status == 404 and b"[project]" not in body


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append((tag, name, value))


def test_pages_load_only_from_this_server(port: int) -> None:
    """/, the page routes and /docs: every src/href is this server's own (or data:/#), every one of them
    loads, no outside URL appears in the HTML, and the assets they load name no outside host (except
    URLs inside the strings of swagger-ui-bundle.js, which the docs page never fetches: its CSP forbids
    it)."""
    index = http(port, "/")
    assert index[0] == 200 and index[1]["content-type"].startswith("text/html")
    for route in ("/p/17", "/cite", "/batch"):
        assert http(port, route)[2] == index[2], route
    docs = http(port, "/docs")
    assert docs[0] == 200
    csp = docs[1]["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp
    assert b'data-openapi-url="/openapi-3.0.json"' in docs[2]  # the schema the page loads, from this server
    assert http(port, "/openapi-3.0.json")[0] == 200
    for _, _, body in (index, docs):
        text = body.decode("utf-8")
        assert not re.search(r"https?://", text), re.findall(r"https?://\S+", text)
        parser = _Links()
        parser.feed(text)
        assert parser.links
        for tag, attr, url in parser.links:
            if url.startswith(("#", "data:")):
                continue
            assert url.startswith("/") and not url.startswith("//"), (tag, attr, url)
            s, _h, asset = http(port, url)
            assert s == 200, url
            if url.endswith(".css"):
                assert not re.search(rb"url\(\s*['\"]?(https?:)?//", asset) and b"@import" not in asset, url
            elif url.endswith(".js") and not url.endswith("swagger-ui-bundle.js"):
                assert not re.search(rb"https?://", asset), url
    assert http(port, "/openapi.json")[0] == 200


def test_absurd_queries_are_413_json_over_http(port: int) -> None:
    for q in ("a" * 100_001, "海" * 100_001, "海盗" * 60_000):
        status, _headers, body = http(port, "/api/search?q=" + quote(q))
        assert status == 413, (len(q), body[:200])
        assert json.loads(body)["status"] == 413
    status, _, body = http(
        port, "/api/search?mode=lexical&q=" + quote("海盗赎金 " * 20_000)
    )  # 100,000: truncated
    assert status == 200 and any("truncated" in w for w in json.loads(body)["warnings"])


def quick_requests(port: int, n: int = 10) -> list[float]:
    times = []
    for i in range(n):
        t = time.perf_counter()
        status, _, body = http(port, f"/api/search?q={quote('海盗赎金')}%20{i}", timeout=10)
        times.append(time.perf_counter() - t)
        assert status == 200 and json.loads(body)["results"]
        assert http(port, f"/api/paragraphs/{i + 1}", timeout=10)[0] == 200
    return times


def test_slow_and_stalled_clients_do_not_block_others(port: int) -> None:
    """Half a request line, a body that never arrives, and a 10,000-line batch whose answers are never read:
    meanwhile other clients are answered at once; the stalled batch, read at last, is complete and in
    order."""
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"GET /api/search?q=pirates HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # no blank line: never ends
    partial_body = socket.create_connection(("127.0.0.1", port))
    partial_body.sendall(
        b"POST /api/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 100000\r\n\r\n" + "第 1 段\n".encode() * 10
    )
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect(("127.0.0.1", port))
    body = "".join(f"第 {i % 65 + 1} 段\n" for i in range(10_000)).encode()
    stalled.sendall(
        b"POST /api/batch?mode=lexical HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    try:
        time.sleep(1.0)  # the batch is answered up to what the socket buffers hold, then waits for the reader
        times = quick_requests(port)
        assert max(times) < 2.0, times
        stalled.settimeout(60)
        status, headers, data = parse_response(read_all(stalled))
        assert status == 200 and headers["x-total-lines"] == "10000"
        recs = [json.loads(line) for line in data.decode("utf-8").splitlines()]
        assert len(recs) == 10_000 and [r["line"] for r in recs] == list(range(1, 10_001))
        assert all(r["results"][0]["paragraph"] == (r["line"] - 1) % 65 + 1 for r in recs)
    finally:
        for s in (half, partial_body, stalled):
            s.close()


def test_a_client_that_goes_away_mid_stream_does_not_hurt_the_server(port: int) -> None:
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", port))
        body = "".join(f"question {i} about pirates\n" for i in range(2_000)).encode()
        s.sendall(
            b"POST /api/batch?mode=lexical HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        s.recv(1000)  # the stream has begun
        s.close()
    assert max(quick_requests(port, 5)) < 2.0
    status, _, body = http(port, "/api/health")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_loadtest_measures_a_server(port: int) -> None:
    import asyncio

    from pipeline.server.loadtest import measure, targets

    assert len(targets("questions")) > 100 and len(targets("paragraphs")) == 65
    result = asyncio.run(
        measure(f"http://127.0.0.1:{port}/", targets("lookups"), clients=4, seconds=1.0, warmup=0.2)
    )
    assert result.requests > 10 and result.errors == 0 and 0 < result.p50_ms <= result.p95_ms <= result.p99_ms
