"""The Qdrant backend gives the project's own lexical and dense results.

Parity over every question of ``corpus/eval/dev.jsonl`` (planned the way the project plans them), in
qdrant-client's local mode (``:memory:``) and in Qdrant Edge (in-process): the top 10 and their scores equal
``BM25Index`` (to 1e-5) and ``DenseIndex.scores`` (to float32 rounding), and tied scores come out in the
reference's order (row order). Filters, idempotent and resumable uploads, persistence, the term-frequency
recovery and candidate fusion are checked too. A real Qdrant server is tested only when ``QDRANT_URL`` is set.
The packages are optional (not in pyproject's dependencies): without them these tests skip.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("qdrant_client", reason="qdrant-client is not installed (optional backend)")

from support import (
    DENSE_TOL,
    DEV,
    LOCATIONS,
    _dense_parity,
    _location,
    _payloads,
    assert_same_top,
    interrupted_upload,
)

from pipeline.backends.qdrant import QdrantBackend
from pipeline.backends.qdrant.scoring import _term_frequencies, _term_frequency

TOL = 1e-5


@pytest.fixture(scope="module", params=LOCATIONS)
def backend(
    request: pytest.FixtureRequest, fast_retriever: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """A backend holding the report's BM25 index and the fake-embedder dense index of ``fast_retriever``."""
    b = QdrantBackend(_location(request.param, tmp_path_factory.mktemp(request.param)))
    counts = b.upload(
        _payloads(fast_retriever.lexical), fast_retriever.lexical, fast_retriever.dense, progress=False
    )
    assert counts["written"] == fast_retriever.lexical.n_docs
    yield b
    b.close()


def _tied(ref: Sequence[tuple[int, float]], full: np.ndarray, tol: float) -> bool:
    """Whether a reference top list holds scores tied within ``tol``, or a tie at its cut."""
    scores = [s for _, s in ref]
    return len(set(scores)) < len(scores) or bool(ref and np.sum(np.abs(full - scores[-1]) <= tol) > 1)


# --------------------------------------------------------------------------------------------- lexical


def test_lexical_parity_on_every_dev_question(backend: Any, fast_retriever: Any, dev_plans: list) -> None:
    index = fast_retriever.lexical
    row_of = {int(n): i for i, n in enumerate(index.doc_ids)}
    for qid, plan in dev_plans:
        terms = plan.bm25_terms
        ref = [(row_of[n], s) for n, s in index.search(terms, 10)]
        got = backend.lexical(terms, 10)
        assert_same_top(ref, got, index.scores(terms), TOL, f"{backend.kind} lexical {qid}")


def test_lexical_filters_run_in_the_engine(backend: Any, fast_retriever: Any, dev_plans: list) -> None:
    index = fast_retriever.lexical
    payloads = _payloads(index)
    cases: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
        ({"document": ["DOC/0", "DOC/2"]}, lambda p: p["document"] in ("DOC/0", "DOC/2")),
        ({"lang": "en"}, lambda p: p["lang"] == "en"),
        ({"document": "DOC/1", "lang": "zh"}, lambda p: p["document"] == "DOC/1" and p["lang"] == "zh"),
    ]
    for filt, keep in cases:
        mask = np.array([keep(p) for p in payloads])
        for qid, plan in dev_plans[::7]:
            terms = plan.bm25_terms
            full = index.scores(terms)
            touched = np.zeros(len(full), bool)
            for t, w in terms:
                tid = index.term_id.get(t)
                if tid is not None and w:
                    touched[index.tf.indices[index.tf.indptr[tid] : index.tf.indptr[tid + 1]]] = True
            cand = np.flatnonzero(mask & touched)
            order = cand[np.lexsort((cand, -full[cand]))][:10]
            ref = [(int(r), float(full[r])) for r in order]
            got = backend.lexical(terms, 10, filter=filt)
            assert all(mask[r] for r, _ in got)
            assert_same_top(ref, got, full, TOL, f"{backend.kind} lexical {qid} {filt}")


def test_lexical_without_detail_gives_the_engine_scores(backend: Any, dev_plans: list) -> None:
    """detail=False skips the exact rescoring: the engine's float32 dot products, ranked by the engine."""
    for _, plan in dev_plans[:40]:
        exact = dict(backend.lexical(plan.bm25_terms, 10))
        fast = backend.lexical(plan.bm25_terms, 10, detail=False)
        assert len(fast) == len(exact)
        common = [(r, s) for r, s in fast if r in exact]
        assert len(common) >= len(fast) - 1  # at most a near-tie at the cut differs
        assert all(abs(s - exact[r]) <= 1e-5 * max(1.0, exact[r]) for r, s in common)
    rows = [r for r, _ in backend.lexical(dev_plans[0][1].bm25_terms, 5)]
    assert backend.lexical_scores(dev_plans[0][1].bm25_terms, rows) == dict(
        backend.lexical(dev_plans[0][1].bm25_terms, 5)
    )


def test_lexical_edge_cases(backend: Any) -> None:
    assert backend.lexical([], 10) == []
    assert backend.lexical([("no-such-term-anywhere", 1.0)], 10) == []
    assert backend.lexical([("犯罪", 1.0)], 0) == []
    with pytest.raises(ValueError, match="cannot filter on"):
        backend.lexical([("犯罪", 1.0)], 5, filter={"paragraph": 3})


# --------------------------------------------------------------------------------------------- dense


def test_dense_parity_on_every_dev_question(backend: Any, fast_retriever: Any, dev_plans: list) -> None:
    """The fake embedder's dense index (64 dimensions, real sentence structure) and query vectors."""
    qv = fast_retriever.encoder.encode([plan.dense_text for _, plan in dev_plans])
    _dense_parity(backend, fast_retriever.dense, qv, [qid for qid, _ in dev_plans], [0.5])
    few = 20 if backend.kind == "edge" else 5  # local mode is slow (pure Python)
    _dense_parity(
        backend, fast_retriever.dense, qv[:few], [qid for qid, _ in dev_plans[:few]], [0.0, 1.0, 0.3]
    )


def test_dense_without_detail_gives_the_engine_scores(
    backend: Any, fast_retriever: Any, dev_plans: list
) -> None:
    q = fast_retriever.encoder.encode([dev_plans[0][1].dense_text])[0]
    exact = backend.dense(q, 10, 0.5)
    fast = backend.dense(q, 10, 0.5, detail=False)
    assert [d.row for d in fast] == [d.row for d in exact]
    assert all(
        abs(a.combined - b.combined) <= DENSE_TOL and math.isnan(b.paragraph) for a, b in zip(exact, fast)
    )
    some = [d.row for d in exact[3:7]]
    assert {r: d.combined for r, d in backend.dense_scores(q, some, 0.5).items()} == pytest.approx(
        {d.row: d.combined for d in exact[3:7]}, abs=DENSE_TOL
    )


def test_dense_filters(backend: Any, fast_retriever: Any, dev_plans: list) -> None:
    from pipeline.ranking import top_k

    dense = fast_retriever.dense
    payloads = _payloads(fast_retriever.lexical)
    mask = np.array([p["document"] == "DOC/2" for p in payloads])
    for qid, plan in dev_plans[::10]:
        q = fast_retriever.encoder.encode([plan.dense_text])[0]
        sc = dense.scores(q, 0.5)["combined"]
        rows = np.flatnonzero(mask)
        ref = [(int(rows[i]), float(sc[rows[i]])) for i in top_k(sc[rows], 10)]
        got = backend.dense(q, 10, 0.5, filter={"document": ["DOC/2"]})
        assert_same_top(
            ref, [(d.row, d.combined) for d in got], sc, DENSE_TOL, f"{backend.kind} dense {qid} filtered"
        )


# --------------------------------------------------------------------------------------------- uploads


@pytest.mark.parametrize("kind", ["memory", pytest.param("edge", marks=LOCATIONS[1].marks)])
def test_upload_is_idempotent_resumable_and_follows_changes(
    kind: str, fast_retriever: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index, dense = fast_retriever.lexical, fast_retriever.dense
    n = index.n_docs
    payloads = _payloads(index)
    b = QdrantBackend(_location(kind, tmp_path))
    # interrupted after two batches of 16: the next run writes only the rest
    interrupted_upload(b, monkeypatch, payloads, index, dense)
    assert b.engine.count() == 32
    counts = b.upload(payloads, index, dense, batch_size=16, progress=False)
    assert counts["written"] == n - 32 and counts["skipped"] + counts["trusted"] == 32
    # idempotent: nothing written again
    assert b.upload(payloads, index, dense, batch_size=16, progress=False)["written"] == 0
    # one payload changed: one point rewritten
    changed = [dict(p) for p in payloads]
    changed[5]["document"] = "DOC/changed"
    counts = b.upload(changed, index, dense, batch_size=16, progress=False)
    assert counts["written"] == 1
    own = [(t, 1.0) for t in set(_tokens(index)[5])]
    assert [r for r, _ in b.lexical(own, 10, filter={"document": "DOC/changed"})] == [5]
    # fewer paragraphs: the points beyond are deleted, the statistics follow
    from pipeline.lexical import BM25Index

    small = BM25Index.build(
        _tokens(index)[: n - 5], list(index.doc_ids[: n - 5]), k1=index.k1, b=index.b, idf=index.idf_variant
    )
    counts = b.upload(payloads[: n - 5], small, _Sliced(dense, n - 5), progress=False)
    assert counts["deleted"] == 5 and b.engine.count() == n - 5
    row_of = {int(x): i for i, x in enumerate(small.doc_ids)}
    terms = [(t, 1.0) for t in small.vocab[:30]]
    assert b.lexical(terms, 10) == [(row_of[x], s) for x, s in small.search(terms, 10)]
    b.close()


class _Sliced:
    """The first ``m`` paragraphs of a dense index (what upload reads of one)."""

    def __init__(self, dense: Any, m: int) -> None:
        self.dense, self.numbers = dense, list(dense.numbers[:m])
        self.paragraphs = np.asarray(dense.paragraphs[:m])
        self.sentences = np.asarray(dense.sentences[: dense.sentence_rows(m - 1).stop])
        self.dims = dense.dims

    def sentence_rows(self, row: int) -> slice:
        return self.dense.sentence_rows(row)


def _tokens(index: Any) -> list[list[str]]:
    """Token lists that rebuild ``index`` (term counts per paragraph; order does not matter to BM25)."""
    docs = index.tf.T.tocsr()
    return [
        [
            index.vocab[t]
            for t, c in zip(
                docs.indices[docs.indptr[i] : docs.indptr[i + 1]],
                docs.data[docs.indptr[i] : docs.indptr[i + 1]],
            )
            for _ in range(int(c))
        ]
        for i in range(index.n_docs)
    ]


@pytest.mark.parametrize("kind", ["local", pytest.param("edge", marks=LOCATIONS[1].marks)])
def test_a_stored_collection_answers_after_reopening(
    kind: str, fast_retriever: Any, dev_plans: list, tmp_path: Path
) -> None:
    """The vocabulary table, IDF and BM25 parameters live with the collection: no BM25Index needed to
    query."""
    index = fast_retriever.lexical
    with QdrantBackend(_location(kind, tmp_path)) as b:
        b.upload(_payloads(index), index, fast_retriever.dense, progress=False)
    with QdrantBackend(_location(kind, tmp_path)) as b:
        assert b.upload(_payloads(index), index, fast_retriever.dense, progress=False)["written"] == 0
        row_of = {int(n): i for i, n in enumerate(index.doc_ids)}
        for _, plan in dev_plans[:30]:
            assert b.lexical(plan.bm25_terms, 10) == [
                (row_of[n], s) for n, s in index.search(plan.bm25_terms, 10)
            ]


# --------------------------------------------------------------------------------------------- pieces


def test_term_frequency_is_recovered_exactly_from_the_stored_float32() -> None:
    rng = np.random.default_rng(3)
    for k1, b in [(1.5, 0.75), (1.2, 0.0), (0.5, 1.0), (2.0, 0.3)]:
        for _ in range(2000):
            tf = int(rng.integers(1, 3000))
            dl, avgdl = float(rng.integers(tf, 5000)), float(rng.uniform(5, 500))
            norm = k1 * (1.0 - b + b * dl / avgdl)
            stored = float(np.float32(tf * (k1 + 1.0) / (tf + norm)))
            assert _term_frequency(stored, norm, k1) == tf
            tfs = np.array([tf, 1, 2])
            stored32 = (tfs * (k1 + 1.0) / (tfs + norm)).astype(np.float32)
            assert _term_frequencies(stored32, np.full(3, norm), k1).tolist() == tfs.tolist()
    assert _term_frequency(1.0, 0.0, 0.0) == 1.0
    with pytest.raises(ValueError, match="matches no term frequency"):
        _term_frequency(0.123456, 1.3, 1.5)


def test_candidate_fusion_is_fusions_zscore_with_population_statistics() -> None:
    from pipeline.fusion import fuse, fuse_candidates
    from pipeline.ranking import top_k

    rng = np.random.default_rng(0)
    lx = np.where(rng.random(300) < 0.4, rng.gamma(2.0, 3.0, 300), 0.0)
    dn = rng.normal(0.8, 0.03, 300)
    ref = fuse(lx, dn, 0.3, "zscore")
    got = fuse_candidates(
        dict(enumerate(lx)), dict(enumerate(dn)), 0.3, (lx.mean(), lx.std()), (dn.mean(), dn.std())
    )
    assert [r for r, _ in got[:20]] == top_k(ref, 20).tolist()
    assert [s for _, s in got] == pytest.approx(sorted(ref, reverse=True), abs=1e-12)


def test_payload_keys_of_the_backend_are_reserved(fast_retriever: Any) -> None:
    payloads = _payloads(fast_retriever.lexical)
    payloads[0]["_row"] = 1
    with pytest.raises(ValueError, match="reserved"):
        QdrantBackend(":memory:").upload(payloads, fast_retriever.lexical, None, progress=False)


def test_tied_scores_come_out_in_the_references_row_order(
    backend: Any, fast_retriever: Any, dev_plans: list
) -> None:
    """The parity tests let tied rows swap; the backend does not swap them: where the reference's top 10 holds
    tied scores (or a tie at its cut), the backend returns the very rows in the very order (ties in row
    order, as ``BM25Index.search`` and ``top_k`` break them), in both channels."""
    from pipeline.ranking import top_k

    index, dense = fast_retriever.lexical, fast_retriever.dense
    row_of = {int(n): i for i, n in enumerate(index.doc_ids)}
    tied = {"lexical": 0, "dense": 0}
    for qid, plan in dev_plans:
        terms = plan.bm25_terms
        ref = [(row_of[n], s) for n, s in index.search(terms, 10)]
        if _tied(ref, index.scores(terms), TOL):
            tied["lexical"] += 1
            got = backend.lexical(terms, 10)
            assert [r for r, _ in got] == [r for r, _ in ref], f"{backend.kind} lexical {qid}"
            assert [s for _, s in got] == pytest.approx([s for _, s in ref], abs=TOL)
    qv = fast_retriever.encoder.encode([plan.dense_text for _, plan in dev_plans])
    for (qid, _), q in zip(dev_plans, qv, strict=True):
        sc = dense.scores(q, 0.5)["combined"]
        ref = [(int(r), float(sc[r])) for r in top_k(sc, 10)]
        if _tied(ref, sc, DENSE_TOL):
            tied["dense"] += 1
            got = backend.dense(q, 10, 0.5)
            assert [d.row for d in got] == [r for r, _ in ref], f"{backend.kind} dense {qid}"
            assert [d.combined for d in got] == pytest.approx([s for _, s in ref], abs=DENSE_TOL)
    assert sum(tied.values()) >= 1  # the dev questions do meet ties: the check is not vacuous


# --------------------------------------------------------------------------------------------- server


@pytest.mark.skipif(
    not os.environ.get("QDRANT_URL"), reason="QDRANT_URL is not set: no Qdrant server to test against"
)
def test_server_parity(fast_retriever: Any, dev_plans: list) -> None:
    index, dense = fast_retriever.lexical, fast_retriever.dense
    b = QdrantBackend(os.environ["QDRANT_URL"], collection="pipeline_test_qdrant")
    try:
        b.upload(_payloads(index), index, dense, progress=False)
        assert b.upload(_payloads(index), index, dense, progress=False)["written"] == 0
        row_of = {int(n): i for i, n in enumerate(index.doc_ids)}
        for qid, plan in dev_plans:
            ref = [(row_of[n], s) for n, s in index.search(plan.bm25_terms, 10)]
            assert_same_top(
                ref, b.lexical(plan.bm25_terms, 10), index.scores(plan.bm25_terms), TOL, f"server {qid}"
            )
        qv = fast_retriever.encoder.encode([plan.dense_text for _, plan in dev_plans[:40]])
        _dense_parity(b, dense, qv, [qid for qid, _ in dev_plans[:40]], [0.5])
    finally:
        b.engine.drop()
        b.close()


# --------------------------------------------------------------------------------------------- real model


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["memory", pytest.param("edge", marks=LOCATIONS[1].marks)])
def test_dense_parity_with_the_real_model(kind: str, retriever: Any, tmp_path: Path) -> None:
    """The real dense index (multilingual-e5-small) and query encoder, every dev question."""
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    plans = [(r["id"], retriever.plan(r["query"], mode="dense")) for r in rows]
    plans = [(qid, p) for qid, p in plans if p.route.kind == "question"]
    dense = retriever.dense
    with QdrantBackend(_location(kind, tmp_path)) as b:
        b.upload(_payloads(retriever.lexical), retriever.lexical, dense, progress=False)
        qv = retriever.encoder.encode([p.dense_text for _, p in plans])
        _dense_parity(b, dense, qv, [qid for qid, _ in plans], [retriever.cfg.sentence_weight])


def test_exact_scores_of_the_results_in_one_retrieval(
    backend: Any, fast_retriever: Any, dev_plans: list
) -> None:
    """``exact_scores`` (the k results' exact BM25, dense scores and sentence cosines from one retrieval of
    their stored vectors) gives the very numbers of ``lexical_scores``, ``dense_scores`` and the sentences'
    cosines."""
    rows = list(range(0, fast_retriever.lexical.n_docs, 7))[:12]
    for _, plan in dev_plans[::30]:
        q = fast_retriever.encoder.encode([plan.dense_text])[0]
        lex, dense, cos = backend.exact_scores(plan.bm25_terms, q, rows, 0.4)
        assert lex == backend.lexical_scores(plan.bm25_terms, rows)
        assert dense == backend.dense_scores(q, rows, 0.4)
        sc = fast_retriever.dense.scores(q, 0.4)
        for r in rows:
            sl = fast_retriever.dense.sentence_rows(r)
            if sl.stop > sl.start:
                assert np.allclose(cos[r], np.asarray(fast_retriever.dense.sentences[sl]) @ q, atol=DENSE_TOL)
                assert float(cos[r].max()) == pytest.approx(float(sc["sentence"][r]), abs=DENSE_TOL)
            else:
                assert r not in cos
        assert backend.exact_scores(None, q, rows, 0.4)[0] == {}
