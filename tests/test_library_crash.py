"""Kill ``add`` and ``remove`` at random moments: the library is always the state before or the state after.

A child process adds a document (two language versions) to the library or removes it again, and is killed
with SIGKILL after a random delay. After each kill the catalog must name exactly the documents of the state
before or of the state after, every folder it names must load and verify, and fixed queries (questions, a
lookup, a citation) must return exactly the answers of that state.

The delays follow the commit moment (the swap of the catalog, which comes last): the parent watches the
catalog during uninterrupted runs to find when it is swapped, draws each delay from the whole operation up to
just past that moment, and moves its estimate of the moment with every kill's outcome (a kill that left the
old state happened before the commit, one that left the new state after it). A fixed window over the measured
duration missed the commit on a loaded machine (24 kills, all before it); this one lands on both sides.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support import WG2, WG2_EN, WG2_ZH, open_library

from pipeline.catalog import read_catalog
from pipeline.config import Config

FILES = [WG2_ZH, WG2_EN]
SYMBOL = WG2
QUERIES = [
    "伪造药品贩运的技术援助",
    "technical assistance for cybercrime",
    "第2段",
    "resolution 6/1",
    f"{SYMBOL} ¶3",
]
KILLS = 24

DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from support import FakeEmbedder
from pipeline.config import Config
from pipeline.changes import add_reports, remove_documents
cfg = Config(root=sys.argv[2])
if sys.argv[1] == "add":
    add_reports(cfg, sys.argv[3:], embedder=FakeEmbedder())
else:
    remove_documents(cfg, sys.argv[3])
print("done", flush=True)
"""


def run_op(home: Path, op: str) -> subprocess.Popen[str]:
    args = [str(f) for f in FILES] if op == "add" else [SYMBOL]
    code = DRIVER.format(tests=str(Path(__file__).parent))
    return subprocess.Popen(
        [sys.executable, "-c", code, op, str(home), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PIPELINE_HOME": str(home)},
    )


def state(cfg: Config) -> tuple[tuple[str, str, str], ...]:
    return tuple((e.symbol, e.lang, e.sha256) for e in read_catalog(cfg) or [])


def answers(cfg: Config, analyzer: Any) -> list[list[str]]:
    """The fixed queries' answers (citations and scores) over the library as it is on disk."""
    r = open_library(cfg, analyzer)
    out = []
    for q in QUERIES:
        a = r.search_many([q], k=5)[0]
        out.append([a.error] if a.error else [f"{h.citation} {h.score:.6f}" for h in a.hits])
    return out


def time_to_commit(home: Path, op: str) -> float:
    """Run ``op`` uninterrupted and return when (seconds after its start) it swapped the catalog."""
    catalog = home / "corpus" / "documents.json"

    def mark() -> tuple[int, int]:
        st = catalog.stat()
        return st.st_ino, st.st_mtime_ns

    before = mark()
    t = time.perf_counter()
    p = run_op(home, op)
    seen = None
    while p.poll() is None:
        if seen is None and mark() != before:
            seen = time.perf_counter() - t
        time.sleep(0.002)
    out, err = p.communicate()
    assert p.returncode == 0 and "done" in out, err
    assert mark() != before, f"{op} did not swap the catalog"
    return seen if seen is not None else time.perf_counter() - t


@pytest.mark.slow  # ~30 child processes, each importing jieba (about a minute)
def test_kill_add_and_remove_at_random_moments(lib: Config, analyzer: Any) -> None:
    cfg, h = lib, lib.root

    # the two states and their answers, from uninterrupted runs; and when each operation commits
    expected: dict[tuple[Any, ...], list[list[str]]] = {state(cfg): answers(cfg, analyzer)}
    commit = {}
    for op in ("add", "remove"):
        commit[op] = time_to_commit(h, op)
        expected[state(cfg)] = answers(cfg, analyzer)
    assert len(expected) == 2 and expected[state(cfg)] != answers_with_document(expected)

    rng = random.Random(20261201)
    outcomes = {"old": 0, "new": 0}
    kills = []
    for i in range(KILLS):
        before = state(cfg)
        op = "remove" if any(s == SYMBOL for s, _, _ in before) else "add"
        c = commit[op]
        # half the kills anywhere from the imports on, half close around the commit
        delay = rng.uniform(0.3 * c, 1.1 * c) if i % 2 else rng.uniform(0.85 * c, 1.15 * c)
        p = run_op(h, op)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        after = state(cfg)
        assert after in expected, f"kill {i} during {op}: the catalog is neither state: {after}"
        got = answers(cfg, analyzer)
        assert got == expected[after], f"kill {i} during {op}: answers differ from the catalog's state"
        landed = "old" if after == before else "new"
        outcomes[landed] += 1
        kills.append((op, round(delay, 3), landed))
        # the commit came after a kill that left the old state, before one that left the new state
        if landed == "old" and delay >= c:
            commit[op] = delay * 1.05
        elif landed == "new" and delay < c:
            commit[op] = delay
    assert sum(outcomes.values()) == KILLS >= 20
    assert outcomes["old"] and outcomes["new"], (
        outcomes,
        kills,
    )  # the kills landed before and after the commit
    # a last uninterrupted operation works on whatever the kills left
    p = run_op(h, "add" if not any(s == SYMBOL for s, _, _ in state(cfg)) else "remove")
    assert p.wait(timeout=120) == 0
    print(json.dumps({"outcomes": outcomes, "kills": kills}))


def answers_with_document(expected: dict[tuple[Any, ...], list[list[str]]]) -> list[list[str]]:
    """The answers of the state that holds the added document (to check the two states really differ)."""
    return next(v for k, v in expected.items() if any(s == SYMBOL for s, _, _ in k))
