"""Smoke test of scripts/bench.py: its smallest pieces on tiny sizes run and render well-formed tables.

No timing is asserted (that is the benchmark's job); only that each piece runs, the numbers have the shape
the report expects, and every markdown table row has as many cells as its header.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
bench = importlib.import_module("bench")
bl = importlib.import_module("bench_lexical")


def _check_tables(md: str) -> int:
    """Every table row has the header's cell count; returns the number of tables."""
    tables = 0
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if (
            i + 1 < len(lines)
            and line.startswith("| ")
            and re.match(r"^\| (-{3,}:?|:?-{3,}) \|", lines[i + 1])
        ):
            tables += 1
            width = line.count(" | ") + 1
            j = i + 1
            while j < len(lines) and lines[j].startswith("|"):
                assert lines[j].count(" | ") + 1 == width, f"ragged row under {line!r}: {lines[j]!r}"
                j += 1
    return tables


def test_verdict_says_by_how_much():
    assert bench.verdict(90, 100) == "pass"
    assert bench.verdict(120, 100) == "MISS: 1.20× the limit"
    assert bench.verdict(45, 40, at_most=False) == "pass"
    assert bench.verdict(30, 40, at_most=False) == "MISS: 75% of target"


def test_synthetic_generators_are_deterministic():
    a = bl.synthetic_layout(211, 50, seed=3)
    assert a == bl.synthetic_layout(211, 50, seed=3) and all(2 <= len(d) <= 8 for d in a)
    base = np.random.default_rng(0).standard_normal((211, bench.DIM)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    P, S, first = bench.synthetic_dense(base, a, seed=3)
    P2, _, _ = bench.synthetic_dense(base, a, seed=3)
    assert P.shape == (50, bench.DIM) and S.shape == (sum(map(len, a)), bench.DIM) and P.dtype == np.float32
    assert np.allclose(np.linalg.norm(S, axis=1), 1, atol=1e-5) and np.array_equal(P, P2)
    assert first[0] == 0 and first[-1] == S.shape[0] - len(a[-1])


def test_paragraph_lookup_probe_does_not_import_torch():
    m, modules = bench.run_probe(bench._MODULE_PROBE, ["search", bench.PARAGRAPH_QUERY])
    assert "torch" not in modules and "jieba" not in modules
    assert m["wall_s"] > 0 and m["rss_mb"] > 0


@pytest.mark.slow  # needs the real retriever (model) and renders the chart: ~40 s
def test_smallest_pieces_render(retriever, tmp_path):
    warm = bench.bench_warm(retriever, runs=1, limit=3)
    warm["note"] = "test"
    routes = {r["route"] for r in warm["rows"]}
    assert {"question", "paragraph", "citation"} <= routes
    ctx = bench.scale_context(retriever.cfg, retriever, n_questions=10, analyzer_seconds=0.05)
    s = bench.bench_scale(200, 1, ctx, quick=True)
    assert s["paragraphs"] == 200 and s["sentences"] >= 400
    assert s["dense_bytes_total"] == (200 + s["sentences"]) * bench.DIM * 4
    assert s["lexical"]["ours_index_bytes"] > 0 and s["lexical"]["max_abs_score_diff"] < 1e-6
    for key in ("dense_ours", "dense_numpy", "dense_numpy_sentences", "hybrid"):
        assert s[key]["p50_ms"]["median"] > 0 and s[key]["queries"] == 10
    res = {
        "quick": True,
        "repeat": 1,
        "machine": bench.machine_info(),
        "load_before": "0",
        "load_after": "0",
        "elapsed_s": 1.0,
        "warm": warm,
        "scale": [s],
        "analyzer_chars_per_s": ctx["analyzer_throughput"],
    }
    md = bench.render(res)
    assert "## 2. Warm queries" in md and "## 5. Scale" in md and "warm hybrid question p50" in md
    assert _check_tables(md) >= 4
    bench.chart(res, tmp_path / "bench.png")
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
