"""Batch input that must never crash a batch or lose lines.

A file that cannot be used at all is refused with one message naming it (exit 2, nothing answered); a bad
line is reported as FILE:LINE and skipped while every other line is answered (exit 1). All queries here are
paragraph or citation lookups, which need no model.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest
from support import unprivileged_prefix

from pipeline import batch


def run(*args: object, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", "batch", *map(str, args)],
        capture_output=True,
        text=True,
        **kw,  # type: ignore[call-overload]
    )


def ids(path: os.PathLike[str]) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["id"] for line in f.read().split("\n") if line]


# --- 1. files that are not query files ----------------------------------------------------------------


def test_directory_input_is_refused_with_one_message(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    out = tmp_path / "o.jsonl"
    r = run(corpus, "-o", out)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert f"{corpus}: is a directory" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
    with pytest.raises(batch.BatchInputError, match="is a directory"):
        batch.read_queries(corpus)


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("missing.txt", None, "no such file"),
        ("nul.txt", b"paragraph 7\n\x00\x01\x02\x00binary\x00\n", "binary"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        ("sheet.csv", b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
    ],
)
def test_missing_and_binary_input_is_refused(tmp_path, name, content, says):
    p = tmp_path / name
    if content is not None:
        p.write_bytes(content)
    r = run(p, "-o", tmp_path / "o.jsonl")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and str(p) in r.stderr and says in r.stderr
    assert not (tmp_path / "o.jsonl").exists()
    with pytest.raises(batch.BatchInputError, match=says):
        batch.read_queries(p)


@pytest.fixture
def shared_dir():
    """A directory an unprivileged user can read (tmp_path's parents are private to root)."""
    d = tempfile.mkdtemp(prefix="pipeline-batch-test-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_unreadable_input_is_refused(shared_dir):
    p = os.path.join(shared_dir, "secret.txt")
    with open(p, "w", encoding="utf-8") as f:
        f.write("paragraph 7\n")
    os.chmod(p, 0)
    cmd = [*unprivileged_prefix(), sys.executable, "-m", "pipeline", "batch", p]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=shared_dir)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and f"{p}: permission denied" in r.stderr


# --- 2. encodings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_with_or_without_bom_is_read(tmp_path, bom):
    for name, text in (
        ("q.txt", "第 12 段\nparagraph 7\n"),
        ("q.jsonl", '{"id": "a", "query": "第 12 段"}\n'),
        ("q.csv", "id,query\na,第 12 段\n"),
    ):
        p = tmp_path / name
        p.write_bytes(bom + text.encode("utf-8"))
        good, bad = batch.read_queries(p)
        assert not bad and good[0].query == "第 12 段", name


TEXT = "第 12 段\nparagraph 7\n伪药对患者有什么危害？\n"


@pytest.mark.parametrize(
    "data, encoding",
    [
        (TEXT.encode("utf-16"), "UTF-16"),  # with a byte order mark
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), "UTF-16"),
        (TEXT.encode("utf-16-le"), "UTF-16LE"),  # no BOM: found by the NUL bytes
        (TEXT.encode("utf-16-be"), "UTF-16BE"),
        # GBK that does not read as common Chinese (traditional characters, outside GB2312): refused as before
        ("海盜贖金問題\n".encode("gbk"), "GBK"),
    ],
)
def test_utf16_and_doubtful_gbk_are_refused_with_the_way_to_convert(tmp_path, data, encoding):
    p = tmp_path / "q.txt"
    p.write_bytes(data)
    r = run(p, "-o", tmp_path / "o.jsonl")
    assert r.returncode == 2, r.stderr
    assert str(p) in r.stderr and encoding in r.stderr and "iconv -f" in r.stderr and "-t UTF-8" in r.stderr
    assert not (tmp_path / "o.jsonl").exists()


GB_WARNING = "not UTF-8; read as GB18030 (GBK) Chinese text"


@pytest.mark.parametrize(
    "name, data",
    [
        ("q.txt", TEXT.encode("gbk")),
        ("q.txt", ("€ " + TEXT).encode("gb18030")),  # € is not in GBK
        # what Chinese Excel saves as "CSV (comma delimited)": GBK with CRLF line ends
        ("q.csv", "id,query\r\na,第 12 段\r\nb,paragraph 7\r\nc,伪药对患者有什么危害？\r\n".encode("gbk")),
        ("q.txt", "海盗\n".encode("gbk")),  # two characters are enough
    ],
)
def test_gbk_and_gb18030_files_are_read_with_a_warning(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    out = tmp_path / "o.jsonl"
    r = run(p, "-o", out, "--mode", "lexical")
    assert r.returncode == 0, r.stderr
    assert f"pipeline: warning: {p}: {GB_WARNING}" in r.stderr and "iconv" not in r.stderr
    recs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = data.decode("gb18030").replace("\r\n", "\n").splitlines()
    if name.endswith(".csv"):
        expected = [row.split(",", 1)[1] for row in expected[1:]]
    assert [x["query"] for x in recs] == [q.strip() for q in expected]
    # the library says the same to the function it is given, or as a Python warning
    told: list[str] = []
    good, bad = batch.read_queries(p, warn=told.append)
    assert not bad and [q.query for q in good] == [x["query"] for x in recs]
    assert told == [
        f"{p}: {GB_WARNING}, the encoding Chinese Excel saves in (save the file as UTF-8 to be sure "
        "the questions read as intended)"
    ]
    with pytest.warns(batch.BatchInputWarning, match="GB18030"):
        batch.read_queries(p)


def test_utf8_comes_first_and_latin1_is_not_taken_for_gbk(tmp_path):
    """A UTF-8 file never gets the warning; accented Latin-1 lines (which GBK can decode into nonsense) stay
    bad lines; a file mixing UTF-8 Chinese and GBK lines keeps its GBK lines as bad lines."""
    told: list[str] = []
    utf8 = tmp_path / "u.txt"
    utf8.write_bytes(TEXT.encode("utf-8"))
    assert not batch.read_queries(utf8, warn=told.append)[1] and told == []
    latin = tmp_path / "l.txt"
    latin.write_bytes("Müller straße\nparagraph 7\n".encode("cp1252"))
    good, bad = batch.read_queries(latin, warn=told.append)
    assert told == [] and [q.id for q in good] == ["2"] and [b.line for b in bad] == [1]
    mixed = tmp_path / "m.txt"
    mixed.write_bytes("第 12 段\n".encode() + "海盗\n".encode("gbk"))
    good, bad = batch.read_queries(mixed, warn=told.append)
    assert told == [] and [q.id for q in good] == ["1"] and "looks like GBK" in bad[0].message


def test_one_non_utf8_line_fails_alone_and_the_summary_is_true(tmp_path):
    """Items 2 and 10: today the whole file is rejected as "1 of 1 lines failed"."""
    p = tmp_path / "q.txt"
    p.write_bytes("第 12 段\n".encode() + b"paragraph \xff 7\n" + b"resolution 65/230\n")
    out = tmp_path / "o.jsonl"
    r = run(p, "-o", out)
    assert r.returncode == 1, r.stderr
    assert f"{p}:2: not UTF-8" in r.stderr
    assert "1 of 3 lines failed; the others were answered" in r.stderr
    assert ids(out) == ["1", "3"]


def test_a_stray_byte_in_an_ascii_file_is_a_bad_line_not_a_gbk_file(tmp_path):
    p = tmp_path / "q.txt"
    p.write_bytes(b"paragraph 7\npara\xb5graph 8\nparagraph 9\n")
    good, bad = batch.read_queries(p)
    assert (
        [q.id for q in good] == ["1", "3"] and [b.line for b in bad] == [2] and "not UTF-8" in bad[0].message
    )


# --- 3. JSONL ----------------------------------------------------------------------------------------


def jsonl_that_crashed(tmp_path):
    p = tmp_path / "q.jsonl"
    lines = [
        '{"id": "a", "query": "paragraph 7"}',
        '{"id": "s", "query": "\\ud800 x"}',  # a lone surrogate, as a JSON escape
        "[" * 100_000 + "]" * 100_000,  # RecursionError
        '{"id": ' + "7" * 5000 + ', "query": "paragraph 8"}',  # ValueError: too many digits
        '{"id": "z", "query": "第 12 段"}',
    ]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_jsonl_lines_that_crashed_the_batch_are_bad_lines(tmp_path):
    p = jsonl_that_crashed(tmp_path)
    good, bad = batch.read_queries(p)
    assert [q.id for q in good] == ["a", "z"]
    assert [b.line for b in bad] == [2, 3, 4]
    assert (
        "surrogate" in bad[0].message and "nested too deeply" in bad[1].message and "digits" in bad[2].message
    )


def test_batch_command_survives_jsonl_that_crashed_it(tmp_path):
    p = jsonl_that_crashed(tmp_path)
    out = tmp_path / "o.jsonl"
    r = run(p, "-o", out)
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert all(f"{p}:{n}:" in r.stderr for n in (2, 3, 4))
    assert "3 of 5 lines failed; the others were answered" in r.stderr
    assert ids(out) == ["a", "z"]


def test_lines_are_split_on_newline_only(tmp_path):
    """U+2028/U+2029 written raw by json.dumps(ensure_ascii=False) must not split a JSONL line; a form feed
    or vertical tab must not shift a text file's ids; CRLF is a line end."""
    p = tmp_path / "q.jsonl"
    p.write_text(
        json.dumps({"id": "a", "query": "paragraph 7\u2028"}, ensure_ascii=False)
        + "\r\n"
        + json.dumps({"id": "b", "query": "第\u202912 段"}, ensure_ascii=False)
        + "\n"
        + '{"id": "c", "query": "paragraph 9"}\n',
        encoding="utf-8",
    )
    good, bad = batch.read_queries(p)
    assert not bad and [(q.line, q.id) for q in good] == [(1, "a"), (2, "b"), (3, "c")]
    t = tmp_path / "q.txt"
    t.write_text(
        "paragraph 1\n\x0c\nparagraph 3\x0bstill line 3\nparagraph 4\x1c\u0085\nparagraph 5\r\n",
        encoding="utf-8",
    )
    good, bad = batch.read_queries(t)
    assert not bad and [q.id for q in good] == ["1", "3", "4", "5"]
    assert good[1].query == "paragraph 3\x0bstill line 3"


# --- 4. CSV ------------------------------------------------------------------------------------------


def test_csv_field_longer_than_the_csv_module_limit_is_accepted(tmp_path):
    p = tmp_path / "q.csv"
    long_query = "paragraph 7 " + "x" * 200_000
    p.write_text(f'id,query\na,"{long_query}"\nb,paragraph 8\n', encoding="utf-8")
    good, bad = batch.read_queries(p)
    assert (
        not bad
        and [(q.line, q.id) for q in good] == [(2, "a"), (3, "b")]
        and good[0].query == long_query.strip()
    )
    # through the command, with the long field in a column that is not the query
    c = tmp_path / "notes.csv"
    c.write_text("id,query,note\na,paragraph 7," + "n" * 200_000 + "\nb,第 12 段,short\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    r = run(c, "-o", out)
    assert r.returncode == 0, r.stderr
    assert ids(out) == ["a", "b"]


def test_csv_unclosed_quote_is_reported_where_it_opened(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('id,query\na,paragraph 7\nb,"paragraph 8\nc,paragraph 9\nd,第 12 段\n', encoding="utf-8")
    good, bad = batch.read_queries(p)
    assert [(b.line, "unclosed quote" in b.message) for b in bad] == [(3, True)]
    assert [(q.line, q.id) for q in good] == [(2, "a"), (4, "c"), (5, "d")]
    out = tmp_path / "o.jsonl"
    r = run(p, "-o", out)
    assert r.returncode == 1 and f"{p}:3: unclosed quote" in r.stderr
    assert ids(out) == ["a", "c", "d"]


def test_csv_quoted_fields_still_work(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text('id,query\na,"paragraph\n7"\nb,"say ""paragraph 8"""\nc,He said "hi"\n', encoding="utf-8")
    good, bad = batch.read_queries(p)
    assert not bad and [(q.line, q.query) for q in good] == [
        (2, "paragraph\n7"),
        (4, 'say "paragraph 8"'),
        (5, 'He said "hi"'),
    ]


def test_csv_header_with_a_duplicate_column_is_refused(tmp_path):
    p = tmp_path / "q.csv"
    p.write_text("\nquery,query,id\nparagraph 7,paragraph 8,1\n", encoding="utf-8")
    with pytest.raises(batch.BatchInputError, match=r"q\.csv:2: .*'query' more than once"):
        batch.read_queries(p)
    r = run(p, "-o", tmp_path / "o.jsonl")
    assert r.returncode == 2 and f"{p}:2:" in r.stderr and "query" in r.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_mode_bits_of_the_input_are_irrelevant(tmp_path):
    """A read-only input is fine (only reading is needed)."""
    p = tmp_path / "q.txt"
    p.write_text("paragraph 7\n", encoding="utf-8")
    os.chmod(p, stat.S_IRUSR)
    good, bad = batch.read_queries(p)
    assert [q.query for q in good] == ["paragraph 7"] and not bad


def test_csv_from_spreadsheets_semicolons_tabs_and_old_mac_line_ends(tmp_path):
    for name, data in (
        ("semi.csv", b'id;query\r\na;paragraph 7\r\nb;"x; y"\r\n'),
        ("tab.csv", b"id\tquery\na\tparagraph 7\nb\tx; y\n"),
        ("mac.csv", b"id,query\ra,paragraph 7\rb,x; y\r"),
    ):
        p = tmp_path / name
        p.write_bytes(data)
        good, bad = batch.read_queries(p)
        assert not bad and [(q.line, q.id, q.query) for q in good] == [
            (2, "a", "paragraph 7"),
            (3, "b", "x; y"),
        ], name
