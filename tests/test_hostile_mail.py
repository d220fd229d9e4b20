"""Hostile mail is normal mail: each kind is recorded with its reason, the messages around it are
filed, nothing is written outside the folder it is meant for, and memory stays under a bound."""

from __future__ import annotations

import json
import mailbox
import subprocess
import sys
from pathlib import Path

import pytest
from builders import hostile_mail
from builders.docx_forms import build_docx, docx_from_body, sample_reading
from builders.mail import DOCX_TYPE, build_message
from intake_env import REPO, export, run_intake, write_config

from parsers.formdef import DEFAULT_FORM_PATH, load_form

FORM = load_form(DEFAULT_FORM_PATH)
PEAK_MEMORY_MB = 400  # the service and its largest child, with a 67 MB message among the mail (measured 247)

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)


def _good(n: int) -> bytes:
    reading = sample_reading(FORM, 90 + n)
    return build_message(
        sender=f"Good Respondent {n} <good{n}@example.org>",
        attachments=[("response.docx", DOCX_TYPE, build_docx(FORM, reading, "glyph"))],
    )


def _hostile() -> dict[str, bytes]:
    return {
        "missing boundary": hostile_mail.missing_boundary(),
        "endless boundary": hostile_mail.endless_boundary(),
        "deep nesting": hostile_mail.deep_nesting(),
        "undecodable charsets": hostile_mail.undecodable_charsets(),
        "huge header": hostile_mail.huge_header_line(),
        "nul bytes": hostile_mail.nul_bytes(),
        "overlong headers": hostile_mail.overlong_header_values(),
        "many attachments": hostile_mail.many_attachments(),
        "big attachment": hostile_mail.big_attachment(),
        "forged bounce": hostile_mail.forged_bounce(),
        "traversal": build_message(
            sender="Traversal <traversal@example.org>",
            attachments=[
                ("../../../../tmp/escaped-form.docx", DOCX_TYPE, build_docx(FORM, sample_reading(FORM, 199), "glyph")),
                ("/etc/passwd", "text/plain", b"owned\n"),
            ],
        ),
        "entity expansion": build_message(
            sender="Laughs <laughs@example.org>",
            attachments=[
                (
                    "laughs.docx",
                    DOCX_TYPE,
                    docx_from_body("<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>", prolog=BILLION_LAUGHS),
                )
            ],  # fmt: skip
        ),
    }


def _run_measured(config: Path) -> tuple[int, int]:
    """Run `intake run` in a fresh process; its exit status and peak RSS (its own or a child's), in MB."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-m', 'ingest.cli', '--config', sys.argv[1], 'run'])\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(config)], cwd=REPO, capture_output=True, text=True,
                         timeout=900, check=True)  # fmt: skip
    status, peak = out.stdout.split()
    return int(status), int(peak)


def test_hostile_mail_is_recorded_and_the_mail_around_it_is_filed(pg_url, tmp_path):
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    hostile = _hostile()
    order = []
    for n, (kind, raw) in enumerate(hostile.items()):
        box.add(_good(n))
        box.add(raw)
        order += [f"good {n}", kind]
    config = write_config(
        tmp_path,
        mailbox_url=f"maildir:{tmp_path / 'mail'}",
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=pg_url,
    )

    status, peak_mb = _run_measured(config)
    assert status == 0
    assert peak_mb < PEAK_MEMORY_MB, f"peak memory {peak_mb} MB"
    print(f"hostile corpus: {len(order)} messages, peak RSS {peak_mb} MB")

    messages = export(config, tmp_path, "--messages")
    assert len(messages) == len(order), "every message is recorded"
    assert all(m["disposition"] for m in messages)
    responses = export(config, tmp_path)
    good = [r for r in responses if r["source"]["filename"] == "response.docx"]
    assert len(good) == len(hostile) and all(r["status"] == "filed" for r in good)

    by_sender = {(m["sender"] or "")[:40]: m for m in messages}
    assert by_sender["MAILER-DAEMON@mx.example.net"]["disposition"] == "bounce"
    assert by_sender["MAILER-DAEMON@mx.example.net"]["acknowledgement"]["status"] == "suppressed"
    big = by_sender["big@example.org"]
    assert big["disposition"] == "failed" and "larger than" in " ".join(big["problems"])
    clipped = [m for m in messages if any("clipped" in p for p in m["problems"])]
    assert len(clipped) >= 2, "the overlong headers and the one-megabyte subject are clipped, and noted"
    assert any(m["disposition"] == "correspondence" for m in clipped)
    laughs = next(r for r in responses if r["source"]["filename"] == "laughs.docx")
    assert laughs["status"] == "needs_review" and laughs["review_reasons"]

    traversal = next(r for r in responses if "escaped" in (r["source"]["filename"] or ""))
    out = tmp_path / "originals"
    assert run_intake(config, "original", traversal["reference"], "--out", str(out)) == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert all("/" not in name and not name.startswith(".") for name in written), written
    assert not Path("/tmp/escaped-form.docx").exists()
    print(json.dumps({m["message_id"][:30] if m["message_id"] else "?": m["disposition"] for m in messages}))


@pytest.mark.parametrize("builder", ["missing_boundary", "deep_nesting", "nul_bytes", "undecodable_charsets"])
def test_each_broken_message_reads_without_raising(builder):
    from parsers.mail import parse_mail

    mail = parse_mail(getattr(hostile_mail, builder)())
    assert mail is not None
