"""Test mail made from a few arguments (a message builder in the manner of paperless-ngx's)."""

from __future__ import annotations

import datetime as dt
import email.utils
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default

CONSULTATION = "childrentrusts.consultation@dcsf.gsi.gov.uk"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_counter = iter(range(1, 10**9))


def build_message(
    *,
    sender: str = "Jane Smith <jane.smith@example.org>",
    subject: str = "Children's Trusts consultation response",
    body: str = "Please find our response attached.\n",
    attachments: list[tuple[str, str, bytes]] | None = None,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
    date: dt.datetime | None = None,
    return_path: str | None = None,
    html: str | None = None,
) -> bytes:
    """An RFC 5322 message as bytes; attachments are (filename, content type, bytes)."""
    msg = EmailMessage()
    addr = email.utils.parseaddr(sender)[1]
    msg["Return-Path"] = return_path if return_path is not None else f"<{addr}>"
    msg["From"] = sender
    msg["To"] = f"Children's Trusts Consultation <{CONSULTATION}>"
    msg["Subject"] = subject
    when = date or dt.datetime(2008, 4, 1, 10, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=next(_counter))
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = message_id or f"<test-{next(_counter)}.{when:%Y%m%d%H%M%S}@{addr.rpartition('@')[2]}>"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments or []:
        if ctype == "message/rfc822":  # a forwarded message travels as a MIME part, not as encoded bytes
            msg.add_attachment(message_from_bytes(data, policy=default), filename=filename)
            continue
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=SMTP)


def out_of_office(sender: str = "Bob Jones <bob.jones@example.org>") -> bytes:
    return build_message(
        sender=sender,
        subject="Out of Office: Children's Trusts consultation response",
        body="I am out of the office until Monday with limited access to e-mail.\n",
        headers={"Auto-Submitted": "auto-replied"},
    )


def bounce(original_subject: str = "Re: Children's Trusts consultation response") -> bytes:
    return build_message(
        sender="Mail Delivery System <MAILER-DAEMON@mx.example.net>",
        subject="Undelivered Mail Returned to Sender",
        body=f"This is the mail system. Your message '{original_subject}' could not be delivered.\n",
        headers={"Auto-Submitted": "auto-replied"},
        return_path="<>",
    )
