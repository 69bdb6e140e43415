#!/usr/bin/env python3
"""Ablation table for README: lexical / dense / hybrid and hybrid variants × Chinese / English / lookups.

Usage: .venv/bin/python scripts/ablation.py [QRELS] [--json PATH]

Each row is one configuration evaluated with the same code as `pipeline eval`; a change that improves one
column and hurts another shows here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.config import Config  # noqa: E402
from pipeline.evaluate import evaluate, load_qrels  # noqa: E402
from pipeline.retrieve import Retriever  # noqa: E402

ROWS: list[tuple[str, str, dict[str, object]]] = [
    ("lexical (BM25 + en→zh translation + synonym pivot)", "lexical", {}),
    ("lexical without synonym pivot", "lexical", {"pivot_weight": 0.0}),
    ("dense (e5-small, bilingual query)", "dense", {}),
    ("dense, query as typed", "dense", {"dense_query_terms": False}),
    ("hybrid (default: z-score fusion)", "hybrid", {}),
    ("hybrid, min-max fusion", "hybrid", {"fusion": "minmax"}),
    ("hybrid, RRF fusion", "hybrid", {"fusion": "rrf"}),
    ("hybrid, no synonym pivot", "hybrid", {"pivot_weight": 0.0}),
    ("hybrid, query as typed for dense", "hybrid", {"dense_query_terms": False}),
    ("hybrid, paragraph vectors only", "hybrid", {"sentence_weight": 0.0}),
]

COLUMNS = [
    ("zh/question", "R@1"),
    ("zh/question", "R@5"),
    ("zh/paraphrase", "R@1"),
    ("zh/paraphrase", "R@5"),
    ("en/question", "R@1"),
    ("en/question", "R@5"),
    ("en/question", "MRR@10"),
    ("reference", "exact"),
    ("paragraph", "exact"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("qrels", nargs="?", default="corpus/eval/dev.jsonl")
    ap.add_argument("--json", help="write all metrics here")
    args = ap.parse_args()
    qrels = load_qrels(args.qrels)
    base = Retriever.from_config(Config())
    shared = {
        "analyzer": base.analyzer,
        "lexical": base.lexical,
        "dense": base.dense,
        "encoder": base.encoder,
    }
    out = {}
    header = "| configuration | " + " | ".join(f"{g} {m}" for g, m in COLUMNS) + " |"
    lines = [header, "|---|" + "---:|" * len(COLUMNS)]
    for name, mode, overrides in ROWS:
        cfg = dataclasses.replace(Config(), **overrides)
        r = Retriever(base.library, cfg=cfg, **shared)  # the same indexes and encoder, other settings
        answers = r.search_many([q.query for q in qrels], k=10, mode=mode)
        groups = evaluate(qrels, [[h.paragraph for h in a.hits] for a in answers])
        out[name] = groups
        lines.append(f"| {name} | " + " | ".join(f"{groups[g][m]:.3f}" for g, m in COLUMNS) + " |")
        print(lines[-1], file=sys.stderr)
    n = {g: int(out[ROWS[0][0]][g]["n"]) for g, _ in COLUMNS}
    print(f"Queries: {args.qrels} — " + ", ".join(f"{g} {c}" for g, c in n.items()) + "\n")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
