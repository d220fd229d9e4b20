"""A database with every case a report figure distinguishes, for checking figures against the export.

Every disposition and "not yet filed"; every acknowledgement status and none; confidential and
not, and a message bringing two responses of which one is confidential; late and needs-review;
every category and none; every source kind; comments empty, missing, null and written; choices
missing, null and each of the scale; duplicates (of an ordinary and of a confidential message);
undated messages and messages either side of midnight UTC; messages of two cycles.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from sqlmodel import Session

from builders.store_rows import CAMPAIGN_TEXT, Rows, two_cycles
from parsers.formdef import FormDefinition
from store.models import AckStatus, MessageState

KINDS = ("docx", "doc", "odt", "rtf", "pdf", "other", "body")
ACKS: tuple[tuple[str, str | None] | None, ...] = (
    (AckStatus.SENT, None),
    (AckStatus.PENDING, None),
    (AckStatus.FAILED, "refused: 550 no such user"),
    (AckStatus.SUPPRESSED, "not requested"),
    None,
)
OTHER_DISPOSITIONS = ("auto_reply", "bounce", "junk", "correspondence")


def _answers(form: FormDefinition, n: int) -> dict[str, Any]:
    """Answers that cycle through every choice (and none) and every kind of comment."""
    choices = [None, *(c.id for c in form.scale)]
    comments: list[str | None] = ["", None, "Agreed, with reservations.", " ", CAMPAIGN_TEXT]
    out: dict[str, Any] = {}
    for i, q in enumerate(form.questions):
        shape = (n + i) % 7
        if shape == 0:
            continue  # the question is missing from the answers
        if shape == 1:
            out[q.id] = None
            continue
        answer: dict[str, Any] = {"comment": comments[(n * 3 + i) % len(comments)]}
        if shape != 2:  # shape 2: a comment without a choice key
            answer["choice"] = choices[(n + i) % len(choices)] if q.scale else None
        out[q.id] = answer
    return out


def populate_varied(session: Session, form: FormDefinition) -> None:
    """Two cycles of mail, each response differing from the one before in every figure's terms."""
    old, last = two_cycles(session, (30, 12))
    rows = Rows(session)
    cats = itertools.cycle([c.id for c in form.categories] + [None])
    days = itertools.cycle(
        [
            dt.datetime(2008, 2, 20, 9, tzinfo=dt.UTC),  # before the consultation opened
            dt.datetime(2008, 3, 3, 23, 59, 59, tzinfo=dt.UTC),
            dt.datetime(2008, 3, 4, 0, 0, tzinfo=dt.UTC),
            None,
            dt.datetime(2008, 5, 16, 23, 30, tzinfo=dt.UTC),
            dt.datetime(2008, 5, 19, 0, 30, tzinfo=dt.UTC),  # late
        ]
    )
    firsts = []
    for n in range(36):
        day = next(days)
        msg = rows.message(
            "response",
            cycle=last.id if n >= 28 else old.id,
            day=day,
            sender=f"person{n}@example.org",
            ack=ACKS[n % len(ACKS)],
        )
        firsts.append(msg)
        kind = KINDS[n % len(KINDS)]
        rows.response(
            msg,
            source_kind=kind,
            filename=None if kind == "body" else f"form-{n}.{kind}",
            status="needs_review" if n % 4 == 1 else "filed",
            review_reasons=[f"Question {n % 8 + 1}: two boxes are marked (ask person{n}@example.org)"] * (n % 4 == 1),
            late=bool(day and day.date() > form.closes),
            name=f"Person {n}",
            email=f"person{n}@example.org",
            category=next(cats),
            confidential=n % 5 == 2,
            acknowledge=n % 3 != 0,
            contact_again=("yes", "no", None)[n % 3],
            answers={},
        ).answers = _answers(form, n)
        if n % 9 == 4:  # a second response in the same message, confidential when the first is not
            rows.response(
                msg,
                seq=1,
                source_kind="body",
                filename=None,
                category=next(cats),
                confidential=n % 5 != 2,
                acknowledge=True,
                answers={},
            ).answers = _answers(form, n + 1)
    confidential_only = next(m for i, m in enumerate(firsts) if i % 5 == 2 and i % 9 != 4)
    for n, (original, cycle) in enumerate([(firsts[0], old), (confidential_only, last), (firsts[4], last)]):
        rows.message(
            "duplicate",
            cycle=cycle.id,
            day=dt.datetime(2008, 4, 2, tzinfo=dt.UTC),
            duplicate_of=original.id,
            ack=ACKS[(n + 3) % len(ACKS)],
        )
    for n, disposition in enumerate(OTHER_DISPOSITIONS * 2):
        rows.message(disposition, cycle=(old, last)[n % 2].id, day=next(days), ack=ACKS[n % len(ACKS)])
    rows.message("failed", cycle=old.id, day=None, problems=["attachment is encrypted (from x@example.org)"])
    rows.message("failed", cycle=last.id, day=dt.datetime(2008, 5, 1, tzinfo=dt.UTC), problems=["no readable text"])
    waiting = rows.message("response", cycle=last.id, day=dt.datetime(2008, 5, 19, tzinfo=dt.UTC))
    waiting.disposition, waiting.state = None, MessageState.STORED
    session.commit()
