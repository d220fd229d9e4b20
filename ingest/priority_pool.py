"""A thread pool that runs the waiting call with the lowest priority key first, not the oldest.

Filing takes messages in arrival order, so the reading it waits for is the one of the lowest
message id. With a first-in, first-out pool, a message whose .doc had to be converted first went
to the back of the queue for its second reading, behind the whole backlog, and filing stood still
until every other message had been read. Keyed by message id, the pool reads what filing needs
next.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

Key = tuple[int, ...]


class PriorityPool:
    """`workers` threads taking calls lowest key first (ties: in the order submitted)."""

    def __init__(self, workers: int, *, name: str) -> None:
        self._waiting: list[tuple[Key, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._changed = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True) for i in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, key: Key, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._changed:
            if self._closed:
                raise RuntimeError("the pool has been shut down")
            heapq.heappush(self._waiting, (key, next(self._order), future, fn, args))
            self._changed.notify()
        return future

    def shutdown(self) -> None:
        """Cancel what has not started and wait for the calls running now."""
        with self._changed:
            self._closed = True
            waiting, self._waiting = self._waiting, []
            self._changed.notify_all()
        for *_, future, _fn, _args in waiting:
            future.cancel()
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                if not self._waiting:
                    return
                *_, future, fn, args = heapq.heappop(self._waiting)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                value = fn(*args)
            except BaseException as err:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(err)
            else:
                future.set_result(value)
