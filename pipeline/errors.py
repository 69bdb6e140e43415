"""The errors a user can cause or meet, each with the exit code the command line gives it.

Every expected failure — bad input, a stale, missing or damaged index, a missing model, an unwritable output —
is a :class:`PipelineError`: its message names the file, line or option at fault and says what to do. The
command line prints the message and exits with :attr:`PipelineError.exit_code` (the server answers with the
matching HTTP status, :mod:`pipeline.server.errors`); any
other exception is a bug and keeps its traceback.

Exit codes (README lists them): 0 success; 1 partial success (a batch with bad lines, a lookup that found
nothing); 2 bad input or usage; 3 an index or model that must be (re)built; 130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2
EXIT_INDEX = 3
EXIT_INTERRUPTED = 130


class PipelineError(Exception):
    """An expected failure with a message for the user."""

    exit_code = EXIT_USAGE


class UserError(PipelineError):
    """Bad input: a query, an option value, a file the user named."""


class ConfigError(UserError):
    """A setting with a value it cannot take (the message names the setting)."""


class QueryError(UserError):
    """A query that cannot be answered: empty, or nothing to search for."""


class IndexStateError(PipelineError):
    """Base of index problems: all are mended by ``pipeline build``."""

    exit_code = EXIT_INDEX


class MissingIndexError(IndexStateError, FileNotFoundError):
    """An index (or a converted model) that has not been built yet."""


class StaleIndexError(IndexStateError):
    """An index built from other data, code or settings than the current ones."""


class CorruptIndexError(StaleIndexError):
    """An index whose files do not match their manifest (truncated, flipped, deleted, garbage)."""


class ModelError(PipelineError):
    """The embedding model cannot be found, converted or loaded."""

    exit_code = EXIT_INDEX


class ComponentError(PipelineError):
    """A component that failed to load (the translator's dictionary, say): reported, never dropped."""

    exit_code = EXIT_INDEX


class BusyError(PipelineError):
    """Another process holds the lock on this home's indexes (a build is running)."""

    exit_code = EXIT_INDEX
