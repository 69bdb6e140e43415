"""The whole retriever on Qdrant ranks as it does in process: every dev question, three modes, with filters.

A library of four report versions (the real report and three test reports, two of them versions of one
document) is indexed in process with the fake embedder and uploaded to qdrant-client's local mode (a
directory) and, when qdrant-edge-py is installed, to Qdrant Edge. Its 600-odd paragraphs are fewer than the
fusion's sample, so the statistics are exact and the answers must be the in-process answers: the same
citations in the same order (ties aside, listed), scores to 1e-5, the same answer sentences.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip(
    "qdrant_client", reason="qdrant-client is not installed (optional backend: pipeline[qdrant])"
)

from support import (  # noqa: E402
    DEV,
    FIREARMS,
    FOLLOW_UP,
    WG2_EN,
    WG2_ZH,
    FakeEmbedder,
    open_library,
    run_pipeline,
    scratch_home,
)

from pipeline.backends.channels import QdrantChannels, upload_library  # noqa: E402
from pipeline.changes import add_reports  # noqa: E402
from pipeline.config import Config  # noqa: E402
from pipeline.errors import StaleIndexError  # noqa: E402
from pipeline.library import load_library  # noqa: E402
from pipeline.retrieve import Retriever  # noqa: E402


def _edge() -> bool:
    try:
        import qdrant_edge  # noqa: F401
    except ImportError:
        return False
    return True


KINDS = [
    pytest.param("local", id="local"),
    pytest.param(
        "edge", id="edge", marks=pytest.mark.skipif(not _edge(), reason="qdrant-edge-py is not installed")
    ),
]
TIES: list[str] = []


@pytest.fixture(params=KINDS)
def pair(
    request: pytest.FixtureRequest, lib: Config, analyzer: Any, tmp_path: Path
) -> tuple[Retriever, Retriever]:
    add_reports(lib, [WG2_ZH, WG2_EN, FIREARMS], embedder=FakeEmbedder())
    local = open_library(lib, analyzer)
    where = str(tmp_path / "qdrant") if request.param == "local" else f"edge:{tmp_path / 'edge'}"
    qcfg = Config(root=lib.root, backend="qdrant", qdrant_url=where)
    fake = FakeEmbedder().identity
    counts = upload_library(qcfg, local.library, local.lexical, local.dense, progress=False, embedder=fake)
    assert counts["written"] == len(local.library.paragraphs)
    again = upload_library(qcfg, local.library, local.lexical, local.dense, progress=False, embedder=fake)
    assert again["written"] == 0  # idempotent
    channels = QdrantChannels(qcfg, local.library, embedder=fake)
    remote = Retriever(
        local.library, cfg=qcfg, analyzer=analyzer, encoder=FakeEmbedder(prompt="query: "), channels=channels
    )
    yield local, remote
    channels.close()


def _same(a: Any, b: Any, label: str) -> None:
    ha, hb = a.hits, b.hits
    assert len(ha) == len(hb), label
    for x, y in zip(ha, hb, strict=True):
        assert abs(x.score - y.score) <= 1e-5, f"{label}: {x.citation} {x.score} vs {y.citation} {y.score}"
        for key in set(x.scores) | set(y.scores):
            assert abs(x.scores[key] - y.scores[key]) <= 1e-5, f"{label}: {key} of {x.citation}"
    if [h.citation for h in ha] != [h.citation for h in hb]:
        TIES.append(label)
        # only tied scores may swap: the same set of (citation, rounded score)
        assert sorted((h.citation, round(h.score, 5)) for h in ha) == sorted(
            (h.citation, round(h.score, 5)) for h in hb
        ), label
    else:
        assert [h.answer for h in ha] == [h.answer for h in hb], label


def test_every_dev_question_ranks_as_in_process(pair: tuple[Retriever, Retriever]) -> None:
    local, remote = pair
    rows = [json.loads(x) for x in DEV.read_text(encoding="utf-8").splitlines() if x.strip()]
    queries = [r["query"] for r in rows if r["kind"] in ("question", "paraphrase")]
    assert len(queries) > 200
    for mode in ("hybrid", "lexical", "dense"):
        for q, a, b in zip(
            queries,
            local.search_many(queries, k=10, mode=mode),
            remote.search_many(queries, k=10, mode=mode),
            strict=True,
        ):
            _same(a, b, f"{mode} {q}")
            assert a.warnings == b.warnings and a.terms == b.terms, q
    assert len(TIES) <= 3, TIES  # near-ties of float32 engine scores; listed when the test fails


def test_filters_run_in_the_engine_and_rank_as_in_process(pair: tuple[Retriever, Retriever]) -> None:
    local, remote = pair
    for docs, lang in (
        (["CTOC/COP/WG.2/2013/3"], None),
        (None, "en"),
        (["CTOC/COP/2012/7", "CTOC/COP/2014/5"], None),
        (["CTOC/COP/WG.2/2013/3"], "zh"),
    ):
        for q in ("伪造药品贩运", "technical assistance to States", "firearms marking"):
            a = local.search(q, k=5, docs=docs, lang=lang)
            b = remote.search(q, k=5, docs=docs, lang=lang)
            _same(a, b, f"{docs} {lang} {q}")
            assert all(
                (docs is None or h.document in docs) and (lang is None or h.lang == lang) for h in b.hits
            )


def test_a_collection_of_another_library_is_refused(pair: tuple[Retriever, Retriever], lib: Config) -> None:
    _, remote = pair
    add_reports(lib, [FOLLOW_UP], embedder=FakeEmbedder())
    with pytest.raises(StaleIndexError, match="library_sha256") as e:
        QdrantChannels(
            remote.cfg, load_library(lib), remote._get_channels().backend, embedder=FakeEmbedder().identity
        )
    assert "pipeline build --backend qdrant" in str(e.value)
    with pytest.raises(StaleIndexError, match="embedder_sha256"):
        QdrantChannels(
            remote.cfg,
            remote.library,
            remote._get_channels().backend,
            embedder=FakeEmbedder(name="other").identity,
        )


def test_fusion_from_a_sample_approximates_exact_fusion(
    pair: tuple[Retriever, Retriever], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the sample size the statistics are estimated and only candidates are ranked: measured here on a
    small scale (sample 40 of the library's 94 paragraphs, 15 lexical and 30 dense candidates) against the
    exact answers; the results still carry exact channel scores, and the sample's statistics are exact for
    it."""
    from pipeline.backends import channels

    local, remote = pair
    monkeypatch.setattr(channels, "SAMPLE", 40)
    monkeypatch.setattr(channels, "EXACT_UP_TO", 40)
    monkeypatch.setattr(channels, "K_LEXICAL", 15)
    monkeypatch.setattr(channels, "K_DENSE", 30)
    remote._get_channels()._samples.clear()
    rows = [json.loads(x) for x in DEV.read_text(encoding="utf-8").splitlines() if x.strip()]
    queries = [r["query"] for r in rows if r["kind"] == "question"][:80]
    overlap, common = [], 0
    for a, b in zip(local.search_many(queries, k=10), remote.search_many(queries, k=10), strict=True):
        overlap.append(len({h.citation for h in a.hits} & {h.citation for h in b.hits}) / 10)
        exact = {h.citation: h for h in a.hits}
        for h in b.hits:  # the results carry their exact channel scores and answer sentence
            if h.citation in exact:
                common += 1
                for key in ("lexical", "dense", "dense_paragraph", "dense_sentence"):
                    assert abs(h.scores[key] - exact[h.citation].scores[key]) <= 1e-5, (h.citation, key)
                assert h.answer == exact[h.citation].answer, h.citation
    print(f"overlap with exact top 10: {np.mean(overlap):.3f}")
    assert np.mean(overlap) >= 0.9, np.mean(overlap)
    assert common >= 0.9 * 10 * len(queries)
    # the statistics: the sample's stored vectors scored client-side = the in-process channels on those rows
    ch = remote._get_channels()
    sample = ch._sample(None)
    assert len(sample) == 40 < len(local.library.paragraphs)  # the sampled path, not the exact one
    for q in queries[:10]:
        plan = remote.plan(q, mode="hybrid")
        qv = FakeEmbedder(prompt="query: ").encode([plan.dense_text])[0]
        (lm, lsd), (dm, dsd) = ch._statistics(sample, plan.bm25_terms, qv)
        lx = local.lexical.scores(plan.bm25_terms)[sample]
        dn = local.dense.scores(qv, remote.cfg.sentence_weight)["combined"][sample]
        assert (lm, lsd) == pytest.approx((lx.mean(), lx.std()), rel=1e-5, abs=1e-6), q
        assert (dm, dsd) == pytest.approx((dn.mean(), dn.std()), rel=1e-5, abs=1e-6), q


@pytest.mark.slow  # the real model: the command line moves the library onto Qdrant and answers from it
def test_cli_moves_the_library_onto_qdrant(home: Path, tmp_path: Path, retriever: Any) -> None:
    import os
    import shutil
    import subprocess

    retriever.dense  # noqa: B018 - the real report's dense index in the session home
    h = scratch_home(home, tmp_path / "home")
    shutil.copytree(home / "indexes" / "docs", h / "indexes" / "docs")
    os.symlink(home / "indexes" / "models", h / "indexes" / "models")
    where = ["--backend", "qdrant", "--qdrant-url", str(tmp_path / "qdrant")]

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        r = run_pipeline(h, *args)
        assert "Traceback" not in r.stderr, r.stderr
        return r

    r = cli("search", "piracy off Somalia", *where)
    assert (
        r.returncode == 3 and "nothing uploaded" in r.stderr and "pipeline build --backend qdrant" in r.stderr
    )
    first = cli("build", *where)
    assert first.returncode == 0 and "qdrant: 65 paragraphs written" in first.stderr, first.stderr
    second = cli("build", *where)
    assert second.returncode == 0 and "qdrant: 0 paragraphs written, 65 already there" in second.stderr
    for q in ("How much ransom did pirates receive in 2011?", "伪药对患者有什么危害？", "第 41 段"):
        a = json.loads(cli("search", q, "--json").stdout)
        b = json.loads(cli("search", q, "--json", *where).stdout)
        assert [x["citation"] for x in a["results"]] == [x["citation"] for x in b["results"]], q
        assert [x["answer"] for x in a["results"]] == [x["answer"] for x in b["results"]], q
    r = cli("--set", "bm25_k1=1.2", "search", "piracy", *where)
    assert r.returncode == 3 and "bm25" in r.stderr
    # a partitioned collection (sentence partitions instead of the paragraph graph) answers the same
    parted = (
        ["--backend", "qdrant", "--qdrant-url", f"edge:{tmp_path / 'edge'}"]
        if _edge()
        else ["--backend", "qdrant", "--qdrant-url", str(tmp_path / "qdrant-parted")]
    )
    r = cli("build", *parted, "--qdrant-partitions", "8")
    assert r.returncode == 0 and "qdrant: 8 partitions" in r.stderr, r.stderr
    for q in ("How much ransom did pirates receive in 2011?", "伪药对患者有什么危害？"):
        a = json.loads(cli("search", q, "--json").stdout)
        b = json.loads(cli("search", q, "--json", *parted, "--qdrant-probe", "2").stdout)
        assert [x["citation"] for x in a["results"]] == [x["citation"] for x in b["results"]], q
    r = cli("build", *parted, "--qdrant-partitions", "-1")
    assert r.returncode == 2 and "qdrant_partitions" in r.stderr, r.stderr
