"""What the command groups share: output, the argument parser class, shared options, error handling.

The group modules (:mod:`pipeline.cli.search`, :mod:`~pipeline.cli.batch`, :mod:`~pipeline.cli.library`,
:mod:`~pipeline.cli.models`, :mod:`~pipeline.cli.serve`) import this module and never :mod:`pipeline.cli`
itself. Only light modules are imported here: a paragraph lookup must start without jieba or torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pipeline.config import Config, parse_overrides
from pipeline.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PipelineError
from pipeline.layout import LANGS
from pipeline.plan import MODES
from pipeline.render import json_text, safe

if TYPE_CHECKING:
    from pipeline.retrieve import Retriever

Command = Callable[[argparse.Namespace, Config], int]
"""A command: takes the parsed arguments and the settings, prints, returns the exit code."""

T = TypeVar("T")

HOME_HELP = (
    "Files live under a home folder: corpus/ (the report, documents.json, userdict.txt, glossary.tsv) and "
    "indexes/ (everything `pipeline build` makes). The home is $PIPELINE_HOME, else the checkout pipeline "
    "was installed from, else the current folder."
)


# --------------------------------------------------------------------------- output


def _print_json(obj: object) -> None:
    """Print ``obj`` as indented JSON on standard output: non-ASCII characters as they are, every control
    character escaped (JSON escapes C0 itself; DEL and C1 are escaped here), so no report text can drive
    the terminal."""
    sys.stdout.write(json_text(obj, indent=2) + "\n")


def _warn(message: str) -> None:
    """Print ``pipeline: warning: MESSAGE`` on standard error (control characters shown as escapes)."""
    print(f"pipeline: warning: {safe(message)}", file=sys.stderr)


def _retriever(cfg: Config) -> Retriever:
    """The retriever the commands search with (imported here: ``pipeline.retrieve`` is not light). It only
    loads; :func:`_build_missing` builds what a never-built home lacks."""
    from pipeline.retrieve import Retriever

    return Retriever.from_config(cfg)


def _build_missing(cfg: Config, r: Retriever, mode: str) -> bool:
    """The first use of a home: build the indexes its reports do not have yet (the dense ones too unless
    ``mode`` is lexical), saying so on stderr; True when something was built. A stale or damaged index is not
    touched: the search refuses it and names ``pipeline build``."""
    from pipeline.build import build_missing

    return bool(
        build_missing(
            cfg, r.library, dense=mode != "lexical", log=lambda message: print(message, file=sys.stderr)
        )
    )


def _answering(cfg: Config, mode: str, answer: Callable[[Retriever], T]) -> T:
    """``answer(retriever)``; in a home whose indexes were never built, build them once and answer again."""
    from pipeline.errors import MissingIndexError

    r = _retriever(cfg)
    try:
        return answer(r)
    except MissingIndexError:
        if not _build_missing(cfg, r, mode):
            raise
    return answer(_retriever(cfg))


# --------------------------------------------------------------------------- parsing


def _k(text: str) -> int:
    """``-k``'s type: a whole number from 1 to 1000."""
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= k <= 1000:
        raise argparse.ArgumentTypeError(f"must be from 1 to 1000, got {k}")
    return k


class _Parser(argparse.ArgumentParser):
    """argparse with a hint for queries that start with '-' and the project's exit code for usage errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        hint = ""
        if (
            "required: query" in message
            or "required: ref" in message
            or "unrecognized arguments: -" in message
        ):
            hint = "\n  (a query that starts with '-' goes after --, e.g. `pipeline search -- -pirates`)"
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint}\n")


def add_filters(p: argparse.ArgumentParser, parallel: bool = True) -> None:
    """Add ``--doc`` and ``--lang`` (which documents and versions to search), and ``--parallel`` if asked."""
    p.add_argument(
        "--doc",
        action="append",
        metavar="SYMBOL",
        help="only this document (repeatable), e.g. --doc CTOC/COP/2012/7; default: the whole library",
    )
    p.add_argument("--lang", choices=LANGS, help="only the documents' versions in this language")
    if parallel:
        p.add_argument(
            "--parallel",
            action="store_true",
            help="show each hit's paragraph in the document's other language versions (same number), "
            "its sentences aligned with the hit's and the answer's counterpart marked",
        )


def add_backend(p: argparse.ArgumentParser) -> None:
    """Add ``--backend`` and the ``--qdrant-*`` options (settings of the same names)."""
    p.add_argument(
        "--backend",
        choices=("local", "qdrant"),
        help="where the channels are searched: local (the in-process indexes, default) or qdrant "
        "(a collection `pipeline build --backend qdrant` uploaded the library to)",
    )
    p.add_argument(
        "--qdrant-url",
        metavar="LOCATION",
        help="http(s)://HOST:6333 (a server), a directory (qdrant-client's local mode), :memory:, "
        "or edge:DIR (Qdrant Edge in-process); the setting qdrant_url",
    )
    p.add_argument("--qdrant-collection", metavar="NAME", help="collection name (default: pipeline)")
    p.add_argument(
        "--qdrant-partitions",
        metavar="N",
        help="build: split the sentence vectors into N partitions so the dense channel finds "
        "candidates by sentence (large libraries: about sentences/1000; default 0: HNSW on "
        "paragraph vectors)",
    )
    p.add_argument(
        "--qdrant-probe",
        metavar="N",
        help="search: partitions scanned per question on a partitioned collection (default 28)",
    )


def add_common(p: argparse.ArgumentParser, k: int | None = None) -> None:
    """Add ``-k`` (default ``k``, else the top_k setting) and ``--mode``."""
    default = f"default {k}" if k else "default: the top_k setting, 5"
    p.add_argument("-k", "--k", type=_k, default=k, help=f"results per question, 1-1000 ({default})")
    p.add_argument("--mode", choices=MODES, default="hybrid", help="retrieval channel(s) (default hybrid)")


# --------------------------------------------------------------------------- settings and errors


def make_config(args: argparse.Namespace) -> Config:
    """Config from defaults, the global options and ``--set KEY=VALUE`` overrides (typed and validated)."""
    overrides = parse_overrides(args.set)
    for key in (
        "model",
        "query_prompt",
        "passage_prompt",
        "backend",
        "qdrant_url",
        "qdrant_collection",
        "qdrant_partitions",
        "qdrant_probe",
    ):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    return Config().with_overrides(overrides)


def run_command(func: Command, args: argparse.Namespace) -> int:
    """Run a command with the settings ``args`` give, turning expected failures into exit codes.

    A :class:`~pipeline.errors.PipelineError` ends as one ``pipeline: error: …`` line and its exit code
    (an output that cannot be written is one: :class:`~pipeline.cli.streams.OutputError`, exit code 2),
    Ctrl-C as ``pipeline: interrupted`` and 130, a broken pipe (``| head -1``) as success; anything else is
    a bug and keeps its traceback. Standard output is flushed before the command counts as done, so a
    write that fails at the end is reported like one that fails in the middle.
    """
    try:
        decode_text_args(args)
        cfg = make_config(args)
        code = func(args, cfg)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        print("pipeline: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PipelineError as e:
        print(f"pipeline: error: {safe(str(e))}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:
        return EXIT_OK


TEXT_ARGS = {
    "query": "the query",
    "ref": "the reference",
    "numbers": "the paragraph numbers",
    "doc": "--doc",
    "symbol": "the document symbol",
    "title": "--title",
    "set": "--set",
    "query_prompt": "--query-prompt",
    "passage_prompt": "--passage-prompt",
}
"""The arguments that are text (never paths: a path's bytes are the file's name whatever they are), with the
name an error gives them."""


def decode_text_args(args: argparse.Namespace) -> None:
    """Turn the text arguments of ``args`` (:data:`TEXT_ARGS`) that a non-UTF-8 locale left undecoded back
    into text, in place (:func:`pipeline.cli.streams.arg_text`).

    Raises:
        UserError: an argument whose bytes are not UTF-8.
    """
    from pipeline.cli.streams import arg_text

    for key, what in TEXT_ARGS.items():
        value = getattr(args, key, None)
        if isinstance(value, str):
            setattr(args, key, arg_text(value, what))
        elif isinstance(value, list):
            setattr(args, key, [arg_text(v, what) if isinstance(v, str) else v for v in value])
