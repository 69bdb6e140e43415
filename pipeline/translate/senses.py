"""English glosses of Chinese words for a reader who does not read Chinese (the words' tooltips).

A word's gloss comes from, in order:

1. **the glossary** (``corpus/glossary.tsv``, read from Chinese to English): the UN terms as the file writes
   them, acronyms first (毒品和犯罪问题办公室 -> ``UNODC``, ``United Nations Office on Drugs and Crime``);
2. **CC-CEDICT**: the senses of every entry of the word, as the dictionary writes them (only the pinyin of
   cross-references, the traditional half of ``個|个`` and classifier notes ``CL:…`` are removed). Senses
   come in this order: entries of ordinary words before name entries (capitalised pinyin: 索马里 ->
   ``Somalia``), the entry with the most senses first (号 hào "ordinal number; …" before háo "roar; cry");
   literary, old, dialect and Taiwan senses only when a word has no other; surname, variant and
   cross-reference senses only when it has nothing else;
3. **its parts**, for a compound neither knows: the word cut into the fewest known words, each with its first
   sense, shown as such (网络犯罪 -> ``网络 network + 犯罪 crime``).

Only Chinese words are glossed: numbers, Latin words and punctuation are their own gloss (``[]``).

:func:`entry_senses` and :func:`word_senses` run when the translator's cache is built (its ``display`` map):
a change to what they return needs :data:`~pipeline.translate.cedict.REVERSE_INDEX_VERSION` bumped.

Dictionary data: CC-CEDICT (https://cc-cedict.org/), CC BY-SA 4.0 (see :mod:`pipeline.translate.cedict`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pipeline.text import CJK_IDEOGRAPHS
from pipeline.translate.lemma import lemma

#: CC-CEDICT senses kept per word (in the translator's cache) and shown per word, glossary terms shown per
#: word, and senses shown in all.
CEDICT_KEPT = 8
CEDICT_SENSES = 4
GLOSSARY_SENSES = 3
MAX_SENSES = 5

#: Sense classes: an ordinary sense; one marked literary/old/dialect/Taiwan (shown when a word has no
#: ordinary sense); a surname/variant/cross-reference (shown when it has nothing else); noise (never).
COMMON, MARKED, LAST_RESORT, DROP = 0, 1, 2, 3

_CJK = f"[{CJK_IDEOGRAPHS}]"
_MARKERS = (
    r"(?:literary|old|archaic|arch\.|classical|dialect|obsolete|Tw|Taiwan|Cantonese|Hokkien|HK|Hong Kong|"
    r"Buddhism|Taoism)(?!\w)"
)
# a marker opening the sense ("(literary) but; however") or closing it ("harvest (old)")
_MARKED_START = re.compile(rf"\({_MARKERS}")
_MARKED_END = re.compile(rf"\({_MARKERS}\)$")
_VARIANT = re.compile(r"^(?:\S+ )?variant of ")
_LAST_RESORT = re.compile(
    r"^(?:variant of|old variant|archaic variant|Japanese variant|erhua variant|unofficial variant|"
    r"also written|see |see also|used in|surname|abbr\. to|radical |Kangxi radical|\"\S+\" radical)"
)
_NOISE = re.compile(r"^(?:CL:|(?:Taiwan |also |Beijing |Mainland |old )?pr\.(?:\s|$))")
# notes inside a sense: "(CL:個|个[ge4])", ", CL:把[ba3]", "(Taiwan pr. [han4])"
_NOTE = re.compile(r"\s*\((?:CL:|(?:Taiwan |also |Beijing )?pr\. )[^()]*\)|[,;]?\s*CL:\S+")
_TRAD_SIMP = re.compile(f"[{CJK_IDEOGRAPHS}…∼]+\\|([{CJK_IDEOGRAPHS}…∼]+)")
_PINYIN = re.compile(r"\[[A-Za-z:·,\s]*\d[^\]]*\]")
_PAREN = re.compile(r"\([^()]*\)")
_SPACES = re.compile(r"\s+")
_NUMERALS = frozenset("〇零一二三四五六七八九十百千万亿两几数半每各该此这那")
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")


def entry_senses(definitions: str) -> list[tuple[str, int]]:
    """One CC-CEDICT entry's senses (its ``/``-separated definitions) as displayed, each with its class.

    The text of a sense is kept as written ("to put one's hand to it"); cross-references lose their pinyin
    and traditional form (``第六[di4 liu4]`` -> ``第六``, ``個|个[ge4]`` -> ``个``); classifier and
    pronunciation notes are removed.
    """
    out: list[tuple[str, int]] = []
    for raw in definitions.split("/"):
        text = raw.strip()
        if "[" in text or "|" in text or "CL:" in text or "pr." in text:  # (most senses have none)
            text = _NOTE.sub("", text)
            text = _PINYIN.sub("", _TRAD_SIMP.sub(r"\1", text))
            text = text.replace(" ,", ",").replace("( ", "(").replace(" )", ")")
            text = _SPACES.sub(" ", text).strip()
        if not text or _NOISE.match(text):
            continue
        if _LAST_RESORT.match(text):
            cls = LAST_RESORT
        elif _MARKED_START.match(text) or (text[-1] == ")" and _MARKED_END.search(text)):
            cls = MARKED
        else:
            cls = COMMON
        out.append((text, cls))
    return out


def word_senses(entries: Iterable[tuple[bool, list[tuple[str, int]]]]) -> tuple[str, ...]:
    """The senses shown for a headword with these entries (``(is a name entry, its senses)`` in file order).

    Ordinary entries come before name entries; the entries of a character's variant forms (秊: "grain;
    variant of 年") count only when no other entry has an ordinary sense; among the rest, the entry with the
    most ordinary senses (counting the synonyms a ``;`` separates) first, ties in file order. Only the best
    class present is kept: ordinary senses, else marked ones, else the last resort. At most
    :data:`CEDICT_KEPT` (:class:`Glosser` shows :data:`CEDICT_SENSES` of them).
    """

    def weight(e: tuple[bool, list[tuple[str, int]]]) -> tuple[bool, int]:
        return e[0], -sum(t.count(";") + 1 for t, c in e[1] if c == COMMON)

    ordered = list(entries)
    if len(ordered) > 1:
        main = [e for e in ordered if not any(_VARIANT.match(t) for t, _ in e[1])]
        if any(c == COMMON for _, ss in main for _, c in ss):
            ordered = main
        ordered.sort(key=weight)
    for cls in (COMMON, MARKED, LAST_RESORT):
        senses = [t for _, ss in ordered for t, c in ss if c == cls]
        if senses:
            return tuple(dict.fromkeys(senses))[:CEDICT_KEPT]
    return ()


def glossary_senses(text: str, vocab: frozenset[str] = frozenset()) -> dict[str, tuple[str, ...]]:
    """``corpus/glossary.tsv`` read from Chinese to English: ``{chinese: (english, ...)}``.

    A Chinese term's English terms come by weight, acronyms first among equals, then in file order; a term
    contained in a longer one of the same Chinese term is left out ("Office on Drugs and Crime" beside
    "United Nations Office on Drugs and Crime"), and so is another spelling of one already kept ("cyber
    crime" after "cybercrime", "Member State" after "Member States": see :func:`sense_key`). At most
    :data:`GLOSSARY_SENSES`. Malformed lines are skipped
    (:func:`~pipeline.translate.glossary.parse_glossary` warns about them).

    Args:
        text: the glossary's text.
        vocab: known base forms for :func:`~pipeline.translate.lemma.lemma` (the CC-CEDICT gloss words).
    """
    found: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            continue
        try:
            weight = float(cols[2]) if len(cols) > 2 and cols[2].strip() else 1.0
        except ValueError:
            weight = 1.0
        en, zh = _SPACES.sub(" ", cols[0].strip()), cols[1].strip()
        terms = found.setdefault(zh, {})
        terms[en] = max(terms.get(en, 0.0), weight)
    out: dict[str, tuple[str, ...]] = {}
    for zh, terms in found.items():
        kept = [en for en in terms if not any(_inside(en, other) for other in terms if other != en)]
        kept.sort(key=lambda en: (-terms[en], not _is_acronym(en)))
        unique = {sense_key(en, vocab): en for en in reversed(kept)}  # the first of each spelling
        out[zh] = tuple(en for en in kept if unique[sense_key(en, vocab)] == en)[:GLOSSARY_SENSES]
    return out


def sense_key(text: str, vocab: frozenset[str]) -> str:
    """What two glosses share when they say the same thing: the words' lemmas outside parentheses, without
    a leading "to" or article, run together ("(United Nations) Security Council" and "Security Council",
    "cyber-crime" and "cybercrime", "to prosecute" and "prosecute", "Member States" and "Member State")."""
    words = _WORD.findall(_PAREN.sub(" ", text)) or _WORD.findall(text)
    if len(words) > 1 and words[0].lower() in ("to", "a", "an", "the"):
        words = words[1:]
    return "".join(lemma(w, vocab) for w in words) or text


def _inside(short: str, long: str) -> bool:
    """True when ``short`` is a run of whole words of the longer ``long`` (case-insensitive)."""
    if len(short) >= len(long):
        return False
    return re.search(rf"(?<!\w){re.escape(short.lower())}(?!\w)", long.lower()) is not None


def _is_acronym(en: str) -> bool:
    return " " not in en and sum(c.isupper() for c in en) >= 2 and not any(c.islower() for c in en[1:2])


class Gloss(list[str]):
    """A word's English glosses: a plain ``list[str]`` (what ``/api/gloss`` sends) that also says where each
    gloss comes from.

    Attributes:
        sources: one per gloss: ``"glossary"`` (``corpus/glossary.tsv``), ``"cedict"`` (CC-CEDICT) or
            ``"parts"`` (the glosses of the word's parts, "网络 network + 犯罪 crime").
        parts: for a word glossed by its parts, each part with its own glosses; else ``()``.
    """

    sources: tuple[str, ...]
    parts: tuple[tuple[str, tuple[str, ...]], ...]

    def __init__(
        self,
        senses: Iterable[tuple[str, str]] = (),
        parts: tuple[tuple[str, tuple[str, ...]], ...] = (),
    ) -> None:
        pairs = list(senses)
        super().__init__(text for text, _ in pairs)
        self.sources = tuple(src for _, src in pairs)
        self.parts = parts

    def extra(self) -> dict[str, Any]:
        """What a JSON word may carry beside ``gloss``: ``{"sources": [...]}`` and, for a word glossed by
        its parts, ``"parts": [{"text": part, "gloss": [...]}, ...]``."""
        out: dict[str, Any] = {"sources": list(self.sources)}
        if self.parts:
            out["parts"] = [{"text": p, "gloss": list(g)} for p, g in self.parts]
        return out


class Glosser:
    """Glosses Chinese words from the glossary, CC-CEDICT and their parts (see the module's docstring).

    Args:
        glossary: ``{chinese: (english, ...)}`` (:func:`glossary_senses`).
        cedict: ``{simplified headword: (sense, ...)}`` (:func:`word_senses` of each headword).
        vocab: known base forms for :func:`sense_key` (the CC-CEDICT gloss words).
    """

    def __init__(
        self,
        glossary: Mapping[str, tuple[str, ...]],
        cedict: Mapping[str, tuple[str, ...]],
        vocab: frozenset[str] = frozenset(),
    ) -> None:
        self._glossary = glossary
        self._cedict = cedict
        self._vocab = vocab

    def known(self, word: str) -> bool:
        """True when the glossary or CC-CEDICT has ``word``."""
        return word in self._glossary or word in self._cedict

    def gloss(self, word: str) -> Gloss:
        """``word``'s glosses: the glossary's terms, then CC-CEDICT's senses (at most :data:`MAX_SENSES`;
        a sense saying what an earlier one says is left out, see :func:`sense_key`), else the glosses of its
        parts; empty for a word that is not Chinese or has no known part."""
        if not re.fullmatch(f"{_CJK}+", word):
            return Gloss()
        senses = self._own(word)
        if senses:
            return Gloss(senses)
        parts = self._parts(word)
        if len(parts) < 2:
            return Gloss()
        glossed = [(p, tuple(s for s, _ in self._own(p))) for p in parts]
        shown = []
        for i, (p, g) in enumerate(glossed):
            # after a numeral or determiner, a part's classifier sense (一项: 项 "classifier for … items …",
            # not "back of neck")
            short = _classifier(self._cedict.get(p, ())) if i and _counts(parts[i - 1]) else None
            short = short or _short(g, head=i == len(glossed) - 1)
            shown.append(f"{p} {short}" if short else p)
        return Gloss([(" + ".join(shown), "parts")], parts=tuple(glossed))

    def _own(self, word: str) -> list[tuple[str, str]]:
        seen: set[str] = set()
        out: list[tuple[str, str]] = []
        for source, senses in (
            ("glossary", self._glossary.get(word, ())),
            ("cedict", self._cedict.get(word, ())[:CEDICT_SENSES]),
        ):
            for s in senses:
                key = sense_key(s, self._vocab)
                if key not in seen and len(out) < MAX_SENSES:
                    seen.add(key)
                    out.append((s, source))
        return out

    def _parts(self, word: str) -> list[str]:
        """``word`` cut into the fewest known words (characters nobody knows count as parts too, and are
        avoided first); among equal cuts, the one with the longer first parts."""
        n = len(word)
        best: list[tuple[int, int, list[str]] | None] = [None] * (n + 1)
        best[n] = (0, 0, [])
        for i in range(n - 1, -1, -1):
            for j in range(n, i, -1):
                tail = best[j]
                piece = word[i:j]
                known = self.known(piece)
                if tail is None or (not known and j - i > 1):
                    continue
                cand = (tail[0] + (not known), tail[1] + 1, [piece, *tail[2]])
                cur = best[i]
                if cur is None or cand[:2] < cur[:2]:
                    best[i] = cand
        first = best[0]
        return first[2] if first is not None else [word]


def _counts(part: str) -> bool:
    """True for a numeral or determiner (一, 两, 六, 几, 各, 该, 这 …), which a classifier follows."""
    return all(c in _NUMERALS for c in part)


def _classifier(senses: tuple[str, ...]) -> str | None:
    """The classifier sense among a word's CC-CEDICT senses ("classifier for ships"), if any."""
    return next((s for s in senses if s.lstrip("(").startswith("classifier")), None)


def _short(senses: tuple[str, ...], head: bool) -> str:
    """A part's gloss in a compound: the first synonym of its first sense without its parenthesised notes
    (the whole sense when it is only a note); for the last part (the head of a Chinese compound), the first
    such synonym of its first two senses that is not a verb ("犯罪" -> "crime", not "to commit a crime")."""
    items = []
    for sense in senses[:2]:
        for item in sense.split(";"):
            bare = _SPACES.sub(" ", _PAREN.sub(" ", item)).strip(" ,")
            items.append(bare or item.strip())
    if not items:
        return ""
    if head:
        return next((i for i in items if not i.startswith("to ")), items[0])
    return items[0]
