"""The lexical and dense channels on Qdrant: a server, qdrant-client's local mode, or Qdrant Edge
in-process.

:class:`QdrantBackend` holds the same paragraphs as :class:`~pipeline.lexical.BM25Index` and
:class:`~pipeline.dense.DenseIndex` and answers the same two questions with the same scores; fusion stays
the project's (:func:`pipeline.fusion.fuse`, or :func:`pipeline.fusion.fuse_candidates` when only candidates
are known).

Where the collection lives (``location`` of :func:`open_backend` / :class:`QdrantBackend`):

* ``http://host:6333`` or ``https://…`` -- a Qdrant server, through qdrant-client;
* ``":memory:"`` or a directory path -- qdrant-client's local mode (pure Python: fine for tests and a few
  thousand paragraphs, far too slow for a million);
* ``edge:/some/dir`` -- Qdrant Edge (``qdrant-edge-py``), the Rust engine in-process, no server.

One point per paragraph, its id the paragraph's row (0..n-1, deterministic), with:

* sparse vector ``bm25``: dimension = the term's slot in a vocabulary table kept with the collection (see
  below), value = the BM25 term-frequency part ``tf*(k1+1)/(tf + k1*(1-b+b*dl/avgdl))`` as float32. The
  query vector is ``weight * idf`` with the IDF of the project's own index (stored with the table), never
  the engine's, so how the collection is sharded cannot change a score. The engine's dot product ranks;
  the reported scores are recomputed exactly (float64, the very expression of ``BM25Index``) from the
  candidates' stored values, which give back the integer term frequency (checked), and their length.
* dense ``para``: the paragraph embedding (dot product on the L2-normalised vectors, HNSW index);
* multivector ``sent``: the paragraph's sentence embeddings, compared by MAX_SIM (no HNSW graph of its own:
  it rescores the ``para`` candidates). A paragraph without sentences stores its paragraph vector there,
  so its best "sentence" cosine is its paragraph cosine, as in ``DenseIndex.scores``. The engine ranks by
  the formula ``(1-w) * $score[para] + w * $score[sent]``; the returned candidates' scores (and their best
  sentence) are recomputed from their stored vectors exactly as ``DenseIndex.scores`` does.
* optional **sentence partitions** (``partitions=C`` at upload): C centroids from spherical k-means over a
  sample of the sentence vectors; each point's payload ``_part`` lists the partitions of its paragraph vector
  and of each of its sentences (an integer payload index). The dense channel then takes its candidates from
  the paragraphs with a sentence in the query's ``probe`` nearest partitions — the engine scans just those
  points exactly (MAX_SIM), so a paragraph is found by its best sentence, not only by its paragraph vector —
  and the paragraph vectors need no HNSW graph (a far shorter build). With every partition probed it is the
  exact dense channel. Measured at a million paragraphs in ``docs/scale.md``.
* payload: the caller's (``document``, ``lang``, ``paragraph``, …) plus ``_row``, ``_dl`` (tokens),
  ``_s0``/``_ns`` (first sentence row and sentence count) and ``_h`` (a hash of the point's content).
  ``document`` and ``lang`` have keyword payload indexes; filters run in the engine.

Term dimensions come from a vocabulary table, not a hash: a term keeps its slot for the life of the
collection (new terms are appended), there can be no collision, and the table is needed anyway to carry
the project's IDF. (A 32-bit hash would need no table, but at 100k terms the chance of at least one
collision is about 69 %, so it would need a collision table all the same.)

State (the vocabulary table, IDF, BM25 parameters, upload checkpoint) is one JSON document: a one-point
side collection ``<collection>__state`` on a server or in local mode, ``state.json`` beside the shard for
Edge. Uploads are idempotent (point ids are rows; a point whose content hash is already there is not
written again; points beyond ``n`` are deleted) and resumable (a checkpoint after each durable batch; a
re-run trusts the checkpointed prefix after spot checks and compares hashes for the rest). The
centroids of sentence partitions are kept in the state too.

The package, by job:

* :mod:`~pipeline.backends.qdrant.backend` -- :class:`QdrantBackend` (state, both channels' searches) and
  :func:`open_backend`;
* :mod:`~pipeline.backends.qdrant.upload` -- the idempotent, resumable upload and its checkpoints;
* :mod:`~pipeline.backends.qdrant.scoring` -- the candidates' exact scores (BM25 from the stored values, the
  dense scores from the stored vectors) and :class:`DenseRow`;
* :mod:`~pipeline.backends.qdrant.partitions` -- the sentence partitions' k-means centroids and probing;
* :mod:`~pipeline.backends.qdrant.engines` -- what an engine offers, the points and hits, the field names;
  :mod:`~pipeline.backends.qdrant.client` (:class:`ClientEngine`) and :mod:`~pipeline.backends.qdrant.edge`
  (:class:`EdgeEngine`) implement it.
"""

from __future__ import annotations

from pipeline.backends.qdrant.backend import QdrantBackend, open_backend
from pipeline.backends.qdrant.client import ClientEngine
from pipeline.backends.qdrant.edge import EdgeEngine
from pipeline.backends.qdrant.engines import FILTER_FIELDS, PARA, PART, RESERVED, SENT, SPARSE, STATE_FORMAT
from pipeline.backends.qdrant.scoring import DenseRow

__all__ = [
    "FILTER_FIELDS",
    "PARA",
    "PART",
    "RESERVED",
    "SENT",
    "SPARSE",
    "STATE_FORMAT",
    "ClientEngine",
    "DenseRow",
    "EdgeEngine",
    "QdrantBackend",
    "open_backend",
]
