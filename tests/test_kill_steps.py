"""Kill the real `intake run` with SIGKILL at every step a message passes, then restart it.

Like mbsync's tests, which interrupt a sync at every journal step: whichever step the kill lands
on, the restarts file every response once, lose no message, leave none unrecorded, and send each
acknowledgement once, except in the one window the README names (killed after the SMTP server
accepted an acknowledgement and before the database recorded it), where the same message, with
the same Message-ID, goes out a second time.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from email import message_from_bytes, policy

import pytest
from builders.batches import mixed_batch
from intake_env import export, mailbox_config, run_intake_process

from ingest.failpoints import POINTS
from parsers.formdef import DEFAULT_FORM_PATH, load_form

FORM = load_form(DEFAULT_FORM_PATH)
BATCH = mixed_batch(FORM, seed=40)
RESENT_WINDOW = "sent-unrecorded"


def _header(raw: bytes, name: str) -> str:
    return str(message_from_bytes(raw, policy=policy.default)[name])


def _processes_with_env(marker: str) -> list[int]:
    """Pids of live processes whose environment carries `marker` (children of the killed run)."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                with open(f"{entry.path}/environ", "rb") as env:
                    if marker.encode() in env.read().split(b"\0"):
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_every_step_then_restarted(point, clean_dovecot, smtp_server, tmp_path):
    config = mailbox_config(tmp_path, clean_dovecot, smtp_server, BATCH.messages)
    env = {"INTAKE_MAILBOX_PASSWORD": clean_dovecot.password}
    marker = f"INTAKE_FAILPOINT={point}"

    killed = run_intake_process(config, "run", env={**env, "INTAKE_FAILPOINT": point})
    assert killed.returncode == -signal.SIGKILL, f"{point} was never reached:\n{killed.stderr}"
    deadline = time.monotonic() + 5
    while _processes_with_env(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_with_env(marker) == [], "a child of the killed process outlived it"

    for _ in range(2):
        again = run_intake_process(config, "run", env=env)
        assert again.returncode == 0, again.stderr

    responses = export(config, tmp_path)
    assert len(responses) == BATCH.responses
    assert len({r["reference"] for r in responses}) == BATCH.responses
    messages = export(config, tmp_path, "--messages")
    assert len(messages) == len(BATCH.messages)
    assert all(m["disposition"] for m in messages), "a message was left without a recorded state"
    assert clean_dovecot.list_folder("INBOX") == []
    assert len(clean_dovecot.list_folder(clean_dovecot.folder("Processed"))) == len(BATCH.messages)

    sent_ids = Counter(_header(r.raw, "Message-ID") for r in smtp_server.received)
    assert len(sent_ids) == BATCH.acknowledged, "every acknowledgement goes out"
    assert len({_header(r.raw, "In-Reply-To") for r in smtp_server.received}) == BATCH.acknowledged
    resent = [mid for mid, n in sent_ids.items() if n > 1]
    if point == RESENT_WINDOW:
        assert len(resent) == 1 and sent_ids[resent[0]] == 2, "only the one in the window goes twice"
    else:
        assert resent == [], f"killed at {point}: an acknowledgement went out twice"
    acks = Counter(m["acknowledgement"]["status"] for m in messages)
    assert acks["sent"] == BATCH.acknowledged and acks["pending"] == 0 and acks["failed"] == 0
    copies = [_header(raw, "Message-ID") for raw in clean_dovecot.list_folder(clean_dovecot.folder("Sent"))]
    assert sorted(copies) == sorted(sent_ids), "one copy of each acknowledgement in Sent"
