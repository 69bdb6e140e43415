"""Answering a query: route -> (cite | lexical + dense -> fuse) -> answer sentence.

:class:`Retriever` is the one object the CLI, the batch runner, the evaluator and the benchmarks use. It
loads what a route needs and nothing more: a paragraph or citation lookup never imports jieba or torch; the
lexical mode never loads the embedding model.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.cite import Citation, CitationIndex, Route, cite, route
from pipeline.config import Config
from pipeline.ranking import top_k
from pipeline.text import CJK_IDEOGRAPHS
from pipeline.corpus import Corpus, Paragraph

MODES = ("hybrid", "lexical", "dense")
_RE_CJK = re.compile(f"[{CJK_IDEOGRAPHS}]")
_RE_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]{2,}")


class QueryError(ValueError):
    """A query that cannot be answered (empty, or only white space)."""


def query_language(text: str) -> str:
    """"zh" when the query is mostly Chinese, else "en" (two CJK characters weigh as one Latin word)."""
    cjk = len(_RE_CJK.findall(text))
    latin = len(_RE_LATIN_WORD.findall(text))
    return "zh" if cjk and cjk >= 2 * latin else "en"


@dataclass
class Hit:
    """One answer: a paragraph, its scores, and the sentence that best answers the query.

    Attributes:
        paragraph: the paragraph number.
        score: the fused score (for lookups: 1.0).
        scores: each channel's score ("lexical", "dense", "dense_paragraph", "dense_sentence", "citation").
        answer: the best answering sentence, as printed.
        answer_span: its ``[start, end)`` in the paragraph's full text.
        match: for citation lookups, the matched reference: {"text", "where", "start", "end"}.
    """

    paragraph: int
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    answer: str = ""
    answer_span: tuple[int, int] = (0, 0)
    match: list[dict[str, Any]] | None = None


@dataclass
class Answer:
    """The answer to one query."""

    query: str
    route: str
    lang: str
    hits: list[Hit]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self, corpus: Corpus) -> dict[str, Any]:
        """The JSON shape shared by every mode and command."""
        results = []
        for h in self.hits:
            p = corpus.paragraph(h.paragraph)
            r: dict[str, Any] = {
                "paragraph": h.paragraph,
                "score": round(float(h.score), 6),
                "section": list(p.section),
                "text": p.full_text,
                "answer": h.answer,
                "answer_span": list(h.answer_span),
                "scores": {k: round(float(v), 6) for k, v in h.scores.items()},
                "footnotes": [{"marker": fn.marker, "text": fn.text} for fn in p.footnotes],
            }
            if h.match is not None:
                r["match"] = h.match
            results.append(r)
        out: dict[str, Any] = {"query": self.query, "route": self.route, "results": results}
        if self.warnings:
            out["warnings"] = list(self.warnings)
        return out


def _minmax(x: np.ndarray) -> np.ndarray:
    lo, hi = float(x.min()), float(x.max())
    if hi - lo <= 1e-12:
        return np.zeros_like(x, dtype=np.float64)
    return (x - lo) / (hi - lo)


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    if sd <= 1e-12:
        return np.zeros_like(x, dtype=np.float64)
    return (x - float(x.mean())) / sd


def _rrf(x: np.ndarray, k: int) -> np.ndarray:
    ranks = np.empty(len(x))
    ranks[np.argsort(-x, kind="stable")] = np.arange(1, len(x) + 1)
    return 1.0 / (k + ranks)


FUSIONS = ("zscore", "minmax", "rrf")


def fuse(
    lexical: np.ndarray | None, dense: np.ndarray | None, lang: str, cfg: Config, coverage: float = 1.0
) -> np.ndarray:
    """Combine channel scores over all paragraphs into one score per paragraph.

    Each channel is normalized over the paragraphs — "zscore" (default: how far a paragraph stands out
    from the rest, which keeps a weak BM25 match from looking like a strong one), "minmax", or "rrf"
    (reciprocal rank) — and the two are mixed with a weight that depends on the query's language: Chinese
    queries share words with the report, English ones reach it mostly through the embeddings. The
    weights were chosen on the development set (see README's ablation).

    ``coverage`` (0–1) scales a Chinese query's lexical weight: the share of the query's IDF mass that the
    index vocabulary knows. A paraphrase in everyday words ("假药", "海匪") has little of it, and BM25's
    few weak matches should then not outvote the embeddings.
    """
    if lexical is None:
        assert dense is not None
        return dense.astype(np.float64)
    if dense is None:
        return lexical.astype(np.float64)
    w = cfg.lexical_weight_zh * coverage if lang == "zh" else cfg.lexical_weight_en
    if cfg.fusion == "zscore":
        return w * _zscore(lexical) + (1 - w) * _zscore(dense)
    if cfg.fusion == "minmax":
        return w * _minmax(lexical) + (1 - w) * _minmax(dense)
    if cfg.fusion == "rrf":
        return w * _rrf(lexical, cfg.rrf_k) + (1 - w) * _rrf(dense, cfg.rrf_k)
    raise ValueError(f"unknown fusion {cfg.fusion!r} (use {', '.join(FUSIONS)})")


class Retriever:
    """Answers queries over one corpus; loads indexes and the model lazily, on first need.

    Args:
        cfg: settings.
        corpus: an already parsed corpus (parsed from ``cfg`` when omitted).
        build_missing: build an index that does not exist yet (a stale one is always refused).
        log: where progress messages go (stderr by default).
    """

    def __init__(
        self,
        cfg: Config | None = None,
        corpus: Corpus | None = None,
        build_missing: bool = True,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = cfg or Config()
        self._corpus = corpus
        self._citations: CitationIndex | None = None
        self._analyzer: Any = None
        self._lexical: Any = None
        self._dense: Any = None
        self._model: Any = None
        self.build_missing = build_missing
        self.log = log or (lambda msg: print(msg, file=sys.stderr))
        self._numpy_enc: Any = None

    # --- lazy resources ------------------------------------------------------------------------------
    @property
    def corpus(self) -> Corpus:
        if self._corpus is None:
            from pipeline.ingest import load_corpus

            self._corpus = load_corpus(self.cfg)
        return self._corpus

    @property
    def citations(self) -> CitationIndex:
        if self._citations is None:
            self._citations = CitationIndex.build(self.corpus)
        return self._citations

    @property
    def analyzer(self) -> Any:
        if self._analyzer is None:
            from pipeline.analyze import Analyzer

            self._analyzer = Analyzer(self.cfg)
        return self._analyzer

    def _load_or_build(self, load: Callable[[], Any], build: Callable[[], Any], note: str) -> Any:
        """Load an index; build it when it does not exist yet. A stale index is refused, never rebuilt here
        (``pipeline build`` does that), so a search never silently runs on other data than it says."""
        from pipeline.store import MissingIndexError

        try:
            return load()
        except MissingIndexError:
            if not self.build_missing:
                raise
            self.log(f"pipeline: {note}")
            return build()

    @property
    def lexical(self) -> Any:
        if self._lexical is None:
            from pipeline import lexical

            self._lexical = self._load_or_build(
                lambda: lexical.load_lexical_index(self.cfg, self.corpus, self.analyzer),
                lambda: lexical.build_lexical_index(self.cfg, self.corpus, self.analyzer),
                "no lexical index yet; building it (once)",
            )
        return self._lexical

    @property
    def model(self) -> Any:
        if self._model is None:
            from pipeline.embed import load_model

            self._model = load_model(self.cfg)
        return self._model

    @property
    def dense(self) -> Any:
        if self._dense is None:
            from pipeline import dense

            index = self._load_or_build(
                lambda: dense.load_dense_index(self.cfg, self.corpus),
                lambda: dense.ensure_dense_index(self.cfg, self.corpus, model_loader=lambda: self.model),
                "no dense index yet; embedding the report (once, under a minute)",
            )
            if index.numbers != self.corpus.numbers:
                raise RuntimeError("the dense index does not match the corpus; run `pipeline build`")
            self._dense = index
        return self._dense

    # --- queries -------------------------------------------------------------------------------------
    def prepare(self, query: str) -> tuple[str, list[str]]:
        """Validate a query: reject empty ones, truncate very long ones (with a warning)."""
        if not isinstance(query, str) or not query.strip():
            raise QueryError("empty query: type a question, a paragraph number or a reference")
        q = " ".join(query.split())
        warnings: list[str] = []
        if len(q) > self.cfg.max_query_chars:
            warnings.append(f"query truncated from {len(q)} to {self.cfg.max_query_chars} characters")
            q = q[: self.cfg.max_query_chars]
        return q, warnings

    def search(self, query: str, k: int | None = None, mode: str = "hybrid") -> Answer:
        """Answer one query. See :meth:`search_many`."""
        return self.search_many([query], k=k, mode=mode)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int | None = None,
        mode: str = "hybrid",
        progress: Callable[[int], None] | None = None,
    ) -> list[Answer]:
        """Answer many queries; question queries are embedded in batches.

        Args:
            queries: raw query strings (each is validated; an empty one raises :class:`QueryError`).
            k: results per query for questions (lookups return every requested or citing paragraph).
            mode: "hybrid", "lexical" or "dense".
            progress: called with the number of queries finished, as they finish.

        Returns:
            One :class:`Answer` per query, in order.
        """
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (use {', '.join(MODES)})")
        k = k or self.cfg.top_k
        prepared = [self.prepare(q) for q in queries]
        answers: list[Answer | None] = [None] * len(queries)
        questions: list[int] = []
        for i, (q, warns) in enumerate(prepared):
            r = route(q, self.citations)
            if r.kind == "question":
                questions.append(i)
                continue
            answers[i] = self._lookup(q, r, warns)
            if progress:
                progress(1)
        bs = max(1, self.cfg.batch_size)
        for start in range(0, len(questions), bs):
            chunk = questions[start : start + bs]
            texts = [prepared[i][0] for i in chunk]
            for i, ans in zip(chunk, self._questions(texts, k, mode), strict=True):
                ans.warnings = prepared[i][1] + ans.warnings
                answers[i] = ans
            if progress:
                progress(len(chunk))
        return [a for a in answers if a is not None]

    def channel_scores(self, texts: Sequence[str], mode: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Raw channel inputs for question texts.

        Returns:
            ``(lexical, query_vectors)``: BM25 scores (n_queries, n_paragraphs) and the embedded queries
            (n_queries, dim); None where the mode skips a channel.
        """
        lex = qv = None
        if mode in ("hybrid", "lexical"):
            lex = np.vstack([self.lexical.scores(self.lexical_terms(t)) for t in texts])
        if mode in ("hybrid", "dense"):
            from pipeline.embed import encode_queries

            self.dense  # noqa: B018 - load (or build) the index before the model is needed
            qtexts = [self.dense_query_text(t) for t in texts] if self.cfg.dense_query_terms else list(texts)
            numpy_enc = self._numpy_encoder(len(qtexts))
            if numpy_enc is not None:
                qv = numpy_enc.encode(qtexts, self.cfg.query_prompt or "")
            else:
                qv = encode_queries(self.model, qtexts, self.cfg)
        return lex, qv

    def lexical_terms(self, text: str) -> list[tuple[str, float]]:
        """Weighted BM25 query terms: the analyzer's, plus synonyms for Chinese words the report never uses.

        A Chinese query word absent from the index vocabulary (假药, 问卷, 电脑) is pivoted through its
        CC-CEDICT English glosses back to Chinese (:meth:`pipeline.translate.Translator.synonyms`); the
        synonyms that occur in the report are added at ``cfg.pivot_weight`` times their weight.
        """
        terms = self.analyzer.analyze_query(text)
        vocab = self.lexical.term_id
        translator = self.analyzer.translator if self.cfg.pivot_weight > 0 else None
        if translator is None or not hasattr(translator, "synonyms"):
            return terms
        have = {t for t, _ in terms}
        extra: dict[str, float] = {}
        for term, w in terms:
            if term in vocab or len(term) < 2 or not _RE_CJK.match(term):
                continue
            for zh, sw in translator.synonyms(term):
                for tok in self.analyzer.tokenize(zh):
                    if tok in vocab and tok not in have:
                        extra[tok] = max(extra.get(tok, 0.0), w * sw * self.cfg.pivot_weight)
        return terms + list(extra.items())

    def _numpy_encoder(self, n_queries: int) -> Any:
        """The NumPy query encoder when it should be used, else None (sentence-transformers then).

        "auto": NumPy for small requests while the torch model is not loaded (a cold ``pipeline search``
        must not pay 3-4 s of torch/transformers imports); large batches go through sentence-transformers,
        which is faster per query once loaded. Both give the same vectors (tests check cosine > 0.9999).
        """
        choice = self.cfg.query_encoder
        if choice == "sentence-transformers" or (choice == "auto" and (self._model is not None or n_queries > 32)):
            return None
        if self._numpy_enc is None:
            from pipeline.embed import model_path
            from pipeline.models.numpy_encoder import load_numpy_encoder

            path = model_path(self.cfg)
            self._numpy_enc = (load_numpy_encoder(path) if isinstance(path, Path) else None) or False
        if self._numpy_enc is False:
            if choice == "numpy":
                raise RuntimeError(f"the NumPy query encoder cannot run {self.cfg.model!r}; use query_encoder='auto'")
            return None
        return self._numpy_enc

    def lexical_coverage(self, text: str) -> float:
        """Share of the query's IDF mass (its own terms, before expansion) found in the index vocabulary.

        An unknown term counts with the IDF of a term in no paragraph, the largest there is.
        """
        index = self.lexical
        n = index.n_docs
        unseen = float(np.log(1.0 + (n + 0.5) / 0.5))
        known = total = 0.0
        for term, w in self.analyzer.analyze_query(text):
            tid = index.term_id.get(term)
            idf = float(index.idf[tid]) if tid is not None else unseen
            total += w * idf
            known += w * idf if tid is not None else 0.0
        return known / total if total > 0 else 0.0

    def dense_query_text(self, text: str) -> str:
        """The query as embedded: the user's words followed by the report-vocabulary Chinese terms that the
        lexical channel found for it (English->Chinese translations, synonyms of out-of-vocabulary words).

        A small multilingual model matches a Chinese paragraph far better when the query also carries the
        paragraph's own Chinese terms; the user's words stay first so their meaning dominates.
        """
        vocab = self.lexical.term_id
        extra = [t for t, _ in self.lexical_terms(text) if t in vocab and _RE_CJK.match(t) and t not in text]
        return f"{text} {' '.join(dict.fromkeys(extra))}" if extra else text

    def _questions(self, texts: list[str], k: int, mode: str) -> list[Answer]:
        lex, qv = self.channel_scores(texts, mode)
        paras = self.corpus.paragraphs
        out: list[Answer] = []
        for qi, text in enumerate(texts):
            lang = query_language(text)
            lx = lex[qi] if lex is not None else None
            sc = self.dense.scores(qv[qi], self.cfg.sentence_weight) if qv is not None else None
            cov = self.lexical_coverage(text) if lx is not None and lang == "zh" else 1.0
            fused = fuse(lx, sc["combined"] if sc else None, lang, self.cfg, cov)
            hits = []
            for pi in top_k(fused, k):
                scores: dict[str, float] = {}
                if lx is not None:
                    scores["lexical"] = float(lx[pi])
                sent_scores = None
                if sc is not None:
                    scores["dense"] = float(sc["combined"][pi])
                    scores["dense_paragraph"] = float(sc["paragraph"][pi])
                    scores["dense_sentence"] = float(sc["sentence"][pi])
                    sent_scores = sc["sentences"][self.dense.sentence_rows(int(pi))]
                p = paras[pi]
                span = self._answer_sentence(p, text, sent_scores)
                hits.append(Hit(p.number, float(fused[pi]), scores, p.full_text[span[0] : span[1]], span))
            out.append(Answer(text, "question", lang, hits))
        return out

    def _answer_sentence(self, p: Paragraph, query: str, sent_scores: np.ndarray | None) -> tuple[int, int]:
        """The sentence that best answers the query: dense cosine when available, plus term overlap."""
        if not p.sentences:
            return (0, len(p.full_text))
        from pipeline.text import normalize

        overlap = np.zeros(len(p.sentences))
        terms = _query_terms(query, self._analyzer)
        if terms:
            for i, s in enumerate(p.sentences):
                st = normalize(s.text).lower()
                overlap[i] = sum(w for t, w in terms if t in st) / sum(w for _, w in terms)
        score = overlap if sent_scores is None else np.asarray(sent_scores, dtype=np.float64) + 0.1 * overlap
        best = p.sentences[int(np.argmax(score))]
        return (best.start, best.end)

    def _lookup(self, query: str, r: Route, warnings: list[str]) -> Answer:
        lang = query_language(query)
        hits: list[Hit] = []
        if r.kind == "paragraph":
            for number, label in r.paragraphs:
                try:
                    p = self.corpus.paragraph(number)
                except KeyError as e:
                    warnings = [*warnings, e.args[0]]
                    continue
                span = (0, len(p.full_text))  # the paragraph itself, or the item asked for ("65(d)")
                if label is not None and (s := _item_sentence(p, label)) is not None:
                    span = s
                if any(h.paragraph == number for h in hits):
                    continue
                hits.append(Hit(number, 1.0, {"paragraph": 1.0}, p.full_text[span[0] : span[1]], span))
        else:
            for number, cites in cite(self.citations, r.identifiers):
                p = self.corpus.paragraph(number)
                span = _citation_sentence(p, cites[0])
                match = [{"text": c.text, "key": c.key, "where": c.where, "start": c.start, "end": c.end} for c in cites]
                answer = p.full_text[span[0] : span[1]] if span else next(
                    fn.text for fn in p.footnotes if cites[0].where == f"footnote:{fn.marker}"
                )
                hits.append(Hit(number, 1.0, {"citation": 1.0}, answer, span or (0, 0), match))
        return Answer(query, r.kind, lang, hits, warnings)


def _query_terms(query: str, analyzer: Any) -> list[tuple[str, float]]:
    """Query terms for sentence overlap: the analyzer's when loaded, else the query's words."""
    if analyzer is not None:
        try:
            return [(t.lower(), w) for t, w in analyzer.analyze_query(query) if len(t) > 1 or _RE_CJK.match(t)]
        except Exception:  # overlap is a tie-breaker; never fail an answer for it
            pass
    return [(w.lower(), 1.0) for w in re.findall(r"\w+", query)]


def _item_sentence(p: Paragraph, label: str) -> tuple[int, int] | None:
    for s in p.sentences:
        if s.text.startswith(f"({label})"):
            return (s.start, s.end)
    return None


def _citation_sentence(p: Paragraph, c: Citation) -> tuple[int, int] | None:
    """Span of the sentence holding a citation; None when it stands in a footnote."""
    if c.where.startswith("footnote"):
        return None
    offset = c.start
    if c.where.startswith("item:"):
        label = c.where.split(":", 1)[1]
        s = _item_sentence(p, label)
        if s is None:
            return None
        offset = s[0] + len(f"({label}) ") + c.start
    for s in p.sentences:
        if s.start <= offset < s.end:
            return (s.start, s.end)
    return None
