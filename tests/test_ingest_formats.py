"""PDF and Word reports read into the same paragraphs as their text.

The documents are made in the tests (``undoc.py``): each report text is laid out in UN style (masthead,
running headers alternating left and right, "N/M" footers, job number and barcode, real footnotes, paragraphs
broken across pages) and converted by LibreOffice into ``.pdf`` and ``.docx``; the reader's parse is compared
with the text's paragraph by paragraph. Bad files (scanned, encrypted, damaged, misnamed, old Word) are
refused with the file named and nothing added.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from support import DATA, ROOT, FakeEmbedder, run_pipeline
from undoc import generated

from pipeline.catalog import read_catalog
from pipeline.config import Config
from pipeline.corpus import Corpus
from pipeline.ingest import IngestError, ingest_file, layout_text, sniff_format

ZH = ROOT / "corpus" / "ctoc-cop-2012-7.zh.txt"
REPORTS = {
    "zh-2012-7": ZH,
    "en-2014-5": DATA / "ctoc-cop-2014-5.en.txt",
    "en-2017-6": DATA / "ctoc-cop-2017-6.en.txt",
    "zh-wg7-2017-2": DATA / "ctoc-cop-wg7-2017-2.zh.txt",  # annexes whose numbering restarts
}
SYMBOLS = {
    "zh-2012-7": "CTOC/COP/2012/7",
    "en-2014-5": "CTOC/COP/2014/5",
    "en-2017-6": "CTOC/COP/2017/6",
    "zh-wg7-2017-2": "CTOC/COP/WG.7/2017/2",
}


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``made(name, fmt)``: the report's LibreOffice-made PDF or .docx (each made once per session)."""
    cache = tmp_path_factory.getbasetemp() / "undoc-formats"

    def make(name: str, fmt: str) -> Path:
        return generated(REPORTS[name], fmt, cache, symbol=SYMBOLS[name])

    return make


def _squeeze(s: str) -> str:
    return re.sub(r"\s+", "", s)


def _shape(corpus: Corpus) -> dict[str, Any]:
    """What must agree across formats, white space aside: every paragraph's number, part, section path, text,
    items and footnotes (each footnote's place counted in non-space characters), and the headings."""
    paragraphs = []
    for p in corpus.paragraphs:
        notes = [(fn.marker, _squeeze(fn.text), len(_squeeze(p.text[: fn.offset]))) for fn in p.footnotes]
        paragraphs.append(
            (
                p.part,
                p.number,
                [_squeeze(s) for s in p.section],
                _squeeze(p.text),
                [(it.label, _squeeze(it.text)) for it in p.items],
                notes,
            )
        )
    return {
        "paragraphs": paragraphs,
        "sections": [(s.level, _squeeze(s.heading)) for s in corpus.sections],
    }


FRONT = ("session", "dates", "place", "agenda_item", "agenda_title", "title", "report_type")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["pdf", "docx"])
@pytest.mark.parametrize("name", list(REPORTS))
def test_pdf_and_word_give_the_paragraphs_of_the_text(made: Any, name: str, fmt: str) -> None:
    text = ingest_file(REPORTS[name])
    path = made(name, fmt)
    other = ingest_file(path, lang=text.lang)
    assert sniff_format(path.read_bytes()) == fmt
    a, b = _shape(text), _shape(other)
    assert len(b["paragraphs"]) == len(a["paragraphs"])
    for x, y in zip(a["paragraphs"], b["paragraphs"], strict=True):
        assert y == x, f"{name} {fmt}: paragraph {x[1]} differs"
    assert b["sections"] == a["sections"]
    for key in FRONT:  # the front matter as the text has it; the symbol from the masthead
        assert getattr(other.metadata, key) == getattr(text.metadata, key), key
    assert other.metadata.symbol == SYMBOLS[name]
    assert other.metadata.masthead_language == text.lang  # "Chinese", or an original's "Original: English"
    assert re.fullmatch(r"\d{1,2} [A-Z][a-z]+ \d{4}", other.metadata.issued or "")
    # no page furniture in any paragraph or footnote: job number, barcode, "N/M" page numbers
    everything = " ".join(p.index_text for p in other.paragraphs)
    assert not re.search(r"V\.\d{2}-\d{5}|\*\d{7}\*", everything)
    printed = " ".join(p.index_text for p in text.paragraphs)
    for fraction in set(re.findall(r"(?<![\d/])\d{1,2}/\d{1,2}(?![\d/])", everything)):
        assert fraction in printed, f"{fraction}: a page number in the text"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["zh-2012-7", "en-2017-6"])
def test_each_pdf_paragraph_remembers_its_page(made: Any, name: str) -> None:
    _pages_of(made(name, "pdf"))


@pytest.mark.slow
def test_a_paragraph_broken_across_pages_is_on_the_page_it_starts(made: Any) -> None:
    assert _pages_of(made("zh-2012-7", "pdf")) >= 3  # the shipped report breaks paragraphs across pages


def _pages_of(path: Path) -> int:
    """Check each paragraph's page against the PDF's text; the number of paragraphs broken across pages."""
    corpus = ingest_file(path)
    pdf = pdfium.PdfDocument(path)
    page_text = [_squeeze(pdf[i].get_textpage().get_text_range()) for i in range(len(pdf))]
    pages = [p.page for p in corpus.paragraphs]
    assert pages[0] == 1 and pages == sorted(pages) and pages[-1] <= len(pdf)
    assert len(set(pages)) >= len(pdf) - 1  # the paragraphs spread over the pages
    for p in corpus.paragraphs:  # the page holds the paragraph's opening words
        assert p.page is not None
        opening = _squeeze(p.text)[:12]
        assert opening in page_text[p.page - 1].replace("-", ""), (p.number, p.page)
    # a paragraph broken across pages starts on the page before the one its end is printed on
    broken = [p for p in corpus.paragraphs if _squeeze(p.text)[-12:] not in page_text[p.page - 1]]
    assert all(_squeeze(p.text)[-12:] in page_text[p.page] for p in broken)
    return len(broken)


@pytest.mark.slow
def test_add_keeps_the_original_and_records_its_format(lib: Config, made: Any, tmp_path: Path) -> None:
    from pipeline.changes import add_reports
    from pipeline.library import load_library

    pdf = tmp_path / "firearms.en.pdf"
    shutil.copy(made("en-2014-5", "pdf"), pdf)
    docx = tmp_path / "smuggling.docx"
    shutil.copy(made("en-2017-6", "docx"), docx)
    change = add_reports(lib, [pdf, docx], embedder=FakeEmbedder())
    by_symbol = {e.symbol: e for e in change.entries}
    assert {e.format for e in change.entries} == {"pdf", "docx"}
    for entry, given in ((by_symbol["CTOC/COP/2014/5"], pdf), (by_symbol["CTOC/COP/2017/6"], docx)):
        kept = lib.corpus_dir / entry.original
        assert entry.original.startswith("originals/") and kept.read_bytes() == given.read_bytes()
        assert entry.file.endswith(".en.txt") and (lib.corpus_dir / entry.file).is_file()
    rows = {r["symbol"]: r for r in load_library(lib).listing()}
    assert rows["CTOC/COP/2014/5"]["format"] == "pdf" and rows["CTOC/COP/2012/7"]["format"] == "text"
    assert rows["CTOC/COP/2014/5"]["original"] == by_symbol["CTOC/COP/2014/5"].original
    library = load_library(lib)
    assert all(p.page for p in library.document("CTOC/COP/2014/5").paragraphs)
    assert all(p.page is None for p in library.document("CTOC/COP/2017/6").paragraphs)  # Word has no pages
    from pipeline.library import refresh_catalog

    refreshed = {e.symbol: e for e in refresh_catalog(library)}  # what build writes back keeps the original
    assert refreshed["CTOC/COP/2014/5"].original == by_symbol["CTOC/COP/2014/5"].original
    assert refreshed["CTOC/COP/2014/5"].format == "pdf"
    again = add_reports(lib, [pdf], embedder=FakeEmbedder())  # the same file again: nothing changes
    assert again.entries == [] and [e.symbol for e in again.unchanged] == ["CTOC/COP/2014/5"]


@pytest.mark.slow
def test_cli_adds_a_folder_and_shows_pages(lib: Config, made: Any, tmp_path: Path) -> None:
    from pipeline.cli.library import report_files

    folder = tmp_path / "reports"
    (folder / "en").mkdir(parents=True)
    shutil.copy(made("en-2014-5", "pdf"), folder / "en" / "firearms.en.pdf")
    shutil.copy(made("en-2017-6", "docx"), folder / "smuggling.en.docx")
    (folder / ".hidden.txt").write_text("not a report", encoding="utf-8")
    (folder / "notes.md").write_text("not a report either", encoding="utf-8")
    files = report_files([str(folder)])
    assert [f.name for f in files] == ["firearms.en.pdf", "smuggling.en.docx"]
    from pipeline.changes import add_reports

    seen: list[tuple[int, int]] = []
    add_reports(lib, files, embedder=FakeEmbedder(), progress=lambda i, n, _p: seen.append((i, n)))
    assert seen == [(1, 2), (2, 2)]
    res = run_pipeline(lib.root, "documents")
    assert "(from pdf: corpus/originals/firearms.en.txt" not in res.stdout
    assert "(from pdf: corpus/originals/firearms.en.pdf)" in res.stdout, res.stdout + res.stderr
    res = run_pipeline(lib.root, "search", "CTOC/COP/2014/5 para. 3", "--json", "--mode", "lexical")
    hit = json.loads(res.stdout)["results"][0]
    assert hit["paragraph"] == 3 and isinstance(hit["page"], int), res.stderr
    res = run_pipeline(lib.root, "search", "CTOC/COP/2014/5 para. 3", "--mode", "lexical")
    assert f"(p. {hit['page']})" in res.stdout


# --------------------------------------------------------------------------------------------- bad files


def _soffice(src: Path, convert_to: str, outdir: Path) -> Path:
    """``soffice --convert-to CONVERT_TO SRC`` into ``outdir`` (a profile of its own), the file it wrote."""
    profile = outdir / "lo-profile"
    subprocess.run(
        [
            "soffice",
            "--headless",
            "--norestore",
            f"-env:UserInstallation={profile.resolve().as_uri()}",
            "--convert-to",
            convert_to,
            "--outdir",
            str(outdir),
            str(src),
        ],
        capture_output=True,
        timeout=300,
        check=True,
    )
    return outdir / f"{src.stem}.{convert_to.split(':')[0]}"


def _blank_pdf(pages: int, text_from: Path | None = None) -> bytes:
    """A PDF of ``pages`` blank pages (a scan's pages carry only images), after the pages of ``text_from``."""
    pdf = pdfium.PdfDocument.new()
    if text_from is not None:
        pdf.import_pages(pdfium.PdfDocument(text_from))
    for _ in range(pages):
        pdf.new_page(595, 842)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _refused(lib: Config, path: Path, *needles: str) -> None:
    """``pipeline add PATH`` exits 2 naming the file and each needle, and the library is as it was."""
    catalog = (lib.corpus_dir / "documents.json").read_bytes()
    res = run_pipeline(lib.root, "add", str(path))
    assert res.returncode == 2, res.stderr
    assert str(path) in res.stderr
    for needle in needles:
        assert needle in res.stderr, res.stderr
    assert (lib.corpus_dir / "documents.json").read_bytes() == catalog
    assert not (lib.corpus_dir / "originals").exists()


def test_a_scanned_pdf_is_refused(lib: Config, tmp_path: Path) -> None:
    scan = tmp_path / "scan.zh.pdf"
    scan.write_bytes(_blank_pdf(3))
    _refused(lib, scan, "every page of the PDF has no text layer", "OCR is not supported")


@pytest.mark.slow
def test_a_pdf_with_scanned_pages_names_them(lib: Config, made: Any, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.en.pdf"
    mixed.write_bytes(_blank_pdf(2, text_from=made("en-2014-5", "pdf")))
    pages = len(pdfium.PdfDocument(mixed))
    _refused(lib, mixed, f"pages {pages - 1}–{pages} of the PDF has no text layer")


def test_damaged_and_misnamed_files_are_refused(lib: Config, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.zh.pdf"
    damaged.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    _refused(lib, damaged, "the PDF is damaged")
    not_zip = tmp_path / "report.docx"
    not_zip.write_bytes(ZH.read_bytes())
    _refused(lib, not_zip, "is named .docx but is not a Word .docx file (not a zip archive)")
    other_zip = tmp_path / "archive.en.docx"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("content.xml", "<x/>")
    _refused(lib, other_zip, "not a Word .docx file (no word/document.xml)")


def test_an_old_word_file_is_refused_with_the_command_that_converts_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pipeline.ingest.formats as formats

    doc = tmp_path / "report.zh.doc"
    doc.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 1024)  # an OLE compound file's header
    assert sniff_format(doc.read_bytes()) == "doc"
    monkeypatch.setattr(formats.shutil, "which", lambda _name: None)
    with pytest.raises(IngestError, match=r"soffice --headless --convert-to docx report\.zh\.doc"):
        layout_text(doc.read_bytes(), doc)
    encrypted = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le")
    with pytest.raises(IngestError, match="encrypted"):
        layout_text(encrypted, tmp_path / "secret.docx")


@pytest.mark.slow
def test_an_old_word_file_is_converted_by_libreoffice(made: Any, tmp_path: Path) -> None:
    doc = _soffice(made("en-2014-5", "docx"), "doc:MS Word 97", tmp_path)
    corpus = ingest_file(doc)
    assert _shape(corpus) == _shape(ingest_file(REPORTS["en-2014-5"]))


@pytest.mark.slow
def test_an_encrypted_pdf_is_refused(lib: Config, tmp_path: Path) -> None:
    options = (
        '{"EncryptFile":{"type":"boolean","value":"true"},'
        '"DocumentOpenPassword":{"type":"string","value":"secret"}}'
    )
    pdf = _soffice(REPORTS["en-2014-5"], f"pdf:writer_pdf_Export:{options}", tmp_path)
    _refused(lib, pdf, "the PDF is encrypted")


@pytest.mark.slow
def test_unreadable_numbering_in_a_pdf_names_the_page(lib: Config, tmp_path: Path) -> None:
    gap = tmp_path / "gap.en.txt"
    shutil.copy(DATA / "ctoc-cop-2015-2-gap.en.txt", gap)
    pdf = _soffice(gap, "pdf", tmp_path)  # the text as LibreOffice prints a plain text
    _refused(lib, pdf, "page ", "paragraph")
    assert read_catalog(lib) is not None


@pytest.mark.slow
def test_a_footnote_running_over_to_the_next_page_is_joined(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A footnote too long for its page goes on at the foot of the next one (LibreOffice, like Word, splits
    it), and the footnote area of that page outweighs the body text in characters."""
    text = REPORTS["en-2014-5"].read_text(encoding="utf-8")
    note = re.search(r"^ 3 (.+?)\s*$", text, flags=re.M)
    assert note is not None
    sentence = (
        "The Working Group noted the importance of marking, record-keeping and tracing, and of cooperation."
    )
    longer = text.replace(note.group(0), f"{note.group(0).rstrip()} " + " ".join([sentence] * 60), 1)
    src = tmp_path_factory.mktemp("long-note") / "long-note.en.txt"
    src.write_text(longer, encoding="utf-8")
    pdf = generated(src, "pdf", tmp_path_factory.getbasetemp() / "undoc-formats", symbol=SYMBOLS["en-2014-5"])
    pages = [
        pdfium.PdfDocument(pdf)[i].get_textpage().get_text_range()
        for i in range(len(pdfium.PdfDocument(pdf)))
    ]
    assert sum("cooperation." in p and "Working Group noted" in p for p in pages) >= 2  # it does run over
    assert _shape(ingest_file(pdf)) == _shape(ingest_file(src))
