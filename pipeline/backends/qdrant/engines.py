"""What the backend needs from a Qdrant flavour: the :class:`_Engine` protocol, the points it writes and the
hits it returns, and the names of the collection's vectors and payload fields.

The flavours are :class:`~pipeline.backends.qdrant.client.ClientEngine` (a server, or qdrant-client's local
mode) and :class:`~pipeline.backends.qdrant.edge.EdgeEngine` (Qdrant Edge in-process).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SPARSE = "bm25"
PARA = "para"
SENT = "sent"
#: Payload fields a filter may name; each has a keyword payload index.
FILTER_FIELDS = ("document", "lang")
RESERVED = ("_row", "_dl", "_s0", "_ns", "_h", "_part")
PART = "_part"
_RESCORE_FIELDS = ("_dl", "_s0", "_ns")
STATE_FORMAT = 1
_STATE_ID = 0
#: Seconds a Qdrant server may take to answer one request (qdrant-client's ``timeout``; a ``timeout`` passed
#: to the backend overrides it): a server that accepts the connection and never answers fails after this long.
SERVER_TIMEOUT = 10
#: Collections of at most this many points are checked point by point when opened; larger ones on the fixed
#: sample of ``CHECK_SAMPLE`` rows (first and last included) whose content hashes the upload recorded.
CHECK_ALL_UP_TO = 2048
CHECK_SAMPLE = 8


class EngineUnusable(Exception):
    """The engine cannot be used: a server that cannot be reached, times out or is not Qdrant (the message
    names the location and what happened)."""


class DamagedCollection(ValueError):
    """The collection's stored state or points are not what the upload wrote (the message says what)."""


def engine_failure(e: BaseException) -> bool:
    """Whether ``e`` is an engine's failure rather than an interruption: any ``Exception``, and a Rust panic
    of qdrant-edge-py (pyo3's ``PanicException`` derives from ``BaseException``)."""
    return isinstance(e, Exception) or type(e).__name__ == "PanicException"


def from_engine(e: BaseException) -> bool:
    """Whether ``e`` was raised by an engine library (qdrant-client and its HTTP stack, qdrant-edge-py: a
    Rust panic, or its bare ``Exception``) or reports a damaged collection, rather than by this package's
    code (whose bugs keep their traceback)."""
    t = type(e)
    if t.__name__ == "PanicException" or t is Exception or isinstance(e, (DamagedCollection, EngineUnusable)):
        return True
    return t.__module__.split(".")[0] in ("qdrant_client", "qdrant_edge", "httpx", "httpcore", "grpc")


def check_rows(n: int) -> list[int]:
    """The fixed sample of rows whose content hashes the upload records: ``CHECK_SAMPLE`` evenly spaced rows
    of ``n``, the first and the last among them."""
    if n <= 0:
        return []
    return sorted({int(r) for r in np.linspace(0, n - 1, min(CHECK_SAMPLE, n)).round()})


@dataclass
class _Point:
    row: int
    payload: dict[str, Any]
    dims: np.ndarray  # uint32, sorted
    values: np.ndarray  # float32
    para: np.ndarray | None
    sent: np.ndarray | None  # (m, dim), m >= 1


@dataclass
class _Hit:
    row: int
    score: float
    payload: dict[str, Any]
    vectors: dict[str, Any]


class _Engine:
    """What the backend needs from a Qdrant flavour (server/local client, or Edge)."""

    kind = "?"

    def exists(self) -> bool:
        raise NotImplementedError

    def create(self, dim: int | None, hnsw: Mapping[str, int]) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def get_state(self) -> dict[str, Any] | None:
        raise NotImplementedError

    def put_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def upsert(self, points: list[_Point]) -> None:
        raise NotImplementedError

    def hashes(self, rows: Sequence[int]) -> dict[int, str]:
        raise NotImplementedError

    def delete_from(self, n: int) -> None:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def durable(self) -> None:
        """Make every acknowledged write durable (before a checkpoint)."""

    def finish(self) -> None:
        """Build indexes after an upload (HNSW, optimised segments)."""

    def close(self) -> None:
        """Release the engine."""

    def sparse(
        self,
        dims: list[int],
        values: list[float],
        limit: int,
        filt: Mapping[str, Any] | None,
        ids: Sequence[int] | None = None,
        vectors: bool = True,
    ) -> list[_Hit]:
        raise NotImplementedError

    def stored(self, rows: Sequence[int]) -> list[_Hit]:
        """The given points with every vector and the payload fields the rescoring reads (score 0)."""
        raise NotImplementedError

    def points(self, rows: Sequence[int]) -> list[_Hit]:
        """The given points with every vector and their whole payload (score 0): to check their content."""
        raise NotImplementedError

    def dense(
        self,
        q: np.ndarray,
        w: float,
        limit: int,
        candidates: int,
        ef: int | None,
        filt: Mapping[str, Any] | None,
        ids: Sequence[int] | None = None,
        vectors: bool = True,
        probe: Sequence[int] | None = None,
    ) -> list[_Hit]:
        """The ``limit`` best by ``(1-w)·para + w·MAX_SIM(sent)`` among ``candidates``: the best paragraphs by
        paragraph vector (HNSW), or with ``probe`` the best by MAX_SIM among the points in those partitions
        (an exact scan of just them)."""
        raise NotImplementedError


def _filter_items(filt: Mapping[str, Any] | None) -> list[tuple[str, Any]]:
    if not filt:
        return []
    out = []
    for key, value in filt.items():
        if key not in FILTER_FIELDS:
            raise ValueError(f"cannot filter on {key!r}: the payload indexes are {', '.join(FILTER_FIELDS)}")
        if isinstance(value, (list, tuple, set, frozenset)):
            value = sorted(str(v) for v in value)
            if not value:
                raise ValueError(f"filter {key!r} lists no value")
        elif not isinstance(value, str):
            raise TypeError(f"filter {key!r} must be a string or a list of strings, not {value!r}")
        out.append((key, value))
    return out
