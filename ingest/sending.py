"""Step 3 of a cycle: deliver pending acknowledgements (the outbox pattern).

An acknowledgement was queued as `pending` in the transaction that filed its response. Here each
one is claimed (`claimed_by`, committed before anything is sent, so no other worker takes it),
sent, and marked `sent` only after the server accepted it. A transient failure (connection
refused, timeout, 4xx) waits with exponential backoff for a later cycle, and after `max_attempts`
it is `failed` with `retry_allowed`, which `intake acks --retry` sends again; a permanent one
(5xx) is `failed` with the server's words. While SMTP is down, intake goes on.

The one window: a worker killed after the server accepted an acknowledgement and before the
database recorded it leaves a claim by a process that is gone. The claim is void (at once when the
process was on this host, else when its lease runs out) and the acknowledgement is sent again,
with the same Message-ID. A database that fails just after the server accepted is retried a few
times before giving up, so a blip does not open that window.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, or_, select

from ingest.delivery import Delivery
from ingest.errors import CredentialError, IntakeError, PermanentDeliveryError, TransientError
from ingest.failpoints import failpoint
from ingest.sources import MailSource
from ingest.workers import is_gone, worker_id
from store.db import DatabaseUnavailable, database_unavailable
from store.models import COPY_DUE, Acknowledgement, AckStatus, utcnow

log = logging.getLogger(__name__)
BASE_BACKOFF = dt.timedelta(seconds=60)
MAX_BACKOFF = dt.timedelta(hours=6)
CLAIM_LEASE = dt.timedelta(minutes=15)  # longer than any batch of sends can take under the cycle deadline
CLAIM_BATCH = 20  # acknowledgements claimed in one transaction
RECORD_TRIES = (0.5, 1.0, 2.0, 4.0)  # waits between tries to record a send the server accepted


@dataclass
class SendCounts:
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    given_up: int = 0
    down: str | None = None  # why the server could not be used this cycle
    login_refused: str | None = None  # the server refused our login: back off (ingest/backoff.py)

    def add(self, other: SendCounts) -> None:
        """Count another pass of the same cycle in with this one."""
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed
        self.given_up += other.given_up
        self.down = self.down or other.down
        self.login_refused = self.login_refused or other.login_refused


def backoff(attempts: int, base: dt.timedelta = BASE_BACKOFF) -> dt.timedelta:
    """Wait before the next try after `attempts` failures: 1, 2, 4 … minutes, at most 6 hours."""
    return min(base * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def send_pending(
    engine: Engine,
    delivery: Delivery,
    *,
    envelope_from: str,
    max_attempts: int,
    retry_base: dt.timedelta = BASE_BACKOFF,
    sent_copy: tuple[MailSource, str] | None = None,
    now: dt.datetime | None = None,
    ignore_schedule: bool = False,
    stop_requested: Callable[[], bool] = lambda: False,
) -> SendCounts:
    """Send every pending acknowledgement that is due; stop at the first sign the server is down.

    Raises `DatabaseUnavailable` when the database fails; what was sent and recorded stays so.
    """
    counts = SendCounts()
    _record_unrecorded(engine)
    release_void_claims(engine)
    cursor, down = 0, False
    while not down and not stop_requested():
        claimed = _claim_batch(engine, cursor, now or utcnow(), ignore_schedule)
        if not claimed:
            break
        cursor = claimed[-1].id
        sent_or_tried = 0
        for ack in claimed:
            if stop_requested():
                break
            sent_or_tried += 1
            outcome = _send_one(engine, ack, delivery, envelope_from, (max_attempts, retry_base), counts)
            if outcome == AckStatus.SENT:
                counts.sent += 1
                if sent_copy is not None:
                    _COPY_UNTRIED.add(ack.id)
            elif outcome == AckStatus.FAILED:
                counts.failed += 1
            elif outcome == "down":
                counts.deferred += 1
                down = True
                break
        _release_claims(engine, [ack.id for ack in claimed[sent_or_tried:]])
        if sent_copy is not None:  # batch by batch: a cycle does not end waiting on a pass's copies
            copy_to_sent(engine, *sent_copy, stop_requested=stop_requested)
    if sent_copy is not None:  # copies an earlier cycle could not make
        copy_to_sent(engine, *sent_copy, stop_requested=stop_requested)
    return counts


def release_void_claims(engine: Engine) -> int:
    """Void the claims of workers that are gone (killed mid-send): those acknowledgements go again."""
    try:
        with Session(engine) as session:
            claimed = session.exec(
                select(Acknowledgement.id, Acknowledgement.claimed_by, Acknowledgement.claimed_until).where(
                    Acknowledgement.status == AckStatus.PENDING, col(Acknowledgement.claimed_by).is_not(None)
                )
            ).all()
            now = utcnow()
            # Our own claims are void too: this process runs one send step at a time, so a claim of
            # ours found here is left from a step that failed (its sent ones are in _UNRECORDED).
            void = [
                i
                for i, who, until in claimed
                if i not in _UNRECORDED and (who == worker_id() or is_gone(who) or _passed(until, now))
            ]
            if void:
                _unclaim(session, void)
    except SQLAlchemyError as err:
        raise database_unavailable(err, "checking acknowledgements in flight") from err
    for ack_id in void:
        log.warning("acknowledgement #%s was left claimed by a send that did not finish; sending it again", ack_id)
    return len(void)


def _passed(until: dt.datetime | None, now: dt.datetime) -> bool:
    if until is None:
        return True
    return (until if until.tzinfo else until.replace(tzinfo=dt.UTC)) < now


@dataclass(frozen=True)
class _Claimed:
    """A claimed acknowledgement, as read with its claim: nobody else changes it while it is ours."""

    id: int
    raw: bytes | None
    to_address: str | None
    attempts: int


def _claim_batch(engine: Engine, cursor: int, now: dt.datetime, ignore_schedule: bool) -> list[_Claimed]:
    """Claim the next due, unclaimed acknowledgements after `cursor` (committed before sending).

    Up to CLAIM_BATCH in one transaction, read in the same query: a commit per claim cost a write
    lock and a sync per acknowledgement, taken in turn with the filing step, and a read per send
    four round trips. A claim is only a lease: those not sent are released, and a claim left by a
    process that died is void (`release_void_claims`).
    """
    try:
        with Session(engine) as session:
            query = select(
                Acknowledgement.id, Acknowledgement.raw, Acknowledgement.to_address, Acknowledgement.attempts
            ).where(
                Acknowledgement.status == AckStatus.PENDING,
                col(Acknowledgement.claimed_by).is_(None),
                col(Acknowledgement.id) > cursor,
            )
            if not ignore_schedule:
                query = query.where(
                    or_(col(Acknowledgement.next_attempt_at).is_(None), col(Acknowledgement.next_attempt_at) <= now)
                )
            claimed = [
                _Claimed(*row)
                for row in session.exec(
                    query.order_by(col(Acknowledgement.id)).limit(CLAIM_BATCH).with_for_update(skip_locked=True)
                )
            ]
            if claimed:
                session.exec(
                    update(Acknowledgement)
                    .where(col(Acknowledgement.id).in_([ack.id for ack in claimed]))
                    .values(claimed_by=worker_id(), claimed_until=utcnow() + CLAIM_LEASE)
                )
                session.commit()
            return claimed
    except SQLAlchemyError as err:
        raise database_unavailable(err, "claiming acknowledgements") from err


def _release_claims(engine: Engine, ack_ids: list[int]) -> None:
    """Give back claims not used (the cycle stopped, or the server is down) for the next send."""
    if not ack_ids:
        return
    try:
        with Session(engine) as session:
            _unclaim(session, ack_ids)
    except SQLAlchemyError as err:
        raise database_unavailable(err, "releasing acknowledgement claims") from err


def _unclaim(session: Session, ack_ids: list[int]) -> None:
    """Drop the claims on these acknowledgements that are still pending, and commit."""
    session.exec(
        update(Acknowledgement)
        .where(col(Acknowledgement.id).in_(ack_ids), Acknowledgement.status == AckStatus.PENDING)
        .values(claimed_by=None, claimed_until=None)
    )
    session.commit()


def _send_one(
    engine: Engine,
    ack: _Claimed,
    delivery: Delivery,
    envelope_from: str,
    schedule: tuple[int, dt.timedelta],
    counts: SendCounts,
) -> str:
    ack_id = ack.id
    if ack.raw is None or not ack.to_address:
        return "skipped"
    failpoint("before-send")
    attempts = ack.attempts + 1
    try:
        delivery.send(ack.raw, envelope_from, [ack.to_address])
    except PermanentDeliveryError as err:
        _record(engine, ack_id, status=AckStatus.FAILED, attempts=attempts, last_error=str(err),
                reason=f"refused: {err}", failed_at=utcnow(), retry_allowed=False)  # fmt: skip
        log.error("acknowledgement #%s refused by the server: %s", ack_id, err)
        return AckStatus.FAILED
    except CredentialError as err:
        counts.login_refused = str(err)
        _record(engine, ack_id, last_error=str(err))  # not an attempt: the message was never offered
        return "down"
    except TransientError as err:
        return _deferred(engine, ack_id, attempts, schedule, err, counts)
    failpoint("sent-unrecorded")
    _record(engine, ack_id, status=AckStatus.SENT, attempts=attempts, sent_at=utcnow(), last_error=None)
    failpoint("ack-recorded")
    log.debug("acknowledgement #%s sent", ack_id)
    return AckStatus.SENT


def _deferred(
    engine: Engine, ack_id: int, attempts: int, schedule: tuple[int, dt.timedelta], err: IntakeError, counts: SendCounts
) -> str:
    """A send that may work later: wait (backoff), or give up after `max_attempts` (retryable)."""
    max_attempts, base = schedule
    counts.down = str(err)
    if attempts >= max_attempts:
        _record(engine, ack_id, status=AckStatus.FAILED, attempts=attempts, last_error=str(err),
                reason=f"gave up after {attempts} attempts: {err}", failed_at=utcnow(),
                retry_allowed=True)  # fmt: skip
        counts.given_up += 1
        log.error("acknowledgement #%s: gave up after %d attempts (`intake acks --retry` sends it)", ack_id, attempts)
        return AckStatus.FAILED
    _record(engine, ack_id, attempts=attempts, last_error=str(err), next_attempt_at=utcnow() + backoff(attempts, base))
    return "down"


# Acknowledgements this process sent and has not tried to copy to the Sent folder yet: no copy of
# them can exist, so theirs is made without searching the folder first.
_COPY_UNTRIED: set[int] = set()

# Sends the server accepted that the database could not record yet: recorded before anything else
# by this process's next send step (and never sent again meanwhile: their claims stay ours).
_UNRECORDED: dict[int, dict[str, object]] = {}


def _record_unrecorded(engine: Engine) -> None:
    for ack_id, values in list(_UNRECORDED.items()):
        _record(engine, ack_id, **values)
        del _UNRECORDED[ack_id]
        log.info("acknowledgement #%s: its earlier send is now recorded", ack_id)


def _record(engine: Engine, ack_id: int, **values: object) -> None:
    """Write the outcome of a send and drop the claim; retried, since the send already happened."""
    try:
        _write_outcome(engine, ack_id, values)
    except DatabaseUnavailable:
        if values.get("status") == AckStatus.SENT:
            _UNRECORDED[ack_id] = values
        raise


def _write_outcome(engine: Engine, ack_id: int, values: dict[str, object]) -> None:
    for wait in (*RECORD_TRIES, None):
        try:
            with Session(engine) as session:
                session.exec(
                    update(Acknowledgement)
                    .where(col(Acknowledgement.id) == ack_id)
                    .values(claimed_by=None, claimed_until=None, **values)
                )
                session.commit()
                return
        except SQLAlchemyError as err:
            if wait is None:
                raise database_unavailable(err, f"recording acknowledgement #{ack_id}") from err
            log.warning("could not record acknowledgement #%s yet (%s); retrying", ack_id, type(err).__name__)
            time.sleep(wait)


def retry_given_up(engine: Engine) -> int:
    """Make acknowledgements that gave up (not those refused) pending again; how many."""
    with Session(engine) as session:
        result = session.exec(
            update(Acknowledgement)
            .where(Acknowledgement.status == AckStatus.FAILED, col(Acknowledgement.retry_allowed).is_(True))
            .values(
                status=AckStatus.PENDING,
                retry_allowed=False,
                failed_at=None,
                attempts=0,
                next_attempt_at=utcnow(),
                reason=None,
            )  # fmt: skip
        )
        session.commit()
        return result.rowcount or 0


def copy_to_sent(
    engine: Engine, source: MailSource, folder: str, *, stop_requested: Callable[[], bool] = lambda: False
) -> int:
    """Put a copy of each sent acknowledgement not yet copied into the Sent folder, so staff see it.

    The copy is made at most once (the source skips a Message-ID already in the folder) and a
    failure never unsends: copies that could not be made are made by a later cycle. The folder is
    searched only for acknowledgements this process did not just send (`_COPY_UNTRIED`): those an
    earlier process or another worker sent, whose copy may have been made and not recorded.
    """
    try:
        with Session(engine) as session:
            due = session.exec(select(Acknowledgement.id).where(*COPY_DUE).order_by(col(Acknowledgement.id))).all()
    except SQLAlchemyError as err:
        raise database_unavailable(err, "listing acknowledgements to copy") from err
    copied = 0
    for start in range(0, len(due), CLAIM_BATCH):
        if stop_requested():
            break
        chunk, made = due[start : start + CLAIM_BATCH], []
        try:
            with Session(engine) as session:
                rows = session.exec(
                    select(Acknowledgement.id, Acknowledgement.raw, Acknowledgement.rfc_message_id).where(
                        col(Acknowledgement.id).in_(chunk), *COPY_DUE
                    )
                ).all()
            for ack_id, raw, rfc_message_id in sorted(rows, key=lambda row: row[0]):
                if stop_requested():
                    break
                if raw is None:
                    continue
                untried = ack_id in _COPY_UNTRIED
                _COPY_UNTRIED.discard(ack_id)  # from here a copy may exist: a later try looks first
                failpoint("before-sent-copy")
                source.append_once(folder, raw, rfc_message_id or f"<ack-{ack_id}>", may_exist=not untried)
                failpoint("sent-copied")
                made.append(ack_id)
        except IntakeError as err:  # the acknowledgement went out; the copy waits for a later cycle
            log.warning("could not copy acknowledgements to %s this cycle: %s", folder, err)
            return copied + _mark_copied(engine, made)
        copied += _mark_copied(engine, made)
    return copied


def _mark_copied(engine: Engine, ack_ids: list[int]) -> int:
    """Record the copies made, in one commit for a batch; a copy made again is skipped by `append_once`."""
    if ack_ids:
        try:
            with Session(engine) as session:
                session.exec(
                    update(Acknowledgement).where(col(Acknowledgement.id).in_(ack_ids)).values(copied_to_sent=True)
                )
                session.commit()
        except SQLAlchemyError as err:
            raise database_unavailable(err, "recording copies in the Sent folder") from err
    return len(ack_ids)
