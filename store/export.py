"""The export contract (EXPORT.md): responses and messages as JSON-ready dicts, in arrival order.

Every other view (CSV, XLSX, the report) is built from these same dicts, so their figures cannot
drift from the JSONL export.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import IO, Any

from sqlmodel import Session, col, select

from parsers.formdef import FormDefinition
from store.models import Acknowledgement, Message, MessageState, Response
from store.published import published_message, published_record


def _iso(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.isoformat()


def response_record(resp: Response, msg: Message, form: FormDefinition) -> dict[str, Any]:
    answers = {
        q.id: {
            "choice": (resp.answers.get(q.id) or {}).get("choice"),
            "comment": (resp.answers.get(q.id) or {}).get("comment") or "",
        }
        for q in form.questions
    }
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
        "answers": answers,
        "text": resp.text,
    }


def message_record(msg: Message, references: list[str], ack: Acknowledgement | None) -> dict[str, Any]:
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
    session: Session, form: FormDefinition, *, exclude_confidential: bool = False, personal: bool = True
) -> Iterator[dict[str, Any]]:
    """Response records in arrival order; `personal=False` gives the published view (store/published.py)."""
    query = (
        select(Response, Message)
        .join(Message, col(Message.id) == Response.message_pk)
        .order_by(col(Message.id), col(Response.seq))
    )
    for resp, msg in session.exec(query):
        if exclude_confidential and resp.confidential:
            continue
        record = response_record(resp, msg, form)
        yield record if personal else published_record(record)


def iter_messages(
    session: Session, *, exclude_confidential: bool = False, personal: bool = True
) -> Iterator[dict[str, Any]]:
    """Message records by id; `exclude_confidential` leaves out those that brought only confidential
    responses, `personal=False` gives the published view (store/published.py)."""
    refs: dict[int, list[str]] = {}
    confidential: set[str] = set()
    for resp in session.exec(select(Response).order_by(col(Response.message_pk), col(Response.seq))):
        refs.setdefault(resp.message_pk, []).append(resp.reference or "")
        if resp.confidential:
            confidential.add(resp.reference or "")
    acks = {a.message_pk: a for a in session.exec(select(Acknowledgement))}
    for msg in session.exec(select(Message).order_by(col(Message.id))):
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
