"""Retrieval evaluation over qrels: Recall@k, MRR@10, nDCG@10 per language and kind.

Definitions follow BEIR / sentence-transformers' InformationRetrievalEvaluator: Recall@k is the share of a
query's relevant paragraphs found in the top k, averaged over queries; MRR@10 the reciprocal rank of the
first relevant hit within 10; nDCG@10 with binary gains. For references and paragraph lookups the
stricter ``exact`` figure is also given: every relevant paragraph returned and the first result relevant.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UserError

KS = (1, 3, 5, 10)
KINDS = ("question", "paraphrase", "reference", "paragraph")


class QrelsError(UserError, ValueError):
    """A malformed qrels file; the message names file and line."""


@dataclass(frozen=True)
class Qrel:
    id: str
    query: str
    relevant: tuple[int, ...]
    lang: str
    kind: str
    document: str = ""


def _valid_numbers(
    valid: Collection[int] | Mapping[str, Collection[int]] | None, document: str
) -> Collection[int] | None:
    if valid is None or not isinstance(valid, Mapping):
        return valid
    if document not in valid:
        raise ValueError(f"document {document!r} is not in the library ({', '.join(valid) or 'empty'})")
    return valid[document]


def load_qrels(
    path: str | Path,
    valid: Collection[int] | Mapping[str, Collection[int]] | None = None,
    default_document: str = "",
) -> list[Qrel]:
    """Read a qrels JSONL file: ``{"id", "query", "relevant": [int], "lang": "zh"|"en", "kind"}`` per line,
    with an optional ``"document"`` (a symbol) that the relevant paragraph numbers belong to.

    Args:
        path: the file.
        valid: the paragraph numbers that exist, or per document symbol; a judgement naming another
            paragraph or document is an error.
        default_document: the document of a judgement that names none.

    Raises:
        QrelsError: naming file and line, on an unreadable file, bad JSON, missing keys or bad values.
    """
    try:
        raw = Path(path).read_bytes()
    except IsADirectoryError:
        raise QrelsError(f"{path}: is a directory, not a qrels file") from None
    except FileNotFoundError:
        raise QrelsError(f"{path}: no such file") from None
    except OSError as e:
        raise QrelsError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line_no = raw[: e.start].count(b"\n") + 1
        raise QrelsError(f"{path}:{line_no}: not UTF-8 text") from None
    out: list[Qrel] = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if not isinstance(d, dict):
                raise ValueError("expected a JSON object")
            rel = d["relevant"]
            if (
                not isinstance(rel, list)
                or not rel
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in rel)
            ):
                raise ValueError("'relevant' must be a non-empty list of paragraph numbers")
            document = d.get("document", default_document)
            if not isinstance(document, str):
                raise ValueError("'document' must be a document symbol")
            numbers = _valid_numbers(valid, document)
            if numbers is not None and (missing := [x for x in rel if x not in numbers]):
                raise ValueError(
                    f"'relevant' names paragraph(s) {missing} that {document or 'the report'} does not have"
                )
            if not isinstance(d["query"], str) or not d["query"].strip():
                raise ValueError("empty query")
            out.append(
                Qrel(
                    str(d["id"]),
                    d["query"],
                    tuple(rel),
                    str(d.get("lang", "")),
                    str(d.get("kind", "")),
                    document,
                )
            )
        except (json.JSONDecodeError, KeyError, ValueError, TypeError, RecursionError) as e:
            what = f"missing key {e}" if isinstance(e, KeyError) else str(e)
            raise QrelsError(f"{path}:{n}: {what}") from None
    if not out:
        raise QrelsError(f"{path}:1: no queries")
    return out


def query_metrics(ranked: Sequence[int], relevant: Sequence[int]) -> dict[str, float]:
    """Metrics of one ranked list against its relevant set."""
    rel = set(relevant)
    m: dict[str, float] = {}
    for k in KS:
        m[f"R@{k}"] = len(rel & set(ranked[:k])) / len(rel)
    rr = 0.0
    for i, p in enumerate(ranked[:10]):
        if p in rel:
            rr = 1.0 / (i + 1)
            break
    m["MRR@10"] = rr
    dcg = sum(1.0 / math.log2(i + 2) for i, p in enumerate(ranked[:10]) if p in rel)
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), 10)))
    m["nDCG@10"] = dcg / idcg
    m["exact"] = float(bool(ranked) and ranked[0] in rel and rel <= set(ranked))
    return m


def evaluate(
    qrels: Sequence[Qrel], ranked_lists: Sequence[Sequence[int]], flagged: Sequence[bool] | None = None
) -> dict[str, dict[str, float]]:
    """Average the metrics per group: "all", each language, each kind, and each language×kind.

    Args:
        qrels: the judged queries.
        ranked_lists: each query's ranked paragraph keys.
        flagged: whether each query's answer said the library does not answer it (``no_answer``); adds the
            metric "flagged", the share flagged (on answerable questions: the signal's false alarms).

    Returns:
        ``{group: {metric: value, "n": count}}``.
    """
    groups: dict[str, list[dict[str, float]]] = defaultdict(list)
    for i, (q, ranked) in enumerate(zip(qrels, ranked_lists, strict=True)):
        m = query_metrics(list(ranked), q.relevant)
        if flagged is not None:
            m["flagged"] = float(flagged[i])
        for g in ("all", q.lang, q.kind, f"{q.lang}/{q.kind}"):
            groups[g].append(m)
    out: dict[str, dict[str, float]] = {}
    for g, ms in groups.items():
        out[g] = {key: sum(m[key] for m in ms) / len(ms) for key in ms[0]}
        out[g]["n"] = len(ms)
    return out


def ranked_keys(qrel: Qrel, hits: Sequence[tuple[str, int]]) -> list[object]:
    """A ranked list comparable with ``qrel.relevant``: a hit on the qrel's document counts as its paragraph
    number (whichever language version it comes from: versions share their numbering), any other document's
    hit as a key that is never relevant; each once, first place kept."""
    out: list[object] = []
    for doc, number in hits:
        key: object = number if doc == qrel.document or not qrel.document else (doc, number)
        if key not in out:
            out.append(key)
    return out


def failures(
    qrels: Sequence[Qrel], ranked_lists: Sequence[Sequence[int]], k: int = 1
) -> list[tuple[Qrel, list[int]]]:
    """Queries whose top ``k`` holds none of their relevant paragraphs (for error analysis)."""
    return [
        (q, list(r[:5])) for q, r in zip(qrels, ranked_lists, strict=True) if not set(q.relevant) & set(r[:k])
    ]


def _order(groups: dict[str, dict[str, float]]) -> list[str]:
    head = [g for g in ("all", "zh", "en") if g in groups]
    kinds = [g for g in KINDS if g in groups]
    pairs = sorted(g for g in groups if "/" in g)
    rest = sorted(g for g in groups if g not in head + kinds + pairs)
    return head + kinds + pairs + rest


def format_table(groups: dict[str, dict[str, float]], title: str | None = None) -> str:
    """A markdown table of the groups' metrics."""
    cols = [f"R@{k}" for k in KS] + ["MRR@10", "nDCG@10", "exact"]
    if any("flagged" in m for m in groups.values()):
        cols.append("flagged")
    lines = []
    if title:
        lines.append(f"**{title}**\n")
    lines.append("| group | n | " + " | ".join(cols) + " |")
    lines.append("|---|---:|" + "---:|" * len(cols))
    for g in _order(groups):
        m = groups[g]
        lines.append(f"| {g} | {int(m['n'])} | " + " | ".join(f"{m[c]:.3f}" for c in cols) + " |")
    return "\n".join(lines)


def flag_rates(langs: Sequence[str], flagged: Sequence[bool]) -> dict[str, dict[str, float]]:
    """The share of questions flagged ``no_answer``, overall and per language: ``{group: {"n", "flagged"}}``
    (on an out-of-scope set: how many the signal catches)."""
    groups: dict[str, list[bool]] = defaultdict(list)
    for lang, f in zip(langs, flagged, strict=True):
        groups["all"].append(f)
        groups[lang].append(f)
    return {g: {"n": len(v), "flagged": sum(v) / len(v)} for g, v in groups.items()}


# --- answer sentences -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerItem:
    """One answer-sentence judgement: the paragraph that answers ``query`` and a
    clause the answer must contain."""

    id: str
    query: str
    lang: str
    paragraph: int
    answer: str
    document: str = ""


def load_answer_set(
    path: str | Path,
    valid: Collection[int] | Mapping[str, Collection[int]] | None = None,
    default_document: str = "",
) -> list[AnswerItem]:
    """Read an answer-sentence set: ``{"id", "query", "lang", "paragraph", "answer"}`` per line.

    Raises:
        QrelsError: naming file and line.
    """
    items: list[AnswerItem] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            if (
                not isinstance(d, dict)
                or not isinstance(d.get("paragraph"), int)
                or not str(d.get("answer", "")).strip()
            ):
                raise ValueError("expected {id, query, lang, paragraph: int, answer: text}")
            document = str(d.get("document", default_document))
            numbers = _valid_numbers(valid, document)
            if numbers is not None and d["paragraph"] not in numbers:
                raise ValueError(f"paragraph {d['paragraph']} is not in {document or 'the report'}")
            items.append(
                AnswerItem(
                    str(d["id"]),
                    str(d["query"]),
                    str(d.get("lang", "")),
                    d["paragraph"],
                    str(d["answer"]),
                    document,
                )
            )
        except (json.JSONDecodeError, KeyError, ValueError, TypeError) as e:
            raise QrelsError(f"{path}:{n}: {e}") from None
    if not items:
        raise QrelsError(f"{path}:1: no questions")
    return items


def _squash(text: str) -> str:
    import unicodedata

    return "".join(unicodedata.normalize("NFKC", text).split())


def answer_accuracy(
    items: Sequence[AnswerItem], hits: Sequence[Sequence[tuple[int, str]]]
) -> dict[str, dict[str, float]]:
    """How often the answer sentence shown for the right paragraph contains the expected clause.

    Args:
        items: the judgements.
        hits: per item, the ``(paragraph, answer sentence)`` of each result on the item's document.

    Returns:
        Per group ("all", "zh", "en"): ``n``, ``retrieved`` (the paragraph is among the results),
        ``correct``, ``accuracy`` (correct / retrieved) and ``accuracy_all`` (correct / n).
    """
    groups: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for item, results in zip(items, hits, strict=True):
        got = next((a for p, a in results if p == item.paragraph), None)
        outcome = (got is not None, got is not None and _squash(item.answer) in _squash(got))
        for g in ("all", item.lang):
            groups[g].append(outcome)
    out: dict[str, dict[str, float]] = {}
    for g, rows in groups.items():
        retrieved = sum(r for r, _ in rows)
        correct = sum(c for _, c in rows)
        out[g] = {
            "n": len(rows),
            "retrieved": retrieved,
            "correct": correct,
            "accuracy": correct / retrieved if retrieved else 0.0,
            "accuracy_all": correct / len(rows),
        }
    return out
