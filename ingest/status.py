"""`intake status`: is the service healthy? For people, Nagios-style checks and systemd timers.

Read-only over the store: the cycles, the queues, the logins backing off (`service_state`) and the
acknowledgements that gave up. Healthy (exit 0) means a cycle completed within twice
`[schedule] interval_seconds`, no login is backing off and no acknowledgement failed in the last
day or waits for `intake acks --retry`. Anything else is exit 1, with the reasons. A service that
has never run a cycle is not healthy ("no cycle yet"): a check that is green before the first
cycle would be green for a service that never starts.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field

from sqlmodel import Session, col, func, select

from store.models import Acknowledgement, AckStatus, Cycle, Message, MessageState, Response, ServiceState

RECENT_FAILURES = dt.timedelta(days=1)


@dataclass(frozen=True)
class Queues:
    stored_not_filed: int
    acks_pending: int
    acks_failed: int
    acks_given_up: int  # failed after max_attempts: `intake acks --retry` sends them again
    needs_review: int
    failed_messages: int


@dataclass(frozen=True)
class Status:
    now: str
    last_success: str | None
    last_success_age_seconds: float | None
    last_cycle: dict | None
    queues: Queues
    errors: list[str] = field(default_factory=list)  # what is wrong now (shown, not all unhealthy)
    problems: list[str] = field(default_factory=list)  # why it is unhealthy; empty when healthy

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> str:
        return json.dumps({**asdict(self), "healthy": self.healthy}, indent=2)


def _aware(when: dt.datetime | None) -> dt.datetime | None:
    return when.replace(tzinfo=dt.UTC) if when is not None and when.tzinfo is None else when


def _count(session: Session, model: type, *where: object) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def read_queues(session: Session) -> Queues:
    return Queues(
        stored_not_filed=_count(session, Message, Message.state == MessageState.STORED),
        acks_pending=_count(session, Acknowledgement, Acknowledgement.status == AckStatus.PENDING),
        acks_failed=_count(session, Acknowledgement, Acknowledgement.status == AckStatus.FAILED),
        acks_given_up=_count(
            session,
            Acknowledgement,
            Acknowledgement.status == AckStatus.FAILED,
            col(Acknowledgement.retry_allowed).is_(True),
        ),
        needs_review=_count(session, Response, Response.status == "needs_review"),
        failed_messages=_count(session, Message, Message.disposition == "failed"),
    )


def _logins_backing_off(session: Session) -> list[str]:
    said = []
    for row in session.exec(select(ServiceState).where(col(ServiceState.name).like("%-login"))).all():
        failures = int(row.value.get("failures", 0))
        if failures:
            when = row.value.get("retry_at", "?")
            said.append(f"{row.name}: refused {failures} time(s), next attempt after {when[:19]} UTC: "
                        f"{row.value.get('error', '')}")  # fmt: skip
    return said


def gather_status(session: Session, now: dt.datetime, interval_seconds: float) -> Status:
    last = session.exec(select(Cycle).order_by(col(Cycle.id).desc()).limit(1)).first()
    success = session.exec(
        select(Cycle).where(Cycle.status == "completed").order_by(col(Cycle.finished_at).desc()).limit(1)
    ).first()
    finished = _aware(success.finished_at) if success else None
    age = (now - finished).total_seconds() if finished else None
    queues = read_queues(session)
    recent_failed = _count(
        session, Acknowledgement, Acknowledgement.status == AckStatus.FAILED,
        col(Acknowledgement.failed_at) >= now - RECENT_FAILURES,
    )  # fmt: skip
    errors, problems = [], []
    if last is not None and last.status in ("failed", "interrupted") and last.error:
        errors.append(f"last cycle ({last.id}) {last.status}: {last.error}")
    logins = _logins_backing_off(session)
    errors += logins
    problems += logins
    if last is None:
        problems.append("no cycle yet: the service has never run")
    elif age is None:
        problems.append("no cycle has completed yet")
    elif age > 2 * interval_seconds:
        problems.append(f"stale: the last completed cycle finished {_ago(age)} ago (interval {interval_seconds:g} s)")
    if recent_failed:
        problems.append(f"{recent_failed} acknowledgement(s) failed in the last 24 hours")
    if queues.acks_given_up:
        problems.append(f"{queues.acks_given_up} acknowledgement(s) gave up; `intake acks --retry` sends them again")
    return Status(
        now=now.isoformat(timespec="seconds"),
        last_success=finished.isoformat(timespec="seconds") if finished else None,
        last_success_age_seconds=round(age, 1) if age is not None else None,
        last_cycle=_cycle_facts(last),
        queues=queues,
        errors=errors,
        problems=problems,
    )


def _cycle_facts(cycle: Cycle | None) -> dict | None:
    if cycle is None:
        return None
    started = _aware(cycle.started_at)
    when = started.isoformat(timespec="seconds") if started else None
    return {"id": cycle.id, "status": cycle.status, "started": when, "counts": cycle.counts}


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render_text(status: Status) -> str:
    q = status.queues
    lines = [f"intake: {'OK' if status.healthy else 'NOT HEALTHY'}"]
    if status.last_success and status.last_success_age_seconds is not None:
        lines.append(f"last successful cycle: {status.last_success} ({_ago(status.last_success_age_seconds)} ago)")
    else:
        lines.append("last successful cycle: none")
    if status.last_cycle:
        lines.append(f"last cycle: {status.last_cycle['id']} {status.last_cycle['status']}")
    lines += [
        f"stored, not yet filed: {q.stored_not_filed}",
        f"acknowledgements: {q.acks_pending} pending, {q.acks_failed} failed ({q.acks_given_up} gave up)",
        f"responses needing review: {q.needs_review}",
        f"failed messages: {q.failed_messages}",
    ]
    lines += [f"problem: {p}" for p in status.problems]
    lines += [f"error: {e}" for e in status.errors if e not in status.problems]
    return "\n".join(lines) + "\n"
