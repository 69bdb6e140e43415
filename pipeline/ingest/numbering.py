"""Paragraph numbering: the numbering parts of a report (the body, and each annex whose numbering restarts),
the annexes met so far, and the errors of a number no part expects.

"N. text" is paragraph N only when N is the next paragraph number of the current part; anything else is a
numbering error (gap, duplicate, order break), reported with file and line and the part ("in annex II") when
not the body. When an annex's first numbered paragraph is 1, the annex is a new numbering part: its paragraphs
carry ``part`` = "annex" or "annex II" (always this English lower-case form with the Roman numeral; a Chinese
"附件二" gives "annex II"). When it continues the current numbering instead, its paragraphs stay in the
current part. Annexes are numbered I, II, … in order; an unnumbered "Annex" is the only one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.ingest.errors import IngestError
from pipeline.ingest.layout import annex_number
from pipeline.ingest.numerals import to_roman

__all__ = ["Numbering", "Part"]


@dataclass
class Part:
    """A numbering part: the body ("") or an annex whose paragraph numbering restarts."""

    name: str
    next_no: int = 1
    seen: dict[int, int] = field(default_factory=dict)  # paragraph number -> its line

    def where(self) -> str:
        """The part as error messages name it: " in annex II" for an annex, "" for the body."""
        return f" in {self.name}" if self.name else ""

    def take(self, first: int, last: int, lineno: int) -> None:
        """Numbers ``first`` … ``last`` are printed at ``lineno``; the numbering goes on after them."""
        for n in range(first, last + 1):
            self.seen[n] = lineno
        self.next_no = last + 1


class Numbering:
    """The numbering parts of one report and its annexes.

    Args:
        path: the report, for error messages.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.parts: list[Part] = [Part("")]
        self.annexes: dict[str, int] = {}  # part name -> line of its annex heading
        # (part name, line) of an annex whose first paragraph has not come
        self.pending: tuple[str, int] | None = None

    def open_annex(self, s: str, name: str, number: int, lineno: int) -> None:
        """Annex ``name`` (numbered ``number``, 0 when unnumbered) is printed as ``s`` at ``lineno``: its
        first paragraph will tell whether it opens a numbering part.

        Raises:
            IngestError: a second annex of that name, an unnumbered annex beside another, or one out of order.
        """
        if name in self.annexes:
            raise IngestError(self.path, lineno, f"a second {name} (the first at line {self.annexes[name]})")
        earlier = [annex_number(a) for a in self.annexes]
        if (number == 0 and earlier) or 0 in earlier:
            raise IngestError(self.path, lineno, f"{s}: an unnumbered annex must be the only annex")
        if number and number != len(earlier) + 1:
            expected = to_roman(len(earlier) + 1)
            raise IngestError(self.path, lineno, f"annex out of order: expected annex {expected}, found {s}")
        self.annexes[name] = lineno
        self.pending = (name, lineno)

    def claim(self, first: int) -> Part | None:
        """The part whose next number is ``first`` (right after an annex heading, 1 opens the annex's own
        numbering part and the current part's next number continues it), or None."""
        cur = self.parts[-1]
        if self.pending is None:
            return cur if first == cur.next_no else None
        if first == 1:
            self.parts.append(Part(self.pending[0]))
            self.pending = None
            return self.parts[-1]
        if first == cur.next_no:
            self.pending = None
            return cur
        return None

    def error(self, n: int, lineno: int) -> IngestError:
        """The error for paragraph number ``n`` that no part expects: after an annex heading, a gap, a
        duplicate or an order break."""
        cur = self.parts[-1]
        if self.pending is not None:
            name, at = self.pending
            return IngestError(
                self.path,
                lineno,
                f"numbering of the {name} (line {at}): expected paragraph 1 (numbering restarts) "
                f"or {cur.next_no} (numbering continues), found {n}",
            )
        expected = cur.next_no
        if n in cur.seen:
            return IngestError(
                self.path,
                lineno,
                f"duplicate paragraph number {n}{cur.where()} (first at line {cur.seen[n]}); "
                f"expected {expected}",
            )
        what = "numbering gap" if n > expected else "numbering out of order"
        message = f"{what}{cur.where()}: expected paragraph {expected}, found {n}"
        return IngestError(self.path, lineno, message)
