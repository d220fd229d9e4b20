"""One attachment -> one `Reading`, run inside the sandbox.

`read_attachment` is the function the sandbox runs in a child process: everything a stranger's
file can make expensive (unzipping, XML, PDF layout, LibreOffice conversion, the form reader) happens
there, under time and memory limits. The parent only sees a picklable Reading or an exception.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

from parsers.body import body_document, body_text
from parsers.convert import convert_many, convert_to_docx
from parsers.document import Document
from parsers.docx_reader import read_docx
from parsers.formdef import FormDefinition
from parsers.formreader import _fields_usable as fields_usable  # the test read_form applies
from parsers.formreader import read_form
from parsers.pdf_reader import read_pdf

READABLE_KINDS = ("docx", "doc", "odt", "rtf", "pdf", "text")


@dataclass(frozen=True)
class AttachmentJob:
    """What the child needs besides the bytes; frozen and picklable."""

    kind: str  # a sniffed kind from READABLE_KINDS
    filename: str | None
    form: FormDefinition
    max_pdf_pages: int = 40
    convert_timeout: float = 90.0
    converted_from: str | None = None  # the bytes are a docx LibreOffice made from this kind


CONVERTED_KINDS = ("doc", "odt", "rtf")


def document_for(job: AttachmentJob, data: bytes) -> Document:
    """Bytes of a sniffed kind -> the intermediate Document."""
    if job.kind == "docx":
        return read_docx(data)
    if job.kind in CONVERTED_KINDS:
        return read_docx(convert_to_docx(data, job.kind, timeout=job.convert_timeout))
    if job.kind == "pdf":  # a fillable form is read from its fields, with no layout analysis
        suffice = functools.partial(fields_usable, form=job.form)
        return read_pdf(data, max_pages=job.max_pdf_pages, fields_suffice=suffice)
    if job.kind == "text":
        return body_document(body_text(decode_text(data), None))
    raise ValueError(f"not a readable kind: {job.kind}")


def decode_text(data: bytes) -> str:
    """A plain-text attachment as text: UTF-8 if it is, else the Windows code page older mail used."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def read_attachment(job: AttachmentJob, data: bytes) -> object:
    """Run in the child: read the document and map it onto the form."""
    doc = document_for(job, data)
    source_kind = job.converted_from or (job.kind if job.kind != "text" else "other")
    return read_form(doc, job.form, source_kind=source_kind, filename=job.filename)


def convert_batch(files: list[tuple[str, bytes]], timeout: float, _data: bytes = b"") -> dict[str, bytes]:
    """Run in the child: convert these .doc/.rtf/.odt files with one LibreOffice start.

    Returns {SHA-256 of the original bytes: docx bytes} for the files that converted; the others
    are converted alone when they are read, which gives their reason.
    """
    converted = convert_many(files, timeout=timeout)
    return {hashlib.sha256(files[i][1]).hexdigest(): docx for i, docx in converted.items()}
