"""Dense index: paragraph and sentence embeddings of the report, with paragraph scoring.

Files under ``indexes/dense/``:

* ``paragraphs.npy`` - float32 (n_paragraphs, dim), L2-normalised embeddings of ``passage_prompt +
  paragraph.index_text``, in corpus order;
* ``sentences.npy`` - float32 (n_sentences, dim), embeddings of every sentence (NFKC-normalised), in corpus
  order (paragraph by paragraph);
* ``sentence_map.json`` - per paragraph its number and cache key, per sentence its paragraph number, index
  in the paragraph, ``[start, end)`` character offsets and cache key;
* ``manifest.json`` - what the index was built from: model id and weight sha256, corpus sha256, a hash of
  the embedded texts, prompts, library versions (compared on load), plus dims, dtype, counts and the
  sha256 of each data file (informational / integrity).

A paragraph's score combines its own cosine with the best cosine among its sentences:
``(1 - w) * paragraph + w * max_sentence`` with ``w = cfg.sentence_weight`` (default 0.5), so a paragraph
with one sentence squarely on the query ranks well even when the rest of it is about something else.

Rebuilding re-embeds only texts whose cache key (sha256 of prompt and text) is not in the previous index
built with the same model weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.ranking import top_k
from pipeline.store import (
    MANIFEST,
    MissingIndexError,
    StaleIndexError,
    check_manifest,
    package_version,
    read_manifest,
    save_npy_atomic,
    sha256_file,
    write_json_atomic,
)

if TYPE_CHECKING:
    from pipeline.config import Config

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
PARAGRAPHS = "paragraphs.npy"
SENTENCES = "sentences.npy"
SENTENCE_MAP = "sentence_map.json"
DEFAULT_SENTENCE_WEIGHT = 0.5


@dataclass
class DenseHit:
    """A paragraph's dense scores for one query.

    Attributes:
        number: paragraph number.
        score: combined score ``(1 - w) * paragraph_cosine + w * sentence_cosine``.
        paragraph_cosine: cosine between the query and the whole paragraph.
        sentence_cosine: best cosine among the paragraph's sentences (the paragraph cosine if it has none).
        sentence: index of that best sentence in the paragraph (-1 if none).
        start: its start offset in the paragraph's text (-1 if none).
        end: its end offset (-1 if none).
    """

    number: int
    score: float
    paragraph_cosine: float
    sentence_cosine: float
    sentence: int = -1
    start: int = -1
    end: int = -1


def dense_dir(cfg: Config) -> Path:
    """``indexes/dense``."""
    return cfg.index_dir / "dense"


def text_key(prompt: str, text: str) -> str:
    """Cache key of one embedded text: sha256 of ``prompt``, NUL, ``text``."""
    return hashlib.sha256(f"{prompt}\0{text}".encode()).hexdigest()


def _normalize(text: str) -> str:
    from pipeline.text import normalize

    return normalize(text)


def corpus_texts(corpus: Any) -> tuple[list[int], list[str], list[dict[str, Any]], list[str]]:
    """What gets embedded: paragraph numbers and texts, sentence records and texts, in corpus order.

    Returns:
        ``(numbers, paragraph_texts, sentence_records, sentence_texts)``; each sentence record has
        ``paragraph``, ``index``, ``start``, ``end``.
    """
    numbers: list[int] = []
    ptexts: list[str] = []
    records: list[dict[str, Any]] = []
    stexts: list[str] = []
    for p in corpus.paragraphs:
        numbers.append(int(p.number))
        ptexts.append(p.index_text)
        for i, s in enumerate(p.sentences):
            records.append({"paragraph": int(p.number), "index": i, "start": int(s.start), "end": int(s.end)})
            stexts.append(_normalize(s.text))
    return numbers, ptexts, records, stexts


def dense_manifest(cfg: Config, corpus: Any) -> dict[str, Any]:
    """The manifest keys a dense index built now from ``corpus`` with ``cfg`` must carry.

    Everything here is computed without loading the model (the weight hash is cached by file stat).
    """
    from pipeline.embed import model_fingerprint, model_id

    numbers, ptexts, records, stexts = corpus_texts(corpus)
    h = hashlib.sha256()
    for t in [*ptexts, "\x1e", *stexts]:
        h.update(t.encode("utf-8") + b"\0")
    h.update(json.dumps([numbers, records], sort_keys=True).encode())
    return {
        "kind": "dense",
        "format_version": FORMAT_VERSION,
        "model_id": model_id(cfg),
        "model_sha256": model_fingerprint(cfg),
        "corpus_sha256": corpus.sha256,
        "texts_sha256": h.hexdigest(),
        "query_prompt": cfg.query_prompt or "",
        "passage_prompt": cfg.passage_prompt or "",
        "sentence-transformers": package_version("sentence-transformers"),
        "transformers": package_version("transformers"),
        "tokenizers": package_version("tokenizers"),
        "torch": package_version("torch"),
    }


@dataclass
class DenseIndex:
    """Paragraph and sentence embeddings with their map and manifest.

    Attributes:
        paragraphs: (n_paragraphs, dim) embeddings (possibly memory-mapped).
        sentences: (n_sentences, dim) embeddings (possibly memory-mapped).
        numbers: paragraph numbers, row order of ``paragraphs``.
        sentence_map: one record per row of ``sentences``: ``paragraph``, ``index``, ``start``, ``end``.
        manifest: the manifest (expected keys plus informational ones).
        paragraph_keys: cache keys of the paragraph rows.
        sentence_keys: cache keys of the sentence rows.
        sentence_weight: ``w`` of the combined score.
        embedded: number of texts embedded by the build that produced this object (0 when loaded).
    """

    paragraphs: np.ndarray
    sentences: np.ndarray
    numbers: list[int]
    sentence_map: list[dict[str, Any]]
    manifest: dict[str, Any]
    paragraph_keys: list[str] = field(default_factory=list)
    sentence_keys: list[str] = field(default_factory=list)
    sentence_weight: float = DEFAULT_SENTENCE_WEIGHT
    embedded: int = 0

    def __post_init__(self) -> None:
        self._row = {n: i for i, n in enumerate(self.numbers)}
        owner = np.array([self._row[r["paragraph"]] for r in self.sentence_map], dtype=np.int64)
        if len(owner) and np.any(np.diff(owner) < 0):
            raise ValueError("sentence rows must be grouped by paragraph, in paragraph order")
        self._owner = owner
        counts = np.bincount(owner, minlength=len(self.numbers)) if len(owner) else np.zeros(len(self.numbers), int)
        self._first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._count = counts.astype(np.int64)
        self._nonempty = np.nonzero(self._count)[0]

    # ------------------------------------------------------------------ building and storage

    @classmethod
    def build(
        cls,
        cfg: Config,
        corpus: Any,
        model: Any = None,
        previous: DenseIndex | None = None,
    ) -> DenseIndex:
        """Embed the corpus's paragraphs and sentences.

        Args:
            cfg: settings (model, prompts, sentence weight).
            corpus: the corpus (``pipeline.ingest.load_corpus``).
            model: a loaded ``SentenceTransformer``; loaded with :func:`pipeline.embed.load_model` if None.
            previous: an earlier index; rows whose cache key matches are reused when it was built with the
                same model weights.

        Returns:
            The index (not yet saved); ``embedded`` counts the texts actually embedded.
        """
        from pipeline.embed import encode, load_model, model_dtype

        manifest = dense_manifest(cfg, corpus)
        numbers, ptexts, records, stexts = corpus_texts(corpus)
        prompt = cfg.passage_prompt or ""
        pkeys = [text_key(prompt, t) for t in ptexts]
        skeys = [text_key(prompt, t) for t in stexts]

        cache: dict[str, np.ndarray] = {}
        if previous is not None and previous.manifest.get("model_sha256") == manifest["model_sha256"]:
            for keys, arr in ((previous.paragraph_keys, previous.paragraphs), (previous.sentence_keys, previous.sentences)):
                for i, k in enumerate(keys):
                    cache.setdefault(k, np.asarray(arr[i], dtype=np.float32))
        todo: dict[str, str] = {}
        for k, t in zip([*pkeys, *skeys], [*ptexts, *stexts], strict=True):
            if k not in cache:
                todo.setdefault(k, t)
        dtype = None
        if todo:
            if model is None:
                model = load_model(cfg)
            dtype = model_dtype(model)
            vecs = encode(model, list(todo.values()), prompt)
            cache.update(zip(todo.keys(), vecs, strict=True))
        dim = next(iter(cache.values())).shape[0] if cache else 0
        P = np.stack([cache[k] for k in pkeys]).astype(np.float32) if pkeys else np.zeros((0, dim), np.float32)
        S = np.stack([cache[k] for k in skeys]).astype(np.float32) if skeys else np.zeros((0, dim), np.float32)
        info = {
            "dims": int(dim),
            "n_paragraphs": len(pkeys),
            "n_sentences": len(skeys),
            "dtype": "float32",
            "embed_dtype": dtype or (previous.manifest.get("embed_dtype") if previous else None),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        return cls(
            paragraphs=P,
            sentences=S,
            numbers=numbers,
            sentence_map=records,
            manifest={**manifest, **info},
            paragraph_keys=pkeys,
            sentence_keys=skeys,
            sentence_weight=float(getattr(cfg, "sentence_weight", DEFAULT_SENTENCE_WEIGHT)),
            embedded=len(todo),
        )

    def save(self, directory: str | Path) -> None:
        """Write the index atomically file by file; the manifest goes last and records each file's sha256,
        so an interrupted save is detected on load."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_npy_atomic(directory / PARAGRAPHS, np.ascontiguousarray(self.paragraphs, dtype=np.float32))
        save_npy_atomic(directory / SENTENCES, np.ascontiguousarray(self.sentences, dtype=np.float32))
        smap = {
            "paragraphs": [{"number": n, "key": k} for n, k in zip(self.numbers, self.paragraph_keys, strict=True)],
            "sentences": [{**r, "key": k} for r, k in zip(self.sentence_map, self.sentence_keys, strict=True)],
        }
        write_json_atomic(directory / SENTENCE_MAP, smap)
        files = {name: sha256_file(directory / name) for name in (PARAGRAPHS, SENTENCES, SENTENCE_MAP)}
        self.manifest = {**self.manifest, "files": files}
        write_json_atomic(directory / MANIFEST, self.manifest)

    @classmethod
    def load(cls, cfg: Config, corpus: Any = None, directory: str | Path | None = None) -> DenseIndex:
        """Load a saved index (arrays memory-mapped), refusing a stale or damaged one.

        Args:
            cfg: settings (model, prompts) the index must match.
            corpus: the corpus it must match; loaded with ``pipeline.ingest.load_corpus`` if None.
            directory: index directory (default ``indexes/dense``).

        Raises:
            MissingIndexError: no index there.
            StaleIndexError: built from another model, corpus, prompts or library versions, or its files do
                not match the manifest (the message names what differs).
        """
        if corpus is None:
            from pipeline.ingest import load_corpus

            corpus = load_corpus(cfg)
        directory = Path(directory) if directory is not None else dense_dir(cfg)
        read_manifest(directory)  # MissingIndexError first, before hashing the model
        stored = check_manifest(directory, dense_manifest(cfg, corpus), what="dense index")
        files = stored.get("files") or {}
        for name in (PARAGRAPHS, SENTENCES, SENTENCE_MAP):
            path = directory / name
            if not path.is_file():
                raise StaleIndexError(f"the dense index at {directory} is incomplete: {name} is missing; run `pipeline build`")
            if files.get(name) != sha256_file(path):
                raise StaleIndexError(
                    f"the dense index at {directory} is damaged: {name} does not match its manifest "
                    "(interrupted write?); run `pipeline build`"
                )
        P = np.load(directory / PARAGRAPHS, mmap_mode="r", allow_pickle=False)
        S = np.load(directory / SENTENCES, mmap_mode="r", allow_pickle=False)
        smap = json.loads((directory / SENTENCE_MAP).read_text(encoding="utf-8"))
        records = [{k: r[k] for k in ("paragraph", "index", "start", "end")} for r in smap["sentences"]]
        return cls(
            paragraphs=P,
            sentences=S,
            numbers=[int(p["number"]) for p in smap["paragraphs"]],
            sentence_map=records,
            manifest=stored,
            paragraph_keys=[p["key"] for p in smap["paragraphs"]],
            sentence_keys=[r["key"] for r in smap["sentences"]],
            sentence_weight=float(getattr(cfg, "sentence_weight", DEFAULT_SENTENCE_WEIGHT)),
        )

    # ------------------------------------------------------------------ scoring

    @property
    def dims(self) -> int:
        return int(self.paragraphs.shape[1])

    def scores(self, query_vec: np.ndarray, sentence_weight: float | None = None) -> dict[str, np.ndarray]:
        """All paragraph scores for one query vector.

        Args:
            query_vec: (dim,) or (1, dim) L2-normalised query embedding.
            sentence_weight: ``w`` of the combined score (default: the index's).

        Returns:
            ``combined``, ``paragraph`` (paragraph cosine), ``sentence`` (best sentence cosine, the paragraph
            cosine where a paragraph has no sentences): float64 arrays over paragraphs in index order;
            ``best_sentence``: row in ``sentences`` of each paragraph's best sentence (-1 if none);
            ``sentences``: the cosine of every sentence row.
        """
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dims:
            raise ValueError(f"query vector has {q.shape[0]} dims, the index has {self.dims}")
        para = np.asarray(self.paragraphs, dtype=np.float32) @ q
        sent_all = np.asarray(self.sentences, dtype=np.float32) @ q if len(self.sentence_map) else np.zeros(0, np.float32)
        para64 = para.astype(np.float64)
        best = para64.copy()
        arg = np.full(len(self.numbers), -1, dtype=np.int64)
        if len(self._nonempty):
            # Segmented max over the contiguous sentence rows of each paragraph, then the first row that reaches
            # it (ties: the earlier sentence), all vectorised: O(sentences) with no Python loop.
            seg_max = np.maximum.reduceat(sent_all, self._first[self._nonempty])
            best[self._nonempty] = seg_max
            peak = np.full(len(self.numbers), np.inf, dtype=np.float32)
            peak[self._nonempty] = seg_max
            hits = np.flatnonzero(sent_all >= peak[self._owner])
            owners, first = np.unique(self._owner[hits], return_index=True)
            arg[owners] = hits[first]
        w = self.sentence_weight if sentence_weight is None else sentence_weight
        combined = (1.0 - w) * para64 + w * best
        return {
            "combined": combined,
            "paragraph": para64,
            "sentence": best,
            "best_sentence": arg,
            "sentences": sent_all,
        }

    def sentence_rows(self, row: int) -> slice:
        """Rows of ``sentences`` (and of ``scores()["sentences"]``) that belong to paragraph row ``row``."""
        a = int(self._first[row])
        return slice(a, a + int(self._count[row]))

    def _hit(self, row: int, sc: dict[str, np.ndarray]) -> DenseHit:
        srow = int(sc["best_sentence"][row])
        rec = self.sentence_map[srow] if srow >= 0 else None
        return DenseHit(
            number=self.numbers[row],
            score=float(sc["combined"][row]),
            paragraph_cosine=float(sc["paragraph"][row]),
            sentence_cosine=float(sc["sentence"][row]),
            sentence=int(rec["index"]) if rec else -1,
            start=int(rec["start"]) if rec else -1,
            end=int(rec["end"]) if rec else -1,
        )

    def search(self, query_vec: np.ndarray, k: int = 5) -> list[DenseHit]:
        """The ``k`` best paragraphs for a query vector, by combined score (ties: document order)."""
        sc = self.scores(query_vec)
        order = top_k(sc["combined"], k)
        return [self._hit(int(i), sc) for i in order]

    def best_sentence(self, paragraph_number: int, query_vec: np.ndarray) -> DenseHit:
        """The sentence of paragraph ``paragraph_number`` closest to the query (with the paragraph's scores).

        Raises:
            KeyError: no such paragraph in the index.
        """
        if paragraph_number not in self._row:
            raise KeyError(f"paragraph {paragraph_number} is not in the dense index")
        return self._hit(self._row[paragraph_number], self.scores(query_vec))


# ---------------------------------------------------------------------- module-level entry points


def load_dense_index(cfg: Config, corpus: Any = None) -> DenseIndex:
    """Load ``indexes/dense`` for ``corpus``; see :meth:`DenseIndex.load`."""
    return DenseIndex.load(cfg, corpus)


def _previous(directory: Path) -> DenseIndex | None:
    """The saved index's rows and keys for reuse, whatever it was built from (None if unreadable)."""
    try:
        manifest = read_manifest(directory)
        smap = json.loads((directory / SENTENCE_MAP).read_text(encoding="utf-8"))
        P = np.load(directory / PARAGRAPHS, allow_pickle=False)
        S = np.load(directory / SENTENCES, allow_pickle=False)
        pk = [p["key"] for p in smap["paragraphs"]]
        sk = [r["key"] for r in smap["sentences"]]
        if P.shape[0] != len(pk) or S.shape[0] != len(sk):
            return None
        return DenseIndex(
            paragraphs=P,
            sentences=S,
            numbers=list(range(len(pk))),
            sentence_map=[],
            manifest=manifest,
            paragraph_keys=pk,
            sentence_keys=sk,
        )
    except (OSError, ValueError, KeyError, TypeError, MissingIndexError):
        return None


def ensure_dense_index(
    cfg: Config,
    corpus: Any = None,
    force: bool = False,
    report: bool = False,
    model_loader: Callable[[], Any] | None = None,
    model: Any = None,
) -> DenseIndex | tuple[DenseIndex, int]:
    """Load the dense index if current, otherwise (re)build it, reusing unchanged embeddings, and save it.

    Args:
        cfg: settings.
        corpus: the corpus (loaded if None).
        force: rebuild even when current (embeddings cached under the same model are still reused).
        report: also return how many texts were embedded.
        model_loader: called to get the model only when something must be embedded.
        model: an already loaded model (takes precedence over ``model_loader``).

    Returns:
        The index, or ``(index, n_embedded)`` when ``report``.
    """
    if corpus is None:
        from pipeline.ingest import load_corpus

        corpus = load_corpus(cfg)
    directory = dense_dir(cfg)
    if not force:
        try:
            index = DenseIndex.load(cfg, corpus, directory)
            return (index, 0) if report else index
        except (MissingIndexError, StaleIndexError, ValueError, OSError) as e:
            log.info("rebuilding the dense index: %s", str(e).splitlines()[0])
    previous = _previous(directory)
    if model is None and model_loader is not None:
        # load the model only when build() will find texts to embed
        _, ptexts, _, stexts = corpus_texts(corpus)
        prompt = cfg.passage_prompt or ""
        keys = {text_key(prompt, t) for t in [*ptexts, *stexts]}
        have = set(previous.paragraph_keys) | set(previous.sentence_keys) if previous else set()
        same_model = previous is not None and previous.manifest.get("model_sha256") == dense_manifest(cfg, corpus)["model_sha256"]
        if not (same_model and keys <= have):
            model = model_loader()
    index = DenseIndex.build(cfg, corpus, model=model, previous=previous)
    index.save(directory)
    return (index, index.embedded) if report else index
