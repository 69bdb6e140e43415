"""The in-process ANN index (pipeline/ann.py) and the channel that searches it (pipeline/backends/local.py).

A library of three document versions (the real report and a test document in Chinese and English), embedded
with the fake embedder, gets an 8-partition index. Probing every partition with candidates enough for every
sentence must give the exact dense channel's ranking and the exact hybrid top k on every dev question (the
candidates are rescored exactly, and the library is smaller than the statistics sample, so its statistics
are exact); probing one partition must return only paragraphs of sentences in it. The artifact is refused
when stale or damaged, ``add`` adds the new report's vectors to it without retraining, and below the
threshold the retriever ranks as it does with the index turned off.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import (
    DEV,
    FIREARMS,
    FakeEmbedder,
    build_library_home,
    library_retriever,
)

from pipeline.ann import AnnIndex, ann_artifact, ann_dir, ann_inputs, ensure_ann, open_ann
from pipeline.backends.local import LocalChannels
from pipeline.build import refresh_ann
from pipeline.changes import add_reports
from pipeline.config import Config
from pipeline.errors import CorruptIndexError, MissingIndexError, StaleIndexError
from pipeline.retrieve import Retriever

pytest.importorskip("faiss", reason="faiss-cpu is a dependency of the package")

PARTITIONS = 8
EVERYTHING = {"ann": "on", "ann_partitions": PARTITIONS, "ann_probes": PARTITIONS, "ann_candidates": 10**6}


@pytest.fixture(scope="module")
def ann_home(seeded: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library home with its ANN index (8 partitions) built."""
    h = build_library_home(seeded, tmp_path_factory.mktemp("ann") / "home")
    exact = library_retriever(h)
    cfg = dataclasses.replace(exact.cfg, **EVERYTHING)
    line = refresh_ann(cfg, exact.library, FakeEmbedder().identity)
    assert line is not None and "built the index" in line, line
    return h


@pytest.fixture(scope="module")
def exact(ann_home: Path) -> Retriever:
    r = library_retriever(ann_home)
    r.cfg = dataclasses.replace(r.cfg, ann="off")
    return r


def _with(exact: Retriever, **settings: Any) -> Retriever:
    """The same library and components, other settings (so a fresh set of channels)."""
    cfg = dataclasses.replace(exact.cfg, **settings)
    return Retriever(
        exact.library,
        cfg=cfg,
        analyzer=exact.analyzer,
        lexical=exact.lexical,
        dense=exact.dense,
        encoder=exact.encoder,
    )


def _questions() -> list[str]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["query"] for r in rows if r.get("kind", "question") in ("question", "paraphrase")]


def _hits(answer: Any) -> list[tuple[str, str, str, int]]:
    return [(h.document, h.lang, h.part, h.paragraph) for h in answer.hits]


def test_the_index_covers_every_sentence_once(exact: Retriever) -> None:
    cfg = dataclasses.replace(exact.cfg, **EVERYTHING)
    index = open_ann(cfg, exact.dense)
    assert index is not None
    d = exact.dense
    empty = int(np.sum(d.sentence_counts == 0))
    assert index.index.ntotal == len(d.sentence_map) + empty
    assert index.index.nlist == PARTITIONS
    rows, _ = index.candidates(d.sentences[0], PARTITIONS, 10**6)
    assert sorted(rows.tolist()) == list(range(len(d.numbers)))  # every paragraph is reachable


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_probing_everything_is_exact(exact: Retriever, mode: str) -> None:
    ann = _with(exact, **EVERYTHING)
    channels = ann._get_channels()
    assert isinstance(channels, LocalChannels) and channels.ann(exact.dense) is not None
    questions = _questions()
    assert len(questions) > 150
    want = exact.search_many(questions, k=10, mode=mode)
    got = ann.search_many(questions, k=10, mode=mode)
    for q, a, b in zip(questions, want, got, strict=True):
        assert _hits(b) == _hits(a), q
        for ha, hb in zip(a.hits, b.hits, strict=True):
            assert hb.score == pytest.approx(ha.score, abs=1e-9), q
            for key, value in ha.scores.items():
                assert hb.scores[key] == pytest.approx(value, abs=1e-6), (q, key)
            assert hb.answer == ha.answer, q
        assert a.no_answer == b.no_answer, q


def test_probing_everything_is_exact_with_filters(exact: Retriever) -> None:
    ann = _with(exact, **EVERYTHING, ann_threshold=0)
    questions = _questions()[:40]
    for lang in ("zh", "en"):
        want = exact.search_many(questions, k=5, lang=lang)
        got = ann.search_many(questions, k=5, lang=lang)
        assert [_hits(a) for a in got] == [_hits(a) for a in want], lang


def test_probing_one_partition_returns_its_sentences_paragraphs(exact: Retriever) -> None:
    cfg = dataclasses.replace(exact.cfg, **EVERYTHING)
    index = open_ann(cfg, exact.dense)
    assert index is not None
    d = exact.dense
    vectors = np.concatenate([d.sentences, d.paragraphs[d.sentence_counts == 0]]).astype(np.float32)
    owner = np.concatenate(
        [np.repeat(np.arange(len(d.numbers)), d.sentence_counts), np.flatnonzero(d.sentence_counts == 0)]
    )
    _, assigned = index.index.quantizer.search(vectors, 1)
    for i in (3, 50, 120):
        q = d.sentences[i]
        _, nearest = index.index.quantizer.search(q[None, :], 1)
        members = set(owner[assigned[:, 0] == nearest[0, 0]].tolist())
        rows, scores = index.candidates(q, 1, 10**6)
        assert set(rows.tolist()) == members
        assert int(owner[i]) in members and int(rows[0]) == int(owner[i])  # its own sentence is the best
        assert np.all(np.diff(scores) <= 1e-3)  # best first (float16 codes)


def test_below_the_threshold_the_rankings_are_exact(exact: Retriever) -> None:
    auto = _with(exact, ann="auto")  # the default threshold is far above this library
    assert len(exact.library.paragraphs) <= auto.cfg.ann_threshold
    channels = auto._get_channels()
    assert isinstance(channels, LocalChannels) and channels.ann(exact.dense) is None
    questions = _questions()
    for a, b in zip(exact.search_many(questions), auto.search_many(questions), strict=True):
        assert _hits(a) == _hits(b) and [h.score for h in a.hits] == [h.score for h in b.hits]


def test_few_probes_still_rank_exact_scores(exact: Retriever) -> None:
    """One partition of eight: approximate candidates, but every returned score is the exact one."""
    ann = _with(exact, **{**EVERYTHING, "ann_probes": 1, "ann_candidates": 20})
    ref = {}
    for a in exact.search_many(_questions()[:30], k=len(exact.library.paragraphs), mode="dense"):
        ref[a.query] = {(h.document, h.lang, h.part, h.paragraph): h.scores["dense"] for h in a.hits}
    for a in ann.search_many(_questions()[:30], k=10, mode="dense"):
        for h in a.hits:
            assert h.scores["dense"] == pytest.approx(
                ref[a.query][(h.document, h.lang, h.part, h.paragraph)], abs=1e-6
            )


def _copy(home: Path, dest: Path) -> Config:
    shutil.copytree(home, dest)
    return Config(root=dest, **EVERYTHING)


def test_a_stale_or_damaged_index_is_refused(ann_home: Path, exact: Retriever, tmp_path: Path) -> None:
    cfg = _copy(ann_home, tmp_path / "h")
    directory = ann_dir(cfg)
    inputs = ann_inputs(cfg, exact.dense)
    AnnIndex.load(directory, inputs)
    with pytest.raises(StaleIndexError, match="partitions"):
        AnnIndex.load(directory, {**inputs, "partitions": 4})
    with pytest.raises(StaleIndexError, match="vectors_sha256"):
        AnnIndex.load(directory, {**inputs, "vectors_sha256": "0" * 64})
    path = ann_artifact(directory).path("ivf.faiss")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptIndexError, match="ivf.faiss"):
        AnnIndex.load(directory, inputs)
    # ann=on refuses it; ann=auto answers exactly instead (an index is never used unchecked)
    on = _with(exact, **EVERYTHING, root=cfg.root)
    with pytest.raises(CorruptIndexError):
        on.search("走私移民", k=3)
    auto = _with(exact, **{**EVERYTHING, "ann": "auto", "ann_threshold": 0}, root=cfg.root)
    assert _hits(auto.search("走私移民", k=3)) == _hits(exact.search("走私移民", k=3))
    channels = auto._get_channels()
    assert isinstance(channels, LocalChannels) and channels.ann(exact.dense) is None
    # the build repairs it, and the running retriever (a server) takes it up without a restart
    assert "built the index" in ensure_ann(cfg, exact.dense)
    AnnIndex.load(directory, inputs)
    assert channels.ann(exact.dense) is not None
    assert _hits(auto.search("走私移民", k=3)) == _hits(exact.search("走私移民", k=3))
    shutil.rmtree(directory)
    with pytest.raises(MissingIndexError):
        AnnIndex.load(directory, inputs)


def test_add_extends_the_index_without_retraining(ann_home: Path, tmp_path: Path) -> None:
    cfg = _copy(ann_home, tmp_path / "h")
    before = ann_artifact(ann_dir(cfg)).read_manifest()
    logged: list[str] = []
    add_reports(Config(root=cfg.root, **EVERYTHING), [FIREARMS], embedder=FakeEmbedder(), log=logged.append)
    assert any("ann: added" in line for line in logged), logged
    after = library_retriever(cfg.root)
    after.cfg = dataclasses.replace(after.cfg, **EVERYTHING)
    index = open_ann(after.cfg, after.dense)  # current for the new library
    assert index is not None
    m = ann_artifact(ann_dir(cfg)).read_manifest()
    assert m["info"]["trained_on"] == before["info"]["trained_on"]  # the same centroids
    assert index.index.ntotal == len(after.dense.sentence_map) + int(np.sum(after.dense.sentence_counts == 0))
    exact = _with(after, ann="off")
    questions = _questions()[:40]
    assert [_hits(a) for a in after.search_many(questions)] == [
        _hits(a) for a in exact.search_many(questions)
    ]


def test_growing_past_the_ratio_retrains(
    ann_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.ann as ann

    cfg = _copy(ann_home, tmp_path / "h")
    monkeypatch.setattr(ann, "RETRAIN_RATIO", 1.0)
    logged: list[str] = []
    add_reports(cfg, [FIREARMS], embedder=FakeEmbedder(), log=logged.append)
    assert any("ann: built the index" in line for line in logged), logged
    m = ann_artifact(ann_dir(cfg)).read_manifest()
    assert m["info"]["trained_on"] == m["info"]["vectors"]


def test_settings_are_validated() -> None:
    from pipeline.errors import ConfigError

    cfg = Config().with_overrides(
        {"ann": "on", "ann_threshold": "10", "ann_probes": "4", "ann_candidates": "50"}
    )
    assert (cfg.ann, cfg.ann_threshold, cfg.ann_probes, cfg.ann_candidates) == ("on", 10, 4, 50)
    for key, value in (
        ("ann", "maybe"),
        ("ann_probes", "0"),
        ("ann_candidates", "0"),
        ("ann_threshold", "-1"),
    ):
        with pytest.raises(ConfigError, match=key):
            Config().with_overrides({key: value})


def test_remove_rebuilds_the_index_for_the_smaller_library(ann_home: Path, tmp_path: Path) -> None:
    from support import SYNTHETIC_SYMBOL

    from pipeline.changes import remove_documents

    cfg = _copy(ann_home, tmp_path / "h")
    logged: list[str] = []
    remove_documents(cfg, SYNTHETIC_SYMBOL, lang="zh", log=logged.append)
    assert any("ann: built the index" in line for line in logged), logged  # rows moved: built anew
    after = library_retriever(cfg.root)
    after.cfg = dataclasses.replace(after.cfg, **EVERYTHING)
    assert open_ann(after.cfg, after.dense) is not None  # current for the smaller library
