"""The page's two interface languages, in Debian's headless Chromium (slow): it follows the browser's
language, the reader's choice is remembered (localStorage ``pipeline.lang``, shared with the whole-report
page), every label, message and help text of the page's own is in the chosen language (``<html lang>`` with
it, and text in the other language marked with its own ``lang``), the matched terms are shown as
words, never stems, and each result and paragraph links to its place in the whole report
(``/doc/SYMBOL?lang=…&q=…#para-N``).

The app is served in a thread over the real report with the fake embedder (``fast_retriever``), and over the
library of several documents (``support.build_library_home``: A/TEST/2030/1 in English too) for the English
terms. The README's screenshot of the Chinese interface (``docs/screenshot-bilingual.png``) is taken here:
into docs/ with ``PIPELINE_SCREENSHOTS=docs scripts/test tests/test_web_i18n.py``, else into a temp dir.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import SCREENSHOTS, WAIT, all_css, by_css, open_page, search_url

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DOCS = SCREENSHOTS
SYMBOL = "CTOC/COP/2012/7"
TEST = "A/TEST/2030/1"
ZH_Q = "伪药对患者有什么危害？"
EN_Q = "How much ransom did pirates receive in 2011?"


# --- fixtures ----------------------------------------------------------------------------------------------


def set_browser_language(driver: Any, lang: str) -> None:
    """What the browser says its language is (navigator.language), as a browser set to ``lang`` would."""
    ua = driver.execute_script("return navigator.userAgent")
    driver.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": ua, "acceptLanguage": lang})


def set_ui(driver: Any, base: str, lang: str | None) -> None:
    """The interface language the page remembers (localStorage ``pipeline.lang``; None: none chosen)."""
    if not driver.current_url.startswith(base):
        driver.get(base + "/batch")
    if lang is None:
        driver.execute_script("localStorage.removeItem('pipeline.lang')")
    else:
        driver.execute_script("localStorage.setItem('pipeline.lang', arguments[0])", lang)


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """The browser at a desktop width, its language English and no language chosen; its console is checked for
    errors afterwards."""
    browser.set_window_size(1024, 1200)
    set_browser_language(browser, "en-US")
    set_ui(browser, server, None)
    browser.get_log("browser")
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    set_browser_language(browser, "en-US")
    assert not errors, errors


def stored(driver: Any) -> str | None:
    return driver.execute_script("return localStorage.getItem('pipeline.lang')")


def ui_lang(driver: Any) -> str:
    return str(driver.execute_script("return document.documentElement.lang"))


def pressed(driver: Any) -> str:
    """The language whose switch button is pressed (aria-pressed)."""
    on = [b.get_attribute("data-ui-lang") for b in all_css(driver, ".ui-lang button[aria-pressed='true']")]
    assert len(on) == 1, on
    return str(on[0])


# --- the browser's language, the switch --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("browser_lang", "expected"),
    [("zh-CN", "zh"), ("zh-TW", "zh"), ("zh", "zh"), ("en-US", "en"), ("fr-FR", "en")],
)
def test_follows_the_browsers_language(page: Any, server: str, browser_lang: str, expected: str) -> None:
    set_browser_language(page, browser_lang)
    open_page(page, server + "/")
    assert page.execute_script("return navigator.language") == browser_lang
    assert stored(page) is None  # nothing chosen, nothing stored
    if expected == "zh":
        assert ui_lang(page) == "zh-Hans"
        assert by_css(page, ".brand").text.startswith("报告检索")
        assert by_css(page, "#search-form button[type=submit]").text == "检索"
        assert by_css(page, "#q").get_attribute("placeholder").startswith("用中文或英文提问")
        assert by_css(page, "#view h1").text == "向报告提问"
        assert pressed(page) == "zh"
    else:
        assert ui_lang(page) == "en"
        assert by_css(page, ".brand").text.startswith("Report search")
        assert by_css(page, "#search-form button[type=submit]").text == "Search"
        assert by_css(page, "#view h1").text == "Ask the report"
        assert pressed(page) == "en"
    # the switch: a group of two buttons, each named in its own language, one pressed
    group = by_css(page, ".ui-lang")
    assert group.get_attribute("role") == "group" and group.is_displayed()
    zh, en = by_css(page, "#ui-zh"), by_css(page, "#ui-en")
    assert (zh.text, zh.get_attribute("lang"), en.text, en.get_attribute("lang")) == (
        "中文",
        "zh-Hans",
        "English",
        "en",
    )


def test_switch_is_remembered_and_shared(page: Any, server: str) -> None:
    open_page(page, server + search_url(EN_Q))
    assert ui_lang(page) == "en" and by_css(page, "h1.results-title").text.startswith("Results for")
    first = [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")]
    url = page.current_url
    by_css(page, "#ui-zh").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, WAIT).until(
        lambda d: d.execute_script(
            "return document.body.dataset.ready && document.documentElement.lang === 'zh-Hans'"
        )
    )
    # the page and its view, in Chinese, the same results, the same URL; the choice is stored
    assert stored(page) == "zh" and page.current_url == url
    assert by_css(page, "h1.results-title").text.startswith("检索结果")
    assert "条结果" in by_css(page, "#status").text
    assert [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")] == first
    assert by_css(page, "#view .result button.copy-cite").text == "复制英文引文"
    assert page.execute_script("return document.activeElement.id") == "ui-zh"  # focus stays on the switch
    assert pressed(page) == "zh"
    # remembered: a reload, another page, and over the browser's own language
    page.refresh()
    open_page(page, server + "/p/17")
    assert ui_lang(page) == "zh-Hans" and by_css(page, "#view .footnotes h2").text == "脚注"
    set_browser_language(page, "en-GB")
    open_page(page, server + "/")
    assert ui_lang(page) == "zh-Hans"
    # and back to English, stored as such, even for a Chinese browser
    by_css(page, "#ui-en").click()
    WebDriverWait(page, WAIT).until(
        lambda d: d.execute_script(
            "return document.body.dataset.ready && document.documentElement.lang === 'en'"
        )
    )
    assert stored(page) == "en" and by_css(page, "#view h1").text == "Ask the report"
    set_browser_language(page, "zh-CN")
    open_page(page, server + "/")
    assert ui_lang(page) == "en"
    # a choice made on another page of the site (the whole-report page) applies on the next load
    page.execute_script("localStorage.setItem('pipeline.lang', 'zh')")
    open_page(page, server + "/cite?q=65%2F230")
    assert ui_lang(page) == "zh-Hans" and by_css(page, "#view h1").text.startswith("引用 65/230 的段落")


# --- every text in the interface's language ---------------------------------------------------------------

#: Latin words that stay as they are in the Chinese interface: names, formats, keys, units.
LATIN_OK = {"cc", "cedict", "by", "sa", "api", "pdf", "javascript", "tab", "enter", "esc", "ms", "english"}
UN_SYMBOL = re.compile(r"[A-Z][A-Za-z]*(?:/[A-Za-z0-9.]+)+")
PATH = re.compile(r"(?<!\S)/\S*")  # a URL's path, as the citations page shows one

#: Every text node and named attribute in the page's own language: [text, where], the text stripped of what is
#: marked with another lang (an element's lang attribute decides, as a screen reader's voice does).
OWN_TEXTS = """
const ui = document.documentElement.lang;
const out = [];
const visible = (e) => e && e.checkVisibility ? e.checkVisibility() : true;
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const e = n.parentElement;
  if (!e || e.closest('script, style, noscript') || !visible(e) || !n.data.trim()) continue;
  if (e.closest('[lang]') !== document.documentElement) continue;
  out.push([n.data.trim(), e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className]);
}
for (const e of document.querySelectorAll('[aria-label], [title], [placeholder]')) {
  if (e.closest('[lang]') !== document.documentElement && !e.hasAttribute('lang')) continue;
  if (e.hasAttribute('lang') && e.getAttribute('lang') !== ui) continue;
  for (const a of ['aria-label', 'title', 'placeholder']) {
    if (e.hasAttribute(a)) out.push([e.getAttribute(a), e.tagName + '@' + a]);
  }
}
out.push([document.title, 'title']);
return out;
"""


def foreign(texts: list[list[str]], ui: str, *queries: str) -> list[list[str]]:
    """The texts that are not in the interface's language: English words in the Chinese interface (UN symbols
    and the names in LATIN_OK aside), Chinese characters in the English one. The reader's ``queries`` are
    theirs (the window's title repeats a query: a title has no lang)."""
    bad = []
    for text, where in texts:
        for q in queries:
            text = text.replace(q, " ") if q else text
        if ui == "zh-Hans":
            rest = UN_SYMBOL.sub(" ", PATH.sub(" ", text))
            words = [w for w in re.findall(r"[A-Za-z]{2,}", rest) if w.lower() not in LATIN_OK]
            if words:
                bad.append([text, where, " ".join(words)])
        elif re.search(r"[\u3400-\u9fff]", text) and where != "INPUT@placeholder":
            bad.append([text, where])
    return bad


PAGES = [
    "/",
    search_url(EN_Q),
    search_url(ZH_Q, "hybrid"),  # flagged no_answer by the fake embedder: the note in both languages
    search_url("第 41 段"),
    "/?q=" + urllib.parse.quote(SYMBOL, safe=""),
    "/p/17",
    "/p/65",
    "/cite?q=65%2F230",
    "/cite",
    "/batch",
]


@pytest.mark.parametrize("ui", ["zh", "en"])
def test_every_text_is_in_the_interface_language(page: Any, server: str, ui: str) -> None:
    set_ui(page, server, ui)
    found = {}
    for path in PAGES:
        open_page(page, server + path)
        assert ui_lang(page) == ("zh-Hans" if ui == "zh" else "en")
        texts = page.execute_script(OWN_TEXTS)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("q", [""])[0]
        if bad := foreign(texts, ui_lang(page), q):
            found[path] = bad
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("ui", ["zh", "en"])
def test_library_texts_are_in_the_interface_language(browser: Any, library_server: str, ui: str) -> None:
    """The library's selectors, versions side by side, documents, annexes and choices."""
    browser.set_window_size(1024, 1200)
    set_browser_language(browser, "en-US")
    set_ui(browser, library_server, ui)
    found = {}
    for path in (
        "/",
        search_url("online fraud"),
        "/p/6?" + urllib.parse.urlencode({"doc": TEST, "lang": "en", "hl": "64-110", "hl.zh": "15-31"}),
        search_url("resolution 80/12", lang="en"),
        "/p/3",
        "/p/3?" + urllib.parse.urlencode({"doc": TEST, "lang": "en"}),
        "/p/2?" + urllib.parse.urlencode({"doc": TEST, "lang": "en", "part": "annex"}),
    ):
        open_page(browser, library_server + path)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("q", [""])[0]
        if bad := foreign(browser.execute_script(OWN_TEXTS), ui_lang(browser), q):
            found[path] = bad
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)


# --- matched terms as words --------------------------------------------------------------------------------


def test_matched_terms_are_words_not_stems(browser: Any, library_server: str) -> None:
    browser.set_window_size(1024, 1200)
    set_ui(browser, library_server, "en")
    q = "country investigation trainings"
    open_page(browser, library_server + search_url(q, lang="en"))
    chips = [c.text for c in all_css(browser, "#view .terms .chip")]
    terms = [c.get_attribute("data-term") for c in all_css(browser, "#view .terms .chip")]
    # the API matched on stems; the page shows the query's words they came from
    assert {"countri", "investig", "train"} <= set(terms), terms
    assert {"country", "investigation", "trainings"} <= set(chips), chips
    assert not {"countri", "investig", "train"} & set(chips)
    texts = " ".join(c.text for c in all_css(browser, "#view .result .text"))
    for chip in chips:  # each chip is a whole word of the query or of the results
        assert re.search(rf"(?<!\w){re.escape(chip)}(?!\w)", f"{q} {texts}", re.I), chip
    # the marks in the text are whole words too ("countries" for the stem "countri")
    marked = {m.text for m in all_css(browser, "#view .result mark.term")}
    assert {"countries", "investigators"} <= {m.lower() for m in marked}, marked
    assert all(re.fullmatch(r"\w+", m) for m in marked), marked


def test_chinese_terms_and_chips_are_the_reports_words(page: Any, server: str) -> None:
    open_page(page, server + search_url(ZH_Q))
    chips = [c.text for c in all_css(page, "#view .terms .chip")]
    assert "伪药" in chips
    marked = {m.text for m in all_css(page, "#view .result mark.term")}
    assert "伪药" in marked
    assert all(c.get_attribute("lang") == "zh-Hans" for c in all_css(page, "#view .terms .chip"))


# --- "read in the report" ----------------------------------------------------------------------------------


def report_link(a: Any) -> tuple[str, dict[str, list[str]], str]:
    parts = urllib.parse.urlsplit(a.get_attribute("href"))
    return parts.path, urllib.parse.parse_qs(parts.query), parts.fragment


def test_read_in_the_report_links(page: Any, server: str) -> None:
    q = "ransom paid to pirates in 2011"
    open_page(page, server + search_url(q))
    cards = all_css(page, "#view .result")
    assert cards
    for c in cards:
        n = c.get_attribute("data-paragraph")
        a = c.find_element("css selector", "a.read-doc")
        assert a.text == "Read in the report"
        assert a.get_attribute("aria-label") == f"Read in the report: {SYMBOL}, para. {n}"
        # /doc/ then the symbol, slashes kept; the language, the query percent-encoded; the paragraph's anchor
        raw = a.get_attribute("href").removeprefix(server)
        assert raw == f"/doc/CTOC/COP/2012/7?lang=zh&q={urllib.parse.quote(q, safe='')}#para-{n}"
        assert report_link(a) == ("/doc/CTOC/COP/2012/7", {"lang": ["zh"], "q": [q]}, f"para-{n}")
    # the paragraph page opened from a result keeps the query
    n = cards[0].get_attribute("data-paragraph")
    cards[0].find_element("css selector", "a.open").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, WAIT).until(
        lambda d: (d.execute_script("return document.body.dataset.ready || ''") or "").startswith(f"/p/{n}")
    )
    a = by_css(page, "#view article a.read-doc")
    assert report_link(a) == ("/doc/CTOC/COP/2012/7", {"lang": ["zh"], "q": [q]}, f"para-{n}")
    # a paragraph opened by its URL: no query to mark
    open_page(page, server + "/p/17")
    assert report_link(by_css(page, "#view article a.read-doc")) == (
        "/doc/CTOC/COP/2012/7",
        {"lang": ["zh"]},
        "para-17",
    )
    # in Chinese
    set_ui(page, server, "zh")
    open_page(page, server + search_url(ZH_Q))
    a = by_css(page, "#view .result a.read-doc")
    assert a.text == "在报告中阅读"
    assert report_link(a)[1] == {"lang": ["zh"], "q": [ZH_Q]}
    assert "%E4%BC%AA%E8%8D%AF" in a.get_attribute("href")  # 伪药, percent-encoded


def test_read_in_the_report_links_of_the_library(browser: Any, library_server: str) -> None:
    browser.set_window_size(1024, 1200)
    set_ui(browser, library_server, "en")
    open_page(browser, library_server + search_url("online fraud", doc=TEST, lang="en"))
    for c in all_css(browser, "#view .result"):
        n, part = c.get_attribute("data-paragraph"), c.get_attribute("data-part") or ""
        path, query, fragment = report_link(c.find_element("css selector", "a.read-doc"))
        assert path == "/doc/A/TEST/2030/1"
        assert query == {"lang": ["en"], "q": ["online fraud"]}
        assert fragment == (f"{part}-para-{n}" if part else f"para-{n}")


# --- the README's screenshot -------------------------------------------------------------------------------


def test_chinese_interface_screenshot(page: Any, server: str) -> None:
    set_ui(page, server, "zh")
    page.set_window_size(1200, 900)
    open_page(page, server + search_url(ZH_Q))
    assert ui_lang(page) == "zh-Hans" and by_css(page, "h1.results-title").text.startswith("检索结果")
    assert all_css(page, "#view .result mark.hl")
    page.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
    DOCS.mkdir(exist_ok=True)
    page.save_screenshot(str(DOCS / "screenshot-bilingual.png"))
