"""``POST /api/batch``: bodies in every format, answers streamed as NDJSON in input order, each bad line
reported in its place with the message ``pipeline batch`` prints for it, and every unusable body refused
with a 4xx JSON error. Messages name the upload by ``name=``; a GB18030/GBK body is read with a first
``{"warnings"}`` record; a client that goes away stops the batch."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import SlowRetriever, assert_error, live_server

from pipeline.cli import main
from pipeline.server import ServerOptions, create_app

JSONL = "application/x-ndjson"


@pytest.fixture(scope="module")
def batch_client(fast_retriever: Any) -> Any:
    with TestClient(create_app(fast_retriever, ServerOptions(batch_chunk=3))) as c:
        yield c


def post(client: Any, body: bytes | str, content_type: str | None, **params: Any) -> Any:
    headers = {"content-type": content_type} if content_type else {}
    return client.post(
        "/api/batch",
        params=params,
        content=body if isinstance(body, bytes) else body.encode("utf-8"),
        headers=headers,
    )


def records(resp: Any) -> list[dict[str, Any]]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    lines = resp.text.split("\n")
    assert lines[-1] == ""
    recs = [json.loads(line) for line in lines[:-1]]
    assert int(resp.headers["x-total-lines"]) == len(recs)
    return recs


def cli_batch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, body: bytes, suffix: str, *options: str
) -> tuple[list[dict[str, Any]], dict[int, str]]:
    """What ``pipeline batch`` makes of the same bytes: its JSONL records and its error message per line."""
    src = tmp_path / f"in{suffix}"
    src.write_bytes(body)
    out = tmp_path / "out.jsonl"
    main(["batch", str(src), "-o", str(out), "-q", *options])
    _, err = capsys.readouterr()
    errors = {}
    for line in err.splitlines():
        m = re.match(rf"pipeline: error: {re.escape(str(src))}:(\d+): (.*)$", line)
        if m:
            errors[int(m.group(1))] = m.group(2)
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] if out.exists() else []
    return recs, errors


def test_json_list_in_order_with_per_line_errors(batch_client: Any, fast_retriever: Any) -> None:
    body = json.dumps(
        [
            "海盗赎金",
            {"id": "q2", "query": "第 41 段"},
            "",
            "\ud800",
            5,
            {"id": "q6", "query": "resolution 65/230"},
            {"query": "!!!"},
            {"id": "q2", "query": "again"},
            "cybercrime",
        ]
    )
    recs = records(post(batch_client, body, "application/json", mode="lexical", k=2))
    assert [r["line"] for r in recs] == list(range(1, 10))
    assert recs[0] == {
        "id": "1",
        "line": 1,
        **fast_retriever.search("海盗赎金", k=2, mode="lexical").to_dict(),
    }
    assert (
        recs[1]["id"] == "q2" and recs[1]["route"] == "paragraph" and recs[1]["results"][0]["paragraph"] == 41
    )
    assert recs[2] == {"line": 3, "error": "empty query"}
    assert recs[3] == {
        "line": 4,
        "error": "the query contains an unpaired surrogate (\\ud800): not valid Unicode text",
    }
    assert recs[4] == {"line": 5, "error": 'expected an object with a "query" key'}
    assert recs[5]["route"] == "citation"
    assert recs[6]["id"] == "7" and recs[6]["query"] == "!!!" and "nothing to search for" in recs[6]["error"]
    assert recs[7] == {"line": 8, "error": "duplicate id 'q2'"}
    assert recs[8]["id"] == "9" and len(recs[8]["results"]) == 2


def test_jsonl_answers_and_messages_equal_pipeline_batch(
    batch_client: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = (
        b"\n".join(
            [
                b'{"id": "a", "query": "\xe6\xb5\xb7\xe7\x9b\x97\xe8\xb5\x8e\xe9\x87\x91"}',  # 海盗赎金
                b'{"id": "b", "query": "ransom paid to pirates"',  # invalid JSON
                b'{"id": "c", "query": "\\ud800 pirates"}',  # a lone surrogate
                b'{"id": "d", "query": "pir\xffates"}',  # not UTF-8
                b"",
                b'{"id": "e", "query": ""}',
                b'{"id": "f", "query": "\xe7\xac\xac 41 \xe6\xae\xb5"}',  # 第 41 段
                b"[1, 2]",
                b'{"id": "g", "query": "???"}',  # answered by no one: nothing to search for
                b'{"id": "h", "query": "counterfeit medicines"}',
            ]
        )
        + b"\n"
    )
    recs = records(post(batch_client, body, JSONL, mode="lexical", k=3))
    cli_recs, cli_errors = cli_batch(capsys, tmp_path, body, ".jsonl", "--mode", "lexical", "-k", "3")
    assert len(recs) == 9  # line 5 is blank
    errors = {r["line"]: r["error"] for r in recs if "error" in r}
    assert errors == cli_errors
    assert set(errors) == {2, 3, 4, 6, 8, 9}
    answered = [{k: v for k, v in r.items() if k != "line"} for r in recs if "error" not in r]
    assert answered == cli_recs
    assert [r["id"] for r in answered] == ["a", "f", "h"]


def test_csv_and_text_bodies_equal_pipeline_batch(
    batch_client: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    csv_body = 'id,query\nx1,海盗赎金\nx2,"ransom, pirates"\nx3,"unclosed\nx4,第 3 段\n'.encode()
    recs = records(post(batch_client, csv_body, "text/csv; charset=utf-8", mode="lexical"))
    cli_recs, cli_errors = cli_batch(capsys, tmp_path, csv_body, ".csv", "--mode", "lexical")
    assert {r["line"]: r["error"] for r in recs if "error" in r} == cli_errors
    assert [{k: v for k, v in r.items() if k != "line"} for r in recs if "error" not in r] == cli_recs

    text_body = "海盗赎金\n\n第 41 段\n   \nresolution 65/230\n".encode()
    recs = records(post(batch_client, text_body, "text/plain", mode="lexical"))
    assert [(r["id"], r["line"], r["route"]) for r in recs] == [
        ("1", 1, "question"),
        ("3", 3, "paragraph"),
        ("5", 5, "citation"),
    ]
    cli_recs, _ = cli_batch(capsys, tmp_path, text_body, ".txt", "--mode", "lexical")
    assert [{k: v for k, v in r.items() if k != "line"} for r in recs] == cli_recs


def test_hybrid_batch_equals_search_many(batch_client: Any, fast_retriever: Any) -> None:
    qs = [
        "海盗赎金",
        "伪药对患者有什么危害？",
        "How much ransom did pirates receive in 2011?",
        "第 17 段",
        "cybercrime",
    ] * 3
    body = "".join(json.dumps({"id": f"q{i}", "query": q}) + "\n" for i, q in enumerate(qs))
    recs = records(post(batch_client, body, JSONL, k=4))
    expected = fast_retriever.search_many(qs, k=4)
    assert recs == [{"id": f"q{i}", "line": i + 1, **a.to_dict()} for i, a in enumerate(expected)]


def test_format_parameter_overrides_content_type(batch_client: Any) -> None:
    recs = records(post(batch_client, "第 3 段\n第 4 段\n", "application/octet-stream", format="text"))
    assert [r["results"][0]["paragraph"] for r in recs] == [3, 4]
    recs = records(post(batch_client, '["第 3 段"]', None, format="json"))
    assert recs[0]["results"][0]["paragraph"] == 3


@pytest.mark.parametrize(
    ("body", "content_type", "status", "needles"),
    [
        (b'["a", "b"', "application/json", 400, ["<request body>:1: invalid JSON", "column"]),
        (b'[\n"a",\n"b",\n]', "application/json", 400, ["<request body>:4: invalid JSON"]),
        (b'{"query": "a"}', "application/json", 400, ["expected a JSON list", "dict"]),
        (b'["a", "\xff"]', "application/json", 400, ["not UTF-8", "0xFF"]),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, ["nested too deeply"]),
        (b"[]", "application/json", 400, ["no queries"]),
        (b"", "text/plain", 400, ["no queries"]),
        (b"\n\n  \n", "application/x-ndjson", 400, ["no queries"]),
        (b"name,text\nx,y\n", "text/csv", 400, ["<request body>:1", "'query' column"]),
        (b"\xff\xfeh\x00i\x00\n\x00", "text/plain", 400, ["UTF-16LE", "iconv"]),
        (b"%PDF-1.4 ...", "text/plain", 400, ["PDF"]),
        (b"hello", "application/xml", 415, ["application/xml", "text/csv"]),
        (b"hello", None, 415, ["no Content-Type"]),
        (b"hello", "text/plain; charset=gbk", 415, ["UTF-8", "gbk"]),
    ],
)
def test_unusable_bodies_are_refused(
    batch_client: Any, body: bytes, content_type: str | None, status: int, needles: list[str]
) -> None:
    assert_error(post(batch_client, body, content_type), status, *needles)


def test_bad_parameters_are_422(batch_client: Any) -> None:
    assert_error(post(batch_client, "a\n", "text/plain", k=0), 422, "query parameter 'k'")
    assert_error(post(batch_client, "a\n", "text/plain", k=101), 422, "query parameter 'k'")
    assert_error(post(batch_client, "a\n", "text/plain", mode="fast"), 422, "query parameter 'mode'")
    assert_error(post(batch_client, "a\n", "text/plain", format="xlsx"), 422, "query parameter 'format'")


def test_limits_are_413(fast_retriever: Any) -> None:
    with TestClient(create_app(fast_retriever, ServerOptions(max_body_bytes=1000, max_batch_lines=5))) as c:
        assert_error(post(c, "第 1 段\n" * 200, "text/plain"), 413, "1,000 bytes")
        assert_error(post(c, "第 1 段\n" * 6, "text/plain"), 413, "6 queries", "at most 5")
        assert_error(post(c, json.dumps(["a"] * 6), "application/json"), 413, "6 queries")
        assert len(records(post(c, "第 1 段\n" * 5, "text/plain"))) == 5

        def chunked() -> Any:  # no Content-Length: the limit holds while the body streams in
            for _ in range(100):
                yield b"x" * 100 + b"\n"

        resp = c.post("/api/batch", content=chunked(), headers={"content-type": "text/plain"})
        assert_error(resp, 413, "1,000 bytes")


def test_failure_of_the_whole_batch_ends_the_stream_with_an_error(
    tmp_path: Path, corpus: Any, analyzer: Any
) -> None:
    """Questions need the lexical index: when it is not built, lines before the first question are streamed,
    then one record with the command line's message and the status."""
    from pipeline.config import Config
    from pipeline.retrieve import Retriever

    (tmp_path / "indexes").mkdir()
    r = Retriever(corpus, cfg=Config(root=tmp_path), analyzer=analyzer)
    with TestClient(create_app(r, ServerOptions(batch_chunk=2))) as c:
        resp = post(c, "第 1 段\n第 2 段\n海盗赎金\n第 4 段\n", "text/plain")
    assert resp.status_code == 200 and resp.headers["x-total-lines"] == "4"
    recs = [json.loads(line) for line in resp.text.splitlines()]
    assert [r.get("line") for r in recs] == [1, 2, None]
    assert recs[-1]["status"] == 503 and "run `pipeline build`" in recs[-1]["error"]


# --- the upload's name, GB18030 bodies, warnings --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("问题.csv", "问题.csv"),
        ("/home/someone/secret/问题.csv", "问题.csv"),  # folders are dropped
        ("C:\\Users\\someone\\q.csv", "q.csv"),
        ("a\x1b[31m\u202eb.csv", "a\\u001b[31m\\u202eb.csv"),  # control and bidi characters escaped
        ("x" * 500 + ".csv", "x" * 115 + "….csv"),  # cut, keeping the extension
        ("", "<request body>"),
        ("   ", "<request body>"),
    ],
)
def test_messages_name_the_uploaded_file(batch_client: Any, name: str, shown: str) -> None:
    resp = post(batch_client, b"name,text\nx,y\n", "text/csv", name=name)
    error = assert_error(resp, 400, f"{shown}:1: the CSV header must name a 'query' column")
    assert len(shown) <= 120 and ("<request body>" in error["error"]) == (shown == "<request body>")
    assert_error(post(batch_client, b'["a"', "application/json", name=name), 400, f"{shown}:1: invalid JSON")
    assert_error(post(batch_client, b"\n", "text/plain", name=name), 400, f"{shown}: no queries")


def test_a_gbk_body_is_read_with_a_warning_first(
    batch_client: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """What Chinese Excel saves (GBK, CRLF): read as GB18030; the stream starts with one record of warnings
    (not counted in X-Total-Lines) naming the upload, then the answers ``pipeline batch`` gives."""
    text = "id,query\r\na,海盗赎金\r\nb,第 41 段\r\nc,\r\n"
    resp = post(batch_client, text.encode("gbk"), "text/csv", name="问题.csv", mode="lexical")
    assert resp.status_code == 200, resp.text
    first, *recs = [json.loads(line) for line in resp.text.splitlines()]
    assert first == {
        "warnings": [
            "问题.csv: not UTF-8; read as GB18030 (GBK) Chinese text, the encoding Chinese Excel saves in "
            "(save the file as UTF-8 to be sure the questions read as intended)"
        ]
    }
    assert int(resp.headers["x-total-lines"]) == len(recs) == 3
    assert [r.get("id") for r in recs] == ["a", "b", None] and recs[2] == {"line": 4, "error": "empty query"}
    cli_recs, cli_errors = cli_batch(capsys, tmp_path, text.encode("gbk"), ".csv", "--mode", "lexical")
    assert [{k: v for k, v in r.items() if k != "line"} for r in recs[:2]] == cli_recs
    assert cli_errors == {4: "empty query"}
    utf8 = records(post(batch_client, text.encode("utf-8"), "text/csv", mode="lexical"))
    assert utf8 == recs  # the same answers as the UTF-8 file, without the warning


def test_each_answer_carries_its_warnings(batch_client: Any) -> None:
    recs = records(post(batch_client, "第 41 段\n第 999 段\n", "text/plain", name="q.txt"))
    assert "warnings" not in recs[0]
    assert recs[1]["line"] == 2 and recs[1]["results"] == []
    assert recs[1]["warnings"] == ["no paragraph 999 in CTOC/COP/2012/7 (zh): it has paragraphs 1-65"]


# --- a client that goes away ----------------------------------------------------------------------------


def test_a_client_that_leaves_stops_the_batch(fast_retriever: Any) -> None:
    """200 lines, 2 a chunk, 0.2 s a chunk: 20 s to the end. The client reads the first answers and hangs up;
    the chunk then being answered is the last one."""
    app = create_app(fast_retriever, ServerOptions(batch_chunk=2))
    slow = SlowRetriever(fast_retriever, 0.2)
    app.state.pipeline.retriever = slow
    body = "第 1 段\n".encode() * 200
    with live_server(app) as port:
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(
            b"POST /api/batch?mode=lexical HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        data = b""
        while b'"results"' not in data:
            data += s.recv(1 << 16)
        s.close()
        time.sleep(1.0)
        stopped_at = slow.calls
        time.sleep(1.5)
        assert slow.calls == stopped_at and stopped_at < 15, (stopped_at, slow.calls)
        # the server goes on answering others
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s2:
            s2.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            assert s2.recv(100).startswith(b"HTTP/1.1 200 ")
