"""parse_mail: one constructor for every message, tolerant of hostile headers."""

from __future__ import annotations

from builders.docx_forms import build_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message

from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.mail import header_facts, parse_mail

HOSTILE = (
    b"Return-Path: <>\r\n"
    b"From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Ecom?= <eve@example.org>\r\n"
    b"Reply-To: =?utf-8?q?x=0D=0ATo=3A_a=40b=2Ec?= <reply@example.org>\r\n"
    b"Subject: =?utf-8?q?Hi=0D=0ABcc=3A_v=40e=2Ec?=\r\n"
    b"Date: not a date\r\n"
    b"Message-ID: <h-1@example.org>\r\n"
    b"\r\nbody\r\n"
)


def test_hostile_encoded_words_read_as_flat_text_with_the_real_address():
    mail = parse_mail(HOSTILE)
    assert mail.sender == "eve@example.org"
    assert mail.reply_to == "reply@example.org"
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.date is None
    assert mail.envelope_sender == ""


def test_header_facts_do_not_decode_the_body():
    facts = header_facts(HOSTILE)
    assert facts.message_id == "<h-1@example.org>"
    assert facts.sender == "eve@example.org"


def test_forwarded_message_becomes_a_forwarded_mail_with_its_attachment():
    form = load_form(DEFAULT_FORM_PATH)
    inner = build_message(attachments=[("form.docx", DOCX_TYPE, build_docx(form, sample_reading(form, 3), "x_cell"))])
    outer = build_message(
        sender="Office <office@example.org>",
        subject="Fw: response",
        attachments=[("response.eml", "message/rfc822", inner)],
    )
    mail = parse_mail(outer)
    assert [a.filename for a in mail.forwarded[0].attachments] == ["form.docx"]
