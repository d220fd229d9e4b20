"""Read a stored message whole in one sandboxed call: its MIME, every attachment, its body.

A backlog is read this way (ingest/readahead.py): one round trip to a warm worker per message,
instead of one for the MIME and one per attachment with the bytes shipped back and forth, and no
reading left for the service's own process, whose main thread files and sends meanwhile.

The limits still hold per attachment in the end. When the whole call fails (it ran past its time,
needed too much memory, crashed), the caller reads the message again part by part, each
attachment in a call of its own, so only the attachment at fault goes to review, with the
reason it would have had anyway. A .doc/.rtf/.odt file is not converted here: the first call
returns the files to convert, the caller converts them with other messages' files in one
LibreOffice start, and the second call reads the .docx files that made.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, replace

from parsers.attachments import CONVERTED_KINDS, AttachmentJob, read_attachment
from parsers.formdef import FormDefinition
from parsers.mail import ParsedMail, parse_mail
from parsers.message import Limits, MessageReading, ReadOne, files_to_convert, read_message
from parsers.model import Reading

Files = list[tuple[str, bytes]]  # (sniffed kind, bytes)
Converted = dict[str, bytes]  # {SHA-256 of the original: docx bytes}


@dataclass(frozen=True)
class ConvertFirst:
    """The message has files LibreOffice must convert before it can be read: these."""

    files: Files


@dataclass(frozen=True)
class ReadPartByPart:
    """An attachment ran out of memory inside the whole call: read the message part by part."""


class _OutOfMemory(BaseException):
    """Carries a MemoryError past the reader's own `except Exception` (which would make it a reason)."""


WholeResult = tuple[ParsedMail, MessageReading] | ConvertFirst | ReadPartByPart


def read_whole(form: FormDefinition, limits: Limits, converted: Converted | None, raw: bytes) -> WholeResult:
    """Run in the sandbox: the message taken apart and read, or what must happen first.

    `converted` is None on the first call (files to convert are then asked for), else the .docx
    made from this message's files (empty when nothing is converted in batches).
    """
    mail = parse_mail(raw)
    if converted is None:
        files = files_to_convert(mail, limits)
        if files:
            return ConvertFirst(files)
    read_one: ReadOne = functools.partial(_read_in_place, converted or {})
    try:
        reading = read_message(mail, form, read_one, limits)
    except _OutOfMemory:
        return ReadPartByPart()
    return replace(mail, attachments=(), forwarded=()), reading  # the service needs neither


def _read_in_place(converted: Converted, job: AttachmentJob, data: bytes) -> Reading:
    try:
        return read_converted_first(read_attachment, converted, job, data)
    except MemoryError as err:
        raise _OutOfMemory from err


def read_converted_first(read_one: ReadOne, converted: Converted, job: AttachmentJob, data: bytes) -> Reading:
    """Read the docx a batch conversion made from this file, or the file itself (converted alone)."""
    if job.kind in CONVERTED_KINDS:
        docx = converted.get(hashlib.sha256(data).hexdigest())
        if docx is not None:
            return read_one(replace(job, kind="docx", converted_from=job.kind), docx)
    return read_one(job, data)
