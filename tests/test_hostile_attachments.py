"""Hostile attachments cost at most their limits, end as needs_review with the right reason, and
never stop the cycle: the messages around them are filed."""

from __future__ import annotations

import io
import mailbox

from builders.docx_forms import build_docx, build_zip_bomb_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message
from builders.pdf_forms import build_encrypted_pdf, build_looping_pdf
from intake_env import export, run_intake, write_config
from msoffcrypto.format.ooxml import OOXMLFile

from parsers.formdef import DEFAULT_FORM_PATH, load_form

FORM = load_form(DEFAULT_FORM_PATH)


def encrypted_docx(data: bytes) -> bytes:
    out = io.BytesIO()
    OOXMLFile(io.BytesIO(data)).encrypt("secret", out)
    return out.getvalue()


def test_zip_bomb_looping_pdf_and_encrypted_files_go_to_review_and_the_rest_is_filed(tmp_path):
    good = [sample_reading(FORM, s) for s in (21, 22, 23)]
    hostile = {
        "bomb.docx": (DOCX_TYPE, build_zip_bomb_docx()),
        "loop.pdf": ("application/pdf", build_looping_pdf()),
        "locked.docx": (DOCX_TYPE, encrypted_docx(build_docx(FORM, good[0], "x_cell"))),
        "locked.pdf": ("application/pdf", build_encrypted_pdf(FORM, good[0])),
    }
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    box.add(
        build_message(sender="a@example.org", attachments=[("a.docx", DOCX_TYPE, build_docx(FORM, good[0], "glyph"))])
    )
    for i, (name, (ctype, data)) in enumerate(hostile.items()):
        box.add(build_message(sender=f"hostile{i}@example.org", attachments=[(name, ctype, data)]))
    box.add(
        build_message(sender="b@example.org", attachments=[("b.docx", DOCX_TYPE, build_docx(FORM, good[1], "sdt"))])
    )
    box.add(
        build_message(sender="c@example.org", attachments=[("c.docx", DOCX_TYPE, build_docx(FORM, good[2], "legacy"))])
    )
    config = write_config(
        tmp_path,
        mailbox_url=f"maildir:{tmp_path / 'mail'}",
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
        extra="parse_memory_mb = 600\n",
    )
    config.write_text(config.read_text().replace("parse_timeout_seconds = 30", "parse_timeout_seconds = 8"))

    assert run_intake(config, "run") == 0

    responses = {r["source"]["filename"]: r for r in export(config, tmp_path)}
    for name in ("a.docx", "b.docx", "c.docx"):
        assert responses[name]["status"] == "filed", responses[name]["review_reasons"]
    reasons = {name: " ".join(responses[name]["review_reasons"]) for name in hostile}
    assert all(responses[name]["status"] == "needs_review" for name in hostile)
    assert "zip bomb" in reasons["bomb.docx"]
    assert "longer than" in reasons["loop.pdf"] or "memory" in reasons["loop.pdf"]
    assert "password" in reasons["locked.docx"]
    assert "password" in reasons["locked.pdf"]
