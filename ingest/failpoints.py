"""Named crash points, so tests can kill the real process exactly where it hurts most.

With INTAKE_FAILPOINT=NAME in the environment, `failpoint(NAME)` SIGKILLs the process on the spot
(no cleanup, no atexit: the same as a power cut); INTAKE_FAILPOINT=NAME:group-sigterm instead
sends SIGTERM to the whole process group once, as systemd does when it stops the service, and
INTAKE_FAILPOINT=NAME:slow waits `SLOW_SECONDS` there each time (a long back-fill, for a second
process to meet).
In-process tests may instead `set_action(NAME, fn)` to run a fault of their own there (terminate
the database's connections, stop a server).
Unset, a failpoint costs one dictionary lookup. The points, in the order a message meets them:

- "fetched": a message downloaded, its raw bytes not yet committed;
- "stored": raw bytes committed, the message not yet moved on the server;
- "moved": the batch moved to the processed folder;
- "parsing": inside a parse, the attachment reader's child process alive;
- "filed": responses and the pending acknowledgement committed, nothing sent;
- "before-send": an acknowledgement claimed for sending, not yet handed to SMTP;
- "sent-unrecorded": the SMTP server accepted it, the database does not know yet (the one window
  in which a restart sends the acknowledgement again);
- "ack-recorded": the acknowledgement sent and recorded;
- "before-sent-copy" / "sent-copied": around the APPEND of the copy into the Sent folder.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

ENV = "INTAKE_FAILPOINT"
POINTS = (
    "fetched",
    "stored",
    "moved",
    "parsing",
    "filed",
    "before-send",
    "sent-unrecorded",
    "ack-recorded",
    "before-sent-copy",
    "sent-copied",
)
SLOW_SECONDS = 0.25
_actions: dict[str, Callable[[], None]] = {}


def failpoint(name: str) -> None:
    action = _actions.get(name)
    if action is not None:
        action()
    wanted = os.environ.get(ENV)
    if wanted is None:
        return
    point, _, how = wanted.partition(":")
    if point != name:
        return
    if how == "slow":
        time.sleep(SLOW_SECONDS)
    elif how == "group-sigterm":
        del os.environ[ENV]  # once
        os.killpg(os.getpgrp(), signal.SIGTERM)
    else:
        os.kill(os.getpid(), signal.SIGKILL)


def set_action(name: str, action: Callable[[], None] | None) -> None:
    """Run `action` whenever `failpoint(name)` is reached in this process (None removes it)."""
    if name not in POINTS:
        raise ValueError(f"no failpoint named {name!r}")
    if action is None:
        _actions.pop(name, None)
    else:
        _actions[name] = action
