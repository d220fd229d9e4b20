"""Retention: how long raw messages and acknowledgement bytes are kept, and removing them after.

Three periods, each optional (unset keeps everything for ever), from `[retention]` in the config:

- `originals_days_after_close`: a message's raw bytes (and so its attachments) are removed this
  many days after the consultation closes, or after the message arrived if that was later;
- `acknowledgement_days`: an acknowledgement's bytes, this many days after it was sent (or, for
  one that failed or was suppressed, after it was made);
- `failed_and_junk_days`: a message that could not be read or was junk loses its bytes, sender
  and subject this many days after it arrived.

What a staff member still has to act on is never removed: a message not yet filed, a message one
of whose responses (or the response it repeats) still needs review, an acknowledgement still
pending. The rows themselves stay, with raw_removed_at set: the filed responses, the message's
idempotence keys and the report are unchanged, and `intake original` says when the original went.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from store.models import Acknowledgement, AckStatus, Message, MessageState, Response

log = logging.getLogger(__name__)

FAILED_AND_JUNK = ("failed", "junk")


@dataclass(frozen=True)
class RetentionPolicy:
    closes: dt.date
    originals_days_after_close: int | None = None
    acknowledgement_days: int | None = None
    failed_and_junk_days: int | None = None

    @property
    def configured(self) -> bool:
        periods = (self.originals_days_after_close, self.acknowledgement_days, self.failed_and_junk_days)
        return any(p is not None for p in periods)


@dataclass
class RetentionPlan:
    originals: list[int] = field(default_factory=list)  # message ids: raw bytes go
    failed_and_junk: list[int] = field(default_factory=list)  # message ids: raw, sender, subject go
    acknowledgements: list[int] = field(default_factory=list)  # acknowledgement ids: raw bytes go
    kept_for_review: list[int] = field(default_factory=list)  # message ids past their date, kept

    @property
    def empty(self) -> bool:
        return not (self.originals or self.failed_and_junk or self.acknowledgements)


def _day(when: dt.datetime | None) -> dt.date | None:
    return None if when is None else (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(dt.UTC).date()


def plan_retention(session: Session, policy: RetentionPolicy, now: dt.datetime) -> RetentionPlan:
    """What the policy removes at `now`; nothing is changed."""
    plan = RetentionPlan()
    today = _day(now)
    assert today is not None
    in_review = _messages_in_review(session)
    query = select(Message.id, Message.disposition, Message.stored_at, Message.received_at).where(
        Message.state == MessageState.DONE, col(Message.raw_removed_at).is_(None)
    )
    for pk, disposition, stored_at, received_at in session.exec(query.order_by(col(Message.id))):
        arrived = _day(stored_at) or _day(received_at) or today
        if disposition in FAILED_AND_JUNK:
            days, start, bucket = policy.failed_and_junk_days, arrived, plan.failed_and_junk
        else:
            days, start, bucket = policy.originals_days_after_close, max(policy.closes, arrived), plan.originals
        if days is None or today <= start + dt.timedelta(days=days):
            continue
        (plan.kept_for_review if pk in in_review else bucket).append(pk)
    if policy.acknowledgement_days is not None:
        plan.acknowledgements = _old_acknowledgements(session, today - dt.timedelta(days=policy.acknowledgement_days))
    return plan


def _messages_in_review(session: Session) -> set[int]:
    """Messages with a response needing review, and the copies of such messages."""
    pks = set(session.exec(select(Response.message_pk).where(Response.status == "needs_review")).all())
    copies = session.exec(select(Message.id).where(col(Message.duplicate_of).in_(pks))).all() if pks else []
    return pks | {pk for pk in copies if pk is not None}


def _old_acknowledgements(session: Session, before: dt.date) -> list[int]:
    query = select(Acknowledgement).where(
        col(Acknowledgement.raw).is_not(None), Acknowledgement.status != AckStatus.PENDING
    )
    old = []
    for ack in session.exec(query.order_by(col(Acknowledgement.id))):
        since = _day((ack.sent_at if ack.status == AckStatus.SENT else None) or ack.created_at)
        if since is not None and since < before:
            old.append(ack.id)
    return [pk for pk in old if pk is not None]


def describe_retention(plan: RetentionPlan, *, applied: bool) -> str:
    verb = "Removed" if applied else "Would remove"
    if plan.empty and not plan.kept_for_review:
        return "Nothing is due for removal.\n"
    lines = []
    if plan.originals:
        lines.append(f"{verb} the original (raw bytes and attachments) of {len(plan.originals)} message(s): "
                     + _ids(plan.originals))  # fmt: skip
    if plan.failed_and_junk:
        lines.append(f"{verb} the bytes, sender and subject of {len(plan.failed_and_junk)} failed or junk "
                     f"message(s): {_ids(plan.failed_and_junk)}")  # fmt: skip
    if plan.acknowledgements:
        lines.append(f"{verb} the bytes of {len(plan.acknowledgements)} acknowledgement(s): "
                     + _ids(plan.acknowledgements))  # fmt: skip
    if plan.kept_for_review:
        lines.append(f"Kept until reviewed: {len(plan.kept_for_review)} message(s): {_ids(plan.kept_for_review)}")
    return "\n".join(lines) + "\n"


def _ids(ids: list[int], shown: int = 20) -> str:
    text = ", ".join(f"#{i}" for i in ids[:shown])
    return text + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


def remove(session: Session, plan: RetentionPlan, now: dt.datetime) -> None:
    """Carry out a plan in one commit."""
    gone = {"raw": b"", "raw_removed_at": now, "raw_removed_why": "retention"}
    if plan.originals:
        session.exec(update(Message).where(col(Message.id).in_(plan.originals)).values(**gone))  # type: ignore[call-overload]
    if plan.failed_and_junk:
        personal = {"sender": None, "envelope_sender": None, "subject": None}
        session.exec(update(Message).where(col(Message.id).in_(plan.failed_and_junk)).values(**gone, **personal))  # type: ignore[call-overload]
    if plan.acknowledgements:
        query = update(Acknowledgement).where(col(Acknowledgement.id).in_(plan.acknowledgements))
        session.exec(query.values(raw=None, raw_removed_at=now))  # type: ignore[call-overload]
    session.commit()


def apply_retention(engine: Engine, policy: RetentionPolicy, now: dt.datetime) -> RetentionPlan:
    """Remove what the policy says is due at `now` (what `serve` runs once a day); the plan carried out."""
    if not policy.configured:
        return RetentionPlan()
    with Session(engine) as session:
        plan = plan_retention(session, policy, now)
        if not plan.empty:
            remove(session, plan, now)
    log.info(
        "retention: removed the originals of %d message(s), %d failed or junk message(s), %d acknowledgement(s); "
        "%d kept until reviewed",
        len(plan.originals),
        len(plan.failed_and_junk),
        len(plan.acknowledgements),
        len(plan.kept_for_review),
    )
    return plan
