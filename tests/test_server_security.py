"""Security hygiene of the server (issue 23, item 7): the security headers on every response, the page and
the docs page fitting their Content-Security-Policy (no inline script), POSTs from pages of other sites
refused, ``/static`` serving only the web page's files, ``/api/health`` showing paths only to the token's
holder, the token never taken from the URL, a URL that is not UTF-8 refused with a 400, and the start message
naming the URL to open (with ``#token=…``)."""

from __future__ import annotations

import http.client
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import assert_error, live_server

from pipeline.server import ServerOptions, create_app
from pipeline.server.errors import CSP
from pipeline.server.pages import WEB_DIR
from pipeline.server.run import open_url, start_message

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def client(fast_retriever: Any) -> Any:
    with TestClient(create_app(fast_retriever)) as c:
        yield c


@pytest.fixture(scope="module")
def token_client(fast_retriever: Any) -> Any:
    with TestClient(create_app(fast_retriever, ServerOptions(token=TOKEN))) as c:
        yield c


def directives(policy: str) -> dict[str, list[str]]:
    """A Content-Security-Policy as {directive: [sources]}."""
    out = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_headers(resp: Any) -> None:
    """The security headers: a policy with scripts from this server only and no framing, nosniff, no
    referrer."""
    policy = resp.headers["content-security-policy"]
    csp = directives(policy)
    assert csp["script-src"] == ["'self'"], policy
    assert csp["frame-ancestors"] == ["'none'"] and csp["default-src"] == ["'self'"], policy
    assert csp["base-uri"] == ["'none'"] and csp["connect-src"] == ["'self'", "blob:"], policy
    assert policy == CSP and csp["style-src"] == ["'self'"], policy
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert len(resp.headers.get_list("content-security-policy")) == 1


# --- Content-Security-Policy and the other headers ---------------------------------------------------------


def test_every_response_has_the_security_headers(fast_retriever: Any) -> None:
    options = ServerOptions(token=TOKEN, allowed_hosts=("testserver",))
    with TestClient(create_app(fast_retriever, options), raise_server_exceptions=False) as c:
        for url in (
            "/",
            "/p/3",
            "/batch",
            "/static/app.js",
            "/static/app.css",
            "/static/swagger/swagger-ui.css",
            "/openapi.json",
            "/openapi-3.0.json",
        ):
            resp = c.get(url)
            assert resp.status_code == 200, url
            assert_headers(resp)
        for url, status in (
            ("/api/search?q=23", 200),
            ("/api/health", 200),
            ("/api/nothing", 404),
            ("/static/no-such-file.js", 404),
            ("/api/search?k=abc&q=x", 422),
            ("/api/paragraphs/999", 404),
        ):
            resp = c.get(url, headers=AUTH)
            assert resp.status_code == status, (url, resp.text)
            assert_headers(resp)
        assert_headers(c.get("/api/health"))  # 401
        assert_headers(c.post("/api/search", headers=AUTH))  # 405
        assert_headers(c.get("/", headers={"host": "evil.example"}))  # 400 from the Host check
        batch = c.post("/api/batch", content=b"23\n", headers={**AUTH, "content-type": "text/plain"})
        assert batch.status_code == 200
        assert_headers(batch)  # a stream


def test_a_bug_still_gets_the_security_headers(fast_retriever: Any, monkeypatch: Any) -> None:
    app = create_app(fast_retriever)

    def boom(text: str) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(app.state.pipeline.retriever, "gloss", boom)
    with TestClient(app, raise_server_exceptions=False) as c:
        resp = c.get("/api/gloss?text=海盗")
    assert_error(resp, 500, "internal server error")
    assert_headers(resp)


class _Inline(HTMLParser):
    """Everything in a page a policy without 'unsafe-inline' would block: inline scripts and styles, style
    attributes, event-handler attributes, javascript: URLs; and the scripts it loads."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.scripts: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            if a.get("src"):
                self.scripts.append(str(a["src"]))
            else:
                self.found.append("inline <script>")
            self._in = "script"
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs:
            if name == "style":
                self.found.append(f"style= on <{tag}>")
            if name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"javascript: URL on <{tag}>")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script" and data.strip():
            self.found.append("script text")


def inline_parts(html: str) -> _Inline:
    parser = _Inline()
    parser.feed(html)
    return parser


def test_the_web_page_fits_the_policy(client: Any) -> None:
    """index.html has nothing inline; its script and stylesheet come from /static; its icon is data:, which
    img-src allows. So does every other page and script of pipeline/web: no inline script, style or handler
    in the HTML, no HTML parsed from strings, no eval, no style attribute set from a string."""
    page = client.get("/")
    parts = inline_parts(page.text)
    assert parts.found == [], parts.found
    assert parts.scripts == ["/static/common.js", "/static/app.js"]
    assert 'href="data:,"' in page.text and "data:" in directives(CSP)["img-src"]
    for html in WEB_DIR.glob("*.html"):
        parts = inline_parts(html.read_text(encoding="utf-8"))
        assert parts.found == [], (html.name, parts.found)
        assert all(src.startswith("/static/") for src in parts.scripts), (html.name, parts.scripts)
    banned = re.compile(
        r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML\(|document\.write|\beval\(|new Function\(|"
        r"setAttribute\(\s*[\"']style|\.cssText\s*=|setTimeout\(\s*[\"'`]"
    )
    for js in WEB_DIR.glob("*.js"):
        found = banned.findall(js.read_text(encoding="utf-8"))
        assert not found, (js.name, found)


def test_the_docs_page_has_no_inline_script(client: Any) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert_headers(docs)  # the policy of every response: Swagger UI needs no inline script or style
    parts = inline_parts(docs.text)
    assert parts.found == [], parts.found
    assert parts.scripts == ["/static/swagger/swagger-ui-bundle.js", "/static/swagger/swagger-init.js"]
    assert 'data-openapi-url="/openapi-3.0.json"' in docs.text
    init = client.get("/static/swagger/swagger-init.js")
    assert init.status_code == 200 and init.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle(" in init.text and "dataset.openapiUrl" in init.text
    assert_headers(init)


# --- cross-origin requests ---------------------------------------------------------------------------------

CROSS = [
    {"origin": "https://evil.example"},
    {"origin": "http://testserver.evil.example"},
    {"origin": "http://testserver:8080"},  # another port is another origin
    {"origin": "null"},  # a sandboxed frame, a file:// page
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},  # e.g. http://localhost:3000
    {"sec-fetch-site": "cross-site", "origin": "http://testserver"},  # the browser's word decides
]
SAME = [
    {},  # curl, Python: no Origin
    {"origin": "http://testserver"},
    {"origin": "HTTP://TestServer"},
    {"origin": "http://testserver:80"},
    {"sec-fetch-site": "same-origin", "origin": "http://testserver"},
    {"sec-fetch-site": "none"},  # typed by the user
    {"sec-fetch-site": "same-origin", "origin": "https://search.example"},  # behind a proxy renaming Host
]


@pytest.mark.parametrize("headers", CROSS)
def test_a_post_from_another_site_is_refused(client: Any, headers: dict[str, str]) -> None:
    """A text/plain form on another site needs no CORS preflight: it would reach /api/batch."""
    resp = client.post("/api/batch", content=b"23\n", headers={**headers, "content-type": "text/plain"})
    body = assert_error(resp, 403, "cross-origin request refused", "POST")
    # it names the header that decided
    decided = (
        f"Sec-Fetch-Site: {headers['sec-fetch-site']}"
        if "sec-fetch-site" in headers
        else f"Origin: {headers['origin']}"
    )
    assert decided in body["error"], body
    assert_headers(resp)
    # any /api route, whatever it would answer otherwise (here a 405)
    assert_error(client.post("/api/search?q=23", headers=headers), 403, "cross-origin")
    assert_error(client.put("/api/batch", headers=headers), 403, "cross-origin")


@pytest.mark.parametrize("headers", SAME)
def test_same_origin_and_non_browser_posts_work(client: Any, headers: dict[str, str]) -> None:
    resp = client.post("/api/batch", content=b"23\n", headers={**headers, "content-type": "text/plain"})
    assert resp.status_code == 200, resp.text
    assert '"route":"paragraph"' in resp.text.replace(" ", "")


def test_reading_from_another_site_is_the_browsers_business(client: Any) -> None:
    """A GET (a link followed from another site) is answered: the browser does not let the other site read
    it (no CORS header is ever sent)."""
    for headers in CROSS:
        resp = client.get("/api/search?q=23", headers=headers)
        assert resp.status_code == 200 and "access-control-allow-origin" not in resp.headers
        assert client.get("/", headers=headers).status_code == 200


def test_the_token_does_not_let_another_site_post(token_client: Any) -> None:
    headers = {**AUTH, "origin": "https://evil.example", "content-type": "text/plain"}
    assert_error(token_client.post("/api/batch", content=b"23\n", headers=headers), 403, "cross-origin")
    ok = {**AUTH, "origin": "http://testserver", "content-type": "text/plain"}
    assert token_client.post("/api/batch", content=b"23\n", headers=ok).status_code == 200


# --- /static -----------------------------------------------------------------------------------------------


def test_static_serves_only_the_page_files(client: Any) -> None:
    for name in ("app.js", "app.css", "index.html"):
        assert client.get(f"/static/{name}").status_code == 200, name
    assert (WEB_DIR / "__init__.py").is_file()  # what must not be served
    for url in (
        "/static/__init__.py",
        "/static/__pycache__/__init__.cpython-312.pyc",
        "/static/%2E%2E/server/app.py",
        "/static/..%2Fserver%2Fapp.py",
        "/static/.hidden.js",
        "/static/",
        "/static/swagger/",
    ):
        assert_error(client.get(url), 404, "not found")
        assert client.head(url).status_code == 404


def test_static_refuses_other_files_in_the_web_folder(fast_retriever: Any, tmp_path: Path) -> None:
    web = tmp_path / "web"
    (web / "img").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>x</title>", encoding="utf-8")
    files = {
        "app.js": b"1",
        "app.css": b"b{}",
        "logo.svg": b"<svg/>",
        "img/a.png": b"\x89PNG",
        "secret.py": b"x = 1",
        "notes.txt": b"notes",
        "data.json": b"{}",
        ".env": b"TOKEN=1",
        "img/.a.png": b"x",
        "app.js.map": b"{}",
        "_private.js": b"1",
    }
    for name, data in files.items():
        (web / name).write_bytes(data)
    with TestClient(create_app(fast_retriever, web_dir=web)) as c:
        for name in files:
            resp = c.get(f"/static/{name}")
            if name in ("app.js", "app.css", "logo.svg", "img/a.png"):
                assert resp.status_code == 200 and resp.content == files[name], name
            else:
                assert_error(resp, 404, f"/static/{name}")


# --- /api/health and the token -----------------------------------------------------------------------------


def test_health_paths_only_with_the_token(token_client: Any, cfg: Any) -> None:
    """With a token, /api/health (absolute paths of the corpus, its files and indexes) is the token holder's
    only: without it the answer is a 401 naming no path."""
    root = str(Path(cfg.root).resolve())
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = token_client.get("/api/health", headers=headers)
        assert_error(resp, 401, "token")
        assert root not in resp.text and str(cfg.corpus_dir) not in resp.text
    full = token_client.get("/api/health", headers=AUTH)
    assert full.status_code == 200 and full.json()["corpus"]["path"] == str(cfg.corpus_dir)


def test_health_without_a_token_shows_paths(client: Any, cfg: Any) -> None:
    """Without a token the server listens on loopback only (a wider host is refused), answers only its own
    names (the Host check) and no other site can read its answers (no CORS): whoever reaches it is on this
    machine, and sees the paths."""
    assert client.get("/api/health").json()["corpus"]["path"] == str(cfg.corpus_dir)


@pytest.mark.parametrize(
    "how",
    [
        {"params": {"token": TOKEN}},
        {"params": {"access_token": TOKEN}},
        {"params": {"authorization": f"Bearer {TOKEN}"}},
        {"cookies": {"token": TOKEN}},
        {"cookies": {"pipeline.token": TOKEN}},
        {"headers": {"Authorization": TOKEN}},
        {"headers": {"X-Token": TOKEN}},
    ],
)
def test_the_token_is_taken_from_the_authorization_header_only(
    token_client: Any, how: dict[str, Any]
) -> None:
    for url in ("/api/health", "/api/search?q=23", "/doc/CTOC/COP/2012/7/zh.pdf"):
        if "cookies" in how:
            token_client.cookies.update(how["cookies"])
        try:
            kwargs = {k: v for k, v in how.items() if k != "cookies"}
            resp = token_client.get(url, **kwargs)
        finally:
            token_client.cookies.clear()
        body = assert_error(resp, 401, "Authorization: Bearer")
        assert TOKEN not in resp.text and "token=" not in body["error"]


# --- URLs that are not UTF-8 -------------------------------------------------------------------------------

NOT_UTF8 = [
    ("/api/search?q=%FF%FE", "query parameter 'q'", "%FF%FE"),
    ("/api/search?q=pirates%20%C3", "query parameter 'q'", "%C3"),  # cut in the middle of a character
    ("/api/search?q=%ED%A0%80", "query parameter 'q'", "%ED%A0%80"),  # a surrogate, encoded
    ("/api/search?q=%C0%AF", "query parameter 'q'", "%C0%AF"),  # an overlong "/"
    ("/api/search?q=23&doc=%FF", "query parameter 'doc'", "%FF"),
    ("/api/cite?q=%E6%B5", "query parameter 'q'", ""),
    ("/api/gloss?text=%B5%B7", "query parameter 'text'", ""),
    ("/api/search?%FF=1&q=23", "query parameter", "%FF=1"),
    ("/api/paragraphs/%FF", "the path /api/paragraphs/%FF", ""),
    ("/doc/%FF/en.pdf", "the path", ""),
    ("/?q=%FF", "query parameter 'q'", ""),
]


@pytest.mark.parametrize(("url", "needle", "shown"), NOT_UTF8)
def test_a_url_that_is_not_utf8_is_a_400(client: Any, url: str, needle: str, shown: str) -> None:
    body = assert_error(client.get(url), 400, needle, "not UTF-8", shown)
    assert "\ufffd" not in body["error"] or "query parameter '\ufffd'" in body["error"]


def test_utf8_urls_still_work(client: Any) -> None:
    for url in ("/api/search?q=%E6%B5%B7%E7%9B%97", "/api/search?q=%E6%B5%B7+%E7%9B%97&mode=lexical"):
        assert client.get(url).status_code == 200, url
    assert client.get("/api/gloss?text=%E6%B5%B7%E7%9B%97").json()["words"]


def test_not_utf8_is_refused_before_the_token_is_asked_for(token_client: Any) -> None:
    assert_error(token_client.get("/api/search?q=%FF"), 400, "not UTF-8")


# --- over a real socket ------------------------------------------------------------------------------------


def test_live_headers_cross_origin_and_utf8(fast_retriever: Any) -> None:
    """The same through uvicorn: raw bytes in the request line are not rewritten by a client library."""
    with live_server(create_app(fast_retriever)) as port:

        def ask(method: str, target: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, Any, str]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            try:
                conn.request(method, target, body=body or None, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.headers, resp.read().decode("utf-8")
            finally:
                conn.close()

        status, headers, text = ask("GET", "/api/search?q=%FF%FE", {})
        assert status == 400 and "query parameter 'q'" in text and "not UTF-8" in text
        assert headers["content-security-policy"] == CSP
        assert headers["referrer-policy"] == "no-referrer" and headers["x-content-type-options"] == "nosniff"
        form = {"Content-Type": "text/plain", "Origin": "https://evil.example"}
        status, headers, text = ask("POST", "/api/batch", form, b"23\n")
        assert status == 403 and "cross-origin" in text and headers["content-security-policy"] == CSP
        mine = {"Content-Type": "text/plain", "Origin": f"http://127.0.0.1:{port}"}
        assert ask("POST", "/api/batch", mine, b"23\n")[0] == 200
        assert ask("GET", "/static/__init__.py", {})[0] == 404
        status, headers, _ = ask("GET", "/docs", {})
        assert status == 200 and "frame-ancestors 'none'" in headers["content-security-policy"]


# --- the start message -------------------------------------------------------------------------------------


def test_the_start_message_names_the_url_to_open() -> None:
    line = start_message("http://127.0.0.1:8000/", None)
    assert line.startswith("pipeline: serving http://127.0.0.1:8000/ ")
    assert "open http://127.0.0.1:8000/ in a browser" in line and "http://127.0.0.1:8000/docs" in line
    assert "token" not in line
    line = start_message("http://127.0.0.1:8000/", TOKEN)
    assert f"open http://127.0.0.1:8000/#token={TOKEN} in a browser" in line
    assert "?token" not in line and line.count(TOKEN) == 1
    # the page decodes the fragment with decodeURIComponent: every visible ASCII character survives
    odd = "a#b&c%d+e/f?g=h"
    assert (
        open_url("http://127.0.0.1:8000/", odd)
        == "http://127.0.0.1:8000/#token=a%23b%26c%25d%2Be%2Ff%3Fg%3Dh"
    )
    # a server on every address is opened through the loopback address
    assert open_url("http://0.0.0.0:8000/", "t") == "http://127.0.0.1:8000/#token=t"
    assert open_url("http://[::]:8000/", None) == "http://[::1]:8000/"
    assert "serving http://0.0.0.0:8000/ " in start_message("http://0.0.0.0:8000/", "t")


def test_serve_prints_the_start_message(monkeypatch: Any, cfg: Any, fast_retriever: Any) -> None:
    """serve() prints start_message once the server accepts connections (then stops at once here)."""
    import pipeline.server.app as app_module
    import pipeline.server.run as run
    import pipeline.server.state as state

    printed: list[str] = []
    apps: list[Any] = []
    real_create_app = app_module.create_app

    def create(*args: Any, **kwargs: Any) -> Any:
        apps.append(real_create_app(*args, **kwargs))
        return apps[-1]

    async def fake_run(server: Any, sock: Any, ready: Any) -> None:
        ready()

    monkeypatch.setattr(state, "load_retriever", lambda cfg, log=None: fast_retriever)
    monkeypatch.setattr(app_module, "create_app", create)
    monkeypatch.setattr(run, "_run", fake_run)
    monkeypatch.setattr(run, "_log_to_stderr", lambda: None)
    monkeypatch.setattr(run, "limit_blas_threads", lambda n, log=None: True)
    try:
        run.serve(cfg, ServerOptions(port=0, token=TOKEN), out=printed.append)
    finally:
        for app in apps:
            app.state.pipeline.close()
    [line] = printed
    assert line.startswith("pipeline: serving http://127.0.0.1:") and f"/#token={TOKEN} in a browser" in line
