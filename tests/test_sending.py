"""The send step's bookkeeping (ingest/sending.py): claims taken in batches and always given back.

Claims are taken a batch at a time to spare a commit per acknowledgement; these tests pin what
that must not change: each acknowledgement sent once, in order, a claim never left behind when the
server goes down or the cycle stops, and each copy in the Sent folder made once.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from builders.mail import build_message
from servers import DovecotServer
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from test_sources import imap_source

from ingest import sending
from ingest.delivery import OutboxDelivery
from ingest.errors import TransientError
from ingest.sending import CLAIM_BATCH, copy_to_sent, send_pending
from ingest.sources import ImapSource, MaildirSource
from store.db import make_engine, upgrade
from store.models import Acknowledgement, AckStatus, Message

COUNT = 2 * CLAIM_BATCH + 5  # more than two batches


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        for i in range(COUNT):
            message = Message(source_key=f"k{i}", content_hash=f"h{i}", raw=b"x", size=1)
            session.add(message)
            session.flush()
            ack = build_message(sender="Consultation <ack@example.org>", message_id=f"<ack-{i}@example.org>")
            session.add(
                Acknowledgement(
                    message_pk=message.id or 0, to_address=f"person{i}@example.org", raw=ack,
                    rfc_message_id=f"<ack-{i}@example.org>",
                )
            )  # fmt: skip
        session.commit()
    return engine


class Recording(OutboxDelivery):
    """The outbox, remembering the order of recipients; down from the `down_at`-th send on."""

    def __init__(self, path: Path, down_at: int | None = None) -> None:
        super().__init__(path)
        self.to: list[str] = []
        self.down_at = down_at

    def send(self, raw: bytes, envelope_from: str, to: list[str]) -> None:
        if self.down_at is not None and len(self.to) + 1 >= self.down_at:
            raise TransientError("connection refused")
        super().send(raw, envelope_from, to)
        self.to.extend(to)


def _acks(engine: Engine) -> list[Acknowledgement]:
    with Session(engine) as session:
        return list(session.exec(select(Acknowledgement).order_by(col(Acknowledgement.id))).all())


def _send(engine: Engine, delivery: Recording, **kw: object):  # type: ignore[no-untyped-def]
    return send_pending(engine, delivery, envelope_from="ack@example.org", max_attempts=5, **kw)  # type: ignore[arg-type]


def test_every_acknowledgement_is_sent_once_in_order_and_no_claim_is_left(engine: Engine, tmp_path: Path):
    delivery = Recording(tmp_path / "outbox")
    counts = _send(engine, delivery)
    assert counts.sent == COUNT
    assert delivery.to == [f"person{i}@example.org" for i in range(COUNT)]
    assert all(a.status == AckStatus.SENT and a.claimed_by is None for a in _acks(engine))
    assert _send(engine, delivery).sent == 0, "nothing is sent twice"


def test_a_server_that_goes_down_mid_batch_leaves_the_rest_unclaimed_for_the_next_send(engine: Engine, tmp_path: Path):
    delivery = Recording(tmp_path / "outbox", down_at=3)
    counts = _send(engine, delivery)
    assert (counts.sent, counts.deferred) == (2, 1)
    acks = _acks(engine)
    assert [a.status for a in acks[:2]] == [AckStatus.SENT] * 2
    assert all(a.status == AckStatus.PENDING and a.claimed_by is None for a in acks[2:])
    delivery.down_at = None
    assert _send(engine, delivery).sent == COUNT - 3, "all but the one waiting out its backoff"


def test_a_stop_mid_batch_gives_the_claims_back(engine: Engine, tmp_path: Path):
    delivery = Recording(tmp_path / "outbox")
    counts = _send(engine, delivery, stop_requested=lambda: len(delivery.to) >= 5)
    assert counts.sent == 5
    assert all(a.claimed_by is None for a in _acks(engine))
    assert _send(engine, delivery).sent == COUNT - 5


def test_each_sent_acknowledgement_is_copied_to_sent_once(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _send(engine, Recording(tmp_path / "outbox"))
    source = MaildirSource(tmp_path / "mail")
    listed: list[str] = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(str(path)) or real_scandir(path))
    assert copy_to_sent(engine, source, "Sent") == COUNT
    assert len([p for p in listed if ".Sent" in p]) <= 2, "the Sent folder is listed once, not once a copy"
    monkeypatch.undo()
    assert all(a.copied_to_sent for a in _acks(engine))
    copies = [p for sub in ("new", "cur") for p in (tmp_path / "mail" / ".Sent" / sub).glob("*")]
    assert len(copies) == COUNT
    assert copy_to_sent(engine, source, "Sent") == 0


class CountingSearches(ImapSource):
    """The real IMAP source, counting the folder searches `append_once` makes."""

    searches = 0

    def _guarded(self, doing, operation):  # type: ignore[no-untyped-def]
        def counted(client):  # type: ignore[no-untyped-def]
            real_search = client.search

            def search(*args, **kwargs):  # type: ignore[no-untyped-def]
                CountingSearches.searches += 1
                return real_search(*args, **kwargs)

            client.search = search
            try:
                return operation(client)
            finally:
                client.search = real_search

        return super()._guarded(doing, counted)


def test_copies_of_acknowledgements_sent_here_are_made_without_searching_the_sent_folder(
    engine: Engine, tmp_path: Path, clean_dovecot: DovecotServer, monkeypatch: pytest.MonkeyPatch
):
    """A search of the Sent folder reads every message in it (its cost grows with the folder), so it
    is made only for a copy that may exist: one an earlier process may have made and not recorded."""
    monkeypatch.setattr(sending, "_COPY_UNTRIED", set())
    CountingSearches.searches = 0
    with imap_source(clean_dovecot, CountingSearches) as source:
        _send(engine, Recording(tmp_path / "outbox"), sent_copy=(source, "Sent"))
        assert CountingSearches.searches == 0
        assert len(clean_dovecot.list_folder("Sent")) == COUNT
        assert all(a.copied_to_sent for a in _acks(engine))
        # A process killed after two copies were made and before they were recorded: the next
        # process (which sent none of them) searches for those, and makes no second copy.
        with Session(engine) as session:
            session.exec(update(Acknowledgement).where(col(Acknowledgement.id) <= 2).values(copied_to_sent=False))
            session.commit()
        monkeypatch.setattr(sending, "_COPY_UNTRIED", set())
        assert copy_to_sent(engine, source, "Sent") == 2
    assert CountingSearches.searches == 2
    assert len(clean_dovecot.list_folder("Sent")) == COUNT
