#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""How adding a report scales with its size: `add` of synthetic reports of 1,000, 5,000 and 20,000 paragraphs.

Each report is the real report's sentences recombined (2-6 per paragraph, a fixed seed), printed in the UN
Chinese layout. It is added to a fresh temporary home holding the real report, with a stand-in passage
embedder (hashed vectors: no model), so the figures are the pipeline's own work — reading, parsing, the
version check, tokenizing and the BM25 index, assembling and saving the dense index, copying, the catalog —
and the time per paragraph shows whether that work grows linearly. Embedding with the real model is linear
by construction (one forward pass per text, batched); its throughput is measured on the first report's first
``--embed-sample`` texts and the real total extrapolated from it (``--embed-sample 0`` skips the model).

Usage::

    scripts/bench_add.py                       # 1k, 5k, 20k paragraphs, 2 repetitions (~3 minutes on 2 cores)
    scripts/bench_add.py --sizes 1000 5000 --repeat 3 --json /tmp/add.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))


class HashEmbedder:
    """Deterministic unit vectors from a text's hash (the shape of the real ones), counting what it embeds."""

    identity = {"model": "bench-hash", "model_sha256": "0" * 64, "passage_prompt": "passage: "}
    prompt = "passage: "
    dims = 384

    def __init__(self) -> None:
        self.texts = 0

    def encode(self, texts: Any) -> np.ndarray:
        self.texts += len(texts)
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode("utf-8")).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dims).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


def make_home(parent: Path) -> Path:
    """A home with the real report (its catalog; no indexes: they are not part of what is measured)."""
    home = parent / "home"
    shutil.copytree(ROOT / "corpus", home / "corpus")
    (home / "indexes").mkdir()
    for name in ("jieba", "translate"):
        if (ROOT / "indexes" / name).is_dir():
            shutil.copytree(ROOT / "indexes" / name, home / "indexes" / name)
    return home


def one_add(report: Path, tmp: Path, seed: int) -> dict[str, float]:
    from pipeline.changes import add_reports
    from pipeline.config import Config

    home = make_home(tmp / f"run{seed}")
    cfg = Config(root=home)
    embedder = HashEmbedder()
    t0 = time.perf_counter()
    change = add_reports(cfg, [report], symbol=f"BENCH/{seed}", embedder=embedder)
    seconds = time.perf_counter() - t0
    shutil.rmtree(home.parent, ignore_errors=True)
    return {"seconds": seconds, "paragraphs": change.entries[0].paragraphs, "texts": embedder.texts}


def embed_rate(texts: list[str]) -> float:
    """Texts per second of the real passage embedder: the model of the home (``PIPELINE_HOME``, else this
    checkout), converted there first when it is not yet."""
    from pipeline.build import passage_embedder
    from pipeline.config import Config

    embedder = passage_embedder(Config())
    embedder.encode(texts[:16])  # warm-up
    t0 = time.perf_counter()
    embedder.encode(texts)
    return len(texts) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 20000], help="paragraphs per report")
    ap.add_argument("--repeat", type=int, default=2, help="adds per size (the median is reported)")
    ap.add_argument("--embed-sample", type=int, default=300, help="texts to time the real model on (0: skip)")
    ap.add_argument("--json", type=Path, help="write every number here")
    args = ap.parse_args(argv)

    from bench_library import synthetic_report

    from pipeline.config import Config
    from pipeline.dense import corpus_texts
    from pipeline.ingest import parse_report
    from pipeline.library import load_corpus

    real = load_corpus(Config(root=ROOT))
    sentences = [s.text for p in real.paragraphs for s in p.sentences if s.text.endswith("。")]
    rows: list[dict[str, Any]] = []
    rate = None
    with tempfile.TemporaryDirectory(prefix="bench-add-") as tmpdir:
        tmp = Path(tmpdir)
        for size in args.sizes:
            report = tmp / f"bench-{size}.zh.txt"
            report.write_text(synthetic_report(sentences, seed=size, n_paragraphs=size), encoding="utf-8")
            runs = [one_add(report, tmp, seed=size * 10 + i) for i in range(args.repeat)]
            secs = [r["seconds"] for r in runs]
            med = statistics.median(secs)
            rows.append(
                {
                    "paragraphs": runs[0]["paragraphs"],
                    "texts": runs[0]["texts"],
                    "bytes": report.stat().st_size,
                    "seconds": med,
                    "min": min(secs),
                    "max": max(secs),
                    "ms_per_paragraph": 1000 * med / runs[0]["paragraphs"],
                }
            )
            print(f"{size:>6} paragraphs: {med:.2f} s ({min(secs):.2f}-{max(secs):.2f})", file=sys.stderr)
            if rate is None and args.embed_sample:
                corpus = parse_report(report.read_text(encoding="utf-8"), report, lang="zh")
                _, ptexts, _, stexts = corpus_texts(corpus)
                rate = embed_rate((ptexts + stexts)[: args.embed_sample])
    print(
        "| paragraphs | texts embedded | file | add without the model: median (min–max) | ms per paragraph |"
        + (" real model (extrapolated) |" if rate else "")
    )
    print("|---:|---:|---:|---:|---:|" + ("---:|" if rate else ""))
    for r in rows:
        extra = f" {r['seconds'] + r['texts'] / rate:,.0f} s |" if rate else ""
        print(
            f"| {r['paragraphs']:,} | {r['texts']:,} | {r['bytes'] / 1e6:.1f} MB | {r['seconds']:.2f} s "
            f"({r['min']:.2f}–{r['max']:.2f}) | {r['ms_per_paragraph']:.2f} |{extra}"
        )
    if rate:
        print(f"\nreal passage embedder: {rate:.0f} texts/s on this machine")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "embed_texts_per_s": rate}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
