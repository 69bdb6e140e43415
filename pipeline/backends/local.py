"""The in-process channels: the library's BM25 index and dense index in this process (the default backend).

A library of at most ``cfg.ann_threshold`` paragraphs (``ann=auto``) is fused exactly over every paragraph
searched. A larger one (or ``ann=on``) finds its dense candidates in the ANN index (:mod:`pipeline.ann`) and
is fused over candidates as the Qdrant channels fuse (:func:`pipeline.backends.candidates.fuse_top`): the
lexical channel's top ``K_LEXICAL`` (BM25 of every paragraph, exact; its mean and standard deviation exact
too) and the dense channel's top ``K_DENSE`` among the ANN's candidates, every candidate scored exactly in
both channels, the dense mean and standard deviation estimated on a fixed sample of ``SAMPLE`` paragraphs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.backends.base import Scored
from pipeline.backends.candidates import SAMPLE, Sample, Stats, dense_combined, fuse_top
from pipeline.fusion import fuse
from pipeline.ranking import top_k

if TYPE_CHECKING:
    from pipeline.ann import AnnIndex
    from pipeline.config import Config
    from pipeline.dense import DenseIndex
    from pipeline.lexical import BM25Index
    from pipeline.plan import QueryPlan

__all__ = ["LocalChannels"]


def _stamp(path: Path) -> tuple[int, int] | None:
    """A directory's identity and last change (None: missing): an artifact swapped in changes it."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


class LocalChannels:
    """BM25 and dense scores, fused; each index is asked for only when a question needs it.

    Args:
        cfg: settings (fusion, sentence weight, the ANN settings).
        lexical: gives the library's BM25 index (loaded on first call).
        dense: gives the library's dense index.
        ann: gives the ANN index for a dense index, or None when the library is scanned exactly (default:
            :func:`pipeline.ann.open_ann`).
    """

    def __init__(
        self,
        cfg: Config,
        lexical: Callable[[], BM25Index],
        dense: Callable[[], DenseIndex],
        ann: Callable[[DenseIndex], AnnIndex | None] | None = None,
    ) -> None:
        self.cfg = cfg
        self._lexical = lexical
        self._dense = dense
        self._open_ann = ann
        self._ann: list[AnnIndex | None] = []  # [] until opened
        #: the ANN index's directory and its stamp when it was passed over (None: not passed over)
        self._passed_over: tuple[Path, tuple[int, int] | None] | None = None
        self._lock = threading.Lock()
        self._sampler: Sample | None = None
        self._samples: dict[bytes | None, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def term_id(self) -> dict[str, int]:
        return self._lexical().term_id

    @property
    def idf(self) -> np.ndarray:
        return self._lexical().idf

    def close(self) -> None:
        """Nothing to release (the indexes belong to the retriever)."""

    def ann(self, dense: DenseIndex) -> AnnIndex | None:
        """The ANN index the dense channel searches (opened once), or None: exact. A library that should
        be searched through its index but found it missing, stale or damaged (``ann=auto``: scanned
        exactly) tries again once the index's directory has changed (``pipeline build`` swapped a new one
        in), so a running server does not keep scanning until restarted."""
        with self._lock:
            if self._ann and self._ann[0] is None and self._passed_over is not None:
                if _stamp(self._passed_over[0]) != self._passed_over[1]:
                    self._ann.clear()
            if not self._ann:
                if self._open_ann is not None:
                    self._ann.append(self._open_ann(dense))
                else:
                    from pipeline.ann import ann_dir, ann_wanted, open_ann

                    where = ann_dir(self.cfg)
                    before = _stamp(where)
                    self._ann.append(open_ann(self.cfg, dense))
                    wanted = ann_wanted(self.cfg, len(dense.numbers))
                    self._passed_over = (where, before) if self._ann[0] is None and wanted else None
            return self._ann[0]

    def search(
        self,
        plan: QueryPlan,
        qv: np.ndarray | None,
        k: int,
        weight: float,
        *,
        lexical: bool,
        rows: np.ndarray | None,
        docs: Sequence[str] | None = None,
        lang: str | None = None,
    ) -> tuple[list[Scored], bool]:
        """See :meth:`pipeline.backends.base.Channels.search`: here fusion runs over every searched
        paragraph, or over the candidates when the library is searched through its ANN index."""
        cfg = self.cfg
        if qv is not None:
            index = self.ann(self._dense())
            if index is not None:
                return self._search_ann(index, self._dense(), plan, qv, k, weight, lexical, rows)
        lx = self._lexical().scores(plan.bm25_terms) if lexical else None
        dense = self._dense() if qv is not None else None
        sc = dense.scores(qv, cfg.sentence_weight) if dense is not None and qv is not None else None
        dn = sc["combined"] if sc is not None else None
        if rows is not None:  # --doc / --lang: fuse over the selected paragraphs only
            lx = lx[rows] if lx is not None else None
            dn = dn[rows] if dn is not None else None
        fused = fuse(lx, dn, weight, cfg.fusion, cfg.rrf_k)
        ranked = [int(i) for i in top_k(fused, k)]
        if (
            dense is None and lx is not None
        ):  # lexical only: a paragraph sharing no term with the query is no answer
            ranked = [i for i in ranked if lx[i] > 0]
        out = []
        for i in ranked:
            row = int(rows[i]) if rows is not None else int(i)
            scores: dict[str, float] = {}
            if lx is not None:
                scores["lexical"] = float(lx[i])
            cosines = None
            if sc is not None and dense is not None:
                scores["dense"] = float(sc["combined"][row])
                scores["dense_paragraph"] = float(sc["paragraph"][row])
                scores["dense_sentence"] = float(sc["sentence"][row])
                cosines = sc["sentences"][dense.sentence_rows(row)]
            out.append(Scored(row, float(fused[i]), scores, cosines))
        return out, bool(lx is not None and np.any(lx > 0))

    # --- through the ANN index -----------------------------------------------------------------------

    def _search_ann(
        self,
        index: AnnIndex,
        dense: DenseIndex,
        plan: QueryPlan,
        qv: np.ndarray,
        k: int,
        weight: float,
        lexical: bool,
        rows: np.ndarray | None,
    ) -> tuple[list[Scored], bool]:
        """Candidates from both channels, scored exactly, fused with the channels' statistics (see the
        module's docstring); a selection (``rows``) of at most ``ann_threshold`` paragraphs is scored
        exactly in full instead of through the index."""
        cfg, w = self.cfg, self.cfg.sentence_weight
        q = np.asarray(qv, dtype=np.float32).reshape(-1)
        lx_all = self._lexical().scores(plan.bm25_terms) if lexical else None
        lx = lx_all if lx_all is None or rows is None else lx_all[rows]  # the searched paragraphs'
        allowed = None
        if rows is not None:
            allowed = np.zeros(len(dense.numbers), dtype=bool)
            allowed[rows] = True

        def lexical_top(n: int) -> dict[int, float]:
            assert lx is not None
            hit = np.flatnonzero(lx > 0)  # a paragraph without a query term is no lexical candidate
            top = hit[top_k(lx[hit], n)]
            return {int(r if rows is None else rows[r]): float(lx[r]) for r in top}

        def dense_of(rs: Sequence[int]) -> dict[int, float]:
            if not len(rs):
                return {}
            combined = dense.row_scores(q, rs, w)["combined"]
            return dict(zip([int(r) for r in rs], combined.tolist(), strict=True))

        def dense_top(n: int) -> dict[int, float]:
            if rows is not None and len(rows) <= cfg.ann_threshold and cfg.ann != "on":
                cands = rows
            else:
                cands, _ = index.candidates(q, cfg.ann_probes, cfg.ann_candidates, allowed)
            scored = dense_of(cands.tolist())
            return dict(sorted(scored.items(), key=lambda x: (-x[1], x[0]))[:n])

        def statistics() -> tuple[Stats, Stats]:
            assert lx is not None
            para, sent, first = self._sample_vectors(dense, rows)
            dn = dense_combined(para, sent, first, q, w)
            return (float(lx.mean()), float(lx.std())), (float(dn.mean()), float(dn.std()))

        ranked, any_term = fuse_top(
            k,
            weight,
            lexical_top=lexical_top if lexical else None,
            dense_top=dense_top,
            lexical_of=lambda rs: {int(r): float(lx_all[r]) for r in rs} if lx_all is not None else {},
            dense_of=dense_of,
            statistics=statistics,
        )
        top = [r for r, _ in ranked]
        sc = dense.row_scores(q, top, w) if top else None
        out = []
        for i, (r, f) in enumerate(ranked):
            assert sc is not None
            scores = {"lexical": float(lx_all[r])} if lx_all is not None else {}
            scores |= {
                "dense": float(sc["combined"][i]),
                "dense_paragraph": float(sc["paragraph"][i]),
                "dense_sentence": float(sc["sentence"][i]),
            }
            cosines = sc["sentences"][int(sc["first"][i]) : int(sc["first"][i + 1])]
            out.append(Scored(r, float(f), scores, cosines))
        return out, any_term

    def _sample_vectors(
        self, dense: DenseIndex, rows: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The statistics sample's paragraph vectors, sentence vectors (a paragraph without sentences: its
        own vector) and sentence offsets, gathered once per selection."""
        with self._lock:
            if self._sampler is None:
                self._sampler = Sample(len(dense.numbers), SAMPLE)
            take = self._sampler.rows(rows)
            key = None if rows is None else rows.tobytes()
            if key not in self._samples:
                para = np.ascontiguousarray(np.asarray(dense.paragraphs[take], dtype=np.float32))
                sents = []
                for j, r in enumerate(take.tolist()):
                    sl = dense.sentence_rows(r)
                    sents.append(dense.sentences[sl] if sl.stop > sl.start else para[j : j + 1])
                sent = np.ascontiguousarray(np.concatenate(sents), dtype=np.float32)
                first = np.concatenate([[0], np.cumsum([len(s) for s in sents])]).astype(np.int64)
                self._samples[key] = (para, sent, first)
            return self._samples[key]
