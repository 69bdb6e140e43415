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
from pipeline.library import (
    Library, collect_garbage, key_of, load_library, read_catalog, refresh_catalog, stray_files, write_catalog,
)
from pipeline.store import build_lock

if TYPE_CHECKING:
    from pipeline.analyze import Analyzer
    from pipeline.corpus import Corpus
    from pipeline.dense import DenseIndex
    from pipeline.lexical import BM25Index

Log = Callable[[str], None]


def build_lexical(cfg: Config, corpus: Corpus, analyzer: Analyzer, log: Log | None = None,
                  key: str | None = None) -> BM25Index:
    """Build and save one report's BM25 index under the build lock (another process may have built it meanwhile)."""
    with build_lock(cfg.index_dir, log=log):
        return _lexical_stage(cfg, corpus, analyzer, key=key)[0]


def build_dense(cfg: Config, corpus: Corpus, force: bool = False, log: Log | None = None, model: object = None,
                key: str | None = None) -> DenseIndex:
    """Convert the model if needed, then embed what the verified embedding cache lacks, under the build lock.

    Args:
        cfg: settings.
        corpus: the parsed report.
        force: reconvert the model and re-embed every text.
        log: progress messages.
        model: an already loaded ``SentenceTransformer`` (tests, benchmarks).
        key: the report's index folder (default: from its identity and hash).
    """
    with build_lock(cfg.index_dir, log=log):
        return _dense_stage(cfg, corpus, force, model, key=key)[0]


def _lexical_stage(cfg: Config, corpus: Corpus, analyzer: Analyzer, force: bool = False,
                   key: str | None = None) -> tuple[BM25Index, bool]:
    """The verified index when current (and not ``force``), else a new one; and whether it was built."""
    from pipeline import lexical

    if not force and lexical.lexical_is_current(cfg, corpus, analyzer, key):
        return lexical.load_lexical_index(cfg, corpus, analyzer, key), False
    return lexical.build_lexical_index(cfg, corpus, analyzer, key=key), True


def _dense_stage(cfg: Config, corpus: Corpus, force: bool = False, model: object = None,
                 convert: bool = True, key: str | None = None, embedder: object = None) -> tuple[DenseIndex, bool]:
    """The verified dense index when current (and not ``force``), else one embedded anew (reusing only
    verified vectors of the same embedder unless ``force``); and whether it was built. ``convert`` first
    converts (or verifies) the default model; ``embedder`` replaces the model's passage embedder (tests)."""
    from pipeline import dense
    from pipeline.embed import PassageEmbedder

    if embedder is None:
        if convert and cfg.model is None:
            from pipeline.models.convert import ensure_model

            ensure_model(cfg, force=force)
        embedder = PassageEmbedder(cfg, model=model, verify="full")
    if not force:
        try:
            return dense.load_dense_index(cfg, corpus, embedder.identity, key), False  # type: ignore[attr-defined]
        except (dense.MissingIndexError, dense.StaleIndexError):
            pass
    return dense.build_dense_index(cfg, corpus, embedder, force=force, key=key), True  # type: ignore[arg-type]


def clean_leftovers(cfg: Config) -> list[Path]:
    """Remove what interrupted writes left beside every artifact of the home (staging and ``.old`` directories,
    temporary files), each under its folder's lock; returns what was removed.

    :meth:`pipeline.store.Artifact.write` cleans an artifact's leftovers only when it writes that artifact, so a
    build that finds everything up to date would otherwise leave them for good.
    """
    from pipeline.dense import dense_artifact
    from pipeline.lexical import lexical_artifact
    from pipeline.models.convert import model_artifact
    from pipeline.translate.cedict import reverse_index_artifact

    arts = [reverse_index_artifact(cfg.index_dir / "translate"), model_artifact(cfg)]
    docs = cfg.index_dir / "docs"
    if docs.is_dir():
        for d in sorted(p for p in docs.iterdir() if p.is_dir()):
            arts += [lexical_artifact(d / "lexical"), dense_artifact(d / "dense")]
    removed: list[Path] = []
    for art in arts:
        if art.directory.parent.is_dir():
            with build_lock(art.directory.parent):
                removed += art.clean_leftovers()
    return removed


def build_all(cfg: Config, force: bool = False, lexical_only: bool = False, log: Log | None = None) -> Iterator[str]:
    """Build or refresh every report's lexical index, the converted model and every report's dense index.

    The catalog is brought up to date first (a report whose file changed gets its new hash and paragraph
    count; a home without a catalog gets one for its report). Each stage verifies its artifact first and
    leaves a current one alone (``force`` rebuilds all).

    Yields:
        One progress line per stage, with its time.
    """
    from pipeline.analyze import Analyzer

    t = time.perf_counter()
    with build_lock(cfg.index_dir, log=log):
        library = load_library(cfg)
        n_sent = sum(len(p.sentences) for p in library.paragraphs)
        yield (f"ingest: {len(library.documents)} report(s), {len(library.paragraphs)} paragraphs, {n_sent} sentences "
               f"({time.perf_counter() - t:.2f} s)")
        for path in stray_files(cfg, library.entries):
            yield f"note: {path} is not in the library (not in corpus/documents.json); `pipeline add` it to search it"
        if removed := clean_leftovers(cfg) + collect_garbage(cfg, library.entries):
            yield f"removed {len(removed)} leftover(s) of interrupted writes and removed reports"
        old_entries = library.entries
        library = Library(library.documents, refresh_catalog(library))
        t = time.perf_counter()
        analyzer = Analyzer(cfg)
        built = [key for doc, key in _keys(library) if _lexical_stage(cfg, doc, analyzer, force, key)[1]]
        yield (f"lexical: built the BM25 index of {len(built)} report(s) ({time.perf_counter() - t:.2f} s)" if built
               else "lexical: up to date (verified)")
        t = time.perf_counter()
        analyzer.translator  # noqa: B018 - build (or verify) the translator's dictionary cache now, not at the first search
        yield f"translator: ready ({time.perf_counter() - t:.2f} s)"
        if not lexical_only:
            if cfg.model is None:
                from pipeline.models.convert import ensure_model

                t = time.perf_counter()
                path = ensure_model(cfg, force=force)
                yield f"model: {path} (verified, {time.perf_counter() - t:.2f} s)"
            t = time.perf_counter()
            from pipeline.embed import PassageEmbedder

            embedder = PassageEmbedder(cfg, verify="full")  # the model's files hashed once, not per report
            embedded, rebuilt, shape = 0, 0, [0, 0]
            for doc, key in _keys(library):
                index, was_built = _dense_stage(cfg, doc, force, convert=False, key=key, embedder=embedder)
                embedded += index.embedded
                rebuilt += was_built
                shape = [shape[0] + index.paragraphs.shape[0], index.paragraphs.shape[1]]
            what = "up to date (verified)"
            if rebuilt:
                what = f"embedded {embedded} texts" + (" (all: --force)" if force else ", reused the rest")
            yield f"dense: {what}, {shape[0]} paragraphs × {shape[1]} dims ({time.perf_counter() - t:.2f} s)"
        if library.entries != old_entries or read_catalog(cfg) is None:
            write_catalog(cfg, library.entries)  # after every index it names is written
            yield "catalog: corpus/documents.json updated"
        if cfg.backend == "qdrant":
            yield _upload(cfg, library, analyzer, lexical_only)


def _upload(cfg: Config, library: Library, analyzer: Analyzer, lexical_only: bool) -> str:
    """Put the library into its Qdrant collection (idempotent and resumable; a progress bar on stderr)."""
    from pipeline.backends.channels import upload_library
    from pipeline.dense import load_library_dense
    from pipeline.embed import embedder_identity
    from pipeline.lexical import load_library_lexical

    t = time.perf_counter()
    lexical = load_library_lexical(cfg, library, analyzer)
    dense = None if lexical_only else load_library_dense(cfg, library, embedder_identity(cfg))
    counts = upload_library(cfg, library, lexical, dense)
    kept = counts["skipped"] + counts["trusted"]
    return (f"qdrant: {counts['written']} paragraphs written, {kept} already there and verified, "
            f"{counts['deleted']} removed — collection {cfg.qdrant_collection!r} at {cfg.qdrant_url} "
            f"({time.perf_counter() - t:.1f} s)")


def _keys(library: Library) -> list[tuple[Corpus, str]]:
    return [(doc, key_of(library, doc)) for doc in library.documents]
