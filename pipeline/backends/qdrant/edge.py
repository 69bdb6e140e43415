"""Qdrant Edge (``qdrant-edge-py``) as the backend's engine: the Rust shard engine in-process, no server;
the backend's state in ``state.json`` beside the shard."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.backends.qdrant.engines import (
    _RESCORE_FIELDS,
    FILTER_FIELDS,
    PARA,
    PART,
    SENT,
    SPARSE,
    DamagedCollection,
    _Engine,
    _filter_items,
    _Hit,
    _Point,
)


class EdgeEngine(_Engine):
    """Qdrant Edge (``qdrant-edge-py``): one shard in ``<root>/shard``, the state in ``<root>/state.json``."""

    kind = "edge"

    def __init__(
        self, root: str | Path, *, search_threads: int | None = None, oversampling: float = 2.0
    ) -> None:
        import qdrant_edge as qe

        self.qe = qe
        self.root = Path(root)
        self.shard_dir = self.root / "shard"
        self.state_file = self.root / "state.json"
        self.search_threads = search_threads
        #: with int8 sentence vectors, the partition scan ranks ``oversampling`` × its candidates by the
        #: quantized scores and rescores those from the float32 vectors (the engine's own rescoring); 0:
        #: the scan reads the float32 vectors
        self.oversampling = float(oversampling)
        self.shard: Any = None
        if self.exists():
            self.shard = qe.EdgeShard.load(str(self.shard_dir))

    def exists(self) -> bool:
        return self.shard_dir.is_dir() and any(self.shard_dir.iterdir())

    def create(self, dim: int | None, hnsw: Mapping[str, int]) -> None:
        qe = self.qe
        vectors: dict[str, Any] = {}
        # int8 scalar quantization of the sentence vectors (kept in RAM; built by optimize()): the probed
        # partitions' scan reads a quarter of the bytes, then rescores from the float32 vectors
        quantize = (
            qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99, always_ram=True)
            if hnsw.get("quantization") == 8
            else None
        )
        if dim is not None:
            vectors[PARA] = qe.EdgeVectorParams(
                size=dim,
                distance=qe.Distance.Dot,
                hnsw_config=qe.HnswIndexConfig(
                    m=0 if hnsw.get("partitions") else hnsw["m"],
                    ef_construct=hnsw["ef_construct"],
                    full_scan_threshold=hnsw.get("full_scan_threshold", 10000),
                ),
            )
            vectors[SENT] = qe.EdgeVectorParams(
                size=dim,
                distance=qe.Distance.Dot,
                multivector_config=qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim),
                quantization_config=quantize,
                hnsw_config=qe.HnswIndexConfig(
                    m=0,
                    ef_construct=hnsw["ef_construct"],
                    full_scan_threshold=hnsw.get("full_scan_threshold", 10000),
                ),
            )
        cfg = qe.EdgeConfig(
            vectors=vectors,
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams()},
            wal_enabled=False,
            max_search_threads=self.search_threads,
        )
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
        self.discard(self.root)

    @staticmethod
    def discard(root: str | Path) -> None:
        """Delete the collection kept in ``root`` (its shard and state), whether or not it can be loaded."""
        shutil.rmtree(Path(root) / "shard", ignore_errors=True)
        (Path(root) / "state.json").unlink(missing_ok=True)

    def get_state(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise DamagedCollection(f"{self.state_file.name} cannot be read: {e}") from None
        if not isinstance(state, dict):
            raise DamagedCollection(f"{self.state_file.name} holds a {type(state).__name__}, not the state")
        return state

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
        include = self.qe.PayloadSelector.Include(list(_RESCORE_FIELDS))
        recs = self.shard.retrieve([int(r) for r in rows], include, True)
        return [_Hit(int(r.id), 0.0, r.payload or {}, r.vector or {}) for r in recs]

    def points(self, rows: Sequence[int]) -> list[_Hit]:
        recs = self.shard.retrieve([int(r) for r in rows], True, True)
        return [_Hit(int(r.id), 0.0, r.payload or {}, r.vector or {}) for r in recs]

    def delete_from(self, n: int) -> None:
        qe = self.qe
        self.shard.update(
            qe.UpdateOperation.delete_points_by_filter(
                qe.Filter(must=[qe.FieldCondition("_row", range=qe.RangeFloat(gte=float(n)))])
            )
        )

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

    def _filter(
        self, filt: Mapping[str, Any] | None, ids: Sequence[int] | None, probe: Sequence[int] | None = None
    ) -> Any:
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
            limit=limit,
            query=qe.Query.Nearest(qe.SparseVector(dims, values), using=SPARSE),
            filter=self._filter(filt, ids),
            with_payload=qe.PayloadSelector.Include(["_dl"]) if vectors else False,
            with_vector=[SPARSE] if vectors else False,
        )

    def dense_request(self, q, w, limit, candidates, ef, filt, ids=None, vectors=True, probe=None) -> Any:
        qe = self.qe
        E = qe.Expression
        f = self._filter(filt, ids)
        qv = np.asarray(q, dtype=np.float32).tolist()
        params = qe.SearchParams(hnsw_ef=ef) if ef else None
        if probe is not None:  # candidates: the best by MAX_SIM among the points of the probed partitions
            # (rescored from the float32 vectors when the sentence vectors are quantized: exact MAX_SIM)
            quant = (
                qe.QuantizationSearchParams(rescore=True, oversampling=self.oversampling)
                if self.oversampling
                else qe.QuantizationSearchParams(ignore=True)
            )
            inner = qe.Prefetch(
                limit=candidates,
                query=qe.Query.Nearest([qv], using=SENT),
                filter=self._filter(filt, ids, probe),
                params=qe.SearchParams(quantization=quant),
            )
            first = qe.Prefetch(limit=candidates, query=qe.Query.Nearest(qv, using=PARA), prefetches=[inner])
            # the formula takes the scan's own MAX_SIM scores: one scan (rescoring its candidates by SENT
            # again in a second prefetch cost as much as the scan)
            prefetches = [first, inner]
        else:

            def para() -> Any:
                return qe.Prefetch(
                    limit=candidates, query=qe.Query.Nearest(qv, using=PARA), params=params, filter=f
                )

            sent = qe.Prefetch(
                limit=candidates, query=qe.Query.Nearest([qv], using=SENT), prefetches=[para()], filter=f
            )
            prefetches = [para(), sent]
        formula = qe.Formula(
            E.Sum(
                [
                    E.Mult([E.Constant(1.0 - w), E.Variable("$score[0]")]),
                    E.Mult([E.Constant(w), E.Variable("$score[1]")]),
                ]
            )
        )
        return qe.QueryRequest(
            limit=limit,
            query=formula,
            prefetches=prefetches,
            filter=f,
            with_payload=qe.PayloadSelector.Include(["_s0", "_ns"]),
            with_vector=[PARA, SENT] if vectors else False,
        )

    @staticmethod
    def hits(points: Iterable[Any]) -> list[_Hit]:
        return [_Hit(int(p.id), float(p.score), p.payload or {}, p.vector or {}) for p in points]

    def sparse(self, dims, values, limit, filt, ids=None, vectors=True):
        return self.hits(self.shard.query(self.sparse_request(dims, values, limit, filt, ids, vectors)))

    def dense(self, q, w, limit, candidates, ef, filt, ids=None, vectors=True, probe=None):
        if ids is not None and not vectors and probe is None:
            return self._dense_of(q, w, ids, filt)
        request = self.dense_request(q, w, limit, candidates, ef, filt, ids, vectors, probe)
        return self.hits(self.shard.query(request))

    def _dense_of(self, q: Any, w: float, ids: Sequence[int], filt: Mapping[str, Any] | None) -> list[_Hit]:
        """The combined dense score of the given points (the other channel's candidates), without vectors:
        their paragraph and MAX_SIM scores by two plain searches restricted to the ids (unquantized),
        combined here in float32 as the formula does: 14 ms for 1,000 random points of a million against
        64 ms for the formula over nested prefetches (which scored the paragraph vectors twice and read the
        payload)."""
        qe = self.qe
        f = self._filter(filt, ids)
        qv = np.asarray(q, dtype=np.float32).tolist()
        exact = qe.SearchParams(quantization=qe.QuantizationSearchParams(ignore=True))

        def request(query: Any, using: str) -> Any:
            return qe.QueryRequest(
                limit=len(ids),
                query=qe.Query.Nearest(query, using=using),
                filter=f,
                params=exact,
                with_payload=False,
                with_vector=False,
            )

        # (sent as one query_batch, the two took the same time)
        para = self.shard.query(request(qv, PARA))
        sent = self.shard.query(request([qv], SENT))
        ps = {int(p.id): float(p.score) for p in para}
        a, b = np.float32(1.0 - w), np.float32(w)
        return [
            _Hit(int(p.id), float(a * np.float32(ps[int(p.id)]) + b * np.float32(p.score)), {}, {})
            for p in sent
            if int(p.id) in ps
        ]
