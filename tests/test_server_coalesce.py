"""The request coalescer: questions answered together are answered exactly as alone; a bad question, a
failing group or a bug touches only what it must; cancelled questions are dropped; ``close`` stops cleanly.
And through the API: concurrent questions are grouped, lookups never wait for the coalescer."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pipeline.answer import Answer
from pipeline.errors import StaleIndexError
from pipeline.server import Coalescer, CoalescerClosed, ServerOptions, create_app

QUERIES = [
    "海盗赎金",
    "伪药对患者有什么危害？",
    "How much ransom did pirates receive in 2011?",
    "cybercrime training",
    "第 41 段",
    "resolution 65/230",
    "野生动植物非法贩运",
    "counterfeit medicines",
    "文化财产",
    "海盗 2011",
]


def test_grouped_answers_equal_direct_search(fast_retriever: Any) -> None:
    calls: list[tuple[int, int | None, str]] = []

    def answer(qs: Any, k: Any, mode: str) -> list[Answer]:
        calls.append((len(qs), k, mode))
        return fast_retriever.search_many(qs, k, mode)

    co = Coalescer(answer, window=0.05, max_batch=64)
    jobs = [(q, k, mode) for q in QUERIES for k, mode in ((None, "hybrid"), (3, "hybrid"), (2, "lexical"))]
    start = threading.Barrier(len(jobs))

    def ask(job: tuple[str, int | None, str]) -> dict[str, Any]:
        start.wait()
        return co.submit(*job).result(timeout=30).to_dict()

    with ThreadPoolExecutor(len(jobs)) as pool:
        got = list(pool.map(ask, jobs))
    co.close()
    for (q, k, mode), answer_dict in zip(jobs, got, strict=True):
        assert answer_dict == fast_retriever.search(q, k=k, mode=mode).to_dict(), (q, k, mode)
    assert sum(n for n, _, _ in calls) == len(jobs)
    assert len(calls) < len(jobs) and max(n for n, _, _ in calls) > 1  # questions were grouped
    assert co.stats.questions == len(jobs) and co.stats.calls == len(calls)


def test_window_groups_questions_by_k_and_mode() -> None:
    seen: list[tuple[list[str], int | None, str]] = []

    def answer(qs: Any, k: Any, mode: str) -> list[Answer]:
        seen.append((list(qs), k, mode))
        return [Answer(q, "question", "en", []) for q in qs]

    co = Coalescer(answer, window=0.2, max_batch=100)
    futures = [
        co.submit(f"q{i}", 5 if i % 2 else None, "lexical" if i % 3 == 0 else "hybrid") for i in range(12)
    ]
    assert [f.result(timeout=5).query for f in futures] == [f"q{i}" for i in range(12)]
    co.close()
    groups = {(k, mode): qs for qs, k, mode in seen}
    assert len(seen) == len(groups) == 4  # one call per (k, mode), all in one window
    assert groups[(None, "lexical")] == ["q0", "q6"] and groups[(5, "hybrid")] == ["q1", "q5", "q7", "q11"]


def test_filters_are_grouped_apart_and_passed_through() -> None:
    """Questions asked of other documents, another language or with parallel versions are never answered in
    one call with the others; a group without filters is answered with ``answer(qs, k, mode)`` alone."""
    seen: list[tuple[list[str], dict[str, Any]]] = []

    def answer(qs: Any, k: Any, mode: str, **filters: Any) -> list[Answer]:
        seen.append((list(qs), filters))
        return [Answer(q, "question", "en", []) for q in qs]

    co = Coalescer(answer, window=0.2, max_batch=100)
    futures = [
        co.submit("a", None, "hybrid"),
        co.submit("b", None, "hybrid", docs=["X/1"]),
        co.submit("c", None, "hybrid", docs=["X/1"]),
        co.submit("d", None, "hybrid", docs=["X/1"], lang="en"),
        co.submit("e", None, "hybrid", parallel=True),
        co.submit("f", None, "hybrid", docs=[], lang=None, parallel=False),  # the same as no filters
        co.submit("g", None, "hybrid", docs=["X/1", "Y/2"]),
    ]
    assert [f.result(timeout=5).query for f in futures] == list("abcdefg")
    co.close()
    groups = {tuple(qs): filters for qs, filters in seen}
    assert len(seen) == len(groups) == 5
    assert groups == {
        ("a", "f"): {},
        ("b", "c"): {"docs": ["X/1"], "lang": None, "parallel": False},
        ("d",): {"docs": ["X/1"], "lang": "en", "parallel": False},
        ("e",): {"docs": None, "lang": None, "parallel": True},
        ("g",): {"docs": ["X/1", "Y/2"], "lang": None, "parallel": False},
    }


def test_max_batch_caps_a_group() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def answer(qs: Any, k: Any, mode: str) -> list[Answer]:
        gate.wait(5)
        sizes.append(len(qs))
        return [Answer(q, "question", "en", []) for q in qs]

    co = Coalescer(answer, window=0.05, max_batch=4)
    futures = [co.submit(str(i), None, "hybrid") for i in range(10)]
    gate.set()
    for f in futures:
        f.result(timeout=5)
    co.close()
    assert sum(sizes) == 10 and max(sizes) <= 4


def test_a_bad_question_does_not_fail_its_group(fast_retriever: Any) -> None:
    co = Coalescer(fast_retriever.search_many, window=0.1)
    qs = ["海盗赎金", "", "!!!", "第 17 至 15 段", "counterfeit medicines", "\ud800"]
    futures = [co.submit(q, None, "hybrid") for q in qs]
    answers = [f.result(timeout=30) for f in futures]
    co.close()
    assert co.stats.calls == 1 and co.stats.largest == len(qs)
    assert [a.error is None for a in answers] == [True, False, False, False, True, False]
    assert answers[0].to_dict() == fast_retriever.search("海盗赎金").to_dict()
    assert "empty query" in (answers[1].error or "") and "nothing to search for" in (answers[2].error or "")


def test_an_index_problem_fails_only_its_group() -> None:
    def answer(qs: Any, k: Any, mode: str) -> list[Answer]:
        if mode == "dense":
            raise StaleIndexError("the dense index is stale; run `pipeline build`")
        return [Answer(q, "question", "en", []) for q in qs]

    co = Coalescer(answer, window=0.1)
    dense = [co.submit(f"d{i}", None, "dense") for i in range(3)]
    lexical = [co.submit(f"l{i}", None, "lexical") for i in range(3)]
    for f in dense:
        with pytest.raises(StaleIndexError, match="pipeline build"):
            f.result(timeout=5)
    assert [f.result(timeout=5).query for f in lexical] == ["l0", "l1", "l2"]
    co.close()


def test_a_bug_fails_only_the_question_that_triggers_it() -> None:
    def answer(qs: Any, k: Any, mode: str) -> list[Answer]:
        if any("boom" in q for q in qs):
            raise RuntimeError("bug")
        return [Answer(q, "question", "en", []) for q in qs]

    co = Coalescer(answer, window=0.1)
    futures = [co.submit(q, None, "hybrid") for q in ("a", "boom", "b", "c")]
    with pytest.raises(RuntimeError, match="bug"):
        futures[1].result(timeout=5)
    assert [futures[i].result(timeout=5).query for i in (0, 2, 3)] == ["a", "b", "c"]
    co.close()


def test_cancelled_questions_are_dropped() -> None:
    seen: list[str] = []
    gate = threading.Event()

    def answer(qs: Any, k: Any, mode: str) -> list[Answer]:
        if qs == ["first"]:
            gate.wait(5)
        seen.extend(qs)
        return [Answer(q, "question", "en", []) for q in qs]

    co = Coalescer(answer, window=0.0)
    first = co.submit("first", None, "hybrid")
    time.sleep(0.1)  # the worker is answering "first"
    gone = co.submit("gone", None, "hybrid")
    kept = co.submit("kept", None, "hybrid")
    assert gone.cancel()
    gate.set()
    assert first.result(timeout=5).query == "first" and kept.result(timeout=5).query == "kept"
    with pytest.raises(CancelledError):
        gone.result()
    co.close()
    assert "gone" not in seen


def test_close_answers_the_group_in_hand_and_refuses_the_rest() -> None:
    gate = threading.Event()
    entered = threading.Event()

    def answer(qs: Any, k: Any, mode: str) -> list[Answer]:
        entered.set()
        gate.wait(5)
        return [Answer(q, "question", "en", []) for q in qs]

    co = Coalescer(answer, window=0.0, max_batch=1)
    in_hand = co.submit("in hand", None, "hybrid")
    assert entered.wait(5)
    queued = [co.submit(f"queued {i}", None, "hybrid") for i in range(3)]
    closer = threading.Thread(target=co.close)
    closer.start()
    time.sleep(0.1)
    gate.set()
    closer.join(10)
    assert not closer.is_alive() and not co.running and co.closed
    assert in_hand.result(timeout=1).query == "in hand"
    for f in queued:
        with pytest.raises(CoalescerClosed):
            f.result(timeout=1)
    with pytest.raises(CoalescerClosed):
        co.submit("late", None, "hybrid")
    co.close()  # twice is fine


def test_the_server_groups_concurrent_questions_and_lookups_skip_the_coalescer(fast_retriever: Any) -> None:
    app = create_app(fast_retriever, ServerOptions(coalesce_ms=50))
    with TestClient(app) as c:
        start = threading.Barrier(16)

        def ask(q: str) -> Any:
            start.wait()
            return c.get("/api/search", params={"q": q})

        qs = [QUERIES[i % 4] + f" {i}" for i in range(16)]
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(ask, qs))
        for q, resp in zip(qs, responses, strict=True):
            assert resp.status_code == 200
            assert resp.json() == fast_retriever.search(q).to_dict()
        stats = c.get("/api/health").json()["coalescer"]
        assert stats["questions"] == 16 and stats["calls"] < 16 and stats["largest"] > 1
        for ref in ("第 41 段", "resolution 65/230", "23"):
            assert c.get("/api/search", params={"q": ref}).status_code == 200
        assert c.get("/api/health").json()["coalescer"] == stats
        state = app.state.pipeline
    assert state.coalescer.closed and not state.coalescer.running  # the lifespan stopped it


def test_two_workers_answer_two_groups_at_once() -> None:
    both_in = threading.Barrier(2, timeout=5)
    threads: set[str] = set()
    calls = []

    def answer(qs: Any, k: Any, mode: str) -> list[Answer]:
        threads.add(threading.current_thread().name)
        calls.append(qs)
        if len(calls) <= 2:
            both_in.wait()  # the first two calls pass only when both workers are answering at once
        return [Answer(q, "question", "en", []) for q in qs]

    co = Coalescer(answer, window=0.0, max_batch=2, workers=2)
    futures = [co.submit(str(i), None, "hybrid") for i in range(4)]
    assert [f.result(timeout=10).query for f in futures] == ["0", "1", "2", "3"]
    assert len(threads) == 2 and co.stats.questions == 4
    co.close()
    assert not co.running
