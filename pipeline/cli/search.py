"""The lookup commands: ``paragraphs`` (by number), ``search`` (one query) and ``cite`` (a reference)."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli.common import (
    _answering,
    _print_json,
    _retriever,
    _warn,
    add_backend,
    add_common,
    add_filters,
)
from pipeline.config import Config
from pipeline.errors import EXIT_OK, EXIT_PARTIAL, UserError


def _parse_numbers(specs: list[str]) -> list[int]:
    """Paragraph numbers from arguments such as ``23``, ``15-17`` or ``3,5`` (full-width commas too).

    Raises:
        UserError: a part that is not a number or range, a range that runs backwards or one over 10,000 long.
    """
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
                raise UserError(
                    f"not a paragraph number or range: {part!r} (use e.g. 23, 15-17 or 3,5)"
                ) from None
            if b < a:
                raise UserError(f"empty range {part!r}: the first number must not exceed the second")
            if b - a > 10_000:
                raise UserError(f"range {part!r} is too long")
            out.extend(range(a, b + 1))
    return out


def _annex_part(annex: str | None) -> str:
    """The part ``--annex`` names: ``""`` (the body) without it, ``"annex"`` or ``"annex II"`` with it."""
    if annex is None:
        return ""
    annex = annex.strip()
    return "annex" + (f" {annex.upper()}" if annex and annex.lower() != "annex" else "")


def cmd_paragraphs(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline paragraphs``: print paragraphs by number (all of them when none is given)."""
    from pipeline.render import paragraph_text

    r = _retriever(cfg)
    numbers = _parse_numbers(args.numbers) if args.numbers else None
    part = _annex_part(args.annex)
    if args.json:
        _print_json(r.paragraph_records(numbers, docs=args.doc, lang=args.lang, part=part))
    else:
        paragraphs = r.paragraphs(numbers, docs=args.doc, lang=args.lang, part=part)
        print("\n\n".join(paragraph_text(p) for p in paragraphs))
    return EXIT_OK


def cmd_search(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline search``: answer one query."""
    from pipeline.render import answer_text

    ans = _answering(
        cfg,
        args.mode,
        lambda r: r.search(
            " ".join(args.query),
            k=args.k,
            mode=args.mode,
            docs=args.doc,
            lang=args.lang,
            parallel=args.parallel,
        ),
    )
    for w in ans.warnings:
        _warn(w)
    if args.json:
        _print_json(ans.to_dict())
    else:
        print(answer_text(ans, full=args.full, color=sys.stdout.isatty()))
    return EXIT_OK


def cmd_cite(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline cite``: the paragraphs citing a reference; exit code 1 when none does."""
    from pipeline.render import answer_text

    ans = _retriever(cfg).lookup(" ".join(args.ref), docs=args.doc, lang=args.lang, parallel=args.parallel)
    if args.json:
        _print_json(ans.to_dict())
    else:
        print(answer_text(ans, full=True, color=sys.stdout.isatty()))
    return EXIT_OK if ans.hits else EXIT_PARTIAL


def _add_paragraphs(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "paragraphs",
        help="print paragraphs by number (all when none given)",
        description="Print the report's numbered paragraphs: number, section path, text, items, footnotes.",
    )
    p.add_argument("numbers", nargs="*", help="paragraph numbers or ranges: 23, 15-17, 3,5")
    p.add_argument(
        "--json",
        action="store_true",
        help="print a JSON array (document, lang, number, section, "
        "text, items, footnotes, sentences, citation, citations)",
    )
    add_filters(p, parallel=False)
    p.add_argument(
        "--annex",
        nargs="?",
        const="annex",
        metavar="N",
        help="number within the annex (--annex, or --annex II) instead of the body",
    )
    p.set_defaults(func=cmd_paragraphs)


def _add_search(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="answer one query (question, paragraph number or reference)",
        description=(
            "Answer a query in Chinese or English. Paragraph references (23, 'paragraph 15-17', '第 41 段') "
            "and citations ('resolution 65/230', 'S/2009/146', 'article 28') are looked up exactly; other "
            "queries are answered by hybrid retrieval (BM25 with English->Chinese translation + multilingual "
            "embeddings). The route taken is reported. A missing index is built on first use; a stale or "
            "damaged one is refused (run `pipeline build`)."
        ),
        epilog="A query starting with '-' goes after --: pipeline search -- -pirates",
    )
    p.add_argument("query", nargs="+", help="the query (quote it or not)")
    add_common(p)
    add_filters(p)
    add_backend(p)
    p.add_argument("--json", action="store_true", help="print JSON: {query, route, results: [...]}")
    p.add_argument("--full", action="store_true", help="print whole paragraphs with the answer marked")
    p.set_defaults(func=cmd_search)


def _add_cite(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cite",
        help="paragraphs citing a reference, or paragraphs by number",
        description="Exact lookup: every paragraph citing a resolution, decision, document symbol or "
        "article, in document order with the matched text; or paragraphs by number. Exit code 1 when nothing "
        "matches.",
    )
    p.add_argument(
        "ref",
        nargs="+",
        help="e.g. 'resolution 65/230', '第 1851 (2008)号决议', S/2009/146, 'article 28', 23",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    add_filters(p)
    p.set_defaults(func=cmd_cite)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``paragraphs``, ``search`` and ``cite`` to the ``pipeline`` parser's subcommands."""
    _add_paragraphs(sub)
    _add_search(sub)
    _add_cite(sub)
