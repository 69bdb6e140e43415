"""The project's lexical and dense channels on one Qdrant collection: :class:`QdrantBackend`.

It opens the collection through an engine (:mod:`~pipeline.backends.qdrant.client` or
:mod:`~pipeline.backends.qdrant.edge`), reads the state kept with it (vocabulary table, IDF, BM25 parameters,
partition centroids), uploads through :mod:`~pipeline.backends.qdrant.upload`, and answers both channels'
questions: the engine gathers the candidates, :mod:`~pipeline.backends.qdrant.scoring` gives back their
exact scores.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from pipeline.backends.qdrant.client import ClientEngine
from pipeline.backends.qdrant.edge import EdgeEngine
from pipeline.backends.qdrant.engines import (
    CHECK_ALL_UP_TO,
    PARA,
    SENT,
    SPARSE,
    DamagedCollection,
    _Engine,
    _Hit,
    check_rows,
)
from pipeline.backends.qdrant.partitions import _decode_centroids, _probed
from pipeline.backends.qdrant.scoring import DenseRow, _complete, _rescore_dense, _rescore_lexical
from pipeline.backends.qdrant.upload import _content_hash, _Upload

if TYPE_CHECKING:
    from pipeline.dense import DenseIndex
    from pipeline.lexical import BM25Index


def _point_problem(h: _Hit, dim: int | None, recorded: str | None) -> str | None:
    """What is wrong with a stored point (None: it hashes to the content hash the upload gave it)."""
    payload = dict(h.payload)
    stored = payload.pop("_h", None)
    if payload.get("_row") != h.row:
        return f"carries the payload of row {payload.get('_row')!r}"
    sv = h.vectors.get(SPARSE)
    dims = np.asarray(sv.indices if sv is not None else [], dtype=np.uint32)
    values = np.asarray(sv.values if sv is not None else [], dtype=np.float32)
    para = sent = None
    if dim is not None:
        if h.vectors.get(PARA) is None or h.vectors.get(SENT) is None:
            return "has lost its dense vectors"
        para = np.asarray(h.vectors[PARA], dtype=np.float32)
        sent = np.asarray(h.vectors[SENT], dtype=np.float32)
        if para.shape != (dim,) or sent.ndim != 2 or sent.shape[1] != dim:
            return f"has vectors of shape {para.shape} and {sent.shape}, not ({dim},)"
    try:
        got = _content_hash(h.row, payload, dims, values, para, sent)
    except (TypeError, ValueError) as e:
        return f"cannot be hashed ({e})"
    if got != stored or (recorded is not None and got != recorded):
        return "differs from what the upload wrote (its content hash)"
    return None


#: ``quantization`` settings: bits per dimension of the quantized sentence vectors (0: not quantized)
QUANTIZATION = {"none": 0, "int8": 8}


def open_backend(location: str | Path, collection: str = "paragraphs", **kwargs: Any) -> QdrantBackend:
    """A backend for ``location`` (``http(s)://…``, a directory, ``":memory:"`` or ``edge:/dir``)."""
    return QdrantBackend(location, collection, **kwargs)


class QdrantBackend:
    """The lexical and dense channels of the project on one Qdrant collection.

    Args:
        location: ``http(s)://host:port`` (server), a directory (qdrant-client local mode), ``":memory:"``,
            or ``edge:/dir`` (Qdrant Edge in-process).
        collection: the collection's name (ignored by Edge, whose directory is the collection).
        hnsw_m: HNSW graph degree of the paragraph vectors (server and Edge).
        ef_construct: HNSW build-time beam.
        hnsw_ef: HNSW search-time beam (None: the engine's default).
        dense_candidates: paragraph-vector candidates the sentence MAX_SIM rescores (more: better recall
            when the best sentence and the paragraph disagree, slower).
        full_scan_threshold: below this many KB of vectors Edge searches exactly instead of by graph.
        partitions: at upload, split the sentence vectors into this many partitions (0: none, the paragraph
            vectors' HNSW finds the dense candidates); see :mod:`pipeline.backends.qdrant`. At most one per
            sentence.
        probe: at search, how many partitions nearest to the query are scanned (a collection uploaded with
            partitions only; probing all of them is the exact dense channel).
        search_threads: Edge's search threads (None: one per CPU).
        quantization: at upload, Edge keeps the sentence vectors also as int8 (scalar quantization, in RAM)
            so that the probed partitions' scan reads a quarter of the bytes ("int8"; "none": float32 only).
        oversampling: at search on a quantized collection, the partition scan ranks this many times its
            candidates by the int8 scores and rescores them from the float32 vectors (exact MAX_SIM); 0:
            the scan reads the float32 vectors.
        client_kwargs: passed to ``QdrantClient`` (api_key, timeout, prefer_grpc, …).
    """

    def __init__(
        self,
        location: str | Path,
        collection: str = "paragraphs",
        *,
        hnsw_m: int = 16,
        ef_construct: int = 100,
        hnsw_ef: int | None = None,
        dense_candidates: int = 100,
        full_scan_threshold: int = 10000,
        partitions: int = 0,
        probe: int = 28,
        search_threads: int | None = None,
        quantization: str = "none",
        oversampling: float = 2.0,
        **client_kwargs: Any,
    ) -> None:
        location = str(location)
        self.location = location
        if quantization not in QUANTIZATION:
            raise ValueError(f"quantization must be one of {', '.join(QUANTIZATION)} (got {quantization!r})")
        if not (oversampling >= 1.0 or oversampling == 0):
            raise ValueError(f"oversampling must be at least 1, or 0 (got {oversampling})")
        if location.startswith("edge:"):
            self.engine: _Engine = EdgeEngine(
                location[len("edge:") :], search_threads=search_threads, oversampling=oversampling
            )
        else:
            self.engine = ClientEngine(location, collection, **client_kwargs)
        self.hnsw = {
            "m": int(hnsw_m),
            "ef_construct": int(ef_construct),
            "full_scan_threshold": int(full_scan_threshold),
            # in the layout only when on, so that a collection uploaded before the setting keeps its layout
            **({"quantization": QUANTIZATION[quantization]} if QUANTIZATION[quantization] else {}),
        }
        self.hnsw_ef = hnsw_ef
        self.dense_candidates = int(dense_candidates)
        if partitions < 0 or probe < 1:
            raise ValueError(f"partitions must be >= 0 and probe >= 1 (got {partitions}, {probe})")
        self.partitions = int(partitions)
        self.probe = int(probe)
        self._centroids: np.ndarray | None = None
        self._state: dict[str, Any] | None = None
        self._lex: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """ "server", "local", "memory" or "edge"."""
        return self.engine.kind

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- state ---------------------------------------------------------------------------------------

    @property
    def state(self) -> dict[str, Any]:
        """The collection's state (vocabulary table, IDF, BM25 parameters, upload checkpoint, centroids),
        read once.

        Raises:
            LookupError: nothing was uploaded to the collection.
        """
        if self._state is None:
            self._state = self.engine.get_state()
            if self._state is None:
                raise LookupError(f"no collection uploaded at {self.location}; call upload() first")
        return self._state

    @property
    def centroids(self) -> np.ndarray | None:
        """The collection's partition centroids (C, dim), or None when it has no partitions."""
        if self._centroids is None:
            part = self.state.get("partitions")
            if part:
                self._centroids = _decode_centroids(part)
        return self._centroids

    def check(self) -> None:
        """Check that the collection holds what its upload wrote, before answering from it: the state's
        tables can be read, the engine counts the points the upload wrote, and the points checked — every
        one in a collection of at most ``CHECK_ALL_UP_TO``, else the fixed sample of ``CHECK_SAMPLE`` rows
        (first and last included) — hash, from their stored vectors and payload, to the content hash the
        upload gave them (kept in their payload, and for the sample in the state).

        Raises:
            LookupError: nothing was uploaded to the collection.
            DamagedCollection: what differs. Errors of the engine itself (a Rust panic included) propagate.
        """
        st = self.state
        try:
            n = int(st["upload"]["n"])
            dim = st["schema"]["dim"]
            tables = self.lexical_tables()
            if len(tables["dim"]) != len(tables["idf"]):
                raise ValueError(f"{len(tables['dim'])} vocabulary slots, {len(tables['idf'])} IDF values")
            self.centroids  # noqa: B018 - decodes them
            check = st.get("check") or {}
            recorded = dict(
                zip((int(r) for r in check.get("rows", [])), check.get("hashes", []), strict=True)
            )
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise DamagedCollection(f"its state cannot be read: {type(e).__name__} {e}") from None
        total = self.engine.count()
        if total != n:
            raise DamagedCollection(f"it holds {total} points, the upload wrote {n}")
        rows = list(range(n)) if n <= CHECK_ALL_UP_TO else sorted(set(recorded) | set(check_rows(n)))
        for a in range(0, len(rows), 256):
            want = rows[a : a + 256]
            hits = {h.row: h for h in self.engine.points(want)}
            for r in want:
                h = hits.get(r)
                if h is None:
                    raise DamagedCollection(f"point {r} is missing")
                problem = _point_problem(h, dim, recorded.get(r))
                if problem:
                    raise DamagedCollection(f"point {r} {problem}")

    def _probe(self, q: np.ndarray) -> list[int] | None:
        """The partitions to scan for the query vector (None: no partitions)."""
        cent = self.centroids
        if cent is None:
            return None
        return _probed(cent, q, self.probe)

    def lexical_tables(self) -> dict[str, Any]:
        """The collection's lexical tables, read once from its state: ``dim`` (term -> vocabulary slot),
        ``idf`` (float64 by slot, NaN for a slot no longer in the BM25 index), ``k1``, ``b`` and ``avgdl``.

        Raises:
            LookupError: nothing was uploaded to the collection.
        """
        if self._lex is None:
            st = self.state
            lex = st["lexical"]
            self._lex = {
                "dim": {t: i for i, t in enumerate(st["vocab"])},
                "idf": np.asarray([np.nan if v is None else v for v in st["idf"]], dtype=np.float64),
                "k1": float(lex["k1"]),
                "b": float(lex["b"]),
                "avgdl": float(lex["avgdl"]),
            }
        return self._lex

    # --- upload --------------------------------------------------------------------------------------

    def upload(
        self,
        payloads: Sequence[Mapping[str, Any]],
        bm25: BM25Index,
        dense: DenseIndex | None,
        *,
        batch_size: int = 256,
        progress: bool = True,
        verify_sample: int = 3,
        info: Mapping[str, Any] | None = None,
    ) -> dict[str, int]:
        """Put every paragraph in the collection; idempotent and resumable.

        Args:
            payloads: one dict per row (``document``, ``lang``, ``paragraph``, ``section``, …).
            bm25: the project's BM25 index over the same rows (its analyzer, statistics and parameters).
            dense: the dense index over the same rows, or None for a lexical-only collection (any object with
                ``paragraphs``, ``sentences``, ``numbers``, ``dims`` and ``sentence_rows(row)`` will do).
            batch_size: points per write.
            progress: a tqdm bar on stderr.
            verify_sample: batches of the checkpointed prefix re-checked by hash on a resumed run.
            info: what the caller wants kept with the collection (the library's fingerprint), in
                ``state["info"]``.

        Returns:
            counts: ``written`` points, ``skipped`` (already there, verified), ``trusted`` (checkpointed and
            spot-checked), ``deleted`` (rows beyond n removed).
        """
        counts, state = _Upload(self.engine, self.hnsw, self.partitions, payloads, bm25, dense).run(
            batch_size=batch_size, progress=progress, verify_sample=verify_sample, info=info
        )
        self._state, self._lex, self._centroids = state, None, None
        return counts

    # --- lexical -------------------------------------------------------------------------------------

    def query_weights(self, query_terms: Sequence[tuple[str, float]]) -> list[tuple[int, float]]:
        """The query's vocabulary slots and summed weights, in first-seen order, as
        ``BM25Index._accumulate`` sums them (terms unknown to the collection, or of weight 0, are left out).

        Args:
            query_terms: ``(term, weight)`` pairs as for ``BM25Index.search``.

        Returns:
            ``(slot, weight)`` pairs.
        """
        tab = self.lexical_tables()
        weights: dict[int, float] = {}
        for term, w in query_terms:
            d = tab["dim"].get(term)
            if d is not None and not math.isnan(tab["idf"][d]) and w:
                weights[d] = weights.get(d, 0.0) + float(w)
        return list(weights.items())

    def lexical(
        self,
        query_terms: Sequence[tuple[str, float]],
        k: int,
        filter: Mapping[str, Any] | None = None,
        *,
        detail: bool = True,
    ) -> list[tuple[int, float]]:
        """The ``k`` best rows by BM25 that contain a query term: ``BM25Index.search``'s results and scores
        (rows instead of paragraph numbers), ties in row order.

        Args:
            query_terms: ``(term, weight)`` pairs as for ``BM25Index.search``.
            k: number of results.
            filter: ``{"document": [symbols] | symbol, "lang": "zh" | "en"}``, run in the engine.
            detail: recompute the scores exactly from the candidates' stored vectors (they travel: costly
                for hundreds of candidates); False gives the engine's float32 dot products (relative error
                about 1e-6), enough to gather candidates for fusion.
        """
        if k <= 0:
            return []
        weights = self.query_weights(query_terms)
        if not weights:
            return []
        tab = self.lexical_tables()
        dims = [d for d, _ in weights]
        vals = [w * float(tab["idf"][d]) for d, w in weights]
        if not detail:
            hits = self.engine.sparse(dims, vals, k, filter, vectors=False)
            return sorted(((h.row, h.score) for h in hits), key=lambda x: (-x[1], x[0]))
        limit = k + max(10, k // 2)
        while True:
            hits = self.engine.sparse(dims, vals, limit, filter)
            exact = _rescore_lexical(tab, weights, hits)
            if _complete(hits, exact, k, limit):
                return exact[:k]
            limit *= 4

    def lexical_scores(
        self, query_terms: Sequence[tuple[str, float]], rows: Sequence[int], *, detail: bool = True
    ) -> dict[int, float]:
        """BM25 of the given rows (0 for a row with no query term), exact or (``detail=False``) the engine's:
        to fuse candidates of the other channel."""
        weights = self.query_weights(query_terms)
        out = {int(r): 0.0 for r in rows}
        if not weights or not rows:
            return out
        tab = self.lexical_tables()
        dims = [d for d, _ in weights]
        vals = [w * float(tab["idf"][d]) for d, w in weights]
        hits = self.engine.sparse(dims, vals, len(rows), None, ids=rows, vectors=detail)
        for r, s in _rescore_lexical(tab, weights, hits) if detail else ((h.row, h.score) for h in hits):
            out[r] = s
        return out

    # --- dense ---------------------------------------------------------------------------------------

    def dense(
        self,
        query_vec: np.ndarray,
        k: int,
        sentence_weight: float = 0.5,
        filter: Mapping[str, Any] | None = None,
        *,
        candidates: int | None = None,
        detail: bool = True,
    ) -> list[DenseRow]:
        """The ``k`` best rows by ``(1 - w) * paragraph cosine + w * best sentence cosine``.

        The engine takes the ``candidates`` best paragraphs by paragraph vector (HNSW on a server or Edge) —
        or, on a collection with sentence partitions, the ``candidates`` best by MAX_SIM among the paragraphs
        with a sentence in the ``probe`` partitions nearest to the query —, rescores them with the sentences'
        MAX_SIM and ranks them by the combined formula.

        Args:
            query_vec: (dim,) L2-normalised query embedding.
            k: number of results.
            sentence_weight: ``w``.
            filter: as for :meth:`lexical`.
            candidates: paragraph-vector candidates (default ``dense_candidates``; at least the limit).
            detail: recompute each returned row's scores from its stored vectors as ``DenseIndex.scores``
                does, with its paragraph and sentence cosines and best sentence (the vectors travel: about
                1.5 KB per sentence); False gives the engine's combined score (float32) only, with NaN
                cosines and no best sentence -- enough to gather candidates for fusion.
        """
        if k <= 0:
            return []
        if self.state["schema"]["dim"] is None:
            raise LookupError("this collection has no dense vectors (uploaded without a dense index)")
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        w = float(sentence_weight)
        limit = k + max(10, k // 2) if detail else k
        probe = self._probe(q)
        while True:
            cand = max(candidates or self.dense_candidates, limit)
            hits = self.engine.dense(q, w, limit, cand, self.hnsw_ef, filter, vectors=detail, probe=probe)
            if not detail:
                rows = sorted(hits, key=lambda h: (-h.score, h.row))
                return [DenseRow(h.row, h.score, math.nan, math.nan, -1) for h in rows]
            exact = _rescore_dense(q, w, hits)
            if _complete(hits, [(d.row, d.combined) for d in exact], k, limit):
                return exact[:k]
            limit *= 4

    def stored_arrays(self, rows: Sequence[int], chunk: int = 256) -> dict[str, Any]:
        """The stored vectors of ``rows`` as arrays, to score them client-side many times (the fusion
        statistics' sample): ``lexical`` (rows × vocabulary slots, the stored BM25 term-frequency parts,
        CSR), ``para`` (rows × dim), ``sent`` (every row's sentence vectors, stacked) and ``first`` (offsets
        of each row's sentences in ``sent``)."""
        from scipy import sparse

        rows = [int(r) for r in rows]
        hits: dict[int, _Hit] = {}
        for a in range(0, len(rows), chunk):
            for h in self.engine.stored(rows[a : a + chunk]):
                hits[h.row] = h
        missing = [r for r in rows if r not in hits]
        if missing:
            raise LookupError(f"{len(missing)} rows are not in the collection (e.g. {missing[:5]})")
        ordered = [hits[r] for r in rows]
        ind, val, ptr = [], [], [0]
        for h in ordered:
            sv = h.vectors.get(SPARSE)
            ind.append(np.asarray(sv.indices if sv is not None else [], dtype=np.int64))
            val.append(np.asarray(sv.values if sv is not None else [], dtype=np.float32))
            ptr.append(ptr[-1] + len(ind[-1]))
        width = len(self.state["vocab"])
        lexical = sparse.csr_matrix(
            (
                np.concatenate(val) if val else np.zeros(0, np.float32),
                np.concatenate(ind) if ind else np.zeros(0, np.int64),
                np.array(ptr),
            ),
            shape=(len(rows), width),
        )
        out: dict[str, Any] = {"rows": np.array(rows, dtype=np.int64), "lexical": lexical}
        if self.state["schema"]["dim"] is not None:
            out["para"] = np.array([h.vectors[PARA] for h in ordered], dtype=np.float32)
            sents = [np.asarray(h.vectors[SENT], dtype=np.float32) for h in ordered]
            out["sent"] = (
                np.concatenate(sents) if sents else np.zeros((0, self.state["schema"]["dim"]), np.float32)
            )
            out["first"] = np.concatenate([[0], np.cumsum([len(x) for x in sents])]).astype(np.int64)
        return out

    def exact_scores(
        self,
        query_terms: Sequence[tuple[str, float]] | None,
        query_vec: np.ndarray,
        rows: Sequence[int],
        sentence_weight: float = 0.5,
    ) -> tuple[dict[int, float], dict[int, DenseRow], dict[int, np.ndarray]]:
        """The final results' exact scores from ONE retrieval of their stored vectors: BM25 (as
        :meth:`lexical_scores`; empty when ``query_terms`` is None), the dense scores (as
        :meth:`dense_scores`) and the cosine of every sentence of each row that has sentences (for the answer
        sentence) -- the same arithmetic on the same stored values, in one engine call instead of three."""
        if not rows:
            return {}, {}, {}
        if self.state["schema"]["dim"] is None:
            raise LookupError("this collection has no dense vectors (uploaded without a dense index)")
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        hits = self.engine.stored([int(r) for r in rows])
        lexical: dict[int, float] = {}
        if query_terms is not None:
            lexical = {int(r): 0.0 for r in rows}
            weights = self.query_weights(query_terms)
            if weights:
                lexical.update(_rescore_lexical(self.lexical_tables(), weights, hits))
        dense = {d.row: d for d in _rescore_dense(q, float(sentence_weight), hits)}
        cosines = {
            h.row: np.asarray(h.vectors[SENT], dtype=np.float32) @ q
            for h in hits
            if int(h.payload.get("_ns", 0))
        }
        return lexical, dense, cosines

    def dense_scores(
        self, query_vec: np.ndarray, rows: Sequence[int], sentence_weight: float = 0.5, *, detail: bool = True
    ) -> dict[int, DenseRow]:
        """Dense scores of the given rows (to fuse candidates of the other channel, or to detail a
        final list): exact ones from the stored vectors, or the engine's with ``detail=False``."""
        if not rows:
            return {}
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        w = float(sentence_weight)
        hits = self.engine.dense(q, w, len(rows), len(rows), None, None, ids=rows, vectors=detail)
        if not detail:
            return {h.row: DenseRow(h.row, h.score, math.nan, math.nan, -1) for h in hits}
        return {d.row: d for d in _rescore_dense(q, w, hits)}
