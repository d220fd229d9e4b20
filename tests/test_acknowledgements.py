"""Acknowledgements end to end through a real SMTP server: who gets one, retries, outages, loops."""

from __future__ import annotations

from email import message_from_bytes, policy

import pytest
from builders.mail import build_message
from intake_env import BODY_RESPONSE, Instance, response_mail, run_intake


@pytest.fixture
def instance(tmp_path, smtp_server):
    return Instance(tmp_path / "a", f"smtp://{smtp_server.host}:{smtp_server.port}")


SUPPRESSED = {
    "null sender": {"return_path": "<>"},
    "auto-submitted": {"headers": {"Auto-Submitted": "auto-generated"}},
    "precedence": {"headers": {"Precedence": "bulk"}},
    "mailing list": {"headers": {"List-Id": "<parents.lists.example.org>"}},
    "auto-response-suppress": {"headers": {"X-Auto-Response-Suppress": "OOF"}},
    "system address": {"sender": "MAILER-DAEMON@mx.example.org"},
    "request address": {"sender": "parents-request@lists.example.org"},
    "owner address": {"sender": "owner-parents@lists.example.org"},
    "noreply": {"sender": "Newsletter <no-reply@example.org>"},
    "own address": {"sender": "Consultation <childrentrusts.consultation@dcsf.gsi.gov.uk>"},
    "loop header": {"headers": {"X-Consultation-Intake": "CT08-000001"}},
}


@pytest.mark.parametrize("rule", sorted(SUPPRESSED))
def test_suppression_rule_sends_nothing_and_records_why(rule, instance, smtp_server):
    instance.deliver(response_mail(**SUPPRESSED[rule]))
    instance.run()
    assert smtp_server.received == []
    [msg] = instance.messages()
    assert msg["acknowledgement"]["status"] == "suppressed"
    assert msg["acknowledgement"]["reason"]


def test_delivery_report_junk_and_duplicate_get_none(instance, smtp_server):
    report = build_message(
        sender="MAILER-DAEMON@mx.example.org",
        subject="Delivery Status Notification (Failure)",
        body="Delivery to the following recipient failed permanently.\n",
        return_path="<>",
    )
    junk = build_message(
        sender="Prize Desk <winner@lottery.example.biz>",
        subject="You have won!!!",
        body="Congratulations, you have won the lottery. Send a wire transfer fee to claim. Click here to unsubscribe.",
        headers={"X-Spam-Flag": "YES"},
    )
    first = response_mail()
    again = response_mail(subject="Resent: my response")
    for raw in (report, junk, first, again):
        instance.deliver(raw)
    instance.run()
    assert len(smtp_server.received) == 1
    by_disposition = {m["disposition"]: m for m in instance.messages()}
    assert set(by_disposition) == {"bounce", "junk", "response", "duplicate"}
    assert by_disposition["duplicate"]["acknowledgement"] == {"status": "suppressed", "reason": "duplicate"}
    assert by_disposition["duplicate"]["references"] == by_disposition["response"]["references"]


def test_reply_headers(instance, smtp_server):
    original = response_mail(message_id="<orig-1@example.org>", headers={"References": "<earlier@example.org>"})
    instance.deliver(original)
    instance.run()
    [received] = smtp_server.received
    ack = message_from_bytes(received.raw, policy=policy.default)
    assert ack["In-Reply-To"] == "<orig-1@example.org>"
    assert ack["References"].split() == ["<earlier@example.org>", "<orig-1@example.org>"]
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["X-Auto-Response-Suppress"] == "All"
    assert ack["Precedence"] == "bulk"
    assert ack["Message-ID"].endswith("@dcsf.gsi.gov.uk>")
    assert ack["Subject"].startswith("Re: ")
    assert ack["X-Consultation-Intake"]
    assert received.mail_from == "childrentrusts.consultation@dcsf.gsi.gov.uk"
    assert received.rcpt_tos == ("pat@example.org",)


def test_a_name_with_crlf_cannot_inject_a_header(instance, smtp_server):
    """Encoded words that decode to CR/LF, in the name and the subject, as a hostile sender writes them."""
    raw = (
        "Return-Path: <eve@example.org>\r\n"
        "From: =?utf-8?q?Eve=0D=0ABcc=3A_victim=40example=2Ecom?= <eve@example.org>\r\n"
        "To: childrentrusts.consultation@dcsf.gsi.gov.uk\r\n"
        "Subject: =?utf-8?q?Hello=0D=0ABcc=3A_victim=40example=2Ecom?=\r\n"
        "Date: Tue, 01 Apr 2008 10:00:00 +0000\r\n"
        "Message-ID: <crlf-1@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n" + BODY_RESPONSE.replace("\n", "\r\n")
    ).encode()
    instance.deliver(raw)
    instance.run()
    [received] = smtp_server.received
    assert received.rcpt_tos == ("eve@example.org",)
    header_block = received.raw.split(b"\r\n\r\n", 1)[0]
    assert not any(line.lower().startswith(b"bcc:") for line in header_block.splitlines())


def test_451_twice_then_accepted_gives_exactly_one(instance, smtp_server):
    smtp_server.fail_next(451, "4.3.0 try again later", times=2)
    instance.deliver(response_mail())
    for _ in range(3):
        instance.run()
        assert run_intake(instance.config, "acks", "--retry") == 0
    assert len(smtp_server.received) == 1
    [msg] = instance.messages()
    assert msg["acknowledgement"]["status"] == "sent"


def test_550_fails_with_the_servers_words_and_no_retry_loop(instance, smtp_server):
    smtp_server.fail_next(550, "5.1.1 no such mailbox here", times=None)
    instance.deliver(response_mail())
    instance.run()
    attempts = smtp_server.attempts
    instance.run()
    assert run_intake(instance.config, "acks", "--retry") == 0
    assert smtp_server.attempts == attempts
    [msg] = instance.messages()
    assert msg["acknowledgement"]["status"] == "failed"
    assert "no such mailbox here" in msg["acknowledgement"]["reason"]


def test_smtp_down_for_a_whole_cycle_then_each_sent_once(instance, smtp_server):
    smtp_server.stop()
    instance.deliver(response_mail(sender="one@example.org"))
    instance.deliver(response_mail(sender="two@example.org", body=BODY_RESPONSE.replace("Agree", "Not sure", 1)))
    instance.run()
    messages = instance.messages()
    assert [m["disposition"] for m in messages] == ["response", "response"]
    assert [m["acknowledgement"]["status"] for m in messages] == ["pending", "pending"]
    smtp_server.start()
    assert run_intake(instance.config, "acks", "--retry") == 0
    instance.run()
    assert sorted(r.rcpt_tos[0] for r in smtp_server.received) == ["one@example.org", "two@example.org"]


def test_two_instances_answering_each_other_settle(tmp_path):
    """A's acknowledgement lands in B's mailbox and B's in A's: no ping-pong."""
    a = Instance(tmp_path / "a", f"outbox:{tmp_path / 'a-out'}")
    b_extra = '[smtp]\nfrom = "b.consultation@example.gov.uk"\n'
    b = Instance(tmp_path / "b", f"outbox:{tmp_path / 'b-out'}")
    b.config.write_text(b.config.read_text().replace("[smtp]\n", b_extra, 1))
    a.deliver(response_mail(sender="b.consultation@example.gov.uk"))
    b.deliver(response_mail(sender="childrentrusts.consultation@dcsf.gsi.gov.uk"))
    for _ in range(4):
        a.run()
        b.run()
        for src, dst in ((tmp_path / "a-out", b), (tmp_path / "b-out", a)):
            for eml in sorted(src.glob("*.eml")) if src.exists() else []:
                dst.deliver(eml.read_bytes())
                eml.rename(eml.with_suffix(".delivered"))
    sent_a = [m for m in a.messages() if m["acknowledgement"]["status"] == "sent"]
    sent_b = [m for m in b.messages() if m["acknowledgement"]["status"] == "sent"]
    assert len(sent_a) <= 1 and len(sent_b) <= 1


def test_two_forms_in_one_message_get_one_acknowledgement_listing_both(instance, smtp_server):
    from builders.docx_forms import build_docx, sample_reading
    from builders.mail import DOCX_TYPE

    from parsers.formdef import DEFAULT_FORM_PATH, load_form

    form = load_form(DEFAULT_FORM_PATH)
    forms = [("first.docx", DOCX_TYPE, build_docx(form, sample_reading(form, s), "x_cell")) for s in (31, 32)]
    instance.deliver(response_mail(body="Two responses from our team attached.\n", attachments=forms))
    instance.run()
    [msg] = instance.messages()
    assert len(msg["references"]) == 2
    [received] = smtp_server.received
    text = message_from_bytes(received.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert all(ref in text for ref in msg["references"])


def test_per_recipient_cap_stops_a_flood(instance, smtp_server):
    for i in range(5):
        instance.deliver(response_mail(body=BODY_RESPONSE.replace("Pat Example", f"Pat Example {i}")))
    instance.run()
    assert len(smtp_server.received) == 3  # per_recipient_daily = 3 by default
    reasons = [m["acknowledgement"]["reason"] for m in instance.messages()]
    assert reasons.count("recipient cap") == 2


@pytest.mark.parametrize(("policy_name", "expected"), [("never", 0), ("requested", 1)])
def test_policy_never_and_only_when_requested(policy_name, expected, tmp_path, smtp_server):
    extra = f'[acknowledgements]\npolicy = "{policy_name}"\n'
    inst = Instance(tmp_path / policy_name, f"smtp://{smtp_server.host}:{smtp_server.port}", extra=extra)
    inst.deliver(
        response_mail(sender="asked@example.org", body=BODY_RESPONSE + "\nPlease acknowledge this reply: Yes\n")
    )
    inst.deliver(response_mail(sender="silent@example.org", body=BODY_RESPONSE.replace("Agree", "Not sure", 1)))
    inst.run()
    assert len(smtp_server.received) == expected
    if expected:
        assert smtp_server.received[0].rcpt_tos == ("asked@example.org",)


def test_the_report_is_mailed_to_staff_after_a_cycle_that_changed_something(tmp_path, smtp_server):
    extra = '[report]\nemail_to = ["intake.team@dcsf.example.gov.uk"]\n'
    inst = Instance(tmp_path / "r", f"smtp://{smtp_server.host}:{smtp_server.port}", extra=extra)
    inst.deliver(response_mail())
    inst.run()
    to_staff = [r for r in smtp_server.received if r.rcpt_tos == ("intake.team@dcsf.example.gov.uk",)]
    assert len(to_staff) == 1
    report = message_from_bytes(to_staff[0].raw, policy=policy.default)
    assert "Consultation intake report" in report.get_body(("plain",)).get_content()
    assert any(part.get_filename() == "intake-report.html" for part in report.iter_attachments())
    inst.run()  # nothing new: no second report
    assert len([r for r in smtp_server.received if r.rcpt_tos == ("intake.team@dcsf.example.gov.uk",)]) == 1


def test_identical_campaign_texts_from_different_people_are_separate_responses(instance, smtp_server):
    campaign = "Question 1: Disagree\nComment: Keep our children's centre open.\n\nQuestion 2: Disagree\n"
    instance.deliver(response_mail(sender="one@example.org", body=campaign))
    instance.deliver(response_mail(sender="two@example.org", body=campaign))
    instance.deliver(response_mail(sender="one@example.org", body=campaign, subject="again"))
    instance.run()
    assert [m["disposition"] for m in instance.messages()] == ["response", "response", "duplicate"]
    assert len(smtp_server.received) == 2


def test_an_attachment_that_could_not_be_opened_is_asked_for_again(instance, smtp_server):
    from builders.docx_forms import sample_reading
    from builders.pdf_forms import build_encrypted_pdf

    from parsers.formdef import DEFAULT_FORM_PATH, load_form

    form = load_form(DEFAULT_FORM_PATH)
    instance.deliver(
        build_message(
            sender="Locked Out <locked@example.org>",
            attachments=[("our response.pdf", "application/pdf", build_encrypted_pdf(form, sample_reading(form, 5)))],
        )
    )
    instance.run()
    (sent,) = smtp_server.received
    text = message_from_bytes(sent.raw, policy=policy.default).get_body(("plain",)).get_content()
    assert 'We could not open the file "our response.pdf"' in text
    assert "of the 8 questions" not in text
