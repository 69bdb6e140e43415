"""The candidate fusion shared by the ANN path and the Qdrant channels (:func:`fuse_top`): its bound on
what can still reach the top k skips other-channel scoring without changing the answer."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from pipeline.backends.candidates import fuse_top
from pipeline.ranking import top_k


def _channels(scores: dict[str, np.ndarray], asked: dict[str, int]) -> dict[str, Any]:
    """Exact channel tops over every paragraph, counting the rows each channel is asked to score."""
    lx, dn = scores["lexical"], scores["dense"]

    def lexical_top(n: int) -> dict[int, float]:
        hit = np.flatnonzero(lx > 0)
        return {int(hit[i]): float(lx[hit[i]]) for i in top_k(lx[hit], n)}

    def dense_top(n: int) -> dict[int, float]:
        return {int(r): float(dn[r]) for r in top_k(dn, n)}

    def lexical_of(rows: Sequence[int]) -> dict[int, float]:
        asked["lexical"] += len(rows)
        return {int(r): float(lx[r]) for r in rows}

    def dense_of(rows: Sequence[int]) -> dict[int, float]:
        asked["dense"] += len(rows)
        return {int(r): float(dn[r]) for r in rows}

    return {
        "lexical_top": lexical_top,
        "dense_top": dense_top,
        "lexical_of": lexical_of,
        "dense_of": dense_of,
        "statistics": lambda: ((float(lx.mean()), float(lx.std())), (float(dn.mean()), float(dn.std()))),
    }


def test_pruning_keeps_the_top_k_and_skips_scoring(fast_retriever: Any, dev_plans: list) -> None:
    """On every dev question (the real report's BM25, the dense index's scores), with channel tops shorter
    than the report so that many candidates are in one channel only: the pruned fusion returns exactly the
    unpruned one's top k (rows, order and scores), and asks the channels to score fewer rows."""
    asked = {"pruned": {"lexical": 0, "dense": 0}, "full": {"lexical": 0, "dense": 0}}
    for (k, k_lexical, k_dense), (_, plan) in itertools.product(
        [(5, 8, 8), (10, 20, 10), (3, 30, 5), (1, 40, 40)], dev_plans
    ):
        scores = {
            "lexical": fast_retriever.lexical.scores(plan.bm25_terms),
            "dense": fast_retriever.dense.scores(fast_retriever.encoder.encode([plan.dense_text])[0])[
                "combined"
            ],
        }
        out = {}
        for how in ("pruned", "full"):
            out[how], _ = fuse_top(
                k,
                0.4,
                **_channels(scores, asked[how]),
                k_lexical=k_lexical,
                k_dense=k_dense,
                prune=how == "pruned",
            )
        assert [r for r, _ in out["pruned"]] == [r for r, _ in out["full"]], plan.query
        assert [s for _, s in out["pruned"]] == pytest.approx([s for _, s in out["full"]], abs=1e-12)
    total = {how: sum(v.values()) for how, v in asked.items()}
    print(total)
    assert total["pruned"] < total["full"], total
