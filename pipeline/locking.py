"""The build lock of a home: two writers of one folder of artifacts never interleave.

``build_lock(indexes/)`` is an ``flock`` on ``indexes/.lock``: it serialises processes (``build``, ``add``,
``remove``, an artifact's write) and, re-entrant within a process, its threads. The holder writes its pid,
command and start time into the lock file, so a writer that has to wait can say whom it waits for, and it
waits at most :data:`LOCK_TIMEOUT` seconds (``PIPELINE_LOCK_TIMEOUT``) before giving up with that name.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import BusyError
from pipeline.fileio import disk_error, file_mode

__all__ = ["LOCK_TIMEOUT", "build_lock"]


def _wait_for_lock(fd: int, d: Path, wait: bool, log: Any, timeout: float) -> None:
    """Take the lock another process holds, polling, for at most ``timeout`` seconds.

    Raises:
        BusyError: ``wait`` is False or the time ran out (the file descriptor is closed then).
    """
    import fcntl

    holder = _holder(fd)
    for _ in range(10):  # the holder writes its name right after taking the lock: give it a moment
        if holder != "another process":
            break
        time.sleep(0.05)
        holder = _holder(fd)
    if not wait:
        os.close(fd)
        raise BusyError(f"{holder} is writing {d}; try again when it has finished")
    if log:
        log(f"pipeline: waiting for {holder} to finish writing {d} (at most {timeout:.0f} s) …")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(fd)
                os.close(fd)
                raise BusyError(
                    f"{holder} is still writing {d} after {timeout:.0f} s of waiting; try again when it has "
                    "finished (or stop it; PIPELINE_LOCK_TIMEOUT sets the wait)"
                ) from None
            time.sleep(min(0.2, max(0.01, deadline - time.monotonic())))


_LOCKS: dict[str, tuple[threading.RLock, list[Any]]] = {}
_LOCKS_GUARD = threading.Lock()
#: How long a writer waits for another to release a home's lock before giving up (seconds); the environment
#: variable ``PIPELINE_LOCK_TIMEOUT`` overrides it. Adding a large report takes a few minutes at most.
LOCK_TIMEOUT = 900.0


def _lock_timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("PIPELINE_LOCK_TIMEOUT", LOCK_TIMEOUT)))
    except ValueError:
        return LOCK_TIMEOUT


def _holder(fd: int) -> str:
    """Who holds the lock, as the holder wrote it in the lock file: "pid 123 (`pipeline add x`, since …)"."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        return f"pid {int(info['pid'])} (`{info['command']}`, since {info['since']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _claim(fd: int) -> None:
    """Say in the lock file who holds it (read by a writer that has to wait)."""
    import datetime as dt
    import sys

    argv = sys.argv or [""]
    ours = argv[0].endswith("pipeline") or "pipeline" in Path(argv[0]).parts
    command = " ".join(["pipeline" if ours else "python", *argv[ours:]])
    command = "".join(c if c.isprintable() else "?" for c in command)[:200]
    since = dt.datetime.now().astimezone().replace(microsecond=0).isoformat()
    data = json.dumps({"pid": os.getpid(), "command": command, "since": since}).encode("utf-8")
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


@contextlib.contextmanager
def build_lock(
    index_dir: str | os.PathLike[str], wait: bool = True, log: Any = None, timeout: float | None = None
) -> Iterator[None]:
    """Hold the build lock of a folder of artifacts (``indexes/.lock``): two writers never interleave.

    The lock is an ``flock`` on ``.lock`` in ``index_dir``, so it serialises processes; within a process it
    is re-entrant (a build that holds it can save artifacts, which take it too) and serialises threads.

    The holder writes its pid, command and start time into the lock file; a writer that must wait names it
    and gives up after ``timeout`` seconds (default :data:`LOCK_TIMEOUT`, or ``PIPELINE_LOCK_TIMEOUT``).

    Args:
        index_dir: the folder whose artifacts are written (``indexes/``, ``indexes/models/``).
        wait: wait for another holder (saying so through ``log``) instead of refusing.
        log: called with a message when waiting.
        timeout: the longest wait, in seconds.

    Raises:
        BusyError: ``wait`` is False, or the wait ran out, while another process holds the lock (named).
    """
    import fcntl

    d = Path(index_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise disk_error(d, e) from None
    with _LOCKS_GUARD:
        rlock, state = _LOCKS.setdefault(str(d.resolve()), (threading.RLock(), [None, 0]))
    with rlock:
        if state[1] == 0:
            try:
                fd = os.open(d / ".lock", os.O_RDWR | os.O_CREAT, file_mode())
            except OSError as e:
                raise disk_error(d, e) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                _wait_for_lock(fd, d, wait, log, _lock_timeout() if timeout is None else timeout)
            _claim(fd)
            state[0] = fd
        state[1] += 1
        try:
            yield
        finally:
            state[1] -= 1
            if state[1] == 0:
                os.close(state[0])
                state[0] = None
