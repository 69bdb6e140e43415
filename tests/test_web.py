"""The browser page, driven in Debian's headless Chromium against the real server (`pipeline serve`).

One server (real model, the session's PIPELINE_HOME) and one browser serve the whole module. Each test opens
the page by its URL and waits for ``body[data-ready]``, which the page sets once a view is complete (glosses
included). The two screenshots of the README (``docs/screenshot-search.png``,
``docs/screenshot-paragraph.png``) are taken here: into docs/ with
``PIPELINE_SCREENSHOTS=docs scripts/test tests/test_web.py``, else into a temp dir.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import SCREENSHOTS, WAIT, all_css, by_css, hover, open_page, wait_ready

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DOCS = SCREENSHOTS
SYMBOL = "CTOC/COP/2012/7"


def phref(n: int, symbol: str = SYMBOL, lang: str = "zh", part: str = "") -> str:
    """The page's URL of paragraph ``n`` of one document version: ``/p/N?doc=SYMBOL&lang=xx[&part=…]``."""
    params = {"doc": symbol, "lang": lang} | ({"part": part} if part else {})
    return f"/p/{n}?{urllib.parse.urlencode(params)}"


# --- the server ----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_json(url: str, token: str | None = None) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


@contextlib.contextmanager
def _serve(home: Path, log: Path, *extra: str) -> Iterator[str]:
    """`python -m pipeline serve` on a free loopback port; yields its base URL, kills it at the end."""
    port = _free_port()
    env = {**os.environ, "PIPELINE_HOME": str(home)}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(home),
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"pipeline serve exited with {proc.returncode}:\n"
                    f"{log.read_text(errors='replace')[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{base}/", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"pipeline serve did not answer in 120 s:\n{log.read_text(errors='replace')[-3000:]}"
                    )
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def server(home: Path, model_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real server over the session home, its indexes built first (so no request waits for a build)."""
    build = subprocess.run(
        [sys.executable, "-m", "pipeline", "build"],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "PIPELINE_HOME": str(home)},
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    with _serve(home, tmp_path_factory.mktemp("serve") / "serve.log") as base:
        health = _get_json(f"{base}/api/health")
        assert health["corpus"]["symbol"] == SYMBOL and health["corpus"]["paragraphs"] == 65
        yield base


# --- the browser ---------------------------------------------------------------------------------------


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """The browser at a desktop width, with the page's console checked for errors afterwards."""
    browser.set_window_size(1024, 1200)
    browser.get_log("browser")  # drop what earlier tests left
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def search(driver: Any, base: str, query: str) -> list[Any]:
    """Type ``query`` into the box of the start page, press Enter, return the result cards."""
    from selenium.webdriver.common.keys import Keys

    open_page(driver, base + "/")
    box = by_css(driver, "#q")
    box.clear()
    box.send_keys(query, Keys.ENTER)
    wait_ready(driver)
    return all_css(driver, "#view .result")


def api(base: str, path: str, **params: Any) -> Any:
    return _get_json(f"{base}{path}?{urllib.parse.urlencode(params)}" if params else f"{base}{path}")


# --- search --------------------------------------------------------------------------------------------


def test_chinese_question_answer_highlighted(page: Any, server: str) -> None:
    q = "伪药对患者有什么危害？"
    expected = api(server, "/api/search", q=q)
    cards = search(page, server, q)
    first = expected["results"][0]
    assert cards and cards[0].get_attribute("data-paragraph") == str(first["paragraph"])
    assert len(cards) == len(expected["results"])
    hl = cards[0].find_element("css selector", "mark.hl")
    assert hl.text.strip() == first["answer"].strip()
    # the query's matched terms are marked in the text, inside and outside the answer
    marked = {m.text for m in cards[0].find_elements("css selector", "mark.term")}
    assert "伪药" in marked
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.current_url).query)["q"] == [q]
    assert by_css(page, "h1.results-title q").text == q


def test_english_question_first_result_and_screenshot(page: Any, server: str) -> None:
    q = "How much ransom did pirates receive in 2011?"
    cards = search(page, server, q)
    assert cards[0].get_attribute("data-paragraph") == "29"
    hl = cards[0].find_element("css selector", "mark.hl")
    assert "1.7 亿美元赎金" in hl.text
    terms = {m.text for m in cards[0].find_elements("css selector", "mark.term")}
    assert {"海盗", "赎金", "2011"} <= terms
    assert "2011" in by_css(page, ".terms").text
    # every result names its paragraph with its UN-style citation, links to it (the document named in the
    # URL), and has the section path and the copy buttons
    for c in cards:
        n = int(c.get_attribute("data-paragraph"))
        assert (c.get_attribute("data-document"), c.get_attribute("data-lang")) == (SYMBOL, "zh")
        cite = c.find_element("css selector", ".card-head h2 a.citation")
        assert cite.text == f"{SYMBOL}，第{n}段" and cite.get_attribute("href") == server + phref(n)
        assert c.find_element("css selector", ".section-path").text
        assert c.find_element("css selector", f'a.open[href="{phref(n)}"]')
        assert len(c.find_elements("css selector", "button.copy-cite")) == 2
        assert "¶" not in c.find_element("css selector", ".card-head").text
    # one report: no document or language selector, no links to other documents, no parallel versions
    assert not by_css(page, "#filters").is_displayed()
    assert not all_css(page, "#view .links, #view .parallel")
    # nothing comes from another host: every resource the page loaded is the app's own
    urls = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert urls and all(u.startswith(server + "/") for u in urls), urls
    DOCS.mkdir(exist_ok=True)
    page.set_window_size(1024, 1500)
    page.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    page.save_screenshot(str(DOCS / "screenshot-search.png"))


def test_url_holds_query_reload_and_history(page: Any, server: str) -> None:
    q1 = "ransom paid to pirates in 2011"
    open_page(page, f"{server}/?{urllib.parse.urlencode({'q': q1, 'mode': 'lexical'})}")
    first = [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")]
    assert first and by_css(page, "#q").get_attribute("value") == q1
    assert by_css(page, "#mode").get_attribute("value") == "lexical"
    page.refresh()
    wait_ready(page)
    assert [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")] == first
    assert by_css(page, "#mode").get_attribute("value") == "lexical"

    # a second search, then a paragraph; back and forward walk through them
    from selenium.webdriver.common.keys import Keys

    box = by_css(page, "#q")
    box.clear()
    box.send_keys("第 41 段", Keys.ENTER)
    wait_ready(page)
    assert [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")] == ["41"]
    assert "mode=lexical" in page.current_url and "q=" in page.current_url
    by_css(page, f'#view .result a.citation[href="{phref(41)}"]').click()
    wait_ready(page)
    assert page.current_url.endswith(phref(41)) and by_css(page, "#view h1").text == f"{SYMBOL}，第41段"
    page.back()
    wait_ready(page)
    assert by_css(page, "#q").get_attribute("value") == "第 41 段"
    page.back()
    wait_ready(page)
    assert by_css(page, "#q").get_attribute("value") == q1
    assert [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")] == first
    page.forward()
    wait_ready(page)
    assert [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")] == ["41"]


def test_error_and_warning_shown(page: Any, server: str) -> None:
    open_page(page, f"{server}/?q=%E7%AC%AC%2099%20%E6%AE%B5")  # 第 99 段: no such paragraph
    shown = " ".join(e.text for e in all_css(page, "#view .warning, #view .error"))
    assert "99" in shown
    open_page(page, f"{server}/cite?q=nothing%20citable")
    err = by_css(page, "#view .error")
    assert err.get_attribute("role") == "alert" and err.text
    page.get_log("browser")  # the 4xx answers are logged as console errors on purpose


def test_html_in_query_is_shown_as_text(page: Any, server: str) -> None:
    q = '<script>alert(1)</script><img src=x onerror="document.body.dataset.pwned=1"> 海盗'
    search(page, server, q)  # an alert would make every later call fail with UnexpectedAlertPresentException
    assert by_css(page, "h1.results-title q").text == q
    assert page.execute_script("return document.querySelectorAll('#view script, #view img').length") == 0
    assert page.execute_script("return document.body.dataset.pwned") is None
    assert by_css(page, "#q").get_attribute("value") == q


def test_slash_focuses_the_search_box(page: Any, server: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(page, f"{server}/p/12")
    page.execute_script("document.activeElement.blur()")
    assert page.execute_script("return document.activeElement.id") != "q"
    ActionChains(page).send_keys("/").perform()
    assert page.execute_script("return document.activeElement.id") == "q"
    # in a field, "/" is typed as usual
    ActionChains(page).send_keys("S/2009/146").perform()
    assert by_css(page, "#q").get_attribute("value") == "S/2009/146"


# --- paragraphs and citations --------------------------------------------------------------------------


def test_paragraph_page_footnotes_prev_next(page: Any, server: str) -> None:
    open_page(page, f"{server}/p/17")  # a library of one report: the number alone is enough
    assert by_css(page, "#view h1").text == f"{SYMBOL}，第17段"
    assert by_css(page, "#view article").get_attribute("data-document") == SYMBOL
    assert "B. 海盗行为" in by_css(page, "#view .crumbs").text
    assert by_css(page, "#view .text sup.fn-ref").text == "1"
    fn = by_css(page, "#view .footnotes li")
    assert "S/2012/50" in fn.text
    assert by_css(page, '#view .footnotes a.cite-link[data-key="S/2012/50"]')
    assert all_css(page, f'#view a[rel="prev"][href="{phref(16)}"]')
    assert all_css(page, f'#view a[rel="next"][href="{phref(18)}"]')
    all_css(page, '#view a[rel="next"]')[0].click()
    wait_ready(page)
    assert page.current_url.endswith(phref(18)) and by_css(page, "#view h1").text == f"{SYMBOL}，第18段"
    open_page(page, server + phref(65))
    assert by_css(page, "#view h1").text == f"{SYMBOL}，第65段"
    assert not all_css(page, '#view a[rel="next"]') and all_css(
        page, f'#view a[rel="prev"][href="{phref(64)}"]'
    )
    labels = [e.text for e in all_css(page, "#view .items .label")]
    assert labels == ["(a)", "(b)", "(c)", "(d)", "(e)", "(f)"]
    open_page(page, f"{server}/p/1")
    assert not all_css(page, '#view a[rel="prev"]')


def test_citation_link_lists_every_citing_paragraph(page: Any, server: str) -> None:
    open_page(page, f"{server}/p/10")
    links = all_css(page, '#view .text a.cite-link[data-key="65/230"]')
    assert links and links[0].text == "65/230"
    links[0].click()
    wait_ready(page)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.current_url).query)["q"] == ["65/230"]
    assert [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")] == ["10", "12"]
    assert all("65/230" in m.text for m in all_css(page, "#view .result mark.cite-hit"))
    # an article is cited by its key "article:28" and listed through the query "article 28"
    open_page(page, f"{server}/p/6")
    by_css(page, '#view a.cite-link[data-key="article:28"]').click()
    wait_ready(page)
    assert [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")] == ["6"]


def test_copy_citation(page: Any, server: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    cards = search(page, server, "How much ransom did pirates receive in 2011?")
    cards[0].find_element("css selector", 'button.copy-cite[data-lang="en"]').click()
    WebDriverWait(page, 10).until(lambda d: d.execute_script("return document.body.dataset.lastCopied"))
    assert page.execute_script("return document.body.dataset.lastCopied") == f"{SYMBOL}, para. 29"
    assert "copied" in cards[0].find_element("css selector", ".copied").text
    open_page(page, f"{server}/p/23")
    by_css(page, '#view button.copy-cite[data-lang="zh"]').click()
    WebDriverWait(page, 10).until(
        lambda d: d.execute_script("return document.body.dataset.lastCopied") == f"{SYMBOL}，第23段"
    )
    by_css(page, '#view button.copy-cite[data-lang="en"]').click()
    WebDriverWait(page, 10).until(
        lambda d: d.execute_script("return document.body.dataset.lastCopied") == f"{SYMBOL}, para. 23"
    )


def test_gloss_tooltip_on_hover_and_tap(page: Any, server: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    open_page(page, f"{server}/p/17")
    word = by_css(page, '#view .text [data-word="海盗"]')
    ActionChains(page).move_to_element(word).perform()
    tip = by_css(page, "#gloss-tip")
    assert tip.is_displayed()
    assert "海盗" in tip.text and "pirate" in tip.text.lower()
    # a tap (click) on another word pins its gloss; a tap elsewhere closes it
    other = by_css(page, '#view .text [data-word="船只"]')
    other.click()
    assert tip.is_displayed() and "ship" in tip.text.lower()
    by_css(page, "#view h1").click()
    assert not tip.is_displayed()
    # highlights survive the word spans: the answer of a search result is still one marked sentence
    cards = search(page, server, "How much ransom did pirates receive in 2011?")
    hl = cards[0].find_element("css selector", "mark.hl")
    assert hl.find_elements("css selector", "[data-gloss]") and "1.7 亿美元赎金" in hl.text

    # the screenshot of a paragraph page (footnote, citation links), with a gloss showing
    open_page(page, f"{server}/p/17")
    page.set_window_size(1024, 1000)
    ActionChains(page).move_to_element(by_css(page, '#view .text [data-word="海盗"]')).perform()
    page.save_screenshot(str(DOCS / "screenshot-paragraph.png"))


# --- batch ---------------------------------------------------------------------------------------------


def _blob_text(driver: Any, url: str) -> str:
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(r => r.text()).then(done, e => done('ERROR ' + e));",
        url,
    )


def test_batch_upload_progress_and_downloads(page: Any, server: str, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select, WebDriverWait

    lines = [
        json.dumps({"id": f"q{i}", "query": q}, ensure_ascii=False)
        for i, q in enumerate(
            [
                "How much ransom did pirates receive in 2011?",
                "伪药对患者有什么危害？",
                "第 41 段",
                "resolution 65/230",
                "器官贩运的受害者通常来自哪些群体？",
            ],
            1,
        )
    ]
    lines.insert(2, '{"id": "broken", "query": ')  # line 3: not JSON
    src = tmp_path / "questions.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")

    open_page(page, f"{server}/batch")
    by_css(page, "#batch-file").send_keys(str(src))
    Select(by_css(page, "#batch-mode")).select_by_value("lexical")
    k = by_css(page, "#batch-k")
    k.clear()
    k.send_keys("2")
    by_css(page, "#batch-go").click()
    WebDriverWait(page, WAIT).until(lambda d: d.find_elements("css selector", "#download-jsonl"))
    progress = by_css(page, "#batch-progress")
    assert progress.get_attribute("max") == "6" and progress.get_attribute("value") == "6"
    assert "100 %" in by_css(page, "#batch-progress-text").text
    bad = by_css(page, "#batch-errors").text
    assert "line 3" in bad

    jsonl = _blob_text(page, by_css(page, "#download-jsonl").get_attribute("href"))
    records = [json.loads(x) for x in jsonl.splitlines()]
    assert [r["id"] for r in records] == ["q1", "q2", "q3", "q4", "q5"]
    assert records[0]["results"][0]["paragraph"] == 29 and all(len(r["results"]) <= 2 for r in records)
    csv_body = _blob_text(page, by_css(page, "#download-csv").get_attribute("href"))
    rows = list(csv.reader(io.StringIO(csv_body)))
    assert rows[0] == [
        "id",
        "query",
        "route",
        "rank",
        "document",
        "lang",
        "paragraph",
        "citation",
        "score",
        "section",
        "answer",
        "text",
    ]
    assert len(rows) - 1 == sum(max(1, len(r["results"])) for r in records)
    assert rows[1][:8] == [
        "q1",
        "How much ransom did pirates receive in 2011?",
        "question",
        "1",
        "CTOC/COP/2012/7",
        "zh",
        "29",
        "CTOC/COP/2012/7，第29段",
    ]
    assert by_css(page, "#download-jsonl").get_attribute("download") == "questions.answers.jsonl"
    from pipeline.batch.output import csv_text

    assert csv_body == csv_text(
        records, header=True
    )  # byte for byte what `pipeline batch --format csv` writes

    # a plain-text file: one query a line
    txt = tmp_path / "few.txt"
    txt.write_text("第 23 段\nS/2009/146\n", encoding="utf-8")
    by_css(page, "#batch-file").send_keys(str(txt))
    by_css(page, "#batch-go").click()
    WebDriverWait(page, WAIT).until(
        lambda d: (
            "few.answers"
            in (
                d.execute_script(
                    "const a = document.querySelector('#download-jsonl'); return a ? a.download : ''"
                )
                or ""
            )
        )
    )
    assert by_css(page, "#batch-progress").get_attribute("value") == "2"
    records = [
        json.loads(x)
        for x in _blob_text(page, by_css(page, "#download-jsonl").get_attribute("href")).splitlines()
    ]
    assert [r["results"][0]["paragraph"] for r in records] == [23, 15]
    assert not all_css(page, "#batch-errors")


# --- phone width, token --------------------------------------------------------------------------------


def test_phone_width_has_no_horizontal_scroll(page: Any, server: str) -> None:
    page.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 800, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        for path in (
            "/?q=How+much+ransom+did+pirates+receive+in+2011%3F",
            "/p/19",
            "/p/65",
            "/cite?q=1851%20(2008)",
            "/batch",
            "/",
        ):
            open_page(page, server + path)
            # a page wider than the screen would make the phone zoom out (innerWidth > 375) or scroll sideways
            width = page.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width == [375, 375], (path, width)
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_token_from_url_and_prompt(browser: Any, home: Path, server: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    with _serve(home, tmp_path / "serve-token.log", "--token", "s3cret") as base:
        with pytest.raises(urllib.error.HTTPError) as e:
            _get_json(f"{base}/api/search?q=23")
        assert e.value.code == 401
        # #token=… is kept in sessionStorage and taken out of the address bar
        open_page(browser, f"{base}/?q=23&mode=lexical#token=s3cret")
        assert [c.get_attribute("data-paragraph") for c in all_css(browser, "#view .result")] == ["23"]
        assert "#token" not in browser.current_url
        assert browser.execute_script("return sessionStorage.getItem('pipeline.token')") == "s3cret"
        # without a token the page asks for it, then answers
        browser.execute_script("sessionStorage.clear()")
        browser.get(f"{base}/?q=24&mode=lexical")
        form = WebDriverWait(browser, WAIT).until(lambda d: d.find_element("css selector", "#token-form"))
        WebDriverWait(browser, WAIT).until(lambda d: form.is_displayed())
        by_css(browser, "#token-input").send_keys("s3cret", Keys.ENTER)
        wait_ready(browser)
        assert [c.get_attribute("data-paragraph") for c in all_css(browser, "#view .result")] == ["24"]
        browser.execute_script("sessionStorage.clear()")
    browser.get_log("browser")  # the 401s are logged as console errors on purpose


# --- a library of several documents ---------------------------------------------------------------------
#
# The library of test_server_library.py (``support.build_library_home``: the session's report, A/TEST/2030/1
# in Chinese and in English with an annex), served in a thread with the fake embedder: the page needs only
# the API.

TEST = "A/TEST/2030/1"


@pytest.fixture(scope="module")
def library_server(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from support import (
        build_library_home,
        library_retriever,
        live_server,
    )

    from pipeline.server import create_app

    h = build_library_home(home, tmp_path_factory.mktemp("web-library") / "home")
    with live_server(create_app(library_retriever(h))) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def lib_page(browser: Any, library_server: str) -> Iterator[Any]:
    """The browser at a desktop width on the library's server; its console is checked for errors
    afterwards."""
    browser.set_window_size(1024, 1200)
    browser.get_log("browser")
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def without_hl(href: str) -> str:
    """A paragraph link without its answer marks (``hl=``, ``hl.xx=``), which a question's hits add."""
    parts = urllib.parse.urlsplit(href)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "hl" and not k.startswith("hl.")]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def marked(element: Any) -> str:
    """The text of the answer marks (``mark.hl``) in ``element``, joined."""
    return "".join(m.get_attribute("textContent") for m in element.find_elements("css selector", "mark.hl"))


def side_by_side(a: Any, b: Any) -> bool:
    """Whether ``b`` is a column to the right of ``a``, starting at the same height."""
    ra, rb = a.rect, b.rect
    return rb["x"] >= ra["x"] + ra["width"] - 1 and abs(rb["y"] - ra["y"]) < 4 and ra["width"] > 150


def card_ids(driver: Any) -> list[tuple[str, str, str, str]]:
    return [
        (
            c.get_attribute("data-document"),
            c.get_attribute("data-lang"),
            c.get_attribute("data-part") or "",
            c.get_attribute("data-paragraph"),
        )
        for c in all_css(driver, "#view .result")
    ]


def test_library_filters_citations_and_parallel_versions(lib_page: Any, library_server: str) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    page, base = lib_page, library_server
    open_page(page, base + "/")
    assert by_css(page, "#filters").is_displayed() and by_css(page, "#parallel").is_displayed()
    docs = [o.get_attribute("value") for o in Select(by_css(page, "#doc")).options]
    langs = [o.get_attribute("value") for o in Select(by_css(page, "#lang")).options]
    assert docs[0] == "" and sorted(docs[1:]) == sorted([SYMBOL, TEST]) and sorted(langs) == ["", "en", "zh"]
    assert by_css(page, "#corpus-name").text == "2 documents"
    # every document version can be browsed, paragraph by paragraph (the annex too)
    assert all_css(page, f'.toc a[href="{phref(65)}"]') and all_css(
        page, f'.toc a[href="{phref(2, TEST, "en", "annex")}"]'
    )

    # the whole library: hits from several documents, each named by its citation
    open_page(page, base + "/?" + urllib.parse.urlencode({"q": "第 3 段"}))
    assert sorted(card_ids(page)) == sorted(
        [(SYMBOL, "zh", "", "3"), (TEST, "zh", "", "3"), (TEST, "en", "", "3")]
    )
    cites = {
        c.get_attribute("data-lang") + c.get_attribute("data-document"): c.find_element(
            "css selector", "a.citation"
        )
        for c in all_css(page, "#view .result")
    }
    assert cites["zh" + TEST].text == f"{TEST}，第3段" and cites["en" + TEST].text == f"{TEST}, para. 3"
    assert cites["en" + TEST].get_attribute("href") == base + phref(3, TEST, "en")
    assert cites["zh" + SYMBOL].text == f"{SYMBOL}，第3段"

    # one document in one language, chosen in the form; the other language versions are shown by default
    assert by_css(page, "#parallel").is_selected()
    Select(by_css(page, "#doc")).select_by_value(TEST)
    Select(by_css(page, "#lang")).select_by_value("en")
    box = by_css(page, "#q")
    box.clear()
    box.send_keys("online fraud", Keys.ENTER)
    wait_ready(page)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.current_url).query)
    assert query["doc"] == [TEST] and query["lang"] == ["en"] and "parallel" not in query
    ids = card_ids(page)
    assert ids and all(d == TEST and lang == "en" for d, lang, _, _ in ids)
    for c in all_css(page, "#view .result"):
        n, part = c.get_attribute("data-paragraph"), c.get_attribute("data-part") or ""
        a = c.find_element("css selector", "a.citation")
        assert a.text == (f"{TEST}, {part}, para. {n}" if part else f"{TEST}, para. {n}")
        assert without_hl(a.get_attribute("href")) == base + phref(int(n), TEST, "en", part)
    api = _get_json(
        base
        + "/api/search?"
        + urllib.parse.urlencode(
            {"q": "online fraud", "mode": query["mode"][0], "doc": TEST, "lang": "en", "parallel": "true"}
        )
    )
    hits = {(h.get("part") or "", h["paragraph"]): h for h in api["results"]}
    cards = {
        (c.get_attribute("data-part") or "", int(c.get_attribute("data-paragraph"))): c
        for c in all_css(page, "#view .result")
    }
    assert cards.keys() == hits.keys()

    # each hit beside its paragraph in the other language version: two columns, each headed by its language
    card = cards[("", 3)]
    own = card.find_element("css selector", '.side-by-side .version.own[data-lang="en"]')
    version = card.find_element("css selector", '.side-by-side .version[data-lang="zh"]')
    assert side_by_side(own, version)
    assert own.find_element("css selector", "h3").text == "English"
    assert own.find_element("css selector", ".text").get_attribute("lang") == "en"
    link = version.find_element("css selector", "h3 a")
    assert link.text == f"{TEST}，第3段" and link.get_attribute("href") == base + phref(3, TEST, "zh")
    assert "中文" in version.find_element("css selector", "h3").text
    assert version.find_element("css selector", ".text").get_attribute("lang") == "zh-Hans"
    assert "230 名调查人员" in version.find_element("css selector", ".text").text
    # an answer that is the whole paragraph is the whole version too
    assert marked(own) == hits[("", 3)]["answer"] and marked(version) == hits[("", 3)]["parallel"][0]["text"]
    # the query's terms are marked in the version (here the English words of its URL and title)
    assert any(
        m.text.lower() == "online"
        for m in cards[("", 2)].find_elements("css selector", '.version[data-lang="zh"] mark.term')
    )

    # a question's answer sentence, highlighted in both: the version's is the API's aligned answer
    hit = hits[("", 6)]
    v = hit["parallel"][0]
    assert v["lang"] == "zh" and v["answer"] and 0 < hit["answer_span"][0]
    card = cards[("", 6)]
    own = card.find_element("css selector", ".version.own")
    version = card.find_element("css selector", '.version[data-lang="zh"]')
    assert marked(own) == hit["answer"] and marked(version) == v["answer"]
    # the links to the paragraph carry the answers (hl, hl.xx), for the paragraph page to mark
    marks = {"hl": "-".join(map(str, hit["answer_span"])), "hl.zh": "-".join(map(str, v["answer_span"]))}
    href = base + phref(6, TEST, "en") + "&" + urllib.parse.urlencode(marks)
    assert card.find_element("css selector", "a.citation").get_attribute("href") == href
    assert card.find_element("css selector", "a.open").get_attribute("href") == href
    back = {"hl": marks["hl.zh"], "hl.en": marks["hl"]}
    assert version.find_element("css selector", "h3 a").get_attribute("href") == (
        base + phref(6, TEST, "zh") + "&" + urllib.parse.urlencode(back)
    )

    # the sentences are linked: hovering one marks its counterpart in the other column (and only that)
    beads = own.find_elements("css selector", ".bead")
    assert [b.get_attribute("data-bead") for b in beads] == [str(i) for i in range(len(v["alignment"]))]
    for i, b in enumerate(v["alignment"]):
        partner = version.find_element("css selector", f'.bead[data-bead="{i}"]')
        assert partner.get_attribute("textContent") == v["text"][b["target"][0] : b["target"][1]]
    hover(page, beads[2])
    linked = card.find_elements("css selector", ".bead.linked")
    assert {
        (
            b.get_attribute("data-bead"),
            b.find_element("xpath", "ancestor::section").get_attribute("data-lang"),
        )
        for b in linked
    } == {("2", "en"), ("2", "zh")}
    hover(page, beads[0])
    assert {b.get_attribute("data-bead") for b in card.find_elements("css selector", ".bead.linked")} == {"0"}
    hover(page, by_css(page, "#q"))
    assert not card.find_elements("css selector", ".bead.linked")
    # by keyboard: a glossed word of a sentence, focused, links it too
    word = version.find_element("css selector", '.bead[data-bead="1"] [data-gloss][role="button"]')
    page.execute_script("arguments[0].focus()", word)
    assert {b.get_attribute("data-bead") for b in card.find_elements("css selector", ".bead.linked")} == {"1"}
    page.execute_script("arguments[0].blur()", word)
    assert not card.find_elements("css selector", ".bead.linked")

    # an annex only in English: a note, once the document has other versions
    annex = [c for c in all_css(page, "#view .result") if c.get_attribute("data-part") == "annex"]
    assert annex and all(
        "No other language version" in c.find_element("css selector", ".parallel").text for c in annex
    )
    assert not all_css(page, "#view .result[data-part=annex] .side-by-side")

    # unticking the box reruns the search without them (parallel=0), and a reload keeps the filters
    by_css(page, "#parallel").click()
    wait_ready(page)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(page.current_url).query)["parallel"] == ["0"]
    assert card_ids(page) and not all_css(page, "#view .parallel, #view .side-by-side, #view .bead")
    page.refresh()
    wait_ready(page)
    assert (
        by_css(page, "#doc").get_attribute("value") == TEST
        and by_css(page, "#lang").get_attribute("value") == "en"
    )
    assert not by_css(page, "#parallel").is_selected() and not all_css(page, "#view .parallel")
    by_css(page, "#parallel").click()
    wait_ready(page)
    assert "parallel" not in urllib.parse.parse_qs(urllib.parse.urlsplit(page.current_url).query)
    assert all_css(page, "#view .side-by-side .version[data-lang=zh]")


def test_library_links_to_cited_documents(lib_page: Any, library_server: str) -> None:
    page, base = lib_page, library_server
    open_page(page, base + "/?" + urllib.parse.urlencode({"q": "resolution 80/12", "lang": "en"}))
    card = next(c for c in all_css(page, "#view .result") if c.get_attribute("data-paragraph") == "1")
    link = card.find_element("css selector", f'.links a.doc-link[data-document="{SYMBOL}"]')
    assert link.get_attribute("href") == base + phref(1)  # the cited document's first paragraph
    link.click()
    wait_ready(page)
    assert page.current_url == base + phref(1) and by_css(page, "#view h1").text == f"{SYMBOL}，第1段"
    # the paragraph page marks the same citation as a document of the library
    open_page(page, base + phref(1, TEST, "en"))
    assert all_css(page, f'#view .cites-in a.doc-link[data-document="{SYMBOL}"][href="{phref(1)}"]')


def test_library_paragraph_urls_pager_versions_and_copy(lib_page: Any, library_server: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    page, base = lib_page, library_server
    open_page(page, base + phref(3, TEST, "en"))
    assert by_css(page, "#view h1").text == f"{TEST}, para. 3"
    art = by_css(page, "#view article")
    assert (art.get_attribute("data-document"), art.get_attribute("data-lang")) == (TEST, "en")
    assert "Online fraud" in by_css(page, "#view .crumbs").text
    # prev and next stay in the document version
    assert all_css(page, f'#view a[rel="prev"][href="{phref(2, TEST, "en")}"]')
    assert all_css(page, f'#view a[rel="next"][href="{phref(4, TEST, "en")}"]')
    # the search form is not narrowed to the paragraph's document
    assert (
        by_css(page, "#doc").get_attribute("value") == ""
        and by_css(page, "#lang").get_attribute("value") == ""
    )
    by_css(page, '#view button.copy-cite[data-lang="en"]').click()
    WebDriverWait(page, 10).until(
        lambda d: d.execute_script("return document.body.dataset.lastCopied") == f"{TEST}, para. 3"
    )
    by_css(page, '#view button.copy-cite[data-lang="zh"]').click()
    WebDriverWait(page, 10).until(
        lambda d: d.execute_script("return document.body.dataset.lastCopied") == f"{TEST}，第3段"
    )
    # the other language version of the same paragraph, beside it
    own = by_css(page, '#view .side-by-side .version.own[data-lang="en"]')
    assert side_by_side(own, by_css(page, '#view .side-by-side .version[data-lang="zh"]'))
    assert own.find_element("css selector", "h2").text == "English" and not all_css(page, "#view mark.hl")
    by_css(page, '#view .side-by-side a.version-link[data-lang="zh"]').click()
    wait_ready(page)
    assert (
        page.current_url == base + phref(3, TEST, "zh") and by_css(page, "#view h1").text == f"{TEST}，第3段"
    )
    assert by_css(page, "#view .text").get_attribute("lang") == "zh-Hans"
    # the last paragraph of the body has no next; an annex has its own numbering and citation
    open_page(page, base + phref(8, TEST, "en"))
    assert not all_css(page, '#view a[rel="next"]')
    open_page(page, base + phref(2, TEST, "en", "annex"))
    assert by_css(page, "#view h1").text == f"{TEST}, annex, para. 2"
    assert all_css(page, f'#view a[rel="prev"][href="{phref(1, TEST, "en", "annex")}"]')
    assert not all_css(page, '#view a[rel="next"]') and not all_css(
        page, "#view .versions, #view .side-by-side"
    )
    by_css(page, '#view button.copy-cite[data-lang="zh"]').click()
    WebDriverWait(page, 10).until(
        lambda d: d.execute_script("return document.body.dataset.lastCopied") == f"{TEST}，附件，第2段"
    )
    # a paragraph the version does not have: the server's message
    open_page(page, base + phref(9, TEST, "en"))
    assert f"no paragraph 9 in {TEST} (en): it has paragraphs 1-8" in by_css(page, "#view .error").text
    page.get_log("browser")  # the 404 is logged as a console error on purpose


def test_library_paragraph_beside_its_versions_with_the_answer(lib_page: Any, library_server: str) -> None:
    """A question's hit links to its paragraph page with the answer (hl=, hl.xx=): the page shows the
    paragraph beside its other version, the answer marked in both."""
    page, base = lib_page, library_server
    params = {"q": "online fraud", "mode": "lexical", "doc": TEST, "lang": "en"}
    api = _get_json(base + "/api/search?" + urllib.parse.urlencode({**params, "parallel": "true"}))
    hit = next(h for h in api["results"] if h["paragraph"] == 6 and not h.get("part"))
    v = hit["parallel"][0]
    assert v["lang"] == "zh" and v.get("answer")
    open_page(page, base + "/?" + urllib.parse.urlencode(params))
    card = by_css(page, '#view .result[data-paragraph="6"]:not([data-part])')
    card.find_element("css selector", "a.open").click()
    wait_ready(page)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.current_url).query)
    assert query["hl"] == ["-".join(map(str, hit["answer_span"]))]
    assert query["hl.zh"] == ["-".join(map(str, v["answer_span"]))]
    own = by_css(page, '#view .side-by-side .version.own[data-lang="en"]')
    version = by_css(page, '#view .side-by-side .version[data-lang="zh"]')
    assert side_by_side(own, version)
    assert own.find_element("css selector", "h2").text == "English"
    assert version.find_element("css selector", "h2 a").text == f"{TEST}，第6段"
    # the answers are items here: marked in the items' text, without their "(a) " labels
    en, zh = marked(own), marked(version)
    assert en and hit["answer"].endswith(en) and zh and v["answer"].endswith(zh)
    assert own.find_elements("css selector", ".items mark.hl") and version.find_elements(
        "css selector", ".items mark.hl"
    )
    assert version.find_element("css selector", ".items .item-text").get_attribute("lang") == "zh-Hans"
    # the version's page marks the same, the other way round
    version.find_element("css selector", "a.version-link").click()
    wait_ready(page)
    own = by_css(page, '#view .side-by-side .version.own[data-lang="zh"]')
    version = by_css(page, '#view .side-by-side .version[data-lang="en"]')
    assert marked(own) == zh and marked(version) == en
    # without hl, nothing is marked
    open_page(page, base + phref(6, TEST, "en"))
    assert all_css(page, "#view .side-by-side .version") and not all_css(page, "#view mark.hl")


def test_library_versions_side_by_side_linked(lib_page: Any, library_server: str) -> None:
    """A Chinese hit beside its English version, the answer highlighted in both and the sentence under the
    mouse linked to its translation."""
    page, base = lib_page, library_server
    q = "各国同意在哪些领域加强合作？"
    open_page(
        page,
        base + "/?" + urllib.parse.urlencode({"q": q, "mode": "lexical", "doc": TEST, "lang": "zh", "k": 1}),
    )
    card = by_css(page, '#view .result[data-paragraph="6"]')
    own = card.find_element("css selector", '.version.own[data-lang="zh"]')
    version = card.find_element("css selector", '.version[data-lang="en"]')
    assert side_by_side(own, version) and marked(own) and marked(version)
    hover(page, own.find_element("css selector", '.bead[data-bead="1"]'))
    assert len(card.find_elements("css selector", ".bead.linked")) == 2
    # the README's screenshot is taken from the real report and its English version (tests/test_align.py)


def test_library_bare_paragraph_number_offers_each_document(lib_page: Any, library_server: str) -> None:
    page, base = lib_page, library_server
    open_page(page, base + "/p/3")
    links = all_css(page, "#view .choices a")
    assert sorted(a.get_attribute("href") for a in links) == sorted(
        base + phref(3, *v) for v in ((SYMBOL, "zh"), (TEST, "zh"), (TEST, "en"))
    )
    next(a for a in links if a.get_attribute("href") == base + phref(3, TEST, "en")).click()
    wait_ready(page)
    assert by_css(page, "#view h1").text == f"{TEST}, para. 3"
    # a number only one document has needs no choice
    open_page(page, base + "/p/40")
    assert by_css(page, "#view h1").text == f"{SYMBOL}，第40段"
    assert all_css(page, f'#view a[rel="next"][href="{phref(41)}"]')


def test_library_pages_fit_a_phone(lib_page: Any, library_server: str) -> None:
    page, base = lib_page, library_server
    page.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 800, "deviceScaleFactor": 2, "mobile": True},
    )
    try:
        for path in (
            "/",
            "/?q=online+fraud&mode=lexical",
            phref(6, TEST, "en") + "&hl=64-110&hl.zh=15-31",
            "/p/3",
            phref(1, TEST, "en"),
            phref(2, TEST, "en", "annex"),
            "/batch",
        ):
            open_page(page, base + path)
            width = page.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width == [375, 375], (path, width)
            # a paragraph and its other version are stacked, one column
            for group in all_css(page, "#view .side-by-side"):
                cols = group.find_elements("css selector", ":scope > .version")
                assert len(cols) == 2 and not side_by_side(*cols), path
                assert cols[1].rect["y"] >= cols[0].rect["y"] + cols[0].rect["height"] - 1, path
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
