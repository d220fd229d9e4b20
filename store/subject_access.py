"""Answering a subject access request: what is held about one person, as text and as files.

`describe_holdings` is the listing staff read; `export_holdings` writes the reply's folder:
`summary.txt` (the listing), `records.json` (every record in the export contract's shapes, plus
the message and acknowledgement details only staff see), and one `message-N/` folder per message
with the stored original, its attachments (file names made safe by store/review.py) and the
acknowledgement sent. Nothing is written outside the folder given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlmodel import Session

from parsers.formdef import FormDefinition
from store.export import _iso, message_record, response_record
from store.models import Acknowledgement, AuditEntry, Message, Response
from store.personal import Holdings
from store.review import message_files, unique_name


def _messages(session: Session, held: Holdings) -> list[Message]:
    return [m for pk in sorted(held.messages) if (m := session.get(Message, pk)) is not None]


def _when(value: Any) -> str:
    return (_iso(value) or "-")[:16].replace("T", " ")


def describe_holdings(session: Session, held: Holdings) -> str:
    """The listing: each message, response, acknowledgement and audit entry concerning the person."""
    who = held.person.email + (f" (name: {held.person.name})" if held.person.name else "")
    if held.empty:
        return f"Nothing is held about {who}.\n"
    lines = [f"Personal data held about {who}", "", f"Messages ({len(held.messages)})"]
    for msg in _messages(session, held):
        lines += _message_lines(msg, held.messages[msg.id or 0])
    lines += ["", f"Responses ({len(held.responses)})"]
    for r in held.responses:
        lines += _response_lines(r)
    lines += ["", f"Acknowledgements ({len(held.acknowledgements)})"]
    lines += [_ack_line(a) for a in held.acknowledgements]
    lines += ["", f"Audit entries ({len(held.audit)})"]
    lines += [f"  #{e.id}  response #{e.response_pk}  {_when(e.at)}  {e.who}: {e.field}" for e in held.audit]
    if held.mentioned_in:
        lines += [
            "",
            "Named in the free text of other responses (check before disclosing: they are others' responses):",
            "  " + ", ".join(held.mentioned_in),
        ]
    return "\n".join(lines) + "\n"


def _message_lines(msg: Message, roles: set[str]) -> list[str]:
    if msg.raw_removed_at:
        original = f"original removed {msg.raw_removed_at:%Y-%m-%d} ({msg.raw_removed_why})"
    else:
        original = f"original kept ({msg.size} bytes)"
    return [
        f"  #{msg.id}  {_when(msg.received_at)}  {msg.disposition or 'not yet filed'}"
        f"  as {', '.join(sorted(roles))}; {original}",
        f"      From: {msg.sender or '-'}  Subject: {msg.subject or '-'}",
    ]


def _response_lines(r: Response) -> list[str]:
    erased = f"  [erased {r.erased_at:%Y-%m-%d} by {r.erased_by}]" if r.erased_at else ""
    lines = [f"  {r.reference}  {r.status}  message #{r.message_pk}{erased}"]
    fields = (
        ("name", r.name),
        ("organisation", r.organisation),
        ("address", r.address),
        ("e-mail", r.email),
        ("acknowledge to", r.acknowledge_email),
    )
    return lines + [f"      {label}: {' '.join(value.split())}" for label, value in fields if value]


def _ack_line(a: Acknowledgement) -> str:
    when = _when(a.sent_at or a.created_at)
    kept = "bytes removed" if a.raw is None else "bytes kept"
    return f"  #{a.id}  {a.status}  {when}  to {a.to_address or '-'}  (message #{a.message_pk}; {kept})"


def holdings_records(session: Session, held: Holdings, form: FormDefinition) -> dict[str, Any]:
    """Every record as JSON-ready dicts: responses and messages in the export contract's shapes."""
    messages = _messages(session, held)
    by_pk = {m.id: m for m in messages}
    refs: dict[int, list[str]] = {}
    for r in held.responses:
        refs.setdefault(r.message_pk, []).append(r.reference or "")
    acks = {a.message_pk: a for a in held.acknowledgements}
    return {
        "person": {"email": held.person.email, "name": held.person.name},
        "messages": [
            {
                "id": m.id,
                "concerns_you_as": sorted(held.messages[m.id or 0]),
                **message_record(m, refs.get(m.id or 0, []), acks.get(m.id or 0)),
                "envelope_sender": m.envelope_sender,
                "original_removed_at": _iso(m.raw_removed_at),
            }
            for m in messages
        ],
        "responses": [
            {**response_record(r, by_pk[r.message_pk], form), "erased_at": _iso(r.erased_at)}
            for r in held.responses
            if r.message_pk in by_pk
        ],
        "acknowledgements": [_ack_record(a) for a in held.acknowledgements],
        "audit": [_audit_record(e) for e in held.audit],
    }


def _ack_record(a: Acknowledgement) -> dict[str, Any]:
    return {
        "id": a.id,
        "message": a.message_pk,
        "status": a.status,
        "reason": a.reason,
        "to": a.to_address,
        "created_at": _iso(a.created_at),
        "sent_at": _iso(a.sent_at),
    }


def _audit_record(e: AuditEntry) -> dict[str, Any]:
    return {"response": e.response_pk, "at": _iso(e.at), "who": e.who, "field": e.field, "old": e.old, "new": e.new}


def export_holdings(session: Session, held: Holdings, form: FormDefinition, out_dir: Path) -> list[Path]:
    """Write the reply's folder; the paths written, in order."""
    root = out_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    written = [
        _write(root, "summary.txt", describe_holdings(session, held).encode("utf-8")),
        _write(root, "records.json", json.dumps(holdings_records(session, held, form), indent=2).encode("utf-8")),
    ]
    acks = {a.message_pk: a for a in held.acknowledgements}
    for msg in _messages(session, held):
        files = message_files(msg)
        ack = acks.get(msg.id or 0)
        if ack is not None and ack.raw:
            files.append((unique_name("acknowledgement.eml", {n for n, _ in files}), bytes(ack.raw)))
        folder = root / f"message-{msg.id}"
        written += [_write(folder, name, data) for name, data in files]
    return written


def _write(folder: Path, name: str, data: bytes) -> Path:
    """Write one file; a name that would leave `folder` is refused, never followed."""
    folder.mkdir(parents=True, exist_ok=True)
    target = (folder / name).resolve()
    if target.parent != folder.resolve():
        raise ValueError(f"refusing to write {name!r} outside {folder}")
    target.write_bytes(data)
    return target
