"""The error every ingest step raises for a report it cannot read or parse faithfully."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import UserError

__all__ = ["IngestError"]


class IngestError(UserError, ValueError):
    """A report that cannot be parsed faithfully; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")
