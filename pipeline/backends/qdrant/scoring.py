"""Exact channel scores of the engine's candidates, recomputed client-side from their stored vectors.

The engine ranks (float32); these functions give back the project's own numbers: BM25 with
:class:`~pipeline.lexical.BM25Index`'s float64 expression from the stored term-frequency parts (whose integer
term frequency is recovered and checked), and the dense scores as ``DenseIndex.scores`` computes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.backends.qdrant.engines import PARA, SENT, SPARSE, DamagedCollection, _Hit


@dataclass(frozen=True)
class DenseRow:
    """One paragraph's dense scores for a query (the fields of ``DenseIndex.scores`` at its row).

    Attributes:
        row: the paragraph's row.
        combined: ``(1 - w) * paragraph + w * sentence``.
        paragraph: paragraph cosine.
        sentence: best sentence cosine (the paragraph cosine when it has no sentences).
        best_sentence: row of that sentence in ``DenseIndex.sentences`` (-1 when it has none).
    """

    row: int
    combined: float
    paragraph: float
    sentence: float
    best_sentence: int


def _term_frequency(v: float, norm: float, k1: float) -> float:
    """The integer term frequency whose stored (float32) BM25 tf part is ``v``, checked exactly."""
    if k1 == 0.0:
        return 1.0  # every tf gives 1.0: the tf part does not depend on it
    target = np.float32(v)
    guess = v * norm / (k1 + 1.0 - v) if v < k1 + 1.0 else 1e9
    t0 = max(1, round(guess))
    for t in (t0, t0 - 1, t0 + 1):
        if t >= 1 and np.float32(t * (k1 + 1.0) / (t + norm)) == target:
            return float(t)
    raise DamagedCollection(
        f"stored BM25 value {v!r} matches no term frequency (norm {norm!r}): collection damaged?"
    )


def _term_frequencies(v: np.ndarray, norm: np.ndarray, k1: float) -> np.ndarray:
    """:func:`_term_frequency` for arrays of stored values (float32) and their documents' norms."""
    if k1 == 0.0:
        return np.ones(len(v))
    v64 = v.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.where(v64 < k1 + 1.0, v64 * norm / (k1 + 1.0 - v64), 1e9)
    t0 = np.maximum(1.0, np.rint(guess))
    tf = np.full(len(v), np.nan)
    for t in (t0, t0 - 1.0, t0 + 1.0):
        ok = np.isnan(tf) & (t >= 1.0) & ((t * (k1 + 1.0) / (t + norm)).astype(np.float32) == v)
        tf[ok] = t[ok]
    if np.isnan(tf).any():
        bad = int(np.flatnonzero(np.isnan(tf))[0])
        raise DamagedCollection(
            f"stored BM25 value {float(v[bad])!r} matches no term frequency "
            f"(norm {float(norm[bad])!r}): collection damaged?"
        )
    return tf


def _complete(hits: list[_Hit], exact: list[tuple[int, float]], k: int, limit: int) -> bool:
    """Whether the engine's ``limit`` candidates surely hold the exact top ``k``: it returned fewer than it
    was asked (every match), or its last score (float32) is clearly below the exact k-th score."""
    if len(hits) < limit or not exact:
        return True
    if len(exact) < k:
        return False
    kth = exact[k - 1][1]
    last = min(h.score for h in hits)
    return last < kth - 1e-4 * (1.0 + abs(kth))


def _rescore_lexical(
    tab: Mapping[str, Any], weights: list[tuple[int, float]], hits: list[_Hit]
) -> list[tuple[int, float]]:
    """Exact BM25 of the candidates, from their stored values and lengths: BM25Index's float64
    expression, term by term in the same order, so the scores are the very same numbers.

    Args:
        tab: the collection's lexical tables (``QdrantBackend.lexical_tables()``).
        weights: the query's slots and summed weights (``QdrantBackend.query_weights()``).
        hits: the candidates, with their sparse vectors and ``_dl`` payload.

    Returns:
        ``(row, score)`` of the candidates holding a query term, best first, ties in row order.
    """
    if not hits:
        return []
    k1, b, avgdl, idf = tab["k1"], tab["b"], tab["avgdl"], tab["idf"]
    idx, val = [], []
    for h in hits:
        sv = h.vectors.get(SPARSE)
        idx.append(np.asarray(sv.indices if sv is not None else [], dtype=np.int64))
        val.append(np.asarray(sv.values if sv is not None else [], dtype=np.float32))
    owner = np.repeat(np.arange(len(hits), dtype=np.int64), [len(i) for i in idx])
    keys = (owner << 32) | np.concatenate(idx)
    vals = np.concatenate(val)
    order = np.argsort(keys, kind="stable")
    keys, vals = keys[order], vals[order]
    dl = np.array([float(h.payload["_dl"]) for h in hits])
    norm = k1 * (1.0 - b + b * dl / avgdl)
    score = np.zeros(len(hits))
    touched = np.zeros(len(hits), dtype=bool)
    base = np.arange(len(hits), dtype=np.int64) << 32
    for d, w in weights:
        want = base | d
        pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        present = keys[pos] == want if len(keys) else np.zeros(len(hits), dtype=bool)
        if not present.any():
            continue
        tf = _term_frequencies(vals[pos][present], norm[present], k1)
        contrib = w * (float(idf[d]) * (tf * (k1 + 1.0) / (tf + norm[present])))
        score[present] = score[present] + contrib
        touched |= present
    out = [(hits[i].row, float(score[i])) for i in np.flatnonzero(touched)]
    out.sort(key=lambda x: (-x[1], x[0]))
    return out


def _rescore_dense(q: np.ndarray, w: float, hits: list[_Hit]) -> list[DenseRow]:
    """Exact dense scores of the candidates from their stored vectors, as ``DenseIndex.scores`` computes
    them, best first, ties in row order."""
    out = []
    for h in hits:
        para = np.asarray(h.vectors[PARA], dtype=np.float32)
        sent = np.asarray(h.vectors[SENT], dtype=np.float32)
        p64 = float(np.float32(para @ q))
        ns = int(h.payload.get("_ns", 0))
        if ns:
            cos = sent @ q
            j = int(np.argmax(cos))
            best, srow = float(cos[j]), int(h.payload["_s0"]) + j
        else:
            best, srow = p64, -1
        out.append(DenseRow(h.row, (1.0 - w) * p64 + w * best, p64, best, srow))
    out.sort(key=lambda d: (-d.combined, d.row))
    return out
