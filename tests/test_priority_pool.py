"""The read-ahead pool takes the call with the lowest key first (the message filing needs soonest)."""

from __future__ import annotations

import threading
from concurrent.futures import CancelledError

import pytest

from ingest.priority_pool import PriorityPool


def test_calls_run_lowest_key_first_and_in_submission_order_within_a_key():
    pool = PriorityPool(1, name="test")
    release = threading.Event()
    ran: list[str] = []
    try:
        blocker = pool.submit((0,), release.wait, 10)  # holds the only thread while the rest queue up
        queued = [((5,), "e"), ((3,), "c"), ((3,), "d"), ((1, 2), "b"), ((1, 1), "a")]
        futures = [pool.submit(key, ran.append, label) for key, label in queued]
        release.set()
        for future in [blocker, *futures]:
            future.result(timeout=10)
    finally:
        pool.shutdown()
    assert ran == ["a", "b", "c", "d", "e"]


def test_an_exception_reaches_the_caller_and_the_thread_goes_on():
    pool = PriorityPool(1, name="test")
    try:
        failing = pool.submit((1,), int, "not a number")
        with pytest.raises(ValueError):
            failing.result(timeout=10)
        assert pool.submit((2,), int, "7").result(timeout=10) == 7
    finally:
        pool.shutdown()


def test_shutdown_cancels_what_has_not_started_and_refuses_new_calls():
    pool = PriorityPool(1, name="test")
    started, release = threading.Event(), threading.Event()

    def hold() -> str:
        started.set()
        release.wait(10)
        return "finished"

    running = pool.submit((0,), hold)
    waiting = pool.submit((1,), str, "never")
    assert started.wait(10)
    threading.Timer(0.1, release.set).start()
    pool.shutdown()
    assert running.result(timeout=0) == "finished", "a call that started is finished"
    with pytest.raises(CancelledError):
        waiting.result(timeout=0)
    with pytest.raises(RuntimeError):
        pool.submit((2,), str, "late")
