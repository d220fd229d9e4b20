"""Named crash points, so tests can kill the real process exactly where it hurts most.

With INTAKE_FAILPOINT=NAME in the environment, `failpoint(NAME)` SIGKILLs the process on the spot
(no cleanup, no atexit: the same as a power cut). Unset, it costs one dictionary lookup. The points:
"stored" (raw bytes committed, message not yet moved), "filed" (response and pending
acknowledgement committed, nothing sent), "ack-recorded" (acknowledgement sent and marked sent).
"""

from __future__ import annotations

import os
import signal

ENV = "INTAKE_FAILPOINT"


def failpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
