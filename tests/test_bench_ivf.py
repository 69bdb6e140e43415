"""The scale benchmark's in-process ANN (sentence partitions, IVF): its layout keeps every sentence once with
its paragraph, and probing every partition gives exactly the exact dense channel's ranking. (Recall and speed
at scale are the benchmark's to measure, not a test's.)"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
scale = importlib.import_module("bench_scale")


def _data(tmp: Path, n: int = 1500, topics: int = 12, seed: int = 3) -> Path:
    """Clustered unit vectors: paragraphs of 1-5 sentences around one of a few topic directions."""
    rng = np.random.default_rng(seed)
    dim = scale.DIM
    centres = scale.norm_rows(rng.standard_normal((topics, dim)).astype(np.float32))
    ns = rng.integers(1, 6, n)
    first = np.concatenate([[0], np.cumsum(ns)]).astype(np.int64)
    topic = np.repeat(rng.integers(0, topics, n), ns)
    S = scale.norm_rows(
        centres[topic] + 0.6 * rng.standard_normal((len(topic), dim)).astype(np.float32) / np.sqrt(dim) * 4
    )
    P = scale.norm_rows(np.add.reduceat(S, first[:-1], axis=0))
    d = tmp / "data"
    d.mkdir()
    np.save(d / "P.npy", P.astype(np.float32))
    np.save(d / "S.npy", S.astype(np.float32))
    np.save(d / "first.npy", first)
    (d / "meta.json").write_text(json.dumps({"n": n, "n_sentences": int(first[-1])}))
    return d


def test_partitions_hold_every_sentence_once_with_its_paragraph(tmp_path: Path) -> None:
    d = _data(tmp_path)
    args = argparse.Namespace(work=str(tmp_path), ivf_clusters=16, seed=1)
    built = scale.phase_ivf_build(d, args)
    ivf = scale.IVFDense(d, scale._ivf_dir(tmp_path, built["n"]))
    S, first = np.load(d / "S.npy"), np.load(d / "first.npy")
    assert ivf.offsets[0] == 0 and ivf.offsets[-1] == len(S) and np.all(np.diff(ivf.offsets) >= 0)
    # the blocks are a permutation of the sentences, each row still next to its own paragraph's number
    para_of = np.repeat(np.arange(len(first) - 1), np.diff(first))
    key = lambda M: np.lexsort(M.T[::-1])  # noqa: E731 - rows in lexicographic order
    a = np.column_stack([S, para_of])
    b = np.column_stack([np.asarray(ivf.Ss), ivf.rows])
    assert np.array_equal(a[key(a)], b[key(b)])
    # each sentence sits in the partition of its nearest centroid
    for c in range(len(ivf.cent)):
        block = np.asarray(ivf.Ss[ivf.offsets[c] : ivf.offsets[c + 1]])
        if len(block):
            assert np.all(np.argmax(block @ ivf.cent.T, axis=1) == c)


def test_probing_every_partition_is_the_exact_dense_channel(tmp_path: Path) -> None:
    d = _data(tmp_path)
    scale.phase_ivf_build(d, argparse.Namespace(work=str(tmp_path), ivf_clusters=16, seed=1))
    ivf = scale.IVFDense(d, scale._ivf_dir(tmp_path, 1500))
    P, S, first = np.load(d / "P.npy"), np.load(d / "S.npy"), np.load(d / "first.npy")
    rng = np.random.default_rng(9)
    for _ in range(5):
        q = scale.norm_rows(rng.standard_normal((1, scale.DIM)).astype(np.float32))[0]
        exact = scale.dense_scores_one(P, S, first, q, 0.5)
        want = np.argsort(-exact, kind="stable")[:10]
        got, scanned = ivf.search(q, 0.5, 10, nprobe=16, cand=len(P))
        assert scanned == len(S)
        ranked = sorted(got, key=lambda r: (-got[r], r))
        assert ranked == want.tolist()
        assert np.allclose([got[r] for r in ranked], exact[want], atol=1e-6)
    # probing fewer partitions scans fewer sentences and still returns k exact scores
    got, scanned = ivf.search(q, 0.5, 10, nprobe=2, cand=200)
    assert scanned < len(S) and len(got) == 10
    assert all(abs(v - exact[r]) < 1e-6 for r, v in got.items())
