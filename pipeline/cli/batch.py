"""The commands over files of questions: ``batch`` (answer them) and ``eval`` (score the answers)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.cli.common import (
    _build_missing,
    _print_json,
    _retriever,
    _warn,
    add_backend,
    add_common,
    add_filters,
)
from pipeline.config import Config
from pipeline.errors import EXIT_OK, EXIT_PARTIAL, UserError
from pipeline.plan import MODES
from pipeline.render import safe

if TYPE_CHECKING:
    from pipeline.retrieve import Retriever

BATCH_DESCRIPTION = """\
Answer every query of INPUT: JSONL ({"id", "query"} per line), CSV (a header naming a query column and
optionally an id column) or plain text (one query per line; id = line number). Input should be UTF-8 (a BOM
is fine); a Chinese GB18030/GBK file (what Chinese Excel saves) is read with a warning; UTF-16 files are
refused with the iconv command that converts them.

Bad lines (not UTF-8, invalid JSON, empty query, duplicate id, wrong number of CSV columns, unclosed quote …)
are reported as FILE:LINE: reason and the rest are answered; the exit code is then 1. An answer's warnings (a
truncated query, a paragraph that does not exist …) are printed as FILE:LINE: warning. A file that cannot be
used at all, or an output that cannot be written, is reported before anything is answered (exit code 2).
With --format csv --bom the CSV starts with a UTF-8 byte order mark, so that Excel opens it as UTF-8.

With -o FILE, answers are saved as they come to the side file FILE.partial (flushed to disk every --chunk
queries); FILE is written atomically at the end and FILE.partial removed, so an interrupted run never
leaves a truncated FILE. Run the same command with --resume to continue an interrupted run: only the
missing answers are computed and FILE comes out byte-identical to an uninterrupted run. A resume with
another input, --format, --chunk, -k, --mode or settings is refused. Without --resume, a FILE.partial left
by an interrupted run is refused (resume it, or delete it to start over). A symlink FILE is written through;
a FIFO or device is written as a stream (no resume); an existing FILE keeps its permissions."""


def cmd_batch(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline batch``: answer every query of a file; exit code 1 when some lines failed."""
    from pipeline.batch import check_output, index_fingerprint, read_queries, run_batch

    if args.k is not None and args.k < 1:
        raise UserError(f"-k must be at least 1 (got {args.k})")
    if args.chunk < 1:
        raise UserError(f"--chunk must be at least 1 (got {args.chunk})")
    if args.resume and (args.output is None or args.output == "-"):
        raise UserError("--resume needs -o FILE: output to standard output cannot be resumed")
    if args.bom and args.format != "csv":
        raise UserError(f"--bom is for --format csv (a BOM would break {args.format} output)")
    check_output(args.output, [args.input])  # the batch's errors are UserErrors: exit code 2
    good, bad = read_queries(args.input, args.input_format, warn=_warn)
    for b in bad:
        print(f"pipeline: error: {args.input}:{b.line}: {b.message}", file=sys.stderr)
    r = _retriever(cfg)
    r.library.select(args.doc, args.lang)  # an unknown --doc or --lang is refused before anything is answered
    if good and _build_missing(cfg, r, args.mode):  # a never-built home: its indexes, once
        r = _retriever(cfg)

    flagged = [0, 0]  # questions answered in this run, and those flagged no_answer

    def answer(qs: list[str]) -> list[dict[str, Any]]:
        found = r.search_many(
            qs, k=args.k, mode=args.mode, docs=args.doc, lang=args.lang, parallel=args.parallel
        )
        questions = [a for a in found if a.route == "question"]
        flagged[0] += len(questions)
        flagged[1] += sum(a.no_answer for a in questions)
        return [a.to_dict() for a in found]

    options = {"k": args.k, "mode": args.mode, "index": index_fingerprint(cfg)}
    if args.doc or args.lang or args.parallel:
        options |= {"doc": args.doc, "lang": args.lang, "parallel": args.parallel}
    from tqdm import tqdm

    bar = tqdm(
        total=len(good), desc="answering", unit="q", file=sys.stderr, disable=len(good) < 50 or args.quiet
    )
    try:
        report = run_batch(
            good,
            answer,
            args.output,
            args.format,
            resume=args.resume,
            options=options,
            progress=bar.update,
            chunk=args.chunk,
            bom=args.bom,
        )
    finally:
        bar.close()
    for w in report.warnings:
        _warn(f"{args.input}:{w.line}: {w.message}")
    for b in report.bad:
        print(f"pipeline: error: {args.input}:{b.line}: {b.message}", file=sys.stderr)
    if flagged[1]:
        print(
            f"pipeline: {flagged[1]} of {flagged[0]} questions flagged no_answer "
            "(the library does not seem to answer them; their closest paragraphs are listed)",
            file=sys.stderr,
        )
    failed, total = len(bad) + len(report.bad), len(bad) + len(good)
    if failed:
        rest = "none was answered" if failed == total else "the others were answered"
        print(f"pipeline: {failed} of {total} lines failed; {rest}", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline eval``: retrieval metrics on a qrels file (or answer accuracy with ``--answers``)."""
    from pipeline.evaluate import evaluate, failures, format_table, load_qrels, ranked_keys

    r = _retriever(cfg)
    lexical_only = args.mode == "lexical" and not (args.ablation or args.answers)
    if _build_missing(cfg, r, "lexical" if lexical_only else "hybrid"):
        r = _retriever(cfg)  # a never-built home: its indexes, once
    if args.answers:
        return _eval_answers(args, r, cfg)
    valid, default = _documents(r, cfg)
    qrels = load_qrels(args.qrels, valid=valid, default_document=default)
    modes = list(MODES) if args.ablation else [args.mode]
    report = {}
    for mode in modes:
        bar = _progress(len(qrels), f"eval {mode}", quiet=args.json)
        answers = r.search_many(
            [q.query for q in qrels], k=args.k, mode=mode, progress=bar.update, docs=args.doc, lang=args.lang
        )
        bar.close()
        ranked = [
            ranked_keys(q, [(h.document, h.paragraph) for h in a.hits])
            for q, a in zip(qrels, answers, strict=True)
        ]
        report[mode] = evaluate(qrels, ranked, [a.no_answer for a in answers])
        if args.failures and not args.json:
            for q, top in failures(qrels, ranked):
                print(
                    safe(
                        f"miss@1 [{mode}] {q.id} {q.lang}/{q.kind} {q.query!r}: relevant {list(q.relevant)}, "
                        f"got {top}"
                    ),
                    file=sys.stderr,
                )
    outside = _out_of_scope(args, r) if args.out_of_scope else None
    if args.json:
        out = report if args.ablation else report[args.mode]
        _print_json(out | {"out_of_scope": outside} if outside is not None else out)
    else:
        for mode in modes:
            print(safe(format_table(report[mode], title=f"{mode} — {args.qrels}")) + "\n")
        if outside is not None:
            print(f"**out of scope ({args.mode}) — {args.out_of_scope}: flagged no_answer**\n")
            print("| group | n | flagged |\n|---|---:|---:|")
            for g, m in outside.items():
                print(f"| {g} | {int(m['n'])} | {m['flagged']:.3f} |")
    return EXIT_OK


def _out_of_scope(args: argparse.Namespace, r: Retriever) -> dict[str, dict[str, float]]:
    """The share of an out-of-scope set's questions (JSONL lines with "query", optionally "lang") that the
    no-answer signal flags, overall and per language.

    Raises:
        UserError: the file cannot be read, or a line is not such a JSON object (file and line named).
    """
    import json

    from pipeline.evaluate import flag_rates

    try:
        lines = Path(args.out_of_scope).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{args.out_of_scope}: cannot read the out-of-scope set ({e})") from None
    queries = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{args.out_of_scope}:{n}: not JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("query"), str):
            raise UserError(f'{args.out_of_scope}:{n}: expected {{"query": "…", "lang": …}}')
        queries.append(row["query"])
    answers = r.search_many(queries, k=args.k, mode=args.mode, docs=args.doc, lang=args.lang)
    return flag_rates([a.lang for a in answers], [a.no_answer for a in answers])


def _documents(r: Retriever, cfg: Config) -> tuple[dict[str, set[int]], str]:
    """Body paragraph numbers per document symbol, and the document a judgement naming none means: the
    configured report's (``cfg.document``, the report the dev set was written for), else the first."""
    valid: dict[str, set[int]] = {}
    for d in r.library.documents:
        valid.setdefault(d.symbol, set()).update(p.number for p in d.paragraphs if not p.part)
    default = next(
        (e.symbol for e in r.library.entries if e.file == cfg.document), r.library.documents[0].symbol
    )
    return valid, default


def _eval_answers(args: argparse.Namespace, r: Retriever, cfg: Config) -> int:
    """``pipeline eval --answers``: how often the answer sentence shown for the right paragraph is right."""
    from pipeline.evaluate import answer_accuracy, load_answer_set

    valid, default = _documents(r, cfg)
    items = load_answer_set(args.qrels, valid=valid, default_document=default)
    bar = _progress(len(items), "answers", quiet=args.json)
    answers = r.search_many(
        [it.query for it in items],
        k=args.k,
        mode=args.mode,
        progress=bar.update,
        docs=args.doc,
        lang=args.lang,
    )
    bar.close()
    report = answer_accuracy(
        items,
        [
            [(h.paragraph, h.answer) for h in a.hits if h.document == it.document]
            for it, a in zip(items, answers, strict=True)
        ],
    )
    if args.failures and not args.json:
        for it, a in zip(items, answers, strict=True):
            got = next(
                (h.answer for h in a.hits if h.paragraph == it.paragraph and h.document == it.document), None
            )
            if got is not None and "".join(it.answer.split()) not in "".join(got.split()):
                print(
                    safe(
                        f"wrong answer {it.id} ¶{it.paragraph} {it.query!r}\n  expected: {it.answer}\n"
                        f"  got:      {got}"
                    ),
                    file=sys.stderr,
                )
    if args.json:
        _print_json(report)
    else:
        print(f"**answer sentences ({args.mode}, top {args.k}) — {args.qrels}**\n")
        print("| group | n | paragraph retrieved | answer correct | accuracy (of retrieved) |")
        print("|---|---:|---:|---:|---:|")
        for g in ("all", "zh", "en"):
            if g in report:
                m = report[g]
                print(f"| {g} | {m['n']} | {m['retrieved']} | {m['correct']} | {m['accuracy']:.3f} |")
    return EXIT_OK


def _progress(total: int, desc: str, quiet: bool = False):  # noqa: ANN202 - a tqdm bar
    """A progress bar on standard error, shown for 50 questions or more unless ``quiet``."""
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit="q", file=sys.stderr, disable=quiet or total < 50 or None, leave=False
    )


def _add_batch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="answer a file of questions",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=BATCH_DESCRIPTION,
    )
    p.add_argument("input", help="query file, or - for standard input")
    p.add_argument("-o", "--output", help="output file, FIFO or device (default: standard output)")
    add_common(p)
    p.add_argument(
        "--format",
        choices=("jsonl", "csv", "text"),
        default="jsonl",
        help="output format (default jsonl; text is for reading)",
    )
    p.add_argument(
        "--bom",
        action="store_true",
        help="with --format csv: start with a UTF-8 byte order mark, so that Excel opens it as UTF-8",
    )
    p.add_argument(
        "--input-format", choices=("jsonl", "csv", "text"), help="input format (default: from the extension)"
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run whose answers are in OUTPUT.partial (needs -o)",
    )
    p.add_argument(
        "--chunk", type=int, default=64, metavar="N", help="queries answered and saved at a time (default 64)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_filters(p)
    add_backend(p)
    p.set_defaults(func=cmd_batch)


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate retrieval on a qrels file",
        description="Recall@1/3/5/10, MRR@10, nDCG@10 (and 'exact' for lookups) overall, per language and "
        "per kind.",
    )
    p.add_argument(
        "qrels",
        help='JSONL lines {"id", "query", "relevant": [paragraphs], "lang", "kind"}, '
        'optionally "document": SYMBOL (default: the configured report, CTOC/COP/2012/7)',
    )
    add_common(p, k=10)
    p.add_argument("--ablation", action="store_true", help="evaluate lexical, dense and hybrid in one run")
    p.add_argument(
        "--failures",
        action="store_true",
        help="list queries missed at rank 1, or wrong answer sentences (stderr)",
    )
    p.add_argument(
        "--answers",
        action="store_true",
        help="QRELS is an answer-sentence set "
        "(corpus/eval/answers.jsonl): score the answer sentence shown for the right paragraph",
    )
    p.add_argument(
        "--out-of-scope",
        metavar="FILE",
        help='also report how many questions of an out-of-scope set (JSONL with "query"; e.g. '
        "corpus/eval/out-of-scope.jsonl) the no-answer signal flags; the qrels' questions report theirs "
        "in the 'flagged' column",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    add_filters(p, parallel=False)
    add_backend(p)
    p.set_defaults(func=cmd_eval)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``batch`` and ``eval`` to the ``pipeline`` parser's subcommands."""
    _add_batch(sub)
    _add_eval(sub)
