"""The export contract (EXPORT.md): responses and messages as JSON-ready dicts, in arrival order.

The CSV and XLSX rows are built from these same dicts, so they cannot drift from the JSONL export.
The report's figures are SQL aggregates (store/figures.py) that agree with these records, as
tests/test_figures.py proves figure by figure; its lists of what needs a person are these records.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from parsers.formdef import FormDefinition
from store.models import Acknowledgement, Message, MessageState, Response
from store.published import published_message, published_record

STREAM_ROWS = 500  # rows fetched at a time by the exports: memory does not grow with history


@dataclass(frozen=True)
class AckFacts:
    """What a message record says of its acknowledgement (never its bytes or address)."""

    status: str | None
    reason: str | None


def _iso(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.isoformat()


def record_answers(answers: dict[str, Any], form: FormDefinition) -> dict[str, dict[str, Any]]:
    """The answers of a record: each question of the form, in its order, with a choice and a comment."""
    given = {q.id: answers.get(q.id) or {} for q in form.questions}
    return {qid: {"choice": a.get("choice"), "comment": a.get("comment") or ""} for qid, a in given.items()}


def response_record(resp: Response, msg: Message, form: FormDefinition) -> dict[str, Any]:
    return {
        "reference": resp.reference,
        "message_id": msg.message_id,
        "received_at": _iso(msg.received_at),
        "sender": msg.sender,
        "source": {"kind": resp.source_kind, "filename": resp.filename},
        "status": resp.status,
        "review_reasons": list(resp.review_reasons),
        "late": resp.late,
        "respondent": {
            "name": resp.name,
            "organisation": resp.organisation,
            "address": resp.address,
            "email": resp.email,
            "category": resp.category,
            "category_other": resp.category_other,
        },
        "confidential": resp.confidential,
        "confidential_reason": resp.confidential_reason,
        "acknowledge": resp.acknowledge,
        "contact_again": resp.contact_again,
        "answers": record_answers(resp.answers, form),
        "text": resp.text,
    }


def message_record(msg: Message, references: list[str], ack: AckFacts | Acknowledgement | None) -> dict[str, Any]:
    problems = list(msg.problems)
    if msg.state != MessageState.DONE:
        problems.append("not yet filed")
    return {
        "message_id": msg.message_id,
        "received_at": _iso(msg.received_at),
        "sender": msg.sender,
        "subject": msg.subject,
        "disposition": msg.disposition,
        "references": references,
        "acknowledgement": {
            "status": ack.status if ack else None,
            "reason": (ack.reason if ack else None),
        },
        "problems": problems,
    }


def iter_responses(
    session: Session,
    form: FormDefinition,
    *,
    exclude_confidential: bool = False,
    personal: bool = True,
    status: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Response records in arrival order; `personal=False` gives the published view (store/published.py);
    `status` only those with that status.

    Rows are streamed in chunks and the raw message is never loaded: memory stays flat however
    much mail is stored.
    """
    query = (
        select(Response, Message)
        .join(Message, col(Message.id) == Response.message_pk)
        .where(*([col(Response.status) == status] if status else []))
        .options(defer(Message.raw))  # type: ignore[arg-type]
        .order_by(col(Message.id), col(Response.seq))
        .execution_options(yield_per=STREAM_ROWS)
    )
    for resp, msg in session.exec(query):
        if exclude_confidential and resp.confidential:
            continue
        record = response_record(resp, msg, form)
        yield record if personal else published_record(record)


def iter_messages(
    session: Session, *, exclude_confidential: bool = False, personal: bool = True, disposition: str | None = None
) -> Iterator[dict[str, Any]]:
    """Message records by id; `exclude_confidential` leaves out those that brought only confidential
    responses, `personal=False` gives the published view (store/published.py), `disposition` only
    those with that disposition (and only their responses and acknowledgements are read)."""
    only = [col(Message.disposition) == disposition] if disposition else []
    rows = select(Response.message_pk, Response.reference, Response.confidential)
    acks_of = select(Acknowledgement.message_pk, Acknowledgement.status, Acknowledgement.reason)
    if only:
        own, repeated = select(Message.id).where(*only), select(Message.duplicate_of).where(*only)
        rows = rows.where(sa.or_(col(Response.message_pk).in_(own), col(Response.message_pk).in_(repeated)))
        acks_of = acks_of.where(col(Acknowledgement.message_pk).in_(own))
    refs: dict[int, list[str]] = {}
    confidential: set[str] = set()
    for message_pk, reference, is_confidential in session.exec(
        rows.order_by(col(Response.message_pk), col(Response.seq))
    ):
        refs.setdefault(message_pk, []).append(reference or "")
        if is_confidential:
            confidential.add(reference or "")
    acks = {pk: AckFacts(status, reason) for pk, status, reason in session.exec(acks_of)}
    messages = (
        select(Message)
        .where(*only)
        .options(defer(Message.raw))  # type: ignore[arg-type]
        .order_by(col(Message.id))
        .execution_options(yield_per=STREAM_ROWS)
    )
    for msg in session.exec(messages):
        own = refs.get(msg.id or 0, [])
        if msg.disposition == "duplicate" and msg.duplicate_of is not None:
            own = refs.get(msg.duplicate_of, [])
        if exclude_confidential and own and set(own) <= confidential:
            continue
        record = message_record(msg, own, acks.get(msg.id or 0))
        yield record if personal else published_message(record)


def write_jsonl(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    n = 0
    for rec in records:
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        n += 1
    return n
