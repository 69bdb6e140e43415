"""What a hostile run against the library found (issue "40 tracebacks, silent wrong answers, and a catalog
that one bad entry bricks"): each test fails on the code before the fix. Every test works in a scratch home
with the real report indexed (fixture ``lib``); reports are added with the fake embedder, and the command
line runs as a subprocess with ``--mode lexical`` so nothing loads the model."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from support import NO_SYMBOL, REAL, FakeEmbedder, lock_held_elsewhere, run_pipeline

from pipeline.catalog import LibraryError, read_catalog
from pipeline.changes import add_reports, remove_documents
from pipeline.config import Config
from pipeline.ingest import IngestError, parse_report
from pipeline.library import load_library


def cli(cfg: Config, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pipeline(cfg.root, *args, timeout=120)


def catalog_bytes(cfg: Config) -> bytes:
    return (cfg.corpus_dir / "documents.json").read_bytes()


# --- 1. one document, one spelling -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", ["ctoc/cop/2012/7", "CTOC/COP/2012/ 7", "ＣＴＯＣ／ＣＯＰ／２０１２／７"]
)
def test_a_second_spelling_of_a_symbol_is_the_same_document(
    lib: Config, tmp_path: Path, spelling: str
) -> None:
    """UN symbols ignore case, width and spaces: adding a report under another spelling of a symbol the
    library has never makes a second document (before: a second 'ctoc/cop/2012/7' that `remove` then took
    with it)."""
    before = catalog_bytes(lib)
    other = tmp_path / "other.en.txt"
    other.write_bytes(NO_SYMBOL.read_bytes())
    with pytest.raises((LibraryError, IngestError)) as err:
        add_reports(lib, [other], symbol=spelling, lang="zh", embedder=FakeEmbedder())
    assert REAL in str(err.value) or "CTOC/COP/2012/7" in str(err.value)
    assert catalog_bytes(lib) == before
    [doc] = load_library(lib).documents
    assert doc.symbol == REAL
    # every spelling still finds the document, and `remove` names exactly what it removes
    r = cli(lib, "search", f"{spelling} 第 41 段", "--mode", "lexical", "--json")
    assert r.returncode == 0, r.stderr
    assert [h["document"] for h in json.loads(r.stdout)["results"]] == [REAL]
    change = remove_documents(lib, spelling)
    assert [(e.symbol, e.lang) for e in change.entries] == [(REAL, "zh")]


def test_a_symbol_is_stored_in_its_canonical_form(lib: Config, tmp_path: Path) -> None:
    other = tmp_path / "other.zh.txt"
    other.write_bytes(NO_SYMBOL.read_bytes())
    change = add_reports(lib, [other], symbol=" Ａ/TEST/2030/ 1 ", embedder=FakeEmbedder())
    assert [e.symbol for e in change.entries] == ["A/TEST/2030/1"]
    assert {e.symbol for e in read_catalog(lib) or []} == {REAL, "A/TEST/2030/1"}


@pytest.mark.parametrize("symbol", ["A" * 300, "A/" * 2500, "A/TEST\x1b[31m/1", "A/TEST/1;rm"])
def test_a_symbol_that_is_no_un_symbol_is_refused_cleanly(lib: Config, tmp_path: Path, symbol: str) -> None:
    """A 300- or 5,000-character symbol used to end in 'OSError: File name too long' from the index folder."""
    other = tmp_path / "other.zh.txt"
    other.write_bytes(NO_SYMBOL.read_bytes())
    before = catalog_bytes(lib)
    with pytest.raises(IngestError, match="--symbol"):
        add_reports(lib, [other], symbol=symbol, embedder=FakeEmbedder())
    assert catalog_bytes(lib) == before


# --- 2. file names ---------------------------------------------------------------------------------------


def test_a_hidden_file_name_is_added_under_a_plain_name(lib: Config, tmp_path: Path) -> None:
    """`pipeline add .hidden.zh.txt` used to enter '.hidden.zh.txt' in the catalog, after which every command
    failed on the catalog."""
    hidden = tmp_path / ".hidden.zh.txt"
    hidden.write_bytes(NO_SYMBOL.read_bytes())
    [entry] = add_reports(lib, [hidden], symbol="T/HID/1", embedder=FakeEmbedder()).entries
    assert entry.file == "hidden.zh.txt" and (lib.corpus_dir / "hidden.zh.txt").is_file()
    r = cli(lib, "documents")
    assert r.returncode == 0 and "T/HID/1" in r.stdout, r.stderr


def test_a_catalog_entry_with_a_bad_name_is_an_error_with_a_nonzero_exit(lib: Config) -> None:
    data = json.loads(catalog_bytes(lib))
    data[".hidden.zh.txt"] = {"symbol": "T/HID/1", "lang": "zh"}
    (lib.corpus_dir / "documents.json").write_text(json.dumps(data), encoding="utf-8")
    for args in (["documents"], ["search", "piracy", "--mode", "lexical"], ["remove", "T/HID/1"]):
        r = cli(lib, *args)
        assert r.returncode == 2 and "'.hidden.zh.txt'" in r.stderr and "Traceback" not in r.stderr, args


# --- 3. the catalog is no single point of failure --------------------------------------------------------


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "flipped":
        path.write_bytes(data[:10] + bytes([data[10] ^ 0x20 ^ 0x5B]) + data[11:])
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "emptied":
        path.write_bytes(b"")
    elif how == "deleted":
        path.unlink()
    elif how == "garbage":
        path.write_bytes(os.urandom(300))


@pytest.mark.parametrize("how", ["flipped", "truncated", "emptied", "deleted", "garbage"])
def test_a_damaged_catalog_is_refused_then_restored_by_build(lib: Config, tmp_path: Path, how: str) -> None:
    other = tmp_path / "other.zh.txt"
    other.write_bytes(NO_SYMBOL.read_bytes())
    add_reports(lib, [other], symbol="A/TEST/2030/1", embedder=FakeEmbedder())
    listed = cli(lib, "documents", "--json").stdout
    _damage(lib.corpus_dir / "documents.json", how)
    r = cli(lib, "documents")
    assert r.returncode == 2 and "pipeline build" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = cli(lib, "build", "--lexical-only")
    assert r.returncode == 0, r.stderr
    assert "restored from documents.json.bak" in r.stderr
    assert cli(lib, "documents", "--json").stdout == listed


def test_a_lost_catalog_and_backup_are_rebuilt_from_the_reports_indexes(lib: Config, tmp_path: Path) -> None:
    other = tmp_path / "other.zh.txt"
    other.write_bytes(NO_SYMBOL.read_bytes())
    add_reports(lib, [other], symbol="A/TEST/2030/1", embedder=FakeEmbedder())
    assert (
        cli(lib, "build", "--lexical-only").returncode == 0
    )  # a build keeps every report's entry (add: its own)
    before = [(e.file, e.symbol, e.lang, e.sha256) for e in read_catalog(lib) or []]
    (lib.corpus_dir / "documents.json").unlink()
    (lib.corpus_dir / "documents.json.bak").write_text("{", encoding="utf-8")
    r = cli(lib, "build", "--lexical-only")
    assert r.returncode == 0, r.stderr
    assert "rebuilt from the reports' indexes" in r.stderr
    assert [(e.file, e.symbol, e.lang, e.sha256) for e in read_catalog(lib) or []] == before


# --- 4. a report changed in corpus/ ------------------------------------------------------------------------


def test_a_truncated_report_is_refused_by_build(lib: Config) -> None:
    """`build` used to reindex a truncated report as a 28-paragraph document without a word."""
    [entry] = read_catalog(lib) or []
    path = lib.corpus_dir / entry.file
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    before = catalog_bytes(lib)
    r = cli(lib, "build", "--lexical-only")
    assert r.returncode == 2 and entry.file in r.stderr and "--accept-changes" in r.stderr, r.stderr
    assert catalog_bytes(lib) == before


# --- 5. jieba's cache ------------------------------------------------------------------------------------


def test_a_replaced_jieba_cache_is_not_trusted(lib: Config) -> None:
    """A valid but empty jieba cache used to change every answer while `build` said "up to date"."""
    import marshal

    want = cli(lib, "search", "海盗 赎金 索马里", "--mode", "lexical", "--json")
    assert want.returncode == 0, want.stderr
    cache = lib.index_dir / "jieba" / "jieba.cache"
    assert cache.is_file()
    with cache.open("wb") as f:
        marshal.dump(({}, 1), f)
    got = cli(lib, "search", "海盗 赎金 索马里", "--mode", "lexical", "--json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout) == json.loads(want.stdout)
    assert "does not match its record" in got.stderr


# --- 6. paragraph numbers past 999 -----------------------------------------------------------------------


def _numbered_report(n: int) -> str:
    head = "CTOC/COP/2099/1\n\n一. 背景\n\n"
    body = "\n".join(f"{i}. 第{i}号段落讲述了打击跨国有组织犯罪的合作。" for i in range(1, n + 1))
    return head + body + "\n"


def test_paragraph_numbers_past_999_are_paragraphs() -> None:
    corpus = parse_report(_numbered_report(1005), "many.zh.txt", lang="zh")
    assert [p.number for p in corpus.paragraphs] == list(range(1, 1006))
    assert corpus.paragraph(1000).text.startswith("第1000号段落")


def test_a_year_opening_a_line_stays_text() -> None:
    text = _numbered_report(3).replace("3. 第3号", "3. 会议于\n2012. 年举行，第3号")
    corpus = parse_report(text, "year.zh.txt", lang="zh")
    assert [p.number for p in corpus.paragraphs] == [1, 2, 3] and "2012." in corpus.paragraph(3).text


def test_too_many_paragraphs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.ingest.parser as parser

    monkeypatch.setattr(parser, "MAX_PARAGRAPHS", 100)
    with pytest.raises(IngestError, match="101 numbered paragraphs; reports of at most 100"):
        parse_report(_numbered_report(101), "many.zh.txt", lang="zh")


def test_a_lookup_of_paragraph_1000_is_a_lookup(lib: Config) -> None:
    r = cli(lib, "search", "第 1000 段", "--mode", "lexical", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["route"] == "paragraph", r.stdout
    assert "no paragraph 1000" in r.stderr


# --- 9. a full disk ---------------------------------------------------------------------------------------


def _enospc(*_a: Any, **_k: Any) -> None:
    raise OSError(errno.ENOSPC, "No space left on device", "corpus/x")


def test_add_on_a_full_disk_changes_nothing(
    lib: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.catalog as catalog

    other = tmp_path / "other.zh.txt"
    other.write_bytes(NO_SYMBOL.read_bytes())
    before = sorted(p.name for p in lib.corpus_dir.iterdir()), catalog_bytes(lib)
    monkeypatch.setattr(catalog, "write_bytes_atomic", _enospc)  # the catalog swap fails after the copy
    with pytest.raises(LibraryError, match="No space left on device; nothing was added"):
        add_reports(lib, [other], symbol="A/TEST/2030/1", embedder=FakeEmbedder())
    assert (sorted(p.name for p in lib.corpus_dir.iterdir()), catalog_bytes(lib)) == before


def test_remove_on_a_full_disk_changes_nothing(lib: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipeline.catalog as catalog

    before = catalog_bytes(lib)
    monkeypatch.setattr(catalog, "write_bytes_atomic", _enospc)
    with pytest.raises(LibraryError, match="nothing was removed"):
        remove_documents(lib, REAL)
    assert catalog_bytes(lib) == before


# --- 11. sizes, and files that are not files ----------------------------------------------------------------


def test_an_oversized_file_is_refused_before_it_is_read(
    lib: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.ingest.text as text

    monkeypatch.setattr(text, "MAX_REPORT_BYTES", 1000)
    big = tmp_path / "big.zh.txt"
    big.write_bytes(NO_SYMBOL.read_bytes() * 3)
    with pytest.raises(IngestError, match="reports of at most"):
        add_reports(lib, [big], symbol="A/TEST/2030/1", embedder=FakeEmbedder())


def test_a_named_pipe_is_refused_at_once_without_holding_the_lock(lib: Config, tmp_path: Path) -> None:
    """`pipeline add FIFO` used to block forever while holding the build lock (issue 26, item 1)."""
    fifo = tmp_path / "fifo.zh.txt"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            add_reports(lib, [fifo], symbol="F/1", embedder=FakeEmbedder())
            outcome.append(None)
        except BaseException as e:  # noqa: BLE001 - reported below
            outcome.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(20)
    if t.is_alive():  # unblock the reader so the thread can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("add blocked on a named pipe")
    assert isinstance(outcome[0], IngestError) and "not a regular file" in str(outcome[0])


# --- leftovers (issue 26, item 5) ---------------------------------------------------------------------------


def test_leftovers_of_killed_catalog_and_report_writes_are_removed(lib: Config) -> None:
    leftovers = [lib.corpus_dir / ".documents.json.ab12cd.tmp", lib.corpus_dir / ".other.zh.txt.ef34gh.tmp"]
    for p in leftovers:
        p.write_bytes(b"half a file")
    r = cli(lib, "build", "--lexical-only")
    assert r.returncode == 0, r.stderr
    assert not any(p.exists() for p in leftovers)


def test_a_writer_waits_for_the_lock_a_stated_time_and_names_the_holder(tmp_path: Path) -> None:
    """Waiting on the home's lock used to have no limit and no word of who held it (issue 26, item 1)."""
    import time

    from pipeline.errors import BusyError
    from pipeline.store import build_lock

    with lock_held_elsewhere(tmp_path / "indexes") as holder:
        said: list[str] = []
        t0 = time.monotonic()
        held = rf"pid {holder.pid} \(`python -c .*`, since .*\) is still writing"
        with (
            pytest.raises(BusyError, match=held),
            build_lock(tmp_path / "indexes", log=said.append, timeout=1.0),
        ):
            pass
        assert time.monotonic() - t0 < 10
        assert said and f"waiting for pid {holder.pid}" in said[0] and "at most 1 s" in said[0]
