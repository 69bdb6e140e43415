"""One hit per paragraph: a document's language versions share their numbering, so a paragraph found in two
versions is one hit, shown in the query's language (or ``lang``'s), ranked where its best version ranks;
``parallel`` shows the other versions. The library (``support.build_library_home``): CTOC/COP/2012/7 (zh) and
A/TEST/2030/1 in Chinese and English, with the fake embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import SYNTHETIC_SYMBOL, library_retriever

from pipeline.server import create_app

QUESTIONS = [
    "How many investigators were trained in online fraud investigation?",
    "online fraud cooperation between States",
    "网络诈骗调查培训了多少调查员？",
    "野生动植物贩运",
    "electronic evidence preserved by investigators",
]


@pytest.fixture(scope="module")
def versions_retriever(library_home_ro: Path) -> Any:
    return library_retriever(library_home_ro)


def _keys(answer: Any) -> list[tuple[str, str, int]]:
    return [(h.document, h.part, h.paragraph) for h in answer.hits]


@pytest.mark.parametrize("query", QUESTIONS)
def test_no_paragraph_twice_and_shown_in_the_querys_language(versions_retriever: Any, query: str) -> None:
    answer = versions_retriever.search(query, k=8)
    keys = _keys(answer)
    assert len(keys) == len(set(keys)) == 8  # k distinct paragraphs, not k rows
    for h in answer.hits:
        if h.document == SYNTHETIC_SYMBOL:
            versions = {
                p.lang
                for p in versions_retriever.library.versions(SYNTHETIC_SYMBOL)
                if any(q.number == h.paragraph and q.part == h.part for q in p.paragraphs)
            }
            if answer.lang in versions:
                assert h.lang == answer.lang, (query, h.citation)


def test_lang_and_parallel_choose_the_version_shown(versions_retriever: Any) -> None:
    query = QUESTIONS[0]
    zh = versions_retriever.search(query, k=5, lang="zh")
    assert {h.lang for h in zh.hits} == {"zh"}
    both = versions_retriever.search(query, k=5, docs=[SYNTHETIC_SYMBOL], parallel=True)
    assert len(set(_keys(both))) == len(both.hits)
    shown = both.hits[0]
    assert shown.lang == "en" and [v["lang"] for v in shown.parallel or []] == ["zh"]


def test_the_api_and_batch_agree(versions_retriever: Any) -> None:
    answers = versions_retriever.search_many(QUESTIONS, k=6)
    with TestClient(create_app(versions_retriever)) as client:
        for query, answer in zip(QUESTIONS, answers, strict=True):
            body = client.get("/api/search", params={"q": query, "k": 6}).json()
            assert [(r["document"], r["lang"], r["paragraph"]) for r in body["results"]] == [
                (h.document, h.lang, h.paragraph) for h in answer.hits
            ]
