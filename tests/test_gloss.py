"""Glosses for every word (issue 23): every Chinese word of the library's reports gets an English gloss
through the path ``/api/gloss`` takes (:meth:`Retriever.gloss`): the glossary's terms first, then
CC-CEDICT's senses in a sensible order and as the dictionary writes them, then a compound's parts.

What is counted: a word of :meth:`Analyzer.words` that holds a Chinese character (the segmenter cuts runs of
Chinese characters into words, so such a word is wholly Chinese). Numbers, Latin words, spaces and
punctuation are their own gloss: they get ``[]`` and are not counted."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from pipeline.text import CJK_IDEOGRAPHS
from pipeline.translate.senses import (
    COMMON,
    LAST_RESORT,
    MARKED,
    Gloss,
    Glosser,
    entry_senses,
    glossary_senses,
    word_senses,
)

_CJK = re.compile(f"[{CJK_IDEOGRAPHS}]")


def _texts(retriever: Any) -> list[str]:
    """What the reader sees of every paragraph of every report: its text (with items) and its footnotes (the
    web page asks ``/api/gloss`` for exactly these)."""
    out = []
    for p in retriever.library.paragraphs:
        out.append(p.full_text)
        out.extend(fn.text for fn in p.footnotes)
    return out


@pytest.fixture(scope="module")
def report_words(fast_retriever: Any) -> list[tuple[str, list[str]]]:
    return [wg for text in _texts(fast_retriever) for wg in fast_retriever.gloss(text)]


@pytest.fixture(scope="module")
def gloss(analyzer: Any) -> Any:
    translator = analyzer.translator
    assert translator is not None
    return translator.glosses


# --- coverage ------------------------------------------------------------------------------------------


def test_at_least_99_percent_of_the_reports_chinese_words_have_a_gloss(report_words: Any) -> None:
    chinese = [(w, g) for w, g in report_words if _CJK.search(w)]
    missing = sorted({w for w, g in chinese if not g})
    assert len(chinese) > 4000
    glossed = sum(1 for _, g in chinese if g)
    assert glossed / len(chinese) >= 0.99, (glossed, len(chinese), missing[:40])


def test_numbers_latin_and_punctuation_are_their_own_gloss(fast_retriever: Any) -> None:
    words = fast_retriever.gloss("2012年，UNODC在索马里（S/2009/146）。")
    assert [w for w, g in words if not g] == [w for w, _ in words if not _CJK.search(w)]
    assert "".join(w for w, _ in words) == "2012年，UNODC在索马里（S/2009/146）。"
    assert (
        dict(words)["2012"] == [] and dict(words)["，UNODC"] == [] and dict(words)["（S/2009/146）。"] == []
    )
    assert all(g for w, g in words if _CJK.search(w))


def test_the_api_sends_the_glosses_as_lists_of_strings(fast_retriever: Any) -> None:
    from fastapi.testclient import TestClient

    from pipeline.server import create_app

    text = fast_retriever.library.paragraphs[0].full_text
    with TestClient(create_app(fast_retriever)) as c:
        body = c.get("/api/gloss", params={"text": text}).json()
    assert body == {"words": [{"text": w, "gloss": list(g)} for w, g in fast_retriever.gloss(text)]}
    assert all(isinstance(s, str) for w in body["words"] for s in w["gloss"])
    assert all(w["gloss"] for w in body["words"] if _CJK.search(w["text"]))


def test_no_gloss_carries_dictionary_markup_or_lost_words(report_words: Any) -> None:
    """CC-CEDICT's cross-reference pinyin, traditional forms and classifier notes are removed, and nothing is
    cut out of a sense's words (the old gloss read "put   hand to it" for "to put one's hand to it")."""
    glosses = {s for _, g in report_words for s in g}
    bad = [s for s in glosses if re.search(r"\[[a-z]+\d|\||CL:|\s{2}|\(\s*\)|^\s|\s$", s)]
    assert bad == []


# --- the examples of the issue --------------------------------------------------------------------------


def test_the_glossary_comes_first(gloss: Any) -> None:
    g = gloss("毒品和犯罪问题办公室")
    assert list(g[:2]) == ["UNODC", "United Nations Office on Drugs and Crime"]
    assert g.sources[:2] == ("glossary", "glossary") and not g.parts
    assert "Office on Drugs and Crime" not in g  # contained in the full name: left out
    assert gloss("网络犯罪")[0] == "cybercrime" and "cyber crime" not in gloss("网络犯罪")  # one spelling
    assert gloss("跨国有组织犯罪")[0] == "transnational organized crime"
    assert "counterfeit medicines" in gloss("伪药")
    assert gloss("安全理事会")[0] == "Security Council"
    assert gloss("海盗")[:2] == ["pirate", "piracy"]


def test_names_come_from_cedicts_name_entries(gloss: Any) -> None:
    assert gloss("索马里")[0] == "Somalia"
    for word, name in [("泰国", "Thailand"), ("缅甸", "Myanmar"), ("贝鲁特", "Beirut"), ("不丹", "Bhutan")]:
        assert any(s.startswith(name) for s in gloss(word)), (word, list(gloss(word)))
    g = gloss("网络")  # an ordinary word first, the name entry ("Internet") after it
    assert g[0].startswith("network") and "Internet" in g


def test_common_senses_before_literary_ones(gloss: Any) -> None:
    di = gloss("第")
    assert "ordinal" in di[0] and not any("imperial examinations" in s for s in di)
    assert di[0] == '(prefix indicating ordinal number, as in 第六 "sixth")'  # the pinyin [di4 liu4] goes
    assert gloss("年")[0] == "year"  # not "grain", a sense of its variant form 秊


def test_the_entry_with_most_senses_before_a_minor_reading(gloss: Any) -> None:
    hao = gloss("号")
    assert hao[0] == "ordinal number" and "roar" not in hao[:2]
    assert gloss("中")[0] == "within; among; in"  # zhōng before zhòng "to hit (the mark)"


def test_the_text_of_a_sense_is_kept_whole(gloss: Any) -> None:
    assert gloss("着手")[0] == "to put one's hand to it"
    assert gloss("的")[0] == "of; ~'s (possessive particle)"
    assert gloss("国")[0] == "country; nation; state"  # "(CL:个[ge4])" removed, nothing else


def test_a_compound_neither_knows_is_glossed_by_its_parts(gloss: Any) -> None:
    g = gloss("海盗赎金")
    assert list(g) == ["海盗 pirate + 赎金 ransom"] and g.sources == ("parts",)
    assert [p for p, _ in g.parts] == ["海盗", "赎金"] and "ransom" in g.parts[1][1]
    assert gloss("一项")[0].startswith("一 one + 项 classifier for")  # a numeral takes the classifier sense
    assert gloss("四年") == ["四 four + 年 year"]


def test_a_gloss_is_a_list_with_its_sources_for_json(gloss: Any) -> None:
    g = gloss("海盗赎金")
    assert isinstance(g, list) and g == ["海盗 pirate + 赎金 ransom"] and json.loads(json.dumps(g)) == g
    assert g.extra() == {
        "sources": ["parts"],
        "parts": [
            {"text": "海盗", "gloss": list(g.parts[0][1])},
            {"text": "赎金", "gloss": list(g.parts[1][1])},
        ],
    }
    assert gloss("索马里").extra() == {"sources": ["glossary"] * len(gloss("索马里"))}
    assert gloss("UNODC") == [] and gloss("2012") == [] and gloss("。") == []


# --- the rules, on made-up entries ----------------------------------------------------------------------


def test_entry_senses_classes_and_clean_text() -> None:
    senses = entry_senses(
        "to put one's hand to it/country; nation (CL:個|个[ge4])/CL:個|个[ge4]/(literary) but; however/"
        "surname Xiang/variant of 為|为[wei2]/Taiwan pr. [han4]/harvest (old)/see 第六[di4 liu4]"
    )
    assert senses == [
        ("to put one's hand to it", COMMON),
        ("country; nation", COMMON),
        ("(literary) but; however", MARKED),
        ("surname Xiang", LAST_RESORT),
        ("variant of 为", LAST_RESORT),
        ("harvest (old)", MARKED),
        ("see 第六", LAST_RESORT),
    ]


def test_word_senses_order() -> None:
    roar = (False, entry_senses("roar/cry/CL:個|个[ge4]"))
    number = (False, entry_senses("ordinal number/day of a month/mark/sign/size"))
    name = (True, entry_senses("Internet/surname Wang"))
    assert word_senses([roar, number])[:2] == ("ordinal number", "day of a month")
    assert word_senses([name, (False, entry_senses("network"))]) == ("network", "Internet")
    assert word_senses([(False, entry_senses("(prefix) ordinal/(literary) only; just/(old) mansion"))]) == (
        "(prefix) ordinal",
    )
    assert word_senses([(False, entry_senses("(literary) only; just"))]) == ("(literary) only; just",)
    assert word_senses([(True, entry_senses("surname Ouyang"))]) == ("surname Ouyang",)
    variant = (False, entry_senses("grain/harvest/variant of 年[nian2]"))
    assert word_senses([(False, entry_senses("year")), variant]) == ("year",)


def test_glossary_senses_order_and_spellings() -> None:
    text = (
        "# comment\nUnited Nations Office on Drugs and Crime\t毒品和犯罪问题办公室\n"
        "Office on Drugs and Crime\t毒品和犯罪问题办公室\nUNODC\t毒品和犯罪问题办公室\n"
        "cybercrime\t网络犯罪\ncyber crime\t网络犯罪\ncyber-crime\t网络犯罪\n"
        "Security Council\t安理会\t0.8\nUNSC\t安理会\t0.5\nbad line\n"
    )
    got = glossary_senses(text)
    assert got == {
        "毒品和犯罪问题办公室": ("UNODC", "United Nations Office on Drugs and Crime"),
        "网络犯罪": ("cybercrime",),
        "安理会": ("Security Council", "UNSC"),
    }


def test_glosser_parts_and_dedup() -> None:
    cedict = {
        "网络": ("network (computing, telecommunications, transport etc)", "Internet"),
        "犯罪": ("to commit a crime", "crime; offense"),
        "网": ("net",),
        "安全理事会": ("(United Nations) Security Council",),
    }
    g = Glosser({"安全理事会": ("Security Council",)}, cedict)
    assert g.gloss("网络犯罪") == ["网络 network + 犯罪 crime"]  # the fewest parts; the head's noun sense
    assert g.gloss("安全理事会") == ["Security Council"]  # CC-CEDICT's sense says the same
    assert g.gloss("网罪") == ["网 net + 罪"]  # a part nobody knows is shown bare
    assert g.gloss("罪") == [] and g.gloss("abc") == [] and isinstance(g.gloss("abc"), Gloss)
