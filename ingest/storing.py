"""Step 1 of a cycle: take new mail from the source and commit its raw bytes, then move it.

Server-side actions happen only after the local commit (STYLE.md point 4): a crash between the
commit and the move leaves the message in the inbox, and the next poll, seeing its key stored,
only moves it. A UIDVALIDITY change gives every message a new key; Message-ID plus a hash of the
bytes recognises the ones already stored, so nothing is stored twice. Stored messages are moved a
batch at a time (one IMAP command per batch).

Per-message boundary: a header that does not fit its column is clipped and noted on the message;
the raw bytes are always kept. A database or disk fault stops the step (`DatabaseUnavailable`):
nothing about the message in hand is recorded, it stays in the inbox and the next cycle stores it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, Engine, update
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from ingest.failpoints import failpoint
from ingest.sources import FetchedMessage, MailSource
from parsers.mail import header_facts
from store.db import database_unavailable
from store.models import Message, MessageState

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
# Header facts and the widest value their column takes (see store/models.py).
COLUMN_LIMITS = {"message_id": 998, "sender": 998, "envelope_sender": 998, "subject": 10_000}


@dataclass
class StoreCounts:
    stored: int = 0
    already_stored: int = 0
    too_large: int = 0


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _stored_in(connection: Connection, key: str) -> bool:
    """Whether the key is stored. Lookups in a row share one transaction, which the next insert
    ends (two round trips a lookup fewer on PostgreSQL): each still sees what other workers have
    committed, since PostgreSQL reads at READ COMMITTED and SQLite's driver reads outside any
    transaction until the first write."""
    try:
        return connection.execute(select(Message.id).where(Message.source_key == key)).first() is not None
    except SQLAlchemyError as err:
        raise database_unavailable(err, "checking what is stored") from err


def store_new(
    source: MailSource,
    engine: Engine,
    *,
    cycle_id: int | None,
    batch_size: int,
    max_message_bytes: int,
    progress: Progress | None = None,
    stop_requested: Callable[[], bool] = lambda: False,
) -> StoreCounts:
    """Commit every new message's bytes; move each batch to the processed folder after its commits."""
    counts = StoreCounts()
    to_move: list[str] = []
    # One connection for the whole step, not a checkout (and, with pool_pre_ping, a round trip) for
    # each lookup and each message; every message is still committed on its own.
    with engine.connect() as connection:
        for fetched in source.fetch_new(lambda key: _stored_in(connection, key), batch_size=batch_size):
            if stop_requested():
                break
            failpoint("fetched")
            if _store_one(connection, fetched, cycle_id, max_message_bytes, counts):
                counts.stored += 1
            to_move.append(fetched.key)
            failpoint("stored")
            if len(to_move) >= batch_size:
                _move(source, engine, to_move)
                to_move = []
            if progress:
                progress(counts.stored + counts.already_stored)
    _move(source, engine, to_move)
    return counts


def _move(source: MailSource, engine: Engine, keys: Sequence[str]) -> None:
    """Move a batch on the server, then note it (one UPDATE). A failed move is retried next poll."""
    if not keys:
        return
    source.mark_processed_many(keys)
    failpoint("moved")
    try:
        with Session(engine) as session:
            session.exec(
                update(Message)
                .where(col(Message.source_key).in_(list(keys)), col(Message.moved).is_(False))
                .values(moved=True)
            )
            session.commit()
    except SQLAlchemyError as err:  # the move happened; the flag is only for the record
        log.warning("moved %d messages but could not note it: %s", len(keys), database_unavailable(err, "noting"))


def _store_one(
    connection: Connection, fetched: FetchedMessage, cycle_id: int | None, max_bytes: int, counts: StoreCounts
) -> bool:
    """Commit one message; False when it was stored before (another key, or another worker).

    Per-message boundary: header values the database refuses (`DataError`) are the message's
    fault, so it is stored again without them, with the reason; any other database error stops
    the step, and the message stays in the mailbox for the next cycle.
    """
    digest = content_hash(fetched.raw)
    headers, problems = _fitting(_header_facts(fetched.raw))
    try:
        return _insert(connection, fetched, digest, headers, problems, cycle_id, max_bytes, counts)
    except DataError as err:
        log.warning("headers of %s refused by the database (%s); storing it without them", fetched.key,
                    type(getattr(err, "orig", err)).__name__)  # fmt: skip
        bare = dict.fromkeys(headers)
        problems = [*problems, "its headers could not be recorded: the database refused them"]
        try:
            return _insert(connection, fetched, digest, bare, problems, cycle_id, max_bytes, counts)
        except SQLAlchemyError as again:
            raise database_unavailable(again, f"storing {fetched.key}") from again
    except SQLAlchemyError as err:
        raise database_unavailable(err, f"storing {fetched.key}") from err


def _insert(
    connection: Connection,
    fetched: FetchedMessage,
    digest: str,
    headers: dict,
    problems: list[str],
    cycle_id: int | None,
    max_bytes: int,
    counts: StoreCounts,
) -> bool:
    if connection.in_transaction():  # a lookup's read: end it, so the session's commit is a real one
        connection.rollback()
    try:
        with Session(bind=connection) as session:  # a transaction of its own, committed below
            # The same bytes (Message-ID included) are the same message, even erased (its Message-ID
            # is then kept only as a hash) or after a mailbox renumbering gave it a new key.
            same = session.exec(select(Message.id).where(Message.content_hash == digest)).first()
            if same is not None:
                log.info("message %s already stored as #%s (mailbox renumbered?)", fetched.key, same)
                counts.already_stored += 1
                return False
            msg = _message_row(fetched, digest, headers, problems, cycle_id)
            if len(fetched.raw) > max_bytes:
                counts.too_large += 1
                _too_large(msg, max_bytes)
            session.add(msg)
            session.flush()
            message_pk = msg.id  # read before the commit expires it: reading after reloads the raw bytes
            session.commit()
            log.debug("stored %s as message #%s (%d bytes)", fetched.key, message_pk, len(fetched.raw))
            return True
    except IntegrityError:  # another worker stored the same key a moment ago
        if _stored_in(connection, fetched.key):
            counts.already_stored += 1
            return False
        raise


def _message_row(
    fetched: FetchedMessage, digest: str, headers: dict, problems: list[str], cycle_id: int | None
) -> Message:
    return Message(
        source_key=fetched.key,
        content_hash=digest,
        raw=fetched.raw,
        size=len(fetched.raw),
        cycle_id=cycle_id,
        received_at=headers["date"] or fetched.internal_date,
        problems=problems,
        **{k: v for k, v in headers.items() if k != "date"},
    )


def _too_large(msg: Message, max_bytes: int) -> None:
    msg.state = MessageState.DONE
    msg.disposition = "failed"
    msg.problems = [*msg.problems, f"message larger than {max_bytes // 1_000_000} MB: stored but not read"]
    msg.disposition_reason = msg.problems[-1]


def _fitting(headers: dict) -> tuple[dict, list[str]]:
    """Make header values fit their columns, noting each change: a record that fits beats no record.

    NUL characters go (PostgreSQL text cannot hold them) and over-long values are clipped.
    """
    problems = []
    fitted = dict(headers)
    for name, limit in COLUMN_LIMITS.items():
        value = fitted.get(name)
        if not isinstance(value, str):
            continue
        label = name.replace("_", " ")
        if "\x00" in value:
            value = value.replace("\x00", "")
            problems.append(f"{label} header held NUL characters: removed in the record")
        if len(value) > limit:
            value = value[:limit]
            problems.append(f"{label} header longer than {limit} characters: clipped in the record")
        fitted[name] = value
    return fitted, problems


def _header_facts(raw: bytes) -> dict:
    """Message-ID, sender, subject and date for the record; unreadable headers leave them empty."""
    try:
        return asdict(header_facts(raw))
    except Exception as err:  # headers from strangers: a record without them is better than no record
        log.warning("headers could not be read (%s); the message is stored without them", type(err).__name__)
        log.debug("unreadable headers", exc_info=True)
        return {"message_id": None, "sender": None, "envelope_sender": None, "subject": None, "date": None}
