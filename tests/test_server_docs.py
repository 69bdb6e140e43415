"""The API documentation: ``/openapi.json`` (OpenAPI 3.1, as FastAPI writes it), ``/openapi-3.0.json`` (the
same, written the 3.0 way for the bundled Swagger UI 4) and the ``/docs`` page, which must render with every
operation in a real browser while fetching nothing from another host."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import live_server

from pipeline.server import ServerOptions, create_app
from pipeline.server.docs import openapi_30

CHROMEDRIVER = "/usr/bin/chromedriver"


def test_openapi_30_rewrites_what_swagger_ui_4_cannot_read() -> None:
    doc = {
        "openapi": "3.1.0",
        "components": {
            "schemas": {
                "A": {
                    "properties": {
                        "x": {"anyOf": [{"type": "integer", "maximum": 100}, {"type": "null"}], "title": "X"},
                        "r": {"anyOf": [{"$ref": "#/components/schemas/B"}, {"type": "null"}]},
                        "u": {"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]},
                        "t": {"type": ["string", "null"]},
                        "c": {"const": "ok"},
                        "e": {"type": "string", "examples": ["a", "b"]},
                        "m": {"type": "number", "exclusiveMinimum": 0},
                    }
                }
            }
        },
        "paths": {"/p": {"get": {"parameters": [{"name": "k", "examples": {"one": {"value": 1}}}]}}},
    }
    props = openapi_30(doc)["components"]["schemas"]["A"]["properties"]
    assert openapi_30(doc)["openapi"] == "3.0.3"
    assert props["x"] == {"type": "integer", "maximum": 100, "title": "X", "nullable": True}
    assert props["r"] == {"nullable": True, "allOf": [{"$ref": "#/components/schemas/B"}]}
    assert props["u"] == {"anyOf": [{"type": "string"}, {"type": "integer"}], "nullable": True}
    assert props["t"] == {"type": "string", "nullable": True}
    assert props["c"] == {"enum": ["ok"]}
    assert props["e"] == {"type": "string", "example": "a"}
    assert props["m"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    # a parameter's examples map is already 3.0
    assert openapi_30(doc)["paths"]["/p"]["get"]["parameters"][0]["examples"] == {"one": {"value": 1}}


def test_served_schemas(fast_retriever: Any) -> None:
    with TestClient(create_app(fast_retriever)) as c:
        v31 = c.get("/openapi.json").json()
        v30 = c.get("/openapi-3.0.json").json()
    assert v31["openapi"].startswith("3.1") and v30["openapi"] == "3.0.3"
    text = json.dumps(v30)
    assert '{"type": "null"}' not in text and '"const"' not in text
    assert (
        set(v30["paths"])
        == set(v31["paths"])
        == {
            "/api/search",
            "/api/cite",
            "/api/batch",
            "/api/paragraphs",
            "/api/paragraphs/{n}",
            "/api/documents",
            "/api/gloss",
            "/api/health",
            "/api/doc/{symbol}",
            "/doc/{symbol}/{lang}.{ext}",
        }
    )
    ndjson = v31["paths"]["/api/batch"]["post"]["responses"]["200"]["content"]["application/x-ndjson"]
    assert ndjson["schema"] == {"$ref": "#/components/schemas/BatchRecord"}
    assert v31["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.slow
def test_docs_page_renders_offline_in_chromium(fast_retriever: Any) -> None:
    """Every operation shows, "Try it out" reaches the API (with the token from Authorize), and every request
    the page makes goes to this server."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,2000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    with live_server(create_app(fast_retriever, ServerOptions(token="tok"))) as port:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.get(f"http://127.0.0.1:{port}/docs")
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
            )
            paths = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")]
            assert set(paths) >= {"/api/search", "/api/batch", "/api/paragraphs/{n}", "/api/health"}, paths
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "Unable to render" not in body and "Resolver error" not in body
            # authorize with the token, then try /api/paragraphs/{n}
            driver.find_element(By.CSS_SELECTOR, ".btn.authorize").click()
            WebDriverWait(driver, 10).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, ".auth-container input")
            )
            driver.find_element(By.CSS_SELECTOR, ".auth-container input").send_keys("tok")
            driver.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .authorize").click()
            driver.find_element(By.CSS_SELECTOR, ".btn-done").click()
            op = next(
                e
                for e in driver.find_elements(By.CSS_SELECTOR, ".opblock")
                if "/api/paragraphs/{n}" in e.find_element(By.CSS_SELECTOR, ".opblock-summary-path").text
            )
            op.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
            WebDriverWait(driver, 10).until(lambda d: op.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
            op.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
            op.find_element(By.CSS_SELECTOR, "input[placeholder='n']").send_keys("41")
            op.find_element(By.CSS_SELECTOR, ".execute").click()
            WebDriverWait(driver, 20).until(
                lambda d: op.find_elements(
                    By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"
                )
            )
            time.sleep(0.5)
            status = op.find_element(
                By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"
            ).text
            assert status.strip().startswith("200"), status
            hosts = set()
            for entry in driver.get_log("performance"):
                msg = json.loads(entry["message"])["message"]
                if msg["method"] == "Network.requestWillBeSent":
                    url = msg["params"]["request"]["url"]
                    if not url.startswith("data:"):
                        hosts.add(url.split("/")[2])
            assert hosts == {f"127.0.0.1:{port}"}, hosts
        finally:
            driver.quit()
