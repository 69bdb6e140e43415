"""Resumable batches: an interrupted `pipeline batch -o OUT` leaves OUT.partial; `--resume` answers only what
is missing and writes an OUT byte-identical to an uninterrupted run. Lookups only (no model needed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline import batch


def lookup_queries(n: int) -> str:
    forms = ["第 {} 段", "paragraph {}", "resolution 65/230", "para. {}", "S/2009/146", "¶{}"]
    return "".join(forms[i % len(forms)].format(i % 65 + 1) + "\n" for i in range(n))


def cli(*args: object) -> list[str]:
    return [sys.executable, "-m", "pipeline", "batch", *map(str, args)]


def test_sigkill_mid_run_then_resume_gives_the_uninterrupted_file(tmp_path):
    inp = tmp_path / "q.txt"
    inp.write_text(lookup_queries(400), encoding="utf-8")
    clean = tmp_path / "clean.jsonl"
    r = subprocess.run(cli(inp, "-o", clean, "--chunk", "1", "-q"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    for _attempt in range(3):  # each answer is fsync'd: 400 of them take far longer than reaching 5
        proc = subprocess.Popen(
            cli(inp, "-o", out, "--chunk", "1", "-q"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if partial.exists() and partial.read_bytes().count(b'"committed"') >= 5:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.0005)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            break
        out.unlink(missing_ok=True)
    else:
        pytest.fail("could not interrupt the batch mid-run")
    assert not out.exists() and partial.exists()
    saved = partial.read_bytes().count(b'"committed"')
    assert 5 <= saved < 400

    r = subprocess.run(cli(inp, "-o", out, "--chunk", "1", "-q"), capture_output=True, text=True)
    assert r.returncode == 2 and f"{partial}" in r.stderr and "--resume" in r.stderr
    assert not out.exists() and partial.exists()

    r = subprocess.run(cli(inp, "-o", out, "--chunk", "1", "--resume", "-q"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == clean.read_bytes()
    assert not partial.exists()


def fake_answer(calls: list[list[str]]):
    def answer(queries: list[str]) -> list[dict]:
        calls.append(list(queries))
        return [
            {"query": q, "error": "no"}
            if q == "bad"
            else {
                "query": q,
                "route": "paragraph",
                "results": [
                    {
                        "paragraph": len(q),
                        "score": 0.1 * len(q),
                        "section": ["S", "T"],
                        "text": f"text of {q}",
                        "answer": q,
                    }
                ],
            }
            for q in queries
        ]

    return answer


QUERIES = [batch.BatchQuery(i + 1, f"q{i}", "bad" if i == 3 else f"query {i}" + "x" * i) for i in range(11)]


class Interrupt(BaseException):
    pass


def interrupted_after(chunks: int, calls: list[list[str]]):
    inner = fake_answer(calls)

    def answer(queries: list[str]) -> list[dict]:
        if len(calls) == chunks:
            raise Interrupt
        return inner(queries)

    return answer


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "text"])
def test_resume_drops_a_torn_line_and_answers_only_what_is_missing(tmp_path, fmt):
    clean = tmp_path / f"clean.{fmt}"
    batch.run_batch(QUERIES, fake_answer([]), str(clean), fmt, resume=False, options={"k": 5}, chunk=3)
    out = tmp_path / f"out.{fmt}"
    partial = tmp_path / f"out.{fmt}.partial"
    calls: list[list[str]] = []
    with pytest.raises(Interrupt):
        batch.run_batch(
            QUERIES, interrupted_after(2, calls), str(out), fmt, resume=False, options={"k": 5}, chunk=3
        )
    assert not out.exists() and partial.exists()
    with open(partial, "ab") as f:  # a torn line: the run was killed while writing
        f.write(b'{"id": "q6", "query": "query 6xxx')

    with pytest.raises(batch.BatchOutputError, match="--resume"):
        batch.run_batch(QUERIES, fake_answer([]), str(out), fmt, resume=False, options={"k": 5}, chunk=3)

    calls = []
    seen: list[int] = []
    report = batch.run_batch(
        QUERIES,
        fake_answer(calls),
        str(out),
        fmt,
        resume=True,
        options={"k": 5},
        chunk=3,
        progress=seen.append,
    )
    assert calls == [[q.query for q in QUERIES[6:9]], [q.query for q in QUERIES[9:]]]
    assert report.resumed == 6 and report.answered == 10 and report.bad == [batch.BadLine(4, "no")]
    assert seen == [6, 3, 2]
    assert out.read_bytes() == clean.read_bytes()
    assert not partial.exists()


@pytest.mark.parametrize(
    "change, says",
    [
        ({"queries": QUERIES[:10]}, "the input"),
        ({"options": {"k": 3}}, "k (5 then, 3 now)"),
        ({"fmt": "csv"}, "--format"),
        ({"chunk": 4}, "--chunk"),
    ],
)
def test_resume_refuses_other_input_or_options(tmp_path, change, says):
    out = tmp_path / "out.jsonl"
    with pytest.raises(Interrupt):
        batch.run_batch(
            QUERIES, interrupted_after(1, []), str(out), "jsonl", resume=False, options={"k": 5}, chunk=3
        )
    before = (tmp_path / "out.jsonl.partial").read_bytes()
    kw = {"queries": QUERIES, "fmt": "jsonl", "options": {"k": 5}, "chunk": 3} | change
    with pytest.raises(batch.BatchOutputError, match="cannot resume") as e:
        batch.run_batch(
            kw["queries"],
            fake_answer([]),
            str(out),
            kw["fmt"],
            resume=True,
            options=kw["options"],
            chunk=kw["chunk"],
        )
    assert says in str(e.value) and "out.jsonl.partial" in str(e.value)
    assert (tmp_path / "out.jsonl.partial").read_bytes() == before and not out.exists()


def test_resume_without_a_side_file_starts_afresh(tmp_path):
    out = tmp_path / "out.jsonl"
    report = batch.run_batch(QUERIES, fake_answer([]), str(out), "jsonl", resume=True, options={}, chunk=3)
    assert (
        report.answered == 10
        and report.resumed == 0
        and len(out.read_text(encoding="utf-8").splitlines()) == 10
    )


def test_resume_needs_an_output_file(tmp_path):
    inp = tmp_path / "q.txt"
    inp.write_text(lookup_queries(3), encoding="utf-8")
    r = subprocess.run(cli(inp, "--resume"), capture_output=True, text=True)
    assert r.returncode == 2 and "--resume" in r.stderr and "standard output" in r.stderr
    with pytest.raises(batch.BatchOutputError, match="cannot be resumed"):
        batch.run_batch(QUERIES, fake_answer([]), None, "jsonl", resume=True, options={})


def test_side_file_is_in_the_help():
    r = subprocess.run(cli("--help"), capture_output=True, text=True)
    assert r.returncode == 0 and "--resume" in r.stdout and ".partial" in r.stdout


def test_another_run_holding_the_side_file_is_refused(tmp_path):
    pytest.importorskip("fcntl")
    import fcntl

    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    with pytest.raises(Interrupt):
        batch.run_batch(
            QUERIES, interrupted_after(1, []), str(out), "jsonl", resume=False, options={}, chunk=3
        )
    fd = os.open(partial, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(batch.BatchOutputError, match="another `pipeline batch` run"):
            batch.run_batch(QUERIES, fake_answer([]), str(out), "jsonl", resume=True, options={}, chunk=3)
    finally:
        os.close(fd)
    report = batch.run_batch(QUERIES, fake_answer([]), str(out), "jsonl", resume=True, options={}, chunk=3)
    assert report.resumed == 3 and json.loads(out.read_text(encoding="utf-8").splitlines()[0])["id"] == "q0"


def test_resume_after_a_kill_before_the_header_was_complete(tmp_path):
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    partial.write_bytes(b'{"chunk": 3, "format": "jso')
    clean = tmp_path / "clean.jsonl"
    batch.run_batch(QUERIES, fake_answer([]), str(clean), "jsonl", resume=False, options={}, chunk=3)
    with pytest.raises(batch.BatchOutputError, match="--resume"):
        batch.run_batch(QUERIES, fake_answer([]), str(out), "jsonl", resume=False, options={}, chunk=3)
    report = batch.run_batch(QUERIES, fake_answer([]), str(out), "jsonl", resume=True, options={}, chunk=3)
    assert report.resumed == 0 and out.read_bytes() == clean.read_bytes() and not partial.exists()


def test_a_damaged_side_file_is_refused_not_trusted(tmp_path):
    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    with pytest.raises(Interrupt):
        batch.run_batch(
            QUERIES, interrupted_after(2, []), str(out), "jsonl", resume=False, options={}, chunk=3
        )
    lines = partial.read_bytes().split(b"\n")
    lines[2] = b"garbage"  # inside the first committed chunk
    partial.write_bytes(b"\n".join(lines))
    with pytest.raises(batch.BatchOutputError, match="damaged"):
        batch.run_batch(QUERIES, fake_answer([]), str(out), "jsonl", resume=True, options={}, chunk=3)
    assert not out.exists()
