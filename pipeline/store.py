"""The artifact layer: one way to write, check and load every derived file set under ``indexes/``.

An *artifact* is a directory of files (the BM25 index, the dense index, the translator's dictionary cache,
the converted model) plus a ``manifest.json``::

    {"kind": "bm25", "format_version": "2",
     "inputs": {...},                      # everything the files were built from, and nothing else
     "files": {"vocab.json": {"sha256": "…", "size": 18465}, …},
     "info": {...}}                        # sizes, build time, library versions: shown, never compared

Rules:

* **Inputs are what changes the files.** Settings used only at query time (the glossary, the query prompt)
  are not inputs, so changing them never makes an index stale.
* **Nothing is trusted unchecked.** :meth:`Artifact.check` refuses a missing manifest
  (:class:`MissingIndexError`), other inputs (:class:`StaleIndexError`, naming each differing key) and any
  file whose size or sha256 differs from the manifest (:class:`CorruptIndexError`, naming the file).
  ``verify="stat"`` re-hashes a file only when its size, mtime or inode changed since it was last verified
  (for the 450 MB model on a cold search); builds always verify in full.
* **Writes are atomic per artifact.** :meth:`Artifact.write` stages every file in a hidden sibling
  directory, writes the manifest last, fsyncs, and swaps the directory into place. A crash leaves the old
  artifact, the new one, or (for an instant between two renames) none — never a mix. Leftovers of an
  interrupted write (``.NAME.*.tmp``, ``.NAME.*.old``) are removed by the next write.
* New files get the mode the umask asks for (not ``mkstemp``'s 0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline.errors import CorruptIndexError, MissingIndexError, StaleIndexError
from pipeline.fileio import (
    atomic_open,
    disk_error,
    file_mode,
    fsync_dir,
    json_bytes,
    package_version,
    sha256_bytes,
    sha256_file,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from pipeline.locking import build_lock

__all__ = [
    "MANIFEST",
    "Artifact",
    "CorruptIndexError",
    "MissingIndexError",
    "StaleIndexError",
    "Staging",
    "atomic_open",
    "build_lock",
    "file_mode",
    "fsync_dir",
    "package_version",
    "sha256_bytes",
    "sha256_file",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

MANIFEST = "manifest.json"
_VERIFIED = ".verified.json"


class Staging:
    """The hidden directory an artifact's new files are written into before it is swapped into place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: list[str] = []

    def _track(self, name: str) -> Path:
        parts = Path(name).parts
        if name == MANIFEST or not parts or Path(name).is_absolute() or ".." in parts:
            raise ValueError(f"bad artifact file name {name!r}")
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if name not in self.files:
            self.files.append(name)
        return target

    def write_bytes(self, name: str, data: bytes) -> Path:
        """Write one file of the artifact."""
        target = self._track(name)
        target.write_bytes(data)
        return target

    def write_json(self, name: str, obj: Any) -> Path:
        """Write one JSON file of the artifact."""
        return self.write_bytes(name, json_bytes(obj))

    def save_npy(self, name: str, array: Any) -> Path:
        """Write one ``.npy`` array of the artifact."""
        import numpy as np

        target = self._track(name)
        with open(target, "wb") as f:
            np.save(f, np.ascontiguousarray(array), allow_pickle=False)
        return target

    def adopt(self, name: str) -> Path:
        """Declare a file that something else wrote into :attr:`path` (a model's weights)."""
        target = self._track(name)
        if not target.is_file():
            raise FileNotFoundError(target)
        return target


class Artifact:
    """A derived file set in one directory, described and guarded by its manifest.

    Args:
        directory: where the artifact lives (``indexes/lexical``, …).
        kind: what it is ("bm25", "dense", "cedict-reverse", "model"); part of the manifest.
        format_version: bump when the file layout changes; a different version is stale.
        what: how messages name it ("lexical index").
    """

    def __init__(self, directory: str | os.PathLike[str], kind: str, format_version: str, what: str) -> None:
        self.directory = Path(directory)
        self.kind = kind
        self.format_version = str(format_version)
        self.what = what

    def __repr__(self) -> str:
        return f"Artifact({str(self.directory)!r}, kind={self.kind!r})"

    # --- reading ----------------------------------------------------------------------------------

    def path(self, name: str) -> Path:
        """Path of one of the artifact's files."""
        return self.directory / name

    def exists(self) -> bool:
        """True when a manifest is present (the artifact may still be stale or damaged)."""
        return (self.directory / MANIFEST).is_file()

    def read_manifest(self) -> dict[str, Any]:
        """The stored manifest.

        Raises:
            MissingIndexError: no manifest.
            CorruptIndexError: a manifest that is not a JSON object of the expected shape.
        """
        path = self.directory / MANIFEST
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise MissingIndexError(
                f"no {self.what} at {self.directory} (no {MANIFEST}); run `pipeline build`"
            ) from None
        except IsADirectoryError:
            raise CorruptIndexError(f"{path} is a directory, not a manifest; run `pipeline build`") from None
        try:
            m = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise CorruptIndexError(
                f"{path} is damaged (not JSON); run `pipeline build` to rebuild the {self.what}"
            ) from None
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("inputs"), dict)
            or not isinstance(m.get("files"), dict)
            or not all(isinstance(v, dict) for v in m["files"].values())
        ):
            raise CorruptIndexError(
                f"{path} is not a manifest of this version of pipeline; "
                f"run `pipeline build` to rebuild the {self.what}"
            )
        return m

    def check(self, inputs: dict[str, Any], verify: str = "full") -> dict[str, Any]:
        """Refuse a missing, stale or damaged artifact; return its manifest when it can be trusted.

        Args:
            inputs: what the artifact would be built from now (compared key by key).
            verify: "full" (hash every file), "stat" (hash a file again only when its size, mtime or inode
                changed since it last verified) or "none" (sizes only).

        Raises:
            MissingIndexError, StaleIndexError, CorruptIndexError: the message says what and how to rebuild.
        """
        m = self.read_manifest()
        if m.get("kind") != self.kind or str(m.get("format_version")) != self.format_version:
            raise StaleIndexError(
                f"the {self.what} at {self.directory} has format "
                f"{m.get('kind')!r} v{m.get('format_version')}, "
                f"this pipeline reads {self.kind!r} v{self.format_version}; run `pipeline build`"
            )
        stored = m["inputs"]
        diffs = [k for k in sorted(set(stored) | set(inputs)) if stored.get(k) != inputs.get(k)]
        if diffs:
            lines = [
                f"  {k}: index has {_short(stored.get(k))}, current is {_short(inputs.get(k))}" for k in diffs
            ]
            raise StaleIndexError(
                f"the {self.what} at {self.directory} is stale (built from other data or settings):\n"
                + "\n".join(lines)
                + "\nrun `pipeline build` to rebuild it"
            )
        self.verify_files(m, verify)
        return m

    def verify_files(self, manifest: dict[str, Any], verify: str = "full") -> None:
        """Check every file the manifest lists (see :meth:`check`)."""
        cache = self._read_verified() if verify == "stat" else {}
        updated = False
        for name, want in sorted(manifest["files"].items()):
            path = self.directory / name
            try:
                st = path.stat()
            except OSError:
                raise CorruptIndexError(
                    f"the {self.what} at {self.directory} is damaged: {name} is missing; run `pipeline build`"
                ) from None
            if not path.is_file() or st.st_size != want.get("size"):
                raise CorruptIndexError(
                    f"the {self.what} at {self.directory} is damaged: {name} has {st.st_size} bytes, "
                    f"its manifest says {want.get('size')}; run `pipeline build`"
                )
            if verify == "none":
                continue
            key = [st.st_size, st.st_mtime_ns, st.st_ino, want.get("sha256")]
            if verify == "stat" and cache.get(name) == key:
                continue
            if sha256_file(path) != want.get("sha256"):
                raise CorruptIndexError(
                    f"the {self.what} at {self.directory} is damaged: {name} does not match its manifest "
                    "(changed on disk); run `pipeline build`"
                )
            if verify == "stat":
                cache[name] = key
                updated = True
        if updated:
            with contextlib.suppress(OSError):  # a read-only home just verifies again next time
                write_json_atomic(self.directory / _VERIFIED, cache)

    def read_files(self, manifest: dict[str, Any]) -> dict[str, bytes]:
        """Every file the manifest lists, each read once and checked (size and sha256) from the bytes read:
        for loaders that parse the bytes instead of reading the file again (see :meth:`verify_files`).

        Raises:
            CorruptIndexError: a file is missing or does not match its manifest (the message names it).
        """
        out: dict[str, bytes] = {}
        for name, want in sorted(manifest["files"].items()):
            try:
                data = (self.directory / name).read_bytes()
            except OSError:
                raise CorruptIndexError(
                    f"the {self.what} at {self.directory} is damaged: {name} is missing; run `pipeline build`"
                ) from None
            if len(data) != want.get("size") or sha256_bytes(data) != want.get("sha256"):
                raise CorruptIndexError(
                    f"the {self.what} at {self.directory} is damaged: {name} does not match its manifest "
                    "(changed on disk); run `pipeline build`"
                )
            out[name] = data
        return out

    def _read_verified(self) -> dict[str, Any]:
        try:
            data = json.loads((self.directory / _VERIFIED).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def is_current(self, inputs: dict[str, Any], verify: str = "full") -> bool:
        """True when :meth:`check` passes."""
        try:
            self.check(inputs, verify)
        except (MissingIndexError, StaleIndexError):
            return False
        return True

    # --- writing ----------------------------------------------------------------------------------

    def clean_leftovers(self) -> list[Path]:
        """Remove what interrupted writes left beside the artifact; returns what was removed."""
        parent, name = self.directory.parent, self.directory.name
        removed = []
        if parent.is_dir():
            for p in parent.iterdir():
                if p.name.startswith(f".{name}.") and (p.name.endswith(".tmp") or ".old" in p.name):
                    if p.is_dir() and not p.is_symlink():
                        shutil.rmtree(p, ignore_errors=True)
                    else:
                        with contextlib.suppress(OSError):
                            p.unlink()
                    removed.append(p)
        if self.directory.is_dir():  # files an older version of pipeline wrote in place
            for p in self.directory.glob(".*.tmp"):
                with contextlib.suppress(OSError):
                    p.unlink()
                removed.append(p)
        return removed

    @contextlib.contextmanager
    def write(self, inputs: dict[str, Any], info: dict[str, Any] | None = None) -> Iterator[Staging]:
        """Stage a new version of the artifact; on success swap it into place atomically.

        Usage::

            with artifact.write(inputs, info) as stage:
                stage.save_npy("doc_len.npy", lengths)

        On an exception nothing is replaced and the staging directory is removed. Writers of one folder are
        serialised by its :func:`build_lock` (so leftovers are only cleaned when nobody is writing).
        """
        parent = self.directory.parent
        with build_lock(parent):
            try:
                self.clean_leftovers()
                tmp = Path(tempfile.mkdtemp(prefix=f".{self.directory.name}.", suffix=".tmp", dir=parent))
            except OSError as e:
                raise disk_error(parent, e) from None
            with self._staged(tmp, inputs, info) as stage:
                yield stage

    @contextlib.contextmanager
    def _staged(self, tmp: Path, inputs: dict[str, Any], info: dict[str, Any] | None) -> Iterator[Staging]:
        stage = Staging(tmp)
        try:
            yield stage
            files = {}
            for name in stage.files:
                p = tmp / name
                files[name] = {"sha256": sha256_file(p), "size": p.stat().st_size}
            manifest = {
                "kind": self.kind,
                "format_version": self.format_version,
                "inputs": inputs,
                "files": files,
                "info": {**(info or {}), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
            }
            (tmp / MANIFEST).write_bytes(json_bytes(manifest))
            # the files were hashed just now: the first "stat" verification need not hash them again
            verified = {}
            for name, want in files.items():
                st = (tmp / name).stat()
                verified[name] = [st.st_size, st.st_mtime_ns, st.st_ino, want["sha256"]]
            (tmp / _VERIFIED).write_bytes(json_bytes(verified))
            for p in sorted(tmp.rglob("*"), reverse=True):
                p.chmod(file_mode(directory=p.is_dir()))
                if p.is_file():
                    fd = os.open(p, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            tmp.chmod(file_mode(directory=True))
            fsync_dir(tmp)
            self._swap(tmp)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise disk_error(self.directory, e) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _swap(self, tmp: Path) -> None:
        old = None
        if self.directory.exists() or self.directory.is_symlink():
            old = self.directory.with_name(f".{self.directory.name}.{os.getpid()}.old")
            os.replace(self.directory, old)
        try:
            os.replace(tmp, self.directory)
        except BaseException:
            if old is not None:  # put the previous artifact back, so "nothing was replaced" stays true
                os.replace(old, self.directory)
            raise
        fsync_dir(self.directory.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
