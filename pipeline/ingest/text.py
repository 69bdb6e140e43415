"""The plain-text reader: a report's ``.txt`` file (UTF-8 bytes) -> text -> :class:`~pipeline.corpus.Corpus`.

Readers of other formats (PDF, Word) belong beside this one and produce the same model.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.corpus import Corpus
from pipeline.ingest.errors import IngestError
from pipeline.ingest.language import lang_from_name, settle_language
from pipeline.ingest.parser import parse_report
from pipeline.store import sha256_bytes

__all__ = ["decode_report", "ingest_file"]


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
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(
            path,
            0,
            "no such report; set PIPELINE_HOME to a folder holding corpus/ (with the report) "
            "and indexes/, or run from such a folder",
        ) from None
    except OSError as e:
        raise IngestError(path, 0, f"cannot read the file: {e.strerror or e}") from None
    hint = lang or lang_from_name(path)
    if hint is not None:
        settle_language(path, hint, None)  # an unknown language or one not parsed yet fails before decoding
    return parse_report(decode_report(raw, path), path, sha256_bytes(raw), lang=hint)
