"""Report file -> :class:`~pipeline.corpus.Corpus`.

The parser reads a UN report in the plain-text layout of the CTOC documents, in Chinese or in English: front
matter, headings ("一." / "I." for chapters, "A." for lettered sections, "1." for numbered sub-headings inside
them), numbered paragraphs "N. …", lettered items "(a) …", footnotes printed after a rule "_____" at the foot
of a page (which in the plain text can fall in the middle of another paragraph), annexes whose paragraph
numbering restarts, and lines broken anywhere, inside words, numbers, references and URLs.

The package knows nothing of the library or its catalog; its modules:

* :mod:`~pipeline.ingest.formats`: what a file is (by its magic bytes) and its *layout text*, whatever its
  format; :func:`ingest_file` parses any of them.
* :mod:`~pipeline.ingest.text`, :mod:`~pipeline.ingest.pdf`, :mod:`~pipeline.ingest.docx`: the readers of
  plain text, PDF (text layer, laid out by positions and fonts) and Word (.docx).
* :mod:`~pipeline.ingest.language`: language codes, detection of the script, the checks of a given language.
* :mod:`~pipeline.ingest.parser`: :func:`parse_report` and :class:`ReportParser`, one method per layout rule.
* :mod:`~pipeline.ingest.layout`: the line patterns and the block and heading predicates.
* :mod:`~pipeline.ingest.front`: the front matter (symbol, session, dates, agenda, title, report type).
* :mod:`~pipeline.ingest.footnotes`: footnote markers, attached to their paragraphs.
* :mod:`~pipeline.ingest.identity`: :func:`settle_identity`, the symbol and language of a parsed report.
* :mod:`~pipeline.ingest.numerals`, :mod:`~pipeline.ingest.errors`: Roman and Chinese numerals;
  :class:`IngestError`.
"""

from __future__ import annotations

from pipeline.ingest.errors import IngestError
from pipeline.ingest.formats import SUFFIXES, ingest_file, layout_text, parse_layout, sniff_format
from pipeline.ingest.identity import settle_identity
from pipeline.ingest.language import LANGUAGES, PARSED_LANGUAGES, detect_language, lang_from_name
from pipeline.ingest.parser import MAX_PARAGRAPHS, ReportParser, parse_report
from pipeline.ingest.text import MAX_REPORT_BYTES, decode_report, read_report_bytes

__all__ = [
    "MAX_PARAGRAPHS",
    "MAX_REPORT_BYTES",
    "LANGUAGES",
    "PARSED_LANGUAGES",
    "SUFFIXES",
    "IngestError",
    "ReportParser",
    "decode_report",
    "detect_language",
    "ingest_file",
    "lang_from_name",
    "layout_text",
    "parse_layout",
    "parse_report",
    "read_report_bytes",
    "settle_identity",
    "sniff_format",
]
