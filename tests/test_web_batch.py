"""The batch page (``/batch``) in Debian's headless Chromium, against the app served in a thread over the real
report with the fake embedder (tests/support.py: ``live_server``, ``chromium``).

The upload's name in the messages; a GB18030 (Chinese Excel) file answered with a warning; each answer's
warnings; progress by line; the server's work stopped by Cancel, by leaving the page and by following a link
away; the CSV download with a byte order mark and a name per input; the answers as a table.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import WAIT, SlowRetriever, all_css, by_css, live_server, open_page

from pipeline.server import ServerOptions, create_app

pytestmark = pytest.mark.slow

SYMBOL = "CTOC/COP/2012/7"
GB_WARNING = "not UTF-8; read as GB18030 (GBK) Chinese text"


@pytest.fixture(scope="module")
def slow(fast_retriever: Any) -> SlowRetriever:
    return SlowRetriever(fast_retriever)


@pytest.fixture(scope="module")
def server(fast_retriever: Any, slow: SlowRetriever) -> Iterator[str]:
    app = create_app(fast_retriever, ServerOptions(batch_chunk=2))
    app.state.pipeline.retriever = slow
    with live_server(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def page(browser: Any, slow: SlowRetriever) -> Iterator[Any]:
    """The browser at a desktop width; its console is checked for errors afterwards (the network's note of an
    upload refused with a 400 or aborted on purpose is not one: the page shows those itself)."""
    browser.set_window_size(1024, 1200)
    browser.get_log("browser")
    slow.delay = 0.0
    yield browser
    slow.delay = 0.0
    errors = [
        e
        for e in browser.get_log("browser")
        if e["level"] == "SEVERE" and not (e.get("source") == "network" and "/api/batch" in e["message"])
    ]
    assert not errors, errors


def upload(page: Any, server: str, path: Path, *, wait: bool = True) -> None:
    """Open /batch, choose ``path``, press the button; wait for the summary (or an error) unless not to."""
    from selenium.webdriver.support.ui import WebDriverWait

    open_page(page, f"{server}/batch")
    by_css(page, "#batch-file").send_keys(str(path))
    by_css(page, "#batch-go").click()
    if wait:
        WebDriverWait(page, WAIT).until(
            lambda d: d.find_elements("css selector", "#batch-summary, #batch-result .error")
        )


def blob_bytes(driver: Any, url: str) -> bytes:
    """The bytes behind a blob URL of the page."""
    values = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => done(Array.from(new Uint8Array(b))),"
        " e => done('ERROR ' + e));",
        url,
    )
    assert isinstance(values, list), values
    return bytes(values)


def wait_until(condition: Any, timeout: float = WAIT) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(None, timeout, poll_frequency=0.05).until(lambda _: condition())


def settles(slow: SlowRetriever, quiet: float = 1.5) -> int:
    """The number of batch chunks answered once no more are: fails when the server keeps answering."""
    time.sleep(1.0)  # a chunk on its worker thread when the client left is still finished
    before = slow.calls
    time.sleep(quiet)
    assert slow.calls == before, f"the server went on answering ({before} → {slow.calls} chunks)"
    return before


# --- 1. the upload's name ------------------------------------------------------------------------------


def test_messages_name_the_uploaded_file(page: Any, server: str, tmp_path: Path) -> None:
    src = tmp_path / "问题 list.csv"
    src.write_text("name,text\nx,y\n", encoding="utf-8")
    upload(page, server, src)
    error = by_css(page, "#batch-result .error").text
    assert error.startswith("问题 list.csv:1: the CSV header must name a 'query' column"), error
    assert "<request body>" not in error and str(tmp_path) not in error


# --- 2. GB18030 ----------------------------------------------------------------------------------------


def test_a_gbk_csv_from_excel_is_answered_with_a_warning(page: Any, server: str, tmp_path: Path) -> None:
    src = tmp_path / "问题.csv"
    src.write_bytes("id,query\r\nq1,海盗赎金\r\nq2,第 41 段\r\n".encode("gbk"))
    upload(page, server, src)
    summary = by_css(page, "#batch-summary").text
    assert summary.startswith("2 answered") and summary.endswith(", 0 bad lines"), summary
    [warning] = all_css(page, '#batch-warnings li[data-file="true"]')
    assert warning.text.startswith(f"问题.csv: {GB_WARNING}")
    assert [q.text for q in all_css(page, "#batch-answers tbody q.query")] == ["海盗赎金", "第 41 段"]


# --- 3. each answer's warnings -------------------------------------------------------------------------


def test_each_answers_warnings_are_shown(page: Any, server: str, tmp_path: Path) -> None:
    src = tmp_path / "lookups.txt"
    src.write_text("第 41 段\n第 999 段\nresolution 65/230\n", encoding="utf-8")
    upload(page, server, src)
    expected = "no paragraph 999 in CTOC/COP/2012/7 (zh): it has paragraphs 1-65"
    items = all_css(page, "#batch-warnings li")
    assert [(li.get_attribute("data-line"), li.text) for li in items] == [("2", f"line 2: {expected}")]
    row = by_css(page, '#batch-answers tr[data-line="2"]')
    assert row.find_element("css selector", ".warning").text == expected
    assert row.find_element("css selector", "td:last-child").text.endswith("No paragraph found.")


# --- 4. progress by line -------------------------------------------------------------------------------


def test_progress_counts_lines_as_they_come(
    page: Any, server: str, slow: SlowRetriever, tmp_path: Path
) -> None:
    src = tmp_path / "ten.txt"
    src.write_text("".join(f"第 {n} 段\n" for n in range(1, 11)), encoding="utf-8")
    slow.delay = 0.4  # 5 chunks of 2 lines: 2 s
    upload(page, server, src, wait=False)
    seen = set()

    def finished() -> bool:
        text = page.execute_script("return document.querySelector('#batch-progress-text').textContent")
        m = re.match(r"(\d+) of 10 lines", text or "")
        if m:
            seen.add(int(m.group(1)))
        return bool(all_css(page, "#batch-summary"))

    wait_until(finished)
    assert seen & {2, 4, 6, 8}, seen  # counted on the way, a chunk at a time
    assert by_css(page, "#batch-progress-text").text == "10 of 10 lines · 100 %"
    progress = by_css(page, "#batch-progress")
    assert (progress.get_attribute("value"), progress.get_attribute("max")) == ("10", "10")


# --- 5. cancelling and leaving stop the server ---------------------------------------------------------


def _start_long_batch(page: Any, server: str, slow: SlowRetriever, tmp_path: Path) -> None:
    src = tmp_path / "long.txt"
    src.write_text("第 1 段\n" * 200, encoding="utf-8")  # 100 chunks, 0.25 s each: 25 s
    slow.delay = 0.25
    start = slow.calls
    upload(page, server, src, wait=False)
    wait_until(lambda: slow.calls >= start + 2)


def test_cancel_and_leaving_stop_the_server(
    page: Any, server: str, slow: SlowRetriever, tmp_path: Path
) -> None:
    # the Cancel button
    _start_long_batch(page, server, slow, tmp_path)
    by_css(page, "#batch-cancel").click()
    wait_until(lambda: "Cancelled." in by_css(page, "#batch-result").text)
    before = slow.calls
    assert settles(slow) - before <= 1
    # a link to another page of the site (no reload: the page's own navigation)
    _start_long_batch(page, server, slow, tmp_path)
    by_css(page, 'nav a[href="/"]').click()
    before = slow.calls
    assert settles(slow) - before <= 1
    # leaving the page for good (pagehide)
    _start_long_batch(page, server, slow, tmp_path)
    page.get("about:blank")
    before = slow.calls
    assert settles(slow) - before <= 1


# --- 6. downloads --------------------------------------------------------------------------------------


def test_csv_download_has_a_bom_and_each_input_its_names(page: Any, server: str, tmp_path: Path) -> None:
    from pipeline.batch.output import csv_text

    for stem, text in (("questions", "海盗赎金\n第 41 段\n"), ("other", "resolution 65/230\n")):
        src = tmp_path / f"{stem}.txt"
        src.write_text(text, encoding="utf-8")
        upload(page, server, src)
        jsonl_link, csv_link = by_css(page, "#download-jsonl"), by_css(page, "#download-csv")
        assert jsonl_link.get_attribute("download") == f"{stem}.answers.jsonl"
        assert csv_link.get_attribute("download") == f"{stem}.answers.csv"
        records = [json.loads(x) for x in blob_bytes(page, jsonl_link.get_attribute("href")).splitlines()]
        assert len(records) == len(text.splitlines())
        data = blob_bytes(page, csv_link.get_attribute("href"))
        assert data.startswith(b"\xef\xbb\xbf")  # Excel opens it as UTF-8
        assert data[3:].decode("utf-8") == csv_text(records, header=True)
        assert next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))[:2] == ["id", "query"]


# --- 7. the answers on the page ------------------------------------------------------------------------


def test_answers_are_shown_as_a_table(page: Any, server: str, tmp_path: Path) -> None:
    hostile = '<img src=x onerror="document.body.dataset.pwned=1"> 海盗'
    lines = [
        {"id": "q1", "query": "How much ransom did pirates receive in 2011?"},
        {"id": "q2", "query": "伪药对患者有什么危害？"},
        {"id": "q3", "query": "第 41 段"},
        {"id": "q4", "query": hostile},
    ]
    src = tmp_path / "table.jsonl"
    src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    upload(page, server, src)
    records = [
        json.loads(x)
        for x in blob_bytes(page, by_css(page, "#download-jsonl").get_attribute("href")).splitlines()
    ]
    rows = all_css(page, "#batch-answers tbody tr")
    assert [r.get_attribute("data-id") for r in rows] == ["q1", "q2", "q3", "q4"]
    assert [r.get_attribute("data-line") for r in rows] == ["1", "2", "3", "4"]
    for row, rec in zip(rows, records, strict=True):
        assert row.find_element("css selector", "q.query").text == rec["query"]
        hits = row.find_elements("css selector", "ol.batch-hits > li")
        assert len(hits) == min(3, len(rec["results"])) > 0
        for li, hit in zip(hits, rec["results"], strict=False):
            link = li.find_element("css selector", "a.citation")
            assert link.text == hit["citation"] and li.get_attribute("data-paragraph") == str(
                hit["paragraph"]
            )
            assert link.get_attribute("href").startswith(f"{server}/p/{hit['paragraph']}?")
            if hit.get("answer", "").strip():
                assert li.find_element("css selector", "mark.hl").text == hit["answer"].strip()
    assert rows[0].find_element("css selector", "a.citation").text == f"{SYMBOL}，第29段"
    assert page.execute_script("return document.querySelectorAll('#batch-result img').length") == 0
    assert page.execute_script("return document.body.dataset.pwned") is None
    assert all_css(page, "#batch-more") and not by_css(page, "#batch-more").is_displayed()  # all rows shown

    # a citation opens its paragraph; coming back shows the same answers again
    rows[2].find_element("css selector", "a.citation").click()
    wait_until(lambda: "/p/41" in page.current_url and all_css(page, "#view .text"))
    page.back()
    wait_until(lambda: len(all_css(page, "#batch-answers tbody tr")) == 4)
    assert by_css(page, "#batch-summary").text.startswith("4 answered")


def test_a_long_batch_shows_its_answers_200_at_a_time(page: Any, server: str, tmp_path: Path) -> None:
    src = tmp_path / "long.txt"
    src.write_text("".join(f"第 {n % 65 + 1} 段\n" for n in range(201)), encoding="utf-8")
    upload(page, server, src)
    more = by_css(page, "#batch-more")
    assert len(all_css(page, "#batch-answers tbody tr")) == 200
    assert more.is_displayed() and more.text == "Show more (200 of 201 shown)"
    more.click()
    assert len(all_css(page, "#batch-answers tbody tr")) == 201 and not more.is_displayed()
    assert by_css(page, '#batch-answers tr[data-line="201"] a.citation').text == f"{SYMBOL}，第6段"
