"""Faults of the system, each on real servers: nothing lost, nothing sent twice, one clear line, recovery.

Each test breaks one part the way it breaks in service (a server killed, silent or trickling; SMTP
down for a cycle or for longer than the retry schedule; the database unreachable, its connections
terminated, its disk full) and checks that the messages wait rather than fail, that the log says
so at WARNING or above, and that a later cycle finishes the work exactly once.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

import psycopg
import pytest
from builders.batches import mixed_batch
from builders.docx_forms import build_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message
from intake_env import (
    BODY_RESPONSE,
    REPO,
    Instance,
    export,
    mailbox_config,
    response_mail,
    run_intake,
    run_intake_process,
    write_config,
)
from servers import running_dovecot, running_smtp, running_tarpit

from ingest import failpoints
from parsers.formdef import DEFAULT_FORM_PATH, load_form

FORM = load_form(DEFAULT_FORM_PATH)


def _message_ids(received) -> Counter:
    return Counter(str(message_from_bytes(r.raw, policy=policy.default)["Message-ID"]) for r in received)


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.fixture
def clear_failpoints():
    yield
    for name in failpoints.POINTS:
        failpoints.set_action(name, None)


# --------------------------------------------------------------------------- IMAP


def test_imap_server_killed_mid_fetch_then_restarted(smtp_server, tmp_path, caplog, clear_failpoints):
    batch = mixed_batch(FORM, seed=60)
    with running_dovecot() as dovecot:
        config = mailbox_config(tmp_path, dovecot, smtp_server, batch.messages, mailbox="batch_size = 1")
        os.environ["INTAKE_MAILBOX_PASSWORD"] = dovecot.password
        fetched = []

        def kill_server_on_third() -> None:
            fetched.append(1)
            if len(fetched) == 3:
                dovecot.kill()

        failpoints.set_action("fetched", kill_server_on_third)
        try:
            assert run_intake(config, "run") == 1  # the cycle could not complete: the mailbox went away
            failpoints.set_action("fetched", None)
            assert any("mailbox" in w for w in _warnings(caplog)), _warnings(caplog)
            stored_before = export(config, tmp_path, "--messages")
            assert 0 < len(stored_before) < len(batch.messages)

            dovecot.restart()
            assert run_intake(config, "run") == 0
        finally:
            del os.environ["INTAKE_MAILBOX_PASSWORD"]
        assert dovecot.list_folder("INBOX") == []
        assert len(dovecot.list_folder("Processed")) == len(batch.messages)
    assert len(export(config, tmp_path)) == batch.responses
    assert len(export(config, tmp_path, "--messages")) == len(batch.messages)
    assert max(_message_ids(smtp_server.received).values()) == 1
    assert len(smtp_server.received) == batch.acknowledged


@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_an_imap_server_that_never_answers_costs_one_timeout_or_the_deadline(mode, smtp_server, tmp_path):
    with running_tarpit(mode, interval=0.5) as tarpit:
        config = write_config(
            tmp_path,
            mailbox_url=f"imap://intake@{tarpit.host}:{tarpit.port}/INBOX",
            smtp_url=f"smtp://{smtp_server.host}:{smtp_server.port}",
            database_url=f"sqlite:///{tmp_path / 'intake.db'}",
            extra="[schedule]\ncycle_deadline_seconds = 6\n",
            mailbox="timeout_seconds = 2",
        )
        started = time.monotonic()
        done = run_intake_process(config, "run", env={"INTAKE_MAILBOX_PASSWORD": "pw"})
        elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert "mailbox" in done.stderr
    assert elapsed < 60, f"the cycle hung for {elapsed:.0f} s"
    assert tarpit.connections <= 2, "one connection attempt (and one retry) a cycle, not one per operation"


def test_sigterm_stops_serve_while_a_server_trickles(tmp_path):
    with running_tarpit("trickle", interval=0.5) as tarpit:
        config = write_config(
            tmp_path,
            mailbox_url=f"imap://intake@{tarpit.host}:{tarpit.port}/INBOX",
            smtp_url=f"outbox:{tmp_path / 'outbox'}",
            database_url=f"sqlite:///{tmp_path / 'intake.db'}",
            extra="[schedule]\ninterval_seconds = 5\n",
        )
        serve = subprocess.Popen(
            [sys.executable, "-m", "ingest.cli", "--config", str(config), "serve"],
            cwd=REPO,
            env={**os.environ, "INTAKE_MAILBOX_PASSWORD": "pw"},
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while tarpit.connections == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert tarpit.connections >= 1, "serve never reached the mailbox"
        serve.send_signal(signal.SIGTERM)
        try:
            _out, err = serve.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            serve.kill()
            pytest.fail("intake serve did not stop after SIGTERM while the server trickled")
    assert serve.returncode == 0, err
    assert "breaking off" in err


def test_bad_credentials_back_off_instead_of_a_login_every_poll(dovecot, tmp_path):
    config = write_config(
        tmp_path,
        mailbox_url=dovecot.imap_url,
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
    )
    env = {"INTAKE_MAILBOX_PASSWORD": "wrong password"}
    first = run_intake_process(config, "run", env=env)
    assert first.returncode == 1 and "refused" in first.stderr
    second = run_intake_process(config, "run", env=env)
    assert second.returncode == 1
    assert "next attempt after" in second.stderr
    assert "login as intake" not in second.stderr, "the second cycle must not try the password again"


# --------------------------------------------------------------------------- SMTP


@pytest.mark.parametrize("mode", ["silent", "trickle"])
def test_an_smtp_server_that_never_answers_leaves_acknowledgements_waiting(mode, tmp_path, smtp_server):
    with running_tarpit(mode, interval=0.5) as tarpit:
        inst = Instance(
            tmp_path / "a",
            f"smtp://{tarpit.host}:{tarpit.port}",
            extra="[schedule]\ncycle_deadline_seconds = 8\n[acknowledgements]\nretry_base_seconds = 0\n",
            smtp="timeout_seconds = 2",
        )
        inst.deliver(response_mail())
        started = time.monotonic()
        assert run_intake(inst.config, "run") == 1
        assert time.monotonic() - started < 60
    (message,) = inst.messages()
    assert message["acknowledgement"]["status"] == "pending"
    inst.config.write_text(
        inst.config.read_text().replace(f"{tarpit.host}:{tarpit.port}", f"{smtp_server.host}:{smtp_server.port}")
    )
    assert run_intake(inst.config, "run") == 0
    assert len(smtp_server.received) == 1
    assert inst.messages()[0]["acknowledgement"]["status"] == "sent"


def test_smtp_down_longer_than_the_retry_schedule_then_acks_retry_sends_once(tmp_path, caplog):
    with running_smtp() as smtp:
        address = f"smtp://{smtp.host}:{smtp.port}"
        inst = Instance(tmp_path / "a", address, extra="[acknowledgements]\nmax_attempts = 2\nretry_base_seconds = 0\n")
        smtp.stop()
        inst.deliver(response_mail())
        assert run_intake(inst.config, "run") == 1  # attempt 1: waits
        assert inst.messages()[0]["acknowledgement"]["status"] == "pending"
        assert run_intake(inst.config, "run") == 1  # attempt 2: gives up
        assert inst.messages()[0]["acknowledgement"]["status"] == "failed"
        assert any("gave up" in w for w in _warnings(caplog))
        smtp.start()
        assert run_intake(inst.config, "run") == 0
        assert smtp.received == [], "a given-up acknowledgement waits for a person"
        assert run_intake(inst.config, "acks", "--retry") == 0
        assert run_intake(inst.config, "acks", "--retry") == 0
        assert run_intake(inst.config, "run") == 0
        assert len(smtp.received) == 1
        assert inst.messages()[0]["acknowledgement"]["status"] == "sent"


# --------------------------------------------------------------------------- the database


def test_postgresql_unreachable_at_start_is_one_clear_line(tmp_path):
    from servers import free_port

    config = write_config(
        tmp_path,
        mailbox_url=f"maildir:{tmp_path / 'mail'}",
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=f"postgresql+psycopg://intake@127.0.0.1:{free_port()}/intake",
    )
    done = run_intake_process(config, "run")
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("intake: database unavailable"), done.stderr
    assert "Traceback" not in done.stderr


def _terminate_other_backends(url: str) -> None:
    dbname = url.rsplit("/", 1)[1]
    user = url.split("//", 1)[1].split("@", 1)[0]
    with psycopg.connect(host="127.0.0.1", user=user, dbname="test", autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        )


@pytest.mark.parametrize("point", ["fetched", "parsing", "filed", "before-send", "sent-unrecorded", "ack-recorded"])
def test_postgresql_connections_terminated_while_storing_filing_and_sending(
    point, pg_url, clean_dovecot, smtp_server, tmp_path, caplog, clear_failpoints
):
    batch = mixed_batch(FORM, seed=70)
    config = mailbox_config(tmp_path, clean_dovecot, smtp_server, batch.messages, database_url=pg_url)
    os.environ["INTAKE_MAILBOX_PASSWORD"] = clean_dovecot.password
    hits = []

    def terminate_once() -> None:
        if not hits:
            hits.append(1)
            _terminate_other_backends(pg_url)

    failpoints.set_action(point, terminate_once)
    try:
        run_intake(config, "run")
        assert hits, f"{point} was never reached"
        failpoints.set_action(point, None)
        assert _warnings(caplog), "the lost connection is said at WARNING or above"
        assert run_intake(config, "run") == 0
    finally:
        del os.environ["INTAKE_MAILBOX_PASSWORD"]
    messages = export(config, tmp_path, "--messages")
    assert len(messages) == len(batch.messages)
    assert not [m for m in messages if m["disposition"] == "failed"], "a database fault failed a message"
    assert len(export(config, tmp_path)) == batch.responses
    assert max(_message_ids(smtp_server.received).values()) == 1
    assert len(smtp_server.received) == batch.acknowledged


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 3 MB file system for the database, grown to 64 MB by `grow()` (root only: mount)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root (CI runs as root)")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)

    try:
        yield mount, grow
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_database_disk_full_leaves_messages_in_the_mailbox_until_there_is_room(
    small_disk, tmp_path, smtp_server, caplog
):
    mount, grow = small_disk
    inst = Instance(tmp_path / "a", f"smtp://{smtp_server.host}:{smtp_server.port}")
    inst.config.write_text(inst.config.read_text().replace(str(tmp_path / "a" / "intake.db"), str(mount / "intake.db")))
    big = os.urandom(1_500_000)
    for n in range(3):
        reading = sample_reading(FORM, 80 + n)
        inst.deliver(
            build_message(
                sender=f"Full Disk {n} <full{n}@example.org>",
                attachments=[
                    ("response.docx", DOCX_TYPE, build_docx(FORM, reading, "glyph")),
                    ("photo.bin", "application/octet-stream", big),
                ],
            )
        )
    assert run_intake(inst.config, "run") == 1
    assert any("full" in w.lower() for w in _warnings(caplog)), _warnings(caplog)
    assert len(list(inst.maildir.iterkeys())) >= 1, "what could not be stored stays in the mailbox"
    grow()
    assert run_intake(inst.config, "run") == 0
    assert len(inst.messages()) == 3
    assert not [m for m in inst.messages() if m["disposition"] == "failed"]
    assert len(smtp_server.received) == 3


def test_a_refused_smtp_login_backs_off_and_the_acknowledgement_waits(tmp_path, smtp_auth_server, monkeypatch):
    monkeypatch.setenv("INTAKE_SMTP_PASSWORD", "wrong password")
    inst = Instance(tmp_path / "a", f"smtp://mailer@{smtp_auth_server.host}:{smtp_auth_server.port}")
    inst.deliver(response_mail())
    assert run_intake(inst.config, "run") == 1
    tried = smtp_auth_server.authenticator.logins  # smtplib tries each mechanism the server offers
    assert tried >= 1
    assert run_intake(inst.config, "run") == 1
    assert smtp_auth_server.authenticator.logins == tried, "backing off: no second login"
    (message,) = inst.messages()
    assert message["acknowledgement"]["status"] == "pending"
    assert smtp_auth_server.received == []
    monkeypatch.setenv("INTAKE_SMTP_PASSWORD", "mailer-pw")
    assert run_intake(inst.config, "acks", "--retry") == 0  # a person who fixed the password need not wait
    assert len(smtp_auth_server.received) == 1
    inst.deliver(response_mail(sender="next@example.org", body=BODY_RESPONSE.replace("Pat", "Nat")))
    assert run_intake(inst.config, "run") == 0  # and the backoff is over
    assert len(smtp_auth_server.received) == 2
