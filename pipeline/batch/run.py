"""The batch run loop: answer the queries a chunk at a time and send the records to the output.

To standard output, a FIFO or a character device the answers are streamed chunk by chunk. To a file ``OUT``,
each chunk is committed to the side file ``OUT.partial`` (:mod:`pipeline.batch.resume`); at the end ``OUT`` is
written atomically and the side file removed. An interrupted run leaves ``OUT`` untouched and ``OUT.partial``
behind; ``resume=True`` answers only what is missing, and the final file is byte-identical to that of an
uninterrupted run. Without ``resume``, an existing side file is refused, so an interrupted run is never
overwritten by accident. The answers' warnings (a truncated query, a paragraph that does not exist …) are
collected by query line in :attr:`BatchReport.warnings`, those of resumed answers too.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pipeline.batch.output import (
    PARTIAL_SUFFIX,
    BatchOutputError,
    Stream,
    check_format,
    csv_text,
    output_kind,
    render_lines,
    replace_file,
)
from pipeline.batch.read import BadLine, BatchQuery
from pipeline.batch.resume import SideFile, side_file_header
from pipeline.render import json_text

Answerer = Callable[[list[str]], list[dict[str, Any]]]


@dataclass
class BatchReport:
    """What :func:`run_batch` did.

    Attributes:
        answered: queries answered (including those taken from a resumed side file).
        bad: queries whose answer was an error, as ``BadLine(query line, error)``.
        resumed: queries whose records came from the side file of an interrupted run.
        warnings: the answers' warnings, as ``BadLine(query line, warning)``, in input order.
    """

    answered: int = 0
    bad: list[BadLine] = field(default_factory=list)
    resumed: int = 0
    warnings: list[BadLine] = field(default_factory=list)

    def tally(self, entries: list[_Entry]) -> None:
        """Count the entries of one answered chunk (see :func:`_answer_chunk`)."""
        for e in entries:
            if e.error is None:
                self.answered += 1
                self.warnings += [BadLine(e.query.line, w) for w in e.warnings]
            else:
                self.bad.append(BadLine(e.query.line, e.error))


class _Entry(NamedTuple):
    """One query's outcome: its JSON line, the error that kept it out of the output, its answer's warnings."""

    query: BatchQuery
    line: str
    error: str | None
    warnings: list[str]


def _warnings_of(rec: dict[str, Any]) -> list[str]:
    ws = rec.get("warnings")
    return [str(w) for w in ws] if isinstance(ws, list) else []


def _answer_chunk(answer: Answerer, part: Sequence[BatchQuery]) -> list[_Entry]:
    """An :class:`_Entry` for each query of ``part``."""
    recs = answer([q.query for q in part])
    if not isinstance(recs, list) or len(recs) != len(part):
        n = len(recs) if isinstance(recs, list) else type(recs).__name__
        raise RuntimeError(f"answer() returned {n} records for {len(part)} queries")
    out: list[_Entry] = []
    for q, rec in zip(part, recs, strict=True):
        if "error" in rec:
            msg = str(rec["error"])
            out.append(_Entry(q, json.dumps({"id": q.id, "error": msg}), msg, []))
            continue
        body = {"id": q.id, **{k: v for k, v in rec.items() if k != "id"}}
        try:
            line = json_text(body)  # DEL and C1 escaped too: a JSONL batch on a terminal cannot drive it
            line.encode("utf-8")
        except (UnicodeEncodeError, TypeError, ValueError) as e:
            msg = f"the answer cannot be written as UTF-8 JSON ({type(e).__name__})"
            out.append(_Entry(q, json.dumps({"id": q.id, "error": msg}), msg, []))
            continue
        out.append(_Entry(q, line, None, _warnings_of(rec)))
    return out


def run_batch(
    queries: list[BatchQuery],
    answer: Answerer,
    output: str | None,
    fmt: str,
    *,
    resume: bool,
    options: dict[str, Any],
    progress: Callable[[int], None] | None = None,
    render_text: Callable[[dict[str, Any]], str] | None = None,
    chunk: int = 64,
    bom: bool = False,
) -> BatchReport:
    """Answer ``queries`` ``chunk`` at a time and write the records to ``output``.

    Args:
        queries: from :func:`~pipeline.batch.read.read_queries`.
        answer: maps a list of query strings to one record dict each, in order (``{"query", "route",
            "results"}``); a record with an ``"error"`` key means that query failed: it is reported in
            :attr:`BatchReport.bad` and left out of the output.
        output: a file, a FIFO or character device (streamed), or None / "-" for standard output (streamed).
        fmt: "jsonl", "csv" or "text".
        resume: continue from ``OUT.partial`` left by an interrupted run (a file output only).
        options: what else the answers depend on (e.g. k, mode, an index fingerprint); recorded in the side
            file, and a resume with other values is refused.
        progress: called with the number of queries finished (including those resumed), as they finish.
        render_text: renders one record for ``fmt="text"`` (default :func:`pipeline.render.record_text`).
        chunk: queries answered, and saved, at a time.
        bom: start the output with a UTF-8 byte order mark (for a CSV that Excel opens as UTF-8).

    Returns:
        A :class:`BatchReport`. Each record gets the query's ``"id"`` as its first key.

    Raises:
        BatchOutputError: the output cannot be written, or the side file cannot be resumed (or exists and
            ``resume`` is false), or ``resume`` is asked for a stream. Answers already saved are kept.
    """
    check_format(fmt)
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    kind = output_kind(output)
    report = BatchReport()
    if kind != "file":
        if resume:
            where = (
                "standard output" if kind == "stdout" else f"{output} (a FIFO or device, written as a stream)"
            )
            raise BatchOutputError(f"--resume needs -o FILE: output to {where} cannot be resumed")
        stream = Stream(output)
        try:
            stream.write(("\ufeff" if bom else "") + (csv_text([], header=True) if fmt == "csv" else ""))
            for start in range(0, len(queries), chunk):
                part = queries[start : start + chunk]
                entries = _answer_chunk(answer, part)
                report.tally(entries)
                stream.write(
                    render_lines([e.line for e in entries if e.error is None], fmt, render_text, header=False)
                )
                if progress:
                    progress(len(part))
        finally:
            stream.close()
        return report

    out = str(output)
    partial = SideFile(out + PARTIAL_SUFFIX, out)
    try:
        done = partial.open(side_file_header(queries, fmt, chunk, options), resume)
        ids = [json.loads(line)["id"] for line, _ in done]
        if ids != [q.id for q in queries[: len(done)]]:
            raise BatchOutputError(f"{partial.path} does not match the input's ids; delete it to start over")
        for q, (line, is_error) in zip(queries, done, strict=False):
            if is_error:
                report.bad.append(BadLine(q.line, str(json.loads(line)["error"])))
            else:
                report.answered += 1
                report.warnings += [BadLine(q.line, w) for w in _warnings_of(json.loads(line))]
        report.resumed = len(done)
        if progress and done:
            progress(len(done))
        try:
            for start in range(len(done), len(queries), chunk):
                part = queries[start : start + chunk]
                entries = _answer_chunk(answer, part)
                partial.commit([e.line for e in entries])
                done += [(e.line, e.error is not None) for e in entries]
                report.tally(entries)
                if progress:
                    progress(len(part))
            text = render_lines(
                [line for line, is_error in done if not is_error], fmt, render_text, header=True
            )
            try:
                with replace_file(out) as f:
                    f.write((("\ufeff" if bom else "") + text).encode("utf-8"))
            except OSError as e:
                raise BatchOutputError(
                    f"cannot write {out}: {e.strerror or e}; the answers are kept in {partial.path}: "
                    "fix this and run again with --resume"
                ) from None
        except BaseException as e:
            if not isinstance(e, BatchOutputError):
                print(
                    f"pipeline: the answers so far are saved in {partial.path}; "
                    "run the same command with --resume to continue",
                    file=sys.stderr,
                )
            raise
        partial.remove()
    finally:
        partial.close()
    return report
