"""jieba's prefix dictionary in shards, so a query loads only what its own characters need.

jieba segments with a prefix dictionary of ~500,000 entries; loading it whole (``marshal.load`` of its cache)
costs 0.5-1 s, more than the rest of a cold search. Every lookup jieba makes while cutting a sentence is of
a substring of that sentence, so a dictionary split by each entry's first character, whose shards are loaded
for the characters of the sentences being cut, cuts exactly as the whole one (``tests/test_cold_start.py``).
:func:`pipeline.analyze.get_jieba` writes the shards after a full load and uses them from then on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import marshal
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.store import write_bytes_atomic

__all__ = ["SHARDS_FILE", "PrefixShards", "open_shards", "sharded_tokenizer", "write_shards"]

log = logging.getLogger("pipeline.analyze")

#: Beside jieba's cache: the prefix dictionary jieba segments with (its cache plus the user dictionary's
#: words), split into shards by each entry's first character. A header line (JSON: what it was derived from,
#: the shards' offsets and the body's sha256) precedes the body of marshalled dicts, verified before use.
SHARDS_FILE = "prefix-shards.bin"
_SHARDS_FORMAT = 1
_N_SHARDS = 2048


class PrefixShards:
    """jieba's prefix dictionary, loaded shard by shard into one dict (``freq``) as texts need them.

    Every lookup jieba makes while cutting a sentence is of a substring of that sentence, so once the shards
    of its characters are loaded the sentence is cut exactly as with the whole dictionary.
    """

    def __init__(self, body: memoryview, offsets: list[int], total: int) -> None:
        self.freq: dict[str, int] = {}
        self.total = total
        self._body = body
        self._offsets = offsets
        self._loaded: set[int] = set()
        self._lock = threading.Lock()

    def load_for(self, text: str) -> None:
        """Load the shards of ``text``'s characters (thread-safe; a shard is loaded once)."""
        n = len(self._offsets) - 1
        missing = [i for i in {ord(c) % n for c in text} if i not in self._loaded]
        if missing:
            self._load(missing)

    def load_all(self) -> None:
        self._load(range(len(self._offsets) - 1))

    def _load(self, shards: Iterable[int]) -> None:
        with self._lock:
            for i in shards:
                if i not in self._loaded:
                    self.freq.update(marshal.loads(self._body[self._offsets[i] : self._offsets[i + 1]]))
                    self._loaded.add(i)  # after the update: a reader that sees it loaded sees its words


def write_shards(path: Path, freq: dict[str, int], total: int, source: dict[str, Any]) -> None:
    """Save a prefix dictionary in shards (see :data:`SHARDS_FILE`); a failure only costs a full load."""
    parts: list[dict[str, int]] = [{} for _ in range(_N_SHARDS)]
    for word, f in freq.items():
        if word:
            parts[ord(word[0]) % _N_SHARDS][word] = f
    blobs = [marshal.dumps(p) for p in parts]
    offsets = [0]
    for b in blobs:
        offsets.append(offsets[-1] + len(b))
    body = b"".join(blobs)
    header = {
        **source,
        "format": _SHARDS_FORMAT,
        "total": total,
        "offsets": offsets,
        "sha256": hashlib.sha256(body).hexdigest(),
    }
    try:
        write_bytes_atomic(path, json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n" + body)
    except OSError as e:
        log.warning("cannot save jieba's dictionary shards %s (%s); the next start loads it whole", path, e)


def open_shards(path: Path, source: dict[str, Any]) -> PrefixShards | None:
    """The saved shards when they verify and were derived from ``source``; else None."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    end = raw.find(b"\n")
    body = memoryview(raw)[end + 1 :]
    try:
        header = json.loads(raw[:end])
        offsets, total = header["offsets"], header["total"]
        shaped = (
            header["format"] == _SHARDS_FORMAT
            and isinstance(total, int)
            and isinstance(offsets, list)
            and len(offsets) > 1
            and all(isinstance(o, int) for o in offsets)
            and offsets[0] == 0
            and offsets[-1] == len(body)
            and all(a <= b for a, b in zip(offsets, offsets[1:]))
            and hashlib.sha256(body).hexdigest() == header["sha256"]
        )
    except (ValueError, KeyError, TypeError):
        shaped = False
    if not shaped:
        log.warning("jieba's dictionary shards %s are damaged; rebuilding them", path)
        return None
    if any(header.get(k) != v for k, v in source.items()):
        return None  # derived from another cache or user dictionary: rebuilt from the current ones
    return PrefixShards(body, offsets, total)


_SHARDED_CLASS: Any = None


def sharded_tokenizer(shards: PrefixShards) -> Any:
    """A jieba tokenizer over ``shards``: it loads the shards of each sentence's characters before cutting it
    (and all of them before a word is added)."""
    global _SHARDED_CLASS
    if _SHARDED_CLASS is None:
        import jieba

        class ShardedTokenizer(jieba.Tokenizer):  # type: ignore[misc]
            shards: PrefixShards

            def get_DAG(self, sentence: str) -> Any:  # noqa: N802 - jieba's name
                self.shards.load_for(sentence)
                return super().get_DAG(sentence)

            def add_word(self, word: str, freq: Any = None, tag: Any = None) -> None:
                self.shards.load_all()
                super().add_word(word, freq, tag)

        _SHARDED_CLASS = ShardedTokenizer
    tk = _SHARDED_CLASS()
    tk.shards = shards
    tk.FREQ, tk.total, tk.initialized = shards.freq, shards.total, True
    return tk
