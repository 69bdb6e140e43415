"""``GET /doc/{symbol}/{lang}.pdf``: the file a report was added as, and the page links of the web page.

The library (a scratch home): the session's report (CTOC/COP/2012/7, zh, text); A/TEST/2030/1 in Chinese
(text) and in English, whose text has form feeds (three pages, so its paragraphs have pages) and whose catalog
entry is then given a PDF original; and CTOC/COP/WG.2/2013/3 (en) given a Word (.docx) original. The
originals are written and catalogued by hand (``read_catalog`` / ``write_catalog``) as ``pipeline add`` keeps
them: ``corpus/originals/NAME.LANG.pdf`` with its sha256.

The slow test drives the page in headless Chromium (as tests/test_web.py does) to check the "p. N" links.
"""

from __future__ import annotations

import hashlib
import http.client
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
    FakeEmbedder,
    assert_error,
    library_retriever,
    live_server,
    open_page,
    scratch_home,
)

from pipeline.server import ServerOptions, create_app
from pipeline.server.originals import original_url, read_original
from pipeline.server.state import Original

TEST = SYNTHETIC_SYMBOL
CTOC = "CTOC/COP/2012/7"
#: The English version with page breaks: ¶1-2 on page 1, ¶3-6 on page 2, ¶7 to the end on page 3.
PAGED_EN = SYNTHETIC_EN.replace("\n3. The Secretariat", "\n\f\n3. The Secretariat").replace(
    "\n7. Wildlife", "\n\f\n7. Wildlife"
)
PAGES = {1: 1, 2: 1, 3: 2, 4: 2, 5: 2, 6: 2, 7: 3, 8: 3}
PDF_URL = "/doc/A/TEST/2030/1/en.pdf"
DOCX_URL = "/doc/CTOC/COP/WG.2/2013/3/en.docx"


def tiny_pdf(pages: int) -> bytes:
    """A small valid PDF of ``pages`` empty pages (offsets of its cross-reference table computed)."""
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        *[b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>" for _ in range(pages)],
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


PDF = tiny_pdf(3)
DOCX = b"PK\x03\x04 not really a Word file, but bytes to send back exactly"


def give_original(corpus_dir: Path, entry: Any, fmt: str, data: bytes) -> None:
    """Make ``entry`` a report added as ``fmt``, as ``pipeline add`` records one."""
    entry.format = fmt
    entry.original = f"originals/{entry.file.removesuffix('.txt')}.{fmt}"
    entry.original_sha256 = hashlib.sha256(data).hexdigest()
    (corpus_dir / "originals").mkdir(exist_ok=True)
    (corpus_dir / entry.original).write_bytes(data)


@pytest.fixture(scope="module")
def orig_home(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.catalog import read_catalog, write_catalog
    from pipeline.changes import add_reports
    from pipeline.config import Config

    tmp = tmp_path_factory.mktemp("originals")
    h = scratch_home(home, tmp / "home")
    cfg = Config(root=h)
    en = tmp / "src" / "a-test-2030-1.en.txt"
    en.parent.mkdir()
    en.write_text(PAGED_EN, encoding="utf-8")
    add_reports(cfg, [SYNTHETIC_ZH], symbol=TEST, embedder=FakeEmbedder())
    add_reports(cfg, [en], symbol=TEST, embedder=FakeEmbedder())
    add_reports(cfg, [WG2_EN], embedder=FakeEmbedder())
    entries = read_catalog(cfg)
    assert entries is not None
    for e in entries:
        if (e.symbol, e.lang) == (TEST, "en"):
            give_original(cfg.corpus_dir, e, "pdf", PDF)
        elif (e.symbol, e.lang) == (WG2, "en"):
            give_original(cfg.corpus_dir, e, "docx", DOCX)
    write_catalog(cfg, entries)
    return h


@pytest.fixture(scope="module")
def orig_retriever(orig_home: Path) -> Any:
    return library_retriever(orig_home)


@pytest.fixture(scope="module")
def client(orig_retriever: Any) -> Iterator[Any]:
    with TestClient(create_app(orig_retriever)) as c:
        yield c


def original_path(orig_home: Path, symbol: str, lang: str) -> Path:
    from pipeline.catalog import read_catalog
    from pipeline.config import Config

    cfg = Config(root=orig_home)
    [entry] = [e for e in read_catalog(cfg) or [] if (e.symbol, e.lang) == (symbol, lang)]
    return cfg.corpus_dir / entry.original


# --- the file ----------------------------------------------------------------------------------------------


def test_the_pdf_comes_back_as_added(client: Any) -> None:
    resp = client.get(PDF_URL)
    assert resp.status_code == 200, resp.text
    assert resp.content == PDF
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == 'inline; filename="A-TEST-2030-1.en.pdf"'
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["etag"] == f'"{hashlib.sha256(PDF).hexdigest()}"'


@pytest.mark.parametrize(
    "url",
    [
        "/doc/a/test/2030/1/en.pdf",  # symbols match as the doc filter matches them
        "/doc/A/TEST/2030/1/en.pdf#page=2",
        "/doc/A%2FTEST%2F2030%2F1/en.pdf",  # the symbol as one encoded segment
        "/doc/A/TEST/2030/1/en.pdf?download=1",
        original_url(TEST, "en", "pdf"),
    ],
)
def test_the_symbol_is_matched_however_written(client: Any, url: str) -> None:
    resp = client.get(url)
    assert resp.status_code == 200, resp.text
    assert resp.content == PDF


def test_a_word_original_downloads(client: Any) -> None:
    resp = client.get(DOCX_URL)
    assert resp.status_code == 200, resp.text
    assert resp.content == DOCX
    assert resp.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    )
    assert resp.headers["content-disposition"] == 'attachment; filename="CTOC-COP-WG.2-2013-3.en.docx"'
    # the same version asked for as a PDF: it has none, and the message names the file it has
    assert_error(client.get("/doc/CTOC/COP/WG.2/2013/3/en.pdf"), 404, "docx", DOCX_URL)
    assert_error(client.get(PDF_URL.replace(".pdf", ".docx")), 404, "pdf")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("/doc/A/TEST/2030/1/zh.pdf", "added as text"),  # the Chinese version was added as text
        (f"/doc/{CTOC}/zh.pdf", "added as text"),
        ("/doc/A/TEST/2030/2/en.pdf", "no document"),
        ("/doc/A/TEST/2030/1/fr.pdf", "no document A/TEST/2030/1 (fr)"),
        ("/doc/A/TEST/2030/1/xx.pdf", "/doc/A/TEST/2030/1/LANG.pdf"),
        ("/doc/A/TEST/2030/1/en.txt", "/doc/A/TEST/2030/1/LANG.pdf"),
        ("/doc/A/TEST/2030/1/en.PDF", "/doc/A/TEST/2030/1/LANG.pdf"),
        ("/doc/A/TEST/2030/1/en.pdf.pdf", ""),
        ("/doc//en.pdf", "no document"),
        ("/doc/en.pdf", ""),
        ("/doc/A/TEST/2030/1/", ""),
    ],
)
def test_unknown_documents_languages_and_formats_are_404(client: Any, url: str, needle: str) -> None:
    body = assert_error(client.get(url), 404, needle)
    assert "%PDF" not in body["error"]


@pytest.mark.parametrize(
    "url",
    [
        "/doc/../../etc/passwd/en.pdf",
        "/doc/%2E%2E/%2E%2E/etc/passwd/en.pdf",
        "/doc/..%2F..%2F..%2Fetc%2Fpasswd/en.pdf",
        "/doc/A/TEST/2030/1/../../../../../etc/passwd/en.pdf",
        "/doc/A/TEST/2030/1/%2E%2E/%2E%2E/documents.json/en.pdf",
        "/doc/originals/a-test-2030-1.en/en.pdf",
        "/doc/%00/en.pdf",
        "/doc/A/TEST/2030/1/en.pdf/../../../../documents.json",
    ],
)
def test_path_traversal_is_404(client: Any, url: str) -> None:
    resp = client.get(url)
    assert resp.status_code == 404, resp.text
    assert resp.content != PDF and b"root:" not in resp.content and b'"symbol"' not in resp.content


def test_raw_paths_over_a_real_socket_are_404(orig_retriever: Any) -> None:
    """What a client sends unnormalised (http.client keeps "..") reaches the router as sent."""
    with live_server(create_app(orig_retriever)) as port:
        for path in (
            "/doc/../../etc/passwd/en.pdf",
            "/doc/A/TEST/2030/1/../../../../../../etc/passwd/en.pdf",
            "/doc/..%2f..%2fetc%2fpasswd/en.pdf",
        ):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            assert resp.status == 404, (path, body)
            assert b"root:" not in body
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", PDF_URL)
        resp = conn.getresponse()
        assert resp.status == 200 and resp.read() == PDF
        conn.close()


def test_a_changed_or_missing_original_is_never_sent(client: Any, orig_home: Path, tmp_path: Path) -> None:
    path = original_path(orig_home, TEST, "en")
    try:
        path.write_bytes(PDF.replace(b"595 842", b"612 792"))  # another PDF, same size
        body = assert_error(client.get(PDF_URL), 409, "has changed since the report", "pipeline add")
        assert "originals/a-test-2030-1.en.pdf" in body["error"]
        path.write_bytes(b"")
        assert_error(client.get(PDF_URL), 409, "has changed")
        path.unlink()
        assert_error(client.get(PDF_URL), 404, "is missing", "originals/a-test-2030-1.en.pdf")
        # the same bytes through a symbolic link to a file outside corpus/originals/: not served either
        outside = tmp_path / "elsewhere.pdf"
        outside.write_bytes(PDF)
        path.symlink_to(outside)
        assert_error(client.get(PDF_URL), 404, "not a file inside corpus/originals/")
        path.unlink()
        path.mkdir()
        assert_error(client.get(PDF_URL), 404)
        path.rmdir()
    finally:
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            path.rmdir()
        path.write_bytes(PDF)
    assert client.get(PDF_URL).content == PDF


@pytest.mark.parametrize(
    "name",
    [
        "originals/../documents.json",
        "originals/../../../etc/passwd",
        "../corpus/originals/a-test-2030-1.en.pdf",
        "/etc/passwd",
        "originals/.hidden.pdf",
        "originals/sub/x.pdf",
        "originals/",
        "documents.json",
    ],
)
def test_a_catalog_name_outside_originals_is_refused(orig_home: Path, name: str) -> None:
    """The file's path comes from the catalog only; even a name the catalog reader would refuse is checked
    again before anything is read."""
    from pipeline.server.errors import ApiError

    corpus_dir = orig_home / "corpus"
    sha = hashlib.sha256((corpus_dir / "documents.json").read_bytes()).hexdigest()
    with pytest.raises(ApiError) as err:
        read_original(corpus_dir, Original(TEST, "en", "pdf", name, sha))
    assert err.value.status == 404


def test_the_token_guards_the_originals(orig_retriever: Any) -> None:
    token = "s3cret-token"
    with TestClient(create_app(orig_retriever, ServerOptions(token=token))) as c:
        assert_error(c.get(PDF_URL), 401, "token")
        assert_error(c.get(PDF_URL, headers={"Authorization": "Bearer wrong"}), 401, "wrong token")
        assert_error(c.get(f"{PDF_URL}?token={token}"), 401)
        resp = c.get(PDF_URL, headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 200 and resp.content == PDF


def test_the_route_is_in_the_openapi_schema(client: Any) -> None:
    schema = client.get("/openapi.json").json()
    op = schema["paths"]["/doc/{symbol}/{lang}.{ext}"]["get"]
    assert {p["name"] for p in op["parameters"]} == {"symbol", "lang", "ext"}
    assert "application/pdf" in op["responses"]["200"]["content"]
    assert {"404", "409"} <= set(op["responses"])


# --- what the page needs: the library's originals and the hits' pages ---------------------------------------


def test_documents_name_the_originals(client: Any) -> None:
    rows = {(r["symbol"], r["lang"]): r for r in client.get("/api/documents").json()["documents"]}
    en = rows[TEST, "en"]
    assert en["format"] == "pdf"
    assert en["original"] == "originals/a-test-2030-1.en.pdf"
    assert en["original_sha256"] == hashlib.sha256(PDF).hexdigest()
    assert rows[WG2, "en"]["format"] == "docx"
    for key in ((TEST, "zh"), (CTOC, "zh")):  # added as text: no original, no format (an optional key)
        assert not {"format", "original", "original_sha256"} & set(rows[key]), rows[key]
    for r in rows.values():
        assert not {"file", "sha256", "current"} & set(r)


def test_hits_and_paragraphs_carry_their_page(client: Any) -> None:
    params = {"q": "investigators online fraud", "doc": TEST, "lang": "en", "mode": "lexical"}
    data = client.get("/api/search", params=params).json()
    assert data["results"]
    for hit in data["results"]:
        if hit.get("part"):
            assert hit["page"] == 3
        else:
            assert hit["page"] == PAGES[hit["paragraph"]], hit
    for n, page in PAGES.items():
        rec = client.get(f"/api/paragraphs/{n}", params={"doc": TEST, "lang": "en"}).json()
        assert rec["page"] == page
    # a text without page breaks has no pages
    zh = client.get("/api/search", params={"q": "诈骗", "doc": TEST, "lang": "zh", "mode": "lexical"}).json()
    assert zh["results"] and all("page" not in h for h in zh["results"])
    assert "page" not in client.get("/api/paragraphs/3", params={"doc": TEST, "lang": "zh"}).json()
    # a lookup by number gives the page too, and the link the page builds from it serves the file
    [hit] = client.get("/api/search", params={"q": f"{TEST} ¶7", "lang": "en"}).json()["results"]
    assert hit["page"] == 3
    link = f"{original_url(hit['document'], hit['lang'], 'pdf')}#page={hit['page']}"
    assert client.get(link).content == PDF


def test_original_url_encodes_each_segment() -> None:
    assert original_url(CTOC, "zh", "pdf") == "/doc/CTOC/COP/2012/7/zh.pdf"
    assert original_url("A/B C/1", "en", "docx") == "/doc/A/B%20C/1/en.docx"
    assert original_url("E/CN.15/2030/1#x?y", "fr", "pdf") == "/doc/E/CN.15/2030/1%23x%3Fy/fr.pdf"


# --- the page (headless Chromium) -------------------------------------------------------------------------


_open = open_page


def _links(driver: Any, sel: str) -> list[dict[str, str]]:
    from selenium.webdriver.common.by import By

    return [
        {
            "href": a.get_attribute("href"),
            "target": a.get_attribute("target"),
            "label": a.get_attribute("aria-label"),
            "text": a.text,
            "rel": a.get_attribute("rel"),
        }
        for a in driver.find_elements(By.CSS_SELECTOR, sel)
    ]


@pytest.mark.slow
def test_the_page_links_each_result_to_its_pdf_page(browser: Any, orig_retriever: Any) -> None:
    import urllib.parse
    import urllib.request

    with live_server(create_app(orig_retriever)) as port:
        base = f"http://127.0.0.1:{port}"
        browser.get_log("browser")
        q = urllib.parse.urlencode({"q": "investigators online fraud", "mode": "lexical", "doc": TEST})
        _open(browser, f"{base}/?{q}")
        from selenium.webdriver.common.by import By

        cards = browser.find_elements(By.CSS_SELECTOR, "#view .result")
        assert cards
        for card in cards:
            lang, n = card.get_attribute("data-lang"), int(card.get_attribute("data-paragraph"))
            part = card.get_attribute("data-part") or ""
            links = card.find_elements(By.CSS_SELECTOR, ".card-head a.page-link")
            if lang != "en":  # the Chinese version was added as text: no PDF to link to
                assert links == []
                continue
            [a] = links
            page = 3 if part else PAGES[n]
            assert a.get_attribute("href") == f"{base}{PDF_URL}#page={page}"
            assert a.get_attribute("target") == "_blank" and "noopener" in a.get_attribute("rel")
            assert a.text == f"p. {page}"
            assert a.get_attribute("aria-label").endswith(f"page {page} of the PDF (opens in a new tab)")
            assert a.get_attribute("aria-label").startswith(TEST)
        assert any(c.get_attribute("data-lang") == "en" for c in cards)

        # the paragraph view: its page, next to the section path
        _open(browser, f"{base}/p/7?{urllib.parse.urlencode({'doc': TEST, 'lang': 'en'})}")
        [link] = _links(browser, "#view .crumbs a.page-link")
        assert link["href"] == f"{base}{PDF_URL}#page=3" and link["text"] == "p. 3"
        assert link["label"] == f"{TEST}, para. 7: page 3 of the PDF (opens in a new tab)"
        with urllib.request.urlopen(link["href"].split("#")[0], timeout=10) as r:
            assert r.read() == PDF and r.headers["Content-Type"] == "application/pdf"
        for where in ({"doc": TEST, "lang": "zh"}, {"doc": CTOC, "lang": "zh"}, {"doc": WG2, "lang": "en"}):
            _open(browser, f"{base}/p/1?{urllib.parse.urlencode(where)}")
            assert browser.find_elements(By.CSS_SELECTOR, "#view h1")
            assert _links(browser, "#view a.page-link") == [], where  # text, or Word: no page to link
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors


@pytest.mark.slow
def test_the_page_opens_the_pdf_with_its_token(browser: Any, orig_retriever: Any) -> None:
    """A server with a token: the new tab cannot send it, so the page fetches the file with it and opens it
    from a blob URL at the same page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    token = "s3cret-token"
    with live_server(create_app(orig_retriever, ServerOptions(token=token))) as port:
        base = f"http://127.0.0.1:{port}"
        _open(browser, f"{base}/p/3?doc={TEST}&lang=en#token={token}")
        a = browser.find_element(By.CSS_SELECTOR, "#view .crumbs a.page-link")
        assert a.get_attribute("href") == f"{base}{PDF_URL}#page=2"
        first = browser.current_window_handle
        a.click()
        WebDriverWait(browser, 20).until(lambda d: len(d.window_handles) == 2)
        [tab] = [h for h in browser.window_handles if h != first]
        browser.switch_to.window(tab)
        try:
            WebDriverWait(browser, 20).until(lambda d: d.current_url.startswith("blob:"))
            assert browser.current_url.startswith(f"blob:{base}/") and browser.current_url.endswith("#page=2")
            got = browser.execute_async_script(
                "const done = arguments[0];"
                "fetch(location.href.split('#')[0]).then((r) => r.arrayBuffer())"
                ".then((b) => done(Array.from(new Uint8Array(b))));"
            )
            assert bytes(got) == PDF
        finally:
            browser.close()
            browser.switch_to.window(first)
        assert browser.find_element(By.CSS_SELECTOR, "#status").text == ""
