"""The staff report as one self-contained HTML page: intake, results in the DCSF layout, campaigns.

Every count is an SQL aggregate (store/figures.py) that agrees with the JSONL export, as
tests/test_figures.py proves figure by figure; the rows, percentages and bars are pure functions of
those counts. Only the lists that need a person (responses to review, messages that failed) are
export records, read with a WHERE for just those rows; the campaign search streams every
response's own words (store/campaigns.py), or, for the report the service e-mails, only those filed
since its last (store/campaign_cache.py). Charts are inline SVG whose geometry is computed here
and drawn by the template, so no respondent text is ever marked safe, and the page needs no
JavaScript. `published=True` gives the view fit to publish: confidential responses are left out of
every figure and list, and names and e-mail addresses out of every list; unless
`include_personal`, the records themselves are the published ones (store/published.py), so no
respondent's name, address or e-mail reaches the page at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from sqlmodel import Session, col, func, select

from parsers.formdef import FormDefinition
from store.campaign_cache import CampaignCache
from store.campaigns import Campaign, find_campaigns, opening_words, response_words
from store.export import iter_messages, iter_responses
from store.figures import (
    NOT_YET_FILED,
    AnswerCounts,
    answer_counts,
    campaign_records,
    headline_counts,
    message_counts,
    response_counts,
    responses_by,
    responses_per_day,
)
from store.models import Acknowledgement, AckStatus, Cycle, Response

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
DISPOSITIONS = ("response", "duplicate", "auto_reply", "bounce", "junk", "correspondence", "failed")
ACK_STATUSES = ("sent", "pending", "failed", "suppressed")
KIND_LABELS = {
    "docx": "Word document (.docx)",
    "doc": "Word 97-2003 document (.doc)",
    "odt": "OpenDocument text (.odt)",
    "rtf": "Rich text (.rtf)",
    "pdf": "PDF",
    "other": "Other attachment",
}
NOT_STATED = "Not stated"
BAR_MAX_PX = 300
Record = Mapping[str, Any]
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


# ---- intake ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntakeCounts:
    messages: int
    dispositions: dict[str, int]
    responses: int
    filed: int
    needs_review: int
    late: int
    acks: dict[str, int]


def count_intake(messages: Mapping[tuple[str, str], int], responses: Mapping[tuple[str, bool], int]) -> IntakeCounts:
    """The intake totals from messages by (disposition, acknowledgement status) and responses by (status,
    late), as store/figures.py counts them."""
    dispositions: Counter[str] = Counter()
    acks: Counter[str] = Counter()
    for (disposition, ack), n in messages.items():
        dispositions[disposition] += n
        acks[ack] += n
    return IntakeCounts(
        messages=sum(messages.values()),
        dispositions={d: dispositions.get(d, 0) for d in (*DISPOSITIONS, NOT_YET_FILED)},
        responses=sum(responses.values()),
        filed=sum(n for (status, _), n in responses.items() if status == "filed"),
        needs_review=sum(n for (status, _), n in responses.items() if status == "needs_review"),
        late=sum(n for (_, late), n in responses.items() if late),
        acks={a: acks.get(a, 0) for a in ACK_STATUSES},
    )


def intake_counts(session: Session, *, published: bool = False, cycle_id: int | None = None) -> IntakeCounts:
    """The intake totals, all time or of one cycle."""
    return count_intake(
        message_counts(session, published=published, cycle_id=cycle_id),
        response_counts(session, published=published, cycle_id=cycle_id),
    )


@dataclass(frozen=True)
class Health:
    healthy: bool
    reasons: tuple[str, ...]


def assess_health(cycle: Cycle | None, recent_ack_failures: int, now: dt.datetime, interval_seconds: float) -> Health:
    """Healthy: the last cycle completed, finished within twice the interval, and no ack failed in a day."""
    reasons: list[str] = []
    if cycle is None:
        reasons.append("no intake cycle has run yet")
    else:
        if cycle.status != "completed":
            reasons.append(
                f"the last cycle did not complete ({cycle.status}{': ' + cycle.error if cycle.error else ''})"
            )
        finished = _aware(cycle.finished_at)
        if finished is None:
            reasons.append("the last cycle has not finished")
        elif (now - finished).total_seconds() > 2 * interval_seconds:
            reasons.append(f"no cycle has finished since {finished:%Y-%m-%d %H:%M} UTC")
    if recent_ack_failures:
        reasons.append(f"{recent_ack_failures} acknowledgement(s) failed in the last 24 hours")
    return Health(not reasons, tuple(reasons))


def _aware(when: dt.datetime | None) -> dt.datetime | None:
    if when is not None and when.tzinfo is None:
        return when.replace(tzinfo=dt.UTC)
    return when


def redact(text: str | None) -> str:
    """Text with e-mail addresses replaced, for lists in the published view."""
    return _EMAIL.sub("[e-mail address]", text or "")


# ---- results -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One labelled count with its percentages and the bar length that draws it."""

    id: str | None
    label: str
    count: int
    pct: int  # of those answering (or of all, where there is no distinction)
    pct_all: int = 0
    bar: int = 0


@dataclass(frozen=True)
class QuestionFigures:
    id: str
    number: int
    text: str
    scale: bool
    answered: int  # "There were N responses to this question": those with a choice
    commented: int
    choices: tuple[Row, ...]
    by_category: tuple[tuple[str, tuple[int, ...], int], ...]  # (category label, count per choice, answered)


def percent(part: int, whole: int) -> int:
    """A whole-number percentage, halves rounded up as published tables do."""
    return int(100 * part / whole + 0.5) if whole else 0


def _rows(counts: Sequence[tuple[str | None, str, int]], answering: int, everyone: int) -> tuple[Row, ...]:
    top = max((c for _, _, c in counts), default=0)
    return tuple(
        Row(i, label, c, percent(c, answering), percent(c, everyone), round(BAR_MAX_PX * c / top) if top else 0)
        for i, label, c in counts
    )


def question_figures(counts: AnswerCounts, form: FormDefinition) -> list[QuestionFigures]:
    """Per question: how many chose each answer, of those answering and of all respondents."""
    cats = [(c.id, c.label) for c in form.categories] + [(None, NOT_STATED)]
    chosen: dict[str, Counter[str | None]] = {q.id: Counter() for q in form.questions}
    commented: Counter[str] = Counter()
    pairs: dict[str, Counter[tuple[str | None, str | None]]] = {q.id: Counter() for q in form.questions}
    for (qid, category, choice, wrote), n in counts.answers.items():
        if qid in chosen:
            chosen[qid][choice] += n
            commented[qid] += n if wrote else 0
            pairs[qid][category, choice] += n
    out = []
    for q in form.questions:
        answered = sum(n for choice, n in chosen[q.id].items() if choice is not None)
        rows = _rows([(c.id, c.label, chosen[q.id].get(c.id, 0)) for c in form.scale], answered, counts.respondents)
        out.append(
            QuestionFigures(
                id=q.id,
                number=q.number,
                text=q.text,
                scale=q.scale,
                answered=answered,
                commented=commented[q.id],
                choices=rows if q.scale else (),
                by_category=_by_category(pairs[q.id], cats, form) if q.scale else (),
            )
        )
    return out


def _by_category(
    pairs: Mapping[tuple[str | None, str | None], int], cats: list[tuple[str | None, str]], form: FormDefinition
) -> tuple[tuple[str, tuple[int, ...], int], ...]:
    table = []
    for cat_id, label in cats:
        counts = tuple(pairs.get((cat_id, c.id), 0) for c in form.scale)
        if sum(counts):
            table.append((label, counts, sum(counts)))
    return tuple(table)


def category_rows(counts: Mapping[str | None, int], form: FormDefinition) -> tuple[Row, ...]:
    """Respondents by capacity (responses by category): each category's count and share of all respondents."""
    everyone = sum(counts.values())
    labelled = [(c.id, c.label, counts.get(c.id, 0)) for c in form.categories]
    if counts.get(None):
        labelled.append((None, NOT_STATED, counts[None]))
    return _rows(labelled, everyone, everyone)


def channel_rows(counts: Mapping[str, int]) -> tuple[Row, ...]:
    """How responses arrived (responses by source kind): as an attachment of each kind, or in the e-mail body."""
    everyone = sum(counts.values())
    labelled = [(k, f"E-mail attachment: {label}", counts.get(k, 0)) for k, label in KIND_LABELS.items()]
    labelled.append(("body", "E-mail body", counts.get("body", 0)))
    return _rows([row for row in labelled if row[2]], everyone, everyone)


@dataclass(frozen=True)
class Headline:
    respondents: int
    confidential: int
    acknowledge_requested: int
    acknowledge_sent: int
    contact_yes: int
    contact_no: int


# ---- the daily chart ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    day: str
    count: int


@dataclass(frozen=True)
class DailyChart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    closing_x: float
    closing: str
    peak: int
    first: str
    last: str
    undated: int = 0


CHART_W, CHART_H, CHART_TOP, CHART_BOTTOM = 720, 200, 16, 24


def daily_chart(per_day: Mapping[dt.date | None, int], form: FormDefinition) -> DailyChart:
    """Responses received per day (None: undated), from the opening (or first response) to the closing (or
    last) date."""
    days = Counter(per_day)
    undated = days.pop(None, 0)
    first = min([form.opens, *days])
    last = max([form.closes, *days])
    step = CHART_W / ((last - first).days + 1)
    peak = max(days.values(), default=0)
    bars = tuple(_bar((day - first).days * step, step, count, peak, day) for day, count in sorted(days.items()))
    closing_x = round(((form.closes - first).days + 1) * step, 1)
    return DailyChart(
        CHART_W, CHART_H, bars, closing_x, form.closes.isoformat(), peak, first.isoformat(), last.isoformat(), undated
    )


def _bar(x: float, step: float, count: int, peak: int, day: dt.date) -> Bar:
    """One day's bar, scaled so the busiest day fills the plot's height."""
    plot_h = CHART_H - CHART_TOP - CHART_BOTTOM
    h = plot_h * count / peak if peak else 0
    return Bar(
        round(x, 1), round(CHART_TOP + plot_h - h, 1), round(max(step - 1, 1), 1), round(h, 1), day.isoformat(), count
    )


# ---- gathering from the database ---------------------------------------------------------------


@dataclass
class ReportData:
    """Everything the template shows, already filtered for the view asked for."""

    form: FormDefinition
    published: bool
    now: dt.datetime
    interval_seconds: float
    last_cycle: Cycle | None
    health: Health
    all_time: IntakeCounts
    last: IntakeCounts | None
    review: list[Record]
    failed: list[Record]
    headline: Headline
    channels: tuple[Row, ...]
    categories: tuple[Row, ...]
    questions: list[QuestionFigures]
    daily: DailyChart
    campaigns: list[Campaign]
    notes: list[str] = field(default_factory=list)


def gather(
    session: Session,
    form: FormDefinition,
    *,
    published: bool = False,
    include_personal: bool = False,
    now: dt.datetime | None = None,
    interval_seconds: float = 300,
    campaign_cache: CampaignCache | None = None,
) -> ReportData:
    """Every figure of the report, counted by the database, with the lists that need a person.

    The campaigns come from `campaign_cache` when given (the service's, kept between its reports:
    store/campaign_cache.py), else from a full search; the two give the same campaigns.
    """
    now = _aware(now) or dt.datetime.now(dt.UTC)
    personal = include_personal or not published
    view = {"exclude_confidential": published, "personal": personal}
    if campaign_cache is None:
        campaigns = find_campaigns(campaign_records(session, form, published=published, personal=personal))
    elif (campaign_cache.published, campaign_cache.personal) != (published, personal):
        raise ValueError("the campaign cache holds another view of the report")
    else:
        campaigns = campaign_cache.campaigns(session)
    last_cycle = session.exec(select(Cycle).order_by(col(Cycle.id).desc())).first()
    return ReportData(
        form=form,
        published=published,
        now=now,
        interval_seconds=interval_seconds,
        last_cycle=last_cycle,
        health=assess_health(last_cycle, _recent_ack_failures(session, now), now, interval_seconds),
        all_time=intake_counts(session, published=published),
        last=intake_counts(session, published=published, cycle_id=last_cycle.id) if last_cycle else None,
        review=list(iter_responses(session, form, status="needs_review", **view)),
        failed=list(iter_messages(session, disposition="failed", **view)),
        headline=Headline(**headline_counts(session, published=published)),
        channels=channel_rows(responses_by(session, Response.source_kind, published=published)),
        categories=category_rows(responses_by(session, Response.category, published=published), form),
        questions=question_figures(answer_counts(session, published=published), form),
        daily=daily_chart(responses_per_day(session, published=published), form),
        campaigns=campaigns,
    )


def _recent_ack_failures(session: Session, now: dt.datetime) -> int:
    """Acknowledgements that failed in the last day: counted by the cycles, or failed rows created then.

    The acknowledgements table has no failure time, so a row created within the day stands for one.
    """
    since = now - dt.timedelta(days=1)
    by_cycles = sum(
        int((c.counts or {}).get("acks_failed") or 0)
        for c in session.exec(select(Cycle).where(Cycle.started_at >= since)).all()
    )
    by_rows = session.exec(
        select(func.count()).where(
            col(Acknowledgement.status) == AckStatus.FAILED,
            col(Acknowledgement.created_at) >= since,
        )
    ).one()
    return max(by_cycles, by_rows)


# ---- rendering ---------------------------------------------------------------------------------


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["label"] = lambda key: str(key).replace("_", " ")
    env.filters["redact"] = redact
    env.filters["when"] = _when
    env.filters["opening"] = lambda record: opening_words(response_words(record), 12)
    return env


def _when(value: dt.datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    value = _aware(value)
    assert value is not None
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_report(
    session: Session,
    form: FormDefinition,
    *,
    published: bool = False,
    include_personal: bool = False,
    now: dt.datetime | None = None,
    interval_seconds: float = 300,
    campaign_cache: CampaignCache | None = None,
) -> str:
    """The report as one self-contained HTML page (inline CSS and SVG, no scripts)."""
    data = gather(
        session,
        form,
        published=published,
        include_personal=include_personal,
        now=now,
        interval_seconds=interval_seconds,
        campaign_cache=campaign_cache,
    )
    return environment().get_template("report.html.j2").render(d=data, kind_labels=KIND_LABELS)
