"""Command line: parses arguments and prints; every behaviour lives in the modules below it.

Heavy libraries (torch, sentence-transformers, jieba) are imported only inside the commands that need them,
so ``pipeline paragraphs`` and ``pipeline cite`` start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from pipeline import __version__
from pipeline.config import Config

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2


class UserError(Exception):
    """An error caused by the user's input: printed as one clear line, exit code 2."""


def _print_json(obj: object) -> None:
    json.dump(obj, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _parse_numbers(specs: list[str]) -> list[int]:
    out: list[int] = []
    for spec in specs:
        for part in spec.replace("，", ",").split(","):
            part = part.strip()
            if not part:
                continue
            lo, sep, hi = part.partition("-")
            try:
                a = int(lo)
                b = int(hi) if sep else a
            except ValueError:
                raise UserError(f"not a paragraph number or range: {part!r} (use e.g. 23, 15-17 or 3,5)") from None
            if b < a:
                raise UserError(f"empty range {part!r}: the first number must not exceed the second")
            out.extend(range(a, b + 1))
    return out


def format_paragraph(p: object, width: int = 100) -> str:
    """Readable rendering of one paragraph: number, section path, text, items, footnotes."""
    from pipeline.corpus import Paragraph
    from pipeline.text import wrap_display

    assert isinstance(p, Paragraph)
    text = p.text
    for fn in sorted(p.footnotes, key=lambda f: -f.offset):  # show each marker where it was printed
        if 0 <= fn.offset <= len(text):
            text = text[: fn.offset] + f"[{fn.marker}]" + text[fn.offset :]
    lines = [f"¶{p.number}  " + " › ".join(p.section)]
    lines += wrap_display(text, width)
    for it in p.items:
        lines += wrap_display(f"({it.label}) {it.text}", width, "  ", "      ")
    if p.footnotes:
        lines.append("  ────")
    for fn in p.footnotes:
        lines += wrap_display(f"[{fn.marker}] {fn.text}", width, "  ", "      ")
    return "\n".join(lines)


def cmd_paragraphs(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.ingest import load_corpus

    corpus = load_corpus(cfg)
    if args.numbers:
        try:
            paras = [corpus.paragraph(n) for n in _parse_numbers(args.numbers)]
        except KeyError as e:
            raise UserError(e.args[0]) from None
    else:
        paras = corpus.paragraphs
    if args.json:
        _print_json([p.to_dict() for p in paras])
    else:
        print("\n\n".join(format_paragraph(p) for p in paras))
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipeline",
        description=(
            "Find the numbered paragraphs of a UN report (CTOC/COP/2012/7, Chinese text) that answer a "
            "question in Chinese or English, look up paragraphs and citations, and answer files of questions."
        ),
        epilog="Run `pipeline COMMAND --help` for each command's options.",
    )
    parser.add_argument("--version", action="version", version=f"pipeline {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "paragraphs",
        help="print paragraphs by number (all when none given)",
        description="Print the report's numbered paragraphs: number, section path, text, items, footnotes.",
    )
    p.add_argument("numbers", nargs="*", help="paragraph numbers or ranges: 23, 15-17, 3,5")
    p.add_argument("--json", action="store_true", help="print a JSON array (number, section, text, items, footnotes, sentences)")
    p.set_defaults(func=cmd_paragraphs)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pipeline`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    cfg = Config()
    func: Callable[[argparse.Namespace, Config], int] = args.func
    from pipeline.ingest import IngestError
    from pipeline.store import MissingIndexError, StaleIndexError

    try:
        return func(args, cfg)
    except (UserError, IngestError, StaleIndexError, MissingIndexError) as e:
        print(f"pipeline: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
