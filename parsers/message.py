"""One e-mail message -> what it is and the responses in it (`MessageReading`).

Decides which attachment is the response: forms are responses; a cover letter beside a form is
not; a free-form letter with no form is a response for a person to read; an attachment that cannot
be read (password, limits, corrupt) is kept as a response needing review, never dropped; with no
attachment, answers written in the body are read. Automatic mail and junk carry no response.
Everything here is pure except `read_one`, which the caller supplies (the sandboxed reader in the
service, a direct call in unit tests).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from parsers.attachments import CONVERTED_KINDS, READABLE_KINDS, AttachmentJob, decode_text
from parsers.body import body_document, body_text, forwarded_text, looks_like_response
from parsers.classify import classify_automatic, looks_like_junk
from parsers.formdef import FormDefinition
from parsers.formreader import read_form
from parsers.mail import Attachment, ParsedMail
from parsers.model import Reading, Respondent
from parsers.sniff import Sniffed, image_size, sniff, source_kind_for

log = logging.getLogger(__name__)

ReadOne = Callable[[AttachmentJob, bytes], Reading]

# A page of a form scanned or photographed is hundreds of pixels on its shorter side even at low
# resolution (an A4 page at 72 dpi is 595 x 842); logos and signature images are far smaller.
PAGE_MIN_PIXELS = 400
SCAN_REASON = "a picture was attached that may be a scan or photo of the response form: no text to read"
UNOPENED_REASON = "attachment could not be read"
PASSWORD_REASON = "password-protected document: ask the respondent for an unprotected copy"
# Kinds of attachment that never hold a response, and how staff would call them.
_NOT_RESPONSES = {
    "text/vcard": "a contact card (vCard)",
    "text/x-vcard": "a contact card (vCard)",
    "text/calendar": "a calendar invitation",
    "application/pgp-signature": "a digital signature",
    "application/pkcs7-signature": "a digital signature",
    "application/x-pkcs7-signature": "a digital signature",
}


@dataclass(frozen=True)
class Limits:
    max_attachment_bytes: int = 25_000_000
    max_pdf_pages: int = 40
    convert_timeout: float = 90.0


@dataclass(frozen=True)
class MessageReading:
    disposition: str  # response | auto_reply | bounce | junk | correspondence | failed
    reason: str | None
    readings: tuple[Reading, ...]
    problems: tuple[str, ...] = ()


def read_message(
    mail: ParsedMail, form: FormDefinition, read_one: ReadOne, limits: Limits = Limits()
) -> MessageReading:
    """Classify the message and read every response in it."""
    automatic = classify_automatic(mail.headers, mail.envelope_sender)
    if automatic is not None:
        return MessageReading(automatic.disposition, automatic.reason, ())
    text = body_text(mail.text_plain, mail.text_html)
    readings, problems = _responses(mail, form, read_one, limits, text)
    if readings:
        return MessageReading("response", None, readings, problems)
    junk = looks_like_junk(mail.headers, text, form)
    if junk:
        return MessageReading("junk", junk, (), problems)
    return MessageReading("correspondence", "a person wrote, but sent no response", (), problems)


def _responses(
    mail: ParsedMail, form: FormDefinition, read_one: ReadOne, limits: Limits, text: str
) -> tuple[tuple[Reading, ...], tuple[str, ...]]:
    forms: list[Reading] = []
    letters: list[Reading] = []
    unreadable: list[Reading] = []
    problems: list[str] = []
    for attachment in _all_attachments(mail):
        reading = _read_attachment(attachment, form, read_one, limits)
        if isinstance(reading, str):
            problems.append(f"skipped {attachment.filename or 'an unnamed attachment'}: {reading}")
            continue
        if reading.text is not None and _is_letter(reading):
            letters.append(reading)
        elif reading.review_reasons and not _has_answers(reading):
            unreadable.append(reading)
            problems.extend(reading.review_reasons)
        else:
            forms.append(reading)
    if forms or unreadable:
        return tuple(_distinct(forms) + unreadable), tuple(problems)
    if letters:
        return tuple(letters), tuple(problems)
    if looks_like_response(text, form):
        body = read_form(body_document(text), form, source_kind="body", filename=None)
        return (body,), tuple(problems)
    earlier = [body_text(fwd.text_plain, fwd.text_html) for fwd in mail.forwarded]
    earlier.append(forwarded_text(mail.text_plain, mail.text_html) or "")
    for fwd_text in earlier:
        if looks_like_response(fwd_text, form):
            return (read_form(body_document(fwd_text), form, source_kind="body", filename=None),), tuple(problems)
    return (), tuple(problems)


def _distinct(readings: list[Reading]) -> list[Reading]:
    """One response sent in two formats (the Word form and the same as PDF) is one response.

    Two files of the same format with the same words stay two responses: two pupils' identical,
    unsigned forms are two voices, and merging them would lose one.
    """
    kinds_seen: dict[str, set[str]] = {}
    out: list[Reading] = []
    for reading in readings:
        kinds = kinds_seen.setdefault(fingerprint(reading), set())
        if kinds and reading.source_kind not in kinds:
            continue
        kinds.add(reading.source_kind)
        out.append(reading)
    return out


def _all_attachments(mail: ParsedMail) -> list[Attachment]:
    """The message's attachments, then those of any forwarded message inside it, each once.

    mail-parser lists the attachments of a forwarded message among the outer message's too, and a
    respondent may attach the same file twice: the same bytes are one candidate response.
    """
    found: list[Attachment] = []
    seen: set[str] = set()
    for att in [*mail.attachments, *(a for fwd in mail.forwarded for a in _all_attachments(fwd))]:
        digest = hashlib.sha256(att.data).hexdigest()
        if digest not in seen:
            seen.add(digest)
            found.append(att)
    return found


def files_to_convert(mail: ParsedMail, limits: Limits = Limits()) -> list[tuple[str, bytes]]:
    """(kind, bytes) of each attachment `read_message` would have LibreOffice convert.

    Lets a caller convert the .doc/.rtf/.odt files of several messages with one LibreOffice start
    before reading them (ingest/readahead.py).
    """
    found = []
    for att in _all_attachments(mail):
        sniffed = sniff(att.data, att.filename, att.content_type)
        if sniffed.kind in CONVERTED_KINDS and not sniffed.encrypted and len(att.data) <= limits.max_attachment_bytes:
            found.append((sniffed.kind, att.data))
    return found


def _is_letter(reading: Reading) -> bool:
    return not _has_answers(reading)


def _has_answers(reading: Reading) -> bool:
    return any(a.choice or a.comment for a in reading.answers.values())


def _read_attachment(att: Attachment, form: FormDefinition, read_one: ReadOne, limits: Limits) -> Reading | str:
    """Read one attachment; when it is not a candidate response (a logo, a vCard), say why it was skipped."""
    sniffed = sniff(att.data, att.filename, att.content_type)
    kind = source_kind_for(sniffed)
    if sniffed.kind == "image":
        return _image(att, kind)
    if att.content_type.split(";")[0].strip() in _NOT_RESPONSES:
        return _NOT_RESPONSES[att.content_type.split(";")[0].strip()]
    if sniffed.kind not in READABLE_KINDS:
        return _not_read(sniffed)
    if sniffed.kind == "text" and not looks_like_response(decode_text(att.data), form):
        return "a text file with no answers in it (a footer or a note)"
    if len(att.data) > limits.max_attachment_bytes:
        mb = limits.max_attachment_bytes / 1_000_000
        return _review(kind, att.filename, f"attachment larger than {mb:g} MB: not read", att.data)
    if sniffed.encrypted:
        return _review(kind, att.filename, PASSWORD_REASON, att.data)
    job = AttachmentJob(sniffed.kind, att.filename, form, limits.max_pdf_pages, limits.convert_timeout)
    try:
        return replace(read_one(job, att.data), source_digest=_digest(att.data))
    except Exception as err:  # every reader failure becomes a reason on the response, never a lost message
        log.warning("could not read a %s attachment (%s)", kind, type(err).__name__)  # no file name: it may be a name
        log.debug("attachment %r: %s", att.filename, err)
        return _review(kind, att.filename, _reason_for(err), att.data)


def _image(att: Attachment, kind: str) -> Reading | str:
    """A picture small enough to be a logo or signature is skipped; anything else may be the form."""
    size = image_size(att.data)
    if size is not None and min(size) < PAGE_MIN_PIXELS:
        return f"a picture of {size[0]} x {size[1]} pixels, too small to be a page of the form (a logo or signature)"
    return _review(kind, att.filename, SCAN_REASON, att.data)


def _not_read(sniffed: Sniffed) -> str:
    return f"{sniffed.detail or sniffed.kind}: not a kind of file a response form comes in"


def could_not_open(reasons: tuple[str, ...] | list[str]) -> bool:
    """Whether a response's reasons say its file could not be opened (so the respondent is asked again)."""
    return any(r.startswith((UNOPENED_REASON, PASSWORD_REASON, "attachment larger than")) for r in reasons)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _review(kind: str, filename: str | None, reason: str, data: bytes) -> Reading:
    return Reading(source_kind=kind, filename=filename, review_reasons=(reason,), source_digest=_digest(data))


def _reason_for(err: Exception) -> str:
    reason = getattr(err, "reason", None) or str(err) or type(err).__name__
    return f"{UNOPENED_REASON}: {reason}"


def fingerprint(reading: Reading) -> str:
    """A hash of what the respondent said, to tell a response sent again from a new one.

    A response with nothing read from it (a password-protected or unreadable file) is known only by
    its file's bytes: two different locked files are two responses, the same one sent twice is one.
    """
    if not _has_answers(reading) and reading.text is None and reading.respondent == Respondent():
        return reading.source_digest or hashlib.sha256(repr(reading).encode()).hexdigest()
    content = asdict(replace(reading, review_reasons=(), source_digest=None))
    content.pop("found", None)  # how it was read is not what was said
    content.pop("filename", None)
    content.pop("source_kind", None)  # the same words sent as Word and as PDF are one response
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
