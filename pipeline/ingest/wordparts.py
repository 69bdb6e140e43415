"""The parts of a Word ``.docx`` file, as :mod:`pipeline.ingest.docx` reads them: the zip archive
(:class:`Package`: parts unpacked under the size guard :data:`MAX_PART_BYTES`, their XML parsed — Strict Open
XML read as transitional — and relationships resolved), the WordprocessingML names (:func:`w`) and the
paragraph properties the reader uses (:class:`ParaProps`: spacing, contextual spacing, numbering), resolved
through the paragraph styles of ``word/styles.xml`` over the document defaults (:class:`Styles`).

Refused, with :class:`~pipeline.ingest.errors.IngestError` (line 0): bytes that are not a zip archive, an OLE
file (an encrypted ``.docx`` or an old ``.doc``), a part whose XML is damaged or declares a document type
(named), a zip whose entries are encrypted or corrupt, and any part that unpacks to more than
:data:`MAX_PART_BYTES` (a zip bomb).
"""

from __future__ import annotations

import io
import posixpath
import xml.etree.ElementTree as ET
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.errors import IngestError

__all__ = [
    "MAX_PART_BYTES",
    "NS_R",
    "NS_W",
    "PPR",
    "TYPE",
    "VAL",
    "Package",
    "ParaProps",
    "Styles",
    "is_on",
    "of_type",
    "to_int",
    "toggle",
    "w",
]

#: The largest uncompressed part read (a 500-page report's document.xml is a few MB): a zip bomb is refused.
MAX_PART_BYTES = 64 * 1024 * 1024

NS_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_NS_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
# Strict Open XML names the same elements in other namespaces: read as the transitional ones.
_STRICT = [
    (b"http://purl.oclc.org/ooxml/wordprocessingml/main", NS_W.encode()),
    (b"http://purl.oclc.org/ooxml/officeDocument/relationships", NS_R.encode()),
]
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def w(name: str) -> str:
    """A WordprocessingML name ``w:name`` as ElementTree spells it (``{namespace}name``)."""
    return f"{{{NS_W}}}{name}"


PPR, VAL, TYPE = w("pPr"), w("val"), w("type")


# ----------------------------------------------------------------------------------------------- the package


class Package:
    """The zip archive: its parts read with the size guard, XML parsed, relationships resolved."""

    def __init__(self, raw: bytes, path: str | Path) -> None:
        self.path = path
        if raw[:8] == _OLE_MAGIC:
            raise IngestError(
                path,
                0,
                "is encrypted or an old-format Word file (.doc), not a .docx; "
                "save it as an unprotected .docx first",
            )
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(raw))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
            raise IngestError(path, 0, "is not a Word .docx file (not a zip archive)") from None
        self.names = set(self.zip.namelist())

    def read(self, name: str) -> bytes | None:
        """A part's bytes, or None when the archive has no such part."""
        if name not in self.names:
            return None
        info = self.zip.getinfo(name)
        too_big = IngestError(
            self.path,
            0,
            f"is refused: its part {name} unpacks to more than {MAX_PART_BYTES // (1024 * 1024)} MiB "
            "(a zip bomb?)",
        )
        if info.file_size > MAX_PART_BYTES:
            raise too_big
        try:
            with self.zip.open(info) as f:
                data = f.read(MAX_PART_BYTES + 1)  # the header's size may lie: read no more than the limit
        except RuntimeError:  # an encrypted zip entry
            raise IngestError(
                self.path, 0, f"is encrypted or an old-format Word file (its part {name} is encrypted)"
            ) from None
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError, zlib.error) as e:
            raise IngestError(
                self.path, 0, f"is a damaged Word file: its part {name} cannot be unpacked ({e})"
            ) from None
        if len(data) > MAX_PART_BYTES:
            raise too_big
        return data

    def xml(self, name: str) -> ET.Element | None:
        """A part parsed, or None when absent.

        Raises:
            IngestError: damaged XML, or a document type declaration (Word writes none; entities are refused).
        """
        data = self.read(name)
        if data is None:
            return None
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
            raise IngestError(self.path, 0, f"is a damaged Word file: {name} declares a document type")
        for strict, transitional in _STRICT:
            if strict in data:
                data = data.replace(strict, transitional)
        try:
            return ET.fromstring(data)
        except ET.ParseError as e:
            raise IngestError(
                self.path, 0, f"is a damaged Word file: {name} is not well-formed XML ({e})"
            ) from None

    def relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """The relationships of ``part``: id -> (type, target part name); external targets left out."""
        folder, base = posixpath.split(part)
        root = self.xml(posixpath.join(folder, "_rels", base + ".rels"))
        rels: dict[str, tuple[str, str]] = {}
        if root is None:
            return rels
        for rel in root.iter(f"{{{_NS_PKG}}}Relationship"):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External" or not target:
                continue
            name = target.lstrip("/") if target.startswith("/") else posixpath.join(folder, target)
            rels[rel.get("Id", "")] = (rel.get("Type", ""), posixpath.normpath(name))
        return rels


def of_type(rels: dict[str, tuple[str, str]], kind: str) -> str | None:
    """The target of the first relationship whose type ends in "/kind"."""
    return next((target for t, target in rels.values() if t.endswith("/" + kind)), None)


# -------------------------------------------------------------------------------------------------- styles


def toggle(el: ET.Element | None) -> bool | None:
    """A toggle property: None when absent, else its value (no value means on)."""
    if el is None:
        return None
    return el.get(VAL, "true").lower() not in ("0", "false", "off", "none")


def to_int(value: str | None, default: int = 0) -> int:
    if value is None:
        return default
    try:
        return int(float(value))
    except ValueError:
        return default


@dataclass
class ParaProps:
    """The paragraph properties the reader uses, as resolved through the style chain."""

    spacing: dict[str, str] = field(default_factory=dict)  # w:spacing attributes (local names)
    contextual: bool = False
    num_id: str | None = None
    ilvl: int | None = None

    def merged(self, ppr: ET.Element | None) -> ParaProps:
        """These properties overridden by a ``w:pPr``."""
        if ppr is None:
            return self
        out = ParaProps(dict(self.spacing), self.contextual, self.num_id, self.ilvl)
        spacing = ppr.find(w("spacing"))
        if spacing is not None:
            out.spacing.update({k.rpartition("}")[2]: v for k, v in spacing.attrib.items()})
        contextual = toggle(ppr.find(w("contextualSpacing")))
        if contextual is not None:
            out.contextual = contextual
        numpr = ppr.find(w("numPr"))
        if numpr is not None:
            num_id, ilvl = numpr.find(w("numId")), numpr.find(w("ilvl"))
            if num_id is not None:
                out.num_id = num_id.get(VAL)
            if ilvl is not None:
                out.ilvl = to_int(ilvl.get(VAL))
        return out

    def space(self, side: str) -> int:
        """The space before or after (``side`` "before" / "after"), in twips."""
        sp = self.spacing
        if is_on(sp.get(side + "Autospacing")):
            return 280  # HTML auto spacing: 14 pt
        if side + "Lines" in sp:  # hundredths of a line: a line is taken as 12 pt
            return to_int(sp[side + "Lines"]) * 240 // 100
        return to_int(sp.get(side))


def is_on(value: str | None) -> bool:
    return value is not None and value.lower() not in ("0", "false", "off")


class Styles:
    """Paragraph styles: each style's properties resolved through ``basedOn`` over the document defaults."""

    def __init__(self, root: ET.Element | None) -> None:
        self.elements: dict[str, ET.Element] = {}
        self.default_style: str | None = None
        self.base = ParaProps()
        self.cache: dict[str, ParaProps] = {}
        if root is None:
            return
        defaults = root.find(f"{w('docDefaults')}/{w('pPrDefault')}/{PPR}")
        self.base = self.base.merged(defaults)
        for style in root.iter(w("style")):
            style_id = style.get(w("styleId"))
            if style_id is None:
                continue
            self.elements.setdefault(style_id, style)
            if style.get(TYPE) == "paragraph" and is_on(style.get(w("default"))):
                self.default_style = style_id

    def props(self, style_id: str | None, depth: int = 0) -> ParaProps:
        """The properties of paragraph style ``style_id`` (the defaults' for None or an unknown style)."""
        if style_id is None or style_id not in self.elements or depth > 20:
            return self.base
        if style_id in self.cache:
            return self.cache[style_id]
        style = self.elements[style_id]
        based = style.find(w("basedOn"))
        parent = self.props(based.get(VAL) if based is not None else None, depth + 1)
        props = parent.merged(style.find(PPR))
        self.cache[style_id] = props
        return props

    def numbering_style_num(self, style_id: str) -> str | None:
        """The list (numId) a numbering style stands for (``w:numStyleLink``)."""
        style = self.elements.get(style_id)
        num_id = style.find(f"{PPR}/{w('numPr')}/{w('numId')}") if style is not None else None
        return num_id.get(VAL) if num_id is not None else None
