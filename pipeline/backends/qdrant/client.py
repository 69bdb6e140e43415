"""qdrant-client as the backend's engine: a Qdrant server (``http(s)://…``), local mode on a directory, or
``":memory:"``; the backend's state in a one-point side collection ``<collection>__state``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from pipeline.backends.qdrant.engines import (
    _RESCORE_FIELDS,
    _STATE_ID,
    FILTER_FIELDS,
    PARA,
    PART,
    SENT,
    SERVER_TIMEOUT,
    SPARSE,
    DamagedCollection,
    EngineUnusable,
    _Engine,
    _filter_items,
    _Hit,
    _Point,
)


def _what_happened(e: BaseException, timeout: float) -> str:
    """What a failed request to a server says about it, in a few words (after "the Qdrant server at URL")."""
    status = getattr(e, "status_code", None)
    if status is not None:
        content = getattr(e, "content", b"") or b""
        kind = "HTML" if content.lstrip()[:1] == b"<" else f"{len(content)} bytes"
        return f"answered HTTP {status} ({kind}): is it a Qdrant server's REST port (usually 6333)?"
    text = f"{e}".strip() or type(e).__name__
    low = text.lower()
    if "timed out" in low or "timeout" in low or "timeout" in type(e).__name__.lower():
        return f"did not answer within {timeout:g} s (timed out)"
    if "refused" in low:
        return "refused the connection: nothing listens there (is Qdrant running, and is the port right?)"
    if "validation error" in low or "field required" in low:
        return "does not answer as a Qdrant server (its reply to GET / is not Qdrant's)"
    return f"cannot be reached: {text.splitlines()[0]}"


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
            if not urlsplit(location).hostname:
                raise EngineUnusable(f"{location} names no host: use http://HOST:6333")
            timeout = client_kwargs.pop("timeout", SERVER_TIMEOUT)
            client_kwargs.setdefault("check_compatibility", False)  # _probe below says what is wrong
            self.client = QdrantClient(url=location, timeout=timeout, **client_kwargs)
            self.kind = "server"
            self._probe(location, timeout)
        else:
            self.client = QdrantClient(path=location, **client_kwargs)
            self.kind = "local"

    def _probe(self, location: str, timeout: float) -> None:
        """Ask the server its version (``GET /``); one clear line when it cannot be reached, times out or
        does not answer as Qdrant does.

        Raises:
            EngineUnusable: naming the location and what happened.
        """
        try:
            info = self.client.info()
        except Exception as e:  # noqa: BLE001 - httpx, pydantic and qdrant-client errors alike
            raise EngineUnusable(f"the Qdrant server at {location} {_what_happened(e, timeout)}") from None
        if not getattr(info, "version", None):
            raise EngineUnusable(
                f"{location} does not answer as a Qdrant server (no version in its reply to GET /)"
            )

    # --- collection
    def exists(self) -> bool:
        return self.client.collection_exists(self.collection)

    def create(self, dim: int | None, hnsw: Mapping[str, int]) -> None:
        m = self.m
        vectors: dict[str, Any] = {}
        if dim is not None:
            vectors[PARA] = m.VectorParams(
                size=dim,
                distance=m.Distance.DOT,
                hnsw_config=m.HnswConfigDiff(
                    m=0 if hnsw.get("partitions") else hnsw["m"], ef_construct=hnsw["ef_construct"]
                ),
            )
            vectors[SENT] = m.VectorParams(
                size=dim,
                distance=m.Distance.DOT,
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
                self.client.create_payload_index(
                    self.collection, PART, m.PayloadSchemaType.INTEGER, wait=True
                )
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
        if not recs:
            return None
        try:
            state = json.loads((recs[0].payload or {})["json"])
        except (KeyError, TypeError, ValueError) as e:
            raise DamagedCollection(f"its state ({self.state_collection}) cannot be read: {e!r}") from None
        if not isinstance(state, dict):
            raise DamagedCollection(f"its state ({self.state_collection}) is a {type(state).__name__}")
        return state

    def put_state(self, state: dict[str, Any]) -> None:
        m = self.m
        if not self.client.collection_exists(self.state_collection):
            self.client.create_collection(
                self.state_collection, vectors_config={"x": m.VectorParams(size=1, distance=m.Distance.DOT)}
            )
        self.client.upsert(
            self.state_collection,
            [
                m.PointStruct(
                    id=_STATE_ID, vector={"x": [1.0]}, payload={"json": json.dumps(state, ensure_ascii=False)}
                )
            ],
            wait=True,
        )

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
        recs = self.client.retrieve(
            self.collection, [int(r) for r in rows], with_payload=list(_RESCORE_FIELDS), with_vectors=True
        )
        return [_Hit(int(r.id), 0.0, r.payload or {}, r.vector or {}) for r in recs]

    def points(self, rows: Sequence[int]) -> list[_Hit]:
        recs = self.client.retrieve(
            self.collection, [int(r) for r in rows], with_payload=True, with_vectors=True
        )
        return [_Hit(int(r.id), 0.0, r.payload or {}, r.vector or {}) for r in recs]

    def delete_from(self, n: int) -> None:
        m = self.m
        self.client.delete(
            self.collection,
            m.FilterSelector(filter=m.Filter(must=[m.FieldCondition(key="_row", range=m.Range(gte=n))])),
            wait=True,
        )

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def close(self) -> None:
        self.client.close()

    # --- queries
    def _filter(
        self, filt: Mapping[str, Any] | None, ids: Sequence[int] | None, probe: Sequence[int] | None = None
    ) -> Any:
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
            self.collection,
            query=m.SparseVector(indices=dims, values=values),
            using=SPARSE,
            limit=limit,
            query_filter=self._filter(filt, ids),
            with_payload=["_dl"] if vectors else False,
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
            sent = inner  # the formula takes the scan's own MAX_SIM scores: the partitions are scanned once
        else:
            para = m.Prefetch(query=qv, using=PARA, limit=candidates, filter=f, params=params)
            inner = m.Prefetch(query=qv, using=PARA, limit=candidates, filter=f, params=params)
            sent = m.Prefetch(query=[qv], using=SENT, limit=candidates, filter=f, prefetch=[inner])
        formula = m.FormulaQuery(
            formula=m.SumExpression(
                sum=[m.MultExpression(mult=[1.0 - w, "$score[0]"]), m.MultExpression(mult=[w, "$score[1]"])]
            )
        )
        res = self.client.query_points(
            self.collection,
            prefetch=[para, sent],
            query=formula,
            limit=limit,
            query_filter=f,
            with_payload=["_s0", "_ns"],
            with_vectors=[PARA, SENT] if vectors else False,
        )
        return [_Hit(int(p.id), float(p.score), p.payload or {}, p.vector or {}) for p in res.points]
