"""The whole-report view: ``GET /api/doc/{symbol}`` (JSON), the page ``/doc/{symbol}`` and the 404 pages.

The library (a scratch home): the session's report (CTOC/COP/2012/7, zh); A/TEST/2030/1 in Chinese and in
English (an annex numbered from 1); CTOC/COP/WG.2/2013/3 in Chinese and English (footnotes, three levels of
headings, an annex), its English version given a PDF original; and A/C.3/80/L.23, whose last segment has a dot
(so its page URL looks like an original's ``/doc/SYMBOL/LANG.EXT``) and one of whose paragraphs holds markup.

The API tests run on FastAPI's test client; the browser tests (slow) drive Debian's headless Chromium against
the app on a real socket, and run axe-core (``support.axe_violations``) on the page.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import (
    SYNTHETIC_EN,
    SYNTHETIC_SYMBOL,
    SYNTHETIC_ZH,
    WG2,
    WG2_EN,
    WG2_ZH,
    FakeEmbedder,
    all_css,
    assert_error,
    axe_violations,
    by_css,
    library_retriever,
    live_server,
    open_page,
    scratch_home,
)

from pipeline.server import ServerOptions, create_app
from pipeline.server.report import anchor, doc_url

TEST = SYNTHETIC_SYMBOL
CTOC = "CTOC/COP/2012/7"
DOTTED = "A/C.3/80/L.23"
MARKUP = '<img src=x id="injected"> <script>window.injected = 1</script> & "quotes"'
PDF = b"%PDF-1.4\n% a stand-in: the page only links to it\n%%EOF\n"
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def doc_path(symbol: str) -> str:
    return "/doc/" + "/".join(urllib.parse.quote(s, safe="") for s in symbol.split("/"))


@pytest.fixture(scope="module")
def doc_home(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.catalog import read_catalog, write_catalog
    from pipeline.changes import add_reports
    from pipeline.config import Config

    tmp = tmp_path_factory.mktemp("doc-view")
    h = scratch_home(home, tmp / "home")
    cfg = Config(root=h)
    src = tmp / "src"
    src.mkdir()
    en = src / "a-test-2030-1.en.txt"
    en.write_text(SYNTHETIC_EN, encoding="utf-8")
    dotted = src / "a-c3-80-l23.en.txt"
    dotted.write_text(
        SYNTHETIC_EN.replace("Wildlife trafficking remains a serious problem", f"Markup {MARKUP} stays text"),
        encoding="utf-8",
    )
    add_reports(cfg, [SYNTHETIC_ZH], symbol=TEST, embedder=FakeEmbedder())
    add_reports(cfg, [en], symbol=TEST, embedder=FakeEmbedder())
    add_reports(cfg, [WG2_ZH], embedder=FakeEmbedder())
    add_reports(cfg, [WG2_EN], embedder=FakeEmbedder())
    add_reports(cfg, [dotted], symbol=DOTTED, embedder=FakeEmbedder())
    entries = read_catalog(cfg)
    assert entries is not None
    for e in entries:
        if (e.symbol, e.lang) == (WG2, "en"):  # given as a PDF, as `pipeline add report.pdf` records one
            e.format, e.original = "pdf", "originals/ctoc-cop-wg2-2013-3.en.pdf"
            e.original_sha256 = hashlib.sha256(PDF).hexdigest()
            (cfg.corpus_dir / "originals").mkdir(exist_ok=True)
            (cfg.corpus_dir / e.original).write_bytes(PDF)
    write_catalog(cfg, entries)
    return h


@pytest.fixture(scope="module")
def doc_retriever(doc_home: Path) -> Any:
    return library_retriever(doc_home)


@pytest.fixture(scope="module")
def client(doc_retriever: Any) -> Iterator[Any]:
    with TestClient(create_app(doc_retriever)) as c:
        yield c


def get_doc(client: Any, symbol: str, **params: str) -> dict[str, Any]:
    resp = client.get("/api" + doc_path(symbol), params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    data: dict[str, Any] = resp.json()
    return data


# --- the JSON ---------------------------------------------------------------------------------------------


def test_the_document_as_json(client: Any, doc_retriever: Any) -> None:
    data = get_doc(client, WG2, lang="zh")
    assert (data["symbol"], data["lang"], data["languages"]) == (WG2, "zh", ["zh", "en"])
    assert data["title"]
    front = data["front"]
    assert front["place"] == "维也纳" and front["issued"] == "30 July 2013" and front["agenda_item"] == "2"
    assert front["report_type"] == "秘书处的说明" and front["added"]
    assert data["masthead"][0].startswith("联 合 国") and "Distr.: General" in data["masthead"]
    assert data["parts"] == [{"part": "", "first": 1, "last": 6}, {"part": "annex", "first": 1, "last": 2}]
    # every paragraph, in order, with its anchor and its text as the paragraph records have them
    library = doc_retriever.library
    d = library.document(WG2, "zh")
    assert [(p.get("part", ""), p["number"]) for p in data["paragraphs"]] == [x.key for x in d.paragraphs]
    records = client.get("/api/paragraphs", params={"doc": WG2, "lang": "zh"}).json()
    for p, rec in zip(data["paragraphs"], records, strict=True):
        assert p["anchor"] == anchor(rec.get("part", ""), rec["number"])
        assert (p["text"], p["items"], p["citation"]) == (rec["text"], rec["items"], rec["citation"])
        assert [(f["marker"], f["text"], f["offset"]) for f in p["footnotes"]] == [
            (f["marker"], f["text"], f["offset"]) for f in rec["footnotes"]
        ]
    assert [p["anchor"] for p in data["paragraphs"]][-2:] == ["annex-para-1", "annex-para-2"]
    # footnotes are numbered through the document
    notes = [f for p in data["paragraphs"] for f in p["footnotes"]]
    assert [(f["id"], f["marker"]) for f in notes] == [("fn-1", "1"), ("fn-2", "2"), ("fn-3", "3")]
    assert data["paragraphs"][1]["footnotes"][0]["offset"] == 31
    # versions: each with its page; the zh version was added as text, the en one as a PDF
    assert data["versions"] == [
        {"lang": "zh", "paragraphs": 8, "url": doc_url(WG2, "zh")},
        {
            "lang": "en",
            "paragraphs": 8,
            "url": doc_url(WG2, "en"),
            "original": {"format": "pdf", "url": f"{doc_path(WG2)}/en.pdf"},
        },
    ]
    assert "original" not in data
    assert get_doc(client, WG2, lang="en")["original"] == {"format": "pdf", "url": f"{doc_path(WG2)}/en.pdf"}


def test_sections_have_their_paragraph_ranges(client: Any, doc_retriever: Any) -> None:
    data = get_doc(client, WG2, lang="zh")
    got = [(s["part"], s["heading"], s["level"], s["first"], s["last"]) for s in data["sections"]]
    overview = doc_retriever.library.overview(WG2, "zh")["sections"]
    assert got == [(s["part"], s["heading"], s["level"], s["first"], s["last"]) for s in overview]
    assert [s["id"] for s in data["sections"]] == [f"sec-{i}" for i in range(1, len(got) + 1)]
    assert ("", "1. 示范立法条文", 3, 3, 3) in got and ("", "二. 技术援助活动", 1, 3, 5) in got
    assert ("annex", "A. 预防", 2, 1, 1) in got
    # each paragraph names the sections that start with it, and each section's anchor is its first paragraph
    starts = {sid: p["anchor"] for p in data["paragraphs"] for sid in p["sections"]}
    assert starts == {s["id"]: s["anchor"] for s in data["sections"]}
    by_anchor = {p["anchor"]: p for p in data["paragraphs"]}
    for s in data["sections"]:
        assert by_anchor[s["anchor"]]["number"] == s["first"]
        assert by_anchor[s["anchor"]].get("part", "") == s["part"]


def test_the_first_version_without_lang_and_the_symbol_however_written(client: Any) -> None:
    assert get_doc(client, TEST)["lang"] == "zh"  # the first version in library order
    en = get_doc(client, TEST, lang="en")
    assert en["lang"] == "en" and en["parts"][1] == {"part": "annex", "first": 1, "last": 2}
    for written in ("a/test/2030/1", "A%2FTEST%2F2030%2F1", "Ａ/TEST/2030/1"):
        resp = client.get(f"/api/doc/{written}", params={"lang": "en"})
        assert resp.status_code == 200 and resp.json()["symbol"] == TEST, (written, resp.text)
    assert get_doc(client, DOTTED)["symbol"] == DOTTED
    assert get_doc(client, CTOC)["paragraphs"][40]["anchor"] == "para-41"


def test_unknown_documents_and_versions_are_json_404s(client: Any) -> None:
    assert_error(client.get("/api/doc/A/TEST/2030/9"), 404, "no document 'A/TEST/2030/9'", TEST)
    assert_error(client.get("/api/doc/A/TEST/2030/1", params={"lang": "fr"}), 404, "no fr version", "zh, en")
    assert_error(client.get("/api/doc/A/TEST/2030/1/"), 404, "no document")
    assert_error(client.get("/api/doc/A/TEST/2030/1", params={"lang": "xx"}), 422, "query parameter 'lang'")
    assert_error(client.get("/api/doc/A/TEST/2030/9", headers=HTML), 404, "no document")  # JSON under /api


def test_the_api_route_is_behind_the_token_and_in_the_schema(doc_retriever: Any) -> None:
    token = "s3cret-token"
    with TestClient(create_app(doc_retriever, ServerOptions(token=token))) as c:
        assert_error(c.get("/api/doc/A/TEST/2030/1"), 401, "token")
        ok = c.get("/api/doc/A/TEST/2030/1", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["symbol"] == TEST
        # the page itself is not behind the token, and so tells nothing of the library: any symbol gets it
        for path in ("/doc/A/TEST/2030/1", "/doc/NO/SUCH/DOC", "/doc/A/TEST/2030/1?lang=fr"):
            resp = c.get(path, headers=HTML)
            assert resp.status_code == 200 and "/static/doc.js" in resp.text, path
        schema = c.get("/openapi.json").json()
    op = schema["paths"]["/api/doc/{symbol}"]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/DocView"
    }
    assert {"401", "404", "422"} <= set(op["responses"])
    assert {p["name"] for p in op["parameters"]} == {"symbol", "lang"}
    assert not any(p.startswith("/doc/{symbol}") and p.count("{") == 1 for p in schema["paths"])


# --- the page routes and the 404 page ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/doc/CTOC/COP/WG.2/2013/3",
        "/doc/CTOC/COP/WG.2/2013/3?lang=en&q=counterfeit#para-2",
        "/doc/ctoc/cop/wg.2/2013/3",
        "/doc/CTOC%2FCOP%2FWG.2%2F2013%2F3",
        "/doc/A/C.3/80/L.23",  # looks like /doc/SYMBOL/LANG.EXT: a symbol the library holds wins
        "/doc/A/TEST/2030/1?lang=",
    ],
)
def test_the_doc_page_is_served_for_a_document_of_the_library(client: Any, path: str) -> None:
    resp = client.get(path, headers=HTML)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    assert '<script src="/static/doc.js" defer></script>' in resp.text
    csp = resp.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert client.head(path).status_code == 200


def test_the_doc_page_has_no_inline_script_or_handler() -> None:
    from pipeline.server.pages import WEB_DIR

    page = (WEB_DIR / "doc.html").read_text(encoding="utf-8")
    scripts = re.findall(r"<script[^>]*>[^<]*</script>", page)
    assert scripts == [
        '<script src="/static/common.js" defer></script>',
        '<script src="/static/doc.js" defer></script>',
    ]
    assert not re.search(r"\son[a-z]+\s*=", page, re.I)
    for name in ("common.js", "doc.js"):
        js = (WEB_DIR / name).read_text(encoding="utf-8")
        assert not re.search(r"innerHTML\s*=", js), name
        assert "eval(" not in js and "new Function" not in js, name


def test_the_originals_still_answer_beside_the_page(client: Any) -> None:
    resp = client.get(f"{doc_path(WG2)}/en.pdf")
    assert resp.status_code == 200 and resp.content == PDF
    assert_error(client.get(f"{doc_path(WG2)}/zh.pdf"), 404, "added as text")
    assert_error(client.get(f"{doc_path(DOTTED)}/en.pdf"), 404, "added as text")
    assert_error(client.get("/doc/A/TEST/2030/1/xx.pdf"), 404, "/doc/A/TEST/2030/1/LANG.pdf")


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/doc/A/TEST/2030/9", "no document &#x27;A/TEST/2030/9&#x27; in the library"),
        ("/doc/A/TEST/2030/1?lang=fr", "no fr version of A/TEST/2030/1"),
        ("/doc/A/TEST/2030/1?lang=xx", "no xx version"),
        ("/doc/A/TEST/2030/1/", "no document"),
        ("/doc/", "no document &#x27;&#x27; in the library"),
        ("/p/abc", "not found: /p/abc"),
        ("/p/12abc", "not found: /p/12abc"),
        ("/p/3/extra", "not found: /p/3/extra"),
        ("/nonsense", "not found: /nonsense"),
        ("/cite/more", "not found: /cite/more"),
        ("/%3Cscript%3Ealert(1)%3C/script%3E", "not found: /&lt;script&gt;alert(1)&lt;/script&gt;"),
    ],
)
def test_a_page_that_does_not_exist_is_an_html_404_for_a_browser(client: Any, path: str, needle: str) -> None:
    resp = client.get(path, headers=HTML)
    assert resp.status_code == 404, resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert needle in resp.text and "<script" not in resp.text.replace("&lt;script", "")
    assert "Not found" in resp.text and "未找到" in resp.text
    assert "script-src 'self'" in resp.headers["content-security-policy"]
    assert client.head(path, headers=HTML).status_code == 404
    # anything but a browser gets the JSON error
    assert_error(client.get(path), 404)


@pytest.mark.parametrize(
    "path", ["/api/nothing", "/static/no-such-file.js", "/doc/A/TEST/2030/9/en.pdf", "/api/doc/X/Y"]
)
def test_the_api_and_static_files_keep_their_json_404(client: Any, path: str) -> None:
    assert_error(client.get(path, headers=HTML), 404)


def test_paragraph_pages_stay_the_search_page(client: Any) -> None:
    for path in ("/p/12", "/p/0", "/p/3?doc=A/TEST/2030/1&lang=en&part=annex", "/", "/cite?q=x", "/batch"):
        resp = client.get(path, headers=HTML)
        assert resp.status_code == 200 and "/static/app.js" in resp.text, path
    assert_error(client.post("/doc/A/TEST/2030/1"), 405)


# --- the page in Chromium ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def doc_server(doc_retriever: Any) -> Iterator[str]:
    with live_server(create_app(doc_retriever)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def page(browser: Any, doc_server: str) -> Iterator[Any]:
    """The browser at a desktop width and light colours, the page language chosen by the browser (en-US);
    the console checked for errors (a Content-Security-Policy violation is one) afterwards."""
    browser.set_window_size(1024, 800)
    browser.get(doc_server + "/static/doc.css")  # an origin to clear the stored language on
    browser.execute_script("localStorage.clear(); sessionStorage.clear();")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
    browser.get_log("browser")
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def in_view(driver: Any, element_id: str) -> bool:
    return bool(
        driver.execute_script(
            "const r = document.getElementById(arguments[0]).getBoundingClientRect();"
            "return r.top >= -2 && r.bottom <= window.innerHeight + 2;",
            element_id,
        )
    )


def anchors(driver: Any) -> list[str]:
    return [e.get_attribute("id") for e in all_css(driver, "#doc .doc-para")]


@pytest.mark.slow
def test_every_paragraph_has_its_anchor_and_the_contents_link_to_the_sections(
    page: Any, doc_server: str, client: Any
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    data = get_doc(client, WG2, lang="zh")
    open_page(page, doc_server + doc_path(WG2) + "?lang=zh")
    assert anchors(page) == [p["anchor"] for p in data["paragraphs"]]
    assert by_css(page, "#doc h1").text == data["title"]
    assert by_css(page, "#doc .doc-symbol").text == WG2
    assert page.title.startswith(WG2)
    assert by_css(page, "#doc .doc-body").get_attribute("lang") == "zh-Hans"
    front = by_css(page, "#doc .doc-front").text
    assert "维也纳" in front and "30 July 2013" in front and "Place and dates" in front
    assert not by_css(page, "#back").is_displayed()
    # paragraph 2 carries the marker of footnote 1 where the report prints it; the notes come at the end
    ref = by_css(page, "#para-2 sup.fn-ref a")
    assert ref.text == "1" and ref.get_attribute("href").endswith("#fn-1")
    text = by_css(page, "#para-2 .doc-text").text
    assert text.startswith("2.") and text.index("1") > 0
    notes = all_css(page, "#doc .doc-notes li")
    assert [n.get_attribute("id") for n in notes] == ["fn-1", "fn-2", "fn-3"]
    assert "世界卫生组织" in notes[0].text
    # lettered items, and the annex's own anchors
    assert len(all_css(page, "#para-5 .items li")) == 2
    assert by_css(page, "#annex-para-1 .pnum").text == "1."
    # the contents: every section, nested, with its range; each link scrolls to its heading
    links = all_css(page, "#doc .doc-toc a")
    assert [a.text for a in links] == [s["heading"] for s in data["sections"]]
    assert by_css(page, '#doc .doc-toc li[data-section="sec-2"] > .doc-range').text == "paras. 3–5"
    assert by_css(page, '#doc .doc-toc li[data-section="sec-4"] > .doc-range').text == "para. 3"
    assert by_css(page, '#doc .doc-toc li[data-section="sec-8"] > .doc-range').text == "annex, paras. 1–2"
    assert by_css(page, '#doc .doc-toc li[data-section="sec-9"] > .doc-range').text == "annex, para. 1"
    assert len(all_css(page, "#doc .doc-toc > ol > li")) == len(
        [s for s in data["sections"] if s["level"] == 1]
    )
    assert page.execute_script("return window.scrollY") == 0 and not in_view(page, data["sections"][-1]["id"])
    for a in (links[-1], links[3], links[0]):
        target = a.get_attribute("href").split("#")[1]
        a.click()
        WebDriverWait(page, 5).until(lambda d, t=target: in_view(d, t))
        assert page.current_url.endswith("#" + target)
        assert "doc-target" in by_css(page, "#" + target).get_attribute("class")
    # the paragraph number links to its own anchor
    by_css(page, "#para-6 .pnum").click()
    assert page.current_url.endswith("#para-6")


@pytest.mark.slow
def test_arriving_from_a_search_marks_the_terms_and_scrolls_to_the_paragraph(
    page: Any, doc_server: str, client: Any
) -> None:
    q = "online fraud investigators"
    terms = client.get("/api/search", params={"q": q, "doc": TEST, "lang": "en", "mode": "lexical"}).json()
    assert terms["terms"]
    url = f"{doc_server}{doc_path(TEST)}?{urllib.parse.urlencode({'lang': 'en', 'q': q})}#para-7"
    open_page(page, url)
    assert in_view(page, "para-7")
    assert "doc-target" in by_css(page, "#para-7").get_attribute("class")
    assert page.execute_script("return document.activeElement.id") == "para-7"
    marks = [m.text.lower() for m in all_css(page, "#doc .doc-body mark.term")]
    assert {"online", "fraud", "investigators"} <= set(marks), marks
    assert "mark" not in by_css(page, "#para-8").get_attribute("innerHTML")  # nothing of the query there
    assert by_css(page, "#doc .doc-terms").text.startswith(f"{len(marks)} places in the text match")
    chips = {c.text.lower() for c in all_css(page, "#doc .doc-terms .chip")}
    assert chips == set(marks), chips  # the words marked, not the stems or translations the server matched on
    back = by_css(page, "#back-link")
    assert (
        back.is_displayed()
        and back.get_attribute("href") == f"{doc_server}/?{urllib.parse.urlencode({'q': q})}"
    )
    # a Chinese question on the Chinese version: the server's terms, marked as substrings
    open_page(
        page,
        f"{doc_server}{doc_path(WG2)}?{urllib.parse.urlencode({'lang': 'zh', 'q': '伪造药品的示范立法'})}",
    )
    marked = {m.text for m in all_css(page, "#doc .doc-body mark.term")}
    assert "伪造药品" in marked or {"伪造", "药品"} <= marked, marked
    assert "示范" in "".join(marked)
    # the language versions keep the query; following one keeps the paragraph too
    by_css(page, "#para-3 .pnum").click()
    en = by_css(page, '#doc .doc-versions a[data-lang="en"]')
    assert "q=" in en.get_attribute("href") and "lang=en" in en.get_attribute("href")
    assert by_css(page, '#doc .doc-versions a[data-lang="zh"]').get_attribute("aria-current") == "page"
    en.click()
    wait_until(
        page, lambda d: "lang=en" in d.current_url and d.execute_script("return document.body.dataset.ready")
    )
    assert urllib.parse.urlsplit(page.current_url).fragment == "para-3"
    assert by_css(page, "#doc .doc-body").get_attribute("lang") == "en" and in_view(page, "para-3")
    original = by_css(page, '#doc .doc-original a[data-format="pdf"]')
    assert original.get_attribute("href") == f"{doc_server}{doc_path(WG2)}/en.pdf"
    # a reference is no question: nothing to mark, the back link all the same
    open_page(page, f"{doc_server}{doc_path(TEST)}?{urllib.parse.urlencode({'q': '第 3 段'})}")
    assert not all_css(page, "#doc mark.term") and by_css(page, "#back-link").is_displayed()


def wait_until(driver: Any, cond: Any, timeout: float = 10) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(cond)


@pytest.mark.slow
def test_report_text_is_never_markup(page: Any, doc_server: str) -> None:
    open_page(page, f"{doc_server}{doc_path(DOTTED)}?q=markup#para-7")
    assert MARKUP in by_css(page, "#para-7 .doc-text").text
    assert not all_css(page, "#injected") and page.execute_script("return window.injected === undefined")
    assert by_css(page, "#para-7 mark.term").text == "Markup"


@pytest.mark.slow
def test_the_page_language_follows_the_stored_choice_and_the_switch(page: Any, doc_server: str) -> None:
    url = f"{doc_server}{doc_path(TEST)}?lang=en"
    open_page(page, url)  # nothing stored: the browser's language (en-US)
    assert by_css(page, "#toc-title").text == "Contents"
    assert page.execute_script("return document.documentElement.lang") == "en"
    assert by_css(page, '[data-ui-lang="en"]').get_attribute("aria-pressed") == "true"
    by_css(page, "#para-4 .pnum").click()
    # clicked where it is (a WebDriver click would scroll the window to the button first)
    page.execute_script("arguments[0].click()", by_css(page, '[data-ui-lang="zh"]'))
    wait_until(page, lambda d: by_css(d, "#toc-title").text == "目录")
    assert page.execute_script("return localStorage.getItem('pipeline.lang')") == "zh"
    assert page.execute_script("return document.documentElement.lang") == "zh-Hans"
    assert by_css(page, '[data-ui-lang="zh"]').get_attribute("aria-pressed") == "true"
    assert by_css(page, "a.brand").text == "报告检索"
    assert by_css(page, '#doc .doc-toc li[data-section="sec-3"] > .doc-range').text == "第3至6段"
    assert "附件，第1至2段" in by_css(page, "#doc .doc-toc").text
    # the report's own text stays in its language; the paragraph shown stays where it was
    assert by_css(page, "#doc .doc-body").get_attribute("lang") == "en"
    assert "doc-target" in by_css(page, "#para-4").get_attribute("class") and in_view(page, "para-4")
    open_page(page, url)  # the choice is kept
    assert by_css(page, "#toc-title").text == "目录"
    page.execute_script("localStorage.setItem('pipeline.lang', 'en')")
    open_page(page, url)
    assert by_css(page, "#toc-title").text == "Contents"
    page.execute_script("localStorage.setItem('pipeline.lang', 'fr')")  # not a choice: the browser's language
    open_page(page, url)
    assert by_css(page, "#toc-title").text == "Contents"


@pytest.mark.slow
def test_unknown_pages_show_the_404_page(page: Any, doc_server: str) -> None:
    for path in ("/doc/NO/SUCH/DOC", "/p/abc", "/nonsense", "/doc/A/TEST/2030/1?lang=fr"):
        page.get(doc_server + path)
        assert page.title == "Not found · 未找到", path
        assert "Not found" in by_css(page, "h1").text
        assert by_css(page, "main a[href='/']")
    assert "no fr version of A/TEST/2030/1" in by_css(page, "main .error").text
    assert axe_violations(page) == []
    page.get_log("browser")  # the 404 statuses are logged as console errors


@pytest.mark.slow
def test_the_page_is_accessible_in_light_and_dark_with_a_visible_focus(page: Any, doc_server: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    url = f"{doc_server}{doc_path(WG2)}?{urllib.parse.urlencode({'lang': 'zh', 'q': '伪造药品'})}#para-2"
    open_page(page, url)
    assert all_css(page, "#doc mark.term")
    assert axe_violations(page) == []
    light = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    open_page(page, url.replace("#", "&mode=lexical#"))  # another URL: a new page, not a fragment change
    dark = page.execute_script("return getComputedStyle(document.body).backgroundColor")
    assert light != dark and dark == "rgb(20, 23, 27)"
    assert axe_violations(page) == []
    page.execute_script("localStorage.setItem('pipeline.lang', 'zh')")
    open_page(page, f"{doc_server}{doc_path(WG2)}?lang=en")
    assert axe_violations(page) == []
    # the keyboard: each link, button and disclosure reached with Tab shows a focus ring
    page.execute_script("document.getElementById('main').focus()")
    for _ in range(3):
        ActionChains(page).send_keys(Keys.TAB).perform()
        ring = page.execute_script(
            "const s = getComputedStyle(document.activeElement);"
            "return [document.activeElement.tagName, s.outlineStyle, s.outlineWidth];"
        )
        assert ring[0] in ("A", "BUTTON", "SUMMARY") and ring[1] == "solid" and ring[2] == "3px", ring
