"""Batch question answering: read a file of questions, answer the good lines, report the bad ones.

The data flows through one module per job:

* :mod:`~pipeline.batch.decode` — a file's bytes to lines of text (UTF-8; a Chinese GB18030/GBK file is read
  with a warning); a file that cannot be used at all (missing, unreadable, a directory, binary, UTF-16/32)
  raises :class:`BatchInputError`.
* :mod:`~pipeline.batch.read` — lines to :class:`BatchQuery` s (JSONL, CSV or plain text); a bad line becomes
  a :class:`BadLine` (``FILE:LINE: reason``) and every other line is still answered.
* :mod:`~pipeline.batch.output` — :func:`check_output` refuses an output that cannot be written, before any
  question is answered (:class:`BatchOutputError`); records are rendered (JSONL, CSV, text) and written
  atomically to a file, or streamed to standard output, a FIFO or a device.
* :mod:`~pipeline.batch.resume` — the side file ``OUT.partial`` that lets an interrupted run be resumed.
* :mod:`~pipeline.batch.run` — :func:`run_batch`, the loop that answers a chunk at a time.

Both errors are :class:`~pipeline.errors.UserError` s: the command line reports them with exit code 2.
"""

from __future__ import annotations

from pipeline.batch.decode import BatchInputError, BatchInputWarning
from pipeline.batch.output import CSV_COLUMNS, PARTIAL_SUFFIX, BatchOutputError, check_output, write_results
from pipeline.batch.read import FORMATS, BadLine, BatchQuery, detect_format, parse_queries, read_queries
from pipeline.batch.resume import index_fingerprint
from pipeline.batch.run import BatchReport, run_batch

__all__ = [
    "CSV_COLUMNS",
    "FORMATS",
    "PARTIAL_SUFFIX",
    "BadLine",
    "BatchInputError",
    "BatchInputWarning",
    "BatchOutputError",
    "BatchQuery",
    "BatchReport",
    "check_output",
    "detect_format",
    "index_fingerprint",
    "parse_queries",
    "read_queries",
    "run_batch",
    "write_results",
]
