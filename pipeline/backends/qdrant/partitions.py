"""Sentence partitions: k-means centroids over the sentence vectors, each vector's partition, and the
partitions a query probes.

The centroids are trained once per upload (spherical k-means over a fixed sample), stored with the
collection's state as float16 (base64), and each point's payload ``_part`` lists the partitions of its
paragraph vector and of each of its sentences; a query scans the points of its ``probe`` nearest partitions.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np


def _train_centroids(
    vectors: Any, count: int, *, sample_per_centroid: int = 32, iterations: int = 10, seed: int = 0
) -> np.ndarray:
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
        out[a : a + step] = np.argmax(np.asarray(vectors[a : a + step], dtype=np.float32) @ cent.T, axis=1)
    return out


def _encode_centroids(cent: np.ndarray) -> dict[str, Any]:
    """The centroids as the state stores them: their shape and their float16 bytes in base64."""
    return {
        "count": int(cent.shape[0]),
        "dim": int(cent.shape[1]),
        "float16": base64.b64encode(cent.astype("<f2").tobytes()).decode("ascii"),
    }


def _decode_centroids(part: Mapping[str, Any]) -> np.ndarray:
    """The centroids (C, dim) as float32 from what :func:`_encode_centroids` stored."""
    raw = np.frombuffer(base64.b64decode(part["float16"]), dtype="<f2")
    return raw.reshape(int(part["count"]), int(part["dim"])).astype(np.float32)


def _probed(cent: np.ndarray, q: np.ndarray, probe: int) -> list[int]:
    """The ``probe`` partitions whose centroids are nearest to the query vector (all when there are no more),
    in ascending order."""
    if probe >= len(cent):
        return list(range(len(cent)))
    return sorted(np.argpartition(-(cent @ q), probe - 1)[:probe].tolist())
