#!/usr/bin/env -S sh -c 'exec "$(dirname "$0")/../.venv/bin/python" "$0" "$@"'
"""Scale benchmark: hybrid retrieval over N synthetic paragraphs, in-process exact vs Qdrant.

What is measured, in one run (each engine in its own process, so each peak RSS is its own):

* ``exact`` -- the project's way in-process: :class:`pipeline.lexical.BM25Index` scores every paragraph,
  the dense channel is ``DenseIndex.scores``'s arithmetic (float32 matmul over memory-mapped paragraph and
  sentence matrices, segmented max, combined in float64; checked against ``DenseIndex.scores`` on a
  subset), fused by :func:`pipeline.fusion.fuse` ("zscore") over all paragraphs. Its top 10 is the truth.
* ``edge`` -- :class:`pipeline.backends.qdrant.QdrantBackend` on Qdrant Edge (in-process Rust engine):
  lexical top-K (sparse dot, exact scores recomputed), dense top-K (HNSW on paragraph vectors, sentence
  MAX_SIM rescoring, exact scores recomputed), the other channel's exact scores for each channel's
  candidates, then :func:`~pipeline.fusion.fuse_candidates`: fuse's z-score with each channel's
  mean and standard deviation estimated on a fixed random sample of paragraphs (scored client-side).
* ``edgep`` -- the same backend on Qdrant Edge with sentence partitions (``partitions=C``, default one per
  1,000 sentences): the dense candidates are the best by MAX_SIM among the paragraphs with a vector in the
  query's ``probe`` nearest partitions (an exact scan of those points in the engine; no HNSW graph).
* ``ann`` -- the shipped in-process path on its ANN index: :func:`pipeline.ann.ensure_ann` (what ``pipeline
  build`` and ``pipeline add`` run) builds a FAISS IVF over the synthetic sentence vectors (then adds the last
  65 paragraphs' vectors, as ``add`` does), and :class:`pipeline.backends.local.LocalChannels` (what the
  Retriever uses) answers each question: candidates from both channels scored exactly, fused with the dense
  statistics from a fixed sample.
* ``local`` -- the same backend on qdrant-client's local mode (pure Python), at ``--local-n`` only.

Synthetic data (fixed seed): each paragraph is 2-6 (mean 4) sentences drawn from one window of 8 consecutive
report sentences (so a paragraph keeps to one topic, as real ones do); a sentence is a random contiguous
50-100 % span of a real report sentence's tokens (the project's Analyzer tokenizes each real sentence once),
its vector a mix of that sentence's real embedding with another one's from the window (weight 0.6-1) plus
Gaussian noise, L2-normalised; a paragraph's vector is the normalised mean of its sentences' plus noise
(noise levels chosen so that sentence-sentence and paragraph-sentence cosines resemble the real index's).
Real embeddings come from the dense index in ``indexes/`` (built by ``pipeline build``). Queries are the
development set's questions, planned by the project's Planner against the synthetic vocabulary and encoded
by the project's QueryEncoder (real query vectors).

Outputs a markdown table on stdout and JSON (``--json``, default docs/scale.json is NOT written unless
asked). ``--chart PATH`` draws latency and recall.

Usage::

    nice -n 10 scripts/bench_scale.py --n 100000 --local-n 5000 --json /tmp/scale.json
    nice -n 10 scripts/bench_scale.py                      # 1,000,000 paragraphs (about 25 minutes)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DIM = 384
GEN_VERSION = 5
WINDOW = 8  # a paragraph's sentences come from a window of this many consecutive report sentences
SENT_MIX = (0.6, 1.0)  # weight of the base sentence's real vector
SENT_NOISE = 0.25  # norm of the Gaussian noise added to a sentence vector
PARA_NOISE = 0.12  # ... and to the mean of a paragraph's sentences
DOC_SIZE = 100  # paragraphs per synthetic document (the "document" payload)


# ------------------------------------------------------------------------------------------ small helpers


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


class MemorySampler:
    """Peak anonymous and file-backed resident memory of this process (sampled from /proc twice a second):
    memory-mapped vectors count in RSS as file pages, which the kernel can drop, unlike anonymous memory."""

    def __init__(self) -> None:
        import threading

        self.peak = {"RssAnon": 0, "RssFile": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    key = line.split(":", 1)[0]
                    if key in self.peak:
                        self.peak[key] = max(self.peak[key], int(line.split()[1]) * 1024)
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._read()

    def result(self) -> dict[str, float]:
        self._read()
        self._stop.set()
        return {
            "peak_anon_gb": round(self.peak["RssAnon"] / 1024**3, 2),
            "peak_file_gb": round(self.peak["RssFile"] / 1024**3, 2),
        }


def disk_gb(path: Path) -> float:
    total = 0
    for p in Path(path).rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_blocks * 512
        except OSError:
            pass
    return total / 1024**3


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q)) if xs else float("nan")


def log(msg: str) -> None:
    print(f"[bench_scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def norm_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------------ synthetic data


def _find_dense_dir(cfg: Any) -> Path | None:
    """A dense index of the report under indexes/ (``dense/`` or, per document, ``docs/<key>/dense/``)."""
    base = cfg.index_dir
    if (base / "dense" / "sentences.npy").is_file():
        return base / "dense"
    found = sorted(base.rglob("dense/sentences.npy")) if base.is_dir() else []
    return found[0].parent if found else None


def real_material(cfg: Any, analyzer: Any) -> dict[str, Any]:
    """The report's sentences (token lists) and real embeddings of them."""
    from pipeline.library import load_corpus
    from pipeline.text import normalize

    corpus = load_corpus(cfg)
    texts = [normalize(s.text) for p in corpus.paragraphs for s in p.sentences]
    keys = [(p.number, i) for p in corpus.paragraphs for i, _ in enumerate(p.sentences)]
    toks = [analyzer.tokenize(t) for t in texts]
    d = _find_dense_dir(cfg)
    if d is None:
        raise SystemExit("no dense index in indexes/dense: run `pipeline build` first (the real embeddings)")
    S = np.load(d / "sentences.npy").astype(np.float32)
    smap = json.loads((d / "sentence_map.json").read_text(encoding="utf-8"))["sentences"]
    # the map names a sentence's paragraph by number (older layout) or by row (per-document indexes)
    rows_of = {p.number: i for i, p in enumerate(corpus.paragraphs)}
    by_number = {(int(r["paragraph"]), int(r["index"])): i for i, r in enumerate(smap)}
    by_row = {(int(r["paragraph"]), int(r["index"])): i for i, r in enumerate(smap)}
    aligned = len(smap) == len(keys)
    if aligned and all(k in by_number for k in keys):
        S = S[[by_number[k] for k in keys]]
    elif aligned and all((rows_of[num], j) in by_row for num, j in keys):
        S = S[[by_row[(rows_of[num], j)] for num, j in keys]]
    else:  # another layout: pair tokens with vectors at random (still real vectors, real tokens)
        aligned = False
        S = S[np.random.default_rng(7).integers(0, len(S), len(keys))]
    keep = [i for i, t in enumerate(toks) if t]
    return {
        "tokens": [toks[i] for i in keep],
        "vectors": S[keep],
        "aligned": aligned,
        "dense_dir": str(d),
        "texts": [texts[i] for i in keep],
    }


def synthesize(n: int, seed: int, data: Path, n_queries: int) -> dict[str, Any]:
    """Write the synthetic collection of ``n`` paragraphs to ``data`` (skipped when already there)."""
    meta_file = data / "meta.json"
    if meta_file.is_file():
        meta = json.loads(meta_file.read_text())
        if meta.get("version") == GEN_VERSION:
            return meta
    from scipy import sparse

    from pipeline.analyze import Analyzer
    from pipeline.config import Config
    from pipeline.lexical import idf_values

    t0 = time.perf_counter()
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    cfg = Config()
    analyzer = Analyzer(cfg)
    real = real_material(cfg, analyzer)
    vocab: dict[str, int] = {}
    ids = [np.array([vocab.setdefault(t, len(vocab)) for t in ts], dtype=np.int32) for ts in real["tokens"]]
    lens = np.array([len(a) for a in ids], dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]])
    flat = np.concatenate(ids)
    R = len(ids)
    Sreal = real["vectors"]
    rng = np.random.default_rng(seed)
    ns = 2 + rng.binomial(4, 0.5, n)  # sentences per paragraph: 2..6, mean 4
    topic = np.repeat(rng.integers(0, R, n), ns)  # each paragraph draws from one window of report sentences
    first = np.concatenate([[0], np.cumsum(ns)]).astype(np.int64)
    m = int(first[-1])
    P = np.lib.format.open_memmap(data / "P.npy", mode="w+", dtype=np.float32, shape=(n, DIM))
    S = np.lib.format.open_memmap(data / "S.npy", mode="w+", dtype=np.float32, shape=(m, DIM))
    chunks = []
    doc_len = np.zeros(n, dtype=np.int64)
    step = 50_000
    for a in range(0, n, step):
        b = min(n, a + step)
        sa, sb = int(first[a]), int(first[b])
        k = sb - sa
        base = (topic[sa:sb] + rng.integers(0, WINDOW, k)) % R
        span = np.maximum(1, np.ceil(lens[base] * rng.uniform(0.5, 1.0, k))).astype(np.int64)
        start = offs[base] + np.floor(rng.random(k) * (lens[base] - span + 1)).astype(np.int64)
        tot = int(span.sum())
        within = np.arange(tot, dtype=np.int64) - np.repeat(np.cumsum(span) - span, span)
        tok = flat[np.repeat(start, span) + within]
        para_of_sent = np.repeat(np.arange(a, b, dtype=np.int64), ns[a:b])
        doc = np.repeat(para_of_sent - a, span)
        c = sparse.csr_matrix(
            (np.ones(tot, dtype=np.int32), (doc.astype(np.int32), tok)), shape=(b - a, len(vocab))
        )
        c.sum_duplicates()
        c.sort_indices()
        chunks.append(c)
        doc_len[a:b] = np.bincount(doc, minlength=b - a)
        # vectors
        mix = (topic[sa:sb] + rng.integers(0, WINDOW, k)) % R
        wgt = rng.uniform(*SENT_MIX, k).astype(np.float32)[:, None]
        noise = rng.standard_normal((k, DIM), dtype=np.float32) * np.float32(SENT_NOISE / math.sqrt(DIM))
        sv = norm_rows(wgt * Sreal[base] + (1 - wgt) * Sreal[mix] + noise).astype(np.float32)
        S[sa:sb] = sv
        sums = np.add.reduceat(sv, (first[a:b] - sa).astype(np.int64), axis=0)
        mean = norm_rows(sums)
        noise = rng.standard_normal((b - a, DIM), dtype=np.float32) * np.float32(PARA_NOISE / math.sqrt(DIM))
        P[a:b] = norm_rows(mean + noise).astype(np.float32)
    P.flush()
    S.flush()
    del P, S
    docs = sparse.vstack(chunks, format="csr")
    docs.sort_indices()
    np.save(data / "tf_indptr.npy", docs.indptr.astype(np.int64))
    np.save(data / "tf_indices.npy", docs.indices.astype(np.int32))
    np.save(data / "tf_data.npy", docs.data.astype(np.int32))
    np.save(data / "doc_len.npy", doc_len)
    np.save(data / "first.npy", first)
    gen_s = time.perf_counter() - t0
    terms = list(vocab)
    df = np.bincount(docs.indices, minlength=len(terms))
    idf = idf_values(np.maximum(df, 1), n, cfg.bm25_idf)
    queries = make_queries(cfg, analyzer, {t: i for i, t in enumerate(terms)}, idf, n_queries, real)
    np.save(data / "Q.npy", queries.pop("vectors"))
    meta = {
        "version": GEN_VERSION,
        "n": n,
        "n_sentences": m,
        "seed": seed,
        "vocab": terms,
        "nnz": int(docs.nnz),
        "gen_seconds": round(gen_s, 1),
        "real_sentences": R,
        "real_aligned": real["aligned"],
        "dense_source": real["dense_dir"],
        **queries,
    }
    meta_file.write_text(json.dumps(meta, ensure_ascii=False))
    log(f"synthesized {n} paragraphs, {m} sentences, {docs.nnz} postings in {gen_s:.0f}s")
    return meta


def make_queries(
    cfg: Any, analyzer: Any, term_id: dict[str, int], idf: np.ndarray, n_queries: int, real: dict[str, Any]
) -> dict[str, Any]:
    """The dev set's questions planned against the synthetic vocabulary, and their real query vectors."""
    from pipeline.fusion import lexical_weight
    from pipeline.plan import Planner, QueryPlan
    from pipeline.text import query_language

    rows = [
        json.loads(line)
        for line in (ROOT / "corpus" / "eval" / "dev.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    rows = [r for r in rows if r.get("kind", "question") in ("question", "paraphrase")][
        :n_queries
    ]  # not lookups
    planner = Planner(cfg, analyzer, term_id, idf)
    plans = []
    for r in rows:
        text = r["query"]
        try:
            plan = planner.plan(QueryPlan(text=text, lang=query_language(text), route=None))  # type: ignore[arg-type]
            plans.append((text, plan.lang, plan.bm25_terms, plan.coverage, plan.dense_text))
        except Exception as e:  # noqa: BLE001 - a changed Planner: the analyzer's terms alone
            log(f"planner unavailable ({e!r}); using the analyzer's query terms")
            lang = query_language(text)
            plans.append((text, lang, analyzer.analyze_query(text), 1.0, text))
    source = "QueryEncoder (real query embeddings of the plans' dense text)"
    try:
        from pipeline.embed import QueryEncoder

        vecs = np.asarray(QueryEncoder(cfg).encode([p[4] for p in plans]), dtype=np.float32)
    except Exception as e:  # noqa: BLE001 - no model here: perturbed real sentence vectors
        log(f"query encoder unavailable ({e!r}); queries are perturbed real sentence vectors")
        rng = np.random.default_rng(11)
        base = real["vectors"][rng.integers(0, len(real["vectors"]), len(plans))]
        vecs = norm_rows(
            base + rng.standard_normal(base.shape).astype(np.float32) * 0.3 / math.sqrt(DIM)
        ).astype(np.float32)
        source = "perturbed real sentence vectors (no query encoder)"
    weights = [
        lexical_weight(lang, cfg.lexical_weight_zh, cfg.lexical_weight_en, cov)
        for _, lang, _, cov, _ in plans
    ]
    return {
        "queries": [
            {"text": t, "lang": lang, "terms": [[a, float(b)] for a, b in terms], "weight": w}
            for (t, lang, terms, _, _), w in zip(plans, weights, strict=True)
        ],
        "query_source": source,
        "sentence_weight": cfg.sentence_weight,
        "fusion": cfg.fusion,
        "vectors": vecs,
    }


class SynthDense:
    """The synthetic dense data with the interface the backend's upload reads (like DenseIndex)."""

    def __init__(self, data: Path, mmap: bool = True) -> None:
        mode = "r" if mmap else None
        self.paragraphs = np.load(data / "P.npy", mmap_mode=mode)
        self.sentences = np.load(data / "S.npy", mmap_mode=mode)
        self.first = np.load(data / "first.npy")
        self.numbers = range(len(self.paragraphs))
        self.sentence_map: list[Any] = []

    @property
    def dims(self) -> int:
        return int(self.paragraphs.shape[1])

    def sentence_rows(self, row: int) -> slice:
        return slice(int(self.first[row]), int(self.first[row + 1]))


def load_bm25(data: Path, meta: dict[str, Any]) -> Any:
    """The project's BM25Index over the synthetic term frequencies (term-major, as BM25Index.build makes
    it)."""
    from scipy import sparse

    from pipeline.config import Config
    from pipeline.lexical import BM25Index

    cfg = Config()
    n = meta["n"]
    docs = sparse.csr_matrix(
        (np.load(data / "tf_data.npy"), np.load(data / "tf_indices.npy"), np.load(data / "tf_indptr.npy")),
        shape=(n, len(meta["vocab"])),
    )
    tf = docs.T.tocsr()
    del docs
    tf.sort_indices()
    return BM25Index(
        meta["vocab"],
        tf,
        np.load(data / "doc_len.npy"),
        np.arange(n),
        k1=cfg.bm25_k1,
        b=cfg.bm25_b,
        idf=cfg.bm25_idf,
    )


def dense_scores_batch(
    P: np.ndarray, S: np.ndarray, first: np.ndarray, Q: np.ndarray, w: float, a: int, b: int
) -> np.ndarray:
    """Combined dense scores of paragraphs a..b for every query: DenseIndex.scores' arithmetic."""
    sa, sb = int(first[a]), int(first[b])
    para = (np.asarray(P[a:b], dtype=np.float32) @ Q.T).T.astype(np.float64)  # (nq, b-a)
    sent = (np.asarray(S[sa:sb], dtype=np.float32) @ Q.T).T  # (nq, sb-sa) float32
    best = np.maximum.reduceat(sent, (first[a:b] - sa).astype(np.int64), axis=1).astype(np.float64)
    return (1.0 - w) * para + w * best


def dense_scores_one(P: np.ndarray, S: np.ndarray, first: np.ndarray, q: np.ndarray, w: float) -> np.ndarray:
    para = (P @ q).astype(np.float64)
    sent = S @ q
    best = np.maximum.reduceat(sent, first[:-1].astype(np.int64)).astype(np.float64)
    return (1.0 - w) * para + w * best


# ------------------------------------------------------------------------------------------ phases


def phase_exact(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    from pipeline.fusion import fuse
    from pipeline.ranking import top_k

    meta = json.loads((data / "meta.json").read_text())
    n = meta["n"]
    t0 = time.perf_counter()
    bm25 = load_bm25(data, meta)
    build_s = time.perf_counter() - t0
    P = np.load(data / "P.npy", mmap_mode="r")
    S = np.load(data / "S.npy", mmap_mode="r")
    first = np.load(data / "first.npy")
    Q = np.load(data / "Q.npy")
    queries = meta["queries"]
    w = meta["sentence_weight"]
    check_dense_index(P, S, first, Q[0], w)
    nq = len(queries)
    truth = {
        "hybrid": np.full((nq, 10), -1, np.int64),
        "dense": np.full((nq, 10), -1, np.int64),
        "lexical": np.full((nq, 10), -1, np.int64),
        "hybrid_kth": np.zeros(nq),
        "hybrid_11th": np.zeros(nq),
    }
    t1 = time.perf_counter()
    qb = 50
    for qa in range(0, nq, qb):
        qe_ = min(nq, qa + qb)
        comb = np.empty((qe_ - qa, n), dtype=np.float64)
        step = 100_000
        for a in range(0, n, step):
            b = min(n, a + step)
            comb[:, a:b] = dense_scores_batch(P, S, first, Q[qa:qe_], w, a, b)
        for i in range(qa, qe_):
            terms = [tuple(t) for t in queries[i]["terms"]]
            lx = bm25.scores(terms)
            fused = fuse(lx, comb[i - qa], queries[i]["weight"], meta["fusion"])
            order = top_k(fused, 11)
            truth["hybrid"][i, : min(10, len(order))] = order[:10]
            truth["hybrid_kth"][i] = fused[order[9]]
            truth["hybrid_11th"][i] = fused[order[10]]
            truth["dense"][i] = top_k(comb[i - qa], 10)
            lex = [r for r, _ in bm25.search(terms, 10)]
            truth["lexical"][i, : len(lex)] = lex
        del comb
    truth_s = time.perf_counter() - t1
    np.savez(data / "truth.npz", **truth)
    # per-query latency of the exact hybrid (lexical + dense + fusion + top 10), on the first queries
    lat, lat_lex, lat_dense = [], [], []
    for i in range(min(args.exact_queries, nq)):
        terms = [tuple(t) for t in queries[i]["terms"]]
        ta = time.perf_counter()
        lx = bm25.scores(terms)
        tb = time.perf_counter()
        dn = dense_scores_one(P, S, first, Q[i], w)
        tc = time.perf_counter()
        top_k(fuse(lx, dn, queries[i]["weight"], meta["fusion"]), 10)
        td = time.perf_counter()
        if i:  # the first one pages the vectors in
            lat.append(td - ta)
            lat_lex.append(tb - ta)
            lat_dense.append(tc - tb)
    near_ties = int(np.sum(truth["hybrid_kth"] - truth["hybrid_11th"] < 1e-6))
    return {
        "engine": "exact",
        "n": n,
        "build_s": round(build_s, 1),
        "peak_rss_gb": round(peak_rss_gb(), 2),
        "disk_gb": round(
            sum(
                (data / f).stat().st_size
                for f in ("P.npy", "S.npy", "tf_data.npy", "tf_indices.npy", "tf_indptr.npy", "doc_len.npy")
            )
            / 1024**3,
            2,
        ),
        "p50_ms": round(pct(lat, 50) * 1e3, 1),
        "p95_ms": round(pct(lat, 95) * 1e3, 1),
        "lexical_p50_ms": round(pct(lat_lex, 50) * 1e3, 1),
        "dense_p50_ms": round(pct(lat_dense, 50) * 1e3, 1),
        "latency_queries": len(lat),
        "recall@10": 1.0,
        "truth_s": round(truth_s, 1),
        "near_ties_at_10": near_ties,
    }


def check_dense_index(P: np.ndarray, S: np.ndarray, first: np.ndarray, q: np.ndarray, w: float) -> None:
    """The exact path's arithmetic equals DenseIndex.scores on the first paragraphs (to float32 rounding)."""
    from pipeline.dense import DenseIndex

    k = min(2000, len(P))
    sb = int(first[k])
    smap = [
        {"paragraph": int(p), "index": int(j), "start": -1, "end": -1}
        for p in range(k)
        for j in range(int(first[p + 1] - first[p]))
    ]
    di = DenseIndex(np.asarray(P[:k]), np.asarray(S[:sb]), list(range(k)), smap, {})
    ref = di.scores(q, w)["combined"]
    got = dense_scores_one(np.asarray(P[:k]), np.asarray(S[:sb]), first[: k + 1], q, w)
    if not np.allclose(ref, got, atol=1e-6):
        raise SystemExit(f"exact dense path disagrees with DenseIndex.scores by {np.abs(ref - got).max()}")


def _dir(kind: str, work: Path, n: int) -> Path:
    return work / f"{kind}-{n}"


def _location(kind: str, work: Path, n: int) -> str:
    return f"edge:{_dir(kind, work, n)}" if kind in ("edge", "edgep") else str(_dir(kind, work, n))


def _clear(kind: str, work: Path, n: int) -> None:
    shutil.rmtree(_dir(kind, work, n), ignore_errors=True)


def _partitions(args: argparse.Namespace, n_sentences: int) -> int:
    """Partitions of the partitioned Edge collection: --partitions, else one per 1,000 sentences."""
    return args.partitions or max(16, n_sentences // 1000)


def _payloads(n: int) -> list[dict[str, Any]]:
    return [
        {
            "document": f"SYN/{r // DOC_SIZE:05d}",
            "lang": "en" if (r // DOC_SIZE) % 4 == 3 else "zh",
            "paragraph": r % DOC_SIZE + 1,
        }
        for r in range(n)
    ]


def phase_build(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    from pipeline.backends.qdrant import QdrantBackend

    meta = json.loads((data / "meta.json").read_text())
    n = meta["n"]
    work = Path(args.work)
    if not args.keep:
        _clear(args.kind, work, n)
    t0 = time.perf_counter()
    bm25 = load_bm25(data, meta)
    bm25_s = time.perf_counter() - t0
    dense = SynthDense(data)
    payloads = _payloads(n)
    parts = _partitions(args, meta["n_sentences"]) if args.kind == "edgep" else 0
    quant = args.quantization if args.kind == "edgep" else "none"
    backend = QdrantBackend(
        _location(args.kind, work, n),
        hnsw_m=args.m,
        ef_construct=args.ef_construct,
        partitions=parts,
        quantization=quant,
    )
    t1 = time.perf_counter()
    counts = backend.upload(payloads, bm25, dense, batch_size=args.batch, progress=not args.quiet)
    up_s = time.perf_counter() - t1
    backend.close()
    return {
        "engine": args.kind,
        "n": n,
        "bm25_build_s": round(bm25_s, 1),
        "build_s": round(up_s, 1),
        "partitions": parts,
        **({"quantization": quant} if quant != "none" else {}),
        "counts": counts,
        "build_peak_rss_gb": round(peak_rss_gb(), 2),
        "disk_gb": round(disk_gb(_dir(args.kind, work, n)), 2),
    }


class SampleStats:
    """Each channel's mean and standard deviation over all paragraphs, estimated per query on a fixed random
    sample of paragraphs scored client-side (exact scores, the same expressions as the channels)."""

    def __init__(
        self,
        data: Path,
        meta: dict[str, Any],
        state: dict[str, Any],
        size: int,
        seed: int = 5,
        dense_size: int = 0,
    ) -> None:
        from scipy import sparse

        n = meta["n"]
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(n, size=min(size, n), replace=False))
        indptr = np.load(data / "tf_indptr.npy", mmap_mode="r")
        indices = np.load(data / "tf_indices.npy", mmap_mode="r")
        tfd = np.load(data / "tf_data.npy", mmap_mode="r")
        doc_len = np.load(data / "doc_len.npy")
        lex = state["lexical"]
        k1, b, avgdl = lex["k1"], lex["b"], lex["avgdl"]
        slot = {t: i for i, t in enumerate(state["vocab"])}
        tid_to_slot = np.array([slot[t] for t in meta["vocab"]], dtype=np.int64)
        r_ind, r_val, r_ptr = [], [], [0]
        for r in rows:
            s, e = int(indptr[r]), int(indptr[r + 1])
            tf = np.asarray(tfd[s:e], dtype=np.float64)
            norm = k1 * (1.0 - b + b * float(doc_len[r]) / avgdl)
            r_ind.append(tid_to_slot[np.asarray(indices[s:e])])
            r_val.append(tf * (k1 + 1.0) / (tf + norm))
            r_ptr.append(r_ptr[-1] + (e - s))
        self.lex = sparse.csr_matrix(
            (np.concatenate(r_val), np.concatenate(r_ind), np.array(r_ptr)),
            shape=(len(rows), len(state["vocab"])),
        )
        self.idf = np.asarray([0.0 if v is None else v for v in state["idf"]])
        self.slot = slot
        P = np.load(data / "P.npy", mmap_mode="r")
        S = np.load(data / "S.npy", mmap_mode="r")
        first = np.load(data / "first.npy")
        if dense_size and dense_size < len(rows):  # the dense statistics from every j-th of the sample
            rows = rows[:: -(-len(rows) // dense_size)]
        self.P = np.ascontiguousarray(P[rows])
        sl = [np.asarray(S[first[r] : first[r + 1]]) for r in rows]
        self.S = np.ascontiguousarray(np.concatenate(sl))
        self.first = np.concatenate([[0], np.cumsum([len(x) for x in sl])]).astype(np.int64)

    def stats(
        self, terms: list[tuple[str, float]], q: np.ndarray, w: float
    ) -> tuple[tuple[float, float], tuple[float, float]]:
        qv = np.zeros(self.lex.shape[1])
        for t, wt in terms:
            d = self.slot.get(t)
            if d is not None and wt:
                qv[d] += wt
        lx = self.lex @ (qv * self.idf)
        dn = dense_scores_one(self.P, self.S, self.first, q, w)
        return (float(lx.mean()), float(lx.std())), (float(dn.mean()), float(dn.std()))


def summarize(per_run: list[dict[str, float]]) -> dict[str, Any]:
    """One configuration's numbers over its query passes: medians (p50 also its range across passes)."""

    def med(key: str, scale: float = 1e3, digits: int = 1) -> float:
        return round(statistics.median(r[key] for r in per_run) * scale, digits)

    p50s = [r["p50"] for r in per_run]
    return {
        "p50_ms": med("p50"),
        "p50_spread_ms": [round(min(p50s) * 1e3, 1), round(max(p50s) * 1e3, 1)],
        "p95_ms": med("p95"),
        "lexical_p50_ms": med("lex_p50"),
        "dense_p50_ms": med("dense_p50"),
        "recall@10": med("recall", 1, 4),
        "dense_recall@10": med("recall_dense", 1, 4),
    }


def phase_query(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    from pipeline.backends.candidates import fuse_top
    from pipeline.backends.qdrant import QdrantBackend

    threadpool_limits(1)  # per-query numpy work is small: one BLAS thread, as the project's server runs it
    meta = json.loads((data / "meta.json").read_text())
    n = meta["n"]
    work = Path(args.work)
    truth = np.load(data / "truth.npz")
    Q = np.load(data / "Q.npy")
    queries = meta["queries"]
    w = meta["sentence_weight"]
    t0 = time.perf_counter()
    backend = QdrantBackend(_location(args.kind, work, n), hnsw_ef=args.ef)
    state = backend.state
    stats = SampleStats(data, meta, state, args.sample, dense_size=args.dense_sample)
    open_s = time.perf_counter() - t0
    spec = args.edgep_configs if args.kind == "edgep" else args.configs
    # edgep: K_lexical:K_dense:candidates:probe[:oversampling] (oversampling 0: the float32 scan)
    configs = [
        tuple(int(x) for x in c.split(":")[:4]) + (float(c.split(":")[4]) if c.count(":") >= 4 else None, 0)
        for c in spec.split(",")
    ]
    nq = len(queries) if args.kind in ("edge", "edgep") else min(len(queries), args.local_queries)
    results = []
    for ci, (k_lex, k_dense, cand, probe, over, *_) in enumerate(configs):
        backend.dense_candidates = cand
        if probe:
            backend.probe = probe
        if over is not None:
            backend.engine.oversampling = over  # type: ignore[attr-defined]
        quantized = bool((state["schema"].get("hnsw") or {}).get("quantization"))
        scan = "" if not quantized else f", int8 ×{over:g}" if over else ", float32 scan"
        runs = args.runs if ci == 0 else 1
        per_run = []
        for run in range(runs):
            lat, lat_lex, lat_dense, rec, rec_lex, rec_dense = [], [], [], [], [], []
            for i in range(nq):
                terms = [tuple(t) for t in queries[i]["terms"]]
                q = Q[i]
                got: dict[str, Any] = {}

                def lexical_top(n: int) -> dict[int, float]:
                    t = time.perf_counter()
                    got["lex"] = backend.lexical(terms, n, detail=False)
                    got["t_lex"] = time.perf_counter() - t
                    return dict(got["lex"])

                def dense_top(n: int) -> dict[int, float]:
                    t = time.perf_counter()
                    got["dn"] = backend.dense(q, n, w, detail=False)
                    got["t_dense"] = time.perf_counter() - t
                    return {d.row: d.combined for d in got["dn"]}

                ta = time.perf_counter()
                # the shipped sequence (QdrantChannels._search_candidates): candidates, the sample's
                # statistics, the other channel's scores of the candidates that can still reach the top 10
                fused, _ = fuse_top(
                    10,
                    queries[i]["weight"],
                    lexical_top=lexical_top,
                    dense_top=dense_top,
                    lexical_of=lambda rs: backend.lexical_scores(terms, list(rs), detail=False),
                    dense_of=lambda rs: {
                        r: d.combined for r, d in backend.dense_scores(q, list(rs), w, detail=False).items()
                    },
                    statistics=lambda: stats.stats(terms, q, w),
                    k_lexical=k_lex,
                    k_dense=k_dense,
                    prune=not args.no_prune,
                )
                lex, dn = got["lex"], got["dn"]
                top = [r for r, _ in fused]
                # the hits' exact BM25, cosines and best sentences, as an answer shows them (QdrantChannels)
                backend.exact_scores(terms, q, top, w)
                td = time.perf_counter()
                if i or run:  # the very first query warms caches
                    lat.append(td - ta)
                    lat_lex.append(got["t_lex"])
                    lat_dense.append(got["t_dense"])
                rec.append(len({r for r, _ in fused} & set(truth["hybrid"][i].tolist())) / 10)
                tl = [r for r in truth["lexical"][i].tolist() if r >= 0]
                if tl:
                    rec_lex.append(
                        len({r for r, _ in lex[:10]} & set(tl)) / len(tl)
                    )  # engine order (float32)
                rec_dense.append(len({d.row for d in dn[:10]} & set(truth["dense"][i].tolist())) / 10)
            per_run.append(
                {
                    "p50": pct(lat, 50),
                    "p95": pct(lat, 95),
                    "lex_p50": pct(lat_lex, 50),
                    "dense_p50": pct(lat_dense, 50),
                    "recall": float(np.mean(rec)),
                    "recall_lex": float(np.mean(rec_lex)) if rec_lex else float("nan"),
                    "recall_dense": float(np.mean(rec_dense)),
                }
            )
            log(
                f"{args.kind} n={n} K=({k_lex},{k_dense},{cand}) probe {probe}{scan} run {run}: "
                f"p50 {per_run[-1]['p50'] * 1e3:.1f} ms, "
                f"recall@10 {per_run[-1]['recall']:.3f}"
            )
        results.append(
            {
                **(
                    {"label": f"{k_lex}:{k_dense}:{cand}, probe {probe}{scan}", "probe": probe}
                    if probe
                    else {}
                ),
                **({"oversampling": over} if over is not None else {}),
                "k_lexical": k_lex,
                "k_dense": k_dense,
                "dense_candidates": cand,
                "runs": runs,
                "queries": nq,
                **summarize(per_run),
                "lexical_recall@10": round(statistics.median(r["recall_lex"] for r in per_run), 4),
            }
        )
    backend.close()
    return {
        "engine": args.kind,
        "n": n,
        "open_s": round(open_s, 1),
        "hnsw_ef": args.ef,
        "sample": args.sample,
        "serve_peak_rss_gb": round(peak_rss_gb(), 2),
        "configs": results,
    }


def phase_grouping(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The alternative dense layout on Edge: one point per sentence (HNSW) plus one per paragraph, grouped
    client-side; compared with the multivector layout of the backend (same data, same truth)."""
    import qdrant_edge as qe

    meta = json.loads((data / "meta.json").read_text())
    n = meta["n"]
    w = meta["sentence_weight"]
    work = Path(args.work)
    path = work / f"group-{n}"
    shutil.rmtree(path, ignore_errors=True)
    P = np.load(data / "P.npy", mmap_mode="r")
    S = np.load(data / "S.npy", mmap_mode="r")
    first = np.load(data / "first.npy")
    m = len(S)
    hnsw = qe.HnswIndexConfig(m=args.m, ef_construct=args.ef_construct, full_scan_threshold=10000)
    cfg = qe.EdgeConfig(
        vectors={
            "s": qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Dot, hnsw_config=hnsw),
            "p": qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Dot, hnsw_config=hnsw),
        },
        wal_enabled=False,
    )
    t0 = time.perf_counter()
    shard = qe.EdgeShard.create(str(path), cfg)
    owner = np.repeat(np.arange(n), np.diff(first))
    B = 2048
    for a in range(0, m, B):
        b = min(m, a + B)
        Sb = np.asarray(S[a:b])
        shard.update(
            qe.UpdateOperation.upsert_points(
                [qe.Point(n + i, {"s": Sb[i - a]}, {"_row": int(owner[i])}) for i in range(a, b)]
            )
        )
    for a in range(0, n, B):
        b = min(n, a + B)
        Pb = np.asarray(P[a:b])
        shard.update(
            qe.UpdateOperation.upsert_points(
                [qe.Point(i, {"p": Pb[i - a]}, {"_row": i}) for i in range(a, b)]
            )
        )
    shard.optimize()
    shard.flush()
    build_s = time.perf_counter() - t0
    truth = np.load(data / "truth.npz")
    Q = np.load(data / "Q.npy")
    lat, rec = [], []
    for i in range(len(Q)):
        qv = Q[i].tolist()
        ta = time.perf_counter()
        hits = shard.query(
            qe.QueryRequest(
                limit=args.group_limit,
                query=qe.Query.Nearest(qv, using="s"),
                params=qe.SearchParams(hnsw_ef=max(args.ef or 0, args.group_limit)),
                with_payload=True,
            )
        )
        best: dict[int, float] = {}
        for h in hits:
            r = int(h.payload["_row"])
            best[r] = max(best.get(r, -2.0), h.score)
        cand = sorted(best, key=lambda r: -best[r])[: args.group_paragraphs]
        ph = shard.query(
            qe.QueryRequest(
                limit=len(cand),
                query=qe.Query.Nearest(qv, using="p"),
                filter=qe.Filter(must=[qe.HasIdCondition(set(cand))]),
            )
        )
        comb = sorted(((1 - w) * h.score + w * best[int(h.id)], int(h.id)) for h in ph)[::-1][:10]
        tb = time.perf_counter()
        if i:
            lat.append(tb - ta)
        rec.append(len({r for _, r in comb} & set(truth["dense"][i].tolist())) / 10)
    shard.close()
    return {
        "engine": "edge-grouping",
        "n": n,
        "build_s": round(build_s, 1),
        "disk_gb": round(disk_gb(path), 2),
        "dense_p50_ms": round(pct(lat, 50) * 1e3, 1),
        "dense_p95_ms": round(pct(lat, 95) * 1e3, 1),
        "dense_recall@10": round(float(np.mean(rec)), 4),
        "sentence_hits": args.group_limit,
        "peak_rss_gb": round(peak_rss_gb(), 2),
    }


ADD_PARAGRAPHS = 65  # the add measured: a report of the real report's size, the last rows of the data


def synthetic_dense_index(data: Path, upto: int | None = None) -> Any:
    """The synthetic vectors as the project's :class:`pipeline.dense.DenseIndex` (memory-mapped arrays, a
    sentence map and text keys like a loaded library's), over the first ``upto`` paragraphs (default all)."""
    from pipeline.dense import DenseIndex

    first = np.load(data / "first.npy")
    n = len(first) - 1 if upto is None else upto
    m = int(first[n])
    P = np.load(data / "P.npy", mmap_mode="r")[:n]
    S = np.load(data / "S.npy", mmap_mode="r")[:m]
    counts = np.diff(first[: n + 1])
    owner = np.repeat(np.arange(n), counts).tolist()
    index = (np.arange(m) - np.repeat(first[:n], counts)).tolist()
    smap = [{"paragraph": p, "index": j, "start": -1, "end": -1} for p, j in zip(owner, index, strict=True)]
    info = {"dims": DIM, "n_paragraphs": n, "n_sentences": m, "inputs": {"embedder.model": "synthetic"}}
    return DenseIndex(
        P,
        S,
        list(range(n)),
        smap,
        info,
        [f"p{i:063x}" for i in range(n)],
        [f"s{i:063x}" for i in range(m)],
    )


def _ann_cfg(args: argparse.Namespace, n: int, **over: Any) -> Any:
    import pipeline.ann
    from pipeline.config import Config

    pipeline.ann.STORAGE = args.ann_storage
    root = Path(args.work) / (
        f"ann-home-{n}" + ("" if args.ann_storage == "float16" else f"-{args.ann_storage}")
    )
    return Config(root=root, **{"ann": "on", "ann_partitions": args.ann_partitions, **over})


def phase_ann_build(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The shipped ANN index (:func:`pipeline.ann.ensure_ann`, what ``pipeline build`` runs) over the
    synthetic vectors less the last ``ADD_PARAGRAPHS`` paragraphs, then ``pipeline add``'s update with them
    (the same function: their vectors added to the index, no retraining)."""
    from pipeline.ann import ann_artifact, ann_dir, ensure_ann

    meta = json.loads((data / "meta.json").read_text())
    n = meta["n"]
    cfg = _ann_cfg(args, n)
    shutil.rmtree(cfg.root, ignore_errors=True)
    cfg.index_dir.mkdir(parents=True)
    t0 = time.perf_counter()
    before = synthetic_dense_index(data, n - ADD_PARAGRAPHS)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    built = ensure_ann(cfg, before)
    build_s = time.perf_counter() - t1
    log(built)
    del before
    dense = synthetic_dense_index(data)
    t2 = time.perf_counter()
    added = ensure_ann(cfg, dense)
    add_s = time.perf_counter() - t2
    log(added)
    if "added" not in added:
        raise SystemExit(f"the add rebuilt the index: {added}")
    info = ann_artifact(ann_dir(cfg)).read_manifest()["info"]
    return {
        "engine": "ann",
        "n": n,
        "partitions": info["partitions"],
        "vectors": info["vectors"],
        "bm25_build_s": 0.0,
        "dense_load_s": round(load_s, 1),
        "build_s": round(build_s, 1),
        "add_s": round(add_s, 1),
        "add_paragraphs": ADD_PARAGRAPHS,
        "build_peak_rss_gb": round(peak_rss_gb(), 2),
        "disk_gb": round(disk_gb(ann_dir(cfg)), 2),
    }


def phase_ann_query(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Hybrid through the shipped channel class (:class:`pipeline.backends.local.LocalChannels`, what the
    Retriever uses) on the ANN index: the lexical channel's top 1,000 (BM25Index over every paragraph), the
    dense channel's top 500 among the index's candidates scored exactly, the other channel's exact scores of
    each channel's candidates, the dense statistics from the fixed 8,192-paragraph sample, fused."""
    from types import SimpleNamespace

    from threadpoolctl import threadpool_limits

    from pipeline.backends.local import LocalChannels

    threadpool_limits(1)  # one BLAS thread per query, as the project's server runs it
    if args.no_prune:  # every candidate scored in both channels, as before the bound (for comparison)
        import functools

        import pipeline.backends.local as local_channels

        local_channels.fuse_top = functools.partial(local_channels.fuse_top, prune=False)  # type: ignore[assignment]
    meta = json.loads((data / "meta.json").read_text())
    n = meta["n"]
    truth = np.load(data / "truth.npz")
    Q = np.load(data / "Q.npy")
    queries = meta["queries"]
    t0 = time.perf_counter()
    bm25 = load_bm25(data, meta)
    dense = synthetic_dense_index(data)
    open_s = time.perf_counter() - t0
    nq = len(queries)
    results = []
    for ci, conf in enumerate(args.ann_configs.split(",")):
        probes, cands = (int(x) for x in conf.split(":"))
        cfg = _ann_cfg(
            args, n, ann_probes=probes, ann_candidates=cands, sentence_weight=meta["sentence_weight"]
        )
        channels = LocalChannels(cfg, lambda: bm25, lambda: dense)
        t1 = time.perf_counter()
        if channels.ann(dense) is None:
            raise SystemExit("the ANN index did not open")
        ann_open_s = time.perf_counter() - t1
        runs = args.runs if ci == 0 else 1
        per_run = []
        lat_lex: list[float] = []
        lat_dense: list[float] = []
        rec_dense: list[float] = []
        for run in range(runs):
            lat, rec = [], []
            for i in range(nq):
                plan = SimpleNamespace(bm25_terms=[tuple(t) for t in queries[i]["terms"]])
                ta = time.perf_counter()
                found, _ = channels.search(plan, Q[i], 10, queries[i]["weight"], lexical=True, rows=None)  # type: ignore[arg-type]
                tb = time.perf_counter()
                if i or run:  # the first one pages in and draws the statistics sample
                    lat.append(tb - ta)
                rec.append(len({f.row for f in found} & set(truth["hybrid"][i].tolist())) / 10)
                if run == 0:  # each channel alone, once
                    tc = time.perf_counter()
                    bm25.scores(plan.bm25_terms)
                    td = time.perf_counter()
                    alone, _ = channels.search(plan, Q[i], 10, 0.0, lexical=False, rows=None)  # type: ignore[arg-type]
                    te = time.perf_counter()
                    if i:
                        lat_lex.append(td - tc)
                        lat_dense.append(te - td)
                    rec_dense.append(len({f.row for f in alone} & set(truth["dense"][i].tolist())) / 10)
            per_run.append(
                {
                    "p50": pct(lat, 50),
                    "p95": pct(lat, 95),
                    "lex_p50": pct(lat_lex, 50),
                    "dense_p50": pct(lat_dense, 50),
                    "recall": float(np.mean(rec)),
                    "recall_dense": float(np.mean(rec_dense)),
                }
            )
            log(
                f"ann n={n} probes={probes} candidates={cands} run {run}: "
                f"p50 {per_run[-1]['p50'] * 1e3:.1f} ms, recall@10 {per_run[-1]['recall']:.4f}"
            )
        results.append(
            {
                "label": f"1000:500, {probes} probes, {cands} candidate sentences",
                "k_lexical": 1000,
                "k_dense": 500,
                "dense_candidates": cands,
                "probes": probes,
                "runs": runs,
                "queries": nq,
                "ann_open_s": round(ann_open_s, 2),
                **summarize(per_run),
                "lexical_recall@10": 1.0,
            }
        )
    return {
        "engine": "ann",
        "n": n,
        "open_s": round(open_s, 1),
        "serve_peak_rss_gb": round(peak_rss_gb(), 2),
        "configs": results,
    }


PHASES = {
    "exact": phase_exact,
    "build": phase_build,
    "query": phase_query,
    "grouping": phase_grouping,
    "ann_build": phase_ann_build,
    "ann_query": phase_ann_query,
}


# ------------------------------------------------------------------------------------------ driver


def run_phase(name: str, data: Path, args: argparse.Namespace, **over: Any) -> dict[str, Any]:
    """Run one phase in a fresh process (its own peak RSS) and return its JSON result."""
    out = Path(args.work) / f"result-{name}-{over.get('kind', '')}-{data.name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--phase", name, "--data", str(data)]
    for k, v in {**vars(args), **over}.items():
        if (
            k in ("phase", "data", "json", "chart", "n", "local_n", "engines", "variant_n")
            or v is None
            or v is False
        ):
            continue
        cmd += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)])
    cmd += ["--out", str(out)]
    log(f"phase {name} {over.get('kind', '')} on {data.name}")
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    res = json.loads(out.read_text())
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--n", type=int, default=1_000_000, help="paragraphs for exact and edge (default 1,000,000)"
    )
    ap.add_argument(
        "--local-n", type=int, default=5000, help="paragraphs for qdrant-client local mode (0: skip)"
    )
    ap.add_argument(
        "--variant-n", type=int, default=0, help="also compare multivector vs grouping at this size"
    )
    ap.add_argument("--engines", default="exact,edge,local")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--exact-queries", type=int, default=30, help="queries timed for the exact path")
    ap.add_argument("--local-queries", type=int, default=50, help="queries timed for local mode")
    ap.add_argument("--runs", type=int, default=3, help="query passes (the main config); medians reported")
    ap.add_argument(
        "--configs",
        default="100:200:300,100:200:600,50:100:300,200:400:600",
        help="K_lexical:K_dense:dense_candidates per hybrid config; the first is the main one",
    )
    ap.add_argument(
        "--ann-partitions", type=int, default=0, help="ann: partitions (default: one per 1,000 vectors)"
    )
    ap.add_argument(
        "--ann-storage",
        default="float16",
        choices=("float16", "float32"),
        help="ann: the IVF's vectors (the engine ann32 runs float32 beside the shipped float16)",
    )
    ap.add_argument(
        "--ann-configs",
        default="64:2000,32:2000,128:4000",
        help="ann: probes:candidate-sentences per config (ann_probes, ann_candidates); the first is the main",
    )
    ap.add_argument(
        "--partitions", type=int, default=0, help="edgep: sentence partitions (default: sentences / 1000)"
    )
    ap.add_argument(
        "--edgep-configs",
        default="100:200:1000:16,100:200:1000:8,100:200:1000:32,100:200:300:16",
        help="edgep: K_lexical:K_dense:candidates:probe per config; the first is the main one",
    )
    ap.add_argument(
        "--quantization",
        default="none",
        choices=("none", "int8"),
        help="edgep: int8 scalar quantization of the sentence vectors (a config's 5th field: oversampling, "
        "0 for the float32 scan)",
    )
    ap.add_argument(
        "--ef", type=int, default=64, help="HNSW search beam (the engine uses at least the limit)"
    )
    ap.add_argument("--m", type=int, default=16, help="HNSW degree")
    ap.add_argument("--ef-construct", type=int, default=100)
    ap.add_argument("--batch", type=int, default=512, help="points per upload batch")
    ap.add_argument("--sample", type=int, default=2048, help="paragraphs in the fusion statistics sample")
    ap.add_argument(
        "--dense-sample", type=int, default=0, help="edgep: paragraphs of the sample the dense statistics use"
    )
    ap.add_argument(
        "--no-prune",
        action="store_true",
        help="ann, edgep: score every candidate in both channels (no bound on what can reach the top 10)",
    )
    ap.add_argument("--group-limit", type=int, default=400, help="grouping variant: sentence hits per query")
    ap.add_argument("--group-paragraphs", type=int, default=100, help="grouping variant: paragraphs rescored")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default="/tmp/bench_scale", help="data and collections (large at 1M: ~25 GB)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--chart", help="draw a PNG chart here")
    ap.add_argument("--quiet", action="store_true", help="no progress bars")
    ap.add_argument("--keep", action="store_true", help="reuse collections already built (resume)")
    ap.add_argument(
        "--render", nargs="+", metavar="JSON", help="only merge these results files and print them"
    )
    # internal
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--kind", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.render:
        rerender(args.render, args.json, args.chart)
        return
    if args.phase:
        mem = MemorySampler()
        res = PHASES[args.phase](Path(args.data), args)
        res.update(mem.result())
        Path(args.out).write_text(json.dumps(res))
        return

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    engines = args.engines.split(",")
    t_all = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(),
        "args": {k: v for k, v in vars(args).items() if k not in ("phase", "data", "kind", "out")},
        "runs": [],
    }
    sizes: dict[int, list[str]] = {
        args.n: [e for e in engines if e in ("exact", "ann", "ann32", "edgep", "edge")]
    }
    if args.local_n and "local" in engines:
        sizes.setdefault(args.local_n, ["exact", "edge"])
        sizes[args.local_n].append("local")
    if args.variant_n:
        sizes.setdefault(args.variant_n, ["exact", "edge"])
        sizes[args.variant_n].append("grouping")
    for n, engs in sizes.items():
        data = work / f"data-{n}-s{args.seed}"
        t0 = time.perf_counter()
        meta = synthesize(n, args.seed, data, args.queries)
        entry: dict[str, Any] = {
            "n": n,
            "n_sentences": meta["n_sentences"],
            "postings": meta["nnz"],
            "gen_s": meta["gen_seconds"],
            "query_source": meta["query_source"],
            "queries": len(meta["queries"]),
            "engines": {},
        }
        log(f"data for n={n} ready in {time.perf_counter() - t0:.0f}s")
        if not (data / "truth.npz").is_file() or "exact" in engs:
            entry["engines"]["exact"] = run_phase("exact", data, args)
        for kind, storage in (("ann", "float16"), ("ann32", "float32")):
            if kind in engs:
                entry["engines"]["ann" if kind == "ann" else "ann-float32"] = merge_build_query(
                    run_phase("ann_build", data, args, ann_storage=storage),
                    run_phase("ann_query", data, args, ann_storage=storage),
                )
        for kind in ("edgep", "edge", "local"):
            if kind in engs:
                b = run_phase("build", data, args, kind=kind)
                q = run_phase("query", data, args, kind=kind)
                entry["engines"][kind] = merge_build_query(b, q)
        if "grouping" in engs:
            entry["engines"]["edge-grouping"] = run_phase("grouping", data, args)
        results["runs"].append(entry)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False))
    results["total_s"] = round(time.perf_counter() - t_all, 1)
    print(render(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False))
    if args.chart:
        chart(results, Path(args.chart))


def merge_build_query(b: dict[str, Any], q: dict[str, Any]) -> dict[str, Any]:
    """One engine's entry: the build's numbers (memory ones prefixed build_) and the queries' (serve_)."""
    b, q = dict(b), dict(q)
    for key in ("peak_anon_gb", "peak_file_gb", "wall_s"):
        if key in b:
            b[f"build_{key}"] = b.pop(key)
        if key in q:
            q[f"serve_{key}"] = q.pop(key)
    return {**b, **q}


def rerender(paths: list[str], out_json: str | None, chart_path: str | None) -> None:
    """Merge results files (e.g. a 1M run and a 100k run) and print the table (and chart) again; an
    engine's build memory is re-read from its phase result file when the run stored only the query's."""
    merged: dict[str, Any] = {"machine": None, "runs": [], "sources": paths}
    for p in paths:
        res = json.loads(Path(p).read_text())
        merged["machine"] = merged["machine"] or res.get("machine")
        work = Path(res.get("args", {}).get("work", "."))
        for run in res["runs"]:
            for kind, e in run["engines"].items():
                if kind in ("edge", "local") and "build_peak_anon_gb" not in e:
                    f = work / f"result-build-{kind}-data-{run['n']}-s{res['args'].get('seed', 1)}.json"
                    q = work / f"result-query-{kind}-data-{run['n']}-s{res['args'].get('seed', 1)}.json"
                    if f.is_file() and q.is_file():
                        run["engines"][kind] = merge_build_query(
                            json.loads(f.read_text()), json.loads(q.read_text())
                        )
            merged["runs"].append(run)
    merged["runs"].sort(key=lambda r: -r["n"])
    print(render(merged))
    if out_json:
        Path(out_json).write_text(json.dumps(merged, indent=1, ensure_ascii=False))
    if chart_path:
        chart(merged, Path(chart_path))


def machine() -> dict[str, Any]:
    import qdrant_client

    try:
        from importlib.metadata import version

        edge = version("qdrant-edge-py")
    except Exception:  # noqa: BLE001
        edge = None
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "qdrant_client": qdrant_client.__version__ if hasattr(qdrant_client, "__version__") else None,
        "qdrant_edge_py": edge,
        "nice": os.nice(0),
    }


def render(results: dict[str, Any]) -> str:
    """The results as a markdown table (build memory: peak RSS, of which anonymous / file-backed pages)."""

    def mem(e: dict[str, Any], pre: str = "") -> str:
        anon, file = e.get(f"{pre}peak_anon_gb"), e.get(f"{pre}peak_file_gb")
        return f"{anon} + {file}" if anon is not None else "?"

    lines = [
        (
            "| N | engine | K_lex:K_dense:cand | build s | build mem GB (anon + file) | "
            "serve mem GB (anon + file) | disk GB | hybrid p50 ms [runs' range] | p95 ms | lexical p50 | "
            "dense p50 | hybrid recall@10 | lexical / dense recall@10 |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        n = f"{run['n']:,}"
        for name, e in run["engines"].items():
            if name == "exact":
                lines.append(
                    f"| {n} | exact in-process (BM25Index + numpy) | all | {e['build_s']} | – | {mem(e)} | "
                    f"{e['disk_gb']} | {e['p50_ms']} | {e['p95_ms']} | {e['lexical_p50_ms']} | "
                    f"{e['dense_p50_ms']} | 1 | 1 / 1 |"
                )
            elif name == "edge-grouping":
                lines.append(
                    f"| {n} | edge, sentence points + grouping (dense only) | {e['sentence_hits']} "
                    f"sentence hits | {e['build_s']} | {mem(e)} | – | {e['disk_gb']} | – | – | – | "
                    f"{e['dense_p50_ms']} | – | – / {e['dense_recall@10']} |"
                )
            else:
                for c in e["configs"]:
                    conf = c.get("label") or f"{c['k_lexical']}:{c['k_dense']}:{c['dense_candidates']}"
                    shown = {
                        "edgep": f"edge, {e.get('partitions', '?')} sentence partitions"
                        + (f", {e['quantization']} sentence vectors" if e.get("quantization") else ""),
                        "ann": f"in-process ANN (pipeline.ann, {e.get('partitions', '?')} partitions)",
                        "ann-float32": f"in-process ANN, float32 IVF ({e.get('partitions', '?')} partitions)",
                    }.get(name, name)
                    if name.startswith("edgep ("):  # an earlier run's partitioned collection, kept beside
                        shown = (
                            f"edge, {e.get('partitions', '?')} sentence partitions {name[len('edgep ') :]}"
                        )
                    extra = (
                        f"add of {e['add_paragraphs']} paragraphs: {e['add_s']}"
                        if "add_s" in e
                        else f"+{e['bm25_build_s']} BM25"
                    )
                    lines.append(
                        f"| {n} | {shown} | {conf} | {e['build_s']} "
                        f"({extra}) | {mem(e, 'build_')} | {mem(e, 'serve_')} | "
                        f"{e['disk_gb']} | "
                        f"{c['p50_ms']} [{c['p50_spread_ms'][0]}–{c['p50_spread_ms'][1]}] | "
                        f"{c['p95_ms']} | {c['lexical_p50_ms']} | {c['dense_p50_ms']} | {c['recall@10']} | "
                        f"{c['lexical_recall@10']} / {c['dense_recall@10']} |"
                    )
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels, p50, p95, rec, colors = [], [], [], [], []
    palette = {
        "exact": "#777777",
        "edge": "#dc244c",
        "local": "#2f6fb0",
        "ann": "#3a9a5b",
        "ann-float32": "#9ac25b",
        "edgep": "#8a3ab9",
    }
    for run in results["runs"]:
        for name, e in run["engines"].items():
            if name == "edge-grouping":
                continue
            if name == "exact":
                labels.append(f"exact\n{run['n']:,}")
                p50.append(e["p50_ms"])
                p95.append(e["p95_ms"])
                rec.append(1.0)
            else:
                c = e["configs"][0]
                labels.append(
                    f"{name.replace(' (', chr(10) + '(')}\n{run['n']:,}"
                )  # an earlier run's: 2 lines
                p50.append(c["p50_ms"])
                p95.append(c["p95_ms"])
                rec.append(c["recall@10"])
            colors.append(palette.get(name, "#999999"))
    x = np.arange(len(labels))
    ax1.bar(x, p50, color=colors, label="p50 (first config)")
    ax1.scatter(x, p95, color="black", marker="_", s=300, label="p95", zorder=3)
    ax1.axhline(50, color="#dc244c", ls="--", lw=1, label="goal 50 ms")
    ax1.set_yscale("log")
    ax1.set_xticks(x, labels, fontsize=8)
    ax1.set_ylabel("hybrid latency per query (ms, log)")
    ax1.legend(fontsize=8)
    # every configuration: recall against latency, one colour per size
    sizes = sorted({run["n"] for run in results["runs"]}, reverse=True)
    for run in results["runs"]:
        for name, e in run["engines"].items():
            if name in ("exact", "edge-grouping"):
                continue
            pts = sorted((c["p50_ms"], c["recall@10"]) for c in e["configs"])
            ax2.plot(
                [p for p, _ in pts],
                [r for _, r in pts],
                ls="none",
                marker="o" if run["n"] == sizes[0] else "s",
                color=palette.get(name, "#999999"),
                alpha=0.85,
                label=f"{name} {run['n']:,}",
            )
    ax2.axhline(0.98, color="#dc244c", ls="--", lw=1)
    ax2.axvline(50, color="#dc244c", ls="--", lw=1)
    ax2.fill_between([1, 50], 0.98, 1.01, color="#dc244c", alpha=0.08, label="goal (≤ 50 ms, ≥ 0.98)")
    ax2.set_xscale("log")
    lowest = min(
        (
            c["recall@10"]
            for run in results["runs"]
            for name, e in run["engines"].items()
            if name not in ("exact", "edge-grouping")
            for c in e["configs"]
        ),
        default=0.9,
    )
    ax2.set_ylim(max(0.0, lowest - 0.03), 1.01)
    ax2.set_xlabel("hybrid p50 (ms, log) — one point per K_lex:K_dense:candidates")
    ax2.set_ylabel("hybrid recall@10 vs exact")
    ax2.legend(fontsize=7, loc="lower right")
    fig.suptitle("Hybrid retrieval at scale (synthetic paragraphs from the report)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
