"""Database rows for the staff-facing tests: every disposition, status and acknowledgement state."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlmodel import Session

from store.db import make_engine, upgrade
from store.models import Acknowledgement, Cycle, Message, MessageState, Response

NOW = dt.datetime(2008, 5, 20, 12, 0, tzinfo=dt.UTC)
HOSTILE = "<script>alert(1)</script> and <img src=x onerror=alert(1)>"
CONFIDENTIAL_MARK = "Zanzibar-marmalade-confidential-remark"
CONFIDENTIAL_EMAIL = "hidden.person@secret.example.org"
CAMPAIGN_TEXT = (
    "We are parents in Exampleton and we believe that the guidance must give parents a statutory seat "
    "on every Children's Trust Board. Without that, decisions about our children's services will "
    "continue to be made without us, and prevention will remain an afterthought."
)


# ---- a database with one of everything -------------------------------------------------------


def raw_message(sender: str, subject: str, attachment: tuple[str, bytes] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "childrentrusts.consultation@dcsf.gsi.gov.uk", subject
    msg.set_content("Please find my response attached.\n")
    if attachment:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return bytes(msg)


class Rows:
    """Writes messages, responses and acknowledgements the way the service files them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.n = 0

    def message(
        self,
        disposition: str,
        *,
        cycle: int,
        day: dt.datetime,
        sender: str = "someone@example.org",
        subject: str = "Consultation response",
        ack: tuple[str, str | None] | None = None,
        problems: list[str] | None = None,
        attachment: tuple[str, bytes] | None = None,
        duplicate_of: int | None = None,
    ) -> Message:
        self.n += 1
        raw = raw_message(sender, subject, attachment)
        msg = Message(
            source_key=f"maildir:cur/{self.n}",
            message_id=f"<m{self.n}@example.org>",
            content_hash=hashlib.sha256(raw).hexdigest(),
            raw=raw,
            size=len(raw),
            received_at=day,
            sender=sender,
            subject=subject,
            cycle_id=cycle,
            state=MessageState.DONE,
            disposition=disposition,
            problems=problems or [],
            duplicate_of=duplicate_of,
        )
        self.session.add(msg)
        self.session.flush()
        if ack:
            self.session.add(
                Acknowledgement(
                    message_pk=msg.id,
                    status=ack[0],
                    reason=ack[1],
                    to_address=sender,
                    created_at=dt.datetime(2008, 5, 1, tzinfo=dt.UTC),
                )
            )
        return msg

    def response(self, msg: Message, *, seq: int = 0, **fields: Any) -> Response:
        answers = fields.pop("answers", {})
        fields.setdefault("source_kind", "docx")
        fields.setdefault("filename", "Response form.docx" if fields["source_kind"] != "body" else None)
        resp = Response(
            reference=f"CT08-{msg.id:04d}{seq}",
            message_pk=msg.id,
            seq=seq,
            answers={q: {"choice": c, "comment": t} for q, (c, t) in answers.items()},
            fingerprint=f"{msg.id}-{seq}",
            **fields,
        )
        self.session.add(resp)
        self.session.flush()
        return resp


def two_cycles(session: Session, stored: tuple[int, int]) -> tuple[Cycle, Cycle]:
    """A cycle on 1 April 2008 and one that finished two minutes before NOW, storing so many messages."""
    old = Cycle(
        started_at=dt.datetime(2008, 4, 1, 9, tzinfo=dt.UTC),
        finished_at=dt.datetime(2008, 4, 1, 9, 1, tzinfo=dt.UTC),
        status="completed",
        counts={"stored": stored[0]},
    )
    last = Cycle(
        started_at=NOW - dt.timedelta(minutes=3),
        finished_at=NOW - dt.timedelta(minutes=2),
        status="completed",
        counts={"stored": stored[1]},
    )
    session.add_all([old, last])
    session.flush()
    return old, last


def populate(session: Session) -> None:
    """Two cycles; every disposition; filed, needs-review, late, confidential and campaign responses."""
    old, last = two_cycles(session, (9, 7))
    rows = Rows(session)
    march = dt.datetime(2008, 3, 3, 10, tzinfo=dt.UTC)

    m = rows.message("response", cycle=old.id, day=march, sender="jane.smith@example.org", ack=("sent", None))
    first = rows.response(
        m,
        name="Jane Smith",
        email="jane.smith@example.org",
        organisation="Exampleton Borough Council",
        category="local_authority",
        acknowledge=True,
        contact_again="yes",
        answers={"q1": ("agree", "Clear.\nVery clear."), "q2": ("disagree", "=SUM(A1:A9)"), "q3": ("agree", "")},
    )
    m = rows.message(
        "response",
        cycle=old.id,
        day=march + dt.timedelta(days=1),
        sender="head@school.example.org",
        subject=HOSTILE,
        ack=("pending", None),
        attachment=("../../etc/.passwd form.docx", b"PK\x03\x04 fake docx"),
    )
    rows.response(
        m,
        source_kind="body",
        status="needs_review",
        review_reasons=["Question 3: two boxes are marked", "Respondent category is not marked"],
        name="Head Teacher",
        email="head@school.example.org",
        acknowledge=True,
        contact_again="no",
        answers={"q1": ("not_sure", HOSTILE), "q3": ("agree", "+44 1234"), "q8": (None, "@everyone -minus")},
    )
    m = rows.message(
        "response", cycle=old.id, day=march + dt.timedelta(days=10), sender=CONFIDENTIAL_EMAIL, ack=("sent", None)
    )
    rows.response(
        m,
        source_kind="pdf",
        filename="response.pdf",
        name="Hidden Person",
        email=CONFIDENTIAL_EMAIL,
        category="health",
        confidential=True,
        confidential_reason="Board approval pending",
        acknowledge=True,
        contact_again="yes",
        answers={"q1": ("disagree", CONFIDENTIAL_MARK), "q2": ("disagree", "")},
    )
    m = rows.message(
        "response", cycle=last.id, day=dt.datetime(2008, 5, 18, 8, tzinfo=dt.UTC), ack=("suppressed", "not requested")
    )
    rows.response(m, seq=0, late=True, category="school", answers={"q1": ("agree", ""), "q2": ("agree", "")})
    rows.response(
        m, seq=1, late=True, source_kind="odt", filename="second.odt", category="other", category_other="Governor"
    )
    rows.message(
        "duplicate", cycle=last.id, day=march + dt.timedelta(days=2), duplicate_of=1, ack=("suppressed", "duplicate")
    )
    rows.message("auto_reply", cycle=last.id, day=march, ack=("suppressed", "auto-submitted"))
    rows.message("bounce", cycle=last.id, day=march, ack=("suppressed", "bounce"))
    rows.message("junk", cycle=old.id, day=march)
    rows.message("correspondence", cycle=old.id, day=march, ack=("failed", "refused: 550 no such user"))
    rows.message("failed", cycle=last.id, day=march, problems=["attachment is encrypted", "no readable text"])
    for i in range(3):
        text = CAMPAIGN_TEXT if i != 1 else CAMPAIGN_TEXT.upper().replace(",", "")
        m = rows.message("response", cycle=old.id, day=march + dt.timedelta(days=20 + i), sender=f"p{i}@example.net")
        rows.response(m, source_kind="body", category="parent", answers={"q4": ("disagree", text)})
    session.commit()
    assert first.reference == "CT08-00010"


def populated_session(tmp_path: Path) -> Iterator[Session]:
    """A session on a fresh, migrated SQLite database filled by `populate` (shared by the other test files)."""
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s:
        populate(s)
    with Session(engine) as s:
        yield s
    engine.dispose()
