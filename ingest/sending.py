"""Step 3 of a cycle: deliver pending acknowledgements (the outbox pattern).

An acknowledgement was queued as `pending` in the transaction that filed its response. Here each
one is sent and marked `sent` only after the server accepted it; a transient failure (connection
refused, timeout, 4xx) waits with exponential backoff for a later cycle; a permanent one (5xx) is
marked `failed` with the server's words and never retried. While SMTP is down, intake goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from sqlalchemy import Engine
from sqlmodel import Session, col, or_, select

from ingest.delivery import Delivery
from ingest.errors import PermanentDeliveryError, TransientError
from ingest.failpoints import failpoint
from ingest.sources import MailSource
from store.models import Acknowledgement, AckStatus, utcnow

log = logging.getLogger(__name__)
BASE_BACKOFF = dt.timedelta(seconds=60)
MAX_BACKOFF = dt.timedelta(hours=6)


@dataclass
class SendCounts:
    sent: int = 0
    deferred: int = 0
    failed: int = 0


def backoff(attempts: int) -> dt.timedelta:
    """Wait before the next try after `attempts` failures: 1, 2, 4 … minutes, at most 6 hours."""
    return min(BASE_BACKOFF * (2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def send_pending(
    engine: Engine,
    delivery: Delivery,
    *,
    envelope_from: str,
    max_attempts: int,
    sent_copy: tuple[MailSource, str] | None = None,
    now: dt.datetime | None = None,
    ignore_schedule: bool = False,
) -> SendCounts:
    """Send every pending acknowledgement that is due; stop at the first sign the server is down."""
    counts = SendCounts()
    for ack_id in _due(engine, now or utcnow(), ignore_schedule):
        outcome = _send_one(engine, ack_id, delivery, envelope_from, max_attempts)
        if outcome == AckStatus.SENT:
            counts.sent += 1
            if sent_copy is not None:
                _copy_to_sent(engine, ack_id, *sent_copy)
        elif outcome == AckStatus.FAILED:
            counts.failed += 1
        else:
            counts.deferred += 1
            if outcome == "down":
                break
    return counts


def _due(engine: Engine, now: dt.datetime, ignore_schedule: bool) -> list[int]:
    with Session(engine) as session:
        query = select(Acknowledgement.id).where(Acknowledgement.status == AckStatus.PENDING)
        if not ignore_schedule:
            query = query.where(
                or_(col(Acknowledgement.next_attempt_at).is_(None), col(Acknowledgement.next_attempt_at) <= now)
            )
        return [i for i in session.exec(query.order_by(col(Acknowledgement.id))).all() if i is not None]


def _send_one(engine: Engine, ack_id: int, delivery: Delivery, envelope_from: str, max_attempts: int) -> str:
    with Session(engine) as session:
        ack = session.get(Acknowledgement, ack_id)
        if ack is None or ack.status != AckStatus.PENDING or ack.raw is None or not ack.to_address:
            return "skipped"
        message = BytesParser(policy=policy.SMTP).parsebytes(ack.raw)
        ack.attempts += 1
        try:
            delivery.send(message, envelope_from, [ack.to_address])
        except PermanentDeliveryError as err:
            ack.status, ack.last_error, ack.reason = AckStatus.FAILED, str(err), f"refused: {err}"
            outcome = AckStatus.FAILED
        except TransientError as err:
            ack.last_error = str(err)
            if ack.attempts >= max_attempts:
                ack.status, ack.reason = AckStatus.FAILED, f"gave up after {ack.attempts} attempts: {err}"
                outcome = AckStatus.FAILED
            else:
                ack.next_attempt_at = utcnow() + backoff(ack.attempts)
                outcome = "down"
        else:
            ack.status, ack.sent_at, ack.last_error = AckStatus.SENT, utcnow(), None
            outcome = AckStatus.SENT
        session.add(ack)
        session.commit()
        failpoint("ack-recorded")
        log.info("acknowledgement #%s to %s: %s", ack_id, ack.to_address, ack.last_error or outcome)
        return outcome


def _copy_to_sent(engine: Engine, ack_id: int, source: MailSource, folder: str) -> None:
    """Put a copy in the mailbox's Sent folder so staff see it; a failure here never unsends."""
    with Session(engine) as session:
        ack = session.get(Acknowledgement, ack_id)
        if ack is None or ack.raw is None or ack.copied_to_sent:
            return
        try:
            source.append(folder, ack.raw)
        except Exception as err:  # the acknowledgement went out; the copy is a convenience
            log.warning("could not copy acknowledgement #%s to %s: %s", ack_id, folder, err)
            return
        ack.copied_to_sent = True
        session.add(ack)
        session.commit()
