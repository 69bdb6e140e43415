#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""One benchmark run: where the time goes, and how cost grows with corpus size.

Everything is measured in one run on this machine; each timing is the median of several repetitions after a
warm-up, with its spread (min-max over repetitions), next to its reference and its target:

1. **cold start** -- fresh ``pipeline search`` / ``pipeline cite`` processes (wall time, peak RSS from GNU
   ``time``, which heavy modules were imported), then a stage breakdown inside one fresh process.
2. **warm** -- per-query latency p50/p95 over ``corpus/eval/dev.jsonl``, by route and by mode.
3. **batch** -- questions per second through ``Retriever.search_many`` (the query encoder ``pipeline build``
   chose, one worker thread per core), warm and including imports and model load, against the reference
   measured in the same run: sentence-transformers (fp32, its defaults) only embedding the same questions.
   Each in its own child process, alternately, so this one never loads torch.
4. **build** -- a from-scratch build in a temporary ``PIPELINE_HOME`` (converted model linked in, not
   reconverted): stage by stage in a child process, and ``pipeline build`` as a user runs it (wall, peak RSS).
5. **scale** -- synthetic corpora of 1k / 10k / 100k paragraphs recombined from the report's sentences
   (fixed seeds): BM25 beside rank_bm25, dense beside NumPy brute force (synthetic vectors: the report's
   sentence embeddings plus noise), and hybrid queries end to end through ``Retriever.search``.

Prints a markdown report, writes it to ``OUT/bench.md`` with a chart ``OUT/bench.png``; ``--json`` writes all
numbers. Run through ``scripts/bench`` (sets up .venv with the ``bench`` extra).

Usage::

    scripts/bench                  # full run (ten minutes or more)
    scripts/bench --quick          # about two minutes: fewer repetitions, 1k and 10k, 200-query batch
    scripts/bench --sizes 1000 20000 --repeat 5 --out /tmp/b --json /tmp/b/bench.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _p in (ROOT, ROOT / "scripts"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

import bench_embed  # noqa: E402
import bench_lexical as bl  # noqa: E402
from bench_lexical import latency_passes, median_spread, query_latencies, summarize_latencies, timed  # noqa: E402

ZH_QUESTION = "伪药对患者有什么危害？"
EN_QUESTION = "How much ransom did pirates receive in 2011?"
PARAGRAPH_QUERY = "第 41 段"
CITATION_QUERY = "resolution 65/230"
HEAVY_MODULES = (
    "torch",
    "sentence_transformers",
    "transformers",
    "onnxruntime",
    "jieba",
    "scipy",
    "tokenizers",
)
#: heavy modules named in the cold-start table
SHOWN_MODULES = ("torch", "sentence_transformers", "onnxruntime", "jieba", "scipy")
DIM = 384
NOISE = 0.3  # norm of the noise added to a real embedding before re-normalising (cosine to it ~0.96)

#: (label, pipeline arguments, wall-time target in s or None)
COLD_COMMANDS: list[tuple[str, list[str], float | None]] = [
    ("question, Chinese", ["search", ZH_QUESTION], 1.0),
    ("question, English", ["search", EN_QUESTION], 1.0),
    ("paragraph lookup", ["search", PARAGRAPH_QUERY], 0.5),
    ("citation lookup", ["cite", CITATION_QUERY], None),
]
#: a cold hybrid question at most this many times a cold paragraph lookup (issue "Fast on two cores")
COLD_RATIO_TARGET = 5.0
#: the cold rows compared with the paragraph lookup: (label, short name)
COLD_RATIO_ROWS = (("question, Chinese", "Chinese"), ("question, English", "English"))
#: warm batch throughput at least this many times sentence-transformers' encode-only throughput
BATCH_RATIO_TARGET = 1.0

# Runs `pipeline` as the console script does, then records which heavy modules the command imported.
_MODULE_PROBE = r"""
import json, sys
from pipeline.cli import main
rc = main(sys.argv[2:])
json.dump([m for m in HEAVY if m in sys.modules], open(sys.argv[1], "w"))
sys.exit(rc)
""".replace("HEAVY", repr(HEAVY_MODULES))

# A cold question, stage by stage, in a fresh process (what `pipeline search "<question>"` does, in order).
_BREAKDOWN_PROBE = r"""
import time
started = time.time()
t0 = time.perf_counter()
stages = []
def mark(name):
    global t0
    t = time.perf_counter()
    stages.append((name, t - t0))
    t0 = t
import json, sys
from pipeline.cli import main
from pipeline.config import Config
from pipeline.retrieve import Retriever
mark("python + pipeline imports")
r = Retriever.from_config(Config())
r.library; mark("library load")
from pipeline.analyze import get_jieba
get_jieba(r.cfg); mark("jieba initialisation")
r.analyzer.translator; mark("translator load")
r.lexical; mark("lexical index load")
r.dense; mark("dense index load")
mark(f"query encoder load ({r.encoder.kind})")
r.citations; mark("citation index")
r.search(sys.argv[2]); mark("first query")
modules = [m for m in HEAVY if m in sys.modules]
with open(sys.argv[1], "w") as f:
    json.dump({"stages": stages, "modules": modules, "started": started, "done": time.time()}, f)
import os
os._exit(0)  # as pipeline.cli.run does: no heap teardown
""".replace("HEAVY", repr(HEAVY_MODULES))


# ------------------------------------------------------------------------------------------ helpers


def pipeline_exe() -> str:
    """The ``pipeline`` console script next to this interpreter (``.venv/bin/pipeline``)."""
    exe = Path(sys.executable).parent / "pipeline"
    return str(exe) if exe.exists() else "pipeline"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.update(extra)
    return env


_GNU_TIME = "/usr/bin/time"
RSS_SOURCE = (
    "GNU `time` (`%M`) around each command"
    if Path(_GNU_TIME).is_file()
    else "`os.wait4` (no /usr/bin/time here: may over-report, a child's peak starts at its parent's RSS)"
)


def run_measured(cmd: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` in a fresh process: wall time (s), peak RSS (MiB), stderr, and the wall-clock
    (``time.time()``) moments of launch and exit. Raises when the command fails.

    Peak RSS comes from GNU ``time`` (``%M``) wrapped around the command: on Linux a child's ``ru_maxrss``
    starts from the RSS of the process that forked it, so ``wait4`` from this (large) process would
    over-report small children. Without ``/usr/bin/time`` it falls back to ``wait4`` and says so.
    """
    gnu_time = Path(_GNU_TIME).is_file()
    with tempfile.TemporaryDirectory(prefix="bench-run-") as d:
        rss_file = Path(d) / "rss"
        full = [_GNU_TIME, "-f", "%M", "-o", str(rss_file), *cmd] if gnu_time else list(cmd)
        with open(Path(d) / "stderr", "w+b") as err:
            launch = time.time()
            t0 = time.perf_counter()
            p = subprocess.Popen(
                full, stdout=subprocess.DEVNULL, stderr=err, env=env or child_env(), cwd=ROOT
            )
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.perf_counter() - t0
            exited = time.time()
            p.returncode = os.waitstatus_to_exitcode(status)
            err.seek(0)
            stderr = err.read().decode("utf-8", errors="replace")
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{stderr[-2000:]}")
        rss_kib = int(rss_file.read_text().split()[-1]) if gnu_time else ru.ru_maxrss
    return {
        "wall_s": wall,
        "rss_mb": rss_kib / 1024,
        "rss_source": "GNU time" if gnu_time else "wait4",
        "stderr": stderr,
        "launch": launch,
        "exited": exited,
    }


def run_probe(
    script: str, args: Sequence[str], env: dict[str, str] | None = None
) -> tuple[dict[str, Any], Any]:
    """Run a ``python -c`` probe that writes JSON to the path given as its first argument."""
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as d:
        out = Path(d) / "out.json"
        m = run_measured([sys.executable, "-c", script, str(out), *args], env)
        return m, json.loads(out.read_text(encoding="utf-8"))


def run_worker(
    kind: str, args: Sequence[str], env: dict[str, str] | None = None
) -> tuple[dict[str, Any], Any]:
    """Run ``bench.py --worker KIND`` in a child process (torch never enters this process)."""
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as d:
        out = Path(d) / "out.json"
        m = run_measured(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--worker",
                kind,
                "--worker-out",
                str(out),
                *args,
            ],
            env,
        )
        return m, json.loads(out.read_text(encoding="utf-8"))


def dev_queries() -> list[dict[str, Any]]:
    with (ROOT / "corpus" / "eval" / "dev.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def dev_questions() -> list[str]:
    """Dev queries that route to retrieval (not lookups), in file order."""
    from pipeline.cite import CitationIndex, route
    from pipeline.config import Config
    from pipeline.library import load_corpus

    cites = CitationIndex.build(load_corpus(Config()))
    return [q["query"] for q in dev_queries() if route(q["query"], cites).kind == "question"]


def cycle(items: Sequence[str], n: int) -> list[str]:
    return [items[i % len(items)] for i in range(n)]


def temp_home(parent: Path) -> Path:
    """A fresh ``PIPELINE_HOME``: a copy of ``corpus/`` and the converted model linked in (read-only use;
    its weight-hash cache copied so the model is not hashed again). No jieba cache, no indexes."""
    home = Path(tempfile.mkdtemp(prefix="home-", dir=parent))
    shutil.copytree(ROOT / "corpus", home / "corpus")
    models = home / "indexes" / "models"
    models.mkdir(parents=True)
    src = ROOT / "indexes" / "models"
    for entry in src.iterdir():
        if entry.is_dir():
            (models / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
        elif entry.name == ".fingerprints.json":
            shutil.copy2(entry, models / entry.name)
    return home


# ------------------------------------------------------------------------------------- 1. cold start


def bench_cold(runs: int) -> dict[str, Any]:
    """Fresh processes per command: one untimed warm-up (page cache; it also records the imported modules),
    then ``runs`` timed rounds, commands interleaved."""
    exe = pipeline_exe()
    rows: list[dict[str, Any]] = []
    for label, args, target in COLD_COMMANDS:
        _, modules = run_probe(_MODULE_PROBE, args)
        rows.append(
            {
                "label": label,
                "command": ["pipeline", *args],
                "target_s": target,
                "modules": modules,
                "torch": "torch" in modules,
                "walls": [],
                "rss": [],
            }
        )
    for _ in range(runs):
        for row, (_, args, _) in zip(rows, COLD_COMMANDS, strict=True):
            m = run_measured([exe, *args])
            row["walls"].append(m["wall_s"])
            row["rss"].append(m["rss_mb"])
    by_label = {row["label"]: row for row in rows}
    lookup = by_label["paragraph lookup"]["walls"]
    # each round's question ÷ the same round's lookup (the rounds are interleaved), for the spread
    rounds = {
        label: [q / p for q, p in zip(by_label[label]["walls"], lookup, strict=True)]
        for label, _ in COLD_RATIO_ROWS
    }
    for row in rows:
        row["wall_s"] = median_spread(row.pop("walls"))
        row["rss_mb"] = median_spread(row.pop("rss"))
    out: dict[str, Any] = {"commands": rows}
    out["ratios"] = cold_ratios(out)
    for r in out["ratios"]:
        r["per_round"] = median_spread(rounds[r["label"]])
    return out


def cold_ratios(cold: dict[str, Any]) -> list[dict[str, Any]]:
    """Each cold question's median wall time ÷ the cold paragraph lookup's median (this run's medians),
    against :data:`COLD_RATIO_TARGET`."""
    by_label = {row["label"]: row for row in cold.get("commands", [])}
    lookup = by_label.get("paragraph lookup")
    out: list[dict[str, Any]] = []
    if lookup is None:
        return out
    p = lookup["wall_s"]["median"]
    for label, lang in COLD_RATIO_ROWS:
        if label in by_label:
            q = by_label[label]["wall_s"]["median"]
            out.append(
                {
                    "label": label,
                    "language": lang,
                    "question_s": q,
                    "lookup_s": p,
                    "ratio": q / p,
                    "target": COLD_RATIO_TARGET,
                }
            )
    return out


def bench_breakdown(runs: int) -> dict[str, Any]:
    """A cold question stage by stage inside fresh processes (Chinese and English), against their wall time.

    Interpreter start-up (launch to the script's first line) and shutdown (its last line to process exit)
    are measured with the wall clock on both sides. The cold-start section just ran the same commands, so
    the page cache is warm.
    """
    out: dict[str, Any] = {}
    for lang, q in (("zh", ZH_QUESTION), ("en", EN_QUESTION)):
        stages: dict[str, list[float]] = {}
        walls, sums, rss, startup, shutdown = [], [], [], [], []
        modules: list[str] = []
        for _ in range(runs):
            m, res = run_probe(_BREAKDOWN_PROBE, [q])
            for name, s in res["stages"]:
                stages.setdefault(name, []).append(s)
            walls.append(m["wall_s"])
            sums.append(sum(s for _, s in res["stages"]))
            startup.append(max(0.0, res["started"] - m["launch"]))
            shutdown.append(max(0.0, m["exited"] - res["done"]))
            rss.append(m["rss_mb"])
            modules = res["modules"]
        out[lang] = {
            "query": q,
            "stages_s": {k: median_spread(v) for k, v in stages.items()},
            "sum_s": median_spread(sums),
            "startup_s": median_spread(startup),
            "shutdown_s": median_spread(shutdown),
            "wall_s": median_spread(walls),
            "rss_mb": median_spread(rss),
            "modules": modules,
        }
    return out


# ------------------------------------------------------------------------------------------- 2. warm


def bench_warm(retriever: Any, runs: int, limit: int | None = None) -> dict[str, Any]:
    """Per-query latency over the dev queries, by route; questions in each mode, split by language too."""
    from pipeline.cite import route
    from pipeline.text import query_language

    qs = dev_queries()
    groups: dict[str, list[str]] = {"question": [], "paragraph": [], "citation": []}
    for q in qs:
        groups[route(q["query"], retriever.citations).kind].append(q["query"])
    if limit:  # an even sample across the file (topics and languages are in blocks)
        groups = {k: v[:: max(1, len(v) // limit)][:limit] for k, v in groups.items()}
    questions = groups["question"]
    langs = [query_language(q) for q in questions]
    rows: list[dict[str, Any]] = []
    for mode in ("lexical", "dense", "hybrid"):
        passes = latency_passes(lambda q, mode=mode: retriever.search(q, mode=mode), questions, runs)
        rows.append({"route": "question", "mode": mode, **summarize_latencies(passes)})
        if mode == "hybrid":
            for lang in ("zh", "en"):
                sel = [i for i, g in enumerate(langs) if g == lang]
                if sel:
                    rows.append(
                        {"route": f"question ({lang})", "mode": mode, **summarize_latencies(passes, sel)}
                    )
    for kind in ("paragraph", "citation"):
        if groups[kind]:
            rows.append(
                {
                    "route": kind,
                    "mode": "lookup",
                    **query_latencies(lambda q: retriever.search(q), groups[kind], runs),
                }
            )
    return {"rows": rows}


# ------------------------------------------------------------------------------------------ 3. batch


def batch_worker(n: int, runs: int) -> dict[str, Any]:
    """In a fresh process: ``search_many`` over ``n`` dev questions (hybrid), first including every load,
    then warm ``runs`` times."""
    t0 = time.perf_counter()
    from pipeline.config import Config
    from pipeline.fanout import workers_for
    from pipeline.retrieve import Retriever

    r = Retriever.from_config(Config())
    queries = cycle(dev_questions(), n)
    r.search_many(queries)
    cold = time.perf_counter() - t0
    warm = [timed(lambda: r.search_many(queries)) for _ in range(runs)]
    return {
        "queries": n,
        "batch_size": r.cfg.batch_size,
        "cold_s": cold,
        "warm_s": warm,
        "encoder": r.encoder.kind,
        "encoder_threads": getattr(r.encoder, "threads", None),
        "query_workers": r.cfg.query_workers,
        "query_threads": r.cfg.query_threads,
        "workers": workers_for(r.cfg.query_workers),
        "torch_loaded": "torch" in sys.modules,
    }


def st_worker(n: int, runs: int) -> dict[str, Any]:
    """In a fresh process, the reference: sentence-transformers (fp32, its defaults: batch size, torch
    threads) loading the same converted model directory and only embedding the same ``n`` questions
    (``model.encode`` with the query prompt) -- no planning, BM25, fusion or answer sentence. One warm-up
    call, then ``runs`` timed calls."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    t0 = time.perf_counter()
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    from pipeline.config import Config
    from pipeline.embed import model_path

    import_s = time.perf_counter() - t0
    cfg = Config()
    path = model_path(cfg)
    queries = cycle(dev_questions(), n)
    t = time.perf_counter()
    model = SentenceTransformer(str(path), device="cpu")
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    vectors = model.encode(queries, prompt=cfg.query_prompt)
    first_s = time.perf_counter() - t
    cold = time.perf_counter() - t0
    warm = [timed(lambda: model.encode(queries, prompt=cfg.query_prompt)) for _ in range(runs)]
    return {
        "queries": n,
        "cold_s": cold,
        "import_s": import_s,
        "load_s": load_s,
        "first_call_s": first_s,
        "warm_s": warm,
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "torch_threads": torch.get_num_threads(),
        "dim": int(vectors.shape[1]),
        "version": sentence_transformers.__version__,
        "torch": torch.__version__,
    }


def bench_batch(n: int, runs: int, rounds: int = 1) -> dict[str, Any]:
    """Ours (``search_many``, hybrid) and the sentence-transformers reference (encode only) on the same ``n``
    questions, each in a fresh child process, alternately for ``rounds`` rounds (ABBA order, so drift and
    noise on the machine hit both); warm timings pooled over the rounds."""
    args = ["--batch", str(n), "--repeat", str(runs)]
    load_before = _load()
    ours: list[dict[str, Any]] = []
    ref: list[dict[str, Any]] = []
    for i in range(rounds):
        order = ("batch", "st") if i % 2 == 0 else ("st", "batch")
        for kind in order:
            m, res = run_worker(kind, args)
            res["process_rss_mb"] = m["rss_mb"]
            res["process_wall_s"] = m["wall_s"]
            (ours if kind == "batch" else ref).append(res)

    def pooled(rs: list[dict[str, Any]]) -> dict[str, Any]:
        warm = [w for r in rs for w in r["warm_s"]]
        return {
            "warm_s": median_spread(warm),
            "warm_qps": median_spread([n / w for w in warm]),
            "cold_s": median_spread([r["cold_s"] for r in rs]),
            "process_rss_mb": median_spread([r["process_rss_mb"] for r in rs]),
        }

    out: dict[str, Any] = {k: v for k, v in ours[-1].items() if k not in ("warm_s", "cold_s")}
    out.update(pooled(ours))
    out["cold_qps"] = n / out["cold_s"]["median"]
    out["rounds"] = rounds
    out["runs"] = [{"cold_s": r["cold_s"], "warm_s": r["warm_s"]} for r in ours]
    st = {k: v for k, v in ref[-1].items() if k not in ("warm_s", "cold_s")}
    st.update(pooled(ref))
    st["runs"] = [{k: r[k] for k in ("cold_s", "warm_s", "import_s", "load_s", "first_call_s")} for r in ref]
    out["st"] = st
    out["ratio"] = out["warm_qps"]["median"] / st["warm_qps"]["median"]
    # each round's ours ÷ the same round's reference, for the spread
    out["ratio_per_round"] = median_spread(
        [
            statistics.median(n / w for w in a["warm_s"]) / statistics.median(n / w for w in b["warm_s"])
            for a, b in zip(ours, ref, strict=True)
        ]
    )
    # conservative: our median against the reference's fastest repetition (torch's threads suffer most when
    # another process takes a core, so on a busy machine the median flatters us)
    out["ratio_vs_st_best"] = out["warm_qps"]["median"] / st["warm_qps"]["max"]
    out["ratio_target"] = BATCH_RATIO_TARGET
    out["load"] = {"before": load_before, "after": _load()}
    return out


# ------------------------------------------------------------------------------------------ 4. build


def build_worker() -> dict[str, Any]:
    """A from-scratch build of ``PIPELINE_HOME`` stage by stage, with the functions ``pipeline build``
    uses."""
    stages: list[tuple[str, float]] = []
    t = time.perf_counter()

    def mark(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        stages.append((name, now - t))
        t = now

    from pipeline import dense, lexical
    from pipeline.analyze import Analyzer, get_jieba
    from pipeline.config import Config
    from pipeline.library import load_corpus

    cfg = Config()
    mark("imports (pipeline)")
    corpus = load_corpus(cfg)
    mark("ingest")
    analyzer = Analyzer(cfg)
    get_jieba(cfg)
    mark("jieba initialisation (no cache)")
    texts = [p.index_text for p in corpus.paragraphs]
    tokens = [analyzer.tokenize(x) for x in texts]
    mark("analyzer tokenization")
    index = lexical.BM25Index.build(
        tokens, list(range(len(corpus.paragraphs))), k1=cfg.bm25_k1, b=cfg.bm25_b, idf=cfg.bm25_idf
    )
    mark("BM25 build")
    key = lexical._key(corpus, None)
    index.save(lexical.lexical_dir(cfg, key), lexical.lexical_inputs(cfg, corpus, analyzer))
    mark("lexical save (+ manifest)")
    t_model = time.perf_counter()
    model, timing = bench_embed.load_model_timed(cfg)
    stages.append(("import torch + sentence-transformers", timing["import_s"]))
    stages.append(("model load", time.perf_counter() - t_model - timing["import_s"]))
    t = time.perf_counter()
    from pipeline.embed import PassageEmbedder

    embedder = PassageEmbedder(cfg, model=model)
    dindex = dense.DenseIndex.build(corpus, embedder)
    mark(f"embeddings ({dindex.embedded} texts, {timing['dtype']})")
    embed_s = stages[-1][1]
    dindex.save(dense.dense_dir(cfg, key), dense.dense_inputs(corpus, embedder.identity))
    mark("dense save (+ manifest)")
    return {
        "stages": stages,
        "paragraphs": len(texts),
        "chars": sum(len(x) for x in texts),
        "embedded": dindex.embedded,
        "texts_per_s": dindex.embedded / embed_s,
        "dtype": timing["dtype"],
    }


def bench_build(runs: int, cli_runs: int) -> dict[str, Any]:
    """Stage breakdown (child) and `pipeline build` (CLI) in fresh temporary homes."""
    stages: dict[str, list[float]] = {}
    walls, sums, rss, rates = [], [], [], []
    info: dict[str, Any] = {}
    cli: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        for _ in range(runs):
            home = temp_home(Path(tmp))
            m, res = run_worker("build", [], child_env(PIPELINE_HOME=str(home)))
            for i, (name, s) in enumerate(res["stages"]):
                stages.setdefault(f"{i}:{name}", []).append(s)
            walls.append(m["wall_s"])
            sums.append(sum(s for _, s in res["stages"]))
            rss.append(m["rss_mb"])
            rates.append(res["texts_per_s"])
            info = {k: res[k] for k in ("paragraphs", "chars", "embedded", "dtype")}
            shutil.rmtree(home)
        for _ in range(cli_runs):
            home = temp_home(Path(tmp))
            m = run_measured([pipeline_exe(), "build"], child_env(PIPELINE_HOME=str(home)))
            cli.append(
                {
                    "wall_s": m["wall_s"],
                    "rss_mb": m["rss_mb"],
                    "log": [
                        ln.replace(str(home), "$PIPELINE_HOME")
                        for ln in m["stderr"].splitlines()
                        if ln.strip()
                    ],
                }
            )
            shutil.rmtree(home)
    return {
        **info,
        "stages_s": {k.split(":", 1)[1]: median_spread(v) for k, v in stages.items()},
        "sum_s": median_spread(sums),
        "wall_s": median_spread(walls),
        "rss_mb": median_spread(rss),
        "texts_per_s": median_spread(rates),
        "cli": {
            "runs": cli,
            "wall_s": median_spread([c["wall_s"] for c in cli]) if cli else None,
            "rss_mb": median_spread([c["rss_mb"] for c in cli]) if cli else None,
        },
    }


# ------------------------------------------------------------------------------------------ 5. scale


def synthetic_dense(
    base: Any, layout: list[list[int]], seed: int, noise: float = NOISE
) -> tuple[Any, Any, Any]:
    """Unit vectors for a synthetic corpus: each sentence row is its real report-sentence embedding plus
    Gaussian noise; each paragraph row is the sum of its sentence rows plus noise; all re-normalised.

    Returns:
        ``(paragraphs, sentences, first)``: float32 (n, dim), float32 (n_sentences, dim), and the first
        sentence row of each paragraph.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    flat = np.fromiter((i for doc in layout for i in doc), dtype=np.int64)
    counts = np.fromiter((len(doc) for doc in layout), dtype=np.int64, count=len(layout))
    dim = base.shape[1]
    scale = np.float32(noise / np.sqrt(dim))
    S = np.empty((flat.size, dim), dtype=np.float32)
    step = 1 << 16
    for a in range(0, flat.size, step):
        x = base[flat[a : a + step]] + scale * rng.standard_normal(
            (min(step, flat.size - a), dim), dtype=np.float32
        )
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        S[a : a + step] = x
    first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    P = np.add.reduceat(S, first, axis=0)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    P += scale * rng.standard_normal(P.shape, dtype=np.float32)
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    return P, S, first


def synthetic_corpus_object(corpus: Any, layout: list[list[int]]) -> tuple[Any, list[dict[str, Any]]]:
    """A :class:`pipeline.corpus.Corpus` whose paragraphs are the layout's report sentences, and the dense
    index's sentence records for it."""
    from pipeline.corpus import Corpus, Metadata, Paragraph, Sentence

    sents = [s.text for p in corpus.paragraphs for s in p.sentences]
    paras: list[Any] = []
    records: list[dict[str, Any]] = []
    for n, doc in enumerate(layout, 1):
        out, pos = [], 0
        for j, i in enumerate(doc):
            t = sents[i]
            out.append(Sentence(t, pos, pos + len(t)))
            records.append({"paragraph": n, "index": j, "start": pos, "end": pos + len(t)})
            pos += len(t)
        paras.append(
            Paragraph(number=n, section=["synthetic"], text="".join(sents[i] for i in doc), sentences=out)
        )
    return Corpus(
        path="synthetic",
        sha256=f"synthetic-{len(layout)}",
        metadata=Metadata(),
        sections=[],
        paragraphs=paras,
    ), records


def numpy_topk(P: Any, q: Any, k: int = 10) -> Any:
    """Reference: plain brute force over paragraph vectors, ``P @ q`` then ``argpartition``."""
    import numpy as np

    s = P @ q
    top = np.argpartition(-s, k)[:k]
    return top[np.argsort(-s[top])]


def numpy_topk_sentences(P: Any, S: Any, first: Any, q: Any, w: float, k: int = 10) -> Any:
    """Reference for the pipeline's own scoring: ``(1 - w) * paragraph + w * best sentence`` cosine,
    vectorised (``np.maximum.reduceat`` over each paragraph's sentence rows), then ``argpartition``."""
    import numpy as np

    s = (1 - w) * (P @ q) + w * np.maximum.reduceat(S @ q, first)
    top = np.argpartition(-s, k)[:k]
    return top[np.argsort(-s[top])]


def bench_scale(n: int, runs: int, ctx: dict[str, Any], quick: bool) -> dict[str, Any]:
    """One synthetic corpus of ``n`` paragraphs: lexical, dense and hybrid query cost, build, size."""
    from pipeline.dense import DenseIndex
    from pipeline.retrieve import Retriever

    analyzer, corpus, cfg = ctx["analyzer"], ctx["corpus"], ctx["cfg"]
    base = ctx["sentence_vectors"]
    layout = bl.synthetic_layout(base.shape[0], n, seed=n)
    docs = bl.synthetic_corpus(analyzer, corpus, n, seed=n, layout=layout)
    lex_queries = bl.sample_queries(docs, 100 if quick else 200, seed=n + 1)
    ref_runs = 2 if (quick or n >= 100_000) else 3
    lex, idx = bl.bench_bm25(docs, lex_queries, runs, ref_runs)
    n_chars = sum(len(ctx["sentences"][i]) for doc in layout for i in doc)
    del docs
    gc.collect()

    t = time.perf_counter()
    P, S, first = synthetic_dense(base, layout, seed=n)
    gen_s = time.perf_counter() - t
    syn, records = synthetic_corpus_object(corpus, layout)
    t = time.perf_counter()
    dindex = DenseIndex(
        paragraphs=P,
        sentences=S,
        numbers=[p.number for p in syn.paragraphs],
        sentence_map=records,
        manifest={"kind": "dense", "synthetic": True},
    )
    index_init_s = time.perf_counter() - t
    m = max(10, min(30 if quick else 100, 2_000_000 // n))  # dense / hybrid queries per pass
    qv = ctx["question_vectors"][:m]
    dense_ours = query_latencies(lambda q: dindex.search(q, 10), qv, runs)
    dense_np = query_latencies(lambda q: numpy_topk(P, q, 10), qv, runs)
    dense_np_sent = query_latencies(
        lambda q: numpy_topk_sentences(P, S, first, q, cfg.sentence_weight, 10), qv, runs
    )

    # hybrid end to end: the retriever with the synthetic indexes in place of the report's (routing still
    # uses the report's citation index; the synthetic paragraphs cite nothing)
    r = Retriever(
        syn,
        cfg=cfg,
        analyzer=analyzer,
        lexical=idx,
        dense=dindex,
        encoder=ctx["encoder"],
        citations=ctx["citations"],
    )
    questions = ctx["questions"][: len(qv)]
    hybrid = query_latencies(lambda q: r.search(q, mode="hybrid"), questions, runs)
    res = {
        "paragraphs": n,
        "sentences": int(S.shape[0]),
        "chars": n_chars,
        "lexical": lex,
        "dense_queries": len(qv),
        "dense_ours": dense_ours,
        "dense_numpy": dense_np,
        "dense_numpy_sentences": dense_np_sent,
        "hybrid": hybrid,
        "dense_bytes_paragraphs": int(P.nbytes),
        "dense_bytes_total": int(P.nbytes + S.nbytes),
        "encoder": getattr(ctx["encoder"], "kind", "?"),
        "vector_generation_s": gen_s,
        "dense_index_init_s": index_init_s,
    }
    return res


def scale_context(
    cfg: Any, retriever: Any, n_questions: int = 100, analyzer_seconds: float = 2.0
) -> dict[str, Any]:
    """What every synthetic size shares: the report's sentence vectors, dev questions and their vectors (as
    the retriever embeds them), the analyzer's warm throughput (for extrapolating tokenization)."""
    import numpy as np

    questions = dev_questions()
    enc = retriever.encoder  # queries are embedded as every search embeds them
    qtexts = [retriever.plan(q).dense_text for q in questions[:n_questions]]
    qvecs = list(enc.encode(qtexts))
    texts = [p.index_text for p in retriever.library.paragraphs]
    return {
        "cfg": cfg,
        "analyzer": retriever.analyzer,
        "corpus": retriever.library,
        "citations": retriever.citations,
        "encoder": enc,
        "sentences": bl.report_sentences(retriever.library),
        "sentence_vectors": np.asarray(retriever.dense.sentences, dtype=np.float32),
        "questions": questions,
        "question_vectors": qvecs,
        "analyzer_throughput": bl.bench_analyzer(retriever.analyzer, texts, analyzer_seconds),
    }


# ----------------------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def ver(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": ver("numpy"),
        "scipy": ver("scipy"),
        "torch": ver("torch"),
        "sentence-transformers": ver("sentence-transformers"),
        "rank-bm25": ver("rank-bm25"),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP_"))},
        "git": _git_rev(),
    }


def _git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return rev + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def verdict(value: float, target: float, at_most: bool = True) -> str:
    """ "pass", or "MISS" with by how much."""
    if at_most:
        if value <= target:
            return "pass"
        return f"MISS: {value / target:.2f}× the limit"
    if value >= target:
        return "pass"
    return f"MISS: {value / target:.0%} of target"


def _ms(d: dict[str, float], nd: int = 1, scale: float = 1.0) -> str:
    return f"{d['median'] * scale:.{nd}f} ({d['min'] * scale:.{nd}f}–{d['max'] * scale:.{nd}f})"


def _s(d: dict[str, float], nd: int = 2) -> str:
    return _ms(d, nd)


def targets(res: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(what, target, measured, verdict) for every target that this run measured."""
    out: list[tuple[str, str, str, str]] = []
    for row in res.get("cold", {}).get("commands", []):
        if row["target_s"] is not None:
            v = row["wall_s"]["median"]
            out.append(
                (
                    f"cold `{' '.join(row['command'][:2])}` — {row['label']}",
                    f"≤ {row['target_s']:g} s",
                    f"{v:.2f} s",
                    verdict(v, row["target_s"]),
                )
            )
        if row["label"] == "paragraph lookup":
            out.append(
                (
                    "cold paragraph lookup does not import torch",
                    "torch absent",
                    "torch imported" if row["torch"] else "torch absent",
                    "MISS" if row["torch"] else "pass",
                )
            )
    for r in cold_ratios(res.get("cold", {})):
        out.append(
            (
                f"cold hybrid question ÷ cold paragraph lookup — {r['language']}",
                f"≤ {r['target']:g}×",
                f"{r['ratio']:.1f}× ({r['question_s']:.2f} s ÷ {r['lookup_s']:.2f} s)",
                verdict(r["ratio"], r["target"]),
            )
        )
    for row in res.get("warm", {}).get("rows", []):
        if row["route"] == "question" and row["mode"] == "hybrid":
            v = row["p50_ms"]["median"]
            out.append(("warm hybrid question p50", "≤ 50 ms", f"{v:.1f} ms", verdict(v, 50)))
    b = res.get("batch")
    if b and "st" in b:
        out.append(
            (
                f"batch of {b['queries']:,} hybrid questions, warm, ÷ sentence-transformers encode-only",
                f"≥ {b['ratio_target']:.1f}× sentence-transformers encode-only",
                f"{b['ratio']:.2f}× ({b['warm_qps']['median']:.1f} ÷ "
                f"{b['st']['warm_qps']['median']:.1f} q/s)",
                verdict(b["ratio"], b["ratio_target"], at_most=False),
            )
        )
    for s in res.get("scale", []):
        if s["paragraphs"] == 100_000:
            v = s["hybrid"]["p50_ms"]["median"]
            out.append(("100k paragraphs: hybrid p50", "≤ 100 ms", f"{v:.1f} ms", verdict(v, 100)))
            v = s["lexical"]["ours_search"]["p50_ms"]["median"]
            out.append(("100k paragraphs: lexical p50", "≤ 20 ms", f"{v:.2f} ms", verdict(v, 20)))
            v = s["lexical"]["speedup_p50"]
            out.append(
                ("100k paragraphs: lexical vs rank-bm25", "≥ 50×", f"{v:.0f}×", verdict(v, 50, at_most=False))
            )
    return out


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _mb(b: float) -> str:
    return f"{b / 2**20:,.1f}"


def render(res: dict[str, Any]) -> str:
    """The markdown report."""
    mi = res["machine"]
    L: list[str] = [
        "# Benchmark",
        "",
        (
            f"Generated by `scripts/bench{' --quick' if res['quick'] else ''}` on {mi['date']} "
            f"(commit {mi['git']}); total run time {res['elapsed_s']:.0f} s."
        ),
        "",
        f"Machine: {mi['cpu']}, {mi['cores']} cores; Python {mi['python']}, numpy {mi['numpy']}, "
        f"scipy {mi['scipy']}, torch {mi['torch']}, sentence-transformers {mi['sentence-transformers']}, "
        f"rank-bm25 {mi['rank-bm25']}"
        + (
            f"; {', '.join(f'{k}={v}' for k, v in sorted(mi['openblas_env'].items()))}"
            if mi["openblas_env"]
            else ""
        )
        + f". Load average before / after: {res['load_before']} / {res['load_after']}.",
        "",
        (
            f"Timings: median of {res['repeat']} repetitions after a warm-up, with (min–max) over the "
            "repetitions; latency percentiles are taken within each pass over the queries, then summarised "
            "over the passes."
        ),
        "",
        "## Targets",
        "",
    ]
    L += _table(["target", "limit", "measured (median)", "result"], targets(res), "llrl")

    if "cold" in res:
        L += [
            "",
            "## 1. Cold start (fresh process per command)",
            "",
            (
                "Each command once untimed (page cache warm, imported modules recorded), then timed rounds "
                f"with the commands interleaved. Peak RSS: {res['rss_source']}."
            ),
            "",
        ]
        rows = []
        for r in res["cold"]["commands"]:
            cmd = "`pipeline " + " ".join(r["command"][1:2]) + f' "{r["command"][2]}"`'
            tgt = f"≤ {r['target_s']:g} s" if r["target_s"] is not None else "—"
            ok = verdict(r["wall_s"]["median"], r["target_s"]) if r["target_s"] is not None else "—"
            heavy = ", ".join(m for m in r["modules"] if m in SHOWN_MODULES)
            rows.append(
                [
                    f"{r['label']}: {cmd}",
                    _s(r["wall_s"]),
                    f"{r['rss_mb']['median']:.0f}",
                    heavy or "none",
                    tgt,
                    ok,
                ]
            )
        L += _table(
            ["command", "wall s", "peak RSS MiB", "heavy modules imported", "target", "result"],
            rows,
            "lrrlll",
        )
        ratios = cold_ratios(res["cold"])
        if ratios:
            L += [
                "",
                "A cold hybrid question against a cold paragraph lookup (the ratio of this run's medians; "
                "in brackets, min–max of the same ratio round by round):",
                "",
            ]
            per = {r["label"]: r.get("per_round") for r in res["cold"].get("ratios", [])}
            rows = []
            for r in ratios:
                spread = per.get(r["label"])
                rows.append(
                    [
                        f"{r['language']} question ÷ paragraph lookup",
                        f"{r['ratio']:.1f}×"
                        + (f" ({spread['min']:.1f}–{spread['max']:.1f})" if spread else ""),
                        f"≤ {r['target']:g}×",
                        verdict(r["ratio"], r["target"]),
                    ]
                )
            L += _table(["", "ratio", "target", "result"], rows, "lrll")
    if "breakdown" in res:
        b = res["breakdown"]
        names = list(b["zh"]["stages_s"])
        L += [
            "",
            "### Where a cold question's time goes (inside one fresh process)",
            "",
            (
                "A child script does what `pipeline search` does, stage by stage (each stage loads what it "
                "names; nothing before it did). Start-up (launch to the script's first line) and shutdown "
                "(last line to process exit; the probe ends with `os._exit`, as the CLI does) are taken with "
                "the wall clock on both sides."
            ),
            "",
        ]

        def both(key: str) -> list[str]:
            return [_ms(b["zh"][key], 0, 1e3), _ms(b["en"][key], 0, 1e3)]

        rows = [["interpreter start-up", *both("startup_s")]]
        rows += [[n, _ms(b["zh"]["stages_s"][n], 0, 1e3), _ms(b["en"]["stages_s"][n], 0, 1e3)] for n in names]
        rows.append(["shutdown (`os._exit`, as the CLI)", *both("shutdown_s")])
        rows.append(["**sum of the in-process stages**", *both("sum_s")])
        rows.append(
            ["**process wall** (measured by the parent; = start-up + stages + shutdown)", *both("wall_s")]
        )
        rows.append(
            ["peak RSS MiB", f"{b['zh']['rss_mb']['median']:.0f}", f"{b['en']['rss_mb']['median']:.0f}"]
        )
        rows.append(
            [
                "torch imported",
                "yes" if "torch" in b["zh"]["modules"] else "no",
                "yes" if "torch" in b["en"]["modules"] else "no",
            ]
        )
        L += _table(
            [
                "stage",
                f"Chinese question, ms — “{b['zh']['query']}”",
                f"English question, ms — “{b['en']['query']}”",
            ],
            rows,
        )
    if "warm" in res:
        L += [
            "",
            "## 2. Warm queries (one process, everything loaded, after a warm-up)",
            "",
            (
                f"`Retriever.search` one query at a time over `corpus/eval/dev.jsonl`, split by route "
                f"({res['warm']['note']})."
            ),
            "",
        ]
        rows = []
        for r in res["warm"]["rows"]:
            tgt = ok = "—"
            if r["route"] == "question" and r["mode"] == "hybrid":
                tgt, ok = "p50 ≤ 50 ms", verdict(r["p50_ms"]["median"], 50)
            rows.append(
                [r["route"], r["mode"], r["queries"], _ms(r["p50_ms"], 2), _ms(r["p95_ms"], 2), tgt, ok]
            )
        L += _table(["route", "mode", "queries", "p50 ms", "p95 ms", "target", "result"], rows, "llrrrll")
    if "batch" in res:
        L += render_batch(res)
    if "build" in res:
        b = res["build"]
        L += [
            "",
            "## 4. Build from scratch",
            "",
            (
                f"A fresh temporary `PIPELINE_HOME` per run: a copy of `corpus/`, the converted model linked "
                f"in (so it is not reconverted) and no jieba cache or indexes. Stages timed in a child "
                f"process with the functions `pipeline build` calls; {b['paragraphs']} paragraphs "
                f"({b['chars']:,} characters), {b['embedded']} texts embedded (paragraphs + sentences, "
                "nothing reused)."
            ),
            "",
        ]
        total = b["sum_s"]["median"]
        rows = [[n, _s(v), f"{v['median'] / total:.0%}"] for n, v in b["stages_s"].items()]
        rows.append(["**sum of stages**", _s(b["sum_s"]), "100%"])
        rows.append(["process wall (incl. start-up)", _s(b["wall_s"]), ""])
        rows.append(["peak RSS of the build process, MiB", f"{b['rss_mb']['median']:.0f}", ""])
        rows.append(["embedding throughput, texts/s", _ms(b["texts_per_s"], 1), ""])
        L += _table(["stage", "s", "share"], rows)
        c = b["cli"]
        if c["runs"]:
            L += [
                "",
                f"`pipeline build` in a fresh home (what a user runs; `--force` is not used because it also "
                f"reconverts the model): wall {_s(c['wall_s'], 1)} s, peak RSS {c['rss_mb']['median']:.0f} "
                f"({c['rss_mb']['min']:.0f}–{c['rss_mb']['max']:.0f}) MiB over {len(c['runs'])} run(s). "
                "Its own log: " + "; ".join(f"`{ln}`" for ln in c["runs"][-1]["log"]) + ".",
            ]
        else:
            L += [
                "",
                "`pipeline build` (CLI) was not run (`--quick`); the peak RSS above is the stage process's.",
            ]
    if res.get("scale"):
        L += render_scale(res)
    return "\n".join(L) + "\n"


def render_batch(res: dict[str, Any]) -> list[str]:
    """Section 3: ours against sentence-transformers encode-only, same questions, same run."""
    b = res["batch"]
    st = b.get("st")
    seq = next(
        (
            r
            for r in res.get("warm", {}).get("rows", [])
            if r["route"] == "question" and r["mode"] == "hybrid"
        ),
        None,
    )
    rounds = b.get("rounds", 1)
    L = [
        "",
        "## 3. Batch throughput",
        "",
        (
            f"{b['queries']:,} dev questions (cycled) answered in hybrid mode (plan, BM25, dense, fusion, "
            f"answer sentence) through `Retriever.search_many` in a fresh child process: query encoder "
            f"**{b['encoder']}**, {b['workers']} worker thread(s) (`query_workers={b['query_workers']}`, "
            f"0 = one per core) × {b.get('encoder_threads') or '?'} encoder thread(s) each "
            f"(`query_threads={b['query_threads']}`), questions embedded in chunks of {b['batch_size']}. "
            "*Including load* is the first call: imports, index and model loads, and the answers."
        ),
    ]
    if st:
        L += [
            "",
            (
                f"Reference, measured in the same run: sentence-transformers {st['version']} (torch "
                f"{st['torch']}, {st['dtype']}, its defaults: {st['torch_threads']} torch threads, its "
                "own batch size) loading the same converted model directory in another fresh child process "
                f"and only embedding the very same {st['queries']:,} questions — "
                '`model.encode(questions, prompt="query: ")`, no planning, BM25, fusion or answer '
                f"sentence. The two processes ran alternately, {rounds} round(s)"
                + (" (ours first, then the reference, then the other way round)" if rounds > 1 else "")
                + f"; each round one warm-up call then {res['repeat']} timed calls, pooled over the rounds."
            ),
        ]
    L.append("")
    rows = [
        [
            "**ours**, warm (everything loaded)",
            _ms(b["warm_qps"], 1),
            _s(b["warm_s"], 2),
            f"{b['process_rss_mb']['median']:.0f}",
        ],
        [
            "ours, including imports and loads (first call)",
            f"{b['cold_qps']:.1f}",
            _s(b["cold_s"], 2),
            "",
        ],
    ]
    if st:
        rows += [
            [
                "**sentence-transformers encode-only**, warm",
                _ms(st["warm_qps"], 1),
                _s(st["warm_s"], 2),
                f"{st['process_rss_mb']['median']:.0f}",
            ],
            [
                "sentence-transformers, including imports, load and the first call",
                f"{b['queries'] / st['cold_s']['median']:.1f}",
                _s(st["cold_s"], 2),
                "",
            ],
        ]
    if seq:
        qps = 1e3 / seq["mean_ms"]["median"]
        rows.append(
            [
                f"ours one at a time, `Retriever.search` ({b['encoder']} encoder), from §2",
                f"{qps:.1f}",
                f"{b['queries'] / qps:.2f} (projected)",
                "",
            ]
        )
    L += _table(["", "questions/s", "wall s", "peak RSS MiB (process)"], rows, "lrrr")
    if st:
        per = b.get("ratio_per_round")
        spread = f" (round by round {per['min']:.2f}–{per['max']:.2f})" if per and per["runs"] > 1 else ""
        L += [""]
        L += _table(
            ["target", "measured (ours ÷ reference, medians)", "result"],
            [
                [
                    f"ours ≥ {b['ratio_target']:.1f}× sentence-transformers encode-only",
                    f"{b['ratio']:.2f}×{spread}",
                    verdict(b["ratio"], b["ratio_target"], at_most=False),
                ]
            ],
            "lll",
        )
        extra = []
        if "ratio_vs_st_best" in b:
            extra.append(
                f"Against the reference's fastest repetition ({st['warm_qps']['max']:.1f} q/s) ours is "
                f"{b['ratio_vs_st_best']:.2f}× (torch's threads slow down most when another process takes "
                "a core, so on a busy machine the medians flatter ours)."
            )
        if "load" in b:
            extra.append(
                f"Load average before / after this section: {b['load']['before']} / {b['load']['after']}."
            )
        L += ["", " ".join(extra)] if extra else []
        L += [
            "",
            f"sentence-transformers timings: import {st['import_s']:.1f} s, model load {st['load_s']:.1f} s, "
            f"first `encode` call {st['first_call_s']:.2f} s (last round).",
        ]
    if b.get("torch_loaded"):
        L += ["", "Note: torch was imported in our batch process."]
    return L


def render_scale(res: dict[str, Any]) -> list[str]:
    sc = res["scale"]
    thr = res.get("analyzer_chars_per_s")
    rate = res.get("build", {}).get("texts_per_s", {}).get("median")
    enc = sc[0].get("encoder", "NumPy")
    L = [
        "",
        "## 5. Scale: synthetic corpora",
        "",
        (
            "Paragraphs of 2–8 report sentences drawn at random (seed = size); the vocabulary is the "
            "report's. **Dense vectors are synthetic**: embedding 100k paragraphs and their sentences with "
            "the model is infeasible on 2 cores, so each sentence row is the real embedding of its report "
            f"sentence plus Gaussian noise (norm {NOISE}), each paragraph row the normalised sum of its "
            "sentence rows plus noise — the same shapes and dtype as the real index, so the same cost."
        ),
        "",
        "Query latency p50 in ms, median (min–max) over passes:",
        "",
        (
            "- *BM25 ours*: `BM25Index.search` top 10 (Okapi IDF for parity); *rank-bm25*: "
            "`BM25Okapi.get_scores` (scores only, no ranking), on a tenth of the queries at 100k, a quarter "
            "below;"
        ),
        (
            "- *dense ours*: `DenseIndex.search` top 10 for a query vector (paragraph cosine + best-sentence "
            "cosine, as the retriever scores); *NumPy*: `P @ q` + `argpartition` over paragraph vectors "
            "only; *NumPy, same scoring*: paragraph + best-sentence cosine vectorised with "
            "`np.maximum.reduceat`;"
        ),
        (
            "- *hybrid*: `Retriever.search(question)` end to end with the synthetic indexes in place — "
            f"analysis and translation, BM25, query encoding ({enc}), dense scores, z-score fusion, "
            "answer sentence."
        ),
        "",
    ]
    rows = []
    for s in sc:
        lx = s["lexical"]
        rows.append(
            [
                f"{s['paragraphs']:,}",
                f"{s['sentences']:,}",
                _ms(lx["ours_search"]["p50_ms"], 3),
                _ms(lx["rank_bm25_get_scores"]["p50_ms"], 1),
                f"{lx['speedup_p50']:.0f}×",
                _ms(s["dense_ours"]["p50_ms"], 2),
                _ms(s["dense_numpy"]["p50_ms"], 2),
                _ms(s["dense_numpy_sentences"]["p50_ms"], 2),
                _ms(s["hybrid"]["p50_ms"], 1),
                _ms(s["hybrid"]["p95_ms"], 1),
            ]
        )
    L += _table(
        [
            "paragraphs",
            "sentences",
            "BM25 ours",
            "rank-bm25",
            "speed-up",
            "dense ours",
            "NumPy (paragraphs)",
            "NumPy, same scoring",
            "hybrid p50",
            "hybrid p95",
        ],
        rows,
    )
    L += [
        "",
        f"Queries per pass: BM25 {sc[0]['lexical']['ours_search']['queries']}; dense and hybrid "
        + ", ".join(f"{s['dense_queries']} at {s['paragraphs']:,}" for s in sc)
        + ".",
    ]
    L += ["", "Build and size:", ""]
    rows = []
    for s in sc:
        lx = s["lexical"]
        est = []
        if thr:
            est.append(f"tokenize {s['chars'] / thr['chars_per_s']['median']:.0f} s")
        if rate:
            est.append(f"embed {(s['paragraphs'] + s['sentences']) / rate / 3600:.1f} h")
        rows.append(
            [
                f"{s['paragraphs']:,}",
                f"{lx['tokens']:,}",
                f"{lx['vocab']:,}",
                _ms(lx["ours_build_s"], 3),
                _ms(lx["rank_bm25_build_s"], 2),
                _mb(lx["ours_index_bytes"]),
                _ms(lx["ours_load_s"], 3),
                _mb(s["dense_bytes_paragraphs"]),
                _mb(s["dense_bytes_total"]),
                ", ".join(est) or "—",
            ]
        )
    L += _table(
        [
            "paragraphs",
            "tokens",
            "terms",
            "BM25 build s",
            "rank-bm25 build s",
            "BM25 on disk MiB",
            "BM25 load s",
            "dense MiB (paragraphs)",
            "dense MiB (+ sentences)",
            "estimated full build",
        ],
        rows,
    )
    L += [
        "",
        "*Estimated full build* extrapolates this run's measured rates — analyzer throughput "
        + (
            f"{thr['chars_per_s']['median']:,.0f} chars/s (warm, `bench_lexical.bench_analyzer`)"
            if thr
            else "n/a"
        )
        + " and embedding throughput "
        + (f"{rate:.1f} texts/s (§4)" if rate else "n/a (§4 not run)")
        + " — to the synthetic corpus's characters and its paragraphs + sentences; it was not run. "
        "Dense sizes are n × 384 float32 (+ sentence rows, which the pipeline also stores).",
    ]
    s = sc[-1]
    h, d, v = (
        s["hybrid"]["p50_ms"]["median"],
        s["dense_ours"]["p50_ms"]["median"],
        s["dense_numpy_sentences"]["p50_ms"]["median"],
    )
    where = (
        f"Where the hybrid time goes at {s['paragraphs']:,} paragraphs: the dense channel "
        f"(`DenseIndex.search` for one vector, top 10 included) takes {d:.1f} ms of the {h:.1f} ms p50, "
        f"against {v:.1f} ms for the same scoring written as plain NumPy; the rest ({h - d:.1f} ms) is query "
        f"analysis, query encoding ({enc}), BM25, fusion and the answer sentence."
    )
    if d > 1.25 * v:
        where += (
            f" Scored as fast as the plain NumPy version, the hybrid p50 would be about {h - d + v:.0f} ms "
            "(an estimate from these two measurements, not a run)."
        )
    L += ["", where]
    big = [s for s in sc if s["paragraphs"] == 100_000]
    if big:
        s = big[0]
        L += ["", "At 100k paragraphs:", ""]
        L += _table(
            ["target", "limit", "measured", "result"],
            [
                (
                    "hybrid query p50",
                    "≤ 100 ms",
                    f"{s['hybrid']['p50_ms']['median']:.1f} ms",
                    verdict(s["hybrid"]["p50_ms"]["median"], 100),
                ),
                (
                    "lexical query p50",
                    "≤ 20 ms",
                    f"{s['lexical']['ours_search']['p50_ms']['median']:.2f} ms",
                    verdict(s["lexical"]["ours_search"]["p50_ms"]["median"], 20),
                ),
                (
                    "lexical speed-up over rank-bm25",
                    "≥ 50×",
                    f"{s['lexical']['speedup_p50']:.0f}×",
                    verdict(s["lexical"]["speedup_p50"], 50, at_most=False),
                ),
            ],
            "llll",
        )
    return L


def chart(res: dict[str, Any], path: Path) -> None:
    """Log-log chart: query time, build time and index size against corpus size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc = res["scale"]
    n = [s["paragraphs"] for s in sc]
    fig, axes = plt.subplots(1, 3, figsize=(16, 6.5))
    ax = axes[0]
    series = [
        ("ours: BM25 search", [s["lexical"]["ours_search"]["p50_ms"] for s in sc], "C0", "-"),
        ("rank-bm25 get_scores", [s["lexical"]["rank_bm25_get_scores"]["p50_ms"] for s in sc], "C1", "-"),
        ("ours: dense search (DenseIndex)", [s["dense_ours"]["p50_ms"] for s in sc], "C2", "-"),
        ("NumPy brute force (paragraphs)", [s["dense_numpy"]["p50_ms"] for s in sc], "C3", "-"),
        ("NumPy, same scoring (+ sentences)", [s["dense_numpy_sentences"]["p50_ms"] for s in sc], "C3", ":"),
        ("ours: hybrid end to end", [s["hybrid"]["p50_ms"] for s in sc], "C4", "-"),
    ]
    for label, ys, color, ls in series:
        med = [y["median"] for y in ys]
        err = [[m - y["min"] for m, y in zip(med, ys)], [y["max"] - m for m, y in zip(med, ys)]]
        ax.errorbar(n, med, yerr=err, label=label, color=color, ls=ls, marker="o", capsize=3)
    if 100_000 in n:
        ax.plot([100_000], [100], marker="*", ms=14, color="C4", ls="none", label="target: hybrid ≤ 100 ms")
        ax.plot([100_000], [20], marker="*", ms=14, color="C0", ls="none", label="target: BM25 ≤ 20 ms")
    ax.set(xscale="log", yscale="log", xlabel="paragraphs", ylabel="query p50 (ms)", title="Query time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)

    ax = axes[1]
    ax.plot(
        n, [s["lexical"]["ours_build_s"]["median"] for s in sc], "o-", color="C0", label="ours: BM25 build"
    )
    ax.plot(
        n,
        [s["lexical"]["rank_bm25_build_s"]["median"] for s in sc],
        "o-",
        color="C1",
        label="rank-bm25 build",
    )
    thr = res.get("analyzer_chars_per_s")
    rate = res.get("build", {}).get("texts_per_s", {}).get("median")
    if thr:
        ax.plot(
            n,
            [s["chars"] / thr["chars_per_s"]["median"] for s in sc],
            "o--",
            color="C5",
            label="tokenization (extrapolated)",
        )
    if rate:
        ax.plot(
            n,
            [(s["paragraphs"] + s["sentences"]) / rate for s in sc],
            "o--",
            color="C2",
            label="embedding (extrapolated)",
        )
    ax.set(xscale="log", yscale="log", xlabel="paragraphs", ylabel="seconds", title="Build time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)

    ax = axes[2]
    ax.plot(n, [s["lexical"]["ours_index_bytes"] / 2**20 for s in sc], "o-", color="C0", label="BM25 on disk")
    ax.plot(
        n,
        [s["dense_bytes_paragraphs"] / 2**20 for s in sc],
        "o-",
        color="C3",
        label="dense, paragraphs (float32)",
    )
    ax.plot(n, [s["dense_bytes_total"] / 2**20 for s in sc], "o:", color="C2", label="dense, + sentences")
    ax.set(xscale="log", yscale="log", xlabel="paragraphs", ylabel="MiB", title="Index size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.suptitle(
        f"pipeline benchmark — {res['machine']['cpu']}, {res['machine']['cores']} cores, "
        f"{res['machine']['date']}" + (" (quick)" if res["quick"] else ""),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------------------------------- main


def _log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def _json_default(o: Any) -> Any:
    try:
        return float(o)
    except (TypeError, ValueError):
        return str(o)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick",
        action="store_true",
        help="about two minutes: fewer repetitions, sizes 1k and 10k, a 200-query batch, one batch round",
    )
    ap.add_argument("--sizes", type=int, nargs="+", help="synthetic corpus sizes (default 1000 10000 100000)")
    ap.add_argument("--repeat", type=int, help="repetitions per measurement (default 3, --quick 2)")
    ap.add_argument(
        "--batch", type=int, help="questions in the batch measurement (default 1000, --quick 200)"
    )
    ap.add_argument(
        "--out", type=Path, default=ROOT / "docs", help="directory for bench.md and bench.png (default docs/)"
    )
    ap.add_argument("--json", type=Path, help="also write every number as JSON")
    ap.add_argument(
        "--rounds",
        type=int,
        help="batch: rounds of (ours, sentence-transformers) fresh processes, alternating "
        "(default 2, --quick 1)",
    )
    ap.add_argument("--worker", choices=("batch", "st", "build"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    runs = max(1, args.repeat or (2 if args.quick else 3))
    n_batch = args.batch or (200 if args.quick else 1000)

    if args.worker:
        workers = {"batch": batch_worker, "st": st_worker}
        res = workers[args.worker](n_batch, runs) if args.worker in workers else build_worker()
        args.worker_out.write_text(json.dumps(res, default=_json_default), encoding="utf-8")
        return 0

    sizes = args.sizes or ([1000, 10_000] if args.quick else [1000, 10_000, 100_000])
    t_start = time.perf_counter()
    res: dict[str, Any] = {
        "quick": args.quick,
        "repeat": runs,
        "sizes": sizes,
        "machine": machine_info(),
        "load_before": _load(),
        "rss_source": RSS_SOURCE,
    }

    _log("checking the indexes (`pipeline build`, untimed)")
    run_measured([pipeline_exe(), "build"])

    _log("1. cold start")
    res["cold"] = bench_cold(runs)
    res["breakdown"] = bench_breakdown(1 if args.quick else runs)

    from pipeline.config import Config
    from pipeline.retrieve import Retriever

    cfg = Config()
    retriever = Retriever.from_config(cfg)
    _log("2. warm queries")
    limit = 40 if args.quick else None
    res["warm"] = bench_warm(retriever, runs, limit)
    res["warm"]["note"] = (
        f"--quick: an even sample of at most {limit} queries per route" if limit else "all dev queries"
    )

    _log("5. scale (synthetic corpora)")
    ctx = scale_context(cfg, retriever, 30 if args.quick else 100, 0.5 if args.quick else 2.0)
    res["analyzer_chars_per_s"] = ctx["analyzer_throughput"]
    res["scale"] = []
    for n in sizes:
        _log(f"   {n:,} paragraphs")
        res["scale"].append(bench_scale(n, runs, ctx, args.quick))
    del ctx
    gc.collect()

    rounds = max(1, args.rounds or (1 if args.quick else 2))
    _log(
        f"3. batch ({n_batch} questions; ours and sentence-transformers in child processes, "
        f"{rounds} round(s))"
    )
    res["batch"] = bench_batch(n_batch, runs, rounds)
    _log("4. build from scratch (child processes)")
    res["build"] = bench_build(1 if args.quick else min(runs, 2), 0 if args.quick else min(runs, 2))

    res["load_after"] = _load()
    res["elapsed_s"] = time.perf_counter() - t_start
    report = render(res)
    print(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.md").write_text(report, encoding="utf-8")
    if res["scale"]:
        chart(res, args.out / "bench.png")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(res, indent=2, ensure_ascii=False, default=_json_default) + "\n", encoding="utf-8"
        )
    _log(f"done in {res['elapsed_s']:.0f} s: {args.out / 'bench.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
