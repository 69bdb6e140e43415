"""The plain-text reader: a report file's bytes, read safely, and decoded as UTF-8.

Readers of other formats (:mod:`pipeline.ingest.pdf`, :mod:`pipeline.ingest.docx`) produce the same layout
text; :mod:`pipeline.ingest.formats` tells them apart and :func:`~pipeline.ingest.formats.ingest_file` parses
any of them.
"""

from __future__ import annotations

import stat
from pathlib import Path

from pipeline.ingest.errors import IngestError

__all__ = ["MAX_REPORT_BYTES", "decode_report", "read_report_bytes"]

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
