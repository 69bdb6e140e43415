"""Crash safety, proven: builds killed with SIGKILL at random points and before every write step, a disk
that fills during a write, and two builds started at once.

After every kill a fixed set of queries (five questions in lexical mode and two lookups, answered by one
`pipeline batch`) must give exactly the answers of a clean build (same paragraphs, same scores) or a clean
refusal (exit 3 naming `pipeline build`) — never other answers, never a traceback; then `pipeline build`
must leave a verified index equal to a clean build's and no leftovers. Run with ``-s`` to see where each
kill left the home.

The full `build --force` with the real model takes about 40 s on the project's 2-core machines, so twenty
kill points of it would take well over the two minutes one loop may spend; the second loop therefore kills
`build --lexical-only --force` with the translator's dictionary cache removed, so each run rebuilds and
writes the lexical index *and* the translator cache. The dense index and the converted model are written by
the same :class:`pipeline.store.Artifact` code, whose every write step is a deterministic kill point in
:func:`test_sigkill_before_every_write_step`.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

# CLI processes by the dozen (each loads jieba): these run in CI with the slow tests, outside the one-minute
# fast suite
pytestmark = pytest.mark.slow

from support import LEXICAL_FILES, index_dir_of, lock_held_elsewhere  # noqa: E402
from support import PROBE_QUERIES as QUERIES  # noqa: E402
from support import scratch_home as seed_home  # noqa: E402

SEED = 20261201


# ---------------------------------------------------------------------------------------------- helpers


def env(home: Path) -> dict[str, str]:
    return {**os.environ, "PIPELINE_HOME": str(home)}


def cli(home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env(home),
        check=False,
    )
    assert "Traceback" not in r.stderr, r.stderr
    return r


def leftovers(index_dir: Path) -> list[str]:
    return sorted(
        str(p.relative_to(index_dir))
        for p in index_dir.rglob(".*")
        if p.name.endswith(".tmp") or ".old" in p.name
    )


def answers_of(stdout: str) -> list[Any]:
    out = []
    for line in stdout.splitlines():
        a = json.loads(line)
        out.append(
            (a["query"], a["route"], [(h["paragraph"], h["score"], h.get("scores")) for h in a["results"]])
        )
    return out


def query_file(home: Path) -> Path:
    q = home / "queries.jsonl"
    q.write_text(
        "".join(json.dumps({"id": i, "query": t}, ensure_ascii=False) + "\n" for i, t in enumerate(QUERIES)),
        encoding="utf-8",
    )
    return q


def ask(home: Path) -> subprocess.CompletedProcess[str]:
    """The fixed queries, lexical mode, one process."""
    return cli(home, "batch", str(query_file(home)), "--mode", "lexical", "-q")


def data_files(d: Path) -> dict[str, bytes]:
    return {n: (d / n).read_bytes() for n in LEXICAL_FILES}


class Clean:
    """What a clean build gives in a home: the lexical index's data files, its inputs and the answers."""

    def __init__(self, home: Path) -> None:
        r = cli(home, "build", "--lexical-only")
        assert r.returncode == 0, r.stderr
        d = index_dir_of(home, "lexical")
        self.files = data_files(d)
        self.inputs = json.loads((d / "manifest.json").read_text(encoding="utf-8"))["inputs"]
        a = ask(home)
        assert a.returncode == 0, a.stderr
        self.answers = answers_of(a.stdout)
        assert len(self.answers) == len(QUERIES) and all(x[2] for x in self.answers)

    def check_after_kill(self, home: Path) -> str:
        """Exactly the clean answers, or a clean refusal; returns which."""
        r = ask(home)
        if r.returncode == 0:
            assert answers_of(r.stdout) == self.answers, "different answers after a kill"
            return "clean answers"
        assert r.returncode == 3 and "pipeline build" in r.stderr and not r.stdout.strip(), (
            r.returncode,
            r.stderr,
        )
        return "refused (exit 3)"

    def check_repaired(self, home: Path, answers: bool) -> None:
        """`pipeline build` leaves a verified index equal to a clean build's, and no leftovers."""
        from pipeline.lexical import lexical_artifact

        r = cli(home, "build", "--lexical-only")
        assert r.returncode == 0, r.stderr
        assert leftovers(home / "indexes") == []
        d = index_dir_of(home, "lexical")
        lexical_artifact(d).check(self.inputs)
        assert data_files(d) == self.files
        if answers:
            a = ask(home)
            assert a.returncode == 0 and answers_of(a.stdout) == self.answers


def state_of(home: Path, before: bytes | None) -> str:
    """Where a kill left the lexical index (and the translator cache)."""
    ix = home / "indexes"
    lx = index_dir_of(home, "lexical")
    m = lx / "manifest.json"
    if not lx.exists():
        what = (
            "lexical index absent (killed between the two renames)"
            if leftovers(ix)
            else "lexical index absent"
        )
    elif m.is_file() and m.read_bytes() == before:
        what = "old lexical index"
    elif m.is_file():
        what = "new lexical index"
    else:
        what = "lexical directory without manifest"
    if not (ix / "translate" / "manifest.json").is_file():
        what += ", no translator cache"
    if leftovers(ix):
        what += ", leftovers"
    return what


def kill_loop(
    home: Path,
    clean: Clean,
    args: tuple[str, ...],
    prepare: Any,
    n: int,
    seed: int,
    repair_each: bool = True,
    measure: int = 2,
    before_check: Any = None,
) -> Counter[str]:
    """Measure the build's duration, then kill it with SIGKILL at seeded random points spread over that
    duration until ``n`` runs were killed (a run that finishes before its point is checked too, not counted).

    After each kill the queries must give the clean answers or a clean refusal; with ``repair_each``,
    `pipeline build` then runs and must leave a clean, verified index and no leftovers (otherwise the next run
    starts from what the kill left, and that check is made once at the end). ``before_check(home, i)`` may
    adjust the state before the queries run and return a note for the report.
    """
    durations = []
    for i in range(measure):
        prepare(home, i)
        t = time.perf_counter()
        r = cli(home, *args)
        durations.append(time.perf_counter() - t)
        assert r.returncode == 0, r.stderr
    duration = sum(durations) / len(durations)
    rng = random.Random(seed)
    stats: Counter[str] = Counter()
    delays: list[float] = []
    killed_runs = 0
    for i in range(3 * n):
        if killed_runs == n:
            break
        delay = rng.uniform(0.02, duration)
        delays.append(delay)
        variant = prepare(home, i)
        m = index_dir_of(home, "lexical") / "manifest.json"
        before = m.read_bytes() if m.is_file() else None
        p = subprocess.Popen(
            [sys.executable, "-m", "pipeline", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env(home),
        )
        try:
            p.wait(timeout=delay)
            killed = False
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            killed = True
            killed_runs += 1
        err = p.stderr.read() if p.stderr else ""
        if p.stderr:
            p.stderr.close()
        assert "Traceback" not in err, err
        if not killed:
            assert p.returncode == 0, err
        state = state_of(home, before)
        if before_check is not None and (note := before_check(home, i)):
            state += f" ({note})"
        outcome = clean.check_after_kill(home)
        stats[f"{'killed' if killed else 'finished first'} [{variant}] -> {state} -> {outcome}"] += 1
        if repair_each:
            clean.check_repaired(home, answers=(i % 5 == 4))
    clean.check_repaired(home, answers=True)
    stats[
        f"build duration {duration:.2f} s (mean of {len(durations)}); {len(delays)} runs, "
        f"{killed_runs} killed, delays {min(delays):.2f}-{max(delays):.2f} s"
    ] += 1
    assert killed_runs == n
    return stats


def report(title: str, stats: Counter[str]) -> None:
    print(f"\n{title}")
    for k, v in sorted(stats.items()):
        print(f"  {v:3d} × {k}")


# ---------------------------------------------------------------------------------------------- kills


@pytest.mark.slow
def test_sigkill_lexical_build_at_random_points(seeded: Path, tmp_path: Path) -> None:
    """`build --lexical-only --force` killed at 20 random points, alternately over a current index and over
    none; after each kill the queries are checked and `pipeline build` repairs."""
    h = seed_home(seeded, tmp_path / "home")
    clean = Clean(h)

    def prepare(home: Path, i: int) -> str:
        if i % 2:
            shutil.rmtree(index_dir_of(home, "lexical"), ignore_errors=True)
            return "no index"
        return "current index, --force"

    def args_for() -> tuple[str, ...]:
        return ("build", "--lexical-only", "--force")  # --force is harmless without an index

    stats = kill_loop(h, clean, args_for(), prepare, n=20, seed=SEED)
    report("SIGKILL during `pipeline build --lexical-only --force`:", stats)


@pytest.mark.slow
def test_sigkill_lexical_and_translator_build_at_random_points(seeded: Path, tmp_path: Path) -> None:
    """`build --lexical-only --force` with the translator's cache removed first, so each run writes the
    lexical index and the translator cache; killed at 20 random points. Each next run starts from what the
    kill left (its leftovers are the next build's to remove); `pipeline build` repairs once at the end."""
    h = seed_home(seeded, tmp_path / "home")
    clean = Clean(h)
    translate = h / "indexes" / "translate"
    pristine = tmp_path / "translate"
    shutil.copytree(translate, pristine)

    def prepare(home: Path, i: int) -> str:
        shutil.rmtree(translate, ignore_errors=True)
        return "no translator cache, --force"

    def before_check(home: Path, i: int) -> str | None:
        # A kill before the cache's swap leaves no translator cache at all: the home is then like one where it
        # was never built, and the check would spend ~5 s rebuilding it. Every fifth time it does (the search
        # builds the cache itself); otherwise a clean copy is put back, so the loop stays near two minutes.
        if translate.exists() or i % 5 == 0:
            return None
        shutil.copytree(pristine, translate)
        return "absent cache replaced by a clean copy before the check"

    stats = kill_loop(
        h,
        clean,
        ("build", "--lexical-only", "--force"),
        prepare,
        n=20,
        seed=SEED + 1,
        repair_each=False,
        measure=1,
        before_check=before_check,
    )
    report(
        "SIGKILL during `pipeline build --lexical-only --force` that also writes the translator cache:", stats
    )
    assert (translate / "manifest.json").is_file()


_KILL_AT_STEP = r"""
import os, pathlib, shutil, signal, sys
import pipeline.store as store
from pipeline import cli

n, count = int(sys.argv[1]), 0
log = open(sys.argv[2], "w")

def hook(name, real):
    def f(*a, **k):
        global count
        count += 1
        if count == n:
            log.write(f"{name} {a[1] if name in ('track', 'replace') else a[0] if a else ''}\n")
            log.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*a, **k)
    return f

store.Staging._track = hook("track", store.Staging._track)          # before each file of an artifact
pathlib.Path.write_bytes = hook("write_bytes", pathlib.Path.write_bytes)  # each file's bytes, the manifest
os.replace = hook("replace", os.replace)                            # the two renames of the swap
shutil.rmtree = hook("rmtree", shutil.rmtree)                       # removing the old directory
sys.exit(cli.main(sys.argv[3:]))
"""


@pytest.mark.slow
def test_sigkill_before_every_write_step(seeded: Path, tmp_path: Path) -> None:
    """Deterministic kill points: the build is killed just before its 1st, 2nd, … file write, manifest write,
    rename and clean-up (every step of an artifact write), until a run completes; each state is checked."""
    h = seed_home(seeded, tmp_path / "home")
    clean = Clean(h)
    steps: list[str] = []
    manifest = index_dir_of(h, "lexical") / "manifest.json"
    for n in range(1, 60):
        log = tmp_path / "step.txt"
        before = manifest.read_bytes()
        p = subprocess.run(
            [sys.executable, "-c", _KILL_AT_STEP, str(n), str(log), "build", "--lexical-only", "--force"],
            capture_output=True,
            text=True,
            env=env(h),
            timeout=600,
            check=False,
        )
        assert "Traceback" not in p.stderr, p.stderr
        if p.returncode == 0:
            break
        assert p.returncode == -signal.SIGKILL, p.stderr
        step = log.read_text().strip()
        state = state_of(h, before)
        outcome = clean.check_after_kill(h)
        steps.append(f"{n:2d}: before {step.replace(str(h), '~')} -> {state} -> {outcome}")
        clean.check_repaired(h, answers=False)
    else:
        pytest.fail("the build never completed")
    print(
        "\nSIGKILL before each write step of `pipeline build --lexical-only --force`:\n  "
        + "\n  ".join(steps)
    )
    assert len(steps) >= 10  # 7 files, the manifest, two renames, the clean-up
    assert any("replace" in s for s in steps) and any("rmtree" in s for s in steps)
    clean.check_repaired(h, answers=True)


# ---------------------------------------------------------------------------------------------- full disk


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


FAILURES = ["save_npy #3", "fsync #4", "manifest write", "rename into place"]


@pytest.mark.parametrize("where", FAILURES)
def test_disk_full_during_a_lexical_write_replaces_nothing(
    tmp_path: Path, corpus: Any, analyzer: Any, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC injected at one point of `build_lexical_index`'s write: a clear message (no space, nothing
    replaced), the old index byte-identical and still current, no staging or `.old` directory left."""
    import pathlib

    from pipeline import store
    from pipeline.config import Config
    from pipeline.errors import UserError
    from pipeline.layout import corpus_key
    from pipeline.lexical import build_lexical_index, lexical_dir, lexical_is_current

    cfg = Config(root=tmp_path)
    build_lexical_index(cfg, corpus, analyzer)
    d = lexical_dir(cfg, corpus_key(corpus))
    before = _snapshot(d)
    calls = Counter()

    def fail_on(name: str, nth: int, real: Any, cond: Any = lambda *a: True) -> Any:
        def f(*a: Any, **k: Any) -> Any:
            if cond(*a):
                calls[name] += 1
                if calls[name] == nth:
                    raise _enospc()
            return real(*a, **k)

        return f

    if where == "save_npy #3":
        monkeypatch.setattr(store.Staging, "save_npy", fail_on(where, 3, store.Staging.save_npy))
    elif where == "fsync #4":
        monkeypatch.setattr(store.os, "fsync", fail_on(where, 4, os.fsync))
    elif where == "manifest write":
        monkeypatch.setattr(
            pathlib.Path,
            "write_bytes",
            fail_on(where, 1, pathlib.Path.write_bytes, lambda p, *a: p.name == "manifest.json"),
        )
    else:  # the second rename of the swap: the staged directory into place (rename(2) can fail with ENOSPC)
        monkeypatch.setattr(
            store.os, "replace", fail_on(where, 1, os.replace, lambda src, dst: Path(dst) == d)
        )
    with pytest.raises(UserError) as e:
        build_lexical_index(Config(root=tmp_path, bm25_k1=1.2), corpus, analyzer)
    monkeypatch.undo()
    msg = str(e.value)
    assert calls[where] >= 1
    assert "no space left" in msg and "nothing was replaced" in msg, msg
    assert _snapshot(d) == before
    assert lexical_is_current(cfg, corpus, analyzer)
    assert leftovers(tmp_path / "indexes") == []


def test_disk_full_during_a_dense_write_replaces_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np
    from support import FakeEmbedder

    from pipeline import dense, store
    from pipeline.errors import UserError

    smap = [{"paragraph": 1, "index": 0, "start": 0, "end": 1}]
    d = tmp_path / "indexes" / "docs" / "A-TEST-1.zh.000000000000" / "dense"
    dense.DenseIndex(
        np.eye(2, 64, dtype=np.float32),
        np.eye(1, 64, dtype=np.float32),
        [1, 2],
        smap,
        {"dims": 64},
        ["a", "b"],
        ["c"],
    ).save(d, {"texts_sha256": "x", **FakeEmbedder().identity})
    before = _snapshot(d)
    real = store.Staging.save_npy

    def full(self: Any, name: str, array: Any) -> Path:
        if name == dense.SENTENCES:
            raise _enospc()
        return real(self, name, array)

    monkeypatch.setattr(store.Staging, "save_npy", full)
    with pytest.raises(UserError, match="no space left.*nothing was replaced"):
        dense.DenseIndex(
            -np.eye(2, 64, dtype=np.float32),
            np.eye(1, 64, dtype=np.float32),
            [1, 2],
            smap,
            {"dims": 64},
            ["a", "b"],
            ["c"],
        ).save(d, {"texts_sha256": "y"})
    assert _snapshot(d) == before and leftovers(tmp_path / "indexes") == []
    dense.DenseIndex.load(d, {"texts_sha256": "x", **FakeEmbedder().identity})


def test_disk_full_through_the_cli(
    tmp_path: Path, seeded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the user sees: one error line saying the disk is full and nothing was replaced; exit 2."""
    from pipeline import cli as pipeline_cli
    from pipeline import store

    h = seed_home(seeded, tmp_path / "home")
    monkeypatch.setenv("PIPELINE_HOME", str(h))
    assert pipeline_cli.main(["build", "--lexical-only"]) == 0
    d = index_dir_of(h, "lexical")
    before = _snapshot(d)
    real = store.Staging.save_npy
    n = Counter()

    def full(self: Any, name: str, array: Any) -> Path:
        n["calls"] += 1
        if n["calls"] == 2:
            raise _enospc()
        return real(self, name, array)

    monkeypatch.setattr(store.Staging, "save_npy", full)
    capsys.readouterr()
    code = pipeline_cli.main(["build", "--lexical-only", "--force"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "pipeline: error:" in err and "no space left" in err and "nothing was replaced" in err, err
    assert "Traceback" not in err
    assert _snapshot(d) == before and leftovers(h / "indexes") == []


# --------------------------------------------------------------------------------------------- the build lock


def test_two_builds_at_once_are_serialised(seeded: Path, tmp_path: Path) -> None:
    h = seed_home(seeded, tmp_path / "home")
    clean = Clean(h)
    args = [sys.executable, "-m", "pipeline", "build", "--lexical-only", "--force"]
    # a third process holds the lock while both builds start, so both must wait (deterministically), then
    # they take it one after the other
    with lock_held_elsewhere(h / "indexes") as holder:
        procs = [
            subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(h))
            for _ in range(2)
        ]
        lock = h / "indexes" / ".lock"
        time.sleep(8)  # long enough for both to import and reach the lock on a loaded machine
        assert f'"pid": {holder.pid}' in lock.read_text()
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0 and "Traceback" not in err, err
        assert "lexical: built" in err
        assert re.search(rf"waiting for pid {holder.pid} \(`python -c .*`, since ", err), err
    assert leftovers(h / "indexes") == []
    clean.check_repaired(h, answers=True)


_HOLD = r"""
import sys, time
from pipeline.store import build_lock
d, log, tag = sys.argv[1], sys.argv[2], sys.argv[3]
for i in range(6):
    with build_lock(d):
        with open(log, "a") as f:
            f.write(f"enter {tag} {time.monotonic()}\n")
        time.sleep(0.05)
        with open(log, "a") as f:
            f.write(f"exit {tag} {time.monotonic()}\n")
"""


def test_build_lock_never_lets_two_processes_in(tmp_path: Path) -> None:
    from pipeline.errors import BusyError
    from pipeline.store import build_lock

    log = tmp_path / "log.txt"
    procs = [
        subprocess.Popen([sys.executable, "-c", _HOLD, str(tmp_path / "indexes"), str(log), tag])
        for tag in "ABC"
    ]
    for p in procs:
        assert p.wait(timeout=120) == 0
    events = [line.split() for line in log.read_text().splitlines()]
    assert len(events) == 36
    for i in range(0, len(events), 2):  # enter X, exit X, enter Y, exit Y, …: never two holders
        assert events[i][0] == "enter" and events[i + 1][0] == "exit" and events[i][1] == events[i + 1][1], (
            events
        )
        assert float(events[i][2]) <= float(events[i + 1][2])
    assert len({e[1] for e in events}) == 3
    # held by another process: wait=False refuses with a clear message
    with (
        lock_held_elsewhere(tmp_path / "indexes", seconds=30) as holder,
        pytest.raises(BusyError, match=rf"pid {holder.pid} \(`python -c .*`, since .*\) is writing"),
        build_lock(tmp_path / "indexes", wait=False),
    ):
        pass
    with build_lock(tmp_path / "indexes", wait=False):  # released when its holder died
        pass
