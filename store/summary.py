"""The plain-text staff report: the intake totals as SQL aggregates (store/figures.py, the same as
the HTML report's, agreeing with the export), and the export records of what needs a person."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from parsers.formdef import FormDefinition
from store.export import iter_messages, iter_responses
from store.models import Cycle
from store.report_html import ACK_STATUSES, DISPOSITIONS, intake_counts


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
    view = {"exclude_confidential": published, "personal": include_personal or not published}
    counts = intake_counts(session, published=published)
    return Summary(
        messages=counts.messages,
        dispositions=Counter(counts.dispositions),
        responses=counts.responses,
        filed=counts.filed,
        needs_review=list(iter_responses(session, form, status="needs_review", **view)),
        late=counts.late,
        acknowledgements=Counter(counts.acks),
        failed_messages=list(iter_messages(session, disposition="failed", **view)),
        last_cycle=session.exec(select(Cycle).order_by(col(Cycle.id).desc())).first(),
        published=published,
    )


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
