"""Raw message bytes -> `ParsedMail`: one constructor for mail from IMAP, Maildir and tests.

mail-parser decodes the bodies, attachments and encoded headers; the standard library's
`EmailMessage` (policy.default) is kept beside it for the header checks of the classification
and acknowledgement rules, which need every header occurrence as sent.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.utils
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy

import mailparser

MAX_NESTING = 3


class TolerantPolicy(EmailPolicy):
    """policy.default, except that a header it cannot parse comes back as plain, safe text.

    Strangers write headers whose encoded words decode to CR/LF ("Eve\\r\\nBcc: ...");
    the default policy raises on first access to such a header, which would make the message
    unreadable. Here the decoded text comes back with every control character turned into a space,
    so it can be shown and checked but can never start a header line anywhere.
    """

    def header_fetch_parse(self, name: str, value: str):  # type: ignore[override]
        try:
            return super().header_fetch_parse(name, value)
        except (ValueError, TypeError, IndexError, AttributeError, HeaderParseError):
            if name.lower() in ADDRESS_HEADERS:
                return _safe_addresses(value)
            return _flatten_controls(_decoded(value))


ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender", "return-path", "resent-from"})


def _safe_addresses(value: str) -> str:
    """Addresses as sent, split before decoding (so a decoded name cannot add an address), names quoted."""
    pairs = email.utils.getaddresses([value])
    return ", ".join(email.utils.formataddr((_flatten_controls(_decoded(n)), a)) for n, a in pairs if a)


def _decoded(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, TypeError, LookupError, HeaderParseError):
        return value


def _flatten_controls(text: str) -> str:
    return " ".join("".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text).split())


TOLERANT = TolerantPolicy()


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None
    date: dt.datetime | None
    sender: str | None
    sender_name: str | None
    reply_to: str | None
    subject: str
    envelope_sender: str | None
    text_plain: str | None
    text_html: str | None
    attachments: tuple[Attachment, ...]
    forwarded: tuple[ParsedMail, ...]
    headers: EmailMessage


class MailParseError(ValueError):
    """The bytes are not a message that can be read at all."""


def parse_mail(raw: bytes, *, depth: int = 0) -> ParsedMail:
    """Parse one RFC 5322 message; message/rfc822 attachments become `forwarded` messages."""
    try:
        parsed = mailparser.parse_from_bytes(raw)
        headers = _under_policy(parsed.message, TOLERANT)
    except Exception as err:  # mail-parser raises bare library errors on garbage
        raise MailParseError(f"the message could not be parsed: {err}") from err
    if not isinstance(headers, EmailMessage) or not headers.keys():
        raise MailParseError("the message has no headers")
    attachments, forwarded = _split_attachments(parsed.attachments, depth)
    name, addr = _first_address(headers, "From")
    return ParsedMail(
        message_id=_clean_header(headers.get("Message-ID")),
        date=_header_date(headers),
        sender=addr,
        sender_name=name,
        reply_to=_first_address(headers, "Reply-To")[1],
        subject=_clean_header(headers.get("Subject")) or "",
        envelope_sender=_envelope_sender(headers),
        text_plain="\n".join(parsed.text_plain) or None,
        text_html="\n".join(parsed.text_html) or None,
        attachments=attachments,
        forwarded=forwarded,
        headers=headers,
    )


def _under_policy(message: Message, policy: EmailPolicy) -> EmailMessage:
    """The tree mail-parser parsed, as EmailMessage objects under `policy`, instead of parsing the
    bytes a second time (half of this function's cost). The email package parses alike under every
    policy: the parts' classes differ, headers are kept as their source lines either way
    (`header_source_parse` is the same), and the policy acts when they are read. mail-parser only
    reads the tree. A loop, not recursion: a stranger's message may nest parts hundreds deep."""
    root = _recast(message, policy)
    waiting = [root]
    while waiting:
        part = waiting.pop()
        if isinstance(part._payload, list):  # multipart, or message/rfc822 (a list of one)
            part._payload = [_recast(child, policy) for child in part._payload]
            waiting.extend(part._payload)
    return root


def _recast(message: Message, policy: EmailPolicy) -> EmailMessage:
    copy = EmailMessage(policy)
    copy.__dict__.update(message.__dict__)
    copy.policy = policy
    return copy


@dataclass(frozen=True)
class HeaderFacts:
    message_id: str | None
    date: dt.datetime | None
    sender: str | None
    envelope_sender: str | None
    subject: str | None


MAX_HEADER_BLOCK = 4_000_000


def header_block(raw: bytes) -> bytes:
    """The bytes up to and including the blank line that ends the headers (at most 4 MB)."""
    ends = [i for i in (raw.find(b"\r\n\r\n", 0, MAX_HEADER_BLOCK), raw.find(b"\n\n", 0, MAX_HEADER_BLOCK)) if i >= 0]
    return raw[: min(ends) + 2] if ends else raw[:MAX_HEADER_BLOCK]


def header_facts(raw: bytes) -> HeaderFacts:
    """The few headers a record needs, read without decoding the body (cheap on any size).

    Only the header block is handed to the parser: given the whole message, the email package
    splits a large body into lines too (a 67 MB message cost 300 MB).
    """
    headers = BytesHeaderParser(policy=TOLERANT).parsebytes(header_block(raw))
    return HeaderFacts(
        message_id=_clean_header(headers.get("Message-ID")),
        date=_header_date(headers),
        sender=_first_address(headers, "From")[1],
        envelope_sender=_envelope_sender(headers),
        subject=_clean_header(headers.get("Subject")),
    )


def _split_attachments(
    raw_attachments: list[dict], depth: int
) -> tuple[tuple[Attachment, ...], tuple[ParsedMail, ...]]:
    attachments: list[Attachment] = []
    forwarded: list[ParsedMail] = []
    for a in raw_attachments:
        data = _payload_bytes(a)
        ctype = (a.get("mail_content_type") or "application/octet-stream").lower()
        if ctype == "message/rfc822" and depth < MAX_NESTING:
            try:
                forwarded.append(parse_mail(data, depth=depth + 1))
                continue
            except MailParseError:
                pass
        attachments.append(Attachment(a.get("filename") or None, ctype, data))
    return tuple(attachments), tuple(forwarded)


def _payload_bytes(a: dict) -> bytes:
    payload = a.get("payload") or ""
    if a.get("binary"):
        try:
            return base64.b64decode(payload)
        except (binascii.Error, ValueError):
            return payload.encode("latin-1", "replace")
    return payload.encode("utf-8", "surrogateescape") if isinstance(payload, str) else bytes(payload)


def _clean_header(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _first_address(headers: EmailMessage, name: str) -> tuple[str | None, str | None]:
    try:
        value = headers.get(name)
        pairs = email.utils.getaddresses([str(value)]) if value is not None else []
    except (TypeError, ValueError, IndexError):
        return None, None
    for display, addr in pairs:
        if "@" in addr and not any(c.isspace() for c in addr):
            return (display.strip() or None), addr.strip()
    return None, None


def _header_date(headers: EmailMessage) -> dt.datetime | None:
    value = headers.get("Date")
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def _envelope_sender(headers: EmailMessage) -> str | None:
    """The Return-Path the final MTA recorded: "" for the null sender <>, None when absent."""
    value = headers.get("Return-Path")
    if value is None:
        return None
    text = str(value).strip()
    if text in ("<>", ""):
        return ""
    return text.strip("<>").strip() or ""
