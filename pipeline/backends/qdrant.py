"""The lexical and dense channels on Qdrant: a server, qdrant-client's local mode, or Qdrant Edge in-process.

:class:`QdrantBackend` holds the same paragraphs as :class:`~pipeline.lexical.BM25Index` and
:class:`~pipeline.dense.DenseIndex` and answers the same two questions with the same scores; fusion stays
the project's (:mod:`pipeline.fusion`, or :func:`fuse_candidates` when only candidates are known).

Where the collection lives (``location`` of :func:`open_backend` / :class:`QdrantBackend`):

* ``http://host:6333`` or ``https://…`` -- a Qdrant server, through qdrant-client;
* ``":memory:"`` or a directory path -- qdrant-client's local mode (pure Python: fine for tests and a few
  thousand paragraphs, far too slow for a million);
* ``edge:/some/dir`` -- Qdrant Edge (``qdrant-edge-py``), the Rust engine in-process, no server.

One point per paragraph, its id the paragraph's row (0..n-1, deterministic), with:

* sparse vector ``bm25``: dimension = the term's slot in a vocabulary table kept with the collection (see
  below), value = the BM25 term-frequency part ``tf*(k1+1)/(tf + k1*(1-b+b*dl/avgdl))`` as float32. The
  query vector is ``weight * idf`` with the IDF of the project's own index (stored with the table), never
  the engine's, so how the collection is sharded cannot change a score. The engine's dot product ranks;
  the reported scores are recomputed exactly (float64, the very expression of ``BM25Index``) from the
  candidates' stored values, which give back the integer term frequency (checked), and their length.
* dense ``para``: the paragraph embedding (dot product on the L2-normalised vectors, HNSW index);
* multivector ``sent``: the paragraph's sentence embeddings, compared by MAX_SIM (no HNSW graph of its own:
  it rescores the ``para`` candidates). A paragraph without sentences stores its paragraph vector there,
  so its best "sentence" cosine is its paragraph cosine, as in ``DenseIndex.scores``. The engine ranks by
  the formula ``(1-w) * $score[para] + w * $score[sent]``; the returned candidates' scores (and their best
  sentence) are recomputed from their stored vectors exactly as ``DenseIndex.scores`` does.
* optional **sentence partitions** (``partitions=C`` at upload): C centroids from spherical k-means over a
  sample of the sentence vectors; each point's payload ``_part`` lists the partitions of its paragraph vector
  and of each of its sentences (an integer payload index). The dense channel then takes its candidates from
  the paragraphs with a sentence in the query's ``probe`` nearest partitions — the engine scans just those
  points exactly (MAX_SIM), so a paragraph is found by its best sentence, not only by its paragraph vector —
  and the paragraph vectors need no HNSW graph (a far shorter build). With every partition probed it is the
  exact dense channel. Measured at a million paragraphs in ``docs/scale.md``.
* payload: the caller's (``document``, ``lang``, ``paragraph``, …) plus ``_row``, ``_dl`` (tokens),
  ``_s0``/``_ns`` (first sentence row and sentence count) and ``_h`` (a hash of the point's content).
  ``document`` and ``lang`` have keyword payload indexes; filters run in the engine.

Term dimensions come from a vocabulary table, not a hash: a term keeps its slot for the life of the
collection (new terms are appended), there can be no collision, and the table is needed anyway to carry
the project's IDF. (A 32-bit hash would need no table, but at 100k terms the chance of at least one
collision is about 69 %, so it would need a collision table all the same.)

State (the vocabulary table, IDF, BM25 parameters, upload checkpoint) is one JSON document: a one-point
side collection ``<collection>__state`` on a server or in local mode, ``state.json`` beside the shard for
Edge. Uploads are idempotent (point ids are rows; a point whose content hash is already there is not
written again; points beyond ``n`` are deleted) and resumable (a checkpoint after each durable batch; a
re-run trusts the checkpointed prefix after spot checks and compares hashes for the rest).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from pipeline.ranking import top_k

if TYPE_CHECKING:
    from pipeline.dense import DenseIndex
    from pipeline.lexical import BM25Index

__all__ = [
    "ClientEngine",
    "DenseRow",
    "EdgeEngine",
    "QdrantBackend",
    "fuse_candidates",
    "open_backend",
]

SPARSE = "bm25"
PARA = "para"
SENT = "sent"
#: Payload fields a filter may name; each has a keyword payload index.
FILTER_FIELDS = ("document", "lang")
RESERVED = ("_row", "_dl", "_s0", "_ns", "_h", "_part")
PART = "_part"
_RESCORE_FIELDS = ("_dl", "_s0", "_ns")
STATE_FORMAT = 1
_STATE_ID = 0


@dataclass(frozen=True)
class DenseRow:
    """One paragraph's dense scores for a query (the fields of ``DenseIndex.scores`` at its row).

    Attributes:
        row: the paragraph's row.
        combined: ``(1 - w) * paragraph + w * sentence``.
        paragraph: paragraph cosine.
        sentence: best sentence cosine (the paragraph cosine when it has no sentences).
        best_sentence: row of that sentence in ``DenseIndex.sentences`` (-1 when it has none).
    """

    row: int
    combined: float
    paragraph: float
    sentence: float
    best_sentence: int


# ------------------------------------------------------------------------------------------------ points


@dataclass
class _Point:
    row: int
    payload: dict[str, Any]
    dims: np.ndarray  # uint32, sorted
    values: np.ndarray  # float32
    para: np.ndarray | None
    sent: np.ndarray | None  # (m, dim), m >= 1


@dataclass
class _Hit:
    row: int
    score: float
    payload: dict[str, Any]
    vectors: dict[str, Any]


def _content_hash(row: int, payload: Mapping[str, Any], dims: np.ndarray, values: np.ndarray,
                  para: np.ndarray | None, sent: np.ndarray | None) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(int(row).to_bytes(8, "little"))
    h.update(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode())
    h.update(np.ascontiguousarray(dims, dtype="<u4").tobytes())
    h.update(np.ascontiguousarray(values, dtype="<f4").tobytes())
    for v in (para, sent):
        h.update(b"|" if v is None else np.ascontiguousarray(v, dtype="<f4").tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ engines


class _Engine:
    """What the backend needs from a Qdrant flavour (server/local client, or Edge)."""

    kind = "?"

    def exists(self) -> bool: raise NotImplementedError
    def create(self, dim: int | None, hnsw: Mapping[str, int]) -> None: raise NotImplementedError
    def drop(self) -> None: raise NotImplementedError
    def get_state(self) -> dict[str, Any] | None: raise NotImplementedError
    def put_state(self, state: dict[str, Any]) -> None: raise NotImplementedError
    def upsert(self, points: list[_Point]) -> None: raise NotImplementedError
    def hashes(self, rows: Sequence[int]) -> dict[int, str]: raise NotImplementedError
    def delete_from(self, n: int) -> None: raise NotImplementedError
    def count(self) -> int: raise NotImplementedError
    def durable(self) -> None: """Make every acknowledged write durable (before a checkpoint)."""
    def finish(self) -> None: """Build indexes after an upload (HNSW, optimised segments)."""
    def close(self) -> None: """Release the engine."""

    def sparse(self, dims: list[int], values: list[float], limit: int, filt: Mapping[str, Any] | None,
               ids: Sequence[int] | None = None, vectors: bool = True) -> list[_Hit]:
        raise NotImplementedError

    def stored(self, rows: Sequence[int]) -> list[_Hit]:
        """The given points with every vector and the payload fields the rescoring reads (score 0)."""
        raise NotImplementedError

    def dense(self, q: np.ndarray, w: float, limit: int, candidates: int, ef: int | None,
              filt: Mapping[str, Any] | None, ids: Sequence[int] | None = None, vectors: bool = True,
              probe: Sequence[int] | None = None) -> list[_Hit]:
        """The ``limit`` best by ``(1-w)·para + w·MAX_SIM(sent)`` among ``candidates``: the best paragraphs by
        paragraph vector (HNSW), or with ``probe`` the best by MAX_SIM among the points in those partitions
        (an exact scan of just them)."""
        raise NotImplementedError


def _filter_items(filt: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    if not filt:
        return []
    out = []
    for key, value in filt.items():
        if key not in FILTER_FIELDS:
            raise ValueError(f"cannot filter on {key!r}: the payload indexes are {', '.join(FILTER_FIELDS)}")
        if isinstance(value, (list, tuple, set, frozenset)):
            value = sorted(str(v) for v in value)
            if not value:
                raise ValueError(f"filter {key!r} lists no value")
        elif not isinstance(value, str):
            raise TypeError(f"filter {key!r} must be a string or a list of strings, not {value!r}")
        out.append((key, value))
    return out


class ClientEngine(_Engine):
    """qdrant-client: a server (``http(s)://…``), local mode on a directory, or ``":memory:"``."""

    def __init__(self, location: str, collection: str, **client_kwargs: Any) -> None:
        from qdrant_client import QdrantClient, models

        self.m = models
        self.collection = collection
        self.state_collection = f"{collection}__state"
        if location == ":memory:":
            self.client = QdrantClient(location=":memory:", **client_kwargs)
            self.kind = "memory"
        elif location.startswith(("http://", "https://")):
            self.client = QdrantClient(url=location, **client_kwargs)
            self.kind = "server"
        else:
            self.client = QdrantClient(path=location, **client_kwargs)
            self.kind = "local"

    # --- collection
    def exists(self) -> bool:
        return self.client.collection_exists(self.collection)

    def create(self, dim: int | None, hnsw: Mapping[str, int]) -> None:
        m = self.m
        vectors: dict[str, Any] = {}
        if dim is not None:
            vectors[PARA] = m.VectorParams(
                size=dim, distance=m.Distance.DOT,
                hnsw_config=m.HnswConfigDiff(m=0 if hnsw.get("partitions") else hnsw["m"], ef_construct=hnsw["ef_construct"]),
            )
            vectors[SENT] = m.VectorParams(
                size=dim, distance=m.Distance.DOT,
                multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
                hnsw_config=m.HnswConfigDiff(m=0),  # rescoring only: no graph of its own
            )
        self.client.create_collection(
            self.collection, vectors_config=vectors, sparse_vectors_config={SPARSE: m.SparseVectorParams()}
        )
        if self.kind == "server":  # local mode has no payload indexes (it warns and scans)
            for f in FILTER_FIELDS:
                self.client.create_payload_index(self.collection, f, m.PayloadSchemaType.KEYWORD, wait=True)
            self.client.create_payload_index(self.collection, "_row", m.PayloadSchemaType.INTEGER, wait=True)
            if hnsw.get("partitions"):
                self.client.create_payload_index(self.collection, PART, m.PayloadSchemaType.INTEGER, wait=True)
        if not self.client.collection_exists(self.state_collection):
            self.client.create_collection(
                self.state_collection, vectors_config={"x": m.VectorParams(size=1, distance=m.Distance.DOT)}
            )

    def drop(self) -> None:
        for c in (self.collection, self.state_collection):
            if self.client.collection_exists(c):
                self.client.delete_collection(c)

    # --- state
    def get_state(self) -> dict[str, Any] | None:
        if not self.client.collection_exists(self.state_collection):
            return None
        recs = self.client.retrieve(self.state_collection, [_STATE_ID], with_payload=True)
        return json.loads(recs[0].payload["json"]) if recs else None

    def put_state(self, state: dict[str, Any]) -> None:
        m = self.m
        if not self.client.collection_exists(self.state_collection):
            self.client.create_collection(
                self.state_collection, vectors_config={"x": m.VectorParams(size=1, distance=m.Distance.DOT)}
            )
        self.client.upsert(self.state_collection, [m.PointStruct(
            id=_STATE_ID, vector={"x": [1.0]}, payload={"json": json.dumps(state, ensure_ascii=False)}
        )], wait=True)

    # --- points
    def upsert(self, points: list[_Point]) -> None:
        m = self.m
        structs = []
        for p in points:
            vec: dict[str, Any] = {SPARSE: m.SparseVector(indices=p.dims.tolist(), values=p.values.tolist())}
            if p.para is not None:
                vec[PARA] = p.para.tolist()
                vec[SENT] = p.sent.tolist()
            structs.append(m.PointStruct(id=p.row, vector=vec, payload=p.payload))
        self.client.upsert(self.collection, structs, wait=True)

    def hashes(self, rows: Sequence[int]) -> dict[int, str]:
        recs = self.client.retrieve(self.collection, list(rows), with_payload=["_h"], with_vectors=False)
        return {int(r.id): (r.payload or {}).get("_h", "") for r in recs}

    def stored(self, rows: Sequence[int]) -> list[_Hit]:
        recs = self.client.retrieve(self.collection, [int(r) for r in rows], with_payload=list(_RESCORE_FIELDS),
                                    with_vectors=True)
        return [_Hit(int(r.id), 0.0, r.payload or {}, r.vector or {}) for r in recs]

    def delete_from(self, n: int) -> None:
        m = self.m
        self.client.delete(self.collection, m.FilterSelector(filter=m.Filter(
            must=[m.FieldCondition(key="_row", range=m.Range(gte=n))])), wait=True)

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def close(self) -> None:
        self.client.close()

    # --- queries
    def _filter(self, filt: Mapping[str, Any] | None, ids: Sequence[int] | None,
                probe: Sequence[int] | None = None) -> Any:
        m = self.m
        must: list[Any] = []
        for key, value in _filter_items(filt):
            match = m.MatchAny(any=value) if isinstance(value, list) else m.MatchValue(value=value)
            must.append(m.FieldCondition(key=key, match=match))
        if ids is not None:
            must.append(m.HasIdCondition(has_id=list(ids)))
        if probe is not None:
            must.append(m.FieldCondition(key=PART, match=m.MatchAny(any=[int(c) for c in probe])))
        return m.Filter(must=must) if must else None

    def sparse(self, dims, values, limit, filt, ids=None, vectors=True):
        m = self.m
        res = self.client.query_points(
            self.collection, query=m.SparseVector(indices=dims, values=values), using=SPARSE, limit=limit,
            query_filter=self._filter(filt, ids), with_payload=["_dl"] if vectors else False,
            with_vectors=[SPARSE] if vectors else False,
        )
        return [_Hit(int(p.id), float(p.score), p.payload or {}, p.vector or {}) for p in res.points]

    def dense(self, q, w, limit, candidates, ef, filt, ids=None, vectors=True, probe=None):
        m = self.m
        f = self._filter(filt, ids)
        qv = q.tolist()
        params = m.SearchParams(hnsw_ef=ef) if ef else None
        if probe is not None:  # candidates: the best by MAX_SIM among the points of the probed partitions
            fp = self._filter(filt, ids, probe)
            inner = m.Prefetch(query=[qv], using=SENT, limit=candidates, filter=fp)
            para = m.Prefetch(query=qv, using=PARA, limit=candidates, prefetch=[inner])
            sent = m.Prefetch(query=[qv], using=SENT, limit=candidates, prefetch=[inner])
        else:
            para = m.Prefetch(query=qv, using=PARA, limit=candidates, filter=f, params=params)
            sent = m.Prefetch(query=[qv], using=SENT, limit=candidates, filter=f,
                              prefetch=[m.Prefetch(query=qv, using=PARA, limit=candidates, filter=f, params=params)])
        formula = m.FormulaQuery(formula=m.SumExpression(sum=[
            m.MultExpression(mult=[1.0 - w, "$score[0]"]), m.MultExpression(mult=[w, "$score[1]"])]))
        res = self.client.query_points(
            self.collection, prefetch=[para, sent], query=formula, limit=limit, query_filter=f,
            with_payload=["_s0", "_ns"], with_vectors=[PARA, SENT] if vectors else False,
        )
        return [_Hit(int(p.id), float(p.score), p.payload or {}, p.vector or {}) for p in res.points]


class EdgeEngine(_Engine):
    """Qdrant Edge (``qdrant-edge-py``): one shard in ``<root>/shard``, the state in ``<root>/state.json``."""

    kind = "edge"

    def __init__(self, root: str | Path, *, search_threads: int | None = None) -> None:
        import qdrant_edge as qe

        self.qe = qe
        self.root = Path(root)
        self.shard_dir = self.root / "shard"
        self.state_file = self.root / "state.json"
        self.search_threads = search_threads
        self.shard: Any = None
        if self.exists():
            self.shard = qe.EdgeShard.load(str(self.shard_dir))

    def exists(self) -> bool:
        return self.shard_dir.is_dir() and any(self.shard_dir.iterdir())

    def create(self, dim: int | None, hnsw: Mapping[str, int]) -> None:
        qe = self.qe
        vectors: dict[str, Any] = {}
        if dim is not None:
            vectors[PARA] = qe.EdgeVectorParams(
                size=dim, distance=qe.Distance.Dot,
                hnsw_config=qe.HnswIndexConfig(m=0 if hnsw.get("partitions") else hnsw["m"], ef_construct=hnsw["ef_construct"],
                                               full_scan_threshold=hnsw.get("full_scan_threshold", 10000)),
            )
            vectors[SENT] = qe.EdgeVectorParams(
                size=dim, distance=qe.Distance.Dot,
                multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
                hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=hnsw["ef_construct"],
                                               full_scan_threshold=hnsw.get("full_scan_threshold", 10000)),
            )
        cfg = qe.EdgeConfig(vectors=vectors, sparse_vectors={SPARSE: qe.EdgeSparseVectorParams()},
                            wal_enabled=False, max_search_threads=self.search_threads)
        self.root.mkdir(parents=True, exist_ok=True)
        self.shard = qe.EdgeShard.create(str(self.shard_dir), cfg)
        for f in FILTER_FIELDS:
            self.shard.update(qe.UpdateOperation.create_field_index(f, qe.PayloadSchemaType.Keyword))
        self.shard.update(qe.UpdateOperation.create_field_index("_row", qe.PayloadSchemaType.Integer))
        if hnsw.get("partitions"):
            self.shard.update(qe.UpdateOperation.create_field_index(PART, qe.PayloadSchemaType.Integer))

    def drop(self) -> None:
        if self.shard is not None:
            self.shard.close()
            self.shard = None
        shutil.rmtree(self.shard_dir, ignore_errors=True)
        self.state_file.unlink(missing_ok=True)

    def get_state(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def put_state(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.state_file)

    def upsert(self, points: list[_Point]) -> None:
        qe = self.qe
        pts = []
        for p in points:
            vec: dict[str, Any] = {SPARSE: qe.SparseVector(p.dims.tolist(), p.values.tolist())}
            if p.para is not None:  # lists: the binding reads them twice as fast as numpy arrays
                vec[PARA] = p.para.tolist()
                vec[SENT] = p.sent.tolist()
            pts.append(qe.Point(p.row, vec, p.payload))
        self.shard.update(qe.UpdateOperation.upsert_points(pts))

    def hashes(self, rows: Sequence[int]) -> dict[int, str]:
        recs = self.shard.retrieve(list(rows), self.qe.PayloadSelector.Include(["_h"]), False)
        return {int(r.id): (r.payload or {}).get("_h", "") for r in recs}

    def stored(self, rows: Sequence[int]) -> list[_Hit]:
        recs = self.shard.retrieve([int(r) for r in rows], self.qe.PayloadSelector.Include(list(_RESCORE_FIELDS)), True)
        return [_Hit(int(r.id), 0.0, r.payload or {}, r.vector or {}) for r in recs]

    def delete_from(self, n: int) -> None:
        qe = self.qe
        self.shard.update(qe.UpdateOperation.delete_points_by_filter(
            qe.Filter(must=[qe.FieldCondition("_row", range=qe.RangeFloat(gte=float(n)))])))

    def count(self) -> int:
        return int(self.shard.count(self.qe.CountRequest(exact=True)))

    def durable(self) -> None:
        self.shard.flush()

    def finish(self) -> None:
        self.shard.optimize()
        self.shard.flush()

    def close(self) -> None:
        if self.shard is not None:
            self.shard.close()
            self.shard = None

    def _filter(self, filt: Mapping[str, Any] | None, ids: Sequence[int] | None,
                probe: Sequence[int] | None = None) -> Any:
        qe = self.qe
        must: list[Any] = []
        for key, value in _filter_items(filt):
            match = qe.MatchAny(value) if isinstance(value, list) else qe.MatchValue(value)
            must.append(qe.FieldCondition(key, match=match))
        if ids is not None:
            must.append(qe.HasIdCondition({int(i) for i in ids}))
        if probe is not None:
            must.append(qe.FieldCondition(PART, match=qe.MatchAny([int(c) for c in probe])))
        return qe.Filter(must=must) if must else None

    def sparse_request(self, dims, values, limit, filt, ids=None, vectors=True) -> Any:
        qe = self.qe
        return qe.QueryRequest(
            limit=limit, query=qe.Query.Nearest(qe.SparseVector(dims, values), using=SPARSE),
            filter=self._filter(filt, ids), with_payload=qe.PayloadSelector.Include(["_dl"]) if vectors else False,
            with_vector=[SPARSE] if vectors else False,
        )

    def dense_request(self, q, w, limit, candidates, ef, filt, ids=None, vectors=True, probe=None) -> Any:
        qe = self.qe
        E = qe.Expression
        f = self._filter(filt, ids)
        qv = np.asarray(q, dtype=np.float32).tolist()
        params = qe.SearchParams(hnsw_ef=ef) if ef else None
        if probe is not None:  # candidates: the best by MAX_SIM among the points of the probed partitions
            inner = qe.Prefetch(limit=candidates, query=qe.Query.Nearest([qv], using=SENT),
                                filter=self._filter(filt, ids, probe))
            first = qe.Prefetch(limit=candidates, query=qe.Query.Nearest(qv, using=PARA), prefetches=[inner])
            sent = qe.Prefetch(limit=candidates, query=qe.Query.Nearest([qv], using=SENT), prefetches=[inner])
            prefetches = [first, sent]
        else:
            def para() -> Any:
                return qe.Prefetch(limit=candidates, query=qe.Query.Nearest(qv, using=PARA), params=params, filter=f)

            sent = qe.Prefetch(limit=candidates, query=qe.Query.Nearest([qv], using=SENT), prefetches=[para()], filter=f)
            prefetches = [para(), sent]
        formula = qe.Formula(E.Sum([E.Mult([E.Constant(1.0 - w), E.Variable("$score[0]")]),
                                    E.Mult([E.Constant(w), E.Variable("$score[1]")])]))
        return qe.QueryRequest(limit=limit, query=formula, prefetches=prefetches, filter=f,
                               with_payload=qe.PayloadSelector.Include(["_s0", "_ns"]),
                               with_vector=[PARA, SENT] if vectors else False)

    @staticmethod
    def hits(points: Iterable[Any]) -> list[_Hit]:
        return [_Hit(int(p.id), float(p.score), p.payload or {}, p.vector or {}) for p in points]

    def sparse(self, dims, values, limit, filt, ids=None, vectors=True):
        return self.hits(self.shard.query(self.sparse_request(dims, values, limit, filt, ids, vectors)))

    def dense(self, q, w, limit, candidates, ef, filt, ids=None, vectors=True, probe=None):
        return self.hits(self.shard.query(self.dense_request(q, w, limit, candidates, ef, filt, ids, vectors, probe)))


# ------------------------------------------------------------------------------------------------ backend


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
            vectors' HNSW finds the dense candidates); see the module's docstring. At most one per sentence.
        probe: at search, how many partitions nearest to the query are scanned (a collection uploaded with
            partitions only; probing all of them is the exact dense channel).
        search_threads: Edge's search threads (None: one per CPU).
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
        probe: int = 16,
        search_threads: int | None = None,
        **client_kwargs: Any,
    ) -> None:
        location = str(location)
        self.location = location
        if location.startswith("edge:"):
            self.engine: _Engine = EdgeEngine(location[len("edge:"):], search_threads=search_threads)
        else:
            self.engine = ClientEngine(location, collection, **client_kwargs)
        self.hnsw = {"m": int(hnsw_m), "ef_construct": int(ef_construct), "full_scan_threshold": int(full_scan_threshold)}
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
        """"server", "local", "memory" or "edge"."""
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

    def _probe(self, q: np.ndarray) -> list[int] | None:
        """The partitions to scan for the query vector (None: no partitions)."""
        cent = self.centroids
        if cent is None:
            return None
        if self.probe >= len(cent):
            return list(range(len(cent)))
        return sorted(np.argpartition(-(cent @ q), self.probe - 1)[: self.probe].tolist())

    def _lexical_tables(self) -> dict[str, Any]:
        if self._lex is None:
            st = self.state
            lex = st["lexical"]
            self._lex = {
                "dim": {t: i for i, t in enumerate(st["vocab"])},
                "idf": np.asarray([np.nan if v is None else v for v in st["idf"]], dtype=np.float64),
                "k1": float(lex["k1"]), "b": float(lex["b"]), "avgdl": float(lex["avgdl"]),
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
            info: what the caller wants kept with the collection (the library's fingerprint), in ``state["info"]``.

        Returns:
            counts: ``written`` points, ``skipped`` (already there, verified), ``trusted`` (checkpointed and
            spot-checked), ``deleted`` (rows beyond n removed).
        """
        from tqdm import tqdm

        n = bm25.n_docs
        if len(payloads) != n:
            raise ValueError(f"{len(payloads)} payloads for {n} paragraphs")
        if dense is not None and len(dense.numbers) != n:
            raise ValueError(f"the dense index has {len(dense.numbers)} paragraphs, the lexical {n}")
        for p in payloads:
            bad = [k for k in RESERVED if k in p]
            if bad:
                raise ValueError(f"payload keys {bad} are reserved by the backend")
        dim = None if dense is None else int(dense.dims)
        engine = self.engine
        old = engine.get_state() if engine.exists() else None
        # partitions are trained on the sentence vectors (the paragraph vectors where there are none)
        source = None if dense is None else dense.sentences if len(dense.sentences) else dense.paragraphs
        n_part = 0 if source is None else min(self.partitions, len(source))
        schema = {"format": STATE_FORMAT, "dim": dim, "hnsw": self.hnsw, **({"partitions": n_part} if n_part else {})}
        if old is None or old.get("schema") != schema:
            engine.drop()
            engine.create(dim, {**self.hnsw, "partitions": n_part})
            old = None

        # Vocabulary table: slots of known terms never move; new terms are appended.
        vocab: list[str] = list(old["vocab"]) if old else []
        slot = {t: i for i, t in enumerate(vocab)}
        for t in bm25.vocab:
            if t not in slot:
                slot[t] = len(vocab)
                vocab.append(t)
        dim_of_tid = np.fromiter((slot[t] for t in bm25.vocab), dtype=np.int64, count=len(bm25.vocab))
        idf: list[float | None] = [None] * len(vocab)
        for tid, d in enumerate(dim_of_tid.tolist()):
            idf[d] = float(bm25.idf[tid])
        avgdl = bm25.avgdl if bm25.avgdl > 0 else 1.0
        lexical = {"k1": bm25.k1, "b": bm25.b, "avgdl": avgdl, "n_docs": n, "idf_variant": bm25.idf_variant}

        # Doc-major term frequencies and the stored values (float32 of BM25Index's float64 expression).
        docs = bm25.tf.T.tocsr()
        docs.sort_indices()
        doc_len = bm25.doc_len

        def point(r: int) -> _Point:
            s, e = docs.indptr[r], docs.indptr[r + 1]
            tfv = docs.data[s:e].astype(np.float64)
            dl = float(doc_len[r])
            norm = bm25.k1 * (1.0 - bm25.b + bm25.b * dl / avgdl)
            vals = (tfv * (bm25.k1 + 1.0) / (tfv + norm)).astype(np.float32)
            dims = dim_of_tid[docs.indices[s:e]].astype(np.uint32)
            order = np.argsort(dims, kind="stable")
            dims, vals = dims[order], vals[order]
            payload = dict(payloads[r])
            para = sent = None
            s0 = ns = 0
            if dense is not None:
                para = np.asarray(dense.paragraphs[r], dtype=np.float32)
                sl = dense.sentence_rows(r)
                s0, ns = int(sl.start), int(sl.stop - sl.start)
                sent = np.asarray(dense.sentences[sl], dtype=np.float32) if ns else para[None, :]
            payload.update({"_row": r, "_dl": int(doc_len[r]), "_s0": s0, "_ns": ns})
            if part_para is not None:
                payload[PART] = sorted({int(part_para[r]), *part_sent[s0:s0 + ns].tolist()})
            payload["_h"] = _content_hash(r, payload, dims, vals, para, sent)
            return _Point(r, payload, dims, vals, para, sent)

        # The content digest ties a checkpoint to exactly this content.
        digest = hashlib.blake2b(digest_size=16)
        digest.update(json.dumps({"schema": schema, "lexical": lexical, "n": n}, sort_keys=True).encode())
        digest.update(json.dumps(vocab, ensure_ascii=False).encode())
        digest.update(json.dumps(idf).encode())
        for arr in (docs.indptr, docs.indices, docs.data, doc_len):
            digest.update(np.ascontiguousarray(arr).tobytes())
        for a in range(0, n, 65536):
            digest.update(json.dumps(list(payloads[a:a + 65536]), sort_keys=True, ensure_ascii=False,
                                     default=str).encode())
        if dense is not None:
            spans = np.array([(sl.start, sl.stop) for sl in map(dense.sentence_rows, range(n))], dtype=np.int64)
            digest.update(spans.tobytes())
            for arr in (dense.paragraphs, dense.sentences):
                for a in range(0, len(arr), 65536):  # in chunks: the arrays may be memory-mapped and large
                    digest.update(np.ascontiguousarray(arr[a:a + 65536], dtype=np.float32).tobytes())
        content = digest.hexdigest()

        trusted_upto = 0
        same = bool(old and old.get("upload", {}).get("content") == content)
        if same:
            trusted_upto = min(int(old["upload"].get("next_row", 0)), n)
        state = {"schema": schema, "vocab": vocab, "idf": idf, "lexical": lexical, "info": dict(info or {}),
                 "upload": {"content": content, "n": n, "next_row": trusted_upto, "complete": False}}
        part_para = part_sent = None
        if n_part:
            # a resumed upload keeps the centroids its points were assigned with
            if same and old.get("partitions", {}).get("count") == n_part:
                state["partitions"] = old["partitions"]
            else:
                if progress:
                    print(f"qdrant: {n_part} partitions (k-means over {len(source)} vectors) …", file=sys.stderr, flush=True)
                state["partitions"] = _encode_centroids(_train_centroids(source, n_part))
            cent = _decode_centroids(state["partitions"])
            part_para = _assign(dense.paragraphs, cent)
            part_sent = _assign(dense.sentences, cent)
        counts = {"written": 0, "skipped": 0, "trusted": 0, "deleted": 0}
        batches = [(a, min(a + batch_size, n)) for a in range(0, n, batch_size)]
        # Spot-check the trusted prefix: its first, last and a few evenly spaced batches.
        prefix = [b for b in batches if b[1] <= trusted_upto]
        if prefix:
            picks = {0, len(prefix) - 1, *np.linspace(0, len(prefix) - 1, max(verify_sample, 2)).astype(int).tolist()}
            for i in sorted(picks):
                a, e = prefix[i]
                have = engine.hashes(range(a, e))
                if any(have.get(r) != point(r).payload["_h"] for r in range(a, e)):
                    trusted_upto = 0  # the checkpoint lies: verify everything
                    break
        state["upload"]["next_row"] = trusted_upto
        engine.put_state(state)
        bar = tqdm(total=n, unit="para", desc=f"qdrant {self.kind} upload", file=sys.stderr, disable=not progress)
        last_checkpoint = time.monotonic()
        for a, e in batches:
            if e <= trusted_upto:
                counts["trusted"] += e - a
                bar.update(e - a)
                continue
            pts = [point(r) for r in range(a, e)]
            have = engine.hashes(range(a, e))
            todo = [p for p in pts if have.get(p.row) != p.payload["_h"]]
            if todo:
                engine.upsert(todo)
            counts["written"] += len(todo)
            counts["skipped"] += len(pts) - len(todo)
            bar.update(e - a)
            if time.monotonic() - last_checkpoint > 30.0 or e == n:
                engine.durable()
                state["upload"]["next_row"] = e
                engine.put_state(state)
                last_checkpoint = time.monotonic()
        bar.close()
        total = engine.count()
        if total > n:
            engine.delete_from(n)
            counts["deleted"] = total - n
        engine.finish()
        total = engine.count()
        if total != n:
            raise RuntimeError(f"the collection holds {total} points after the upload, expected {n}")
        state["upload"].update(next_row=n, complete=True)
        engine.put_state(state)
        self._state, self._lex, self._centroids = state, None, None
        return counts

    # --- lexical -------------------------------------------------------------------------------------

    def _query_weights(self, query_terms: Sequence[tuple[str, float]]) -> list[tuple[int, float]]:
        """Slots and summed weights, in first-seen order, as ``BM25Index._accumulate`` sums them."""
        tab = self._lexical_tables()
        weights: dict[int, float] = {}
        for term, w in query_terms:
            d = tab["dim"].get(term)
            if d is not None and not math.isnan(tab["idf"][d]) and w:
                weights[d] = weights.get(d, 0.0) + float(w)
        return list(weights.items())

    def lexical(self, query_terms: Sequence[tuple[str, float]], k: int,
                filter: Mapping[str, Any] | None = None, *, detail: bool = True) -> list[tuple[int, float]]:
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
        weights = self._query_weights(query_terms)
        if not weights:
            return []
        tab = self._lexical_tables()
        dims = [d for d, _ in weights]
        vals = [w * float(tab["idf"][d]) for d, w in weights]
        if not detail:
            hits = self.engine.sparse(dims, vals, k, filter, vectors=False)
            return sorted(((h.row, h.score) for h in hits), key=lambda x: (-x[1], x[0]))
        limit = k + max(10, k // 2)
        while True:
            hits = self.engine.sparse(dims, vals, limit, filter)
            exact = self._rescore_lexical(weights, hits)
            if _complete(hits, exact, k, limit):
                return exact[:k]
            limit *= 4

    def _rescore_lexical(self, weights: list[tuple[int, float]], hits: list[_Hit]) -> list[tuple[int, float]]:
        """Exact BM25 of the candidates, from their stored values and lengths: BM25Index's float64
        expression, term by term in the same order, so the scores are the very same numbers."""
        if not hits:
            return []
        tab = self._lexical_tables()
        k1, b, avgdl, idf = tab["k1"], tab["b"], tab["avgdl"], tab["idf"]
        idx, val = [], []
        for h in hits:
            sv = h.vectors.get(SPARSE)
            idx.append(np.asarray(sv.indices if sv is not None else [], dtype=np.int64))
            val.append(np.asarray(sv.values if sv is not None else [], dtype=np.float32))
        owner = np.repeat(np.arange(len(hits), dtype=np.int64), [len(i) for i in idx])
        keys = (owner << 32) | np.concatenate(idx)
        vals = np.concatenate(val)
        order = np.argsort(keys, kind="stable")
        keys, vals = keys[order], vals[order]
        dl = np.array([float(h.payload["_dl"]) for h in hits])
        norm = k1 * (1.0 - b + b * dl / avgdl)
        score = np.zeros(len(hits))
        touched = np.zeros(len(hits), dtype=bool)
        base = np.arange(len(hits), dtype=np.int64) << 32
        for d, w in weights:
            want = base | d
            pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
            present = keys[pos] == want if len(keys) else np.zeros(len(hits), dtype=bool)
            if not present.any():
                continue
            tf = _term_frequencies(vals[pos][present], norm[present], k1)
            contrib = w * (float(idf[d]) * (tf * (k1 + 1.0) / (tf + norm[present])))
            score[present] = score[present] + contrib
            touched |= present
        out = [(hits[i].row, float(score[i])) for i in np.flatnonzero(touched)]
        out.sort(key=lambda x: (-x[1], x[0]))
        return out

    def lexical_scores(self, query_terms: Sequence[tuple[str, float]], rows: Sequence[int], *,
                       detail: bool = True) -> dict[int, float]:
        """BM25 of the given rows (0 for a row with no query term), exact or (``detail=False``) the engine's:
        to fuse candidates of the other channel."""
        weights = self._query_weights(query_terms)
        out = {int(r): 0.0 for r in rows}
        if not weights or not rows:
            return out
        tab = self._lexical_tables()
        dims = [d for d, _ in weights]
        vals = [w * float(tab["idf"][d]) for d, w in weights]
        hits = self.engine.sparse(dims, vals, len(rows), None, ids=rows, vectors=detail)
        for r, s in self._rescore_lexical(weights, hits) if detail else ((h.row, h.score) for h in hits):
            out[r] = s
        return out

    # --- dense ---------------------------------------------------------------------------------------

    def _rescore_dense(self, q: np.ndarray, w: float, hits: list[_Hit]) -> list[DenseRow]:
        out = []
        for h in hits:
            para = np.asarray(h.vectors[PARA], dtype=np.float32)
            sent = np.asarray(h.vectors[SENT], dtype=np.float32)
            p64 = float(np.float32(para @ q))
            ns = int(h.payload.get("_ns", 0))
            if ns:
                cos = sent @ q
                j = int(np.argmax(cos))
                best, srow = float(cos[j]), int(h.payload["_s0"]) + j
            else:
                best, srow = p64, -1
            out.append(DenseRow(h.row, (1.0 - w) * p64 + w * best, p64, best, srow))
        out.sort(key=lambda d: (-d.combined, d.row))
        return out

    def dense(self, query_vec: np.ndarray, k: int, sentence_weight: float = 0.5,
              filter: Mapping[str, Any] | None = None, *, candidates: int | None = None,
              detail: bool = True) -> list[DenseRow]:
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
            exact = self._rescore_dense(q, w, hits)
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
            for h in self.engine.stored(rows[a:a + chunk]):
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
        lexical = sparse.csr_matrix((np.concatenate(val) if val else np.zeros(0, np.float32),
                                     np.concatenate(ind) if ind else np.zeros(0, np.int64), np.array(ptr)),
                                    shape=(len(rows), width))
        out: dict[str, Any] = {"rows": np.array(rows, dtype=np.int64), "lexical": lexical}
        if self.state["schema"]["dim"] is not None:
            out["para"] = np.array([h.vectors[PARA] for h in ordered], dtype=np.float32)
            sents = [np.asarray(h.vectors[SENT], dtype=np.float32) for h in ordered]
            out["sent"] = np.concatenate(sents) if sents else np.zeros((0, self.state["schema"]["dim"]), np.float32)
            out["first"] = np.concatenate([[0], np.cumsum([len(x) for x in sents])]).astype(np.int64)
        return out

    def dense_scores(self, query_vec: np.ndarray, rows: Sequence[int], sentence_weight: float = 0.5,
                     *, detail: bool = True) -> dict[int, DenseRow]:
        """Dense scores of the given rows (to fuse candidates of the other channel, or to detail a
        final list): exact ones from the stored vectors, or the engine's with ``detail=False``."""
        if not rows:
            return {}
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        w = float(sentence_weight)
        hits = self.engine.dense(q, w, len(rows), len(rows), None, None, ids=rows, vectors=detail)
        if not detail:
            return {h.row: DenseRow(h.row, h.score, math.nan, math.nan, -1) for h in hits}
        return {d.row: d for d in self._rescore_dense(q, w, hits)}


def _train_centroids(vectors: Any, count: int, *, sample_per_centroid: int = 32, iterations: int = 10,
                     seed: int = 0) -> np.ndarray:
    """``count`` unit centroids by spherical k-means over a fixed random sample of ``vectors`` (rows of an
    array, possibly memory-mapped), rounded to float16 (how they are stored); deterministic for given data."""
    m = len(vectors)
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(m, size=min(m, sample_per_centroid * count), replace=False))
    x = np.ascontiguousarray(np.asarray(vectors[take], dtype=np.float32))
    cent = x[rng.choice(len(x), size=count, replace=False)].copy()
    for _ in range(iterations):
        a = _assign(x, cent)
        sums = np.zeros_like(cent)
        np.add.at(sums, a, x)
        empty = np.bincount(a, minlength=count) == 0
        sums[empty] = x[rng.choice(len(x), size=int(empty.sum()), replace=False)]  # an empty one restarts
        cent = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return cent.astype(np.float16).astype(np.float32)


def _assign(vectors: Any, cent: np.ndarray, step: int = 65536) -> np.ndarray:
    """The nearest centroid (largest dot product) of every row, in chunks (rows may be memory-mapped)."""
    out = np.empty(len(vectors), dtype=np.int32)
    for a in range(0, len(vectors), step):
        out[a:a + step] = np.argmax(np.asarray(vectors[a:a + step], dtype=np.float32) @ cent.T, axis=1)
    return out


def _encode_centroids(cent: np.ndarray) -> dict[str, Any]:
    import base64

    return {"count": int(cent.shape[0]), "dim": int(cent.shape[1]),
            "float16": base64.b64encode(cent.astype("<f2").tobytes()).decode("ascii")}


def _decode_centroids(part: Mapping[str, Any]) -> np.ndarray:
    import base64

    raw = np.frombuffer(base64.b64decode(part["float16"]), dtype="<f2")
    return raw.reshape(int(part["count"]), int(part["dim"])).astype(np.float32)


def _term_frequency(v: float, norm: float, k1: float) -> float:
    """The integer term frequency whose stored (float32) BM25 tf part is ``v``, checked exactly."""
    if k1 == 0.0:
        return 1.0  # every tf gives 1.0: the tf part does not depend on it
    target = np.float32(v)
    guess = v * norm / (k1 + 1.0 - v) if v < k1 + 1.0 else 1e9
    t0 = max(1, round(guess))
    for t in (t0, t0 - 1, t0 + 1):
        if t >= 1 and np.float32(t * (k1 + 1.0) / (t + norm)) == target:
            return float(t)
    raise ValueError(f"stored BM25 value {v!r} matches no term frequency (norm {norm!r}): collection damaged?")


def _term_frequencies(v: np.ndarray, norm: np.ndarray, k1: float) -> np.ndarray:
    """:func:`_term_frequency` for arrays of stored values (float32) and their documents' norms."""
    if k1 == 0.0:
        return np.ones(len(v))
    v64 = v.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        guess = np.where(v64 < k1 + 1.0, v64 * norm / (k1 + 1.0 - v64), 1e9)
    t0 = np.maximum(1.0, np.rint(guess))
    tf = np.full(len(v), np.nan)
    for t in (t0, t0 - 1.0, t0 + 1.0):
        ok = np.isnan(tf) & (t >= 1.0) & ((t * (k1 + 1.0) / (t + norm)).astype(np.float32) == v)
        tf[ok] = t[ok]
    if np.isnan(tf).any():
        bad = int(np.flatnonzero(np.isnan(tf))[0])
        raise ValueError(f"stored BM25 value {float(v[bad])!r} matches no term frequency (norm {float(norm[bad])!r}): "
                         "collection damaged?")
    return tf


def _complete(hits: list[_Hit], exact: list[tuple[int, float]], k: int, limit: int) -> bool:
    """Whether the engine's ``limit`` candidates surely hold the exact top ``k``: it returned fewer than it
    was asked (every match), or its last score (float32) is clearly below the exact k-th score."""
    if len(hits) < limit or not exact:
        return True
    if len(exact) < k:
        return False
    kth = exact[k - 1][1]
    last = min(h.score for h in hits)
    return last < kth - 1e-4 * (1.0 + abs(kth))


# ------------------------------------------------------------------------------------------------ fusion


def fuse_candidates(
    lexical: Mapping[int, float],
    dense: Mapping[int, float],
    weight: float,
    lexical_stats: tuple[float, float],
    dense_stats: tuple[float, float],
) -> list[tuple[int, float]]:
    """``pipeline.fusion.fuse(method="zscore")`` over candidate rows only, with the channels' population
    mean and standard deviation supplied (exact ones give fuse's scores exactly; estimates from a sample of
    paragraphs give approximations).

    Args:
        lexical: exact BM25 of every candidate (0 for one without a query term).
        dense: exact combined dense score of every candidate.
        weight: the lexical channel's share (``fusion.lexical_weight``).
        lexical_stats: ``(mean, std)`` of BM25 over all paragraphs.
        dense_stats: ``(mean, std)`` of the dense score over all paragraphs.

    Returns:
        ``(row, fused)`` best first, ties in row order.
    """
    rows = sorted(set(lexical) | set(dense))
    if not rows:
        return []
    lx = np.array([lexical.get(r, 0.0) for r in rows], dtype=np.float64)
    dn = np.array([dense[r] for r in rows], dtype=np.float64)

    def z(x: np.ndarray, stats: tuple[float, float]) -> np.ndarray:
        mean, sd = stats
        return np.zeros_like(x) if sd <= 1e-12 else (x - mean) / sd

    fused = weight * z(lx, lexical_stats) + (1 - weight) * z(dn, dense_stats)
    order = top_k(fused, len(rows))
    return [(rows[i], float(fused[i])) for i in order]
