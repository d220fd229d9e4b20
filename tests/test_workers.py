"""Several workers on one database never take the same message or send the same acknowledgement.

On PostgreSQL any number of `intake serve`/`run` processes share the work: one polls the mailbox at
a time (an advisory lock), filing and sending claim rows with FOR UPDATE SKIP LOCKED, the schema
is migrated under a lock. On SQLite a second process waits for the first one's cycle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from intake_env import BODY_RESPONSE, REPO, export, mailbox_config, response_mail
from sqlalchemy import text

from store.db import make_engine

WORKERS = 3
MAILBOX_SIZE = int(os.environ.get("TEST_WORKERS_MAILBOX", "500"))


def _responses(count: int, seed: str) -> list[bytes]:
    """Distinct answers in the e-mail body from distinct people (cheap to read, like most mail)."""
    return [
        response_mail(
            sender=f"Respondent {seed}{i} <r{seed}{i}@example.org>",
            body=BODY_RESPONSE.replace("Pat Example", f"Pat Example {seed}{i}").replace(
                "The leadership role is clear.", f"The leadership role is clear ({seed}{i})."
            ),
        )
        for i in range(count)
    ]


class Worker:
    """An `intake` process whose log goes to a file (a pipe nobody reads would fill and block it)."""

    def __init__(self, config: Path, command: str, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ingest.cli", "--config", str(config), command],
                cwd=REPO,
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=out,
            )

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        self.process.wait(timeout=timeout)
        return self.process.returncode, self.log.read_text(errors="replace")


def _progress(database_url: str) -> tuple[int, int]:
    """(messages filed, acknowledgements sent), read straight from the database."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            filed = conn.execute(text("SELECT count(*) FROM messages WHERE state = 'done'")).scalar() or 0
            sent = conn.execute(text("SELECT count(*) FROM acknowledgements WHERE status = 'sent'")).scalar() or 0
            return filed, sent
    except Exception:  # the schema may not exist yet while the workers start
        return 0, 0
    finally:
        engine.dispose()


def _wait_until(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def _assert_each_once(config: Path, tmp: Path, smtp_server, count: int) -> None:  # type: ignore[no-untyped-def]
    responses = export(config, tmp)
    assert len(responses) == count
    assert len({r["reference"] for r in responses}) == count
    messages = export(config, tmp, "--messages")
    assert Counter(m["disposition"] for m in messages) == {"response": count}, "a message was relabelled"
    ids = Counter(str(message_from_bytes(r.raw, policy=policy.default)["Message-ID"]) for r in smtp_server.received)
    replied = {str(message_from_bytes(r.raw, policy=policy.default)["In-Reply-To"]) for r in smtp_server.received}
    assert len(ids) == count and max(ids.values()) == 1, "an acknowledgement went out twice"
    assert len(replied) == count


def test_three_serve_processes_share_one_mailbox_on_postgresql(pg_url, clean_dovecot, smtp_server, tmp_path):
    config = mailbox_config(
        tmp_path,
        clean_dovecot,
        smtp_server,
        _responses(MAILBOX_SIZE, "s"),
        database_url=pg_url,
        extra="[schedule]\ninterval_seconds = 5\n[acknowledgements]\nper_cycle = 1000\n",
    )
    env = {"INTAKE_MAILBOX_PASSWORD": clean_dovecot.password}
    # started together: the schema is created under a lock, not raced
    workers = [Worker(config, "serve", env, tmp_path / f"serve-{n}.log") for n in range(WORKERS)]
    try:
        done = _wait_until(lambda: _progress(pg_url) == (MAILBOX_SIZE, MAILBOX_SIZE), timeout=600)
    finally:
        for w in workers:
            w.process.send_signal(signal.SIGTERM)
        ended = [w.finish(timeout=120) for w in workers]
    logs = [log for _status, log in ended]
    assert done, f"not finished: {_progress(pg_url)}\n" + "\n".join(log[-2000:] for log in logs)
    assert [status for status, _log in ended] == [0] * WORKERS, [log[-2000:] for log in logs]
    _assert_each_once(config, tmp_path, smtp_server, MAILBOX_SIZE)

    engine = make_engine(pg_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT worker, counts FROM cycles")).all()
    engine.dispose()
    filed_by: Counter = Counter()
    for worker, counts in rows:
        filed_by[worker.rsplit(":", 2)[1]] += (counts or {}).get("filed_messages", 0)
    print(f"messages filed per worker: {sorted(filed_by.values(), reverse=True)}")
    assert sum(1 for n in filed_by.values() if n > 0) >= 2, f"the work was not shared: {dict(filed_by)}"


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_run_started_while_another_is_filing(database, clean_dovecot, smtp_server, tmp_path, request):
    url = request.getfixturevalue("pg_url") if database == "postgresql" else f"sqlite:///{tmp_path / 'intake.db'}"
    count = 60
    config = mailbox_config(
        tmp_path, clean_dovecot, smtp_server, _responses(count, "r"), database_url=url,
        extra="[acknowledgements]\nper_cycle = 1000\n",
    )  # fmt: skip
    env = {"INTAKE_MAILBOX_PASSWORD": clean_dovecot.password}
    first = Worker(config, "run", {**env, "INTAKE_FAILPOINT": "filed:slow"}, tmp_path / "first.log")  # 15 s at least
    assert _wait_until(lambda: _progress(url)[0] > 0 or first.process.poll() is not None, timeout=120)
    second = Worker(config, "run", env, tmp_path / "second.log")  # cron overlapping a long back-fill
    first_status, first_err = first.finish()
    second_status, second_err = second.finish()
    assert first_status == 0, first_err
    assert second_status == 0, second_err
    if database == "sqlite":
        assert "another intake process" in second_err, "the second run waits for the first on SQLite"
    _assert_each_once(config, tmp_path, smtp_server, count)
