"""Fusion: one score per paragraph from the lexical and dense channels' scores over all paragraphs.

Each channel is normalised over the paragraphs — "zscore" (default: how far a paragraph stands out from
the rest, which keeps a weak BM25 match from looking like a strong one), "minmax", or "rrf" (reciprocal
rank) — and the two are mixed with a weight that depends on the query's language: Chinese queries share
words with the report, English ones reach it mostly through the embeddings. The weights were chosen on the
development set (see README's ablation). :func:`fuse_candidates` does the same z-score fusion when only
candidates are scored and each channel's mean and standard deviation are known (the Qdrant backend).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np

from pipeline.ranking import top_k

Fusion = Literal["zscore", "minmax", "rrf"]
FUSIONS: tuple[Fusion, ...] = ("zscore", "minmax", "rrf")


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi - lo <= 1e-12:
        return np.zeros_like(x, dtype=np.float64)
    return (x - lo) / (hi - lo)


def _standardize(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
    """``(x - mean) / sd``; zeros when ``sd`` is 0 (a channel that cannot tell paragraphs apart)."""
    if sd <= 1e-12:
        return np.zeros_like(x, dtype=np.float64)
    return (x - mean) / sd


def _zscore(x: np.ndarray) -> np.ndarray:
    return _standardize(x, float(x.mean()), float(x.std()))


def _rrf(x: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(x))
    ranks[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
    return 1.0 / (k + ranks)


def lexical_weight(lang: str, weight_zh: float, weight_en: float, coverage: float = 1.0) -> float:
    """The lexical channel's share for a query: ``weight_zh`` scaled by coverage
    for Chinese, else ``weight_en``.

    ``coverage`` (0–1) is the share of a Chinese query's IDF mass that the index vocabulary knows. A
    paraphrase in everyday words ("假药", "海匪") has little of it, and BM25's few weak matches should then
    not outvote the embeddings.
    """
    return weight_zh * coverage if lang == "zh" else weight_en


def fuse(
    lexical: np.ndarray | None,
    dense: np.ndarray | None,
    weight: float,
    method: Fusion = "zscore",
    rrf_k: int = 60,
) -> np.ndarray:
    """Combine channel scores over all paragraphs: ``weight * norm(lexical) + (1 - weight) * norm(dense)``.

    Args:
        lexical: BM25 score of every paragraph, or None when the mode skips the channel.
        dense: dense score of every paragraph, or None.
        weight: the lexical channel's share (:func:`lexical_weight`).
        method: "zscore", "minmax" or "rrf".
        rrf_k: the constant of reciprocal-rank fusion.

    Returns:
        float64 scores, one per paragraph; a single channel's scores unchanged when the other is None.
    """
    if lexical is None and dense is None:
        raise ValueError("fuse needs at least one channel")
    if lexical is None:
        return np.asarray(dense, dtype=np.float64)
    if dense is None:
        return np.asarray(lexical, dtype=np.float64)
    if method == "zscore":
        return weight * _zscore(lexical) + (1 - weight) * _zscore(dense)
    if method == "minmax":
        return weight * _minmax(lexical) + (1 - weight) * _minmax(dense)
    if method == "rrf":
        return weight * _rrf(lexical, rrf_k) + (1 - weight) * _rrf(dense, rrf_k)
    raise ValueError(f"unknown fusion {method!r} (use {', '.join(FUSIONS)})")


def fuse_candidates(
    lexical: Mapping[int, float],
    dense: Mapping[int, float],
    weight: float,
    lexical_stats: tuple[float, float],
    dense_stats: tuple[float, float],
) -> list[tuple[int, float]]:
    """:func:`fuse` (``method="zscore"``) over candidate rows only, with the channels' population mean and
    standard deviation supplied (exact ones give fuse's scores exactly; estimates from a sample of
    paragraphs give approximations): how the Qdrant backend fuses, which scores only each channel's
    candidates (:mod:`pipeline.backends.channels`).

    Args:
        lexical: exact BM25 of every candidate (0 for one without a query term).
        dense: exact combined dense score of every candidate.
        weight: the lexical channel's share (``fusion.lexical_weight``).
        lexical_stats: ``(mean, std)`` of BM25 over all paragraphs.
        dense_stats: ``(mean, std)`` of the dense score over all paragraphs.

    Returns:
        ``(row, fused)`` best first, ties in row order.
    """
    rows = sorted(set(lexical) | set(dense))
    if not rows:
        return []
    lx = np.array([lexical.get(r, 0.0) for r in rows], dtype=np.float64)
    dn = np.array([dense[r] for r in rows], dtype=np.float64)
    fused = zscore_mix(lx, dn, weight, lexical_stats, dense_stats)
    order = top_k(fused, len(rows))
    return [(rows[i], float(fused[i])) for i in order]


def zscore_mix(
    lexical: np.ndarray,
    dense: np.ndarray,
    weight: float,
    lexical_stats: tuple[float, float],
    dense_stats: tuple[float, float],
) -> np.ndarray:
    """``weight * z(lexical) + (1 - weight) * z(dense)`` with given ``(mean, std)`` per channel (a channel
    whose standard deviation is 0 contributes 0): :func:`fuse_candidates`' score, increasing in both
    channels' scores (so it also bounds a candidate's fused score from bounds on its channel scores)."""
    mixed: np.ndarray = weight * _standardize(lexical, *lexical_stats) + (1 - weight) * _standardize(
        dense, *dense_stats
    )
    return mixed
