"""Work split into chunks and done by a few threads side by side, results in order.

Answering a batch of questions is mostly the query encoder's forward pass, which runs in ONNX Runtime (or
NumPy) without holding the GIL. One thread per core, each computing with one intra-op thread, keeps both of
these machines' cores busy — the forward pass of one chunk beside the Python work (planning, BM25, fusion,
answer sentences) of another — where one thread computing with two intra-op threads leaves a core idle
during all the Python work (README, Performance: 2 workers × 1 thread against 1 × 2).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

__all__ = ["chunks", "fan_out", "workers_for"]


def workers_for(setting: int) -> int:
    """The number of worker threads a setting of 0 (one per core) or N asks for."""
    if setting > 0:
        return setting
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, cores or 1)


def chunks(n: int, size: int, workers: int) -> list[range]:
    """``range(n)`` cut into chunks of at most ``size``, as many as a multiple of ``workers`` (so the threads
    finish together) and of even length."""
    if n <= 0:
        return []
    count = math.ceil(n / max(1, size))
    if workers > 1 and n >= 2 * workers:
        count = math.ceil(count / workers) * workers
    step = math.ceil(n / count)
    return [range(s, min(s + step, n)) for s in range(0, n, step)]


def fan_out(
    fn: Callable[[list[T]], list[R]],
    items: Sequence[T],
    size: int,
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """``fn`` applied to chunks of ``items`` (:func:`chunks`) by up to ``workers`` threads; the results
    concatenated in the items' order. ``progress`` is called with each finished chunk's length (from the
    calling thread). An exception in ``fn`` is raised here after the chunks in flight finish."""
    parts = chunks(len(items), size, workers)
    out: list[R] = []
    if workers <= 1 or len(parts) <= 1:
        for r in parts:
            out.extend(fn([items[i] for i in r]))
            if progress:
                progress(len(r))
        return out
    with ThreadPoolExecutor(min(workers, len(parts)), thread_name_prefix="pipeline-fanout") as pool:
        futures = [pool.submit(fn, [items[i] for i in r]) for r in parts]
        for r, f in zip(parts, futures, strict=True):
            out.extend(f.result())
            if progress:
                progress(len(r))
    return out
