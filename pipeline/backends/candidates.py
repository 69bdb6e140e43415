"""Hybrid search over candidates: what the Qdrant channels and the in-process ANN channel share.

Past a certain size neither channel scores every paragraph for a question: each gives its best candidates
(the lexical channel's top ``K_LEXICAL``, the dense channel's top ``K_DENSE``), every candidate gets the other
channel's score too, and :func:`pipeline.fusion.fuse_candidates` fuses the union with each channel's mean and
standard deviation over the paragraphs searched — known exactly, or estimated on a fixed random sample of
``SAMPLE`` of them (:class:`Sample`). :func:`fuse_top` is that sequence; each channel supplies how it finds
and scores candidates.

At a million paragraphs the fused top 10 often holds paragraphs that are in neither channel's top 100-200
(moderately good in both): 1,000 lexical and 500 dense candidates raised hybrid recall@10 from 0.93 to
0.97-0.99, and an 8,192-paragraph sample did better than 2,048 (``docs/scale.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from pipeline.fusion import fuse_candidates

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
    """
    lex = dict(lexical_top(max(k_lexical, k))) if lexical_top is not None else {}
    any_term = bool(lex)
    dense = dict(dense_top(max(k_dense, k)))
    if lexical_top is None:
        return sorted(dense.items(), key=lambda x: (-x[1], x[0]))[:k], any_term
    lex.update(lexical_of([r for r in dense if r not in lex]))
    dense.update(dense_of([r for r in lex if r not in dense]))
    ls, ds = statistics()
    return fuse_candidates(lex, dense, weight, ls, ds)[:k], any_term
