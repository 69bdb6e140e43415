"""Batch question answering: read a file of questions, answer the good lines, report the bad ones.

Input formats (chosen by extension, or ``fmt``): JSONL (``{"id": …, "query": …}`` per line), CSV (a header
naming a ``query`` column and optionally an ``id`` column) or plain text (one query per line, id = line
number). Lines are split on ``\\n`` (and ``\\r\\n``) only, so a U+2028, a form feed or a vertical tab inside a
line never splits it or shifts the line numbers.

What is refused, and how:

* File-level problems raise :class:`BatchInputError` (missing, unreadable, a directory, binary, UTF-16/32,
  GBK/GB18030, a CSV header without a ``query`` column or with a duplicated column). Nothing is answered.
* Line-level problems become :class:`BadLine` (``FILE:LINE: reason``): a line that is not UTF-8 in an
  otherwise UTF-8 file, invalid JSON (including nesting too deep and numbers too long), an unpaired
  surrogate, an empty query, a duplicate id, a CSV row with the wrong number of columns or an unclosed
  quote (reported at the line where the quote opened). Every other line is still answered.
* Output problems raise :class:`BatchOutputError` from :func:`check_output`, before any question is answered.

Output (:func:`run_batch`): to standard output, a FIFO or a character device the answers are streamed chunk by
chunk. To a file ``OUT``, answers are appended to the side file ``OUT.partial`` (one JSON record per line,
flushed and fsync'd after every chunk, each chunk closed by a ``{"committed": N}`` line); at the end ``OUT``
is written atomically (temporary file, fsync, rename) and the side file removed. An interrupted run leaves
``OUT`` untouched and ``OUT.partial`` behind; ``resume=True`` continues it, answering only what is missing, and
the final file is byte-identical to that of an uninterrupted run. The side file's first line records what
the answers depend on (the input's queries, the output format, the chunk size and the caller's ``options``);
a resume with anything different is refused. Without ``resume``, an existing side file is refused too, so
an interrupted run is never overwritten by accident.

An existing output file keeps its permission bits; a new one gets ``0666 & ~umask``. A symlink is written
through (its target is replaced, the link kept).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import os
import re
import shlex
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

FORMATS = ("jsonl", "csv", "text")
PARTIAL_SUFFIX = ".partial"
PARTIAL_VERSION = 1
CSV_COLUMNS = ["id", "query", "route", "rank", "paragraph", "score", "section", "answer", "text"]


class BatchInputError(Exception):
    """The input file cannot be used at all; ``str()`` is the whole message, naming the file (and line)."""


class BatchOutputError(Exception):
    """The output cannot be written (or resumed); ``str()`` is the whole message, naming the file."""


@dataclass(frozen=True)
class BatchQuery:
    line: int
    id: str
    query: str


@dataclass(frozen=True)
class BadLine:
    line: int
    message: str


@dataclass
class BatchReport:
    """What :func:`run_batch` did.

    Attributes:
        answered: queries answered (including those taken from a resumed side file).
        bad: queries whose answer was an error, as ``BadLine(query line, error)``.
        resumed: queries whose records came from the side file of an interrupted run.
    """

    answered: int = 0
    bad: list[BadLine] = field(default_factory=list)
    resumed: int = 0


def detect_format(path: str | Path) -> str:
    """"jsonl", "csv" or "text" from the file name."""
    suffix = Path(path).suffix.lower()
    return {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}.get(suffix, "text")


# --- reading -------------------------------------------------------------------------------------------


def _display(path: str | os.PathLike[str]) -> str:
    return "standard input" if str(path) == "-" else str(path)


MAX_INPUT_BYTES = 1 << 30
_HEAD = 1 << 16


def _read_stream(f: BinaryIO, name: str) -> bytes:
    """Read a whole query file, refusing a binary or UTF-16/32 one from its first 64 KiB (so ``/dev/zero`` or
    ``/dev/urandom`` is refused at once instead of filling the memory) and anything over 1 GiB."""
    head = f.read(_HEAD)
    while len(head) < _HEAD and (more := f.read(_HEAD - len(head))):
        head += more  # a pipe delivers what it has
    _sniff(head, name)
    blocks = [head]
    size = len(head)
    while block := f.read(1 << 20):
        size += len(block)
        if size > MAX_INPUT_BYTES:
            raise BatchInputError(f"{name}: is larger than {MAX_INPUT_BYTES >> 30} GiB; split it into smaller files")
        blocks.append(block)
    return b"".join(blocks)


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    if str(path) == "-":
        return _read_stream(sys.stdin.buffer, "standard input")
    name = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise BatchInputError(f"{name}: no such file") from None
    except NotADirectoryError:
        raise BatchInputError(f"{name}: no such file (a part of the path is not a directory)") from None
    except PermissionError:
        raise BatchInputError(f"{name}: permission denied (cannot look up the file)") from None
    except OSError as e:
        raise BatchInputError(f"{name}: cannot read it ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise BatchInputError(f"{name}: is a directory, not a query file (give a .jsonl, .csv or .txt file)")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        raise BatchInputError(f"{name}: is not a regular file")
    try:
        with open(path, "rb") as f:
            return _read_stream(f, name)
    except PermissionError:
        raise BatchInputError(f"{name}: permission denied (the file is not readable)") from None
    except IsADirectoryError:
        raise BatchInputError(f"{name}: is a directory, not a query file (give a .jsonl, .csv or .txt file)") from None
    except OSError as e:
        raise BatchInputError(f"{name}: cannot read it ({e.strerror or e})") from None


_MAGIC = [
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx, .docx or .odt file?); save it as CSV UTF-8 or plain text"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a Microsoft Office file (.xls or .doc?); save it as CSV UTF-8 or plain text"),
    (b"\x1f\x8b", "gzip-compressed; decompress it first"),
    (b"\xfd7zXZ\x00", "xz-compressed; decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3\x00", "an SQLite database"),
]


def _convert_hint(name: str, encoding: str) -> str:
    src = "INPUT" if name == "standard input" else name
    p = Path(src)
    dest = str(p.with_name(p.stem + ".utf8" + p.suffix))
    return f"convert it first: iconv -f {encoding} -t UTF-8 {shlex.quote(src)} > {shlex.quote(dest)}"


def _wide_encoding(sample: bytes) -> str | None:
    """"UTF-16LE", "UTF-16BE", "UTF-32LE" or "UTF-32BE" when a BOM-less sample with NUL bytes decodes as one."""

    def textlike(enc: str, data: bytes) -> bool:
        for cut in (0, 1, 2, 3):  # the sample may end inside a character
            try:
                s = data[: len(data) - cut].decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            return False
        return bool(s) and sum(c.isprintable() or c in "\t\n\r" for c in s) >= 0.95 * len(s)

    n4 = len(sample) // 4
    if n4:
        z = [sample[i : 4 * n4 : 4].count(0) / n4 for i in range(4)]
        if min(z[1], z[2], z[3]) > 0.9 and textlike("utf-32-le", sample[: 4 * n4]):
            return "UTF-32LE"
        if min(z[0], z[1], z[2]) > 0.9 and textlike("utf-32-be", sample[: 4 * n4]):
            return "UTF-32BE"
    n2 = len(sample) // 2
    if n2:
        even, odd = sample[0 : 2 * n2 : 2].count(0), sample[1 : 2 * n2 : 2].count(0)
        if odd > 4 * even and textlike("utf-16-le", sample[: 2 * n2]):
            return "UTF-16LE"
        if even > 4 * odd and textlike("utf-16-be", sample[: 2 * n2]):
            return "UTF-16BE"
    return None


def _cjk_share(text: str) -> float:
    wide = [c for c in text if ord(c) >= 0x80]
    if not wide:
        return 0.0
    cjk = sum(
        0x2E80 <= ord(c) <= 0x9FFF or 0xF900 <= ord(c) <= 0xFAFF or 0xFF00 <= ord(c) <= 0xFFEF or 0x3000 <= ord(c) <= 0x303F
        for c in wide
    )
    return cjk / len(wide)


def _sniff(head: bytes, name: str) -> None:
    """Refuse, from the first bytes of a file, a UTF-16/32 text (with or without byte order mark), a known
    binary format, or bytes with NULs or many control characters."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        enc = "UTF-32LE" if head[0] == 0xFF else "UTF-32BE"
        raise BatchInputError(f"{name}: is {enc} text (byte order mark), not UTF-8; {_convert_hint(name, 'UTF-32')}")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "UTF-16LE" if head[0] == 0xFF else "UTF-16BE"
        raise BatchInputError(f"{name}: is {enc} text (byte order mark), not UTF-8; {_convert_hint(name, 'UTF-16')}")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise BatchInputError(f"{name}: is {what}, not a text file of queries")
    if b"\x00" in head:
        enc = _wide_encoding(head)
        if enc:
            raise BatchInputError(
                f"{name}: looks like {enc} text (NUL bytes between characters), not UTF-8; {_convert_hint(name, enc)}"
            )
        at = head.index(b"\x00")
        raise BatchInputError(f"{name}: looks like a binary file (a NUL byte at offset {at}), not a text file of queries")
    controls = sum(head.count(bytes([b])) for b in (*range(1, 9), *range(14, 27), *range(28, 32)))
    if head and controls > 0.1 * len(head):
        raise BatchInputError(f"{name}: looks like a binary file (many control bytes), not a text file of queries")


def _decode(raw: bytes, name: str) -> tuple[list[str], dict[int, str]]:
    """Split ``raw`` into lines on ``\\n`` (dropping a ``\\r`` before it) and decode each as UTF-8.

    Returns:
        ``(lines, undecodable)``: every line (bytes that are not UTF-8 kept as surrogate escapes, so a CSV
        record's quoting is intact) and ``{line number: message}`` for the lines that are not UTF-8.

    Raises:
        BatchInputError: the whole file is binary, UTF-16/32 or GBK/GB18030.
    """
    _sniff(raw[:_HEAD], name)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        raise BatchInputError(f"{name}: looks like a binary file (a NUL byte at offset {at}), not a text file of queries")

    # old Mac line ends (Excel's "CSV (Macintosh)"): a lone CR ends lines only when there is no LF at all
    parts = raw.split(b"\n") if b"\n" in raw or b"\r" not in raw else raw.split(b"\r")
    if parts and parts[-1] == b"":
        parts.pop()
    parts = [p[:-1] if p.endswith(b"\r") else p for p in parts]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return [p.decode("utf-8") for p in parts], {}
    lines: list[str] = []
    undecodable: dict[int, str] = {}
    bad_raw: list[bytes] = []
    good_wide = 0
    for n, p in enumerate(parts, 1):
        try:
            lines.append(p.decode("utf-8"))
            good_wide += not p.isascii()
        except UnicodeDecodeError as e:
            col = len(p[: e.start].decode("utf-8", "replace")) + 1
            hint = "; it looks like GBK" if _legacy_chinese(p, 2) else ""
            undecodable[n] = f"not UTF-8 (byte 0x{p[e.start]:02X} at column {col}{hint}); the line is skipped"
            lines.append(p.decode("utf-8", "surrogateescape"))
            bad_raw.append(p)
    if not good_wide:  # no line is UTF-8 beyond ASCII: is the whole file in a legacy Chinese encoding?
        enc = _legacy_chinese(b"\n".join(bad_raw), 4)
        if enc:
            raise BatchInputError(f"{name}: is not UTF-8; it looks like {enc} (Chinese) text: {_convert_hint(name, enc)}")
    return lines, undecodable


def _legacy_chinese(data: bytes, min_chars: int) -> str | None:
    """"GBK" or "GB18030" when ``data`` decodes as one into at least ``min_chars`` characters, mostly Chinese
    (a stray byte in an otherwise ASCII line can decode as one Chinese character; that is not evidence)."""
    for enc in ("GBK", "GB18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        wide = sum(ord(c) >= 0x80 for c in text)
        return enc if wide >= min_chars and _cjk_share(text) >= 0.8 else None
    return None


def _bad_unicode(s: str) -> str | None:
    for c in s:
        if "\ud800" <= c <= "\udfff":
            return f"\\u{ord(c):04x}"
    return None


class _Collector:
    def __init__(self) -> None:
        self.good: list[BatchQuery] = []
        self.bad: list[BadLine] = []
        self.seen: set[str] = set()

    def bad_line(self, line: int, message: str) -> None:
        self.bad.append(BadLine(line, message))

    def add(self, line: int, qid: Any, query: Any) -> None:
        if not isinstance(query, str):
            self.bad_line(line, "empty query" if query is None else "'query' must be a string")
            return
        if not query.strip():
            self.bad_line(line, "empty query")
            return
        if qid is not None and (isinstance(qid, bool) or not isinstance(qid, (str, int, float))):
            self.bad_line(line, "'id' must be a string or a number")
            return
        for what, value in (("query", query), ("id", qid)):
            if isinstance(value, str) and (u := _bad_unicode(value)):
                self.bad_line(line, f"the {what} contains an unpaired surrogate ({u}): not valid Unicode text")
                return
        qid = str(qid) if qid is not None and str(qid).strip() else str(line)
        if qid in self.seen:
            self.bad_line(line, f"duplicate id {qid!r}")
            return
        self.seen.add(qid)
        self.good.append(BatchQuery(line, qid, query.strip()))


def read_queries(path: str | Path, fmt: str | None = None) -> tuple[list[BatchQuery], list[BadLine]]:
    """Read queries, collecting bad lines instead of stopping at the first.

    Args:
        path: the input file, or "-" for standard input.
        fmt: "jsonl", "csv" or "text"; detected from the extension when None.

    Returns:
        ``(good, bad)``, bad sorted by line.

    Raises:
        BatchInputError: the file cannot be used at all (missing, unreadable, a directory, binary, not UTF-8
            as a whole, a CSV header without a ``query`` column or naming a column twice).
    """
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r} (use jsonl, csv or text)")
    name = _display(path)
    lines, undecodable = _decode(_read_bytes(path), name)
    col = _Collector()
    if fmt == "jsonl":
        _parse_jsonl(lines, undecodable, col)
    elif fmt == "csv":
        _parse_csv(lines, undecodable, col, name)
    else:
        for n, line in enumerate(lines, 1):
            if n in undecodable:
                col.bad_line(n, undecodable[n])
            elif line.strip():
                col.add(n, n, line.lstrip("\ufeff"))
    return col.good, sorted(col.bad, key=lambda b: b.line)


def _parse_jsonl(lines: list[str], undecodable: dict[int, str], col: _Collector) -> None:
    for n, line in enumerate(lines, 1):
        if n in undecodable:
            col.bad_line(n, undecodable[n])
            continue
        line = line.lstrip("\ufeff")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            col.bad_line(n, f"invalid JSON ({e.msg} at column {e.colno})")
            continue
        except RecursionError:
            col.bad_line(n, "invalid JSON (nested too deeply)")
            continue
        except ValueError as e:  # an integer of more than sys.get_int_max_str_digits() digits
            why = "a number has too many digits" if "digits" in str(e) else str(e).split(":")[0]
            col.bad_line(n, f"invalid JSON ({why})")
            continue
        if not isinstance(obj, dict) or "query" not in obj:
            col.bad_line(n, 'expected an object with a "query" key')
            continue
        col.add(n, obj.get("id"), obj["query"])


def _unclosed_quote(lines: list[str], start: int, end: int, delim: str) -> int | None:
    """The line (1-based) where a quoted field opens and never closes in lines ``start..end``, else None."""
    in_quote, field_start, opened = False, True, None
    for ln in range(start, end + 1):
        s = lines[ln - 1]
        i = 0
        while i < len(s):
            c = s[i]
            if in_quote:
                if c == '"':
                    if s[i + 1 : i + 2] == '"':
                        i += 2
                        continue
                    in_quote = False
            elif c == '"' and field_start:
                in_quote, opened = True, ln
            field_start = not in_quote and c == delim
            i += 1
        if not in_quote:
            field_start = True
    return opened if in_quote else None


def _parse_csv(lines: list[str], undecodable: dict[int, str], col: _Collector, name: str) -> None:
    first = next((ln for ln in lines if ln.strip()), "")
    delim = "," if "," in first else next((d for d in (";", "\t") if d in first), ",")
    header: list[str] | None = None
    total = sum(len(ln) + 1 for ln in lines)
    old_limit = csv.field_size_limit()
    # a field can be as long as the file: no line is refused for its length alone
    csv.field_size_limit(min(max(old_limit, total + 1), 2**31 - 1))
    try:
        pos = 0  # index of the first line the current reader reads
        while pos < len(lines):
            reader = csv.reader((ln + "\n" for ln in itertools.islice(lines, pos, None)), delimiter=delim, strict=True)
            prev, restart = 0, None
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as e:
                    start, end = pos + prev + 1, pos + reader.line_num
                    opened = _unclosed_quote(lines, start, end, delim)
                    if opened is not None and end >= len(lines):
                        where, msg = opened, "unclosed quote: the quoted field that opens on this line never closes (it would swallow every following line)"
                    else:
                        where = opened or start
                        msg = f"malformed CSV ({e})" + (f" in the record running to line {end}" if end > where else "")
                    if header is None:
                        raise BatchInputError(f"{name}:{where}: CSV header: {msg}") from None
                    col.bad_line(where, msg)
                    restart = where  # go on with the line after the bad one
                    break
                start, end = pos + prev + 1, pos + reader.line_num
                prev = reader.line_num
                if not any(c.strip() for c in row):
                    continue
                bad = next((ln for ln in range(start, end + 1) if ln in undecodable), None)
                if header is None:
                    if bad is not None:
                        raise BatchInputError(f"{name}:{bad}: CSV header: {undecodable[bad]}")
                    header = _csv_header(row, name, start)
                    continue
                if bad is not None:
                    col.bad_line(bad, undecodable[bad])
                    continue
                if len(row) != len(header):
                    hint = " (quote a field that contains the delimiter)" if len(row) > len(header) else ""
                    col.bad_line(start, f"expected {len(header)} columns, found {len(row)}{hint}")
                    continue
                rec = dict(zip(header, row, strict=True))
                col.add(start, rec.get("id"), rec["query"])
            if restart is None:
                break
            pos = restart
    finally:
        csv.field_size_limit(old_limit)


def _csv_header(row: list[str], name: str, line: int) -> list[str]:
    header = [c.strip().lstrip("\ufeff").lower() for c in row]
    dups = sorted({c for c in header if c and header.count(c) > 1})
    if dups:
        raise BatchInputError(
            f"{name}:{line}: the CSV header names the column {', '.join(repr(d) for d in dups)} more than once; "
            "name each column once (query, and optionally id)"
        )
    if "query" not in header:
        found = ", ".join(repr(c) for c in header)
        raise BatchInputError(f"{name}:{line}: the CSV header must name a 'query' column (and optionally 'id'); found {found}")
    return header


# --- output checks -------------------------------------------------------------------------------------

_STREAM_NAMES = ("/dev/stdout", "/dev/stderr", "/dev/tty")


def _is_stream_name(out: str) -> bool:
    return out in _STREAM_NAMES or out.startswith(("/dev/fd/", "/proc/self/fd/"))


def _output_kind(output: str | os.PathLike[str] | None) -> str:
    """"stdout", "stream" (a FIFO, a character device, /dev/stdout …) or "file"."""
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
        raise BatchOutputError(f"cannot write {out}: the directory {d} does not exist (create it first)") from None
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
        raise BatchOutputError(f"cannot write {out}: cannot create files in {d} ({e.strerror or e})") from None


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
        raise BatchOutputError(f"{out} names a directory that does not exist; name the output file, e.g. {out}answers.jsonl")
    in_stats = []
    for inp in inputs:
        if inp is None or str(inp) == "-":
            continue
        with contextlib.suppress(OSError):
            in_stats.append((str(inp), os.stat(inp)))

    def same_as_input(st: os.stat_result, what: str) -> None:
        for inp, ist in in_stats:
            if (st.st_dev, st.st_ino) == (ist.st_dev, ist.st_ino):
                raise BatchOutputError(f"{what} is the input file {inp}: writing it would destroy the queries; choose another output file")

    try:
        st: os.stat_result | None = os.stat(out)
    except (FileNotFoundError, NotADirectoryError):
        st = None
    except OSError as e:
        raise BatchOutputError(f"cannot write {out}: {e.strerror or e}") from None
    if st is not None:
        same_as_input(st, out)
        if stat.S_ISDIR(st.st_mode):
            raise BatchOutputError(f"{out} is a directory; name a file for the output, e.g. {os.path.join(out, 'answers.jsonl')}")
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or _is_stream_name(out):
            if not os.access(out, os.W_OK):
                raise BatchOutputError(f"cannot write {out}: permission denied")
            return
        if not stat.S_ISREG(st.st_mode):
            raise BatchOutputError(f"{out} is not a regular file, a FIFO or a character device")
        if not os.access(out, os.W_OK):
            raise BatchOutputError(f"{out} is read-only; make it writable (chmod u+w) or choose another output file")
    with contextlib.suppress(OSError):
        same_as_input(os.stat(out + PARTIAL_SUFFIX), out + PARTIAL_SUFFIX)
    target = os.path.realpath(out)
    dirs = [os.path.dirname(target) or ".", os.path.dirname(os.path.abspath(out)) or "."]
    for d in dict.fromkeys(dirs):
        _check_dir(d, out)


# --- rendering -----------------------------------------------------------------------------------------


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _safe(text: Any) -> str:
    """``text`` with control and bidi-override characters shown as escapes, never sent to a terminal."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), str(text))


def render_record_text(rec: dict[str, Any], width: int = 100) -> str:
    """Readable rendering of one answer record (as ``pipeline search`` prints an answer), led by its id."""
    from pipeline.text import wrap_display

    lines = [f"[{_safe(rec.get('id', ''))}] Q: {_safe(rec.get('query', ''))}   [route: {rec.get('route', '')}]"]
    for w in rec.get("warnings") or []:
        lines.append(f"   warning: {_safe(w)}")
    results = rec.get("results") or []
    if not results:
        lines.append("   (no results)")
    for rank, h in enumerate(results, 1):
        scores = h.get("scores") or {}
        chan = " · ".join(f"{k} {v:.3f}" for k, v in scores.items() if k not in ("paragraph", "citation"))
        lines.append(f"{rank:>2}. ¶{h.get('paragraph')}  [{float(h.get('score', 0.0)):.3f}]  " + " › ".join(h.get("section") or []))
        if rec.get("route") == "paragraph":
            lines += wrap_display(h.get("text", ""), width, "      ", "      ")
        else:
            lines += wrap_display(f"» {h.get('answer', '')}", width, "      ", "        ")
        if h.get("match"):
            lines.append("      cites: " + ", ".join(f"{m.get('text')} ({m.get('where')})" for m in h["match"]))
            for fn in h.get("footnotes") or []:
                lines += wrap_display(f"[{fn.get('marker')}] {fn.get('text')}", width, "      ", "          ")
        if chan:
            lines.append(f"      {chan}")
    return "\n".join(lines)


def _csv_text(records: Iterable[dict[str, Any]], header: bool) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    if header:
        w.writerow(CSV_COLUMNS)
    for rec in records:
        results = rec.get("results") or []
        if not results:  # a query without results still gets a row, so no answered query disappears
            w.writerow([rec["id"], rec["query"], rec["route"], "", "", "", "", "", ""])
        for rank, r in enumerate(results, 1):
            w.writerow([
                rec["id"], rec["query"], rec["route"], rank, r["paragraph"], f"{r['score']:.4f}",
                " › ".join(r["section"]), r.get("answer", ""), r["text"],
            ])
    return buf.getvalue()


def _render(
    lines: Sequence[str], fmt: str, render_text: Callable[[dict[str, Any]], str] | None, header: bool
) -> str:
    """Output text for answer records given as their JSON lines (error records already left out)."""
    if fmt == "jsonl":
        return "".join(line + "\n" for line in lines)
    records = [json.loads(line) for line in lines]
    if fmt == "csv":
        return _csv_text(records, header)
    if fmt == "text":
        render = render_text or render_record_text
        return "".join(render(rec) + "\n\n" for rec in records)
    raise ValueError(f"unknown output format {fmt!r} (use jsonl, csv or text)")


# --- writing -------------------------------------------------------------------------------------------


def _umask() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(d: str) -> None:
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(d, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _atomic_file(output: str) -> Iterator[BinaryIO]:
    """A temporary file beside the (symlink-resolved) target; on success fsync'd, given the target's permission
    bits (``0666 & ~umask`` for a new file) and renamed over it. On an exception the target is untouched."""
    target = os.path.realpath(output)
    d = os.path.dirname(target) or "."
    try:
        st = os.stat(target)
        mode, owner = stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)
    except FileNotFoundError:
        mode, owner = 0o666 & ~_umask(), None
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f  # type: ignore[misc]
            f.flush()
            os.fchmod(f.fileno(), mode)
            if owner is not None and hasattr(os, "fchown"):
                with contextlib.suppress(OSError):
                    if (os.fstat(f.fileno()).st_uid, os.fstat(f.fileno()).st_gid) != owner:
                        os.fchown(f.fileno(), *owner)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(d)


class _Stream:
    """Standard output, a FIFO or a character device: written as it goes, never replaced."""

    def __init__(self, output: str | None) -> None:
        self.name = "standard output" if output is None or str(output) == "-" else str(output)
        self._own = None
        if self.name == "standard output":
            sys.stdout.flush()
            self._bin = getattr(sys.stdout, "buffer", None)
        else:
            try:
                self._own = open(str(output), "ab")  # noqa: SIM115 - closed in close()
            except OSError as e:
                raise BatchOutputError(f"cannot write {output}: {e.strerror or e}") from None
            self._bin = self._own

    def write(self, text: str) -> None:
        if not text:
            return
        if self._bin is None:
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            self._bin.write(text.encode("utf-8"))
            self._bin.flush()

    def close(self) -> None:
        if self._own is not None:
            self._own.close()


def write_results(records: Iterable[dict[str, Any]], out: str | Path | None, fmt: str = "jsonl") -> None:
    """Write result records as JSONL, CSV (one row per id and rank) or text.

    A file is written atomically (a symlink is written through, permission bits kept); standard output, a
    FIFO or a character device is written as a stream.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r} (use jsonl, csv or text)")

    def pieces() -> Iterator[str]:
        first = True
        for rec in records:
            yield _render([json.dumps(rec, ensure_ascii=False)], fmt, None, header=first)
            first = False
        if first and fmt == "csv":
            yield _csv_text([], header=True)

    if _output_kind(out) != "file":
        s = _Stream(None if out is None else str(out))
        try:
            for p in pieces():
                s.write(p)
        finally:
            s.close()
        return
    with _atomic_file(str(out)) as f:
        for p in pieces():
            f.write(p.encode("utf-8"))


# --- the side file of a running batch ------------------------------------------------------------------

_KEY_NAMES = {"input_sha256": "the input", "format": "--format", "chunk": "--chunk"}


def _header_diffs(stored: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    diffs = []
    for key in sorted(set(stored) | set(expected)):
        if key == "options":
            so, eo = stored.get("options") or {}, expected.get("options") or {}
            diffs += [f"{k} ({so.get(k)!r} then, {eo.get(k)!r} now)" for k in sorted(set(so) | set(eo)) if so.get(k) != eo.get(k)]
        elif stored.get(key) != expected.get(key):
            name = _KEY_NAMES.get(key, key)
            diffs.append(name if key == "input_sha256" else f"{name} ({stored.get(key)!r} then, {expected.get(key)!r} now)")
    return diffs


class _Partial:
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

    def open(self, header: dict[str, Any], resume: bool) -> list[tuple[str, bool]]:
        """Create the side file, or (``resume``) reopen it; return the committed ``(line, is_error)`` entries."""
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
                    f"an interrupted run left {self.path}; pass --resume to continue it, or delete {self.path} to start over"
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
            raise BatchOutputError(f"another `pipeline batch` run is writing {self.output} right now ({self.path} appeared)") from None
        except OSError as e:
            raise BatchOutputError(f"cannot create {self.path}: {e.strerror or e}") from None
        self._lock(fd)
        self.fd = fd
        self._append(header_line + "\n")
        _fsync_dir(os.path.dirname(os.path.abspath(self.path)) or ".")
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
            raise BatchOutputError(f"{self.path} is not a side file of `pipeline batch`; delete it or choose another output file")
        expected = json.loads(json.dumps(header))
        if stored != expected:
            raise BatchOutputError(
                f"cannot resume: {self.path} was written for another run (differs: {'; '.join(_header_diffs(stored, expected))}); "
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
                    raise BatchOutputError(f"{self.path} is damaged (line {garbage_at or lineno}); delete it to start over")
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
                f"cannot write {self.path}: {e.strerror or e}; the answers saved so far are kept: fix this and run again with --resume"
            ) from None

    def commit(self, lines: list[str]) -> None:
        self.count += len(lines)
        self._append("".join(line + "\n" for line in lines) + json.dumps({"committed": self.count}) + "\n")

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        _fsync_dir(os.path.dirname(os.path.abspath(self.path)) or ".")

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _queries_digest(queries: Sequence[BatchQuery]) -> str:
    h = hashlib.sha256()
    for q in queries:
        h.update(json.dumps([q.line, q.id, q.query], ensure_ascii=False).encode("utf-8", "surrogatepass") + b"\n")
    return h.hexdigest()


def _answer_chunk(
    answer: Callable[[list[str]], list[dict[str, Any]]], part: Sequence[BatchQuery]
) -> list[tuple[BatchQuery, str, str | None]]:
    """``(query, JSON line, error or None)`` for each query of ``part``."""
    recs = answer([q.query for q in part])
    if not isinstance(recs, list) or len(recs) != len(part):
        n = len(recs) if isinstance(recs, list) else type(recs).__name__
        raise RuntimeError(f"answer() returned {n} records for {len(part)} queries")
    out: list[tuple[BatchQuery, str, str | None]] = []
    for q, rec in zip(part, recs, strict=True):
        if "error" in rec:
            msg = str(rec["error"])
            out.append((q, json.dumps({"id": q.id, "error": msg}), msg))
            continue
        body = {"id": q.id, **{k: v for k, v in rec.items() if k != "id"}}
        try:
            line = json.dumps(body, ensure_ascii=False)
            line.encode("utf-8")
        except (UnicodeEncodeError, TypeError, ValueError) as e:
            msg = f"the answer cannot be written as UTF-8 JSON ({type(e).__name__})"
            out.append((q, json.dumps({"id": q.id, "error": msg}), msg))
            continue
        out.append((q, line, None))
    return out


def run_batch(
    queries: list[BatchQuery],
    answer: Callable[[list[str]], list[dict[str, Any]]],
    output: str | None,
    fmt: str,
    *,
    resume: bool,
    options: dict[str, Any],
    progress: Callable[[int], None] | None = None,
    render_text: Callable[[dict[str, Any]], str] | None = None,
    chunk: int = 64,
) -> BatchReport:
    """Answer ``queries`` ``chunk`` at a time and write the records to ``output``.

    Args:
        queries: from :func:`read_queries`.
        answer: maps a list of query strings to one record dict each, in order (``{"query", "route",
            "results"}``); a record with an ``"error"`` key means that query failed: it is reported in
            :attr:`BatchReport.bad` and left out of the output.
        output: a file, a FIFO or character device (streamed), or None / "-" for standard output (streamed).
        fmt: "jsonl", "csv" or "text".
        resume: continue from ``OUT.partial`` left by an interrupted run (a file output only).
        options: what else the answers depend on (e.g. k, mode, an index fingerprint); recorded in the side
            file, and a resume with other values is refused.
        progress: called with the number of queries finished (including those resumed), as they finish.
        render_text: renders one record for ``fmt="text"`` (default :func:`render_record_text`).
        chunk: queries answered, and saved, at a time.

    Returns:
        A :class:`BatchReport`. Each record gets the query's ``"id"`` as its first key.

    Raises:
        BatchOutputError: the output cannot be written, or the side file cannot be resumed (or exists and
            ``resume`` is false), or ``resume`` is asked for a stream. Answers already saved are kept.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r} (use jsonl, csv or text)")
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    kind = _output_kind(output)
    report = BatchReport()
    if kind != "file":
        if resume:
            where = "standard output" if kind == "stdout" else f"{output} (a FIFO or device, written as a stream)"
            raise BatchOutputError(f"--resume needs -o FILE: output to {where} cannot be resumed")
        stream = _Stream(output)
        try:
            if fmt == "csv":
                stream.write(_csv_text([], header=True))
            for start in range(0, len(queries), chunk):
                part = queries[start : start + chunk]
                entries = _answer_chunk(answer, part)
                _tally(report, entries)
                stream.write(_render([line for _, line, err in entries if err is None], fmt, render_text, header=False))
                if progress:
                    progress(len(part))
        finally:
            stream.close()
        return report

    out = str(output)
    partial = _Partial(out + PARTIAL_SUFFIX, out)
    header = {
        "pipeline_batch": PARTIAL_VERSION,
        "input_sha256": _queries_digest(queries),
        "format": fmt,
        "chunk": chunk,
        "options": options,
    }
    try:
        done = partial.open(header, resume)
        ids = [json.loads(line)["id"] for line, _ in done]
        if ids != [q.id for q in queries[: len(done)]]:
            raise BatchOutputError(f"{partial.path} does not match the input's ids; delete it to start over")
        for q, (line, is_error) in zip(queries, done, strict=False):
            if is_error:
                report.bad.append(BadLine(q.line, str(json.loads(line)["error"])))
            else:
                report.answered += 1
        report.resumed = len(done)
        if progress and done:
            progress(len(done))
        try:
            for start in range(len(done), len(queries), chunk):
                part = queries[start : start + chunk]
                entries = _answer_chunk(answer, part)
                partial.commit([line for _, line, _ in entries])
                done += [(line, err is not None) for _, line, err in entries]
                _tally(report, entries)
                if progress:
                    progress(len(part))
            text = _render([line for line, is_error in done if not is_error], fmt, render_text, header=True)
            try:
                with _atomic_file(out) as f:
                    f.write(text.encode("utf-8"))
            except OSError as e:
                raise BatchOutputError(
                    f"cannot write {out}: {e.strerror or e}; the answers are kept in {partial.path}: fix this and run again with --resume"
                ) from None
        except BaseException as e:
            if not isinstance(e, BatchOutputError):
                print(
                    f"pipeline: the answers so far are saved in {partial.path}; run the same command with --resume to continue",
                    file=sys.stderr,
                )
            raise
        partial.remove()
    finally:
        partial.close()
    return report


def _tally(report: BatchReport, entries: list[tuple[BatchQuery, str, str | None]]) -> None:
    for q, _, err in entries:
        if err is None:
            report.answered += 1
        else:
            report.bad.append(BadLine(q.line, err))


def index_fingerprint(cfg: Any) -> str:
    """A fingerprint of what answers depend on besides the query: the package version, every setting of
    ``cfg`` and the corpus files' bytes (indexes are built from these, and a stale index is refused)."""
    from pipeline import __version__

    def plain(value: Any) -> Any:  # never a repr with a memory address, which would differ in every process
        return str(value) if isinstance(value, (str, int, float, bool, type(None), os.PathLike)) else type(value).__name__

    h = hashlib.sha256()
    settings = {f.name: plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)} if dataclasses.is_dataclass(cfg) else {}
    h.update(json.dumps({"version": __version__, "settings": settings}, sort_keys=True).encode("utf-8"))
    corpus = getattr(cfg, "corpus_dir", None)
    if corpus is not None and os.path.isdir(corpus):
        for p in sorted(Path(corpus).iterdir()):
            if p.is_file():
                h.update(p.name.encode("utf-8") + b"\0")
                with contextlib.suppress(OSError):
                    h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()
