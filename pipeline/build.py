"""``pipeline build``: bring every artifact under ``indexes/`` up to date, rebuilding only what changed.

Every stage verifies what it would reuse (manifest inputs and every file's hash) and rebuilds what does not
verify; ``force`` rebuilds everything and re-embeds every text. Builds of one home are serialised by a lock
(:func:`pipeline.store.build_lock`), and each artifact is swapped into place atomically, so a killed build
leaves the previous artifact or the new one, and its leftovers are removed by the next build.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.config import Config
from pipeline.store import build_lock

if TYPE_CHECKING:
    from pipeline.analyze import Analyzer
    from pipeline.corpus import Corpus
    from pipeline.dense import DenseIndex
    from pipeline.lexical import BM25Index

Log = Callable[[str], None]


def build_lexical(cfg: Config, corpus: Corpus, analyzer: Analyzer, log: Log | None = None) -> BM25Index:
    """Build and save the BM25 index under the build lock (another process may have built it meanwhile)."""
    with build_lock(cfg.index_dir, log=log):
        return _lexical_stage(cfg, corpus, analyzer)[0]


def build_dense(cfg: Config, corpus: Corpus, force: bool = False, log: Log | None = None, model: object = None) -> DenseIndex:
    """Convert the model if needed, then embed what the verified embedding cache lacks, under the build lock.

    Args:
        cfg: settings.
        corpus: the parsed report.
        force: reconvert the model and re-embed every text.
        log: progress messages.
        model: an already loaded ``SentenceTransformer`` (tests, benchmarks).
    """
    with build_lock(cfg.index_dir, log=log):
        return _dense_stage(cfg, corpus, force, model)[0]


def _lexical_stage(cfg: Config, corpus: Corpus, analyzer: Analyzer, force: bool = False) -> tuple[BM25Index, bool]:
    """The verified index when current (and not ``force``), else a new one; and whether it was built."""
    from pipeline import lexical

    if not force and lexical.lexical_is_current(cfg, corpus, analyzer):
        return lexical.load_lexical_index(cfg, corpus, analyzer), False
    return lexical.build_lexical_index(cfg, corpus, analyzer), True


def _dense_stage(cfg: Config, corpus: Corpus, force: bool = False, model: object = None,
                 convert: bool = True) -> tuple[DenseIndex, bool]:
    """The verified dense index when current (and not ``force``), else one embedded anew (reusing only
    verified vectors of the same embedder unless ``force``); and whether it was built. ``convert`` first
    converts (or verifies) the default model."""
    from pipeline import dense
    from pipeline.embed import PassageEmbedder

    if convert and cfg.model is None:
        from pipeline.models.convert import ensure_model

        ensure_model(cfg, force=force)
    embedder = PassageEmbedder(cfg, model=model, verify="full")
    if not force:
        try:
            return dense.load_dense_index(cfg, corpus, embedder.identity), False
        except (dense.MissingIndexError, dense.StaleIndexError):
            pass
    return dense.build_dense_index(cfg, corpus, embedder, force=force), True


def clean_leftovers(cfg: Config) -> list[Path]:
    """Remove what interrupted writes left beside every artifact of the home (staging and ``.old`` directories,
    temporary files), each under its folder's lock; returns what was removed.

    :meth:`pipeline.store.Artifact.write` cleans an artifact's leftovers only when it writes that artifact, so a
    build that finds everything up to date would otherwise leave them for good.
    """
    from pipeline.dense import dense_artifact, dense_dir
    from pipeline.lexical import lexical_artifact, lexical_dir
    from pipeline.models.convert import model_artifact
    from pipeline.translate.cedict import reverse_index_artifact

    removed: list[Path] = []
    for art in (lexical_artifact(lexical_dir(cfg)), dense_artifact(dense_dir(cfg)),
                reverse_index_artifact(cfg.index_dir / "translate"), model_artifact(cfg)):
        if art.directory.parent.is_dir():
            with build_lock(art.directory.parent):
                removed += art.clean_leftovers()
    return removed


def build_all(cfg: Config, force: bool = False, lexical_only: bool = False, log: Log | None = None) -> Iterator[str]:
    """Build or refresh the lexical index, the converted model and the dense index.

    Each stage verifies its artifact first and leaves a current one alone (``force`` rebuilds all).

    Yields:
        One progress line per stage, with its time.
    """
    from pipeline.analyze import Analyzer
    from pipeline.ingest import load_corpus

    t = time.perf_counter()
    corpus = load_corpus(cfg)
    n_sent = sum(len(p.sentences) for p in corpus.paragraphs)
    yield f"ingest: {len(corpus.paragraphs)} paragraphs, {n_sent} sentences ({time.perf_counter() - t:.2f} s)"

    with build_lock(cfg.index_dir, log=log):
        if removed := clean_leftovers(cfg):
            yield f"removed {len(removed)} leftover(s) of interrupted writes"
        t = time.perf_counter()
        analyzer = Analyzer(cfg)
        _, built = _lexical_stage(cfg, corpus, analyzer, force)
        yield f"lexical: built the BM25 index ({time.perf_counter() - t:.2f} s)" if built else "lexical: up to date (verified)"
        t = time.perf_counter()
        analyzer.translator  # noqa: B018 - build (or verify) the translator's dictionary cache now, not at the first search
        yield f"translator: ready ({time.perf_counter() - t:.2f} s)"
        if lexical_only:
            return

        if cfg.model is None:
            from pipeline.models.convert import ensure_model

            t = time.perf_counter()
            path = ensure_model(cfg, force=force)
            yield f"model: {path} (verified, {time.perf_counter() - t:.2f} s)"
        t = time.perf_counter()
        index, built = _dense_stage(cfg, corpus, force, convert=False)
        what = "up to date (verified)"
        if built:
            what = f"embedded {index.embedded} texts" + (" (all: --force)" if force else ", reused the rest")
        yield f"dense: {what}, {index.paragraphs.shape[0]} paragraphs × {index.paragraphs.shape[1]} dims ({time.perf_counter() - t:.2f} s)"
