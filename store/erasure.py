"""Erasing a respondent's personal data while keeping what the published results need.

What goes: the respondent's name, organisation, postal address, e-mail and acknowledgement
address; the stored message bytes (and so every attachment); the message's sender, envelope
sender and subject; the acknowledgement's bytes and recipient; passages of the file name, the
problems and the review reasons that name the person; and, only when staff confirm, passages of
free text (comments, letter text, reasons) that name them. The old values of audit entries on
those fields are replaced by "[erased]". What stays: the reference, status, category, choices,
flags and dates, so every figure of the report and exports still adds up, and each row is marked
with erased_at and erased_by; an audit entry records who erased it and when, never what.

The message row and its idempotence keys stay, so an erased message is never taken in again:
`source_key` (folder, UIDVALIDITY, UID: no personal data) and `content_hash` (a SHA-256 of the
bytes) are kept as they are. The Message-ID is treated as personal, since mail programs often
build it from the sender's address or host name: it is replaced by `sha256:` and the hash of
its text (`hashed_message_id`), which still recognises the message if the mailbox is renumbered
once the storing step also looks for that form.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from store.models import Acknowledgement, AckStatus, AuditEntry, Message, MessageState, Response, utcnow
from store.personal import (
    ERASED,
    Person,
    address_of,
    email_terms,
    find_passages,
    find_person,
    free_text_fields,
    redact,
    redact_emails,
    snippet,
    terms_for,
)

log = logging.getLogger(__name__)

PERSONAL_FIELDS = ("name", "organisation", "address", "email", "acknowledge_email")
AUDITED_PERSONAL = {f"respondent.{f}" for f in PERSONAL_FIELDS[:4]} | {"acknowledge_email"}
HASH_PREFIX = "sha256:"


class ErasureError(ValueError):
    """An unknown reference, or a message that has not been filed yet."""


def hashed_message_id(message_id: str | None) -> str | None:
    """The form an erased message keeps its Message-ID in: `sha256:` and the hash of the text."""
    if message_id is None or message_id.startswith(HASH_PREFIX):
        return message_id
    return HASH_PREFIX + hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class Passage:
    reference: str
    field: str
    snippet: str


@dataclass
class ErasurePlan:
    responses: list[Response]
    messages: list[Message]
    acknowledgements: list[Acknowledgement]
    terms: list[str]
    passages: list[Passage] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)  # other responses whose original goes too
    same_name_only: list[str] = field(default_factory=list)  # the same name, no sign it is them: kept

    @property
    def empty(self) -> bool:
        return not (self.responses or self.messages or self.acknowledgements)


# ---- what to erase ------------------------------------------------------------------------------


def plan_for_references(session: Session, references: list[str]) -> ErasurePlan:
    """The responses named, the messages that brought them (and copies of those), their acknowledgements."""
    responses = []
    for ref in references:
        resp = session.exec(select(Response).where(Response.reference == ref)).first()
        if resp is None:
            raise ErasureError(f"no response with reference {ref!r}")
        responses.append(resp)
    pks = {r.message_pk for r in responses}
    pks |= set(session.exec(select(Message.id).where(col(Message.duplicate_of).in_(list(pks)))).all()) - {None}
    return _plan(session, responses, pks, extra_terms=[])


def plan_for_person(session: Session, person: Person) -> ErasurePlan:
    """Everything found by the subject-access search, except messages they were only copied on."""
    held = find_person(session, person)
    pks = {pk for pk in held.messages if held.theirs(pk)}
    pks |= {a.message_pk for a in held.acknowledgements if address_of(a.to_address) == person.email}
    responses = [r for r in held.responses if r.id not in held.same_name_only]
    plan = _plan(session, responses, pks, extra_terms=terms_for(person, []))
    plan.same_name_only = [r.reference or "" for r in held.responses if r.id in held.same_name_only]
    return plan


def _plan(session: Session, responses: list[Response], pks: set[int | None], extra_terms: list[str]) -> ErasurePlan:
    messages = [m for pk in sorted(p for p in pks if p is not None) if (m := session.get(Message, pk)) is not None]
    unfiled = [f"#{m.id}" for m in messages if m.state != MessageState.DONE]
    if unfiled:
        raise ErasureError(f"message(s) {', '.join(unfiled)} not filed yet: run a cycle first, then erase")
    acks = list(
        session.exec(select(Acknowledgement).where(col(Acknowledgement.message_pk).in_([m.id for m in messages])))
    )
    senders = [t for m in messages for t in email_terms(m.sender) + email_terms(m.envelope_sender)]
    terms = sorted(set(terms_for(None, responses)) | set(extra_terms) | set(senders), key=lambda t: (-len(t), t))
    plan = ErasurePlan(responses, messages, acks, terms)
    for resp in responses:
        for name, text in free_text_fields(resp).items():
            plan.passages += [Passage(resp.reference or "", name, snippet(text, s)) for s in find_passages(text, terms)]
    mine = {r.id for r in responses}
    others = select(Response).where(col(Response.message_pk).in_([m.id for m in messages]))
    plan.shared = [r.reference or "" for r in session.exec(others) if r.id not in mine]
    return plan


def describe_plan(plan: ErasurePlan) -> str:
    kept = []
    if plan.same_name_only:
        kept = [
            f"Not erased: {', '.join(plan.same_name_only)} give(s) the same name but not this address; "
            "if it is the same person, erase by reference."
        ]
    if plan.empty:
        return "\n".join(["Nothing to erase.", *kept]) + "\n"
    lines = ["This erases the personal data of:"]
    for r in plan.responses:
        lines.append(f"  response {r.reference}{' (already erased)' if r.erased_at else ''}")
    for m in plan.messages:
        lines.append(f"  message #{m.id} ({m.disposition}): sender, subject and the original with its attachments")
    for a in plan.acknowledgements:
        lines.append(f"  acknowledgement #{a.id} ({a.status}): its recipient and bytes")
    if plan.shared:
        lines.append(f"The originals of {', '.join(plan.shared)} came in the same message(s) and go too.")
    lines.append("Kept: references, category, choices, flags and dates, so the results still add up.")
    lines += kept
    if plan.passages:
        lines += ["", f"Free text that names the person ({len(plan.passages)} passage(s)):"]
        lines += [f"  {p.reference} {p.field}: {p.snippet}" for p in plan.passages]
    return "\n".join(lines) + "\n"


# ---- erasing ------------------------------------------------------------------------------------


def erase(session: Session, plan: ErasurePlan, *, who: str, redact_text: bool, now: dt.datetime | None = None) -> int:
    """Carry out the plan in one commit; the number of free-text passages replaced."""
    now = now or utcnow()
    redacted = 0
    for resp in plan.responses:
        redacted += _erase_response(session, resp, plan.terms, who=who, now=now, redact_text=redact_text)
    for msg in plan.messages:
        _erase_message(msg, plan.terms, who=who, now=now)
        session.add(msg)
    for ack in plan.acknowledgements:
        _erase_acknowledgement(ack, plan.terms, now=now)
        session.add(ack)
    session.commit()
    log.info(
        "erased by %s: responses %s, messages %s, %d acknowledgement(s), %d passage(s) of free text",
        who,
        ", ".join(r.reference or f"#{r.id}" for r in plan.responses) or "none",
        ", ".join(f"#{m.id}" for m in plan.messages) or "none",
        len(plan.acknowledgements),
        redacted,
    )
    return redacted


def _erase_response(
    session: Session, resp: Response, terms: list[str], *, who: str, now: dt.datetime, redact_text: bool
) -> int:
    for name in PERSONAL_FIELDS:
        setattr(resp, name, None)
    resp.filename = redact(resp.filename, terms)
    resp.review_reasons = [redact(r, terms) or "" for r in resp.review_reasons]
    redacted = _redact_free_text(resp, terms) if redact_text else 0
    for entry in session.exec(select(AuditEntry).where(AuditEntry.response_pk == resp.id)):
        _scrub_audit(entry, terms, redact_text)
        session.add(entry)
    what = "respondent fields, original message, acknowledgement"
    what += f", {redacted} passage(s) of free text" if redacted else ""
    assert resp.id is not None
    session.add(AuditEntry(response_pk=resp.id, at=now, who=who, field="erasure", new=f"personal data erased: {what}"))
    resp.erased_at, resp.erased_by = resp.erased_at or now, resp.erased_by or who
    session.add(resp)
    return redacted


def _redact_free_text(resp: Response, terms: list[str]) -> int:
    count = sum(len(find_passages(t, terms)) for t in free_text_fields(resp).values())
    resp.answers = {
        qid: {**(a or {}), "comment": redact((a or {}).get("comment"), terms) or ""} for qid, a in resp.answers.items()
    }
    resp.text = redact(resp.text, terms)
    resp.confidential_reason = redact(resp.confidential_reason, terms)
    resp.category_other = redact(resp.category_other, terms)
    return count


def _scrub_audit(entry: AuditEntry, terms: list[str], redact_text: bool) -> None:
    if entry.field in AUDITED_PERSONAL:
        entry.old = ERASED if entry.old is not None else None
        entry.new = ERASED if entry.new is not None else None
    elif redact_text or entry.field in ("filename", "review_reasons"):
        entry.old, entry.new = redact(entry.old, terms), redact(entry.new, terms)


def _erase_message(msg: Message, terms: list[str], *, who: str, now: dt.datetime) -> None:
    msg.raw = b""
    msg.raw_removed_at, msg.raw_removed_why = msg.raw_removed_at or now, msg.raw_removed_why or "erasure"
    msg.sender = msg.envelope_sender = msg.subject = None
    msg.message_id = hashed_message_id(msg.message_id)
    msg.problems = [redact_emails(redact(p, terms)) or "" for p in msg.problems]
    msg.disposition_reason = redact_emails(redact(msg.disposition_reason, terms))
    msg.erased_at, msg.erased_by = msg.erased_at or now, msg.erased_by or who


def _erase_acknowledgement(ack: Acknowledgement, terms: list[str], *, now: dt.datetime) -> None:
    if ack.status == AckStatus.PENDING:
        ack.status, ack.reason = AckStatus.SUPPRESSED, "erased"
    ack.raw, ack.to_address = None, None
    ack.last_error = redact_emails(redact(ack.last_error, terms))
    ack.raw_removed_at = ack.raw_removed_at or now
    ack.erased_at = ack.erased_at or now
