"""Dense index: paragraph and sentence embeddings of a report, with paragraph scoring.

Each report of the library has its own (``indexes/docs/KEY/dense/``, see :mod:`pipeline.library`); the
library concatenates them when it loads (:func:`load_dense_indexes`). Paragraphs are identified by their
position (row) in the report — numbers can repeat where an annex restarts them — and, once concatenated,
by their row in the library. Files:

* ``paragraphs.npy`` - float32 (n_paragraphs, dim), L2-normalised embeddings of ``passage_prompt +
  paragraph.index_text``, in corpus order;
* ``sentences.npy`` - float32 (n_sentences, dim), embeddings of every sentence (NFKC-normalised), in corpus
  order (paragraph by paragraph);
* ``sentence_map.json`` - per paragraph its row and cache key, per sentence its paragraph's row, index
  in the paragraph, ``[start, end)`` character offsets and cache key;
* ``manifest.json`` - the artifact manifest (:mod:`pipeline.store`): inputs = the embedder's identity (model
  weights' sha256, passage prompt, library versions) and a hash of the embedded texts; every file's sha256.

A paragraph's score combines its own cosine with the best cosine among its sentences:
``(1 - w) * paragraph + w * max_sentence`` with ``w = cfg.sentence_weight`` (default 0.5), so a paragraph
with one sentence squarely on the query ranks well even when the rest of it is about something else.

Rebuilding re-embeds only texts whose cache key (sha256 of prompt and text) is not in the previous index,
and only when that index verifies (every file matches its hash) and was built by the same embedder: damaged
vectors are never handed back. ``force`` re-embeds everything.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.errors import CorruptIndexError, MissingIndexError, StaleIndexError
from pipeline.layout import corpus_key, dense_dir
from pipeline.ranking import top_k
from pipeline.store import Artifact

if TYPE_CHECKING:
    from pipeline.config import Config
    from pipeline.corpus import Corpus
    from pipeline.embed import PassageEmbedder
    from pipeline.models.embedcache import EmbeddingStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 3
PARAGRAPHS = "paragraphs.npy"
SENTENCES = "sentences.npy"
SENTENCE_MAP = "sentence_map.json"
DEFAULT_SENTENCE_WEIGHT = 0.5


@dataclass
class DenseHit:
    """A paragraph's dense scores for one query.

    Attributes:
        number: the paragraph's row (position in the report, or in the library).
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


def dense_artifact(directory: str | Path) -> Artifact:
    """The dense index's artifact (see :mod:`pipeline.store`)."""
    return Artifact(directory, "dense", str(FORMAT_VERSION), "dense index")


def text_key(prompt: str, text: str) -> str:
    """Cache key of one embedded text: sha256 of ``prompt``, NUL, ``text``."""
    return hashlib.sha256(f"{prompt}\0{text}".encode()).hexdigest()


def corpus_texts(corpus: Corpus) -> tuple[list[int], list[str], list[dict[str, Any]], list[str]]:
    """What gets embedded: paragraph rows and texts, sentence records and texts, in corpus order.

    Returns:
        ``(rows, paragraph_texts, sentence_records, sentence_texts)``; each sentence record has
        ``paragraph`` (the paragraph's row), ``index``, ``start``, ``end``.
    """
    from pipeline.text import normalize

    numbers: list[int] = []
    ptexts: list[str] = []
    records: list[dict[str, Any]] = []
    stexts: list[str] = []
    for row, p in enumerate(corpus.paragraphs):
        numbers.append(row)
        ptexts.append(p.index_text)
        for i, s in enumerate(p.sentences):
            records.append({"paragraph": row, "index": i, "start": int(s.start), "end": int(s.end)})
            stexts.append(normalize(s.text))
    return numbers, ptexts, records, stexts


def dense_inputs(corpus: Corpus, embedder: dict[str, Any]) -> dict[str, Any]:
    """The inputs of a dense index built now: the embedder's identity and a hash of what is embedded.

    Args:
        corpus: the parsed report.
        embedder: :func:`pipeline.embed.embedder_identity` (model weights, passage prompt, library versions).
    """
    numbers, ptexts, records, stexts = corpus_texts(corpus)
    h = hashlib.sha256()
    for t in [*ptexts, "\x1e", *stexts]:
        h.update(t.encode("utf-8") + b"\0")
    h.update(json.dumps([numbers, records], sort_keys=True).encode())
    return {**{f"embedder.{k}": v for k, v in embedder.items()}, "texts_sha256": h.hexdigest()}


@dataclass
class DenseIndex:
    """Paragraph and sentence embeddings with their map and manifest.

    Attributes:
        paragraphs: (n_paragraphs, dim) embeddings (possibly memory-mapped).
        sentences: (n_sentences, dim) embeddings (possibly memory-mapped).
        numbers: paragraph numbers, row order of ``paragraphs``.
        sentence_map: one record per row of ``sentences``: ``paragraph``, ``index``, ``start``, ``end``.
        manifest: what is known of the index: its manifest's ``info`` (dims, counts) and ``inputs``.
        paragraph_keys: cache keys of the paragraph rows.
        sentence_keys: cache keys of the sentence rows.
        embedded: number of texts embedded by the build that produced this object (0 when loaded).
    """

    paragraphs: np.ndarray
    sentences: np.ndarray
    numbers: list[int]
    sentence_map: list[dict[str, Any]]
    manifest: dict[str, Any]
    paragraph_keys: list[str] = field(default_factory=list)
    sentence_keys: list[str] = field(default_factory=list)
    embedded: int = 0

    def __post_init__(self) -> None:
        self._row = {n: i for i, n in enumerate(self.numbers)}
        owner = np.array([self._row[r["paragraph"]] for r in self.sentence_map], dtype=np.int64)
        if len(owner) and np.any(np.diff(owner) < 0):
            raise ValueError("sentence rows must be grouped by paragraph, in paragraph order")
        self._owner = owner
        counts = (
            np.bincount(owner, minlength=len(self.numbers))
            if len(owner)
            else np.zeros(len(self.numbers), int)
        )
        self._first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._count = counts.astype(np.int64)
        self._nonempty = np.nonzero(self._count)[0]

    # ------------------------------------------------------------------ building and storage

    @classmethod
    def build(
        cls,
        corpus: Corpus,
        embedder: PassageEmbedder,
        cache: dict[str, np.ndarray] | None = None,
        store: EmbeddingStore | None = None,
        reuse: bool = True,
    ) -> DenseIndex:
        """Embed the corpus's paragraphs and sentences.

        Args:
            corpus: the parsed report.
            embedder: embeds passages (with its passage prompt); called only for texts not in ``cache``.
            cache: vectors by :func:`text_key` from an earlier index of the same embedder
                (:func:`cached_vectors`); texts found there are not embedded again.
            store: the home's embedding cache of this embedder
                (:class:`pipeline.models.embedcache.EmbeddingStore`): texts the ``cache`` lacks are looked
                up there (when ``reuse``) before anything is embedded, and what is embedded is appended.
            reuse: take vectors from ``store`` (False: ``--force`` re-embeds, and only appends).

        Returns:
            The index (not yet saved); ``embedded`` counts the texts actually embedded.
        """
        numbers, ptexts, records, stexts = corpus_texts(corpus)
        prompt = embedder.prompt
        pkeys = [text_key(prompt, t) for t in ptexts]
        skeys = [text_key(prompt, t) for t in stexts]
        vectors = dict(cache or {})
        todo: dict[str, str] = {}
        for k, t in zip([*pkeys, *skeys], [*ptexts, *stexts], strict=True):
            if k not in vectors:
                todo.setdefault(k, t)
        if todo and store is not None and reuse:
            for k, v in store.lookup(todo).items():
                vectors[k] = v
                del todo[k]
        if todo:
            fresh = embedder.encode(list(todo.values()))
            vectors.update(zip(todo.keys(), fresh, strict=True))
            if store is not None:
                store.append(list(todo.keys()), fresh)
        dim = next(iter(vectors.values())).shape[0] if vectors else embedder.dims
        P = (
            np.stack([vectors[k] for k in pkeys]).astype(np.float32)
            if pkeys
            else np.zeros((0, dim), np.float32)
        )
        S = (
            np.stack([vectors[k] for k in skeys]).astype(np.float32)
            if skeys
            else np.zeros((0, dim), np.float32)
        )
        info = {"dims": int(dim), "n_paragraphs": len(pkeys), "n_sentences": len(skeys), "dtype": "float32"}
        return cls(P, S, numbers, records, info, pkeys, skeys, embedded=len(todo))

    def save(self, directory: str | Path, inputs: dict[str, Any]) -> None:
        """Write the index as one artifact (staged, hashed, swapped into place; see :mod:`pipeline.store`)."""
        smap = {
            "paragraphs": [
                {"number": n, "key": k} for n, k in zip(self.numbers, self.paragraph_keys, strict=True)
            ],
            "sentences": [
                {**r, "key": k} for r, k in zip(self.sentence_map, self.sentence_keys, strict=True)
            ],
        }
        with dense_artifact(directory).write(inputs, info=self.manifest) as stage:
            stage.save_npy(PARAGRAPHS, np.ascontiguousarray(self.paragraphs, dtype=np.float32))
            stage.save_npy(SENTENCES, np.ascontiguousarray(self.sentences, dtype=np.float32))
            stage.write_json(SENTENCE_MAP, smap)

    @classmethod
    def load(cls, directory: str | Path, inputs: dict[str, Any] | None, mmap: bool = True) -> DenseIndex:
        """Load a saved index (arrays memory-mapped) after checking its inputs and every file's hash.

        Args:
            directory: the index directory.
            inputs: :func:`dense_inputs` for the current corpus and embedder; None accepts any inputs
                (the embedding cache checks the embedder itself) but still verifies every file.
            mmap: memory-map the arrays.

        Raises:
            MissingIndexError: no index there.
            StaleIndexError: built from another embedder or other texts (the message names what differs).
            CorruptIndexError: a file does not match its hash, or the files disagree with each other.
        """
        directory = Path(directory)
        art = dense_artifact(directory)
        manifest = (
            art.read_manifest()
            if inputs is None
            else art.check(inputs, verify="none" if not mmap else "full")
        )
        # memory-mapped: the files were hashed above and are mapped; else each file is read once, hashed and
        # parsed from the same bytes
        files = art.read_files(manifest) if not mmap else None

        def damaged(why: str) -> CorruptIndexError:
            return CorruptIndexError(
                f"the dense index at {directory} is damaged ({why}); run `pipeline build`"
            )

        def array(name: str) -> np.ndarray:
            if files is None:
                return np.load(directory / name, mmap_mode="r", allow_pickle=False)
            return np.load(io.BytesIO(files[name]), allow_pickle=False)

        try:
            if files is None and inputs is None:
                art.verify_files(manifest)
            P = array(PARAGRAPHS)
            S = array(SENTENCES)
            smap = json.loads(
                files[SENTENCE_MAP] if files is not None else (directory / SENTENCE_MAP).read_bytes()
            )
            records = [
                {k: int(r[k]) for k in ("paragraph", "index", "start", "end")} for r in smap["sentences"]
            ]
            numbers = [int(p["number"]) for p in smap["paragraphs"]]
            pkeys = [str(p["key"]) for p in smap["paragraphs"]]
            skeys = [str(r["key"]) for r in smap["sentences"]]
        except (OSError, ValueError, EOFError, KeyError, TypeError) as e:
            raise damaged(str(e)) from None
        if (
            P.ndim != 2
            or S.ndim != 2
            or P.shape[0] != len(numbers)
            or S.shape[0] != len(records)
            or (len(records) and S.shape[1] != P.shape[1])
        ):
            raise damaged("array shapes disagree with the sentence map")
        if not np.all(np.isfinite(P)) or (len(records) and not np.all(np.isfinite(S))):
            raise damaged("vectors that are not numbers")
        try:
            return cls(
                P,
                S,
                numbers,
                records,
                {**manifest.get("info", {}), "inputs": manifest["inputs"]},
                pkeys,
                skeys,
            )
        except (KeyError, ValueError) as e:
            raise damaged(str(e)) from None

    # ------------------------------------------------------------------ scoring

    @property
    def dims(self) -> int:
        return int(self.paragraphs.shape[1])

    def scores(
        self, query_vec: np.ndarray, sentence_weight: float = DEFAULT_SENTENCE_WEIGHT
    ) -> dict[str, np.ndarray]:
        """All paragraph scores for one query vector.

        Args:
            query_vec: (dim,) or (1, dim) L2-normalised query embedding.
            sentence_weight: ``w`` of the combined score.

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
        sent_all = (
            np.asarray(self.sentences, dtype=np.float32) @ q
            if len(self.sentence_map)
            else np.zeros(0, np.float32)
        )
        para64 = para.astype(np.float64)
        best = para64.copy()
        arg = np.full(len(self.numbers), -1, dtype=np.int64)
        if len(self._nonempty):
            # Segmented max over the contiguous sentence rows of each paragraph, then the first row that
            # reaches it (ties: the earlier sentence), all vectorised: O(sentences) with no Python loop.
            seg_max = np.maximum.reduceat(sent_all, self._first[self._nonempty])
            best[self._nonempty] = seg_max
            peak = np.full(len(self.numbers), np.inf, dtype=np.float32)
            peak[self._nonempty] = seg_max
            hits = np.flatnonzero(sent_all >= peak[self._owner])
            owners, first = np.unique(self._owner[hits], return_index=True)
            arg[owners] = hits[first]
        w = sentence_weight
        combined = (1.0 - w) * para64 + w * best
        return {
            "combined": combined,
            "paragraph": para64,
            "sentence": best,
            "best_sentence": arg,
            "sentences": sent_all,
        }

    @property
    def sentence_counts(self) -> np.ndarray:
        """The number of sentences of each paragraph row."""
        return self._count

    def row_scores(
        self, query_vec: np.ndarray, rows: Sequence[int] | np.ndarray, sentence_weight: float
    ) -> dict[str, np.ndarray]:
        """:meth:`scores` of the given rows only (their vectors gathered: cost in proportion to them).

        Returns:
            ``combined``, ``paragraph``, ``sentence`` (float64, one per row, in the order given) and
            ``first``: the offsets of each row's sentences in ``sentences``, their cosines in that order.
        """
        q = np.asarray(query_vec, dtype=np.float32).reshape(-1)
        rs = np.asarray(rows, dtype=np.int64)
        para = (np.asarray(self.paragraphs[np.sort(rs)], dtype=np.float32) @ q)[np.argsort(np.argsort(rs))]
        para64 = para.astype(np.float64)
        count = self._count[rs]
        first = np.concatenate([[0], np.cumsum(count)]).astype(np.int64)
        idx = np.repeat(self._first[rs] - first[:-1], count) + np.arange(int(first[-1]))
        order = np.argsort(idx, kind="stable")
        sent = np.empty(len(idx), np.float32)
        if len(idx):
            sent[order] = np.asarray(self.sentences[idx[order]], dtype=np.float32) @ q
        best = para64.copy()
        has = count > 0
        if has.any():
            best[has] = np.maximum.reduceat(sent, first[:-1][has]).astype(np.float64)
        w = sentence_weight
        return {
            "combined": (1.0 - w) * para64 + w * best,
            "paragraph": para64,
            "sentence": best,
            "sentences": sent,
            "first": first,
        }

    def vectors_digest(self, paragraphs: int | None = None) -> str:
        """sha256 of what the vectors of the first ``paragraphs`` rows (default: all) were embedded from: the
        paragraphs' and their sentences' text keys (prompt and text), and how the sentences group."""
        n = len(self.numbers) if paragraphs is None else paragraphs
        m = int(self._first[n]) if n < len(self.numbers) else len(self.sentence_keys)
        h = hashlib.sha256()
        h.update("\n".join(self.paragraph_keys[:n]).encode())
        h.update(b"\0" + "\n".join(self.sentence_keys[:m]).encode() + b"\0")
        h.update(np.ascontiguousarray(self._count[:n], dtype="<i8").tobytes())
        return h.hexdigest()

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


def cached_vectors(directory: str | Path, embedder: dict[str, Any]) -> dict[str, np.ndarray]:
    """The embedding cache: vectors of the saved index by text key, when it can be trusted.

    Only an index that verifies (every file matches its hash) and was built by the same embedder is used;
    anything else gives an empty cache, so damaged or foreign vectors are never reused.
    """
    try:
        old = DenseIndex.load(directory, None, mmap=False)
    except (MissingIndexError, StaleIndexError) as e:
        if not isinstance(e, MissingIndexError):
            log.warning("not reusing embeddings: %s", str(e).splitlines()[0])
        return {}
    stored = old.manifest.get("inputs", {})
    if any(stored.get(f"embedder.{k}") != v for k, v in embedder.items()):
        return {}
    cache: dict[str, np.ndarray] = {}
    for keys, arr in ((old.paragraph_keys, old.paragraphs), (old.sentence_keys, old.sentences)):
        for i, k in enumerate(keys):
            cache.setdefault(k, np.asarray(arr[i], dtype=np.float32))
    return cache


def load_dense_index(
    cfg: Config, corpus: Corpus, embedder: dict[str, Any], key: str | None = None
) -> DenseIndex:
    """Load one report's dense index for ``corpus`` and the embedder's identity;
    see :meth:`DenseIndex.load`."""
    index = DenseIndex.load(dense_dir(cfg, _key(corpus, key)), dense_inputs(corpus, embedder))
    if len(index.numbers) != len(corpus.paragraphs):
        raise CorruptIndexError(
            f"the dense index of {corpus.label} does not match its paragraphs; run `pipeline build`"
        )
    return index


def _key(corpus: Corpus, key: str | None) -> str:
    return key or corpus_key(corpus)


def library_cache(cfg: Config, embedder: dict[str, Any]) -> dict[str, np.ndarray]:
    """Vectors of every report's dense index in the home that verifies and has this embedder, by text key."""
    cache: dict[str, np.ndarray] = {}
    root = cfg.index_dir / "docs"
    if root.is_dir():
        for d in sorted(root.iterdir()):
            if (d / "dense").is_dir():
                for k, v in cached_vectors(d / "dense", embedder).items():
                    cache.setdefault(k, v)
    return cache


def build_dense_index(
    cfg: Config,
    corpus: Corpus,
    embedder: PassageEmbedder,
    force: bool = False,
    key: str | None = None,
    cache: dict[str, np.ndarray] | None = None,
) -> DenseIndex:
    """Embed what the caches do not have (everything with ``force``) and save one report's index.

    ``cache`` defaults to the vectors of every verified dense index of the home with the same embedder; texts
    it lacks are then looked up in the home's embedding cache (``indexes/embeddings/``, which keeps vectors of
    removed reports until ``pipeline build`` collects them), so a report whose paragraphs were embedded
    before (another version of it, an earlier edit, a report removed and added again) costs nothing. What is
    embedded is appended to that cache.
    """
    from pipeline.models.embedcache import EmbeddingStore

    if cache is None:
        cache = {} if force else library_cache(cfg, embedder.identity)
    store = EmbeddingStore(cfg.index_dir, embedder.identity)
    index = DenseIndex.build(corpus, embedder, cache, store=store, reuse=not force)
    index.save(dense_dir(cfg, _key(corpus, key)), dense_inputs(corpus, embedder.identity))
    return index


def concat(parts: list[DenseIndex]) -> DenseIndex:
    """One dense index over the paragraphs of several, in order; ids are the rows of the concatenation."""
    if len(parts) == 1:
        return parts[0]
    offsets = np.cumsum([0] + [len(p.numbers) for p in parts]).tolist()
    P = np.concatenate([np.asarray(p.paragraphs, dtype=np.float32) for p in parts])
    S = np.concatenate([np.asarray(p.sentences, dtype=np.float32) for p in parts])
    records = [
        {**r, "paragraph": r["paragraph"] + off}
        for p, off in zip(parts, offsets, strict=False)
        for r in p.sentence_map
    ]
    info = {**parts[0].manifest, "n_paragraphs": int(P.shape[0]), "n_sentences": int(S.shape[0])}
    return DenseIndex(
        P,
        S,
        list(range(offsets[-1])),
        records,
        info,
        [k for p in parts for k in p.paragraph_keys],
        [k for p in parts for k in p.sentence_keys],
    )


def load_dense_indexes(
    cfg: Config, documents: Sequence[tuple[Corpus, str]], embedder: dict[str, Any]
) -> DenseIndex:
    """The dense index of several reports: each one's verified vectors, concatenated in row order.

    Args:
        cfg: settings.
        documents: each report with its index folder key (:meth:`pipeline.library.Library.keyed`).
        embedder: the passage embedder's identity the indexes must carry.

    Raises:
        MissingIndexError: a report's index is not built yet (``pipeline build`` builds it).
        StaleIndexError, CorruptIndexError: one is stale, damaged, or of other dimensions.
    """
    parts = [load_dense_index(cfg, doc, embedder, key) for doc, key in documents]
    if len({p.dims for p in parts}) > 1:
        raise StaleIndexError(
            "the reports' dense indexes have different dimensions; run `pipeline build --force`"
        )
    return concat(parts)
