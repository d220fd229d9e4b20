"""The review queue: corrections change the export and the report, leave an audit trail, and are
checked against the form definition; the stored original comes back out safely."""

from __future__ import annotations

import email
from email import policy

import pytest
from builders.store_rows import HOSTILE, NOW
from sqlmodel import Session, select
from test_report import figures

from parsers.formdef import FormDefinition
from store.export import iter_responses
from store.models import AuditEntry
from store.report_html import render_report
from store.review import (
    ReviewError,
    apply_corrections,
    describe_response,
    list_for_review,
    original_files,
    safe_filename,
    unique_name,
)

QUEUED = "CT08-00020"  # the needs-review response of the populated database


def record(session: Session, form: FormDefinition, reference: str) -> dict:
    return next(r for r in iter_responses(session, form) if r["reference"] == reference)


def test_queue_lists_responses_needing_review(session: Session) -> None:
    assert [r.reference for r in list_for_review(session)] == [QUEUED]


def test_correction_changes_the_export_and_the_report(session: Session, form: FormDefinition) -> None:
    before = figures(render_report(session, form, now=NOW))
    apply_corrections(
        session,
        form,
        QUEUED,
        ["q1.choice=agree", "respondent.category=school", "q3.comment=Line one\\nLine two", "contact_again=none"],
        who="alice",
        done=False,
    )
    rec = record(session, form, QUEUED)
    assert rec["answers"]["q1"] == {"choice": "agree", "comment": HOSTILE}
    assert rec["answers"]["q3"]["comment"] == "Line one\nLine two"
    assert rec["respondent"]["category"] == "school" and rec["contact_again"] is None
    assert rec["status"] == "needs_review"
    after = figures(render_report(session, form, now=NOW))
    assert (before["q1.agree"], after["q1.agree"]) == ("2", "3")
    assert (before["q1.not_sure"], after["q1.not_sure"]) == ("1", "0")
    assert after["categories-table.school.count"] == str(int(before["categories-table.school.count"]) + 1)
    assert (before["contact_no"], after["contact_no"]) == ("1", "0")


def test_audit_records_who_old_and_new(session: Session, form: FormDefinition) -> None:
    resp = apply_corrections(session, form, QUEUED, ["q1.choice=agree", "confidential=yes"], who="alice", done=False)
    entries = session.exec(select(AuditEntry).where(AuditEntry.response_pk == resp.id)).all()
    assert [(e.who, e.field, e.old, e.new) for e in entries] == [
        ("alice", "q1.choice", "not_sure", "agree"),
        ("alice", "confidential", "false", "true"),
    ]
    assert all(e.at is not None for e in entries)


def test_unchanged_values_leave_no_audit_entry(session: Session, form: FormDefinition) -> None:
    resp = apply_corrections(session, form, QUEUED, ["q1.choice=not_sure", "late=false"], who="bob", done=False)
    assert not session.exec(select(AuditEntry).where(AuditEntry.response_pk == resp.id)).all()


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("q1.choice=strongly_agree", "'strongly_agree' is not one of agree, disagree, not_sure"),
        ("q9.choice=agree", "unknown field 'q9.choice'"),
        ("respondent.category=alien", "respondent.category: 'alien'"),
        ("respondent.shoe_size=9", "unknown field 'respondent.shoe_size'"),
        ("confidential=maybe", "confidential: 'maybe' is not true or false"),
        ("contact_again=perhaps", "contact_again: 'perhaps'"),
        ("status=lost", "status: 'lost'"),
        ("q8.choice=agree", "question 8 has no tick boxes"),
        ("q1.choice", "write each correction as key=value"),
    ],
)
def test_bad_keys_and_values_are_rejected(session: Session, form: FormDefinition, setting: str, named: str) -> None:
    before = record(session, form, QUEUED)
    with pytest.raises(ReviewError, match=named.replace("(", r"\(")):
        apply_corrections(session, form, QUEUED, ["q2.choice=agree", setting], who="alice", done=True)
    assert record(session, form, QUEUED) == before  # nothing applied
    assert not session.exec(select(AuditEntry)).all()


def test_unknown_reference_is_rejected(session: Session, form: FormDefinition) -> None:
    with pytest.raises(ReviewError, match="no response with reference 'CT08-99999'"):
        apply_corrections(session, form, "CT08-99999", [], who="alice", done=True)


def test_done_files_the_response_and_keeps_the_reasons_in_the_audit(session: Session, form: FormDefinition) -> None:
    before = figures(render_report(session, form, now=NOW))
    resp = apply_corrections(session, form, QUEUED, ["respondent.category=school"], who="carol", done=True)
    assert resp.status == "filed" and resp.review_reasons == [] and resp.reviewed_at is not None
    assert list_for_review(session) == []
    rec = record(session, form, QUEUED)
    assert rec["status"] == "filed" and rec["review_reasons"] == []
    entries = {e.field: e for e in session.exec(select(AuditEntry)).all()}
    assert entries["status"].old == "needs_review" and entries["status"].new == "filed"
    assert entries["review_reasons"].old == "Question 3: two boxes are marked; Respondent category is not marked"
    after = figures(render_report(session, form, now=NOW))
    assert (before["all.needs_review"], after["all.needs_review"]) == ("1", "0")
    assert int(after["all.filed"]) == int(before["all.filed"]) + 1


def test_describe_shows_provenance_answers_and_audit(session: Session, form: FormDefinition) -> None:
    apply_corrections(session, form, QUEUED, ["q1.choice=agree"], who="alice", done=False)
    text = describe_response(session, form, QUEUED)
    for expected in (
        "CT08-00020  (needs review)",
        "Message-ID:      <m2@example.org>",
        "From:            head@school.example.org",
        "Received:        2008-03-04T10:00:00+00:00",
        "Source:          the e-mail body [body]",
        "Disposition:     response",
        "Acknowledgement: pending to head@school.example.org",
        "    - Question 3: two boxes are marked",
        "  Q1 [q1]: Agree [agree]",
        "      <script>alert(1)</script>",
        "alice: q1.choice: 'not_sure' -> 'agree'",
    ):
        assert expected in text, expected


def test_original_files_are_the_message_and_its_attachments(session: Session) -> None:
    files = original_files(session, QUEUED)
    assert [name for name, _ in files] == ["message.eml", "passwd form.docx"]
    raw = files[0][1]
    assert email.message_from_bytes(raw, policy=policy.default)["From"] == "head@school.example.org"
    assert files[1][1] == b"PK\x03\x04 fake docx"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\boot.ini", "boot.ini"),
        (".hidden", "hidden"),
        ("...", "attachment-1"),
        ("C:report.doc", "C_report.doc"),
        ("bad\x00name\n.pdf", "bad_name_.pdf"),
        ("", "attachment-1"),
    ],
)
def test_attachment_names_cannot_escape_the_folder(name: str, safe: str) -> None:
    assert safe_filename(name, "attachment-1") == safe


def test_repeated_names_are_numbered() -> None:
    assert unique_name("form.docx", {"form.docx"}) == "form-2.docx"
    assert unique_name("form", {"form", "form-2"}) == "form-3"
