"""The retriever's two channels on Qdrant (``cfg.backend == "qdrant"``): upload a library, answer a question.

:func:`upload_library` puts the library's merged BM25 statistics and vectors into one collection (one per
library; payload: document, lang, paragraph, part, section) with the library's fingerprint, so a search
refuses a collection built from other reports, another analyzer, embedder or BM25 parameters.

:class:`QdrantChannels` answers a planned question the way :meth:`pipeline.retrieve.Retriever._questions`
does in process, with the channel scores from the engine:

* **candidates**: the lexical channel's top ``k_lexical`` and the dense channel's top ``k_dense`` (HNSW on a
  server or Edge), filters (``--doc``, ``--lang``) applied in the engine; every candidate then gets both
  channels' exact scores (BM25 recomputed from its stored term-frequency values; dense from its stored
  vectors), as :class:`~pipeline.lexical.BM25Index` and :class:`~pipeline.dense.DenseIndex` compute them.
* **fusion** stays the project's z-score fusion with the language's weight. It needs each channel's mean and
  standard deviation over the paragraphs searched: exact when they number at most ``EXACT_UP_TO`` (every
  one is scored exactly — so a library of that size ranks exactly as in process), else computed on a fixed
  random sample of ``SAMPLE`` of them (all of them when fewer), whose stored vectors are fetched once and
  scored client-side for every question. Then the candidates are fused on the engine's (float32) channel
  scores, the fused order is approximate, a paragraph in neither candidate list cannot be found (the recall
  against exact search is measured by ``scripts/bench_scale.py``, which times this very sequence), and only
  the ``k`` results get their exact channel scores, cosines and answer sentence.
* **IDF is the project's**, stored with the collection, so how the engine shards the collection cannot change
  a score.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.backends import candidates
from pipeline.backends.base import Scored
from pipeline.backends.candidates import Sample, dense_combined, fuse_top
from pipeline.backends.qdrant.engines import DamagedCollection, engine_failure, from_engine
from pipeline.errors import (
    ComponentError,
    ConfigError,
    CorruptIndexError,
    MissingIndexError,
    PipelineError,
    StaleIndexError,
)
from pipeline.fusion import fuse
from pipeline.ranking import top_k

if TYPE_CHECKING:
    from pipeline.backends.qdrant import QdrantBackend
    from pipeline.config import Config
    from pipeline.library import Library

#: Settings of the search: candidates per channel and the paragraphs sampled for the fusion statistics
#: (:mod:`pipeline.backends.candidates`, shared with the in-process ANN channel). DENSE_POOL: what the
#: engine's dense search ranks before taking the top K_DENSE (paragraph-vector HNSW candidates, or MAX_SIM
#: candidates of the probed partitions).
K_LEXICAL = candidates.K_LEXICAL
K_DENSE = candidates.K_DENSE
DENSE_POOL = 1000
SAMPLE = candidates.SAMPLE
#: Up to this many paragraphs searched, every one is scored exactly (their vectors travel from the engine on
#: every question, so this stays small); beyond it, candidates and the statistics sample.
EXACT_UP_TO = 2048


def open_backend(cfg: Config) -> QdrantBackend:
    """The configured collection (``cfg.qdrant_url``, ``cfg.qdrant_collection``).

    Raises:
        ComponentError: qdrant-client (or qdrant-edge-py for ``edge:``) is not installed, or the engine cannot
            be reached.
    """
    if not cfg.qdrant_url.strip():
        raise ConfigError("setting qdrant_url='': the qdrant backend needs a location (--qdrant-url)")
    cfg.validate_qdrant()
    try:
        from pipeline.backends.qdrant import QdrantBackend
    except ImportError as e:
        raise ComponentError(
            f"the qdrant backend needs qdrant-client: pip install 'pipeline[qdrant]' ({e})"
        ) from None
    try:
        return QdrantBackend(
            cfg.qdrant_url,
            cfg.qdrant_collection,
            partitions=cfg.qdrant_partitions,
            probe=cfg.qdrant_probe,
            quantization=cfg.qdrant_quantization,
            oversampling=cfg.qdrant_oversampling,
            dense_candidates=DENSE_POOL,
        )
    except ImportError as e:
        raise ComponentError(f"{cfg.qdrant_url}: {e} (pip install 'pipeline[qdrant]')") from None
    except BaseException as e:  # a Rust panic of Qdrant Edge is a BaseException
        if not engine_failure(e):
            raise
        raise engine_error(cfg, e, "opening it") from e


def _one_line(e: BaseException) -> str:
    text = (str(e).strip().splitlines() or [type(e).__name__])[0]
    text = text if len(text) <= 200 else text[:200] + "…"
    return f"engine panic: {text}" if type(e).__name__ == "PanicException" else text


def engine_error(cfg: Config, e: BaseException, doing: str) -> PipelineError:
    """The one-line error for an engine's failure while ``doing`` something: a server that cannot be used is a
    :class:`ComponentError`; a collection whose storage fails or holds other content than its upload wrote
    (Edge, local mode, or a server's damaged collection) is a :class:`CorruptIndexError` saying to rebuild."""
    from pipeline.backends.qdrant.client import _what_happened
    from pipeline.backends.qdrant.engines import SERVER_TIMEOUT, DamagedCollection, EngineUnusable

    url = cfg.qdrant_url
    if isinstance(e, EngineUnusable):
        return ComponentError(str(e))
    if isinstance(e, DamagedCollection) or not url.strip().startswith(("http://", "https://")):
        return CorruptIndexError(
            f"the Qdrant collection at {url} is damaged ({_one_line(e)}); rebuild it with "
            f"`pipeline build --backend qdrant --qdrant-url {url}`"
        )
    return ComponentError(f"while {doing}, the Qdrant server at {url} {_what_happened(e, SERVER_TIMEOUT)}")


def _close(backend: QdrantBackend) -> None:
    """Close the backend; a failing engine (a damaged shard may panic again) is left to the error raised."""
    try:
        backend.close()
    except BaseException as e:
        if not engine_failure(e):
            raise


def fingerprint(cfg: Config, library: Library, embedder: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a collection must have been uploaded from to answer for this library and these settings
    (``embedder``: the passage embedder's identity, default the configured model's)."""
    from pipeline.embed import embedder_identity

    identity = embedder if embedder is not None else embedder_identity(cfg)
    emb = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return {
        "library_sha256": library.sha256,
        "paragraphs": len(library.paragraphs),
        "embedder_sha256": emb,
        "bm25": [cfg.bm25_k1, cfg.bm25_b, cfg.bm25_idf],
    }


def payloads(library: Library) -> list[dict[str, Any]]:
    """One payload per library row: what a filter or a reader of the collection needs."""
    return [
        {
            "document": p.document,
            "lang": p.lang,
            "paragraph": p.number,
            "part": p.part,
            "section": list(p.section),
        }
        for p in library.paragraphs
    ]


def upload_library(
    cfg: Config,
    library: Library,
    lexical: Any,
    dense: Any,
    progress: bool = True,
    embedder: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Upload the library (idempotent, resumable; a progress bar on stderr) and record its fingerprint.

    A collection found damaged (its state, its point count or a checked point's content, as
    :meth:`QdrantBackend.check` checks them) is dropped and uploaded anew; an Edge directory whose shard fails
    to load or read is deleted and uploaded anew. Anything else the engine cannot do is one error.

    Raises:
        ComponentError: the server cannot be reached, times out, is not Qdrant or fails.
        CorruptIndexError: a damaged collection that could not be mended.
        ConfigError: a bad ``qdrant_url`` or ``qdrant_collection``.
    """
    try:
        return _upload(cfg, library, lexical, dense, progress, embedder)
    except CorruptIndexError as e:
        if not cfg.qdrant_url.strip().startswith("edge:"):
            raise
        from pipeline.backends.qdrant.edge import EdgeEngine

        damaged = str(e).split("; rebuild it with")[0]
        print(f"qdrant: {damaged}: deleting it and uploading anew", file=sys.stderr, flush=True)
        EdgeEngine.discard(cfg.qdrant_url.strip()[len("edge:") :])
        return _upload(cfg, library, lexical, dense, progress, embedder)


def _upload(
    cfg: Config, library: Library, lexical: Any, dense: Any, progress: bool, embedder: dict[str, Any] | None
) -> dict[str, int]:
    """One attempt of :func:`upload_library`."""
    backend = open_backend(cfg)
    try:
        damage = _damage(backend)
        if damage:
            print(
                f"qdrant: the collection at {cfg.qdrant_url} is damaged ({damage}): uploading it anew",
                file=sys.stderr,
                flush=True,
            )
            backend.engine.drop()
        return backend.upload(
            payloads(library), lexical, dense, progress=progress, info=fingerprint(cfg, library, embedder)
        )
    except BaseException as e:
        if isinstance(e, PipelineError) or not engine_failure(e):
            raise
        raise engine_error(cfg, e, "uploading") from e
    finally:
        _close(backend)


def _damage(backend: QdrantBackend) -> str | None:
    """What is damaged in a collection a previous upload completed (None: nothing found, or none done)."""
    try:
        state = backend.engine.get_state() if backend.engine.exists() else None
        if not isinstance(state, dict) or not (state.get("upload") or {}).get("complete"):
            return None
        backend.check()
    except (DamagedCollection, AttributeError) as e:
        return str(e)
    return None


class QdrantChannels:
    """The lexical and dense channels of a library on its Qdrant collection (see the module's docstring)."""

    def __init__(
        self,
        cfg: Config,
        library: Library,
        backend: QdrantBackend | None = None,
        embedder: dict[str, Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self.library = library
        self.backend = backend or open_backend(cfg)
        try:
            tables = self._open(embedder)
        except BaseException as e:  # a Rust panic of Qdrant Edge is a BaseException
            if backend is None:
                _close(self.backend)
            if isinstance(e, PipelineError) or not engine_failure(e):
                raise
            raise engine_error(cfg, e, "opening the collection") from e
        self.term_id: dict[str, int] = tables["dim"]
        self.idf: np.ndarray = np.nan_to_num(tables["idf"], nan=0.0)
        self._sampler = Sample(len(library.paragraphs), SAMPLE)
        self._samples = self._sampler.drawn
        self._arrays: dict[Any, dict[str, Any]] = {}

    def _open(self, embedder: dict[str, Any] | None) -> dict[str, Any]:
        """Check the collection before answering from it (uploaded, from these inputs, undamaged:
        :meth:`QdrantBackend.check`) and return its lexical tables.

        Raises:
            MissingIndexError, StaleIndexError: nothing uploaded, or from other inputs.
            DamagedCollection: what :meth:`QdrantBackend.check` found (the engine's own errors propagate).
        """
        cfg = self.cfg
        try:
            state = self.backend.state
        except LookupError as e:
            if type(e) is not LookupError:  # a KeyError or IndexError is a bug or damage, not "nothing"
                raise
            raise MissingIndexError(
                f"nothing uploaded to the Qdrant collection {cfg.qdrant_collection!r} at {cfg.qdrant_url}; "
                "run `pipeline build --backend qdrant --qdrant-url …`"
            ) from None
        upload = state.get("upload")
        if not isinstance(state.get("info") or {}, dict) or not isinstance(upload, dict):
            raise DamagedCollection("its state lacks the upload's record")
        want, got = fingerprint(cfg, self.library, embedder), state.get("info") or {}
        differ = sorted(k for k in want if got.get(k) != want[k])
        if differ or not upload.get("complete"):
            what = ", ".join(differ) if differ else "an upload that did not finish"
            raise StaleIndexError(
                f"the Qdrant collection at {cfg.qdrant_url} was built from other inputs ({what}); "
                "run `pipeline build --backend qdrant --qdrant-url …`"
            )
        self.backend.check()
        return self.backend.lexical_tables()

    def close(self) -> None:
        _close(self.backend)

    # --- one question ---------------------------------------------------------------------------------

    def _searched(self, rows: np.ndarray | None) -> np.ndarray:
        return self._sampler.searched(rows)

    def _sample(self, rows: np.ndarray | None) -> np.ndarray:
        """Every searched row when they are at most ``SAMPLE``, else a fixed random sample of them."""
        return self._sampler.rows(rows, SAMPLE)

    def _filter(self, docs: Sequence[str] | None, lang: str | None) -> dict[str, Any] | None:
        f: dict[str, Any] = {}
        if docs:
            f["document"] = [self.library.resolve_symbol(d) or d for d in docs]
        if lang:
            f["lang"] = lang
        return f or None

    def search(
        self,
        plan: Any,
        qv: np.ndarray | None,
        k: int,
        weight: float,
        *,
        lexical: bool,
        rows: np.ndarray | None,
        docs: Sequence[str] | None,
        lang: str | None,
    ) -> tuple[list[Scored], bool]:
        """The fused top ``k`` of a question, and whether any paragraph searched contains a query term.

        Args:
            plan: the question's :class:`~pipeline.plan.QueryPlan`.
            qv: its query vector, or None (lexical mode).
            k: results.
            weight: the lexical channel's share.
            lexical: whether the lexical channel runs (hybrid and lexical modes).
            rows: the rows ``docs``/``lang`` select (None: all), to sample the statistics from.

        Raises:
            ComponentError, CorruptIndexError: the engine failed (the server went away or timed out; a
                damaged collection).
        """
        try:
            return self._search(plan, qv, k, weight, lexical=lexical, rows=rows, docs=docs, lang=lang)
        except BaseException as e:  # a Rust panic of Qdrant Edge is a BaseException
            if isinstance(e, PipelineError) or not from_engine(e):
                raise
            raise engine_error(self.cfg, e, "searching") from e

    def _search(
        self,
        plan: Any,
        qv: np.ndarray | None,
        k: int,
        weight: float,
        *,
        lexical: bool,
        rows: np.ndarray | None,
        docs: Sequence[str] | None,
        lang: str | None,
    ) -> tuple[list[Scored], bool]:
        """:meth:`search`, the engine's errors as they are."""
        b, w = self.backend, self.cfg.sentence_weight
        filt = self._filter(docs, lang)
        terms = plan.bm25_terms if lexical else []
        if len(self._searched(rows)) > EXACT_UP_TO:
            return self._search_candidates(terms, qv, k, weight, lexical, rows, filt)
        sample = self._searched(rows)
        # a library no larger than the sample: every searched paragraph is scored exactly, fused as in process
        cands = sample.tolist()
        lex = b.lexical_scores(terms, cands) if lexical else {}
        any_term = any(v > 0 for v in lex.values())
        if qv is None:  # lexical only: BM25 order; a paragraph without a query term is no answer
            ranked = sorted(((r, s) for r, s in lex.items() if s > 0), key=lambda x: (-x[1], x[0]))[:k]
            return [Scored(r, s, {"lexical": s}, None) for r, s in ranked], any_term
        dense = b.dense_scores(qv, cands, w)
        dn = np.array([dense[r].combined for r in cands], dtype=np.float64)
        lx = np.array([lex.get(r, 0.0) for r in cands], dtype=np.float64) if lexical else None
        fused = fuse(lx, dn, weight, self.cfg.fusion, self.cfg.rrf_k)
        order = top_k(fused, k)
        cosines = self._sentence_cosines(qv, [cands[i] for i in order])
        out = []
        for i in order:
            r = cands[i]
            d = dense[r]
            scores = {"lexical": float(lex.get(r, 0.0))} if lexical else {}
            scores |= {"dense": d.combined, "dense_paragraph": d.paragraph, "dense_sentence": d.sentence}
            out.append(Scored(r, float(fused[i]), scores, cosines.get(r)))
        return out, any_term

    def _search_candidates(
        self,
        terms: Any,
        qv: np.ndarray | None,
        k: int,
        weight: float,
        lexical: bool,
        rows: np.ndarray | None,
        filt: dict[str, Any] | None,
    ) -> tuple[list[Scored], bool]:
        """A library larger than the sample: each channel's candidates from the engine (its scores), the
        statistics from the sample scored client-side, fusion over the candidates; exact scores for the k."""
        b, w = self.backend, self.cfg.sentence_weight
        if qv is None:  # lexical only: BM25's own top k (exact)
            found = b.lexical(terms, k, filt)
            return [Scored(r, s, {"lexical": s}, None) for r, s in found], bool(found)
        q = qv
        ranked, any_term = fuse_top(
            k,
            weight,
            lexical_top=(lambda n: dict(b.lexical(terms, n, filt, detail=False))) if lexical else None,
            dense_top=lambda n: {d.row: d.combined for d in b.dense(q, n, w, filt, detail=False)},
            lexical_of=lambda rs: b.lexical_scores(terms, list(rs), detail=False),
            dense_of=lambda rs: {
                r: d.combined for r, d in b.dense_scores(q, list(rs), w, detail=False).items()
            },
            statistics=lambda: self._statistics(self._sample(rows), terms, q),
            k_lexical=K_LEXICAL,
            k_dense=K_DENSE,
        )
        top = [r for r, _ in ranked]
        # the k results' exact scores and sentence cosines: one retrieval of their stored vectors
        exact_lex, exact_dense, cosines = b.exact_scores(terms if lexical else None, qv, top, w)
        out = []
        for r, f in ranked:
            d = exact_dense[r]
            scores = {"lexical": float(exact_lex.get(r, 0.0))} if lexical else {}
            scores |= {"dense": d.combined, "dense_paragraph": d.paragraph, "dense_sentence": d.sentence}
            out.append(Scored(r, float(f), scores, cosines.get(r)))
        return out, any_term

    def _statistics(
        self, sample: np.ndarray, terms: Any, qv: np.ndarray
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        """Each channel's mean and standard deviation over the sample, scored client-side from its stored
        vectors (fetched from the engine once per sample and kept)."""
        key = sample.tobytes()
        if key not in self._arrays:
            self._arrays[key] = self.backend.stored_arrays(sample.tolist())
        a = self._arrays[key]
        qvec = np.zeros(a["lexical"].shape[1])
        for d, wt in self.backend.query_weights(terms):
            qvec[d] += wt * float(self.idf[d])
        lx = a["lexical"] @ qvec
        q = np.asarray(qv, dtype=np.float32).reshape(-1)
        dn = dense_combined(a["para"], a["sent"], a["first"], q, self.cfg.sentence_weight)
        return (float(lx.mean()), float(lx.std())), (float(dn.mean()), float(dn.std()))

    def _sentence_cosines(self, qv: np.ndarray, rows: list[int]) -> dict[int, np.ndarray]:
        """The cosine of every sentence of each row (for the answer sentence), from the stored vectors."""
        if not rows:
            return {}
        from pipeline.backends.qdrant import SENT

        q = np.asarray(qv, dtype=np.float32).reshape(-1)
        hits = self.backend.engine.dense(
            q, self.cfg.sentence_weight, len(rows), len(rows), None, None, ids=rows, vectors=True
        )
        out = {}
        for h in hits:
            if int(h.payload.get("_ns", 0)):
                out[h.row] = np.asarray(h.vectors[SENT], dtype=np.float32) @ q
        return out
