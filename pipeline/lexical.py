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

Persistence: named ``.npy`` arrays, ``vocab.json`` and ``params.json``, written as one artifact
(:mod:`pipeline.store`): staged, hashed into the manifest and swapped into place atomically. Loading refuses
an index built from other inputs (:class:`~pipeline.errors.StaleIndexError`) and any file that does not
match its hash (:class:`~pipeline.errors.CorruptIndexError`); array shapes are checked as well.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.errors import CorruptIndexError
from pipeline.layout import corpus_key, lexical_dir
from pipeline.ranking import top_k
from pipeline.store import Artifact, Staging

if TYPE_CHECKING:
    from scipy import sparse

    from pipeline.analyze import Analyzer
    from pipeline.config import Config
    from pipeline.corpus import Corpus

__all__ = [
    "BM25Index",
    "DEFAULT_IDF",
    "FORMAT_VERSION",
    "IDF_VARIANTS",
    "build_lexical_index",
    "lexical_inputs",
    "lexical_is_current",
    "load_lexical_index",
    "load_lexical_indexes",
    "merge",
]

log = logging.getLogger(__name__)

IDF_VARIANTS = ("okapi", "lucene")
DEFAULT_IDF = "lucene"
FORMAT_VERSION = "3"
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
        tf: term-major CSR matrix of term frequencies, shape ``(len(vocab), n_docs)``: a scipy matrix, or its
            ``(data, indices, indptr)`` arrays (how :meth:`load` and :func:`merge` pass it, so a query never
            imports scipy; :attr:`tf` makes the scipy matrix when asked for).
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
        tf: sparse.csr_matrix | tuple[np.ndarray, np.ndarray, np.ndarray],
        doc_len: np.ndarray,
        doc_ids: Sequence[int],
        k1: float = 1.5,
        b: float = 0.75,
        idf: str = DEFAULT_IDF,
        epsilon: float = 0.25,
    ) -> None:
        if idf not in IDF_VARIANTS:
            raise ValueError(f"unknown BM25 idf variant {idf!r}; choose one of {IDF_VARIANTS}")
        if isinstance(tf, tuple):
            self._tf: sparse.csr_matrix | None = None
            self._csr = tf
            shape = (len(tf[2]) - 1, len(doc_len))
            shape_ok = shape[0] == len(vocab) and len(tf[0]) == len(tf[1]) == int(tf[2][-1])
        else:
            self._tf, self._csr = tf, (tf.data, tf.indices, tf.indptr)
            shape, shape_ok = tf.shape, tf.shape == (len(vocab), len(doc_len))
        if not shape_ok or len(doc_ids) != len(doc_len):
            raise ValueError(
                f"inconsistent index arrays: tf {shape}, vocab {len(vocab)}, doc_len {len(doc_len)}, "
                f"doc_ids {len(doc_ids)}"
            )
        self.vocab = list(vocab)
        self.term_id: dict[str, int] = {t: i for i, t in enumerate(self.vocab)}
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

    @property
    def csr(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The term frequencies' CSR arrays ``(data, indices, indptr)``, term-major."""
        return self._csr

    @property
    def tf(self) -> sparse.csr_matrix:
        """The term frequencies as a scipy CSR matrix, shape ``(len(vocab), n_docs)``."""
        if self._tf is None:
            from scipy import sparse

            data, indices, indptr = self._csr
            self._tf = sparse.csr_matrix(
                (data, indices, indptr), shape=(len(self.vocab), self.n_docs), copy=False
            )
        return self._tf

    def _compute_weights(self) -> None:
        n_docs = self.doc_len.size
        self.avgdl = float(self.doc_len.sum()) / n_docs if n_docs else 0.0
        data, indices, indptr = self._csr
        self.df = np.diff(indptr).astype(np.int64)
        self.idf = idf_values(self.df, n_docs, self.idf_variant, self.epsilon)
        tfv = data.astype(np.float64)
        dl = self.doc_len[indices].astype(np.float64)
        avgdl = self.avgdl if self.avgdl > 0 else 1.0
        norm = self.k1 * (1.0 - self.b + self.b * dl / avgdl)
        rows_idf = np.repeat(self.idf, self.df)
        self._w_data = rows_idf * (tfv * (self.k1 + 1.0) / (tfv + norm))
        self._indptr = indptr.astype(np.int64)
        self._indices = indices.astype(np.intp)

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
            "nnz": len(self._csr[0]),
        }

    def write_to(self, stage: Staging) -> None:
        """Write the index's files into an artifact being staged (see :class:`pipeline.store.Artifact`)."""
        data, indices, indptr = self._csr
        stage.save_npy("tf_data.npy", data.astype(np.int32))
        stage.save_npy("tf_indices.npy", indices.astype(np.int32))
        stage.save_npy("tf_indptr.npy", indptr.astype(np.int64))
        stage.save_npy("doc_len.npy", self.doc_len)
        stage.save_npy("doc_ids.npy", self.doc_ids)
        stage.write_json("vocab.json", self.vocab)
        stage.write_json("params.json", self.params())

    def save(self, directory: str | Path, inputs: dict[str, Any] | None = None) -> None:
        """Write the index to ``directory`` as one artifact (atomically; see :mod:`pipeline.store`).

        Args:
            directory: target directory.
            inputs: what the index was built from (see :func:`lexical_inputs`); ``{}`` for tools and tests.
        """
        with lexical_artifact(directory).write(
            dict(inputs or {}), info={"n_docs": self.n_docs, "n_terms": len(self.vocab)}
        ) as stage:
            self.write_to(stage)

    @classmethod
    def load(cls, directory: str | Path, inputs: dict[str, Any] | None = None) -> BM25Index:
        """Load an index saved by :meth:`save`, after checking its manifest and every file's hash.

        Args:
            directory: the index directory.
            inputs: the inputs the current corpus, analyzer and settings would give; ``None`` accepts any
                (tools, tests) but still verifies the files.

        Raises:
            MissingIndexError: no index in ``directory``.
            StaleIndexError: built from other inputs (the message names the differing keys).
            CorruptIndexError: a file is missing, truncated or changed, or the files disagree.
        """
        art = lexical_artifact(directory)
        if inputs is None:
            art.verify_files(art.read_manifest())
        else:
            art.check(inputs)
        return cls._read(Path(directory))

    @classmethod
    def _read(cls, d: Path) -> BM25Index:
        def damaged(why: str) -> CorruptIndexError:
            return CorruptIndexError(f"the lexical index at {d} is damaged ({why}); run `pipeline build`")

        try:
            params = json.loads((d / "params.json").read_text(encoding="utf-8"))
            vocab = json.loads((d / "vocab.json").read_text(encoding="utf-8"))
            arr = {name: np.load(d / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
        except (OSError, ValueError, EOFError) as e:
            raise damaged(str(e)) from None
        if (
            not isinstance(params, dict)
            or not isinstance(vocab, list)
            or params.get("format_version") != FORMAT_VERSION
        ):
            raise damaged("params.json or vocab.json has the wrong shape")
        n_terms, n_docs = len(vocab), int(arr["doc_len"].size)
        indptr = arr["tf_indptr"]
        if (
            indptr.ndim != 1
            or indptr.size != n_terms + 1
            or arr["tf_indices"].size != arr["tf_data"].size
            or int(indptr[-1]) != arr["tf_data"].size
            or arr["doc_ids"].size != n_docs
            or n_docs == 0
            or (arr["tf_indices"].size and int(arr["tf_indices"].max()) >= n_docs)
        ):
            raise damaged("array sizes disagree")
        try:
            return cls(
                vocab,
                (arr["tf_data"], arr["tf_indices"], indptr),
                arr["doc_len"],
                arr["doc_ids"].tolist(),
                k1=params["k1"],
                b=params["b"],
                idf=params["idf"],
                epsilon=params.get("epsilon", 0.25),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise damaged(str(e)) from None


def lexical_artifact(directory: str | Path) -> Artifact:
    """The lexical index's artifact (see :mod:`pipeline.store`), e.g. to read its manifest."""
    return Artifact(directory, "bm25", FORMAT_VERSION, "lexical index")


# --- project helpers ---------------------------------------------------------------------------------


def _key(corpus: Corpus, key: str | None) -> str:
    return key or corpus_key(corpus)


def lexical_inputs(cfg: Config, corpus: Corpus, analyzer: Analyzer) -> dict[str, Any]:
    """What a report's lexical index built now would be built from (its manifest's ``inputs``).

    Only what changes the term frequencies: the report's text and language and the analyzer (version, user
    dictionary, stopwords, jieba and PyStemmer versions). BM25's parameters are applied when the library's
    indexes are merged at load time, so changing ``bm25_k1`` needs no rebuild; query-time data (the glossary,
    CC-CEDICT) is not part of it either.
    """
    m: dict[str, Any] = {"corpus_sha256": corpus.sha256, "lang": corpus.lang}
    for k, v in analyzer.fingerprint().items():
        m[f"analyzer.{k}"] = v
    return m


def build_lexical_index(
    cfg: Config, corpus: Corpus, analyzer: Analyzer, save: bool = True, key: str | None = None
) -> BM25Index:
    """Tokenize one report's paragraphs and build (and by default save) its BM25 index.

    Args:
        cfg: settings.
        corpus: the parsed report (its identity settled).
        analyzer: the analyzer to tokenize with.
        save: write the index as an artifact to :func:`lexical_dir`.
        key: the report's index folder (default: from its symbol, language and hash).

    Returns:
        The index; its ids are the paragraphs' positions in the report.
    """
    t0 = time.perf_counter()
    paragraphs = list(corpus.paragraphs)
    tokens = [analyzer.tokenize(p.index_text) for p in paragraphs]
    index = BM25Index.build(
        tokens, list(range(len(paragraphs))), k1=cfg.bm25_k1, b=cfg.bm25_b, idf=cfg.bm25_idf
    )
    log.info(
        "lexical index: %d paragraphs, %d terms in %.2fs",
        index.n_docs,
        len(index.vocab),
        time.perf_counter() - t0,
    )
    if save:
        index.save(lexical_dir(cfg, _key(corpus, key)), lexical_inputs(cfg, corpus, analyzer))
    return index


def load_lexical_index(cfg: Config, corpus: Corpus, analyzer: Analyzer, key: str | None = None) -> BM25Index:
    """Load one report's saved lexical index, refusing it when missing, stale or damaged.

    Raises:
        MissingIndexError: not built yet.
        StaleIndexError: built from another text or analyzer (the message says which).
        CorruptIndexError: a file does not match the manifest.
    """
    index = BM25Index.load(lexical_dir(cfg, _key(corpus, key)), lexical_inputs(cfg, corpus, analyzer))
    if index.n_docs != len(corpus.paragraphs):
        raise CorruptIndexError(
            f"the lexical index of {corpus.label} has {index.n_docs} paragraphs, the report "
            f"{len(corpus.paragraphs)}; run `pipeline build`"
        )
    return index


def lexical_is_current(cfg: Config, corpus: Corpus, analyzer: Analyzer, key: str | None = None) -> bool:
    """True when the report's saved index matches the current inputs and every file verifies."""
    return lexical_artifact(lexical_dir(cfg, _key(corpus, key))).is_current(
        lexical_inputs(cfg, corpus, analyzer)
    )


def merge(parts: Sequence[BM25Index], k1: float, b: float, idf: str, epsilon: float = 0.25) -> BM25Index:
    """One BM25 index over the paragraphs of several, in order: library-wide document frequencies and average
    length, so its scores equal those of an index built over all the paragraphs at once.

    The ids are the row positions 0..n-1 of the concatenated paragraphs.
    """
    if not parts:
        raise ValueError("cannot merge no indexes")
    if len(parts) == 1:
        p = parts[0]
        return BM25Index(
            p.vocab, p.csr, p.doc_len, list(range(p.n_docs)), k1=k1, b=b, idf=idf, epsilon=epsilon
        )
    vocab: dict[str, int] = {}
    rows, cols, datas = [], [], []
    offset = 0
    for p in parts:
        remap = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in p.vocab), dtype=np.int64, count=len(p.vocab)
        )
        data, indices, indptr = p.csr
        rows.append(np.repeat(remap, np.diff(indptr)))
        cols.append(indices.astype(np.int64) + offset)
        datas.append(data)
        offset += p.n_docs
    row = np.concatenate(rows)
    # a stable sort by term keeps each term's postings in paragraph order (parts in order, sorted within)
    order = np.argsort(row, kind="stable")
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=len(vocab)), out=indptr[1:])
    tf = (np.concatenate(datas).astype(np.int32)[order], np.concatenate(cols)[order], indptr)
    doc_len = np.concatenate([p.doc_len for p in parts])
    return BM25Index(list(vocab), tf, doc_len, list(range(offset)), k1=k1, b=b, idf=idf, epsilon=epsilon)


def load_lexical_indexes(
    cfg: Config, documents: Sequence[tuple[Corpus, str]], analyzer: Analyzer
) -> BM25Index:
    """The BM25 index of several reports: each one's verified term frequencies,
    merged with ``cfg``'s parameters.

    Args:
        cfg: settings (BM25 parameters).
        documents: each report with its index folder key, in row order
            (:meth:`pipeline.library.Library.keyed`).
        analyzer: the analyzer whose fingerprint the indexes must carry.

    Raises:
        MissingIndexError: a report's index is not built yet (``pipeline build`` builds it).
        StaleIndexError, CorruptIndexError: one is stale or damaged.
    """
    parts = [load_lexical_index(cfg, doc, analyzer, key) for doc, key in documents]
    return merge(parts, cfg.bm25_k1, cfg.bm25_b, cfg.bm25_idf)
