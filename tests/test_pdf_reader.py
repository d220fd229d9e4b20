"""The PDF reader over fillable, printed, XFA, scanned and encrypted responses built from a Reading."""

from __future__ import annotations

import dataclasses
import io
from types import MappingProxyType

import pdfplumber
import pytest
from builders.pdf_forms import (
    build_acroform_pdf,
    build_encrypted_pdf,
    build_looping_pdf,
    build_printed_pdf,
    build_scanned_pdf,
    build_xfa_pdf,
    field_values,
)
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject
from reportlab.pdfgen.canvas import Canvas

from parsers.blankform_pdf import write_blank_pdf
from parsers.document import CHECKED, UNCHECKED, Paragraph, Table
from parsers.formdef import FormDefinition
from parsers.model import Answer, Reading, Respondent
from parsers.pdf_reader import PasswordProtectedError, PdfReadError, find_tables, layout_blocks, read_pdf

Q1_COMMENT = (
    "The link to the Children's Plan is helpful and will be understood by partners who were not "
    "involved in the original Every Child Matters arrangements. Colleagues told us the section was "
    "the clearest account of the Trust's purpose they had seen.\n"
    "The guidance describes the Trust as “leading” but gives it no powers.\n"
    "In particular, the guidance should:\n"
    "• give examples of effective pooled budget agreements;\n"
    "• describe how the voluntary sector should be involved in commissioning."
)
Q3_COMMENT = (
    "Partly. We would like the Department to say more about how governing bodies, rather than head "
    "teachers alone, should be involved, and how extended services are expected to link to the "
    "Trust's priorities."
)


@pytest.fixture(scope="module")
def filled() -> Reading:
    return Reading(
        source_kind="pdf",
        filename="response.pdf",
        respondent=Respondent(
            name="Ms Aoife O'Neill",
            organisation="Dunmere Parent Forum",
            address="Town Hall\nOrchard Close\nDunmere\nDM2 5RE",
            email="aoife@parentforum.example.org",
            category="other",
            category_other="Parents' forum",
        ),
        confidential=True,
        confidential_reason="Our committee has not yet approved this response.",
        acknowledge=True,
        acknowledge_email="office@parentforum.example.org",
        contact_again="no",
        answers=MappingProxyType(
            {
                "q1": Answer("agree", Q1_COMMENT),
                "q2": Answer("disagree", ""),
                "q3": Answer("not_sure", Q3_COMMENT),
                "q8": Answer(None, "Thank you for the chance to comment."),
            }
        ),
    )


@pytest.fixture(scope="module")
def printed(form, filled):
    """The filled form printed with X marks, read once for the tests that only look."""
    return read_pdf(build_printed_pdf(form, filled))


def expected_fields(form: FormDefinition, filled: Reading) -> dict[str, str]:
    return {
        name: (CHECKED if value else UNCHECKED) if isinstance(value, bool) else value
        for name, value in field_values(form, filled).items()
    }


def expected_field_names(form: FormDefinition) -> dict[str, str]:
    """The published naming scheme, spelled out independently of the writer: name -> /FT."""
    names = {"confidential": "/Btn", "confidential_reason": "/Tx"}
    names |= {f.id: "/Tx" for f in form.respondent_fields}
    names |= {f"cat_{c.id}": "/Btn" for c in form.categories} | {"category_other": "/Tx"}
    for q in form.questions:
        if q.scale:
            names |= {f"{q.id}_{c.id}": "/Btn" for c in form.scale}
        names[f"{q.id}_comments"] = "/Tx"
    names |= {"acknowledge": "/Btn", "ack_email": "/Tx"}
    names |= {f"contact_{c.id}": "/Btn" for c in form.contact_again_choices}
    return names


def question_table(doc, number: int) -> Table:
    tables = [b for b in doc.blocks if isinstance(b, Table) and b.rows[0][0].startswith(f"{number} ")]
    assert len(tables) == 1, tables
    return tables[0]


def table_starting(doc, label: str) -> Table:
    return next(b for b in doc.blocks if isinstance(b, Table) and b.rows[0][0] == label)


# Blank form ----------------------------------------------------------------------------------


def test_blank_pdf_has_every_field_with_its_type(form):
    fields = PdfReader(io.BytesIO(write_blank_pdf(form))).get_fields()
    assert {name: f.get("/FT") for name, f in fields.items()} == expected_field_names(form)


def test_blank_pdf_address_and_comments_are_multiline(form):
    fields = PdfReader(io.BytesIO(write_blank_pdf(form))).get_fields()
    multiline = {name for name, f in fields.items() if int(f.get("/Ff", 0)) & (1 << 12)}
    assert {"address", "confidential_reason"} | {f"{q.id}_comments" for q in form.questions} <= multiline


def test_blank_pdf_reads_as_unanswered(form):
    doc = read_pdf(write_blank_pdf(form))
    assert set(doc.fields.values()) == {"", UNCHECKED}
    assert any(isinstance(b, Paragraph) and b.text == form.category_prompt for b in doc.blocks)


# AcroForm ------------------------------------------------------------------------------------


def test_acroform_fields_read_back_exactly(form, filled):
    doc = read_pdf(build_acroform_pdf(form, filled))
    assert dict(doc.fields) == expected_fields(form, filled)
    assert doc.problems == ()


def test_acroform_keeps_line_breaks_and_ticks(form, filled):
    fields = read_pdf(build_acroform_pdf(form, filled)).fields
    assert fields["address"] == "Town Hall\nOrchard Close\nDunmere\nDM2 5RE"
    assert fields["q1_comments"] == Q1_COMMENT
    assert (fields["q1_agree"], fields["q1_disagree"], fields["cat_other"]) == (CHECKED, UNCHECKED, CHECKED)
    assert (fields["contact_yes"], fields["contact_no"]) == (UNCHECKED, CHECKED)


def test_radio_groups_and_choice_fields_give_their_values():
    buf = io.BytesIO()
    canvas = Canvas(buf, invariant=1)
    for i, value in enumerate(("yes", "no")):
        canvas.acroForm.radio(name="contact", value=value, selected=value == "no", x=72 + 40 * i, y=700)
    for i, value in enumerate(("a", "b")):
        canvas.acroForm.radio(name="unanswered", value=value, selected=False, x=72 + 40 * i, y=650)
    canvas.acroForm.choice(name="region", options=["North", "South"], value="South", x=72, y=600)
    canvas.showPage()
    canvas.save()
    fields = read_pdf(buf.getvalue()).fields
    assert (fields["contact"], fields["unanswered"], fields["region"]) == ("no", "", "South")


def _field(writer: PdfWriter, **entries) -> object:
    obj = DictionaryObject({NameObject(f"/{k}"): v for k, v in entries.items()})
    return writer._add_object(obj)


def test_field_tree_names_are_dotted_and_attributes_inherited():
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    name = _field(writer, T=TextStringObject("name"), V=TextStringObject("Jo Bloggs"))
    agree = _field(writer, T=TextStringObject("agree"), FT=NameObject("/Btn"), V=NameObject("/On"))
    about = _field(writer, T=TextStringObject("about"), FT=NameObject("/Tx"), Kids=ArrayObject([name, agree]))
    widget = _field(writer, Subtype=NameObject("/Widget"), AS=NameObject("/Yes"))
    ack = _field(writer, T=TextStringObject("ack"), FT=NameObject("/Btn"), Kids=ArrayObject([widget]))
    acroform = DictionaryObject({NameObject("/Fields"): ArrayObject([about, ack])})
    writer.root_object[NameObject("/AcroForm")] = writer._add_object(acroform)
    buf = io.BytesIO()
    writer.write(buf)
    fields = read_pdf(buf.getvalue()).fields
    assert dict(fields) == {"about.name": "Jo Bloggs", "about.agree": CHECKED, "ack": CHECKED}


def test_reader_names_the_same_fields_as_pypdf(form, filled):
    data = build_acroform_pdf(form, filled)
    assert set(read_pdf(data).fields) == set(PdfReader(io.BytesIO(data)).get_fields())


# Printed form --------------------------------------------------------------------------------


@pytest.mark.parametrize(("mark", "read_as"), [("X", "X"), ("☒", CHECKED), ("✓", CHECKED)])
def test_printed_scale_rows_hold_the_mark_beside_the_chosen_label(form, filled, mark, read_as):
    doc = read_pdf(build_printed_pdf(form, filled, mark=mark))
    for number, qid in ((1, "q1"), (2, "q2"), (3, "q3")):
        row = question_table(doc, number).rows[1]
        chosen = next(c.label for c in form.scale if c.id == filled.answers[qid].choice)
        marks = dict(zip(row[::2], row[1::2], strict=True))
        assert marks == {c.label: read_as if c.label == chosen else UNCHECKED for c in form.scale}


def test_printed_comment_cells_keep_paragraphs_and_rejoin_wrapped_lines(form, printed):
    doc = printed
    assert question_table(doc, 1).rows[3] == (Q1_COMMENT,)
    assert question_table(doc, 3).rows[3] == (Q3_COMMENT,)
    assert question_table(doc, 2).rows[2:] == (("Comments:",), ("",))


def test_printed_respondent_and_closing_tables(form, printed):
    doc = printed
    about = table_starting(doc, "Name")
    assert about.rows[2] == ("Address", "Town Hall\nOrchard Close\nDunmere\nDM2 5RE")
    grid = table_starting(doc, UNCHECKED)
    assert ("☐", "Child or young person", "X", "Other (please specify)") in grid.rows
    assert grid.rows[-1] == ("Please specify:", "Parents' forum")
    assert table_starting(doc, form.acknowledge_label).rows[0] == (form.acknowledge_label, "X")
    assert table_starting(doc, "Yes").rows == (("Yes", UNCHECKED, "No", "X"),)


def test_symbol_font_tick_reads_as_checked():
    buf = io.BytesIO()
    canvas = Canvas(buf, invariant=1)
    canvas.setFont("ZapfDingbats", 11)
    canvas.drawString(72, 700, "4")  # ✔ in ZapfDingbats
    canvas.setFont("Helvetica", 11)
    canvas.drawString(90, 700, "Agree")
    canvas.showPage()
    canvas.save()
    assert read_pdf(buf.getvalue()).blocks == (Paragraph(f"{CHECKED} Agree"),)


def test_printed_running_heads_and_page_numbers_are_dropped(form, printed):
    doc = printed
    texts = [b.text for b in doc.blocks if isinstance(b, Paragraph)]
    assert form.department not in texts
    assert not [t for t in texts if t.startswith("Page ")]


def test_printed_comment_running_over_a_page_is_one_cell(form, filled):
    paragraph = Q3_COMMENT.replace("Partly. ", "")
    long_comment = "\n".join(f"Point {i}: {paragraph}" for i in range(1, 25))
    answers = {**filled.answers, "q2": Answer("disagree", long_comment)}
    doc = read_pdf(build_printed_pdf(form, dataclasses.replace(filled, answers=MappingProxyType(answers))))
    table = question_table(doc, 2)
    assert len(table.rows) == 4
    assert table.rows[3] == (long_comment,)


def test_joining_a_table_split_by_a_page_leaves_each_pages_tables_as_printed(form, filled):
    """The pages' tables are found once and shared: the layout joins a split table on its own copy,
    so the edge check still sees each cell as it was printed on its page."""
    long_comment = "\n".join(f"Point {i}: {Q3_COMMENT}" for i in range(1, 25))
    answers = {**filled.answers, "q2": Answer("disagree", long_comment)}
    data = build_printed_pdf(form, dataclasses.replace(filled, answers=MappingProxyType(answers)))
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        tables = [find_tables(page) for page in pdf.pages]
        as_found = repr(tables)
        blocks = layout_blocks(pdf.pages, tables)
    assert any(isinstance(b, Table) and b.rows[-1] == (long_comment,) for b in blocks)  # joined
    assert repr(tables) == as_found


def test_too_many_pages_reads_the_first_and_says_so(form, filled):
    doc = read_pdf(build_printed_pdf(form, filled), max_pages=2)
    assert doc.problems == ("PDF has 4 pages; at most 2 are read",)
    assert question_table(doc, 1).rows[3] == (Q1_COMMENT,)
    assert not [b for b in doc.blocks if isinstance(b, Table) and b.rows[0][0].startswith("8 ")]


# XFA, scans, encryption, damage --------------------------------------------------------------


def test_xfa_datasets_are_read_as_fields(form, filled):
    doc = read_pdf(build_xfa_pdf(form, filled))
    assert dict(doc.fields) == expected_fields(form, filled)


def test_image_only_scan_is_a_problem():
    doc = read_pdf(build_scanned_pdf())
    assert doc.problems == ("scanned document, no text",)
    assert doc.blocks == () and not doc.fields


def test_scanned_page_after_typed_pages_is_a_problem(form, filled):
    writer = PdfWriter(clone_from=io.BytesIO(build_printed_pdf(form, filled)))
    writer.append(io.BytesIO(build_scanned_pdf()))
    buf = io.BytesIO()
    writer.write(buf)
    doc = read_pdf(buf.getvalue())
    assert doc.problems == ("page(s) 5 scanned, no text",)
    assert question_table(doc, 1).rows[3] == (Q1_COMMENT,)


def test_password_protected_pdf_is_refused(form, filled):
    with pytest.raises(PasswordProtectedError):
        read_pdf(build_encrypted_pdf(form, filled))


def test_pdf_encrypted_with_empty_user_password_is_read(form, filled):
    writer = PdfWriter(clone_from=io.BytesIO(build_acroform_pdf(form, filled)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    assert read_pdf(buf.getvalue()).fields["name"] == "Ms Aoife O'Neill"


@pytest.mark.parametrize("data", [b"", b"Dear Sir, please find my response attached.", b"%PDF-1.4\n1 0 obj\n<<"])
def test_damaged_or_not_pdf_is_a_read_error(data):
    with pytest.raises(PdfReadError) as err:
        read_pdf(data)
    assert not isinstance(err.value, PasswordProtectedError)


def test_truncated_pdf_is_a_read_error_or_partial(form, filled):
    data = build_printed_pdf(form, filled)
    try:
        doc = read_pdf(data[: len(data) // 3])
    except PdfReadError:
        return
    assert len(doc.blocks) < len(read_pdf(data).blocks)


def test_looping_pdf_builder_makes_a_one_page_pdf():
    # Never parsed here: pdfminer would run for hours (see the builder); the sandbox tests do.
    data = build_looping_pdf()
    assert data.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(data)).pages) == 1


def _ruled_two_cell_row(canvas: Canvas) -> tuple[int, int, int, int, int]:
    """Rule one table row of two cells on the page; its (left, mid, right, top, bottom), Helvetica 10 set."""
    left, mid, right, top, bottom = 72, 200, 360, 700, 680
    for x in (left, mid, right):
        canvas.line(x, bottom, x, top)
    for y in (bottom, top):
        canvas.line(left, y, right, y)
    canvas.setFont("Helvetica", 10)
    return left, mid, right, top, bottom


def _one_row_table(value: str, *, clip: bool) -> bytes:
    """A printed "E-mail | value" row whose value is as long as the cell, clipped at its edge or not."""
    out = io.BytesIO()
    canvas = Canvas(out)
    left, mid, right, top, bottom = _ruled_two_cell_row(canvas)
    canvas.drawString(left + 5, bottom + 6, "E-mail")
    if clip:
        path = canvas.beginPath()
        path.rect(mid, bottom, right - mid - 5, top - bottom)
        canvas.clipPath(path, stroke=0)
    canvas.drawString(mid + 5, bottom + 6, value)
    canvas.save()
    return out.getvalue()


def test_text_reaching_the_edge_of_its_cell_is_a_problem():
    """An e-mail address too long for its box, clipped at the edge by the printer, comes back short."""
    doc = read_pdf(_one_row_table("jo.bloggs-smith@children-and-families.example.org", clip=True))
    assert any("reaches the edge of its box" in p for p in doc.problems)


def test_text_short_of_the_edge_of_its_cell_is_no_problem():
    assert read_pdf(_one_row_table("jo@example.org", clip=False)).problems == ()


def test_a_word_broken_at_the_edge_of_its_cell_is_a_problem():
    """LibreOffice breaks an address too long for its box where the next letter no longer fits."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    out = io.BytesIO()
    canvas = Canvas(out)
    left, top, bottom = 200, 700, 660
    first, rest = "jo.bloggs-smith@childrenandfamilies", "example.org"
    right = left + 5 + stringWidth(first, "Helvetica", 10) + 2 + 5  # one letter short of the edge
    for x in (72, left, right):
        canvas.line(x, bottom, x, top)
    for y in (bottom, top):
        canvas.line(72, y, right, y)
    canvas.setFont("Helvetica", 10)
    canvas.drawString(77, bottom + 26, "E-mail")
    canvas.drawString(left + 5, bottom + 26, first)
    canvas.drawString(left + 5, bottom + 14, rest)
    canvas.save()
    assert any("reaches the edge of its box" in p for p in read_pdf(out.getvalue()).problems)


def test_a_character_centred_on_a_shared_cell_border_is_read_in_both_cells():
    """A cell holds every character whose centre lies in its box, borders included: a mark printed
    astride the line between two cells is read in each of them, not dropped or given to one."""
    out = io.BytesIO()
    canvas = Canvas(out)
    left, mid, right, top, bottom = _ruled_two_cell_row(canvas)
    canvas.drawString(left + 5, bottom + 6, "Agree")
    canvas.drawString(mid + 40, bottom + 6, "Disagree")
    canvas.setFont("Courier", 10)  # every letter 6 points wide: drawn at mid - 3, its centre is on the line
    canvas.drawString(mid - 3, bottom + 6, "X")
    canvas.save()
    tables = [b for b in read_pdf(out.getvalue()).blocks if isinstance(b, Table)]
    assert tables == [Table((("Agree X", "X Disagree"),))]
