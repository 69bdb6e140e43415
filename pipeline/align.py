"""Sentence alignment of a paragraph's language versions, the way Bertalign does it (Liu & Zhu 2022).

A document's language versions share their paragraph numbering, so aligning two versions is aligning the
sentences of two same-numbered paragraphs. The sentences are already embedded — the dense index holds a
vector for every sentence of every version, from one multilingual model — so alignment costs no model call:

* a **bead** pairs ``a`` consecutive sentences of one version with ``b`` of the other (1–1, 1–2, 2–1, 1–3,
  3–1, 2–2; 1–0 and 0–1 for a sentence the other version does not have);
* a bead's score is the cosine of the two sides' merged vectors (each side's sentence vectors summed and
  normalised: Bertalign embeds the concatenated sentences instead, which would need the model at query
  time), times Bertalign's length penalty ``log2(1 + min/max)`` of the two sides' character lengths, each
  taken as a share of its whole paragraph (so Chinese and English lengths compare); a 1–0 or 0–1 bead
  scores Bertalign's ``skip`` (-0.1);
* dynamic programming over the paragraph picks the bead sequence with the highest total score (a
  paragraph holds a few sentences, so the whole grid is searched: Bertalign's first pass, which finds 1–1
  anchors to narrow the search in a whole book, is not needed).

:class:`VersionAligner` serves the retriever: for a hit shown in one version it gives the other versions of
the paragraph with their alignment and the counterpart of the hit's answer sentence. Measured on a written
test pair (an English version of CTOC/COP/2012/7 with hand-made gold beads): ``tests/test_align.py`` and
README ("Versions side by side").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pipeline.corpus import Paragraph
    from pipeline.dense import DenseIndex
    from pipeline.library import Library

#: The bead shapes searched: (sentences of the source, sentences of the target).
BEADS: tuple[tuple[int, int], ...] = ((1, 1), (1, 2), (2, 1), (1, 3), (3, 1), (2, 2), (1, 0), (0, 1))
#: The score of a 1–0 or 0–1 bead (Bertalign's default).
SKIP = -0.1


@dataclass(frozen=True)
class Bead:
    """Sentences of two versions that say the same thing.

    Attributes:
        source: indices of the source paragraph's sentences (consecutive; empty for a 0–1 bead).
        target: indices of the target paragraph's sentences.
        score: the bead's score (cosine × length penalty; :data:`SKIP` for 1–0 and 0–1).
    """

    source: tuple[int, ...]
    target: tuple[int, ...]
    score: float


def _merged(vecs: np.ndarray, start: int, count: int) -> np.ndarray:
    v: np.ndarray = vecs[start : start + count].sum(axis=0)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def align(src: np.ndarray, tgt: np.ndarray, src_len: Sequence[int], tgt_len: Sequence[int]) -> list[Bead]:
    """Align two sentence sequences (unit vectors ``src`` (n, d), ``tgt`` (m, d), and character lengths).

    Returns:
        the beads in reading order; every sentence of both sides is in exactly one bead.
    """
    n, m = len(src_len), len(tgt_len)
    if n == 0 or m == 0:
        return [Bead((i,), (), SKIP) for i in range(n)] + [Bead((), (j,), SKIP) for j in range(m)]
    src_share = np.cumsum([0, *src_len], dtype=np.float64) / max(1, sum(src_len))
    tgt_share = np.cumsum([0, *tgt_len], dtype=np.float64) / max(1, sum(tgt_len))
    best = np.full((n + 1, m + 1), -np.inf)
    best[0, 0] = 0.0
    back: dict[tuple[int, int], tuple[int, int, float]] = {}
    for i in range(n + 1):
        for j in range(m + 1):
            if i == 0 and j == 0:
                continue
            for a, b in BEADS:
                if a > i or b > j or best[i - a, j - b] == -np.inf:
                    continue
                if a == 0 or b == 0:
                    s = SKIP
                else:
                    cos = float(_merged(src, i - a, a) @ _merged(tgt, j - b, b))
                    x = src_share[i] - src_share[i - a]
                    y = tgt_share[j] - tgt_share[j - b]
                    s = cos * math.log2(1.0 + min(x, y) / max(x, y)) if max(x, y) > 0 else cos
                if best[i - a, j - b] + s > best[i, j]:
                    best[i, j] = best[i - a, j - b] + s
                    back[i, j] = (a, b, s)
    out: list[Bead] = []
    i, j = n, m
    while i or j:
        a, b, s = back[i, j]
        out.append(Bead(tuple(range(i - a, i)), tuple(range(j - b, j)), s))
        i, j = i - a, j - b
    return out[::-1]


def counterpart(beads: Sequence[Bead], sentences: Sequence[int]) -> list[int]:
    """The target sentences aligned with any of the source ``sentences``, in order."""
    want = set(sentences)
    return sorted({t for bead in beads if want & set(bead.source) for t in bead.target})


def _spans(p: Paragraph, indices: Sequence[int]) -> list[int] | None:
    if not indices:
        return None
    return [int(p.sentences[indices[0]].start), int(p.sentences[indices[-1]].end)]


def covered(p: Paragraph, span: tuple[int, int]) -> list[int]:
    """Indices of ``p``'s sentences that overlap ``[start, end)`` of its full text."""
    a, b = span
    return [i for i, s in enumerate(p.sentences) if s.start < b and s.end > a]


class VersionAligner:
    """The other language versions of a paragraph, each with its sentence alignment to the shown one.

    Args:
        library: the library (its documents' versions share their numbering).
        dense: gives the library's dense index (its sentence vectors), or None when there is none; read only
            when a paragraph has another version.
    """

    def __init__(self, library: Library, dense: Callable[[], DenseIndex | None]) -> None:
        self.library = library
        self._get_dense = dense
        self._dense: list[DenseIndex | None] = []  # asked once: a library without one is not asked again
        self._cache: dict[tuple[int, int], list[Bead]] = {}

    def _vectors(self, p: Paragraph) -> np.ndarray | None:
        if not self._dense:
            self._dense.append(self._get_dense())
        dense = self._dense[0]
        if dense is None:
            return None
        rows = dense.sentence_rows(self.library.row(p))
        vecs = np.asarray(dense.sentences[rows], dtype=np.float32)
        return vecs if len(vecs) == len(p.sentences) else None

    def beads(self, p: Paragraph, q: Paragraph) -> list[Bead] | None:
        """``p``'s sentences (source) aligned with ``q``'s (target); None without sentence vectors."""
        key = (self.library.row(p), self.library.row(q))
        if key not in self._cache:
            src, tgt = self._vectors(p), self._vectors(q)
            if src is None or tgt is None:
                return None
            self._cache[key] = align(
                src, tgt, [s.end - s.start for s in p.sentences], [s.end - s.start for s in q.sentences]
            )
        return self._cache[key]

    def versions(self, p: Paragraph, answer: tuple[int, int] | None = None) -> list[dict[str, Any]]:
        """Each other version of ``p``: ``{"lang", "citation", "text"}``, and when its sentences align,
        ``"alignment"`` — ``{"source": [start, end] | None, "target": [start, end] | None, "score"}`` per
        bead, offsets into ``p``'s and this version's full text — and, for an ``answer`` span of ``p`` that
        is not the whole paragraph, ``"answer"`` and ``"answer_span"``: the aligned sentences here."""
        out = []
        for q in self.library.parallel(p):
            v: dict[str, Any] = {"lang": q.lang, "citation": q.citation, "text": q.full_text}
            beads = self.beads(p, q)
            if beads is not None:
                v["alignment"] = [
                    {
                        "source": _spans(p, b.source),
                        "target": _spans(q, b.target),
                        "score": round(b.score, 4),
                    }
                    for b in beads
                ]
                whole = answer is None or (answer[0] <= 0 and answer[1] >= len(p.full_text))
                there = [] if whole else counterpart(beads, covered(p, answer or (0, 0)))
                if there:
                    a, b = _spans(q, there) or [0, 0]
                    v["answer"], v["answer_span"] = q.full_text[a:b], [a, b]
            out.append(v)
        return out
