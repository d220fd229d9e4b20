"""The service: run intake cycles on new mail and on the schedule until SIGTERM or SIGINT.

The serve loop is rq's `work()` shape (STYLE.md point 7): run a cycle, then wait on an `Event`
until the interval has passed since the cycle started, new mail is reported, or a stop is asked
for. Cycles never overlap; mail reported during a cycle leaves the event set, so exactly one more
cycle follows at once; a slow cycle is followed by one cycle, never a burst of catch-up runs.
New mail is reported by a watcher thread (ingest/push.py: IMAP IDLE, or a short Maildir poll) that
has its own connection; the schedule stays the fallback when IDLE is missing or down.

The first SIGTERM sets a stop event that the cycle checks between messages: the message in hand is
finished, the rest wait for the next start; a network operation that hangs is broken off after a
short grace (ingest/guard.py), and the IDLE wait ends at once. APScheduler runs the daily retention.

A cycle that cannot run (the database down, or on SQLite another process's cycle in progress) is
logged and skipped; the service keeps its schedule and tries again at the next interval.

The loop keeps the e-mailed report's campaign index across its cycles (store/campaign_cache.py), so
each report's campaign search reads only the responses filed since the last one.

Logging: an idle cycle says nothing at INFO, except one heartbeat line every `heartbeat_cycles`
idle cycles; a cycle that did work says one summary line; one that could not complete says so at
WARNING (after its step's ERROR line). `-v` shows every step.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from ingest.config import Config
from ingest.cycle import CycleResult, open_mail_source, run_cycle
from ingest.errors import AnotherWorkerRunning, DatabaseUnavailable

if TYPE_CHECKING:
    from store.campaign_cache import CampaignCache

log = logging.getLogger(__name__)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by the first SIGTERM or SIGINT while the block runs (main thread only)."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received %s: finishing the message in hand, then stopping", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(config: Config, engine: Engine) -> int:
    """Block, running a cycle on new mail and every interval, until asked to stop; returns the exit status."""
    with stop_on_signals() as stop:
        return serve_until(stop, config, engine)


def _apply_retention(config: Config, engine: Engine) -> None:
    """Once a day: remove what the `[retention]` periods no longer allow (nothing when none is set)."""
    from store.retention import apply_retention

    try:
        apply_retention(engine, config.retention, dt.datetime.now(dt.UTC))
    except Exception as err:  # retention waits for tomorrow; the intake goes on
        log.error("retention not applied: %s", err)


class CycleLog:
    """What each cycle says at INFO and above: nothing when idle (bar a heartbeat), else one line."""

    def __init__(self, heartbeat_cycles: int) -> None:
        self.heartbeat_cycles = heartbeat_cycles
        self.idle = 0

    def report(self, result: CycleResult) -> None:
        if not result.completed:
            log.warning("%s", result.summary())
        elif result.did_work:
            log.info("%s", result.summary())
        else:
            self.idle += 1
            if self.heartbeat_cycles and self.idle % self.heartbeat_cycles == 0:
                log.info("alive: no new mail in the last %d cycle(s) (cycle %s)", self.idle, result.cycle_id)
            else:
                log.debug("%s", result.summary())
            return
        self.idle = 0


def _one_cycle(
    config: Config, engine: Engine, stop: threading.Event, cycles: CycleLog, campaigns: CampaignCache
) -> None:
    try:
        result = run_cycle(config, engine, stop=stop, lock_wait_seconds=0, campaign_cache=campaigns)
    except AnotherWorkerRunning as err:
        log.debug("cycle skipped: %s", err)
        return
    except DatabaseUnavailable as err:
        log.error("cycle skipped: %s", err)
        return
    cycles.report(result)


def _start_watcher(config: Config, engine: Engine, wake: threading.Event, stop: threading.Event):  # type: ignore[no-untyped-def]
    """The new-mail watcher thread (ingest/push.py), or None when `[schedule] push` is off."""
    from ingest.push import make_watcher

    s = config.settings.schedule
    if not s.push:
        return None
    watcher = make_watcher(
        open_mail_source(config),
        lambda: open_mail_source(config),
        wake.set,
        stop,
        engine=engine,
        renew_seconds=s.idle_renew_seconds,
        maildir_every=s.maildir_check_seconds,
        login_base=dt.timedelta(seconds=s.interval_seconds),
    )
    thread = threading.Thread(target=watcher.run, name="new-mail-watch", daemon=True)
    thread.start()
    return watcher, thread


def serve_until(stop: threading.Event, config: Config, engine: Engine) -> int:
    """The serve loop, until `stop` is set (tests call it in a thread with their own event)."""
    from store.campaign_cache import CampaignCache

    s = config.settings.schedule
    wake = threading.Event()
    watching = _start_watcher(config, engine, wake, stop)

    def relay_stop() -> None:  # the stop ends the wait between cycles, and the IDLE wait
        stop.wait()
        wake.set()
        if watching:
            watching[0].abort()

    threading.Thread(target=relay_stop, name="stop-relay", daemon=True).start()
    scheduler = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    scheduler.add_job(
        lambda: _apply_retention(config, engine), "interval", days=1, next_run_time=dt.datetime.now(dt.UTC),
        id="retention",
    )  # fmt: skip
    scheduler.start()
    push = " and on new mail" if watching else ""
    log.info("serving: a cycle every %d s%s; send SIGTERM to stop", s.interval_seconds, push)
    cycles = CycleLog(s.heartbeat_cycles)
    campaigns = CampaignCache(config.form)  # the e-mailed report's campaigns, kept across cycles
    try:
        while not stop.is_set():
            started = time.monotonic()
            wake.clear()
            _one_cycle(config, engine, stop, cycles, campaigns)
            wake.wait(max(s.interval_seconds - (time.monotonic() - started), 0))
    finally:
        stop.set()
        if watching:
            watching[1].join(timeout=15)
        scheduler.shutdown(wait=True)
        log.info("stopped")
    return 0
