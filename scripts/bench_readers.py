"""How fast the report readers are, and why PDFium: the text, PDF and Word versions of one report, read.

The PDF and Word files are the UN-layout documents the tests make with LibreOffice (``tests/undoc.py``) from
the shipped report's text, unless given. A 22-page PDF is the 11-page one twice (PDFium copies the pages),
so the per-page cost is measured at the size the issue names (a 20-page Chinese report).

Two PDF libraries read the same files, in one run:
* PDFium through ``pypdfium2`` (Apache-2.0/BSD; what ``pipeline add`` uses): characters with their boxes and
  font sizes, then the layout (:func:`pipeline.ingest.pdf.pdf_layout`).
* pdfminer.six through ``pdfplumber`` (MIT; pure Python): characters with boxes and font names
  (``page.chars``), no layout on top — the floor of what a reader built on it would cost.

Also reported: each library's CJK text against the report's own (the share of the text's CJK characters, in
order, that the PDF's text gives back; a reader that drops or garbles CJK loses them here).

Usage: ``python scripts/bench_readers.py [--runs 7] [--pdf FILE --docx FILE] [--json]``.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TEXT = ROOT / "corpus" / "ctoc-cop-2012-7.zh.txt"


def _timed(fn: Any, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times)}


def _made(fmt: str, cache: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from undoc import generated  # the tests' UN-layout generator (LibreOffice)

    return generated(TEXT, fmt, cache, symbol="CTOC/COP/2012/7")


def _doubled(pdf_path: Path) -> bytes:
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(pdf_path)
    out = pdfium.PdfDocument.new()
    out.import_pages(src)
    out.import_pages(src)
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


def _cjk(text: str) -> str:
    return "".join(re.findall(r"[\u4e00-\u9fff]", text))


def _recall(extracted: str, reference: str) -> float:
    a, b = _cjk(reference), _cjk(extracted)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / max(1, len(a))


def _pdfplumber_text(raw: bytes) -> str:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(raw)) as pdf:
        return "".join(c["text"] for page in pdf.pages for c in page.chars)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7, help="runs per measurement (median reported)")
    ap.add_argument("--pdf", type=Path, help="the report's PDF (default: made with LibreOffice)")
    ap.add_argument("--docx", type=Path, help="the report's .docx (default: made with LibreOffice)")
    ap.add_argument("--json", action="store_true", help="print JSON")
    args = ap.parse_args()

    import pypdfium2 as pdfium

    from pipeline.ingest import decode_report, layout_text, parse_report
    from pipeline.ingest.pdf import pdf_layout

    cache = Path(tempfile.gettempdir()) / "pipeline-bench-readers"
    pdf_path = args.pdf or _made("pdf", cache)
    docx_path = args.docx or _made("docx", cache)
    pdf, docx, txt = pdf_path.read_bytes(), docx_path.read_bytes(), TEXT.read_bytes()
    pdf22 = _doubled(pdf_path)
    pages = len(pdfium.PdfDocument(pdf_path))
    reference = decode_report(txt, TEXT)

    def read(raw: bytes, name: str) -> Any:
        text, _ = layout_text(raw, name)
        return parse_report(text, name, lang="zh")

    rows: dict[str, Any] = {
        "text: read + parse": _timed(lambda: read(txt, "r.zh.txt"), args.runs),
        f"PDF ({pages} pages): read + parse": _timed(lambda: read(pdf, "r.zh.pdf"), args.runs),
        f"PDF ({2 * pages} pages): PDFium reader": _timed(lambda: pdf_layout(pdf22, "r.pdf"), args.runs),
        f"PDF ({2 * pages} pages): pdfplumber chars": _timed(
            lambda: _pdfplumber_text(pdf22), max(3, args.runs // 2)
        ),
        "Word .docx: read + parse": _timed(lambda: read(docx, "r.zh.docx"), args.runs),
    }
    quality = {
        "PDFium CJK recall": _recall(pdf_layout(pdf, "r.pdf"), reference),
        "pdfplumber CJK recall": _recall(_pdfplumber_text(pdf), reference),
    }
    result = {"runs": args.runs, "pages": pages, "timings": rows, "quality": quality}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{'step':<40} {'median':>9} {'min':>9} {'max':>9}")
    for name, t in rows.items():
        print(f"{name:<40} {t['median_s']:>8.3f}s {t['min_s']:>8.3f}s {t['max_s']:>8.3f}s")
    for name, v in quality.items():
        print(f"{name:<40} {v:>9.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
