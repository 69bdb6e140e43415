#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Benchmark the analyzer and the sparse BM25 index against rank_bm25.

Measures, on this machine, in one run:

* analyzer throughput (characters per second) on the report's paragraphs;
* jieba start-up in a fresh process, with and without the prefix-dictionary cache;
* BM25 build time and query latency (p50/p95) on the report's 65 paragraphs;
* synthetic corpora of 1k, 10k and 100k paragraphs made by recombining the report's sentences (fixed seed):
  build time and query p50 for :class:`pipeline.lexical.BM25Index` and for ``rank_bm25.BM25Okapi``.

Each timing is the median of several runs after a warm-up; the spread (min-max over runs) is shown.
Prints a markdown table; ``--json PATH`` also writes the numbers.

Usage (with the project's virtualenv active, or through ``.venv/bin/python``)::

    scripts/bench_lexical.py            # 1k, 10k, 100k
    scripts/bench_lexical.py --quick    # fewer runs, 1k and 10k only
    .venv/bin/python scripts/bench_lexical.py --json bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_JIEBA_PROBE = r"""
import sys, time
t0 = time.perf_counter()
from pathlib import Path
from pipeline.config import Config
from pipeline.analyze import get_jieba

class C(Config):
    @property
    def index_dir(self):
        return Path(sys.argv[1])

tk = get_jieba(C())
tk.lcut("毒品和犯罪问题办公室提供技术援助")
print(time.perf_counter() - t0)
"""


def _median_spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": len(xs)}


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return float("nan")
    i = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[i]


def _time(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_jieba_startup(runs: int) -> dict[str, Any]:
    """Start-up of the analyzer's jieba in fresh processes: empty cache dir vs warm cache dir."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-jieba-") as d:
            out = subprocess.run([sys.executable, "-c", _JIEBA_PROBE, d], capture_output=True, text=True,
                                 check=True, env=env).stdout
            cold.append(float(out.strip().splitlines()[-1]))
            for _ in range(2):
                out = subprocess.run([sys.executable, "-c", _JIEBA_PROBE, d], capture_output=True, text=True,
                                     check=True, env=env).stdout
                warm.append(float(out.strip().splitlines()[-1]))
    return {"no_cache_s": _median_spread(cold), "with_cache_s": _median_spread(warm)}


def bench_analyzer(analyzer: Any, texts: list[str], min_seconds: float) -> dict[str, Any]:
    """Tokenize the report's paragraphs repeatedly; characters per second per pass."""
    chars = sum(len(t) for t in texts)
    for t in texts:  # warm-up (jieba loaded, caches filled)
        analyzer.tokenize(t)
    rates: list[float] = []
    t_end = time.perf_counter() + min_seconds
    while time.perf_counter() < t_end or len(rates) < 3:
        dt = _time(lambda: [analyzer.tokenize(t) for t in texts])
        rates.append(chars / dt)
    return {"chars": chars, "chars_per_s": _median_spread(rates)}


def _query_latencies(fn: Callable[[list[tuple[str, float]]], Any], queries: list[list[tuple[str, float]]],
                     runs: int) -> dict[str, Any]:
    for q in queries[: min(5, len(queries))]:
        fn(q)  # warm-up
    p50s: list[float] = []
    p95s: list[float] = []
    for _ in range(runs):
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            fn(q)
            lat.append(time.perf_counter() - t0)
        p50s.append(_pct(lat, 0.5) * 1e3)
        p95s.append(_pct(lat, 0.95) * 1e3)
    return {"p50_ms": _median_spread(p50s), "p95_ms": _median_spread(p95s), "queries": len(queries)}


def _sample_queries(rng: random.Random, docs: list[list[str]], n: int) -> list[list[tuple[str, float]]]:
    out = []
    for _ in range(n):
        doc = rng.choice(docs)
        k = min(len(doc), rng.randint(2, 8))
        out.append([(t, 1.0) for t in rng.sample(doc, k)])
    return out


def bench_report(analyzer: Any, corpus: Any, runs: int) -> dict[str, Any]:
    """Build and query on the report itself."""
    from pipeline.lexical import BM25Index

    texts = [p.index_text for p in corpus.paragraphs]
    ids = [p.number for p in corpus.paragraphs]
    tokens = [analyzer.tokenize(t) for t in texts]
    builds = [_time(lambda: BM25Index.build(tokens, ids)) * 1e3 for _ in range(runs + 1)][1:]
    idx = BM25Index.build(tokens, ids)
    rng = random.Random(7)
    queries = _sample_queries(rng, tokens, 200)
    search = _query_latencies(lambda q: idx.search(q, 10), queries, runs)
    # end to end: query analysis (with translation for English text) + search
    sentences = [s for t in texts for s in re.split(r"[。；]", t) if len(s) > 8]
    texts_q = [s[:30] for s in rng.sample(sentences, 60)] + [
        "resolution 65/230", "ransom paid to pirates", "trafficking in cultural property",
        "technical assistance", "article 28", "第 65/230 号决议",
    ]
    analyzer.analyze_query("warm up the translator")
    e2e_lat: list[float] = []
    for _ in range(runs):
        lat = []
        for q in texts_q:
            t0 = time.perf_counter()
            idx.search(analyzer.analyze_query(q), 10)
            lat.append(time.perf_counter() - t0)
        e2e_lat.append(_pct(lat, 0.5) * 1e3)
    return {
        "paragraphs": len(tokens),
        "tokens": sum(len(t) for t in tokens),
        "vocab": len(idx.vocab),
        "build_ms": _median_spread(builds),
        "search": search,
        "analyze_plus_search_p50_ms": _median_spread(e2e_lat),
    }


def synthetic_corpus(analyzer: Any, corpus: Any, n_docs: int, seed: int) -> list[list[str]]:
    """``n_docs`` paragraphs of 2-8 report sentences drawn at random (fixed seed), as token lists."""
    sentences = []
    for p in corpus.paragraphs:
        for s in re.split(r"(?<=[。；])", p.index_text):
            if s.strip():
                sentences.append(analyzer.tokenize(s))
    rng = random.Random(seed)
    docs = []
    for _ in range(n_docs):
        doc: list[str] = []
        for s in rng.choices(sentences, k=rng.randint(2, 8)):
            doc.extend(s)
        docs.append(doc)
    return docs


def bench_synthetic(analyzer: Any, corpus: Any, n_docs: int, runs: int, n_queries: int,
                    ref_runs: int) -> dict[str, Any]:
    """Build and query one synthetic corpus with this implementation and with rank_bm25."""
    import numpy as np
    from rank_bm25 import BM25Okapi

    from pipeline.lexical import BM25Index

    docs = synthetic_corpus(analyzer, corpus, n_docs, seed=n_docs)
    ids = list(range(1, n_docs + 1))
    rng = random.Random(n_docs + 1)
    queries = _sample_queries(rng, docs, n_queries)

    ours_build = [_time(lambda: BM25Index.build(docs, ids, idf="okapi")) for _ in range(runs + 1)][1:]
    idx = BM25Index.build(docs, ids, idf="okapi")
    ours_scores = _query_latencies(lambda q: idx.scores(q), queries, runs)
    ours_search = _query_latencies(lambda q: idx.search(q, 10), queries, runs)

    with tempfile.TemporaryDirectory(prefix="bench-lex-") as d:
        save_s = _time(lambda: idx.save(d, {"bench": True}))
        load_runs = [_time(lambda: BM25Index.load(d, {"bench": True})) for _ in range(runs)]

    ref_build = [_time(lambda: BM25Okapi(docs)) for _ in range(ref_runs)]
    ref = BM25Okapi(docs)
    ref_q = queries[: max(5, n_queries // (10 if n_docs >= 100_000 else 4))]
    ref_lat = _query_latencies(lambda q: ref.get_scores([t for t, _ in q]), ref_q, ref_runs)
    # parity on the same queries (Okapi variant)
    max_diff = max(
        float(np.max(np.abs(idx.scores(q) - ref.get_scores([t for t, _ in q])))) for q in ref_q[:5]
    )
    del ref
    ours_p50 = ours_search["p50_ms"]["median"]
    return {
        "paragraphs": n_docs,
        "tokens": sum(len(d) for d in docs),
        "vocab": len(idx.vocab),
        "nnz": int(idx.tf.nnz),
        "ours_build_s": _median_spread(ours_build),
        "ours_scores": ours_scores,
        "ours_search": ours_search,
        "ours_save_s": save_s,
        "ours_load_s": _median_spread(load_runs),
        "rank_bm25_build_s": _median_spread(ref_build),
        "rank_bm25_get_scores": ref_lat,
        "speedup_p50": ref_lat["p50_ms"]["median"] / ours_p50 if ours_p50 > 0 else float("inf"),
        "max_abs_score_diff": max_diff,
    }


def _fmt(ms: dict[str, float], unit: str = "", nd: int = 2) -> str:
    return f"{ms['median']:.{nd}f}{unit} ({ms['min']:.{nd}f}–{ms['max']:.{nd}f})"


def render(res: dict[str, Any]) -> str:
    """Markdown tables of the results."""
    lines = [f"## Lexical benchmark ({res['machine']})", ""]
    a = res["analyzer"]
    j = res["jieba_startup"]
    r = res["report"]
    lines += [
        "| measure | median (min–max) |",
        "|---|---|",
        f"| analyzer throughput, chars/s ({a['chars']} chars/pass) | {_fmt(a['chars_per_s'], nd=0)} |",
        f"| jieba start-up, fresh process, no cache (s) | {_fmt(j['no_cache_s'], nd=3)} |",
        f"| jieba start-up, fresh process, with cache (s) | {_fmt(j['with_cache_s'], nd=3)} |",
        f"| report: {r['paragraphs']} paragraphs, {r['tokens']} tokens, {r['vocab']} terms — build (ms) "
        f"| {_fmt(r['build_ms'])} |",
        f"| report: search p50 (ms, {r['search']['queries']} queries) "
        f"| {_fmt(r['search']['p50_ms'], nd=3)} |",
        f"| report: search p95 (ms) | {_fmt(r['search']['p95_ms'], nd=3)} |",
        f"| report: analyze_query + search p50 (ms) | {_fmt(r['analyze_plus_search_p50_ms'], nd=3)} |",
        "",
        "| paragraphs | tokens | terms | build ours (s) | build rank_bm25 (s) | search p50 ours (ms) "
        "| search p95 ours (ms) | get_scores p50 rank_bm25 (ms) | speed-up | load ours (s) |",
        "|---:|---:|---:|---|---|---|---|---|---:|---|",
    ]
    for s in res["synthetic"]:
        lines.append(
            f"| {s['paragraphs']:,} | {s['tokens']:,} | {s['vocab']:,} | {_fmt(s['ours_build_s'], nd=3)} "
            f"| {_fmt(s['rank_bm25_build_s'], nd=2)} | {_fmt(s['ours_search']['p50_ms'], nd=3)} "
            f"| {_fmt(s['ours_search']['p95_ms'], nd=3)} | {_fmt(s['rank_bm25_get_scores']['p50_ms'], nd=1)} "
            f"| {s['speedup_p50']:.0f}× | {_fmt(s['ours_load_s'], nd=3)} |"
        )
    big = [s for s in res["synthetic"] if s["paragraphs"] >= 100_000]
    if big:
        s = big[0]
        ok = s["ours_search"]["p50_ms"]["median"] <= 20 and s["speedup_p50"] >= 50
        lines += ["", f"Target at 100k (p50 ≤ 20 ms and ≥ 50× rank_bm25): {'met' if ok else 'NOT met'}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs; synthetic corpora of 1k and 10k only")
    ap.add_argument("--sizes", type=int, nargs="*", help="synthetic corpus sizes (default 1000 10000 100000)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)

    from pipeline.analyze import Analyzer
    from pipeline.config import Config
    from pipeline.ingest import load_corpus

    runs = 3 if args.quick else 5
    sizes = args.sizes or ([1000, 10_000] if args.quick else [1000, 10_000, 100_000])
    cfg = Config()
    corpus = load_corpus(cfg)
    analyzer = Analyzer(cfg)

    res: dict[str, Any] = {
        "machine": f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs",
        "quick": args.quick,
    }
    print("jieba start-up ...", file=sys.stderr)
    res["jieba_startup"] = bench_jieba_startup(2 if args.quick else 3)
    print("analyzer ...", file=sys.stderr)
    texts = [p.index_text for p in corpus.paragraphs]
    res["analyzer"] = bench_analyzer(analyzer, texts, 1.0 if args.quick else 3.0)
    print("report index ...", file=sys.stderr)
    res["report"] = bench_report(analyzer, corpus, runs)
    res["synthetic"] = []
    for n in sizes:
        print(f"synthetic {n:,} ...", file=sys.stderr)
        res["synthetic"].append(
            bench_synthetic(analyzer, corpus, n, runs=runs, n_queries=100 if args.quick else 200,
                            ref_runs=2 if (args.quick or n >= 100_000) else 3)
        )
    print(render(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
