"""Readable text for people: answers and paragraphs, wrapped for a terminal.

Renders from :class:`~pipeline.answer.Answer` (through its JSON shape, so a saved record — a batch's —
prints the same way) and :class:`~pipeline.corpus.Paragraph`; control
characters a query or a file may carry (ANSI escape sequences, say) are shown as visible escapes, never
sent to the terminal.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pipeline.text import wrap_display

if TYPE_CHECKING:
    from pipeline.answer import Answer
    from pipeline.corpus import Paragraph

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


_JSON_RAW_CONTROL = re.compile(r"[\x7f-\x9f]")


def json_text(obj: Any, indent: int | None = None) -> str:
    """``obj`` as JSON with non-ASCII characters as they are and every control character escaped (JSON
    escapes C0 itself; DEL and C1 — a one-byte CSI among them — are escaped here), so report text written as
    JSON can never drive a terminal; ``json.loads`` gives the same object back."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent)
    return _JSON_RAW_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def safe(text: str) -> str:
    """``text`` with control and bidi-override characters replaced by visible
    ``\\xNN`` / ``\\uNNNN`` escapes.

    The one cleaning every text output applies to what a report, a query or a file carries: C0 controls
    but tab and newline (ESC starts CSI ``\\x1b[…m`` and OSC ``\\x1b]…\\x07`` sequences), DEL, the C1
    controls (``\\x9b`` is a one-byte CSI) and the bidi overrides. ``--json`` output is not cleaned: JSON
    escapes controls itself (:func:`pipeline.cli.common._print_json`).
    """
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


#: What text output says above the hits of a question the library does not seem to answer.
NO_ANSWER = "The library does not seem to answer this; closest paragraphs:"


def paragraph_text(p: Paragraph, width: int = 100) -> str:
    """One paragraph: number, section path, text with footnote markers, items, footnotes."""
    text = p.text
    for fn in sorted(p.footnotes, key=lambda f: -f.offset):  # show each marker where it was printed
        if 0 <= fn.offset <= len(text):
            text = text[: fn.offset] + f"[{fn.marker}]" + text[fn.offset :]
    page = f" (p. {p.page})" if p.page is not None else ""
    head = f"{p.citation if p.document else f'¶{p.number}'}{page}  " + " › ".join(p.section)
    lines = [safe(head)]
    lines += wrap_display(safe(text), width)
    for it in p.items:
        lines += wrap_display(safe(f"({it.label}) {it.text}"), width, "  ", "      ")
    if p.footnotes:
        lines.append("  ────")
    for fn in p.footnotes:
        lines += wrap_display(safe(f"[{fn.marker}] {fn.text}"), width, "  ", "      ")
    return "\n".join(lines)


def answer_text(ans: Answer, full: bool = False, width: int = 100, color: bool = False) -> str:
    """One answer: the query, its route and language, and each hit with its
    section, answer sentence and scores.

    Args:
        ans: the answer.
        full: print whole paragraphs with the answer marked »…«, and their footnotes.
        width: terminal columns.
        color: mark the answer in bold (for a terminal).
    """
    return record_text(
        {**ans.to_dict(), "route": ans.route, "lang": ans.lang}, full=full, width=width, color=color
    )


def _span(first: Any, last: Any) -> str:
    return f"¶{first}" if first == last else f"¶{first}-{last}"


def overview_lines(ov: dict[str, Any], width: int = 100) -> list[str]:
    """A document's overview (``"overview"`` of a document route's record): symbol, language versions,
    title, each part's paragraphs, and the headings — indented by level — with the paragraphs under each."""
    langs = [str(x) for x in ov.get("languages") or []]
    lang = str(ov.get("lang", ""))
    others = [x for x in langs if x != lang]
    head = f"{ov.get('symbol', '')} ({lang}" + (f"; also in {', '.join(others)}" if others else "") + ")"
    lines = [f"   {safe(head)}"]
    if ov.get("title"):
        lines += wrap_display(safe(str(ov["title"])), width, "   ", "   ")
    ranges = [
        f"{r.get('part') or 'body'} {_span(r.get('first'), r.get('last'))}" for r in ov.get("ranges") or []
    ]
    lines.append(safe(f"   {ov.get('paragraphs', 0)} paragraphs: " + "; ".join(ranges)))
    part = ""
    for sec in ov.get("sections") or []:
        if (sec.get("part") or "") != part:
            part = sec.get("part") or ""
            lines.append(safe(f"   [{part or 'body'}]"))
        indent = "   " + "  " * (max(int(sec.get("level", 1)), 1) - 1)
        text = f"{sec.get('heading', '')}  {_span(sec.get('first'), sec.get('last'))}"
        lines += wrap_display(safe(text), width, indent, indent + "    ")
    return lines


def _marked(h: dict[str, Any], bold: str, reset: str) -> str:
    """A result's (or a version's) text with its answer span marked »…« (unless it is the whole text)."""
    raw = str(h.get("text", ""))
    a, b = h.get("answer_span") or (0, 0)
    if b > a and (a, b) != (0, len(raw)):  # cleaned piece by piece: the span is an offset into the raw text
        return safe(raw[:a]) + bold + "»" + safe(raw[a:b]) + "«" + reset + safe(raw[b:])
    return safe(raw)


def record_text(rec: dict[str, Any], full: bool = False, width: int = 100, color: bool = False) -> str:
    """One answer in its JSON shape (:meth:`~pipeline.answer.Answer.to_dict`, as a batch saves it).

    The header names the query and its route, led by ``[id]`` when the record has an ``"id"`` and followed by
    the language when it has a ``"lang"``; a record with an ``"error"`` shows only the error. Keys a record
    lacks (scores, spans, footnotes) are left out of the text.

    Args:
        rec: ``{"query", "route", "results": [...]}``, optionally ``"id"``,
            ``"lang"``, ``"warnings"``, ``"error"``, ``"overview"`` (a document named alone: printed
            before the results, by :func:`overview_lines`).
        full: print whole paragraphs with the answer marked »…«, and their footnotes.
        width: terminal columns.
        color: mark the answer in bold (for a terminal).
    """
    bold, reset = ("\033[1m", "\033[0m") if color else ("", "")
    route = rec.get("route", "")
    head = f"Q: {safe(str(rec.get('query', '')))}   [route: {safe(str(route))}" + (
        f", {safe(str(rec['lang']))}]" if "lang" in rec else "]"
    )
    lines = [f"[{safe(str(rec['id']))}] {head}" if "id" in rec else head]
    if "error" in rec:
        lines.append(f"   error: {safe(str(rec['error']))}")
        return "\n".join(lines)
    for w in rec.get("warnings") or []:
        lines.append(f"   warning: {safe(str(w))}")
    if rec.get("no_answer"):
        lines.append(f"   {NO_ANSWER}")
    if rec.get("overview"):
        lines += overview_lines(rec["overview"], width)
    results = rec.get("results") or []
    if not results and not rec.get("overview"):
        lines.append("   (no results)")
    for rank, h in enumerate(results, 1):
        scores = h.get("scores") or {}
        chan = safe(
            " · ".join(f"{k} {v:.3f}" for k, v in scores.items() if k not in ("paragraph", "citation"))
        )
        where = safe(str(h.get("citation") or f"¶{h.get('paragraph')}"))
        if h.get("page") is not None:
            where += f" (p. {safe(str(h['page']))})"
        lines.append(
            f"{rank:>2}. {where}  [{float(h.get('score', 0.0)):.3f}]  "
            + safe(" › ".join(str(s) for s in h.get("section") or []))
        )
        if full or route == "paragraph":
            lines += wrap_display(_marked(h, bold, reset), width, "      ", "      ")
        else:
            lines += wrap_display(safe(f"» {h.get('answer', '')}"), width, "      ", "        ")
        match = h.get("match")
        if match:
            lines.append(
                "      cites: " + safe(", ".join(f"{m.get('text')} ({m.get('where')})" for m in match))
            )
        if full or match:
            for fn in h.get("footnotes") or []:
                note = safe(f"[{fn.get('marker')}] {fn.get('text')}")
                lines += wrap_display(note, width, "      ", "          ")
        if h.get("links"):
            lines.append(
                "      → in the library: "
                + ", ".join(safe(str(x)) for x in h["links"])
                + "  (pipeline cite 'SYMBOL ¶N' to read it)"
            )
        for v in h.get("parallel") or []:
            lines.append(f"      ⇄ {safe(str(v.get('citation')))}")
            lines += wrap_display(_marked(v, bold, reset), width, "        ", "        ")
        if chan:
            lines.append(f"      {chan}")
    return "\n".join(lines)
