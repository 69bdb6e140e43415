"""Uploading a library's rows into a collection: the collection's layout, the vocabulary table, the points,
and an idempotent, resumable write with checkpoints.

:class:`_Upload` does the work of :meth:`QdrantBackend.upload
<pipeline.backends.qdrant.backend.QdrantBackend.upload>`, in steps: (re)create the collection when its
layout changed, extend the vocabulary table, digest the content (which ties a checkpoint to it), train and
assign the sentence partitions, spot-check the checkpointed prefix, write the batches whose points differ
(checkpointing the state), delete the points beyond ``n`` and build the indexes.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.backends.qdrant.engines import PART, RESERVED, STATE_FORMAT, _Engine, _Point, check_rows
from pipeline.backends.qdrant.partitions import (
    _assign,
    _decode_centroids,
    _encode_centroids,
    _train_centroids,
)

if TYPE_CHECKING:
    from pipeline.dense import DenseIndex
    from pipeline.lexical import BM25Index

#: Rows per chunk when digesting payloads and vectors (the arrays may be memory-mapped and large).
_CHUNK = 65536
#: Seconds between two checkpoints of the upload.
_CHECKPOINT_EVERY = 30.0


def _content_hash(
    row: int,
    payload: Mapping[str, Any],
    dims: np.ndarray,
    values: np.ndarray,
    para: np.ndarray | None,
    sent: np.ndarray | None,
) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(int(row).to_bytes(8, "little"))
    h.update(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode())
    h.update(np.ascontiguousarray(dims, dtype="<u4").tobytes())
    h.update(np.ascontiguousarray(values, dtype="<f4").tobytes())
    for v in (para, sent):
        h.update(b"|" if v is None else np.ascontiguousarray(v, dtype="<f4").tobytes())
    return h.hexdigest()


class _Upload:
    """One upload of ``payloads``, ``bm25`` and ``dense`` (see :meth:`QdrantBackend.upload`) into ``engine``.

    Args:
        engine: the collection's engine.
        hnsw: the backend's HNSW settings (``m``, ``ef_construct``, ``full_scan_threshold``).
        partitions: sentence partitions wanted (0: none; at most one per sentence vector).
        payloads: one dict per row.
        bm25: the BM25 index over the rows.
        dense: the dense index over the rows, or None (a lexical-only collection).
    """

    def __init__(
        self,
        engine: _Engine,
        hnsw: Mapping[str, int],
        partitions: int,
        payloads: Sequence[Mapping[str, Any]],
        bm25: BM25Index,
        dense: DenseIndex | None,
    ) -> None:
        self.engine = engine
        self.hnsw = hnsw
        self.partitions = partitions
        self.payloads = payloads
        self.bm25 = bm25
        self.dense = dense
        self.n = bm25.n_docs
        self.part_para: np.ndarray | None = None
        self.part_sent: np.ndarray | None = None

    def run(
        self, *, batch_size: int, progress: bool, verify_sample: int, info: Mapping[str, Any] | None
    ) -> tuple[dict[str, int], dict[str, Any]]:
        """Upload every row (arguments as for :meth:`QdrantBackend.upload`).

        Returns:
            the counts (``written``, ``skipped``, ``trusted``, ``deleted``) and the collection's new state.
        """
        from tqdm import tqdm

        self._check()
        old = self._open_collection()
        self._vocabulary(old)
        self._doc_major()
        state, trusted_upto, same = self._new_state(old, self._content_digest(), info)
        if self.n_part:
            self._partitions(state, old, same, progress)
        counts = {"written": 0, "skipped": 0, "trusted": 0, "deleted": 0}
        batches = [(a, min(a + batch_size, self.n)) for a in range(0, self.n, batch_size)]
        trusted_upto = self._verify_prefix(batches, trusted_upto, verify_sample)
        state["upload"]["next_row"] = trusted_upto
        self.engine.put_state(state)
        bar = tqdm(
            total=self.n,
            unit="para",
            desc=f"qdrant {self.engine.kind} upload",
            file=sys.stderr,
            disable=not progress,
        )
        self._write(batches, trusted_upto, state, counts, bar)
        bar.close()
        self._finish(state, counts)
        return counts, state

    # --- steps ---------------------------------------------------------------------------------------

    def _check(self) -> None:
        """Refuse rows that do not line up, and payloads that use the backend's reserved keys."""
        n, dense = self.n, self.dense
        if len(self.payloads) != n:
            raise ValueError(f"{len(self.payloads)} payloads for {n} paragraphs")
        if dense is not None and len(dense.numbers) != n:
            raise ValueError(f"the dense index has {len(dense.numbers)} paragraphs, the lexical {n}")
        for p in self.payloads:
            bad = [k for k in RESERVED if k in p]
            if bad:
                raise ValueError(f"payload keys {bad} are reserved by the backend")

    def _open_collection(self) -> dict[str, Any] | None:
        """The collection's layout (``schema``); an existing collection of another layout is dropped and
        created anew. Returns the state of the collection kept (None: a new one)."""
        dense, engine = self.dense, self.engine
        dim = None if dense is None else int(dense.dims)
        old = engine.get_state() if engine.exists() else None
        # partitions are trained on the sentence vectors (the paragraph vectors where there are none)
        self.source = None if dense is None else dense.sentences if len(dense.sentences) else dense.paragraphs
        self.n_part = 0 if self.source is None else min(self.partitions, len(self.source))
        self.schema = {
            "format": STATE_FORMAT,
            "dim": dim,
            "hnsw": self.hnsw,
            **({"partitions": self.n_part} if self.n_part else {}),
        }
        if old is None or old.get("schema") != self.schema:
            engine.drop()
            engine.create(dim, {**self.hnsw, "partitions": self.n_part})
            old = None
        return old

    def _vocabulary(self, old: dict[str, Any] | None) -> None:
        """The vocabulary table (slots of known terms never move; new terms are appended), each BM25 term's
        slot, the IDF by slot and the BM25 parameters."""
        bm25 = self.bm25
        vocab: list[str] = list(old["vocab"]) if old else []
        slot = {t: i for i, t in enumerate(vocab)}
        for t in bm25.vocab:
            if t not in slot:
                slot[t] = len(vocab)
                vocab.append(t)
        self.dim_of_tid = np.fromiter((slot[t] for t in bm25.vocab), dtype=np.int64, count=len(bm25.vocab))
        idf: list[float | None] = [None] * len(vocab)
        for tid, d in enumerate(self.dim_of_tid.tolist()):
            idf[d] = float(bm25.idf[tid])
        self.vocab, self.idf = vocab, idf
        self.avgdl = bm25.avgdl if bm25.avgdl > 0 else 1.0
        self.lexical = {
            "k1": bm25.k1,
            "b": bm25.b,
            "avgdl": self.avgdl,
            "n_docs": self.n,
            "idf_variant": bm25.idf_variant,
        }

    def _doc_major(self) -> None:
        """Doc-major term frequencies (the stored values are float32 of BM25Index's float64 expression)."""
        self.docs = self.bm25.tf.T.tocsr()
        self.docs.sort_indices()
        self.doc_len = self.bm25.doc_len

    def _content_digest(self) -> str:
        """A digest of everything uploaded: it ties a checkpoint to exactly this content."""
        n, dense = self.n, self.dense
        digest = hashlib.blake2b(digest_size=16)
        head = {"schema": self.schema, "lexical": self.lexical, "n": n}
        digest.update(json.dumps(head, sort_keys=True).encode())
        digest.update(json.dumps(self.vocab, ensure_ascii=False).encode())
        digest.update(json.dumps(self.idf).encode())
        for arr in (self.docs.indptr, self.docs.indices, self.docs.data, self.doc_len):
            digest.update(np.ascontiguousarray(arr).tobytes())
        for a in range(0, n, _CHUNK):
            digest.update(
                json.dumps(
                    list(self.payloads[a : a + _CHUNK]), sort_keys=True, ensure_ascii=False, default=str
                ).encode()
            )
        if dense is not None:
            spans = np.array(
                [(sl.start, sl.stop) for sl in map(dense.sentence_rows, range(n))], dtype=np.int64
            )
            digest.update(spans.tobytes())
            for arr in (dense.paragraphs, dense.sentences):
                for a in range(0, len(arr), _CHUNK):  # in chunks: the arrays may be memory-mapped and large
                    digest.update(np.ascontiguousarray(arr[a : a + _CHUNK], dtype=np.float32).tobytes())
        return digest.hexdigest()

    def _new_state(
        self, old: dict[str, Any] | None, content: str, info: Mapping[str, Any] | None
    ) -> tuple[dict[str, Any], int, bool]:
        """The collection's state for this upload, the rows its checkpoint trusts (a previous upload of the
        same content), and whether the previous upload was of the same content."""
        trusted_upto = 0
        same = bool(old and old.get("upload", {}).get("content") == content)
        if same:
            trusted_upto = min(int(old["upload"].get("next_row", 0)), self.n)
        state = {
            "schema": self.schema,
            "vocab": self.vocab,
            "idf": self.idf,
            "lexical": self.lexical,
            "info": dict(info or {}),
            "upload": {"content": content, "n": self.n, "next_row": trusted_upto, "complete": False},
        }
        return state, trusted_upto, same

    def _partitions(
        self, state: dict[str, Any], old: dict[str, Any] | None, same: bool, progress: bool
    ) -> None:
        """The centroids (trained, or a resumed upload's own) into ``state``; every paragraph's and
        sentence's partition."""
        # a resumed upload keeps the centroids its points were assigned with
        if same and old.get("partitions", {}).get("count") == self.n_part:
            state["partitions"] = old["partitions"]
        else:
            if progress:
                print(
                    f"qdrant: {self.n_part} partitions (k-means over {len(self.source)} vectors) …",
                    file=sys.stderr,
                    flush=True,
                )
            state["partitions"] = _encode_centroids(_train_centroids(self.source, self.n_part))
        cent = _decode_centroids(state["partitions"])
        self.part_para = _assign(self.dense.paragraphs, cent)
        self.part_sent = _assign(self.dense.sentences, cent)

    def _point(self, r: int) -> _Point:
        """Row ``r``'s point: sparse BM25 values by slot, vectors, payload with the reserved fields."""
        bm25, docs, dense = self.bm25, self.docs, self.dense
        s, e = docs.indptr[r], docs.indptr[r + 1]
        tfv = docs.data[s:e].astype(np.float64)
        dl = float(self.doc_len[r])
        norm = bm25.k1 * (1.0 - bm25.b + bm25.b * dl / self.avgdl)
        vals = (tfv * (bm25.k1 + 1.0) / (tfv + norm)).astype(np.float32)
        dims = self.dim_of_tid[docs.indices[s:e]].astype(np.uint32)
        order = np.argsort(dims, kind="stable")
        dims, vals = dims[order], vals[order]
        payload = dict(self.payloads[r])
        para = sent = None
        s0 = ns = 0
        if dense is not None:
            para = np.asarray(dense.paragraphs[r], dtype=np.float32)
            sl = dense.sentence_rows(r)
            s0, ns = int(sl.start), int(sl.stop - sl.start)
            sent = np.asarray(dense.sentences[sl], dtype=np.float32) if ns else para[None, :]
        payload.update({"_row": r, "_dl": int(self.doc_len[r]), "_s0": s0, "_ns": ns})
        if self.part_para is not None:
            payload[PART] = sorted({int(self.part_para[r]), *self.part_sent[s0 : s0 + ns].tolist()})
        payload["_h"] = _content_hash(r, payload, dims, vals, para, sent)
        return _Point(r, payload, dims, vals, para, sent)

    def _verify_prefix(self, batches: list[tuple[int, int]], trusted_upto: int, verify_sample: int) -> int:
        """Spot-check the trusted prefix (its first, last and a few evenly spaced batches, by hash): the
        rows still trusted (0 when the checkpoint lies: everything is verified)."""
        prefix = [b for b in batches if b[1] <= trusted_upto]
        if prefix:
            picks = {
                0,
                len(prefix) - 1,
                *np.linspace(0, len(prefix) - 1, max(verify_sample, 2)).astype(int).tolist(),
            }
            for i in sorted(picks):
                a, e = prefix[i]
                have = self.engine.hashes(range(a, e))
                if any(have.get(r) != self._point(r).payload["_h"] for r in range(a, e)):
                    return 0  # the checkpoint lies: verify everything
        return trusted_upto

    def _write(
        self,
        batches: list[tuple[int, int]],
        trusted_upto: int,
        state: dict[str, Any],
        counts: dict[str, int],
        bar: Any,
    ) -> None:
        """Write the points of each batch beyond the trusted prefix whose content differs from the stored
        one, with a durable checkpoint every ``_CHECKPOINT_EVERY`` seconds and after the last batch."""
        engine, n = self.engine, self.n
        last_checkpoint = time.monotonic()
        for a, e in batches:
            if e <= trusted_upto:
                counts["trusted"] += e - a
                bar.update(e - a)
                continue
            pts = [self._point(r) for r in range(a, e)]
            have = engine.hashes(range(a, e))
            todo = [p for p in pts if have.get(p.row) != p.payload["_h"]]
            if todo:
                engine.upsert(todo)
            counts["written"] += len(todo)
            counts["skipped"] += len(pts) - len(todo)
            bar.update(e - a)
            if time.monotonic() - last_checkpoint > _CHECKPOINT_EVERY or e == n:
                engine.durable()
                state["upload"]["next_row"] = e
                engine.put_state(state)
                last_checkpoint = time.monotonic()

    def _finish(self, state: dict[str, Any], counts: dict[str, int]) -> None:
        """Delete the points beyond ``n``, build the indexes, check the count and mark the upload complete."""
        engine, n = self.engine, self.n
        total = engine.count()
        if total > n:
            engine.delete_from(n)
            counts["deleted"] = total - n
        engine.finish()
        total = engine.count()
        if total != n:
            raise RuntimeError(f"the collection holds {total} points after the upload, expected {n}")
        # the content hashes of a fixed sample of rows, re-checked whenever the collection is opened
        rows = check_rows(n)
        state["check"] = {"rows": rows, "hashes": [self._point(r).payload["_h"] for r in rows]}
        state["upload"].update(next_row=n, complete=True)
        engine.put_state(state)
