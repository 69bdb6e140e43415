"""BM25 over paragraphs, on sparse matrices, with a persistent index.

The index keeps the raw term frequencies as a term-major CSR matrix (one row per term, one column per
paragraph) plus the paragraph lengths; at build or load time it turns them into a CSR matrix of per-(term,
paragraph) BM25 contributions ``idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))``. A query is
then a weighted sum of a few matrix rows: a handful of vectorised slices, independent of how many
paragraphs do not contain the query terms.

Two IDF variants are kept, both checked for parity in the tests:

* ``"okapi"`` -- exactly ``rank_bm25.BM25Okapi``: ``log((N - n + 0.5) / (n + 0.5))``, with negative values
  (terms in more than half the paragraphs) replaced by ``epsilon * mean(idf)``.
* ``"lucene"`` (default) -- ``log(1 + (N - n + 0.5) / (n + 0.5))``, always positive and monotone in ``n``.
  With 65 paragraphs Okapi's floor is not monotone: a term found in 40 paragraphs gets the floor
  (about 0.9 here) while a term found in 30 gets ``log(35.5/30.5)`` = 0.15, so very common words outweigh
  moderately common ones. The Lucene form has no such inversion.

Persistence: named ``.npy`` arrays, ``vocab.json``, ``params.json`` and ``manifest.json`` in one directory,
each written atomically; the old manifest is removed first and the new one written last, so a directory is
either complete and described by its manifest or has no manifest (and is rebuilt). Loading compares the
manifest with the expected one (corpus hash, analyzer fingerprint, BM25 parameters, library versions) and
refuses a stale index with :class:`~pipeline.store.StaleIndexError`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
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
    write_json_atomic,
)

if TYPE_CHECKING:
    from scipy import sparse

    from pipeline.analyze import Analyzer
    from pipeline.config import Config

__all__ = [
    "BM25Index",
    "DEFAULT_IDF",
    "FORMAT_VERSION",
    "IDF_VARIANTS",
    "build_lexical_index",
    "ensure_lexical_index",
    "lexical_dir",
    "lexical_manifest",
    "load_lexical_index",
]

log = logging.getLogger(__name__)

IDF_VARIANTS = ("okapi", "lucene")
DEFAULT_IDF = "lucene"
FORMAT_VERSION = "1"
_ARRAYS = ("tf_data", "tf_indices", "tf_indptr", "doc_len", "doc_ids")


def idf_values(df: np.ndarray, n_docs: int, variant: str, epsilon: float = 0.25) -> np.ndarray:
    """IDF of each term from its document frequency.

    Args:
        df: number of documents containing each term (all > 0).
        n_docs: number of documents.
        variant: ``"okapi"`` (rank_bm25.BM25Okapi, floored) or ``"lucene"``.
        epsilon: Okapi floor factor (the floor is ``epsilon * mean idf``).

    Returns:
        float64 array, one value per term.
    """
    df = np.asarray(df, dtype=np.float64)
    if variant == "okapi":
        idf = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        if idf.size:
            floor = epsilon * (idf.sum() / idf.size)
            idf = np.where(idf < 0, floor, idf)
        return idf
    if variant == "lucene":
        return np.log1p((n_docs - df + 0.5) / (df + 0.5))
    raise ValueError(f"unknown BM25 idf variant {variant!r}; choose one of {IDF_VARIANTS}")


class BM25Index:
    """A BM25 index over a fixed list of documents.

    Build with :meth:`build` or :meth:`load`; the constructor takes already-built arrays.

    Args:
        vocab: terms, row order of ``tf``.
        tf: term-major CSR matrix of term frequencies, shape ``(len(vocab), n_docs)``.
        doc_len: tokens per document.
        doc_ids: external id of each document (paragraph number).
        k1: term-frequency saturation.
        b: length normalisation.
        idf: ``"okapi"`` or ``"lucene"``.
        epsilon: Okapi IDF floor factor.
    """

    def __init__(
        self,
        vocab: list[str],
        tf: sparse.csr_matrix,
        doc_len: np.ndarray,
        doc_ids: Sequence[int],
        k1: float = 1.5,
        b: float = 0.75,
        idf: str = DEFAULT_IDF,
        epsilon: float = 0.25,
    ) -> None:
        if idf not in IDF_VARIANTS:
            raise ValueError(f"unknown BM25 idf variant {idf!r}; choose one of {IDF_VARIANTS}")
        if tf.shape != (len(vocab), len(doc_len)) or len(doc_ids) != len(doc_len):
            raise ValueError(
                f"inconsistent index arrays: tf {tf.shape}, vocab {len(vocab)}, doc_len {len(doc_len)}, "
                f"doc_ids {len(doc_ids)}"
            )
        self.vocab = list(vocab)
        self.term_id: dict[str, int] = {t: i for i, t in enumerate(self.vocab)}
        self.tf = tf
        self.doc_len = np.asarray(doc_len, dtype=np.int64)
        self.doc_ids = np.asarray(doc_ids, dtype=np.int64)
        self.k1 = float(k1)
        self.b = float(b)
        self.idf_variant = idf
        self.epsilon = float(epsilon)
        self._compute_weights()

    # --- construction --------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        docs_tokens: Sequence[Sequence[str]],
        doc_ids: Sequence[int],
        k1: float = 1.5,
        b: float = 0.75,
        idf: str = DEFAULT_IDF,
        epsilon: float = 0.25,
    ) -> BM25Index:
        """Index tokenized documents.

        Args:
            docs_tokens: one token list per document.
            doc_ids: external ids, same length.
            k1: term-frequency saturation.
            b: length normalisation.
            idf: ``"okapi"`` (rank_bm25.BM25Okapi) or ``"lucene"``.
            epsilon: Okapi IDF floor factor.

        Returns:
            The index.
        """
        from scipy import sparse

        if len(docs_tokens) != len(doc_ids):
            raise ValueError(f"{len(docs_tokens)} documents but {len(doc_ids)} ids")
        if len(docs_tokens) == 0:
            raise ValueError("cannot build a BM25 index over no documents")
        vocab: dict[str, int] = {}
        setdefault = vocab.setdefault
        term_ids: list[int] = []
        lens = np.fromiter((len(d) for d in docs_tokens), dtype=np.int64, count=len(docs_tokens))
        for doc in docs_tokens:
            term_ids.extend([setdefault(t, len(vocab)) for t in doc])
        rows = np.asarray(term_ids, dtype=np.int32)
        cols = np.repeat(np.arange(len(docs_tokens), dtype=np.int32), lens)
        data = np.ones(rows.size, dtype=np.int32)
        tf = sparse.csr_matrix((data, (rows, cols)), shape=(len(vocab), len(docs_tokens)), dtype=np.int32)
        tf.sum_duplicates()
        tf.sort_indices()
        return cls(list(vocab), tf, lens, doc_ids, k1=k1, b=b, idf=idf, epsilon=epsilon)

    def _compute_weights(self) -> None:
        n_docs = self.doc_len.size
        self.avgdl = float(self.doc_len.sum()) / n_docs if n_docs else 0.0
        indptr = self.tf.indptr
        self.df = np.diff(indptr).astype(np.int64)
        self.idf = idf_values(self.df, n_docs, self.idf_variant, self.epsilon)
        tfv = self.tf.data.astype(np.float64)
        dl = self.doc_len[self.tf.indices].astype(np.float64)
        avgdl = self.avgdl if self.avgdl > 0 else 1.0
        norm = self.k1 * (1.0 - self.b + self.b * dl / avgdl)
        rows_idf = np.repeat(self.idf, self.df)
        self._w_data = rows_idf * (tfv * (self.k1 + 1.0) / (tfv + norm))
        self._indptr = indptr.astype(np.int64)
        self._indices = self.tf.indices.astype(np.intp)

    # --- queries -------------------------------------------------------------------------------------

    @property
    def n_docs(self) -> int:
        """Number of indexed documents."""
        return int(self.doc_len.size)

    def _accumulate(
        self, query_terms: Sequence[tuple[str, float]]
    ) -> tuple[np.ndarray, list[np.ndarray], bool]:
        """Scores, the posting lists touched, and whether every contribution was positive."""
        scores = np.zeros(self.n_docs, dtype=np.float64)
        touched: list[np.ndarray] = []
        weights: dict[int, float] = {}
        for term, w in query_terms:
            tid = self.term_id.get(term)
            if tid is not None and w:
                weights[tid] = weights.get(tid, 0.0) + float(w)
        indptr, indices, data = self._indptr, self._indices, self._w_data
        positive = True
        for tid, w in weights.items():
            s, e = indptr[tid], indptr[tid + 1]
            idx = indices[s:e]
            scores[idx] += w * data[s:e]  # indices are unique within a row
            touched.append(idx)
            positive = positive and w > 0 and self.idf[tid] > 0
        return scores, touched, positive

    def scores(self, query_terms: Sequence[tuple[str, float]]) -> np.ndarray:
        """BM25 score of every document: sum over query terms of ``weight * bm25(term, doc)``.

        Args:
            query_terms: ``(term, weight)`` pairs; repeated terms add up, unknown terms count zero.

        Returns:
            float64 array of length :attr:`n_docs`, in document order.
        """
        return self._accumulate(query_terms)[0]

    def search(self, query_terms: Sequence[tuple[str, float]], k: int = 10) -> list[tuple[int, float]]:
        """Best ``k`` documents that contain at least one query term.

        Args:
            query_terms: ``(term, weight)`` pairs.
            k: number of results.

        Returns:
            ``(doc_id, score)`` pairs, best first; ties keep document order.
        """
        if k <= 0:
            return []
        scores, touched, positive = self._accumulate(query_terms)
        if not touched:
            return []
        n_touched = sum(t.size for t in touched)
        if len(touched) == 1:
            cand = touched[0]  # sorted and unique already
        elif n_touched * 16 < self.n_docs:
            cand = np.unique(np.concatenate(touched))  # few postings: sorting them is cheaper than a pass
        elif positive:
            cand = np.flatnonzero(scores > 0)  # every posting adds a positive amount
        else:
            mask = np.zeros(self.n_docs, dtype=bool)
            for t in touched:
                mask[t] = True
            cand = np.flatnonzero(mask)
        cs = scores[cand]
        order = top_k(cs, k)
        return [(int(self.doc_ids[cand[i]]), float(cs[i])) for i in order]

    # --- persistence ---------------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """Parameters and sizes stored in ``params.json``."""
        return {
            "format_version": FORMAT_VERSION,
            "k1": self.k1,
            "b": self.b,
            "idf": self.idf_variant,
            "epsilon": self.epsilon,
            "n_docs": self.n_docs,
            "n_terms": len(self.vocab),
            "nnz": int(self.tf.nnz),
        }

    def save(self, directory: str | Path, manifest: dict[str, Any] | None = None) -> None:
        """Write the index to ``directory`` (created if needed).

        The existing manifest is removed first and the new one written last, each file atomically.

        Args:
            directory: target directory.
            manifest: what the index was built from (see :func:`lexical_manifest`); the BM25 parameters and
                sizes are added to it.
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        (d / MANIFEST).unlink(missing_ok=True)
        arrays = {
            "tf_data": self.tf.data.astype(np.int32),
            "tf_indices": self.tf.indices.astype(np.int32),
            "tf_indptr": self.tf.indptr.astype(np.int64),
            "doc_len": self.doc_len,
            "doc_ids": self.doc_ids,
        }
        for name, arr in arrays.items():
            save_npy_atomic(d / f"{name}.npy", arr)
        write_json_atomic(d / "vocab.json", self.vocab)
        write_json_atomic(d / "params.json", self.params())
        full = dict(manifest or {})
        full.setdefault("kind", "bm25")
        full.setdefault("format_version", FORMAT_VERSION)
        full.setdefault("bm25_k1", self.k1)
        full.setdefault("bm25_b", self.b)
        full.setdefault("bm25_idf", self.idf_variant)
        full.setdefault("bm25_epsilon", self.epsilon)
        full["n_docs"] = self.n_docs
        full["n_terms"] = len(self.vocab)
        full["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        write_json_atomic(d / MANIFEST, full)

    @classmethod
    def load(cls, directory: str | Path, expected_manifest: dict[str, Any] | None = None) -> BM25Index:
        """Load an index saved by :meth:`save`.

        Args:
            directory: the index directory.
            expected_manifest: the manifest the current corpus, analyzer and settings would produce; every
                key in it must match the stored manifest. ``None`` skips the check (tools, tests).

        Returns:
            The index.

        Raises:
            MissingIndexError: no index (or no manifest) in ``directory``.
            StaleIndexError: the stored manifest differs from ``expected_manifest`` (the message names the
                differing keys), or the stored parameters disagree with the manifest.
        """
        from scipy import sparse

        d = Path(directory)
        manifest = (
            check_manifest(d, expected_manifest, what="lexical index")
            if expected_manifest is not None
            else read_manifest(d)
        )
        try:
            with open(d / "params.json", encoding="utf-8") as f:
                params = json.load(f)
            with open(d / "vocab.json", encoding="utf-8") as f:
                vocab = json.load(f)
            arr = {name: np.load(d / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
        except FileNotFoundError as e:
            raise MissingIndexError(f"incomplete lexical index at {d}: {e}") from e
        if params.get("format_version") != FORMAT_VERSION:
            raise StaleIndexError(
                f"the lexical index at {d} has format {params.get('format_version')!r}, "
                f"current is {FORMAT_VERSION!r}; run `pipeline build`"
            )
        for mkey, pkey in (("bm25_k1", "k1"), ("bm25_b", "b"), ("bm25_idf", "idf"), ("n_docs", "n_docs")):
            if mkey in manifest and manifest[mkey] != params.get(pkey):
                raise StaleIndexError(
                    f"the lexical index at {d} is inconsistent: manifest {mkey}={manifest[mkey]!r} but "
                    f"params {pkey}={params.get(pkey)!r}; run `pipeline build`"
                )
        n_terms, n_docs = len(vocab), int(arr["doc_len"].size)
        tf = sparse.csr_matrix(
            (arr["tf_data"], arr["tf_indices"], arr["tf_indptr"]), shape=(n_terms, n_docs), copy=False
        )
        return cls(
            vocab,
            tf,
            arr["doc_len"],
            arr["doc_ids"].tolist(),
            k1=params["k1"],
            b=params["b"],
            idf=params["idf"],
            epsilon=params.get("epsilon", 0.25),
        )


# --- project helpers ---------------------------------------------------------------------------------


def lexical_dir(cfg: Config) -> Path:
    """Directory of the lexical index: ``indexes/lexical``."""
    return cfg.index_dir / "lexical"


def _idf_variant(cfg: Config) -> str:
    return cfg.bm25_idf


def lexical_manifest(cfg: Config, corpus: Any, analyzer: Analyzer | None = None) -> dict[str, Any]:
    """The manifest a lexical index built now from ``corpus`` with ``cfg`` would carry.

    Args:
        cfg: settings (BM25 parameters; ``bm25_idf`` if the config has it, else the default variant).
        corpus: the corpus (its ``sha256``).
        analyzer: the analyzer (its :meth:`~pipeline.analyze.Analyzer.fingerprint`); a default one if
            omitted.

    Returns:
        A flat dict: corpus hash, ``analyzer.*`` fingerprint keys, BM25 parameters, library versions.
    """
    from pipeline.analyze import Analyzer

    analyzer = analyzer or Analyzer(cfg)
    m: dict[str, Any] = {
        "kind": "bm25",
        "format_version": FORMAT_VERSION,
        "corpus_sha256": corpus.sha256,
        "bm25_k1": float(cfg.bm25_k1),
        "bm25_b": float(cfg.bm25_b),
        "bm25_idf": _idf_variant(cfg),
        "bm25_epsilon": 0.25,
        "numpy": package_version("numpy"),
        "scipy": package_version("scipy"),
        "jieba": package_version("jieba"),
    }
    for k, v in analyzer.fingerprint().items():
        m[f"analyzer.{k}"] = v
    return m


def _tokenize_corpus(corpus: Any, analyzer: Analyzer) -> tuple[list[list[str]], list[int]]:
    paragraphs = list(corpus.paragraphs)
    return [analyzer.tokenize(p.index_text) for p in paragraphs], [int(p.number) for p in paragraphs]


def build_lexical_index(
    cfg: Config, corpus: Any, analyzer: Analyzer | None = None, save: bool = True
) -> BM25Index:
    """Tokenize the corpus's paragraphs and build (and by default save) the BM25 index.

    Args:
        cfg: settings.
        corpus: from :func:`pipeline.ingest.load_corpus`.
        analyzer: the analyzer to use; a default one if omitted.
        save: write the index and its manifest to :func:`lexical_dir`.

    Returns:
        The index.
    """
    from pipeline.analyze import Analyzer

    analyzer = analyzer or Analyzer(cfg)
    t0 = time.perf_counter()
    tokens, ids = _tokenize_corpus(corpus, analyzer)
    index = BM25Index.build(tokens, ids, k1=cfg.bm25_k1, b=cfg.bm25_b, idf=_idf_variant(cfg))
    log.info("lexical index: %d paragraphs, %d terms in %.2fs", index.n_docs, len(index.vocab),
             time.perf_counter() - t0)
    if save:
        index.save(lexical_dir(cfg), lexical_manifest(cfg, corpus, analyzer))
    return index


def load_lexical_index(cfg: Config, corpus: Any, analyzer: Analyzer | None = None) -> BM25Index:
    """Load the saved lexical index, refusing it when it was built from other data or settings.

    Raises:
        MissingIndexError: not built yet.
        StaleIndexError: built from another corpus, analyzer or BM25 parameters (the message says which).
    """
    return BM25Index.load(lexical_dir(cfg), lexical_manifest(cfg, corpus, analyzer))


def ensure_lexical_index(cfg: Config, corpus: Any, analyzer: Analyzer | None = None) -> BM25Index:
    """Load the lexical index if it is current, otherwise rebuild and save it.

    Args:
        cfg: settings.
        corpus: the corpus.
        analyzer: the analyzer; a default one if omitted.

    Returns:
        A current index.
    """
    from pipeline.analyze import Analyzer

    analyzer = analyzer or Analyzer(cfg)
    try:
        return load_lexical_index(cfg, corpus, analyzer)
    except (MissingIndexError, StaleIndexError, ValueError, OSError) as e:
        log.info("rebuilding the lexical index: %s", str(e).splitlines()[0])
    return build_lexical_index(cfg, corpus, analyzer, save=True)
