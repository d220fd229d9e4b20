"""The staff commands end to end: report, exports, review, show, original, acks, form."""

from __future__ import annotations

import csv
import mailbox

import openpyxl
import pytest
from builders.docx_forms import build_docx, sample_reading
from builders.mail import DOCX_TYPE, build_message
from intake_env import export, run_intake, write_config

from parsers.formdef import DEFAULT_FORM_PATH, load_form

FORM = load_form(DEFAULT_FORM_PATH)


@pytest.fixture
def filed(tmp_path):
    """A database after one cycle: one filed response, one needing review (two ticks in q3)."""
    box = mailbox.Maildir(tmp_path / "mail", create=True)
    box.add(build_message(attachments=[("a.docx", DOCX_TYPE, build_docx(FORM, sample_reading(FORM, 41), "glyph"))]))
    two_ticks = build_docx(FORM, sample_reading(FORM, 42), "glyph")
    box.add(build_message(sender="b@example.org", attachments=[("b.docx", DOCX_TYPE, _tick_twice(two_ticks))]))
    config = write_config(
        tmp_path,
        mailbox_url=f"maildir:{tmp_path / 'mail'}",
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
    )
    assert run_intake(config, "run") == 0
    return config


def _tick_twice(docx: bytes) -> bytes:
    """Tick every box of the q3 scale row: the reading cannot tell which one is meant."""
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(docx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "word/document.xml":
                text = data.decode("utf-8")
                start = text.index("3\u2003")
                row_end = text.index("Comments:", start)
                data = (text[:start] + text[start:row_end].replace("\u2610", "\u2612") + text[row_end:]).encode()
            dst.writestr(item, data)
    return out.getvalue()


def test_review_show_and_original(filed, tmp_path, capsys):
    responses = {r["source"]["filename"]: r for r in export(filed, tmp_path)}
    assert responses["a.docx"]["status"] == "filed"
    assert responses["b.docx"]["status"] == "needs_review"
    ref = responses["b.docx"]["reference"]
    capsys.readouterr()

    assert run_intake(filed, "review") == 0
    assert ref in capsys.readouterr().out

    assert run_intake(filed, "review", ref, "--set", "q3.choice=maybe") == 2
    assert run_intake(filed, "review", ref, "--set", "q3.choice=agree", "--who", "reviewer", "--done") == 0
    after = {r["reference"]: r for r in export(filed, tmp_path)}[ref]
    assert after["status"] == "filed" and after["answers"]["q3"]["choice"] == "agree"
    capsys.readouterr()

    assert run_intake(filed, "show", ref) == 0
    shown = capsys.readouterr().out
    assert "reviewer" in shown and "q3" in shown

    assert run_intake(filed, "original", ref, "--out", str(tmp_path / "orig")) == 0
    assert sorted(p.name for p in (tmp_path / "orig").iterdir()) == ["b.docx", "message.eml"]


def test_csv_xlsx_and_html_report(filed, tmp_path):
    records = export(filed, tmp_path)
    assert run_intake(filed, "export", "--format", "csv", "--output", str(tmp_path / "r.csv")) == 0
    with open(tmp_path / "r.csv", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["reference"] for r in rows] == [r["reference"] for r in records]
    assert run_intake(filed, "export", "--format", "xlsx", "--output", str(tmp_path / "r.xlsx")) == 0
    sheet = openpyxl.load_workbook(tmp_path / "r.xlsx")["Responses"]
    assert sheet.max_row == len(records) + 1
    assert run_intake(filed, "export", "--format", "xlsx") == 2  # needs --output
    assert run_intake(filed, "report", "--html", str(tmp_path / "report.html")) == 0
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert all(r["reference"] in html for r in records if r["status"] == "needs_review")


def test_acks_lists_nothing_pending_after_a_cycle(filed, capsys):
    capsys.readouterr()
    assert run_intake(filed, "acks") == 0
    assert "No pending or failed acknowledgements." in capsys.readouterr().out
