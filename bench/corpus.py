"""The benchmarks' mail: the mix respondents send (issue 9), built with the test suite's builders.

Per 50 messages: 28 Word forms (every builder variant in turn), 8 PDFs (fillable and printed,
alternately), 3 older Word formats (.doc, .rtf, .odt, made by LibreOffice from a filled form),
5 answers in the body, 3 letters (a .docx with no form), 2 out-of-office replies and 1 bounce:
56 % Word forms, 16 % PDFs, 6 % .doc/.rtf/.odt, 22 % bodies, letters and automatic mail.
Each message has its own sender and its own answers, so no cap or duplicate check applies.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from builders.docx_forms import VARIANTS, build_docx, build_letter_docx, retyped_lines, sample_reading  # noqa: E402
from builders.mail import DOCX_TYPE, build_message  # noqa: E402
from builders.pdf_forms import build_acroform_pdf, build_printed_pdf  # noqa: E402

from parsers.formdef import DEFAULT_FORM_PATH, load_form  # noqa: E402

FORM = load_form(DEFAULT_FORM_PATH)
LEGACY = ("doc", "rtf", "odt")
LEGACY_TYPES = {"doc": "application/msword", "rtf": "application/rtf", "odt": "application/vnd.oasis.opendocument.text"}
LETTER = (
    "Dear Sir or Madam,\n\nI write as a governor of a primary school. The proposals for Children's Trusts "
    "leave schools unsure of their place on the Board, and I would ask that this be made clear.\n\n"
    "Yours faithfully,\n{name}\n"
)


def kind_of(i: int) -> str:
    slot = i % 50
    if slot < 28:
        return f"docx:{VARIANTS[(i // 50 * 28 + slot) % len(VARIANTS)]}"
    if slot < 36:
        return "pdf:fillable" if slot % 2 == 0 else "pdf:printed"
    if slot < 39:
        return f"legacy:{LEGACY[slot - 36]}"
    if slot < 44:
        return "body"
    if slot < 47:
        return "letter"
    return "auto_reply" if slot < 49 else "bounce"


def plan(count: int) -> list[str]:
    return [kind_of(i) for i in range(count)]


def summary(count: int) -> str:
    groups = Counter(k.partition(":")[0] for k in plan(count))
    return ", ".join(f"{n} {name}" for name, n in sorted(groups.items(), key=lambda kv: -kv[1]))


def build_corpus(count: int, *, seed: int = 70_000) -> list[bytes]:
    """`count` messages in arrival order; the legacy files come from one LibreOffice call per kind."""
    kinds = plan(count)
    legacy = _legacy_files([(i, k.partition(":")[2]) for i, k in enumerate(kinds) if k.startswith("legacy")], seed)
    return [_message(i, kind, seed, legacy) for i, kind in enumerate(kinds)]


def _message(i: int, kind: str, seed: int, legacy: dict[int, bytes]) -> bytes:
    sender = f"Respondent {i} <respondent{seed + i}@example.org>"
    message_id = f"<bench-{seed}-{i}@example.org>"
    reading = sample_reading(FORM, seed + i)
    group, _, variant = kind.partition(":")
    if group == "auto_reply":
        return build_message(
            sender=sender,
            message_id=message_id,
            subject="Out of Office: Children's Trusts consultation response",
            body="I am out of the office until Monday with limited access to e-mail.\n",
            headers={"Auto-Submitted": "auto-replied"},
        )
    if group == "bounce":
        return build_message(
            sender="Mail Delivery System <MAILER-DAEMON@mx.example.net>",
            message_id=message_id,
            subject="Undelivered Mail Returned to Sender",
            body="This is the mail system. Your message could not be delivered.\n",
            headers={"Auto-Submitted": "auto-replied"},
            return_path="<>",
        )
    if group == "body":
        return build_message(sender=sender, message_id=message_id, body="\n".join(retyped_lines(FORM, reading)))
    if group == "letter":
        data = build_letter_docx(LETTER.format(name=f"Respondent {seed + i}"))
        return build_message(sender=sender, message_id=message_id, attachments=[("letter.docx", DOCX_TYPE, data)])
    if group == "pdf":
        data = build_acroform_pdf(FORM, reading) if variant == "fillable" else build_printed_pdf(FORM, reading)
        return build_message(
            sender=sender, message_id=message_id, attachments=[(f"response-{i}.pdf", "application/pdf", data)]
        )
    if group == "legacy":
        return build_message(
            sender=sender,
            message_id=message_id,
            attachments=[(f"response-{i}.{variant}", LEGACY_TYPES[variant], legacy[i])],
        )
    data = build_docx(FORM, reading, variant)
    return build_message(sender=sender, message_id=message_id, attachments=[(f"response-{i}.docx", DOCX_TYPE, data)])


def _legacy_files(wanted: list[tuple[int, str]], seed: int) -> dict[int, bytes]:
    """Each wanted message's filled form saved by LibreOffice as its kind (one call per kind)."""
    out: dict[int, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="bench-legacy-") as tmp:
        work = Path(tmp)
        for kind in LEGACY:
            inputs = []
            for i, k in wanted:
                if k == kind:
                    path = work / f"m{i}.docx"
                    path.write_bytes(build_docx(FORM, sample_reading(FORM, seed + i), "x_cell"))
                    inputs.append(path)
            if not inputs:
                continue
            subprocess.run(
                ["soffice", "--headless", f"-env:UserInstallation={(work / 'profile').as_uri()}"]
                + ["--convert-to", kind, "--outdir", str(work / kind), *map(str, inputs)],
                check=True,
                capture_output=True,
                timeout=600,
            )
            for i, k in wanted:
                if k == kind:
                    out[i] = (work / kind / f"m{i}.{kind}").read_bytes()
    return out
