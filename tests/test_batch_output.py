"""Batch output: checked before any question is answered, written through symlinks, streamed to FIFOs and
devices, with the permissions a user expects; text output honours -o; -k must be at least 1."""

from __future__ import annotations

import json
import os
import select
import shutil
import stat
import subprocess
import sys
import tempfile
import time

import pytest
from support import unprivileged_prefix

from pipeline import batch

INPUT = "第 12 段\nparagraph \xff 7\nresolution 65/230\n".encode("utf-8", "surrogateescape")


def run(*args: object, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "batch", *map(str, args)],
        capture_output=True,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


@pytest.fixture
def query_file(tmp_path):
    p = tmp_path / "q.txt"
    p.write_bytes("第 12 段\nparagraph 7\nresolution 65/230\n".encode())
    return p


def ids(path: os.PathLike[str]) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["id"] for line in f.read().split("\n") if line]


# --- 5. output checked before any work ------------------------------------------------------------------


def _cases(tmp_path, inp):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    os.link(inp, tmp_path / "hardlink.txt")
    os.symlink(inp, tmp_path / "symlink.txt")
    return {
        "missing directory": (tmp_path / "missing" / "o.jsonl", "does not exist"),
        "existing directory": (tmp_path / "adir", "is a directory"),
        "parent is a file": (tmp_path / "afile" / "o.jsonl", "not a directory"),
        "same path": (inp, "is the input file"),
        "same inode": (tmp_path / "hardlink.txt", "is the input file"),
        "symlink to the input": (tmp_path / "symlink.txt", "is the input file"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "missing directory",
        "existing directory",
        "parent is a file",
        "same path",
        "same inode",
        "symlink to the input",
    ],
)
def test_bad_output_is_refused_before_any_work(tmp_path, case):
    inp = tmp_path / "q.txt"
    inp.write_bytes(INPUT)  # line 2 is bad: if the input were read first, its error would show
    out, says = _cases(tmp_path, inp)[case]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    r = run(inp, "-o", out)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert str(out) in r.stderr and says in r.stderr
    assert f"{inp}:2" not in r.stderr  # refused before the input was even read
    assert inp.read_bytes() == INPUT
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no output, no side file
    with pytest.raises(batch.BatchOutputError, match=says):
        batch.check_output(str(out), [str(inp)])


def test_read_only_output_directory_is_refused_before_any_work():
    d = tempfile.mkdtemp(prefix="pipeline-batch-test-")
    try:
        os.chmod(d, 0o755)
        inp = os.path.join(d, "q.txt")
        with open(inp, "wb") as f:
            f.write(INPUT)
        os.chmod(inp, 0o644)
        ro = os.path.join(d, "ro")
        os.mkdir(ro, 0o555)
        os.chmod(ro, 0o555)
        prefix = unprivileged_prefix()  # root writes anywhere: run as nobody
        out = os.path.join(ro, "o.jsonl")
        r = subprocess.run(
            [*prefix, sys.executable, "-m", "pipeline", "batch", inp, "-o", out],
            capture_output=True,
            text=True,
        )
        assert r.returncode == 2, r.stderr
        assert "Traceback" not in r.stderr and out in r.stderr and "no permission" in r.stderr
        assert f"{inp}:2" not in r.stderr and os.listdir(ro) == []
    finally:
        shutil.rmtree(d, ignore_errors=True)


# --- 6. special files and permissions -------------------------------------------------------------------


def test_symlink_output_is_written_through(tmp_path, query_file):
    real = tmp_path / "real"
    real.mkdir()
    target = real / "answers.jsonl"
    target.write_text("old\n", encoding="utf-8")
    os.chmod(target, 0o640)
    link = tmp_path / "out.jsonl"
    link.symlink_to(target)
    r = run(query_file, "-o", link)
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert ids(target) == ["1", "2", "3"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "q.txt", "real"]
    assert [p.name for p in real.iterdir()] == ["answers.jsonl"]


def _read_fifo_while(proc: subprocess.Popen[str], fd: int, timeout: float = 60) -> bytes:
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        readable, _, _ = select.select([fd], [], [], 0.05)
        chunk = os.read(fd, 1 << 16) if readable else b""
        data += chunk
        if not chunk and proc.poll() is not None:
            return data + os.read(fd, 1 << 16)
        if not chunk:
            time.sleep(0.01)
    proc.kill()
    raise AssertionError("the batch did not finish")


def test_fifo_output_is_streamed_not_replaced(tmp_path, query_file):
    fifo = tmp_path / "answers.fifo"
    os.mkfifo(fifo)
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader, so the writer's open does not block
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "batch", str(query_file), "-o", str(fifo)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        data = _read_fifo_while(proc, fd)
        _, err = proc.communicate()
    finally:
        os.close(fd)
    assert proc.returncode == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert [json.loads(line)["id"] for line in data.decode("utf-8").splitlines()] == ["1", "2", "3"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answers.fifo", "q.txt"]


def test_character_device_output_is_written_as_a_stream(tmp_path, query_file):
    if os.geteuid() != 0:
        pytest.skip("creating a character device (a private /dev/null) in tmp_path needs root")
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        with open(dev, "wb") as f:
            f.write(b"probe")
    except OSError as e:
        pytest.skip(f"cannot create or open a device node here: {e}")
    r = run(query_file, "-o", dev)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISCHR(os.lstat(dev).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "q.txt"]
    r = run(query_file, "-o", dev, "--resume")
    assert r.returncode == 2 and "--resume" in r.stderr


def test_output_file_permissions(tmp_path, query_file):
    existing = tmp_path / "existing.jsonl"
    existing.write_text("old\n", encoding="utf-8")
    os.chmod(existing, 0o640)
    r = run(query_file, "-o", existing)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640 and ids(existing) == ["1", "2", "3"]
    new = tmp_path / "new.jsonl"
    r = run(query_file, "-o", new, umask=0o002)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(new.stat().st_mode) == 0o664  # 0666 & ~umask, not mkstemp's 0600


# --- 7. --format text honours -o ----------------------------------------------------------------------


def test_text_format_is_written_to_the_output_file(tmp_path, query_file):
    out = tmp_path / "out.txt"
    r = run(query_file, "--format", "text", "-o", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    text = out.read_text(encoding="utf-8")
    assert (
        text.startswith("[1] Q: 第 12 段")
        and "[3] Q: resolution 65/230" in text
        and "CTOC/COP/2012/7，第12段" in text
    )


# --- 8. -k must be at least 1 -------------------------------------------------------------------------


@pytest.mark.parametrize("k", ["0", "-1"])
def test_k_below_one_is_refused(tmp_path, query_file, k):
    out = tmp_path / "o.jsonl"
    r = run(query_file, "-o", out, "-k", k)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "-k" in r.stderr and k in r.stderr
    assert not out.exists()


# --- 10. the report of run_batch -----------------------------------------------------------------------


def fake_answer(queries: list[str]) -> list[dict]:
    out = []
    for q in queries:
        if "boom" in q:
            out.append({"query": q, "error": f"cannot answer {q!r}"})
        else:
            out.append(
                {
                    "query": q,
                    "route": "paragraph",
                    "results": [{"paragraph": 1, "score": 1.0, "section": ["A"], "text": "t", "answer": "t"}],
                }
            )
    return out


def test_run_batch_reports_failed_queries_and_leaves_them_out(tmp_path):
    qs = [batch.BatchQuery(1, "a", "x"), batch.BatchQuery(3, "b", "boom"), batch.BatchQuery(4, "c", "y")]
    out = tmp_path / "o.jsonl"
    report = batch.run_batch(qs, fake_answer, str(out), "jsonl", resume=False, options={}, chunk=2)
    assert report.answered == 2 and report.bad == [batch.BadLine(3, "cannot answer 'boom'")]
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in recs] == ["a", "c"] and all(next(iter(r)) == "id" for r in recs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl"]


def test_run_batch_csv_keeps_a_query_without_results(tmp_path):
    qs = [batch.BatchQuery(1, "a", "x")]
    out = tmp_path / "o.csv"
    batch.run_batch(
        qs,
        lambda q: [{"query": "x", "route": "question", "results": []}],
        str(out),
        "csv",
        resume=False,
        options={},
    )
    assert out.read_text(encoding="utf-8").splitlines() == [
        ",".join(batch.CSV_COLUMNS),
        "a,x,question" + "," * (len(batch.CSV_COLUMNS) - 3),
    ]
