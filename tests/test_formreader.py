"""The form reader over hand-made Documents in every layout respondents produce.

`form_document` builds the IR a format reader would give for the department's Word form filled in
as `Reading` says, following the blank form's layout; `layout` picks how the boxes were marked.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from parsers.document import CHECKED, UNCHECKED, Document, Paragraph, Table
from parsers.formdef import DEFAULT_FORM_PATH, Choice, FormDefinition, load_form
from parsers.formreader import LETTER_REASON, Row, read_choice_row, read_form
from parsers.model import Answer, Reading, Respondent

FORM = load_form(DEFAULT_FORM_PATH)
SCALE = {c.id: c.label for c in FORM.scale}

FILLED = Reading(
    source_kind="docx",
    filename="response.docx",
    respondent=Respondent(
        name="Jane Smith",
        organisation="Example Borough Council",
        address="1 High Street\nExampleton\nEX1 1AA",
        email="jane.smith@example.org",
        category="local_authority",
    ),
    confidential=True,
    confidential_reason="Not yet approved by our Board.",
    acknowledge=True,
    acknowledge_email="jane.smith@example.org",
    contact_again="no",
    answers=MappingProxyType(
        {
            "q1": Answer("agree", "We welcome the clearer leadership role."),
            "q2": Answer("disagree", "The Board is too large.\nSchools should sit on it."),
            "q3": Answer("not_sure", ""),
            "q4": Answer("agree", ""),
            "q5": Answer(None, "A comment but no box ticked."),
            "q6": Answer(None, ""),
            "q7": Answer("not_sure", "It depends on the toolkit."),
            "q8": Answer(None, "Thank you for the chance to comment."),
        }
    ),
)


# --------------------------------------------------------------------------------------------------
# The builder: a filled form as the IR of a Word document.


def _box(ticked: bool, layout: str) -> str:
    if layout == "x_typed":
        return "X" if ticked else ""
    if layout == "beside":
        return UNCHECKED
    return CHECKED if ticked else UNCHECKED


def _single_box(ticked: bool, layout: str) -> str:
    """A lone box (confidential, acknowledge) has no label cell to type beside."""
    return _box(ticked, "glyph" if layout == "beside" else layout)


def _label(label: str, ticked: bool, layout: str) -> str:
    return f"X {label}" if layout == "beside" and ticked else label


def _pairs(choices: tuple[Choice, ...], chosen: str | None, layout: str, *, box_first: bool) -> list[str]:
    cells: list[str] = []
    for c in choices:
        pair = [_label(c.label, c.id == chosen, layout), _box(c.id == chosen, layout)]
        cells.extend(reversed(pair) if box_first else pair)
    return cells


def _respondent_tables(form: FormDefinition, filled: Reading, layout: str) -> list[Table | Paragraph]:
    r = filled.respondent
    values = {"name": r.name, "organisation": r.organisation, "address": r.address, "email": r.email}
    return [
        Table(((form.confidential_label, _single_box(filled.confidential, layout)),)),
        Table(((form.confidential_reason_label + ":", filled.confidential_reason or ""),)),
        Table(tuple((f.label, values[f.id] or "") for f in form.respondent_fields)),
        Paragraph(form.category_prompt),
    ]


def _category_table(form: FormDefinition, filled: Reading, layout: str) -> Table:
    cells = _pairs(form.categories, filled.respondent.category, layout, box_first=True)
    rows = [tuple(cells[i : i + 4]) for i in range(0, len(cells), 4)]
    rows.append(("Please specify:", filled.respondent.category_other or ""))
    return Table(tuple(rows))


def _question_table(form: FormDefinition, filled: Reading, qid: str, layout: str) -> Table:
    q = form.question(qid)
    answer = filled.answers[qid]
    rows: list[tuple[str, ...]] = [(f"{q.number}\u2003{q.text}",)]
    if q.scale:
        rows.append(tuple(_pairs(form.scale, answer.choice, layout, box_first=False)))
    rows.extend([("Comments:",), (answer.comment,)])
    return Table(tuple(rows))


def _closing(form: FormDefinition, filled: Reading, layout: str) -> list[Table | Paragraph]:
    return [
        Table(((form.acknowledge_label, _single_box(filled.acknowledge, layout)),)),
        Table(((form.acknowledge_email_label + ":", filled.acknowledge_email or ""),)),
        Paragraph(form.contact_again_label),
        Table((tuple(_pairs(form.contact_again_choices, filled.contact_again, layout, box_first=False)),)),
        Paragraph("Thank you for taking the time to let us have your views."),
        Paragraph(f"Send by e-mail to: {form.mailbox}"),
    ]


def form_document(form: FormDefinition, filled: Reading, layout: str = "glyph") -> Document:
    """The IR of the Word form filled in as `filled` says; layout "glyph", "x_typed" or "beside"."""
    blocks: list[Table | Paragraph] = [
        Paragraph(f"{form.title} Consultation Response Form"),
        Paragraph(f"The closing date for this consultation is: {form.closes:%d %B %Y}"),
        *_respondent_tables(form, filled, layout),
        _category_table(form, filled, layout),
    ]
    for qid in form.question_ids:
        blocks.extend([_question_table(form, filled, qid, layout), Paragraph("")])
    blocks.extend(_closing(form, filled, layout))
    return Document(blocks=tuple(blocks))


def _yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def retyped_document(form: FormDefinition, filled: Reading) -> Document:
    """The form retyped as plain paragraphs, the way people answer in a letter or an e-mail."""
    r = filled.respondent
    category = next(c.label for c in form.categories if c.id == r.category)
    lines = [
        f"Name: {r.name}",
        f"Organisation: {r.organisation}",
        f"Address: {r.address}",
        f"Email: {r.email}",
        f"Category: {category}",
        f"Please keep my response confidential - {_yes_no(filled.confidential)}",
        f"Reason for confidentiality: {filled.confidential_reason}",
        "",
    ]
    for q in form.questions:
        answer = filled.answers[q.id]
        label = next((c.label for c in form.scale if c.id == answer.choice), "")
        lines.extend([f"Question {q.number}: {label}" if q.scale else f"Question {q.number}"])
        lines.extend([f"Comments: {answer.comment}", ""] if answer.comment else [""])
    lines.append(f"Please acknowledge this reply: {_yes_no(filled.acknowledge)}")
    lines.append(f"E-mail address for acknowledgement: {filled.acknowledge_email}")
    lines.append(f"Happy to be contacted again - {filled.contact_again}")
    return Document(blocks=tuple(Paragraph(line) for paragraph in lines for line in paragraph.split("\n")))


def acroform_fields(form: FormDefinition, filled: Reading) -> dict[str, str]:
    """The fields of the fillable PDF form, named by the department's scheme."""
    r = filled.respondent
    fields = {"name": r.name or "", "organisation": r.organisation or "", "address": r.address or ""}
    fields.update({"email": r.email or "", "confidential_reason": filled.confidential_reason or ""})
    fields.update({"confidential": _mark(filled.confidential), "acknowledge": _mark(filled.acknowledge)})
    fields.update({"ack_email": filled.acknowledge_email or "", "category_other": r.category_other or ""})
    fields.update({f"cat_{c.id}": _mark(c.id == r.category) for c in form.categories})
    fields.update({f"contact_{c.id}": _mark(c.id == filled.contact_again) for c in form.contact_again_choices})
    for q in form.questions:
        fields[f"{q.id}_comments"] = filled.answers[q.id].comment
        for c in form.scale if q.scale else ():
            fields[f"{q.id}_{c.id}"] = _mark(filled.answers[q.id].choice == c.id)
    return fields


def _mark(ticked: bool) -> str:
    return CHECKED if ticked else UNCHECKED


def _read(doc: Document, kind: str = "docx") -> Reading:
    return read_form(doc, FORM, source_kind=kind, filename="response.docx" if kind != "body" else None)


def _with_answer(filled: Reading, qid: str, answer: Answer) -> Reading:
    return replace(filled, answers=MappingProxyType({**filled.answers, qid: answer}))


def _replace_row(doc: Document, old: tuple[str, ...], new: tuple[str, ...], within: str = "") -> Document:
    """The same document with a table row replaced (what a respondent typed), in tables starting `within`."""
    blocks = []
    for b in doc.blocks:
        if isinstance(b, Table) and old in b.rows and b.rows[0][0].startswith(within):
            b = Table(tuple(new if row == old else row for row in b.rows))
        blocks.append(b)
    return replace(doc, blocks=tuple(blocks))


def _scale_row(*cells: str) -> tuple[str, ...]:
    return tuple(cells)


# --------------------------------------------------------------------------------------------------
# Every layout reads back exactly.


@pytest.mark.parametrize("layout", ["glyph", "x_typed", "beside"])
def test_word_form_reads_back_every_field(layout: str) -> None:
    got = _read(form_document(FORM, FILLED, layout))
    assert got.review_reasons == ()
    assert got.respondent == FILLED.respondent
    assert (got.confidential, got.confidential_reason) == (True, "Not yet approved by our Board.")
    assert (got.acknowledge, got.acknowledge_email, got.contact_again) == (True, "jane.smith@example.org", "no")
    assert dict(got.answers) == dict(FILLED.answers)
    assert got.text is None
    assert got.status == "filed"


def test_retyped_paragraphs_read_back_every_field() -> None:
    got = _read(retyped_document(FORM, FILLED), "body")
    assert got.review_reasons == ()
    assert got.respondent == FILLED.respondent
    assert (got.confidential, got.confidential_reason) == (True, "Not yet approved by our Board.")
    assert (got.acknowledge, got.acknowledge_email, got.contact_again) == (True, "jane.smith@example.org", "no")
    assert dict(got.answers) == dict(FILLED.answers)


def test_acroform_fields_read_back_every_field() -> None:
    got = _read(Document(fields=acroform_fields(FORM, FILLED)), "pdf")
    assert got.review_reasons == ()
    assert got.respondent == FILLED.respondent
    assert dict(got.answers) == dict(FILLED.answers)
    assert (got.confidential, got.acknowledge, got.contact_again) == (True, True, "no")


def test_acroform_generic_field_names_are_matched_and_unknown_filled_fields_reported() -> None:
    fields = acroform_fields(FORM, FILLED)
    fields["Question 1 Agree"] = fields.pop("q1_agree")
    fields["Text7"] = "Something typed in an extra box"
    got = _read(Document(fields=fields), "pdf")
    assert got.answers["q1"].choice == "agree"
    assert got.review_reasons == ("A filled form field “Text7” does not match anything on the form.",)


def test_category_other_with_specify_text() -> None:
    filled = replace(FILLED, respondent=replace(FILLED.respondent, category="other", category_other="Foster carer"))
    got = _read(form_document(FORM, filled))
    assert (got.respondent.category, got.respondent.category_other) == ("other", "Foster carer")
    assert got.review_reasons == ()


def test_specify_text_without_a_box_means_other() -> None:
    filled = replace(FILLED, respondent=replace(FILLED.respondent, category=None, category_other="Governor"))
    got = _read(form_document(FORM, filled))
    assert (got.respondent.category, got.respondent.category_other) == ("other", "Governor")
    assert got.review_reasons == ()


def test_specify_text_beside_another_ticked_box_needs_review() -> None:
    filled = replace(FILLED, respondent=replace(FILLED.respondent, category_other="Governor"))
    got = _read(form_document(FORM, filled))
    assert got.respondent.category == "local_authority"
    assert got.status == "needs_review"
    assert "Governor" in got.review_reasons[0]


def test_question_without_scale_row_keeps_only_the_comment() -> None:
    got = _read(form_document(FORM, FILLED))
    assert got.answers["q8"] == Answer(None, "Thank you for the chance to comment.")


def test_unanswered_form_is_filed_with_empty_answers() -> None:
    empty = replace(
        FILLED,
        respondent=Respondent(name="Jo Bloggs"),
        confidential=False,
        confidential_reason=None,
        acknowledge=False,
        acknowledge_email=None,
        contact_again=None,
        answers=MappingProxyType({qid: Answer() for qid in FORM.question_ids}),
    )
    got = _read(form_document(FORM, empty))
    assert got.review_reasons == ()
    assert dict(got.answers) == {qid: Answer() for qid in FORM.question_ids}
    assert got.respondent == Respondent(name="Jo Bloggs")


def test_comment_written_in_the_comments_label_cell() -> None:
    doc = _replace_row(form_document(FORM, FILLED), ("Comments:",), ("Comments: Written beside the label.",))
    got = _read(doc)
    assert got.answers["q3"].comment == "Written beside the label."


def test_placeholder_text_is_dropped() -> None:
    filled = _with_answer(FILLED, "q4", Answer("agree", "Click here to enter text."))
    got = _read(form_document(FORM, filled))
    assert got.answers["q4"] == Answer("agree", "")


def test_altered_labels_still_read() -> None:
    doc = form_document(FORM, FILLED)
    doc = _replace_row(doc, ("Organisation (if applicable)", "Example Borough Council"), ("Organization", "EBC"))
    doc = _replace_row(doc, ("E-mail", "jane.smith@example.org"), ("Email:", "jane.smith@example.org"))
    got = _read(doc)
    assert (got.respondent.organisation, got.respondent.email) == ("EBC", "jane.smith@example.org")


# --------------------------------------------------------------------------------------------------
# Review: never a silent wrong answer.


def test_two_boxes_ticked_needs_review_and_names_the_question() -> None:
    doc = form_document(FORM, FILLED)
    old = ("Agree", UNCHECKED, "Disagree", UNCHECKED, "Not sure", CHECKED)
    doc = _replace_row(doc, old, ("Agree", CHECKED, "Disagree", UNCHECKED, "Not sure", CHECKED), within="3")
    got = _read(doc)
    assert got.answers["q3"].choice is None
    assert "Question 3: more than one box ticked (Agree, Not sure)." in got.review_reasons


def test_unclear_mark_needs_review() -> None:
    doc = form_document(FORM, FILLED)
    old = ("Agree", UNCHECKED, "Disagree", UNCHECKED, "Not sure", CHECKED)
    doc = _replace_row(doc, old, ("Agree", "?", "Disagree", UNCHECKED, "Not sure", UNCHECKED), within="3")
    got = _read(doc)
    assert got.answers["q3"].choice is None
    assert got.review_reasons == ("Question 3: a mark that cannot be read in the Agree box (“?”).",)


def test_two_categories_ticked_needs_review() -> None:
    doc = form_document(FORM, FILLED)
    row = next(r for b in doc.blocks if isinstance(b, Table) for r in b.rows if "Parent or carer" in r)
    doc = _replace_row(doc, row, tuple(CHECKED if c == UNCHECKED else c for c in row))
    got = _read(doc)
    assert got.respondent.category is None
    assert got.review_reasons[0].startswith("Respondent category: more than one box ticked (Local Authority")


def test_yes_and_no_both_ticked_needs_review() -> None:
    doc = _replace_row(form_document(FORM, FILLED), ("Yes", UNCHECKED, "No", CHECKED), ("Yes", "X", "No", "X"))
    got = _read(doc)
    assert got.contact_again is None
    assert got.review_reasons == ("Contact again (Yes/No): more than one box ticked (Yes, No).",)


def test_x_between_two_labels_is_ambiguous() -> None:
    marks = read_choice_row(Row(("Agree X Disagree Not sure",), False), SCALE)
    assert marks is not None and marks.ambiguous


def test_x_typed_beside_label_in_one_cell_belongs_to_that_label() -> None:
    marks = read_choice_row(Row(("Agree", UNCHECKED, "X Disagree", UNCHECKED, "Not sure", UNCHECKED), True), SCALE)
    assert marks is not None and not marks.ambiguous
    assert [cid for cid, m in marks.marks.items() if True in m] == ["disagree"]


@pytest.mark.parametrize(
    "cells",
    [
        ("Agree \u2612 Disagree \u2610 Not sure \u2610",),
        ("\u2612 Agree", "\u2610 Disagree", "\u2610 Not sure"),
        ("Agree \u2612", "Disagree \u2610", "Not sure \u2610"),
        ("Agree", "\u2713", "Disagree", "", "Not sure", ""),
    ],
)
def test_choice_row_shapes(cells: tuple[str, ...]) -> None:
    marks = read_choice_row(Row(cells, True), SCALE)
    assert marks is not None and not marks.ambiguous and not marks.unclear
    assert [cid for cid, m in marks.marks.items() if True in m] == ["agree"]


def test_question_text_alone_is_not_a_choice_row() -> None:
    assert (
        read_choice_row(Row(("Do you agree that every Children's Trust should be led by a Board?",), True), SCALE)
        is None
    )


def test_half_matching_form_needs_review() -> None:
    doc = form_document(FORM, FILLED)
    blocks = tuple(b for b in doc.blocks if not (isinstance(b, Table) and b.rows[0][0].startswith(("5", "6"))))
    got = _read(replace(doc, blocks=blocks))
    assert got.review_reasons == ("Questions 5, 6 not found in the form: it may be incomplete or altered.",)


def test_reader_problems_are_kept_as_review_reasons() -> None:
    doc = replace(form_document(FORM, FILLED), problems=("Part of the document could not be read.",))
    assert _read(doc).review_reasons == ("Part of the document could not be read.",)


def test_letter_without_form_structure_keeps_its_text() -> None:
    letter = Document(
        blocks=(
            Paragraph("12 Long Lane"),
            Paragraph("Dear Sir or Madam,"),
            Paragraph(""),
            Paragraph("I am writing about the draft guidance on Children's Trusts. It says too little about schools."),
            Paragraph("Yours faithfully,"),
            Paragraph("A. Writer"),
        )
    )
    got = _read(letter)
    assert got.review_reasons == (LETTER_REASON,)
    assert got.text == (
        "12 Long Lane\nDear Sir or Madam,\nI am writing about the draft guidance on Children's Trusts. "
        "It says too little about schools.\nYours faithfully,\nA. Writer"
    )
    assert dict(got.answers) == {qid: Answer() for qid in FORM.question_ids}
    assert got.respondent == Respondent()


def test_numbered_points_in_a_letter_are_read_but_not_trusted() -> None:
    """Numbered paragraphs may be answers or just points: read them, and let a person confirm."""
    letter = Document(
        blocks=(
            Paragraph("Dear Sir,"),
            Paragraph("1. The guidance is too long."),
            Paragraph("2. Schools are not mentioned enough."),
            Paragraph("Yours, Jo"),
        )
    )
    got = _read(letter)
    assert got.status == "needs_review"
    assert any("numbered paragraphs" in r for r in got.review_reasons)
    assert got.answers["q2"] == Answer(None, "Schools are not mentioned enough.")


# --------------------------------------------------------------------------------------------------
# Retyped answers in their many spellings.


def _body(*lines: str) -> Reading:
    return _read(Document(blocks=tuple(Paragraph(line) for line in lines)), "body")


def test_numbered_answers_with_reasons_on_the_same_line() -> None:
    got = _body(
        "Name: Jo Bloggs",
        "1. Agree",
        "2. Disagree \u2013 because the Board is too large",
        "3. Not sure",
        "Q4: unsure",
    )
    assert got.review_reasons == ()
    assert got.answers["q1"] == Answer("agree", "")
    assert got.answers["q2"] == Answer("disagree", "because the Board is too large")
    assert got.answers["q3"].choice == "not_sure"
    assert got.answers["q4"].choice == "not_sure"


def test_question_wording_retyped_with_answer_line() -> None:
    q3 = FORM.question("q3")
    got = _body(
        "Name: Jo Bloggs",
        f"Question 3 {q3.text}",
        "Answer: Agree",
        "Comments: Clear enough.",
        "",
        "It could say more about governors.",
    )
    assert got.answers["q3"] == Answer("agree", "Clear enough.\nIt could say more about governors.")
    assert got.review_reasons == ()


def test_a_choice_word_inside_a_comment_is_not_a_tick() -> None:
    got = _body("Name: Jo", "Question 1:", "Comment: We think so.", "Agree", "Question 2: agree")
    assert got.answers["q1"] == Answer(None, "We think so.\nAgree")


def test_unreadable_yes_no_value_needs_review() -> None:
    got = _body("Name: Jo", "Question 1: agree", "Question 2: agree", "Please keep my response confidential - perhaps")
    assert got.confidential is False
    assert got.review_reasons == ("Confidentiality box: a mark that cannot be read (“perhaps”).",)


def test_category_in_words_not_on_the_form_needs_review() -> None:
    got = _body("Name: Jo", "Category: Governor", "Question 1: agree", "Question 2: agree")
    assert got.respondent.category is None
    assert got.review_reasons == ("Respondent category: “Governor” does not match any category on the form.",)


def test_department_mailbox_is_not_read_as_the_respondent_email() -> None:
    got = _read(form_document(FORM, replace(FILLED, respondent=replace(FILLED.respondent, email=None))))
    assert got.respondent.email is None


# --------------------------------------------------------------------------------------------------
# End to end: fixtures built by the repo's own builders, read by the real format readers.


def _assert_reads_back(got: Reading) -> None:
    assert got.review_reasons == ()
    assert got.respondent == FILLED.respondent
    assert (got.confidential, got.confidential_reason) == (True, "Not yet approved by our Board.")
    assert (got.acknowledge, got.acknowledge_email, got.contact_again) == (True, "jane.smith@example.org", "no")
    assert dict(got.answers) == dict(FILLED.answers)


@pytest.mark.parametrize("builder", ["build_acroform_pdf", "build_printed_pdf", "build_xfa_pdf"])
def test_pdf_forms_end_to_end(builder: str) -> None:
    pdf_forms = pytest.importorskip("builders.pdf_forms")
    pdf_reader = pytest.importorskip("parsers.pdf_reader")
    doc = pdf_reader.read_pdf(getattr(pdf_forms, builder)(FORM, FILLED))
    _assert_reads_back(_read(doc, "pdf"))


@pytest.mark.parametrize("mark", ["X", "\u2713"])
def test_printed_pdf_with_typed_marks_end_to_end(mark: str) -> None:
    pdf_forms = pytest.importorskip("builders.pdf_forms")
    pdf_reader = pytest.importorskip("parsers.pdf_reader")
    doc = pdf_reader.read_pdf(pdf_forms.build_printed_pdf(FORM, FILLED, mark=mark))
    _assert_reads_back(_read(doc, "pdf"))


def test_docx_forms_end_to_end_every_variant() -> None:
    docx_forms = pytest.importorskip("builders.docx_forms")
    docx_reader = pytest.importorskip("parsers.docx_reader")
    for variant in docx_forms.VARIANTS:
        filled = docx_forms.sample_reading(FORM, 7)
        got = _read(docx_reader.read_docx(docx_forms.build_docx(FORM, filled, variant)))
        assert got.review_reasons == (), variant
        address = got.respondent.address
        assert replace(got.respondent, address=address and address.replace("\n", ", ")) == filled.respondent, variant
        assert dict(got.answers) == dict(filled.answers), variant
        assert (got.confidential, got.acknowledge, got.contact_again) == (
            filled.confidential,
            filled.acknowledge,
            filled.contact_again,
        ), variant


# --------------------------------------------------------------------------------------------------
# The category grid's "Other (please specify)".


def _category_row_document(row: tuple[str, ...]) -> Document:
    doc = form_document(FORM, replace(FILLED, respondent=replace(FILLED.respondent, category=None)))
    old = (UNCHECKED, "Child or young person", UNCHECKED, "Other (please specify)")
    return _replace_row(doc, old, row)


def test_specify_text_typed_in_the_other_label_cell() -> None:
    got = _read(
        _category_row_document((UNCHECKED, "Child or young person", "X", "Other (please specify): Foster carer"))
    )
    assert (got.respondent.category, got.respondent.category_other) == ("other", "Foster carer")
    assert got.review_reasons == ()


def test_tick_beside_text_that_is_no_choice_needs_review() -> None:
    got = _read(
        _category_row_document((UNCHECKED, "Child or young person", "X", "Something else entirely, as I see it"))
    )
    assert got.respondent.category is None
    assert got.review_reasons == (
        "Respondent category: a box is marked beside text that is not one of the choices "
        "(“Something else entirely, as I see it”).",
    )
