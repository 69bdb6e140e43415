"""Raw report text -> :class:`~pipeline.corpus.Corpus`.

The parser reads a UN report in the layout of the Chinese CTOC documents: front matter, headings
"一." / "A." / "1.", numbered paragraphs "N. …", lettered items "(a) …", footnotes printed after a rule
"_____" at the foot of a page (which in the plain text can fall in the middle of another paragraph), and
lines broken anywhere, inside words, numbers, references and URLs.

Every decision is a general rule, never a patch for one paragraph:

* A line can open a new unit (heading, paragraph, item) only at a *block start*: the unit before it is a
  heading or its text ends with terminal punctuation. Anywhere else a line is a continuation, so "28 条",
  "2012 年" or "10 月 19 日" at the start of a line stay in the sentence they belong to.
* "N. text" at a block start is paragraph N only when N is the next paragraph number. A short line group
  without sentence punctuation numbered 1, 2, … inside a section is a sub-heading. Anything else is a
  numbering error (gap, duplicate, order break), reported with file and line.
* After a rule "_____", lines " k text" with k the next footnote number are footnotes; a footnote ends at
  its terminal punctuation, and the body resumes — joined to the sentence the page break interrupted.
* A footnote marker is a bare footnote number glued to the preceding CJK character or punctuation
  ("……平方英里。1"); it is removed from the text and the footnote is attached to that paragraph.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config
from pipeline.corpus import Corpus, Footnote, Item, Metadata, Paragraph, Section, Sentence
from pipeline.errors import UserError
from pipeline.store import sha256_bytes
from pipeline.text import CJK_IDEOGRAPHS, CJK_PUNCTUATION, join_fragment, split_sentences

_CN_NUM = "一二三四五六七八九十"
_RE_CHAPTER = re.compile(rf"^([{_CN_NUM}]+)[.．、]\s*(\S.*)$")
_RE_LETTER = re.compile(r"^([A-Z])[.．]\s+(\S.*)$")
_RE_NUMBERED = re.compile(r"^(\d{1,3})[.．]\s+(\S.*)$")
_RE_NUMBER_ONLY = re.compile(r"^(\d{1,3})[.．]$")
_RE_ITEM = re.compile(r"^\(([a-z])\)\s*(\S.*)$")
_RE_RULE = re.compile(r"^_{5,}$")
_RE_FOOTNOTE = re.compile(r"^(\d{1,3})\s+(\S.*)$")
_TERMINAL = "。；：！？.;:!?"
_SENTENCE_PUNCT = "。；！？"
_MAX_HEADING_CHARS = 120
_RE_BLOCK_END = re.compile(r"[。；：！？.;:!?][”’）)]*(?:\d{1,3})?\s*$")


class IngestError(UserError, ValueError):
    """A report that cannot be parsed faithfully; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}")


@dataclass
class _Unit:
    kind: str  # "heading" | "para" | "item"
    text: str
    line: int
    ref: object  # Section | Paragraph | Item

    def ends_block(self) -> bool:
        """A heading, or text ending a sentence (possibly followed by a footnote marker: "。1")."""
        return self.kind == "heading" or bool(_RE_BLOCK_END.search(self.text))


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


def _is_heading_block(lines: list[str], start: int) -> bool:
    """True when the line group opening at ``start`` (up to the next structural line) reads as a heading."""
    text = lines[start].strip()
    for j in range(start + 1, len(lines)):
        s = lines[j].strip()
        if not s:
            continue
        if any(r.match(s) for r in (_RE_CHAPTER, _RE_LETTER, _RE_NUMBERED, _RE_RULE, _RE_NUMBER_ONLY)):
            break
        text += s
        if len(text) > _MAX_HEADING_CHARS:
            return False
    return not any(c in _SENTENCE_PUNCT for c in text) and len(text) <= _MAX_HEADING_CHARS


def _body_start(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        s = line.strip()
        if _RE_CHAPTER.match(s) or ((m := _RE_NUMBERED.match(s)) and m.group(1) == "1"):
            return i
    return len(lines)


_RE_SYMBOL = re.compile(r"\b[A-Z]{1,8}(?:/[A-Z0-9.]+){2,}\b")


def _parse_front_matter(lines: list[str]) -> tuple[Metadata, list[str]]:
    blocks: list[list[str]] = []
    cur: list[str] = []
    for line in lines:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    meta = Metadata()
    rest: list[list[str]] = []
    for block in blocks:
        head = block[0]
        if m := _RE_SYMBOL.search(" ".join(block)):
            meta.symbol, meta.symbol_source = m.group(0), "front matter"
        if meta.session is None and re.search(r"第.+届会议", head):
            meta.session = head
            block = block[1:]
        if block and meta.dates is None and re.search(r"\d{4}\s*年.*日", block[0]):
            dates, _, place = block[0].partition("，")
            meta.dates, meta.place = dates.strip(), place.strip() or None
            block = block[1:]
        if block and (m := re.search(r"议程\*?\s*项目\s*(\S+)", block[0])):
            meta.agenda_item = m.group(1)
            meta.agenda_title = "".join(block[1:]) or None
            block = []
        if block:
            rest.append(block)
    if rest and re.search(r"的报告$", "".join(rest[-1])):
        meta.report_type = "".join(rest.pop())
    if rest:
        meta.title = "".join(max(rest, key=lambda b: len("".join(b))))
    return meta, [line.strip() for line in lines if line.strip()]


def _attach_footnotes(path: str | Path, paragraphs: list[Paragraph], notes: list[tuple[int, str, int]]) -> None:
    """Move each footnote to the paragraph carrying its marker, and take the marker out of the text."""
    after = (0, 0)  # (paragraph index, offset) after which the next marker must stand
    for marker, text, line in [(str(n), t, ln) for n, t, ln in notes]:
        pattern = re.compile(
            rf"(?<=[{CJK_PUNCTUATION}{CJK_IDEOGRAPHS}”’]){marker}(?![\d.,%])(?=\s|$|[{CJK_PUNCTUATION}])"
        )
        found = None
        for pi in range(after[0], len(paragraphs)):
            p = paragraphs[pi]
            if p.line > line:
                break  # a footnote is printed on the page of its marker: never before it
            m = pattern.search(p.text, after[1] if pi == after[0] else 0)
            if m:
                found = (pi, m)
        if found is None:
            raise IngestError(path, line, f"footnote {marker} is printed but its marker is not found in any paragraph")
        pi, m = found
        p = paragraphs[pi]
        end = m.end()
        while end < len(p.text) and p.text[end] == " ":  # the marker's own spacing goes with it
            end += 1
        p.text = p.text[: m.start()] + p.text[end:]
        p.footnotes.append(Footnote(marker=marker, text=text, offset=m.start(), line=line))
        after = (pi, m.start())


def parse_report(text: str, path: str | Path = "<text>", sha256: str | None = None) -> Corpus:
    """Parse a report's text into a :class:`Corpus`.

    Args:
        text: the report, decoded.
        path: shown in error messages and recorded in the corpus.
        sha256: hash of the source bytes; computed from ``text`` when omitted.

    Returns:
        The corpus.

    Raises:
        IngestError: numbering gaps, duplicates or order breaks, a paragraph with no text, a footnote
            without a marker, or no paragraphs at all; the message names file and line.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _body_start(lines)
    if start == len(lines):
        raise IngestError(path, 1, "no numbered paragraphs found (expected a line starting with '1. ')")
    meta, front = _parse_front_matter(lines[:start])

    sections: list[Section] = []
    paragraphs: list[Paragraph] = []
    residue: list[tuple[int, str]] = []
    notes: list[tuple[int, str, int]] = []
    path_stack: list[Section] = []  # current heading path
    seen: dict[int, int] = {}
    unit: _Unit | None = None
    note_open: list | None = None  # [number, text, line] of the footnote being read
    in_notes = False
    sub_count = 0

    def close() -> None:
        nonlocal unit
        if unit is None:
            return
        if unit.kind == "heading":
            unit.ref.title = unit.text  # type: ignore[attr-defined]
        elif unit.kind == "para":
            unit.ref.text = unit.text  # type: ignore[attr-defined]
        else:
            unit.ref.text = unit.text  # type: ignore[attr-defined]
        unit = None

    def open_heading(label: str, title: str, level: int, lineno: int) -> None:
        nonlocal unit, sub_count
        close()
        sec = Section(label=label, title=title, level=level, line=lineno)
        sections.append(sec)
        while path_stack and path_stack[-1].level >= level:
            path_stack.pop()
        path_stack.append(sec)
        if level < 3:
            sub_count = 0
        unit = _Unit("heading", title, lineno, sec)

    for idx in range(start, len(lines)):
        lineno = idx + 1
        s = lines[idx].strip()
        if not s:
            continue
        if _RE_RULE.match(s):
            residue.append((lineno, s))
            in_notes = True
            note_open = None
            continue
        if in_notes:
            if note_open is not None and note_open[1].rstrip()[-1:] not in _SENTENCE_PUNCT + ".":
                note_open[1] = join_fragment(note_open[1], s)
                continue
            m = _RE_FOOTNOTE.match(s)
            if m and int(m.group(1)) == len(notes) + (note_open is not None) + 1:
                if note_open is not None:
                    notes.append(tuple(note_open))  # type: ignore[arg-type]
                note_open = [int(m.group(1)), m.group(2), lineno]
                continue
            if note_open is not None:
                notes.append(tuple(note_open))  # type: ignore[arg-type]
                note_open = None
            in_notes = False

        block_start = unit is None or unit.ends_block()
        if block_start:
            if m := _RE_CHAPTER.match(s):
                open_heading(m.group(1), m.group(2), 1, lineno)
                continue
            if (m := _RE_LETTER.match(s)) and _is_heading_block(lines, idx):
                open_heading(m.group(1), m.group(2), 2, lineno)
                continue
            if m := _RE_NUMBER_ONLY.match(s):
                raise IngestError(path, lineno, f"paragraph {m.group(1)} has no text")
            if m := _RE_NUMBERED.match(s):
                n = int(m.group(1))
                expected = paragraphs[-1].number + 1 if paragraphs else 1
                if n == expected:
                    close()
                    # close() has just completed any heading, so the path's strings are final
                    para = Paragraph(number=n, section=[sec.heading for sec in path_stack], text="", line=lineno)
                    paragraphs.append(para)
                    seen[n] = lineno
                    unit = _Unit("para", m.group(2), lineno, para)
                    continue
                if n == sub_count + 1 and path_stack and _is_heading_block(lines, idx):
                    sub_count = n
                    open_heading(m.group(1), m.group(2), 3, lineno)
                    continue
                if n in seen:
                    raise IngestError(path, lineno, f"duplicate paragraph number {n} (first at line {seen[n]}); expected {expected}")
                what = "numbering gap" if n > expected else "numbering out of order"
                raise IngestError(path, lineno, f"{what}: expected paragraph {expected}, found {n}")
            if (m := _RE_ITEM.match(s)) and paragraphs and unit is not None and unit.kind != "heading":
                para = paragraphs[-1]
                want = chr(ord("a") + len(para.items))
                if m.group(1) == want:
                    close()
                    item = Item(label=want, text="", line=lineno)
                    para.items.append(item)
                    unit = _Unit("item", m.group(2), lineno, item)
                    continue
        if unit is None:
            raise IngestError(path, lineno, "text before the first heading or paragraph")
        unit.text = join_fragment(unit.text, s)
    if note_open is not None:
        notes.append(tuple(note_open))  # type: ignore[arg-type]
    close()

    for para in paragraphs:
        if not para.text and not para.items:
            raise IngestError(path, para.line, f"paragraph {para.number} has no text")
    _attach_footnotes(path, paragraphs, notes)
    for para in paragraphs:
        full = para.full_text
        para.sentences = [Sentence(sp.text, sp.start, sp.end) for sp in split_sentences(full)]
    if sha256 is None:
        sha256 = sha256_bytes(text.encode("utf-8"))
    return Corpus(
        path=str(path),
        sha256=sha256,
        metadata=meta,
        sections=sections,
        paragraphs=paragraphs,
        front_matter=front,
        residue=residue,
    )


def load_catalog(cfg: Config) -> dict[str, dict[str, str]]:
    """The document catalog ``corpus/documents.json`` (symbol and language of each source file), or {}."""
    path = cfg.corpus_dir / "documents.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise IngestError(path, 1, f"not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise IngestError(path, e.lineno, f"not valid JSON ({e.msg}); fix or delete the catalog") from None
    except OSError as e:
        raise IngestError(path, 0, f"cannot read the catalog: {e.strerror or e}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise IngestError(path, 1, 'expected an object {"file name": {"symbol": …, "lang": …}, …}')
    return data


def ingest_file(path: str | Path, catalog: dict[str, dict[str, str]] | None = None) -> Corpus:
    """Read and parse a report file.

    Args:
        path: the report's text file (UTF-8).
        catalog: optional entries keyed by file name supplying metadata the front matter does not print
            (the document symbol).

    Raises:
        IngestError: unreadable, empty, not UTF-8, or structurally broken input (file and line named).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(
            path, 0, "no such report; set PIPELINE_HOME to a folder holding corpus/ (with the report) "
            "and indexes/, or run from such a folder"
        ) from None
    except OSError as e:
        raise IngestError(path, 0, f"cannot read the file: {e.strerror or e}") from None
    corpus = parse_report(decode_report(raw, path), path, sha256_bytes(raw))
    entry = (catalog or {}).get(path.name)
    if entry and corpus.metadata.symbol is None and entry.get("symbol"):
        corpus.metadata.symbol, corpus.metadata.symbol_source = entry["symbol"], "catalog"
    if entry and entry.get("lang"):
        corpus.metadata.language = entry["lang"]
    return corpus


def load_corpus(cfg: Config | None = None) -> Corpus:
    """Parse the configured report (``cfg.document_path``). Parsing takes milliseconds; nothing is cached."""
    cfg = cfg or Config()
    return ingest_file(cfg.document_path, load_catalog(cfg))
