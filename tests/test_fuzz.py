"""Property-based tests: whatever text arrives, the router, the citation parser, the analyzer, the query
cleaner and the batch readers answer or refuse clearly — they never raise anything else.

Text strategies mix arbitrary Unicode (surrogates, control and format characters, RTL marks, private use)
with the pieces the parsers look for (digits, full-width digits, 第/段/号决议, "paragraph", "/", parentheses),
so the interesting branches are reached, not just the "nothing recognised" one.
"""

from __future__ import annotations

import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.batch import read_queries
from pipeline.cite import CitationIndex, parse_paragraph_reference, route
from pipeline.errors import PipelineError, QueryError, UserError
from pipeline.identifiers import find_identifiers
from pipeline.plan import clean_query

PIECES = [
    "第",
    "段",
    "号决议",
    "号决定",
    "条",
    "paragraph",
    "paras",
    "para.",
    "¶",
    "§",
    "resolution",
    "decision",
    "article",
    "S/",
    "CTOC/COP/",
    "WG.3/",
    "65/230",
    "1851 (2008)",
    "(d)",
    "(z)",
    "-",
    "–",
    "至",
    "到",
    "to",
    "and",
    "、",
    "，",
    "０１２３",
    "４１",
    "四十一",
    "六十五",
    "一百",
    "999",
    "0",
    "17-15",
    " ",
    "\n",
    "\t",
    "\u200b",
    "\ufeff",
    "\u202e",
    "\u200f",
    "\x1b[31m",
    "\x00",
    "\ud800",
    "\udcff",
    "\ue000",
    "😀",
    "％",
    "万",
    "亿",
    "1,167",
    "1.7",
    "。",
    "？",
]
ANY_CHAR = st.characters(exclude_categories=())  # every code point, surrogates included
TEXT = st.lists(st.one_of(st.sampled_from(PIECES), st.text(ANY_CHAR, max_size=6)), max_size=12).map("".join)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def citations(corpus):
    return CitationIndex.build(corpus)


@FUZZ
@given(TEXT)
def test_identifiers_are_spans_of_the_text(text):
    found = find_identifiers(text)
    for a, b in zip(found, found[1:]):
        assert a.end <= b.start
    for ident in found:
        assert 0 <= ident.start < ident.end <= len(text) and ident.key


@FUZZ
@given(TEXT)
def test_router_answers_or_refuses_clearly(citations, text):
    try:
        refs = parse_paragraph_reference(text)
        r = route(text, citations)
    except QueryError as e:
        assert "range" in str(e)
        return
    assert r.kind in ("paragraph", "citation", "question")
    if refs is not None:
        assert all(isinstance(n, int) and n >= 0 for n, _ in refs)


@FUZZ
@given(TEXT)
def test_query_cleaner_never_lets_garbage_through(text):
    try:
        q, warnings = clean_query(text, 1000)
    except QueryError:
        return
    assert q == q.strip() and q and len(q) <= 1000
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in q)  # surrogates are replaced, with a warning
    assert all(isinstance(w, str) for w in warnings)


@FUZZ
@given(TEXT)
def test_analyzer_tokenizes_anything(analyzer, text):
    tokens = analyzer.tokenize(text)
    assert all(isinstance(t, str) and t for t in tokens)
    terms = analyzer.analyze_query(text)
    assert all(w > 0 for _, w in terms)


@FUZZ
@given(TEXT)
def test_retriever_answers_or_refuses(fast_retriever, text):
    try:
        ans = fast_retriever.search(text, k=3, mode="hybrid")
    except QueryError:
        return
    assert ans.route in ("paragraph", "citation", "document", "question")
    assert all(1 <= h.paragraph <= 65 for h in ans.hits)


def test_very_long_and_odd_queries(fast_retriever, analyzer):
    long = ("海盗赎金 ransom 第 65/230 号决议 " * 5000)[:100_000]
    ans = fast_retriever.search(long, k=2)
    assert "truncated" in ans.warnings[0] and len(ans.query) <= 1000
    assert analyzer.tokenize(long)
    for q in (
        "\u202e第 41 段\u202c",
        "ｐａｒａｇｒａｐｈ　４１",
        "第４１段",
        "¶¶17",
        "para 0",
        "paragraph 66",
        "第 0 段",
    ):
        try:
            fast_retriever.search(q)
        except QueryError:
            pass


LINE = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.builds(
        lambda q, i: '{"id": %s, "query": %s}' % (i, q),
        st.sampled_from(['"a"', "1", "null", "[]", '"\\ud800"', "9" * 50]),
        st.sampled_from(['"海盗"', '"\\ud800 x"', "1", "null", '""', '"第 41 段"', "[" * 50]),
    ),
    st.sampled_from(
        ['"unterminated', "id,query", "query,query", '{"query": "x"', "\x00\x01", "\u2028", "\x0c"]
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(LINE, max_size=8),
    st.sampled_from(["jsonl", "csv", "text"]),
    st.sampled_from(["utf-8", "utf-8-sig", "raw"]),
)
def test_batch_readers_never_crash(lines, fmt, encoding):
    body = "\n".join(lines)
    raw = (
        body.encode("utf-8", "surrogatepass") if encoding == "raw" else body.encode(encoding, "surrogatepass")
    )
    fd, path = tempfile.mkstemp(suffix=f".{fmt}")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        try:
            good, bad = read_queries(path, fmt)
        except UserError:
            return
        for q in good:
            assert isinstance(q.query, str) and q.query.strip() and q.line >= 1
            assert not any(0xD800 <= ord(c) <= 0xDFFF for c in q.query)
        for b in bad:
            assert b.line >= 1 and b.message
    finally:
        os.unlink(path)


def test_errors_are_pipeline_errors():
    assert issubclass(QueryError, PipelineError) and issubclass(UserError, PipelineError)
