"""Finding what is held about one person: the subject-access search, and the passages of free text
that name them (shared by subject access, erasure and the published view).

A person is an e-mail address and, optionally, a name. They are found as the sender or envelope
sender of a message, in its Reply-To, To or Cc headers (read from the first 64 KiB of the stored
bytes, so no 40 MB message is loaded whole), as the respondent or acknowledgement address of a
response, by the respondent name when one is given, and as the recipient of an acknowledgement.
Audit entries of their responses come with them; entries and free text elsewhere that mention
them are listed separately, because those belong to someone else's response.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.utils import getaddresses, parseaddr

from sqlalchemy import func
from sqlmodel import Session, col, select

from store.models import Acknowledgement, AuditEntry, Message, Response

HEADER_BYTES = 64 * 1024
BATCH = 500
RECIPIENT_HEADERS = {"reply-to": "reply-to", "to": "recipient", "cc": "recipient", "from": "sender"}
TITLES = frozenset({"mr", "mrs", "ms", "miss", "dr", "prof", "rev", "sir", "dame", "lord", "lady", "the"})
ERASED = "[erased]"
SAME_NAME_ONLY = "same name only"
IN_HEADERS = "in the headers"
NOT_THEIRS = frozenset({"recipient", SAME_NAME_ONLY, IN_HEADERS})  # listed for access, not erased by --person
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


def address_of(value: str | None) -> str:
    """The bare, lower-cased address in `Name <addr>` or `addr`; "" for none."""
    return parseaddr(value or "")[1].strip().lower()


def same_name(a: str | None, b: str | None) -> bool:
    """The same name, whatever the case and spacing."""
    if not (a and b):
        return False
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


@dataclass(frozen=True)
class Person:
    email: str
    name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "email", address_of(self.email) or self.email.strip().lower())


# ---- passages of free text ---------------------------------------------------------------------


def name_terms(name: str | None) -> list[str]:
    """The full name and each word of it long enough to mean something (titles left out)."""
    if not name or not name.strip():
        return []
    words = [w for w in re.findall(r"[^\W\d_][\w'-]*", name) if len(w) >= 3 and w.casefold() not in TITLES]
    return [" ".join(name.split()), *words]


def address_terms(address: str | None) -> list[str]:
    """The lines of a postal address (split at commas and line breaks), each at least 5 characters."""
    return [part.strip() for part in re.split(r"[,\n]", address or "") if len(part.strip()) >= 5]


def email_terms(address: str | None) -> list[str]:
    addr = address_of(address)
    return [addr] if addr else []


def terms_for(person: Person | None, responses: Iterable[Response]) -> list[str]:
    """What names the person in free text: their address, names and postal address lines."""
    terms: list[str] = []
    if person is not None:
        terms += email_terms(person.email) + name_terms(person.name)
    for r in responses:
        terms += email_terms(r.email) + email_terms(r.acknowledge_email) + name_terms(r.name)
        terms += address_terms(r.address)
    return sorted({t for t in terms if t}, key=lambda t: (-len(t), t.casefold()))


def find_passages(text: str | None, terms: list[str]) -> list[tuple[int, int]]:
    """Spans of `text` where a term stands as a whole word (any case), longest terms first."""
    if not text or not terms:
        return []
    pattern = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return [m.span() for m in re.finditer(rf"(?<![\w@.])(?:{pattern})(?![\w@])", text, flags=re.IGNORECASE)]


def redact(text: str | None, terms: list[str], mark: str = ERASED) -> str | None:
    """`text` with every passage naming the person replaced by `mark`."""
    if text is None:
        return None
    for start, end in reversed(find_passages(text, terms)):
        text = text[:start] + mark + text[end:]
    return text


def redact_emails(text: str | None, mark: str = "[e-mail address]") -> str | None:
    return None if text is None else _EMAIL.sub(mark, text)


def free_text_fields(resp: Response) -> dict[str, str]:
    """A response's free text by the field names of `intake review`: comments, text, reasons."""
    fields = {f"{qid}.comment": (a or {}).get("comment") or "" for qid, a in sorted(resp.answers.items())}
    fields.update(text=resp.text or "", confidential_reason=resp.confidential_reason or "")
    fields["respondent.category_other"] = resp.category_other or ""
    return {k: v for k, v in fields.items() if v}


def snippet(text: str, span: tuple[int, int], width: int = 30) -> str:
    start, end = span
    before = text[max(0, start - width) : start].replace("\n", " ")
    after = text[end : end + width].replace("\n", " ")
    return f"…{before}[{text[start:end]}]{after}…"


# ---- the subject-access search -----------------------------------------------------------------


@dataclass
class Holdings:
    """Everything held about one person, each message with the ways it concerns them."""

    person: Person
    messages: dict[int, set[str]] = field(default_factory=dict)
    responses: list[Response] = field(default_factory=list)
    acknowledgements: list[Acknowledgement] = field(default_factory=list)
    audit: list[AuditEntry] = field(default_factory=list)
    mentioned_in: list[str] = field(default_factory=list)  # other responses whose free text names them
    same_name_only: set[int] = field(default_factory=set)  # responses found by the name alone (ids)

    def theirs(self, message_pk: int) -> bool:
        """Whether a message is the person's own, not one they were copied on or that gives their name only."""
        return bool(self.messages.get(message_pk, set()) - NOT_THEIRS)

    def concern(self, message_pk: int, role: str) -> None:
        self.messages.setdefault(message_pk, set()).add(role)

    @property
    def empty(self) -> bool:
        return not (self.messages or self.responses or self.acknowledgements or self.audit or self.mentioned_in)


def find_person(session: Session, person: Person) -> Holdings:
    """Every message, response, acknowledgement and audit entry that concerns `person`."""
    held = Holdings(person)
    _messages_by_headers(session, person, held)
    _responses(session, person, held)
    _duplicates(session, held)
    _acknowledgements(session, person, held)
    _audit(session, held)
    _mentions(session, held)
    return held


def _messages_by_headers(session: Session, person: Person, held: Holdings) -> None:
    last = 0
    while True:
        rows = session.exec(
            select(Message.id, Message.sender, Message.envelope_sender, func.substr(Message.raw, 1, HEADER_BYTES))
            .where(col(Message.id) > last)
            .order_by(col(Message.id))
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for pk, sender, envelope, head in rows:
            for role in _roles(person.email, sender, envelope, bytes(head or b"")):
                held.concern(pk, role)
        last = rows[-1][0]


def _roles(addr: str, sender: str | None, envelope: str | None, head: bytes) -> set[str]:
    roles = set()
    if address_of(sender) == addr:
        roles.add("sender")
    if address_of(envelope) == addr:
        roles.add("envelope sender")
    if head and addr.encode("ascii", "ignore").lower() in head.lower():
        roles |= _header_roles(addr, head.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0])
    return roles


def _header_roles(addr: str, head: bytes) -> set[str]:
    """Where the address stands in the headers; "in the headers" when a stranger's headers defeat the parser."""
    try:
        headers = email.message_from_bytes(head, policy=policy.compat32)
        found = set()
        for name, role in RECIPIENT_HEADERS.items():
            values = [str(v) for v in headers.get_all(name, [])]
            if any(a.strip().lower() == addr for _, a in getaddresses(values)):
                found.add(role)
        return found
    except Exception:  # hostile headers: the address is in them, so the message is listed, not skipped
        return {IN_HEADERS}


def _responses(session: Session, person: Person, held: Holdings) -> None:
    """The person's responses: by respondent address, or sent by them without another's address; and
    those that only give the same name, which may be someone else's (`Holdings.same_name_only`)."""
    sent_by_them = {pk for pk, roles in held.messages.items() if roles & {"sender", "envelope sender", "reply-to"}}
    for resp in session.exec(select(Response).order_by(col(Response.message_pk), col(Response.seq))):
        own_address = address_of(resp.email)
        by_address = person.email in (own_address, address_of(resp.acknowledge_email))
        by_message = resp.message_pk in sent_by_them and own_address in ("", person.email)
        if by_address or by_message:
            held.responses.append(resp)
            held.concern(resp.message_pk, "respondent" if by_address else "sender of the response")
        elif same_name(resp.name, person.name):
            held.responses.append(resp)
            held.same_name_only.add(resp.id or 0)
            held.concern(resp.message_pk, SAME_NAME_ONLY)


def _duplicates(session: Session, held: Holdings) -> None:
    """Copies of their messages, sent again (a duplicate comes from the same author)."""
    own = [pk for pk in held.messages if held.theirs(pk)]
    if own:
        query = select(Message.id).where(col(Message.duplicate_of).in_(own))
        for pk in session.exec(query):
            held.concern(pk, "copy of their message")


def _acknowledgements(session: Session, person: Person, held: Holdings) -> None:
    for ack in session.exec(select(Acknowledgement).order_by(col(Acknowledgement.id))):
        if ack.message_pk in held.messages or address_of(ack.to_address) == person.email:
            held.acknowledgements.append(ack)
            if address_of(ack.to_address) == person.email:
                held.concern(ack.message_pk, "acknowledged to them")


def mention_terms(person: Person) -> list[str]:
    """What marks a mention of the person in someone else's text: the address, the full name."""
    return [t for t in terms_for(person, []) if " " in t or "@" in t]


def _audit(session: Session, held: Holdings) -> None:
    own = {r.id for r in held.responses}
    terms = mention_terms(held.person)
    for entry in session.exec(select(AuditEntry).order_by(col(AuditEntry.id))):
        if entry.response_pk in own or find_passages(entry.old, terms) or find_passages(entry.new, terms):
            held.audit.append(entry)


def _mentions(session: Session, held: Holdings) -> None:
    own = {r.id for r in held.responses}
    terms = mention_terms(held.person)
    for resp in session.exec(select(Response).order_by(col(Response.id))):
        if resp.id not in own and any(find_passages(t, terms) for t in free_text_fields(resp).values()):
            held.mentioned_in.append(resp.reference or f"#{resp.id}")
