"""``pipeline build``: bring every artifact under ``indexes/`` up to date, rebuilding only what changed.

Every stage verifies what it would reuse (manifest inputs and every file's hash) and rebuilds what does not
verify; ``force`` rebuilds everything and re-embeds every text. Builds of one home are serialised by a lock
(:func:`pipeline.store.build_lock`), and each artifact is swapped into place atomically, so a killed build
leaves the previous artifact or the new one, and its leftovers are removed by the next build.

Building is always asked for: by ``pipeline build``, ``pipeline serve --build``, :mod:`pipeline.changes` when
a report is added, and the command line's first search in a home that has never been built
(:func:`build_missing`). The retriever only loads.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.catalog import read_catalog, restore_catalog, stray_files, write_catalog, write_entry
from pipeline.config import Config
from pipeline.errors import MissingIndexError, StaleIndexError
from pipeline.layout import catalog_backup_path, dense_dir, docs_root, lexical_dir
from pipeline.library import Library, load_library, refresh_catalog
from pipeline.store import MANIFEST, build_lock

if TYPE_CHECKING:
    from pipeline.analyze import Analyzer
    from pipeline.corpus import Corpus
    from pipeline.dense import DenseIndex
    from pipeline.embed import PassageEmbedder
    from pipeline.lexical import BM25Index

__all__ = [
    "build_all",
    "refresh_ann",
    "build_missing",
    "clean_leftovers",
    "collect_garbage",
    "ensure_dense",
    "ensure_lexical",
    "passage_embedder",
]

Log = Callable[[str], None]


def ensure_lexical(
    cfg: Config, corpus: Corpus, analyzer: Analyzer, key: str, force: bool = False
) -> tuple[BM25Index, bool]:
    """One report's BM25 index: the saved one when it verifies for the current inputs (and not ``force``),
    else a new one, saved; and whether it was built. Call under the build lock."""
    import pipeline.lexical as lx

    if not force:
        try:
            return lx.load_lexical_index(cfg, corpus, analyzer, key), False
        except (MissingIndexError, StaleIndexError):  # a damaged index is stale too
            pass
    return lx.build_lexical_index(cfg, corpus, analyzer, key=key), True


def passage_embedder(cfg: Config, force: bool = False, model: object = None) -> PassageEmbedder:
    """The passage embedder of the configured model, converted (or verified) first when it is the default one;
    its files are hashed once here, so one embedder serves every report of a build."""
    from pipeline.embed import PassageEmbedder

    if cfg.model is None:
        from pipeline.models.convert import ensure_model

        ensure_model(cfg, force=force)
    return PassageEmbedder(cfg, model=model, verify="full")


def ensure_dense(
    cfg: Config,
    corpus: Corpus,
    key: str,
    embedder: Any,
    force: bool = False,
    cache: dict[str, Any] | None = None,
) -> tuple[DenseIndex, bool]:
    """One report's dense index: the saved one when it verifies for this embedder (and not ``force``), else
    one embedded anew — reusing the vectors of ``cache`` (default: every verified index of the home with the
    same embedder; none with ``force``) — and saved; and whether it was built. Call under the build lock."""
    import pipeline.dense as dn

    if not force:
        try:
            return dn.load_dense_index(cfg, corpus, embedder.identity, key), False
        except (MissingIndexError, StaleIndexError):
            pass
    return dn.build_dense_index(cfg, corpus, embedder, force=force, key=key, cache=cache), True


def build_missing(
    cfg: Config, library: Library, *, dense: bool, log: Log | None = None, embedder: Any = None
) -> list[str]:
    """Build the indexes no report has yet (lexical; dense too when ``dense``), under the build lock: the
    first search in a home that was never built. A stale or damaged index is left alone (the search refuses it
    and ``pipeline build`` repairs it). ``embedder`` replaces the model's passage embedder (tests). Returns
    what was built."""
    from pipeline.analyze import Analyzer

    say = log or (lambda _m: None)
    stand_in = embedder
    built: list[str] = []
    with build_lock(cfg.index_dir, log=log):
        lexical_missing = [
            (d, k) for d, k in library.keyed() if not (lexical_dir(cfg, k) / MANIFEST).exists()
        ]
        if lexical_missing:
            analyzer = Analyzer(cfg)
            for doc, key in lexical_missing:
                say(f"pipeline: no lexical index of {doc.label} yet; building it (once)")
                ensure_lexical(cfg, doc, analyzer, key)
                built.append(f"lexical {doc.label}")
        dense_missing = [(d, k) for d, k in library.keyed() if not (dense_dir(cfg, k) / MANIFEST).exists()]
        if dense and dense_missing:
            embedder = embedder or passage_embedder(cfg)
            for doc, key in dense_missing:
                say(f"pipeline: no dense index of {doc.label} yet; embedding it (once, under a minute)")
                ensure_dense(cfg, doc, key, embedder)
                built.append(f"dense {doc.label}")
        if dense and stand_in is None:  # the real model's passage vectors: its query graph too
            from pipeline.embed import ensure_query_graph
            from pipeline.models.location import model_artifact
            from pipeline.models.onnx_encoder import graph_artifact

            model_ready = cfg.model is not None or model_artifact(cfg).exists()
            if model_ready and not graph_artifact(cfg).exists():
                say("pipeline: writing the query encoder's ONNX graph (once)")
                if ensure_query_graph(cfg)[0] is not None:
                    built.append("query encoder graph")
    return built


def collect_garbage(cfg: Config, keep: set[str]) -> list[Path]:
    """Remove the report index folders whose key is not in ``keep`` (the
    catalog's); call under the build lock."""
    root = docs_root(cfg)
    if not root.is_dir():
        return []
    removed = []
    for d in root.iterdir():
        if d.is_dir() and d.name not in keep:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def clean_leftovers(cfg: Config) -> list[Path]:
    """Remove what interrupted writes left beside every artifact of the home (staging and ``.old``
    directories, temporary files), each under its folder's lock; returns what was removed.

    :meth:`pipeline.store.Artifact.write` cleans an artifact's leftovers only when it writes that artifact, so
    a build that finds everything up to date would otherwise leave them for good.
    """
    from pipeline.ann import ann_artifact, ann_dir
    from pipeline.dense import dense_artifact
    from pipeline.lexical import lexical_artifact
    from pipeline.models.convert import model_artifact
    from pipeline.models.onnx_encoder import graph_artifact
    from pipeline.translate.cedict import reverse_index_artifact

    arts = [reverse_index_artifact(cfg.index_dir / "translate"), model_artifact(cfg), graph_artifact(cfg)]
    arts.append(ann_artifact(ann_dir(cfg)))
    docs = docs_root(cfg)
    if docs.is_dir():
        for d in sorted(p for p in docs.iterdir() if p.is_dir()):
            arts += [lexical_artifact(d / "lexical"), dense_artifact(d / "dense")]
    removed: list[Path] = []
    for art in arts:
        if art.directory.parent.is_dir():
            with build_lock(art.directory.parent):
                removed += art.clean_leftovers()
    # files written atomically (store.atomic_open: ".NAME.XXXX.tmp") and left by a kill before their rename:
    # the catalog, its backup and the reports in corpus/, each report's entry (callers hold the home's lock)
    folders = [cfg.corpus_dir] + (sorted(p for p in docs.iterdir() if p.is_dir()) if docs.is_dir() else [])
    for folder in folders:
        for p in folder.glob(".*.tmp") if folder.is_dir() else []:
            if p.is_file() and not p.is_symlink():
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def build_all(
    cfg: Config,
    force: bool = False,
    lexical_only: bool = False,
    log: Log | None = None,
    accept_changes: bool = False,
) -> Iterator[str]:
    """Build or refresh every report's lexical index, the converted model and every report's dense index.

    A missing or damaged catalog is restored first (:func:`pipeline.catalog.restore_catalog`, saying how). A
    report whose text is not the one it was added with is refused unless ``accept_changes`` (then its entry
    gets the new hash and paragraph count); a home without a catalog gets one for its report. Each stage
    verifies its artifact first and leaves a current one alone (``force`` rebuilds all).

    Yields:
        One progress line per stage, with its time.
    """
    from pipeline.analyze import Analyzer

    t = time.perf_counter()
    with build_lock(cfg.index_dir, log=log):
        if restored := restore_catalog(cfg):
            yield restored
        library = load_library(cfg, accept_changes)
        n_sent = sum(len(p.sentences) for p in library.paragraphs)
        yield (
            f"ingest: {len(library.documents)} report(s), {len(library.paragraphs)} paragraphs, "
            f"{n_sent} sentences "
            f"({time.perf_counter() - t:.2f} s)"
        )
        for path in stray_files(cfg, library.entries):
            yield (
                f"note: {path} is not in the library (not in corpus/documents.json); "
                "`pipeline add` it to search it"
            )
        if removed := clean_leftovers(cfg) + collect_garbage(cfg, {e.key for e in library.entries}):
            yield f"removed {len(removed)} leftover(s) of interrupted writes and removed reports"
        old_entries = library.entries
        library = Library(library.documents, refresh_catalog(library))
        t = time.perf_counter()
        analyzer = Analyzer(cfg)
        built = [key for doc, key in library.keyed() if ensure_lexical(cfg, doc, analyzer, key, force)[1]]
        yield (
            f"lexical: built the BM25 index of {len(built)} report(s) ({time.perf_counter() - t:.2f} s)"
            if built
            else "lexical: up to date (verified)"
        )
        t = time.perf_counter()
        analyzer.translator  # noqa: B018 - build (or verify) the translator's dictionary cache now, not at the first search
        yield f"translator: ready ({time.perf_counter() - t:.2f} s)"
        if not lexical_only:
            yield from _build_dense(cfg, library, force)
        for entry in library.entries:  # each report's entry beside its indexes (a lost catalog's last resort)
            write_entry(cfg, entry, only_if_changed=True)
        if (
            library.entries != old_entries
            or read_catalog(cfg) is None
            or not catalog_backup_path(cfg).is_file()
        ):
            write_catalog(cfg, library.entries, previous=old_entries)  # after every index it names is written
            yield "catalog: corpus/documents.json updated"
        if cfg.backend == "qdrant":
            yield _upload(cfg, library, analyzer, lexical_only)


def _build_dense(cfg: Config, library: Library, force: bool) -> Iterator[str]:
    """The model (converted or verified) and every report's dense index; one progress line each."""
    if cfg.model is None:
        from pipeline.models.convert import ensure_model, model_artifact

        t = time.perf_counter()
        manifest = model_artifact(cfg).path(MANIFEST)
        before = _identity(manifest)
        path = ensure_model(cfg, force=force)
        after = _identity(manifest)  # a conversion swaps in a new folder: a new manifest file
        what = "converted" if before is None else "verified" if before == after else "reconverted"
        yield f"model: {path} ({what}, {time.perf_counter() - t:.2f} s)"
    t = time.perf_counter()
    from pipeline.embed import PassageEmbedder

    embedder = PassageEmbedder(cfg, verify="full")  # the model's files hashed once, not per report
    from pipeline.models.embedcache import EmbeddingStore

    embedded, rebuilt, shape = 0, 0, [0, 0]
    in_use: set[str] = set()
    for doc, key in library.keyed():
        index, was_built = ensure_dense(cfg, doc, key, embedder, force, cache={} if force else None)
        embedded += index.embedded
        rebuilt += was_built
        shape = [shape[0] + index.paragraphs.shape[0], index.paragraphs.shape[1]]
        in_use.update(index.paragraph_keys, index.sentence_keys)
    what = "up to date (verified)"
    if rebuilt:
        what = f"embedded {embedded} texts" + (" (all: --force)" if force else ", reused the rest")
    yield f"dense: {what}, {shape[0]} paragraphs × {shape[1]} dims ({time.perf_counter() - t:.2f} s)"
    t = time.perf_counter()
    from pipeline.embed import ensure_query_graph

    graph, how = ensure_query_graph(cfg, force=force)
    yield f"query encoder: ONNX graph {how}{f' ({graph})' if graph else ''} ({time.perf_counter() - t:.2f} s)"
    if dropped := EmbeddingStore(cfg.index_dir, embedder.identity).collect(in_use):
        yield f"embedding cache: removed {len(dropped)} unused, damaged or leftover segment(s)"
    if line := refresh_ann(cfg, library, embedder.identity, force=force):
        yield line


def refresh_ann(
    cfg: Config, library: Library, embedder: dict[str, Any] | None = None, force: bool = False
) -> str | None:
    """Bring the library's ANN index (:mod:`pipeline.ann`) up to date: built, or the new reports' vectors
    added to it; removed when the library no longer needs one. Call under the build lock, after the reports'
    dense indexes are written. Returns a progress line (None: no index, none needed).

    Args:
        cfg: settings (``ann``, ``ann_threshold``, ``ann_partitions``).
        library: the library as the catalog now names it.
        embedder: the passage embedder's identity (default: the configured model's).
        force: build it anew (centroids trained again) even when it is current.
    """
    from pipeline.ann import ann_dir, ann_wanted, ensure_ann

    n = len(library.paragraphs)
    if not ann_wanted(cfg, n):
        if not ann_dir(cfg).exists():
            return None
        shutil.rmtree(ann_dir(cfg), ignore_errors=True)
        return f"ann: removed (not used at {n} paragraphs: ann={cfg.ann}, ann_threshold={cfg.ann_threshold})"
    from pipeline.dense import load_dense_indexes
    from pipeline.embed import embedder_identity

    identity = embedder if embedder is not None else embedder_identity(cfg)
    return ensure_ann(cfg, load_dense_indexes(cfg, library.keyed(), identity), force=force)


def _identity(path: Path) -> tuple[int, int] | None:
    """A file's inode and modification time, or None when it is missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns)


def _upload(cfg: Config, library: Library, analyzer: Analyzer, lexical_only: bool) -> str:
    """Put the library into its Qdrant collection (idempotent and resumable; a progress bar on stderr)."""
    from pipeline.backends.channels import upload_library
    from pipeline.dense import load_dense_indexes
    from pipeline.embed import embedder_identity
    from pipeline.lexical import load_lexical_indexes

    t = time.perf_counter()
    lexical = load_lexical_indexes(cfg, library.keyed(), analyzer)
    dense = None if lexical_only else load_dense_indexes(cfg, library.keyed(), embedder_identity(cfg))
    counts = upload_library(cfg, library, lexical, dense)
    kept = counts["skipped"] + counts["trusted"]
    return (
        f"qdrant: {counts['written']} paragraphs written, {kept} already there and verified, "
        f"{counts['deleted']} removed — collection {cfg.qdrant_collection!r} at {cfg.qdrant_url} "
        f"({time.perf_counter() - t:.1f} s)"
    )
