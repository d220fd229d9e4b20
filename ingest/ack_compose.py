"""Build the acknowledgement of a response, safe against text from the respondent.

Nothing the respondent wrote reaches a header unchecked: names and subjects lose control
characters and anything that looks like an RFC 2047 encoded word (a decoded CR/LF is a header
injection); Message-IDs are copied only when they match the msg-id syntax. Bodies come from
Jinja2 templates (HTML autoescaped).

The message is put together with the `email` package's compat32 API (MIMEText, Header,
formataddr), which writes what it is given: a quarter of the cost of `EmailMessage`, whose
parsing of every header it sets cost 2 ms an acknowledgement on the filing thread. Every value
is checked (or built here) first, headers are folded here with `Header`, and In-Reply-To and
References are folded between msg-ids only, never RFC 2047-encoded (that would break the thread).
The result is the bytes to send and store, and their Message-ID.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors
from email import policy as email_policy
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

import jinja2

from ingest.ack_policy import is_valid_address
from ingest.errors import ConfigError, MessageError

log = logging.getLogger(__name__)

DEFAULT_TEMPLATES_DIR = Path(__file__).parent / "templates"
TEXT_TEMPLATE = "acknowledgement.txt.j2"
HTML_TEMPLATE = "acknowledgement.html.j2"
DEFAULT_SUBJECT = "Your response to the consultation"
# SMTP line endings; headers are written as they are (folded here, see `_folded`).
ACK_POLICY = email_policy.compat32.clone(linesep="\r\n", max_line_length=None)
CRLF = "\r\n"
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in any client's "show source", unlike base64

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MSG_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII without '<', '>' and spaces
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|antw)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_MAX_TEXT = 200
_MAX_REFERENCES = 20
_LINE = 78


@dataclass(frozen=True)
class Reply:
    """A composed acknowledgement: the bytes to send and store, and their Message-ID."""

    message_id: str
    raw: bytes


def compose_acknowledgement(
    *,
    original: EmailMessage,
    to_address: str,
    to_name: str | None,
    from_address: str,
    from_name: str,
    references: list[str],
    received_at: datetime,
    questions_answered: int,
    questions_total: int,
    confidential: bool,
    contact: str,
    loop_header: str,
    message_id_domain: str,
    subject_template: str | None,
    templates_dir: Path | None,
    sent_at: datetime | None = None,
    unopened: Sequence[str] = (),
) -> Reply:
    """One acknowledgement of a message, listing every reference filed from it.

    `unopened` names the attached files that could not be opened (password, damage, size): the
    acknowledgement says so and asks for the response again, instead of counting answers.

    Raises MessageError when the recipient address is unusable and ConfigError when the
    configuration (loop header name, Message-ID domain, templates, subject) is.
    """
    if not references:
        raise ValueError("an acknowledgement needs at least one reference")
    _check_config(loop_header, message_id_domain, from_address)
    if not is_valid_address(to_address):
        raise MessageError(f"cannot acknowledge to an invalid address {to_address!r}")
    original_subject = safe_text(str(original.get("Subject", "")))
    subject = reply_subject(original_subject, subject_template, references)
    context = _template_context(
        to_name=safe_text(to_name or ""),
        consultation=safe_text(from_name),
        references=references,
        received_at=received_at,
        questions_answered=questions_answered,
        questions_total=questions_total,
        confidential=confidential,
        contact=contact,
        subject=subject,
        unopened=[safe_text(name) or "attachment" for name in unopened],
    )
    env = _environment(templates_dir)
    # A short boundary keeps the Content-Type line within 78; "=_" never occurs in quoted-printable.
    msg = MIMEMultipart("alternative", boundary="=_" + secrets.token_hex(12), policy=ACK_POLICY)
    msg.attach(MIMEText(_render(env, TEXT_TEMPLATE, context), "plain", _UTF8_QP))
    msg.attach(MIMEText(_render(env, HTML_TEMPLATE, context), "html", _UTF8_QP))
    msg["From"] = _address(from_name, from_address)
    msg["To"] = _address(to_name or "", to_address)
    msg["Subject"] = _folded(subject, "Subject")
    msg["Date"] = format_datetime(sent_at or datetime.now(UTC))
    message_id = make_msgid(domain=message_id_domain)
    msg["Message-ID"] = message_id
    _set_threading(msg, original)
    _set_automatic_marks(msg, loop_header, references)
    return Reply(message_id, msg.as_bytes(policy=ACK_POLICY))


def _check_config(loop_header: str, message_id_domain: str, from_address: str) -> None:
    """Configuration errors surface here rather than as a malformed message later."""
    if not _HEADER_NAME.match(loop_header):
        raise ConfigError(f"loop header name {loop_header!r} is not a valid header field name")
    if not _DOMAIN.match(message_id_domain):
        raise ConfigError(f"Message-ID domain {message_id_domain!r} is not a domain name")
    if not is_valid_address(from_address):
        raise ConfigError(f"consultation address {from_address!r} is not a valid e-mail address")


def safe_text(text: str, limit: int = _MAX_TEXT) -> str:
    """Untrusted text made safe for a header: one line, no encoded words, bounded length."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    while "=?" in text:
        text = text.replace("=?", "= ?")
    return text[:limit].rstrip()


def reply_subject(original_subject: str, subject_template: str | None, references: list[str]) -> str:
    """'Re: <subject>' without stacking prefixes, or the configured subject rendered with Jinja2."""
    if subject_template:
        rendered = _render_string(
            subject_template,
            references=references,
            reference_list=", ".join(references),
            original_subject=original_subject,
        )
        return safe_text(rendered, limit=998)
    stripped = _REPLY_PREFIX.sub("", original_subject).strip()
    return f"Re: {stripped}" if stripped else DEFAULT_SUBJECT


def _render_string(template: str, **context: object) -> str:
    try:
        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(context)
    except jinja2.TemplateError as err:
        raise ConfigError(f"acknowledgement subject template: {err}") from err


def _address(name: str, addr_spec: str) -> str:
    """`Name <addr>`, the name made safe first: quoted when ASCII, else RFC 2047-encoded; folded
    before the address when the line would pass 78."""
    name = safe_text(name)
    if not name:
        return addr_spec
    shown = _folded(formataddr((name, addr_spec)).rpartition(" <")[0] if name.isascii() else name, "From")
    last_line = len(shown.rpartition(CRLF)[2]) + len("From: ")
    return f"{shown}{CRLF if last_line + len(addr_spec) + 3 > _LINE else ''} <{addr_spec}>"


def _folded(text: str, header_name: str) -> str:
    """Checked text folded at spaces into lines of at most 78 (encoded words when not ASCII)."""
    charset = None if text.isascii() else "utf-8"
    return Header(text, charset, _LINE, header_name=header_name).encode(linesep=CRLF)


def valid_message_id(value: object) -> str | None:
    """The msg-id `<left@right>` of a header value, or None when it is anything else.

    The `email` parser repairs some broken ids (adds a missing '>', drops trailing junk) and notes
    a defect: such an id was not what the sender wrote, so it is refused too.
    """
    if value is None or any(isinstance(d, errors.InvalidHeaderDefect) for d in getattr(value, "defects", ())):
        return None
    text = "".join(str(value).split())
    return text if _MSG_ID.fullmatch(text) else None


def _set_threading(msg: Message, original: EmailMessage) -> None:
    """In-Reply-To and References (RFC 5322 §3.6.4), only from a valid original Message-ID."""
    message_id = valid_message_id(original.get("Message-ID"))
    if message_id is None:
        log.info("original Message-ID missing or malformed; acknowledgement not threaded")
        return
    earlier = _MSG_ID.findall(" ".join(str(v) for v in original.get_all("References", [])))
    chain = [*earlier, message_id]
    if len(chain) > _MAX_REFERENCES:  # keep the thread's root and its latest messages
        chain = [chain[0], *chain[-(_MAX_REFERENCES - 1) :]]
    msg["In-Reply-To"] = message_id
    msg["References"] = (CRLF + " ").join(chain)


def _set_automatic_marks(msg: Message, loop_header: str, references: list[str]) -> None:
    """Mark the reply automatic (RFC 3834, Exchange, old list software) and as ours, to stop loops."""
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["Precedence"] = "bulk"
    msg[loop_header] = _folded(safe_text(", ".join(references), limit=900) or "acknowledgement", loop_header)


def _environment(templates_dir: Path | None) -> jinja2.Environment:
    """Templates from `templates_dir` first, then the shipped ones; HTML autoescaped."""
    return _cached_environment(str(templates_dir) if templates_dir else None)


@functools.lru_cache(maxsize=8)
def _cached_environment(templates_dir: str | None) -> jinja2.Environment:
    """One environment per folder: compiling the templates for every acknowledgement cost 13 ms each."""
    searchpath = [templates_dir] if templates_dir else []
    searchpath.append(str(DEFAULT_TEMPLATES_DIR))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(searchpath),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _autoescape(template_name: str | None) -> bool:
    return template_name is not None and template_name.endswith((".html", ".html.j2", ".htm"))


def _template_context(*, received_at: datetime, **values: object) -> dict[str, object]:
    """What the templates may use; `received_on` is the date written out ('6 April 2008')."""
    received_on = f"{received_at.day} {received_at:%B %Y}"
    return {"received_at": received_at, "received_on": received_on, **values}


def _render(env: jinja2.Environment, name: str, context: dict[str, object]) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateError as err:
        raise ConfigError(f"acknowledgement template {name}: {err}") from err
