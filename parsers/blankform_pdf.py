"""Write the consultation's response form as a fillable AcroForm PDF, from its FormDefinition.

The field names below are the one scheme the PDF reader's callers map back onto the form
(`name`, `cat_<category id>`, `<qid>_<choice id>`, `<qid>_comments`, `contact_<choice id>`, ...),
so the form staff publish and the reader cannot drift apart. The layout follows the department's
Word form (tables of label and box cells) and is built as data (`form_layout`), then drawn by
`render_layout` with a `SlotPainter` that decides what goes into each answer slot: fillable
widgets here, printed values in the test fixtures.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from parsers.formdef import FormDefinition

log = logging.getLogger(__name__)

CHECK = "check"
TEXT = "text"
MULTILINE = "multiline"

MARGIN = 56.7  # 2 cm
PADDING = 5.4
FONT_SIZE = 10.0
LEADING = 12.5
BOX_SIZE = 11.0
HEADER_SIZE = 8.0


# Field names: the single scheme shared by the blank form, fixtures and readers ---------------


def confidential_field() -> str:
    return "confidential"


def confidential_reason_field() -> str:
    return "confidential_reason"


def category_field(category_id: str) -> str:
    return f"cat_{category_id}"


def category_other_field() -> str:
    return "category_other"


def answer_field(qid: str, choice_id: str) -> str:
    return f"{qid}_{choice_id}"


def comments_field(qid: str) -> str:
    return f"{qid}_comments"


def acknowledge_field() -> str:
    return "acknowledge"


def acknowledge_email_field() -> str:
    return "ack_email"


def contact_field(choice_id: str) -> str:
    return f"contact_{choice_id}"


# Layout as data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Slot:
    """A place for an answer: a check box, a one-line text field or a multi-line one."""

    name: str
    kind: str
    lines: int = 1


@dataclass(frozen=True)
class Row:
    """Cells as (share of the table width, content)."""

    cells: tuple[tuple[float, Label | Slot], ...]


@dataclass(frozen=True)
class Grid:
    """A ruled table; `keep_together` moves it whole to the next page when it does not fit."""

    rows: tuple[Row, ...]
    keep_together: bool = False


@dataclass(frozen=True)
class Prose:
    text: str
    bold: bool = False
    size: float = FONT_SIZE
    centre: bool = False


Section = Prose | Grid


@dataclass(frozen=True)
class FormLayout:
    running_head: str
    sections: tuple[Section, ...]


def form_layout(form: FormDefinition) -> FormLayout:
    """The whole response form as sections, in the order the Word form prints them."""
    sections = [
        *_intro(form),
        _confidentiality(form),
        _respondent(form),
        Prose(form.category_prompt),
        _categories(form),
        *(_question(form, q.id) for q in form.questions),
        _acknowledgement(form),
        Prose(form.contact_again_label),
        _pairs_row([(c.label, contact_field(c.id)) for c in form.contact_again_choices]),
        Prose("Thank you for taking the time to let us have your views."),
        Prose(f"Completed responses should be sent by {_date(form.closes)}."),
        Prose(f"Send by e-mail to: {form.mailbox}"),
    ]
    return FormLayout(form.department, tuple(sections))


def _date(day) -> str:
    return f"{day.day} {day:%B %Y}"


def _intro(form: FormDefinition) -> list[Section]:
    return [
        Prose(form.title, bold=True, size=14, centre=True),
        Prose("Consultation Response Form", bold=True, size=14, centre=True),
        Prose(f"The closing date for this consultation is: {_date(form.closes)}"),
        Prose("Your comments must reach us by that date."),
        Prose(
            "Information provided in response to this consultation, including personal information, "
            "may be subject to publication or disclosure in accordance with the access to information "
            "regimes, primarily the Freedom of Information Act 2000 and the Data Protection Act 1998. "
            "If you want all, or any part, of your response to be treated as confidential, please "
            "explain why you consider it to be confidential."
        ),
    ]


def _confidentiality(form: FormDefinition) -> Grid:
    return Grid(
        (
            Row(((0.85, Label(form.confidential_label)), (0.15, Slot(confidential_field(), CHECK)))),
            Row(
                (
                    (0.3, Label(f"{form.confidential_reason_label}:")),
                    (0.7, Slot(confidential_reason_field(), MULTILINE, 3)),
                )
            ),
        ),
        keep_together=True,
    )


def _respondent(form: FormDefinition) -> Grid:
    rows = []
    for f in form.respondent_fields:
        slot = Slot(f.id, MULTILINE, 4) if f.id == "address" else Slot(f.id, TEXT)
        rows.append(Row(((0.3, Label(f.label)), (0.7, slot))))
    return Grid(tuple(rows), keep_together=True)


def _categories(form: FormDefinition) -> Grid:
    """Categories two to a row (box, label, box, label), then a 'please specify' row."""
    cats = form.categories
    rows = []
    for i in range(0, len(cats), 2):
        cells: list[tuple[float, Label | Slot]] = []
        for c in cats[i : i + 2]:
            cells += [(0.08, Slot(category_field(c.id), CHECK)), (0.42, Label(c.label))]
        if len(cells) < 4:
            cells.append((0.5, Label("")))
        rows.append(Row(tuple(cells)))
    if any(c.specify for c in cats):
        rows.append(Row(((0.3, Label("Please specify:")), (0.7, Slot(category_other_field(), TEXT)))))
    return Grid(tuple(rows), keep_together=True)


def _pairs_row(pairs: list[tuple[str, str]]) -> Grid:
    """One row of label/box pairs, e.g. Agree [ ] Disagree [ ] Not sure [ ]."""
    share = 1.0 / max(len(pairs), 1)
    cells: list[tuple[float, Label | Slot]] = []
    for label, name in pairs:
        cells += [(share * 0.75, Label(label)), (share * 0.25, Slot(name, CHECK))]
    return Grid((Row(tuple(cells)),))


def _question(form: FormDefinition, qid: str) -> Grid:
    q = form.question(qid)
    rows = [Row(((1.0, Label(f"{q.number} {q.text}", bold=True)),))]
    if q.scale:
        rows += _pairs_row([(c.label, answer_field(qid, c.id)) for c in form.scale]).rows
    rows.append(Row(((1.0, Label("Comments:")),)))
    rows.append(Row(((1.0, Slot(comments_field(qid), MULTILINE, 8)),)))
    return Grid(tuple(rows), keep_together=True)


def _acknowledgement(form: FormDefinition) -> Grid:
    return Grid(
        (
            Row(((0.85, Label(form.acknowledge_label)), (0.15, Slot(acknowledge_field(), CHECK)))),
            Row(
                (
                    (0.4, Label(f"{form.acknowledge_email_label}:")),
                    (0.6, Slot(acknowledge_email_field(), TEXT)),
                )
            ),
        ),
        keep_together=True,
    )


def slots(layout: FormLayout) -> Iterator[Slot]:
    """Every answer slot of the layout, in form order."""
    for section in layout.sections:
        if isinstance(section, Grid):
            for row in section.rows:
                yield from (c for _, c in row.cells if isinstance(c, Slot))


# Drawing -------------------------------------------------------------------------------------


class SlotPainter(Protocol):
    """Decides how tall an answer slot is and draws it (a widget, or a printed value)."""

    def height(self, slot: Slot, width: float) -> float: ...

    def draw(
        self, canvas: Canvas, slot: Slot, x: float, top: float, width: float, height: float, skip: int = 0
    ) -> None:
        """Draw the slot in the box; `skip` lines were drawn on the page before (a split row)."""


@dataclass(frozen=True)
class Fonts:
    regular: str = "Helvetica"
    bold: str = "Helvetica-Bold"


class _Pen:
    """Where the next section goes; starts new pages with the running head."""

    def __init__(self, canvas: Canvas, layout: FormLayout, fonts: Fonts) -> None:
        self.canvas, self.layout, self.fonts = canvas, layout, fonts
        self.width = A4[0] - 2 * MARGIN
        self.page = 1
        self.y = 0.0
        self._start_page()

    def _start_page(self) -> None:
        self.canvas.setFont(self.fonts.regular, HEADER_SIZE)
        self.canvas.drawRightString(A4[0] - MARGIN, A4[1] - MARGIN * 0.6, self.layout.running_head)
        self.canvas.drawCentredString(A4[0] / 2, MARGIN * 0.5, f"Page {self.page}")
        self.y = A4[1] - MARGIN

    def at_top(self) -> bool:
        return self.y >= A4[1] - MARGIN - 0.5

    def fits(self, height: float) -> bool:
        return self.y - height >= MARGIN

    def new_page(self) -> None:
        self.canvas.showPage()
        self.page += 1
        self._start_page()

    def ensure(self, height: float) -> None:
        """Start a new page unless `height` fits below the pen (a too-tall item goes anyway)."""
        if not self.fits(height) and not self.at_top():
            self.new_page()


def render_layout(layout: FormLayout, painter: SlotPainter, fonts: Fonts = Fonts(), title: str = "") -> bytes:
    """Draw the layout on A4 pages, flowing over as many pages as it needs."""
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=1)
    canvas.setTitle(title)
    pen = _Pen(canvas, layout, fonts)
    for section in layout.sections:
        if isinstance(section, Prose):
            _draw_prose(pen, section)
        else:
            _draw_grid(pen, section, painter)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def _draw_prose(pen: _Pen, prose: Prose) -> None:
    font = pen.fonts.bold if prose.bold else pen.fonts.regular
    leading = prose.size * 1.25
    for line in simpleSplit(prose.text, font, prose.size, pen.width):
        pen.ensure(leading)
        pen.canvas.setFont(font, prose.size)
        baseline = pen.y - prose.size
        if prose.centre:
            pen.canvas.drawCentredString(A4[0] / 2, baseline, line)
        else:
            pen.canvas.drawString(MARGIN, baseline, line)
        pen.y -= leading
    pen.y -= prose.size * 0.6


def _draw_grid(pen: _Pen, grid: Grid, painter: SlotPainter) -> None:
    heights = [_row_height(pen, row, painter) for row in grid.rows]
    if grid.keep_together:
        pen.ensure(sum(heights))
    for row, height in zip(grid.rows, heights, strict=True):
        if not pen.fits(height) and _split_slot(row) is not None:
            _draw_split_row(pen, row, height, painter)
            continue
        pen.ensure(height)
        _draw_row(pen, row, height, painter)
        pen.y -= height
    pen.y -= FONT_SIZE


def _split_slot(row: Row) -> Slot | None:
    """A row that may break across pages (as Word lets rows do): one multi-line slot cell."""
    if len(row.cells) == 1 and isinstance(row.cells[0][1], Slot) and row.cells[0][1].kind == MULTILINE:
        return row.cells[0][1]
    return None


def _draw_split_row(pen: _Pen, row: Row, height: float, painter: SlotPainter) -> None:
    """Draw a tall text row over as many pages as it needs, as many lines on each as fit."""
    remaining = round((height - 2 * PADDING) / LEADING)
    done = 0
    while remaining > 0:
        fit = int((pen.y - MARGIN - 2 * PADDING) // LEADING)
        if fit < 1:
            pen.new_page()
            continue
        part = min(fit, remaining)
        part_height = part * LEADING + 2 * PADDING
        _draw_row(pen, row, part_height, painter, skip=done)
        pen.y -= part_height
        done, remaining = done + part, remaining - part
        if remaining:
            pen.new_page()


def _cell_boxes(pen: _Pen, row: Row) -> Iterator[tuple[float, float, Label | Slot]]:
    """(x, width, content) of each cell of the row."""
    x = MARGIN
    for share, content in row.cells:
        width = share * pen.width
        yield x, width, content
        x += width


def _row_height(pen: _Pen, row: Row, painter: SlotPainter) -> float:
    heights = []
    for _, width, content in _cell_boxes(pen, row):
        if isinstance(content, Slot):
            heights.append(painter.height(content, width - 2 * PADDING))
        else:
            lines = _label_lines(pen, content, width)
            heights.append(max(len(lines), 1) * LEADING)
    return max(heights) + 2 * PADDING


def _label_lines(pen: _Pen, label: Label, width: float) -> list[str]:
    font = pen.fonts.bold if label.bold else pen.fonts.regular
    return simpleSplit(label.text, font, FONT_SIZE, width - 2 * PADDING)


def _draw_row(pen: _Pen, row: Row, height: float, painter: SlotPainter, skip: int = 0) -> None:
    canvas = pen.canvas
    canvas.setLineWidth(0.5)
    for x, width, content in _cell_boxes(pen, row):
        canvas.rect(x, pen.y - height, width, height, stroke=1, fill=0)
        if isinstance(content, Slot):
            inner = (x + PADDING, pen.y - PADDING, width - 2 * PADDING, height - 2 * PADDING)
            painter.draw(canvas, content, *inner, skip=skip)
        else:
            _draw_label(pen, content, x, width)


def _draw_label(pen: _Pen, label: Label, x: float, width: float) -> None:
    font = pen.fonts.bold if label.bold else pen.fonts.regular
    pen.canvas.setFont(font, FONT_SIZE)
    baseline = pen.y - PADDING - FONT_SIZE
    for line in _label_lines(pen, label, width):
        pen.canvas.drawString(x + PADDING, baseline, line)
        baseline -= LEADING


class WidgetPainter:
    """Fillable AcroForm widgets: check boxes and (multi-line) text fields."""

    def height(self, slot: Slot, width: float) -> float:
        return BOX_SIZE if slot.kind == CHECK else slot.lines * LEADING + 4

    def draw(
        self, canvas: Canvas, slot: Slot, x: float, top: float, width: float, height: float, skip: int = 0
    ) -> None:
        if slot.kind == CHECK:
            canvas.acroForm.checkbox(
                name=slot.name,
                tooltip=slot.name,
                x=x,
                y=top - BOX_SIZE,
                size=BOX_SIZE,
                buttonStyle="cross",
                borderWidth=0.75,
                fieldFlags="",
            )
            return
        canvas.acroForm.textfield(
            name=slot.name,
            tooltip=slot.name,
            x=x,
            y=top - height,
            width=width,
            height=height,
            borderWidth=0,
            fontName="Helvetica",
            fontSize=FONT_SIZE,
            fieldFlags="multiline" if slot.kind == MULTILINE else "",
            maxlen=None,
        )


def write_blank_pdf(form: FormDefinition) -> bytes:
    """The response form as a fillable A4 PDF (AcroForm), ready for staff to publish."""
    title = f"{form.title} Consultation Response Form"
    return render_layout(form_layout(form), WidgetPainter(), title=title)
