"""English words: how query and glossary text is split into words, and the lemmatiser that reduces them.

The glossary parser, the CC-CEDICT reverse-index builder and the translator all go through :func:`lemma`
with the same vocabulary, so an imperfect lemma still matches consistently on both sides.
"""

from __future__ import annotations

import re

#: One Latin word (letters incl. accented ones, an optional apostrophe suffix such as ``'s``).
LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]+(?:['\u2019][A-Za-z]+)?")
#: A Latin word, or a comma / sentence punctuation mark that ends or splits a run of words.
WORD_OR_BREAK = re.compile(LATIN_WORD.pattern + r"|[,，、.;:!?。；：！？]")
COMMAS = frozenset(",，、")
HARD_BREAKS = frozenset(".;:!?。；：！？")
ARTICLES = frozenset({"a", "an", "the"})

# Lemmatiser data: irregular forms, spelling variants and words that must not be reduced.
_IRREGULAR = {
    "children": "child",
    "women": "woman",
    "men": "man",
    "people": "people",
    "persons": "person",
    "programme": "program",
    "programmes": "program",
    "offence": "offense",
    "offences": "offense",
    "defence": "defense",
    "centre": "center",
    "centres": "center",
    "licence": "license",
    "analyses": "analysis",
    "crises": "crisis",
    "bases": "basis",
    "criteria": "criterion",
    "data": "data",
    "media": "media",
    "fora": "forum",
    "thieves": "thief",
    "lives": "life",
    "wives": "wife",
    "knives": "knife",
    "feet": "foot",
    "teeth": "tooth",
    "mice": "mouse",
    "geese": "goose",
    "did": "do",
    "done": "do",
    "does": "do",
    "was": "be",
    "were": "be",
    "is": "be",
    "are": "be",
    "been": "be",
    "has": "have",
    "had": "have",
    "paid": "pay",
    "made": "make",
    "sold": "sell",
    "bought": "buy",
    "caught": "catch",
    "seized": "seize",
    "held": "hold",
    "taken": "take",
    "took": "take",
    "gave": "give",
    "given": "give",
    "led": "lead",
    "met": "meet",
    "spent": "spend",
    "stolen": "steal",
    "stole": "steal",
    "sent": "send",
    "built": "build",
    "brought": "bring",
    "found": "find",
    "known": "know",
    "shown": "show",
    "seen": "see",
    "saw": "see",
    "written": "write",
    "wrote": "write",
    "began": "begin",
    "begun": "begin",
    "chosen": "choose",
    "kept": "keep",
    "lost": "lose",
    "meant": "mean",
    "grew": "grow",
    "grown": "grow",
    "rose": "rise",
    "risen": "rise",
    "hidden": "hide",
    "fought": "fight",
    "sought": "seek",
    "taught": "teach",
    "understood": "understand",
    "went": "go",
    "gone": "go",
    "came": "come",
    "became": "become",
    "fell": "fall",
    "fallen": "fall",
    "felt": "feel",
    "told": "tell",
    "said": "say",
    "won": "win",
    "struck": "strike",
    "drove": "drive",
    "driven": "drive",
}
_KEEP = frozenset(
    """news customs arms goods means series species physics politics economics headquarters crossroads
    analysis basis crisis status process business bus gas this its his us yes thus bias atlas chaos
    seychelles mauritius philippines netherlands maldives balkans somalis laos comoros bahamas
    interpol europol eurojust unesco cites
    meeting training funding financing hearing setting sentencing trafficking planning programming
    monitoring networking offering opening briefing understanding wording finding building developing
    developed
    logging overfishing hacking smuggling laundering counterfeiting peacekeeping peacebuilding
    capacity-building spring string thing king ring morning evening nothing something anything everything
    during ceiling clothing lightning wedding warning ongoing outstanding pudding
    """.split()  # noqa: SIM905 - word lists read best as text
)
_ISE = re.compile(r"(?<=[a-z]{3})is(e|es|ed|ing|ation|ations|er|ers)$")


def lemma(word: str, vocab: frozenset[str] | set[str]) -> str:
    """Normalise an English word for matching: lower case, plural/inflection and British -ise removal.

    The reduction is rule-based; where a rule has several outcomes (``medicines`` -> ``medicine`` or
    ``medicin``; ``smuggling`` -> ``smuggle`` or ``smuggl``) the one found in ``vocab`` (the words of the
    CC-CEDICT glosses) wins. Query words and dictionary/glossary words go through the same function, so
    an imperfect lemma still matches consistently.

    Args:
        word: one word (letters, optional apostrophe).
        vocab: known base forms.

    Returns:
        The normalised form.
    """
    w = word.lower().replace("\u2019", "'")
    w = w.removesuffix("'s").strip("'")
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(w) <= 3 or w in _KEEP:
        return w
    m = _ISE.search(w)
    if m:
        z = w[: m.start()] + "iz" + m.group(1)
        zl = lemma(z, vocab)
        if zl in vocab:
            return zl
    cands: list[str] = []
    fallback = w
    if w.endswith("men") and len(w) > 4:
        cands = [w[:-3] + "man"]
    elif w.endswith("ies") and len(w) > 4:
        cands = [w[:-3] + "y"]
        fallback = cands[0]
    elif w.endswith("sses"):
        cands = [w[:-2]]
        fallback = cands[0]
    elif w.endswith(("xes", "ches", "shes", "oes")):
        cands = [w[:-2], w[:-1]]
        fallback = w[:-2]
    elif w.endswith("es"):
        cands = [w[:-1], w[:-2]]
        fallback = w[:-1]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        cands = [w[:-1]]
        fallback = cands[0]
    elif w.endswith("ied") and len(w) > 4:
        cands = [w[:-3] + "y"]
    elif w.endswith("ed") and not w.endswith("eed"):
        cands = [w[:-1], w[:-2]]
        if len(w) > 5 and w[-3] == w[-4] and w[-3] not in "aeiouls":
            cands.append(w[:-3])
    elif w.endswith("ing") and len(w) > 5:
        cands = [w[:-3] + "e", w[:-3]]
        if w[-4] == w[-5] and w[-4] not in "aeiouls":
            cands.append(w[:-4])
    for c in cands:
        if c in vocab:
            return c
    return fallback
