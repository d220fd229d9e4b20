"""The database tables (SQLModel). Schema changes go through Alembic (store/migrations).

Idempotence keys live here: a message is identified by its source key (folder, UIDVALIDITY, UID
or Maildir name) and, across UIDVALIDITY changes, by Message-ID plus a hash of its bytes. Each
row carries a state column so a restart knows exactly where every message stands.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel, col


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class MessageState:
    STORED = "stored"  # raw bytes committed, not yet read
    DONE = "done"  # read, disposition and responses filed, acknowledgement decided


class AckStatus:
    PENDING = "pending"  # waiting to be sent; `claimed_by` is set while a worker is sending it
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"


class Cycle(SQLModel, table=True):
    __tablename__ = "cycles"
    id: int | None = Field(default=None, primary_key=True)
    started_at: dt.datetime = Field(default_factory=utcnow)
    finished_at: dt.datetime | None = None
    status: str = "running"  # running | completed | failed | interrupted
    worker: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, sa_column=Column(Text))
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    id: int | None = Field(default=None, primary_key=True)
    source_key: str = Field(index=True, unique=True, max_length=500)
    message_id: str | None = Field(default=None, index=True, max_length=998)
    content_hash: str = Field(index=True, max_length=64)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int = 0
    received_at: dt.datetime | None = None
    sender: str | None = Field(default=None, max_length=998)
    envelope_sender: str | None = Field(default=None, max_length=998)
    subject: str | None = Field(default=None, sa_column=Column(Text))
    stored_at: dt.datetime = Field(default_factory=utcnow)
    cycle_id: int | None = Field(default=None, foreign_key="cycles.id")
    state: str = Field(default=MessageState.STORED, index=True)
    moved: bool = False
    disposition: str | None = None
    disposition_reason: str | None = Field(default=None, sa_column=Column(Text))
    problems: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    duplicate_of: int | None = Field(default=None, foreign_key="messages.id")
    processed_at: dt.datetime | None = None
    # Filing attempts that ended in an unexpected error; after a few the message is `failed`.
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # personal data (store/erasure.py, store/retention.py): raw is b"" once removed
    raw_removed_at: dt.datetime | None = None
    raw_removed_why: str | None = None  # "retention" or "erasure"
    erased_at: dt.datetime | None = None
    erased_by: str | None = None


class Response(SQLModel, table=True):
    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("message_pk", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    reference: str | None = Field(default=None, index=True, unique=True, max_length=40)
    message_pk: int = Field(foreign_key="messages.id", index=True)
    seq: int = 0
    source_kind: str
    filename: str | None = Field(default=None, sa_column=Column(Text))
    status: str = "filed"
    review_reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    late: bool = False
    name: str | None = Field(default=None, sa_column=Column(Text))
    organisation: str | None = Field(default=None, sa_column=Column(Text))
    address: str | None = Field(default=None, sa_column=Column(Text))
    email: str | None = Field(default=None, sa_column=Column(Text))
    category: str | None = None
    category_other: str | None = Field(default=None, sa_column=Column(Text))
    confidential: bool = False
    confidential_reason: str | None = Field(default=None, sa_column=Column(Text))
    acknowledge: bool = False
    acknowledge_email: str | None = Field(default=None, sa_column=Column(Text))
    contact_again: str | None = None
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # How the reader found each field that is not a question's ({"respondent.name": {"way": ..., "where": ...}});
    # a question's is in answers[qid]["found"]. None: filed before this was recorded.
    found: dict[str, Any] | None = Field(default_factory=dict, sa_column=Column(JSON, nullable=True))
    text: str | None = Field(default=None, sa_column=Column(Text))
    fingerprint: str = Field(index=True, max_length=64)
    filed_at: dt.datetime = Field(default_factory=utcnow)
    reviewed_at: dt.datetime | None = None
    erased_at: dt.datetime | None = None  # respondent fields removed (store/erasure.py)
    erased_by: str | None = None


class Acknowledgement(SQLModel, table=True):
    __tablename__ = "acknowledgements"
    id: int | None = Field(default=None, primary_key=True)
    message_pk: int = Field(foreign_key="messages.id", unique=True)
    status: str = AckStatus.PENDING
    reason: str | None = Field(default=None, sa_column=Column(Text))
    to_address: str | None = Field(default=None, max_length=998)
    rfc_message_id: str | None = Field(default=None, max_length=998)
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: dt.datetime = Field(default_factory=utcnow)
    sent_at: dt.datetime | None = None
    copied_to_sent: bool = False
    # The worker sending it now (see ingest/workers.py) and until when its claim holds.
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_until: dt.datetime | None = None
    failed_at: dt.datetime | None = None
    # A failure `intake acks --retry` may try again (gave up after retries), unlike a refusal.
    retry_allowed: bool = False
    raw_removed_at: dt.datetime | None = None  # raw and to_address gone: retention or erasure
    erased_at: dt.datetime | None = None


# Sent acknowledgements whose copy in the Sent folder is still to be made, found through the index
# ix_acknowledgements_copy_due (copied_to_sent, status, id) without reading every acknowledgement
# ever sent (migration 0017).
COPY_DUE = (col(Acknowledgement.copied_to_sent).is_(False), col(Acknowledgement.status) == AckStatus.SENT)


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit"
    id: int | None = Field(default=None, primary_key=True)
    response_pk: int = Field(foreign_key="responses.id", index=True)
    at: dt.datetime = Field(default_factory=utcnow)
    who: str
    field: str
    old: str | None = Field(default=None, sa_column=Column(Text))
    new: str | None = Field(default=None, sa_column=Column(Text))


class ServiceState(SQLModel, table=True):
    """What the service must remember between cycles and processes (e.g. a login backing off)."""

    __tablename__ = "service_state"
    name: str = Field(primary_key=True, max_length=100)
    value: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow)


# ---- staff sign-in for `intake web` (ingest/web) ---------------------------------------------


class Role:
    VIEWER = "viewer"  # the report
    REVIEWER = "reviewer"  # also the queue, responses, corrections, originals and exports
    ADMIN = "admin"  # also the users page
    ALL = (VIEWER, REVIEWER, ADMIN)


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    role: str = Role.VIEWER
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    must_change_password: bool = False
    disabled: bool = False
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_sign_in_at: dt.datetime | None = None


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token, this row its SHA-256, so signing out ends it."""

    __tablename__ = "web_sessions"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(index=True, unique=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_seen_at: dt.datetime = Field(default_factory=utcnow)


class SignInAttempt(SQLModel, table=True):
    """Failed sign-ins, by the name tried and the client, for slowing down guessing."""

    __tablename__ = "sign_in_failures"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow, index=True)
    name: str = Field(index=True, max_length=100)
    client: str = Field(index=True, max_length=100)
