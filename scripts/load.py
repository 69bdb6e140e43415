#!/usr/bin/env python3
"""Load test of `pipeline serve`: many concurrent clients on loopback, bounded in time and count.

Starts the server (``python -m pipeline serve`` on a free 127.0.0.1 port, or uses ``--url``), then runs
phases, each with N concurrent closed-loop keep-alive clients (``pipeline.server.loadtest``: plain asyncio,
so the client costs little of the two cores it shares with the server):

* ``hybrid``   — the development set's questions, hybrid mode;
* ``lexical``  — the same questions, lexical mode;
* ``paragraph`` — paragraph lookups ("第 N 段", "paragraph N", "¶N") through ``/api/search``;
* ``citation`` — citation lookups ("resolution 65/230", "S/2009/146", …) through ``/api/search``;
* ``soak``     — 20,000 requests mixing the above (90 % lookups, 10 % questions) while the server's resident
  memory is sampled every 0.5 s.

For each phase: requests, failures (anything but HTTP 200, and connection errors), throughput, p50 / p95 /
p99 latency. Writes ``docs/load.md`` and ``docs/load.json``. Every loop stops at its request count or at the
phase's time limit, whichever comes first; the whole run stops at ``--max-seconds``.

Usage: .venv/bin/python scripts/load.py [--quick] [--clients 16] [--url http://127.0.0.1:8000] [--out docs]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "corpus" / "eval" / "dev.jsonl"
TARGETS = {  # issues "Serve it" and "Fast on two cores": 16 clients on these 2 cores, an idle box
    "hybrid": {"qps": 100.0, "p95_ms": 300.0},
    "paragraph": {"qps": 1000.0},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def run_phase(
    url: str, paths: list[str], clients: int, count: int, seconds: float, sample: Any = None
) -> dict[str, Any]:
    """At most ``count`` requests (cycling ``paths``) from ``clients`` closed-loop connections, at most
    ``seconds``, measured by :func:`pipeline.server.loadtest.measure`; ``sample`` runs alongside."""
    from pipeline.server.loadtest import measure

    sampler = asyncio.create_task(sample()) if sample else None
    try:
        r = await measure(url, paths, clients=clients, seconds=seconds, warmup=1.0, max_requests=count)
    finally:
        if sampler:
            sampler.cancel()
    return {
        "requests": r.requests,
        "failures": r.errors,
        "seconds": r.seconds,
        "qps": r.per_second,
        "p50_ms": r.p50_ms,
        "p95_ms": r.p95_ms,
        "p99_ms": r.p99_ms,
        "clients": clients,
    }


def query_paths(mode: str | None, queries: list[str]) -> list[str]:
    extra = f"&mode={mode}" if mode else ""
    return [f"/api/search?q={urllib.parse.quote(q)}{extra}" for q in queries]


def workloads(seed: int = 0) -> dict[str, list[str]]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [r["query"] for r in rows if r["kind"] in ("question", "paraphrase")]
    rng = random.Random(seed)
    forms = ["第 {} 段", "paragraph {}", "¶{}", "para. {}", "{}"]
    paragraphs = [rng.choice(forms).format(rng.randint(1, 65)) for _ in range(500)]
    citations = [r["query"] for r in rows if r["kind"] == "reference"]
    return {
        "hybrid": query_paths("hybrid", questions),
        "lexical": query_paths("lexical", questions),
        "paragraph": query_paths(None, paragraphs),
        "citation": query_paths(None, citations),
    }


def start_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"the server exited: {proc.stderr.read().decode(errors='replace') if proc.stderr else ''}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the server did not answer /api/health within 120 s")


def render(res: dict[str, Any]) -> str:
    lines = [
        "# Load test of `pipeline serve`",
        "",
        f"Measured with `scripts/load.py{' --quick' if res['quick'] else ''}` on {res['machine']}, "
        f"{res['date']}: {res['clients']} concurrent keep-alive clients on loopback, client and server on "
        "the same cores. Latency is per request, seen by the client; failures are responses other than "
        "HTTP 200 and connection errors. The targets are for an idle machine"
        + (
            f" (load average before / after: {res['load_before']} / {res['load_after']})"
            if "load_before" in res
            else ""
        )
        + ".",
        "",
        "| phase | requests | failures | q/s | p50 ms | p95 ms | p99 ms | target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, p in res["phases"].items():
        target = ""
        if name in TARGETS:
            t = TARGETS[name]
            ok = p["qps"] >= t["qps"] and p["p95_ms"] <= t.get("p95_ms", float("inf")) and p["failures"] == 0
            target = f"≥ {t['qps']:.0f} q/s" + (f", p95 ≤ {t['p95_ms']:.0f} ms" if "p95_ms" in t else "")
            target += ", 0 failures"
            target += " ✓" if ok else " ✗"
        lines.append(
            f"| {name} | {p['requests']} | {p['failures']} | {p['qps']:.0f} | {p['p50_ms']:.1f} | "
            f"{p['p95_ms']:.1f} | {p['p99_ms']:.1f} | {target} |"
        )
    m = res.get("memory")
    if m:
        lines += [
            "",
            "Resident memory of the server over the soak phase "
            f"({res['phases']['soak']['requests']} requests, sampled every 0.5 s): "
            f"first {m['first_mb']:.0f} MiB, last {m['last_mb']:.0f} MiB, "
            f"min {m['min_mb']:.0f}, max {m['max_mb']:.0f} MiB — spread {m['spread_pct']:.1f} % of the first "
            f"(target: within 10 %{' ✓' if m['spread_pct'] <= 10 else ' ✗'}).",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="an already running server (default: start one on a free loopback port)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="small counts (a smoke run, ~30 s)")
    ap.add_argument(
        "--max-seconds", type=float, default=600.0, help="stop every phase after this much in all"
    )
    ap.add_argument("--out", default=str(ROOT / "docs"), help="where load.md and load.json go ('' for none)")
    args = ap.parse_args()
    if args.url:
        u = urllib.parse.urlparse(args.url)
        if u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit("load tests target loopback only")
        url, proc = args.url, None
    else:
        port = free_port()
        url, proc = f"http://127.0.0.1:{port}/", start_server(port)
    started = time.perf_counter()
    load_before = _load()
    counts = (
        {"hybrid": 300, "lexical": 300, "paragraph": 2000, "citation": 500, "soak": 2000}
        if args.quick
        else {"hybrid": 3000, "lexical": 3000, "paragraph": 20000, "citation": 5000, "soak": 20000}
    )
    w = workloads()
    soak = [p for i in range(20) for p in (w["paragraph"][i * 9 : i * 9 + 9] + [w["hybrid"][i]])]
    w["soak"] = soak
    rss: list[float] = []

    async def sample() -> None:
        while proc is not None:
            rss.append(rss_mb(proc.pid))
            await asyncio.sleep(0.5)

    phases: dict[str, Any] = {}
    try:
        asyncio.run(run_phase(url, w["hybrid"], args.clients, 100, 60))  # warm-up
        for name in ("hybrid", "lexical", "paragraph", "citation", "soak"):
            left = args.max_seconds - (time.perf_counter() - started)
            if left <= 1:
                break
            phases[name] = asyncio.run(
                run_phase(
                    url,
                    w[name],
                    args.clients,
                    counts[name],
                    min(left, 300),
                    sample if name == "soak" else None,
                )
            )
            p = phases[name]
            print(
                f"{name:10s} {p['requests']:6d} req  {p['failures']} failed  {p['qps']:7.1f} q/s  "
                f"p50 {p['p50_ms']:6.1f}  p95 {p['p95_ms']:6.1f}  p99 {p['p99_ms']:6.1f} ms",
                file=sys.stderr,
            )
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    import platform

    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    res: dict[str, Any] = {
        "quick": args.quick,
        "clients": args.clients,
        "phases": phases,
        "machine": f"{cpu}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d"),
        "load_before": load_before,
        "load_after": _load(),
    }
    if rss:
        res["memory"] = {
            "first_mb": rss[0],
            "last_mb": rss[-1],
            "min_mb": min(rss),
            "max_mb": max(rss),
            "spread_pct": (max(rss) - min(rss)) / rss[0] * 100,
            "samples": len(rss),
        }
    md = render(res)
    print(md)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "load.md").write_text(md, encoding="utf-8")
        (out / "load.json").write_text(json.dumps(res, indent=2), encoding="utf-8")
    failed = sum(p["failures"] for p in phases.values())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
