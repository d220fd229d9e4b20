"""Step 2 of a cycle: read each stored message and file what it holds, in one transaction.

A message's responses, its disposition and its acknowledgement (pending, with the composed bytes,
or suppressed with a reason) are committed together: a crash at any point rolls the whole message
back to `stored`, and the next run files it once. A message that cannot be read at all is kept
as `failed` with its problem, and the cycle goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from ingest.ack_compose import compose_acknowledgement
from ingest.ack_policy import choose_address, policy_allows, suppression_reason, within_caps
from ingest.delivery import wire_bytes
from ingest.failpoints import failpoint
from parsers.formdef import FormDefinition
from parsers.mail import MailParseError, ParsedMail, parse_mail
from parsers.message import Limits, MessageReading, ReadOne, fingerprint, read_message
from parsers.model import Reading
from store.models import Acknowledgement, AckStatus, Message, MessageState, Response, utcnow

log = logging.getLogger(__name__)
LOCAL_TZ = ZoneInfo("Europe/London")
PROGRESS_EVERY = 50  # a progress line on long back-fills


@dataclass(frozen=True)
class AckSettings:
    policy: str
    from_address: str
    from_name: str
    our_addresses: frozenset[str]
    loop_header: str
    per_recipient_daily: int
    per_cycle: int
    subject: str | None
    templates_dir: str | None
    contact: str


@dataclass
class FilingCounts:
    processed: int = 0
    responses: int = 0
    needs_review: int = 0
    failed: int = 0
    acks_queued: int = 0
    by_disposition: dict[str, int] = field(default_factory=dict)


def file_stored(
    engine: Engine,
    form: FormDefinition,
    read_one: ReadOne,
    limits: Limits,
    acks: AckSettings,
    *,
    stop_requested: Callable[[], bool] = lambda: False,
) -> FilingCounts:
    """File every message still in state `stored`, oldest first."""
    counts = FilingCounts()
    with Session(engine) as session:
        ids = session.exec(
            select(Message.id).where(Message.state == MessageState.STORED).order_by(col(Message.id))
        ).all()
    if len(ids) > PROGRESS_EVERY:
        log.info("filing %d stored messages", len(ids))
    for done, message_pk in enumerate(ids, start=1):
        if stop_requested():
            log.info("stop requested: %d of %d messages filed, the rest wait for the next start", done - 1, len(ids))
            break
        try:
            _file_one(engine, message_pk, form, read_one, limits, acks, counts)
        except Exception as err:  # boundary per message: record it, go on with the next
            log.exception("message #%s could not be filed", message_pk)
            _record_failure(engine, message_pk, f"internal error while filing: {type(err).__name__}: {err}")
            counts.failed += 1
        counts.processed += 1
        if done % PROGRESS_EVERY == 0 and done < len(ids):
            log.info("filed %d of %d messages", done, len(ids))
    return counts


def _file_one(
    engine: Engine,
    message_pk: int,
    form: FormDefinition,
    read_one: ReadOne,
    limits: Limits,
    acks: AckSettings,
    counts: FilingCounts,
) -> None:
    with Session(engine) as session:
        msg = session.get(Message, message_pk)
        if msg is None or msg.state != MessageState.STORED:
            return
        try:
            mail = parse_mail(msg.raw)
        except MailParseError as err:
            _finish(msg, "failed", str(err), [str(err)])
            session.add(Acknowledgement(message_pk=message_pk, status=AckStatus.SUPPRESSED, reason="unreadable"))
            session.add(msg)
            session.commit()
            counts.failed += 1
            return
        reading = read_message(mail, form, read_one, limits)
        disposition, reason, references, new_responses = _file_responses(session, msg, mail, reading, form)
        _finish(msg, disposition, reason, list(reading.problems))
        counts.by_disposition[disposition] = counts.by_disposition.get(disposition, 0) + 1
        counts.responses += len(new_responses)
        counts.needs_review += sum(1 for r in new_responses if r.status == "needs_review")
        ack = _decide_acknowledgement(session, msg, mail, disposition, new_responses, references, acks, form)
        session.add(ack)
        session.add(msg)
        session.commit()
        failpoint("filed")
        if ack.status == AckStatus.PENDING:
            counts.acks_queued += 1
        log.info(
            "message #%s (%s): %s%s; acknowledgement %s%s",
            msg.id,
            msg.message_id,
            disposition,
            f" {', '.join(references)}" if references else "",
            ack.status,
            f" ({ack.reason})" if ack.reason else "",
        )


def _finish(msg: Message, disposition: str, reason: str | None, problems: list[str]) -> None:
    msg.disposition = disposition
    msg.disposition_reason = reason
    msg.problems = problems
    msg.state = MessageState.DONE
    msg.processed_at = utcnow()


def _file_responses(
    session: Session, msg: Message, mail: ParsedMail, reading: MessageReading, form: FormDefinition
) -> tuple[str, str | None, list[str], list[Response]]:
    """Insert the message's responses; a response sent again makes the message a duplicate."""
    if reading.disposition != "response":
        return reading.disposition, reading.reason, [], []
    prints = [fingerprint(r) for r in reading.readings]
    earlier = _earlier_references(session, msg, prints)
    if earlier is not None:
        msg.duplicate_of = earlier[0]
        return "duplicate", "the same response was filed before", earlier[1], []
    late = _is_late(msg.received_at, form)
    rows = [
        _response_row(msg, seq, r, p, late) for seq, (r, p) in enumerate(zip(reading.readings, prints, strict=True))
    ]
    for row in rows:
        session.add(row)
    session.flush()
    for row in rows:
        row.reference = f"{form.reference_prefix}-{row.id:06d}"
        session.add(row)
    return "response", None, [r.reference for r in rows if r.reference], rows


def _earlier_references(session: Session, msg: Message, prints: list[str]) -> tuple[int, list[str]] | None:
    """(message id, references) when every response here was filed before from another message.

    The same words are the same response when they name their author (a name or an e-mail in the
    form) or come from the same sender; identical campaign texts from different people are not.
    """
    rows = session.exec(
        select(Response, Message)
        .join(Message, col(Message.id) == Response.message_pk)
        .where(col(Response.fingerprint).in_(prints), Response.message_pk != msg.id)
        .order_by(col(Response.id))
    ).all()
    by_print: dict[str, Response] = {}
    for resp, earlier in rows:
        if resp.fingerprint not in by_print and (_names_author(resp) or _same_sender(msg, earlier)):
            by_print[resp.fingerprint] = resp
    if not prints or any(p not in by_print for p in prints):
        return None
    return by_print[prints[0]].message_pk, [by_print[p].reference or "" for p in prints]


def _names_author(resp: Response) -> bool:
    return bool(resp.name or resp.email)


def _same_sender(msg: Message, earlier: Message) -> bool:
    return bool(msg.sender) and (msg.sender or "").lower() == (earlier.sender or "").lower()


def _is_late(received_at: dt.datetime | None, form: FormDefinition) -> bool:
    if received_at is None:
        return False
    when = received_at if received_at.tzinfo else received_at.replace(tzinfo=dt.UTC)
    return when.astimezone(LOCAL_TZ).date() > form.closes


def _response_row(msg: Message, seq: int, r: Reading, print_: str, late: bool) -> Response:
    return Response(
        message_pk=msg.id or 0,
        seq=seq,
        source_kind=r.source_kind,
        filename=r.filename,
        status=r.status,
        review_reasons=list(r.review_reasons),
        late=late,
        name=r.respondent.name,
        organisation=r.respondent.organisation,
        address=r.respondent.address,
        email=r.respondent.email,
        category=r.respondent.category,
        category_other=r.respondent.category_other,
        confidential=r.confidential,
        confidential_reason=r.confidential_reason,
        acknowledge=r.acknowledge,
        acknowledge_email=r.acknowledge_email,
        contact_again=r.contact_again,
        answers={qid: {"choice": a.choice, "comment": a.comment} for qid, a in r.answers.items()},
        text=r.text,
        fingerprint=print_,
    )


def _decide_acknowledgement(
    session: Session,
    msg: Message,
    mail: ParsedMail,
    disposition: str,
    responses: list[Response],
    references: list[str],
    acks: AckSettings,
    form: FormDefinition,
) -> Acknowledgement:
    """One acknowledgement per message: pending with its bytes, or suppressed with the reason."""

    def suppressed(reason: str) -> Acknowledgement:
        return Acknowledgement(message_pk=msg.id or 0, status=AckStatus.SUPPRESSED, reason=reason)

    reason = suppression_reason(
        mail.headers,
        envelope_sender=mail.envelope_sender,
        our_addresses=acks.our_addresses,
        loop_header=acks.loop_header,
        disposition=disposition,
    )
    if reason:
        return suppressed(reason)
    if not policy_allows(acks.policy, any(r.acknowledge for r in responses)):
        return suppressed("not requested" if acks.policy == "requested" else "acknowledgements off")
    form_email = next((r.acknowledge_email for r in responses if r.acknowledge_email), None)
    to_address = choose_address(form_email, mail.reply_to, mail.sender)
    if to_address is None:
        return suppressed("no valid address")
    if to_address.lower() in acks.our_addresses:
        return suppressed("own address")
    cap = within_caps(
        _recent_to(session, to_address), acks.per_recipient_daily, _queued_since(session, msg.cycle_id), acks.per_cycle
    )
    if cap:
        return suppressed(cap)
    reply = compose_acknowledgement(
        original=mail.headers,
        to_address=to_address,
        to_name=mail.sender_name if to_address == mail.sender else None,
        from_address=acks.from_address,
        from_name=acks.from_name,
        references=references,
        received_at=msg.received_at or msg.stored_at,
        questions_answered=max((_answered(r) for r in responses), default=0),
        questions_total=len(form.questions),
        confidential=any(r.confidential for r in responses),
        contact=acks.contact,
        loop_header=acks.loop_header,
        message_id_domain=acks.from_address.rpartition("@")[2],
        subject_template=acks.subject,
        templates_dir=acks.templates_dir,
    )
    return Acknowledgement(
        message_pk=msg.id or 0,
        status=AckStatus.PENDING,
        to_address=to_address,
        rfc_message_id=str(reply["Message-ID"]),
        raw=wire_bytes(reply),
        next_attempt_at=utcnow(),
    )


def _answered(r: Response) -> int:
    return sum(1 for a in r.answers.values() if a.get("choice") or a.get("comment"))


def _recent_to(session: Session, address: str) -> int:
    since = utcnow() - dt.timedelta(days=1)
    return session.exec(
        select(func.count())
        .select_from(Acknowledgement)
        .where(
            func.lower(Acknowledgement.to_address) == address.lower(),
            col(Acknowledgement.status).in_([AckStatus.PENDING, AckStatus.SENT]),
            Acknowledgement.created_at >= since,
        )
    ).one()


def _queued_since(session: Session, cycle_id: int | None) -> int:
    query = (
        select(func.count())
        .select_from(Acknowledgement)
        .join(Message, col(Message.id) == Acknowledgement.message_pk)
        .where(Acknowledgement.status != AckStatus.SUPPRESSED)
    )
    if cycle_id is not None:
        query = query.where(Message.cycle_id == cycle_id)
    return session.exec(query).one()


def _record_failure(engine: Engine, message_pk: int, problem: str) -> None:
    with Session(engine) as session:
        msg = session.get(Message, message_pk)
        if msg is None:
            return
        _finish(msg, "failed", problem, [problem])
        existing = session.exec(select(Acknowledgement).where(Acknowledgement.message_pk == message_pk)).first()
        if existing is None:
            session.add(Acknowledgement(message_pk=message_pk, status=AckStatus.SUPPRESSED, reason="unreadable"))
        session.add(msg)
        session.commit()
