"""Where a batch's answers go: checking the output before any work, rendering records, writing them.

An output is standard output (``None`` or ``"-"``), a *stream* (a FIFO, a character device, ``/dev/stdout``,
``/dev/fd/N`` …: written as it goes, never replaced) or a *file*. A file is replaced atomically through
:func:`pipeline.store.atomic_open` — a symlink is written through (its target is replaced, the link kept), an
existing file keeps its permission bits (and, where the process may, its owner and group), a new one gets
``0666 & ~umask``. Records are rendered as JSONL, CSV (one row per id and rank) or text
(:func:`pipeline.render.record_text`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from pipeline.batch.read import FORMATS
from pipeline.errors import UserError
from pipeline.render import record_text
from pipeline.store import atomic_open, fsync_dir

PARTIAL_SUFFIX = ".partial"
CSV_COLUMNS = [
    "id",
    "query",
    "route",
    "rank",
    "document",
    "lang",
    "paragraph",
    "citation",
    "score",
    "section",
    "answer",
    "text",
]


class BatchOutputError(UserError):
    """The output cannot be written (or resumed); ``str()`` is the whole message, naming the file."""


def check_format(fmt: str) -> None:
    """Refuse an output format other than "jsonl", "csv" or "text" (a programming error, not a user's)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r} (use jsonl, csv or text)")


# --- checks --------------------------------------------------------------------------------------------

_STREAM_NAMES = ("/dev/stdout", "/dev/stderr", "/dev/tty")


def _is_stream_name(out: str) -> bool:
    return out in _STREAM_NAMES or out.startswith(("/dev/fd/", "/proc/self/fd/"))


def output_kind(output: str | os.PathLike[str] | None) -> str:
    """ "stdout", "stream" (a FIFO, a character device, /dev/stdout …) or "file"."""
    if output is None or str(output) == "-":
        return "stdout"
    out = str(output)
    if _is_stream_name(out):
        return "stream"
    try:
        st = os.stat(out)
    except OSError:
        return "file"
    return "stream" if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) else "file"


def _blocking_ancestor(d: str) -> str | None:
    """The nearest existing ancestor of ``d`` (or ``d``) when it is not a directory."""
    p = Path(d)
    for q in (p, *p.parents):
        if os.path.lexists(q):
            return None if q.is_dir() else str(q)
    return None


def _check_dir(d: str, out: str) -> None:
    try:
        st = os.stat(d)
    except (FileNotFoundError, NotADirectoryError):
        blocker = _blocking_ancestor(d)
        if blocker:
            raise BatchOutputError(f"cannot write {out}: {blocker} is a file, not a directory") from None
        raise BatchOutputError(
            f"cannot write {out}: the directory {d} does not exist (create it first)"
        ) from None
    except OSError as e:
        raise BatchOutputError(f"cannot write {out}: {d}: {e.strerror or e}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise BatchOutputError(f"cannot write {out}: {d} is not a directory")
    try:  # the only reliable test (ACLs, read-only mounts, root): create a file there and remove it
        fd, probe = tempfile.mkstemp(prefix=".pipeline-write-test-", dir=d)
        os.close(fd)
        os.unlink(probe)
    except PermissionError:
        raise BatchOutputError(f"cannot write {out}: no permission to create files in {d}") from None
    except OSError as e:
        raise BatchOutputError(
            f"cannot write {out}: cannot create files in {d} ({e.strerror or e})"
        ) from None


def check_output(output: str | None, inputs: Sequence[str] = ()) -> None:
    """Check that ``output`` can be written, before any work is done.

    ``None`` and ``"-"`` mean standard output (always fine). A FIFO or character device must be writable. A
    file (or a symlink to one) must not be a directory or one of ``inputs`` (same path or same inode), and
    the directories of its target and of its side file ``OUT.partial`` must exist and accept new files.

    Raises:
        BatchOutputError: with a message naming the file and what is wrong.
    """
    if output is None or str(output) == "-":
        return
    out = str(output)
    if not out:
        raise BatchOutputError("the output file name is empty")
    if out.endswith(("/", os.sep)) and not os.path.isdir(out):
        raise BatchOutputError(
            f"{out} names a directory that does not exist; name the output file, e.g. {out}answers.jsonl"
        )
    in_stats = []
    for inp in inputs:
        if inp is None or str(inp) == "-":
            continue
        with contextlib.suppress(OSError):
            in_stats.append((str(inp), os.stat(inp)))

    def same_as_input(st: os.stat_result, what: str) -> None:
        for inp, ist in in_stats:
            if (st.st_dev, st.st_ino) == (ist.st_dev, ist.st_ino):
                raise BatchOutputError(
                    f"{what} is the input file {inp}: writing it would destroy the queries; "
                    "choose another output file"
                )

    try:
        st: os.stat_result | None = os.stat(out)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as e:
        raise BatchOutputError(f"cannot write {out}: {e.strerror or e}") from None
    if st is not None:
        same_as_input(st, out)
        if stat.S_ISDIR(st.st_mode):
            raise BatchOutputError(
                f"{out} is a directory; name a file for the output, e.g. {os.path.join(out, 'answers.jsonl')}"
            )
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or _is_stream_name(out):
            if not os.access(out, os.W_OK):
                raise BatchOutputError(f"cannot write {out}: permission denied")
            return
        if not stat.S_ISREG(st.st_mode):
            raise BatchOutputError(f"{out} is not a regular file, a FIFO or a character device")
        if not os.access(out, os.W_OK):
            raise BatchOutputError(
                f"{out} is read-only; make it writable (chmod u+w) or choose another output file"
            )
    with contextlib.suppress(OSError):
        same_as_input(os.stat(out + PARTIAL_SUFFIX), out + PARTIAL_SUFFIX)
    target = os.path.realpath(out)
    dirs = [os.path.dirname(target) or ".", os.path.dirname(os.path.abspath(out)) or "."]
    for d in dict.fromkeys(dirs):
        _check_dir(d, out)


# --- rendering -----------------------------------------------------------------------------------------


def csv_text(records: Iterable[dict[str, Any]], header: bool) -> str:
    """CSV rows (one per id and rank; one with empty result columns for a query without results)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(CSV_COLUMNS)
    for rec in records:
        results = rec.get("results") or []
        if not results:  # a query without results still gets a row, so no answered query disappears
            w.writerow([rec["id"], rec["query"], rec["route"]] + [""] * (len(CSV_COLUMNS) - 3))
        for rank, r in enumerate(results, 1):
            w.writerow(
                [
                    rec["id"],
                    rec["query"],
                    rec["route"],
                    rank,
                    r.get("document", ""),
                    r.get("lang", ""),
                    r["paragraph"],
                    r.get("citation", ""),
                    f"{r['score']:.4f}",
                    " › ".join(r["section"]),
                    r.get("answer", ""),
                    r["text"],
                ]
            )
    return buf.getvalue()


def render_lines(
    lines: Sequence[str], fmt: str, render_text: Callable[[dict[str, Any]], str] | None, header: bool
) -> str:
    """Output text for answer records given as their JSON lines (error records already left out)."""
    check_format(fmt)
    if fmt == "jsonl":
        return "".join(line + "\n" for line in lines)
    records = [json.loads(line) for line in lines]
    if fmt == "csv":
        return csv_text(records, header)
    render = render_text or record_text
    return "".join(render(rec) + "\n\n" for rec in records)


# --- writing -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def replace_file(output: str) -> Iterator[BinaryIO]:
    """:func:`pipeline.store.atomic_open` on the symlink-resolved target (the link is kept, its target
    replaced), keeping an existing target's owner and group where the process may, and flushing the
    directory after the rename. On an exception the target is untouched."""
    target = os.path.realpath(output)
    try:
        st = os.stat(target)
        owner: tuple[int, int] | None = (st.st_uid, st.st_gid)
    except FileNotFoundError:
        owner = None
    with atomic_open(target, "wb") as f:
        yield f  # type: ignore[misc]
        if owner is not None and hasattr(os, "fchown"):
            with contextlib.suppress(OSError):
                now = os.fstat(f.fileno())
                if (now.st_uid, now.st_gid) != owner:
                    os.fchown(f.fileno(), *owner)
    fsync_dir(os.path.dirname(target) or ".")


class Stream:
    """Standard output, a FIFO or a character device: written as it goes, never replaced."""

    def __init__(self, output: str | None) -> None:
        self.name = "standard output" if output is None or str(output) == "-" else str(output)
        self._own = None
        self._broken = False
        if self.name == "standard output":
            sys.stdout.flush()
            self._bin = getattr(sys.stdout, "buffer", None)
        else:
            try:
                self._own = open(str(output), "ab")  # noqa: SIM115 - closed in close()
            except OSError as e:
                raise BatchOutputError(f"cannot write {output}: {e.strerror or e}") from None
            self._bin = self._own

    def _error(self, e: OSError) -> BatchOutputError:
        """The command line's one message for an output that cannot be written (exit code 2)."""
        self._broken = True
        return BatchOutputError(f"cannot write the output ({self.name}: {e.strerror or e})")

    def write(self, text: str) -> None:
        """Write and flush ``text``; a broken pipe is raised as it is (the reader left), any other
        failure (a full disk, an I/O error) as :class:`BatchOutputError`."""
        if not text:
            return
        try:
            if self._bin is None:
                sys.stdout.write(text)
                sys.stdout.flush()
            else:
                self._bin.write(text.encode("utf-8"))
                self._bin.flush()
        except BrokenPipeError:
            self._broken = True
            raise
        except OSError as e:
            raise self._error(e) from None

    def close(self) -> None:
        """Close a FIFO or device opened here; after a failed write what is left unwritten is dropped."""
        own, self._own = self._own, None
        if own is None:
            return
        try:
            own.close()
        except OSError as e:
            if not self._broken and not isinstance(e, BrokenPipeError):
                raise self._error(e) from None


def write_results(records: Iterable[dict[str, Any]], out: str | Path | None, fmt: str = "jsonl") -> None:
    """Write result records as JSONL, CSV (one row per id and rank) or text.

    A file is written atomically (a symlink is written through, permission bits kept); standard output, a
    FIFO or a character device is written as a stream.
    """
    check_format(fmt)

    def pieces() -> Iterator[str]:
        first = True
        for rec in records:
            yield render_lines([json.dumps(rec, ensure_ascii=False)], fmt, None, header=first)
            first = False
        if first and fmt == "csv":
            yield csv_text([], header=True)

    if output_kind(out) != "file":
        s = Stream(None if out is None else str(out))
        try:
            for p in pieces():
                s.write(p)
        finally:
            s.close()
        return
    with replace_file(str(out)) as f:
        for p in pieces():
            f.write(p.encode("utf-8"))
