"""The service: run intake cycles on the configured schedule until SIGTERM or SIGINT.

APScheduler runs the cycle on an interval with max_instances=1 and coalescing, so cycles never
overlap and a slow cycle never causes a burst of catch-up runs. The first SIGTERM sets a stop event
that the cycle checks between messages: the message in hand is finished, the rest wait for the next
start.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine

from ingest.config import Config
from ingest.cycle import run_cycle

log = logging.getLogger("intake.scheduler")


def serve(config: Config, engine: Engine) -> int:
    """Block, running a cycle every interval, until asked to stop; returns the exit status."""
    stop = threading.Event()
    interval = config.settings.schedule.interval_seconds

    def cycle() -> None:
        if stop.is_set():
            return
        result = run_cycle(config, engine, stop=stop)
        log.info("cycle %s %s", result.cycle_id, "completed" if result.completed else f"failed: {result.errors}")

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received %s: finishing the message in hand, then stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    scheduler = BackgroundScheduler(job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})
    scheduler.add_job(cycle, "interval", seconds=interval, next_run_time=dt.datetime.now(dt.UTC), id="intake-cycle")
    scheduler.start()
    log.info("serving: a cycle every %d s; send SIGTERM to stop", interval)
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        log.info("stopped")
    return 0
