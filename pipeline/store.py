"""Index storage: atomic writes, manifests and staleness checks.

Every built artefact lives in a directory under ``indexes/`` next to a ``manifest.json`` that records what it
was built from (corpus hash, analyzer version, dictionary hashes, parameters, library versions). Loading
compares the stored manifest with the one the current code and data would produce and refuses a mismatch
with a message that names the differing keys, so a stale index is never used silently.

Writes go to a temporary file in the same directory and are moved into place with ``os.replace``; a crash
leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


class StaleIndexError(RuntimeError):
    """Raised when an index on disk was built from other data, code or parameters than the current ones."""


class MissingIndexError(FileNotFoundError):
    """Raised when an index has not been built yet."""


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


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", encoding: str | None = None) -> Iterator[io.IOBase]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.

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
        if "b" in mode:
            f = os.fdopen(fd, mode)
        else:
            f = os.fdopen(fd, mode, encoding=encoding or "utf-8", newline="")
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


def write_json_atomic(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as pretty UTF-8 JSON to ``path`` atomically."""
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def save_npy_atomic(path: str | os.PathLike[str], array: Any) -> None:
    """Save a numpy array as ``.npy`` atomically."""
    import numpy as np

    with atomic_open(path, "wb") as f:
        np.save(f, np.ascontiguousarray(array), allow_pickle=False)


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``manifest.json`` of an index directory.

    Raises:
        MissingIndexError: when the directory or its manifest does not exist.
    """
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise MissingIndexError(f"no index at {directory} (missing {MANIFEST}); run `pipeline build` first")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def manifest_diff(stored: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Return the keys whose values differ between two manifests (flat comparison, sorted)."""
    keys = sorted(set(stored) | set(expected))
    return [k for k in keys if stored.get(k) != expected.get(k)]


def check_manifest(directory: str | os.PathLike[str], expected: dict[str, Any], what: str = "index") -> dict[str, Any]:
    """Refuse a stale index: compare the stored manifest with ``expected``.

    Only the keys present in ``expected`` are compared, so a manifest may carry extra informational keys
    (build time, sizes).

    Returns:
        The stored manifest.

    Raises:
        MissingIndexError: no manifest.
        StaleIndexError: some expected key differs; the message names each key with both values.
    """
    stored = read_manifest(directory)
    diffs = [k for k in sorted(expected) if stored.get(k) != expected[k]]
    if diffs:
        lines = [f"  {k}: index has {stored.get(k)!r}, current is {expected[k]!r}" for k in diffs]
        raise StaleIndexError(
            f"the {what} at {directory} is stale (built from other data or settings):\n"
            + "\n".join(lines)
            + "\nrun `pipeline build` to rebuild it"
        )
    return stored


def is_current(directory: str | os.PathLike[str], expected: dict[str, Any]) -> bool:
    """True when ``directory`` holds a manifest matching ``expected`` on every expected key."""
    try:
        check_manifest(directory, expected)
    except (MissingIndexError, StaleIndexError, json.JSONDecodeError):
        return False
    return True


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None."""
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
