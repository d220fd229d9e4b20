"""Personal data, through the CLI on SQLite and PostgreSQL: subject access, erasure, retention and
the published exports and reports (store/personal.py, erasure.py, retention.py, published.py)."""

from __future__ import annotations

import datetime as dt
import json
import mailbox
import shutil
from pathlib import Path

import pytest
from builders.docx_forms import build_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message
from builders.store_rows import CONFIDENTIAL_EMAIL, CONFIDENTIAL_MARK, populate
from intake_env import export, run_intake, write_local_config
from sqlalchemy import text, update
from sqlmodel import Session, col, select

from ingest.config import load_config
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from store.db import make_engine, upgrade
from store.erasure import hashed_message_id
from store.models import Acknowledgement, AuditEntry, Message, Response
from store.retention import RetentionPolicy, apply_retention, plan_retention

FORM = load_form(DEFAULT_FORM_PATH)
JANE = "jane.smith@example.org"
JANE_ADDRESS = "12 Quince Row, Wexley Magna, WX9 4QQ"
RETENTION = """
[retention]
originals_days_after_close = 30
acknowledgement_days = 10
failed_and_junk_days = 5
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'intake.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def staff_db(tmp_path, database_url):
    """The staff database of builders.store_rows, with Jane's address and a comment signed with her name."""
    upgrade(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        populate(session)
    config = write_local_config(tmp_path, database_url=database_url, extra=RETENTION)
    settings = [f"respondent.address={JANE_ADDRESS}", "q2.comment=As Jane Smith said at the board: no."]
    assert run_intake(config, "review", "CT08-00010", *[a for s in settings for a in ("--set", s)], "--who", "rev") == 0
    yield config, engine
    engine.dispose()


def _everything(engine) -> str:
    """Every value in every table, as one text to search."""
    with engine.connect() as conn:
        rows = [
            repr(tuple(row))
            for table in ("messages", "responses", "acknowledgements", "audit")
            for row in conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 (fixed table names)
        ]
    return "\n".join(rows)


def _figures(config: Path, tmp_path: Path) -> tuple:
    records = export(config, tmp_path)
    messages = export(config, tmp_path, "--messages")
    return (
        len(records),
        [(r["reference"], r["status"], r["respondent"]["category"], r["late"]) for r in records],
        [[(q, a["choice"], bool(a["comment"])) for q, a in r["answers"].items()] for r in records],
        [(m["disposition"], m["references"], m["acknowledgement"]["status"]) for m in messages],
    )


# ---- subject access --------------------------------------------------------------------------


def test_person_lists_everything_held_and_exports_the_originals(staff_db, tmp_path, capsys):
    config, _ = staff_db
    capsys.readouterr()
    assert run_intake(config, "person", JANE, "--name", "Jane Smith", "--export", str(tmp_path / "sar")) == 0
    listing = capsys.readouterr().out
    assert "CT08-00010" in listing and "#1 " in listing and "as " in listing
    assert "respondent" in listing and "sender" in listing
    assert "copy of their message" in listing  # message #5 repeats message #1
    assert "Audit entries (2)" in listing and "rev: respondent.address" in listing
    records = json.loads((tmp_path / "sar" / "records.json").read_text(encoding="utf-8"))
    assert [r["reference"] for r in records["responses"]] == ["CT08-00010"]
    assert records["responses"][0]["respondent"]["address"] == JANE_ADDRESS
    assert {m["id"] for m in records["messages"]} == {1, 5}
    assert (tmp_path / "sar" / "message-1" / "message.eml").read_bytes().startswith(b"From:")
    assert (tmp_path / "sar" / "summary.txt").read_text(encoding="utf-8") == listing.rsplit("Wrote", 1)[0]


def test_person_export_never_writes_outside_the_folder(staff_db, tmp_path):
    config, _ = staff_db
    out = tmp_path / "sar"
    assert run_intake(config, "person", "head@school.example.org", "--export", str(out)) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["message-2/message.eml", "message-2/passwd form.docx", "records.json", "summary.txt"]
    assert not (tmp_path / "etc").exists()


def test_person_finds_a_recipient_and_says_when_nothing_is_held(staff_db, tmp_path, capsys):
    config, engine = staff_db
    capsys.readouterr()
    assert run_intake(config, "person", "nobody@example.com") == 0
    assert capsys.readouterr().out == "Nothing is held about nobody@example.com.\n"
    assert run_intake(config, "person", "childrentrusts.consultation@dcsf.gsi.gov.uk") == 0
    out = capsys.readouterr().out
    assert "as recipient" in out and "Responses (0)" in out


# ---- erasure ------------------------------------------------------------------------------------


def test_erase_removes_personal_data_and_the_results_still_add_up(staff_db, tmp_path, capsys):
    config, engine = staff_db
    before = _figures(config, tmp_path)
    capsys.readouterr()
    assert run_intake(config, "erase", "CT08-00010", "--yes", "--redact-text", "--who", "dpo") == 0
    out = capsys.readouterr().out
    assert "response CT08-00010" in out and "message #1" in out and "message #5" in out
    assert "q2.comment: …As [Jane Smith] said" in out and "1 passage(s) of free text replaced" in out

    held = _everything(engine)
    for personal in ("Jane", "Smith", JANE, "Quince", "WX9 4QQ", "Exampleton Borough Council", "<m1@example.org>"):
        assert personal not in held, personal
    after = _figures(config, tmp_path)
    assert after == before
    with Session(engine) as session:
        msg = session.get(Message, 1)
        assert msg.raw == b"" and msg.sender is None and msg.subject is None and msg.erased_by == "dpo"
        assert msg.message_id == hashed_message_id("<m1@example.org>") and msg.source_key == "maildir:cur/1"
        resp = session.exec(select(Response).where(Response.reference == "CT08-00010")).one()
        assert resp.erased_at is not None and resp.answers["q1"] == {
            "choice": "agree",
            "comment": "Clear.\nVery clear.",
        }
        assert resp.answers["q2"]["comment"] == "As [erased] said at the board: no."
        ack = session.exec(select(Acknowledgement).where(Acknowledgement.message_pk == 1)).one()
        assert ack.to_address is None and ack.raw is None and ack.status == "sent"
        trail = session.exec(select(AuditEntry).where(AuditEntry.response_pk == resp.id)).all()
        assert trail[-1].who == "dpo" and trail[-1].field == "erasure" and trail[-1].old is None
        assert {e.old for e in trail if e.field == "respondent.address"} == {None}
        assert {e.new for e in trail if e.field == "respondent.address"} == {"[erased]"}
    assert run_intake(config, "original", "CT08-00010", "--out", str(tmp_path / "o")) == 2
    assert "Erased:" in _show(config, capsys, "CT08-00010")


def test_sqlite_overwrites_what_is_removed(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA secure_delete")).scalar() == 1
    engine.dispose()


def _show(config: Path, capsys, ref: str) -> str:
    capsys.readouterr()
    assert run_intake(config, "show", ref) == 0
    return capsys.readouterr().out


def test_erase_asks_first_and_text_only_when_confirmed(staff_db, tmp_path, capsys, monkeypatch):
    config, engine = staff_db
    answers = iter(["n"])
    monkeypatch.setattr("builtins.input", lambda prompt: next(answers))
    assert run_intake(config, "erase", "CT08-00010") == 1
    assert "Nothing erased." in capsys.readouterr().out
    with Session(engine) as session:
        assert session.get(Message, 1).raw != b""

    answers = iter(["y", "n"])
    assert run_intake(config, "erase", "CT08-00010") == 0
    assert "0 passage(s) of free text replaced, 1 kept." in capsys.readouterr().out
    with Session(engine) as session:
        resp = session.exec(select(Response).where(Response.reference == "CT08-00010")).one()
        assert resp.name is None and "Jane Smith" in resp.answers["q2"]["comment"]


def test_erase_by_person_and_the_refusals(staff_db, tmp_path, capsys):
    config, engine = staff_db
    assert run_intake(config, "erase", "--person", "p0@example.net", "--yes", "--who", "dpo") == 0
    with Session(engine) as session:
        erased = session.exec(select(Response.reference).where(col(Response.erased_at).is_not(None))).all()
        assert erased == ["CT08-00110"]
        assert session.get(Message, 11).sender is None and session.get(Message, 12).sender == "p1@example.net"
    assert run_intake(config, "erase", "CT08-99999", "--yes") == 2
    assert run_intake(config, "erase", "--yes") == 2
    assert run_intake(config, "erase", "CT08-00010", "--person", JANE, "--yes") == 2
    assert run_intake(config, "erase", "--person", "Jane Smith", "--yes") == 2
    assert run_intake(config, "person", "Jane Smith") == 2
    capsys.readouterr()
    assert run_intake(config, "erase", "--person", "nobody@example.com", "--yes") == 0
    assert capsys.readouterr().out == "Nothing to erase.\n"


def test_the_same_name_alone_is_listed_but_never_erased(staff_db, capsys):
    config, engine = staff_db
    assert run_intake(config, "review", "CT08-00020", "--set", "respondent.name=Jane  SMITH", "--who", "rev") == 0
    capsys.readouterr()
    assert run_intake(config, "person", JANE, "--name", "Jane Smith") == 0
    assert "#2  2008-03-04 10:00  response  as same name only;" in capsys.readouterr().out
    assert run_intake(config, "erase", "--person", JANE, "--name", "Jane Smith", "--yes") == 0
    out = capsys.readouterr().out
    assert "Not erased: CT08-00020 give(s) the same name but not this address" in out
    assert "message #2" not in out
    with Session(engine) as session:
        assert session.get(Message, 2).raw != b"" and session.get(Message, 1).raw == b""


def test_a_pending_acknowledgement_is_never_sent_once_erased(staff_db, capsys):
    config, engine = staff_db
    assert run_intake(config, "erase", "CT08-00020", "--yes") == 0
    with Session(engine) as session:
        ack = session.exec(select(Acknowledgement).where(Acknowledgement.message_pk == 2)).one()
        assert (ack.status, ack.reason, ack.to_address) == ("suppressed", "erased", None)


# ---- retention ------------------------------------------------------------------------------------


def _backdate(engine) -> None:
    """The rows as if taken in during the consultation (populate stores them today)."""
    with Session(engine) as session:
        session.exec(update(Message).values(stored_at=Message.received_at))
        session.commit()


def test_retention_says_what_it_would_remove_then_removes_it(staff_db, tmp_path, capsys):
    config, engine = staff_db
    _backdate(engine)
    before = _figures(config, tmp_path)
    capsys.readouterr()
    assert run_intake(config, "retention") == 0
    plan = capsys.readouterr().out
    assert "Would remove the original (raw bytes and attachments) of 10 message(s): #1, #3" in plan
    assert "failed or junk message(s): #8, #10" in plan
    assert "Kept until reviewed: 1 message(s): #2" in plan
    with Session(engine) as session:
        assert session.exec(select(Message).where(col(Message.raw_removed_at).is_not(None))).first() is None

    assert run_intake(config, "retention", "--apply") == 0
    assert "Removed the original" in capsys.readouterr().out
    with Session(engine) as session:
        assert session.get(Message, 1).raw == b"" and session.get(Message, 1).sender == JANE
        assert session.get(Message, 2).raw != b""  # its response still needs review
        assert session.get(Message, 8).sender is None and session.get(Message, 10).subject is None
    assert _figures(config, tmp_path) == before
    assert run_intake(config, "original", "CT08-00010", "--out", str(tmp_path / "o")) == 2
    assert run_intake(config, "original", "CT08-00020", "--out", str(tmp_path / "o")) == 0
    capsys.readouterr()
    assert run_intake(config, "retention") == 0
    assert capsys.readouterr().out == "Kept until reviewed: 1 message(s): #2\n"


def test_retention_settings_are_checked_and_give_the_policy_serve_applies(tmp_path, capsys):
    config = write_local_config(tmp_path, extra="[retention]\nacknowledgement_days = -1\n")
    assert run_intake(config, "retention") == 2
    assert "[retention] acknowledgement_days" in capsys.readouterr().err
    config = write_local_config(tmp_path)
    assert run_intake(config, "retention") == 0
    assert "No [retention] periods are configured" in capsys.readouterr().out
    config = write_local_config(tmp_path, extra=RETENTION)
    loaded = load_config(config)
    assert loaded.retention == RetentionPolicy(FORM.closes, 30, 10, 5)
    upgrade(loaded.database_url)
    engine = make_engine(loaded.database_url)
    assert apply_retention(engine, loaded.retention, dt.datetime.now(dt.UTC)).empty  # the hook `serve` runs daily
    engine.dispose()


def test_apply_retention_counts_from_the_closing_date_and_sending(staff_db):
    _, engine = staff_db
    _backdate(engine)
    with Session(engine) as session:
        session.exec(update(Acknowledgement).values(raw=b"ack bytes"))
        session.exec(
            update(Acknowledgement)
            .where(col(Acknowledgement.message_pk) == 1)
            .values(sent_at=dt.datetime(2008, 6, 1, tzinfo=dt.UTC))
        )
        session.commit()
    closes = FORM.closes
    policy = RetentionPolicy(closes=closes, originals_days_after_close=30, acknowledgement_days=10)
    day_30 = dt.datetime.combine(closes + dt.timedelta(days=30), dt.time(12), tzinfo=dt.UTC)
    with Session(engine) as session:
        assert plan_retention(session, policy, day_30).originals == []
    plan = apply_retention(engine, policy, day_30 + dt.timedelta(days=1))
    assert 1 in plan.originals and 2 not in plan.originals and plan.failed_and_junk == []
    assert 1 in plan.acknowledgements  # sent 2008-06-01, ten days before
    with Session(engine) as session:
        pending = session.exec(select(Acknowledgement).where(Acknowledgement.status == "pending")).one()
        assert pending.raw == b"ack bytes"  # still to be sent
    assert apply_retention(engine, RetentionPolicy(closes=closes), day_30).empty


# ---- the published view ---------------------------------------------------------------------------

PERSONAL = (
    "Jane Smith", "Smith", JANE, "Quince Row", "WX9 4QQ", "Exampleton Borough Council", "Head Teacher",
    "head@school.example.org", CONFIDENTIAL_EMAIL, "Hidden Person", CONFIDENTIAL_MARK, "someone@example.org",
    "p0@example.net", "<m1@example.org>",
)  # fmt: skip


def test_published_exports_and_reports_name_no_one(staff_db, tmp_path, capsys):
    config, _ = staff_db
    out = tmp_path / "public"
    out.mkdir()
    assert run_intake(config, "export", "--exclude-confidential", "--output", str(out / "r.jsonl")) == 0
    assert (
        run_intake(config, "export", "--exclude-confidential", "--format", "csv", "--output", str(out / "r.csv")) == 0
    )
    assert run_intake(config, "report", "--published", "--html", str(out / "report.html")) == 0
    capsys.readouterr()
    assert run_intake(config, "report", "--published") == 0
    (out / "report.txt").write_text(capsys.readouterr().out, encoding="utf-8")
    assert run_intake(config, "export", "--messages", "--exclude-confidential", "--output", str(out / "m.jsonl")) == 0
    for path in out.iterdir():
        content = path.read_text(encoding="utf-8")
        for personal in PERSONAL:
            assert personal not in content, (path.name, personal)

    records = [json.loads(line) for line in (out / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 7 and not any(r["confidential"] for r in records)
    jane = next(r for r in records if r["reference"] == "CT08-00010")
    assert jane["respondent"] == {
        "name": None, "organisation": None, "address": None, "email": None,
        "category": "local_authority", "category_other": None,
    }  # fmt: skip
    assert jane["sender"] is None and jane["answers"]["q2"]["comment"] == "As [withheld] said at the board: no."
    assert "Responses: 7 (6 filed, 1 need review, 2 late)" in (out / "report.txt").read_text(encoding="utf-8")
    messages = [json.loads(line) for line in (out / "m.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(messages) == 12 and {m["sender"] for m in messages} == {None}  # 13 less the confidential one


def test_include_personal_brings_the_fields_back(staff_db, tmp_path, capsys):
    config, _ = staff_db
    records = export(config, tmp_path, "--exclude-confidential", "--include-personal")
    assert len(records) == 7 and records[0]["respondent"]["name"] == "Jane Smith"
    capsys.readouterr()
    assert run_intake(config, "report", "--published", "--include-personal") == 0
    assert "head@school.example.org" not in capsys.readouterr().out  # no sender column in the published view
    assert run_intake(config, "report", "--published", "--include-personal", "--html", str(tmp_path / "r.html")) == 0


# ---- an erased message stays out ----------------------------------------------------------------


@pytest.fixture
def erased_mail(tmp_path, database_url):
    """One response taken in by a real cycle, then erased; the processed file, to deliver again."""
    config = write_local_config(tmp_path, database_url=database_url)
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    docx = build_docx(FORM, sample_reading(FORM, 3), "x_cell")
    box.add(build_message(sender=f"Jane Smith <{JANE}>", attachments=[("Jane Smith.docx", DOCX_TYPE, docx)]))
    assert run_intake(config, "run") == 0
    assert run_intake(config, "erase", "--person", JANE, "--yes") == 0
    (processed,) = (tmp_path / "mail" / ".Processed" / "cur").iterdir()
    return config, processed


def _taken_in(config: Path, tmp_path: Path) -> tuple[int, int]:
    return len(export(config, tmp_path, "--messages")), len(export(config, tmp_path))


def test_an_erased_message_delivered_again_is_not_taken_in(erased_mail, tmp_path):
    config, processed = erased_mail
    shutil.copy(processed, tmp_path / "mail" / "new" / processed.name.split(":")[0])
    assert run_intake(config, "run") == 0
    assert _taken_in(config, tmp_path) == (1, 1)
    assert not list((tmp_path / "mail" / "new").iterdir())  # moved on as already stored


def test_an_erased_message_in_a_renumbered_mailbox_is_not_taken_in(erased_mail, tmp_path):
    config, processed = erased_mail
    shutil.copy(processed, tmp_path / "mail" / "new" / "renumbered.1")
    assert run_intake(config, "run") == 0
    assert _taken_in(config, tmp_path) == (1, 1)
