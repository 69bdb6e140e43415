"""Passage vectors that depend only on their text, and the embedding cache that outlives the reports.

Fast tests use the fake embedder (counting what it embeds); slow ones the converted model: a text's vector
is the same alone, in any batch and in any order, and ``add`` A, ``add --replace`` B, ``add --replace`` A
gives a dense index bitwise equal to a from-scratch build of A.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import DEV, FIREARMS, FakeEmbedder, scratch_home

from pipeline.changes import add_reports, remove_documents
from pipeline.config import Config
from pipeline.models.embedcache import EmbeddingStore

FIREARMS_SYMBOL = "CTOC/COP/2014/5"


def _segments(cfg: Config, emb: Any) -> list[Path]:
    d = EmbeddingStore(cfg.index_dir, emb.identity).directory
    return sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_remove_then_add_embeds_nothing(lib: Config) -> None:
    emb = FakeEmbedder()
    add_reports(lib, [FIREARMS], embedder=emb)
    first = len(emb.calls)
    assert first > 0
    remove_documents(lib, FIREARMS_SYMBOL)
    add_reports(lib, [FIREARMS], embedder=emb)  # remove's folders are deleted by this change: the cache stays
    assert len(emb.calls) == first  # embedded 0 texts


@pytest.mark.parametrize("name", ["vectors.npy", "keys.json", "manifest.json"])
def test_a_damaged_cache_segment_is_ignored_and_re_embedded(
    lib: Config, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    emb = FakeEmbedder()
    add_reports(lib, [FIREARMS], embedder=emb)
    first = list(emb.calls)
    remove_documents(lib, FIREARMS_SYMBOL)
    for seg in _segments(lib, emb):
        with open(seg / name, "r+b") as f:
            f.seek(min(40, seg.joinpath(name).stat().st_size - 8))
            f.write(b"\x00garbage")
    emb.calls.clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.models.embedcache"):
        add_reports(lib, [FIREARMS], embedder=emb)
    assert sorted(emb.calls) == sorted(first)  # everything embedded again, nothing damaged used
    assert "embedding cache: ignoring" in caplog.text
    from pipeline.dense import load_dense_indexes
    from pipeline.library import load_library

    index = load_dense_indexes(lib, load_library(lib).keyed(), emb.identity)
    assert np.all(np.isfinite(index.paragraphs))


def test_force_does_not_read_the_cache(lib: Config) -> None:
    from pipeline.dense import build_dense_index
    from pipeline.library import load_library

    emb = FakeEmbedder()
    library = load_library(lib)
    doc, key = library.keyed()[0]
    index = build_dense_index(lib, doc, emb, force=True, key=key)
    assert index.embedded == len(emb.calls) > 0


def test_collection_keeps_what_is_in_use_and_drops_the_rest(tmp_path: Path) -> None:
    emb = FakeEmbedder()
    store = EmbeddingStore(tmp_path, emb.identity)
    store.append(["a", "b"], np.ones((2, 4), np.float32))
    store.append(["c"], np.ones((1, 4), np.float32))
    other = EmbeddingStore(tmp_path, FakeEmbedder(name="fake-v2").identity)
    other.append(["a"], np.ones((1, 4), np.float32))
    (store.directory / ".seg-x.123.tmp").mkdir()  # a leftover of an interrupted write
    assert store.collect({"a"}) == [store.directory / ".seg-x.123.tmp"]  # young: all kept
    assert set(store.lookup(["a", "b", "c"])) == {"a", "b", "c"}
    later = time.time() + 31 * 86400
    removed = store.collect({"a"}, now=later)
    assert len(removed) == 2 and not other.directory.exists()  # "c" and the other embedder's segment
    assert set(store.lookup(["a", "b", "c"])) == {"a", "b"}
    store.append(["d"], np.ones((1, 4), np.float32))
    assert len(store.collect({"a"}, max_mb=0)) == 1  # over the bound: unused ones go, in use ones stay
    assert set(store.lookup(["a", "b", "d"])) == {"a", "b"}


def test_collection_deletes_a_damaged_segment(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path, FakeEmbedder().identity)
    store.append(["a"], np.ones((1, 4), np.float32))
    [seg] = [p for p in store.directory.iterdir() if not p.name.startswith(".")]
    (seg / "vectors.npy").write_bytes(b"not numpy")
    assert store.lookup(["a"]) == {}
    assert store.collect({"a"}) == [seg]


def test_build_reports_and_collects(lib: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """``pipeline build`` marks the segments its indexes use and drops the rest after 30 days."""
    import pipeline.build as b
    import pipeline.embed as e

    emb = FakeEmbedder()
    add_reports(lib, [FIREARMS], embedder=emb)
    remove_documents(lib, FIREARMS_SYMBOL)
    for seg in _segments(lib, emb):
        os.utime(seg / "manifest.json", (time.time() - 40 * 86400,) * 2)
    monkeypatch.setattr(b, "ensure_model", lambda cfg, force=False: None, raising=False)
    monkeypatch.setattr("pipeline.models.convert.ensure_model", lambda cfg, force=False: Path("m"))
    monkeypatch.setattr(e, "PassageEmbedder", lambda cfg, verify="full": emb)
    monkeypatch.setattr(e, "ensure_query_graph", lambda cfg, force=False: (None, "skipped: no model"))
    lines = list(b._build_dense(lib, b.load_library(lib), False))
    assert any("embedding cache: removed 1 " in line for line in lines), lines
    assert len(_segments(lib, emb)) == 1  # the library's own report's segment, in use


def test_auto_dtype_is_float32_on_every_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectors (and the thresholds measured on them) must not depend on the CPU that embedded them."""
    from pipeline import embed

    monkeypatch.delenv("PIPELINE_EMBED_DTYPE", raising=False)
    assert embed.resolve_dtype() == "float32"
    monkeypatch.setenv("PIPELINE_EMBED_DTYPE", "bfloat16")
    assert embed.resolve_dtype() == "bfloat16"  # asked for explicitly
    with pytest.raises(ValueError):
        embed.resolve_dtype("float16")


def test_identity_names_dtype_and_batching(lib: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline import embed

    monkeypatch.setattr(embed, "model_identity", lambda cfg, verify="stat": {"model": "m"})
    monkeypatch.setenv("PIPELINE_EMBED_DTYPE", "float32")
    ident = embed.embedder_identity(lib)
    assert ident["passage_dtype"] == "float32" and ident["passage_batching"] == embed.PASSAGE_BATCHING
    monkeypatch.setenv("PIPELINE_EMBED_DTYPE", "bfloat16")
    assert embed.embedder_identity(lib)["passage_dtype"] == "bfloat16"


# ---------------------------------------------------------------------------- slow: the real model


@pytest.fixture(scope="module")
def real_embedder(model_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pipeline.embed import PassageEmbedder

    cfg = Config(root=tmp_path_factory.mktemp("emb"), model=str(model_home))
    return PassageEmbedder(cfg)


@pytest.mark.slow
def test_a_vector_does_not_depend_on_its_batch(real_embedder: Any, home: Path) -> None:
    from pipeline.dense import corpus_texts
    from pipeline.library import load_corpus

    _, pt, _, st = corpus_texts(load_corpus(Config(root=home)))
    texts = list(dict.fromkeys(pt + st))
    full = real_embedder.encode(texts)
    np.testing.assert_array_equal(real_embedder.encode(texts[::-1]), full[::-1])
    np.testing.assert_array_equal(real_embedder.encode(texts[1::3]), full[1::3])
    for i in (0, 7, 100):
        np.testing.assert_array_equal(real_embedder.encode([texts[i]])[0], full[i])


@pytest.mark.slow
def test_replace_and_back_gives_the_from_scratch_index(
    real_embedder: Any, home: Path, tmp_path: Path, model_home: Path
) -> None:
    """Item 3 of the hostile run: add A, --replace B, --replace A (byte-identical) = a from-scratch A."""
    from pipeline.build import ensure_dense
    from pipeline.dense import load_dense_indexes
    from pipeline.embed import QueryEncoder
    from pipeline.evaluate import load_qrels
    from pipeline.library import load_library

    def dense_of(cfg: Config) -> Any:
        return load_dense_indexes(cfg, load_library(cfg).keyed(), real_embedder.identity)

    scratch = Config(root=scratch_home(home, tmp_path / "scratch"), model=str(model_home))
    doc, key = load_library(scratch).keyed()[0]
    ensure_dense(scratch, doc, key, real_embedder, force=True)
    ref = dense_of(scratch)

    h = Config(root=scratch_home(home, tmp_path / "h"), model=str(model_home))
    entry = load_library(h).entries[0]
    original = h.corpus_dir / entry.file
    a = tmp_path / "a" / entry.file
    a.parent.mkdir()
    shutil.copy(original, a)
    text = a.read_text(encoding="utf-8")
    b = tmp_path / "b" / entry.file
    b.parent.mkdir()
    b.write_text(text.replace("海盗", "海上劫掠者").replace("打击", "遏制"), encoding="utf-8")
    ensure_dense(h, *load_library(h).keyed()[0], real_embedder)  # A, embedded in this home
    add_reports(h, [b], embedder=real_embedder, replace=True, symbol=entry.symbol)
    change = add_reports(h, [a], embedder=real_embedder, replace=True, symbol=entry.symbol)
    assert change.entries  # A really came back
    got = dense_of(h)
    np.testing.assert_array_equal(np.asarray(got.paragraphs), np.asarray(ref.paragraphs))
    np.testing.assert_array_equal(np.asarray(got.sentences), np.asarray(ref.sentences))
    # and without the embedding cache: A's edited texts are embedded again, in a batch of their own
    shutil.rmtree(h.index_dir / "embeddings")
    add_reports(h, [b], embedder=real_embedder, replace=True, symbol=entry.symbol)
    add_reports(h, [a], embedder=real_embedder, replace=True, symbol=entry.symbol)
    again = dense_of(h)
    np.testing.assert_array_equal(np.asarray(again.paragraphs), np.asarray(ref.paragraphs))
    np.testing.assert_array_equal(np.asarray(again.sentences), np.asarray(ref.sentences))
    encoder = QueryEncoder(h)
    queries = [q.query for q in load_qrels(DEV)][::25]
    for q in encoder.encode(queries):
        assert [x.number for x in again.search(q, 3)] == [x.number for x in ref.search(q, 3)]
