"""scripts/bench.py's issue-22 targets: cold question ÷ cold paragraph lookup, and the batch against
sentence-transformers encode-only measured in the same run (rendering on made-up numbers; one slow test runs
both batch workers for real on a handful of questions). No timing is asserted."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
bench = importlib.import_module("bench")


def _spread(*xs: float) -> dict[str, float]:
    return {"median": sorted(xs)[len(xs) // 2], "min": min(xs), "max": max(xs), "runs": len(xs)}


def _tables_well_formed(md: str) -> int:
    tables = 0
    lines = md.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.startswith("| ") and re.match(r"^\| (-{3,}:?|:?-{3,}) \|", lines[i + 1]):
            tables += 1
            width = line.count(" | ") + 1
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert lines[j].count(" | ") + 1 == width, f"ragged row under {line!r}: {lines[j]!r}"
                j += 1
    return tables


def _cold() -> dict:
    rows = []
    for label, args, target in bench.COLD_COMMANDS:
        wall = {"question, Chinese": 0.9, "question, English": 1.2}.get(label, 0.2)
        rows.append(
            {
                "label": label,
                "command": ["pipeline", *args],
                "target_s": target,
                "modules": ["onnxruntime", "jieba"] if "question" in label else [],
                "torch": False,
                "wall_s": _spread(wall, wall * 0.9, wall * 1.1),
                "rss_mb": _spread(300.0),
            }
        )
    cold = {"commands": rows}
    cold["ratios"] = bench.cold_ratios(cold)
    return cold


def _batch() -> dict:
    st = {
        "queries": 200,
        "import_s": 5.0,
        "load_s": 2.0,
        "first_call_s": 6.0,
        "dtype": "float32",
        "torch_threads": 2,
        "dim": 384,
        "version": "x",
        "torch": "y",
        "warm_s": _spread(5.0, 4.0, 6.0),
        "warm_qps": _spread(40.0, 33.3, 50.0),
        "cold_s": _spread(13.0),
        "process_rss_mb": _spread(900.0),
        "runs": [],
    }
    return {
        "queries": 200,
        "batch_size": 64,
        "encoder": "onnx",
        "encoder_threads": 1,
        "query_workers": 0,
        "query_threads": 0,
        "workers": 2,
        "torch_loaded": False,
        "warm_s": _spread(2.5, 2.4, 2.6),
        "warm_qps": _spread(80.0, 76.9, 83.3),
        "cold_s": _spread(4.0),
        "cold_qps": 50.0,
        "process_rss_mb": _spread(500.0),
        "rounds": 2,
        "runs": [],
        "st": st,
        "ratio": 2.0,
        "ratio_per_round": _spread(2.0, 1.9, 2.1),
        "ratio_vs_st_best": 1.6,
        "ratio_target": bench.BATCH_RATIO_TARGET,
        "load": {"before": "0.1 0.1 0.1", "after": "0.2 0.1 0.1"},
    }


def test_cold_targets_and_ratios():
    limits = {label: target for label, _, target in bench.COLD_COMMANDS}
    assert limits["question, Chinese"] == limits["question, English"] == 1.0
    assert limits["paragraph lookup"] == 0.5
    ratios = {r["language"]: r for r in bench.cold_ratios(_cold())}
    assert ratios["Chinese"]["ratio"] == pytest.approx(4.5) and ratios["English"]["ratio"] == pytest.approx(
        6.0
    )
    assert bench.cold_ratios({}) == []


def test_targets_and_report_name_the_reference():
    res = {
        "quick": True,
        "repeat": 3,
        "machine": bench.machine_info(),
        "load_before": "0",
        "load_after": "0",
        "elapsed_s": 1.0,
        "rss_source": "test",
        "cold": _cold(),
        "batch": _batch(),
    }
    rows = {what: (limit, measured, result) for what, limit, measured, result in bench.targets(res)}
    zh = rows["cold hybrid question ÷ cold paragraph lookup — Chinese"]
    en = rows["cold hybrid question ÷ cold paragraph lookup — English"]
    assert zh[0] == "≤ 5×" and zh[2] == "pass" and en[2].startswith("MISS")
    assert rows["cold `pipeline search` — question, English"][2].startswith("MISS")
    batch = rows["batch of 200 hybrid questions, warm, ÷ sentence-transformers encode-only"]
    assert batch == ("≥ 1.0× sentence-transformers encode-only", "2.00× (80.0 ÷ 40.0 q/s)", "pass")
    assert not any("40 q/s" in limit for limit, _, _ in rows.values())
    md = bench.render(res)
    assert "## 3. Batch throughput" in md and "sentence-transformers encode-only" in md
    assert "query encoder **onnx**, 2 worker thread(s)" in md and "`query_workers=0`" in md
    assert "Chinese question ÷ paragraph lookup" in md
    assert _tables_well_formed(md) >= 5


@pytest.mark.slow  # two fresh processes, one loading torch: ~30 s
def test_batch_and_reference_workers_run(retriever):
    # the children inherit PIPELINE_HOME: the session home, built by the retriever fixture
    b = bench.bench_batch(8, 1, 1)
    assert b["queries"] == 8 and b["st"]["queries"] == 8 and b["st"]["dtype"] == "float32"
    assert b["warm_qps"]["median"] > 0 and b["st"]["warm_qps"]["median"] > 0 and b["ratio"] > 0
    assert b["workers"] >= 1 and not b["torch_loaded"]
