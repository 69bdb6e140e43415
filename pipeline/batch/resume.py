"""The side file ``OUT.partial`` that makes a batch to a file resumable.

Layout: a header line recording what the answers depend on (the input's queries, the output format, the chunk
size and the caller's ``options``, e.g. :func:`index_fingerprint`), then one JSON record per line, each chunk
closed by a ``{"committed": N}`` line and fsync'd. On resume, a torn or uncommitted tail is dropped and the
committed records are returned; a header that differs from this run's is refused, naming what differs. The
file is locked while a run writes it, so two runs never write one output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.batch.output import BatchOutputError
from pipeline.batch.read import BatchQuery
from pipeline.store import fsync_dir

PARTIAL_VERSION = 1
_KEY_NAMES = {"input_sha256": "the input", "format": "--format", "chunk": "--chunk"}


def side_file_header(
    queries: Sequence[BatchQuery], fmt: str, chunk: int, options: dict[str, Any]
) -> dict[str, Any]:
    """The side file's first line: everything a resumed run must share with the interrupted one."""
    h = hashlib.sha256()
    for q in queries:
        h.update(
            json.dumps([q.line, q.id, q.query], ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n"
        )
    return {
        "pipeline_batch": PARTIAL_VERSION,
        "input_sha256": h.hexdigest(),
        "format": fmt,
        "chunk": chunk,
        "options": options,
    }


def index_fingerprint(cfg: Any) -> str:
    """A fingerprint of what answers depend on besides the query: the package version, every setting of
    ``cfg`` and the corpus files' bytes (indexes are built from these, and a stale index is refused)."""
    from pipeline.version import __version__

    def plain(value: Any) -> Any:  # never a repr with a memory address, which would differ in every process
        return (
            str(value)
            if isinstance(value, (str, int, float, bool, type(None), os.PathLike))
            else type(value).__name__
        )

    h = hashlib.sha256()
    settings = (
        {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
        if dataclasses.is_dataclass(cfg)
        else {}
    )
    h.update(json.dumps({"version": __version__, "settings": settings}, sort_keys=True).encode("utf-8"))
    corpus = getattr(cfg, "corpus_dir", None)
    if corpus is not None and os.path.isdir(corpus):
        for p in sorted(Path(corpus).iterdir()):
            if p.is_file():
                h.update(p.name.encode("utf-8") + b"\0")
                with contextlib.suppress(OSError):
                    h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


def _header_diffs(stored: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    diffs = []
    for key in sorted(set(stored) | set(expected)):
        if key == "options":
            so, eo = stored.get("options") or {}, expected.get("options") or {}
            diffs += [
                f"{k} ({so.get(k)!r} then, {eo.get(k)!r} now)"
                for k in sorted(set(so) | set(eo))
                if so.get(k) != eo.get(k)
            ]
        elif stored.get(key) != expected.get(key):
            name = _KEY_NAMES.get(key, key)
            diffs.append(
                name
                if key == "input_sha256"
                else f"{name} ({stored.get(key)!r} then, {expected.get(key)!r} now)"
            )
    return diffs


class SideFile:
    """``OUT.partial``: a header line, then record lines, each chunk closed by ``{"committed": N}``."""

    def __init__(self, path: str, output: str) -> None:
        self.path = path
        self.output = output
        self.fd: int | None = None
        self.count = 0

    def _lock(self, fd: int) -> None:
        try:
            import fcntl
        except ImportError:  # not on Windows
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise BatchOutputError(
                f"another `pipeline batch` run is writing {self.output} right now ({self.path} is locked)"
            ) from None

    def _fsync_dir(self) -> None:
        fsync_dir(os.path.dirname(os.path.abspath(self.path)) or ".")

    def open(self, header: dict[str, Any], resume: bool) -> list[tuple[str, bool]]:
        """Create the side file, or (``resume``) reopen it; return the committed
        ``(line, is_error)`` entries."""
        header_line = json.dumps(header, ensure_ascii=False, sort_keys=True)
        if os.path.lexists(self.path):
            try:
                fd = os.open(self.path, os.O_RDWR)
            except OSError as e:
                raise BatchOutputError(f"cannot open {self.path}: {e.strerror or e}") from None
            self._lock(fd)
            if not resume:
                os.close(fd)
                raise BatchOutputError(
                    f"an interrupted run left {self.path}; pass --resume to continue it, "
                    f"or delete {self.path} to start over"
                )
            self.fd = fd
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read()
            entries, keep = self._parse(data, header)
            os.ftruncate(fd, keep)  # drop a torn or uncommitted tail
            os.lseek(fd, keep, os.SEEK_SET)
            if keep == 0:  # not even the header was saved: start afresh
                self._append(header_line + "\n")
            self.count = len(entries)
            return entries
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            raise BatchOutputError(
                f"another `pipeline batch` run is writing {self.output} right now ({self.path} appeared)"
            ) from None
        except OSError as e:
            raise BatchOutputError(f"cannot create {self.path}: {e.strerror or e}") from None
        self._lock(fd)
        self.fd = fd
        self._append(header_line + "\n")
        self._fsync_dir()
        return []

    def _parse(self, data: bytes, header: dict[str, Any]) -> tuple[list[tuple[str, bool]], int]:
        parts = data.split(b"\n")[:-1]  # the piece after the last newline is torn (or empty)
        if not parts:
            return [], 0
        try:
            stored = json.loads(parts[0].decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            stored = None
        if not isinstance(stored, dict) or "pipeline_batch" not in stored:
            raise BatchOutputError(
                f"{self.path} is not a side file of `pipeline batch`; delete it or choose another output file"
            )
        expected = json.loads(json.dumps(header))
        if stored != expected:
            raise BatchOutputError(
                f"cannot resume: {self.path} was written for another run "
                f"(differs: {'; '.join(_header_diffs(stored, expected))}); "
                f"run with the same input and options, or delete {self.path} to start over"
            )
        entries: list[tuple[str, bool]] = []
        pending: list[tuple[str, bool]] = []
        keep = pos = len(parts[0]) + 1
        garbage_at: int | None = None
        for lineno, b in enumerate(parts[1:], 2):
            pos += len(b) + 1
            try:
                obj = json.loads(b.decode("utf-8"))
            except (ValueError, UnicodeDecodeError, RecursionError):
                obj = None
            if isinstance(obj, dict) and "committed" in obj and "id" not in obj:
                if garbage_at is not None or obj["committed"] != len(entries) + len(pending):
                    raise BatchOutputError(
                        f"{self.path} is damaged (line {garbage_at or lineno}); delete it to start over"
                    )
                entries += pending
                pending = []
                keep = pos
            elif isinstance(obj, dict) and "id" in obj:
                pending.append((b.decode("utf-8"), "error" in obj))
            elif garbage_at is None:
                garbage_at = lineno
        return entries, keep

    def _append(self, text: str) -> None:
        assert self.fd is not None
        data = memoryview(text.encode("utf-8"))
        try:
            while data:
                n = os.write(self.fd, data)
                data = data[n:]
            os.fsync(self.fd)
        except OSError as e:
            raise BatchOutputError(
                f"cannot write {self.path}: {e.strerror or e}; the answers saved so far are kept: "
                "fix this and run again with --resume"
            ) from None

    def commit(self, lines: list[str]) -> None:
        """Append one chunk's record lines and the line that commits them, and fsync."""
        self.count += len(lines)
        self._append("".join(line + "\n" for line in lines) + json.dumps({"committed": self.count}) + "\n")

    def remove(self) -> None:
        """Delete the side file (the output has been written)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._fsync_dir()

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
