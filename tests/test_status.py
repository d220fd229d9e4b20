"""`intake status` exit codes for a fresh, a healthy, a stale and a failing service; and quiet logs."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import time

from intake_env import REPO, response_mail, run_intake, write_local_config
from sqlmodel import Session, select

from ingest.backoff import LoginBackoff
from store.db import make_engine
from store.models import Acknowledgement, AckStatus, Cycle


def _status(config, capsys, *args: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    code = run_intake(config, "status", *args)
    out = capsys.readouterr().out
    print(f"$ intake status {' '.join(args)}  (exit {code})\n{out}")
    return code, out


def _engine(tmp_path):  # type: ignore[no-untyped-def]
    return make_engine(f"sqlite:///{tmp_path / 'intake.db'}")


def _after_one_response(tmp_path):  # type: ignore[no-untyped-def]
    """A service that ran one cycle over one response and acknowledged it."""
    config = write_local_config(tmp_path)
    (tmp_path / "mail" / "new" / "1.M1P1Q1.host").write_bytes(response_mail())
    assert run_intake(config, "run") == 0
    return config


def test_a_fresh_service_that_never_ran_is_not_healthy(tmp_path, capsys):
    config = write_local_config(tmp_path)
    code, out = _status(config, capsys)
    assert code == 1
    assert "no cycle yet" in out


def test_a_healthy_service_exits_0_and_says_its_queues(tmp_path, capsys):
    config = _after_one_response(tmp_path)
    code, out = _status(config, capsys)
    assert code == 0 and out.startswith("intake: OK"), out
    assert "last successful cycle:" in out and "acknowledgements: 0 pending, 0 failed" in out
    code, out = _status(config, capsys, "--json")
    facts = json.loads(out)
    assert code == 0 and facts["healthy"] is True
    assert facts["queues"]["stored_not_filed"] == 0 and facts["last_cycle"]["counts"]["acks_sent"] == 1


def test_a_stale_service_exits_1(tmp_path, capsys):
    config = write_local_config(tmp_path)
    assert run_intake(config, "run") == 0
    with Session(_engine(tmp_path)) as session:
        for cycle in session.exec(select(Cycle)).all():
            cycle.finished_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
            session.add(cycle)
        session.commit()
    code, out = _status(config, capsys)
    assert code == 1
    assert "stale: the last completed cycle finished 2.0 h ago" in out


def test_a_failing_service_shows_its_errors_and_exits_1(tmp_path, capsys):
    config = _after_one_response(tmp_path)
    engine = _engine(tmp_path)
    LoginBackoff(engine, "mailbox-login", dt.timedelta(minutes=5)).refused("IMAP login as intake refused")
    with Session(engine) as session:
        ack = session.exec(select(Acknowledgement)).one()
        ack.status, ack.retry_allowed, ack.failed_at = AckStatus.FAILED, True, dt.datetime.now(dt.UTC)
        session.add(ack)
        session.commit()
    code, out = _status(config, capsys)
    assert code == 1
    assert "mailbox-login: refused 1 time(s)" in out
    assert "1 acknowledgement(s) gave up" in out
    code, out = _status(config, capsys, "--json")
    assert code == 1 and json.loads(out)["queues"]["acks_given_up"] == 1


def _serve_log(tmp_path, extra: str, seconds: float) -> list[str]:  # type: ignore[no-untyped-def]
    tmp_path.mkdir()
    config = write_local_config(tmp_path, extra=f"[schedule]\ninterval_seconds = 5\n{extra}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "--config", str(config), "serve"],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(seconds)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = err.splitlines()
    start = next(i for i, line in enumerate(lines) if "serving:" in line)
    end = next(i for i, line in enumerate(lines) if "received SIGTERM" in line)
    return lines[start + 1 : end]


def test_idle_cycles_log_nothing_at_info_and_a_heartbeat_when_asked(tmp_path):
    quiet = _serve_log(tmp_path / "quiet", "heartbeat_cycles = 0\n", 8)
    print("idle cycles, no heartbeat:", quiet)
    assert quiet == [], "two idle cycles (and the scheduler) must say nothing at INFO"
    beat = _serve_log(tmp_path / "beat", "heartbeat_cycles = 1\n", 8)
    print("idle cycles, heartbeat every cycle:", beat)
    assert 1 <= len(beat) <= 2 and all("alive:" in line for line in beat), beat
