"""Hybrid search over candidates: what the Qdrant channels and the in-process ANN channel share.

Past a certain size neither channel scores every paragraph for a question: each gives its best candidates
(the lexical channel's top ``K_LEXICAL``, the dense channel's top ``K_DENSE``), every candidate gets the other
channel's score too, and :func:`pipeline.fusion.fuse_candidates` fuses the union with each channel's mean and
standard deviation over the paragraphs searched — known exactly, or estimated on a fixed random sample of
``SAMPLE`` of them (:class:`Sample`). :func:`fuse_top` is that sequence; each channel supplies how it finds
and scores candidates. A candidate is scored in the other channel only if it can still reach the top k: its
fused score, with the other channel's score bounded from above (the lexical top's last score; the dense top's
best), must reach the k-th best of the candidates both channels have scored — Fagin's threshold algorithm's
bound, which changes nothing when the channel tops are exact (at 1M: 81 instead of 435 BM25 look-ups per
question; the dense side rarely prunes, its bound being the best dense score).

At a million paragraphs the fused top 10 often holds paragraphs that are in neither channel's top 100-200
(moderately good in both): 1,000 lexical and 500 dense candidates raised hybrid recall@10 from 0.93 to
0.97-0.99, and an 8,192-paragraph sample did better than 2,048 (``docs/scale.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pipeline.fusion import fuse_candidates, zscore_mix

__all__ = ["K_DENSE", "K_LEXICAL", "SAMPLE", "Sample", "Stats", "dense_combined", "fuse_top"]

K_LEXICAL = 1000
K_DENSE = 500
SAMPLE = 8192

#: a channel's (mean, standard deviation) over the paragraphs searched
Stats = tuple[float, float]
Scores = dict[int, float]


class Sample:
    """A fixed random sample of the searched rows (all of them when they are at most ``size``), one per
    selection, drawn once (seed 0) and kept: the paragraphs the fusion statistics are estimated on."""

    def __init__(self, n: int, size: int = SAMPLE, seed: int = 0) -> None:
        self.n = n
        self.size = size
        self._rng = np.random.default_rng(seed)
        #: the samples drawn, by selection (``rows.tobytes()``; None: every row)
        self.drawn: dict[bytes | None, np.ndarray] = {}

    def searched(self, rows: np.ndarray | None) -> np.ndarray:
        """The rows searched: ``rows``, or every row."""
        return np.arange(self.n) if rows is None else rows

    def rows(self, rows: np.ndarray | None, size: int | None = None) -> np.ndarray:
        """The sample of the searched rows (sorted), of ``size`` rows (default: the sampler's)."""
        key = None if rows is None else rows.tobytes()
        if key not in self.drawn:
            size = self.size if size is None else size
            searched = self.searched(rows)
            take = (
                searched
                if len(searched) <= size
                else np.sort(self._rng.choice(searched, size, replace=False))
            )
            self.drawn[key] = take
        return self.drawn[key]


def dense_combined(
    para: np.ndarray, sent: np.ndarray, first: np.ndarray, q: np.ndarray, w: float
) -> np.ndarray:
    """``DenseIndex.scores``' combined score of paragraphs given by their vectors: ``para`` (n, dim), their
    sentences ``sent`` grouped by paragraph, ``first`` (n + 1) the offsets of their sentences (every
    paragraph has at least one; one without sentences is given its own vector as its sentence)."""
    p = (para @ q).astype(np.float64)
    best = np.maximum.reduceat(sent @ q, first[:-1]).astype(np.float64) if len(sent) else p
    combined: np.ndarray = (1.0 - w) * p + w * best
    return combined


def fuse_top(
    k: int,
    weight: float,
    *,
    lexical_top: Callable[[int], Scores] | None,
    dense_top: Callable[[int], Scores],
    lexical_of: Callable[[Sequence[int]], Scores],
    dense_of: Callable[[Sequence[int]], Scores],
    statistics: Callable[[], tuple[Stats, Stats]],
    k_lexical: int = K_LEXICAL,
    k_dense: int = K_DENSE,
    prune: bool = True,
) -> tuple[list[tuple[int, float]], bool]:
    """The fused top ``k`` of two channels' candidates, best first (ties in row order), and whether the
    lexical channel found any candidate (a paragraph with a query term).

    Args:
        k: results.
        weight: the lexical channel's share.
        lexical_top: the lexical channel's best ``n`` rows and scores, rows without a query term left out
            (None: the lexical channel is off, and the dense candidates are ranked by their dense score).
        dense_top: the dense channel's best ``n`` rows and (combined) scores.
        lexical_of, dense_of: each channel's scores of the given rows.
        statistics: each channel's (mean, standard deviation) over the paragraphs searched.
        k_lexical, k_dense: candidates taken from each channel (at least ``k``).
        prune: score a candidate in the other channel only when its fused score, bounded from above by
            that channel's best possible score for it, can still reach the top ``k`` of the candidates
            scored in both (the threshold algorithm's bound); False: score every candidate in both.
            The top ``k`` is the same either way when the dense channel's top is exact.
    """
    n_lex = max(k_lexical, k)
    lex = dict(lexical_top(n_lex)) if lexical_top is not None else {}
    any_term = bool(lex)
    dense = dict(dense_top(max(k_dense, k)))
    if lexical_top is None:
        return sorted(dense.items(), key=lambda x: (-x[1], x[0]))[:k], any_term
    ls, ds = statistics()
    if not prune:
        lex.update(lexical_of([r for r in dense if r not in lex]))
        dense.update(dense_of([r for r in lex if r not in dense]))
        return fuse_candidates(lex, dense, weight, ls, ds)[:k], any_term

    def fused(lx: Sequence[float], dn: Sequence[float]) -> np.ndarray:
        return zscore_mix(np.asarray(lx, np.float64), np.asarray(dn, np.float64), weight, ls, ds)

    def kth(rows: Sequence[int]) -> float:
        """The k-th best fused score among fully scored rows (-inf while fewer than k): a candidate whose
        fused score cannot reach it cannot be in the top k."""
        if len(rows) < k:
            return -np.inf
        f = fused([lex[r] for r in rows], [dense[r] for r in rows])
        return float(np.partition(f, len(f) - k)[len(f) - k]) - 1e-9 * (1.0 + abs(float(f.max())))

    # upper bounds on a channel's score of a row outside its candidates: the lexical top is exact (the
    # last candidate's score, or 0 once the channel has given every paragraph with a query term); the
    # dense top is as good as the channel's search (its best score: exact when the search is)
    lex_cap = max(min(lex.values()), 0.0) if len(lex) >= n_lex else 0.0
    dense_cap = max(dense.values(), default=0.0)
    known = [r for r in dense if r in lex]
    only_dense = [r for r in dense if r not in lex]
    bound = fused([lex_cap] * len(only_dense), [dense[r] for r in only_dense])
    theta = kth(known)
    need = [r for r, b in zip(only_dense, bound.tolist(), strict=True) if b >= theta]
    lex.update(lexical_of(need))
    known += need
    only_lex = [r for r in lex if r not in dense]
    bound = fused([lex[r] for r in only_lex], [dense_cap] * len(only_lex))
    theta = kth(known)
    need = [r for r, b in zip(only_lex, bound.tolist(), strict=True) if b >= theta]
    dense.update(dense_of(need))
    known += need
    return fuse_candidates({r: lex[r] for r in known}, {r: dense[r] for r in known}, weight, ls, ds)[
        :k
    ], any_term
