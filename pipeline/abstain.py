"""The no-answer signal: does the library seem to answer a question at all?

Retrieval always returns the closest paragraphs; for a question the library does not cover ("What is the
capital of France?", or a UN topic no report treats) they are not answers. The evidence is already in the
dense channel's raw scores of the best candidates (:func:`features`):

* ``d1``: the best paragraph's dense score (the cosine mix of the paragraph and its best sentence) — an
  answerable question has a paragraph that says it; an out-of-scope one only paragraphs on the same general
  subject.
* ``dgap``: how far that score stands above the mean of the next candidates' — an answer stands out, an
  unrelated question finds many paragraphs equally (un)like it.

The evidence is ``d1 + weight × dgap`` (:data:`WEIGHTS`, per language), compared with the language's
threshold (the settings ``no_answer_zh`` and ``no_answer_en``): below it, the answer carries ``no_answer``.
Weights and thresholds were chosen on the development sets — the answerable questions and paraphrases of
``corpus/eval/dev.jsonl`` against ``corpus/eval/out-of-scope.jsonl`` — by ``scripts/calibrate_no_answer.py``,
which prints the trade-off; the separate check set (``out-of-scope-check.jsonl``) was not used for tuning.
The raw BM25 leads, the sentence cosine alone and the query's vocabulary coverage were measured too and
added nothing once paraphrases (answerable questions in other words) count as answerable. Without the dense
channel (the lexical mode), a question none of whose words occurs in the library is the only one flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CANDIDATES", "WEIGHTS", "evidence", "features"]

#: Candidates the signal looks at (the question's top ``k`` is cut after it is measured).
CANDIDATES = 10
#: The weight of ``dgap`` in the evidence, per language (``scripts/calibrate_no_answer.py``).
WEIGHTS: dict[str, float] = {"zh": 0.5, "en": 2.0}


def features(scores: Sequence[dict[str, Any]]) -> dict[str, float] | None:
    """The signal's features from the candidates' channel scores, or None without the dense channel."""
    dense = sorted((float(s["dense"]) for s in scores if "dense" in s), reverse=True)[:CANDIDATES]
    if not dense:
        return None
    rest = dense[1:]
    return {"d1": dense[0], "dgap": dense[0] - (float(np.mean(rest)) if rest else dense[0])}


def evidence(feats: dict[str, float], lang: str) -> float:
    """How strongly the candidates suggest the library answers the question (compared with the threshold)."""
    return feats["d1"] + WEIGHTS.get(lang, WEIGHTS["en"]) * feats["dgap"]
