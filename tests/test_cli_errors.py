"""A corpus of bad inputs run through the command line: every one is answered or refused with one clear
message and a documented exit code — zero tracebacks, and nothing a query carries reaches the terminal raw.

The commands run in-process (``pipeline.cli.main``) so hundreds of cases take seconds; questions use
``--mode lexical`` here (the hybrid path is fuzzed through the Python API with the fake embedder in
test_fuzz.py, and a slow test below runs a sample through the real model).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import BAD_QUERIES

from pipeline.cli import main

BAD_OPTIONS = [
    ["-k", "0"],
    ["-k", "-1"],
    ["-k", "x"],
    ["-k", "1e3"],
    ["-k", "100000"],
    ["-k", ""],
    ["--mode", "bogus"],
    ["--mode", ""],
]

BAD_SETTINGS = [
    "fusion=bogus",
    "max_query_chars=-1",
    "max_query_chars=0",
    "top_k=0",
    "top_k=abc",
    "top_k=",
    "nope=1",
    "=1",
    "top_k",
    "bm25_b=2",
    "bm25_k1=-1",
    "sentence_weight=nan",
    "sentence_weight=inf",
    "lexical_weight_zh=-0.1",
    "lexical_weight_en=1.5",
    "query_encoder=gpu",
    "bm25_idf=tfidf",
    "dense_query_terms=maybe",
    "batch_size=0",
    "rrf_k=-5",
    "pivot_weight=-1",
    "root=/tmp",
]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own usage errors
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def check(code: int, out: str, err: str, allowed: tuple[int, ...] = (0, 1, 2)) -> None:
    assert code in allowed, (code, err[-500:])
    assert "Traceback" not in err and "Traceback" not in out
    assert "\x1b" not in out and "\x1b" not in err  # escape sequences from input never reach the terminal raw
    if code == 2:
        assert "error" in err.lower(), err


@pytest.mark.parametrize("query", BAD_QUERIES, ids=range(len(BAD_QUERIES)))
def test_bad_queries_search(capsys, lexical_index, query):
    code, out, err = run(capsys, ["search", "--mode", "lexical", "--", query])
    check(code, out, err)
    if code == 0:
        assert out.startswith("Q: ")


@pytest.mark.parametrize("query", BAD_QUERIES, ids=range(len(BAD_QUERIES)))
def test_bad_queries_cite(capsys, query):
    code, out, err = run(capsys, ["cite", "--", query])
    check(code, out, err)


@pytest.mark.parametrize("query", BAD_QUERIES[::4], ids=range(len(BAD_QUERIES[::4])))
def test_bad_queries_json_output_is_valid_json(capsys, lexical_index, query):
    code, out, err = run(capsys, ["search", "--mode", "lexical", "--json", "--", query])
    check(code, out, err)
    if code == 0:
        assert json.loads(out)["query"]


@pytest.mark.parametrize("opts", BAD_OPTIONS, ids=[" ".join(o) for o in BAD_OPTIONS])
@pytest.mark.parametrize("command", ["search", "batch"])
def test_bad_option_values(capsys, tmp_path, opts, command):
    args = (
        [command, *opts, "paragraph 3"]
        if command == "search"
        else [command, *opts, str(_file(tmp_path, "第 3 段\n"))]
    )
    code, out, err = run(capsys, args)
    check(code, out, err, allowed=(2,))


@pytest.mark.parametrize("setting", BAD_SETTINGS)
@pytest.mark.parametrize("command", [["search", "paragraph 3"], ["paragraphs", "3"]])
def test_bad_settings(capsys, setting, command):
    code, out, err = run(capsys, ["--set", setting, *command])
    check(code, out, err, allowed=(2,))
    assert "setting" in err or "--set" in err


def test_query_starting_with_a_dash_gets_a_hint(capsys):
    code, out, err = run(capsys, ["search", "-pirates"])
    check(code, out, err, allowed=(2,))
    assert "--" in err and "pipeline search -- -pirates" in err


@pytest.mark.parametrize(
    "spec", ["abc", "5-3", "999", "-1", "1-100000000", "", "１２", "3,,", "3-", "-", "0"]
)
def test_bad_paragraph_numbers(capsys, spec):
    code, out, err = run(capsys, ["paragraphs", "--", spec])
    check(code, out, err)


@pytest.mark.parametrize("model", ["/no/such/dir", "FILE", "EMPTY_DIR"])
def test_bad_model_paths(capsys, tmp_path, model):
    if model == "FILE":
        model = str(_file(tmp_path, "not a model"))
    elif model == "EMPTY_DIR":
        (tmp_path / "empty").mkdir()
        model = str(tmp_path / "empty")
    code, out, err = run(capsys, ["--model", model, "search", "How much ransom did pirates receive?"])
    check(code, out, err, allowed=(2,))
    assert "--model" in err and "stale" not in err


def _file(tmp_path: Path, text: str | bytes, name: str = "q.txt") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return p


EVAL_FILES = {
    "missing": None,
    "dir": "DIR",
    "empty": b"",
    "garbage": b"\x00\xff\xfe garbage",
    "bad-json": b'{"id": 1, "query": "x", "relevant": [1]\n',
    "no-relevant": b'{"id": 1, "query": "x"}\n',
    "paragraph-999": b'{"id": 1, "query": "x", "relevant": [999], "lang": "en", "kind": "question"}\n',
    "not-a-list": b'{"id": 1, "query": "x", "relevant": 3}\n',
    "gbk": '{"id": 1, "query": "海盗", "relevant": [1]}\n'.encode("gbk"),
    "array": b"[1, 2, 3]\n",
}


@pytest.mark.parametrize("kind", list(EVAL_FILES))
def test_bad_qrels(capsys, tmp_path, lexical_index, kind):
    data = EVAL_FILES[kind]
    if data is None:
        path = tmp_path / "missing.jsonl"
    elif data == "DIR":
        path = tmp_path
    else:
        path = _file(tmp_path, data, "q.jsonl")
    code, out, err = run(capsys, ["eval", "--mode", "lexical", str(path)])
    check(code, out, err, allowed=(2,))
    assert str(path) in err


BATCH_FILES = {
    "dir": "DIR",
    "missing": None,
    "binary": bytes(range(256)) * 4,
    "utf16": "第 3 段\n".encode("utf-16"),
    "gbk": "第 3 段\n海盗赎金\n".encode("gbk"),
    "one-bad-byte": b"\xe7\xac\xac 3 \xe6\xae\xb5\n\xff\xfe\nparagraph 4\n",
    "bad-jsonl": b'{"query": "\\ud800 x"}\n{"query": "paragraph 3"}\n' + b"[" * 100_000 + b"\n",
    "csv-unclosed": b'id,query\n1,"paragraph 3\n2,paragraph 4\n',
    "csv-dup-header": b"query,query,id\nx,y,1\n",
    "u2028": '{"id": "a", "query": "paragraph\u20283"}\n{"id": "b", "query": "第 4 段"}\n'.encode(),
}


@pytest.mark.parametrize("kind", list(BATCH_FILES))
def test_bad_batch_inputs(capsys, tmp_path, kind):
    data = BATCH_FILES[kind]
    suffix = ".csv" if kind.startswith("csv") else ".jsonl" if "json" in kind or kind == "u2028" else ".txt"
    if data is None:
        path = tmp_path / "missing.txt"
    elif data == "DIR":
        path = tmp_path
    else:
        path = _file(tmp_path, data, "q" + suffix)
    code, out, err = run(capsys, ["batch", str(path), "-o", str(tmp_path / "out.jsonl"), "--mode", "lexical"])
    check(code, out, err, allowed=(0, 1, 2))


@pytest.mark.parametrize("where", ["missing-dir", "dir", "parent-is-file", "same-as-input"])
def test_bad_batch_outputs_are_refused_before_work(capsys, tmp_path, where):
    src = _file(tmp_path, "第 3 段\n")
    out = {
        "missing-dir": tmp_path / "no" / "such" / "out.jsonl",
        "dir": tmp_path,
        "parent-is-file": src / "x.jsonl",
        "same-as-input": src,
    }[where]
    code, _, err = run(capsys, ["batch", str(src), "-o", str(out)])
    check(code, "", err, allowed=(2,))
    assert src.read_text(encoding="utf-8") == "第 3 段\n"


# text arguments a non-UTF-8 terminal sends: Python hands their bytes over as surrogate escapes
GBK_PIRATES = "海盗".encode("gbk").decode("utf-8", "surrogateescape")
NON_UTF8_ARGS = {
    "gbk-query": ["search", "--mode", "lexical", "--", GBK_PIRATES],
    "latin1-query": ["search", "--mode", "lexical", "--", "pirates caf\udce9"],
    "cite-ref": ["cite", "--", "r\udcffsolution 65/230"],
    "paragraphs-doc": ["paragraphs", "--doc", "CTOC/COP/2012/\udcff", "3"],
    "search-doc": ["search", "--mode", "lexical", "--doc", "\udcfe", "paragraph 3"],
}


@pytest.mark.parametrize("kind", list(NON_UTF8_ARGS))
def test_text_arguments_that_are_not_utf8(capsys, lexical_index, kind):
    code, out, err = run(capsys, NON_UTF8_ARGS[kind])
    check(code, out, err, allowed=(2,))
    assert "is not UTF-8 text" in err and err.count("\n") == 1, err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full here")
@pytest.mark.parametrize("fmt", ["jsonl", "csv", "text"])
def test_batch_output_to_a_full_device(capsys, tmp_path, lexical_index, fmt):
    src = _file(tmp_path, "第 3 段\n")
    code, out, err = run(capsys, ["batch", "--mode", "lexical", "--format", fmt, str(src), "-o", "/dev/full"])
    check(code, out, err, allowed=(2,))
    assert err == "pipeline: error: cannot write the output (/dev/full: No space left on device)\n", err


def test_corpus_has_at_least_200_cases():
    n = (
        2 * len(BAD_QUERIES)
        + len(BAD_QUERIES[::4])
        + 2 * len(BAD_OPTIONS)
        + 2 * len(BAD_SETTINGS)
        + 1
        + 11
        + 3
    )
    n += len(EVAL_FILES) + len(BATCH_FILES) + 4
    n += len(NON_UTF8_ARGS) + 3
    assert n >= 200, n


@pytest.mark.slow
@pytest.mark.parametrize("query", BAD_QUERIES[::3], ids=range(len(BAD_QUERIES[::3])))
def test_bad_queries_hybrid_with_the_model(capsys, retriever, query):
    os.environ.setdefault("PIPELINE_HOME", str(retriever.cfg.root))
    code, out, err = run(capsys, ["search", "--", query])
    check(code, out, err)


def test_non_utf8_glossary_names_file_and_line(tmp_path, home, analyzer):
    import shutil
    import subprocess
    import sys

    analyzer.translator  # noqa: B018 - the session's dictionary cache, copied below
    shutil.copytree(home / "corpus", tmp_path / "corpus")
    shutil.copytree(home / "indexes" / "translate", tmp_path / "indexes" / "translate")
    g = tmp_path / "corpus" / "glossary.tsv"
    g.write_bytes(g.read_bytes() + "pirate ship\t海盗船\n".encode("gbk"))
    lines = g.read_bytes().count(b"\n")
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", "search", "--mode", "lexical", "ransom"],
        capture_output=True,
        text=True,
        env={**os.environ, "PIPELINE_HOME": str(tmp_path)},
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"{g}:{lines}: not UTF-8" in r.stderr
