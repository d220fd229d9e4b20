"""Step 1 of a cycle: take new mail from the source and commit its raw bytes, then move it.

Server-side actions happen only after the local commit (STYLE.md point 4): a crash between the
commit and the move leaves the message in the inbox, and the next poll, seeing its key stored,
only moves it. A UIDVALIDITY change gives every message a new key; Message-ID plus a hash of the
bytes recognises the ones already stored, so nothing is stored twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from ingest.failpoints import failpoint
from ingest.sources import FetchedMessage, MailSource
from parsers.mail import header_facts
from store.models import Message, MessageState

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass
class StoreCounts:
    stored: int = 0
    already_stored: int = 0
    too_large: int = 0


def content_hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def is_stored(engine: Engine, key: str) -> bool:
    with Session(engine) as session:
        return session.exec(select(Message.id).where(Message.source_key == key)).first() is not None


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
    """Commit every new message's bytes, moving each to the processed folder after its commit."""
    counts = StoreCounts()
    for fetched in source.fetch_new(lambda key: is_stored(engine, key), batch_size=batch_size):
        if stop_requested():
            break
        if _store_one(engine, fetched, cycle_id, max_message_bytes, counts):
            counts.stored += 1
        failpoint("stored")
        source.mark_processed(fetched.key)
        _mark_moved(engine, fetched.key)
        if progress:
            progress(counts.stored + counts.already_stored)
    return counts


def _store_one(
    engine: Engine, fetched: FetchedMessage, cycle_id: int | None, max_bytes: int, counts: StoreCounts
) -> bool:
    digest = content_hash(fetched.raw)
    headers = _header_facts(fetched.raw)
    with Session(engine) as session:
        same = session.exec(
            select(Message).where(Message.content_hash == digest, Message.message_id == headers["message_id"])
        ).first()
        if same is not None:
            log.info("message %s already stored as #%s (mailbox renumbered?)", fetched.key, same.id)
            counts.already_stored += 1
            return False
        msg = Message(
            source_key=fetched.key,
            content_hash=digest,
            raw=fetched.raw,
            size=len(fetched.raw),
            cycle_id=cycle_id,
            received_at=headers["date"] or fetched.internal_date,
            **{k: v for k, v in headers.items() if k != "date"},
        )
        if len(fetched.raw) > max_bytes:
            counts.too_large += 1
            msg.state = MessageState.DONE
            msg.disposition = "failed"
            msg.problems = [f"message larger than {max_bytes // 1_000_000} MB: stored but not read"]
        session.add(msg)
        session.commit()
        log.info("stored %s as message #%s (%d bytes)", fetched.key, msg.id, len(fetched.raw))
    return True


def _header_facts(raw: bytes) -> dict:
    """Message-ID, sender, subject and date for the record; unreadable headers leave them empty."""
    try:
        return asdict(header_facts(raw))
    except Exception:  # headers from strangers: a record without them is better than no record
        log.warning("headers could not be read", exc_info=True)
        return {"message_id": None, "sender": None, "envelope_sender": None, "subject": None, "date": None}


def _mark_moved(engine: Engine, key: str) -> None:
    """Record that the server-side move happened (one UPDATE: the raw bytes are not reloaded)."""
    with Session(engine) as session:
        session.exec(
            update(Message).where(col(Message.source_key) == key, col(Message.moved).is_(False)).values(moved=True)
        )
        session.commit()
