"""The review queue: responses a person must look at, corrections to them, and their audit trail.

A correction names a field and its new value (`q3.choice=agree`, `respondent.category=school`,
`confidential=true`); every value is checked against the form definition before anything changes,
and each changed field leaves an AuditEntry with who, when, the old and the new value. Marking a
response done files it and clears its review reasons (the reasons stay in the audit trail).
"""

from __future__ import annotations

import datetime as dt
import email
import logging
import re
from dataclasses import dataclass
from email import policy
from email.message import Message as EmailPart
from typing import Any

from sqlmodel import Session, col, select

from parsers.formdef import Choice, FormDefinition
from store.export import response_record
from store.models import Acknowledgement, AuditEntry, Message, Response, utcnow

log = logging.getLogger(__name__)

STATUSES = ("filed", "needs_review")
TEXT_FIELDS = ("confidential_reason", "text", "acknowledge_email")
BOOL_FIELDS = ("confidential", "late", "acknowledge")
RESPONDENT_TEXT = ("name", "organisation", "address", "email", "category_other")
NONE_WORDS = ("", "none", "null", "-")
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1", "y"), ("false", "no", "0", "n")
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:]+")


class ReviewError(ValueError):
    """A correction names an unknown field or an invalid value, or an unknown response."""


@dataclass(frozen=True)
class Change:
    field: str  # as written in a setting: "q3.choice", "respondent.category", "status"
    value: Any


# ---- parsing and validating settings (pure) ----------------------------------------------------


def parse_setting(setting: str, form: FormDefinition) -> Change:
    """One `key=value` setting, checked against the form definition."""
    key, sep, raw = setting.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ReviewError(f"{setting!r}: write each correction as key=value, for example q3.choice=agree")
    return Change(key, _value_for(key, raw, form))


def _value_for(key: str, raw: str, form: FormDefinition) -> Any:
    head, _, attr = key.partition(".")
    if head in form.question_ids and attr in ("choice", "comment"):
        return _answer_value(form, head, attr, raw)
    if head == "respondent" and attr == "category":
        return _choice(raw, form.categories, key)
    if head == "respondent" and attr in RESPONDENT_TEXT:
        return _text(raw)
    if key == "contact_again":
        return _choice(raw, form.contact_again_choices, key)
    if key in BOOL_FIELDS:
        return _flag(raw, key)
    if key in TEXT_FIELDS:
        return _text(raw)
    if key == "status":
        if raw.strip() not in STATUSES:
            raise ReviewError(f"status: {raw!r} is not one of {', '.join(STATUSES)}")
        return raw.strip()
    raise ReviewError(f"unknown field {key!r}: {_known_keys(form)}")


def _answer_value(form: FormDefinition, qid: str, attr: str, raw: str) -> str | None:
    if attr == "comment":
        return raw.replace("\\n", "\n").strip()
    if not form.question(qid).scale:
        if raw.strip().lower() in NONE_WORDS:
            return None
        raise ReviewError(f"{qid}.choice: question {form.question(qid).number} has no tick boxes")
    return _choice(raw, form.scale, f"{qid}.choice")


def _choice(raw: str, choices: tuple[Choice, ...], key: str) -> str | None:
    value = raw.strip()
    if value.lower() in NONE_WORDS:
        return None
    ids = [c.id for c in choices]
    if value not in ids:
        raise ReviewError(f"{key}: {value!r} is not one of {', '.join(ids)} (or none)")
    return value


def _flag(raw: str, key: str) -> bool:
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ReviewError(f"{key}: {raw!r} is not true or false")


def _text(raw: str) -> str | None:
    value = raw.replace("\\n", "\n").strip()
    return value or None


def _known_keys(form: FormDefinition) -> str:
    return (
        f"use {form.question_ids[0]}.choice, {form.question_ids[0]}.comment (any question id), "
        f"respondent.{{{','.join(('category', *RESPONDENT_TEXT))}}}, contact_again, status, "
        + ", ".join(BOOL_FIELDS + TEXT_FIELDS)
    )


# ---- reading and writing a field of a Response -------------------------------------------------


def get_field(resp: Response, key: str) -> Any:
    head, _, attr = key.partition(".")
    if head == "respondent":
        return getattr(resp, attr)
    if attr in ("choice", "comment"):
        answer = resp.answers.get(head) or {}
        return answer.get(attr) if attr == "choice" else (answer.get("comment") or "")
    return getattr(resp, key)


def set_field(resp: Response, key: str, value: Any) -> None:
    head, _, attr = key.partition(".")
    if head == "respondent":
        setattr(resp, attr, value)
    elif attr in ("choice", "comment"):
        answer = {"choice": None, "comment": "", **(resp.answers.get(head) or {}), attr: value}
        resp.answers = {**resp.answers, head: answer}  # a new dict: JSON columns track assignment only
    else:
        setattr(resp, key, value)


def found_fields(resp: Response) -> dict[str, str]:
    """How the reader found each field, as staff read it: {"q3.choice": "table row under “Question 3”
    (mark by the row's shape)"}; keys are the settings' names. Empty for a response filed before
    this was recorded (its `found` is None) and for fields the reader left empty."""
    stored: dict[str, Any] = dict(resp.found or {})
    for qid, answer in resp.answers.items():
        for part, how in ((answer or {}).get("found") or {}).items():
            stored[f"{qid}.{part}"] = how
    return {
        key: f"{how.get('where') or '?'} ({how.get('way') or '?'})"
        for key, how in stored.items()
        if isinstance(how, dict)
    }


def audit_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


# ---- the queue and corrections -----------------------------------------------------------------


def list_for_review(session: Session) -> list[Response]:
    """Responses waiting for a person, in order of arrival."""
    query = (
        select(Response).where(Response.status == "needs_review").order_by(col(Response.message_pk), col(Response.seq))
    )
    return list(session.exec(query).all())


def find_response(session: Session, reference: str) -> Response:
    resp = session.exec(select(Response).where(Response.reference == reference)).first()
    if resp is None:
        raise ReviewError(f"no response with reference {reference!r}")
    return resp


def apply_corrections(
    session: Session,
    form: FormDefinition,
    reference: str,
    settings: list[str],
    *,
    who: str,
    done: bool = False,
) -> Response:
    """Check every setting, then apply them with one audit entry per changed field, in one commit.

    `done=True` files the response: status "filed", review reasons cleared, reviewed_at set.
    Nothing changes if any setting is invalid.
    """
    if not who.strip():
        raise ReviewError("say who made the correction")
    changes = [parse_setting(s, form) for s in settings]
    if done and any(c.field == "status" and c.value != "filed" for c in changes):
        raise ReviewError("status: a response marked done is filed; leave out status=needs_review")
    resp = find_response(session, reference)
    now = utcnow()
    if done:
        changes += [Change("status", "filed"), Change("review_reasons", [])]
    entries = [entry for c in changes if (entry := _apply(resp, c, who, now)) is not None]
    if done:
        resp.reviewed_at = now
    session.add(resp)
    session.add_all(entries)
    session.commit()
    session.refresh(resp)
    log.info("%s: %d field(s) corrected by %s%s", reference, len(entries), who, ", marked done" if done else "")
    return resp


def _apply(resp: Response, change: Change, who: str, now: dt.datetime) -> AuditEntry | None:
    """Set one field; the audit entry when it changed, else None."""
    old = get_field(resp, change.field)
    if old == change.value:
        return None
    set_field(resp, change.field, change.value)
    assert resp.id is not None
    return AuditEntry(
        response_pk=resp.id,
        at=now,
        who=who,
        field=change.field,
        old=audit_text(old),
        new=audit_text(change.value),
    )


def audit_trail(session: Session, resp: Response) -> list[AuditEntry]:
    query = select(AuditEntry).where(AuditEntry.response_pk == resp.id).order_by(col(AuditEntry.id))
    return list(session.exec(query).all())


# ---- showing a response ------------------------------------------------------------------------


def describe_response(session: Session, form: FormDefinition, reference: str) -> str:
    """One response as staff read it: where it came from, what it says, and every correction made."""
    resp = find_response(session, reference)
    msg = session.get(Message, resp.message_pk)
    assert msg is not None
    ack = session.exec(select(Acknowledgement).where(Acknowledgement.message_pk == msg.id)).first()
    rec = response_record(resp, msg, form)
    found = found_fields(resp)
    lines = _provenance(rec, msg, ack) + _removals(resp, msg)
    lines += _respondent(rec, form, found) + _answers(rec, form, found)
    lines += _audit_lines(audit_trail(session, resp))
    return "\n".join(lines) + "\n"


def _provenance(rec: dict[str, Any], msg: Message, ack: Acknowledgement | None) -> list[str]:
    source = rec["source"]["filename"] or ("the e-mail body" if rec["source"]["kind"] == "body" else "-")
    lines = [
        f"{rec['reference']}  ({rec['status'].replace('_', ' ')})",
        f"  Message-ID:      {rec['message_id'] or '(none)'}",
        f"  From:            {rec['sender'] or '?'}",
        f"  Subject:         {msg.subject or ''}",
        f"  Received:        {rec['received_at'] or '?'}{'  (late)' if rec['late'] else ''}",
        f"  Source:          {source} [{rec['source']['kind']}]",
        f"  Disposition:     {msg.disposition or 'not yet filed'}",
        f"  Acknowledgement: {_ack_text(ack)}",
    ]
    if rec["review_reasons"]:
        lines.append("  Needs review because:")
        lines += [f"    - {reason}" for reason in rec["review_reasons"]]
    return lines


def _removals(resp: Response, msg: Message) -> list[str]:
    lines = []
    if resp.erased_at is not None:
        lines.append(f"  Erased:          {resp.erased_at:%Y-%m-%d %H:%M} UTC by {resp.erased_by or '?'}")
    if msg.raw_removed_at is not None:
        lines.append(f"  Original:        removed {msg.raw_removed_at:%Y-%m-%d} ({msg.raw_removed_why or '?'})")
    return lines


def _ack_text(ack: Acknowledgement | None) -> str:
    if ack is None:
        return "none"
    return ack.status + (f" ({ack.reason})" if ack.reason else "") + (f" to {ack.to_address}" if ack.to_address else "")


def _label(choices: tuple[Choice, ...], cid: str | None) -> str:
    if cid is None:
        return "(not marked)"
    return next((f"{c.label} [{c.id}]" for c in choices if c.id == cid), cid)


def _respondent(rec: dict[str, Any], form: FormDefinition, found: dict[str, str]) -> list[str]:
    who = rec["respondent"]
    lines = ["", "Respondent"]
    for f in form.respondent_fields:
        lines += [f"  {f.label}: {who.get(f.id) or ''}", *_read_from(found, f"respondent.{f.id}")]
    category = _label(form.categories, who["category"])
    lines.append(f"  Category: {category}" + (f" ({who['category_other']})" if who["category_other"] else ""))
    lines += _read_from(found, "respondent.category") + _read_from(found, "respondent.category_other")
    conf = "yes" + (f" ({rec['confidential_reason']})" if rec["confidential_reason"] else "")
    lines.append(f"  Confidential: {conf if rec['confidential'] else 'no'}")
    lines += _read_from(found, "confidential") + _read_from(found, "confidential_reason")
    lines.append(f"  Acknowledgement requested: {'yes' if rec['acknowledge'] else 'no'}")
    lines += _read_from(found, "acknowledge") + _read_from(found, "acknowledge_email")
    lines.append(f"  Contact again: {_label(form.contact_again_choices, rec['contact_again'])}")
    lines += _read_from(found, "contact_again")
    return lines


def _read_from(found: dict[str, str], key: str) -> list[str]:
    """ "      read from: table row “Name” (labelled table row)", when the reader said how it found `key`."""
    if key not in found:
        return []
    what = "comment read from" if key.endswith(".comment") else "read from"
    return [f"      {what}: {found[key]}"]


def _answers(rec: dict[str, Any], form: FormDefinition, found: dict[str, str]) -> list[str]:
    lines = ["", "Answers"]
    for q in form.questions:
        answer = rec["answers"][q.id]
        choice = f": {_label(form.scale, answer['choice'])}" if q.scale else ""
        lines.append(f"  Q{q.number} [{q.id}]{choice}")
        lines += _read_from(found, f"{q.id}.choice")
        lines += [f"      {line}" for line in answer["comment"].splitlines()]
        lines += _read_from(found, f"{q.id}.comment")
    if rec["text"]:
        lines += ["", "Text"] + [f"  {line}" for line in rec["text"].splitlines()]
    return lines


def _audit_lines(entries: list[AuditEntry]) -> list[str]:
    lines = ["", "Audit trail"]
    if not entries:
        return [*lines, "  (no corrections)"]
    for e in entries:
        lines.append(f"  {e.at:%Y-%m-%d %H:%M:%S} {e.who}: {e.field}: {e.old!r} -> {e.new!r}")
    return lines


# ---- the stored original -----------------------------------------------------------------------


def original_files(session: Session, reference: str) -> list[tuple[str, bytes]]:
    """The stored message as `message.eml`, then each attachment decoded, under safe file names."""
    resp = find_response(session, reference)
    msg = session.get(Message, resp.message_pk)
    assert msg is not None
    if msg.raw_removed_at is not None:
        why = msg.raw_removed_why or "removal"
        raise ReviewError(f"the original of {reference} was removed on {msg.raw_removed_at:%Y-%m-%d} ({why})")
    return message_files(msg)


def message_files(msg: Message) -> list[tuple[str, bytes]]:
    """One stored message's files (`message.eml` and its attachments); none once its bytes are removed."""
    if msg.raw_removed_at is not None or not msg.raw:
        return []
    parsed = email.message_from_bytes(msg.raw, policy=policy.default)
    files = [("message.eml", bytes(msg.raw))]
    taken = {"message.eml"}
    for n, part in enumerate(_attachments(parsed), start=1):
        name = unique_name(safe_filename(part.get_filename() or "", f"attachment-{n}"), taken)
        taken.add(name)
        files.append((name, _part_bytes(part)))
    return files


def _attachments(parsed: EmailPart) -> list[EmailPart]:
    """Parts sent as files: those with a file name or marked as attachments."""
    return [
        part
        for part in parsed.walk()
        if not part.is_multipart() and (part.get_filename() or part.get_content_disposition() == "attachment")
    ]


def _part_bytes(part: EmailPart) -> bytes:
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def safe_filename(name: str, fallback: str) -> str:
    """A file name that cannot leave the output folder: no separators, control characters or leading dots."""
    base = _UNSAFE_NAME.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1])
    base = base.strip().lstrip(".").strip()[:150]
    return base or fallback


def unique_name(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, dot + ext) if stem else (name, "")
    n = 2
    while f"{stem}-{n}{ext}" in taken:
        n += 1
    return f"{stem}-{n}{ext}"
