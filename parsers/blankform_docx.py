"""Write the department's blank Word response form from a form definition.

The layout follows the department's own blank form (title, closing date, FOI paragraph, the
confidentiality box, the about-you table, the category grid, one table per question, the closing
boxes). Every label comes from the FormDefinition; the only fixed words are the department-wide
boilerplate below (the FOI notice and the connecting sentences), so the same writer serves every
consultation. Respondents fill this form in; the readers find their answers by the same layout.
"""

from __future__ import annotations

import datetime as dt
import logging
from io import BytesIO

from docx import Document as new_document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt, RGBColor, Twips
from docx.table import Table, _Cell, _Row

from parsers.document import UNCHECKED
from parsers.formdef import Choice, FormDefinition, Question

log = logging.getLogger(__name__)

EM_SPACE = "\u2003"
SPECIFY_LABEL = "Please specify:"
COMMENTS_LABEL = "Comments:"
FOI_NOTICE = (
    "Information provided in response to this consultation, including personal information, may be "
    "subject to publication or disclosure in accordance with the access to information regimes, "
    "primarily the Freedom of Information Act 2000 and the Data Protection Act 1998. If you want all, "
    "or any part, of your response to be treated as confidential, please explain why you consider it "
    "to be confidential. If a request for disclosure of the information you have provided is "
    "received, your explanation about why you consider it to be confidential will be taken into "
    "account, but no assurance can be given that confidentiality can be maintained. The Department "
    "will process your personal data (name and address and any other identifying material) in "
    "accordance with the Data Protection Act 1998, and in the majority of circumstances, this will "
    "mean that your personal data will not be disclosed to third parties."
)
NOT_INTERACTIVE = (
    "THIS FORM IS NOT INTERACTIVE. Please type your answers in the boxes provided and mark your choices with an 'X'."
)
THANK_YOU = (
    "Thank you for taking the time to let us have your views. We do not intend to acknowledge "
    "individual responses unless you place an 'X' in the box above."
)

# Widths in twips, from the department's form (A4, 1134-twip margins, 9636-twip text width).
TEXT_WIDTH = 9636
LABEL_WIDTH = 3118
BOX_WIDTH = 850
WIDE_BOX_WIDTH = 1417
GRID_BOX_WIDTH = 737
GRID_LABEL_WIDTH = 4082
CHOICE_LABEL_WIDTH = 1701
LABEL_SHADE = "E6E6E6"
HEIGHT_REASON = 794
HEIGHT_ADDRESS = 1247
HEIGHT_COMMENT = 2268
HEIGHT_COMMENT_ONLY = 3402


def format_date(day: dt.date) -> str:
    """A date as the department writes it: "16 May 2008"."""
    return f"{day.day} {day:%B %Y}"


def write_blank_docx(form: FormDefinition, *, postal_address: str | None = None) -> bytes:
    """The blank response form of `form` as .docx bytes.

    `postal_address`, when given, is printed in a "Send by post to:" line (the form definition
    holds only the mailbox).
    """
    doc = new_document()
    _set_page(doc, form)
    _write_opening(doc, form)
    _write_about_you(doc, form)
    for question in form.questions:
        doc.add_paragraph()
        _question_table(doc, question, form.scale)
    _write_closing(doc, form, postal_address)
    out = BytesIO()
    doc.save(out)
    return out.getvalue()


# --- sections of the form ----------------------------------------------------------------------


def _set_page(doc: DocxDocument, form: FormDefinition) -> None:
    """A4 with the department's margins and its name in the header."""
    section = doc.sections[0]
    section.page_width, section.page_height = Twips(11906), Twips(16838)
    section.left_margin = section.right_margin = Twips(1134)
    section.top_margin = section.bottom_margin = Twips(1020)
    header = section.header.paragraphs[0]
    header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    run = header.add_run(form.department)
    run.font.size = Pt(9)
    run.font.color.rgb = RGBColor(0x40, 0x40, 0x40)


def _write_opening(doc: DocxDocument, form: FormDefinition) -> None:
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.space_after = Pt(12)
    run = title.add_run(f"{form.title} Consultation Response Form")
    run.bold = True
    run.font.size = Pt(15)
    closing = doc.add_paragraph("The closing date for this consultation is: ")
    closing.add_run(format_date(form.closes)).bold = True
    doc.add_paragraph("Your comments must reach us by that date.")
    doc.add_paragraph().add_run(NOT_INTERACTIVE).bold = True
    doc.add_paragraph(FOI_NOTICE)


def _write_about_you(doc: DocxDocument, form: FormDefinition) -> None:
    _label_box_table(doc, form.confidential_label, WIDE_BOX_WIDTH)
    table = _table(doc, [LABEL_WIDTH, TEXT_WIDTH - LABEL_WIDTH], rows=1)
    _label_cell(table.cell(0, 0), f"{form.confidential_reason_label}:", bold=False)
    _set_height(table.rows[0], HEIGHT_REASON)
    doc.add_paragraph()
    table = _table(doc, [LABEL_WIDTH, TEXT_WIDTH - LABEL_WIDTH], rows=len(form.respondent_fields))
    for row, choice in zip(table.rows, form.respondent_fields, strict=True):
        _label_cell(row.cells[0], choice.label, bold=True)
        if choice.id == "address":
            _set_height(row, HEIGHT_ADDRESS)
    doc.add_paragraph()
    doc.add_paragraph().add_run(form.category_prompt).bold = True
    _category_grid(doc, form.categories)


def _category_grid(doc: DocxDocument, categories: tuple[Choice, ...]) -> None:
    """Two categories per row, "☐ | label | ☐ | label", then "Please specify:" if one asks."""
    pairs = [categories[i : i + 2] for i in range(0, len(categories), 2)]
    specify = any(c.specify for c in categories)
    widths = [GRID_BOX_WIDTH, GRID_LABEL_WIDTH] * 2
    table = _table(doc, widths, rows=len(pairs) + int(specify))
    for row, pair in zip(table.rows, pairs, strict=False):
        for i, choice in enumerate(pair):
            _box_cell(row.cells[2 * i])
            _text(row.cells[2 * i + 1], choice.label)
    if specify:
        row = table.rows[-1]
        label = row.cells[0].merge(row.cells[1])
        row.cells[2].merge(row.cells[3])
        _label_cell(label, SPECIFY_LABEL, bold=False)


def _question_table(doc: DocxDocument, question: Question, scale: tuple[Choice, ...]) -> None:
    """Question text, the scale row (when the question has one), "Comments:", an empty cell."""
    box_total = BOX_WIDTH * len(scale)
    label_width = (TEXT_WIDTH - box_total) // max(len(scale), 1)
    widths = [label_width, BOX_WIDTH] * len(scale) or [TEXT_WIDTH]
    rows = 4 if question.scale else 3
    table = _table(doc, widths, rows=rows)
    merged = [_merge_row(r) for i, r in enumerate(table.rows) if not (question.scale and i == 1)]
    _label_cell(merged[0], f"{question.number}{EM_SPACE}{question.text}", bold=True)
    if question.scale:
        for i, choice in enumerate(scale):
            _text(table.rows[1].cells[2 * i], choice.label, align=WD_ALIGN_PARAGRAPH.RIGHT)
            _box_cell(table.rows[1].cells[2 * i + 1])
    _text(merged[-2], COMMENTS_LABEL, bold=True)
    _set_height(table.rows[-1], HEIGHT_COMMENT if question.scale else HEIGHT_COMMENT_ONLY)
    for row in table.rows:
        _cant_split(row)


def _write_closing(doc: DocxDocument, form: FormDefinition, postal_address: str | None) -> None:
    doc.add_paragraph()
    _label_box_table(doc, form.acknowledge_label, WIDE_BOX_WIDTH)
    table = _table(doc, [LABEL_WIDTH, TEXT_WIDTH - LABEL_WIDTH], rows=1)
    _label_cell(table.cell(0, 0), f"{form.acknowledge_email_label}:", bold=False)
    doc.add_paragraph()
    doc.add_paragraph(form.contact_again_label)
    choices = form.contact_again_choices
    table = _table(doc, [CHOICE_LABEL_WIDTH, BOX_WIDTH] * len(choices), rows=1)
    for i, choice in enumerate(choices):
        _text(table.cell(0, 2 * i), choice.label, align=WD_ALIGN_PARAGRAPH.RIGHT)
        _box_cell(table.cell(0, 2 * i + 1))
    doc.add_paragraph()
    doc.add_paragraph(THANK_YOU)
    by_date = doc.add_paragraph("Completed responses should be sent to the address shown below by ")
    by_date.add_run(format_date(form.closes)).bold = True
    if postal_address:
        doc.add_paragraph(f"Send by post to: {postal_address}")
    doc.add_paragraph(f"Send by e-mail to: {form.mailbox}")


# --- table helpers -----------------------------------------------------------------------------


def _table(doc: DocxDocument, widths: list[int], rows: int) -> Table:
    """A centred, fixed-layout grid table with the given column widths (twips)."""
    table = doc.add_table(rows=rows, cols=len(widths))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for col, width in zip(table.columns, widths, strict=True):
        col.width = Twips(width)
        for cell in col.cells:
            cell.width = Twips(width)
    return table


def _label_box_table(doc: DocxDocument, label: str, box_width: int) -> None:
    """A one-row table "label | ☐"."""
    table = _table(doc, [TEXT_WIDTH - box_width, box_width], rows=1)
    _label_cell(table.cell(0, 0), label, bold=False)
    _box_cell(table.cell(0, 1))


def _merge_row(row: _Row) -> _Cell:
    cells = row.cells
    return cells[0].merge(cells[-1]) if len(cells) > 1 else cells[0]


def _text(cell: _Cell, text: str, *, bold: bool = False, align: int | None = None) -> None:
    paragraph = cell.paragraphs[0]
    if align is not None:
        paragraph.alignment = align
    paragraph.add_run(text).bold = bold


def _label_cell(cell: _Cell, text: str, *, bold: bool) -> None:
    """A grey-shaded label cell, as the department shades every prompt."""
    _text(cell, text, bold=bold)
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), LABEL_SHADE)
    cell._tc.get_or_add_tcPr().append(shading)


def _box_cell(cell: _Cell) -> None:
    _text(cell, UNCHECKED, align=WD_ALIGN_PARAGRAPH.CENTER)


def _set_height(row: _Row, twips: int) -> None:
    row.height = Twips(twips)


def _cant_split(row: _Row) -> None:
    """Keep a question's rows on one page, as the department's form does."""
    tr_pr = row._tr.get_or_add_trPr()
    tr_pr.insert(0, OxmlElement("w:cantSplit"))
