"""The zip and XML guard refuses hostile containers before anything is extracted."""

from __future__ import annotations

import zipfile
from io import BytesIO

import pytest
from builders.docx_forms import build_letter_docx, build_zip_bomb_docx, document_xml, docx_from_body

from parsers.docx_reader import read_docx
from parsers.ooxml_guard import (
    UnsafeDocumentError,
    check_no_doctype,
    check_zip,
    parse_xml,
    read_part,
)

BILLION_LAUGHS = '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'


def _zip_of(parts: dict[str, bytes]) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in parts.items():
            zf.writestr(name, data)
    return out.getvalue()


def test_zip_bomb_is_refused_from_the_central_directory() -> None:
    bomb = build_zip_bomb_docx()
    assert len(bomb) < 1_000_000
    with pytest.raises(UnsafeDocumentError, match=r"expands to more than 50 MB \(possible zip bomb\)"):
        check_zip(bomb)


def test_read_docx_refuses_a_zip_bomb_with_the_guard_reason() -> None:
    with pytest.raises(UnsafeDocumentError, match="zip bomb"):
        read_docx(build_zip_bomb_docx())


def test_one_part_compressed_far_beyond_real_documents_is_refused() -> None:
    data = _zip_of({"word/document.xml": document_xml("<w:p/>"), "word/media/x.bin": bytes(3_000_000)})
    with pytest.raises(UnsafeDocumentError, match=r"compressed \d+ times, more than 200"):
        check_zip(data)


def test_too_many_parts_are_refused() -> None:
    data = _zip_of({f"word/p{i}.xml": b"<a/>" for i in range(30)})
    with pytest.raises(UnsafeDocumentError, match="holds 30 parts, more than 20"):
        check_zip(data, max_parts=20)


def test_a_normal_docx_passes() -> None:
    check_zip(build_letter_docx("Dear Sir,\nI agree."))


def test_not_a_zip_raises_bad_zip_not_unsafe() -> None:
    with pytest.raises(zipfile.BadZipFile):
        check_zip(b"plain text, not a zip")


def test_read_part_stops_at_its_limit_whatever_the_zip_declares() -> None:
    with zipfile.ZipFile(BytesIO(_zip_of({"big.xml": b"x" * 5000}))) as zf:
        assert read_part(zf, "big.xml", 5000) == b"x" * 5000
        with pytest.raises(UnsafeDocumentError, match="big.xml expands to more than"):
            read_part(zf, "big.xml", 4999)


@pytest.mark.parametrize(
    "xml",
    [
        b'<?xml version="1.0"?><!DOCTYPE w:document SYSTEM "http://example.com/x.dtd"><w:document/>',
        b"<?xml version='1.0'?>" + BILLION_LAUGHS.encode() + b"<a>&lol2;</a>",
        b"<!ENTITY x 'y'><a/>",
        b"<?xml version='1.0'?><!doctype a><a/>",
    ],
)
def test_doctype_and_entity_declarations_are_refused(xml: bytes) -> None:
    with pytest.raises(UnsafeDocumentError, match="DOCTYPE or ENTITY"):
        check_no_doctype(xml)
    with pytest.raises(UnsafeDocumentError):
        parse_xml(xml)


def test_doctype_hidden_in_utf16_is_refused() -> None:
    xml = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a><a/>'.encode("utf-16")
    with pytest.raises(UnsafeDocumentError):
        check_no_doctype(xml)


def test_read_docx_refuses_a_document_part_with_entities() -> None:
    data = docx_from_body("<w:p><w:r><w:t>&lol2;</w:t></w:r></w:p>", prolog=BILLION_LAUGHS)
    with pytest.raises(UnsafeDocumentError, match="DOCTYPE"):
        read_docx(data)


def test_plain_ooxml_parses() -> None:
    root = parse_xml(document_xml("<w:p><w:r><w:t>Hello</w:t></w:r></w:p>"))
    assert root.tag.endswith("}document")
