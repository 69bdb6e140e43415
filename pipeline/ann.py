"""The in-process approximate dense index: a FAISS IVF over the library's sentence vectors.

A large library (more than ``cfg.ann_threshold`` paragraphs, or ``cfg.ann == "on"``) does not scan every
vector for a question's dense channel. ``pipeline build`` (and ``pipeline add``) write ``indexes/ann/``:

* ``ivf.faiss`` - a FAISS ``IndexIVFScalarQuantizer`` (float16 codes, inner product; ``IndexIVFFlat``'s
  layout with half the bytes) over every sentence vector of the library — and the paragraph vector of a
  paragraph without sentences, which stands for its sentence as in ``DenseIndex.scores`` — whose FAISS id is
  the paragraph's row: the sentence → paragraph map lives in the index. The centroids are spherical k-means
  (``ann_partitions``, default one partition per 1,000 vectors) trained on a fixed sample of 32 vectors per
  partition; the file is memory-mapped at search;
* ``manifest.json`` - the artifact manifest (:mod:`pipeline.store`): inputs = the embedder's identity, a
  hash of every embedded text key in row order (:meth:`pipeline.dense.DenseIndex.vectors_digest`: the
  vectors change, the index is stale), the paragraph count, ``ann_partitions`` and the storage; info = the
  partitions and the vector count the centroids were trained on.

A question probes its ``ann_probes`` nearest partitions for the ``ann_candidates`` best sentences; their
paragraphs are scored EXACTLY (paragraph cosine and every sentence, :meth:`DenseIndex.row_scores`), so the
float16 codes only choose candidates. Probing every partition with candidates enough for every sentence is
the exact dense channel (``tests/test_ann.py``). The channel that uses it is
:class:`pipeline.backends.local.LocalChannels`.

**Updating.** :func:`ensure_ann` leaves a current index alone; when the library only grew at its end (``add``)
and the vectors already indexed are those of the new library's first rows, the new vectors are added to the
existing index with its centroids (FAISS ``add``); the centroids are trained again only when the library has
more than ``RETRAIN_RATIO`` times the vectors they were trained on, or anything else changed.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.errors import ComponentError, CorruptIndexError, MissingIndexError, StaleIndexError
from pipeline.store import Artifact

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.dense import DenseIndex

log = logging.getLogger(__name__)

__all__ = [
    "AnnIndex",
    "ann_artifact",
    "ann_dir",
    "ann_inputs",
    "ann_wanted",
    "ensure_ann",
    "open_ann",
]

FORMAT_VERSION = "1"
INDEX = "ivf.faiss"
#: how the IVF stores the vectors: "float16" (FAISS scalar quantizer) or "float32" (``IndexIVFFlat``)
STORAGE = "float16"
#: retrain the centroids when the library holds more than this many times the vectors they were trained on
RETRAIN_RATIO = 2.0
#: vectors per partition in the k-means sample, and its iterations
TRAIN_PER_PARTITION = 32
KMEANS_ITERATIONS = 10
#: one partition per this many vectors when ``ann_partitions`` is 0
VECTORS_PER_PARTITION = 1000
_CHUNK = 200_000

Log = Callable[[str], None]


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as e:  # pragma: no cover - a dependency of the package
        raise ComponentError(f"the ANN index needs faiss-cpu: pip install faiss-cpu ({e})") from None
    return faiss


def ann_dir(cfg: Config) -> Path:
    """Where the library's ANN index lives."""
    return cfg.index_dir / "ann"


def ann_artifact(directory: str | Path) -> Artifact:
    """The ANN index's artifact (see :mod:`pipeline.store`)."""
    return Artifact(directory, "ann-ivf", FORMAT_VERSION, "ANN index")


def ann_wanted(cfg: Config, paragraphs: int) -> bool:
    """Whether a library of ``paragraphs`` is searched through the ANN index (``ann``: off, auto, on)."""
    return cfg.ann == "on" or (cfg.ann == "auto" and paragraphs > cfg.ann_threshold)


def ann_inputs(cfg: Config, dense: DenseIndex) -> dict[str, Any]:
    """What an ANN index of ``dense`` is built from (compared key by key; see the module's docstring)."""
    stored = dense.manifest.get("inputs") or {}
    embedder = {k: v for k, v in stored.items() if k.startswith("embedder.")}
    return {
        **embedder,
        "vectors_sha256": dense.vectors_digest(),
        "paragraphs": len(dense.numbers),
        "partitions": cfg.ann_partitions,
        "storage": STORAGE,
    }


class AnnIndex:
    """A loaded ANN index: the FAISS IVF (memory-mapped) and what its manifest says."""

    def __init__(self, index: Any, info: dict[str, Any]) -> None:
        self.index = index
        self.info = info

    @classmethod
    def load(cls, directory: str | Path, inputs: dict[str, Any]) -> AnnIndex:
        """Check the artifact against ``inputs`` (a file is hashed again only when it changed since it last
        verified) and memory-map its index.

        Raises:
            MissingIndexError, StaleIndexError, CorruptIndexError: as :meth:`pipeline.store.Artifact.check`.
        """
        art = ann_artifact(directory)
        manifest = art.check(inputs, verify="stat")
        faiss = _faiss()
        try:
            index = faiss.read_index(str(art.path(INDEX)), faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY)
        except RuntimeError as e:
            raise CorruptIndexError(
                f"the ANN index at {directory} is damaged ({e}); run `pipeline build`"
            ) from None
        if index.ntotal != manifest.get("info", {}).get("vectors"):
            raise CorruptIndexError(
                f"the ANN index at {directory} is damaged (vector count); run `pipeline build`"
            )
        return cls(index, manifest.get("info", {}))

    def candidates(
        self, q: np.ndarray, probes: int, n: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The paragraphs of the ``n`` best sentences in the ``probes`` partitions nearest to ``q`` (each
        paragraph once, at its best sentence's score), best first.

        Args:
            q: the query vector.
            probes: partitions scanned.
            n: sentences taken.
            allowed: a boolean mask over the paragraph rows (``--doc``/``--lang``), or None (all).
        """
        faiss = _faiss()
        params = faiss.SearchParametersIVF()
        params.nprobe = int(min(probes, self.index.nlist))
        bitmap = None
        if allowed is not None:
            bitmap = np.packbits(allowed.astype(np.uint8), bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))  # n: in bytes
        x = np.ascontiguousarray(np.asarray(q, dtype=np.float32).reshape(1, -1))
        scores, ids = self.index.search(x, int(min(n, self.index.ntotal)), params=params)
        del bitmap
        keep = ids[0] >= 0
        rows, sc = ids[0][keep], scores[0][keep]
        uniq, first = np.unique(rows, return_index=True)
        order = np.argsort(first, kind="stable")  # FAISS returns best first: keep each row's first (best)
        return uniq[order], sc[first[order]]


def open_ann(cfg: Config, dense: DenseIndex) -> AnnIndex | None:
    """The library's ANN index when the library is searched through one (:func:`ann_wanted`), else None.

    With ``ann=auto`` an index that is missing, stale or damaged is not used: the question is answered by the
    exact scan (the same results, slower) and a warning says to run ``pipeline build``; with ``ann=on`` it is
    refused.

    Raises:
        MissingIndexError, StaleIndexError, CorruptIndexError: ``ann=on`` and no usable index.
    """
    if not ann_wanted(cfg, len(dense.numbers)):
        return None
    try:
        return AnnIndex.load(ann_dir(cfg), ann_inputs(cfg, dense))
    except (MissingIndexError, StaleIndexError, CorruptIndexError) as e:
        if cfg.ann == "on":
            raise
        why = " ".join(line.strip() for line in str(e).splitlines()[:2] if not line.startswith("run "))
        log.warning("%s; scanning every vector instead until `pipeline build` updates it", why)
        return None


# ------------------------------------------------------------------------------------------ building


def _vectors(dense: DenseIndex, start: int, stop: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The vectors of paragraph rows ``start``..``stop`` and their ids (the rows), in chunks: each sentence,
    and the paragraph vector of a paragraph without sentences."""
    rows = np.arange(start, stop)
    count = dense.sentence_counts[start:stop]
    owner = np.repeat(rows, count)
    s0 = int(np.sum(dense.sentence_counts[:start]))
    for a in range(0, len(owner), _CHUNK):
        chunk = np.asarray(dense.sentences[s0 + a : s0 + min(a + _CHUNK, len(owner))], dtype=np.float32)
        yield np.ascontiguousarray(chunk), owner[a : a + _CHUNK].astype(np.int64)
    empty = rows[count == 0]
    if len(empty):
        yield (
            np.ascontiguousarray(np.asarray(dense.paragraphs[empty], dtype=np.float32)),
            empty.astype(np.int64),
        )


def _train_sample(dense: DenseIndex, size: int, seed: int = 0) -> np.ndarray:
    """A fixed random sample of ``size`` of the library's vectors (sentences, then sentence-less
    paragraphs)."""
    n_sent = len(dense.sentence_map)
    empty = np.flatnonzero(dense.sentence_counts == 0)
    total = n_sent + len(empty)
    pick = np.sort(np.random.default_rng(seed).choice(total, min(size, total), replace=False))
    s = pick[pick < n_sent]
    p = empty[pick[pick >= n_sent] - n_sent]
    parts = [np.asarray(dense.sentences[s], dtype=np.float32)] if len(s) else []
    if len(p):
        parts.append(np.asarray(dense.paragraphs[p], dtype=np.float32))
    return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros((0, dense.dims), np.float32)


def _new_index(dense: DenseIndex, partitions: int) -> Any:
    """A trained, empty IVF over ``dense``'s vectors."""
    faiss = _faiss()
    total = len(dense.sentence_map) + int(np.sum(dense.sentence_counts == 0))
    nlist = max(1, min(partitions or total // VECTORS_PER_PARTITION, total))
    d = dense.dims
    if STORAGE == "float32":  # IndexIVFFlat: twice the bytes, the same recall (docs/scale.md)
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
    else:
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(d), d, nlist, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT, False
        )
    index.cp.spherical = True
    index.cp.niter = KMEANS_ITERATIONS
    index.cp.seed = 1234
    index.cp.min_points_per_centroid = 1
    index.cp.max_points_per_centroid = TRAIN_PER_PARTITION
    index.train(_train_sample(dense, TRAIN_PER_PARTITION * nlist))
    return index


def _write(directory: Path, inputs: dict[str, Any], index: Any, info: dict[str, Any]) -> None:
    faiss = _faiss()
    with ann_artifact(directory).write(inputs, info=info) as stage:
        faiss.write_index(index, str(stage.path / INDEX))
        stage.adopt(INDEX)


def _previous(
    directory: Path, dense: DenseIndex, inputs: dict[str, Any]
) -> tuple[Any, dict[str, Any]] | None:
    """The existing index when the new vectors can be added to it: built with the same embedder and
    settings, from exactly the vectors of the library's first rows, undamaged, and its centroids trained on
    at least 1 / ``RETRAIN_RATIO`` of the library's vectors. Else None."""
    art = ann_artifact(directory)
    try:
        m = art.read_manifest()
    except (MissingIndexError, CorruptIndexError):
        return None
    old, info = m["inputs"], m.get("info", {})
    same = all(old.get(k) == v for k, v in inputs.items() if k not in ("vectors_sha256", "paragraphs"))
    n_old = old.get("paragraphs")
    if (
        not same
        or m.get("kind") != art.kind
        or str(m.get("format_version")) != art.format_version
        or not isinstance(n_old, int)
        or not 0 < n_old <= len(dense.numbers)
        or dense.vectors_digest(n_old) != old.get("vectors_sha256")
    ):
        return None
    total = len(dense.sentence_map) + int(np.sum(dense.sentence_counts == 0))
    if total > RETRAIN_RATIO * float(info.get("trained_on") or 0):
        return None
    try:
        art.verify_files(m)
        index = _faiss().read_index(str(art.path(INDEX)))
    except (CorruptIndexError, RuntimeError):
        return None
    if index.ntotal != info.get("vectors"):
        return None
    return index, {**info, "paragraphs_before": n_old}


def ensure_ann(
    cfg: Config,
    dense: DenseIndex,
    log_: Log | None = None,
    directory: Path | None = None,
    force: bool = False,
) -> str:
    """Bring the library's ANN index up to date (call under the build lock); returns a progress line.

    A library below the threshold (:func:`ann_wanted`) has none (an old one is removed). A current index is
    left alone; one whose library only grew at its end gets the new vectors added (no retraining, unless the
    library outgrew its centroids: ``RETRAIN_RATIO``); anything else — and everything with ``force`` — is
    built anew.
    """
    say = log_ or (lambda _m: None)
    directory = directory or ann_dir(cfg)
    n = len(dense.numbers)
    if not ann_wanted(cfg, n):
        if directory.exists():
            shutil.rmtree(directory, ignore_errors=True)
        return f"ann: not used ({n} paragraphs, ann={cfg.ann}, ann_threshold={cfg.ann_threshold})"
    t = time.perf_counter()
    inputs = ann_inputs(cfg, dense)
    art = ann_artifact(directory)
    try:
        if not force:
            art.check(inputs, verify="full")
            return f"ann: up to date (verified, {time.perf_counter() - t:.2f} s)"
    except (MissingIndexError, StaleIndexError, CorruptIndexError):
        pass
    prev = None if force else _previous(directory, dense, inputs)
    if prev is not None:
        index, info = prev
        before = int(info.pop("paragraphs_before"))
        for x, ids in _vectors(dense, before, n):
            index.add_with_ids(x, ids)
        info["vectors"] = int(index.ntotal)
        _write(directory, inputs, index, info)
        return (
            f"ann: added {n - before} paragraphs' vectors to the index "
            f"({index.ntotal} vectors, {index.nlist} partitions; {time.perf_counter() - t:.2f} s)"
        )
    say(f"ann: training the partitions of {n} paragraphs' vectors")
    index = _new_index(dense, cfg.ann_partitions)
    for x, ids in _vectors(dense, 0, n):
        index.add_with_ids(x, ids)
    info = {"partitions": int(index.nlist), "trained_on": int(index.ntotal), "vectors": int(index.ntotal)}
    _write(directory, inputs, index, info)
    return (
        f"ann: built the index ({index.ntotal} vectors, {index.nlist} partitions; "
        f"{time.perf_counter() - t:.2f} s)"
    )
