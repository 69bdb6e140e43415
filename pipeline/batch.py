"""Batch question answering: read a file of questions, answer the good lines, report the bad ones.

Input formats (chosen by extension, or ``fmt``): JSONL (``{"id": …, "query": …}`` per line), CSV (columns
``id,query`` with a header) or plain text (one query per line, id = line number). A malformed line is
reported with its line number and skipped; every good line is still answered. Output is written atomically
(temporary file, then rename), so an interrupted run never leaves a truncated file.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.store import atomic_open


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
    """"jsonl", "csv" or "text" from the file name."""
    suffix = Path(path).suffix.lower()
    return {".jsonl": "jsonl", ".json": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}.get(suffix, "text")


def read_queries(path: str | Path, fmt: str | None = None) -> tuple[list[BatchQuery], list[BadLine]]:
    """Read queries, collecting bad lines instead of stopping at the first.

    Args:
        path: the input file, or "-" for standard input.
        fmt: "jsonl", "csv" or "text"; detected from the extension when None.

    Returns:
        ``(good, bad)``.
    """
    fmt = fmt or detect_format(path)
    if str(path) == "-":
        raw = sys.stdin.buffer.read()
    else:
        raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        return [], [BadLine(line, "not UTF-8 text")]
    good: list[BatchQuery] = []
    bad: list[BadLine] = []
    seen: set[str] = set()

    def add(line: int, qid: Any, query: Any) -> None:
        if not isinstance(query, str) or not query.strip():
            bad.append(BadLine(line, "empty query" if isinstance(query, str) or query is None else "'query' must be a string"))
            return
        qid = str(qid) if qid is not None and str(qid).strip() else str(line)
        if qid in seen:
            bad.append(BadLine(line, f"duplicate id {qid!r}"))
            return
        seen.add(qid)
        good.append(BatchQuery(line, qid, query.strip()))

    if fmt == "jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                bad.append(BadLine(n, f"invalid JSON ({e.msg})"))
                continue
            if not isinstance(obj, dict) or "query" not in obj:
                bad.append(BadLine(n, 'expected an object with a "query" key'))
                continue
            add(n, obj.get("id"), obj["query"])
    elif fmt == "csv":
        reader = csv.reader(io.StringIO(text))
        header: list[str] | None = None
        for row in reader:
            n = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if header is None:
                header = [c.strip().lower() for c in row]
                if "query" not in header:
                    bad.append(BadLine(n, "CSV header must name a 'query' column (and optionally 'id')"))
                    return good, bad
                continue
            if len(row) != len(header):
                bad.append(BadLine(n, f"expected {len(header)} columns, found {len(row)}"))
                continue
            rec = dict(zip(header, row, strict=True))
            add(n, rec.get("id"), rec["query"])
    elif fmt == "text":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                add(n, n, line)
    else:
        raise ValueError(f"unknown input format {fmt!r} (use jsonl, csv or text)")
    return good, bad


def write_results(records: Iterable[dict[str, Any]], out: str | Path | None, fmt: str = "jsonl") -> None:
    """Write result records as JSONL or CSV (one row per id and rank); atomically when ``out`` is a path."""
    if out is None or str(out) == "-":
        _write(records, sys.stdout, fmt)
        return
    with atomic_open(out, "w") as f:
        _write(records, f, fmt)


CSV_COLUMNS = ["id", "query", "route", "rank", "paragraph", "score", "section", "answer", "text"]


def _write(records: Iterable[dict[str, Any]], f: Any, fmt: str) -> None:
    if fmt == "jsonl":
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    elif fmt == "csv":
        w = csv.writer(f, lineterminator="\n")
        w.writerow(CSV_COLUMNS)
        for rec in records:
            for rank, r in enumerate(rec["results"], 1):
                w.writerow([
                    rec["id"], rec["query"], rec["route"], rank, r["paragraph"], f"{r['score']:.4f}",
                    " › ".join(r["section"]), r.get("answer", ""), r["text"],
                ])
    else:
        raise ValueError(f"unknown output format {fmt!r} (use jsonl or csv)")
