"""English parsing on the layout of real UN English reports: sub-headings of any length (a heading block is
told by how it ends, not by its length), numbered paragraphs never taken for headings, and sentences not cut
after citation abbreviations ("para.", "No.", "e.g.", "Mr." …)."""

from __future__ import annotations

import pytest

from pipeline.ingest import IngestError, parse_report
from pipeline.ingest.layout import MAX_HEADING_CHARS, ends_block, is_heading_block, note_ended
from pipeline.text import ABBREVIATIONS_EN, ends_in_abbreviation, split_sentences

SUB_1 = (
    "Use of the Convention as the legal basis for international cooperation in criminal matters, including "
    "extradition, mutual legal assistance or confiscation"
)
SUB_2 = (
    "Cooperation between the central authorities designated under article 18, paragraph 13, of the "
    "Convention and the competent authorities of requesting States in the execution of requests for the "
    "identification, tracing and freezing of proceeds of crime"
)
SECTION_B = (
    "Measures taken by States parties to implement the recommendations of the Working Group of Government "
    "Experts on Technical Assistance adopted at its meetings in 2018 and 2019"
)

# An English report in the plain-text layout of the UN documents (tests/data/library/ctoc-cop-2014-5.en.txt):
# headings and paragraphs broken over lines of about 80 characters, a footnote after a rule at a page foot.
REPORT = """\
 United Nations CTOC/COP/2020/9

 Conference of the Parties to the
United Nations Convention
against Transnational
Organized Crime

 Distr.: General
3 August 2020

Original: English

V.20-04107 (E)

*2004107*

Tenth session
Vienna, 12-16 October 2020
Item 2 of the provisional agenda*
International cooperation

 International cooperation in criminal matters under the Convention

 Report of the Secretariat

 I. Introduction

1. In its resolution 9/3, the Conference of the Parties requested the Secretariat
to report on international cooperation under the Convention (CTOC/COP/2018/13,
para. 59). The present report covers the period from 2018 to 2020.

 II. International cooperation

A. Extradition

2. Most States parties reported that they can use the Convention as the legal
basis for extradition, e.g. the States that make extradition conditional on a
treaty.

B. Measures taken by States parties to implement the recommendations of the
Working Group of Government Experts on Technical Assistance adopted at its
meetings in 2018 and 2019

1. Use of the Convention as the legal basis for international cooperation in
criminal matters, including extradition, mutual legal assistance or
confiscation

3. Mr. Smith, the Chair of the Working Group, recalled the guidance adopted in
2019 (S/2009/146, para. 59). He noted that the Convention (see vol. 2225,
No. 39574, arts. 16-18) sets out the obligations of States parties.

4. See S/2009/146, para. 59. The Council welcomed the use of the Convention,
i.e. its article 18, in 42 cases.

2. Cooperation between the central authorities designated under article 18,
paragraph 13, of the Convention and the competent authorities of requesting
States in the execution of requests for the identification, tracing and
freezing of proceeds of crime

5. Central authorities executed 310 requests for the freezing of proceeds of
crime in 2019.1
__________________

 * CTOC/COP/2020/1.
 1 See CTOC/COP/WG.3/2019/2, paras. 10-12.

 III. Conclusions

6. The Conference may wish to:

 (a) Encourage States parties to use the Convention as the legal basis for
international cooperation; and

 (b) Request the Secretariat to continue to report on the matter.
"""


def test_long_numbered_subheadings_are_headings():
    assert len(SUB_1) == 154 and len(SUB_2) > 200 and len(SECTION_B) > 120
    c = parse_report(REPORT, "t.en.txt", lang="en")
    assert [(s.label, s.level, s.title) for s in c.sections] == [
        ("I", 1, "Introduction"),
        ("II", 1, "International cooperation"),
        ("A", 2, "Extradition"),
        ("B", 2, SECTION_B),
        ("1", 3, SUB_1),
        ("2", 3, SUB_2),
        ("III", 1, "Conclusions"),
    ]
    assert c.numbers == [1, 2, 3, 4, 5, 6]
    path_b = ["II. International cooperation", f"B. {SECTION_B}"]
    assert c.paragraph(2).section == ["II. International cooperation", "A. Extradition"]
    assert c.paragraph(3).section == c.paragraph(4).section == [*path_b, f"1. {SUB_1}"]
    assert c.paragraph(5).section == [*path_b, f"2. {SUB_2}"]
    assert c.paragraph(6).section == ["III. Conclusions"]
    # no heading text leaks into a paragraph, and each paragraph holds its own text only
    assert c.paragraph(3).text.startswith("Mr. Smith") and c.paragraph(3).text.endswith("States parties.")
    assert c.paragraph(4).text.endswith("in 42 cases.")
    assert (
        c.paragraph(5).text
        == "Central authorities executed 310 requests for the freezing of proceeds of crime in 2019."
    )
    assert [f.text for f in c.paragraph(5).footnotes] == ["See CTOC/COP/WG.3/2019/2, paras. 10-12."]
    assert [it.label for it in c.paragraph(6).items] == ["a", "b"]


def test_report_sentences_are_not_cut_after_abbreviations():
    c = parse_report(REPORT, "t.en.txt", lang="en")
    assert [s.text for s in c.paragraph(1).sentences] == [
        "In its resolution 9/3, the Conference of the Parties requested the Secretariat to report on "
        "international cooperation under the Convention (CTOC/COP/2018/13, para. 59).",
        "The present report covers the period from 2018 to 2020.",
    ]
    assert len(c.paragraph(2).sentences) == 1
    assert [s.text[:12] for s in c.paragraph(3).sentences] == ["Mr. Smith, t", "He noted tha"]
    assert [s.text for s in c.paragraph(4).sentences] == [
        "See S/2009/146, para. 59.",
        "The Council welcomed the use of the Convention, i.e. its article 18, in 42 cases.",
    ]
    for p in c.paragraphs:
        for s in p.sentences:
            assert p.full_text[s.start : s.end] == s.text


def _subheading_report(subheading: str) -> str:
    return (
        " I. Introduction\n\n1. First paragraph.\n\n II. Findings\n\nA. Cooperation\n\n"
        f"2. Second paragraph.\n\n{subheading}\n\n3. Third paragraph.\n"
    )


@pytest.mark.parametrize(
    "line",
    [
        "1. The Conference recalled its resolution 9/3 and requested the Secretariat to report on it.",
        "1. The Conference may wish to:",
        "1. The Conference recalled its resolution 9/3;",
        "1. The Conference recalled resolution 9/3 (2019).",
        "1. The Conference adopted the report.1",  # a footnote marker after the full stop
        "1. The Conference adopted the report.”",
        # a long paragraph, broken over lines
        "1. "
        + "The Conference recalled the guidance it had adopted on international cooperation \n" * 3
        + "too.",
    ],
)
def test_numbered_paragraph_is_never_a_heading_block(line):
    # a number the numbering does not expect, on a paragraph: an error, never a sub-heading
    with pytest.raises(IngestError) as ei:
        parse_report(_subheading_report(line), "t.txt", lang="en")
    assert "paragraph" in ei.value.message
    assert not is_heading_block(line.split("\n"), 0, "en")


@pytest.mark.parametrize(
    "title",
    [
        "Follow-up to Sustainable Development Goal 16.4",  # "." after a digit: not a footnote marker
        "Cooperation with the International Criminal Police Organization (INTERPOL)",
        "Cooperation under article 18, paragraph 13: central authorities",
        SUB_1,
        SUB_2,
    ],
)
def test_headings_read_as_heading_blocks(title):
    lines = ["1. " + title, "", "3. Third paragraph."]
    assert is_heading_block(lines, 0, "en")
    c = parse_report(_subheading_report("1. " + title), "t.txt", lang="en")
    assert c.paragraph(3).section[-1] == "1. " + title


def test_heading_block_has_a_bound():
    words = "cooperation in criminal matters under the Convention and the Protocols thereto "
    title = (words * (MAX_HEADING_CHARS // len(words) + 1)).strip()
    assert len(title) > MAX_HEADING_CHARS and not is_heading_block(["1. " + title], 0, "en")
    with pytest.raises(IngestError):
        parse_report(_subheading_report("1. " + title), "t.txt", lang="en")


def test_chinese_heading_blocks_are_unchanged():
    assert is_heading_block(["1. 国际合作", "", "3. 第三段。"], 0, "zh")
    assert not is_heading_block(["1. 会议注意到该报告。", "", "3. 第三段。"], 0, "zh")
    assert not is_heading_block(["1. 会议注意到该报告；并且", "", "3. 第三段。"], 0, "zh")


# --- sentences ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        (
            "The Council expressed concern (S/2009/146, para. 59). It decided to remain seized.",
            ["The Council expressed concern (S/2009/146, para. 59).", "It decided to remain seized."],
        ),
        (
            "See S/2009/146, para. 59. The Council took note.",
            ["See S/2009/146, para. 59.", "The Council took note."],
        ),
        (
            "Some States, e.g. the parties to the Convention, replied. Others, i.e. the rest, did not.",
            ["Some States, e.g. the parties to the Convention, replied.", "Others, i.e. the rest, did not."],
        ),
        ("Mr. Smith said. Ms. Jones agreed.", ["Mr. Smith said.", "Ms. Jones agreed."]),
        ("Mrs. Brown and Dr. Lee spoke. It ended.", ["Mrs. Brown and Dr. Lee spoke.", "It ended."]),
        (
            "See Treaty Series, vol. 2225, No. 39574, pp. 209-214, arts. 16 and 18, chap. 3, cf. para. 4.",
            ["See Treaty Series, vol. 2225, No. 39574, pp. 209-214, arts. 16 and 18, chap. 3, cf. para. 4."],
        ),
        ("See p. 4 and art. 5. Nos. 1 and 2 apply.", ["See p. 4 and art. 5.", "Nos. 1 and 2 apply."]),
        ("Para. 5 applies. Art. 3 too.", ["Para. 5 applies.", "Art. 3 too."]),
        ("Prosecutor v. Tadić was cited. It ended.", ["Prosecutor v. Tadić was cited.", "It ended."]),
        # real sentence ends still cut: a word that is no abbreviation, "no" in lower case, a number
        ("The answer was no. The Council moved on.", ["The answer was no.", "The Council moved on."]),
        ("It was adopted in 2013. The Council agreed.", ["It was adopted in 2013.", "The Council agreed."]),
        ("They met on the sofa. It ended.", ["They met on the sofa.", "It ended."]),
        # and a sentence never opens in lower case ("etc." is no abbreviation of the list)
        (
            "Firearms, ammunition, etc. and explosives. It ended.",
            ["Firearms, ammunition, etc. and explosives.", "It ended."],
        ),
    ],
)
def test_sentences_are_not_cut_after_citation_abbreviations(text, sentences):
    spans = split_sentences(text)
    assert [s.text for s in spans] == sentences
    assert all(text[s.start : s.end] == s.text for s in spans)


def test_abbreviations_are_whole_words_in_their_printed_case():
    assert ends_in_abbreviation("see A/67/100, para.") and ends_in_abbreviation("e.g. ", None)
    assert ends_in_abbreviation("para. 59", 5) and not ends_in_abbreviation("para. 59")
    assert not ends_in_abbreviation("the xpara.") and not ends_in_abbreviation("the answer was no.")
    assert not ends_in_abbreviation("chapter V.") and not ends_in_abbreviation("appendix P.")
    assert [s.text for s in split_sentences("It was a spa. Then")] == ["It was a spa.", "Then"]


@pytest.mark.parametrize("abbreviation", ABBREVIATIONS_EN)
def test_one_abbreviation_list_for_lines_and_sentences(abbreviation):
    # a line ending in an abbreviation ends no block nor footnote, and the sentence runs on past it
    text = f"As stated in A/67/100, {abbreviation}."
    assert not ends_block(text, "en") and not note_ended(text, "en")
    assert len(split_sentences(f"{text} 12 of the report.")) == 1
    assert len(split_sentences(f"{text} Smith of the report.")) == 1
