"""A document symbol named alone (route "document"): its overview through the API and on the page.

The API test (TestClient over the fast retriever) checks that ``/api/search?q=CTOC/COP/2012/7`` returns the
route "document" and an overview whose sections cover the report's paragraphs 1-65; the browser test (slow:
Debian's Chromium, the app served in a thread) checks that the search page shows the table of contents, each
range linked to the paragraph page of its first paragraph.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import WAIT, all_css, by_css, open_page

from pipeline.server import create_app

SYMBOL = "CTOC/COP/2012/7"


@pytest.fixture(scope="module")
def client(fast_retriever: Any) -> Iterator[Any]:
    with TestClient(create_app(fast_retriever)) as c:
        yield c


def test_search_of_a_symbol_returns_its_overview(client: Any) -> None:
    resp = client.get("/api/search", params={"q": SYMBOL})
    assert resp.status_code == 200
    body = resp.json()
    assert body["route"] == "document"
    ov = body["overview"]
    assert ov["symbol"] == SYMBOL and ov["title"] and ov["lang"] in ov["languages"]
    assert ov["paragraphs"] == 65
    assert ov["ranges"] == [{"part": "", "first": 1, "last": 65}]
    sections = ov["sections"]
    assert sections and all(s["heading"] and s["first"] <= s["last"] for s in sections)
    covered = {n for s in sections if s["part"] == "" for n in range(s["first"], s["last"] + 1)}
    assert covered == set(range(1, 66))
    # the outermost headings follow one another without a gap
    top = [s for s in sections if s["level"] == 1]
    assert top[0]["first"] == 1 and top[-1]["last"] == 65
    assert all(a["last"] + 1 == b["first"] for a, b in zip(top, top[1:], strict=False))


# --- the page ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_page_shows_the_table_of_contents(browser: Any, server: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(1024, 1200)
    browser.get_log("browser")
    open_page(browser, f"{server}/?q={urllib.parse.quote(SYMBOL, safe='')}")
    title = by_css(browser, "#view h1.overview-title")
    assert SYMBOL in title.text and by_css(browser, "#view .overview .doc-title").text in title.text
    assert "65 paragraphs" in by_css(browser, "#view .overview-meta").text
    entries = all_css(browser, "#view ol.toc li.toc-entry")
    assert len(entries) >= 2
    # indented by level
    levels = {e.get_attribute("data-level") for e in entries}
    assert {"1", "2"} <= levels
    x = {
        e.get_attribute("data-level"): e.find_element("css selector", ".toc-heading").location["x"]
        for e in entries
    }
    assert x["2"] > x["1"]
    # each range links to the paragraph page of its first paragraph
    links = all_css(browser, "#view ol.toc a.toc-range")
    hrefs = [urllib.parse.urlsplit(a.get_attribute("href")) for a in links]
    assert hrefs[0].path == "/p/1"
    assert urllib.parse.parse_qs(hrefs[0].query) == {"doc": [SYMBOL], "lang": ["zh"]}
    assert links[0].text.startswith("¶1")
    assert not all_css(browser, "#view .error")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    # following the link opens paragraph 1
    links[0].click()
    WebDriverWait(browser, WAIT).until(
        lambda d: d.execute_script("return document.body.dataset.ready || ''").startswith("/p/1?")
    )
    assert by_css(browser, "#view h1").text
