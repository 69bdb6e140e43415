"""A hostile run of the Qdrant backend: every failure is one line and an exit code, never a traceback and
never a silent wrong answer.

* servers that cannot be used (loopback only): nothing listening, an HTTP server that is not Qdrant (404
  HTML, or 200 with other JSON), one that accepts the connection and never answers (a bounded time-out),
  ``http://`` without a host — building and searching each give one error naming the URL;
* collection names Qdrant refuses, and locations of unknown schemes (no folder is created for them);
* Qdrant Edge storage damaged after an upload (state, payload, vectors, payload indexes): refused when
  opened with "is damaged …; rebuild it with …", or answering exactly as the clean collection; a build then
  mends it.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "qdrant_client", reason="qdrant-client is not installed (optional backend: pipeline[qdrant])"
)

from support import FakeEmbedder, open_library, scratch_home  # noqa: E402

from pipeline.backends.channels import QdrantChannels, upload_library  # noqa: E402
from pipeline.config import Config  # noqa: E402
from pipeline.errors import (  # noqa: E402
    ComponentError,
    ConfigError,
    CorruptIndexError,
    PipelineError,
)
from pipeline.retrieve import Retriever  # noqa: E402

FAKE = FakeEmbedder().identity
QUESTIONS = ["piracy off Somalia", "伪造药品贩运", "technical assistance to States", "firearms marking"]


def _edge() -> bool:
    try:
        import qdrant_edge  # noqa: F401
    except ImportError:
        return False
    return True


needs_edge = pytest.mark.skipif(not _edge(), reason="qdrant-edge-py is not installed")


@pytest.fixture(scope="module")
def built(home: Path, analyzer: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A home with the real report indexed in process (fake embedder): its retriever."""
    from pipeline.build import ensure_dense, ensure_lexical
    from pipeline.library import load_library

    h = scratch_home(home, tmp_path_factory.mktemp("hostile") / "home")
    cfg = Config(root=h)
    library = load_library(cfg)
    for doc in library.documents:
        ensure_lexical(cfg, doc, analyzer, library.key(doc))
        ensure_dense(cfg, doc, library.key(doc), FakeEmbedder())
    return open_library(cfg, analyzer)


def _upload(local: Any, url: str, collection: str = "pipeline") -> dict[str, int]:
    cfg = Config(root=local.cfg.root, backend="qdrant", qdrant_url=url, qdrant_collection=collection)
    return upload_library(cfg, local.library, local.lexical, local.dense, progress=False, embedder=FAKE)


def _remote(local: Any, analyzer: Any, url: str, channels: bool = True) -> Retriever:
    """A retriever on the collection at ``url`` (its channels opened now, or at the first search)."""
    cfg = Config(root=local.cfg.root, backend="qdrant", qdrant_url=url)
    ch = QdrantChannels(cfg, local.library, embedder=FAKE) if channels else None
    encoder = FakeEmbedder(prompt="query: ")
    return Retriever(local.library, cfg=cfg, analyzer=analyzer, encoder=encoder, channels=ch)


def _answers(r: Retriever) -> list[Any]:
    out = []
    for mode in ("hybrid", "lexical", "dense"):
        for q in QUESTIONS:
            out.append([(h.citation, round(h.score, 5), h.answer) for h in r.search(q, k=10, mode=mode).hits])
    out.append([h.citation for h in r.search("海盗", k=5, lang="zh", docs=["CTOC/COP/2012/7"]).hits])
    return out


# --- servers that cannot be used ---------------------------------------------------------------------------


class _NotQdrant(BaseHTTPRequestHandler):
    body, status, ctype = b"<html><body>Not Found</body></html>", 404, "text/html"

    def _answer(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", self.ctype)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args: Any) -> None:
        pass


class _WrongJson(_NotQdrant):
    body, status, ctype = b'{"hello": "world", "result": 42}', 200, "application/json"


@pytest.fixture
def http_server() -> Iterator[Callable[[type], str]]:
    """Starts loopback HTTP servers with a given handler; all are stopped at the end."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type) -> str:
        s = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
        return f"http://127.0.0.1:{s.server_address[1]}"

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fails(action: Callable[[], Any], kind: type[PipelineError], *needles: str, within: float = 30.0) -> str:
    t = time.monotonic()
    with pytest.raises(kind) as e:
        action()
    took = time.monotonic() - t
    msg = str(e.value)
    assert "\n" not in msg and took < within, (msg, took)
    for n in needles:
        assert n in msg, (n, msg)
    return msg


def _build_and_search_fail(built: Any, analyzer: Any, url: str, *needles: str, within: float = 30.0) -> None:
    """Building, opening the channels and searching through a retriever each fail with one clear line."""
    _fails(lambda: _upload(built, url), ComponentError, url, *needles, within=within)
    _fails(lambda: _remote(built, analyzer, url), ComponentError, url, *needles, within=within)
    r = _remote(built, analyzer, url, channels=False)
    _fails(lambda: r.search("piracy off Somalia"), ComponentError, url, *needles, within=within)


def test_nothing_listening_is_one_clear_error(built: Any, analyzer: Any) -> None:
    _build_and_search_fail(built, analyzer, f"http://127.0.0.1:{_free_port()}", "refused the connection")


def test_a_server_that_is_not_qdrant_is_one_clear_error(
    built: Any, analyzer: Any, http_server: Callable[[type], str]
) -> None:
    _build_and_search_fail(built, analyzer, http_server(_NotQdrant), "HTTP 404 (HTML)", "Qdrant")


def test_a_server_answering_other_json_is_one_clear_error(
    built: Any, analyzer: Any, http_server: Callable[[type], str]
) -> None:
    _build_and_search_fail(built, analyzer, http_server(_WrongJson), "does not answer as a Qdrant server")


def test_a_server_that_never_answers_times_out(
    built: Any, analyzer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.backends.qdrant import client, engines

    assert engines.SERVER_TIMEOUT <= 10  # the documented bound of one request
    monkeypatch.setattr(client, "SERVER_TIMEOUT", 2)  # the same path, quicker
    with socket.socket() as s:  # accepts TCP (the kernel's backlog) and never reads nor answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        _build_and_search_fail(built, analyzer, url, "did not answer within 2 s", within=12.0)


def test_a_url_without_a_host_is_refused(built: Any, analyzer: Any) -> None:
    for url in ("http://", "https://:6333"):
        with pytest.raises(ConfigError, match="names no host"):
            Config(backend="qdrant", qdrant_url=url).validate()
        _fails(lambda url=url: _upload(built, url), ConfigError, repr(url), "names no host")
        search = lambda url=url: _remote(built, analyzer, url, channels=False).search("piracy")  # noqa: E731
        _fails(search, ConfigError, repr(url), "names no host")


# --- settings Qdrant cannot take ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a" * 300, "b" * 249, ".", "..", "", "a/b"])
def test_collection_names_qdrant_refuses_are_refused(name: str, built: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="qdrant_collection"):
        Config(backend="qdrant", qdrant_url=":memory:", qdrant_collection=name).validate()
    with pytest.raises(ConfigError, match="qdrant_collection"):
        Config().with_overrides({"qdrant_collection": name})
    with pytest.raises(ConfigError, match="qdrant_collection"):
        _upload(built, str(tmp_path / "q"), collection=name)
    assert not (tmp_path / "q").exists()


def test_collection_names_qdrant_accepts_pass() -> None:
    for name in ("pipeline", "a" * 248, "un-reports_2024.v2", "报告"):
        Config(backend="qdrant", qdrant_url=":memory:", qdrant_collection=name).validate()


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "grpc://127.0.0.1:6334", "file:///tmp/x", "qdrant:host", "http:/host:6333"]
)
def test_unknown_schemes_are_refused_and_create_no_folder(
    url: str, built: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="qdrant_url"):
        Config(backend="qdrant", qdrant_url=url).validate()
    with pytest.raises(ConfigError, match="qdrant_url"):
        _upload(built, url)
    assert list(tmp_path.iterdir()) == []  # no ./ftp:/127.0.0.1/x/


def test_the_locations_qdrant_takes_pass() -> None:
    for url in (
        "http://qdrant-host:6333",
        "https://q.example.org",
        "edge:/data/e",
        ":memory:",
        "/data/q",
        "q",
        "./a:b",
    ):
        Config(backend="qdrant", qdrant_url=url).validate()


# --- damaged Qdrant Edge storage ---------------------------------------------------------------------------


def _flip(pattern: str, at: int, n: int = 64) -> Callable[[Path], None]:
    def damage(root: Path) -> None:
        files = sorted(root.glob(pattern))
        assert files, pattern
        for p in files:
            b = bytearray(p.read_bytes())
            for i in range(at, min(at + n, len(b))):
                b[i] ^= 0x5A
            p.write_bytes(bytes(b))

    return damage


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda root: (root / name).write_text(text, encoding="utf-8")


SEG = "shard/segments/*"
DIM = 64  # the fake embedder's
DAMAGE = {
    "state-garbage": _write("state.json", "{garbage"),
    "state-not-an-object": _write("state.json", "[1, 2]"),
    "state-empty": _write("state.json", "{}"),
    "payload-storage": _flip(f"{SEG}/payload_storage/page_0.dat", 100),
    "payload-tracker": _flip(f"{SEG}/payload_storage/tracker.dat", 0),
    "bm25-storage": _flip(f"{SEG}/vector_storage-bm25/store/page_0.dat", 100),
    "bm25-storage-far": _flip(f"{SEG}/vector_storage-bm25/store/page_0.dat", 5000, 8),
    "bm25-tracker": _flip(f"{SEG}/vector_storage-bm25/store/tracker.dat", 0),
    "paragraph-vector": _flip(f"{SEG}/vector_storage-para/vectors/chunk_0.mmap", 30 * DIM * 4 + 8, 8),
    "sentence-vector": _flip(f"{SEG}/vector_storage-sent/vectors/chunk_0.mmap", 100 * DIM * 4 + 8, 8),
    "sentence-offsets": _flip(f"{SEG}/vector_storage-sent/offsets/chunk_0.mmap", 16, 16),
    "document-index": _flip(f"{SEG}/payload_index/*-document-map/*.dat", 0, 256),
    "lang-index": _flip(f"{SEG}/payload_index/*-lang-*/*.dat", 0, 256),
}


@pytest.fixture(scope="module")
def clean_edge(built: Any, analyzer: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """An Edge collection of the library, and the answers it gives."""
    root = tmp_path_factory.mktemp("edge-clean") / "edge"
    _upload(built, f"edge:{root}")
    r = _remote(built, analyzer, f"edge:{root}")
    answers = _answers(r)
    r._get_channels().close()
    return root, answers


@needs_edge
def test_the_upload_records_a_sample_of_content_hashes(clean_edge: tuple[Path, list[Any]]) -> None:
    import json

    state = json.loads((clean_edge[0] / "state.json").read_text(encoding="utf-8"))
    n = state["upload"]["n"]
    assert state["check"]["rows"][0] == 0 and state["check"]["rows"][-1] == n - 1
    assert len(state["check"]["rows"]) == len(state["check"]["hashes"]) == 8


@needs_edge
@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damaged_edge_storage_is_refused_or_answers_the_same(
    case: str, built: Any, analyzer: Any, clean_edge: tuple[Path, list[Any]], tmp_path: Path
) -> None:
    clean, want = clean_edge
    root = tmp_path / "edge"
    shutil.copytree(clean, root)
    DAMAGE[case](root)
    url = f"edge:{root}"
    try:
        r = _remote(built, analyzer, url)
    except CorruptIndexError as e:
        msg = str(e)
        assert "\n" not in msg, msg
        assert f"the Qdrant collection at {url} is damaged (" in msg, msg
        assert f"rebuild it with `pipeline build --backend qdrant --qdrant-url {url}`" in msg, msg
        assert e.exit_code == 3
    else:  # the engine still answers: exactly as the clean collection
        assert _answers(r) == want, case
        r._get_channels().close()
    # a build mends it: the same answers as the clean collection
    _upload(built, url)
    r = _remote(built, analyzer, url)
    assert _answers(r) == want, case
    r._get_channels().close()


@needs_edge
def test_a_damaged_collection_is_refused_at_the_first_search(
    built: Any,
    analyzer: Any,
    clean_edge: tuple[Path, list[Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pipeline.embed

    monkeypatch.setattr(pipeline.embed, "embedder_identity", lambda cfg, verify="stat": FAKE)
    root = tmp_path / "edge"
    shutil.copytree(clean_edge[0], root)
    DAMAGE["paragraph-vector"](root)  # silently different answers before the open-time check
    r = _remote(built, analyzer, f"edge:{root}", channels=False)
    with pytest.raises(CorruptIndexError, match=r"point \d+ differs from what the upload wrote") as e:
        r.search("piracy off Somalia")
    assert e.value.exit_code == 3
