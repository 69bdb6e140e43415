"""The no-answer flag (``Answer.no_answer``) through the server and on the page.

A retriever over the real report with the fake embedder, its no-answer thresholds (settings ``no_answer_zh``
and ``no_answer_en``) set to 2.0 (every question is flagged) or to 0 (none is), makes the flag certain without
depending on the calibration. The API tests (TestClient) check that ``/api/search`` and ``/api/batch`` return
``no_answer`` (and ``no_answer_score`` for questions) and that the OpenAPI schema declares both; the browser
tests (slow: Debian's Chromium, the browser fixture of test_web.py, the app served in a thread) check the note
above the results and the flagged lines of a batch.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import WAIT, FakeEmbedder, all_css, by_css, live_server, open_page

from pipeline.server import create_app

ZH_Q = "伪药对患者有什么危害？"
EN_Q = "How much ransom did pirates receive in 2011?"
LOOKUP = "第 41 段"
NOTE_EN = "The library does not seem to answer this; closest paragraphs:"
NOTE_ZH = "资料库似乎没有回答这个问题；以下是最接近的段落："


@pytest.fixture(scope="module")
def dense(corpus: Any) -> Any:
    from pipeline.dense import DenseIndex

    return DenseIndex.build(corpus, FakeEmbedder())


def _retriever(cfg: Any, corpus: Any, analyzer: Any, lexical: Any, dense: Any, threshold: float) -> Any:
    """The fast retriever's parts, with both languages' no-answer threshold set to ``threshold``."""
    from pipeline.retrieve import Retriever

    return Retriever(
        corpus,
        cfg=dataclasses.replace(cfg, no_answer_zh=threshold, no_answer_en=threshold),
        analyzer=analyzer,
        lexical=lexical,
        dense=dense,
        encoder=FakeEmbedder(prompt="query: "),
    )


@pytest.fixture(scope="module")
def flag_all(cfg: Any, corpus: Any, analyzer: Any, lexical_index: Any, dense: Any) -> Any:
    """Every question flagged: the threshold is the top of its range."""
    return _retriever(cfg, corpus, analyzer, lexical_index, dense, 2.0)


@pytest.fixture(scope="module")
def flag_none(cfg: Any, corpus: Any, analyzer: Any, lexical_index: Any, dense: Any) -> Any:
    """No question flagged: 0 turns the flag off."""
    return _retriever(cfg, corpus, analyzer, lexical_index, dense, 0.0)


@pytest.fixture(scope="module")
def client_all(flag_all: Any) -> Iterator[Any]:
    with TestClient(create_app(flag_all)) as c:
        yield c


@pytest.fixture(scope="module")
def client_none(flag_none: Any) -> Iterator[Any]:
    with TestClient(create_app(flag_none)) as c:
        yield c


# --- the API ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [ZH_Q, EN_Q])
@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_search_returns_no_answer_both_ways(client_all: Any, client_none: Any, q: str, mode: str) -> None:
    flagged = client_all.get("/api/search", params={"q": q, "mode": mode})
    plain = client_none.get("/api/search", params={"q": q, "mode": mode})
    assert flagged.status_code == plain.status_code == 200
    a, b = flagged.json(), plain.json()
    assert a["route"] == b["route"] == "question"
    assert a["no_answer"] is True and b["no_answer"] is False
    # the evidence does not depend on the threshold, and lies inside the thresholds' range (0-2)
    assert isinstance(a["no_answer_score"], float) and a["no_answer_score"] == b["no_answer_score"]
    assert 0.0 < a["no_answer_score"] < 2.0
    # the hits are still there: the flag only says they are the closest paragraphs
    assert a["results"] and a["results"] == b["results"]


def test_lookups_are_never_flagged(client_all: Any) -> None:
    for q in (LOOKUP, "resolution 65/230"):
        body = client_all.get("/api/search", params={"q": q}).json()
        assert body["route"] in ("paragraph", "citation")
        assert body["no_answer"] is False and "no_answer_score" not in body


def test_batch_records_carry_no_answer(client_all: Any, client_none: Any) -> None:
    lines = [{"id": "q1", "query": ZH_Q}, {"id": "q2", "query": LOOKUP}]
    body = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode()
    for client, expected in ((client_all, [True, False]), (client_none, [False, False])):
        resp = client.post(
            "/api/batch",
            params={"mode": "hybrid"},
            content=body,
            headers={"content-type": "application/x-ndjson"},
        )
        assert resp.status_code == 200
        records = [json.loads(x) for x in resp.text.splitlines() if x.strip()]
        assert [r["id"] for r in records] == ["q1", "q2"]
        assert [r["no_answer"] for r in records] == expected
        assert isinstance(records[0]["no_answer_score"], float) and "no_answer_score" not in records[1]


def test_openapi_lists_no_answer(client_all: Any) -> None:
    for path in ("/openapi.json", "/openapi-3.0.json"):
        doc = client_all.get(path).json()
        schemas = doc["components"]["schemas"]
        for name in ("Answer", "BatchRecord"):
            props = schemas[name]["properties"]
            assert props["no_answer"]["type"] == "boolean" and props["no_answer"]["default"] is False, name
            assert "no_answer" not in schemas[name].get("required", [])
            assert "number" in json.dumps(props["no_answer_score"]), name
            assert props["no_answer"]["description"] and props["no_answer_score"]["description"]
        ok = doc["paths"]["/api/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/Answer"}


# --- the page ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_all(flag_all: Any) -> Iterator[str]:
    with live_server(create_app(flag_all)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server_none(flag_none: Any) -> Iterator[str]:
    with live_server(create_app(flag_none)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The browser at a desktop width; its console is checked for errors afterwards."""
    browser.set_window_size(1024, 1200)
    browser.get_log("browser")
    yield browser
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def _search_url(base: str, q: str, mode: str = "hybrid") -> str:
    return f"{base}/?{urllib.parse.urlencode({'q': q, 'mode': mode})}"


@pytest.mark.slow
def test_page_notes_a_chinese_question_the_library_does_not_answer(page: Any, server_all: str) -> None:
    open_page(page, _search_url(server_all, ZH_Q))
    notes = all_css(page, "#view .no-answer")
    assert len(notes) == 1
    note = notes[0]
    assert note.is_displayed() and note.get_attribute("role") == "status"
    assert "error" not in note.get_attribute("class") and not all_css(page, "#view .error")
    assert note.find_element("css selector", '[lang="en"]').text == NOTE_EN
    assert note.find_element("css selector", '[lang="zh-Hans"]').text == NOTE_ZH
    # the closest paragraphs are listed below the note, marked as such
    results = by_css(page, "#view ol.results")
    assert "closest" in results.get_attribute("class").split()
    assert page.execute_script(
        "return !!(arguments[0].compareDocumentPosition(arguments[1]) & Node.DOCUMENT_POSITION_FOLLOWING)",
        note,
        results,
    )
    cards = all_css(page, "#view .result")
    assert len(cards) == 5 and cards[0].find_element("css selector", "mark.hl").text
    # styled as a notice: not the error's red
    bg = page.execute_script("return getComputedStyle(arguments[0]).backgroundColor", note)
    err = page.execute_script(
        "const e = document.createElement('p'); e.className = 'error'; document.body.append(e);"
        "const c = getComputedStyle(e).backgroundColor; e.remove(); return c"
    )
    assert bg != err and bg != "rgba(0, 0, 0, 0)"
    assert "no answer" in by_css(page, "#status").text


@pytest.mark.slow
def test_page_note_is_english_for_an_english_question(page: Any, server_all: str) -> None:
    open_page(page, _search_url(server_all, EN_Q))
    note = by_css(page, "#view .no-answer")
    assert note.text == NOTE_EN and not note.find_elements("css selector", '[lang="zh-Hans"]')
    assert all_css(page, "#view ol.results.closest .result")


@pytest.mark.slow
def test_page_has_no_note_when_the_library_answers(page: Any, server_all: str, server_none: str) -> None:
    for q in (ZH_Q, EN_Q):
        open_page(page, _search_url(server_none, q))
        assert all_css(page, "#view .result") and not all_css(page, "#view .no-answer")
        assert "closest" not in by_css(page, "#view ol.results").get_attribute("class").split()
        assert "no answer" not in by_css(page, "#status").text
    # a lookup is never flagged, whatever the threshold
    open_page(page, _search_url(server_all, LOOKUP))
    assert [c.get_attribute("data-paragraph") for c in all_css(page, "#view .result")] == ["41"]
    assert not all_css(page, "#view .no-answer")


@pytest.mark.slow
def test_batch_marks_flagged_answers(page: Any, server_all: str, server_none: str, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    hostile = '<img src=x onerror="document.body.dataset.pwned=1"> 海盗'
    lines = [
        {"id": "q1", "query": ZH_Q},
        {"id": "q2", "query": LOOKUP},
        {"id": "q3", "query": hostile},
    ]
    src = tmp_path / "questions.jsonl"
    src.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8")
    for base, flagged in ((server_all, ["q1", "q3"]), (server_none, [])):
        open_page(page, f"{base}/batch")
        by_css(page, "#batch-file").send_keys(str(src))
        by_css(page, "#batch-go").click()
        WebDriverWait(page, WAIT).until(lambda d: d.find_elements("css selector", "#batch-summary"))
        summary = by_css(page, "#batch-summary").text
        items = all_css(page, "#batch-no-answer li")
        assert [li.get_attribute("data-id") for li in items] == flagged
        if flagged:
            assert "3 answered (2 the library does not seem to answer)" in summary
            assert items[0].find_element("css selector", "q").text == ZH_Q
            assert items[1].find_element("css selector", "q").text == hostile  # shown as text
            assert page.execute_script("return document.querySelectorAll('#batch-result img').length") == 0
            assert page.execute_script("return document.body.dataset.pwned") is None
        else:
            assert "does not seem" not in summary and summary.startswith("3 answered")
