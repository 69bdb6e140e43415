"""top_k equals a stable descending argsort, ties and all."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.ranking import top_k


@pytest.mark.parametrize("seed", range(10))
def test_top_k_equals_stable_argsort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    scores = rng.integers(0, 6, size=n).astype(np.float64)  # few distinct values: many ties
    if seed % 2:
        scores += rng.normal(scale=1e-3, size=n)
    for k in (1, 3, 10, n - 1, n, n + 5):
        want = np.argsort(-scores, kind="stable")[: max(k, 0)]
        np.testing.assert_array_equal(top_k(scores, k), want)


def test_top_k_edge_cases() -> None:
    assert top_k(np.array([]), 3).size == 0
    assert top_k(np.array([1.0, 2.0]), 0).size == 0
    np.testing.assert_array_equal(top_k(np.array([1.0, 1.0, 1.0]), 2), [0, 1])
