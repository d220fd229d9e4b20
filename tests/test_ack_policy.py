"""Who gets an acknowledgement: one message per suppression rule, address choice, policy, caps."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from ingest.ack_policy import (
    choose_address,
    is_system_address,
    policy_allows,
    policy_reason,
    suppression_reason,
    within_caps,
)
from ingest.errors import ConfigError

US = "childrentrusts.consultation@dcsf.gsi.gov.uk"
OURS = frozenset({US, "ct.team@dcsf.gsi.gov.uk"})
LOOP = "X-Consultation-Intake"


def response(sender: str = "Jane Smith <jane.smith@example.org>", **headers: str) -> EmailMessage:
    """An ordinary response from a person; extra headers given as Header_Name='value'."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = US
    msg["Subject"] = "Children's Trusts consultation response"
    msg["Message-ID"] = "<r1@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Please find our response attached.")
    return msg


def reason(msg: EmailMessage, envelope: str | None = "jane.smith@example.org", disposition: str = "response"):
    return suppression_reason(msg, envelope_sender=envelope, our_addresses=OURS, loop_header=LOOP,
                              disposition=disposition)  # fmt: skip


# --------------------------------------------------------------------------- suppression rules


def test_ordinary_response_is_acknowledged() -> None:
    assert reason(response()) is None


def test_null_sender() -> None:
    assert reason(response(), envelope="<>") == "null sender"


def test_null_sender_from_return_path_header_when_envelope_unknown() -> None:
    assert reason(response(Return_Path="<>"), envelope=None) == "null sender"


@pytest.mark.parametrize("value", ["auto-replied", "auto-generated (vacation)", "auto-notified"])
def test_auto_submitted(value: str) -> None:
    assert reason(response(Auto_Submitted=value)) == "auto-submitted"


def test_auto_submitted_no_is_acknowledged() -> None:
    assert reason(response(Auto_Submitted="no")) is None


def test_any_of_several_auto_submitted_headers() -> None:
    msg = response(Auto_Submitted="no")
    msg["Auto-Submitted"] = "auto-generated"
    assert reason(msg) == "auto-submitted"


@pytest.mark.parametrize("value", ["bulk", "list", "junk", "Bulk"])
def test_precedence(value: str) -> None:
    assert reason(response(Precedence=value)) == "precedence"


def test_precedence_first_class_is_acknowledged() -> None:
    assert reason(response(Precedence="first-class")) is None


@pytest.mark.parametrize("header", ["List_Id", "List_Unsubscribe", "List_Post", "List_Help"])
def test_mailing_list(header: str) -> None:
    assert reason(response(**{header: "<consult.lists.example.org>"})) == "mailing list"


@pytest.mark.parametrize("value", ["All", "OOF", "DR, OOF, AutoReply", "all"])
def test_auto_response_suppress(value: str) -> None:
    assert reason(response(X_Auto_Response_Suppress=value)) == "auto-response-suppress"


def test_auto_response_suppress_of_receipts_only_is_acknowledged() -> None:
    assert reason(response(X_Auto_Response_Suppress="DR, RN, NRN")) is None


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@mx.example.org",
        "postmaster@example.org",
        "LISTSERV@lists.example.org",
        "majordomo@example.org",
        "consult-request@lists.example.org",
        "owner-consult@lists.example.org",
        "noreply@example.org",
        "No-Reply@example.org",
        "donotreply@example.org",
        "do_not_reply@example.org",
    ],
)
def test_system_address(sender: str) -> None:
    assert reason(response(sender=sender), envelope=sender) == "system address"


def test_system_address_in_envelope_only() -> None:
    assert reason(response(), envelope="bounces+abc@lists.example.org") == "system address"


def test_own_address() -> None:
    assert reason(response(sender=f"Consultation <{US.upper()}>"), envelope=US) == "own address"


def test_own_loop_header() -> None:
    assert reason(response(**{LOOP.replace("-", "_"): "CT08-000001"})) == "loop"


def test_delivery_report_is_a_bounce() -> None:
    msg = response()
    msg.set_type("multipart/report")
    msg.set_param("report-type", "delivery-status")
    assert reason(msg) == "bounce"


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ("junk", "junk"),
        ("auto_reply", "auto-reply"),
        ("duplicate", "duplicate"),
        ("bounce", "bounce"),
        ("correspondence", "not a response"),
        ("failed", "not a response"),
    ],
)
def test_disposition(disposition: str, expected: str) -> None:
    assert reason(response(), disposition=disposition) == expected


def test_loop_wins_over_other_reasons() -> None:
    msg = response(Auto_Submitted="auto-replied", **{LOOP.replace("-", "_"): "CT08-000001"})
    assert reason(msg, envelope="<>") == "loop"


def test_is_system_address_keeps_people() -> None:
    assert not is_system_address("requests.team@example.org")
    assert not is_system_address("norah.eply@example.org")
    assert not is_system_address("jane.owner@example.org")


# --------------------------------------------------------------------------- choose_address


def test_form_address_first() -> None:
    assert choose_address("j.smith@work.example.org", "reply@example.org", "jane@example.org") == (
        "j.smith@work.example.org"
    )


def test_form_address_typed_loosely() -> None:
    assert choose_address(" mailto:j.smith@work.example.org. ", None, None) == "j.smith@work.example.org"
    assert choose_address("Jane Smith <j.smith@work.example.org>", None, None) == "j.smith@work.example.org"


@pytest.mark.parametrize(
    "bad",
    [
        "not an address",
        "jane@localhost",
        "jane@@example.org",
        "jane smith@example.org",
        "jane@example.org\r\nBcc: victim@example.com",
        "jane..smith@example.org",
        "jane@-example.org",
        "",
    ],
)
def test_invalid_form_address_falls_back_to_reply_to(bad: str) -> None:
    assert choose_address(bad, "Jane <reply@example.org>", "jane@example.org") == "reply@example.org"


def test_no_form_address_and_no_reply_to_uses_from() -> None:
    assert choose_address(None, None, '"Smith, Jane" <jane@example.org>') == "jane@example.org"


def test_invalid_reply_to_falls_back_to_from() -> None:
    assert choose_address(None, "undisclosed-recipients:;", "jane@example.org") == "jane@example.org"


def test_header_with_line_break_is_refused() -> None:
    assert choose_address(None, "a@example.org\nBcc: b@example.org", None) is None


def test_nothing_valid() -> None:
    assert choose_address("nobody", None, "jane@localhost") is None


# --------------------------------------------------------------------------- policy and caps


@pytest.mark.parametrize(
    ("policy", "box", "allowed"),
    [
        ("all", False, True),
        ("all", True, True),
        ("requested", True, True),
        ("requested", False, False),
        ("never", True, False),
    ],
)
def test_policy_allows(policy: str, box: bool, allowed: bool) -> None:
    assert policy_allows(policy, box) is allowed


def test_policy_reason_not_requested() -> None:
    assert policy_reason("requested", False) == "not requested"


def test_unknown_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sometimes"):
        policy_allows("sometimes", True)


def test_caps_allow_below_limits() -> None:
    assert within_caps(2, 3, 9, 10) is None


def test_recipient_cap() -> None:
    assert within_caps(3, 3, 0, 10) == "recipient cap"


def test_cycle_cap() -> None:
    assert within_caps(0, 3, 10, 10) == "cycle cap"


def test_zero_cap_means_no_limit() -> None:
    assert within_caps(50, 0, 500, 0) is None


def test_read_receipt_reason_is_its_disposition() -> None:
    msg = response()
    msg.set_type("multipart/report")
    msg.set_param("report-type", "disposition-notification")
    assert reason(msg, disposition="auto_reply") == "auto-reply"
