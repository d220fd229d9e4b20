"""parsers/pdf_chars.py: pdfplumber's dict for each character, made faster, is the same dict.

The shortcut replaces a library method, so it is compared with that method on this installed
pdfplumber, on PDFs made several ways: reportlab (printed forms with every mark, coloured text),
pypdf (fillable and XFA forms, a MediaBox that does not start at 0) and a scan.
"""

from __future__ import annotations

import io

import pdfplumber
import pytest
from builders.docx_forms import sample_reading
from builders.pdf_forms import build_acroform_pdf, build_printed_pdf, build_scanned_pdf, build_xfa_pdf
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, FloatObject, NameObject
from reportlab.pdfgen.canvas import Canvas

from parsers import pdf_chars
from parsers.formdef import DEFAULT_FORM_PATH, load_form
from parsers.pdf_reader import read_pdf


def _coloured_text() -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out)
    canvas.setFillColorRGB(0.8, 0.1, 0.1)
    canvas.drawString(72, 720, "Red words, then")
    canvas.setFillColorCMYK(0, 0, 0, 1)
    canvas.setStrokeGray(0.5)
    canvas.drawString(72, 700, "CMYK black: café, naïve, ½")
    canvas.rotate(90)
    canvas.drawString(100, -300, "turned text")
    canvas.save()
    return out.getvalue()


def _shifted(data: bytes) -> bytes:
    """The same pages with a MediaBox that starts at (20, 30): pdfplumber then moves x0/x1 and top."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        box = [float(v) for v in page.mediabox]
        page[NameObject("/MediaBox")] = ArrayObject(FloatObject(v) for v in (box[0] + 20, box[1] + 30, box[2], box[3]))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _pdfs() -> dict[str, bytes]:
    form = load_form(DEFAULT_FORM_PATH)
    filled = sample_reading(form, 5)
    printed = build_printed_pdf(form, filled)
    return {
        "printed-x": printed,
        "printed-tick": build_printed_pdf(form, filled, mark="\u2713"),
        "fillable": build_acroform_pdf(form, filled),
        "xfa": build_xfa_pdf(form, filled),
        "scanned": build_scanned_pdf(),
        "coloured": _coloured_text(),
        "shifted": _shifted(printed),
    }


def _objects(data: bytes, unicode_norm: str | None) -> list[str]:
    """Every object of every page, each as its items in order; an image's name and stream differ
    from one opening to the next (they hold object ids), so they are left out."""
    pages = []
    with pdfplumber.open(io.BytesIO(data), unicode_norm=unicode_norm) as pdf:  # type: ignore[arg-type]
        for page in pdf.pages:
            objects = page.objects.items()
            kept = [
                (k, [[i for i in o.items() if i[0] not in ("name", "stream")] for o in objs]) for k, objs in objects
            ]
            pages.append(repr(kept))
    return pages


@pytest.fixture
def library_then_fast(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def switch(fast: bool) -> None:
        method = pdf_chars.fast_process_object if fast else pdf_chars.library_process_object
        monkeypatch.setattr(pdfplumber.page.Page, "process_object", method)

    return switch


@pytest.mark.parametrize("unicode_norm", [None, "NFKC"])
def test_each_object_is_the_dict_pdfplumber_makes_key_for_key(library_then_fast, unicode_norm):  # type: ignore[no-untyped-def]
    for name, data in _pdfs().items():
        library_then_fast(False)
        expected = _objects(data, unicode_norm)
        library_then_fast(True)
        assert _objects(data, unicode_norm) == expected, name


def test_the_reader_uses_it_on_the_checked_release_and_reads_the_same(library_then_fast):  # type: ignore[no-untyped-def]
    assert pdf_chars.install() is bool(pdf_chars.CHECKED_RELEASE.match(pdfplumber.__version__))
    data = _pdfs()["printed-x"]
    library_then_fast(False)
    expected = read_pdf(data)
    library_then_fast(True)
    assert read_pdf(data) == expected
