"""A corpus of letters, retyped forms and LibreOffice-made documents, scored with the shared scorer.

    python3 bench/letters_corpus.py [--out DIR] [--scorer ../shared/tools/score.py] [--no-convert]

The texts are written as people write them (`tests/builders/letters.py`: several letter styles,
numbered and not, with and without headings; retyped forms; answers in the e-mail), not made from
the form definition the reader uses. Each is sent in the e-mail body and as a Word file written
with python-docx, and LibreOffice saves that Word file as .doc, .odt, .rtf and PDF (`soffice
--headless --convert-to`). Filled forms take the other road too: the Word form filled, then saved
by LibreOffice as PDF (a printed PDF, long values in narrow cells) and as .odt. Then
`scripts/score_samples.py` runs the real pipeline (`intake run` into SQLite) and the scorer.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

from builders.docx_forms import build_docx, sample_reading  # noqa: E402
from builders.letters import Case, all_cases, word_letter  # noqa: E402
from builders.mail import DOCX_TYPE, build_message  # noqa: E402
from extract import expected_record  # noqa: E402

from parsers.formdef import DEFAULT_FORM_PATH, load_form  # noqa: E402

FORM = load_form(DEFAULT_FORM_PATH)
MIME = {"docx": DOCX_TYPE, "pdf": "application/pdf", "doc": "application/msword", "rtf": "application/rtf",
        "odt": "application/vnd.oasis.opendocument.text"}  # fmt: skip
CONVERSIONS = ("doc", "odt", "rtf", "pdf")
LONG_EMAIL = "christopher.fotheringham-worthington@northshire-childrens-services.example.org.uk"
# No hyphen to break at: LibreOffice breaks it at the cell's edge, which the reader must notice.
UNBREAKABLE_EMAIL = "christopherfotheringhamworthington@northshirechildrensservicesdirectorate.example.org.uk"


def soffice(sources: list[Path], ext: str, outdir: Path, profile: Path) -> None:
    """Save every source as `ext` with LibreOffice, in one run."""
    outdir.mkdir(parents=True, exist_ok=True)
    cmd = ["soffice", "--headless", "--norestore", f"-env:UserInstallation=file://{profile}",
           "--convert-to", ext, "--outdir", str(outdir), *map(str, sources)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)


def record(message_id: str, kind: str, filename: str | None, case_kind: str, expected: dict, status: str) -> dict:
    response = {"source": {"kind": kind, "filename": filename}, "status": status, "late": False, **expected}
    return {"file": message_id.strip("<>") + ".eml", "message_id": message_id, "disposition": "response",
            "acknowledgement": "sent", "_kind": case_kind, "responses": [response]}  # fmt: skip


def form_cases() -> list[tuple[str, str, dict, bytes]]:
    """Filled Word forms for LibreOffice to save as PDF, .odt and .doc; some with long values in narrow cells."""
    out = []
    for n, ext in enumerate((*("pdf", "odt", "doc") * 3, "pdf")):
        seed = 300 + n
        reading = sample_reading(FORM, seed)
        if n % 3 == 0 or ext == "pdf":
            organisation = (
                "Thornbury Heath County Council, Children, Schools and Families Directorate, "
                "Integrated Youth Support Service"
            )
            email = (LONG_EMAIL if n % 2 else UNBREAKABLE_EMAIL).replace("christopher", f"christopher{n}")
            respondent = dataclasses.replace(reading.respondent, email=email, organisation=organisation)
            reading = dataclasses.replace(reading, respondent=respondent)
        name = f"form-{ext}-seed{seed}" + ("-unbreakable" if ext == "pdf" and n % 2 == 0 else "")
        out.append((name, ext, _expected_of(reading), build_docx(FORM, reading, "x_cell")))
    return out


def _expected_of(reading) -> dict:
    """The export record of a filled form's response, as the extraction benchmark writes it."""
    response = expected_record("<form>", "docx", None, reading)["responses"][0]
    return {k: v for k, v in response.items() if k not in ("source", "status", "late")}


def build(out: Path, convert: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="letters-conv-"))
    key: list[dict] = []
    messages: list[tuple[str, bytes]] = []
    to_convert: list[tuple[Path, str, Case | None, dict, str]] = []
    for i, (case, in_word, converted) in enumerate(zip(all_cases(0), all_cases(1), all_cases(2), strict=True)):
        status = "needs_review" if case.needs_review else "filed"
        mid = f"<letters-{i}-body@example.org>"
        messages.append((mid, build_message(message_id=mid, body=case.text, sender=f"R{i} <r{i}@example.org>")))
        key.append(record(mid, "body", None, f"{case.name}:body", case.expected, status))
        if case.name.startswith("email-"):
            continue
        mid = f"<letters-{i}-docx@example.org>"
        messages.append(
            (
                mid,
                build_message(
                    message_id=mid,
                    sender=f"D{i} <d{i}@example.org>",
                    attachments=[("response.docx", MIME["docx"], word_letter(in_word.text))],
                ),
            )
        )
        key.append(record(mid, "docx", "response.docx", f"{case.name}:docx", in_word.expected, status))
        case = converted
        docx = word_letter(case.text)
        src = work / f"letter{i}.docx"
        src.write_bytes(docx)
        to_convert.append((src, CONVERSIONS[i % len(CONVERSIONS)], case, case.expected, status))
    for name, ext, expected, docx in form_cases():
        src = work / f"{name}.docx"
        src.write_bytes(docx)
        to_convert.append((src, ext, None, expected, "filed"))
    if convert:
        profile = work / "profile"
        for ext in CONVERSIONS:
            sources = [src for src, e, *_ in to_convert if e == ext]
            if sources:
                soffice(sources, ext, work / ext, profile)
        for n, (src, ext, case, expected, status) in enumerate(to_convert):
            data = (work / ext / f"{src.stem}.{ext}").read_bytes()
            if src.stem == "form-pdf-seed309":  # its cross-reference table damaged: the reader must repair it
                data = re.sub(rb"startxref\s+\d+", b"startxref\n999", data)
            mid = f"<letters-conv-{n}-{ext}@example.org>"
            filename = f"response.{ext}"
            sender = f"C{n} <c{n}@example.org>"
            messages.append(
                (mid, build_message(message_id=mid, sender=sender, attachments=[(filename, MIME[ext], data)]))
            )
            kind = f"{case.name}:{ext}" if case else f"form-filled{_variant(src.stem)}:{ext}"
            key.append(record(mid, ext, filename, kind, expected, status))
    for mid, raw in messages:
        (out / f"{mid.strip('<>')}.eml").write_bytes(raw)
    (out / "expected.jsonl").write_text("".join(json.dumps(k, ensure_ascii=False) + "\n" for k in key), "utf-8")
    print(f"{len(messages)} messages in {out}")


def _variant(stem: str) -> str:
    return "-unbreakable-email" if "unbreakable" in stem else "-damaged-xref" if stem == "form-pdf-seed309" else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(tempfile.mkdtemp(prefix="letters-corpus-")))
    parser.add_argument("--scorer", type=Path, default=REPO.parent / "shared" / "tools" / "score.py")
    parser.add_argument("--no-convert", action="store_true", help="skip the LibreOffice conversions")
    parser.add_argument("--show-errors", type=int, default=40)
    args = parser.parse_args()
    build(args.out, not args.no_convert)
    score = [sys.executable, str(REPO / "scripts" / "score_samples.py"), "--samples", str(args.out),
             "--scorer", str(args.scorer), "--show-errors", str(args.show_errors)]  # fmt: skip
    return subprocess.run(score, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
