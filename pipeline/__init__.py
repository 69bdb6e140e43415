"""Bilingual (Chinese/English) retrieval of numbered paragraphs in UN reports.

The public Python API::

    from pipeline import Retriever

    r = Retriever.from_config()                   # loads the library, indexes and model as first needed
    r.search("伪药对患者有什么危害？", k=3)          # -> Answer: ranked Hits (document, paragraph, citation,
                                                  #    answer sentence)
    r.search("piracy", docs=["CTOC/COP/2012/7"], lang="zh", parallel=True)
    r.search("CTOC/COP/2012/7 第 41 段")            # paragraph lookup by document
    r.lookup("resolution 65/230")                 # every citing paragraph of every document, in order
    r.search_many(["...", "..."], mode="lexical")  # a batch; a bad query gets Answer.error

    from pipeline import add_reports, remove_documents, load_library, build_all
    add_reports(Config(), ["report.en.txt"], symbol="CTOC/COP/2012/7")   # all or nothing
    for line in build_all(Config()): print(line)  # the retriever never builds: build does

Names are imported lazily (module ``__getattr__``), so ``import pipeline`` stays cheap and a paragraph lookup
never imports jieba or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pipeline.version import __version__

_EXPORTS = {
    "Retriever": "pipeline.retrieve",
    "MODES": "pipeline.plan",
    "Mode": "pipeline.plan",
    "QueryPlan": "pipeline.plan",
    "Config": "pipeline.config",
    "Answer": "pipeline.answer",
    "Hit": "pipeline.answer",
    "Corpus": "pipeline.corpus",
    "Paragraph": "pipeline.corpus",
    "MAX_K": "pipeline.retrieve",
    "load_corpus": "pipeline.library",
    "Library": "pipeline.library",
    "load_library": "pipeline.library",
    "add_reports": "pipeline.changes",
    "remove_documents": "pipeline.changes",
    "LibraryError": "pipeline.catalog",
    "build_all": "pipeline.build",
    "build_missing": "pipeline.build",
    "document_manifests": "pipeline.status",
    "index_manifests": "pipeline.status",
    "model_id": "pipeline.embed",
    "parse_queries": "pipeline.batch",
    "BadLine": "pipeline.batch",
    "BatchQuery": "pipeline.batch",
    "BatchInputError": "pipeline.batch",
    "EXIT_OK": "pipeline.errors",
    "EXIT_INDEX": "pipeline.errors",
    "UserError": "pipeline.errors",
    "PipelineError": "pipeline.errors",
    "QueryError": "pipeline.errors",
    "ConfigError": "pipeline.errors",
    "MissingIndexError": "pipeline.errors",
    "StaleIndexError": "pipeline.errors",
    "CorruptIndexError": "pipeline.errors",
    "ModelError": "pipeline.errors",
}

__all__ = [
    "__version__",
    "add_reports",
    "Answer",
    "BadLine",
    "BatchInputError",
    "BatchQuery",
    "build_all",
    "build_missing",
    "Config",
    "ConfigError",
    "Corpus",
    "CorruptIndexError",
    "document_manifests",
    "EXIT_INDEX",
    "EXIT_OK",
    "Hit",
    "index_manifests",
    "Library",
    "LibraryError",
    "load_corpus",
    "load_library",
    "MAX_K",
    "MissingIndexError",
    "Mode",
    "model_id",
    "ModelError",
    "MODES",
    "Paragraph",
    "parse_queries",
    "PipelineError",
    "QueryError",
    "QueryPlan",
    "remove_documents",
    "Retriever",
    "StaleIndexError",
    "UserError",
]  # every name of _EXPORTS, and the version (tests/test_retrieve.py checks they agree)

if TYPE_CHECKING:
    from pipeline.answer import Answer, Hit
    from pipeline.batch import BadLine, BatchInputError, BatchQuery, parse_queries
    from pipeline.build import build_all, build_missing
    from pipeline.catalog import LibraryError
    from pipeline.changes import add_reports, remove_documents
    from pipeline.config import Config
    from pipeline.corpus import Corpus, Paragraph
    from pipeline.embed import model_id
    from pipeline.errors import (
        EXIT_INDEX,
        EXIT_OK,
        ConfigError,
        CorruptIndexError,
        MissingIndexError,
        ModelError,
        PipelineError,
        QueryError,
        StaleIndexError,
        UserError,
    )
    from pipeline.library import Library, load_corpus, load_library
    from pipeline.plan import MODES, Mode, QueryPlan
    from pipeline.retrieve import MAX_K, Retriever
    from pipeline.status import document_manifests, index_manifests


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
