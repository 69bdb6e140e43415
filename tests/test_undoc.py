"""The UN-looking PDF and Word documents of ``undoc.py``: the Flat ODT it writes (fast), and what LibreOffice
makes of it (slow): a paged PDF with the masthead and job number on page 1, the symbol and "N/M" on the
outer side of later pages, footnotes at the foot of the page of their marker and paragraphs running on
across a page break; a .docx with its footnotes in word/footnotes.xml and its headers and footers in parts
of their own.

The PDF's text is read with ``pdftotext -layout`` where poppler-utils is installed, else with pypdfium2;
positions (which side of the page, how far down) always with pypdfium2.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from support import ROOT
from undoc import (
    CONVERT_TIMEOUT,
    DEFAULT_JOB,
    ConversionError,
    convert,
    generated,
    render_fodt,
    soffice_available,
)

from pipeline.corpus import Corpus, Paragraph
from pipeline.ingest import IngestError, ingest_file

ZH = ROOT / "corpus" / "ctoc-cop-2012-7.zh.txt"
EN_2014 = ROOT / "tests" / "data" / "library" / "ctoc-cop-2014-5.en.txt"
EN_2017 = ROOT / "tests" / "data" / "library" / "ctoc-cop-2017-6.en.txt"
REPORTS = {"zh-2012-7": ZH, "en-2014-5": EN_2014, "en-2017-6": EN_2017}
SYMBOLS = {"zh-2012-7": "CTOC/COP/2012/7", "en-2014-5": "CTOC/COP/2014/5", "en-2017-6": "CTOC/COP/2017/6"}
JOBS = {
    "zh-2012-7": (DEFAULT_JOB, "(C)"),
    "en-2014-5": ("V.14-04711", "(E)"),
    "en-2017-6": ("V.17-05512", "(E)"),
}
STAR_NOTES = {
    "zh-2012-7": "CTOC/COP/2012/1。",
    "en-2014-5": "CTOC/COP/2014/1.",
    "en-2017-6": "CTOC/COP/2017/1.",
}

NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "style": "urn:oasis:names:tc:opendocument:xmlns:style:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
}


def _q(name: str) -> str:
    prefix, _, local = name.partition(":")
    return f"{{{NS[prefix]}}}{local}"


def squash(s: str) -> str:
    """Text without white space: how the PDF's text and the report's are compared (line breaks, justified
    spacing and the spaces around digits in Chinese differ)."""
    return re.sub(r"\s+", "", s)


def corpus_of(name: str) -> Corpus:
    corpus = ingest_file(REPORTS[name])
    corpus.metadata.symbol = corpus.metadata.symbol or SYMBOLS[name]
    return corpus


# ---------------------------------------------------------------------------------------- the Flat ODT


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_fodt_is_a_flat_odt_with_every_footnote_at_its_marker(name: str) -> None:
    corpus = corpus_of(name)
    root = ET.fromstring(render_fodt(corpus))
    assert root.tag == _q("office:document")
    assert root.get(_q("office:mimetype")) == "application/vnd.oasis.opendocument.text"
    notes = root.findall(".//text:note", NS)
    star = [n for n in notes if n.find("text:note-citation", NS).get(_q("text:label")) == "*"]
    assert len(star) == 1 and "".join(star[0].find("text:note-body", NS).itertext()) == STAR_NOTES[name]
    expected = [fn for p in corpus.paragraphs for fn in p.footnotes]
    numbered = [n for n in notes if n not in star]
    assert ["".join(n.find("text:note-body", NS).itertext()) for n in numbered] == [
        fn.text for fn in expected
    ]
    assert all(n.find("text:note-citation", NS).get(_q("text:label")) is None for n in numbered)

    # each numbered paragraph reads "N.<tab>text", its notes anchored at their markers' offsets
    paras = {}
    for el in root.iter(_q("text:p")):
        if el.get(_q("text:style-name")) != "UN_20_Para":
            continue
        text, offsets = _odt_text(el)
        m = re.match(r"(\d+)\.\t", text)
        if m:
            paras.setdefault(int(m.group(1)), []).append((text[m.end() :], offsets, m.end()))
    for p in corpus.paragraphs:
        text, offsets, start = next(x for x in paras[p.number] if x[0] == p.text)
        assert [o - start for o in offsets] == [fn.offset for fn in p.footnotes], p.number
    items = [
        _odt_text(el)[0] for el in root.iter(_q("text:p")) if el.get(_q("text:style-name")) == "UN_20_Item"
    ]
    assert items == [f"({it.label})\t{it.text}" for p in corpus.paragraphs for it in p.items]


def _odt_text(el: ET.Element) -> tuple[str, list[int]]:
    """A text:p's text (tabs and spaces restored, notes left out) and the offsets of its notes."""
    out: list[str] = [el.text or ""]
    offsets: list[int] = []
    for child in el:
        if child.tag == _q("text:note"):
            offsets.append(len("".join(out)))
        elif child.tag == _q("text:tab"):
            out.append("\t")
        elif child.tag == _q("text:s"):
            out.append(" " * int(child.get(_q("text:c"), "1")))
        else:
            out.append("".join(child.itertext()))
        out.append(child.tail or "")
    return "".join(out), offsets


LIBRARY = sorted(
    [
        *(ROOT / "tests" / "data" / "library").glob("*.txt"),
        ROOT / "tests" / "data" / "synthetic-report.zh.txt",
    ]
)


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_fodt_of_every_test_report(path: Path) -> None:
    """Every report the parser reads renders: well-formed, its footnotes and printed deletions all there, an
    annex as its label line and its title line."""
    try:
        corpus = ingest_file(path)
    except IngestError:
        pytest.skip("the parser refuses this report (a numbering gap)")
    root = ET.fromstring(render_fodt(corpus, symbol=corpus.symbol or "CTOC/COP/2099/1"))
    notes = root.findall(".//text:note", NS)
    numbered = [n for n in notes if n.find("text:note-citation", NS).get(_q("text:label")) is None]
    assert len(numbered) == sum(len(p.footnotes) for p in corpus.paragraphs)
    starred = any(re.search(r"(?:agenda|议程)\*", line) for line in corpus.front_matter)
    assert len(notes) - len(numbered) == (1 if starred else 0)
    texts = [_odt_text(p)[0] for p in root.iter(_q("text:p"))]
    deleted = [t for _, t in corpus.residue if re.match(r"^\d", t)]
    assert all(t in texts for t in deleted)
    for sec in corpus.sections:
        assert ([sec.label, sec.title] if sec.level == 0 else [sec.heading]) == texts[
            texts.index(sec.label if sec.level == 0 else sec.heading) :
        ][: 2 if sec.level == 0 else 1]


def test_fodt_page_style_first_page_and_mirrored_running_heads() -> None:
    corpus = corpus_of("en-2014-5")
    root = ET.fromstring(render_fodt(corpus))
    (master,) = root.iter(_q("style:master-page"))
    assert master.get(_q("style:name")) == "UN_20_Page"
    layouts = {pl.get(_q("style:name")): pl for pl in root.iter(_q("style:page-layout"))}
    assert layouts[master.get(_q("style:page-layout-name"))].get(_q("style:page-usage")) == "mirrored"
    # page 1: an empty header, the job number and the barcode's text below
    assert "".join(master.find("style:header-first", NS).itertext()) == ""
    assert "".join(master.find("style:footer-first", NS).itertext()) == "V.14-04711 (E)*1404711*"
    # later pages: the symbol on the right of odd pages, on the left of even ones; "N/M" and the job number
    for part in ("header", "header-left"):
        assert "".join(master.find(f"style:{part}", NS).itertext()) == "CTOC/COP/2014/5"
    assert master.find("style:header/text:p", NS).get(_q("text:style-name")) == "Header_20_Right"
    assert master.find("style:header-left/text:p", NS).get(_q("text:style-name")) == "Header_20_Left"
    right, left = master.find("style:footer/text:p", NS), master.find("style:footer-left/text:p", NS)
    assert [c.tag for c in right] == [_q("text:tab"), _q("text:page-number"), _q("text:page-count")]
    assert right.text == "V.14-04711" and left[-1].tail == "V.14-04711"
    assert [c.tag for c in left] == [_q("text:page-number"), _q("text:page-count"), _q("text:tab")]
    # page 1 is the masthead table's page; the deletion and the annexes are printed
    table = root.find(".//office:text/*", NS)
    assert (
        table is not None and table.get("{urn:oasis:names:tc:opendocument:xmlns:table:1.0}name") == "Masthead"
    )
    texts = [_odt_text(p)[0] for p in root.iter(_q("text:p"))]
    assert "3.-4. [Deleted]" in texts and "Annex I" in texts and "Annex II" in texts


def test_fodt_front_matter_comes_from_the_report() -> None:
    corpus = corpus_of("zh-2012-7")
    xml = render_fodt(corpus, job="V.12-00001", date="1 May 2012")
    root = ET.fromstring(xml)
    texts = [_odt_text(p)[0] for p in root.find(".//office:text", NS).iter(_q("text:p"))]
    meta = corpus.metadata
    for expected in (
        "联合国",
        "CTOC/COP/2012/7",
        "Distr.: General",
        "1 May 2012",
        "Chinese",
        "Original: English",
        meta.session,
        f"{meta.dates}，{meta.place}",
        "临时议程项目 3",
        meta.agenda_title,
        meta.title,
        meta.report_type,
        "一. 导言",
        "A. 网络犯罪",
    ):
        assert expected in texts
    footer = root.find(".//style:master-page/style:footer-first", NS)
    assert "".join(footer.itertext()) == "V.12-00001 (C)*1200001*"
    with pytest.raises(ValueError, match="no document symbol"):
        render_fodt(ingest_file(ZH))


# ---------------------------------------------------------------------------------------- LibreOffice


@dataclass
class Made:
    """One report's generated files and the time each took (render + conversion)."""

    name: str
    corpus: Corpus
    pdf: Path
    docx: Path
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Made]:
    if not soffice_available():
        pytest.fail(
            "the document tests need LibreOffice (soffice missing): "
            "apt-get install --no-install-recommends libreoffice-writer-nogui fonts-liberation fonts-noto-cjk"
        )
    cache = tmp_path_factory.mktemp("undoc")
    out: dict[str, Made] = {}
    for name, path in REPORTS.items():
        seconds: dict[str, float] = {}
        files: dict[str, Path] = {}
        for fmt in ("pdf", "docx"):
            t0 = time.perf_counter()
            files[fmt] = generated(path, fmt, cache)
            seconds[fmt] = time.perf_counter() - t0
            t0 = time.perf_counter()
            assert generated(path, fmt, cache) == files[fmt]  # cached: no second conversion
            assert time.perf_counter() - t0 < 1.0
        out[name] = Made(name, corpus_of(name), files["pdf"], files["docx"], seconds)
    return out


@dataclass
class Line:
    """A line of a PDF page: its text, left and right edges and baseline-ish bottom (points, from the page's
    lower left corner)."""

    text: str
    left: float
    right: float
    bottom: float
    top: float
    parts: list[tuple[float, str]]  # (left edge, text) of its segments


@dataclass
class Page:
    number: int
    width: float
    height: float
    lines: list[Line]  # top to bottom
    text: str  # pdftotext -layout's text of the page, else pypdfium2's


def read_pdf(path: Path) -> list[Page]:
    import pypdfium2 as pdfium

    texts: list[str] | None = None
    if shutil.which("pdftotext"):
        run = subprocess.run(
            ["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
        )
        texts = run.stdout.decode("utf-8").split("\f")
    pdf = pdfium.PdfDocument(str(path))
    pages: list[Page] = []
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            tp = page.get_textpage()
            lines: list[Line] = []
            for k in range(tp.count_rects()):
                left, bottom, right, top = tp.get_rect(k)
                seg = tp.get_text_bounded(left, bottom, right, top)
                # a rect overlapping a line's height by a third is on that line (a raised footnote number too)
                line = next((ln for ln in lines if _overlap(ln, bottom, top) >= 0.3), None)
                if line is None:
                    lines.append(Line(seg, left, right, bottom, top, [(left, seg)]))
                    continue
                line.parts.append((left, seg))
                line.text = "".join(t for _, t in sorted(line.parts))
                line.left, line.right = min(line.left, left), max(line.right, right)
                line.bottom, line.top = min(line.bottom, bottom), max(line.top, top)
            lines.sort(key=lambda ln: -ln.top)
            text = texts[i] if texts is not None else tp.get_text_range().replace("\r\n", "\n")
            pages.append(Page(i + 1, page.get_width(), page.get_height(), lines, text))
    finally:
        pdf.close()
    return pages


def _overlap(line: Line, bottom: float, top: float) -> float:
    """How much of the lower of a line and a rect their vertical overlap is."""
    shared = min(line.top, top) - max(line.bottom, bottom)
    return shared / max(min(line.top - line.bottom, top - bottom), 0.1)


@pytest.fixture(scope="module")
def pdfs(made: dict[str, Made]) -> dict[str, list[Page]]:
    return {name: read_pdf(m.pdf) for name, m in made.items()}


@pytest.mark.slow
def test_conversion_time(made: dict[str, Made], capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print()
        for m in made.values():
            print(f"[undoc] {m.name}: pdf {m.seconds['pdf']:.2f} s, docx {m.seconds['docx']:.2f} s")
    for m in made.values():
        assert all(s < CONVERT_TIMEOUT for s in m.seconds.values())


@pytest.mark.slow
def test_pdf_page_counts(pdfs: dict[str, list[Page]]) -> None:
    # the Chinese report (65 paragraphs) runs to about a dozen pages; the short English ones start their
    # two annexes on new pages
    assert 9 <= len(pdfs["zh-2012-7"]) <= 13
    assert len(pdfs["en-2014-5"]) >= 3 and len(pdfs["en-2017-6"]) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_pdf_first_page_masthead_and_job_number(name: str, made: dict[str, Made], pdfs: dict) -> None:
    page = pdfs[name][0]
    meta = made[name].corpus.metadata
    job, suffix = JOBS[name]
    top = squash(" ".join(ln.text for ln in page.lines[:3]))
    assert ("联合国" if name.startswith("zh") else "UnitedNations") in top and squash(SYMBOLS[name]) in top
    flat = squash(page.text)
    for expected in ("Distr.: General", "Original: English", meta.session, meta.title, meta.report_type):
        assert squash(expected) in flat
    # the job number and the barcode's text in the footer, at the foot of page 1 only
    foot = page.lines[-2:]
    assert [squash(ln.text) for ln in foot] == [squash(f"{job} {suffix}"), "*" + re.sub(r"\D", "", job) + "*"]
    assert all(ln.top < page.height * 0.1 for ln in foot)
    assert not re.search(r"\b1/\d+\b", page.text)  # no running footer on page 1


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_pdf_running_heads_alternate_sides(name: str, pdfs: dict[str, list[Page]]) -> None:
    pages = pdfs[name]
    total = len(pages)
    job = JOBS[name][0]
    for page in pages[1:]:
        head, foot = page.lines[0], page.lines[-1]
        assert head.text.strip() == SYMBOLS[name], page.number
        assert head.top > page.height * 0.9 and foot.top < page.height * 0.1
        number = f"{page.number}/{total}"
        assert squash(foot.text) in (f"{number}{job}", f"{job}{number}"), page.number
        if page.number % 2 == 0:  # a left page: header and page number on the left
            assert head.left < page.width / 3 and squash(foot.text).startswith(number)
        else:
            assert head.right > page.width * 2 / 3 and squash(foot.text).endswith(number)
        assert head.text.strip() in page.text and number in page.text


def _footnotes(m: Made) -> list[tuple[str, str, int]]:
    """(marker, text, number of the paragraph) of every footnote, the asterisk's first (paragraph 0)."""
    notes = [("*", STAR_NOTES[m.name], 0)]
    return notes + [(fn.marker, fn.text, p.number) for p in m.corpus.paragraphs for fn in p.footnotes]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_pdf_footnotes_at_the_foot_of_their_markers_page(
    name: str, made: dict[str, Made], pdfs: dict[str, list[Page]]
) -> None:
    m, pages = made[name], pdfs[name]
    notes = _footnotes(m)
    pool = "".join(squash(marker + text) for marker, text, _ in notes)
    job = JOBS[name][0]
    for marker, text, _ in notes:
        start = squash(marker + text)[:14]
        found = [
            (page, k)
            for page in pages
            for k, ln in enumerate(page.lines)
            if squash(ln.text).startswith(start)
        ]
        assert len(found) == 1, (marker, found)
        page, k = found[0]
        # below it only footnotes and the footer
        for ln in page.lines[k + 1 :]:
            s = squash(ln.text)
            assert s in pool or job in s or re.fullmatch(r"\*\d+\*", s), (marker, ln.text)
        # on the page of its marker: the text just before the marker is on that page's body
        if marker != "*":
            p = next(p for p in m.corpus.paragraphs for fn in p.footnotes if fn.marker == marker)
            fn = next(fn for fn in p.footnotes if fn.marker == marker)
            before = squash(p.text[: fn.offset])[-8:]
            body = squash("".join(ln.text for ln in page.lines[1:k]))
            assert before + marker in body, (marker, before)
        else:
            assert page.number == 1


@pytest.mark.slow
def test_pdf_paragraphs_run_on_across_page_breaks(made: dict[str, Made], pdfs: dict[str, list[Page]]) -> None:
    """Every numbered paragraph is printed; in the Chinese report some start on one page and end on the next
    (the PDF reader has to join them across the running head, the footer and the footnotes)."""
    runs_on: dict[str, list[int]] = {}
    for name, m in made.items():
        bodies = [squash(page.text) for page in pdfs[name]]
        runs_on[name] = []
        for p in m.corpus.paragraphs:
            head = squash(f"{p.number}.{p.text}")[:12]
            tail = squash(p.items[-1].text if p.items else _last_run(p))[-10:]
            starts = [i for i, b in enumerate(bodies) if head in b]
            assert starts, (name, p.part, p.number)
            ends = [i for i, b in enumerate(bodies) if tail in b and i >= starts[0]]
            assert ends, (name, p.part, p.number)
            if ends[0] > starts[0]:
                runs_on[name].append(p.number)
    print(runs_on)
    assert len(runs_on["zh-2012-7"]) >= 3


def _last_run(p: Paragraph) -> str:
    """The last stretch of a paragraph's text without a footnote marker in it (of some length)."""
    cuts = [0, *(fn.offset for fn in p.footnotes if fn.offset > 0), len(p.text)]
    runs = [p.text[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    return next(r for r in reversed(runs) if len(squash(r)) >= 6)


# ---------------------------------------------------------------------------------------- the .docx


def _xml(z: zipfile.ZipFile, name: str) -> ET.Element:
    return ET.fromstring(z.read(name))


def _wtext(el: ET.Element) -> str:
    return "".join(t.text or "" for t in el.iter(_q("w:t")))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_docx_footnotes_in_their_part(name: str, made: dict[str, Made]) -> None:
    m = made[name]
    with zipfile.ZipFile(m.docx) as z:
        notes = _xml(z, "word/footnotes.xml")
        doc = _xml(z, "word/document.xml")
    texts = {
        fn.get(_q("w:id")): _wtext(fn).strip()
        for fn in notes.findall("w:footnote", NS)
        if fn.get(_q("w:type")) is None
    }
    refs = list(doc.iter(_q("w:footnoteReference")))
    # in document order: the asterisk's note (a custom mark "*"), then the numbered ones
    assert refs[0].get(_q("w:customMarkFollows")) == "1"
    assert texts[refs[0].get(_q("w:id"))] == "*" + STAR_NOTES[name]
    numbered = [texts[r.get(_q("w:id"))] for r in refs[1:]]
    assert numbered == [fn.text for p in m.corpus.paragraphs for fn in p.footnotes]
    assert all(r.get(_q("w:customMarkFollows")) is None for r in refs[1:])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REPORTS))
def test_docx_headers_and_footers_in_their_parts(name: str, made: dict[str, Made]) -> None:
    m = made[name]
    job, suffix = JOBS[name]
    with zipfile.ZipFile(m.docx) as z:
        parts = {n: _xml(z, n) for n in z.namelist() if re.fullmatch(r"word/(header|footer)\d+\.xml", n)}
        doc = _xml(z, "word/document.xml")
        settings = _xml(z, "word/settings.xml")
        styles = {st.get(_q("w:styleId")): st for st in _xml(z, "word/styles.xml").findall("w:style", NS)}
        rels = _xml(z, "word/_rels/document.xml.rels")
    target = {r.get("Id"): "word/" + r.get("Target", "") for r in rels}
    assert settings.find("w:evenAndOddHeaders", NS) is not None
    # one section, with a different first page (titlePg) and different even pages
    (section,) = doc.iter(_q("w:sectPr"))
    assert section.find("w:titlePg", NS) is not None
    barcode = "*" + re.sub(r"\D", "", job) + "*"

    def ref(kind: str, which: str) -> ET.Element:
        el = next(r for r in section.findall(f"w:{kind}Reference", NS) if r.get(_q("w:type")) == which)
        return parts[target[el.get(_q_r("id"))]]

    assert _wtext(ref("footer", "first")) == f"{job} {suffix}{barcode}"
    assert _wtext(ref("header", "first")) == ""
    for which, side in (("default", ("right", "end")), ("even", ("left", "start"))):
        header = ref("header", which)
        assert _wtext(header) == SYMBOLS[name]
        # aligned by its paragraph style (HeaderRight / HeaderLeft) or directly
        jc = header.find(".//w:pPr/w:jc", NS)
        if jc is None:
            style = header.find(".//w:pPr/w:pStyle", NS)
            assert style is not None
            jc = styles[style.get(_q("w:val"))].find("w:pPr/w:jc", NS)
        assert (jc.get(_q("w:val")) if jc is not None else "left") in side
        footer = ref("footer", which)
        instr = " ".join((t.text or "").strip() for t in footer.iter(_q("w:instrText")))
        instr += " ".join(f.get(_q("w:instr"), "") for f in footer.iter(_q("w:fldSimple")))
        assert "PAGE" in instr and "NUMPAGES" in instr and job in _wtext(footer)


def _q_r(local: str) -> str:
    return f"{{http://schemas.openxmlformats.org/officeDocument/2006/relationships}}{local}"


@pytest.mark.slow
def test_docx_reads_with_python_docx(made: dict[str, Made]) -> None:
    docx = pytest.importorskip("docx")
    m = made["zh-2012-7"]
    doc: Any = docx.Document(str(m.docx))
    paras = [p.text for p in doc.paragraphs]
    for p in m.corpus.paragraphs:
        assert f"{p.number}.\t{p.text}" in paras
    (section,) = doc.sections
    assert section.different_first_page_header_footer and doc.settings.odd_and_even_pages_header_footer
    assert [p.text for p in section.first_page_footer.paragraphs] == [f"{DEFAULT_JOB} (C)", "*1255236*"]
    assert (
        section.header.paragraphs[0].text == section.even_page_header.paragraphs[0].text == "CTOC/COP/2012/7"
    )


@pytest.mark.slow
def test_convert_failure_quotes_libreoffice(tmp_path: Path) -> None:
    if not soffice_available():
        pytest.fail("soffice missing: apt-get install --no-install-recommends libreoffice-writer-nogui")
    bad = tmp_path / "bad.fodt"
    bad.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<office:document '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'office:mimetype="application/vnd.oasis.opendocument.text"><office:body><<</office:document>\n',
        encoding="utf-8",
    )
    with pytest.raises(ConversionError, match="(?s)failed to convert bad.fodt to pdf.*its output"):
        convert(bad, "pdf", tmp_path / "out")
    with pytest.raises(ValueError, match="fmt"):
        convert(bad, "odt", tmp_path / "out")
