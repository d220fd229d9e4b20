"""Every figure of the reports, counted by the database (store/figures.py), equals the same figure
counted here from the JSONL export records, on SQLite and PostgreSQL, staff and published views.

The database (tests/builders/report_rows.py) holds every case a figure tells apart. On PostgreSQL
the session runs in a time zone fourteen hours ahead of UTC, so a day counted in the session's
zone rather than UTC would show.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from builders.report_rows import populate_varied
from builders.store_rows import NOW, populate
from sqlmodel import Session, col, select

from parsers.formdef import FormDefinition
from store.campaigns import find_campaigns
from store.db import make_engine, upgrade
from store.export import iter_messages, iter_responses
from store.figures import message_counts
from store.models import Cycle, Message
from store.report_html import ACK_STATUSES, DISPOSITIONS, IntakeCounts, gather, render_report
from store.summary import render_text, summarise

VIEWS = {
    "staff": {},
    "published": {"published": True},
    "published-personal": {"published": True, "include_personal": True},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intake.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(params=["varied", "store_rows"])
def filled(request, database_url: str, form: FormDefinition) -> Iterator[Session]:
    upgrade(database_url)
    engine = make_engine(database_url)
    with Session(engine) as s:
        populate_varied(s, form) if request.param == "varied" else populate(s)
    with Session(engine) as s:
        if engine.dialect.name == "postgresql":
            s.connection().exec_driver_sql("SET TIME ZONE 'Pacific/Kiritimati'")
        yield s
    engine.dispose()


# ---- the figures, counted from the export records ----------------------------------------------


def intake(messages: list[dict], responses: list[dict]) -> IntakeCounts:
    dispositions = Counter(m["disposition"] or "not yet filed" for m in messages)
    acks = Counter(m["acknowledgement"]["status"] for m in messages)
    statuses = Counter(r["status"] for r in responses)
    return IntakeCounts(
        messages=len(messages),
        dispositions={d: dispositions[d] for d in (*DISPOSITIONS, "not yet filed")},
        responses=len(responses),
        filed=statuses["filed"],
        needs_review=statuses["needs_review"],
        late=sum(bool(r["late"]) for r in responses),
        acks={a: acks[a] for a in ACK_STATUSES},
    )


def brought(messages: list[dict], responses: list[dict]) -> list[dict]:
    """The responses these messages brought (not those they repeat)."""
    refs = {ref for m in messages if m["disposition"] == "response" for ref in m["references"]}
    return [r for r in responses if r["reference"] in refs]


def question_counts(responses: list[dict], form: FormDefinition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for q in form.questions:
        choices = [r["answers"][q.id]["choice"] for r in responses]
        pairs = Counter((r["respondent"]["category"], r["answers"][q.id]["choice"]) for r in responses)
        by_category = {}
        for cat in [c.id for c in form.categories] + [None]:
            row = tuple(pairs[cat, c.id] for c in form.scale)
            if sum(row):
                by_category[cat] = row
        out[q.id] = {
            "answered": sum(c is not None for c in choices),
            "commented": sum(bool(r["answers"][q.id]["comment"]) for r in responses),
            "choices": {c.id: choices.count(c.id) for c in form.scale} if q.scale else {},
            "by_category": by_category if q.scale else {},
        }
    return out


def shown_question_counts(data: Any, form: FormDefinition) -> dict[str, Any]:
    label_of = {c.label: c.id for c in form.categories} | {"Not stated": None}
    return {
        q.id: {
            "answered": q.answered,
            "commented": q.commented,
            "choices": {row.id: row.count for row in q.choices},
            "by_category": {label_of[label]: counts for label, counts, _ in q.by_category},
        }
        for q in data.questions
    }


def utc_day(received_at: str | None) -> str | None:
    return received_at and dt.datetime.fromisoformat(received_at).astimezone(dt.UTC).date().isoformat()


# ---- the tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
def test_every_figure_equals_the_one_counted_from_the_export(filled: Session, form: FormDefinition, view: str) -> None:
    published = VIEWS[view].get("published", False)
    personal = VIEWS[view].get("include_personal", False) or not published
    messages = list(iter_messages(filled, exclude_confidential=published, personal=personal))
    responses = list(iter_responses(filled, form, exclude_confidential=published, personal=personal))
    data = gather(filled, form, now=NOW, **VIEWS[view])

    assert data.all_time == intake(messages, responses)
    last = filled.exec(select(Cycle).order_by(col(Cycle.id).desc())).first() or Cycle(id=0)
    cycle_of = dict(filled.exec(select(Message.message_id, Message.cycle_id)).all())
    # the same messages in the same order, with the Message-ID the published records leave out
    cycles = [cycle_of[m["message_id"]] for m in iter_messages(filled, exclude_confidential=published)]
    mine = [m for m, cycle in zip(messages, cycles, strict=True) if cycle == last.id]
    assert data.last == intake(mine, brought(mine, responses))
    no_ack = sum(n for (_, ack), n in message_counts(filled, published=published).items() if ack == "none")
    assert no_ack == sum(m["acknowledgement"]["status"] is None for m in messages)

    ack_of = {
        ref: m["acknowledgement"]["status"]
        for m in messages
        if m["disposition"] == "response"
        for ref in m["references"]
    }
    h = data.headline
    assert (h.respondents, h.confidential) == (len(responses), sum(r["confidential"] for r in responses))
    assert h.acknowledge_requested == sum(r["acknowledge"] for r in responses)
    assert h.acknowledge_sent == sum(r["acknowledge"] and ack_of.get(r["reference"]) == "sent" for r in responses)
    assert (h.contact_yes, h.contact_no) == tuple(
        sum(r["contact_again"] == a for r in responses) for a in ("yes", "no")
    )

    assert {row.id: row.count for row in data.channels} == Counter(r["source"]["kind"] for r in responses)
    assert {row.id: row.count for row in data.categories if row.count or row.id is None} == Counter(
        r["respondent"]["category"] for r in responses
    )
    assert shown_question_counts(data, form) == question_counts(responses, form)
    days = Counter(utc_day(r["received_at"]) for r in responses)
    assert data.daily.undated == days.pop(None, 0)
    assert {bar.day: bar.count for bar in data.daily.bars} == days

    assert data.review == [r for r in responses if r["status"] == "needs_review"]
    assert data.failed == [m for m in messages if m["disposition"] == "failed"]
    assert data.campaigns == find_campaigns(responses)

    text = summarise(filled, form, **VIEWS[view])
    assert (text.messages, text.responses, text.filed, text.late) == (
        len(messages),
        len(responses),
        data.all_time.filed,
        data.all_time.late,
    )
    assert {d: text.dispositions[d] for d in DISPOSITIONS} == {d: data.all_time.dispositions[d] for d in DISPOSITIONS}
    assert {a: text.acknowledgements[a] for a in ACK_STATUSES} == data.all_time.acks
    assert (text.needs_review, text.failed_messages) == (data.review, data.failed)


@pytest.mark.parametrize("filled", ["varied"], indirect=True)
def test_the_varied_database_has_every_case(filled: Session, form: FormDefinition) -> None:
    """The builder really holds what the figures tell apart (so the test above tests something)."""
    messages = list(iter_messages(filled))
    responses = list(iter_responses(filled, form))
    assert {m["disposition"] for m in messages} == {*DISPOSITIONS, None}
    assert {m["acknowledgement"]["status"] for m in messages} == {*ACK_STATUSES, None}
    assert {r["respondent"]["category"] for r in responses} == {*(c.id for c in form.categories), None}
    assert {r["source"]["kind"] for r in responses} == {"docx", "doc", "odt", "rtf", "pdf", "other", "body"}
    answers = [a for r in responses for a in r["answers"].values()]
    assert {a["choice"] for a in answers} == {None, *(c.id for c in form.scale)}
    assert {bool(a["comment"]) for a in answers} == {True, False}
    assert {r["confidential"] for r in responses} == {r["late"] for r in responses} == {True, False}
    assert {r["status"] for r in responses} == {"filed", "needs_review"}
    assert any(r["received_at"] is None for r in responses)
    mixed = [m for m in messages if len(m["references"]) == 2]
    confidential = {r["reference"] for r in responses if r["confidential"]}
    assert any(len(set(m["references"]) & confidential) == 1 for m in mixed)
    assert len(list(iter_messages(filled, exclude_confidential=True))) < len(messages)


def test_a_failed_acknowledgement_of_the_last_day_is_counted(filled: Session, form: FormDefinition) -> None:
    failed = sum(m["acknowledgement"]["status"] == "failed" for m in iter_messages(filled))
    soon = gather(filled, form, now=dt.datetime(2008, 5, 1, 12, tzinfo=dt.UTC))  # the builder's acks: 1 May 00:00
    assert f"{failed} acknowledgement(s) failed in the last 24 hours" in soon.health.reasons
    later = gather(filled, form, now=dt.datetime(2008, 5, 2, 1, tzinfo=dt.UTC))
    assert not any("acknowledgement(s) failed" in reason for reason in later.health.reasons)


def test_the_reports_read_whole_rows_only_of_what_needs_a_person(
    filled: Session, form: FormDefinition, statements: list[str]
) -> None:
    render_report(filled, form, now=NOW)
    render_text(summarise(filled, form))
    assert statements
    for statement in statements:
        columns = statement.split(" FROM ", 1)[0]
        assert not re.search(r"\b(messages|acknowledgements)\.raw\b", columns), statement
        if "responses.fingerprint" in columns:  # whole response rows (with their message's): only those to review
            assert "WHERE responses.status = " in statement, statement
        elif "messages.source_key" in columns:  # whole message rows: only those that failed
            assert "WHERE messages.disposition = " in statement, statement
