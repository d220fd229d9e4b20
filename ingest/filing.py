"""Step 2 of a cycle: read each stored message and file what it holds, in one transaction.

A message's responses, its disposition and its acknowledgement (pending, with the composed bytes,
or suppressed with a reason) are committed together: a crash at any point rolls the whole message
back to `stored`, and the next run files it once. A message that cannot be read at all is kept
as `failed` with its problem, and the cycle goes on.

Whose fault is it (ingest/errors.py): a fault of the system (database, disk, templates, shutdown)
rolls the message back and stops the step, so the message waits for a later cycle untouched; an
unexpected error on one message is retried, and after MAX_ATTEMPTS it is `failed` for a person
(`intake refile` files it again). Counts are taken only after the commit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, false, func, or_, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from ingest.ack_compose import compose_acknowledgement
from ingest.ack_policy import choose_address, policy_allows, suppression_reason, within_caps
from ingest.errors import is_system_fault
from ingest.failpoints import failpoint
from parsers.formdef import FormDefinition
from parsers.mail import MailParseError, ParsedMail, parse_mail
from parsers.message import Limits, MessageReading, ReadOne, could_not_open, fingerprint, read_message
from parsers.model import Reading
from store.db import advisory_key, database_unavailable
from store.models import Acknowledgement, AckStatus, Message, MessageState, Response, utcnow

if TYPE_CHECKING:
    from ingest.readahead import ReadAhead

log = logging.getLogger(__name__)
MailReader = Callable[[bytes], ParsedMail]
PROGRESS_EVERY = 50  # a progress line on long back-fills
MAX_ATTEMPTS = 3  # unexpected errors on one message before it is `failed` for a person


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

    def add(self, filed: Filed) -> None:
        self.by_disposition[filed.disposition] = self.by_disposition.get(filed.disposition, 0) + 1
        self.responses += len(filed.references) if filed.disposition == "response" else 0
        self.needs_review += filed.needs_review
        self.failed += filed.disposition == "failed"
        self.acks_queued += filed.ack_status == AckStatus.PENDING


def file_stored(
    engine: Engine,
    form: FormDefinition,
    read_one: ReadOne,
    limits: Limits,
    acks: AckSettings,
    *,
    stop_requested: Callable[[], bool] = lambda: False,
    counts: FilingCounts | None = None,
    read_mail: MailReader = parse_mail,
    ahead: ReadAhead | None = None,
) -> FilingCounts:
    """File every message still in state `stored`, oldest first, each claimed before it is filed.

    With `ahead`, the messages after the one being filed are read meanwhile (ingest/readahead.py);
    without, each is read once claimed.

    Raises `DatabaseUnavailable` (or another system fault) when the step cannot go on; the message
    in hand is then left exactly as it was, to be filed by a later cycle.
    """
    counts = counts if counts is not None else FilingCounts()
    waiting = _count_waiting(engine)
    if waiting > PROGRESS_EVERY:
        log.info("filing %d stored messages", waiting)
    readers = Readers(form, read_mail, read_one, limits, ahead)
    cursor: int | None = 0
    # One connection for the step, not a checkout (with pool_pre_ping, a round trip) per message;
    # each message is still filed in a transaction of its own.
    with _connected(engine) as connection:
        while cursor is not None:
            if stop_requested():
                if counts.processed < waiting:
                    log.info("stop requested: %d messages filed, the rest wait for the next start", counts.processed)
                break
            if ahead is not None:
                ahead.fill(engine, cursor)
            cursor = _file_next(engine, connection, cursor, readers, acks, counts)
            if cursor is not None and counts.processed % PROGRESS_EVERY == 0 and counts.processed < waiting:
                log.info("filed %d of %d messages", counts.processed, waiting)
    if waiting > PROGRESS_EVERY:  # a back-fill's progress ends with where it ended
        log.info("filed %d of %d messages", counts.processed, waiting)
    return counts


def _count_waiting(engine: Engine) -> int:
    try:
        with Session(engine) as session:
            return session.exec(
                select(func.count()).select_from(Message).where(Message.state == MessageState.STORED)
            ).one()
    except SQLAlchemyError as err:
        raise database_unavailable(err, "counting stored messages") from err


@dataclass(frozen=True)
class Readers:
    """How a stored message is read: the form, and the (sandboxed) readers of the mail and attachments."""

    form: FormDefinition
    read_mail: MailReader
    read_one: ReadOne
    limits: Limits
    ahead: ReadAhead | None = None

    def read(self, message_pk: int, msg: Message) -> tuple[ParsedMail, MessageReading]:
        """The message read ahead, or read now (loading its raw bytes: the one per-message read of them)."""
        started = self.ahead.take(message_pk) if self.ahead is not None else None
        if started is not None:
            return started.result()
        mail = self.read_mail(msg.raw)
        return mail, read_message(mail, self.form, self.read_one, self.limits)


@contextlib.contextmanager
def _connected(engine: Engine) -> Iterator[Connection]:
    try:
        with engine.connect() as connection:
            yield connection
    except SQLAlchemyError as err:
        raise database_unavailable(err, "filing") from err


def _file_next(
    engine: Engine, connection: Connection, cursor: int, readers: Readers, acks: AckSettings, counts: FilingCounts
) -> int | None:
    """Claim the next stored message after `cursor` and file it; its id, or None when none is left.

    The claim is a row lock held by the filing transaction (FOR UPDATE SKIP LOCKED on PostgreSQL,
    so other workers pass it by; on SQLite one process files at a time). A kill releases it.
    """
    try:
        with Session(bind=connection) as session:
            msg = session.exec(
                select(Message)
                .options(defer(Message.raw))  # type: ignore[arg-type]
                .where(Message.state == MessageState.STORED, col(Message.id) > cursor)
                .order_by(col(Message.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if msg is None:
                return None
            message_pk = msg.id or 0
            try:
                outcome = _file_message(session, msg, readers, acks, counts.acks_queued)
                session.commit()
            except BaseException as err:
                session.rollback()
                if is_system_fault(err):
                    raise
                outcome = None
                problem = err
    except SQLAlchemyError as err:
        raise database_unavailable(err, "filing") from err
    if outcome is None:
        _record_attempt(engine, message_pk, problem, counts)
    else:
        failpoint("filed")
        counts.add(outcome)
        log.debug("message #%s: %s", message_pk, outcome.summary())
    counts.processed += 1
    return message_pk


@dataclass(frozen=True)
class Filed:
    """What filing one message did, counted only once its transaction committed."""

    disposition: str
    references: tuple[str, ...]
    needs_review: int
    ack_status: str
    ack_reason: str | None

    def summary(self) -> str:
        refs = f" {', '.join(self.references)}" if self.references else ""
        why = f" ({self.ack_reason})" if self.ack_reason else ""
        return f"{self.disposition}{refs}; acknowledgement {self.ack_status}{why}"


def _file_message(session: Session, msg: Message, readers: Readers, acks: AckSettings, queued_this_cycle: int) -> Filed:
    """Read one message and add its rows to the session (the caller commits)."""
    message_pk = msg.id or 0
    form = readers.form
    try:
        mail, reading = readers.read(message_pk, msg)
    except MailParseError as err:
        _finish(msg, "failed", str(err), [*msg.problems, str(err)])
        session.add(Acknowledgement(message_pk=message_pk, status=AckStatus.SUPPRESSED, reason="unreadable"))
        session.add(msg)
        return Filed("failed", (), 0, AckStatus.SUPPRESSED, "unreadable")
    disposition, reason, references, new_responses = _file_responses(session, msg, mail, reading, form)
    _finish(msg, disposition, reason, [*msg.problems, *reading.problems])
    ack = _decide_acknowledgement(
        session, msg, mail, disposition, new_responses, references, acks, form, queued_this_cycle
    )
    session.add(ack)
    session.add(msg)
    return Filed(
        disposition,
        tuple(references),
        sum(1 for r in new_responses if r.status == "needs_review"),
        ack.status,
        ack.reason,
    )


def _record_attempt(engine: Engine, message_pk: int, err: BaseException, counts: FilingCounts) -> None:
    """An unexpected error while filing: retried next cycle, `failed` after MAX_ATTEMPTS tries.

    A bug that one message triggers must not block the queue for ever, and a passing fault must
    not fail a message for good: the middle way is a few tries, then a person (`intake refile`).
    """
    problem = f"{type(err).__name__}: {err}"[:500]
    log.error("message #%s could not be filed: %s", message_pk, problem, exc_info=err)
    try:
        with Session(engine) as session:
            msg = session.get(Message, message_pk, options=[defer(Message.raw)])  # type: ignore[arg-type]
            if msg is None or msg.state != MessageState.STORED:
                return
            msg.attempts += 1
            msg.last_error = problem
            if msg.attempts >= MAX_ATTEMPTS:
                reason = f"could not be filed after {msg.attempts} attempts (internal error: {problem})"
                _finish(msg, "failed", reason, [*msg.problems, reason])
                decided = select(Acknowledgement.id).where(Acknowledgement.message_pk == message_pk)
                if session.exec(decided).first() is None:
                    session.add(
                        Acknowledgement(message_pk=message_pk, status=AckStatus.SUPPRESSED, reason="unreadable")
                    )
            session.add(msg)
            session.commit()
            gave_up = msg.state == MessageState.DONE
    except SQLAlchemyError as db_err:
        raise database_unavailable(db_err, "recording a filing error") from db_err
    if gave_up:
        counts.failed += 1
        log.error("message #%s failed after %d attempts; `intake refile` files it again", message_pk, MAX_ATTEMPTS)


def refile(engine: Engine, message_pks: list[int]) -> list[int]:
    """Put failed messages back to `stored` so the next cycle files them again; the ids it reset.

    Only messages with no response filed are reset (a filed response is corrected by review).
    """
    reset: list[int] = []
    with Session(engine) as session:
        for pk in message_pks:
            msg = session.get(Message, pk)
            if msg is None or msg.state != MessageState.DONE:
                continue
            if session.exec(select(Response.id).where(Response.message_pk == pk)).first() is not None:
                continue
            ack = session.exec(select(Acknowledgement).where(Acknowledgement.message_pk == pk)).first()
            if ack is not None:
                if ack.status != AckStatus.SUPPRESSED:
                    continue
                session.delete(ack)
            msg.state, msg.disposition, msg.disposition_reason = MessageState.STORED, None, None
            msg.problems, msg.attempts, msg.last_error, msg.processed_at = [], 0, None, None
            session.add(msg)
            reset.append(pk)
        session.commit()
    return reset


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
    On PostgreSQL a transaction lock per fingerprint makes two workers filing the same words at
    the same moment take turns, so the second sees the first.
    """
    if session.get_bind().dialect.name == "postgresql":
        for print_ in sorted(set(prints)):
            session.connection().execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(print_)})
    same_words_same_author = or_(
        func.coalesce(Response.name, "") != "",
        func.coalesce(Response.email, "") != "",
        func.lower(Message.sender) == (msg.sender or "").lower() if msg.sender else false(),
    )
    rows = session.exec(
        select(Response.fingerprint, Response.message_pk, Response.reference)  # never an earlier message's raw
        .join(Message, col(Message.id) == Response.message_pk)
        .where(col(Response.fingerprint).in_(prints), Response.message_pk != msg.id, same_words_same_author)
        .order_by(col(Response.id))
    ).all()
    by_print: dict[str, tuple[int, str | None]] = {}
    for print_, message_pk, reference in rows:
        by_print.setdefault(print_, (message_pk, reference))
    if not prints or any(p not in by_print for p in prints):
        return None
    return by_print[prints[0]][0], [by_print[p][1] or "" for p in prints]


def _is_late(received_at: dt.datetime | None, form: FormDefinition) -> bool:
    if received_at is None:
        return False
    when = received_at if received_at.tzinfo else received_at.replace(tzinfo=dt.UTC)
    return when.astimezone(ZoneInfo(form.time_zone)).date() > form.closes


def _response_row(msg: Message, seq: int, r: Reading, print_: str, late: bool) -> Response:
    return Response(
        message_pk=msg.id or 0,
        seq=seq,
        source_kind=r.source_kind,
        filename=_storable(r.filename),
        status=r.status,
        review_reasons=[_storable(x) for x in r.review_reasons],
        late=late,
        name=_storable(r.respondent.name),
        organisation=_storable(r.respondent.organisation),
        address=_storable(r.respondent.address),
        email=_storable(r.respondent.email),
        category=r.respondent.category,
        category_other=_storable(r.respondent.category_other),
        confidential=r.confidential,
        confidential_reason=_storable(r.confidential_reason),
        acknowledge=r.acknowledge,
        acknowledge_email=_storable(r.acknowledge_email),
        contact_again=r.contact_again,
        answers={
            qid: {"choice": a.choice, "comment": _storable(a.comment), "found": _found(r, f"{qid}.")}
            for qid, a in r.answers.items()
        },
        found=_found(r, ""),
        text=_storable(r.text),
        fingerprint=print_,
    )


def _found(r: Reading, prefix: str) -> dict[str, dict[str, str]]:
    """How the reader found each field (parsers.model.Reading.found), for `_response_row` to store:
    one question's with prefix "q3." ({"choice": {"way": ..., "where": ...}}), or with "" all the rest."""
    return {
        path.removeprefix(prefix): {"way": way, "where": _storable(where) or ""}
        for path, (way, where) in r.found.items()
        if (path.startswith(prefix) if prefix else path.split(".")[0] not in r.answers)
    }


def _storable(text: str | None) -> str | None:
    """Text a document carried, without the NUL characters no PostgreSQL text column can hold."""
    return text.replace("\x00", "") if text else text


def _decide_acknowledgement(
    session: Session,
    msg: Message,
    mail: ParsedMail,
    disposition: str,
    responses: list[Response],
    references: list[str],
    acks: AckSettings,
    form: FormDefinition,
    queued_this_cycle: int,
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
    cap = within_caps(_recent_to(session, to_address), acks.per_recipient_daily, queued_this_cycle, acks.per_cycle)
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
        unopened=[r.filename or "attachment" for r in responses if could_not_open(r.review_reasons)],
    )
    return Acknowledgement(
        message_pk=msg.id or 0,
        status=AckStatus.PENDING,
        to_address=to_address,
        rfc_message_id=reply.message_id,
        raw=reply.raw,
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
