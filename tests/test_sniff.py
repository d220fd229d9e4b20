"""Sniffing tells an attachment's kind from its bytes, whatever it is called."""

from __future__ import annotations

import io
import struct
import subprocess
import zipfile
from pathlib import Path

import docx
import olefile
import openpyxl
import pytest
from msoffcrypto.format.ooxml import OOXMLFile
from pypdf import PdfWriter
from reportlab.pdfgen import canvas

from parsers.convert import soffice_available
from parsers.sniff import Sniffed, sniff, source_kind_for

ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"
WORD_DOCUMENT_UTF16 = "WordDocument".encode("utf-16-le")


# --- documents built here ----------------------------------------------------------------------


def make_docx(text: str = "Question 1: Agree") -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_pdf(text: str = "Consultation response") -> bytes:
    out = io.BytesIO()
    page = canvas.Canvas(out, pageCompression=0)
    page.drawString(72, 720, text)
    page.save()
    return out.getvalue()


def encrypt_pdf(pdf: bytes) -> bytes:
    writer = PdfWriter()
    writer.append(io.BytesIO(pdf))
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypt_docx(data: bytes) -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt("secret", out)
    return out.getvalue()


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content, compress_type=zipfile.ZIP_STORED if name == "mimetype" else None)
    return out.getvalue()


def make_odt(mimetype: bytes = ODT_MIMETYPE, manifest: bytes = b"<manifest:manifest/>") -> bytes:
    return make_zip(
        {"mimetype": mimetype, "content.xml": b"<office:document-content/>", "META-INF/manifest.xml": manifest}
    )


def make_xlsx() -> bytes:
    out = io.BytesIO()
    openpyxl.Workbook().save(out)
    return out.getvalue()


def make_pptx() -> bytes:
    return make_zip({"[Content_Types].xml": b"<Types/>", "ppt/presentation.xml": b"<p:presentation/>"})


@pytest.fixture(scope="module")
def doc_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real Word 97-2003 file, made by LibreOffice from a python-docx document."""
    if not soffice_available():
        pytest.fail("LibreOffice (soffice) is not installed: apt-get install libreoffice-writer-nogui")
    work = tmp_path_factory.mktemp("doc")
    (work / "form.docx").write_bytes(make_docx())
    command = ["soffice", "--headless", "--norestore", f"-env:UserInstallation={(work / 'profile').as_uri()}"]
    command += ["--convert-to", "doc", "--outdir", str(work), str(work / "form.docx")]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return (work / "form.doc").read_bytes()


@pytest.fixture(scope="module")
def encrypted_docx() -> bytes:
    return encrypt_docx(make_docx())


def with_fib_encrypted_bit(doc: bytes, tmp_path: Path) -> bytes:
    """The same .doc with the FIB's fEncrypted flag (bit 8 of the word at offset 10) set."""
    path = tmp_path / "flagged.doc"
    path.write_bytes(doc)
    with olefile.OleFileIO(str(path), write_mode=True) as ole:
        stream = bytearray(ole.openstream("WordDocument").read())
        (flags,) = struct.unpack_from("<H", stream, 10)
        struct.pack_into("<H", stream, 10, flags | 0x0100)
        ole.write_stream("WordDocument", bytes(stream))
    return path.read_bytes()


def without_word_stream(doc: bytes) -> bytes:
    """The same OLE2 file with its WordDocument stream renamed, so it is no longer a Word file."""
    assert WORD_DOCUMENT_UTF16 in doc
    return doc.replace(WORD_DOCUMENT_UTF16, "XordDocument".encode("utf-16-le"))


# --- kinds -------------------------------------------------------------------------------------


def test_a_word_2007_document_is_docx():
    assert sniff(make_docx()) == Sniffed("docx", False, "Word 2007+ document")


def test_a_word_97_document_is_doc(doc_bytes: bytes):
    assert sniff(doc_bytes) == Sniffed("doc", False, "Word 97-2003 document")


def test_a_doc_with_the_encrypted_flag_is_encrypted(doc_bytes: bytes, tmp_path: Path):
    found = sniff(with_fib_encrypted_bit(doc_bytes, tmp_path))
    assert (found.kind, found.encrypted) == ("doc", True)


def test_a_truncated_doc_is_still_a_doc(doc_bytes: bytes):
    assert sniff(doc_bytes[: len(doc_bytes) - 600]).kind == "doc"


def test_another_ole2_file_is_ole(doc_bytes: bytes):
    assert sniff(without_word_stream(doc_bytes)).kind == "ole"


def test_an_opendocument_text_is_odt():
    assert sniff(make_odt()) == Sniffed("odt", False, "OpenDocument text")


def test_a_password_protected_odt_is_encrypted():
    manifest = b"<manifest:file-entry><manifest:encryption-data/></manifest:file-entry>"
    assert sniff(make_odt(manifest=manifest)).encrypted


def test_an_opendocument_spreadsheet_is_just_a_zip():
    assert sniff(make_odt(mimetype=b"application/vnd.oasis.opendocument.spreadsheet")).kind == "zip"


@pytest.mark.parametrize("data", [rb"{\rtf1\ansi Question 1 {\b Agree}}", b"\xef\xbb\xbf\r\n{\\rtf1 x}"])
def test_rich_text_is_rtf(data: bytes):
    assert sniff(data).kind == "rtf"


def test_a_pdf_is_pdf():
    assert sniff(make_pdf()) == Sniffed("pdf", False, "PDF 1.3")


def test_a_pdf_after_some_junk_is_still_a_pdf():
    assert sniff(b"\r\n junk from a broken mailer \r\n" + make_pdf()).kind == "pdf"


def test_an_encrypted_pdf_is_encrypted():
    assert sniff(encrypt_pdf(make_pdf())) == Sniffed("pdf", True, "PDF 1.3")


def test_a_pdf_that_merely_mentions_encrypt_is_not_encrypted():
    pdf = make_pdf("Please do not /Encrypt this reply")
    assert b"/Encrypt" in pdf
    assert not sniff(pdf).encrypted


def test_a_workbook_is_xlsx():
    assert sniff(make_xlsx()).kind == "xlsx"


def test_a_presentation_is_pptx():
    assert sniff(make_pptx()).kind == "pptx"


def test_any_other_zip_is_zip():
    assert sniff(make_zip({"readme.txt": b"hello"})) == Sniffed("zip", False, "zip archive of 1 files")


def test_a_truncated_docx_is_still_recognised():
    data = make_docx()
    found = sniff(data[: len(data) * 2 // 3])
    assert found.kind == "docx"
    assert "damaged" in found.detail


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG image"),
        (b"GIF89a\x01\x00\x01\x00", "GIF image"),
        (b"II*\x00\x08\x00\x00\x00", "TIFF image"),
        (b"MM\x00*\x00\x00\x00\x08", "TIFF image"),
        (b"BM" + struct.pack("<IHHII", 70, 0, 0, 54, 40) + b"\x00" * 52, "BMP image"),
    ],
)
def test_images_are_images(data: bytes, detail: str):
    assert sniff(data) == Sniffed("image", False, detail)


def test_text_that_starts_with_bm_is_not_a_bitmap():
    assert sniff(b"BMA response: we agree with question 1.\n").kind == "text"


@pytest.mark.parametrize(
    "data",
    [
        b"Dear DCSF,\r\nWe agree with question 1.\r\n",
        "Caf\u00e9 \u2013 we agree\n".encode(),
        "Caf\u00e9 \u2013 we agree\n".encode("cp1252"),
        "\ufeffWe agree with question 1\n".encode("utf-16-le"),
    ],
)
def test_plain_text_is_text(data: bytes):
    assert sniff(data).kind == "text"


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE html><html><body><p>Agree</p></body></html>",
        b"\n  <HTML>\n<BODY>Agree</BODY></HTML>",
        b"<!-- saved by Word --><html xmlns:o='urn:schemas-microsoft-com:office:office'><body/></html>",
    ],
)
def test_html_is_html(data: bytes):
    assert sniff(data).kind == "html"


def test_an_html_fragment_is_html_only_when_named_so():
    fragment = b"<p>We agree with question 1</p><br>"
    assert sniff(fragment).kind == "text"
    assert sniff(fragment, "reply.htm").kind == "html"
    assert sniff(fragment, None, "text/html; charset=utf-8").kind == "html"


@pytest.mark.parametrize(
    ("data", "detail"),
    [(b"", "empty attachment"), (bytes(range(256)) * 8, "binary data of an unknown format")],
)
def test_empty_or_binary_data_is_unknown(data: bytes, detail: str):
    assert sniff(data) == Sniffed("unknown", False, detail)


# --- names and declared types are only hints ---------------------------------------------------


def test_a_pdf_named_docx_is_a_pdf():
    assert sniff(make_pdf(), "Response form.docx", "application/msword").kind == "pdf"


def test_a_text_file_named_docx_is_text():
    found = sniff(b"I agree with everything.\n", "Response form.docx", "application/octet-stream")
    assert found.kind == "text"


def test_a_docx_named_pdf_is_a_docx():
    assert sniff(make_docx(), "response.pdf", "application/pdf").kind == "docx"


def test_a_doc_named_docx_is_a_doc(doc_bytes: bytes):
    assert sniff(doc_bytes, "response.docx").kind == "doc"


# --- password-protected Office 2007+ files -----------------------------------------------------


def test_an_encrypted_docx_is_a_docx_when_its_name_says_so(encrypted_docx: bytes):
    assert sniff(encrypted_docx, "Response form.docx") == Sniffed("docx", True, "password-protected Office 2007+ file")


def test_an_encrypted_docx_is_a_docx_when_its_type_says_so(encrypted_docx: bytes):
    mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    found = sniff(encrypted_docx, "attachment.bin", mime)
    assert (found.kind, found.encrypted) == ("docx", True)


def test_an_encrypted_package_with_no_hint_is_an_encrypted_ole_file(encrypted_docx: bytes):
    found = sniff(encrypted_docx, "attachment")
    assert (found.kind, found.encrypted) == ("ole", True)


# --- export vocabulary -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "source_kind"),
    [
        ("docx", "docx"),
        ("doc", "doc"),
        ("odt", "odt"),
        ("rtf", "rtf"),
        ("pdf", "pdf"),
        ("text", "other"),
        ("html", "other"),
        ("xlsx", "other"),
        ("ole", "other"),
        ("unknown", "other"),
    ],
)
def test_source_kind_maps_onto_the_export_vocabulary(kind: str, source_kind: str):
    assert source_kind_for(Sniffed(kind)) == source_kind
