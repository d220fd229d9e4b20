"""Logins that were refused back off across cycles and processes, instead of failing every poll.

A refused password retried every five minutes gets the account locked. After each refusal the
next attempt waits longer (the poll interval, doubled each time, at most an hour); a success
clears it. The state lives in the database (`service_state`), so a cron-driven `intake run`
backs off as well as `intake serve`, and `intake status` can show it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from store.db import database_unavailable
from store.models import ServiceState, utcnow

log = logging.getLogger(__name__)
MAX_WAIT = dt.timedelta(hours=1)


@dataclass(frozen=True)
class LoginBackoff:
    """Backoff state of one login, e.g. name="mailbox-login" or "smtp-login"."""

    engine: Engine
    name: str
    base: dt.timedelta

    def waiting_until(self, now: dt.datetime | None = None) -> dt.datetime | None:
        """When the next attempt is allowed, if that is still in the future."""
        state = self._read()
        retry_at = state.get("retry_at")
        if not retry_at:
            return None
        when = dt.datetime.fromisoformat(retry_at)
        return when if when > (now or utcnow()) else None

    def refused(self, error: str) -> dt.datetime:
        """Note one more refusal; returns when the next attempt is allowed."""
        state = self._read()
        failures = int(state.get("failures", 0)) + 1
        wait = min(self.base * 2 ** (failures - 1), MAX_WAIT)
        retry_at = utcnow() + wait
        self._write({"failures": failures, "retry_at": retry_at.isoformat(), "error": error[:300]})
        return retry_at

    def succeeded(self) -> None:
        if self._read():
            self._write({})

    def failures(self) -> int:
        return int(self._read().get("failures", 0))

    def _read(self) -> dict:
        try:
            with Session(self.engine) as session:
                row = session.get(ServiceState, self.name)
                return dict(row.value) if row else {}
        except SQLAlchemyError as err:
            raise database_unavailable(err, "reading the service state") from err

    def _write(self, value: dict) -> None:
        try:
            with Session(self.engine) as session:
                row = session.get(ServiceState, self.name) or ServiceState(name=self.name)
                row.value, row.updated_at = value, utcnow()
                session.add(row)
                session.commit()
        except SQLAlchemyError as err:
            raise database_unavailable(err, "recording the service state") from err
