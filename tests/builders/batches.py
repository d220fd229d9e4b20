"""A mixed batch of messages, as a real inbox holds them, with what a correct filing of it gives."""

from __future__ import annotations

from dataclasses import dataclass

from builders.docx_forms import build_docx, retyped_lines, sample_reading
from builders.mail import DOCX_TYPE, build_message, out_of_office
from builders.pdf_forms import build_acroform_pdf, build_encrypted_pdf
from parsers.formdef import FormDefinition


@dataclass(frozen=True)
class Batch:
    messages: list[bytes]
    responses: int  # responses a correct filing files
    acknowledged: int  # acknowledgements that go out


def mixed_batch(form: FormDefinition, seed: int = 0) -> Batch:
    """A Word form, a fillable PDF, answers in the body, a locked PDF, an out-of-office and a question."""
    word, pdf, body, locked = (sample_reading(form, seed + n) for n in range(4))
    messages = [
        build_message(
            sender=f"Word Respondent {seed} <word{seed}@example.org>",
            attachments=[("response.docx", DOCX_TYPE, build_docx(form, word, "glyph"))],
        ),
        build_message(
            sender=f"Pdf Respondent {seed} <pdf{seed}@example.net>",
            attachments=[("response.pdf", "application/pdf", build_acroform_pdf(form, pdf))],
        ),
        build_message(
            sender=f"Body Respondent {seed} <body{seed}@example.com>", body="\n".join(retyped_lines(form, body))
        ),
        build_message(
            sender=f"Locked Respondent {seed} <locked{seed}@example.org>",
            attachments=[("locked.pdf", "application/pdf", build_encrypted_pdf(form, locked))],
        ),
        out_of_office(f"Away {seed} <away{seed}@example.org>"),
        build_message(
            sender=f"Asker {seed} <asker{seed}@example.com>",
            subject="Response form",
            body="Could you send me the response form in Word please?\n",
        ),
    ]
    # the locked PDF is kept as a response needing review and acknowledged; the question is not
    return Batch(messages, responses=4, acknowledged=4)
