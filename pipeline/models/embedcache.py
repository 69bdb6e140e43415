"""The embedding cache: a content-addressed store of passage vectors under ``indexes/embeddings/`` that
outlives the reports they were embedded for, so ``remove`` then ``add`` of a report embeds nothing.

Layout: ``embeddings/IDENT/SEGMENT/``. ``IDENT`` is the first 16 hex digits of the sha256 of the embedder's
identity (:func:`pipeline.embed.embedder_identity`: model weights, prompt, dtype, batching, library
versions), so vectors of different embedders are never mixed. Each embedding run appends one *segment*,
an artifact (:mod:`pipeline.store`) named by the sha256 of its keys: ``keys.json`` (the texts' cache keys,
sha256 of prompt and text, :func:`pipeline.dense.text_key`) and ``vectors.npy`` (float32, one row per key),
with a manifest of the embedder's identity and both files' hashes. A segment is used only when it verifies
(format, identity, sizes and sha256 of the files it is read from); a damaged one is ignored with a warning
and never used, and ``pipeline build`` deletes it.

Collection (:meth:`EmbeddingStore.collect`, run by ``pipeline build``): a segment with a vector that a dense
index of the library uses is *in use* and its manifest's mtime is set to now. A segment that has not been in
use for :data:`MAX_UNUSED_DAYS` days is deleted, and while the whole store is over :data:`MAX_STORE_MB` MB
the unused segments are deleted oldest first (segments in use are never deleted: their size is bounded by
the library's own dense indexes). Segments of other embedders are never in use, so they go after 30 days.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import IndexStateError, UserError
from pipeline.store import MANIFEST, Artifact, build_lock, sha256_bytes

log = logging.getLogger(__name__)

FORMAT_VERSION = "1"
KEYS = "keys.json"
VECTORS = "vectors.npy"
#: an unused segment is deleted after this many days without a dense index using one of its vectors
MAX_UNUSED_DAYS = 30
#: above this size, unused segments are deleted oldest first
MAX_STORE_MB = 256


def identity_folder(identity: Mapping[str, Any]) -> str:
    """The folder of one embedder's segments: 16 hex digits of the sha256 of its identity."""
    return hashlib.sha256(json.dumps(dict(identity), sort_keys=True).encode()).hexdigest()[:16]


def segment_name(keys: Sequence[str]) -> str:
    """A segment's name: 24 hex digits of the sha256 of its keys (the same texts give the same segment)."""
    return "seg-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24]


class EmbeddingStore:
    """One embedder's view of the embedding cache of a home.

    Args:
        index_dir: the home's ``indexes/``.
        identity: the passage embedder's identity.
    """

    def __init__(self, index_dir: str | os.PathLike[str], identity: Mapping[str, Any]) -> None:
        self.root = Path(index_dir) / "embeddings"
        self.directory = self.root / identity_folder(identity)
        self.inputs = {f"embedder.{k}": v for k, v in identity.items()}

    @staticmethod
    def _artifact(directory: Path) -> Artifact:
        return Artifact(directory, "embeddings", FORMAT_VERSION, "embedding cache segment")

    @staticmethod
    def _segments(folder: Path) -> list[Path]:
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir())

    def _keys(self, art: Artifact) -> tuple[dict[str, Any], list[str]]:
        """A segment's manifest (checked: format, identity, file sizes) and its keys (checked: sha256)."""
        m = art.check(self.inputs, verify="none")
        want = m["files"].get(KEYS, {})
        data = art.path(KEYS).read_bytes()
        if len(data) != want.get("size") or sha256_bytes(data) != want.get("sha256"):
            raise ValueError(f"{KEYS} does not match its manifest")
        keys = json.loads(data)
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise ValueError(f"{KEYS} is not a list of keys")
        return m, keys

    def _vectors(self, art: Artifact, manifest: dict[str, Any], n: int) -> np.ndarray:
        V = np.load(io.BytesIO(art.read_files(manifest)[VECTORS]), allow_pickle=False)
        if V.ndim != 2 or V.shape[0] != n or V.dtype != np.float32 or not np.all(np.isfinite(V)):
            raise ValueError(f"{VECTORS} does not hold {n} float32 vectors")
        return V

    def lookup(self, keys: Iterable[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``keys`` (those the cache has), each from a segment that verifies."""
        wanted = set(keys)
        out: dict[str, np.ndarray] = {}
        for d in self._segments(self.directory):
            if not wanted - out.keys():
                break
            art = self._artifact(d)
            try:
                m, seg_keys = self._keys(art)
                hit = [i for i, k in enumerate(seg_keys) if k in wanted and k not in out]
                if not hit:
                    continue
                V = self._vectors(art, m, len(seg_keys))
            except (IndexStateError, OSError, ValueError, KeyError, EOFError) as e:
                log.warning("embedding cache: ignoring %s (%s)", d, str(e).splitlines()[0])
                continue
            for i in hit:
                out[seg_keys[i]] = V[i].copy()
        return out

    def append(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Store freshly embedded vectors as one segment; a failed write only warns (it is a cache)."""
        if not len(keys):
            return
        art = self._artifact(self.directory / segment_name(keys))
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with art.write(self.inputs, info={"vectors": len(keys)}) as stage:
                stage.write_json(KEYS, list(keys))
                stage.save_npy(VECTORS, np.ascontiguousarray(vectors, dtype=np.float32))
        except (OSError, UserError) as e:
            log.warning("embedding cache: not written (%s)", str(e).splitlines()[0])

    def collect(
        self,
        in_use: set[str],
        now: float | None = None,
        max_days: float = MAX_UNUSED_DAYS,
        max_mb: float = MAX_STORE_MB,
    ) -> list[Path]:
        """Delete damaged segments, segments unused for ``max_days`` days, and unused segments oldest first
        while the store is over ``max_mb`` MB; remove leftovers of interrupted writes. Call under the home's
        build lock.

        Args:
            in_use: the keys of every dense index of the library.
            now: the current time (tests).
            max_days: see :data:`MAX_UNUSED_DAYS`.
            max_mb: see :data:`MAX_STORE_MB`.

        Returns:
            What was deleted.
        """
        now = time.time() if now is None else now
        removed: list[Path] = []
        kept: list[tuple[float, int, bool, Path]] = []  # (last in use, bytes, in use, segment)
        folders = sorted(p for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
        for folder in folders:
            with build_lock(folder):
                for p in folder.iterdir():  # leftovers of interrupted writes
                    if p.name.startswith(".") and (p.name.endswith(".tmp") or ".old" in p.name):
                        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
                        removed.append(p)
            for d in self._segments(folder):
                art = self._artifact(d)
                try:
                    if folder == self.directory:
                        m, keys = self._keys(art)
                        self._vectors(art, m, len(keys))
                        used = not in_use.isdisjoint(keys)
                    else:
                        art.read_manifest()
                        used = False
                    if used:
                        os.utime(art.path(MANIFEST))
                    st = art.path(MANIFEST).stat()
                    size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
                except (IndexStateError, OSError, ValueError, KeyError, EOFError) as e:
                    log.warning("embedding cache: deleting damaged %s (%s)", d, str(e).splitlines()[0])
                    shutil.rmtree(d, ignore_errors=True)
                    removed.append(d)
                    continue
                kept.append((st.st_mtime, size, used, d))
        total = sum(k[1] for k in kept)
        for last, size, used, d in sorted(kept):
            if used:
                continue
            if now - last > max_days * 86400 or total > max_mb * 2**20:
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
                total -= size
        for folder in folders:
            if not self._segments(folder):
                with contextlib.suppress(OSError):
                    shutil.rmtree(folder)
        return removed
