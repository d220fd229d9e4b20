"""Push, not only poll: `intake serve` waits in IMAP IDLE and acknowledges new mail within seconds.

The schedule is set to an hour, so only IDLE can explain an acknowledgement within the bound. The
latency (APPEND to the acknowledgement at the SMTP server) is printed; the bound asserted is a
generous functional one (20 s), not a benchmark.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from intake_env import BODY_RESPONSE, REPO, response_mail, write_config
from servers import running_dovecot

from ingest.push import MaildirWatcher

BOUND = 20.0


def _wait_for(predicate, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"{what} not within {timeout:.0f} s")


def _serve(config: Path, log: Path, password: str) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "ingest.cli", "--config", str(config), "serve"],
            cwd=REPO,
            env={"PATH": "/usr/bin:/bin", "INTAKE_MAILBOX_PASSWORD": password},
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def _latency(dovecot, smtp, raw: bytes, acks_before: int) -> float:  # type: ignore[no-untyped-def]
    dovecot.append("INBOX", raw)
    return _wait_for(lambda: len(smtp.received) > acks_before, BOUND, "the acknowledgement")


def test_serve_acknowledges_within_seconds_in_idle_and_reconnects_after_a_drop(smtp_server, tmp_path):
    with running_dovecot() as dovecot:
        config = write_config(
            tmp_path,
            mailbox_url=dovecot.imap_url,
            smtp_url=f"smtp://{smtp_server.host}:{smtp_server.port}",
            database_url=f"sqlite:///{tmp_path / 'intake.db'}",
            extra="[schedule]\ninterval_seconds = 3600\nidle_renew_seconds = 60\n",
        )
        log = tmp_path / "serve.log"
        proc = _serve(config, log, dovecot.password)
        try:
            _wait_for(lambda: "waiting in IMAP IDLE" in log.read_text(), 60, "IDLE")
            first = _latency(dovecot, smtp_server, response_mail(subject="first"), 0)
            print(f"\nIDLE latency, APPEND to acknowledgement: {first:.2f} s")

            # Every session process killed: the IDLE connection ends without a BYE, as after a crash
            # of the server's side or a NAT box forgetting it. (Killing the master as well races
            # with its spawning: an orphaned login process can hold the port after the restart.)
            assert dovecot.kill_sessions() >= 1
            try:
                again = _wait_for(lambda: "IDLE) re-established" in log.read_text(), 60, "IDLE re-established")
            except BaseException:
                print(log.read_text(), dovecot.log, sep="\n")
                raise
            print(f"IDLE re-established {again:.1f} s after its connection was killed")
            time.sleep(1)  # the catch-up cycle that follows a reconnect
            other = response_mail(subject="second", body=BODY_RESPONSE.replace("Pat", "Sam"))
            second = _latency(dovecot, smtp_server, other, 1)
            print(f"IDLE latency after the reconnect: {second:.2f} s")
        finally:
            time.sleep(1)  # let the cycle in hand end, so the stop lands in the IDLE wait
            proc.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail("serve did not stop promptly on SIGTERM while in IDLE")
            print(f"stopped {time.monotonic() - stopping:.2f} s after SIGTERM")
        text = log.read_text()
    assert proc.returncode == 0, text
    assert len(smtp_server.received) == 2
    assert text.count("new-mail watch (IDLE) lost") == 1, text
    assert "Traceback" not in text, text


def test_maildir_watcher_wakes_on_a_new_file(tmp_path):
    for sub in ("new", "cur", "tmp"):
        (tmp_path / sub).mkdir()
    woken, stop = threading.Event(), threading.Event()
    watcher = MaildirWatcher(tmp_path, woken.set, stop, every=0.1)
    thread = threading.Thread(target=watcher.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        assert not woken.is_set()
        (tmp_path / "new" / "1.M1P1Q1.host").write_bytes(b"Subject: x\r\n\r\nx\r\n")
        assert woken.wait(5)
    finally:
        stop.set()
        thread.join(5)
