"""Unit tests of the pure label, tick and text helpers."""

from __future__ import annotations

import pytest

from parsers import normalise as nz

SCALE = {"agree": "Agree", "disagree": "Disagree", "not_sure": "Not sure"}
FIELDS = {"name": "Name", "organisation": "Organisation (if applicable)", "address": "Address", "email": "E-mail"}
CATEGORIES = {
    "local_authority": "Local Authority",
    "childrens_trust": "Children's Trust / Children's Trust Board",
    "health": "Primary Care Trust or other NHS body",
    "parent": "Parent or carer",
    "young_person": "Child or young person",
    "other": "Other (please specify)",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Organisation", "organisation"),
        ("Organization:", "organisation"),
        ("Email", "email"),
        ("Adress", "address"),
        ("Name", "name"),
        ("Telephone", None),
        ("", None),
    ],
)
def test_best_match_tolerates_altered_labels(text: str, expected: str | None) -> None:
    assert nz.best_match(text, FIELDS) == expected


def test_best_match_refuses_when_two_labels_are_equally_close() -> None:
    assert nz.best_match("Colour", {"a": "Color", "b": "Colours"}) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Agree", "agree"),
        ("agre", "agree"),
        ("DISAGREE.", "disagree"),
        ("Not Sure", "not_sure"),
        ("unsure", "not_sure"),
        ("don't know", "not_sure"),
        ("Yes", None),
        ("No", None),
        ("Agree with the aim", None),
    ],
)
def test_choice_word_maps_only_unambiguous_words(text: str, expected: str | None) -> None:
    assert nz.choice_word(text, SCALE) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Disagree \u2013 because the Board is too large", ("disagree", "because the Board is too large")),
        ("Not sure. It depends.", ("not_sure", "It depends.")),
        ("agree", ("agree", "")),
        ("Agree with the aim but not the detail", (None, "Agree with the aim but not the detail")),
        ("Agreed by our Board", (None, "Agreed by our Board")),
    ],
)
def test_leading_choice_splits_choice_from_comment(text: str, expected: tuple[str | None, str]) -> None:
    assert nz.leading_choice(text, SCALE) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("", False),
        ("   ", False),
        ("\u2610", False),
        ("\u2612", True),
        ("X", True),
        ("x", True),
        ("\u2713", True),
        ("\u2714", True),
        ("Yes", True),
        ("\u2610 X", True),
        ("?", None),
        ("no", None),
        ("maybe", None),
    ],
)
def test_is_tick(cell: str, expected: bool | None) -> None:
    assert nz.is_tick(cell) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Parent", "parent"),
        ("Children's Trust Board", "childrens_trust"),
        ("NHS", "health"),
        ("Trust", None),  # in two labels
        ("Governor", None),
    ],
)
def test_label_match_for_free_text_categories(text: str, expected: str | None) -> None:
    assert nz.label_match(text, CATEGORIES) == expected


def test_clean_comment_keeps_paragraphs_and_drops_placeholders() -> None:
    raw = "  First paragraph.  \r\n\r\n\r\nSecond   paragraph.\nClick here to enter text.\n\u2002\u2002"
    assert nz.clean_comment(raw) == "First paragraph.\nSecond paragraph."


def test_clean_value_is_none_when_only_placeholder() -> None:
    assert nz.clean_value("Click here to enter text.") is None
    assert nz.clean_value("\u2002\u2002\u2002") is None


def test_strip_label() -> None:
    assert nz.strip_label("Comments: We agree.", "Comments") == "We agree."
    assert nz.strip_label("Commentary on the plan", "Comments") == "Commentary on the plan"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("jo.smith@example.org", True), ("jo.o'neill@council.gov.uk", True), ("jo at example", False), ("", False)],
)
def test_is_email(text: str, expected: bool) -> None:
    assert nz.is_email(text) is expected


def test_find_email_inside_text() -> None:
    assert nz.find_email("Email: jo@example.org (work).") == "jo@example.org"
    assert nz.find_email("no address here") is None
