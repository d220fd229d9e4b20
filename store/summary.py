"""Figures for the staff report, computed from the export records so they always agree with it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from parsers.formdef import FormDefinition
from store.export import iter_messages, iter_responses
from store.models import Cycle

DISPOSITIONS = ("response", "duplicate", "auto_reply", "bounce", "junk", "correspondence", "failed")
ACK_STATUSES = ("sent", "pending", "failed", "suppressed")


@dataclass
class Summary:
    messages: int = 0
    dispositions: Counter = field(default_factory=Counter)
    responses: int = 0
    filed: int = 0
    needs_review: list[dict[str, Any]] = field(default_factory=list)
    late: int = 0
    acknowledgements: Counter = field(default_factory=Counter)
    failed_messages: list[dict[str, Any]] = field(default_factory=list)
    last_cycle: Cycle | None = None
    published: bool = False


def summarise(
    session: Session, form: FormDefinition, *, published: bool = False, include_personal: bool = False
) -> Summary:
    """The report's figures; `published` leaves out confidential responses and, unless `include_personal`,
    uses the published records (store/published.py), as the HTML report's published view does."""
    s = Summary(published=published)
    personal = include_personal or not published
    for m in iter_messages(session, exclude_confidential=published, personal=personal):
        s.messages += 1
        s.dispositions[m["disposition"] or "not yet filed"] += 1
        s.acknowledgements[m["acknowledgement"]["status"] or "none"] += 1
        if m["disposition"] == "failed":
            s.failed_messages.append(m)
    for r in iter_responses(session, form, exclude_confidential=published, personal=personal):
        s.responses += 1
        s.late += bool(r["late"])
        if r["status"] == "filed":
            s.filed += 1
        else:
            s.needs_review.append(r)
    s.last_cycle = session.exec(select(Cycle).order_by(col(Cycle.id).desc())).first()
    return s


def render_text(s: Summary) -> str:
    """The plain report: last cycle, totals, and what needs a person."""
    lines = ["Consultation intake report", ""]
    c = s.last_cycle
    if c is None:
        lines.append("No cycle has run yet.")
    else:
        lines.append(f"Last cycle #{c.id}: {c.status}, started {c.started_at:%Y-%m-%d %H:%M:%S} UTC")
        if c.error:
            lines.append(f"  problem: {c.error}")
        for key, value in (c.counts or {}).items():
            lines.append(f"  {key.replace('_', ' ')}: {value}")
    lines += ["", f"All time: {s.messages} messages taken in"]
    for d in DISPOSITIONS:
        lines.append(f"  {d.replace('_', ' '):16s} {s.dispositions.get(d, 0)}")
    lines += [
        f"Responses: {s.responses} ({s.filed} filed, {len(s.needs_review)} need review, {s.late} late)",
        "Acknowledgements: " + ", ".join(f"{a} {s.acknowledgements.get(a, 0)}" for a in ACK_STATUSES),
    ]
    if s.needs_review:
        lines += ["", "Needs a person:"]
        for r in s.needs_review:
            source = r["source"]["filename"] or r["source"]["kind"]
            lines.append(
                f"  {r['reference']}  {source}"
                if s.published
                else f"  {r['reference']}  {r['sender'] or '?'}  {source}"
            )
            lines.extend(f"      - {reason}" for reason in r["review_reasons"])
    if s.failed_messages:
        lines += ["", "Messages that could not be read:"]
        for m in s.failed_messages:
            who = "" if s.published else f"{m['message_id'] or '(no Message-ID)'}  {m['sender'] or '?'}: "
            lines.append(f"  {who}{'; '.join(m['problems'])}")
    return "\n".join(lines) + "\n"
