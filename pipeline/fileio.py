"""Files written safely: hashes, the umask's modes, atomic writes (a temporary sibling renamed into place),
directory fsyncs, and the one message for a disk that refuses a write."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import UserError

__all__ = [
    "atomic_open",
    "disk_error",
    "file_mode",
    "json_bytes",
    "fsync_dir",
    "package_version",
    "sha256_bytes",
    "sha256_file",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Return the hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


_UMASK: int | None = None


def file_mode(directory: bool = False) -> int:
    """The mode a new file (or directory) gets under the process umask: 0666 (0777) minus the umask."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return (0o777 if directory else 0o666) & ~_UMASK


def disk_error(path: Path, e: OSError) -> UserError:
    if e.errno == errno.ENOSPC:
        return UserError(
            f"{path}: no space left on the device; nothing was replaced (free some space and retry)"
        )
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return UserError(f"{path}: cannot write here ({e.strerror}); nothing was replaced")
    return UserError(f"{path}: cannot write ({e.strerror or e}); nothing was replaced")


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", encoding: str | None = None
) -> Iterator[io.IOBase]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was. An existing file keeps its
    permission bits; a new one gets the umask's.

    Args:
        path: final destination.
        mode: ``"wb"`` or ``"w"``.
        encoding: text encoding for ``"w"`` (default utf-8).

    Yields:
        The open temporary file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        try:
            keep = os.stat(path).st_mode & 0o7777
        except OSError:
            keep = file_mode()
        os.fchmod(fd, keep)
        f = (
            os.fdopen(fd, mode)
            if "b" in mode
            else os.fdopen(fd, mode, encoding=encoding or "utf-8", newline="")
        )
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (utf-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as pretty UTF-8 JSON to ``path`` atomically."""
    write_bytes_atomic(path, json_bytes(obj))


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a directory's entries (a rename or unlink in it) to disk; a failure is ignored."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
