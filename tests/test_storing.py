"""The store step (ingest/storing.py): each message committed on its own before the next is fetched.

The step keeps one connection for its lookups and inserts (a checkout each cost a round trip);
these pin what must not change with it: every message is committed, visible to another
connection, before the step goes on, and a message stored before is found again.
"""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest
from builders.mail import build_message
from sqlalchemy import func
from sqlmodel import Session, select

from ingest.sources import MaildirSource
from ingest.storing import store_new
from store.db import make_engine, upgrade
from store.models import Message


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intake.db'}"
    return request.getfixturevalue("pg_url")


def test_each_message_is_committed_before_the_step_goes_on_and_found_again_next_time(tmp_path: Path, url: str):
    upgrade(url)
    engine, onlooker = make_engine(url), make_engine(url)
    box = mailbox.Maildir(str(tmp_path / "mail"))
    for i in range(5):
        box.add(build_message(body=f"Answer {i}", message_id=f"<m{i}@example.org>"))
    seen: list[int] = []

    def committed(count: int) -> None:
        with Session(onlooker) as session:  # another connection sees only what was committed
            seen.append(session.exec(select(func.count()).select_from(Message)).one())
        assert seen[-1] == count

    source = MaildirSource(tmp_path / "mail")
    counts = store_new(source, engine, cycle_id=None, batch_size=2, max_message_bytes=10**7, progress=committed)
    assert (counts.stored, seen) == (5, [1, 2, 3, 4, 5])
    box.add(build_message(body="Answer 5", message_id="<m5@example.org>"))
    again = store_new(MaildirSource(tmp_path / "mail"), engine, cycle_id=None, batch_size=2, max_message_bytes=10**7)
    assert again.stored == 1, "only the new message"
    engine.dispose()
    onlooker.dispose()
