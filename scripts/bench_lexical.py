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
from collections.abc import Callable, Sequence
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


def median_spread(xs: list[float]) -> dict[str, float]:
    """Median, min, max and count of repeated measurements."""
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": len(xs)}


def pct(xs: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``xs``; NaN when empty."""
    s = sorted(xs)
    if not s:
        return float("nan")
    i = min(len(s) - 1, max(0, round(q * (len(s) - 1))))
    return s[i]


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes."""
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
            out = subprocess.run(
                [sys.executable, "-c", _JIEBA_PROBE, d], capture_output=True, text=True, check=True, env=env
            ).stdout
            cold.append(float(out.strip().splitlines()[-1]))
            for _ in range(2):
                out = subprocess.run(
                    [sys.executable, "-c", _JIEBA_PROBE, d],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                ).stdout
                warm.append(float(out.strip().splitlines()[-1]))
    return {"no_cache_s": median_spread(cold), "with_cache_s": median_spread(warm)}


def bench_analyzer(analyzer: Any, texts: list[str], min_seconds: float) -> dict[str, Any]:
    """Tokenize the report's paragraphs repeatedly; characters per second per pass."""
    chars = sum(len(t) for t in texts)
    for t in texts:  # warm-up (jieba loaded, caches filled)
        analyzer.tokenize(t)
    rates: list[float] = []
    t_end = time.perf_counter() + min_seconds
    while time.perf_counter() < t_end or len(rates) < 3:
        dt = timed(lambda: [analyzer.tokenize(t) for t in texts])
        rates.append(chars / dt)
    return {"chars": chars, "chars_per_s": median_spread(rates)}


def latency_passes(fn: Callable[[Any], Any], queries: Sequence[Any], runs: int) -> list[list[float]]:
    """Per-query latencies (ms) of ``fn``: a warm-up on the first five queries, then ``runs`` passes."""
    for q in queries[: min(5, len(queries))]:
        fn(q)  # warm-up
    passes: list[list[float]] = []
    for _ in range(runs):
        lat = []
        for q in queries:
            t0 = time.perf_counter()
            fn(q)
            lat.append((time.perf_counter() - t0) * 1e3)
        passes.append(lat)
    return passes


def summarize_latencies(passes: list[list[float]], select: Sequence[int] | None = None) -> dict[str, Any]:
    """p50 and p95 (ms) of each pass, summarised over the passes (median, min-max); ``select`` restricts
    them to some query positions. Also the mean latency, for throughput."""
    if select is not None:
        passes = [[lat[i] for i in select] for lat in passes]
    return {
        "p50_ms": median_spread([pct(lat, 0.5) for lat in passes]),
        "p95_ms": median_spread([pct(lat, 0.95) for lat in passes]),
        "mean_ms": median_spread([sum(lat) / len(lat) for lat in passes]),
        "queries": len(passes[0]),
    }


def query_latencies(fn: Callable[[Any], Any], queries: Sequence[Any], runs: int) -> dict[str, Any]:
    """p50 and p95 latency (ms) of ``fn`` over ``queries``: a warm-up on the first five, then ``runs`` passes;
    each percentile is summarised over the passes (median, min-max)."""
    return summarize_latencies(latency_passes(fn, queries, runs))


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
    builds = [timed(lambda: BM25Index.build(tokens, ids)) * 1e3 for _ in range(runs + 1)][1:]
    idx = BM25Index.build(tokens, ids)
    rng = random.Random(7)
    queries = _sample_queries(rng, tokens, 200)
    search = query_latencies(lambda q: idx.search(q, 10), queries, runs)
    # end to end: query analysis (with translation for English text) + search
    sentences = [s for t in texts for s in re.split(r"[。；]", t) if len(s) > 8]
    texts_q = [s[:30] for s in rng.sample(sentences, 60)] + [
        "resolution 65/230",
        "ransom paid to pirates",
        "trafficking in cultural property",
        "technical assistance",
        "article 28",
        "第 65/230 号决议",
    ]
    analyzer.analyze_query("warm up the translator")
    e2e_lat: list[float] = []
    for _ in range(runs):
        lat = []
        for q in texts_q:
            t0 = time.perf_counter()
            idx.search(analyzer.analyze_query(q), 10)
            lat.append(time.perf_counter() - t0)
        e2e_lat.append(pct(lat, 0.5) * 1e3)
    return {
        "paragraphs": len(tokens),
        "tokens": sum(len(t) for t in tokens),
        "vocab": len(idx.vocab),
        "build_ms": median_spread(builds),
        "search": search,
        "analyze_plus_search_p50_ms": median_spread(e2e_lat),
    }


def report_sentences(corpus: Any) -> list[str]:
    """The report's sentences in corpus order: the rows of the dense index's sentence matrix."""
    return [s.text for p in corpus.paragraphs for s in p.sentences]


def synthetic_layout(n_sentences: int, n_docs: int, seed: int) -> list[list[int]]:
    """For each of ``n_docs`` synthetic paragraphs, the 2-8 report sentences (indices) it is made of."""
    rng = random.Random(seed)
    return [rng.choices(range(n_sentences), k=rng.randint(2, 8)) for _ in range(n_docs)]


def synthetic_corpus(
    analyzer: Any, corpus: Any, n_docs: int, seed: int, layout: list[list[int]] | None = None
) -> list[list[str]]:
    """``n_docs`` paragraphs of 2-8 report sentences drawn at random (fixed seed), as token lists.

    Each report sentence is tokenized once; a synthetic paragraph's tokens are its sentences' tokens.
    ``layout`` (from :func:`synthetic_layout`) fixes which sentences make each paragraph.
    """
    tokens = [analyzer.tokenize(t) for t in report_sentences(corpus)]
    if layout is None:
        layout = synthetic_layout(len(tokens), n_docs, seed)
    return [[tok for i in doc for tok in tokens[i]] for doc in layout]


def sample_queries(docs: list[list[str]], n: int, seed: int) -> list[list[tuple[str, float]]]:
    """``n`` BM25 queries of 2-8 terms, each drawn from one synthetic paragraph (fixed seed)."""
    return _sample_queries(random.Random(seed), docs, n)


def bench_bm25(
    docs: list[list[str]], queries: list[list[tuple[str, float]]], runs: int, ref_runs: int
) -> tuple[dict[str, Any], Any]:
    """Build and query one tokenized corpus with :class:`pipeline.lexical.BM25Index` (Okapi IDF, for parity)
    and with ``rank_bm25.BM25Okapi`` in the same run.

    Returns:
        ``(results, index)``: build / query / save / load times, on-disk bytes, rank_bm25's build and
        ``get_scores`` times (on a tenth of the queries from 100k paragraphs, a quarter below), the p50
        speed-up and the largest score difference; and the built index.
    """
    import numpy as np
    from rank_bm25 import BM25Okapi

    from pipeline.lexical import BM25Index

    n_docs = len(docs)
    ids = list(range(1, n_docs + 1))
    ours_build = [timed(lambda: BM25Index.build(docs, ids, idf="okapi")) for _ in range(runs + 1)][1:]
    idx = BM25Index.build(docs, ids, idf="okapi")
    ours_scores = query_latencies(lambda q: idx.scores(q), queries, runs)
    ours_search = query_latencies(lambda q: idx.search(q, 10), queries, runs)

    with tempfile.TemporaryDirectory(prefix="bench-lex-") as d:
        save_s = timed(lambda: idx.save(d, {"bench": True}))
        index_bytes = sum(f.stat().st_size for f in Path(d).iterdir() if f.is_file())
        load_runs = [timed(lambda: BM25Index.load(d, {"bench": True})) for _ in range(runs)]

    ref_build = [timed(lambda: BM25Okapi(docs)) for _ in range(ref_runs)]
    ref = BM25Okapi(docs)
    ref_q = queries[: max(5, len(queries) // (10 if n_docs >= 100_000 else 4))]
    ref_lat = query_latencies(lambda q: ref.get_scores([t for t, _ in q]), ref_q, ref_runs)
    # parity on the same queries (Okapi variant)
    max_diff = max(
        float(np.max(np.abs(idx.scores(q) - ref.get_scores([t for t, _ in q])))) for q in ref_q[:5]
    )
    ours_p50 = ours_search["p50_ms"]["median"]
    res = {
        "paragraphs": n_docs,
        "tokens": sum(len(d) for d in docs),
        "vocab": len(idx.vocab),
        "nnz": int(idx.tf.nnz),
        "ours_build_s": median_spread(ours_build),
        "ours_scores": ours_scores,
        "ours_search": ours_search,
        "ours_save_s": save_s,
        "ours_index_bytes": index_bytes,
        "ours_load_s": median_spread(load_runs),
        "rank_bm25_build_s": median_spread(ref_build),
        "rank_bm25_get_scores": ref_lat,
        "speedup_p50": ref_lat["p50_ms"]["median"] / ours_p50 if ours_p50 > 0 else float("inf"),
        "max_abs_score_diff": max_diff,
    }
    return res, idx


def bench_synthetic(
    analyzer: Any, corpus: Any, n_docs: int, runs: int, n_queries: int, ref_runs: int
) -> dict[str, Any]:
    """Build and query one synthetic corpus with this implementation and with rank_bm25."""
    docs = synthetic_corpus(analyzer, corpus, n_docs, seed=n_docs)
    queries = sample_queries(docs, n_queries, seed=n_docs + 1)
    return bench_bm25(docs, queries, runs, ref_runs)[0]


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
    from pipeline.library import load_corpus

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
            bench_synthetic(
                analyzer,
                corpus,
                n,
                runs=runs,
                n_queries=100 if args.quick else 200,
                ref_runs=2 if (args.quick or n >= 100_000) else 3,
            )
        )
    print(render(res))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
