"""Logs without personal data: a whole cycle, then the staff's personal-data commands, over mail
from people with distinctive names, addresses and subjects; no log line at INFO or above may carry
any of them (README, "Personal data": DEBUG may)."""

from __future__ import annotations

import logging
import mailbox
from dataclasses import replace

import pytest
from builders.docx_forms import build_docx, build_zip_bomb_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message
from intake_env import run_intake, write_local_config

from parsers.formdef import DEFAULT_FORM_PATH, load_form

FORM = load_form(DEFAULT_FORM_PATH)
# Being rewritten by the lead (issue 8), who makes their log lines name-free there.
INGEST_STEPS = {
    "ingest.cycle", "ingest.storing", "ingest.filing", "ingest.sending", "ingest.sources", "ingest.delivery",
    "intake.scheduler",
}  # fmt: skip
PERSONAL = (
    "Wilhelmina", "Quaxbottom", "quaxbottom", "zarquon", "Fenchurch", "OP3 7ZZ", "Ottery Parva",
    "Snodgrass", "snodgrass", "vellum", "Fairweather", "fairweather", "pelican", "Marmalade",
    "staff.member@dcsf.example",
)  # fmt: skip


@pytest.fixture
def cycle_log(tmp_path, caplog) -> list[logging.LogRecord]:
    """The log records (INFO and above) of one cycle, a subject access, a retention run and an erasure."""
    reading = sample_reading(FORM, 7)
    reading = replace(
        reading,
        respondent=replace(
            reading.respondent,
            name="Wilhelmina Quaxbottom",
            email="w.quaxbottom@zarquon.example",
            organisation="Quaxbottom Kindergarten Trust",
            address="3 Fenchurch Mews\nOttery Parva\nOP3 7ZZ",
        ),
    )
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    box.add(
        build_message(
            sender="Wilhelmina Quaxbottom <w.quaxbottom@zarquon.example>",
            subject="Quaxbottom on Marmalade trusts",
            attachments=[("Quaxbottom response.docx", DOCX_TYPE, build_docx(FORM, reading, "x_cell"))],
        )
    )
    box.add(
        build_message(
            sender="Bartholomew Snodgrass <b.snodgrass@vellum.example>",
            subject="Snodgrass would like the form",
            body="Could you send me the response form please?\n\nBartholomew Snodgrass\n",
        )
    )
    box.add(
        build_message(
            sender="Ottoline Fairweather <o.fairweather@pelican.example>",
            subject="Fairweather response",
            attachments=[("Fairweather private.docx", DOCX_TYPE, build_zip_bomb_docx())],
        )
    )
    config = write_local_config(
        tmp_path, extra='[report]\nemail_to = ["staff.member@dcsf.example"]\n[retention]\nfailed_and_junk_days = 0\n'
    )
    caplog.set_level(logging.INFO)
    assert run_intake(config, "run") == 0
    assert run_intake(config, "person", "w.quaxbottom@zarquon.example", "--export", str(tmp_path / "sar")) == 0
    assert run_intake(config, "retention", "--apply") == 0
    assert run_intake(config, "erase", "--person", "w.quaxbottom@zarquon.example", "--yes", "--who", "dpo") == 0
    records = [r for r in caplog.records if r.levelno >= logging.INFO]
    assert {"ingest.report_mail", "parsers.message", "store.erasure"} <= {r.name for r in records}
    return records


def _naming(records: list[logging.LogRecord]) -> list[str]:
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    lines = [formatter.format(r) for r in records]
    return [line for line in lines if any(p in line for p in PERSONAL)]


def test_log_lines_outside_the_ingest_steps_name_no_one(cycle_log):
    assert _naming([r for r in cycle_log if r.name not in INGEST_STEPS]) == []


def test_no_log_line_names_anyone(cycle_log):
    assert _naming(cycle_log) == []
