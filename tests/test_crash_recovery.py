"""Kill `intake run` with SIGKILL at its most delicate points; the restart files and acknowledges once."""

from __future__ import annotations

import signal
from email import message_from_bytes, policy

import pytest
from builders.docx_forms import build_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message
from intake_env import export, run_intake_process, write_config

from parsers.formdef import DEFAULT_FORM_PATH, load_form

FORM = load_form(DEFAULT_FORM_PATH)


@pytest.mark.parametrize("point", ["stored", "filed", "ack-recorded"])
def test_killed_run_then_restart_files_once_and_acknowledges_once(point, clean_dovecot, smtp_server, tmp_path):
    for seed in (11, 12):
        reading = sample_reading(FORM, seed)
        clean_dovecot.append(
            "INBOX",
            build_message(
                sender=f"Respondent {seed} <r{seed}@example.org>",
                attachments=[("form.docx", DOCX_TYPE, build_docx(FORM, reading, "glyph"))],
            ),
        )
    config = write_config(
        tmp_path,
        mailbox_url=clean_dovecot.imap_url,
        smtp_url=f"smtp://{smtp_server.host}:{smtp_server.port}",
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
    )
    env = {"INTAKE_MAILBOX_PASSWORD": clean_dovecot.password}

    killed = run_intake_process(config, "run", env={**env, "INTAKE_FAILPOINT": point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    if point == "stored":
        # the raw message was committed but not yet moved: it is still in the inbox
        assert len(clean_dovecot.list_folder("INBOX")) >= 1

    again = run_intake_process(config, "run", env=env)
    assert again.returncode == 0, again.stderr
    third = run_intake_process(config, "run", env=env)
    assert third.returncode == 0, third.stderr

    responses = export(config, tmp_path)
    assert len(responses) == 2
    assert len({r["reference"] for r in responses}) == 2
    assert len(smtp_server.received) == 2
    replied_to = {message_from_bytes(r.raw, policy=policy.default)["In-Reply-To"] for r in smtp_server.received}
    assert len(replied_to) == 2
    assert clean_dovecot.list_folder("INBOX") == []
    assert len(clean_dovecot.list_folder(clean_dovecot.folder("Processed"))) == 2
    statuses = [m["acknowledgement"]["status"] for m in export(config, tmp_path, "--messages")]
    assert statuses == ["sent", "sent"]
