"""The service: run intake cycles on the configured schedule until SIGTERM or SIGINT.

APScheduler runs the cycle on an interval with max_instances=1 and coalescing, so cycles never
overlap and a slow cycle never causes a burst of catch-up runs. The first SIGTERM sets a stop event
that the cycle checks between messages: the message in hand is finished, the rest wait for the next
start; a network operation that hangs is broken off after a short grace (ingest/guard.py).

A cycle that cannot run (the database down, or on SQLite another process's cycle in progress) is
logged and skipped; the service keeps its schedule and tries again at the next interval.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import signal
import threading
from collections.abc import Iterator

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from ingest.config import Config
from ingest.cycle import run_cycle
from ingest.errors import AnotherWorkerRunning, DatabaseUnavailable

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
    """Block, running a cycle every interval, until asked to stop; returns the exit status."""
    with stop_on_signals() as stop:
        return _serve_until(stop, config, engine)


def _apply_retention(config: Config, engine: Engine) -> None:
    """Once a day: remove what the `[retention]` periods no longer allow (nothing when none is set)."""
    from store.retention import apply_retention

    try:
        apply_retention(engine, config.retention, dt.datetime.now(dt.UTC))
    except Exception as err:  # retention waits for tomorrow; the intake goes on
        log.error("retention not applied: %s", err)


def _serve_until(stop: threading.Event, config: Config, engine: Engine) -> int:
    interval = config.settings.schedule.interval_seconds

    def cycle() -> None:
        if stop.is_set():
            return
        try:
            result = run_cycle(config, engine, stop=stop, lock_wait_seconds=0)
        except AnotherWorkerRunning as err:
            log.info("cycle skipped: %s", err)
            return
        except DatabaseUnavailable as err:
            log.error("cycle skipped: %s", err)
            return
        log.info("cycle %s %s", result.cycle_id, "completed" if result.completed else "could not complete")

    scheduler = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    scheduler.add_job(cycle, "interval", seconds=interval, next_run_time=dt.datetime.now(dt.UTC), id="intake-cycle")
    scheduler.add_job(
        lambda: _apply_retention(config, engine), "interval", days=1, next_run_time=dt.datetime.now(dt.UTC),
        id="retention",
    )  # fmt: skip
    scheduler.start()
    log.info("serving: a cycle every %d s; send SIGTERM to stop", interval)
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        log.info("stopped")
    return 0
