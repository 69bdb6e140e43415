"""Output and terminals, as a hostile run meets them: an output that cannot be written (a full disk, a
closed descriptor, a reader that leaves), a terminal that cannot encode Chinese or a locale that does not
decode it, and report text carrying terminal escape sequences.

The stream cases run the real console script (``python -m pipeline``) in a subprocess, since they are about
the process's own descriptors; the report cases run in-process on a scratch home.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support import FIREARMS, FakeEmbedder

from pipeline.cli import main

DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full here")
ERROR_LINE = re.compile(r"pipeline: error: cannot write the output \([^\n]+\)\n")
TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""What must never reach a terminal from a report: C0 controls but tab and newline, DEL, C1."""


def pipeline(
    *args: str | bytes,
    env: dict[str, str] | None = None,
    shell_redirect: str = "",
    **kw: Any,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m pipeline ARGS`` (under ``sh -c 'exec … REDIRECT'`` when a redirection is given)."""
    cmd: list[str | bytes] = [sys.executable, "-m", "pipeline", *args]
    if shell_redirect:
        cmd = ["sh", "-c", f'exec "$@" {shell_redirect}', "sh", *cmd]
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.run(cmd, env={**os.environ, **(env or {})}, timeout=300, check=False, **kw)


def assert_one_output_error(r: subprocess.CompletedProcess[bytes]) -> None:
    err = r.stderr.decode("utf-8")
    assert r.returncode == 2, (r.returncode, err)
    assert ERROR_LINE.fullmatch(err), err  # one line: no traceback, no "Exception ignored … flush"


@pytest.fixture(scope="module")
def qrels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("qrels") / "q.jsonl"
    p.write_text('{"id": 1, "query": "海盗", "relevant": [18], "lang": "zh", "kind": "question"}\n', "utf-8")
    return p


def _commands(qrels: Path) -> dict[str, list[str]]:
    return {
        "search": ["search", "--mode", "lexical", "海盗"],
        "search-json": ["search", "--mode", "lexical", "--json", "海盗"],
        "paragraphs": ["paragraphs", "3"],
        "paragraphs-json": ["paragraphs", "--json"],
        "cite": ["cite", "resolution 65/230"],
        "documents": ["documents"],
        "eval": ["eval", "--mode", "lexical", str(qrels)],
        "batch": ["batch", "--mode", "lexical", str(qrels)],
        "batch-o": ["batch", "--mode", "lexical", str(qrels), "-o", str(DEV_FULL)],
        "help": ["--help"],
    }


COMMANDS = list(_commands(Path("q")))


# --- output that cannot be written -------------------------------------------------------------------------


@needs_dev_full
@pytest.mark.parametrize("command", COMMANDS)
def test_a_full_output_is_one_error_line_and_exit_code_2(
    lexical_index: Any, qrels: Path, command: str
) -> None:
    """``pipeline … > /dev/full`` (the same as ``2>&1 >/dev/full | cat``: stderr is a pipe here), and
    ``batch -o /dev/full``: one rule in every command."""
    with DEV_FULL.open("wb") as full:
        r = pipeline(*_commands(qrels)[command], stdout=full)
    assert_one_output_error(r)
    assert b"No space left on device" in r.stderr


@pytest.mark.parametrize("command", ["search", "paragraphs", "cite", "documents", "eval", "batch"])
def test_a_closed_output_is_one_error_line_and_exit_code_2(
    lexical_index: Any, qrels: Path, command: str
) -> None:
    r = pipeline(*_commands(qrels)[command], shell_redirect=">&-")
    assert_one_output_error(r)
    assert b"standard output is closed" in r.stderr


@pytest.mark.parametrize("stderr", ["2>&-", "2>/dev/full"])
def test_a_broken_stderr_keeps_the_exit_code_and_prints_nothing_else(lexical_index: Any, stderr: str) -> None:
    if "full" in stderr and not DEV_FULL.exists():
        pytest.skip("no /dev/full here")
    bad = pipeline("search", "--mode", "lexical", "", shell_redirect=stderr)
    assert bad.returncode == 2 and bad.stdout == b"", bad.stdout  # the error went nowhere, not to stdout
    good = pipeline("search", "--mode", "lexical", "海盗", shell_redirect=stderr)
    assert good.returncode == 0 and good.stdout.decode("utf-8").startswith("Q: 海盗")
    both = pipeline("search", "--mode", "lexical", "海盗", shell_redirect=f">&- {stderr}")
    assert both.returncode == 2 and both.stdout == b""


def test_a_reader_that_leaves_is_quiet_and_exit_code_0(lexical_index: Any) -> None:
    """``pipeline paragraphs --json | head -c 10``: 100 KB into a closed pipe — no message at all."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "paragraphs", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0
    assert err == b""


# --- terminals that cannot encode Chinese, locales that do not decode it ------------------------------------


@pytest.mark.parametrize(
    "env",
    [
        {"PYTHONIOENCODING": "ascii"},
        {"PYTHONIOENCODING": "latin-1"},
        {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""},
    ],
    ids=["ascii", "latin-1", "C-locale"],
)
def test_chinese_is_written_as_utf8_where_the_terminal_cannot_encode_it(
    lexical_index: Any, env: dict[str, str]
) -> None:
    """Every Chinese answer used to be a UnicodeEncodeError; in the C locale the Chinese query itself arrived
    undecoded and was refused as "nothing to search for"."""
    r = pipeline("search", "--mode", "lexical", "-k", "1", "海盗", env=env)
    assert r.returncode == 0, r.stderr.decode("utf-8", "replace")
    assert r.stdout.decode("utf-8").startswith("Q: 海盗   [route: question, zh]")
    assert r.stderr == b""
    r = pipeline("paragraphs", "3", env=env)
    assert r.returncode == 0 and "第3段" in r.stdout.decode("utf-8")
    r = pipeline("search", "--mode", "lexical", "。。。", env=env)  # an error echoing Chinese, on stderr
    assert r.returncode == 2 and b"Traceback" not in r.stderr
    assert r.stderr.decode("utf-8").startswith("pipeline: error: ")


def test_an_argument_that_is_not_utf8_is_refused_clearly(lexical_index: Any) -> None:
    """A GBK terminal's 海盗 (bytes that are not UTF-8): exit code 2 and a message that says so."""
    r = pipeline("search", "--mode", "lexical", "海盗".encode("gbk"))
    err = r.stderr.decode("utf-8")
    assert r.returncode == 2 and err.count("\n") == 1, err
    assert "the query is not UTF-8" in err and r"\xba\xa3" in err and "Traceback" not in err


# --- report text carrying terminal escape sequences ---------------------------------------------------------

HOSTILE = {
    "The Secretariat provided legislative assistance": (
        "The Secretariat \x1b]0;pwned\x07provided \x1b[31mlegislative\x1b[0m assistance\x9b2J"
    ),
    "II. Legislative assistance": "II. Legislative \x1b[5massistance\x90",
    "United Nations, Treaty Series": "United Nations, \x1b]8;;http://evil\x1b\\Treaty\x85 Series",
}


@pytest.fixture
def hostile_home(lib: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch home whose library has CTOC/COP/2014/5 with OSC, CSI and C1 sequences in a paragraph, a
    section heading and a footnote."""
    from pipeline.changes import add_reports

    text = FIREARMS.read_text(encoding="utf-8")
    for plain, hostile in HOSTILE.items():
        assert plain in text
        text = text.replace(plain, hostile, 1)
    src = tmp_path / "hostile" / FIREARMS.name
    src.parent.mkdir()
    src.write_text(text, encoding="utf-8")
    add_reports(lib, [src], embedder=FakeEmbedder())
    monkeypatch.setenv("PIPELINE_HOME", str(lib.root))
    return Path(lib.root)


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


DOC = ["--doc", "CTOC/COP/2014/5"]


@pytest.mark.parametrize(
    "argv",
    [
        ["paragraphs", *DOC, "3"],
        ["paragraphs", *DOC],
        ["search", "--mode", "lexical", *DOC, "legislative assistance Secretariat"],
        ["search", "--mode", "lexical", "--full", *DOC, "legislative assistance Secretariat"],
        ["search", "--mode", "lexical", *DOC, "paragraph 3"],
        ["cite", *DOC, "3"],
        ["cite", *DOC, "resolution 6/2"],
    ],
    ids=["paragraph", "paragraphs", "search", "search-full", "search-lookup", "cite", "cite-ref"],
)
def test_report_escape_sequences_never_reach_the_terminal(
    hostile_home: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = _run(capsys, argv)
    assert code == 0, err
    assert not TERMINAL_CONTROL.search(out) and not TERMINAL_CONTROL.search(err), out
    assert "\\x1b" in out  # shown as a visible escape, not dropped


def test_report_escape_sequences_in_a_text_batch(
    hostile_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    q = tmp_path / "q.txt"
    q.write_text("CTOC/COP/2014/5 paragraph 3\n", encoding="utf-8")
    code, out, err = _run(capsys, ["batch", "--mode", "lexical", "--format", "text", str(q)])
    assert code == 0, err
    assert not TERMINAL_CONTROL.search(out) and "\\x1b" in out


def test_report_escape_sequences_in_a_jsonl_batch_are_escaped(
    hostile_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSONL batch written to a terminal: ESC is escaped by JSON, DEL and C1 (a one-byte CSI) by the writer;
    every line parses back to the report's text."""
    q = tmp_path / "q.txt"
    q.write_text("CTOC/COP/2014/5 paragraph 3\n", encoding="utf-8")
    code, out, err = _run(capsys, ["batch", "--mode", "lexical", "--format", "jsonl", str(q)])
    assert code == 0, err
    assert not TERMINAL_CONTROL.search(out.replace("\n", ""))
    [record] = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert "\x9b2J" in record["results"][0]["text"]


@pytest.mark.parametrize("argv", [["paragraphs", "--json", *DOC, "3"], ["search", "--json", *DOC, "¶3"]])
def test_json_escapes_report_controls_and_keeps_them(
    hostile_home: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """``--json`` is not cleaned but escaped: no raw ESC or C1 byte, and the text parses back intact."""
    code, out, _ = _run(capsys, argv)
    assert code == 0
    assert not TERMINAL_CONTROL.search(out.replace("\n", ""))
    data = json.loads(out)
    record = data[0] if isinstance(data, list) else data["results"][0]
    assert "\x1b]0;pwned\x07provided \x1b[31mlegislative" in record["text"]
    assert "\x9b2J" in record["text"]
