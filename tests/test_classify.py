"""Automatic mail and junk told from mail a person sent, over hand-built messages of each kind."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from parsers.classify import AUTO_REPLY, BOUNCE, SPAM_PHRASES, classify_automatic, looks_like_junk, spam_phrases
from parsers.formdef import DEFAULT_FORM_PATH, load_form

US = "childrentrusts.consultation@dcsf.gsi.gov.uk"
FORM = load_form(DEFAULT_FORM_PATH)


def message(subject: str, sender: str = "Jane Smith <jane.smith@example.org>", body: str = "Hello.",
            **headers: str) -> EmailMessage:  # fmt: skip
    """A plain-text message to the consultation; extra headers given as Header_Name='value'."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = US
    msg["Subject"] = subject
    msg["Message-ID"] = "<1@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def with_form(msg: EmailMessage, filename: str = "Response form.docx") -> EmailMessage:
    """The message with a (fake) Word response form attached."""
    msg.add_attachment(b"PK\x03\x04 not really a docx", maintype="application", subtype="octet-stream",
                       filename=filename)  # fmt: skip
    return msg


def parsed(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def exchange_oof() -> EmailMessage:
    """What Exchange 2007 sends for an out-of-office rule."""
    return parsed(
        b"From: Priya Shah <priya.shah@borough.example.gov.uk>\r\n"
        b"To: " + US.encode() + b"\r\n"
        b"Subject: Out of Office: Children's Trusts consultation response\r\n"
        b"Thread-Topic: Children's Trusts consultation response\r\n"
        b"Thread-Index: AciXsbKxn0p8bQl7R9aHc1m2b9a0Ag==\r\n"
        b"Date: Mon, 14 Apr 2008 09:12:01 +0100\r\n"
        b"Message-ID: <5E1B2C3D4A@EXCH01.borough.example.gov.uk>\r\n"
        b"Auto-Submitted: auto-generated\r\n"
        b"X-Auto-Response-Suppress: All\r\n"
        b"X-MS-Exchange-Inbox-Rules-Loop: priya.shah@borough.example.gov.uk\r\n"
        b'Content-Type: text/plain; charset="us-ascii"\r\n'
        b"MIME-Version: 1.0\r\n\r\n"
        b"I am on leave until 21 April. For urgent matters call 01632 960000.\r\n"
    )


def postfix_dsn() -> EmailMessage:
    """A Postfix delivery status notification (multipart/report)."""
    return parsed(
        b"Return-Path: <>\r\n"
        b"From: MAILER-DAEMON@mx1.example.com (Mail Delivery System)\r\n"
        b"To: " + US.encode() + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-Id: <20080501123710.79DCF9@mx1.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx1.example.com\r\n\r\nFinal-Recipient: rfc822; a@example.net\r\n"
        b"Action: failed\r\nStatus: 5.2.2\r\n\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: " + US.encode() + b"\r\nSubject: Your response\r\n\r\nThank you.\r\n"
        b"--B--\r\n"
    )


def qmail_bounce() -> EmailMessage:
    """qmail-send's bounce: plain text, no report, no Auto-Submitted."""
    return parsed(
        b"Return-Path: <>\r\n"
        b"From: MAILER-DAEMON@mail.example.net\r\n"
        b"To: " + US.encode() + b"\r\n"
        b"Subject: failure notice\r\n"
        b"Message-ID: <20080502101010.1234.qmail@mail.example.net>\r\n\r\n"
        b"Hi. This is the qmail-send program at mail.example.net.\r\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\r\n"
        b"<tom@example.net>:\r\nSorry, no mailbox here by that name. (#5.1.1)\r\n"
    )


# --------------------------------------------------------------------------- automatic mail


def test_exchange_out_of_office_is_an_auto_reply() -> None:
    assert classify_automatic(exchange_oof(), "priya.shah@borough.example.gov.uk").disposition == AUTO_REPLY


def test_exchange_suppress_header_alone_counts_with_exchange_mark() -> None:
    msg = message("Children's Trusts", X_Auto_Response_Suppress="All",
                  X_MS_Exchange_Inbox_Rules_Loop="a@example.org")  # fmt: skip
    result = classify_automatic(msg, "a@example.org")
    assert result is not None and result.reason == "Exchange automatic reply"


def test_suppress_header_from_a_person_is_not_automatic() -> None:
    """Outlook sets X-Auto-Response-Suppress on ordinary mail too."""
    assert classify_automatic(message("My views", X_Auto_Response_Suppress="DR, OOF"), None) is None


def test_notes_out_of_office_with_auto_submitted() -> None:
    msg = message("James Llŷr is out of the office.", Auto_Submitted="auto-generated (vacation)")
    result = classify_automatic(msg, "jllyr@example.net")
    assert result.disposition == AUTO_REPLY
    assert result.reason == "Auto-Submitted: auto-generated"


def test_auto_submitted_no_is_a_person() -> None:
    assert classify_automatic(message("Response", Auto_Submitted="no"), None) is None


@pytest.mark.parametrize(
    "headers",
    [{"X_Autoreply": "yes"}, {"X_Autorespond": "Out of office"}, {"Precedence": "auto_reply"}],
)
def test_old_auto_reply_headers(headers: dict[str, str]) -> None:
    assert classify_automatic(message("Hello", **headers), None).disposition == AUTO_REPLY


@pytest.mark.parametrize(
    "subject",
    [
        "Out of Office: Children's Trusts consultation",
        "Out of Office AutoReply: Consultation",
        "Automatic reply: Consultation response",
        "Auto: Consultation response",
        "Away from my desk",
        "Abwesenheitsnotiz: Konsultation",
        "Jo Bloggs is out of the office.",
    ],
)
def test_out_of_office_subjects(subject: str) -> None:
    assert classify_automatic(message(subject), None).disposition == AUTO_REPLY


def test_out_of_office_subject_with_a_form_attached_is_kept() -> None:
    """A document decides: the response is read rather than thrown away on a subject."""
    msg = with_form(message("Out of Office: our response is attached", Auto_Submitted="auto-replied"))
    assert classify_automatic(msg, "jane.smith@example.org") is None


def test_out_of_hours_services_is_not_out_of_office() -> None:
    assert classify_automatic(message("Response from the out of office hours service"), None) is None


def test_read_receipt_is_automatic() -> None:
    msg = parsed(
        b"From: a@example.org\r\nSubject: Read: Consultation\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=disposition-notification; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n--B--\r\n"
    )
    assert classify_automatic(msg, "a@example.org").disposition == AUTO_REPLY


def test_postfix_dsn_is_a_bounce() -> None:
    result = classify_automatic(postfix_dsn(), "<>")
    assert (result.disposition, result.reason) == (BOUNCE, "delivery status report")


def test_qmail_bounce_without_report_is_a_bounce() -> None:
    result = classify_automatic(qmail_bounce(), "<>")
    assert (result.disposition, result.reason) == (BOUNCE, "bounce subject from a mail system")


@pytest.mark.parametrize(
    "subject", ["Delivery Status Notification (Failure)", "Returned mail: see transcript for details",
                "Undeliverable: Consultation response"],
)  # fmt: skip
def test_postmaster_bounce_subjects(subject: str) -> None:
    msg = message(subject, sender="postmaster@example.net")
    assert classify_automatic(msg, None).disposition == BOUNCE


def test_bounce_subject_with_null_envelope_sender() -> None:
    msg = message("Mail delivery failed: returning message to sender", sender="Mail System <mx@example.net>")
    assert classify_automatic(msg, "<>").disposition == BOUNCE


def test_bounce_like_subject_from_a_person_is_not_a_bounce() -> None:
    msg = message("Returned mail - I think my response was undelivered?")
    assert classify_automatic(msg, "jane.smith@example.org") is None


def test_request_for_the_form_is_not_automatic() -> None:
    msg = message("Can I have the form?", body="Could you send me a copy of the response form please?")
    assert classify_automatic(msg, "jane.smith@example.org") is None


def test_response_with_form_is_not_automatic() -> None:
    msg = with_form(message("Children's Trusts consultation response"))
    assert classify_automatic(msg, "jane.smith@example.org") is None


# --------------------------------------------------------------------------- junk


def test_spam_flag_header_is_junk() -> None:
    assert looks_like_junk(message("Hi", X_Spam_Flag="YES"), "hi", FORM) == "X-Spam-Flag: YES"


def test_spam_status_header_is_junk() -> None:
    msg = message("Hi", X_Spam_Status="Yes, score=14.2 required=5.0 tests=BAYES_99")
    assert looks_like_junk(msg, "hi", FORM) == "X-Spam-Status: Yes"


def test_spam_status_no_is_not_junk() -> None:
    assert looks_like_junk(message("Hi", X_Spam_Status="No, score=0.1"), "hi", FORM) is None


def test_spam_phrases_without_relation_are_junk() -> None:
    text = "Congratulations, you have won the lottery! Send your details for the wire transfer."
    reason = looks_like_junk(message("You are a winner"), text, FORM)
    assert reason is not None and "lottery" in reason


def test_flagged_mail_about_the_consultation_is_not_junk() -> None:
    """A spam filter's false positive must not lose a response."""
    msg = message("Children's Trusts consultation response", X_Spam_Flag="YES")
    assert looks_like_junk(msg, "Please find our response attached.", FORM) is None


def test_spam_phrase_quoted_in_a_response_is_not_junk() -> None:
    text = "Our answer to question 1 is below.\n\n-- Newsletter: click here to unsubscribe"
    assert looks_like_junk(message("Our views"), text, FORM) is None


def test_spam_phrase_with_a_document_is_not_junk() -> None:
    assert looks_like_junk(with_form(message("Views")), "you have won our support", FORM) is None


def test_ordinary_question_is_not_junk() -> None:
    assert looks_like_junk(message("Can I have the form?"), "Could you send me a copy?", FORM) is None


# Two phrases of each kind of scam, as the spam of the day writes them.
SPAM_OF_EACH_KIND = {
    "pharmacy": "Buy Viagra and Cialis from our online pharmacy, no prescription needed.",
    "money": "Dear winner, you have won the lottery: claim your prize by wire transfer.",
    "loans": "You are pre-approved! Refinance today at the lowest mortgage rates.",
    "phishing": "Your account has been suspended. Verify your account and confirm your password here.",
    "marketing": "Limited time offer on replica watches: act now, 100% free delivery.",
}


def test_every_kind_of_spam_phrase_has_an_example() -> None:
    assert set(SPAM_OF_EACH_KIND) == set(SPAM_PHRASES)


@pytest.mark.parametrize("kind", sorted(SPAM_OF_EACH_KIND))
def test_two_phrases_of_a_kind_are_junk(kind: str) -> None:
    reason = looks_like_junk(message("Hello"), SPAM_OF_EACH_KIND[kind], FORM)
    assert reason is not None and reason.startswith("spam phrases: ")


def test_one_phrase_alone_is_not_junk() -> None:
    assert looks_like_junk(message("Hello"), "I work from home on Fridays; could you send me the form?", FORM) is None


@pytest.mark.parametrize(
    "text",
    [
        "We want the Board to make an impact now, before the next spending round.",
        "We support the enlargement of the beneficiary group to include care leavers.",
        "Please send a password-protected copy if the response is confidential.",
        "The council will not refinance the Board's budget.",
    ],
)
def test_words_inside_other_words_are_no_signal(text: str) -> None:
    assert len(spam_phrases(text)) < 2
    assert looks_like_junk(message("A thought"), text, FORM) is None


@pytest.mark.parametrize(
    "own",
    ["Children’s Trusts", "childrentrusts.consultation@dcsf.gsi.gov.uk", "Castle View House", "WA7 2GJ"],
)
def test_the_consultations_own_words_from_the_form_file_veto_junk(own: str) -> None:
    text = f"Dear winner, you have won the lottery. {own}"
    assert looks_like_junk(message("Hello"), text, FORM) is None
