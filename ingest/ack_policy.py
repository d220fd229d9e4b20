"""Who gets an acknowledgement: the checks of RFC 3834, RFC 5230 and Dovecot's Sieve vacation.

Pure functions: each answers one question from the message, the configuration and counts the
caller looked up. A suppression returns a short reason code that the export records as
`acknowledgement.reason`.
"""

from __future__ import annotations

import re
from email.message import Message
from email.utils import getaddresses, parseaddr

from ingest.errors import ConfigError
from parsers.classify import address_local_part, first_token, header_addresses

ACK_POLICIES = ("all", "requested", "never")

# Reason codes (exported; do not rename).
NULL_SENDER = "null sender"
AUTO_SUBMITTED = "auto-submitted"
PRECEDENCE = "precedence"
MAILING_LIST = "mailing list"
AUTO_RESPONSE_SUPPRESS = "auto-response-suppress"
SYSTEM_ADDRESS = "system address"
OWN_ADDRESS = "own address"
LOOP = "loop"
BOUNCE = "bounce"
JUNK = "junk"
AUTO_REPLY = "auto-reply"
DUPLICATE = "duplicate"
NOT_A_RESPONSE = "not a response"
NOT_REQUESTED = "not requested"
POLICY_NEVER = "acknowledgements off"
NO_ADDRESS = "no valid address"
RECIPIENT_CAP = "recipient cap"
CYCLE_CAP = "cycle cap"

_DISPOSITION_REASONS = {"bounce": BOUNCE, "junk": JUNK, "auto_reply": AUTO_REPLY, "duplicate": DUPLICATE}
_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})
# X-Auto-Response-Suppress values (Microsoft) that cover an acknowledgement.
_SUPPRESS_VALUES = frozenset({"all", "oof", "autoreply"})
_SYSTEM_LOCAL_PARTS = frozenset({"mailer-daemon", "mailer_daemon", "postmaster", "listserv", "majordomo"})
_SYSTEM_LOCAL_PATTERN = re.compile(
    r"^(?:no-?reply|do-?not-?reply|bounces?)(?:[-+.].*)?$|-request$|^owner-|-owner$|-bounces?$"
)
# Deliberately narrower than RFC 5322: what a person types and every MTA accepts.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
_MAX_ADDRESS_LENGTH = 254


def suppression_reason(
    msg: Message,
    *,
    envelope_sender: str | None,
    our_addresses: frozenset[str],
    loop_header: str,
    disposition: str,
) -> str | None:
    """None when an acknowledgement may be sent, else the first reason not to, most specific first.

    `envelope_sender` is the Return-Path as received; None means unknown, and then the message's
    own Return-Path header is used. `our_addresses` are compared case-insensitively.
    """
    envelope = envelope_sender if envelope_sender is not None else msg.get("Return-Path")
    senders = _sender_addresses(msg, envelope)
    checks = (
        lambda: LOOP if msg.get(loop_header) is not None else None,
        lambda: OWN_ADDRESS if any(is_own_address(a, our_addresses) for a in senders) else None,
        lambda: disposition_reason(disposition),
        lambda: BOUNCE if msg.get_content_type() == "multipart/report" else None,
        lambda: NULL_SENDER if is_null_sender(envelope) else None,
        lambda: header_reason(msg),
        lambda: SYSTEM_ADDRESS if any(is_system_address(a) for a in senders) else None,
    )
    for check in checks:
        reason = check()
        if reason:
            return reason
    return None


def disposition_reason(disposition: str) -> str | None:
    """Only a message from which a new response was filed is acknowledged."""
    if disposition == "response":
        return None
    return _DISPOSITION_REASONS.get(disposition, NOT_A_RESPONSE)


def header_reason(msg: Message) -> str | None:
    """The header checks of RFC 3834 §2 and Dovecot's vacation, in that order."""
    if any(first_token(v) not in ("", "no") for v in msg.get_all("Auto-Submitted", [])):
        return AUTO_SUBMITTED
    if any(first_token(v) in _BULK_PRECEDENCE for v in msg.get_all("Precedence", [])):
        return PRECEDENCE
    if any(name.lower().startswith("list-") for name in msg):
        return MAILING_LIST
    if any(_suppresses_replies(v) for v in msg.get_all("X-Auto-Response-Suppress", [])):
        return AUTO_RESPONSE_SUPPRESS
    return None


def _suppresses_replies(value: object) -> bool:
    """X-Auto-Response-Suppress is a comma list such as 'DR, OOF, AutoReply' or 'All'."""
    return any(token.strip().lower() in _SUPPRESS_VALUES for token in str(value).split(","))


def _sender_addresses(msg: Message, envelope: object) -> list[str]:
    """The envelope sender and the From, Sender and Reply-To addresses: any of them may be a robot."""
    found = [addr for _, addr in getaddresses([str(envelope)])] if envelope is not None else []
    for name in ("From", "Sender", "Reply-To"):
        found.extend(header_addresses(msg, name))
    return [addr for addr in found if addr]


def is_null_sender(envelope: object) -> bool:
    """RFC 5321's null reverse-path `<>`, the mark of a bounce or another automatic notice."""
    return envelope is not None and str(envelope).strip().strip("<>").strip() == ""


def is_system_address(address: str) -> bool:
    """MAILER-DAEMON, postmaster, list robots and no-reply addresses (by local part)."""
    local = address_local_part(address).replace("_", "-")
    return local in _SYSTEM_LOCAL_PARTS or bool(_SYSTEM_LOCAL_PATTERN.search(local))


def is_own_address(address: str, our_addresses: frozenset[str]) -> bool:
    """Whether the address is one of the consultation's own (case-insensitive)."""
    ours = {a.strip().lower() for a in our_addresses}
    return address.strip().strip("<>").lower() in ours


def choose_address(form_ack_email: str | None, reply_to: str | None, from_: str | None) -> str | None:
    """The form's acknowledgement address when valid, else Reply-To's, else From's; None if none is."""
    candidates = [_form_address(form_ack_email), *_header_candidates(reply_to), *_header_candidates(from_)]
    return next((c for c in candidates if c and is_valid_address(c)), None)


def _form_address(text: str | None) -> str | None:
    """What a respondent typed in the form: tolerate 'mailto:', a name, a trailing full stop."""
    if not text or _has_line_break(text):
        return None
    text = text.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    _, addr = parseaddr(text)
    return addr.strip().rstrip(".,;") or None


def _header_candidates(value: str | None) -> list[str]:
    """The addr-specs of a Reply-To or From value, in order."""
    if not value or _has_line_break(value):
        return []
    return [addr for _, addr in getaddresses([value]) if addr]


def is_valid_address(address: str) -> bool:
    """A plain addr-spec safe to put in a header and an SMTP command: one @, a dotted domain."""
    return (
        len(address) <= _MAX_ADDRESS_LENGTH
        and not _has_line_break(address)
        and ".." not in address
        and _ADDRESS.match(address) is not None
    )


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text


def policy_allows(policy: str, acknowledge_box: bool) -> bool:
    """'all' acknowledges every response, 'requested' only a ticked box, 'never' none."""
    return policy_reason(policy, acknowledge_box) is None


def policy_reason(policy: str, acknowledge_box: bool) -> str | None:
    """The reason code when the configured policy withholds an acknowledgement."""
    if policy not in ACK_POLICIES:
        raise ConfigError(f"acknowledgement policy must be one of {', '.join(ACK_POLICIES)}, not {policy!r}")
    if policy == "never":
        return POLICY_NEVER
    if policy == "requested" and not acknowledge_box:
        return NOT_REQUESTED
    return None


def within_caps(
    sent_today_to_recipient: int, per_recipient_daily: int, sent_this_cycle: int, per_cycle: int
) -> str | None:
    """'recipient cap' or 'cycle cap' when another acknowledgement would exceed one; a cap <= 0 is none."""
    if 0 < per_recipient_daily <= sent_today_to_recipient:
        return RECIPIENT_CAP
    if 0 < per_cycle <= sent_this_cycle:
        return CYCLE_CAP
    return None
