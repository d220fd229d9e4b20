"""CSV and XLSX exports: every row reads back as its JSONL record, formulas are defused, and the
confidential filter is the export's own."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from builders.store_rows import CONFIDENTIAL_MARK
from openpyxl import load_workbook
from sqlmodel import Session

from parsers.formdef import FormDefinition
from store.export import iter_responses
from store.figures import answer_counts
from store.tabular import FORMULA_STARTS, XLSX_MAX_CELL, columns, write_csv, write_xlsx, xlsx_cell


def undefuse(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def unflatten(row: dict[str, Any], form: FormDefinition) -> dict[str, Any]:
    """Rebuild the export record from a flat row (CSV strings or XLSX values), to compare field by field."""
    v = {k: undefuse(x) for k, x in row.items()}

    def opt(key: str) -> Any:
        return None if v[key] in ("", None) else v[key]

    def flag(key: str) -> bool:
        return v[key] in (True, "true")

    return {
        "reference": v["reference"],
        "message_id": opt("message_id"),
        "received_at": opt("received_at"),
        "sender": opt("sender"),
        "source": {"kind": v["source_kind"], "filename": opt("source_filename")},
        "status": v["status"],
        "review_reasons": v["review_reasons"].split("; ") if v["review_reasons"] else [],
        "late": flag("late"),
        "respondent": {
            f: opt(f"respondent_{f}")
            for f in ("name", "organisation", "address", "email", "category", "category_other")
        },
        "confidential": flag("confidential"),
        "confidential_reason": opt("confidential_reason"),
        "acknowledge": flag("acknowledge"),
        "contact_again": opt("contact_again"),
        "answers": {
            q.id: {"choice": opt(f"{q.id}_choice"), "comment": v[f"{q.id}_comment"] or ""} for q in form.questions
        },
        "text": opt("text"),
    }


def csv_rows(session: Session, form: FormDefinition, **kw: bool) -> tuple[str, list[dict[str, str]]]:
    out = io.StringIO(newline="")
    write_csv(iter_responses(session, form, **kw), form, out)
    text = out.getvalue()
    assert text.startswith("\ufeff")
    return text, list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def xlsx_rows(path: Path) -> list[dict[str, Any]]:
    sheet = load_workbook(path)["Responses"]
    values = list(sheet.iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_csv_rows_equal_the_jsonl_records(session: Session, form: FormDefinition) -> None:
    records = list(iter_responses(session, form))
    _, rows = csv_rows(session, form)
    assert list(rows[0]) == columns(form)
    assert [unflatten(r, form) for r in rows] == records


def test_csv_keeps_line_breaks_and_opens_in_excel(tmp_path: Path, session: Session, form: FormDefinition) -> None:
    path = tmp_path / "responses.csv"
    with open(path, "w", encoding="utf-8", newline="") as out:
        n = write_csv(iter_responses(session, form), form, out)
    assert n == 8
    assert path.read_bytes().startswith(b"\xef\xbb\xbfreference,")
    rows = list(csv.DictReader(open(path, encoding="utf-8-sig", newline="")))  # noqa: SIM115
    assert rows[0]["q1_comment"] == "Clear.\nVery clear."
    assert (rows[0]["q1_agree"], rows[0]["q1_disagree"], rows[0]["q2_disagree"]) == ("1", "0", "1")


def test_xlsx_rows_equal_the_jsonl_records(tmp_path: Path, session: Session, form: FormDefinition) -> None:
    records = list(iter_responses(session, form))
    path = tmp_path / "responses.xlsx"
    assert write_xlsx(iter_responses(session, form), form, path, answer_counts(session)) == len(records)
    rows = xlsx_rows(path)
    assert [unflatten(r, form) for r in rows] == records
    sheet = load_workbook(path)["Responses"]
    assert sheet.freeze_panes == "B2" and sheet.auto_filter.ref


def test_formulas_are_defused_in_csv_and_xlsx(tmp_path: Path, session: Session, form: FormDefinition) -> None:
    text, rows = csv_rows(session, form)
    assert rows[0]["q2_comment"] == "'=SUM(A1:A9)"
    assert (rows[1]["q3_comment"], rows[1]["q8_comment"]) == ("'+44 1234", "'@everyone -minus")
    assert ",=SUM" not in text and '"=SUM' not in text
    path = tmp_path / "responses.xlsx"
    write_xlsx(iter_responses(session, form), form, path, answer_counts(session))
    sheet = load_workbook(path)["Responses"]
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert "'=SUM(A1:A9)" in {c.value for c in cells}


def test_xlsx_cells_are_made_safe_for_excel() -> None:
    assert xlsx_cell("bell\x07 and nul\x00") == "bell and nul"
    long = xlsx_cell("x" * 40_000)
    assert isinstance(long, str) and len(long) < XLSX_MAX_CELL and long.endswith("JSONL export]")
    assert xlsx_cell(3) == 3 and xlsx_cell(None) is None


def test_excluding_confidential_is_the_exports_filter(tmp_path: Path, session: Session, form: FormDefinition) -> None:
    text, rows = csv_rows(session, form, exclude_confidential=True)
    assert CONFIDENTIAL_MARK not in text and len(rows) == 7
    assert not any(r["confidential"] == "true" for r in rows)
    path = tmp_path / "public.xlsx"
    write_xlsx(
        iter_responses(session, form, exclude_confidential=True), form, path, answer_counts(session, published=True)
    )
    assert len(xlsx_rows(path)) == 7


def test_summary_sheet_has_the_report_figures(tmp_path: Path, session: Session, form: FormDefinition) -> None:
    path = tmp_path / "responses.xlsx"
    write_xlsx(iter_responses(session, form), form, path, answer_counts(session))
    lines = [[c for c in row if c is not None] for row in load_workbook(path)["Summary"].iter_rows(values_only=True)]
    assert ["Total responses", 8] in lines
    q1 = lines.index(["Question 1", form.question("q1").text])
    assert lines[q1 + 1] == ["There were 4 responses to this question"]
    assert lines[q1 + 3] == ["Agree", 2, 0.5, 0.25]
