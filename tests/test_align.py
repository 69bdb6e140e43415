"""Sentence alignment of a paragraph's language versions (:mod:`pipeline.align`).

The measured part: an English version of CTOC/COP/2012/7 written for this (``tests/data/align/``, its 65
paragraphs translated by hand, with gold beads: 1–1 mostly, 1–2 and 2–1 where the translation splits or
merges, two longer ones), added to the session's library with the real model; the aligner is scored against
the gold beads (strict: a bead counts when both its sides are exactly the gold's) and on what the product
uses it for: the English sentences it gives as the counterpart of each Chinese sentence.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from support import SYNTHETIC_SYMBOL, library_retriever

from pipeline.align import Bead, align, counterpart
from pipeline.server import create_app

DATA = Path(__file__).parent / "data" / "align"
SYMBOL = "CTOC/COP/2012/7"


def _unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _norm(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


# --- the dynamic programme --------------------------------------------------------------------------------


def test_a_faithful_translation_aligns_one_to_one() -> None:
    rng = np.random.default_rng(1)
    src = _unit(rng, 6)
    tgt = _norm(src + 0.2 * _unit(rng, 6))
    beads = align(src, tgt, [40, 10, 30, 25, 60, 20], [120, 35, 90, 70, 170, 66])
    assert [(b.source, b.target) for b in beads] == [((i,), (i,)) for i in range(6)]


def test_a_split_sentence_becomes_a_one_to_two_bead() -> None:
    rng = np.random.default_rng(2)
    src = _unit(rng, 4)
    a, b = _unit(rng, 2)
    src[1] = _norm(a + b)  # source sentence 1 says what target sentences 1 and 2 say
    tgt = np.stack([src[0], a, b, src[2], src[3]])
    beads = align(src, tgt, [30, 60, 30, 30], [90, 90, 90, 90, 90])
    assert [(b.source, b.target) for b in beads] == [((0,), (0,)), ((1,), (1, 2)), ((2,), (3,)), ((3,), (4,))]
    assert counterpart(beads, [1]) == [1, 2]
    # and the other way round: two source sentences merged into one target sentence
    back = align(tgt, src, [90, 90, 90, 90, 90], [30, 60, 30, 30])
    assert ((1, 2), (1,)) in [(b.source, b.target) for b in back]


def test_a_sentence_with_no_counterpart_is_skipped_not_forced() -> None:
    rng = np.random.default_rng(3)
    src = _unit(rng, 3)
    extra = _unit(rng, 1)
    tgt = np.stack([src[0], extra[0], src[1], src[2]])  # the target adds a sentence of its own
    beads = align(src, tgt, [20, 20, 20], [60, 60, 60, 60])
    assert Bead((), (1,), beads[1].score) in beads
    assert counterpart(beads, [0]) == [0] and counterpart(beads, [1]) == [2]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 7), st.integers(0, 7), st.integers(0, 2**32 - 1))
def test_every_sentence_is_in_exactly_one_bead_in_order(n: int, m: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, 200, n + m).tolist()
    beads = align(_unit(rng, n), _unit(rng, m), lens[:n], lens[n:])
    assert [i for b in beads for i in b.source] == list(range(n))
    assert [j for b in beads for j in b.target] == list(range(m))
    assert all(b.source or b.target for b in beads)


# --- what the retriever and the API give (library with A/TEST/2030/1 in zh and en, fake embedder) --------


@pytest.fixture(scope="module")
def versions_retriever(library_home_ro: Path) -> Any:
    return library_retriever(library_home_ro)


def test_a_questions_hit_carries_its_versions_alignment_and_answer(versions_retriever: Any) -> None:
    answer = versions_retriever.search(
        "网络诈骗调查培训了多少调查员？", k=5, docs=[SYNTHETIC_SYMBOL], parallel=True
    )
    checked = 0
    for h in answer.hits:
        p = versions_retriever.library.find(h.document, h.lang, h.paragraph, h.part)
        for v in h.parallel or []:
            q = versions_retriever.library.find(h.document, v["lang"], h.paragraph, h.part)
            beads = v["alignment"]
            # the beads cover both texts' sentences in order, as spans of the two texts
            assert [b["source"] for b in beads if b["source"]] == _bead_spans(p, beads, "source")
            assert [b["target"] for b in beads if b["target"]] == _bead_spans(q, beads, "target")
            if h.answer_span != (0, len(h.text)):
                a, b = v["answer_span"]
                assert v["answer"] == v["text"][a:b] and 0 <= a < b <= len(v["text"])
                checked += 1
    assert checked


def _bead_spans(p: Any, beads: list[dict[str, Any]], side: str) -> list[list[int]]:
    """The spans the beads must have: consecutive sentences of ``p``, in order, every sentence once."""
    out, i = [], 0
    for b in beads:
        if b[side]:
            start = i
            while p.sentences[i].end < b[side][1]:
                i += 1
            out.append([p.sentences[start].start, p.sentences[i].end])
            i += 1
    assert i == len(p.sentences)
    return out


def test_a_lookup_shows_the_versions_without_an_answer(versions_retriever: Any) -> None:
    answer = versions_retriever.search(f"{SYNTHETIC_SYMBOL} para. 2", parallel=True)
    assert answer.route == "paragraph" and answer.hits
    for v in answer.hits[0].parallel or []:
        assert "alignment" in v and "answer" not in v


def test_the_api_gives_the_same_versions(versions_retriever: Any) -> None:
    client = TestClient(create_app(versions_retriever))
    q = "How many investigators were trained in online fraud investigation?"
    got = client.get("/api/search", params={"q": q, "doc": SYNTHETIC_SYMBOL, "parallel": "true"})
    assert got.status_code == 200, got.text
    want = versions_retriever.search(q, docs=[SYNTHETIC_SYMBOL], parallel=True).to_dict()
    assert [r["parallel"] for r in got.json()["results"]] == [r["parallel"] for r in want["results"]]
    assert any(v.get("answer") for r in got.json()["results"] for v in r["parallel"])


# --- measured on the written test pair (real model) --------------------------------------------------------


@pytest.fixture(scope="module")
def pair(home: Path, retriever: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The session's library (its real dense index) plus the English version, embedded by the real model."""
    from pipeline.changes import add_reports
    from pipeline.config import Config
    from pipeline.retrieve import Retriever

    retriever.dense  # the Chinese version's dense index is built in the session home
    dest = tmp_path_factory.mktemp("align") / "home"
    shutil.copytree(home / "corpus", dest / "corpus")
    shutil.copytree(home / "indexes", dest / "indexes", copy_function=os.link)  # written anew, never in place
    cfg = Config(root=dest)
    add_reports(cfg, [DATA / "ctoc-cop-2012-7.en.txt"], symbol=SYMBOL)
    return Retriever.from_config(cfg)


def _gold() -> list[tuple[int, set[tuple[tuple[int, ...], tuple[int, ...]]], list[str]]]:
    out = []
    for line in (DATA / "ctoc-cop-2012-7.gold.jsonl").read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        beads, k, sentences = set(), 0, []
        for zh, en in r["beads"]:
            beads.add((tuple(zh), tuple(range(k, k + len(en)))))
            k += len(en)
            sentences += en
        out.append((r["paragraph"], beads, sentences))
    return out


def _score(pair: Any, beads_of: Any) -> tuple[float, float]:
    """(strict bead F1, share of Chinese sentences whose English counterpart is the gold's)."""
    lib = pair.library
    tp = fp = fn = right = total = 0
    for n, want, _ in _gold():
        p, q = lib.find(SYMBOL, "zh", n), lib.find(SYMBOL, "en", n)
        beads = beads_of(p, q)
        got = {(b.source, b.target) for b in beads}
        tp, fp, fn = tp + len(got & want), fp + len(got - want), fn + len(want - got)
        for i in range(len(p.sentences)):
            total += 1
            right += counterpart(beads, [i]) == sorted({t for s, ts in want if i in s for t in ts})
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall), right / total


@pytest.mark.slow
def test_the_english_version_parses_into_the_gold_sentences(pair: Any) -> None:
    lib = pair.library
    for n, _, sentences in _gold():
        assert [s.text for s in lib.find(SYMBOL, "en", n).sentences] == sentences, n
    assert len(_gold()) == len(lib.document(SYMBOL, "zh").paragraphs) == 65


@pytest.mark.slow
def test_alignment_on_the_written_pair(pair: Any) -> None:
    f1, right = _score(pair, pair.aligner.beads)
    # the same programme with every cosine equal: sentence lengths alone (Gale & Church's evidence)
    lengths_only = _score(
        pair,
        lambda p, q: align(
            np.ones((len(p.sentences), 1), np.float32),
            np.ones((len(q.sentences), 1), np.float32),
            [s.end - s.start for s in p.sentences],
            [s.end - s.start for s in q.sentences],
        ),
    )
    print(f"alignment: strict F1 {f1:.3f}, counterparts {right:.3f}; lengths only {lengths_only}")
    assert f1 >= 0.95 and right >= 0.95
    assert f1 > lengths_only[0] and right > lengths_only[1]


@pytest.mark.slow
def test_a_question_highlights_the_answer_in_both_versions(pair: Any) -> None:
    answer = pair.search("索马里有多少人因海盗行为受到起诉？", k=3, docs=[SYMBOL], lang="zh", parallel=True)
    top = answer.hits[0]
    (en,) = top.parallel or []
    assert top.lang == "zh" and en["lang"] == "en"
    p = pair.library.find(SYMBOL, "zh", top.paragraph)
    q = pair.library.find(SYMBOL, "en", top.paragraph)
    # the English answer is exactly the gold counterpart of the Chinese answer sentence
    (i,) = [k for k, s in enumerate(p.sentences) if (s.start, s.end) == top.answer_span]
    _, want, _ = next(g for g in _gold() if g[0] == top.paragraph)
    ts = sorted({t for s, tt in want if i in s for t in tt})
    assert en["answer_span"] == [q.sentences[ts[0]].start, q.sentences[ts[-1]].end]


@pytest.mark.slow
def test_side_by_side_on_the_page(pair: Any, browser: Any) -> None:
    """An English reader's question: the English paragraph beside the Chinese one, the answer marked in both
    as the API aligned it (and the README's screenshot, with PIPELINE_SCREENSHOTS=docs)."""
    from support import SCREENSHOTS, by_css, live_server, open_page, search_url

    q = "How many Somalis have been prosecuted for piracy?"
    want = pair.search(q, k=3, parallel=True).hits[0]
    (zh,) = want.parallel or []
    browser.set_window_size(1100, 1800)  # the whole card in the window (for the screenshot)
    with live_server(create_app(pair)) as port:
        open_page(browser, f"http://127.0.0.1:{port}" + search_url(q, mode="hybrid", k="3"))
        card = by_css(browser, f'#view .result[data-paragraph="{want.paragraph}"]')
        own = card.find_element("css selector", '.version.own[data-lang="en"]')
        other = card.find_element("css selector", '.version[data-lang="zh"]')
        marks = [
            "".join(m.get_attribute("textContent") for m in col.find_elements("css selector", "mark.hl"))
            for col in (own, other)
        ]
        assert marks == [want.answer, zh["answer"]]
        assert other.rect["x"] > own.rect["x"] + own.rect["width"] - 1  # side by side
        SCREENSHOTS.mkdir(exist_ok=True)
        card.screenshot(str(SCREENSHOTS / "screenshot-versions.png"))
