"""Readable text for people: answers and paragraphs, wrapped for a terminal.

Renders from :class:`~pipeline.answer.Answer` / :class:`~pipeline.corpus.Paragraph` only; control
characters a query or a file may carry (ANSI escape sequences, say) are shown as visible escapes, never
sent to the terminal.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pipeline.text import wrap_display

if TYPE_CHECKING:
    from pipeline.answer import Answer
    from pipeline.corpus import Paragraph

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """``text`` with control and bidi-override characters replaced by visible ``\\xNN`` / ``\\uNNNN`` escapes."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)


def paragraph_text(p: Paragraph, width: int = 100) -> str:
    """One paragraph: number, section path, text with footnote markers, items, footnotes."""
    text = p.text
    for fn in sorted(p.footnotes, key=lambda f: -f.offset):  # show each marker where it was printed
        if 0 <= fn.offset <= len(text):
            text = text[: fn.offset] + f"[{fn.marker}]" + text[fn.offset :]
    lines = [f"¶{p.number}  " + " › ".join(p.section)]
    lines += wrap_display(text, width)
    for it in p.items:
        lines += wrap_display(f"({it.label}) {it.text}", width, "  ", "      ")
    if p.footnotes:
        lines.append("  ────")
    for fn in p.footnotes:
        lines += wrap_display(f"[{fn.marker}] {fn.text}", width, "  ", "      ")
    return "\n".join(lines)


def answer_text(ans: Answer, full: bool = False, width: int = 100, color: bool = False) -> str:
    """One answer: the query, its route, and each hit with its section, answer sentence and scores.

    Args:
        ans: the answer.
        full: print whole paragraphs with the answer marked »…«, and their footnotes.
        width: terminal columns.
        color: mark the answer in bold (for a terminal).
    """
    bold, reset = ("\033[1m", "\033[0m") if color else ("", "")
    lines = [f"Q: {safe(ans.query)}   [route: {ans.route}, {ans.lang}]"]
    if ans.error is not None:
        lines.append(f"   error: {safe(ans.error)}")
        return "\n".join(lines)
    for w in ans.warnings:
        lines.append(f"   warning: {safe(w)}")
    if not ans.hits:
        lines.append("   (no results)")
    for rank, h in enumerate(ans.hits, 1):
        chan = " · ".join(f"{k} {v:.3f}" for k, v in h.scores.items() if k not in ("paragraph", "citation"))
        lines.append(f"{rank:>2}. ¶{h.paragraph}  [{h.score:.3f}]  " + " › ".join(h.section))
        if full or ans.route == "paragraph":
            text = h.text
            a, b = h.answer_span
            if b > a and (a, b) != (0, len(text)):
                text = text[:a] + bold + "»" + text[a:b] + "«" + reset + text[b:]
            lines += wrap_display(text, width, "      ", "      ")
        else:
            lines += wrap_display(f"» {h.answer}", width, "      ", "        ")
        if h.match:
            lines.append("      cites: " + ", ".join(f"{m['text']} ({m['where']})" for m in h.match))
        if full or h.match:
            for marker, note in h.footnotes:
                lines += wrap_display(f"[{marker}] {note}", width, "      ", "          ")
        if chan:
            lines.append(f"      {chan}")
    return "\n".join(lines)
