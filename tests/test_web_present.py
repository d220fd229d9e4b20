"""The staff pages' pure helpers: reasons placed beside their questions, the queue's filters, the
original message's text, and a submitted form turned into store.review settings; password hashing."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from argon2 import PasswordHasher
from builders.store_rows import HOSTILE
from sqlmodel import Session
from web_env import PASSWORD, make_web

from ingest.web import auth
from ingest.web.present import (
    correction_settings,
    editable_values,
    matches,
    message_text,
    place_reasons,
    reason_kind,
    reason_kinds,
)
from parsers.formdef import FormDefinition


def record(form: FormDefinition, **changes: object) -> dict:
    answers = {q.id: {"choice": None, "comment": ""} for q in form.questions}
    rec = {
        "reference": "CT08-000123",
        "sender": "jane@example.org",
        "review_reasons": [],
        "respondent": {"name": "Jane Smith", "organisation": None, "address": None, "email": "jane@example.org",
                       "category": None, "category_other": None},
        "confidential": False, "confidential_reason": None, "acknowledge": True, "contact_again": None,
        "answers": answers, "text": None,
    }  # fmt: skip
    rec.update(changes)
    return rec


def test_reasons_go_beside_what_they_are_about(form: FormDefinition) -> None:
    placed = place_reasons(
        ["Question 3: two boxes are marked", "Respondent category: “x” does not match", "Letter with no form",
         "Question 99: out of range"],
        form,
    )  # fmt: skip
    assert placed.by_question == {"q3": ["Question 3: two boxes are marked"]}
    assert placed.respondent == ["Respondent category: “x” does not match"]
    assert placed.general == ["Letter with no form", "Question 99: out of range"]


def test_reason_kinds_group_across_questions(form: FormDefinition) -> None:
    assert reason_kind("Question 3: two boxes are marked") == "Two boxes are marked"
    assert reason_kind("Question 12 appears twice: the file may hold two") == "Appears twice: the file may hold two"
    recs = [record(form, review_reasons=["Question 3: two boxes are marked", "Question 5: two boxes are marked"]),
            record(form, review_reasons=["Question 1: two boxes are marked", "Unreadable attachment"])]  # fmt: skip
    assert reason_kinds(recs) == [("Two boxes are marked", 2), ("Unreadable attachment", 1)]
    assert matches(recs[1], "Unreadable attachment", "") and not matches(recs[0], "Unreadable attachment", "")
    assert matches(recs[0], "", "JANE SMITH") and matches(recs[0], "", "000123") and not matches(recs[0], "", "bob")


def test_only_changed_fields_become_settings(form: FormDefinition) -> None:
    rec = record(form)
    posted = editable_values(rec, form) | {"q1.choice": "agree", "q2.comment": "Line one\r\nLine two  "}
    assert correction_settings(rec, form, posted) == ["q1.choice=agree", "q2.comment=Line one\nLine two"]
    assert correction_settings(rec, form, {}) == []  # a field left off the form is left alone
    cleared = editable_values(rec, form) | {"respondent.name": "  ", "acknowledge": "false"}
    assert correction_settings(rec, form, cleared) == ["respondent.name=", "acknowledge=false"]


def test_message_text_is_the_plain_body_or_the_html_source() -> None:
    msg = EmailMessage()
    msg.set_content("My answers:\n1. Agree\n")
    msg.add_alternative(f"<p>{HOSTILE}</p>", subtype="html")
    assert message_text(bytes(msg)) == "My answers:\n1. Agree\n"
    html_only = EmailMessage()
    html_only.set_content(f"<p>{HOSTILE}</p>", subtype="html")
    assert HOSTILE in message_text(bytes(html_only))  # shown as text by the autoescaping template
    assert message_text(b"Subject: no body\r\n\r\n") == ""
    assert message_text(bytes(msg), limit=5) == "My an\n\n[… cut here: download message.eml for the whole message]"


def test_passwords_are_argon2id_and_rehashed_when_the_parameters_grow(tmp_path, monkeypatch) -> None:
    web = make_web(tmp_path)  # users hashed with the tests' cheap parameters
    monkeypatch.setattr(auth, "_hasher", PasswordHasher())
    with Session(web.engine) as s:
        user = auth.sign_in(s, "rev", PASSWORD, "10.0.0.1").user
        assert user is not None
        assert user.password_hash.startswith("$argon2id$") and "m=65536" in user.password_hash
    with pytest.raises(auth.AccountError, match="12 characters"):
        auth.check_password("short")
    with pytest.raises(auth.AccountError, match="user name"):
        auth.check_name("Robert'); DROP TABLE users")
