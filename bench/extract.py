"""Extraction benchmark: a generated corpus across every variant, read by the real pipeline.

    python3 bench/extract.py [--messages 550] [--converted 8] [--keep DIR]

Builds messages with the test suite's fixture builders (Word in every way a form holds an answer,
fillable, XFA and printed PDFs, .doc/.rtf/.odt made by LibreOffice, answers in the e-mail body),
writes the key beside them (the shared expected.jsonl format), runs `intake run` on them through a
Maildir into SQLite, and prints: field accuracy, silent errors (a field that differs while the
response is `filed`), the share sent to review, forms per second per format, and peak memory.
When the shared scorer (../shared/tools/score.py) is present its figures are printed too.
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib.util
import json
import mailbox
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from builders.docx_forms import VARIANTS, build_docx, retyped_lines, sample_reading  # noqa: E402
from builders.mail import DOCX_TYPE, build_message  # noqa: E402
from builders.pdf_forms import build_acroform_pdf, build_printed_pdf, build_xfa_pdf  # noqa: E402

from ingest.config import load_config  # noqa: E402
from ingest.cycle import run_cycle, sandboxed_reader  # noqa: E402
from parsers.formdef import DEFAULT_FORM_PATH, load_form  # noqa: E402
from store.db import make_engine, upgrade  # noqa: E402
from store.export import iter_messages, iter_responses  # noqa: E402

FORM = load_form(DEFAULT_FORM_PATH)
PDF_KINDS = ("acroform", "xfa", "printed_x", "printed_glyph", "printed_tick")
CONVERTED = ("doc", "rtf", "odt")
MIME = {"docx": DOCX_TYPE, "pdf": "application/pdf", "doc": "application/msword", "rtf": "application/rtf",
        "odt": "application/vnd.oasis.opendocument.text"}  # fmt: skip


def convert(docx: bytes, ext: str, work: Path) -> bytes:
    """A .docx saved as .doc/.rtf/.odt by LibreOffice, as a respondent's older Word would."""
    src = work / "conv" / "in.docx"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(docx)
    profile = f"-env:UserInstallation=file://{work / 'conv-profile'}"
    subprocess.run(
        ["soffice", "--headless", "--norestore", profile, "--convert-to", ext, "--outdir", str(src.parent), str(src)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return (src.parent / f"in.{ext}").read_bytes()


def expected_record(message_id: str, kind: str, filename: str | None, reading) -> dict:
    r = asdict(reading)
    respondent = r["respondent"]
    return {
        "file": message_id.strip("<>"),
        "message_id": message_id,
        "disposition": "response",
        "acknowledgement": "sent",
        "_kind": kind,
        "responses": [
            {
                "source": {"kind": kind.split(":")[0], "filename": filename},
                "status": "filed",
                "late": False,
                "respondent": respondent,
                "confidential": r["confidential"],
                "confidential_reason": r["confidential_reason"],
                "acknowledge": r["acknowledge"],
                "contact_again": r["contact_again"],
                "answers": {q.id: r["answers"].get(q.id, {"choice": None, "comment": ""}) for q in FORM.questions},
                "text": None,
            }
        ],
    }


def plan(count: int, converted: int) -> list[str]:
    kinds = [f"docx:{v}" for v in VARIANTS] + [f"pdf:{k}" for k in PDF_KINDS] + ["body:plain"]
    out = [kinds[i % len(kinds)] for i in range(count)]
    return out + [f"{c}:converted" for c in CONVERTED for _ in range(converted)]


def build_corpus(count: int, converted: int, work: Path) -> tuple[Path, list[dict]]:
    box = mailbox.Maildir(work / "mail", create=True)
    key: list[dict] = []
    for i, kind in enumerate(plan(count, converted)):
        fmt, _, variant = kind.partition(":")
        reading = sample_reading(FORM, 50_000 + i)
        sender = f"Respondent {i} <respondent{i}@example.org>"
        message_id = f"<bench-{i}@example.org>"
        filename = None
        if fmt == "body":
            raw = build_message(sender=sender, message_id=message_id, body="\n".join(retyped_lines(FORM, reading)))
        else:
            data = _attachment(fmt, variant, reading, work)
            filename = f"response-{i}.{fmt}"
            raw = build_message(sender=sender, message_id=message_id, attachments=[(filename, MIME[fmt], data)])
        box.add(raw)
        key.append(expected_record(message_id, kind, filename, reading))
    path = work / "expected.jsonl"
    path.write_text("".join(json.dumps(k, ensure_ascii=False) + "\n" for k in key), encoding="utf-8")
    return path, key


def _attachment(fmt: str, variant: str, reading, work: Path) -> bytes:
    if fmt == "docx":
        return build_docx(FORM, reading, variant)
    if fmt in CONVERTED:
        return convert(build_docx(FORM, reading, "x_cell"), fmt, work)
    if variant == "acroform":
        return build_acroform_pdf(FORM, reading)
    if variant == "xfa":
        return build_xfa_pdf(FORM, reading)
    mark = {"printed_x": "X", "printed_glyph": "☒", "printed_tick": "✓"}[variant]
    return build_printed_pdf(FORM, reading, mark=mark)


def timed_reader(read_one, timings: dict):
    def read(job, data):
        start = time.perf_counter()
        try:
            return read_one(job, data)
        finally:
            timings[job.kind].append(time.perf_counter() - start)

    return read


def load_scorer():
    path = REPO.parent / "shared" / "tools" / "score.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("shared_score", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=550, help="generated messages besides the converted ones")
    parser.add_argument("--converted", type=int, default=8, help="messages per converted format (.doc/.rtf/.odt)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="intake-bench-"))
    work.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    expected_path, key = build_corpus(args.messages, args.converted, work)
    print(f"corpus: {len(key)} messages built in {time.perf_counter() - t0:.1f} s ({work})")

    config_path = work / "config.toml"
    config_path.write_text(
        f'[form]\ndefinition = "{DEFAULT_FORM_PATH}"\n[mailbox]\nurl = "maildir:mail"\n'
        '[smtp]\nurl = "outbox:outbox"\n[database]\nurl = "sqlite:///intake.db"\n'
        "[acknowledgements]\nper_cycle = 100000\nper_recipient_daily = 100000\n",
        encoding="utf-8",
    )
    config = load_config(config_path)
    upgrade(config.database_url)
    engine = make_engine(config.database_url)
    timings: dict[str, list[float]] = collections.defaultdict(list)
    t1 = time.perf_counter()
    result = run_cycle(config, engine, read_one=timed_reader(sandboxed_reader(config), timings))
    elapsed = time.perf_counter() - t1

    from sqlmodel import Session

    with Session(engine) as session:
        responses = list(iter_responses(session, FORM))
        messages = list(iter_messages(session))
    report(key, responses, messages, timings, elapsed, result)
    scorer = load_scorer()
    if scorer is not None:
        s = scorer.score(key, responses, messages)
        print(
            f"shared scorer: field_accuracy={s['field_accuracy']:.4f} silent_errors={s['silent_errors']} "
            f"disposition_accuracy={s['disposition_accuracy']:.4f}"
        )
    return 0


def report(key, responses, messages, timings, elapsed, result) -> None:
    by_id = collections.defaultdict(list)
    for r in responses:
        by_id[r["message_id"]].append(r)
    totals = collections.Counter()
    mismatches: list[str] = []
    per_kind = collections.defaultdict(collections.Counter)
    for k in key:
        got = by_id.get(k["message_id"], [])
        exp = k["responses"][0]
        kind = k["_kind"]
        per_kind[kind]["messages"] += 1
        if not got:
            per_kind[kind]["missing"] += 1
            continue
        g = got[0]
        filed = g["status"] == "filed"
        per_kind[kind]["review"] += not filed
        for path, ev, gv in compare(exp, g):
            totals["fields"] += 1
            per_kind[kind]["fields"] += 1
            if ev == gv:
                totals["ok"] += 1
                per_kind[kind]["ok"] += 1
            else:
                mismatches.append(f"{k['message_id']} {kind} {path}{' [SILENT]' if filed else ''}: {ev!r} != {gv!r}")
                if filed:
                    totals["silent"] += 1
                    per_kind[kind]["silent"] += 1
    n = len(key)
    review = sum(c["review"] for c in per_kind.values())
    print(f"cycle: {n} messages in {elapsed:.1f} s = {n / elapsed:.1f} messages/s; {result.as_counts()}")
    print(f"field accuracy {totals['ok'] / max(totals['fields'], 1):.4f}  silent errors {totals['silent']}  "
          f"sent to review {review}/{n} = {review / n:.1%}")  # fmt: skip
    print(f"{'kind':22s} {'msgs':>5s} {'acc':>7s} {'review':>7s} {'silent':>7s}")
    for kind, c in sorted(per_kind.items()):
        acc = c["ok"] / c["fields"] if c["fields"] else 0
        print(f"{kind:22s} {c['messages']:5d} {acc:7.4f} {c['review']:7d} {c['silent']:7d}")
    print("read time per attachment (sandboxed, includes conversion):")
    for kind, ts in sorted(timings.items()):
        print(
            f"  {kind:6s} n={len(ts):4d}  mean {sum(ts) / len(ts) * 1000:7.1f} ms  = {len(ts) / sum(ts):6.1f} forms/s"
        )
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: service {me:.0f} MB, largest child (parser or LibreOffice) {kids:.0f} MB")
    if mismatches:
        print(f"first of {len(mismatches)} mismatching fields:")
        for line in mismatches[:25]:
            print("  " + line[:240])


def compare(exp: dict, got: dict):
    fields = ["status", "confidential", "confidential_reason", "acknowledge", "contact_again"]
    for f in fields:
        yield f, norm(exp.get(f)), norm(got.get(f))
    for f, v in exp["respondent"].items():
        yield f"respondent.{f}", norm(v, f), norm(got["respondent"].get(f), f)
    for q, a in exp["answers"].items():
        ga = got["answers"].get(q, {})
        yield f"{q}.choice", a["choice"], ga.get("choice")
        yield f"{q}.comment", norm(a["comment"]), norm(ga.get("comment"))


@functools.cache
def _ws(text: str) -> str:
    return " ".join(text.split())


def norm(value, field: str = ""):
    if isinstance(value, bool) or value is None:
        return value or None
    text = str(value)
    if field == "address":
        text = ", ".join(p.strip() for p in text.replace("\r", "\n").split("\n") if p.strip())
    return _ws(text) or None


if __name__ == "__main__":
    sys.exit(main())
