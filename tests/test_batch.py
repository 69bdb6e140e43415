"""Batch input parsing, atomic output, and the batch command on lookups (no model needed)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.batch import read_queries, write_results


def test_jsonl_with_bad_lines(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text(
        '{"id": "a", "query": "paragraph 3"}\nnot json\n{"id": "b", "query": "  "}\n'
        '{"id": "a", "query": "x"}\n\n{"query": "第 41 段"}\n',
        encoding="utf-8",
    )
    good, bad = read_queries(p)
    assert [(q.line, q.id) for q in good] == [(1, "a"), (6, "6")]
    assert [b.line for b in bad] == [2, 3, 4]
    assert "invalid JSON" in bad[0].message and "empty" in bad[1].message and "duplicate" in bad[2].message


def test_csv_and_text(tmp_path):
    c = tmp_path / "q.csv"
    c.write_text('id,query\nx1,"resolution 65/230"\nx2\n', encoding="utf-8")
    good, bad = read_queries(c)
    assert [q.id for q in good] == ["x1"] and bad[0].line == 3
    t = tmp_path / "q.txt"
    t.write_text("第 41 段\n\nparagraph 2\n", encoding="utf-8")
    good, bad = read_queries(t)
    assert [(q.id, q.query) for q in good] == [("1", "第 41 段"), ("3", "paragraph 2")] and not bad


def test_output_is_atomic(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text("old\n", encoding="utf-8")

    def records():
        yield {"id": "1", "query": "q", "route": "question", "results": []}
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_results(records(), out)
    assert out.read_text(encoding="utf-8") == "old\n"
    assert [f.name for f in tmp_path.iterdir()] == ["out.jsonl"]


def test_batch_command_answers_good_lines_and_fails_bad_ones(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text(
        '{"id": "r", "query": "resolution 65/230"}\n{oops\n{"id": "p", "query": "第 17 段"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "a.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", "batch", str(p), "-o", str(out)], capture_output=True, text=True
    )
    assert r.returncode == 1
    assert f"{p}:2:" in r.stderr
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["id"], x["route"], [h["paragraph"] for h in x["results"]]) for x in recs] == [
        ("r", "citation", [10, 12]),
        ("p", "paragraph", [17]),
    ]
    csv_out = tmp_path / "a.csv"
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", "batch", str(p), "-o", str(csv_out), "--format", "csv"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and csv_out.read_text(encoding="utf-8").splitlines()[0].startswith(
        "id,query,route,rank,document,lang,paragraph,citation"
    )


def test_answer_warnings_are_printed_per_line(tmp_path):
    """An answer's warnings are in its record and, named by file and line, on standard error."""
    p = tmp_path / "q.txt"
    p.write_text("第 41 段\n第 999 段\nresolution 65/230\n", encoding="utf-8")
    out = tmp_path / "a.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", "batch", str(p), "-o", str(out)], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    [warning] = recs[1]["warnings"]
    assert "999" in warning and "warnings" not in recs[0]
    assert f"pipeline: warning: {p}:2: {warning}" in r.stderr.splitlines()
    assert f"{p}:1:" not in r.stderr and f"{p}:3:" not in r.stderr


def test_run_batch_collects_the_warnings_of_resumed_answers_too(tmp_path):
    from pipeline.batch import BatchQuery, run_batch

    queries = [BatchQuery(n, str(n), f"q{n}") for n in range(1, 5)]
    fail = [True]

    def answer(qs):
        if fail[0] and "q3" in qs:
            raise KeyboardInterrupt
        return [{"query": q, "route": "paragraph", "results": [], "warnings": [f"about {q}"]} for q in qs]

    out = str(tmp_path / "a.jsonl")
    opts = {"k": None}
    with pytest.raises(KeyboardInterrupt):
        run_batch(queries, answer, out, "jsonl", resume=False, options=opts, chunk=2)
    fail[0] = False
    report = run_batch(queries, answer, out, "jsonl", resume=True, options=opts, chunk=2)
    assert report.resumed == 2
    assert [(w.line, w.message) for w in report.warnings] == [(n, f"about q{n}") for n in range(1, 5)]


def test_bom_starts_a_csv_for_excel(tmp_path):
    p = tmp_path / "q.txt"
    p.write_text("第 41 段\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pipeline", "batch", str(p), "--format", "csv"]
    plain = subprocess.run([*cmd, "-o", str(tmp_path / "plain.csv")], capture_output=True, text=True)
    bom = subprocess.run([*cmd, "-o", str(tmp_path / "bom.csv"), "--bom"], capture_output=True, text=True)
    streamed = subprocess.run([*cmd, "--bom"], capture_output=True)
    assert plain.returncode == bom.returncode == streamed.returncode == 0, bom.stderr
    plain_bytes = (tmp_path / "plain.csv").read_bytes()
    assert plain_bytes.startswith(b"id,query,")  # the default is unchanged: no BOM
    assert (tmp_path / "bom.csv").read_bytes() == b"\xef\xbb\xbf" + plain_bytes == streamed.stdout
    r = subprocess.run([*cmd[:-2], "--bom"], capture_output=True, text=True)
    assert r.returncode == 2 and "--bom is for --format csv" in r.stderr
