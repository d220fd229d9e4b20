"""Build PDF responses for tests from a Reading: fillable, printed, XFA, scanned, encrypted, hostile.

Every builder draws the department's own layout (`parsers.blankform_pdf.form_layout`), so fixtures,
the published blank form and the reader share one field-name scheme. Builders are deterministic.
"""

from __future__ import annotations

import io
from pathlib import Path

from lxml import etree
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject, TextStringObject
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from parsers import blankform_pdf as bf
from parsers.formdef import FormDefinition
from parsers.model import Reading

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
EMPTY_BOX = "\u2610"
XFA_DATA_NS = "http://www.xfa.org/schema/xfa-data/1.0/"
XFA_TEMPLATE_NS = "http://www.xfa.org/schema/xfa-template/2.8/"
XFA_ROOT = "form1"


def field_values(form: FormDefinition, filled: Reading) -> dict[str, str | bool]:
    """The value of every field of the form for this reading: text, or True/False for boxes."""
    r = filled.respondent
    values: dict[str, str | bool] = {f.id: getattr(r, f.id, None) or "" for f in form.respondent_fields}
    values[bf.confidential_field()] = filled.confidential
    values[bf.confidential_reason_field()] = filled.confidential_reason or ""
    values |= {bf.category_field(c.id): r.category == c.id for c in form.categories}
    values[bf.category_other_field()] = r.category_other or ""
    for q in form.questions:
        answer = filled.answers.get(q.id)
        if q.scale:
            values |= {bf.answer_field(q.id, c.id): bool(answer and answer.choice == c.id) for c in form.scale}
        values[bf.comments_field(q.id)] = answer.comment if answer else ""
    values[bf.acknowledge_field()] = filled.acknowledge
    values[bf.acknowledge_email_field()] = filled.acknowledge_email or ""
    values |= {bf.contact_field(c.id): filled.contact_again == c.id for c in form.contact_again_choices}
    return values


# Fillable AcroForm ---------------------------------------------------------------------------


def build_acroform_pdf(form: FormDefinition, filled: Reading) -> bytes:
    """The published blank form with its fields filled in, as Adobe Reader would save it."""
    writer = PdfWriter(clone_from=io.BytesIO(bf.write_blank_pdf(form)))
    values = {k: _acro_value(v) for k, v in field_values(form, filled).items()}
    writer.update_page_form_field_values(None, values, auto_regenerate=False)
    writer.set_need_appearances_writer(True)
    return _write(writer)


def _acro_value(value: str | bool) -> str:
    if isinstance(value, bool):
        return "/Yes" if value else "/Off"
    return value


def _write(writer: PdfWriter) -> bytes:
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# Printed (flattened) form ---------------------------------------------------------------------


def _register_dejavu() -> bf.Fonts:
    """DejaVu Sans has ☐ ☒ ✓; Debian's fonts-dejavu-core puts it in DEJAVU_DIR."""
    for name, file in (("DejaVuSans", "DejaVuSans.ttf"), ("DejaVuSans-Bold", "DejaVuSans-Bold.ttf")):
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(DEJAVU_DIR / file)))
    return bf.Fonts("DejaVuSans", "DejaVuSans-Bold")


class _PrintedPainter:
    """Prints each slot's value: the mark or ☐ in box cells, wrapped text in text cells."""

    def __init__(self, values: dict[str, str | bool], mark: str, font: str) -> None:
        self.values, self.mark, self.font = values, mark, font

    def _lines(self, slot: bf.Slot, width: float) -> list[str]:
        text = str(self.values.get(slot.name) or "")
        return [ln for para in text.split("\n") for ln in simpleSplit(para, self.font, bf.FONT_SIZE, width) or [""]]

    def height(self, slot: bf.Slot, width: float) -> float:
        if slot.kind == bf.CHECK:
            return bf.BOX_SIZE
        shown = len(self._lines(slot, width)) if self.values.get(slot.name) else 0
        return max(shown, slot.lines) * bf.LEADING

    def draw(
        self, canvas: Canvas, slot: bf.Slot, x: float, top: float, width: float, height: float, skip: int = 0
    ) -> None:
        canvas.setFont(self.font, bf.FONT_SIZE)
        baseline = top - bf.FONT_SIZE
        if slot.kind == bf.CHECK:
            canvas.drawString(x, baseline, self.mark if self.values.get(slot.name) else EMPTY_BOX)
            return
        if not self.values.get(slot.name):
            return
        for line in self._lines(slot, width)[skip : skip + round(height / bf.LEADING)]:
            canvas.drawString(x, baseline, line)
            baseline -= bf.LEADING


def build_printed_pdf(form: FormDefinition, filled: Reading, mark: str = "X") -> bytes:
    """The form as printed to PDF from Word: text and ruling lines only, boxes as ☐ or `mark`."""
    fonts = _register_dejavu()
    painter = _PrintedPainter(field_values(form, filled), mark, fonts.regular)
    return bf.render_layout(bf.form_layout(form), painter, fonts, title=form.title)


# XFA -----------------------------------------------------------------------------------------


def _xfa_template(form: FormDefinition) -> bytes:
    """A minimal XFA template naming each field, with check buttons marked as such."""
    root = etree.Element(f"{{{XFA_TEMPLATE_NS}}}template", nsmap={None: XFA_TEMPLATE_NS})
    subform = etree.SubElement(root, f"{{{XFA_TEMPLATE_NS}}}subform", name=XFA_ROOT)
    for slot in bf.slots(bf.form_layout(form)):
        fld = etree.SubElement(subform, f"{{{XFA_TEMPLATE_NS}}}field", name=slot.name)
        ui = etree.SubElement(fld, f"{{{XFA_TEMPLATE_NS}}}ui")
        etree.SubElement(ui, f"{{{XFA_TEMPLATE_NS}}}{'checkButton' if slot.kind == bf.CHECK else 'textEdit'}")
        if slot.kind == bf.CHECK:
            items = etree.SubElement(fld, f"{{{XFA_TEMPLATE_NS}}}items")
            for v in ("1", "0"):
                etree.SubElement(items, f"{{{XFA_TEMPLATE_NS}}}integer").text = v
    return etree.tostring(root, encoding="utf-8")


def _xfa_datasets(values: dict[str, str | bool]) -> bytes:
    root = etree.Element(f"{{{XFA_DATA_NS}}}datasets", nsmap={"xfa": XFA_DATA_NS})
    data = etree.SubElement(etree.SubElement(root, f"{{{XFA_DATA_NS}}}data"), XFA_ROOT)
    for name, value in values.items():
        etree.SubElement(data, name).text = ("1" if value else "0") if isinstance(value, bool) else value
    return etree.tostring(root, encoding="utf-8")


def _stream(writer: PdfWriter, data: bytes):
    stream = DecodedStreamObject()
    stream.set_data(data)
    return writer._add_object(stream)


def build_xfa_pdf(form: FormDefinition, filled: Reading) -> bytes:
    """A LiveCycle-style dynamic XFA form: a placeholder page, the values in `datasets`."""
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=1)
    canvas.drawString(72, 770, "To view this form you need Adobe Reader 8 or later.")
    canvas.showPage()
    canvas.save()
    writer = PdfWriter(clone_from=io.BytesIO(buf.getvalue()))
    packets = [
        ("template", _xfa_template(form)),
        ("datasets", _xfa_datasets(field_values(form, filled))),
    ]
    xfa = ArrayObject()
    for name, data in packets:
        xfa += [TextStringObject(name), _stream(writer, data)]
    acroform = DictionaryObject({NameObject("/Fields"): ArrayObject(), NameObject("/XFA"): xfa})
    writer.root_object[NameObject("/AcroForm")] = writer._add_object(acroform)
    return _write(writer)


# Scanned, encrypted, hostile -----------------------------------------------------------------


def build_scanned_pdf() -> bytes:
    """One A4 page holding only a (grey, noisy-free) image, like a scanner's output."""
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=1)
    canvas.drawInlineImage(_grey_image(), 0, 0, A4[0], A4[1])
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def _grey_image():
    from PIL import Image, ImageDraw

    img = Image.new("L", (200, 283), 255)
    draw = ImageDraw.Draw(img)
    for y in range(20, 260, 12):
        draw.line((20, y, 180, y), fill=40)
    return img


def build_encrypted_pdf(form: FormDefinition, filled: Reading, password: str = "secret") -> bytes:
    """The filled fillable form, protected with a user password."""
    writer = PdfWriter(clone_from=io.BytesIO(build_acroform_pdf(form, filled)))
    writer.encrypt(user_password=password, owner_password="owner-" + password, algorithm="RC4-128")
    # pypdf draws the second file identifier at random; the key depends only on the first.
    writer._ID = ArrayObject((writer._ID[0], writer._ID[0]))
    return _write(writer)


def build_looping_pdf(depth: int = 26) -> bytes:
    """A tiny PDF whose page draws form XObject 1 twice, which draws 2 twice, ... `depth` deep.

    No object refers to itself, so recursion guards do not stop it, but interpreting the page
    means 2**depth XObject invocations: pdfminer works for minutes and grows without bound,
    which is what the parser sandbox's time and memory limits are for.
    """
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"]
    first_xobj = 5
    objects.append(
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /XObject << /X %d 0 R >> >> >>" % first_xobj
    )
    objects.append(_pdf_stream(b"", b"/X Do /X Do"))
    for level in range(depth):
        obj = first_xobj + level
        if level + 1 < depth:
            dict_extra = b"/Resources << /XObject << /X %d 0 R >> >>" % (obj + 1)
            content = b"/X Do /X Do"
        else:
            dict_extra, content = b"", b"0 0 m 1 1 l S"
        objects.append(_pdf_stream(b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] " + dict_extra, content))
    return _assemble_pdf(objects)


def _pdf_stream(extra: bytes, content: bytes) -> bytes:
    return b"<< %s /Length %d >>\nstream\n%s\nendstream" % (extra, len(content), content)


def _assemble_pdf(objects: list[bytes]) -> bytes:
    """Write objects 1..n with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
