"""What a question's channels give the retriever, wherever they run: the :class:`Channels` protocol.

Two implementations: :class:`pipeline.backends.local.LocalChannels` (the in-process BM25 and dense indexes,
the default) and :class:`pipeline.backends.channels.QdrantChannels` (a Qdrant collection). The retriever
plans a question, encodes it, asks the channels for the fused top ``k`` and turns each :class:`Scored` row
into a hit with its answer sentence — one question path for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from pipeline.corpus import Paragraph
    from pipeline.plan import QueryPlan

__all__ = ["Channels", "Scored", "one_per_paragraph"]


@dataclass
class Scored:
    """One fused result: its row, fused score, channel scores and, for the dense channel, the cosine of each
    of its sentences (for the answer sentence)."""

    row: int
    fused: float
    scores: dict[str, float]
    sentence_cos: np.ndarray | None


class Channels(Protocol):
    """The lexical and dense channels of a library, fused."""

    @property
    def term_id(self) -> dict[str, int]:
        """The library's vocabulary: term → id (what the planner weighs query terms against)."""
        ...

    @property
    def idf(self) -> np.ndarray:
        """The IDF of each term id."""
        ...

    def search(
        self,
        plan: QueryPlan,
        qv: np.ndarray | None,
        k: int,
        weight: float,
        *,
        lexical: bool,
        rows: np.ndarray | None,
        docs: Sequence[str] | None,
        lang: str | None,
    ) -> tuple[list[Scored], bool]:
        """The fused top ``k`` of a planned question, and whether any paragraph
        searched contains a query term.

        Args:
            plan: the question's plan.
            qv: its query vector, or None (lexical mode).
            k: results.
            weight: the lexical channel's share in fusion.
            lexical: whether the lexical channel runs (hybrid and lexical modes).
            rows: the library rows ``docs``/``lang`` select (None: all).
            docs, lang: the selection itself (for engines that filter by payload).
        """
        ...

    def close(self) -> None:
        """Release what the channels hold."""
        ...


def one_per_paragraph(results: Sequence[Scored], paragraphs: Sequence[Paragraph], lang: str) -> list[Scored]:
    """One result per paragraph of a document, whatever its language versions (UN versions share their
    numbering): the versions of a paragraph among ``results`` (best first) become one result, ranked where its
    best version ranks and scored with that version's fused score; the version kept is the one in ``lang``
    (the query's language, or ``--lang``'s) when it is among them, else the best (the retriever then shows the
    version in ``lang`` when the document has one). Its channel scores are the best of the versions' (so the
    no-answer signal sees the paragraph's best evidence)."""
    groups: dict[tuple[str, str, int], list[Scored]] = {}
    for r in results:
        p = paragraphs[r.row]
        groups.setdefault((p.document, p.part, p.number), []).append(r)
    out = []
    for versions in groups.values():
        best = versions[0]
        shown = next((v for v in versions if paragraphs[v.row].lang == lang), best)
        scores = {key: max(v.scores.get(key, -np.inf) for v in versions) for key in best.scores}
        out.append(Scored(shown.row, best.fused, scores, shown.sentence_cos))
    return out
