"""The in-process channels: the library's BM25 index and dense index in this process, fused exactly over every
paragraph searched (the default backend)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from pipeline.backends.base import Scored
from pipeline.fusion import fuse
from pipeline.ranking import top_k

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.dense import DenseIndex
    from pipeline.lexical import BM25Index
    from pipeline.plan import QueryPlan

__all__ = ["LocalChannels"]


class LocalChannels:
    """BM25 and dense scores of every paragraph, fused; each index is asked for only when a question needs it.

    Args:
        cfg: settings (fusion, sentence weight).
        lexical: gives the library's BM25 index (loaded on first call).
        dense: gives the library's dense index.
    """

    def __init__(
        self, cfg: Config, lexical: Callable[[], BM25Index], dense: Callable[[], DenseIndex]
    ) -> None:
        self.cfg = cfg
        self._lexical = lexical
        self._dense = dense

    @property
    def term_id(self) -> dict[str, int]:
        return self._lexical().term_id

    @property
    def idf(self) -> np.ndarray:
        return self._lexical().idf

    def close(self) -> None:
        """Nothing to release (the indexes belong to the retriever)."""

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
        """See :meth:`pipeline.backends.base.Channels.search`: here fusion runs
        over every searched paragraph."""
        cfg = self.cfg
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
