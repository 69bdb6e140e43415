"""Turn a query file's bytes into lines of text: UTF-8, or Chinese GB18030/GBK read with a warning.

Reads the whole file (or standard input), up to 1 GiB, and refuses from its first 64 KiB what cannot be a
file of queries: a known binary format, UTF-16/32 (with or without a byte order mark), bytes with NULs or
many control characters — each with a message naming the file and, for another text encoding, the
``iconv`` command that converts it. Lines are split on ``\\n`` (a ``\\r`` before it is dropped; a file with
only ``\\r`` line ends is split on those), never on U+2028, a form feed or a vertical tab.

UTF-8 (with or without a byte order mark) comes first: a line that is not UTF-8 in an otherwise UTF-8 file is
kept aside with its reason. A file with no UTF-8 line beyond ASCII whose bytes decode as GB18030 (a superset
of GBK: what Chinese Excel and Windows save) into Chinese text is read as GB18030, and a warning naming the
file and the encoding is given to ``warn``; one that only half looks like it is refused with the ``iconv``
command.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from pipeline.errors import UserError

MAX_INPUT_BYTES = 1 << 30
_HEAD = 1 << 16
_IS_DIR = "is a directory, not a query file (give a .jsonl, .csv or .txt file)"


class BatchInputError(UserError):
    """The input file cannot be used at all; ``str()`` is the whole message, naming the file (and line)."""


class BatchInputWarning(UserWarning):
    """The input file is used, but the user should know something about it (it was read as GB18030)."""


#: Called with a warning about the whole input (its message names the file).
Warn = Callable[[str], None]


def _python_warning(message: str) -> None:
    warnings.warn(message, BatchInputWarning, stacklevel=5)


def display_name(path: str | os.PathLike[str]) -> str:
    """How messages name an input: its path, or "standard input" for "-"."""
    return "standard input" if str(path) == "-" else str(path)


def read_lines(path: str | os.PathLike[str], warn: Warn | None = None) -> tuple[list[str], dict[int, str]]:
    """Read and decode a query file (or "-" for standard input).

    Args:
        path: the file, or "-".
        warn: told about a file read as GB18030 (default: a :class:`BatchInputWarning`).

    Returns:
        ``(lines, undecodable)``: every line (bytes that are not UTF-8 kept as surrogate escapes, so a CSV
        record's quoting is intact) and ``{line number: message}`` for the lines that are not UTF-8.

    Raises:
        BatchInputError: the file is missing, unreadable, not a file, too large, binary, UTF-16/32, or
            looks like GBK/GB18030 without reading as Chinese text.
    """
    return _decode(_read_bytes(path), display_name(path), warn)


def _read_stream(f: BinaryIO, name: str) -> bytes:
    """Read a whole query file, refusing a binary or UTF-16/32 one from its first 64 KiB (so ``/dev/zero`` or
    ``/dev/urandom`` is refused at once instead of filling the memory) and anything over 1 GiB."""
    head = f.read(_HEAD)
    while len(head) < _HEAD and (more := f.read(_HEAD - len(head))):
        head += more  # a pipe delivers what it has
    _sniff(head, name)
    blocks = [head]
    size = len(head)
    while block := f.read(1 << 20):
        size += len(block)
        if size > MAX_INPUT_BYTES:
            raise BatchInputError(
                f"{name}: is larger than {MAX_INPUT_BYTES >> 30} GiB; split it into smaller files"
            )
        blocks.append(block)
    return b"".join(blocks)


def _os_error(name: str, e: OSError, permission: str) -> BatchInputError:
    """The message for an error looking up or reading the file; ``permission``
    says which of the two failed."""
    if isinstance(e, FileNotFoundError):
        why = "no such file"
    elif isinstance(e, NotADirectoryError):
        why = "no such file (a part of the path is not a directory)"
    elif isinstance(e, PermissionError):
        why = f"permission denied ({permission})"
    elif isinstance(e, IsADirectoryError):
        why = _IS_DIR
    else:
        why = f"cannot read it ({e.strerror or e})"
    return BatchInputError(f"{name}: {why}")


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    if str(path) == "-":
        return _read_stream(sys.stdin.buffer, "standard input")
    name = str(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise _os_error(name, e, "cannot look up the file") from None
    if stat.S_ISDIR(st.st_mode):
        raise BatchInputError(f"{name}: {_IS_DIR}")
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
        raise BatchInputError(f"{name}: is not a regular file")
    try:
        with open(path, "rb") as f:
            return _read_stream(f, name)
    except OSError as e:
        raise _os_error(name, e, "the file is not readable") from None


_MAGIC = [
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (an .xlsx, .docx or .odt file?); save it as CSV UTF-8 or plain text"),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "a Microsoft Office file (.xls or .doc?); save it as CSV UTF-8 or plain text",
    ),
    (b"\x1f\x8b", "gzip-compressed; decompress it first"),
    (b"\xfd7zXZ\x00", "xz-compressed; decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"SQLite format 3\x00", "an SQLite database"),
]


def _convert_hint(name: str, encoding: str) -> str:
    src = "INPUT" if name == "standard input" else name
    p = Path(src)
    dest = str(p.with_name(p.stem + ".utf8" + p.suffix))
    return f"convert it first: iconv -f {encoding} -t UTF-8 {shlex.quote(src)} > {shlex.quote(dest)}"


def _wide_encoding(sample: bytes) -> str | None:
    """ "UTF-16LE", "UTF-16BE", "UTF-32LE" or "UTF-32BE" when a BOM-less sample
    with NUL bytes decodes as one."""

    def textlike(enc: str, data: bytes) -> bool:
        for cut in (0, 1, 2, 3):  # the sample may end inside a character
            try:
                s = data[: len(data) - cut].decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            return False
        return bool(s) and sum(c.isprintable() or c in "\t\n\r" for c in s) >= 0.95 * len(s)

    n4 = len(sample) // 4
    if n4:
        z = [sample[i : 4 * n4 : 4].count(0) / n4 for i in range(4)]
        if min(z[1], z[2], z[3]) > 0.9 and textlike("utf-32-le", sample[: 4 * n4]):
            return "UTF-32LE"
        if min(z[0], z[1], z[2]) > 0.9 and textlike("utf-32-be", sample[: 4 * n4]):
            return "UTF-32BE"
    n2 = len(sample) // 2
    if n2:
        even, odd = sample[0 : 2 * n2 : 2].count(0), sample[1 : 2 * n2 : 2].count(0)
        if odd > 4 * even and textlike("utf-16-le", sample[: 2 * n2]):
            return "UTF-16LE"
        if even > 4 * odd and textlike("utf-16-be", sample[: 2 * n2]):
            return "UTF-16BE"
    return None


def _is_cjk(c: str) -> bool:
    """A Chinese character, or CJK or fullwidth punctuation."""
    o = ord(c)
    return 0x2E80 <= o <= 0x9FFF or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF or 0x3000 <= o <= 0x303F


def _cjk_share(text: str) -> float:
    wide = [c for c in text if ord(c) >= 0x80]
    if not wide:
        return 0.0
    return sum(map(_is_cjk, wide)) / len(wide)


def _sniff(head: bytes, name: str) -> None:
    """Refuse, from the first bytes of a file, a UTF-16/32 text (with or without byte order mark), a known
    binary format, or bytes with NULs or many control characters."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        enc = "UTF-32LE" if head[0] == 0xFF else "UTF-32BE"
        raise BatchInputError(
            f"{name}: is {enc} text (byte order mark), not UTF-8; {_convert_hint(name, 'UTF-32')}"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "UTF-16LE" if head[0] == 0xFF else "UTF-16BE"
        raise BatchInputError(
            f"{name}: is {enc} text (byte order mark), not UTF-8; {_convert_hint(name, 'UTF-16')}"
        )
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise BatchInputError(f"{name}: is {what}, not a text file of queries")
    if b"\x00" in head:
        enc = _wide_encoding(head)
        if enc:
            raise BatchInputError(
                f"{name}: looks like {enc} text (NUL bytes between characters), not UTF-8; "
                f"{_convert_hint(name, enc)}"
            )
        at = head.index(b"\x00")
        raise BatchInputError(
            f"{name}: looks like a binary file (a NUL byte at offset {at}), not a text file of queries"
        )
    controls = sum(head.count(bytes([b])) for b in (*range(1, 9), *range(14, 27), *range(28, 32)))
    if head and controls > 0.1 * len(head):
        raise BatchInputError(
            f"{name}: looks like a binary file (many control bytes), not a text file of queries"
        )


def decode_bytes(raw: bytes, name: str, warn: Warn | None = None) -> tuple[list[str], dict[int, str]]:
    """Decode bytes already in memory as :func:`read_lines` decodes a file (``name`` names it in messages)."""
    if len(raw) > MAX_INPUT_BYTES:
        raise BatchInputError(f"{name}: larger than {MAX_INPUT_BYTES >> 20} MiB")
    return _decode(raw, name, warn)


def _decode(raw: bytes, name: str, warn: Warn | None = None) -> tuple[list[str], dict[int, str]]:
    """Split ``raw`` into lines and decode each as UTF-8, or all as GB18030 (see :func:`read_lines`)."""
    _sniff(raw[:_HEAD], name)
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        raise BatchInputError(
            f"{name}: looks like a binary file (a NUL byte at offset {at}), not a text file of queries"
        )

    # old Mac line ends (Excel's "CSV (Macintosh)"): a lone CR ends lines only when there is no LF at all
    parts = raw.split(b"\n") if b"\n" in raw or b"\r" not in raw else raw.split(b"\r")
    if parts and parts[-1] == b"":
        parts.pop()
    parts = [p[:-1] if p.endswith(b"\r") else p for p in parts]
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return [p.decode("utf-8") for p in parts], {}
    lines: list[str] = []
    undecodable: dict[int, str] = {}
    bad_raw: list[bytes] = []
    good_wide = 0
    for n, p in enumerate(parts, 1):
        try:
            lines.append(p.decode("utf-8"))
            good_wide += not p.isascii()
        except UnicodeDecodeError as e:
            col = len(p[: e.start].decode("utf-8", "replace")) + 1
            hint = "; it looks like GBK" if _legacy_chinese(p, 2) else ""
            undecodable[n] = f"not UTF-8 (byte 0x{p[e.start]:02X} at column {col}{hint}); the line is skipped"
            lines.append(p.decode("utf-8", "surrogateescape"))
            bad_raw.append(p)
    if not good_wide:  # no line is UTF-8 beyond ASCII: is the whole file in a legacy Chinese encoding?
        chinese = _gb18030_lines(parts)
        if chinese is not None:
            (warn or _python_warning)(
                f"{name}: not UTF-8; read as GB18030 (GBK) Chinese text, the encoding Chinese Excel saves in "
                "(save the file as UTF-8 to be sure the questions read as intended)"
            )
            return chinese, {}
        enc = _legacy_chinese(b"\n".join(bad_raw), 4)
        if enc:
            raise BatchInputError(
                f"{name}: is not UTF-8; it looks like {enc} (Chinese) text: {_convert_hint(name, enc)}"
            )
    return lines, undecodable


def _gb18030_lines(parts: list[bytes]) -> list[str] | None:
    """The lines decoded as GB18030 when every one decodes and the text looks Chinese, else None.

    Looks Chinese: at least two CJK ideographs, at least 80 % of the non-ASCII characters Chinese (or CJK
    punctuation) and at least 80 % of them among the common characters of GB2312 — Latin-1 or
    Windows-1252 accents read as GBK land outside GB2312 (an accented letter followed by an ASCII one).
    """
    try:
        lines = [p.decode("gb18030") for p in parts]
    except UnicodeDecodeError:
        return None
    wide: dict[str, int] = {}
    seen = 0
    for line in lines:
        for c in line:
            if ord(c) >= 0x80:
                wide[c] = wide.get(c, 0) + 1
        seen += len(line)
        if seen > 1 << 18:  # a sample is evidence enough
            break
    total = sum(wide.values())
    ideographs = sum(n for c, n in wide.items() if 0x3400 <= ord(c) <= 0x9FFF or 0xF900 <= ord(c) <= 0xFAFF)
    chinese = sum(n for c, n in wide.items() if _is_cjk(c))
    common = sum(n for c, n in wide.items() if _in_gb2312(c))
    return lines if ideographs >= 2 and min(chinese, common) >= 0.8 * total else None


def _in_gb2312(c: str) -> bool:
    try:
        c.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _legacy_chinese(data: bytes, min_chars: int) -> str | None:
    """ "GBK" or "GB18030" when ``data`` decodes as one into at least ``min_chars`` characters, mostly Chinese
    (a stray byte in an otherwise ASCII line can decode as one Chinese character; that is not evidence)."""
    for enc in ("GBK", "GB18030"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        wide = sum(ord(c) >= 0x80 for c in text)
        return enc if wide >= min_chars and _cjk_share(text) >= 0.8 else None
    return None
