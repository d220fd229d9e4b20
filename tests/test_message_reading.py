"""Which part of a message is the response: forms, letters, bodies, and mail that holds none.

Whole messages are built with `builders.mail.build_message`, parsed with `parse_mail` and read with
`read_message`, whose per-attachment reader is `read_attachment` called directly (the service runs
the same function in its sandbox).
"""

from __future__ import annotations

import html
import io
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP

import msoffcrypto.format.ooxml
import pytest
from builders.docx_forms import build_docx, build_letter_docx, retyped_lines, sample_reading
from builders.mail import CONSULTATION, DOCX_TYPE, build_message, out_of_office
from PIL import Image

from parsers.attachments import AttachmentJob, read_attachment
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.mail import parse_mail
from parsers.message import SCAN_REASON, Limits, MessageReading, fingerprint, read_message
from parsers.model import Reading

FORM = load_form(DEFAULT_FORM_PATH)
PASSWORD = "secret"
COVER_LETTER = (
    "Dear Sir or Madam,\n\nPlease find attached our response to the consultation on Children's Trusts.\n\n"
    "Yours faithfully,\nJane Smith\nHead of Children's Services"
)
FREE_FORM_LETTER = (
    "Dear Sir or Madam,\n\n"
    "Children's Trusts: draft statutory guidance\n\n"
    "We broadly welcome the guidance, but we are concerned that no new money comes with the new duties.\n"
    "Schools in our area have not been told what their place on the Board will mean for them.\n\n"
    "Yours faithfully,\n"
    "Peter Murphy\n"
    "Chair, Brackley Vale Parents' Forum"
)
QUESTION = "Hello,\n\nCould you send me the form? I would like to respond to the consultation.\n\nThanks,\nAlison\n"


def read(raw: bytes) -> MessageReading:
    """Parse and read a whole message, reading attachments in this process."""
    return read_message(parse_mail(raw), FORM, read_one=lambda job, data: read_attachment(job, data), limits=Limits())


def filled_form(seed: int = 3, variant: str = "glyph") -> bytes:
    return build_docx(FORM, sample_reading(FORM, seed), variant)


def locked(docx: bytes) -> bytes:
    """The .docx protected with a password, as Word's "Encrypt with Password" saves it."""
    out = io.BytesIO()
    msoffcrypto.format.ooxml.OOXMLFile(io.BytesIO(docx)).encrypt(PASSWORD, out)
    return out.getvalue()


def small_png_logo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (120, 40), (0, 80, 160)).save(buf, "PNG")
    return buf.getvalue()


def html_only_message(body_html: str) -> bytes:
    """A message whose only body is HTML (Outlook set to HTML with plain text off)."""
    msg = EmailMessage()
    msg["From"] = "Grace Bevan <grace.bevan@example.org>"
    msg["To"] = CONSULTATION
    msg["Subject"] = "Children's Trusts consultation response"
    msg["Message-ID"] = "<html-only-1@example.org>"
    msg["Date"] = "Tue, 01 Apr 2008 10:00:00 +0000"
    msg.set_content(body_html, subtype="html")
    return msg.as_bytes(policy=SMTP)


def delivery_status_report() -> bytes:
    """A bounce as Postfix sends it: multipart/report with a message/delivery-status part.

    Its subject and sender say nothing a subject rule would catch, so only the report can tell.
    """
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "postmaster@mx.example.net"
    report["To"] = CONSULTATION
    report["Subject"] = "Children's Trusts consultation acknowledgement"
    report["Message-ID"] = "<report-1@mx.example.net>"
    report.attach(MIMEText("Your message could not be delivered to one or more recipients.\n"))
    per_message, per_recipient = Message(), Message()
    per_message["Reporting-MTA"] = "dns; mx.example.net"
    per_recipient["Final-Recipient"] = "rfc822; nobody@example.org"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = "5.1.1"
    status = Message()
    status.set_type("message/delivery-status")
    status.set_payload([per_message, per_recipient])
    report.attach(status)
    return report.as_bytes()


# --- which attachment is the response -----------------------------------------------------------


def test_a_form_beside_a_cover_letter_is_one_response() -> None:
    result = read(
        build_message(
            attachments=[
                ("Covering letter.docx", DOCX_TYPE, build_letter_docx(COVER_LETTER)),
                ("Response form.docx", DOCX_TYPE, filled_form()),
            ]
        )
    )
    assert result.disposition == "response"
    assert [(r.filename, r.status, r.text) for r in result.readings] == [("Response form.docx", "filed", None)]


def test_two_forms_in_one_message_are_two_responses() -> None:
    forms = [("Response - Eastwick.docx", filled_form(3)), ("Response - Thornbury Heath.docx", filled_form(4, "sdt"))]
    result = read(build_message(attachments=[(name, DOCX_TYPE, data) for name, data in forms]))
    assert result.disposition == "response"
    assert sorted(r.filename for r in result.readings) == sorted(name for name, _ in forms)
    assert all(r.status == "filed" for r in result.readings)


def test_a_response_forwarded_as_an_attached_message_is_one_response() -> None:
    inner = build_message(
        sender="Aoife Murphy <aoife.murphy@example.org>",
        attachments=[("Response form.docx", DOCX_TYPE, filled_form())],
    )
    result = read(
        build_message(
            sender="Office Manager <office@example.org>",
            subject="FW: Children's Trusts consultation response",
            body="Forwarding Aoife's response, as she could not reach your address.\n",
            attachments=[("Children's Trusts consultation response.eml", "message/rfc822", inner)],
        )
    )
    assert result.disposition == "response"
    assert [(r.filename, r.status) for r in result.readings] == [("Response form.docx", "filed")]
    got, sent = result.readings[0].respondent, sample_reading(FORM, 3).respondent
    assert (got.name, got.email) == (sent.name, sent.email)


def test_a_free_form_letter_alone_is_a_response_for_a_person_to_read() -> None:
    result = read(build_message(attachments=[("Our views.docx", DOCX_TYPE, build_letter_docx(FREE_FORM_LETTER))]))
    assert result.disposition == "response"
    assert len(result.readings) == 1
    letter = result.readings[0]
    assert letter.status == "needs_review"
    assert letter.text is not None
    assert _lines(letter.text) == _lines(FREE_FORM_LETTER)


def _lines(text: str) -> list[str]:
    """The non-blank lines of a text (a reader may drop the empty paragraphs between them)."""
    return [line.strip() for line in text.splitlines() if line.strip()]


# --- answers in the body ------------------------------------------------------------------------


def test_answers_in_the_body_with_no_attachment_are_one_body_response() -> None:
    body = "\n".join(retyped_lines(FORM, sample_reading(FORM, 3))) + "\n"
    result = read(build_message(body=body))
    assert result.disposition == "response"
    assert [(r.source_kind, r.filename, r.status) for r in result.readings] == [("body", None, "filed")]


def test_answers_in_an_html_only_body_are_one_body_response() -> None:
    expected = sample_reading(FORM, 3)
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" if line else "<br>" for line in retyped_lines(FORM, expected))
    result = read(html_only_message(f"<html><body>{paragraphs}</body></html>"))
    assert result.disposition == "response"
    assert [(r.source_kind, r.status) for r in result.readings] == [("body", "filed")]
    body = result.readings[0]
    assert body.respondent.name == expected.respondent.name
    assert {q: a.choice for q, a in body.answers.items()} == {q: a.choice for q, a in expected.answers.items()}


# --- mail that holds no response ----------------------------------------------------------------


def test_a_question_without_answers_is_correspondence() -> None:
    result = read(build_message(subject="Children's Trusts consultation", body=QUESTION))
    assert (result.disposition, result.readings) == ("correspondence", ())


def test_an_out_of_office_reply_is_an_auto_reply() -> None:
    result = read(out_of_office())
    assert (result.disposition, result.readings) == ("auto_reply", ())


def test_a_delivery_status_report_is_a_bounce() -> None:
    result = read(delivery_status_report())
    assert (result.disposition, result.reason, result.readings) == ("bounce", "delivery status report", ())


def test_flagged_spam_about_something_else_is_junk() -> None:
    result = read(
        build_message(
            sender="Prize Desk <winner@lottery.example.com>",
            subject="Congratulations, you have won",
            body="You have won the lottery! Claim your prize today by wire transfer via Western Union.\n",
            headers={"X-Spam-Flag": "YES"},
        )
    )
    assert result.disposition == "junk"
    assert result.readings == ()


def test_a_logo_beside_a_question_is_correspondence() -> None:
    """An e-mail signature's logo is not a scanned form, and the message says it was skipped and why."""
    logo = small_png_logo()
    result = read(build_message(body=QUESTION, attachments=[("logo.png", "image/png", logo)]))
    assert (result.disposition, result.readings) == ("correspondence", ())
    assert result.problems == (
        "skipped logo.png: a picture of 120 x 40 pixels, too small to be a page of the form (a logo or signature)",
    )


def test_a_small_file_photo_of_a_page_goes_to_review_as_a_scan() -> None:
    """A photo of the form compresses to a few kilobytes when it is plain; its size in pixels tells."""
    buf = io.BytesIO()
    Image.new("L", (850, 1100), 255).save(buf, "JPEG", quality=30)
    assert len(buf.getvalue()) < 150_000
    result = read(
        build_message(body="My form is attached.", attachments=[("IMG_0042.jpg", "image/jpeg", buf.getvalue())])
    )
    assert result.disposition == "response"
    assert result.readings[0].review_reasons == (SCAN_REASON,)


def test_a_contact_card_is_skipped_with_why() -> None:
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jo Bloggs\r\nEND:VCARD\r\n"
    result = read(build_message(body=QUESTION, attachments=[("Jo Bloggs.vcf", "text/vcard", card)]))
    assert result.problems == ("skipped Jo Bloggs.vcf: a contact card (vCard)",)


# --- attachments that cannot be read as forms ---------------------------------------------------


def test_a_password_protected_form_is_one_response_for_review() -> None:
    result = read(build_message(attachments=[("Response form.docx", DOCX_TYPE, locked(filled_form()))]))
    assert result.disposition == "response"
    assert len(result.readings) == 1
    reading = result.readings[0]
    assert (reading.filename, reading.status) == ("Response form.docx", "needs_review")
    assert any("password" in reason.lower() for reason in reading.review_reasons)


def test_a_text_file_named_docx_is_not_read_as_a_word_document() -> None:
    """The content decides: plain text named .docx is not handed to the Word reader (no crash, no
    "corrupt document" reason). A plain-text attachment is not a candidate response, so a message
    carrying only a note as text is correspondence for a person, not an unreadable response."""
    note = b"Note to self: send the Children's Trusts response by 31 May.\n"
    result = read(build_message(body=QUESTION, attachments=[("Response form.docx", DOCX_TYPE, note)]))
    assert (result.disposition, result.readings) == ("correspondence", ())


# --- fingerprints tell a response sent again from a new one ---------------------------------------


def _only_reading(raw: bytes) -> Reading:
    result = read(raw)
    assert len(result.readings) == 1
    return result.readings[0]


def test_the_same_response_sent_twice_has_the_same_fingerprint() -> None:
    form = filled_form()
    first = _only_reading(build_message(attachments=[("Response form.docx", DOCX_TYPE, form)]))
    again = _only_reading(
        build_message(subject="RE: resending our response", attachments=[("Response (2).docx", DOCX_TYPE, form)])
    )
    assert fingerprint(first) == fingerprint(again)


def test_different_responses_have_different_fingerprints() -> None:
    one = _only_reading(build_message(attachments=[("Response form.docx", DOCX_TYPE, filled_form(3))]))
    other = _only_reading(build_message(attachments=[("Response form.docx", DOCX_TYPE, filled_form(4))]))
    assert fingerprint(one) != fingerprint(other)


@pytest.mark.parametrize("same_file", [True, False], ids=["same-locked-file", "different-locked-files"])
def test_locked_files_are_told_apart_by_their_bytes(same_file: bool) -> None:
    first_file = locked(filled_form(3))
    second_file = first_file if same_file else locked(filled_form(4))
    first = _only_reading(build_message(attachments=[("Response form.docx", DOCX_TYPE, first_file)]))
    second = _only_reading(build_message(attachments=[("Response form.docx", DOCX_TYPE, second_file)]))
    assert first.status == second.status == "needs_review"
    assert (fingerprint(first) == fingerprint(second)) is same_file


def test_read_one_is_given_the_sniffed_kind_and_the_filename() -> None:
    """The job handed to the reader names what the content is, whatever the declared type said."""
    jobs: list[AttachmentJob] = []

    def recording_reader(job: AttachmentJob, data: bytes) -> Reading:
        jobs.append(job)
        reading = read_attachment(job, data)
        assert isinstance(reading, Reading)
        return reading

    raw = build_message(attachments=[("Response form.docx", "application/octet-stream", filled_form())])
    read_message(parse_mail(raw), FORM, read_one=recording_reader, limits=Limits())
    assert [(j.kind, j.filename) for j in jobs] == [("docx", "Response form.docx")]


def test_a_plain_text_attachment_holding_answers_is_read_as_a_response() -> None:
    text = "\n".join(retyped_lines(FORM, sample_reading(FORM, 3)))
    result = read(
        build_message(
            body="My answers are in the attached file.\n", attachments=[("response.txt", "text/plain", text.encode())]
        )
    )
    assert result.disposition == "response"
    [reading] = result.readings
    assert reading.filename == "response.txt" and reading.source_kind == "other"


def test_a_plain_text_footer_attachment_is_not_a_response() -> None:
    raw = build_message(
        body="Could you send me the form please?\n",
        attachments=[("ATT00001.txt", "text/plain", b"This e-mail has been scanned for viruses.\n")],
    )
    assert read(raw).disposition == "correspondence"


def test_the_same_response_as_word_and_as_pdf_is_one_response() -> None:
    from builders.pdf_forms import build_acroform_pdf

    filled = sample_reading(FORM, 5)
    result = read(
        build_message(
            attachments=[
                ("Response.docx", DOCX_TYPE, build_docx(FORM, filled, "x_cell")),
                ("Response.pdf", "application/pdf", build_acroform_pdf(FORM, filled)),
            ]
        )
    )
    assert [r.filename for r in result.readings] == ["Response.docx"]


def test_a_response_forwarded_inline_is_read_from_below_the_forward_marker() -> None:
    answers = "\n".join(retyped_lines(FORM, sample_reading(FORM, 8)))
    body = (
        "Please see below the response from our chair, who asked me to send it on.\n\n"
        "-----Original Message-----\n"
        "From: Chair <chair@example.org>\n"
        "Sent: 01 April 2008 09:00\n"
        "To: Office <office@example.org>\n"
        "Subject: consultation response\n\n" + answers + "\n"
    )
    result = read(build_message(sender="Office <office@example.org>", subject="FW: consultation response", body=body))
    assert result.disposition == "response"
    [reading] = result.readings
    assert reading.source_kind == "body"
    assert reading.respondent.name == sample_reading(FORM, 8).respondent.name


def test_a_question_quoting_the_consultation_mailshot_is_correspondence() -> None:
    mailshot = "\n".join(f"Question {q.number}: {q.text}" for q in FORM.questions)
    body = (
        "Could you send me the response form in Word, please?\n\n"
        "-----Original Message-----\nFrom: Children's Trusts Consultation <"
        + CONSULTATION
        + ">\nSent: 01 April 2008\nTo: Ann\nSubject: Consultation\n\n"
        + mailshot
        + "\n"
    )
    assert read(build_message(body=body)).disposition == "correspondence"


def test_a_scanned_form_is_a_response_for_review_saying_why() -> None:
    from builders.pdf_forms import build_scanned_pdf

    result = read(build_message(attachments=[("scan.pdf", "application/pdf", build_scanned_pdf())]))
    assert result.disposition == "response"
    [reading] = result.readings
    assert reading.review_reasons == ("scanned document, no text",)


def test_a_question_number_beside_another_questions_wording_goes_to_review() -> None:
    q3, q4 = FORM.question("q3"), FORM.question("q4")
    body = (
        "Name: Pat Example\nCategory: Parent or carer\n\n"
        f"Question 1: Agree\n\nQuestion {q3.number}: {q4.text} Agree\n\nQuestion 5: Disagree\n"
    )
    [reading] = read(build_message(body=body)).readings
    assert reading.status == "needs_review"
    assert any("wording of question 4" in r for r in reading.review_reasons)


def test_answers_in_an_html_table_are_read_and_never_join_the_comment_above() -> None:
    html = (
        "<html><body><p>My response:</p>"
        "<table><tr><td>Name</td><td>Jo Bloggs</td></tr><tr><td>Category</td><td>Parent or carer</td></tr></table>"
        "<p>Question 1: Agree<br>Comment: Clear enough.</p><p>Question 2: Disagree</p>"
        "<table><tr><td>Question 3</td><td>Not sure</td></tr><tr><td>Question 4</td><td>Agree</td></tr></table>"
        "</body></html>"
    )
    [reading] = read(build_message(body="", html=html)).readings
    assert (reading.respondent.name, reading.respondent.category) == ("Jo Bloggs", "parent")
    assert [reading.answers[q].choice for q in ("q1", "q2", "q3", "q4")] == ["agree", "disagree", "not_sure", "agree"]
    assert reading.answers["q1"].comment == "Clear enough."


def test_two_identical_unsigned_forms_in_one_message_stay_two_responses() -> None:
    from dataclasses import replace

    from parsers.model import Respondent

    anonymous = replace(sample_reading(FORM, 6), respondent=Respondent(category="young_person"))
    first = build_docx(FORM, anonymous, "x_cell")
    second = build_docx(FORM, anonymous, "glyph")  # other bytes, same words
    result = read(build_message(attachments=[("pupil1.docx", DOCX_TYPE, first), ("pupil2.docx", DOCX_TYPE, second)]))
    assert [r.filename for r in result.readings] == ["pupil1.docx", "pupil2.docx"]
