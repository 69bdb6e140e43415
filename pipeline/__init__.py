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

    from pipeline import add_reports, remove_documents, load_library
    add_reports(Config(), ["report.en.txt"], symbol="CTOC/COP/2012/7")   # all or nothing

Names are imported lazily (module ``__getattr__``), so ``import pipeline`` stays cheap and a paragraph lookup
never imports jieba or torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

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
    "load_corpus": "pipeline.library",
    "Library": "pipeline.library",
    "load_library": "pipeline.library",
    "add_reports": "pipeline.library",
    "remove_documents": "pipeline.library",
    "LibraryError": "pipeline.library",
    "build_all": "pipeline.build",
    "PipelineError": "pipeline.errors",
    "QueryError": "pipeline.errors",
    "ConfigError": "pipeline.errors",
    "MissingIndexError": "pipeline.errors",
    "StaleIndexError": "pipeline.errors",
    "CorruptIndexError": "pipeline.errors",
    "ModelError": "pipeline.errors",
}

__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:
    from pipeline.answer import Answer, Hit
    from pipeline.build import build_all
    from pipeline.config import Config
    from pipeline.corpus import Corpus, Paragraph
    from pipeline.errors import (
        ConfigError,
        CorruptIndexError,
        MissingIndexError,
        ModelError,
        PipelineError,
        QueryError,
        StaleIndexError,
    )
    from pipeline.library import load_corpus
    from pipeline.library import Library, LibraryError, add_reports, load_library, remove_documents
    from pipeline.plan import MODES, Mode, QueryPlan
    from pipeline.retrieve import Retriever


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
