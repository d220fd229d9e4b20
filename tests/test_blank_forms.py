"""The blank forms staff publish (`intake form`) and the readers never drift apart.

The CLI writes the Word and PDF forms from the form definition; the Word form must read as an
empty response (not as a letter), and the PDF form must carry a field for every answer the reader
looks for, so that a respondent who fills it in gets every value back.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders.docx_forms import sample_reading
from builders.pdf_forms import build_acroform_pdf
from pypdf import PdfReader

from ingest.cli import main
from parsers import blankform_pdf as bf
from parsers.attachments import AttachmentJob, read_attachment
from parsers.formdef import DEFAULT_FORM_PATH, FormDefinition, load_form
from parsers.model import Answer, Reading, Respondent

FORM = load_form(DEFAULT_FORM_PATH)
CHECKBOX, TEXT = "/Btn", "/Tx"


@pytest.fixture(scope="module")
def blank_forms(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The Word and PDF forms as `intake form --docx ... --pdf ...` writes them."""
    tmp = tmp_path_factory.mktemp("blank-forms")
    config = tmp / "config.toml"
    config.write_text(
        f'[form]\ndefinition = "{DEFAULT_FORM_PATH}"\n[database]\nurl = "sqlite:///{tmp / "intake.db"}"\n',
        encoding="utf-8",
    )
    docx, pdf = tmp / "Response form.docx", tmp / "Response form.pdf"
    assert main(["--config", str(config), "form", "--docx", str(docx), "--pdf", str(pdf)]) == 0
    return docx, pdf


def read(kind: str, path: Path, data: bytes | None = None) -> Reading:
    reading = read_attachment(AttachmentJob(kind, path.name, FORM), path.read_bytes() if data is None else data)
    assert isinstance(reading, Reading)
    return reading


def expected_fields(form: FormDefinition) -> dict[str, str]:
    """Every field name the PDF reader maps back onto the form, with its field type."""
    fields = {f.id: TEXT for f in form.respondent_fields}
    fields |= {bf.confidential_field(): CHECKBOX, bf.confidential_reason_field(): TEXT}
    fields |= {bf.category_field(c.id): CHECKBOX for c in form.categories}
    if any(c.specify for c in form.categories):
        fields[bf.category_other_field()] = TEXT
    for q in form.questions:
        if q.scale:
            fields |= {bf.answer_field(q.id, c.id): CHECKBOX for c in form.scale}
        fields[bf.comments_field(q.id)] = TEXT
    fields |= {bf.acknowledge_field(): CHECKBOX, bf.acknowledge_email_field(): TEXT}
    fields |= {bf.contact_field(c.id): CHECKBOX for c in form.contact_again_choices}
    return fields


# --- the Word form ------------------------------------------------------------------------------


def test_the_cli_writes_both_forms(blank_forms: tuple[Path, Path]) -> None:
    docx, pdf = blank_forms
    assert docx.read_bytes().startswith(b"PK\x03\x04")
    assert pdf.read_bytes().startswith(b"%PDF-")


def test_the_blank_word_form_reads_as_an_empty_form_not_a_letter(blank_forms: tuple[Path, Path]) -> None:
    reading = read("docx", blank_forms[0])
    assert reading.text is None
    assert reading.review_reasons == ()
    assert reading.respondent == Respondent()
    assert (reading.confidential, reading.confidential_reason) == (False, None)
    assert (reading.acknowledge, reading.acknowledge_email, reading.contact_again) == (False, None, None)
    assert dict(reading.answers) == {qid: Answer() for qid in FORM.question_ids}


# --- the PDF form -------------------------------------------------------------------------------


def test_the_blank_pdf_has_a_field_for_every_answer(blank_forms: tuple[Path, Path]) -> None:
    fields = PdfReader(blank_forms[1]).get_fields() or {}
    assert {name: field.get("/FT") for name, field in fields.items()} == expected_fields(FORM)


def test_the_blank_pdf_is_the_one_the_fixtures_fill(blank_forms: tuple[Path, Path]) -> None:
    """`build_acroform_pdf` fills `write_blank_pdf`'s output: the same bytes the CLI publishes."""
    assert blank_forms[1].read_bytes() == bf.write_blank_pdf(FORM)


def test_the_blank_pdf_reads_as_an_empty_form(blank_forms: tuple[Path, Path]) -> None:
    reading = read("pdf", blank_forms[1])
    assert reading.text is None
    assert reading.respondent == Respondent()
    assert dict(reading.answers) == {qid: Answer() for qid in FORM.question_ids}


@pytest.mark.parametrize("seed", [10, 14], ids=lambda s: f"seed{s}")
def test_filling_the_blank_pdf_gives_every_value_back(blank_forms: tuple[Path, Path], seed: int) -> None:
    filled = sample_reading(FORM, seed)
    got = read("pdf", blank_forms[1], build_acroform_pdf(FORM, filled))
    assert got.review_reasons == ()
    assert got.respondent == filled.respondent  # a fillable field keeps the address as typed
    assert (got.confidential, got.confidential_reason) == (filled.confidential, filled.confidential_reason)
    assert (got.acknowledge, got.acknowledge_email) == (filled.acknowledge, filled.acknowledge_email)
    assert got.contact_again == filled.contact_again
    assert dict(got.answers) == dict(filled.answers)


def rotated_reading(k: int) -> Reading:
    """A response marking the k-th category and, for each question, the next answer along the scale."""
    category = FORM.categories[k % len(FORM.categories)]
    answers = {
        q.id: Answer(choice=FORM.scale[(i + k) % len(FORM.scale)].id if q.scale else None, comment=f"Comment {k}.")
        for i, q in enumerate(FORM.questions)
    }
    return Reading(
        source_kind="pdf",
        filename=None,
        respondent=Respondent(
            name=f"Respondent {k}", category=category.id, category_other="A foster carer" if category.specify else None
        ),
        confidential=bool(k % 2),
        acknowledge=not k % 2,
        contact_again=FORM.contact_again_choices[k % len(FORM.contact_again_choices)].id,
        answers=answers,
    )


@pytest.mark.parametrize("k", range(len(FORM.categories)), ids=[c.id for c in FORM.categories])
def test_every_box_of_the_blank_pdf_reads_back(blank_forms: tuple[Path, Path], k: int) -> None:
    filled = rotated_reading(k)
    got = read("pdf", blank_forms[1], build_acroform_pdf(FORM, filled))
    assert got.review_reasons == ()
    assert (got.respondent.category, got.respondent.category_other) == (
        filled.respondent.category,
        filled.respondent.category_other,
    )
    assert (got.confidential, got.acknowledge, got.contact_again) == (
        filled.confidential,
        filled.acknowledge,
        filled.contact_again,
    )
    assert {q: a.choice for q, a in got.answers.items()} == {q: a.choice for q, a in filled.answers.items()}
