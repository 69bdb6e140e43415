"""``pipeline build``: bring every artefact under ``indexes/`` up to date, rebuilding only what changed."""

from __future__ import annotations

import time
from collections.abc import Iterator

from pipeline.config import Config


def build_all(cfg: Config, force: bool = False, lexical_only: bool = False) -> Iterator[str]:
    """Build or refresh the lexical index, the converted model and the dense index.

    Each stage checks its manifest first and leaves an up-to-date artefact alone (``force`` rebuilds).

    Yields:
        One progress line per stage, with its time.
    """
    from pipeline import lexical
    from pipeline.analyze import Analyzer
    from pipeline.ingest import load_corpus
    from pipeline.store import is_current

    t = time.perf_counter()
    corpus = load_corpus(cfg)
    yield f"ingest: {len(corpus.paragraphs)} paragraphs, {sum(len(p.sentences) for p in corpus.paragraphs)} sentences ({time.perf_counter() - t:.2f} s)"

    t = time.perf_counter()
    analyzer = Analyzer(cfg)
    expected = lexical.lexical_manifest(cfg, corpus, analyzer)
    if force or not is_current(lexical.lexical_dir(cfg), expected):
        lexical.build_lexical_index(cfg, corpus, analyzer)
        yield f"lexical: built BM25 index ({time.perf_counter() - t:.2f} s)"
    else:
        yield "lexical: up to date"
    if lexical_only:
        return

    from pipeline import dense
    from pipeline.models.convert import ensure_model

    if cfg.model is None:
        t = time.perf_counter()
        path = ensure_model(cfg, force=force)
        yield f"model: {path} ({time.perf_counter() - t:.2f} s)"
    t = time.perf_counter()
    index, rebuilt = dense.ensure_dense_index(cfg, corpus, force=force, report=True)
    what = f"embedded {rebuilt} new texts" if rebuilt else "up to date"
    yield f"dense: {what}, {index.paragraphs.shape[0]} paragraphs × {index.paragraphs.shape[1]} dims ({time.perf_counter() - t:.2f} s)"
