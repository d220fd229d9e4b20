"""The report's figures as SQL aggregates: counted by the database, never by loading rows.

Each function asks one GROUP BY (or COUNT ... FILTER) question and returns the counts, keyed by the
values the report tells apart; the pure functions of store/report_html.py turn them into rows,
percentages and bars. The database makes one pass over the table per figure and returns a result
the size of the form (dispositions, categories, questions x choices, days), not of the history.
They are SQLAlchemy expressions that compile alike for SQLite and PostgreSQL.

The figures agree with the JSONL export (store/export.py), which tests/test_figures.py proves for
every figure: `published=True` leaves out the confidential responses, and the messages that
brought only confidential responses (a duplicate: those of the message it repeats), as the
export's `exclude_confidential` does.

Answers are counted through `json_each`, which parses each row's answers once: the column is JSON
text (`json`, not `jsonb`, on PostgreSQL), and a JSON path per question and choice parses it again
for every path (10,000 responses on PostgreSQL: 5.4 s that way, 0.36 s with json_each).

The campaign search needs every response's own words, so `campaign_records` streams those columns
only (store/campaigns.py says what that costs).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from parsers.formdef import FormDefinition
from store.export import STREAM_ROWS, record_answers
from store.models import Acknowledgement, AckStatus, Message, Response
from store.published import published_words

NOT_YET_FILED = "not yet filed"
NO_ACKNOWLEDGEMENT = "none"


def _public(published: bool) -> list[sa.ColumnElement[bool]]:
    return [col(Response.confidential).is_(False)] if published else []


def _brought_only_confidential() -> sa.ColumnElement[bool]:
    """A message whose responses (a duplicate's: those of the message it repeats) are all confidential."""
    repeats = sa.and_(col(Message.disposition) == "duplicate", col(Message.duplicate_of).is_not(None))
    own = sa.case((repeats, col(Message.duplicate_of)), else_=col(Message.id))
    confidential = select(Response.message_pk).where(col(Response.confidential).is_(True))
    public = select(Response.message_pk).where(col(Response.confidential).is_(False))
    return sa.and_(own.in_(confidential), own.not_in(public))


def _tally(rows: Iterable[Any]) -> Counter:
    """A Counter from (key..., count) rows; keys of one value are not wrapped in a tuple."""
    out: Counter = Counter()
    for *key, n in rows:
        out[key[0] if len(key) == 1 else tuple(key)] += n
    return out


def message_counts(session: Session, *, published: bool = False, cycle_id: int | None = None) -> Counter:
    """Messages by (disposition, acknowledgement status): "not yet filed" and "none" for no value."""
    where = [sa.not_(_brought_only_confidential())] if published else []
    if cycle_id is not None:
        where.append(col(Message.cycle_id) == cycle_id)
    disposition = func.coalesce(func.nullif(Message.disposition, ""), NOT_YET_FILED)
    status = func.coalesce(func.nullif(Acknowledgement.status, ""), NO_ACKNOWLEDGEMENT)
    query = (
        select(disposition, status, func.count())
        .select_from(Message)
        .outerjoin(Acknowledgement, col(Acknowledgement.message_pk) == Message.id)
        .where(*where)
        .group_by(disposition, status)
    )
    return _tally(session.exec(query))


def response_counts(session: Session, *, published: bool = False, cycle_id: int | None = None) -> Counter:
    """Responses by (status, late); of a cycle: those its messages brought as responses (not repeats)."""
    query = select(Response.status, Response.late, func.count()).where(*_public(published))
    if cycle_id is not None:
        query = query.join(Message, col(Message.id) == Response.message_pk).where(
            col(Message.cycle_id) == cycle_id, col(Message.disposition) == "response"
        )
    return _tally(session.exec(query.group_by(Response.status, Response.late)))


def headline_counts(session: Session, *, published: bool = False) -> dict[str, int]:
    """The DCSF report's opening counts; "sent" is the acknowledgement of the message that brought it."""
    acknowledged = sa.and_(
        col(Response.acknowledge).is_(True),
        col(Message.disposition) == "response",
        col(Acknowledgement.status) == AckStatus.SENT,
    )
    counts = {
        "respondents": func.count(),
        "confidential": func.count().filter(col(Response.confidential).is_(True)),
        "acknowledge_requested": func.count().filter(col(Response.acknowledge).is_(True)),
        "acknowledge_sent": func.count().filter(acknowledged),
        "contact_yes": func.count().filter(col(Response.contact_again) == "yes"),
        "contact_no": func.count().filter(col(Response.contact_again) == "no"),
    }
    query = (
        select(*(c.label(name) for name, c in counts.items()))
        .select_from(Response)
        .join(Message, col(Message.id) == Response.message_pk)
        .outerjoin(Acknowledgement, col(Acknowledgement.message_pk) == Message.id)
        .where(*_public(published))
    )
    return dict(session.exec(query).one()._mapping)


def responses_by(session: Session, column: Any, *, published: bool = False) -> Counter:
    """Responses by the value of one of their columns (category, source_kind)."""
    return _tally(session.exec(select(column, func.count()).where(*_public(published)).group_by(column)))


def responses_per_day(session: Session, *, published: bool = False) -> Counter[dt.date | None]:
    """Responses by the UTC day their message was received (None: undated)."""
    day = _utc_day(session, col(Message.received_at))
    query = (
        select(day, func.count())
        .select_from(Response)
        .join(Message, col(Message.id) == Response.message_pk)
        .where(*_public(published))
        .group_by(day)
    )
    return _tally(session.exec(query))


def _utc_day(session: Session, when: sa.ColumnElement[dt.datetime]) -> sa.ColumnElement[dt.date]:
    """The UTC calendar day of a stored time. SQLite holds UTC text; PostgreSQL a timestamptz, whose date
    would otherwise follow the session's TimeZone."""
    if session.get_bind().dialect.name == "postgresql":
        when = func.timezone("UTC", when)
    return func.date(when, type_=sa.Date)


@dataclass(frozen=True)
class AnswerCounts:
    respondents: int
    # (question id, category, choice, commented) -> responses; a question missing from a response's
    # answers is not counted there (it has neither a choice nor a comment)
    answers: Counter


def answer_counts(session: Session, *, published: bool = False) -> AnswerCounts:
    """Per question: responses by category, choice and whether they wrote a comment."""
    each = func.json_each(Response.answers).table_valued("key", "value").alias("answer")
    value = sa.type_coerce(each.c.value, sa.JSON)
    choice = value["choice"].as_string()
    comment = value["comment"].as_string()
    commented = sa.and_(comment.is_not(None), comment != "")
    query = (
        select(each.c.key, Response.category, choice, commented, func.count())
        .select_from(Response)
        .join(each, sa.true())
        .where(*_public(published))
        .group_by(each.c.key, Response.category, choice, commented)
    )
    respondents = response_count(session, published=published)
    counted: Counter = Counter()
    for qid, category, chosen, wrote, n in session.exec(query):
        counted[qid, category, chosen, bool(wrote)] += n
    return AnswerCounts(respondents, counted)


def campaign_records(
    session: Session,
    form: FormDefinition,
    *,
    published: bool = False,
    personal: bool = True,
    after_id: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Each response's own words (comments and letter text) in arrival order, streamed, for the campaign
    search; `personal=False` redacts them as the published export does (store/published.py).

    Each record also holds its response's primary key (`response_pk`) and its place in arrival order
    (`position`: message_pk, seq). `after_id` streams only the responses with a higher primary key,
    in key order, read through the key's index (store/campaign_cache.py adds them to a kept index).
    """
    query = (
        select(
            Response.id,
            Response.message_pk,
            Response.seq,
            Response.reference,
            Response.answers,
            Response.text,
            Response.name,
            Response.organisation,
            Response.address,
            Response.email,
            Message.sender,
        )
        .join(Message, col(Message.id) == Response.message_pk)
        .where(*_public(published))
        .execution_options(yield_per=STREAM_ROWS)
    )
    if after_id is None:
        query = query.order_by(col(Response.message_pk), col(Response.seq))
    else:
        query = query.where(col(Response.id) > after_id).order_by(col(Response.id))
    for row in session.exec(query):
        pk, message_pk, seq, reference, answers, text, name, organisation, address, email, sender = row
        record = {
            "response_pk": pk,
            "position": (message_pk, seq),
            "reference": reference,
            "sender": sender,
            "respondent": {"name": name, "organisation": organisation, "address": address, "email": email},
            "answers": record_answers(answers, form),
            "text": text,
        }
        yield record if personal else published_words(record)


def response_count(session: Session, *, published: bool = False) -> int:
    """The responses in the view: the report's respondents, and the records `campaign_records` streams
    (every response has its message, so its join drops none)."""
    return session.exec(select(func.count()).select_from(Response).where(*_public(published))).one()
