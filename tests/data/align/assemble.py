"""Writes ctoc-cop-2012-7.en.txt (an English version of the report, in the plain-text layout of UN documents)
and ctoc-cop-2012-7.gold.jsonl (hand-made sentence alignment) from the translators' files: see README.md.

    python tests/data/align/assemble.py HEADINGS.json PART.jsonl [PART.jsonl ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
#: The front matter, laid out as the English versions of tests/data/library print it (the translators'
#: "__front__" lines, spaced so the parser tells the masthead, session, agenda item and title apart).
FRONT = """\
 United Nations CTOC/COP/2012/7

 Conference of the Parties to the
United Nations Convention
against Transnational
Organized Crime

 Distr.: General

Original: English

Sixth session
Vienna, 15-19 October 2012
Item 3 of the provisional agenda
Other serious crimes, as defined in the Convention, including
new forms and dimensions of transnational organized crime

 {title}

 Report of the Secretariat
"""


def main() -> None:
    sys.path.insert(0, str(HERE.parent.parent.parent))
    from pipeline.library import load_corpus

    headings = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    records = [
        json.loads(line) for f in sys.argv[2:] for line in Path(f).read_text(encoding="utf-8").splitlines()
    ]
    by_number = {r["paragraph"]: r for r in records}
    zh = load_corpus()
    out = FRONT.format(title=headings["__title__"]).split("\n")
    shown: list[str] = []
    for p in zh.paragraphs:
        r = by_number[p.number]
        for level, h in enumerate(p.section):
            if level >= len(shown) or shown[level] != h:
                out += ["", " " + headings[h], ""]
        shown = list(p.section)
        sentences = [list(en) for _, en in r["beads"]]
        for fn in p.footnotes:  # the marker goes after the English sentence that translates its sentence
            at = next(i for i, s in enumerate(p.sentences) if s.start <= fn.offset <= s.end)
            bead = next(b for b, (idx, _) in enumerate(r["beads"]) if at in idx)
            sentences[bead][-1] += fn.marker
        flat = [s for bead in sentences for s in bead]
        items = flat[len(flat) - len(p.items) :] if p.items else []  # the lettered items, one per line
        lead = flat[: len(flat) - len(items)]
        out.append(f"{p.number}. " + " ".join(lead))
        out += [f" {s}" for s in items]
        if r["footnotes"]:
            out += ["__________________", ""]
            out += [f" {fn['marker']} {fn['text']}" for fn in r["footnotes"]]
        out.append("")
    (HERE / "ctoc-cop-2012-7.en.txt").write_text("\n".join(out) + "\n", encoding="utf-8")
    with (HERE / "ctoc-cop-2012-7.gold.jsonl").open("w", encoding="utf-8") as f:
        for r in sorted(records, key=lambda r: r["paragraph"]):
            f.write(json.dumps({"paragraph": r["paragraph"], "beads": r["beads"]}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
