"""Parse a query file into queries, collecting the bad lines instead of stopping at the first.

Formats (chosen by extension, or ``fmt``): JSONL (``{"id": …, "query": …}`` per line), CSV (a header naming a
``query`` column and optionally an ``id`` column; ``,``, ``;`` or tab as delimiter) or plain text (one query
per line, id = line number). The bytes are read and decoded by :mod:`pipeline.batch.decode` (a GB18030/GBK
file is read with a warning given to ``warn``).

A bad line becomes a :class:`BadLine` (``FILE:LINE: reason``): a line that is not UTF-8, invalid JSON
(including nesting too deep and numbers too long), an unpaired surrogate, an empty query, a duplicate id, a
CSV row with the wrong number of columns or an unclosed quote (reported at the line where the quote opened). A
CSV header without a ``query`` column or naming a column twice raises :class:`BatchInputError`.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.batch.decode import BatchInputError, Warn, decode_bytes, display_name, read_lines

FORMATS = ("jsonl", "csv", "text")


@dataclass(frozen=True)
class BatchQuery:
    line: int
    id: str
    query: str


@dataclass(frozen=True)
class BadLine:
    line: int
    message: str


def detect_format(path: str | Path) -> str:
    """ "jsonl", "csv" or "text" from the file name."""
    suffix = Path(path).suffix.lower()
    return {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}.get(suffix, "text")


def read_queries(
    path: str | Path, fmt: str | None = None, *, warn: Warn | None = None
) -> tuple[list[BatchQuery], list[BadLine]]:
    """Read queries, collecting bad lines instead of stopping at the first.

    Args:
        path: the input file, or "-" for standard input.
        fmt: "jsonl", "csv" or "text"; detected from the extension when None.
        warn: told, with a message naming the file, when the file is read as GB18030 instead of UTF-8
            (default: a :class:`~pipeline.batch.decode.BatchInputWarning`).

    Returns:
        ``(good, bad)``, bad sorted by line.

    Raises:
        BatchInputError: the file cannot be used at all (missing, unreadable, a directory, binary, not UTF-8
            as a whole, a CSV header without a ``query`` column or naming a column twice).
    """
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r} (use jsonl, csv or text)")
    lines, undecodable = read_lines(path, warn)
    return parse_lines(lines, undecodable, fmt, display_name(path))


def parse_queries(
    raw: bytes, fmt: str, name: str = "<body>", *, warn: Warn | None = None
) -> tuple[list[BatchQuery], list[BadLine]]:
    """Like :func:`read_queries`, for bytes already in memory (an HTTP request body).

    Raises:
        BatchInputError: naming ``name``, when the bytes cannot be used at all.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r} (use jsonl, csv or text)")
    lines, undecodable = decode_bytes(raw, name, warn)
    return parse_lines(lines, undecodable, fmt, name)


def parse_lines(
    lines: list[str], undecodable: dict[int, str], fmt: str, name: str
) -> tuple[list[BatchQuery], list[BadLine]]:
    """Queries and bad lines from decoded lines (see :func:`read_queries`)."""
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
                self.bad_line(
                    line, f"the {what} contains an unpaired surrogate ({u}): not valid Unicode text"
                )
                return
        qid = str(qid) if qid is not None and str(qid).strip() else str(line)
        if qid in self.seen:
            self.bad_line(line, f"duplicate id {qid!r}")
            return
        self.seen.add(qid)
        self.good.append(BatchQuery(line, qid, query.strip()))


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
            reader = csv.reader(
                (ln + "\n" for ln in itertools.islice(lines, pos, None)), delimiter=delim, strict=True
            )
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
                        where, msg = (
                            opened,
                            "unclosed quote: the quoted field that opens on this line never closes "
                            "(it would swallow every following line)",
                        )
                    else:
                        where = opened or start
                        msg = f"malformed CSV ({e})" + (
                            f" in the record running to line {end}" if end > where else ""
                        )
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
            f"{name}:{line}: the CSV header names the column "
            f"{', '.join(repr(d) for d in dups)} more than once; "
            "name each column once (query, and optionally id)"
        )
    if "query" not in header:
        found = ", ".join(repr(c) for c in header)
        raise BatchInputError(
            f"{name}:{line}: the CSV header must name a 'query' column (and optionally 'id'); found {found}"
        )
    return header
