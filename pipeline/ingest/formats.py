"""What a report file is, told by its content (magic bytes), and its layout text.

Every reader turns its format into *layout text* — the plain-text layout the text parser reads
(:mod:`pipeline.ingest.parser`) — so a PDF, a Word file and a text of one report give the same paragraphs:

* ``text``: UTF-8 text, read as it is (:func:`~pipeline.ingest.text.decode_report`).
* ``pdf`` (``%PDF-``): the text layer, laid out by positions and fonts (:mod:`pipeline.ingest.pdf`); pages are
  separated by form feeds, so each paragraph records its page.
* ``docx`` (a zip holding ``word/document.xml``): Word's paragraphs, numbering and footnotes
  (:mod:`pipeline.ingest.docx`).
* ``doc`` (an OLE compound file: old Word): converted to ``.docx`` by LibreOffice when it is installed, else
  refused with the command that converts it. An encrypted ``.docx`` is an OLE file too, and is refused as
  such.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from io import BytesIO
from pathlib import Path

from pipeline.corpus import Corpus
from pipeline.ingest.errors import IngestError
from pipeline.ingest.language import lang_from_name, settle_language
from pipeline.ingest.parser import parse_report
from pipeline.ingest.text import decode_report, read_report_bytes
from pipeline.store import sha256_bytes

__all__ = ["FORMATS", "SUFFIXES", "ingest_file", "layout_text", "parse_layout", "sniff_format"]

#: The formats read, as :func:`sniff_format` names them.
FORMATS = ("text", "pdf", "docx", "doc")
#: File name endings taken from a folder (``pipeline add FOLDER``).
SUFFIXES = (".txt", ".pdf", ".docx", ".doc")

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: Seconds LibreOffice may take to convert one old Word file.
_CONVERT_TIMEOUT = 180


def sniff_format(raw: bytes) -> str:
    """The format of a report file's bytes: "pdf", "docx", "doc", "zip" (another zip), "ole" (an encrypted
    Office file or another OLE file) or "text" (anything else; decoding decides whether it is text)."""
    if b"%PDF-" in raw[:1024]:  # readers accept up to 1 KiB of junk before the header, as the spec allows
        return "pdf"
    if raw[:4] in _ZIP_MAGIC:
        try:
            with zipfile.ZipFile(BytesIO(raw)) as z:
                names = set(z.namelist())
        except zipfile.BadZipFile:
            return "zip"
        return "docx" if "word/document.xml" in names else "zip"
    if raw[:8] == _OLE_MAGIC:
        # an encrypted .docx/.pdf-less Office file stores its package in an "EncryptedPackage" stream
        return "ole" if "EncryptedPackage".encode("utf-16-le") in raw else "doc"
    return "text"


def layout_text(raw: bytes, path: str | Path) -> tuple[str, str]:
    """The layout text of a report file's bytes, and the format it was read as.

    Raises:
        IngestError: a file of a format not read, a damaged or encrypted file, a PDF without a text layer,
            text that is not UTF-8 (file, and page or line, named).
    """
    fmt = sniff_format(raw)
    if fmt == "pdf":
        from pipeline.ingest.pdf import pdf_layout

        return pdf_layout(raw, path), fmt
    if fmt == "docx":
        from pipeline.ingest.docx import docx_layout

        return docx_layout(raw, path), fmt
    if fmt == "doc":
        return _convert_doc(raw, path), fmt
    if fmt == "ole":
        raise IngestError(
            path, 0, "is an encrypted (password-protected) Office file; save it without a password first"
        )
    suffix = Path(path).suffix.lower()
    if fmt == "text" and suffix in (".pdf", ".docx", ".doc"):
        what = {".pdf": "a PDF (no %PDF- header)", ".docx": "a Word .docx file (not a zip archive)"}
        kind = what.get(suffix, "an old Word .doc file")
        raise IngestError(path, 0, f"is named {suffix} but is not {kind}")
    if fmt == "zip":
        raise IngestError(path, 0, "is a zip archive but not a Word .docx file (no word/document.xml)")
    return decode_report(raw, path), fmt


def _convert_doc(raw: bytes, path: str | Path) -> str:
    """An old Word file (.doc), converted to .docx by LibreOffice when it is installed."""
    from pipeline.ingest.docx import docx_layout

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    command = f"soffice --headless --convert-to docx {Path(path).name}"
    if soffice is None:
        raise IngestError(
            path,
            0,
            f"is an old Word .doc file; convert it first: `{command}` (LibreOffice), then add the .docx",
        )
    with tempfile.TemporaryDirectory(prefix="pipeline-doc-") as tmp:
        src = Path(tmp) / "report.doc"
        src.write_bytes(raw)
        try:
            done = subprocess.run(
                [
                    soffice,
                    "--headless",
                    "--norestore",
                    f"-env:UserInstallation={Path(tmp, 'profile').as_uri()}",
                    "--convert-to",
                    "docx:MS Word 2007 XML",
                    "--outdir",
                    tmp,
                    str(src),
                ],
                capture_output=True,
                timeout=_CONVERT_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            message = f"LibreOffice did not convert the .doc file in {_CONVERT_TIMEOUT} s"
            raise IngestError(path, 0, message) from None
        out = Path(tmp) / "report.docx"
        if done.returncode != 0 or not out.is_file():
            said = (done.stderr or done.stdout).decode("utf-8", "replace").strip()[:300]
            raise IngestError(path, 0, f"LibreOffice could not convert the .doc file ({said or 'no output'})")
        return docx_layout(out.read_bytes(), path)


def ingest_file(path: str | Path, lang: str | None = None) -> Corpus:
    """Read and parse a report file: text, PDF or Word, told by its content.

    Args:
        path: the report's file.
        lang: the report's language; None takes the file name's (``NAME.zh.txt``, ``NAME.en.pdf``), else
            detects it.

    Returns:
        The corpus; every paragraph's ``document`` is the printed symbol or "" until
        :func:`~pipeline.ingest.identity.settle_identity` settles it (the library does, from its catalog:
        :func:`pipeline.library.load_library`). ``sha256`` is the hash of the layout text's bytes (for a text
        file, of the file).

    Raises:
        IngestError: unreadable, empty, not UTF-8, in a language not supported yet or contradicting its text,
            a damaged, encrypted or scanned PDF or Word file, or structurally broken input (file and line, or
            page, named).
    """
    path = Path(path)
    if not path.exists():
        raise IngestError(
            path,
            0,
            "no such report; set PIPELINE_HOME to a folder holding corpus/ (with the report) "
            "and indexes/, or run from such a folder",
        )
    raw = read_report_bytes(path)
    hint = lang or lang_from_name(path)
    if hint is not None:
        settle_language(path, hint, None)  # an unknown language or one not parsed yet fails before decoding
    text, fmt = layout_text(raw, path)
    return parse_layout(text, fmt, path, sha256_bytes(raw if fmt == "text" else text.encode("utf-8")), hint)


def parse_layout(text: str, fmt: str, path: str | Path, sha256: str, lang: str | None) -> Corpus:
    """:func:`~pipeline.ingest.parser.parse_report` on a file's layout text; an error in a PDF's text names
    the page (its line numbers are those of the layout text, which the reader never sees)."""
    try:
        return parse_report(text, path, sha256, lang=lang)
    except IngestError as e:
        if fmt != "pdf" or e.line <= 0:
            raise
        page = text.split("\n")[: e.line].count("\f") + 1
        raise IngestError(path, 0, f"page {page}: {e.message}") from None
