"""Whose fault is it: a message's fault is recorded on it; the system's never becomes its state.

Also the configuration that can only be checked in use (an [smtp] from no acknowledgement can carry,
a template that does not render) stops `intake run` at start with exit 2, before anything is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from builders.docx_forms import build_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message
from intake_env import BODY_RESPONSE, REPO, Instance, export, response_mail, run_intake, write_config

import ingest.cycle
import ingest.filing
import ingest.readahead
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.whole import ReadPartByPart

FORM = load_form(DEFAULT_FORM_PATH)


@pytest.fixture
def instance(tmp_path, smtp_server):
    return Instance(tmp_path / "a", f"smtp://{smtp_server.host}:{smtp_server.port}")


def _failing_on(subject_word: str, error: Exception):  # type: ignore[no-untyped-def]
    real = ingest.filing.read_message

    def read(mail, *args, **kwargs):  # type: ignore[no-untyped-def]
        if subject_word in (mail.subject or ""):
            raise error
        return real(mail, *args, **kwargs)

    return read


def _patch_reading(monkeypatch, read) -> None:  # type: ignore[no-untyped-def]
    """Reading happens ahead of filing (ingest/readahead.py) or in it: fault both.

    Read ahead, a message is first read whole in a sandboxed worker, which no patch here reaches;
    so that call answers "part by part", and the part-by-part reading, in this process, is faulted.
    """
    monkeypatch.setattr(ingest.filing, "read_message", read)
    monkeypatch.setattr(ingest.readahead, "read_message", read)
    monkeypatch.setattr(ingest.cycle, "sandboxed_whole_reader", lambda *_args: _part_by_part)


def _part_by_part(raw: bytes, converted: object) -> ReadPartByPart:
    return ReadPartByPart()


def test_a_fault_of_the_system_leaves_the_message_waiting(instance, smtp_server, monkeypatch):
    instance.deliver(response_mail(subject="disk trouble"))
    _patch_reading(monkeypatch, _failing_on("disk", OSError(28, "No space left on device")))
    assert run_intake(instance.config, "run") == 1
    (message,) = instance.messages()
    assert message["disposition"] is None, "a system fault must not become the message's state"
    monkeypatch.undo()
    assert run_intake(instance.config, "run") == 0
    assert instance.messages()[0]["disposition"] == "response"
    assert len(smtp_server.received) == 1


def test_an_unexpected_error_is_retried_then_failed_then_refiled(instance, smtp_server, monkeypatch):
    instance.deliver(
        response_mail(subject="poison", sender="poison@example.org", body=BODY_RESPONSE.replace("Pat", "Poison"))
    )
    instance.deliver(response_mail(subject="fine", sender="fine@example.org"))
    _patch_reading(monkeypatch, _failing_on("poison", TypeError("a parser bug")))
    for attempt in (1, 2):
        assert run_intake(instance.config, "run") == 0  # the cycle completes: the message is retried later
        poison = next(m for m in instance.messages() if m["sender"] == "poison@example.org")
        assert poison["disposition"] is None, f"attempt {attempt} must not fail it for good"
    assert run_intake(instance.config, "run") == 0
    poison = next(m for m in instance.messages() if m["sender"] == "poison@example.org")
    assert poison["disposition"] == "failed"
    assert "after 3 attempts" in " ".join(poison["problems"])
    assert next(m for m in instance.messages() if m["sender"] == "fine@example.org")["disposition"] == "response"

    monkeypatch.undo()
    assert run_intake(instance.config, "refile", "--failed") == 0
    assert run_intake(instance.config, "run") == 0
    poison = next(m for m in instance.messages() if m["sender"] == "poison@example.org")
    assert poison["disposition"] == "response" and poison["problems"] == []
    assert len(smtp_server.received) == 2


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ('[smtp]\nfrom = "consultation@dcsf@gsi.gov.uk"\n', "[smtp] from"),
        ('[acknowledgements]\nsubject = "Re: {{ reference_list "\n', "[acknowledgements]"),
        ('[acknowledgements]\ntemplates = "no-such-folder"\n', "[acknowledgements] templates"),
    ],
)
def test_configuration_checked_in_use_stops_at_start_with_exit_2(setting, key, tmp_path):
    config = write_config(
        tmp_path,
        mailbox_url=f"maildir:{tmp_path / 'mail'}",
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
    )
    text = config.read_text()
    section = setting.split("\n", 1)[0]
    if section in text:  # add the key to the section write_config already wrote
        text = text.replace(section + "\n", setting, 1)
    else:
        text += setting
    config.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "--config", str(config), "run"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert key in done.stderr
    assert not (tmp_path / "intake.db").exists(), "nothing is touched before the configuration is right"


def test_sigterm_to_the_process_group_does_not_kill_the_reader_in_hand(tmp_path):
    reading = sample_reading(FORM, 31)
    inst_root = tmp_path / "a"
    inst = Instance(inst_root, f"outbox:{inst_root / 'outbox'}")
    inst.deliver(
        build_message(
            sender="Group Signal <group@example.org>",
            attachments=[("response.docx", DOCX_TYPE, build_docx(FORM, reading, "glyph"))],
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "ingest.cli", "--config", str(inst.config), "run"],
        cwd=REPO,
        env={**os.environ, "INTAKE_FAILPOINT": "parsing:group-sigterm"},
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,  # its own process group, as under systemd
    )
    assert "received SIGTERM" in done.stderr, done.stderr
    assert run_intake(inst.config, "run") == 0
    (response,) = export(inst.config, inst_root)
    assert response["status"] == "filed", response["review_reasons"]


def test_a_header_the_database_refuses_is_the_messages_fault_not_the_cycles(pg_url, tmp_path, monkeypatch):
    """Without the clipping, PostgreSQL refuses a 1,200-character Message-ID: the message is still
    stored (without its headers, saying why) and the mail after it is taken in."""
    import mailbox

    from builders import hostile_mail

    import ingest.storing

    monkeypatch.setattr(ingest.storing, "COLUMN_LIMITS", {})
    config = write_config(
        tmp_path,
        mailbox_url=f"maildir:{tmp_path / 'mail'}",
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=pg_url,
    )
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    box.add(hostile_mail.overlong_header_values())
    box.add(response_mail(sender="after@example.org"))
    assert run_intake(config, "run") == 0
    messages = export(config, tmp_path, "--messages")
    assert len(messages) == 2
    refused = next(m for m in messages if m["sender"] is None)
    assert any("could not be recorded" in p for p in refused["problems"])
    assert any(m["sender"] == "after@example.org" and m["disposition"] == "response" for m in messages)
