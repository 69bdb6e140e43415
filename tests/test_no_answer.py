"""The no-answer signal: a question the library does not answer says so (``no_answer``), with the closest
paragraphs still listed; measured on the development sets with the real model (answerable questions and
paraphrases of ``corpus/eval/dev.jsonl`` against ``corpus/eval/out-of-scope*.jsonl``), and carried by search,
batch, eval and the API alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support import ROOT, run_pipeline

from pipeline.abstain import CANDIDATES, WEIGHTS, evidence, features
from pipeline.render import NO_ANSWER
from pipeline.server import create_app

EVAL = ROOT / "corpus" / "eval"


def _rows(name: str, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    rows = [json.loads(x) for x in (EVAL / name).read_text(encoding="utf-8").splitlines() if x.strip()]
    return [r for r in rows if not kinds or r.get("kind", "question") in kinds]


def test_the_evidence_is_the_best_dense_score_and_its_lead() -> None:
    scores = [{"dense": 0.90, "lexical": 3.0}] + [{"dense": 0.80} for _ in range(CANDIDATES + 5)]
    feats = features(scores)
    assert feats == pytest.approx({"d1": 0.90, "dgap": 0.10})  # the lead over the next CANDIDATES - 1 only
    for lang in ("zh", "en"):
        assert evidence(feats, lang) == pytest.approx(0.90 + WEIGHTS[lang] * 0.10)
    assert features([{"lexical": 2.0}]) is None  # no dense channel: no evidence


def test_the_thresholds_are_settings(fast_retriever: Any) -> None:
    flag_all = replace(fast_retriever.cfg, no_answer_zh=2.0, no_answer_en=2.0)
    flag_none = replace(fast_retriever.cfg, no_answer_zh=0.0, no_answer_en=0.0)
    question = "索马里沿海海盗行为"
    original = fast_retriever.cfg
    try:
        fast_retriever.cfg = flag_all
        flagged = fast_retriever.search(question)
        fast_retriever.cfg = flag_none
        kept = fast_retriever.search(question)
    finally:
        fast_retriever.cfg = original
    assert flagged.no_answer and not kept.no_answer
    assert [h.paragraph for h in flagged.hits] == [h.paragraph for h in kept.hits]  # the hits stay
    assert flagged.to_dict()["no_answer"] is True and isinstance(flagged.to_dict()["no_answer_score"], float)


def test_lookups_are_never_flagged(fast_retriever: Any) -> None:
    for query in ("第 17 段", "resolution 65/230"):
        answer = fast_retriever.search(query)
        assert answer.route != "question" and answer.no_answer is False
        assert answer.to_dict()["no_answer"] is False


def test_lexical_mode_flags_only_a_question_none_of_whose_words_occurs(fast_retriever: Any) -> None:
    assert fast_retriever.search("zebra quantum violin", mode="lexical").no_answer
    assert not fast_retriever.search("索马里海盗", mode="lexical").no_answer


@pytest.mark.slow
def test_the_signal_on_the_development_sets(retriever: Any) -> None:
    answerable = _rows("dev.jsonl", ("question", "paraphrase"))
    outside = _rows("out-of-scope.jsonl")
    check = _rows("out-of-scope-check.jsonl")
    for lang in ("zh", "en"):
        got = {
            name: [
                a.no_answer for a in retriever.search_many([r["query"] for r in rows if r["lang"] == lang])
            ]
            for name, rows in (("answerable", answerable), ("outside", outside), ("check", check))
        }
        rate = {name: sum(v) / len(v) for name, v in got.items()}
        assert rate["answerable"] <= 0.02, (lang, rate)  # the threshold's promise
        assert rate["outside"] >= 0.75 and rate["check"] >= 0.85, (lang, rate)  # as measured (README)


@pytest.mark.slow
def test_an_off_topic_question_is_flagged_in_both_languages(retriever: Any) -> None:
    for query in ("What is the capital of France?", "法国的首都是哪里？"):
        answer = retriever.search(query)
        assert answer.no_answer and answer.hits  # the closest paragraphs are still there
    assert not retriever.search("What did UNODC do against piracy off Somalia?").no_answer
    assert not retriever.search("伪药对患者有什么危害？").no_answer


@pytest.mark.slow
def test_cli_batch_eval_and_api_carry_the_flag(retriever: Any, model_home: Path, tmp_path: Path) -> None:
    home = retriever.cfg.root
    res = run_pipeline(home, "search", "What is the capital of France?")
    assert res.returncode == 0 and NO_ANSWER in res.stdout
    res = run_pipeline(home, "search", "法国的首都是哪里？", "--json")
    assert json.loads(res.stdout)["no_answer"] is True
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        '{"id": "far", "query": "What is the capital of France?"}\n'
        '{"id": "in", "query": "伪药对患者有什么危害？"}\n{"id": "ref", "query": "第 17 段"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "a.jsonl"
    res = subprocess.run(
        [sys.executable, "-m", "pipeline", "batch", str(queries), "-o", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "PIPELINE_HOME": str(home)},
        check=False,
    )
    assert res.returncode == 0, res.stderr
    flags = {r["id"]: r["no_answer"] for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert flags == {"far": True, "in": False, "ref": False}
    assert "1 of 2 questions flagged no_answer" in res.stderr
    res = run_pipeline(
        home,
        "eval",
        str(EVAL / "dev.jsonl"),
        "--out-of-scope",
        str(EVAL / "out-of-scope-check.jsonl"),
        "--json",
    )
    report = json.loads(res.stdout)
    assert report["all"]["flagged"] <= 0.02 and report["out_of_scope"]["all"]["flagged"] >= 0.85
    assert report["out_of_scope"]["zh"]["n"] == report["out_of_scope"]["en"]["n"] == 20
    with TestClient(create_app(retriever)) as client:
        body = client.get("/api/search", params={"q": "What is the capital of France?"}).json()
    assert body["no_answer"] is True and body["results"]
