"""CSV and XLSX exports: the JSONL response records flattened to one row per response.

The rows come from the export records (`iter_responses`), never from the tables, so a spreadsheet
shows exactly what the JSONL export holds; the XLSX "Summary" sheet shows the report's own figures,
from the same SQL aggregates (store/figures.py). To leave out confidential responses, pass
`iter_responses(..., exclude_confidential=True)` and `answer_counts(..., published=True)`.

Formula injection: a spreadsheet treats a cell that starts with "=", "+", "-" or "@" (and, in some
programs, a tab or carriage return) as a formula, so a respondent could write `=HYPERLINK(...)`
into a comment. Every such text cell is written with a leading apostrophe ("'=SUM(A1)"), in the
CSV and the XLSX alike: the spreadsheet shows it as text, and a reader of the raw file can strip
the one apostrophe. The JSONL export is never altered.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet

from parsers.formdef import FormDefinition
from store.figures import AnswerCounts
from store.report_html import question_figures

log = logging.getLogger(__name__)

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_CELL = 32_767  # Excel refuses to open a workbook with a longer cell
TRUNCATED = " … [cut: the full text is in the JSONL export]"
Record = Mapping[str, Any]

RESPONDENT_FIELDS = ("name", "organisation", "address", "email", "category", "category_other")


def columns(form: FormDefinition) -> list[str]:
    """The column names, in order: the record's fields, then per question its choice, comment and 0/1 flags."""
    cols = ["reference", "message_id", "received_at", "sender", "source_kind", "source_filename", "status"]
    cols += ["review_reasons", "late", *(f"respondent_{f}" for f in RESPONDENT_FIELDS)]
    cols += ["confidential", "confidential_reason", "acknowledge", "contact_again", "text"]
    for q in form.questions:
        cols += [f"{q.id}_choice", f"{q.id}_comment"]
        if q.scale:
            cols += [f"{q.id}_{c.id}" for c in form.scale]
    return cols


def flatten(record: Record, form: FormDefinition) -> dict[str, object]:
    """One response record as one flat row (plain Python values; the writers format them)."""
    row: dict[str, object] = {
        "reference": record["reference"],
        "message_id": record["message_id"],
        "received_at": record["received_at"],
        "sender": record["sender"],
        "source_kind": record["source"]["kind"],
        "source_filename": record["source"]["filename"],
        "status": record["status"],
        "review_reasons": "; ".join(record["review_reasons"]),
        "late": record["late"],
    }
    row.update({f"respondent_{f}": record["respondent"][f] for f in RESPONDENT_FIELDS})
    for key in ("confidential", "confidential_reason", "acknowledge", "contact_again", "text"):
        row[key] = record[key]
    for q in form.questions:
        answer = record["answers"][q.id]
        row[f"{q.id}_choice"] = answer["choice"]
        row[f"{q.id}_comment"] = answer["comment"]
        if q.scale:
            row.update({f"{q.id}_{c.id}": int(answer["choice"] == c.id) for c in form.scale})
    return row


def defuse(value: object) -> object:
    """A text that a spreadsheet would run as a formula, made plain text with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(defuse(value))


def write_csv(records: Iterable[Record], form: FormDefinition, out: IO[str]) -> int:
    """Write the responses as CSV for Excel: UTF-8 with a byte-order mark, comments keep their line breaks.

    Open `out` with newline="" (the csv module writes the line ends). Returns the number of rows.
    """
    cols = columns(form)
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(cols)
    n = 0
    for rec in records:
        row = flatten(rec, form)
        writer.writerow([csv_cell(row[c]) for c in cols])
        n += 1
    return n


def xlsx_cell(value: object) -> object:
    """A value Excel can hold: no control characters, no over-long text, no formulas."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if len(value) >= XLSX_MAX_CELL:
        value = value[: XLSX_MAX_CELL - len(TRUNCATED) - 1] + TRUNCATED
    return defuse(value)


def write_xlsx(records: Iterable[Record], form: FormDefinition, path: str | Path, answers: AnswerCounts) -> int:
    """Write a workbook: "Responses" (one row each, frozen header, filter) and "Summary" (per-question counts
    of `answers`, which must count the same responses)."""
    recs = list(records)
    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.title = "Responses"
    _fill_responses(sheet, recs, form)
    _fill_summary(wb.create_sheet("Summary"), len(recs), answers, form)
    wb.save(path)
    log.info("wrote %d responses to %s", len(recs), path)
    return len(recs)


def _fill_responses(sheet: Worksheet, records: list[Record], form: FormDefinition) -> None:
    cols = columns(form)
    sheet.append(cols)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for rec in records:
        row = flatten(rec, form)
        sheet.append([xlsx_cell(row[c]) for c in cols])
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = sheet.dimensions
    for letter in ("A", "B", "C", "D"):
        sheet.column_dimensions[letter].width = 24


def _fill_summary(sheet: Worksheet, total: int, answers: AnswerCounts, form: FormDefinition) -> None:
    """The same per-question figures as the HTML report, from the same functions."""
    sheet.append([form.title])
    sheet.append(["Total responses", total])
    for q in question_figures(answers, form):
        sheet.append([])
        sheet.append([f"Question {q.number}", xlsx_cell(q.text)])
        sheet.cell(sheet.max_row, 1).font = Font(bold=True)
        if not q.scale:
            sheet.append(["Comments", q.commented])
            continue
        sheet.append([f"There were {q.answered} responses to this question"])
        sheet.append(["Answer", "Number", "% of those answering", "% of all respondents"])
        for r in q.choices:
            sheet.append([r.label, r.count, r.pct / 100, r.pct_all / 100])
            for col in (3, 4):
                sheet.cell(sheet.max_row, col).number_format = "0%"
        sheet.append(["Comments", q.commented])
    sheet.column_dimensions["A"].width = 48
    sheet.column_dimensions["B"].width = 60
