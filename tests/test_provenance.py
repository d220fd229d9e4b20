"""Every field the form reader files says how it was found: a way of parsers/formreader/rules.py and
a short location, for the review page's "Read from"."""

from __future__ import annotations

import html
import pickle
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from builders.docx_forms import VARIANTS, build_docx, retyped_lines, sample_reading
from builders.letters import Case, all_cases, word_letter
from builders.pdf_forms import build_acroform_pdf, build_printed_pdf
from sqlalchemy import inspect
from web_env import Web, make_web, rewrite, sign_in, stored

from ingest.filing import _response_row
from parsers.attachments import AttachmentJob, read_attachment
from parsers.body import read_body
from parsers.docx_reader import read_docx
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.formreader import read_form
from parsers.formreader.rules import WAYS
from parsers.message import fingerprint
from parsers.model import Reading
from store.db import alembic_config, make_engine, upgrade
from store.export import iter_responses
from store.models import Message
from store.review import apply_corrections, describe_response

FORM = load_form(DEFAULT_FORM_PATH)
LETTERS = [c for c in all_cases() if not c.needs_review]


def filed_fields(r: Reading) -> set[str]:
    """The fields a reading files a value in, named as `store.review` names them."""
    values: dict[str, object] = {f"respondent.{k}": getattr(r.respondent, k) for k in vars(r.respondent)}
    values |= {
        "confidential": r.confidential or None,
        "confidential_reason": r.confidential_reason,
        "acknowledge": r.acknowledge or None,
        "acknowledge_email": r.acknowledge_email,
        "contact_again": r.contact_again,
    }
    for qid, a in r.answers.items():
        values |= {f"{qid}.choice": a.choice, f"{qid}.comment": a.comment}
    return {k for k, v in values.items() if v not in (None, "")}


def assert_every_field_found(r: Reading) -> None:
    assert r.review_reasons == (), r.review_reasons
    missing = filed_fields(r) - set(r.found)
    assert not missing, f"filed without saying how: {sorted(missing)}"
    assert set(r.found) <= filed_fields(r) | {"confidential", "acknowledge"}
    for path, (way, where) in r.found.items():
        assert way in WAYS, f"{path}: {way!r} is not a way of rules.WAYS"
        assert where.strip(), path


def _attachment(kind: str, data: bytes) -> Reading:
    got = read_attachment(AttachmentJob(kind, f"form.{kind}", FORM), data)
    assert isinstance(got, Reading)
    return got


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "retyped"][:4])
def test_word_form_says_how_each_field_was_found(variant: str) -> None:
    filled = sample_reading(FORM, 3)
    got = read_form(read_docx(build_docx(FORM, filled, variant)), FORM, source_kind="docx", filename="f.docx")
    assert_every_field_found(got)
    scaled = next(q for q in FORM.questions if q.scale and got.answers[q.id].choice)
    way, where = got.found[f"{scaled.id}.choice"]
    assert way in ("mark in a label's cell", "mark by the row's shape")
    assert where.startswith("table row")
    assert got.found["respondent.name"] == ("labelled table row", "table row “Name”")


def test_fillable_pdf_names_its_fields() -> None:
    got = _attachment("pdf", build_acroform_pdf(FORM, sample_reading(FORM, 5)))
    assert_every_field_found(got)
    assert {way for way, _ in got.found.values()} == {"named field"}
    assert all(where.startswith("PDF field ") for _, where in got.found.values())


def test_printed_pdf_says_how_each_field_was_found() -> None:
    got = _attachment("pdf", build_printed_pdf(FORM, sample_reading(FORM, 7)))
    assert_every_field_found(got)


def test_retyped_body_says_how_each_field_was_found() -> None:
    filled = sample_reading(FORM, 11)
    got = read_body("\n".join(retyped_lines(FORM, filled)), None, FORM)
    assert got is not None
    assert_every_field_found(got)
    assert got.found["respondent.name"] == ("key and value line", "line “Name: …”")


@pytest.mark.parametrize("case", LETTERS, ids=[f"{c.name}-{i}" for i, c in enumerate(LETTERS)])
def test_letter_says_how_each_field_was_found(case: Case) -> None:
    got = read_form(read_docx(word_letter(case.text)), FORM, source_kind="docx", filename="letter.docx")
    assert_every_field_found(got)
    body = read_body(case.text, None, FORM)
    assert body is not None
    assert_every_field_found(body)


def test_every_way_of_finding_a_field_is_recorded_by_the_reader() -> None:
    """The headings' ways name a question's heading, not a field: they show in the location instead."""
    seen = set()
    for variant in VARIANTS:
        doc = read_docx(build_docx(FORM, sample_reading(FORM, 3), variant))
        seen |= {way for way, _ in read_form(doc, FORM, source_kind="docx", filename="f.docx").found.values()}
    for case in all_cases():
        got = read_body(case.text, None, FORM)
        seen |= {way for way, _ in got.found.values()} if got else set()
    seen |= {way for way, _ in _attachment("pdf", build_acroform_pdf(FORM, sample_reading(FORM, 5))).found.values()}
    specify = read_body("Please specify: Foster carer\n\nQuestion 7: Agree\n\nQuestion 8\nNothing more.", None, FORM)
    assert specify is not None and specify.found["respondent.category"][0] == "please specify"
    seen |= {way for way, _ in specify.found.values()}
    assert {way for way in WAYS if not way.startswith("heading: ")} - seen == set()


def test_a_letter_signature_and_capacity_are_named() -> None:
    text = (
        "Dear Sir or Madam,\n\nI am writing as a parent.\n\nQuestion 1\nAgree - it is clear.\n\n"
        "Question 2\nWe think so.\n\nYours faithfully,\n\nJo Bloggs"
    )
    got = read_form(read_docx(word_letter(text)), FORM, source_kind="docx", filename="letter.docx")
    assert got.found["respondent.name"] == ("name under the closing", "the signature")
    assert got.found["respondent.category"][0] == "capacity in a sentence"
    assert got.found["q1.choice"] == ("choice in words", "paragraph under “Question 1”")
    assert got.found["q2.comment"] == ("comment under its heading", "paragraph under “Question 2”")


def test_how_it_was_read_crosses_the_sandbox_and_is_not_what_was_said() -> None:
    filled = sample_reading(FORM, 3)
    got = read_form(read_docx(build_docx(FORM, filled, "glyph")), FORM, source_kind="docx", filename="f.docx")
    again = pickle.loads(pickle.dumps(got))
    assert again.found == got.found and got.found
    assert fingerprint(replace(got, found={})) == fingerprint(got)


# ---- stored, shown on the response page and by `intake show`, kept out of the export --------------

LETTER = (
    "Dear Sir or Madam,\n\nI am writing as a parent.\n\nQuestion 1\nDisagree - it says too little.\n\n"
    "Question 2\nWe think so.\n\nYours faithfully,\n\nJo Bloggs"
)


def _file(web: Web, reading: Reading, reference: str, seq: int) -> None:
    """File `reading` as `_response_row` stores it, as a further response of the queued one's message."""
    with web.session() as s:
        msg = s.get(Message, stored(web).message_pk)
        assert msg is not None
        row = _response_row(msg, seq, reading, reference, False)
        row.reference = reference
        s.add(row)
        s.commit()


@pytest.fixture
def web(tmp_path: Path) -> Web:
    """The populated database, with a Word form (CT08-90001) and a letter (CT08-90002) filed by the reader."""
    web = make_web(tmp_path)
    word = read_form(
        read_docx(build_docx(FORM, sample_reading(FORM, 3), "glyph")), FORM, source_kind="docx", filename="f.docx"
    )
    letter = read_form(read_docx(word_letter(LETTER)), FORM, source_kind="docx", filename="letter.docx")
    _file(web, word, "CT08-90001", 7)
    _file(web, letter, "CT08-90002", 8)
    return web


def test_how_each_field_was_found_is_stored_per_question_and_per_response(web: Web) -> None:
    row = stored(web, "CT08-90001")
    assert row.answers["q1"]["found"]["choice"] == {
        "way": "mark by the row's shape",
        "where": "table row under the wording of question 1",
    }
    assert row.found == {k: v for k, v in row.found.items() if not k.startswith("q")}
    assert row.found["respondent.name"] == {"way": "labelled table row", "where": "table row “Name”"}
    letter = stored(web, "CT08-90002")
    assert letter.answers["q1"]["found"] == {
        "choice": {"way": "choice in words", "where": "paragraph under “Question 1”"},
        "comment": {"way": "comment under its heading", "where": "paragraph under “Question 1”"},
    }
    assert letter.found["respondent.name"] == {"way": "name under the closing", "where": "the signature"}


def test_the_response_page_says_where_each_answer_was_read_from(web: Web) -> None:
    client = web.app.test_client()
    sign_in(client, "rev")
    page = html.unescape(client.get("/responses/CT08-90001").text)
    assert "Read from: table row under the wording of question 1 (mark by the row's shape)" in page
    assert "Read from: table row “Name” (labelled table row)" in page
    page = html.unescape(client.get("/responses/CT08-90002").text)
    assert "Read from: paragraph under “Question 1” (choice in words)" in page
    assert "Read from: the signature (name under the closing)" in page
    assert "Read from: a sentence of the letter (capacity in a sentence)" in page


def test_read_from_says_who_corrected_it_since_and_is_escaped(web: Web) -> None:
    with web.session() as s:
        apply_corrections(s, FORM, "CT08-90002", ["q1.choice=agree"], who="rev")
    rewrite(web, "CT08-90001", found={"respondent.name": {"way": "<script>alert(1)</script>", "where": "<b>x</b>"}})
    client = web.app.test_client()
    sign_in(client, "rev")
    page = html.unescape(client.get("/responses/CT08-90002").text)
    assert "Read from: paragraph under “Question 1” (choice in words). Since corrected by rev." in page
    raw = client.get("/responses/CT08-90001").text
    assert "<script>alert(1)" not in raw and "&lt;script&gt;alert(1)" in raw


def test_intake_show_says_where_each_answer_was_read_from(web: Web) -> None:
    with web.session() as s:
        text = describe_response(s, FORM, "CT08-90002")
    assert "  Q1 [q1]: Disagree [disagree]\n      read from: paragraph under “Question 1” (choice in words)" in text
    assert "      comment read from: paragraph under “Question 1” (comment under its heading)" in text
    assert "  Name: Jo Bloggs\n      read from: the signature (name under the closing)" in text


def test_a_response_filed_before_it_was_recorded_shows_no_guess(web: Web) -> None:
    row = stored(web, "CT08-90001")
    old_answers = {qid: {"choice": a["choice"], "comment": a["comment"]} for qid, a in row.answers.items()}
    rewrite(web, "CT08-90001", found=None, answers=old_answers)
    client = web.app.test_client()
    sign_in(client, "rev")
    page = client.get("/responses/CT08-90001")
    assert page.status_code == 200 and "Read from: " not in page.text
    assert "Read from f.docx (docx)." in page.text  # the file the whole response came from, as before
    with web.session() as s:
        assert "read from:" not in describe_response(s, FORM, "CT08-90001")


def test_the_migration_goes_down_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "0013_web_users")
    assert "found" not in {c["name"] for c in inspect(make_engine(url)).get_columns("responses")}
    upgrade(url)
    assert "found" in {c["name"] for c in inspect(make_engine(url)).get_columns("responses")}


def test_the_export_is_unchanged_by_it(web: Web) -> None:
    with web.session() as s:
        records = [r for r in iter_responses(s, FORM) if r["reference"] in ("CT08-90001", "CT08-90002")]
    assert len(records) == 2
    for record in records:
        assert "found" not in record
        assert all(set(a) == {"choice", "comment"} for a in record["answers"].values())
