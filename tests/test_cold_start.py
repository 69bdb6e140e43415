"""A cold question loads only what it needs (issue 22, "Cold start"): checking the lexical index's freshness
loads no segmenter, jieba's prefix dictionary is read shard by shard (and cuts exactly as when loaded whole),
the translator's dictionary cache is unmarshalled shard by shard, and the lexical index loads and scores
without scipy."""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import scratch_home

from pipeline.analyze import Analyzer, _new_jieba, get_jieba, read_userdict
from pipeline.config import Config
from pipeline.lexical import BM25Index, merge
from pipeline.translate.cedict import ShardedMap


def _home(session_home: Path, dest: Path) -> Config:
    """A scratch home (the session's corpus and dictionary caches)."""
    return Config(root=scratch_home(session_home, dest))


def _full_jieba(cfg: Config) -> Any:
    """A jieba tokenizer loaded the old way: the whole prefix dictionary, then the user dictionary."""
    import jieba

    tk = jieba.Tokenizer()
    tk.tmp_dir, tk.cache_file = str(cfg.index_dir / "jieba"), "jieba.cache"
    tk.initialize()
    data, _ = read_userdict(cfg)
    if data is not None:
        tk.load_userdict(io.BytesIO(data))
    return tk


def _sharded(cfg: Config) -> Any:
    """A tokenizer over the saved shards (the first call saves them when the home has none yet)."""
    udict = read_userdict(cfg)
    tk = _new_jieba(cfg, *udict)
    if not hasattr(tk, "shards"):
        tk = _new_jieba(cfg, *udict)
    assert hasattr(tk, "shards"), "the shards were not saved"
    return tk


def test_the_sharded_dictionary_cuts_exactly_like_the_whole_one(cfg: Config, corpus: Any) -> None:
    lazy, full = _sharded(cfg), _full_jieba(cfg)
    text = "\n".join(p.text for p in corpus.paragraphs)
    assert lazy.lcut(text, HMM=False) == full.lcut(text, HMM=False)
    assert lazy.lcut(text, cut_all=True) == full.lcut(text, cut_all=True)
    rnd = random.Random(22)
    alphabet = sorted(set(text)) + list("ab1 .，")
    for _ in range(3000):
        s = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 10)))
        assert lazy.lcut(s, HMM=False) == full.lcut(s, HMM=False), s
    # and the dictionary it loaded piecemeal is the whole one, user words included
    lazy.shards.load_all()
    assert lazy.FREQ == full.FREQ and lazy.total == full.total


def test_a_query_loads_a_small_part_of_the_dictionary(cfg: Config) -> None:
    tk = _sharded(cfg)
    tk.lcut("伪药对患者有什么危害？", HMM=False)
    assert 0 < len(tk.FREQ) < 30_000  # of ~500,000 entries


def test_fingerprint_loads_no_segmenter() -> None:
    code = (
        "import sys; from pipeline.analyze import Analyzer; an = Analyzer(); fp = an.fingerprint(); "
        "print(sorted(fp), 'jieba' in sys.modules, an._tk is None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("]")[1].split() == ["False", "True"], out


def test_a_changed_user_dictionary_changes_the_fingerprint_and_the_shards(home: Path, tmp_path: Path) -> None:
    from pipeline.lexical import lexical_is_current

    cfg = _home(home, tmp_path)
    word = "赎金支付流程"
    before = Analyzer(cfg, translate=False)
    fp = before.fingerprint()
    assert word not in _sharded(cfg).lcut(f"{word}很长", HMM=False)
    with open(cfg.corpus_dir / "userdict.txt", "a", encoding="utf-8") as f:
        f.write(f"{word} 100000 n\n")
    after = Analyzer(cfg, translate=False)
    assert after.fingerprint()["userdict_sha256"] != fp["userdict_sha256"]
    assert before.fingerprint() == fp  # an analyzer keeps describing the dictionary it segments with
    assert word in after.tokenize(f"{word}很长") and word not in before.tokenize(f"{word}很长")
    assert word in _sharded(cfg).lcut(f"{word}很长", HMM=False)  # the shards were rebuilt for it
    # and an index built before the edit is stale for the new analyzer, current for the old one
    from pipeline.library import load_library

    library = load_library(cfg)
    doc = library.documents[0]
    from pipeline.build import ensure_lexical

    ensure_lexical(cfg, doc, before, library.key(doc))
    assert lexical_is_current(cfg, doc, before, library.key(doc))
    assert not lexical_is_current(cfg, doc, after, library.key(doc))


def test_damaged_shards_are_not_trusted(home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = _home(home, tmp_path)
    want = _sharded(cfg).lcut("海盗赎金索马里", HMM=False)
    path = cfg.index_dir / "jieba" / "prefix-shards.bin"
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    tk = _new_jieba(cfg, *read_userdict(cfg))
    assert not hasattr(tk, "shards") and "damaged" in caplog.text
    assert tk.lcut("海盗赎金索马里", HMM=False) == want
    assert _sharded(cfg).lcut("海盗赎金索马里", HMM=False) == want  # rebuilt


def test_a_cold_english_question_loads_no_whole_dictionary(lib: Config, seeded: Path) -> None:
    """Before the shards, checking the index's fingerprint loaded jieba's whole prefix dictionary (~500,000
    entries, about half a second), even for an English question; now only the shards of the translated
    Chinese terms' characters are read, and the global jieba tokenizer is never initialised."""
    get_jieba(lib)  # the home's shards exist (saved now if the session had none)
    code = """if True:
        import json, sys
        from pipeline.config import Config
        from pipeline.retrieve import Retriever
        r = Retriever.from_config(Config(root=sys.argv[1]))
        a = r.search("What did UNODC do against piracy off Somalia?", mode="lexical")
        import jieba
        tk = r.analyzer._tk
        print(json.dumps({"hits": len(a.hits), "global": jieba.dt.initialized,
                          "scipy": "scipy" in sys.modules, "entries": len(tk.FREQ) if tk is not None else 0,
                          "sharded": hasattr(tk, "shards")}))
    """
    done = subprocess.run(
        [sys.executable, "-c", code, str(lib.root)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["hits"] > 0 and got["global"] is False and got["scipy"] is False
    assert got["sharded"] is True and got["entries"] < 30_000, got


def test_sharded_map_is_a_dict() -> None:
    rnd = random.Random(5)
    d = {f"k{i}": (f"v{i}", rnd.random()) for i in range(2000)}
    m: ShardedMap[Any] = ShardedMap(ShardedMap.pack(d, 64))
    assert m.get("k7") == d["k7"] and m.get("nope") is None and m.get("nope", 3) == 3
    assert "k9" in m and "nope" not in m and 5 not in m
    assert m["k11"] == d["k11"]
    with pytest.raises(KeyError):
        m["nope"]
    assert len(m) == len(d) and dict(m) == d


def test_the_translator_unmarshals_only_what_a_query_needs(seeded: Path, tmp_path: Path) -> None:
    from pipeline.translate import Translator

    shutil.copytree(seeded / "corpus", tmp_path / "corpus")
    shutil.copytree(seeded / "indexes" / "translate", tmp_path / "indexes" / "translate")
    tr = Translator.load(Config(root=tmp_path))
    assert dict(tr.translate("ransom paid to pirates")).get("赎金") is not None
    assert tr.synonyms("假药")
    reverse, forward = tr._reverse, tr._forward
    assert isinstance(reverse, ShardedMap) and isinstance(forward, ShardedMap)
    loaded = sum(s is not None for s in reverse._shards) + sum(s is not None for s in forward._shards)
    assert 0 < loaded < 100  # of 2 x 512


def test_merge_equals_one_index_over_all_paragraphs() -> None:
    rnd = random.Random(3)
    words = [f"w{i}" for i in range(200)]
    docs = [[rnd.choice(words[: rnd.randint(3, 200)]) for _ in range(rnd.randint(1, 30))] for _ in range(90)]
    cuts = [0, 17, 18, 60, 90]
    parts = [BM25Index.build(docs[a:b], list(range(b - a))) for a, b in zip(cuts, cuts[1:])]
    merged = merge(parts, 1.2, 0.75, "lucene")
    whole = BM25Index.build(docs, list(range(len(docs))), k1=1.2, b=0.75)
    m, w = merged.tf, whole.tf[[whole.term_id[t] for t in merged.vocab]]
    assert sorted(merged.vocab) == sorted(whole.vocab) and (m != w).nnz == 0
    assert np.array_equal(merged.tf.indptr, w.indptr) and np.array_equal(merged.tf.indices, w.indices)
    for _ in range(20):
        q = [(rnd.choice(words), 1.0) for _ in range(4)]
        np.testing.assert_allclose(merged.scores(q), whole.scores(q), rtol=1e-12)


def test_a_question_of_known_words_loads_no_translator(cfg: Config, lexical_index: BM25Index) -> None:
    from pipeline.plan import Planner, route_query

    def plan(an: Analyzer, q: str) -> Any:
        planner = Planner(cfg, an, lexical_index.term_id, lexical_index.idf)
        return planner.plan(route_query(q, None, []))  # type: ignore[arg-type]

    known = Analyzer(cfg)
    assert plan(known, "海盗 赎金 索马里").synonyms == ()
    assert not known._translator_tried  # every word is in the index: nothing to pivot, no dictionary read
    unknown = Analyzer(cfg)
    assert plan(unknown, "假药的危害").synonyms and unknown._translator_tried
