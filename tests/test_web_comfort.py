"""The page's comfort and access, in Debian's headless Chromium (slow): dark mode, the phone layout, the focus
ring, axe-core, the scroll position on Back, ``k`` in the shared URL, and the glossed words by keyboard.

The app is served in a thread over the real report with the fake embedder (``fast_retriever``); the library
of several documents (``support.build_library_home``) serves the axe run of the filters and parallel versions.
axe-core: ``support.axe_violations`` (the ``selenium-axe-python`` test extra, or ``PIPELINE_AXE_JS``).
The README's gloss screenshot (``docs/screenshot-gloss.png``) is taken here: into docs/ with
``PIPELINE_SCREENSHOTS=docs scripts/test tests/test_web_comfort.py``, else into a temp dir.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import SCREENSHOTS, WAIT, all_css, axe_violations, by_css, hover, open_page, search_url

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DOCS = SCREENSHOTS
SYMBOL = "CTOC/COP/2012/7"
ZH_Q = "伪药对患者有什么危害？"
EN_Q = "How much ransom did pirates receive in 2011?"
UNODC = "毒品和犯罪问题办公室"


# --- fixtures ----------------------------------------------------------------------------------------------


def set_theme(driver: Any, theme: str) -> None:
    """Emulate the system's colour scheme ("light" or "dark": prefers-color-scheme)."""
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": theme}]}
    )


def set_ui(driver: Any, base: str, lang: str | None) -> None:
    """The interface language the page remembers (localStorage ``pipeline.lang``; None: none chosen)."""
    if not driver.current_url.startswith(base):
        driver.get(base + "/batch")  # any page of the origin (the batch page loads nothing)
    if lang is None:
        driver.execute_script("localStorage.removeItem('pipeline.lang')")
    else:
        driver.execute_script("localStorage.setItem('pipeline.lang', arguments[0])", lang)


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """The browser at a desktop width in the light theme and the English interface; its console is checked for
    errors afterwards, and the emulations it may have set are cleared."""
    browser.set_window_size(1024, 1200)
    set_theme(browser, "light")
    set_ui(browser, server, "en")
    browser.get_log("browser")
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    set_theme(browser, "light")
    assert not errors, errors


def wait_view(driver: Any, prefix: str) -> None:
    """Wait until the view of a URL starting with ``prefix`` (path and query) is complete."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, WAIT).until(
        lambda d: (d.execute_script("return document.body.dataset.ready || ''") or "").startswith(prefix)
    )


# --- axe-core ----------------------------------------------------------------------------------------------


PAGES = [
    "/",
    search_url(EN_Q),
    search_url(ZH_Q, "hybrid"),
    "/p/17",
    "/p/65",
    "/cite?q=65%2F230",
    "/?q=" + urllib.parse.quote(SYMBOL, safe=""),
    "/batch",
]


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("ui", ["en", "zh"])
def test_axe_finds_no_violation(page: Any, server: str, theme: str, ui: str) -> None:
    set_theme(page, theme)
    set_ui(page, server, ui)
    found = {}
    for path in PAGES:
        open_page(page, server + path)
        if v := axe_violations(page):
            found[path] = v
    # an open gloss (the tooltip and the word's state) is checked too
    open_page(page, f"{server}/p/10")
    word = by_css(page, f'#view .text [data-word="{UNODC}"][role="button"]')
    page.execute_script("arguments[0].focus()", word)
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(page).send_keys(Keys.ENTER).perform()
    assert by_css(page, "#gloss-tip").is_displayed()
    if v := axe_violations(page):
        found["/p/10 with a gloss open"] = v
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)


#: A question whose hits stand beside their other language version (the default in a library with versions).
VERSIONS_Q = "/?" + urllib.parse.urlencode({"q": "online fraud", "mode": "lexical", "doc": "A/TEST/2030/1"})


@pytest.mark.parametrize(("ui", "theme"), [("en", "light"), ("zh", "light"), ("en", "dark")])
def test_axe_library_pages(browser: Any, library_server: str, ui: str, theme: str) -> None:
    """The library's selectors, the versions side by side (a sentence linked across them, the answer marked
    on the paragraph page), an English paragraph and an annex."""
    browser.set_window_size(1024, 1200)
    set_theme(browser, theme)
    set_ui(browser, library_server, ui)
    found = {}
    try:
        for path in (
            "/",
            VERSIONS_Q,
            "/?" + urllib.parse.urlencode({"q": "第 3 段", "mode": "lexical", "parallel": "0"}),
            "/p/3",
            "/p/3?" + urllib.parse.urlencode({"doc": "A/TEST/2030/1", "lang": "en"}),
            "/p/6?"
            + urllib.parse.urlencode(
                {"doc": "A/TEST/2030/1", "lang": "en", "hl": "64-110", "hl.zh": "15-31"}
            ),
            "/p/2?" + urllib.parse.urlencode({"doc": "A/TEST/2030/1", "lang": "en", "part": "annex"}),
        ):
            open_page(browser, library_server + path)
            assert all_css(browser, "#view h1"), path
            if v := axe_violations(browser):
                found[path] = v
        # a sentence linked across the columns, outside the answer and in it
        open_page(browser, library_server + VERSIONS_Q)
        for sel in ('.version.own .bead[data-bead="0"]', ".version.own mark.hl .bead"):
            hover(browser, by_css(browser, f'#view .result[data-paragraph="6"] {sel}'))
            assert all_css(browser, "#view .bead.linked")
            if v := axe_violations(browser):
                found[f"{VERSIONS_Q} hovering {sel}"] = v
    finally:
        set_theme(browser, "light")
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_linked_sentences_are_legible(browser: Any, library_server: str, theme: str) -> None:
    """A sentence linked across the columns is marked subtly, its text at 4.5:1 at least (inside the answer
    too), in both themes."""
    browser.set_window_size(1024, 1200)
    set_theme(browser, theme)
    set_ui(browser, library_server, "en")
    try:
        open_page(browser, library_server + VERSIONS_Q)
        card = '#view .result[data-paragraph="6"]'
        for sel in ('.version.own .bead[data-bead="0"]', ".version.own mark.hl .bead"):
            bead = by_css(browser, f"{card} {sel}")
            before = colours(browser, f"{card} {sel}")
            hover(browser, bead)
            key = bead.get_attribute("data-bead")
            linked = all_css(browser, f"{card} .bead.linked")
            assert {b.get_attribute("data-bead") for b in linked} == {key} and len(linked) == 2
            for lang in ("en", "zh"):
                c = colours(browser, f'{card} .version[data-lang="{lang}"] .bead.linked')
                assert c["bg"] != before["bg"], (theme, sel, c)  # visibly marked
                ratio = (max(c["fg"], c["bg"]) + 0.05) / (min(c["fg"], c["bg"]) + 0.05)
                assert ratio >= 4.5, (theme, sel, lang, ratio)
    finally:
        set_theme(browser, "light")


# --- dark mode -------------------------------------------------------------------------------------------

LUMINANCE = """
const lum = (c) => {
  const m = c.match(/[\\d.]+/g).map(Number);
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(m[0]) + 0.7152 * f(m[1]) + 0.0722 * f(m[2]);
};
"""


def colours(driver: Any, sel: str) -> dict[str, float]:
    """The relative luminance of the text and background colour of the first element matching ``sel``."""
    return dict(
        driver.execute_script(
            LUMINANCE + "const s = getComputedStyle(document.querySelector(arguments[0]));"
            "return {fg: lum(s.color), bg: lum(s.backgroundColor)};",
            sel,
        )
    )


def test_dark_mode_follows_the_system(page: Any, server: str) -> None:
    open_page(page, server + search_url(EN_Q))
    light = {sel: colours(page, sel) for sel in ("body", "#view .card", "#q")}
    assert light["body"]["bg"] > 0.8 and light["body"]["fg"] < 0.05
    set_theme(page, "dark")
    open_page(page, server + search_url(EN_Q))
    dark = {sel: colours(page, sel) for sel in ("body", "#view .card", "#q")}
    for sel, c in dark.items():
        assert c["bg"] < 0.05 and c["fg"] > 0.6, (sel, c)  # dark backgrounds, light text
    # the highlights stay visible: answer and term marks differ from the card they are on
    hl = colours(page, "#view mark.hl")["bg"]
    term = colours(page, "#view mark.term")["bg"]
    card = dark["#view .card"]["bg"]
    assert hl != card and term != card
    assert (
        page.execute_script("return getComputedStyle(document.documentElement).colorScheme") == "light dark"
    )
    assert page.execute_script("return matchMedia('(prefers-color-scheme: dark)').matches")
    # the gloss tooltip is dark text on light in the dark theme
    open_page(page, f"{server}/p/17")
    by_css(page, '#view .text [data-word="海盗"]').click()
    tip = colours(page, "#gloss-tip")
    assert tip["bg"] > 0.6 and tip["fg"] < 0.05


# --- the phone ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ui", ["en", "zh"])
def test_phone_shows_the_first_answer_on_the_first_screen(page: Any, server: str, ui: str) -> None:
    set_ui(page, server, ui)
    page.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True},
    )
    for q, mode in ((ZH_Q, "hybrid"), (EN_Q, "lexical")):
        open_page(page, server + search_url(q, mode))
        size = page.execute_script(
            "return [window.innerWidth, window.innerHeight, document.documentElement.scrollWidth]"
        )
        assert size == [390, 844, 390], size
        first = by_css(page, "#view .result")
        top = page.execute_script("return arguments[0].getBoundingClientRect().top", first)
        # the first result starts on the first screen, its citation heading whole
        head = page.execute_script(
            "return arguments[0].querySelector('.card-head').getBoundingClientRect().bottom", first
        )
        assert 0 < top and head < 844, (q, top, head)
        # the search hint is folded behind "Tips"
        hint, toggle = by_css(page, "#search-hint"), by_css(page, "#hint-toggle")
        assert not hint.is_displayed() and toggle.is_displayed()
        assert toggle.get_attribute("aria-expanded") == "false"
        assert toggle.get_attribute("aria-controls") == "search-hint"
    toggle.click()
    assert hint.is_displayed() and toggle.get_attribute("aria-expanded") == "true"
    assert "/" in hint.text
    toggle.click()
    assert not hint.is_displayed()
    # at a desktop width the hint is shown and there is no "Tips" button
    page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    open_page(page, server + search_url(EN_Q))
    assert by_css(page, "#search-hint").is_displayed() and not by_css(page, "#hint-toggle").is_displayed()


# --- the focus ring ----------------------------------------------------------------------------------------

FOCUS_RING = (
    LUMINANCE
    + """
const e = document.activeElement;
if (!e || e === document.body) return null;
const s = getComputedStyle(e);
// the ring is drawn outside the element (outline-offset): over the background of what holds it
let p = e.parentElement, bg = null;
while (p) {
  const c = getComputedStyle(p).backgroundColor;
  if (!/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') { bg = c; break; }
  p = p.parentElement;
}
bg = bg || getComputedStyle(document.documentElement).backgroundColor;
const a = lum(s.outlineColor), b = lum(bg);
return {
  what: e.tagName + (e.id ? '#' + e.id : e.className ? '.' + String(e.className).split(' ')[0] : '')
    + (e.dataset.word ? '[' + e.dataset.word + ']' : ''),
  style: s.outlineStyle, width: parseFloat(s.outlineWidth), colour: s.outlineColor, bg,
  ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05),
};
"""
)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_focus_ring_has_three_to_one_contrast(page: Any, server: str, theme: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    set_theme(page, theme)
    seen: dict[str, dict[str, Any]] = {}
    for path in (search_url(EN_Q), "/p/29"):
        open_page(page, server + path)
        page.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
        for _ in range(160):
            ActionChains(page).send_keys(Keys.TAB).perform()
            ring = page.execute_script(FOCUS_RING)
            if ring:
                seen.setdefault(ring["what"].split("[")[0] + "@" + ring["bg"], ring)
    kinds = {k.split("@")[0] for k in seen}
    # links, the search box, the selectors, buttons and glossed words were all reached
    assert {"INPUT#q", "SELECT#mode", "SELECT#k", "BUTTON#ui-zh", "SPAN.w", "BUTTON.plain"} <= kinds, kinds
    assert any(k.startswith("A") for k in kinds)
    bad = [r for r in seen.values() if r["style"] == "none" or r["width"] < 2 or r["ratio"] < 3]
    assert not bad, json.dumps(bad, indent=1)


# --- Back restores the scroll position ---------------------------------------------------------------------


def test_back_returns_to_the_same_scroll_position(page: Any, server: str) -> None:
    page.set_window_size(1024, 700)
    url = search_url("海盗", k="10")
    open_page(page, server + url)
    cards = all_css(page, "#view .result")
    assert len(cards) == 10
    target = cards[6]
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", target)
    y = page.execute_script("return window.scrollY")
    assert y > 1000
    n = target.get_attribute("data-paragraph")
    target.find_element("css selector", "a.open").click()
    wait_view(page, f"/p/{n}")
    assert page.execute_script("return window.scrollY") == 0  # a followed link shows the page top
    page.back()
    wait_view(page, "/?")
    assert abs(page.execute_script("return window.scrollY") - y) <= 2
    # forward and back again: the paragraph at its top, the results where they were
    page.forward()
    wait_view(page, f"/p/{n}")
    assert page.execute_script("return window.scrollY") == 0
    page.back()
    wait_view(page, "/?")
    assert abs(page.execute_script("return window.scrollY") - y) <= 2
    # a reload keeps it too
    page.refresh()
    wait_view(page, "/?")
    assert abs(page.execute_script("return window.scrollY") - y) <= 2


# --- k in the shared URL -----------------------------------------------------------------------------------


def test_results_url_keeps_k(page: Any, server: str) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    def query() -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(page.current_url).query)

    open_page(page, server + search_url("海盗"))
    assert len(all_css(page, "#view .result")) == 5 and "k" not in query()
    assert by_css(page, "#k").get_attribute("value") == "5"
    Select(by_css(page, "#k")).select_by_value("10")  # changing k searches again
    wait_view(page, "/?")
    assert query()["k"] == ["10"] and len(all_css(page, "#view .result")) == 10
    shared = page.current_url
    # the URL as shared: the same results, the selector showing k
    page.get("about:blank")
    open_page(page, shared)
    assert len(all_css(page, "#view .result")) == 10 and by_css(page, "#k").get_attribute("value") == "10"
    # a new search keeps k
    box = by_css(page, "#q")
    box.clear()
    box.send_keys("赎金", Keys.ENTER)
    wait_view(page, "/?")
    assert query()["k"] == ["10"] and query()["q"] == ["赎金"]
    # a k the selector does not list is shown too
    open_page(page, server + search_url("海盗", k="7"))
    assert len(all_css(page, "#view .result")) == 7 and by_css(page, "#k").get_attribute("value") == "7"


# --- glossed words by keyboard -----------------------------------------------------------------------------


def test_glossed_words_by_keyboard(page: Any, server: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    def key(k: str) -> None:
        ActionChains(page).send_keys(k).perform()

    def active() -> Any:
        return page.execute_script("return document.activeElement")

    open_page(page, f"{server}/p/17")
    words = all_css(page, "#view .text [data-gloss][role='button']")
    assert len(words) > 20
    for w in words:
        assert w.get_attribute("tabindex") == "0" and w.get_attribute("aria-expanded") == "false"
        assert w.get_attribute("data-gloss")  # only words that have a gloss are buttons
    # no button inside a link (a citation link's words are reached through the link)
    assert (
        page.execute_script("return document.querySelectorAll('a [role=button], a [tabindex]').length") == 0
    )
    tip = by_css(page, "#gloss-tip")
    assert tip.get_attribute("role") == "tooltip"

    # Tab from the heading reaches the first word, then each next word in turn
    page.execute_script("document.querySelector('#view h1').focus()")
    key(Keys.TAB)
    assert active() == words[0]
    key(Keys.ENTER)
    assert tip.is_displayed() and words[0].get_attribute("data-word") in tip.text
    assert words[0].get_attribute("aria-expanded") == "true"
    assert words[0].get_attribute("aria-describedby") == "gloss-tip"
    assert words[0].get_attribute("data-word") in by_css(page, "#gloss-live").text  # read out once opened
    key(Keys.ESCAPE)
    assert not tip.is_displayed() and words[0].get_attribute("aria-expanded") == "false"
    assert not words[0].get_attribute("aria-describedby") and active() == words[0]
    y = page.execute_script("return window.scrollY")
    key(Keys.SPACE)  # Space opens it too, without scrolling the page
    assert tip.is_displayed() and page.execute_script("return window.scrollY") == y
    key(Keys.SPACE)
    assert not tip.is_displayed()
    key(Keys.ENTER)
    key(Keys.TAB)  # leaving an open word closes its gloss
    assert active() == words[1] and not tip.is_displayed()
    for w in words[2:6]:
        key(Keys.TAB)
        assert active() == w
    key(Keys.ENTER)
    assert tip.is_displayed() and words[5].get_attribute("data-word") in tip.text
    key(Keys.ESCAPE)

    # in the results too, the glossed words of each card are reached by Tab
    open_page(page, server + search_url(ZH_Q, "hybrid"))
    first = by_css(page, "#view .result .text [data-gloss][role='button']")
    page.execute_script("arguments[0].closest('.result').querySelector('a.citation').focus()", first)
    key(Keys.TAB)
    assert active() == first
    key(Keys.ENTER)
    tip = by_css(page, "#gloss-tip")
    assert tip.is_displayed() and first.get_attribute("data-word") in tip.text


def test_gloss_of_a_un_term_and_screenshot(page: Any, server: str) -> None:
    """The UN term 毒品和犯罪问题办公室 is one word, glossed as the Office; the README's screenshot shows it
    open."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    set_ui(page, server, "en")
    page.set_window_size(1200, 900)
    open_page(page, f"{server}/p/10")
    word = by_css(page, f'#view .text [data-word="{UNODC}"][role="button"]')
    page.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus()", word)
    ActionChains(page).send_keys(Keys.ENTER).perform()
    tip = by_css(page, "#gloss-tip")
    assert tip.is_displayed() and UNODC in tip.text
    assert "Office on Drugs and Crime" in tip.text
    DOCS.mkdir(exist_ok=True)
    page.save_screenshot(str(DOCS / "screenshot-gloss.png"))
