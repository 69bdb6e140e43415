"""Top-k selection shared by every channel: exact, deterministic, and linear in the number of scores."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest ``scores``, best first; ties in position order.

    Gives exactly what ``np.argsort(-scores, kind="stable")[:k]`` gives, but partitions first, so a query over
    100k paragraphs sorts only the few candidates tied with or above the k-th score.
    """
    scores = np.asarray(scores)
    n = scores.shape[0]
    if k <= 0 or n == 0:
        return np.zeros(0, dtype=np.int64)
    if k < n:
        kth = -np.partition(-scores, k - 1)[k - 1]
        cand = np.flatnonzero(scores >= kth)  # every candidate tied with the k-th, so ties break by position
    else:
        cand = np.arange(n)
    return cand[np.lexsort((cand, -scores[cand]))[:k]]
