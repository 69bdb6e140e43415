"""The console script's standard streams: output that cannot be written, terminals that cannot encode Chinese,
and command-line text that arrives undecoded.

:func:`install` (called by :func:`pipeline.cli.run` before anything else, never by ``main()``, whose
in-process callers own their streams) puts standard output and standard error behind small guards:

* **One rule for output errors.** Standard output that cannot be written — a full disk (``> /dev/full``), a
  closed descriptor (``>&-``), an I/O error — raises :class:`OutputError` (a
  :class:`~pipeline.errors.UserError`: ``pipeline: error: cannot write the output (…)``, exit code 2) the
  first time a write fails. The descriptor is then pointed at ``/dev/null`` (as the Python documentation
  recommends for SIGPIPE), so the interpreter never reports a failed flush at exit. A broken pipe
  (``| head -1``) raises :class:`BrokenPipeError`, which the command line treats as success: the reader had
  what it wanted.
* **A broken standard error is not an error.** Writes to a closed or full standard error are dropped; the
  exit code is still set.
* **Chinese reaches every terminal.** A stream whose encoding cannot encode Chinese (the C locale with
  ``PYTHONUTF8=0``, ``PYTHONIOENCODING=ascii`` or ``latin-1``) is written as UTF-8 instead; one that can
  (UTF-8, GB18030, …) is kept. Either way a character the encoding lacks is written as a ``\\uXXXX`` escape,
  never a ``UnicodeEncodeError``.

:func:`arg_text` turns a command-line argument decoded in a non-UTF-8 locale (surrogate escapes) back into
the UTF-8 text it was, or refuses it with a clear message.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import sys
from typing import TYPE_CHECKING, TextIO

from pipeline.errors import UserError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

CHINESE_PROBE = "海盗第段，。"
"""Text a stream's encoding must encode to be kept: the characters of every Chinese answer."""


class OutputError(UserError):
    """Standard output (or a stream a command writes as it goes) cannot be written (exit code 2)."""


def output_error(where: str, error: OSError | None = None) -> OutputError:
    """``cannot write the output (WHERE: REASON)``, or ``(WHERE is closed)`` without an ``error``."""
    why = f"{where}: {error.strerror or error}" if error is not None else f"{where} is closed"
    return OutputError(f"cannot write the output ({why})")


def _divert(fd: int) -> None:
    """Point ``fd`` at ``/dev/null``: whatever is still buffered for it goes nowhere, quietly."""
    with contextlib.suppress(OSError):
        null = os.open(os.devnull, os.O_WRONLY)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)


class _Guard(io.RawIOBase):
    """A raw, unbuffered writer on a standard descriptor that decides what a failed write means.

    Args:
        fd: 1 or 2.
        name: "standard output" or "standard error", for the message.
        closed: the descriptor was closed when the process started (it now points at ``/dev/null``).
        quiet: drop failed writes (standard error) instead of raising :class:`OutputError`.
    """

    def __init__(self, fd: int, name: str, closed: bool, quiet: bool) -> None:
        super().__init__()
        self._fd, self._name, self._closed, self._quiet = fd, name, closed, quiet
        self._failed = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return not self._closed and not self._failed and os.isatty(self._fd)

    def write(self, b: ReadableBuffer, /) -> int:
        data = memoryview(b).cast("B")
        if self._failed:
            return len(data)  # the error was reported once; the rest goes nowhere
        if self._closed:
            return self._fail(None, len(data))
        while True:
            try:
                return os.write(self._fd, data)
            except BlockingIOError:  # a non-blocking descriptor (a terminal shared with another program)
                select.select([], [self._fd], [])
            except BrokenPipeError:
                self._failed = True
                _divert(self._fd)
                if self._quiet:
                    return len(data)
                raise
            except OSError as e:
                return self._fail(e, len(data))

    def _fail(self, error: OSError | None, size: int) -> int:
        """Point the descriptor at ``/dev/null``; drop the write (standard error) or raise."""
        self._failed = True
        _divert(self._fd)
        if self._quiet:
            return size
        raise output_error(self._name, error)


def _encoding(old: TextIO | None) -> str:
    """The encoding to keep: the stream's own when it can encode Chinese, else UTF-8."""
    enc = getattr(old, "encoding", None) or "utf-8"
    try:
        CHINESE_PROBE.encode(enc)
    except (UnicodeError, LookupError):
        return "utf-8"
    return enc


def _open_std_fds() -> dict[int, bool]:
    """Which of descriptors 0, 1, 2 were closed; each closed one is opened on ``/dev/null`` so that no file
    the process opens later lands on it (and receives what is printed)."""
    closed: dict[int, bool] = {}
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            closed[fd] = False
        except OSError:
            closed[fd] = True
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    return closed


def _wrap(fd: int, old: TextIO | None, name: str, closed: bool, quiet: bool) -> TextIO:
    raw = _Guard(fd, name, closed=closed, quiet=quiet)
    line_buffering = quiet or bool(getattr(old, "line_buffering", False))
    return io.TextIOWrapper(
        io.BufferedWriter(raw),
        encoding=_encoding(old),
        errors="backslashreplace",
        line_buffering=line_buffering,
    )


def install() -> None:
    """Put standard output and standard error behind their guards (see the module's description); a closed
    standard input reads as empty."""
    for old in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if old is not None:
                old.flush()
    closed = _open_std_fds()
    if sys.stdin is None:
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = _wrap(1, sys.stdout, "standard output", closed=closed[1], quiet=False)
    sys.stderr = _wrap(2, sys.stderr, "standard error", closed=closed[2], quiet=True)


def finish(code: int) -> int:
    """Flush both streams at exit; an output that fails only now is reported like any other (exit code 2)."""
    try:
        sys.stdout.flush()
    except OutputError as e:
        with contextlib.suppress(Exception):
            print(f"pipeline: error: {e}", file=sys.stderr)
        code = e.exit_code
    except (BrokenPipeError, ValueError):
        pass
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    return code


def arg_text(text: str, what: str) -> str:
    """A command-line argument as the text it was typed as.

    In a locale that is not UTF-8 (``LC_ALL=C`` with ``PYTHONUTF8=0``) Python decodes each argument's bytes
    with surrogate escapes; the bytes are recovered and decoded as UTF-8. Text without surrogates is
    returned as it is.

    Raises:
        UserError: the bytes are not UTF-8 (a GBK terminal, say); the message names ``what`` and the bytes.
    """
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    try:
        return os.fsencode(text).decode("utf-8")
    except UnicodeError:
        raw = text.encode("utf-8", "surrogateescape") if _escaped_only(text) else None
        shown = repr(raw)[2:-1] if raw is not None else text.encode("unicode_escape").decode("ascii")
        raise UserError(
            f"{what} is not UTF-8 text ({shown[:120]}): type it in a UTF-8 terminal or locale "
            "(e.g. LC_ALL=C.UTF-8), or convert it with iconv"
        ) from None


def _escaped_only(text: str) -> bool:
    """Every surrogate in ``text`` is a surrogate escape of one byte (U+DC80-U+DCFF)."""
    return all(not "\ud800" <= c <= "\udfff" or "\udc80" <= c <= "\udcff" for c in text)
