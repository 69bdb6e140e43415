"""Measure a running server: N closed-loop clients on keep-alive connections, each sending its next request
as soon as the last is answered; throughput and latency percentiles.

    python -m pipeline.server.loadtest http://127.0.0.1:8000/ --kind questions --clients 16 --seconds 20

``--kind questions`` asks the development set's questions and paraphrases (``corpus/eval/dev.jsonl``)
through ``/api/search``; ``paragraphs`` fetches ``/api/paragraphs/N``; ``lookups`` sends paragraph
references ("第 N 段") through ``/api/search``. The client is plain asyncio (no HTTP library), so on the
same machine it costs the server as little CPU as possible; it still shares the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit


@dataclass
class LoadResult:
    """What one run measured (latencies in milliseconds)."""

    kind: str
    clients: int
    requests: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def targets(kind: str, dev: Path | None = None) -> list[str]:
    """Request targets for ``kind``: "questions", "paragraphs" or "lookups"."""
    if kind == "paragraphs":  # the report the load test was written for, named (a library may hold others)
        return [f"/api/paragraphs/{n}?doc={quote('CTOC/COP/2012/7')}&lang=zh" for n in range(1, 66)]
    if kind == "lookups":
        return [f"/api/search?q={quote(f'CTOC/COP/2012/7 第 {n} 段')}" for n in range(1, 66)]
    if kind != "questions":
        raise ValueError(f"unknown kind {kind!r}")
    if dev is None:
        from pipeline import Config

        dev = Config().corpus_dir / "eval" / "dev.jsonl"
    rows = [json.loads(line) for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [f"/api/search?q={quote(r['query'])}" for r in rows if r.get("kind") in ("question", "paraphrase")]


async def _client(
    host: str,
    port: int,
    paths: list[str],
    start: int,
    until: float,
    headers: str,
    latencies: list[float] | None,
    errors: list[int],
    max_requests: int | None = None,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = start
    try:
        while time.perf_counter() < until and (
            max_requests is None or latencies is None or len(latencies) < max_requests
        ):
            path = paths[i % len(paths)]
            i += 1
            t = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}\r\n".encode("ascii"))
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            if latencies is not None:
                latencies.append(time.perf_counter() - t)
                if not status.startswith(b"HTTP/1.1 200"):
                    errors.append(int(status.split()[1]) if status.split()[1:] else 0)
    finally:
        writer.close()


async def measure(
    url: str,
    paths: list[str],
    clients: int = 16,
    seconds: float = 10.0,
    warmup: float = 2.0,
    token: str | None = None,
    kind: str = "",
    max_requests: int | None = None,
) -> LoadResult:
    """Run ``clients`` closed-loop clients against ``url`` for ``seconds`` (after ``warmup``), or until
    ``max_requests`` have been answered, whichever comes first."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    headers = f"Authorization: Bearer {token}\r\n" if token else ""
    step = max(1, len(paths) // max(1, clients))
    errors: list[int] = []
    until = time.perf_counter() + warmup
    await asyncio.gather(
        *(_client(host, port, paths, c * step, until, headers, None, errors) for c in range(clients))
    )
    latencies: list[float] = []
    t0 = time.perf_counter()
    until = t0 + seconds
    await asyncio.gather(
        *(
            _client(host, port, paths, c * step, until, headers, latencies, errors, max_requests)
            for c in range(clients)
        )
    )
    elapsed = time.perf_counter() - t0
    latencies.sort()

    def pct(p: float) -> float:
        return (
            round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1) if latencies else 0.0
        )

    return LoadResult(
        kind,
        clients,
        len(latencies),
        len(errors),
        round(elapsed, 2),
        round(len(latencies) / elapsed, 1),
        pct(0.50),
        pct(0.95),
        pct(0.99),
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.server.loadtest URL``: print one JSON line per kind measured."""
    p = argparse.ArgumentParser(
        prog="python -m pipeline.server.loadtest", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("url", help="the server, e.g. http://127.0.0.1:8000/")
    p.add_argument(
        "--kind",
        action="append",
        choices=("questions", "paragraphs", "lookups"),
        help="what to ask (repeatable; default: all three)",
    )
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--token", help="bearer token, if the server has one")
    args = p.parse_args(argv)
    for kind in args.kind or ["questions", "paragraphs", "lookups"]:
        result = asyncio.run(
            measure(args.url, targets(kind), args.clients, args.seconds, args.warmup, args.token, kind)
        )
        print(json.dumps(asdict(result)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
