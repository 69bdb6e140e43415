"""The plain-text reader: a report's ``.txt`` file (UTF-8 bytes) -> text -> :class:`~pipeline.corpus.Corpus`.

Readers of other formats (PDF, Word) belong beside this one and produce the same model.
"""

from __future__ import annotations

import stat
from pathlib import Path

from pipeline.corpus import Corpus
from pipeline.ingest.errors import IngestError
from pipeline.ingest.language import lang_from_name, settle_language
from pipeline.ingest.parser import parse_report
from pipeline.store import sha256_bytes

__all__ = ["MAX_REPORT_BYTES", "decode_report", "ingest_file", "read_report_bytes"]

#: The largest report file read (a UN report's text is rarely above 2 MB; 16 MiB leaves room for the
#: longest compilations while a wrong file — a disk image, /dev/zero — is refused before it is read).
MAX_REPORT_BYTES = 16 * 1024 * 1024


def read_report_bytes(path: str | Path) -> bytes:
    """A report file's bytes, refusing before anything is read what cannot be a report: a folder, a named
    pipe, a device or socket (reading one could wait forever), a file over :data:`MAX_REPORT_BYTES`.

    Raises:
        IngestError: the file is missing, unreadable or refused (file named; line 0).
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise IngestError(path, 0, "no such file") from None
    except OSError as e:
        raise IngestError(path, 0, f"cannot read the file: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise IngestError(path, 0, "is a directory; give the report files")
    if not stat.S_ISREG(st.st_mode):
        raise IngestError(path, 0, "is not a regular file (a pipe, device or socket); give a report file")
    if st.st_size > MAX_REPORT_BYTES:
        raise IngestError(
            path,
            0,
            f"is {st.st_size:,} bytes; reports of at most {MAX_REPORT_BYTES // (1024 * 1024)} MiB are read",
        )
    try:
        return path.read_bytes()
    except OSError as e:
        raise IngestError(path, 0, f"cannot read the file: {e.strerror or e}") from None


def decode_report(raw: bytes, path: str | Path) -> str:
    """Decode the report's bytes as UTF-8, or fail with a message that says what the bytes are.

    Raises:
        IngestError: empty file, or bytes that are not UTF-8 (GB18030/GBK is recognized and named).
    """
    if not raw.strip():
        raise IngestError(path, 1, "the file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        try:
            raw.decode("gb18030")
        except UnicodeDecodeError:
            raise IngestError(path, line, f"not UTF-8 text (invalid byte 0x{raw[e.start]:02x})") from None
        raise IngestError(
            path,
            line,
            "not UTF-8: the bytes look like GB18030/GBK-encoded Chinese; "
            "convert the file first, e.g. `iconv -f GB18030 -t UTF-8`",
        ) from None


def ingest_file(path: str | Path, lang: str | None = None) -> Corpus:
    """Read and parse a report file.

    Args:
        path: the report's text file (UTF-8).
        lang: the report's language; None takes the file name's (``NAME.zh.txt``), else detects it.

    Returns:
        The corpus; every paragraph's ``document`` is the printed symbol or "" until
        :func:`~pipeline.ingest.identity.settle_identity` settles it (the library does, from its catalog:
        :func:`pipeline.library.load_library`).

    Raises:
        IngestError: unreadable, empty, not UTF-8, in a language not supported yet or contradicting its text,
            or structurally broken input (file and line named).
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
    return parse_report(decode_report(raw, path), path, sha256_bytes(raw), lang=hint)
