"""The acknowledgement: threading and automatic-reply headers, header injection, escaping, templates."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import pytest

from ingest.ack_compose import Reply, compose_acknowledgement, reply_subject, safe_text, valid_message_id
from ingest.errors import ConfigError, MessageError

US = "childrentrusts.consultation@dcsf.gsi.gov.uk"
LONG_ID = "<OF1AB51D15.FE9C2089-ON80250ADE.0CF29BE3-8025129E.E229F3DC@marshamhospitalsfoundati.nhs.example.net>"


def original(subject: str = "Children's Trusts consultation response", message_id: str = "<r1@example.org>",
             references: str | None = None) -> EmailMessage:  # fmt: skip
    """A response as the intake parsed it (policy=default, like the real parser)."""
    raw = (
        f"From: Jane Smith <jane.smith@example.org>\r\nTo: {US}\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n" + (f"References: {references}\r\n" if references else "") + "\r\nHi.\r\n"
    )
    return email.message_from_bytes(raw.encode(), policy=email.policy.default)


def acknowledge(orig: EmailMessage | None = None, **overrides: object) -> Reply:
    """compose_acknowledgement with sensible arguments, any of which a test may override."""
    arguments: dict[str, object] = {
        "original": orig if orig is not None else original(),
        "to_address": "jane.smith@example.org",
        "to_name": "Jane Smith",
        "from_address": US,
        "from_name": "Children's Trusts Consultation",
        "references": ["CT08-000123"],
        "received_at": datetime(2008, 4, 1, 10, 22, tzinfo=UTC),
        "questions_answered": 7,
        "questions_total": 8,
        "confidential": False,
        "contact": "the Consultation Unit, 0870 000 2288",
        "loop_header": "X-Consultation-Intake",
        "message_id_domain": "intake.dcsf.example.net",
        "subject_template": None,
        "templates_dir": None,
    }
    arguments.update(overrides)
    return compose_acknowledgement(**arguments)


def wire(reply: Reply) -> tuple[bytes, EmailMessage]:
    """The bytes that would be sent, and what a receiver parses from them."""
    return reply.raw, email.message_from_bytes(reply.raw, policy=email.policy.default)


def text_part(msg: EmailMessage) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def html_part(msg: EmailMessage) -> str:
    return msg.get_body(("html",)).get_content().replace("\r\n", "\n")


# --------------------------------------------------------------------------- headers


def test_reply_headers() -> None:
    _, sent = wire(acknowledge(original(references="<a@example.org> <b@example.org>")))
    assert sent["From"].addresses[0].addr_spec == US
    assert sent["To"].addresses[0].addr_spec == "jane.smith@example.org"
    assert sent["Subject"] == "Re: Children's Trusts consultation response"
    assert sent["In-Reply-To"] == "<r1@example.org>"
    assert sent["References"].split() == ["<a@example.org>", "<b@example.org>", "<r1@example.org>"]
    assert sent["Auto-Submitted"] == "auto-replied"
    assert sent["X-Auto-Response-Suppress"] == "All"
    assert sent["Precedence"] == "bulk"
    assert sent["X-Consultation-Intake"] == "CT08-000123"
    assert re.fullmatch(r"<[^@<>\s]+@intake\.dcsf\.example\.net>", sent["Message-ID"])
    assert sent["Date"].datetime.tzinfo is not None
    assert sent.get_content_type() == "multipart/alternative"


def test_long_message_id_is_not_mangled() -> None:
    """The email package would RFC 2047-encode a long id in an unstructured header."""
    raw, sent = wire(acknowledge(original(message_id=LONG_ID)))
    assert f"In-Reply-To: {LONG_ID}".encode() in raw
    assert b"=?utf-8?" not in raw.split(b"\r\n\r\n", 1)[0]
    assert sent["References"] == LONG_ID


def test_subject_is_not_re_re() -> None:
    _, sent = wire(acknowledge(original(subject="RE: Re: Consultation")))
    assert sent["Subject"] == "Re: Consultation"


def test_configured_subject() -> None:
    _, sent = wire(acknowledge(subject_template="Your response {{ reference_list }} has been received"))
    assert sent["Subject"] == "Your response CT08-000123 has been received"


def test_broken_subject_template_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        acknowledge(subject_template="{{ nonsense }")


def test_empty_subject_gets_a_default() -> None:
    assert reply_subject("", None, ["CT08-000001"]) == "Your response to the consultation"


@pytest.mark.parametrize(
    "message_id", ["not-an-id", "<no-at-sign>", "<unterminated@example.org", "<a@example.org> <b@example.org>"]
)
def test_malformed_message_id_is_not_copied(message_id: str) -> None:
    raw, sent = wire(acknowledge(original(message_id=message_id)))
    assert sent["In-Reply-To"] is None and sent["References"] is None


def test_valid_message_id_ignores_folding() -> None:
    assert valid_message_id(" <768CA90F@EXCH02.example.org>") == "<768CA90F@EXCH02.example.org>"
    assert valid_message_id("<a@b>\r\nBcc: x@y") is None


def test_invalid_recipient_is_a_message_error() -> None:
    with pytest.raises(MessageError):
        acknowledge(to_address="jane@example.org\r\nBcc: victim@example.com")


@pytest.mark.parametrize("bad", [{"loop_header": "X Bad"}, {"message_id_domain": "a b\r\n"}])
def test_bad_configuration_is_a_config_error(bad: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        acknowledge(**bad)


# --------------------------------------------------------------------------- injection


def assert_no_injected_bcc(raw: bytes, sent: EmailMessage) -> None:
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc:") for line in head.split(b"\r\n"))
    assert sent["Bcc"] is None
    assert sent.get_all("To") is not None and len(sent.get_all("To")) == 1
    assert [a.addr_spec for a in sent["To"].addresses] == ["jane.smith@example.org"]


def test_name_with_crlf_cannot_inject_a_header() -> None:
    raw, sent = wire(acknowledge(to_name="Eve\r\nBcc: victim@example.com"))
    assert_no_injected_bcc(raw, sent)
    assert "Eve" in sent["To"].addresses[0].display_name


def test_name_with_an_encoded_crlf_cannot_inject_a_header() -> None:
    raw, sent = wire(acknowledge(to_name="=?utf-8?q?Eve=0D=0ABcc:_victim@example.com?="))
    assert_no_injected_bcc(raw, sent)


def test_subject_with_an_encoded_crlf_cannot_inject_a_header() -> None:
    """The parser decodes the original's subject; its CR/LF must not reach our header."""
    orig = original(subject="=?utf-8?q?Hi=0D=0ABcc:_victim@example.com?=")
    assert "\r\n" in str(orig["Subject"]) or "\n" in str(orig["Subject"])
    raw, sent = wire(acknowledge(orig))
    assert_no_injected_bcc(raw, sent)
    assert sent["Subject"].startswith("Re: Hi")


def test_subject_with_literal_encoded_word_text_is_not_decoded_again() -> None:
    orig = original(subject="=?utf-8?q?=3D=3Futf-8=3Fq=3FX=3D0D=3D0ABcc:_v@example.com=3F=3D?=")
    raw, sent = wire(acknowledge(orig))
    assert_no_injected_bcc(raw, sent)


def test_safe_text() -> None:
    assert safe_text("Eve\r\nBcc: x\x00\u2028y") == "Eve Bcc: x y"
    assert "=?" not in safe_text("=?utf-8?q?x?=")


# --------------------------------------------------------------------------- bodies and templates


def test_body_says_what_was_received_and_read() -> None:
    _, sent = wire(acknowledge(confidential=True))
    text = text_part(sent)
    assert "CT08-000123" in text
    assert "1 April 2008" in text
    assert "We read answers to 7 of the 8 questions." in text
    assert "keep your response confidential" in text and "did not ask" not in text
    assert "the Consultation Unit, 0870 000 2288" in text
    assert "Dear Jane Smith" in text


def test_not_confidential_is_said_so() -> None:
    assert "did not ask us to keep your response confidential" in text_part(wire(acknowledge())[1])


def test_two_forms_list_every_reference_once() -> None:
    _, sent = wire(acknowledge(references=["CT08-000123", "CT08-000124"]))
    for body in (text_part(sent), html_part(sent)):
        assert "CT08-000123" in body and "CT08-000124" in body
    assert sent["X-Consultation-Intake"] == "CT08-000123, CT08-000124"
    assert sent["In-Reply-To"] == "<r1@example.org>"


def test_html_escapes_the_name() -> None:
    _, sent = wire(acknowledge(to_name="<script>alert(1)</script> Smith"))
    html = html_part(sent)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Smith" in html
    assert "<script>alert(1)</script> Smith" in text_part(sent)


def test_template_override(tmp_path: Path) -> None:
    (tmp_path / "acknowledgement.txt.j2").write_text("Received {{ references | join(' and ') }}.\n")
    _, sent = wire(acknowledge(templates_dir=tmp_path, references=["CT08-000001", "CT08-000002"]))
    assert text_part(sent) == "Received CT08-000001 and CT08-000002.\n"
    assert "CT08-000002" in html_part(sent)  # the shipped HTML template still applies


def test_overridden_html_template_is_autoescaped(tmp_path: Path) -> None:
    (tmp_path / "acknowledgement.html.j2").write_text("<p>{{ to_name }}</p>\n")
    _, sent = wire(acknowledge(templates_dir=tmp_path, to_name="A & B <i>"))
    assert html_part(sent) == "<p>A &amp; B &lt;i&gt;</p>\n"


def test_template_error_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "acknowledgement.txt.j2").write_text("{{ no_such_value }}")
    with pytest.raises(ConfigError):
        acknowledge(templates_dir=tmp_path)


def test_no_reference_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        acknowledge(references=[])


def test_an_attachment_that_could_not_be_opened_is_asked_for_again() -> None:
    """Not "we read answers to 0 of the 8 questions": the respondent learns what to send instead."""
    text = text_part(wire(acknowledge(questions_answered=0, unopened=["Response form.docx"]))[1])
    assert 'We could not open the file "Response form.docx"' in text
    assert "as a Word document, as a PDF, or with your answers written in the body of an e-mail" in text
    assert "We read answers to" not in text


def test_a_response_with_no_answers_read_is_not_counted_as_none() -> None:
    text = text_part(wire(acknowledge(questions_answered=0))[1])
    assert "We did not find answers to the form's questions in your message" in text
    assert "0 of the 8" not in text


TRICKY_NAMES = [
    "Smith, Jane",
    'Jane "JJ" Smith',
    "O'Brien \\ Sons",
    "Zoë Ångström-Łukasiewicz",
    "张伟",
    "Ms " + "Very Long Name " * 12,
    "Ñandú " * 30,
    "😀 Emoji Person",
]


@pytest.mark.parametrize("name", TRICKY_NAMES)
def test_any_name_and_subject_arrive_as_written_without_defects(name: str) -> None:
    """The headers are folded and encoded here (compat32 writes what it is given): whatever the
    script or length, a receiver reads back exactly the safe text, with no defect noted."""
    subject = f"Réponse: {name}"
    raw, sent = wire(acknowledge(original(subject=subject), to_name=name))
    header_block = raw.split(b"\r\n\r\n", 1)[0]
    assert header_block.isascii()
    assert all(len(line) <= 78 for line in header_block.split(b"\r\n") if not line.lstrip().startswith(b"<"))
    # An RFC 2047 decoder (CPython's address parser adds a space between encoded words; so did
    # the acknowledgements made with EmailMessage, which encoded names the same way)
    as_sent = email.message_from_bytes(raw)  # compat32: header values as written
    to = str(make_header(decode_header("".join(as_sent["To"].split("\r\n")))))
    assert parseaddr(to) == (safe_text(name), "jane.smith@example.org")
    assert sent["Subject"] == reply_subject(safe_text(subject), None, ["CT08-000123"])
    for header in ("From", "To", "Subject", "In-Reply-To", "References"):
        assert not sent[header].defects, (header, sent[header].defects)
    assert not sent.defects and not any(part.defects for part in sent.walk())
