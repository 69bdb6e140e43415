"""Sentence partitions on Qdrant: the dense channel's candidates from the partitions nearest to the query.

On the real report with the fake embedder, in qdrant-client's local mode and in Qdrant Edge: probing every
partition is the exact dense channel (every dev question, with and without filters); probing one partition
returns exactly the best paragraphs among those with a vector in it, with exact scores; the partitions
survive an interrupted upload (the resumed run keeps the centroids its points were assigned with) and a
re-upload writes nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("qdrant_client", reason="qdrant-client is not installed (optional backend)")

from support import (
    DENSE_TOL,
    LOCATIONS,
    _dense_parity,
    _location,
    _payloads,
    assert_same_top,
    interrupted_upload,
)

from pipeline.backends.qdrant import QdrantBackend
from pipeline.ranking import top_k

PARTS = 8


@pytest.fixture(scope="module", params=LOCATIONS)
def parted(
    request: pytest.FixtureRequest, fast_retriever: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    b = QdrantBackend(
        _location(request.param, tmp_path_factory.mktemp(f"parts-{request.param}")),
        partitions=PARTS,
        probe=PARTS,
        dense_candidates=1000,
    )
    b.upload(_payloads(fast_retriever.lexical), fast_retriever.lexical, fast_retriever.dense, progress=False)
    yield b
    b.close()


def _members(b: Any, dense: Any) -> list[set[int]]:
    """Each partition's paragraphs, recomputed from the stored centroids: a paragraph belongs to the partition
    of its paragraph vector and to that of each of its sentences."""
    cent = b.centroids
    out: list[set[int]] = [set() for _ in range(len(cent))]
    para = np.argmax(np.asarray(dense.paragraphs) @ cent.T, axis=1)
    sent = np.argmax(np.asarray(dense.sentences) @ cent.T, axis=1)
    for r in range(len(dense.paragraphs)):
        sl = dense.sentence_rows(r)
        for c in {int(para[r]), *sent[sl].tolist()}:
            out[c].add(r)
    return out


def test_centroids_are_stored_with_the_collection(parted: Any, fast_retriever: Any) -> None:
    cent = parted.centroids
    assert cent.shape == (PARTS, fast_retriever.dense.dims)
    assert np.allclose(np.linalg.norm(cent, axis=1), 1.0, atol=1e-2)  # unit vectors (stored as float16)
    members = _members(parted, fast_retriever.dense)
    assert sum(1 for m in members if m) >= 2  # the report's paragraphs do fall into several partitions
    stored = parted.engine.hashes(
        range(3)
    )  # points exist; their _part payloads are checked through search below
    assert len(stored) == 3


def test_probing_every_partition_is_the_exact_dense_channel(
    parted: Any, fast_retriever: Any, dev_plans: list
) -> None:
    qv = fast_retriever.encoder.encode([plan.dense_text for _, plan in dev_plans])
    _dense_parity(parted, fast_retriever.dense, qv, [qid for qid, _ in dev_plans], [0.5])
    _dense_parity(parted, fast_retriever.dense, qv[:5], [qid for qid, _ in dev_plans[:5]], [0.0, 1.0])
    # with a filter too
    dense = fast_retriever.dense
    rows = np.flatnonzero([p["document"] == "DOC/1" for p in _payloads(fast_retriever.lexical)])
    for q in qv[::20]:
        sc = dense.scores(q, 0.5)["combined"]
        ref = [(int(rows[i]), float(sc[rows[i]])) for i in top_k(sc[rows], 10)]
        got = parted.dense(q, 10, 0.5, filter={"document": ["DOC/1"]})
        assert_same_top(
            ref, [(d.row, d.combined) for d in got], sc, DENSE_TOL, f"{parted.kind} partitions filtered"
        )


def test_probing_one_partition_searches_exactly_its_paragraphs(
    parted: Any, fast_retriever: Any, dev_plans: list
) -> None:
    dense = fast_retriever.dense
    members = _members(parted, dense)
    qv = fast_retriever.encoder.encode([plan.dense_text for _, plan in dev_plans[::15]])
    parted.probe = 1
    try:
        seen_partitions = set()
        for q in qv:
            nearest = int(np.argmax(parted.centroids @ q))
            seen_partitions.add(nearest)
            rows = np.array(sorted(members[nearest]))
            sc = dense.scores(q, 0.5)["combined"]
            ref = [(int(rows[i]), float(sc[rows[i]])) for i in top_k(sc[rows], min(10, len(rows)))]
            got = parted.dense(q, 10, 0.5)
            assert_same_top(
                ref, [(d.row, d.combined) for d in got], sc, DENSE_TOL, f"{parted.kind} one partition"
            )
        assert len(members[nearest]) < len(dense.paragraphs)  # one partition is not the whole report
    finally:
        parted.probe = PARTS


@pytest.mark.parametrize("kind", ["memory", pytest.param("edge", marks=LOCATIONS[1].marks)])
def test_an_interrupted_partitioned_upload_resumes_with_its_centroids(
    kind: str, fast_retriever: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, dense = fast_retriever.lexical, fast_retriever.dense
    payloads = _payloads(index)
    b = QdrantBackend(_location(kind, tmp_path), partitions=PARTS)
    interrupted_upload(b, monkeypatch, payloads, index, dense)
    first = b.engine.get_state()["partitions"]
    counts = b.upload(payloads, index, dense, batch_size=16, progress=False)
    assert counts["written"] == index.n_docs - 32  # the 32 points already there keep their partitions
    assert b.state["partitions"] == first
    assert b.upload(payloads, index, dense, batch_size=16, progress=False)["written"] == 0
    # another partition count is another collection layout: rebuilt
    b.partitions = PARTS // 2
    assert b.upload(payloads, index, dense, progress=False)["written"] == index.n_docs
    assert b.centroids.shape[0] == PARTS // 2
    b.close()


def test_bad_partition_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="partitions"):
        QdrantBackend(":memory:", partitions=-1)
    with pytest.raises(ValueError, match="probe"):
        QdrantBackend(":memory:", probe=0)


def test_the_other_channels_candidates_get_the_engines_dense_scores(
    parted: Any, fast_retriever: Any, dev_plans: list
) -> None:
    """``dense_scores(detail=False)`` (the lexical candidates' dense scores: on Edge one batched call of two
    plain searches restricted to the ids, combined client-side) gives the combined score of every row."""
    dense = fast_retriever.dense
    rows = list(range(0, len(dense.paragraphs), 3))
    for _, plan in dev_plans[::25]:
        q = fast_retriever.encoder.encode([plan.dense_text])[0]
        sc = dense.scores(q, 0.3)["combined"]
        got = parted.dense_scores(q, rows, 0.3, detail=False)
        assert sorted(got) == rows
        assert max(abs(got[r].combined - sc[r]) for r in rows) <= DENSE_TOL


@pytest.fixture(scope="module")
def quantized(fast_retriever: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("qdrant_edge", reason="qdrant-edge-py is not installed")
    b = QdrantBackend(
        _location("edge", tmp_path_factory.mktemp("parts-int8")),
        partitions=PARTS,
        probe=PARTS,
        dense_candidates=1000,
        quantization="int8",
        oversampling=1.0,
    )
    b.upload(_payloads(fast_retriever.lexical), fast_retriever.lexical, fast_retriever.dense, progress=False)
    yield b
    b.close()


def test_int8_sentence_vectors_are_rescored_exactly(
    quantized: Any, fast_retriever: Any, dev_plans: list
) -> None:
    """With int8 sentence vectors (Edge's scalar quantization), probing every partition with candidates
    enough is still the exact dense channel: the scan's candidates are rescored from the float32 vectors.
    Scanning the float32 vectors (oversampling 0) gives the same."""
    assert quantized.state["schema"]["hnsw"]["quantization"] == 8
    qv = fast_retriever.encoder.encode([plan.dense_text for _, plan in dev_plans])
    labels = [qid for qid, _ in dev_plans]
    _dense_parity(quantized, fast_retriever.dense, qv, labels, [0.5])
    quantized.engine.oversampling = 0.0
    try:
        _dense_parity(quantized, fast_retriever.dense, qv[::10], labels[::10], [0.5])
    finally:
        quantized.engine.oversampling = 1.0


def test_bad_quantization_settings_are_refused() -> None:
    from pipeline.config import Config
    from pipeline.errors import ConfigError

    with pytest.raises(ValueError, match="quantization"):
        QdrantBackend(":memory:", quantization="int4")
    with pytest.raises(ValueError, match="oversampling"):
        QdrantBackend(":memory:", oversampling=0.5)
    for bad in ({"qdrant_quantization": "binary"}, {"qdrant_oversampling": 0.5}):
        with pytest.raises(ConfigError):
            Config(**bad).validate()  # type: ignore[arg-type]
