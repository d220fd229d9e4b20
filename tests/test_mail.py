"""parse_mail: one constructor for every message, tolerant of hostile headers."""

from __future__ import annotations

import email
from email.message import EmailMessage, Message

from builders.docx_forms import build_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message

from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.mail import TOLERANT, header_facts, parse_mail

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


def _tree(message: Message) -> list[tuple]:
    """Everything of a parsed message that reading it can see, part by part."""
    return [
        (
            type(part).__name__,
            part.get_content_type(),
            [(name, str(value)) for name, value in part.items()],
            None if part.is_multipart() else part.get_payload(decode=True),
            [type(defect).__name__ for defect in part.defects],
            part.get_filename(),
            part.preamble,
            part.epilogue,
        )
        for part in message.walk()
    ]


def test_the_headers_are_the_tree_mail_parser_parsed_read_as_the_tolerant_policy_reads_a_parse_of_its_own():
    """parse_mail parses the bytes once: the tree mail-parser made serves as the EmailMessage too."""
    form = load_form(DEFAULT_FORM_PATH)
    inner = build_message(attachments=[("form.docx", DOCX_TYPE, build_docx(form, sample_reading(form, 3), "x_cell"))])
    broken = (  # a part that never ends: defects on the message
        b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n"
        b"--zz\r\nContent-Type: text/plain\r\n\r\nno end"
    )
    deep = b"Content-Type: text/plain\r\n\r\nhello\r\n"
    for level in range(700):  # deeper than Python's recursion limit allows a recursive copy
        boundary = f"b{level}".encode()
        deep = b"Content-Type: multipart/mixed; boundary=%s\r\n\r\n--%s\r\n%s\r\n--%s--\r\n" % (
            boundary, boundary, deep, boundary,
        )  # fmt: skip
    for raw in (
        HOSTILE,
        broken,
        b"From: a@example.org\r\n" + deep,
        inner,
        build_message(sender="Office <office@example.org>", attachments=[("response.eml", "message/rfc822", inner)]),
    ):
        headers = parse_mail(raw).headers
        assert isinstance(headers, EmailMessage) and headers.policy is TOLERANT
        assert _tree(headers) == _tree(email.message_from_bytes(raw, policy=TOLERANT))
