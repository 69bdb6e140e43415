"""Validate the answer-sentence evaluation set ``corpus/eval/answers.jsonl`` against the report.

See ``corpus/eval/answers.md`` for the format and the scoring rule.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

EVAL_DIR = Path(__file__).resolve().parent.parent / "corpus" / "eval"
ANSWERS = EVAL_DIR / "answers.jsonl"
DEV = EVAL_DIR / "dev.jsonl"
KEYS = {"id", "query", "lang", "paragraph", "answer"}
OPTIONAL = {"note"}


def _read(path: Path) -> list[dict]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:  # pragma: no cover - reported as a failure
                    pytest.fail(f"{path.name}:{n}: not JSON: {e}")
    return rows


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _read(ANSWERS)


def test_schema(rows):
    assert rows, "answers.jsonl is empty"
    for r in rows:
        assert KEYS <= r.keys() <= KEYS | OPTIONAL, f"{r.get('id')}: keys {sorted(r)}"
        assert isinstance(r["query"], str) and r["query"].strip(), r["id"]
        assert isinstance(r["paragraph"], int), r["id"]
        assert isinstance(r["answer"], str), r["id"]


def test_ids_unique(rows):
    dup = [i for i, n in Counter(r["id"] for r in rows).items() if n > 1]
    assert not dup, f"duplicate ids: {dup}"


def test_queries_unique(rows):
    dup = [q for q, n in Counter(r["query"] for r in rows).items() if n > 1]
    assert not dup, f"duplicate queries: {dup}"


def test_lang(rows):
    bad = [r["id"] for r in rows if r["lang"] not in ("zh", "en")]
    assert not bad, f"lang must be zh or en: {bad}"


def test_at_least_20_per_language(rows):
    counts = Counter(r["lang"] for r in rows)
    assert counts["zh"] >= 20 and counts["en"] >= 20, dict(counts)


def test_paragraph_exists(rows, corpus):
    numbers = set(corpus.numbers)
    bad = [(r["id"], r["paragraph"]) for r in rows if r["paragraph"] not in numbers]
    assert not bad, f"no such paragraph: {bad}"


def test_answer_is_substring_of_paragraph(rows, corpus):
    bad = []
    for r in rows:
        full = corpus.paragraph(r["paragraph"]).full_text
        if r["answer"] not in full:
            bad.append((r["id"], r["paragraph"], r["answer"]))
    assert not bad, f"answer not found in the paragraph's full_text: {bad}"


def test_answer_is_unambiguous_and_short(rows, corpus):
    """The answer occurs once in its paragraph and is a short key clause (8-60 characters)."""
    bad = []
    for r in rows:
        full = corpus.paragraph(r["paragraph"]).full_text
        if full.count(r["answer"]) > 1 or not 8 <= len(r["answer"]) <= 60:
            bad.append((r["id"], r["answer"]))
    assert not bad, bad


def test_no_query_from_dev(rows):
    dev = {d["query"].strip() for d in _read(DEV)}
    reused = [r["id"] for r in rows if r["query"].strip() in dev]
    assert not reused, f"queries copied from dev.jsonl: {reused}"


@pytest.mark.slow
def test_answer_sentence_accuracy_floor(retriever):
    """Regression floor for answer sentences (README: 70 of 90 retrieved, 0.778) minus a tolerance of 0.03."""
    from pipeline.evaluate import answer_accuracy, load_answer_set

    items = load_answer_set(Path(__file__).resolve().parent.parent / "corpus" / "eval" / "answers.jsonl")
    answers = retriever.search_many([it.query for it in items], k=5)
    report = answer_accuracy(items, [[(h.paragraph, h.answer) for h in a.hits] for a in answers])
    assert report["all"]["retrieved"] >= 88 and report["all"]["accuracy"] >= 0.778 - 0.03, report["all"]
