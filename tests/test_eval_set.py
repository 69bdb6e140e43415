"""Checks on the development evaluation set (corpus/eval/dev.jsonl) and the demo's sample questions.

The paragraph splitter here is deliberately self-contained (it does not import the pipeline), so the
qrels are checked against the raw text rather than against the code under evaluation.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus" / "ctoc-cop-2012-7.zh.txt"
DEV = ROOT / "corpus" / "eval" / "dev.jsonl"
SAMPLES = ROOT / "corpus" / "sample-questions.jsonl"

N_PARAS = 65
LANGS = {"zh", "en"}
KINDS = {"question", "paraphrase", "reference", "paragraph"}
REQUIRED = {"id", "query", "relevant", "lang", "kind"}

# Resolution/decision numbers ("65/230", "2011/33", "1851 (2008)") and document symbols
# ("S/2009/146", "CTOC/COP/WG.3/4", "UNODC/CCPCJ/EG.1/2012/4"), matched after removing whitespace.
SYMBOL_RE = re.compile(r"(?<![A-Za-z0-9./])(?:[A-Z]+/)+[A-Z0-9.]+(?:/[A-Z0-9.]+)*(?![A-Za-z0-9/])")
RES_YEAR_RE = re.compile(r"(?<!\d)(\d{3,4})\s*\((\d{4})\)")
RES_SLASH_RE = re.compile(r"(?<![\d/A-Za-z.])(\d{1,4}/\d{1,4})(?![\d/])")
ARTICLE_RE = re.compile(r"(?:第\s*(\d+)\s*条|\barticle\s+(\d+))", re.IGNORECASE)

# Words the report itself uses for its topics; "paraphrase" queries must avoid them.
REPORT_TOPIC_WORDS = [
    "伪药",
    "网络犯罪",
    "海盗",
    "毒品和犯罪问题办公室",
    "文化财产",
    "贩运器官",
    "器官贩运",
    "野生动物犯罪",
    "环境罪",
]


def split_paragraphs(raw: str) -> dict[int, str]:
    """Paragraph N starts at a line "N. " where N is the next expected number; footnote 1 goes to 17."""
    starts = []
    expected = 1
    for m in re.finditer(r"(?m)^(\d+)\. ", raw):
        if int(m.group(1)) == expected:
            starts.append(m.start())
            expected += 1
    paras = {}
    for i, s in enumerate(starts):
        e = starts[i + 1] if i + 1 < len(starts) else len(raw)
        paras[i + 1] = raw[s:e]
    # Footnote 1 is printed inside paragraph 23 (page bottom) but is called from paragraph 17.
    fn = re.search(r"\n[ \t]*1 [^\n]*", paras[23])
    assert fn is not None, "footnote 1 not found in paragraph 23"
    paras[23] = paras[23][: fn.start()] + paras[23][fn.end() :]
    paras[17] = paras[17] + fn.group(0)
    return paras


@pytest.fixture(scope="module")
def paras() -> dict[int, str]:
    p = split_paragraphs(CORPUS.read_text(encoding="utf-8"))
    assert sorted(p) == list(range(1, N_PARAS + 1))
    return {k: re.sub(r"\s+", "", v) for k, v in p.items()}


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    out = []
    for n, line in enumerate(DEV.read_text(encoding="utf-8").splitlines(), 1):
        assert line.strip(), f"blank line {n}"
        out.append(json.loads(line))
    return out


def test_splitter_sanity(paras):
    assert paras[1].startswith("1.《联合国打击跨国有组织犯罪公约》缔约方会议")
    assert "S/2012/50" in paras[17] and "S/2012/50" not in paras[23]
    assert "1,167名索马里人" in paras[23]
    assert paras[65].startswith("65.缔约方会议不妨")


def test_schema(rows):
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate ids"
    queries = [r["query"].strip() for r in rows]
    assert len(queries) == len(set(queries)), "duplicate queries"
    for r in rows:
        assert set(r) == REQUIRED, r
        assert isinstance(r["id"], str) and re.fullmatch(r"dev-\d{3}", r["id"]), r
        assert isinstance(r["query"], str) and r["query"].strip(), r
        assert r["lang"] in LANGS, r
        assert r["kind"] in KINDS, r
        rel = r["relevant"]
        assert isinstance(rel, list) and rel, r
        assert all(type(p) is int and 1 <= p <= N_PARAS for p in rel), r
        assert rel == sorted(set(rel)), r


def test_counts(rows):
    c = Counter((r["lang"], r["kind"]) for r in rows)
    zh_q = c["zh", "question"] + c["zh", "paraphrase"]
    assert zh_q >= 60
    assert c["zh", "paraphrase"] * 3 >= zh_q
    assert c["en", "question"] >= 60
    assert c["en", "paraphrase"] == 0
    refs = sum(v for (lang, kind), v in c.items() if kind in ("reference", "paragraph"))
    assert refs >= 30


def test_language_matches_script(rows):
    for r in rows:
        if r["kind"] in ("question", "paraphrase"):
            has_han = re.search(r"[\u4e00-\u9fff]", r["query"]) is not None
            assert has_han == (r["lang"] == "zh"), r


def test_paraphrases_avoid_report_words(rows):
    for r in rows:
        if r["kind"] == "paraphrase":
            hits = [w for w in REPORT_TOPIC_WORDS if w in r["query"]]
            assert not hits, (r, hits)


def test_every_paragraph_is_a_question_target(rows):
    targets = {p for r in rows if r["kind"] in ("question", "paraphrase") for p in r["relevant"]}
    assert targets == set(range(1, N_PARAS + 1))


def _citations(query: str) -> list[str]:
    """Citation strings (whitespace-free) a reference query names: symbols, resolution numbers."""
    q = query
    found = []
    for m in SYMBOL_RE.finditer(q):
        found.append(m.group(0))
        q = q.replace(m.group(0), " ")
    for m in RES_YEAR_RE.finditer(q):
        found.append(f"{m.group(1)}({m.group(2)})")
        q = q.replace(m.group(0), " ")
    found += RES_SLASH_RE.findall(q)
    return found


def _paras_citing(paras: dict[int, str], cite: str) -> list[int]:
    pat = re.compile(r"(?<![\d/A-Za-z.])" + re.escape(cite) + r"(?![\d/])")
    return [k for k, v in paras.items() if pat.search(v)]


def test_reference_citations_occur_in_listed_paragraphs(paras, rows):
    checked = 0
    for r in rows:
        if r["kind"] != "reference":
            continue
        for cite in _citations(r["query"]):
            citing = _paras_citing(paras, cite)
            for p in r["relevant"]:
                assert p in citing, (r, cite, citing)
            # and no citing paragraph is missing
            assert citing == r["relevant"], (r, cite, citing)
            checked += 1
    assert checked >= 20


def test_article_references(paras, rows):
    for r in rows:
        if r["kind"] != "reference":
            continue
        m = ARTICLE_RE.search(r["query"])
        if not m:
            continue
        num = m.group(1) or m.group(2)
        citing = [k for k, v in paras.items() if f"第{num}条" in v]
        for p in r["relevant"]:
            assert p in citing, (r, citing)
        if "议定书" not in r["query"] and "Protocol" not in r["query"]:
            # Convention articles: every citing paragraph except the Protocol's article 3 (paragraph 54)
            assert r["relevant"] == [p for p in citing if p != 54], (r, citing)


def test_every_reference_query_is_checked(rows):
    for r in rows:
        if r["kind"] == "reference":
            assert _citations(r["query"]) or ARTICLE_RE.search(r["query"]), r


def test_sample_questions(rows):
    lines = SAMPLES.read_text(encoding="utf-8").splitlines()
    samples = [json.loads(line) for line in lines]
    assert len(samples) == 8
    assert len({s["id"] for s in samples}) == 8
    dev_queries = {r["query"].strip().lower() for r in rows}
    for s in samples:
        assert set(s) == {"id", "query"}, s
        assert s["query"].strip() and s["query"].strip().lower() not in dev_queries, s
    zh = [s for s in samples if re.search(r"[\u4e00-\u9fff]", s["query"])]
    assert len(zh) == 3
