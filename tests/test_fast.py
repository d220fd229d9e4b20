"""Issue 9: reading on every core, LibreOffice batched, and no query that grows with stored history.

Speed itself is measured by bench/, never here; these tests pin what makes it possible: which
queries run (no per-message or report query reads the stored raw messages), that read-ahead
files every message once and in arrival order, and that a batch conversion that fails costs each
file only a conversion of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import olefile
import pytest
from builders.batches import mixed_batch
from builders.docx_forms import build_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message
from builders.pdf_forms import build_looping_pdf
from intake_env import BODY_RESPONSE, Instance, export, response_mail, run_intake
from sqlmodel import Session

from ingest import failpoints, readahead
from ingest.readahead import ReadAhead, _BatchConverter, may_need_converting
from parsers.attachments import AttachmentJob
from parsers.convert import convert_many, soffice_available
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.message import Limits
from parsers.model import Reading
from parsers.sandbox import SandboxCrashed
from parsers.whole import ConvertFirst, read_converted_first, read_whole
from store.db import make_engine, upgrade
from store.models import Message

FORM = load_form(DEFAULT_FORM_PATH)
LEGACY_TYPES = {"doc": "application/msword", "rtf": "application/rtf", "odt": "application/vnd.oasis.opendocument.text"}


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Three filled forms saved by LibreOffice, as .doc, .rtf and .odt."""
    if not soffice_available():
        pytest.fail("LibreOffice (soffice) is not on PATH")
    work = tmp_path_factory.mktemp("legacy")
    for seed, kind in enumerate(LEGACY_TYPES, start=7):  # three people: three different responses
        source = work / f"form-{kind}.docx"
        source.write_bytes(build_docx(FORM, sample_reading(FORM, seed), "x_cell"))
        profile = (work / f"profile-{kind}").as_uri()
        subprocess.run(
            ["soffice", "--headless", f"-env:UserInstallation={profile}", "--convert-to", kind]
            + ["--outdir", str(work), str(source)],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return {kind: (work / f"form-{kind}.{kind}").read_bytes() for kind in LEGACY_TYPES}


def _unreadable_doc(doc: bytes, tmp_path: Path) -> bytes:
    """A real .doc container whose text stream LibreOffice cannot read (zeroed)."""
    path = tmp_path / "broken.doc"
    path.write_bytes(doc)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        stream = ole.openstream("WordDocument").read()
        ole.write_stream("WordDocument", bytes(len(stream)))
    return path.read_bytes()


def _selects_raw(statement: str) -> bool:
    """A SELECT whose column list names a raw column (messages.raw or acknowledgements.raw)."""
    if not statement.upper().startswith("SELECT"):
        return False
    columns = statement.split(" FROM ", 1)[0]
    return bool(re.search(r"\b(messages|acknowledgements)\.raw\b", columns))


def _new_mail_only(statement: str) -> bool:
    """Restricted to rows named by id, or to acknowledgements waiting to be sent: never the history."""
    if "messages.raw" in statement.split(" FROM ", 1)[0]:
        return bool(re.search(r"WHERE messages\.id (= \?|IN \()", statement))
    return bool(re.search(r"WHERE acknowledgements\.(id = \?|id IN \(|status = \?)", statement))


def test_convert_many_converts_the_good_files_and_leaves_the_bad_to_be_converted_alone(legacy):
    files = [("doc", legacy["doc"]), ("rtf", b"{\\rtf1 this is not finished"), ("odt", legacy["odt"])]
    files += [("rtf", legacy["rtf"]), ("doc", b"not a word document at all")]

    converted = convert_many(files, timeout=120)

    assert {0, 2, 3} <= set(converted), "the three real documents convert in one start"
    assert 4 not in converted, "bytes that are not a .doc are not handed to LibreOffice"
    assert all(docx.startswith(b"PK") for docx in converted.values())


def test_a_batch_that_cannot_run_returns_nothing_so_each_file_goes_alone(legacy, monkeypatch):
    monkeypatch.setattr("parsers.convert.SOFFICE", "/nonexistent/soffice")
    assert convert_many([("doc", legacy["doc"])], timeout=10) == {}


def test_read_ahead_files_every_message_once_in_arrival_order_and_never_reads_history(
    legacy, tmp_path: Path, statements: list[str]
):
    service = Instance(tmp_path / "svc", f"outbox:{tmp_path / 'outbox'}", extra="workers = 2")
    history = mixed_batch(FORM, seed=11)
    for raw in history.messages:
        service.deliver(raw)
    service.run()
    filed_before = len(export(service.config, service.root))

    new_mail = [
        build_message(
            sender=f"Legacy {kind} <legacy-{kind}@example.org>",
            attachments=[(f"Response form.{kind}", mime, legacy[kind])],
        )
        for kind, mime in LEGACY_TYPES.items()
    ]
    new_mail.append(
        build_message(
            sender="Broken Doc <broken@example.org>",
            attachments=[("Response form.doc", "application/msword", _unreadable_doc(legacy["doc"], tmp_path))],
        )
    )
    new_mail += mixed_batch(FORM, seed=20).messages
    for raw in new_mail:
        service.deliver(raw)
    statements.clear()
    service.run()
    cycle = list(statements)

    messages = service.messages()
    responses = export(service.config, service.root)
    assert len(messages) == len(history.messages) + len(new_mail)
    assert all(m["disposition"] for m in messages), "every message was filed"
    references = [r["reference"] for r in responses]
    assert len(references) == len(set(references)) == filed_before + 3 + 1 + 4
    assert references == sorted(references), "filed in arrival order"
    legacy_kinds = sorted(r["source"]["kind"] for r in responses if r["sender"].startswith("legacy-"))
    assert legacy_kinds == ["doc", "odt", "rtf"]
    assert all(r["status"] == "filed" for r in responses if r["sender"].startswith("legacy-"))
    broken = [r for r in responses if r["sender"] == "broken@example.org"]
    assert len(broken) == 1 and broken[0]["status"] == "needs_review", "only the bad file goes to review"

    raw_reads = [s for s in cycle if _selects_raw(s)]
    assert raw_reads, "the new messages were read"
    assert all(_new_mail_only(s) for s in raw_reads), f"a query read stored history: {raw_reads}"

    statements.clear()
    assert run_intake(service.config, "report") == 0
    assert run_intake(service.config, "report", "--html", str(tmp_path / "report.html")) == 0
    export(service.config, service.root, "--messages")
    assert run_intake(service.config, "export", "--format", "csv", "--output", str(tmp_path / "out.csv")) == 0
    assert [s for s in statements if _selects_raw(s)] == [], "the report and the exports never load raw"


def test_a_file_the_batch_converted_is_read_as_its_docx_and_keeps_its_own_kind():
    calls = []

    def read_one(job: AttachmentJob, data: bytes) -> Reading:
        calls.append((job.kind, job.converted_from, data))
        return Reading(source_kind=job.converted_from or job.kind, filename=job.filename)

    converted = {hashlib.sha256(b"the rtf").hexdigest(): b"PK the docx"}
    job = AttachmentJob("rtf", "form.rtf", FORM)
    read_converted_first(read_one, converted, job, b"the rtf")
    read_converted_first(read_one, converted, replace(job, kind="doc"), b"a doc the batch could not convert")
    assert calls == [("docx", "rtf", b"PK the docx"), ("doc", None, b"a doc the batch could not convert")]


def test_a_conversion_batch_that_fails_answers_every_request_with_nothing():
    def broken(files):  # type: ignore[no-untyped-def]
        raise SandboxCrashed("soffice crashed")

    converter = _BatchConverter(broken, lambda: True, lambda: False)
    try:
        futures = [converter.request([("doc", b"one")]), converter.request([("rtf", b"two")])]
        assert [f.result(timeout=10) for f in futures] == [{}, {}]
    finally:
        converter.close()


def test_a_message_whose_file_was_converted_is_read_again_before_the_rest_of_the_backlog(tmp_path: Path):
    """Filing waits for messages in arrival order: a .doc's second reading must not queue behind the
    whole backlog (with a first-in, first-out pool it came last, and filing stood still till then)."""
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade(url)
    engine = make_engine(url)
    legacy = build_message(attachments=[("form.doc", "application/msword", b"the doc")])
    backlog = [legacy] + [build_message(body=f"Answer {i}") for i in range(40)]
    with Session(engine) as session:
        for i, raw in enumerate(backlog):
            session.add(Message(source_key=f"k{i}", content_hash=f"h{i}", raw=raw, size=len(raw)))
        session.commit()
    calls: list[str] = []

    def read_whole(raw: bytes, converted: dict[str, bytes] | None) -> object:
        if raw == legacy:
            calls.append("the .doc message, asking" if converted is None else "the .doc message, converted")
            return ConvertFirst([("doc", b"the doc")]) if converted is None else "its reading"
        time.sleep(0.005)
        calls.append("another message")
        return "a reading"

    def unused(*_args: object) -> object:
        raise AssertionError("every message is read whole")

    ahead = ReadAhead(
        form=FORM, limits=Limits(), read_whole=read_whole, read_mail=unused, read_one=unused,  # type: ignore[arg-type]
        convert=lambda files: {}, workers=1,
    )  # fmt: skip
    with ahead:
        ahead.fill(engine, 0)
        first = ahead.take(1)
        assert first is not None and first.result(timeout=30) == "its reading"
        place = calls.index("the .doc message, converted")
    assert calls[0] == "the .doc message, asking", "a message that may need converting is read first"
    assert place < 10, f"the converted message waited behind {place - 1} others"


def test_messages_are_read_while_the_store_step_stores_and_their_conversions_share_one_batch(tmp_path: Path):
    """The store step commits batch after batch; reading starts with the first, but LibreOffice
    waits for the last, so a backlog's .doc files still share one start."""
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade(url)
    engine = make_engine(url)
    doc = build_message(attachments=[("form.doc", "application/msword", b"the doc")])
    read: list[int] = []
    batches: list[int] = []

    def read_whole(raw: bytes, converted: dict[str, bytes] | None) -> object:
        read.append(len(raw))
        return ConvertFirst([("doc", raw[-40:])]) if raw.startswith(doc) and converted is None else "a reading"

    def convert(files: list[tuple[str, bytes]]) -> dict[str, bytes]:
        batches.append(len(files))
        return {}

    def store(first: int, count: int) -> None:
        with Session(engine) as session:
            for i in range(first, first + count):
                raw = doc if i % 5 == 0 else build_message(body=f"Answer {i}")
                session.add(Message(source_key=f"k{i}", content_hash=f"h{i}", raw=raw + b" " * i, size=len(raw)))
            session.commit()

    def unused(*_args: object) -> object:
        raise AssertionError("every message is read whole")

    ahead = ReadAhead(
        form=FORM, limits=Limits(), read_whole=read_whole, read_mail=unused, read_one=unused,  # type: ignore[arg-type]
        convert=convert, workers=2,
    )  # fmt: skip
    with ahead:
        with ahead.while_storing():
            store(0, 10)
            ahead.fill(engine, 0)
            deadline = time.monotonic() + 10
            while len(read) < 10 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(read) == 10, "the first batch is read while the store step goes on"
            store(10, 10)
            ahead.fill(engine, 0)
            time.sleep(0.3)
            assert batches == [], "no LibreOffice start while more may come"
        assert all(ahead.take(pk).result(timeout=30) == "a reading" for pk in range(1, 21))  # type: ignore[union-attr]
    assert batches == [4], "the four .doc files of both store batches in one start"


def test_a_backlog_larger_than_the_read_ahead_window_is_read_ahead_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Stored in batches while reading (as the store step does), then filed one by one: every
    message's reading was started ahead, not only the first window's (the rest would be read one
    at a time by the filing thread itself)."""
    monkeypatch.setattr(readahead, "MAX_AHEAD", 8)
    monkeypatch.setattr(readahead, "FILL_AT_LEAST", 4)
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade(url)
    engine = make_engine(url)

    def unused(*_args: object) -> object:
        raise AssertionError("every message is read whole")

    ahead = ReadAhead(
        form=FORM, limits=Limits(), read_whole=lambda raw, converted: "a reading", read_mail=unused,  # type: ignore[arg-type]
        read_one=unused, convert=None, workers=2,  # type: ignore[arg-type]
    )  # fmt: skip
    with ahead:
        with ahead.while_storing():
            for first in range(0, 30, 2):  # each look finds all there is, until the window is full
                with Session(engine) as session:
                    for i in range(first, first + 2):
                        raw = build_message(body=f"Answer {i}")
                        session.add(Message(source_key=f"k{i}", content_hash=f"h{i}", raw=raw, size=len(raw)))
                    session.commit()
                ahead.fill(engine, 0)
        missed = []
        for pk in range(1, 31):
            ahead.fill(engine, pk - 1)
            started = ahead.take(pk)
            if started is None:
                missed.append(pk)
            else:
                assert started.result(timeout=10) == "a reading"
    assert missed == [], "messages the read-ahead never started"


CAMPAIGN_TEXT = """Here are my answers.

Question 1: Agree
Comment: Every child matters.

Question 2: Disagree
"""


def test_the_duplicate_check_tells_a_campaign_from_a_response_sent_again(tmp_path: Path):
    service = Instance(tmp_path / "svc", f"outbox:{tmp_path / 'outbox'}")
    for sender in ("Ann <ann@example.org>", "Bob <bob@example.org>", "Ann Again <ANN@example.org>"):
        service.deliver(build_message(sender=sender, body=CAMPAIGN_TEXT))
    service.deliver(build_message(sender="Pat <pat@example.org>", body=BODY_RESPONSE))
    service.deliver(build_message(sender="Pat's office <office@example.net>", body=BODY_RESPONSE))
    service.run()

    dispositions = [(m["sender"], m["disposition"]) for m in service.messages()]
    assert dispositions == [
        ("ann@example.org", "response"),
        ("bob@example.org", "response"),  # the same campaign words from someone else: another voice
        ("ANN@example.org", "duplicate"),  # the same unsigned words from the same sender
        ("pat@example.org", "response"),
        ("office@example.net", "duplicate"),  # the same signed words, whoever sends them
    ]


def test_a_message_read_whole_asks_for_its_conversions_first_then_reads_the_docx_made(legacy):
    raw = build_message(attachments=[("Response form.rtf", LEGACY_TYPES["rtf"], legacy["rtf"])])
    first = read_whole(FORM, Limits(), None, raw)
    assert isinstance(first, ConvertFirst) and first.files == [("rtf", legacy["rtf"])]
    converted = {hashlib.sha256(legacy["rtf"]).hexdigest(): build_docx(FORM, sample_reading(FORM, 8), "x_cell")}
    mail, reading = read_whole(FORM, Limits(), converted, raw)
    assert reading.disposition == "response" and reading.readings[0].source_kind == "rtf"
    assert mail.attachments == () and mail.sender == "jane.smith@example.org", "the filing step needs the headers only"


def test_a_message_too_much_to_read_whole_is_read_part_by_part_and_only_the_bad_file_goes_to_review(tmp_path: Path):
    """Whole, the message runs past its time; part by part, the good form is filed and the bad one is reviewed."""
    service = Instance(tmp_path / "svc", f"outbox:{tmp_path / 'outbox'}", extra="workers = 2\nparse_memory_mb = 600")
    config = service.config
    config.write_text(config.read_text().replace("parse_timeout_seconds = 30", "parse_timeout_seconds = 4"))
    good = build_docx(FORM, sample_reading(FORM, 5), "x_cell")
    service.deliver(
        build_message(
            attachments=[
                ("Response form.docx", DOCX_TYPE, good),
                ("Another response.pdf", "application/pdf", build_looping_pdf()),
            ]
        )
    )
    service.run()
    responses = {r["source"]["filename"]: r for r in export(service.config, service.root)}
    assert responses["Response form.docx"]["status"] == "filed", responses["Response form.docx"]["review_reasons"]
    assert responses["Another response.pdf"]["status"] == "needs_review"
    reason = " ".join(responses["Another response.pdf"]["review_reasons"])
    assert "longer than 4 s" in reason or "memory" in reason


def test_acknowledgements_go_out_while_later_messages_are_still_being_filed(tmp_path: Path):
    """The send step no longer waits for the last message: each acknowledgement goes out (once) soon after
    its message is filed, while the rest of the backlog is filed."""
    service = Instance(tmp_path / "svc", f"outbox:{tmp_path / 'outbox'}", extra="workers = 2")
    count = 12
    for i in range(count):
        service.deliver(
            response_mail(sender=f"Person {i} <person{i}@example.org>", body=BODY_RESPONSE.replace("Pat", f"Pat{i}"))
        )
    database = tmp_path / "svc" / "intake.db"
    sent_while_filing: list[int] = []

    def note_what_was_sent() -> None:  # after each message's filing commit, on the filing thread
        time.sleep(0.3)  # a slow back-fill, so the sending thread has its turns
        with contextlib.closing(sqlite3.connect(database)) as db:
            sent = db.execute("SELECT count(*) FROM acknowledgements WHERE status = 'sent'").fetchone()[0]
        sent_while_filing.append(sent)

    failpoints.set_action("filed", note_what_was_sent)
    try:
        assert run_intake(service.config, "run") == 0
    finally:
        failpoints.set_action("filed", None)
    assert len(sent_while_filing) == count
    assert sent_while_filing[-2] > 0, f"nothing was sent before the last message was filed: {sent_while_filing}"
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == count, "each acknowledged once"


def test_messages_that_may_need_converting_are_told_apart_for_reading_first(legacy):
    """A hint for reading order only (a miss costs a LibreOffice start, not a reading), so that a
    backlog's .doc/.rtf/.odt files are asked for together: by type, by file name, or by content."""
    for kind, mime in LEGACY_TYPES.items():
        assert may_need_converting(build_message(attachments=[(f"Response form.{kind}", mime, legacy[kind])]))
        assert may_need_converting(build_message(attachments=[(f"form.{kind}", "application/octet-stream", b"x")]))
    for kind in ("doc", "rtf"):  # only the bytes say it: no telling name, a generic type
        assert may_need_converting(build_message(attachments=[("response", "application/octet-stream", legacy[kind])]))
    assert not may_need_converting(
        build_message(
            attachments=[("Response form.docx", DOCX_TYPE, build_docx(FORM, sample_reading(FORM, 3), "x_cell"))]
        )
    )
    assert not may_need_converting(
        response_mail(body=BODY_RESPONSE + "\nI attach nothing: my reply is in this e-mail (not a .doc).\n")
    )
