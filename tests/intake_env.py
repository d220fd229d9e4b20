"""Helpers for tests that run the whole service: a config file pointing at the test servers."""

from __future__ import annotations

import json
import mailbox
import os
import subprocess
import sys
from pathlib import Path

from builders.mail import build_message

from ingest.cli import main as intake_main
from parsers.formdef import DEFAULT_FORM_PATH

REPO = Path(__file__).resolve().parent.parent


def write_config(
    directory: Path,
    *,
    mailbox_url: str,
    smtp_url: str,
    database_url: str,
    extra: str = "",
    mailbox: str = "",
    smtp: str = "",
) -> Path:
    """A config.toml for the test servers; plain IMAP and SMTP on loopback.

    `mailbox` and `smtp` are extra lines for those sections; `extra` adds whole sections.
    """
    path = directory / "config.toml"
    tls_mailbox = 'tls = "none"' if mailbox_url.startswith("imap://") else ""
    tls_smtp = 'tls = "none"' if smtp_url.startswith("smtp://") else ""
    path.write_text(
        f"""
[form]
definition = "{DEFAULT_FORM_PATH}"
[mailbox]
url = "{mailbox_url}"
{tls_mailbox}
{mailbox}
[smtp]
url = "{smtp_url}"
{tls_smtp}
{smtp}
[database]
url = "{database_url}"
[limits]
parse_timeout_seconds = 30
{extra}
""",
        encoding="utf-8",
    )
    return path


def mailbox_config(tmp: Path, dovecot, smtp, messages: list[bytes], *, database_url: str = "", **kw: str) -> Path:  # type: ignore[no-untyped-def]
    """Put `messages` in the Dovecot INBOX and write a config reading it, sending through `smtp`."""
    for raw in messages:
        dovecot.append("INBOX", raw)
    return write_config(
        tmp,
        mailbox_url=dovecot.imap_url,
        smtp_url=f"smtp://{smtp.host}:{smtp.port}",
        database_url=database_url or f"sqlite:///{tmp / 'intake.db'}",
        **kw,
    )


def write_local_config(directory: Path, *, database_url: str | None = None, extra: str = "") -> Path:
    """A config.toml for a Maildir in `directory/mail`, an outbox folder and (by default) SQLite there."""
    mailbox.Maildir(directory / "mail", create=True)
    return write_config(
        directory,
        mailbox_url=f"maildir:{directory / 'mail'}",
        smtp_url=f"outbox:{directory / 'outbox'}",
        database_url=database_url or f"sqlite:///{directory / 'intake.db'}",
        extra=extra,
    )


def run_intake(config: Path, *args: str) -> int:
    """Run the CLI in this process (fast); for crash tests use `run_intake_process`."""
    return intake_main(["--config", str(config), *args])


def run_intake_process(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `intake` as a real separate process, as cron or systemd would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ingest.cli", "--config", str(config), *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def export(config: Path, tmp: Path, *extra: str) -> list[dict]:
    out = tmp / f"export{'-'.join(extra)}.jsonl"
    assert run_intake(config, "export", "--output", str(out), *extra) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines() if line]


BODY_RESPONSE = """Here are my answers.

Name - Pat Example
Category - Parent or carer

Question 1: Agree
Comment: The leadership role is clear.

Question 2: Disagree
Comment: Schools should sit on the Board.

Question 3: Not sure
"""


def response_mail(**kwargs) -> bytes:
    kwargs.setdefault("sender", "Pat Example <pat@example.org>")
    kwargs.setdefault("body", BODY_RESPONSE)
    return build_message(**kwargs)


class Instance:
    """One intake service reading a Maildir and sending through the test SMTP server."""

    def __init__(self, root: Path, smtp_url: str, extra: str = "", smtp: str = "") -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.maildir = mailbox.Maildir(root / "mail", create=True)
        self.config = write_config(
            root,
            mailbox_url=f"maildir:{root / 'mail'}",
            smtp_url=smtp_url,
            database_url=f"sqlite:///{root / 'intake.db'}",
            extra=extra,
            smtp=smtp,
        )

    def deliver(self, raw: bytes) -> None:
        self.maildir.add(raw)

    def run(self) -> None:
        assert run_intake(self.config, "run") in (0, 1)

    def messages(self) -> list[dict]:
        return export(self.config, self.root, "--messages")
