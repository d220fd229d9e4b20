"""One example for every way the form reader finds a field (parsers/formreader/rules.py).

A way added to the catalogue without an example here fails `test_every_way_has_an_example`:
the count of ways, and of the rules that make them safe, is kept by the test suite.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from parsers import blankform_pdf as pdf_names
from parsers.document import CHECKED, UNCHECKED, Document, Paragraph, Table
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.formreader import Row, read_form, walk_rows
from parsers.formreader.landmarks import HEADER_RULES
from parsers.formreader.rules import WAYS
from parsers.model import Reading

FORM = load_form(DEFAULT_FORM_PATH)
Q1 = FORM.question("q1").text
TWO_ANSWERS = ("Question 7: Agree", "Question 8", "Nothing more.")


def read(*blocks: str | tuple[tuple[str, ...], ...], fields: dict[str, str] | None = None) -> Reading:
    doc = Document(
        blocks=tuple(Paragraph(b) if isinstance(b, str) else Table(b) for b in blocks),
        fields=fields or {},
    )
    return read_form(doc, FORM, source_kind="docx", filename="x.docx")


def heading_rule(*lines: str) -> dict[str, str]:
    return walk_rows([Row((line,), False) for line in lines], FORM).rules


EXAMPLES: dict[str, Callable[[], bool]] = {
    "named field": lambda: (
        read(
            fields={
                "name": "Jo Bloggs",
                pdf_names.answer_field("q1", "agree"): CHECKED,
                pdf_names.comments_field("q1"): "Yes",
            }
        )
        .answers["q1"]
        .choice
        == "agree"
    ),
    "mark in a label's cell": lambda: (
        read("Question 1", ((f"{CHECKED} Agree", f"{UNCHECKED} Disagree"),), *TWO_ANSWERS).answers["q1"].choice
        == "agree"
    ),
    "mark by the row's shape": lambda: (
        read("Question 1", (("Agree", "", "Disagree", "X", "Not sure", ""),), *TWO_ANSWERS).answers["q1"].choice
        == "disagree"
    ),
    "choice in words": lambda: (
        read("Question 1", "Disagree - it is vague.", *TWO_ANSWERS).answers["q1"].choice == "disagree"
    ),
    "labelled table row": lambda: (
        read((("Name", "Jo Bloggs"), ("E-mail", "jo@example.org")), *TWO_ANSWERS).respondent.email == "jo@example.org"
    ),
    "key and value line": lambda: read("Name: Jo Bloggs", *TWO_ANSWERS).respondent.name == "Jo Bloggs",
    "please specify": lambda: read("Please specify: Foster carer", *TWO_ANSWERS).respondent.category == "other",
    "heading: explicit": lambda: heading_rule("Question 3: Agree")["q3"] == "explicit",
    "heading: number+wording": lambda: heading_rule(f"1. {Q1}")["q1"] == "number+wording",
    "heading: number+answer": lambda: heading_rule("4. Not sure")["q4"] == "number+answer",
    "heading: wording": lambda: heading_rule(Q1)["q1"] == "wording",
    "heading: number": lambda: heading_rule("Question 1: Agree", "8.", "Nothing.")["q8"] == "number",
    "heading: number+text": lambda: heading_rule("Question 1: Agree", "2. We think so.")["q2"] == "number+text",
    "heading: topic": lambda: heading_rule("Question 1: Agree", "On prevention:", "Too little.")["q5"] == "topic",
    "comment under its heading": lambda: (
        read("Question 7", "One.", "Two.", "Question 8", "Three.").answers["q7"].comment == "One.\nTwo."
    ),
    "capacity in a sentence": lambda: (
        read("Dear Sir,", "I am writing as a parent.", *TWO_ANSWERS).respondent.category == "parent"
    ),
    "organisation on behalf of": lambda: (
        read("I write on behalf of Greysmouth Primary Care Trust.", *TWO_ANSWERS).respondent.organisation
        == "Greysmouth Primary Care Trust"
    ),
    "name under the closing": lambda: (
        read(*TWO_ANSWERS, "Yours sincerely,", "Dr Jo Bloggs").respondent.name == "Dr Jo Bloggs"
    ),
    "organisation in the signature": lambda: (
        read(*TWO_ANSWERS, "Regards,", "Jo Bloggs", "Director, Home-Start Dunmere").respondent.organisation
        == "Home-Start Dunmere"
    ),
    "sender's address": lambda: (
        read("1 High Street", "Eastbury", "EB1 2CD", "Dear Sir,", *TWO_ANSWERS).respondent.address
        == "1 High Street\nEastbury\nEB1 2CD"
    ),
}


def test_every_way_has_an_example() -> None:
    assert set(EXAMPLES) == set(WAYS)
    assert {f"heading: {rule}" for rule in HEADER_RULES} <= set(WAYS)


@pytest.mark.parametrize("way", sorted(WAYS))
def test_way_finds_its_field(way: str) -> None:
    assert EXAMPLES[way](), f"{way}: {WAYS[way]}"


def test_the_catalogue_counts_every_way() -> None:
    """The figure the README gives: how many ways a field is found, each with its rule."""
    assert len(WAYS) == 20
