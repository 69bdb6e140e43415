"""Metric definitions on hand-checked cases, and qrels validation."""

from __future__ import annotations

import math

import pytest

from pipeline.evaluate import Qrel, QrelsError, evaluate, format_table, load_qrels, query_metrics


def test_metrics_single_relevant():
    m = query_metrics([4, 7, 9], [7])
    assert m["R@1"] == 0 and m["R@3"] == 1 and m["MRR@10"] == 0.5
    assert m["nDCG@10"] == pytest.approx(1 / math.log2(3))
    assert m["exact"] == 0


def test_metrics_several_relevant():
    m = query_metrics([1, 2, 3, 4, 5], [1, 5])
    assert m["R@1"] == 0.5 and m["R@3"] == 0.5 and m["R@5"] == 1 and m["MRR@10"] == 1
    idcg = 1 + 1 / math.log2(3)
    assert m["nDCG@10"] == pytest.approx((1 + 1 / math.log2(6)) / idcg)
    assert m["exact"] == 1


def test_missing_everything():
    m = query_metrics([], [3])
    assert all(m[k] == 0 for k in ("R@1", "R@10", "MRR@10", "nDCG@10", "exact"))


def test_groups_and_table():
    q = [Qrel("a", "x", (1,), "zh", "question"), Qrel("b", "y", (2,), "en", "question")]
    g = evaluate(q, [[1], [3, 2]])
    assert g["all"]["n"] == 2 and g["zh"]["R@1"] == 1 and g["en"]["R@1"] == 0 and g["en"]["MRR@10"] == 0.5
    assert "| zh/question | 1 |" in format_table(g)


def test_bad_qrels_name_the_line(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_text('{"id": 1, "query": "x", "relevant": [1]}\n{"id": 2, "query": "y"}\n', encoding="utf-8")
    with pytest.raises(QrelsError, match=r"q.jsonl:2: missing key"):
        load_qrels(p)
