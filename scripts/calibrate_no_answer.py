"""Calibrate the no-answer signal (:mod:`pipeline.abstain`): its trade-off on the development sets.

Answerable questions: ``corpus/eval/dev.jsonl`` (kinds "question" and "paraphrase"); out-of-scope:
``corpus/eval/out-of-scope.jsonl`` (tuning) and ``corpus/eval/out-of-scope-check.jsonl`` (reported, never
used to choose). Every question is
answered by the library of the home (``PIPELINE_HOME``, default the project) with the configured model; each
answer's top :data:`~pipeline.abstain.CANDIDATES` candidates give the features, and the evidence is computed
with :data:`~pipeline.abstain.WEIGHTS`.

For each language the script prints the trade-off curve (threshold → share of answerable questions flagged,
share of out-of-scope flagged, dev and check) and the suggested threshold: the highest that flags at most
``--max-answerable`` (default 2 %) of the answerable questions. The thresholds are the settings
``no_answer_zh`` / ``no_answer_en`` (``--set no_answer_zh=…``; their defaults in ``pipeline/config.py``).

Usage: ``python scripts/calibrate_no_answer.py [--max-answerable 0.02] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT / "corpus" / "eval"


def _questions(path: Path, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if not kinds or r.get("kind", "question") in kinds]


def _evidence(retriever: Any, rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    from pipeline.abstain import CANDIDATES, evidence, features

    answers = retriever.search_many([r["query"] for r in rows], k=CANDIDATES)
    out = []
    for a in answers:
        feats = features([h.scores for h in a.hits])
        out.append((a.lang, evidence(feats, a.lang) if feats is not None else -math.inf))
    return out


def _rate(values: list[float], threshold: float) -> float:
    return sum(v < threshold for v in values) / len(values) if values else 0.0


def calibrate(max_answerable: float) -> dict[str, Any]:
    from pipeline import Retriever

    retriever = Retriever.from_config()
    sets = {
        "answerable": _evidence(retriever, _questions(EVAL / "dev.jsonl", ("question", "paraphrase"))),
        "out_of_scope": _evidence(retriever, _questions(EVAL / "out-of-scope.jsonl")),
        "check": _evidence(retriever, _questions(EVAL / "out-of-scope-check.jsonl")),
    }
    result: dict[str, Any] = {}
    for lang in ("zh", "en"):
        by = {name: sorted(v for lg, v in rows if lg == lang) for name, rows in sets.items()}
        answerable = by["answerable"]
        allowed = int(math.floor(max_answerable * len(answerable)))  # flagged answerable questions allowed
        # the highest threshold flagging at most `allowed`: just above the `allowed`-th lowest evidence
        chosen = answerable[allowed] - 1e-4 if allowed < len(answerable) else answerable[-1]
        curve = []
        for share in (0.0, 0.01, 0.02, 0.05, 0.10, 0.20):
            i = min(int(math.floor(share * len(answerable))), len(answerable) - 1)
            t = answerable[i] - 1e-4 if share else answerable[0] - 1e-4
            curve.append(
                {
                    "threshold": round(t, 4),
                    "answerable_flagged": round(_rate(answerable, t), 4),
                    "out_of_scope_flagged": round(_rate(by["out_of_scope"], t), 4),
                    "check_flagged": round(_rate(by["check"], t), 4),
                }
            )
        result[lang] = {
            "questions": {name: len(v) for name, v in by.items()},
            "threshold": round(chosen, 4),
            "answerable_flagged": round(_rate(answerable, chosen), 4),
            "out_of_scope_flagged": round(_rate(by["out_of_scope"], chosen), 4),
            "check_flagged": round(_rate(by["check"], chosen), 4),
            "curve": curve,
        }
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--max-answerable",
        type=float,
        default=0.02,
        help="share of answerable questions the threshold may flag",
    )
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()
    result = calibrate(args.max_answerable)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for lang, r in result.items():
        q = r["questions"]
        counts = f"{q['answerable']} answerable, {q['out_of_scope']} out-of-scope (dev), {q['check']} (check)"
        print(f"{lang}: {counts}")
        print(f"  {'threshold':>9} {'answerable':>11} {'out-of-scope':>13} {'check':>7}")
        for c in r["curve"]:
            rates = [c["answerable_flagged"], c["out_of_scope_flagged"], c["check_flagged"]]
            print(f"  {c['threshold']:>9.4f} {rates[0]:>11.1%} {rates[1]:>13.1%} {rates[2]:>7.1%}")
        flagged = (
            f"answerable flagged {r['answerable_flagged']:.1%}, out-of-scope {r['out_of_scope_flagged']:.1%}"
        )
        print(
            f"  suggested no_answer_{lang}={r['threshold']:.4f}: {flagged} (check {r['check_flagged']:.1%})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
