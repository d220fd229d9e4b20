"""Write a Maildir of generated sample responses: the embedded default the demo runs on.

Uses the test suite's fixture builders, so the demo mail is made from the form definition exactly
as the tests' mail is: Word forms filled in several ways, a fillable PDF, answers in an e-mail body,
an out-of-office reply, a bounce, a letter instead of the form (for the review queue) and a
question for the team.
"""

from __future__ import annotations

import argparse
import mailbox
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from builders.docx_forms import build_docx, build_letter_docx, sample_reading  # noqa: E402
from builders.mail import DOCX_TYPE, bounce, build_message, out_of_office  # noqa: E402
from builders.pdf_forms import build_acroform_pdf  # noqa: E402

from parsers.formdef import DEFAULT_FORM_PATH, load_form  # noqa: E402

VARIANTS = ("x_cell", "glyph", "wingdings", "legacy", "sdt", "tracked")


def sample_messages(count: int) -> list[bytes]:
    form = load_form(DEFAULT_FORM_PATH)
    out: list[bytes] = []
    for i in range(count):
        reading = sample_reading(form, 1000 + i)
        sender = f"{reading.respondent.name or 'Respondent'} <respondent{i}@example.org>"
        if i % 5 == 4:
            attachment = ("Response form.pdf", "application/pdf", build_acroform_pdf(form, reading))
        else:
            variant = VARIANTS[i % len(VARIANTS)]
            attachment = ("Response form.docx", DOCX_TYPE, build_docx(form, reading, variant))
        out.append(build_message(sender=sender, attachments=[attachment]))
    out.append(out_of_office())
    out.append(bounce())
    letter = (
        "Dear Sir or Madam,\n\nI write as head teacher of Exampleton Primary School. We welcome the "
        "guidance, but it says too little about how schools take part in the Children's Trust Board.\n\n"
        "Yours faithfully,\nSam Patel"
    )
    out.append(
        build_message(
            sender="Sam Patel <head@exampleton-primary.example.org>",
            subject="Children's Trusts consultation",
            body="Please find our school's response attached.\n",
            attachments=[("Our response.docx", DOCX_TYPE, build_letter_docx(letter))],
        )
    )  # a letter, not the form: it goes to the review queue, for the staff pages to show
    out.append(
        build_message(
            sender="Ann Lee <ann.lee@example.com>",
            subject="Response form",
            body="Could you send me the response form as a Word document, please?\n\nAnn Lee\n",
        )
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path, help="the Maildir to create (left alone if it already has mail)")
    parser.add_argument("--count", type=int, default=20, help="number of responses (default: %(default)s)")
    args = parser.parse_args()
    args.path.parent.mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(args.path, create=True)
    if len(box) or (args.path / ".Processed").exists():
        print(f"{args.path} already holds mail: left as it is")
        return 0
    for raw in sample_messages(args.count):
        box.add(raw)
    print(f"wrote {len(box)} sample messages to {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
