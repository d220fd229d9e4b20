"""The whole path on real servers: Dovecot -> intake run -> SQLite/PostgreSQL -> aiosmtpd."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from builders.docx_forms import build_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message, out_of_office
from builders.pdf_forms import build_acroform_pdf
from intake_env import export, run_intake, write_config

from parsers.formdef import DEFAULT_FORM_PATH, load_form

FORM = load_form(DEFAULT_FORM_PATH)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intake.db'}"
    return request.getfixturevalue("pg_url")


def _mailbox(dovecot):
    docx_reading = sample_reading(FORM, 1)
    pdf_reading = sample_reading(FORM, 2)
    messages = {
        "docx": build_message(
            sender="Jane Smith <jane.smith@example.org>",
            attachments=[("Response form.docx", DOCX_TYPE, build_docx(FORM, docx_reading, "x_cell"))],
        ),
        "pdf": build_message(
            sender="Raj Patel <raj.patel@example.net>",
            attachments=[("response.pdf", "application/pdf", build_acroform_pdf(FORM, pdf_reading))],
        ),
        "question": build_message(
            sender="Ann Lee <ann.lee@example.com>",
            subject="Response form",
            body="Could you send me a copy of the response form in Word please?\n\nAnn Lee\n",
        ),
        "ooo": out_of_office(),
    }
    for raw in messages.values():
        dovecot.append("INBOX", raw)
    return messages, {"docx": docx_reading, "pdf": pdf_reading}


def _message_id(raw: bytes) -> str:
    return str(message_from_bytes(raw, policy=policy.default)["Message-ID"])


def test_one_cycle_files_acknowledges_and_moves_then_a_second_adds_nothing(
    clean_dovecot, smtp_server, database_url, tmp_path, monkeypatch
):
    messages, readings = _mailbox(clean_dovecot)
    config = write_config(
        tmp_path,
        mailbox_url=clean_dovecot.imap_url,
        smtp_url=f"smtp://{smtp_server.host}:{smtp_server.port}",
        database_url=database_url,
    )
    monkeypatch.setenv("INTAKE_MAILBOX_PASSWORD", clean_dovecot.password)
    assert run_intake(config, "run") == 0
    responses = export(config, tmp_path)
    msgs = {m["message_id"]: m for m in export(config, tmp_path, "--messages")}

    assert msgs[_message_id(messages["docx"])]["disposition"] == "response"
    assert msgs[_message_id(messages["pdf"])]["disposition"] == "response"
    assert msgs[_message_id(messages["question"])]["disposition"] == "correspondence"
    assert msgs[_message_id(messages["ooo"])]["disposition"] == "auto_reply"
    assert msgs[_message_id(messages["ooo"])]["acknowledgement"]["status"] == "suppressed"

    by_message = {r["message_id"]: r for r in responses}
    assert len(responses) == 2
    for kind in ("docx", "pdf"):
        got = by_message[_message_id(messages[kind])]
        want = readings[kind]
        assert got["status"] == "filed", got["review_reasons"]
        assert got["source"]["kind"] == kind
        assert got["respondent"]["name"] == want.respondent.name
        assert got["respondent"]["category"] == want.respondent.category
        for qid, answer in want.answers.items():
            assert got["answers"][qid] == {"choice": answer.choice, "comment": answer.comment}, qid
        assert got["reference"].startswith("CT08-")

    received = smtp_server.received
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(
        [
            _ack_address(readings["docx"], "jane.smith@example.org"),
            _ack_address(readings["pdf"], "raj.patel@example.net"),
        ]
    )
    for r in received:
        ack = message_from_bytes(r.raw, policy=policy.default)
        assert ack["Auto-Submitted"] == "auto-replied"
        assert "CT08-" in ack.get_body(("plain",)).get_content()

    assert clean_dovecot.list_folder("INBOX") == []
    assert len(clean_dovecot.list_folder(clean_dovecot.folder("Processed"))) == 4
    assert len(clean_dovecot.list_folder(clean_dovecot.folder("Sent"))) == 2

    assert run_intake(config, "run") == 0
    assert len(export(config, tmp_path)) == 2
    assert len(smtp_server.received) == 2
    assert len(clean_dovecot.list_folder(clean_dovecot.folder("Processed"))) == 4


def _ack_address(reading, sender: str) -> str:
    return reading.acknowledge_email or sender
