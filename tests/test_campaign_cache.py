"""The service's campaign cache (store/campaign_cache.py) reads only the responses filed since its
last refresh, rebuilds when stored words may have changed, and always finds what a full search
over the database finds, on SQLite and PostgreSQL; the e-mailed report is the same with it."""

from __future__ import annotations

import datetime as dt
import logging
import mailbox
import random
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from builders.campaign_texts import campaign_texts, words
from builders.store_rows import NOW, populate
from intake_env import response_mail, write_local_config
from sqlalchemy import Engine
from sqlmodel import Session, func, select
from test_report import figures

import scheduler
from ingest.config import load_config
from ingest.cycle import CycleResult, run_cycle
from ingest.report_mail import send_report
from parsers.formdef import FormDefinition
from store.campaign_cache import CampaignCache, Refresh
from store.campaigns import Campaign, CampaignIndex, find_campaigns
from store.db import make_engine, upgrade
from store.erasure import erase, plan_for_person, plan_for_references
from store.figures import campaign_records
from store.models import AuditEntry, Message, MessageState, Response
from store.personal import Person
from store.report_html import gather, render_report
from store.review import apply_corrections

REBUILT_FOR_AUDIT = "corrections or erasures since the last refresh"
REBUILT_FOR_ORDER = "responses committed out of id order, or removed"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'intake.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def file(engine: Engine, texts: list[str], *, sender: str = "someone@example.org", **fields: object) -> list[str]:
    """One message per text, each holding one filed response with the text as its first comment."""
    references = []
    with Session(engine) as s:
        for text in texts:
            msg = Message(
                source_key=f"maildir:cur/{random.random()}",
                content_hash="0" * 64,
                raw=b"stored",
                sender=sender,
                state=MessageState.DONE,
                disposition="response",
            )
            s.add(msg)
            s.flush()
            references.append(response(s, msg.id or 0, text, **fields))
        s.commit()
    return references


def response(s: Session, message_pk: int, text: str, *, seq: int = 0, **fields: object) -> str:
    """One response row, its reference made from its id as filing makes it."""
    resp = Response(
        message_pk=message_pk,
        seq=seq,
        source_kind="body",
        answers={"q1": {"choice": None, "comment": text}},
        fingerprint=f"{message_pk}-{seq}",
        **fields,
    )
    s.add(resp)
    s.flush()
    resp.reference = f"CT08-{resp.id:06d}"
    s.add(resp)
    return resp.reference


def full_search(engine: Engine, form: FormDefinition, *, published: bool = False, personal: bool = True) -> list:
    with Session(engine) as s:
        return find_campaigns(campaign_records(s, form, published=published, personal=personal))


def refreshed(engine: Engine, cache: CampaignCache) -> list[Campaign]:
    with Session(engine) as s:
        return cache.campaigns(s)


def test_the_first_call_builds_and_later_ones_read_only_the_new_responses(
    engine: Engine, form: FormDefinition, caplog: pytest.LogCaptureFixture
) -> None:
    rng = random.Random(1)
    file(engine, campaign_texts(rng, 40))
    cache = CampaignCache(form)
    caplog.set_level(logging.INFO, logger="store.campaign_cache")
    assert refreshed(engine, cache) == full_search(engine, form) != []
    assert cache.last == Refresh(40, "first build")
    for batch in (7, 1, 12):
        file(engine, campaign_texts(rng, batch))
        assert refreshed(engine, cache) == full_search(engine, form)
        assert cache.last == Refresh(batch, None)
    assert refreshed(engine, cache) == full_search(engine, form)
    assert cache.last == Refresh(0, None)
    assert [r.getMessage() for r in caplog.records] == [
        "campaign search: rebuilt from 40 response(s) (first build)",
        "campaign search: added 7 new response(s)",
        "campaign search: added 1 new response(s)",
        "campaign search: added 12 new response(s)",
        "campaign search: added 0 new response(s)",
    ]


def test_a_refresh_that_fails_half_way_is_done_again_in_full(
    engine: Engine, form: FormDefinition, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(12)
    file(engine, campaign_texts(rng, 20))
    cache = CampaignCache(form)
    refreshed(engine, cache)
    file(engine, campaign_texts(rng, 6))
    added: list[object] = []

    def add_then_fail(index: CampaignIndex, *args: object) -> None:
        if added:
            raise RuntimeError("the database went away")
        added.append(args)
        real_add(index, *args)

    real_add = CampaignIndex.add
    monkeypatch.setattr(CampaignIndex, "add", add_then_fail)
    with pytest.raises(RuntimeError):
        refreshed(engine, cache)
    monkeypatch.undo()
    assert refreshed(engine, cache) == full_search(engine, form)
    assert cache.last == Refresh(26, "the last refresh did not finish")


def test_a_correction_through_review_rebuilds(engine: Engine, form: FormDefinition) -> None:
    rng = random.Random(2)
    campaign = words(rng, 70)
    references = file(engine, [campaign, campaign + " signed", words(rng, 60), words(rng, 60)])
    cache = CampaignCache(form)
    assert [c.size for c in refreshed(engine, cache)] == [2]
    with Session(engine) as s:
        apply_corrections(s, form, references[3], [f"q1.comment={campaign} too"], who="reviewer")
    file(engine, [words(rng, 50)])
    assert [c.size for c in refreshed(engine, cache)] == [3]
    assert cache.last == Refresh(5, REBUILT_FOR_AUDIT)
    assert refreshed(engine, cache) == full_search(engine, form)


def test_a_response_marked_confidential_leaves_the_published_view(engine: Engine, form: FormDefinition) -> None:
    campaign = words(random.Random(3), 70)
    references = file(engine, [campaign] * 3)
    cache = CampaignCache(form, published=True, personal=False)
    assert [c.size for c in refreshed(engine, cache)] == [3]
    with Session(engine) as s:
        apply_corrections(s, form, references[0], ["confidential=true"], who="reviewer")
    assert [c.references for c in refreshed(engine, cache)] == [tuple(references[1:])]
    assert cache.last == Refresh(2, REBUILT_FOR_AUDIT)
    assert refreshed(engine, cache) == full_search(engine, form, published=True, personal=False)


def test_an_erasure_rebuilds(engine: Engine, form: FormDefinition) -> None:
    rng = random.Random(4)
    campaign = words(rng, 70)
    file(engine, [campaign, campaign])
    (signed,) = file(engine, [campaign + " Yours, Jane Smith"], name="Jane Smith", email="jane@example.org")
    cache = CampaignCache(form)
    (before,) = refreshed(engine, cache)
    with Session(engine) as s:
        erase(s, plan_for_references(s, [signed]), who="dpo", redact_text=True)
    after = refreshed(engine, cache)
    assert cache.last == Refresh(3, REBUILT_FOR_AUDIT)
    assert after == full_search(engine, form) and after[0].size == 3
    assert (before.opening, after[0].opening) == (before.opening, before.opening)  # the first copy's words stay


def test_an_erasure_that_writes_no_audit_row_rebuilds_the_view_without_personal_data(
    engine: Engine, form: FormDefinition
) -> None:
    # Pat sent a response on someone else's behalf: an erasure of Pat erases the message (its
    # sender, which the published redaction uses) but names no response, so no audit row is written.
    rng = random.Random(5)
    campaign = words(rng, 70)
    file(engine, [campaign, campaign])
    file(engine, [campaign + " from pat@example.org"], sender="pat@example.org", email="lee@example.org")
    published = CampaignCache(form, published=True, personal=False)
    staff = CampaignCache(form)
    refreshed(engine, published), refreshed(engine, staff)
    with Session(engine) as s:
        audit_rows = s.exec(select(func.count()).select_from(AuditEntry)).one()
        plan = plan_for_person(s, Person("pat@example.org"))
        assert plan.responses == [] and len(plan.messages) == 1
        erase(s, plan, who="dpo", redact_text=True)
        assert s.exec(select(func.count()).select_from(AuditEntry)).one() == audit_rows
    assert refreshed(engine, published) == full_search(engine, form, published=True, personal=False)
    assert published.last == Refresh(3, "messages erased since the last refresh")
    assert refreshed(engine, staff) == full_search(engine, form)
    assert staff.last == Refresh(0, None)  # the staff view never reads the sender


def test_a_response_committed_below_the_highest_id_already_read_rebuilds(engine: Engine, form: FormDefinition) -> None:
    # Another worker took a lower id and committed later: reading above the highest id misses it,
    # and the count of responses tells.
    rng = random.Random(6)
    campaign = words(rng, 70)
    file(engine, [campaign, words(rng, 60), campaign])
    cache = CampaignCache(form)
    refreshed(engine, cache)
    file(engine, [campaign], id=50)
    assert refreshed(engine, cache) == full_search(engine, form)
    assert cache.last == Refresh(1, None)
    file(engine, [campaign], id=20)
    assert refreshed(engine, cache) == full_search(engine, form)
    assert cache.last == Refresh(5, REBUILT_FOR_ORDER)
    assert [c.size for c in refreshed(engine, cache)] == [4] and cache.last == Refresh(0, None)


def test_two_transactions_committing_out_of_id_order(pg_url: str, form: FormDefinition) -> None:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    campaign = words(random.Random(7), 70)
    file(engine, [campaign])
    cache = CampaignCache(form)
    refreshed(engine, cache)
    with Session(engine) as slow:
        (msg_pk,) = slow.exec(select(Message.id)).all()
        response(slow, msg_pk or 0, campaign, seq=1)  # takes the next id, not yet committed
        file(engine, [campaign])  # takes a higher one and commits first
        assert refreshed(engine, cache) == full_search(engine, form) and cache.last == Refresh(1, None)
        slow.commit()
    assert refreshed(engine, cache) == full_search(engine, form)
    assert cache.last == Refresh(3, REBUILT_FOR_ORDER)
    engine.dispose()


def test_a_refiled_message_is_added_in_its_place_without_a_rebuild(engine: Engine, form: FormDefinition) -> None:
    # A message failed when it came and was filed again later: its response has the highest id but
    # comes first in arrival order, so it leads the campaign, as in a full search.
    campaign = words(random.Random(8), 70)
    with Session(engine) as s:
        old = Message(source_key="maildir:cur/old", content_hash="0" * 64, raw=b"x", state=MessageState.DONE)
        s.add(old)
        s.commit()
        old_pk = old.id or 0
    file(engine, [campaign.upper(), campaign])
    cache = CampaignCache(form)
    refreshed(engine, cache)
    with Session(engine) as s:
        refiled = response(s, old_pk, campaign + " again")
        s.commit()
    (found,) = refreshed(engine, cache)
    assert cache.last == Refresh(1, None)
    assert found.references[0] == refiled and found.opening.startswith(campaign.split()[0] + " ")
    assert [found] == full_search(engine, form)


class Captured:
    """A delivery that keeps what it was given to send."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, raw: bytes, envelope_from: str, to: list[str]) -> None:
        self.sent.append(raw)

    def abort(self) -> None:
        pass


def mailed_report(engine: Engine, form: FormDefinition, cache: CampaignCache | None) -> tuple[str, str]:
    delivery = Captured()
    sent = send_report(
        engine,
        delivery,
        form=form,
        from_address="intake@dcsf.example",
        to=["staff@dcsf.example"],
        interval_seconds=300,
        campaign_cache=cache,
        now=NOW,
    )
    assert sent
    msg = message_from_bytes(delivery.sent[0], policy=policy.default)
    (html,) = [part.get_content() for part in msg.iter_attachments()]
    return msg.get_body(("plain",)).get_content(), html


def test_the_e_mailed_report_is_the_same_with_the_cache(engine: Engine, form: FormDefinition) -> None:
    with Session(engine) as s:
        populate(s)
        s.commit()
        stored = s.exec(select(func.count()).select_from(Response)).one()
    cache = CampaignCache(form)
    rng = random.Random(9)
    batches = [([], Refresh(stored, "first build")), (campaign_texts(rng, 30), Refresh(30, None))]
    for texts, refresh in [*batches, (campaign_texts(rng, 5), Refresh(5, None))]:
        file(engine, texts)
        assert mailed_report(engine, form, cache) == mailed_report(engine, form, None)
        assert cache.last == refresh
    with Session(engine) as s:
        assert render_report(s, form, now=NOW, campaign_cache=cache) == render_report(s, form, now=NOW)


def test_a_cache_of_another_view_is_refused(engine: Engine, form: FormDefinition) -> None:
    with Session(engine) as s, pytest.raises(ValueError, match="another view"):
        gather(s, form, published=True, campaign_cache=CampaignCache(form))


def test_a_cycle_that_mails_the_report_adds_the_new_responses_to_the_cache(tmp_path: Path) -> None:
    config_path = write_local_config(tmp_path, extra='[report]\nemail_to = ["staff@dcsf.example"]\n')
    config = load_config(config_path)
    upgrade(config.database_url)
    engine = make_engine(config.database_url)
    campaign = "Comment: " + words(random.Random(10), 60)
    body = "Question 1: Agree\n" + campaign + "\n\nQuestion 2: Disagree\n"
    box = mailbox.Maildir(tmp_path / "mail")
    cache = CampaignCache(config.form)
    for n, sender in enumerate(["one@example.org", "two@example.org", "three@example.org"]):
        box.add(response_mail(sender=sender, body=body))
        result = run_cycle(config, engine, campaign_cache=cache)
        assert result.completed, result.errors
        assert cache.last == (Refresh(1, "first build") if n == 0 else Refresh(1, None))
    reports = sorted((tmp_path / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime)
    mailed = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in reports]
    html = [next(m.iter_attachments()).get_content() for m in mailed if m["To"] == "staff@dcsf.example"]
    assert figures(html[-1])["campaign.size"] == "3"
    engine.dispose()


def test_the_serve_loop_keeps_one_campaign_cache_across_cycles(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    config = load_config(write_local_config(tmp_path, extra="[schedule]\ninterval_seconds = 5\npush = false\n"))
    upgrade(config.database_url)
    engine = make_engine(config.database_url)
    stop, given = threading.Event(), []

    def cycle(config, engine, *, campaign_cache=None, **_kw) -> CycleResult:  # type: ignore[no-untyped-def]
        given.append(campaign_cache)
        if len(given) == 2:
            stop.set()
        return CycleResult(cycle_id=len(given))

    monkeypatch.setattr(scheduler, "run_cycle", cycle)
    started = dt.datetime.now()
    assert scheduler.serve_until(stop, config, engine) == 0
    assert (dt.datetime.now() - started).total_seconds() < 30
    assert len(given) == 2 and isinstance(given[0], CampaignCache) and given[0] is given[1]
    engine.dispose()
