#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""The library benchmark: what adding a report costs, and what many reports cost a question.

In a temporary home (the real report, its catalog and the converted model linked in) this builds a library of
``--reports`` synthetic 65-paragraph reports — the real report's sentences recombined per report with a fixed
seed, printed in the UN layout with a symbol of their own, so nothing is shared with the embedding cache —
and measures, with the model loaded once in this process (the same for every figure):

1. **index alone** — one more such report's BM25 index and embeddings, built on their own (what a library of
   one would do): ``build_lexical_index`` + ``build_dense_index`` with no cache;
2. **add** — ``add_reports`` of that report into the library of ``--reports`` (parse, version check, its
   own indexes, copy into corpus/, catalog swap): target at most 2 × (1);
3. **full rebuild** — ``build_all(force=True)`` over the whole library, for scale;
4. **hybrid warm p50/p95** over the dev questions for the one-report library and for the library of
   ``--reports`` + 1: target at most 1.5 ×.

Each timing is the median of ``--repeat`` runs with the spread (min–max). Prints markdown; ``--json`` writes
every number.

Usage::

    scripts/bench_library.py                 # 20 reports, 3 repetitions (~5 minutes on 2 cores)
    scripts/bench_library.py --reports 5 --repeat 2 --json /tmp/lib.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def synthetic_report(sentences: list[str], seed: int, n_paragraphs: int = 65) -> str:
    """A report in the UN Chinese layout (its symbol is given at ``add``): front matter, two chapters,
    ``n_paragraphs`` numbered paragraphs of 2–6 of the real report's sentences each (drawn with ``seed``)."""
    rng = random.Random(seed)
    lines = [
        " 第九届会议 ",
        "2030 年 3 月 4 日至 8 日，维也纳 ",
        "临时议程*项目 3 ",
        f"基准测试报告第 {seed} 号 ",
        "",
        "秘书处的报告 ",
        "",
        "一. 导言 ",
        "",
    ]
    for n in range(1, n_paragraphs + 1):
        if n == n_paragraphs // 2:
            lines += ["二. 技术援助 ", ""]
        text = "".join(rng.sample(sentences, rng.randint(2, 6)))
        lines += [f"{n}. {text} ", ""]
    return "\n".join(lines)


def make_home(parent: Path) -> Path:
    from pipeline.config import Config

    home = parent / "home"
    shutil.copytree(ROOT / "corpus", home / "corpus")
    (home / "indexes").mkdir()
    for name in ("jieba", "translate", "docs"):  # the real report's indexes are verified, not rebuilt
        if (ROOT / "indexes" / name).is_dir():
            shutil.copytree(ROOT / "indexes" / name, home / "indexes" / name)
    models = Config(root=ROOT).models_dir
    (home / "indexes" / "models").mkdir()
    for d in models.iterdir():
        if d.is_dir() and not d.name.startswith("."):
            os.symlink(d, home / "indexes" / "models" / d.name)
    return home


def median_spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "runs": len(xs)}


def latencies(retriever: Any, questions: list[str], runs: int) -> dict[str, float]:
    for q in questions[:10]:
        retriever.search(q)  # warm-up
    p50s, p95s = [], []
    for _ in range(runs):
        times = []
        for q in questions:
            t = time.perf_counter()
            retriever.search(q)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p50s.append(times[len(times) // 2])
        p95s.append(times[int(len(times) * 0.95)])
    return {
        "p50": statistics.median(p50s),
        "p50_min": min(p50s),
        "p50_max": max(p50s),
        "p95": statistics.median(p95s),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--reports", type=int, default=20, help="reports in the library before the timed add (default 20)"
    )
    ap.add_argument("--repeat", type=int, default=3, help="repetitions per timing (default 3)")
    ap.add_argument("--questions", type=int, default=100, help="dev questions timed per run (default 100)")
    ap.add_argument("--json", type=Path, help="write every number as JSON")
    args = ap.parse_args(argv)

    from pipeline.analyze import Analyzer
    from pipeline.build import build_all
    from pipeline.changes import add_reports, remove_documents
    from pipeline.config import Config
    from pipeline.dense import build_dense_index
    from pipeline.embed import PassageEmbedder
    from pipeline.ingest import parse_report, settle_identity
    from pipeline.lexical import build_lexical_index
    from pipeline.library import load_corpus
    from pipeline.retrieve import Retriever

    real = load_corpus(Config(root=ROOT))
    sentences = [s.text for p in real.paragraphs for s in p.sentences if s.text.endswith("。")]
    dev = [
        json.loads(x)
        for x in (ROOT / "corpus" / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
        if x.strip()
    ]
    questions = [d["query"] for d in dev if d["kind"] in ("question", "paraphrase")][: args.questions]
    res: dict[str, Any] = {"reports": args.reports, "repeat": args.repeat, "questions": len(questions)}

    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        tmp_path = Path(tmp)
        home = make_home(tmp_path)
        cfg = Config(root=home)
        os.environ["PIPELINE_HOME"] = str(home)
        list(build_all(cfg))  # the real report's indexes
        embedder = PassageEmbedder(cfg)
        embedder.encode(["warm-up"])

        one = Retriever.from_config(cfg)
        res["hybrid_1"] = latencies(one, questions, args.repeat)
        print(f"1 report: hybrid p50 {res['hybrid_1']['p50']:.1f} ms", file=sys.stderr)

        files = []
        for i in range(args.reports + 1 + args.repeat):
            path = tmp_path / f"bench-{i:02d}.zh.txt"
            path.write_text(synthetic_report(sentences, seed=i), encoding="utf-8")
            files.append(path)
        t = time.perf_counter()
        for i, path in enumerate(files[: args.reports]):
            add_reports(cfg, [path], symbol=f"BENCH/LIB/2030/{i}", embedder=embedder)
        res["fill_seconds"] = time.perf_counter() - t
        print(
            f"filled the library with {args.reports} reports in {res['fill_seconds']:.1f} s", file=sys.stderr
        )

        analyzer = Analyzer(cfg)
        analyzer.tokenize("预热 warm-up")  # jieba's dictionary is loaded once per process, before any timing
        alone, added = [], []
        for r in range(args.repeat):
            path = files[args.reports + 1 + r]
            symbol = f"BENCH/LIB/2030/{args.reports + 1 + r}"
            corpus = parse_report(path.read_text(encoding="utf-8"), path, lang="zh")
            settle_identity(corpus, symbol, "zh")
            scratch = Config(root=tmp_path / f"alone-{r}")
            (scratch.index_dir).mkdir(parents=True)
            t = time.perf_counter()
            build_lexical_index(scratch, corpus, analyzer)
            build_dense_index(scratch, corpus, embedder, cache={})
            alone.append(time.perf_counter() - t)
            t = time.perf_counter()
            change = add_reports(cfg, [path], symbol=symbol, embedder=embedder)
            added.append(time.perf_counter() - t)
            assert change.entries, "the timed report was not added"
            remove_documents(cfg, corpus.symbol)
        res["index_alone"] = median_spread(alone)
        res["add"] = median_spread(added)
        res["add_ratio"] = res["add"]["median"] / res["index_alone"]["median"]
        print(
            f"index alone {res['index_alone']['median']:.2f} s, add {res['add']['median']:.2f} s "
            f"({res['add_ratio']:.2f}×)",
            file=sys.stderr,
        )

        add_reports(cfg, [files[args.reports]], symbol=f"BENCH/LIB/2030/{args.reports}", embedder=embedder)
        many = Retriever.from_config(cfg)
        res["library_paragraphs"] = len(many.library.paragraphs)
        res["hybrid_n"] = latencies(many, questions, args.repeat)
        res["latency_ratio"] = res["hybrid_n"]["p50"] / res["hybrid_1"]["p50"]
        print(
            f"{len(many.library.documents)} reports: hybrid p50 {res['hybrid_n']['p50']:.1f} ms "
            f"({res['latency_ratio']:.2f}×)",
            file=sys.stderr,
        )
        t = time.perf_counter()
        list(build_all(cfg, force=False))
        res["build_verify_seconds"] = time.perf_counter() - t
        rebuild = []
        for _ in range(1):
            t = time.perf_counter()
            for doc in many.library.documents:
                build_lexical_index(cfg, doc, analyzer, save=False)
            embedder.encode(
                [p.index_text for p in many.library.paragraphs]
                + [s.text for p in many.library.paragraphs for s in p.sentences]
            )
            rebuild.append(time.perf_counter() - t)
        res["full_rebuild"] = median_spread(rebuild)

    n = args.reports
    print(
        f"\n**Library benchmark** — {n} synthetic 65-paragraph reports + the real one; medians of "
        f"{args.repeat} (min–max); model loaded once\n"
    )
    print("| measurement | value | target |")
    print("|---|---:|---|")
    ia, ad = res["index_alone"], res["add"]
    print(
        f"| index one report alone (BM25 + embeddings) | {ia['median']:.2f} s "
        f"({ia['min']:.2f}–{ia['max']:.2f}) | |"
    )
    print(
        f"| `add` it to the library of {n + 1} | {ad['median']:.2f} s ({ad['min']:.2f}–{ad['max']:.2f}) | "
        f"≤ 2 × alone: {res['add_ratio']:.2f} × {'✓' if res['add_ratio'] <= 2 else '✗'} |"
    )
    print(
        f"| full rebuild of {n + 2} reports (tokenize + embed all) | "
        f"{res['full_rebuild']['median']:.1f} s | |"
    )
    print(f"| `build` that finds all {n + 2} current (verify only) | {res['build_verify_seconds']:.2f} s | |")
    h1, hn = res["hybrid_1"], res["hybrid_n"]
    print(
        f"| hybrid warm p50, 1 report (65 ¶) | {h1['p50']:.1f} ms ({h1['p50_min']:.1f}–{h1['p50_max']:.1f}), "
        f"p95 {h1['p95']:.1f} | |"
    )
    print(
        f"| hybrid warm p50, {n + 2} reports ({res['library_paragraphs']} ¶) | {hn['p50']:.1f} ms "
        f"({hn['p50_min']:.1f}–{hn['p50_max']:.1f}), p95 {hn['p95']:.1f} | "
        f"≤ 1.5 ×: {res['latency_ratio']:.2f} × {'✓' if res['latency_ratio'] <= 1.5 else '✗'} |"
    )
    if args.json:
        args.json.write_text(json.dumps(res, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
