"""Check at start what the configuration can only show when used: exit 2 before touching anything.

Pydantic checks each value's shape (ingest/config.py); some faults appear only in combination or in
use: an [smtp] from that no acknowledgement can carry, a template that does not render, folders that
collide. Each would otherwise surface mid-cycle, on a respondent's message. Here a sample
acknowledgement is composed from the configuration, and the folders are compared, before the
service opens the mailbox or the database.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import jinja2

from ingest.ack_compose import compose_acknowledgement
from ingest.config import Config
from ingest.errors import ConfigError, MessageError
from ingest.sources import parse_imap_url


def check_config(config: Config) -> None:
    """Raise ConfigError naming the keys at fault."""
    _check_folders(config)
    _check_acknowledgement(config)
    for section in ("mailbox", "smtp"):
        config.token_source(section)  # xoauth2 without a secret in the environment: exit 2 now


def _check_folders(config: Config) -> None:
    m = config.settings.mailbox
    source = parse_imap_url(config.mailbox_url, m.tls or None).folder if config.mailbox_url.startswith("imap") else ""
    processed = m.processed_folder.strip("/")
    if not processed:
        raise ConfigError("[mailbox] processed_folder: must name a folder")
    if source and processed.upper() == source.strip("/").upper():
        raise ConfigError("[mailbox] processed_folder: must differ from the folder in [mailbox] url")
    sent = m.sent_folder.strip("/")
    if sent and sent.upper() in {processed.upper(), source.strip("/").upper(), "INBOX"}:
        raise ConfigError("[mailbox] sent_folder: must differ from the inbox and the processed folder")


def _check_acknowledgement(config: Config) -> None:
    s = config.settings
    ack = s.acknowledgements
    templates = config.path(ack.templates) if ack.templates else None
    if templates is not None and not templates.is_dir():
        raise ConfigError(f"[acknowledgements] templates: {templates} is not a folder")
    original = EmailMessage()
    original["Subject"] = "Consultation response"
    original["Message-ID"] = "<preflight@example.org>"
    try:
        compose_acknowledgement(
            original=original,
            to_address="respondent@example.org",
            to_name="A Respondent",
            from_address=s.smtp.from_address,
            from_name=s.smtp.from_name,
            references=[f"{config.form.reference_prefix}-000001"],
            received_at=dt.datetime(2008, 4, 1, tzinfo=dt.UTC),
            questions_answered=1,
            questions_total=len(config.form.questions),
            confidential=False,
            contact=ack.contact,
            loop_header=ack.loop_header,
            message_id_domain=s.smtp.from_address.rpartition("@")[2],
            subject_template=ack.subject or None,
            templates_dir=templates,
        )
    except (ConfigError, MessageError, jinja2.TemplateError, ValueError, TypeError) as err:
        raise ConfigError(
            f"[acknowledgements] / [smtp] from: a sample acknowledgement cannot be composed: {err}"
        ) from err
