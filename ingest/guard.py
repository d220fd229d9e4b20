"""A cycle's deadline and stop request, and the network operations to break off when either comes.

A socket timeout bounds one read, not a conversation: a server that trickles a byte every few
seconds never times out. So each cycle has a deadline, and a watchdog thread shuts down the
sockets of the cycle's mailbox and SMTP connections when it passes, or shortly after a stop is
requested (SIGTERM), so a blocked read fails at once and the cycle ends. Between messages the
steps ask `should_stop()`. Breaking off loses nothing: what was committed stays, the rest waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0  # after SIGTERM, time for the operation in hand to finish by itself
WATCH_POLL_SECONDS = 0.2  # how soon the watchdog notices a stop request


class CycleGuard:
    def __init__(
        self, stop: threading.Event, deadline_seconds: float, *, stop_grace_seconds: float = STOP_GRACE_SECONDS
    ) -> None:
        self.stop = stop
        self.deadline_seconds = deadline_seconds
        self._deadline = time.monotonic() + deadline_seconds
        self._grace = stop_grace_seconds
        self._aborts: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._tripped = False
        self._watchdog = threading.Thread(target=self._watch, name="cycle-watchdog", daemon=True)

    def __enter__(self) -> CycleGuard:
        self._watchdog.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._watchdog.join(timeout=5)

    def expired(self) -> bool:
        return time.monotonic() >= self._deadline

    def should_stop(self) -> bool:
        return self.stop.is_set() or self.expired()

    def why(self) -> str:
        if self.stop.is_set():
            return "shutdown requested"
        return f"the cycle's deadline of {self.deadline_seconds:g} s passed"

    def on_trip(self, abort: Callable[[], None]) -> None:
        """Call `abort` (from the watchdog thread) when the deadline passes or a stop is due."""
        with self._lock:
            self._aborts.append(abort)
            tripped = self._tripped
        if tripped:
            abort()

    def _watch(self) -> None:
        while not self._done.is_set():
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                break
            if self._done.wait(min(remaining, WATCH_POLL_SECONDS)):
                return  # the cycle ended: leave at once (waiting on `stop` cost every cycle ~0.5 s)
            if self.stop.is_set():
                # Give the operation in hand a moment to finish on its own, then break it off.
                if self._done.wait(min(self._grace, max(self._deadline - time.monotonic(), 0))):
                    return
                break
        if self._done.is_set():
            return
        log.warning("breaking off the cycle's network operations: %s", self.why())
        with self._lock:
            self._tripped = True
            aborts = list(self._aborts)
        for abort in aborts:
            try:
                abort()
            except Exception:  # a failed abort must not kill the watchdog
                log.debug("abort failed", exc_info=True)
