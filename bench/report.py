"""Report benchmark: what the text and HTML staff reports cost on a database of N responses.

    python3 bench/report.py [--responses 10000] [--database sqlite|postgresql] [--keep PATH]

Builds a database by inserting rows directly (no pipeline): one message per response, realistic
answers JSON (a choice, a comment of a few hundred characters or none, and how each was found, as
the form reader files them; ~4 KiB a response), ~16 KiB of raw bytes per message, a few campaign
texts, confidential, late and needs-review responses, and per 50 responses a duplicate, an
out-of-office reply and a failed message. Then, each in a fresh process so that its peak memory
is its own, it times `render_text(summarise(...))`, `render_report(...)` and the campaign search
alone, and prints seconds and peak RSS (VmHWM) for each, beside the RSS after imports. Last, the
service's campaign cache (store/campaign_cache.py): its first call (a full build, with the index
of every word it keeps for additions), then a refresh after `--new` more responses (50) are
inserted, then one with nothing new; the new rows are rolled back after, so the database is as
built. The SQLite file goes to a temporary folder (or `--keep PATH`); PostgreSQL gets a fresh
database on 127.0.0.1:5432 (tests/servers.py), dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

from memory import own_peak_rss_mb  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session  # noqa: E402

from parsers.formdef import DEFAULT_FORM_PATH, FormDefinition, load_form  # noqa: E402
from store.db import make_engine, upgrade  # noqa: E402
from store.models import Acknowledgement, Cycle, Message, MessageState, Response  # noqa: E402

NOW = dt.datetime(2008, 5, 20, 12, tzinfo=dt.UTC)
BATCH = 500
SYLLABLES = ("ba", "ce", "di", "fo", "gu", "ha", "je", "ki", "lo", "mu")
SYLLABLES += ("na", "pe", "ri", "so", "tu", "va", "we", "xi", "yo", "zu")
WORDS = sorted({"".join(random.Random(i).choices(SYLLABLES, k=4)) for i in range(20_000)})  # a vocabulary
ZIPF = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(WORDS))))  # Zipf: few common words, many rare
CAMPAIGNS = [" ".join(random.Random(i).choices(WORDS, cum_weights=ZIPF, k=60)) for i in range(3)]
KINDS = ("docx", "docx", "docx", "pdf", "body", "doc", "odt", "rtf", "other")


def comment(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.35:
        return ""
    if roll < 0.4:
        return None
    return " ".join(rng.choices(WORDS, cum_weights=ZIPF, k=rng.randint(20, 70))).capitalize() + "."


def answers(rng: random.Random, form: FormDefinition) -> dict:
    out = {}
    for q in form.questions:
        choice = rng.choice([None, *(c.id for c in form.scale)]) if q.scale else None
        text = comment(rng)
        found = {}
        if choice:
            found["choice"] = {"way": "mark by the row's shape", "where": f"table row under question {q.number}"}
        if text:
            found["comment"] = {"way": "comment under its heading", "where": f"table row under question {q.number}"}
        out[q.id] = {"choice": choice, "comment": text, "found": found}
    if rng.random() < 0.02:
        out["q4"]["comment"] = rng.choice(CAMPAIGNS)
    return out


def build(url: str, n: int, form: FormDefinition, seed: int = 9) -> None:
    """N responses with their messages, acknowledgements and some other mail, inserted in batches."""
    upgrade(url)
    engine = make_engine(url)
    rng = random.Random(seed)
    raw = os.urandom(12 * 1024).hex().encode()[: 16 * 1024]
    cats = [c.id for c in form.categories] + [None]
    with Session(engine) as session:
        month, minute = dt.timedelta(days=30), dt.timedelta(minutes=1)
        old = Cycle(started_at=NOW - month, finished_at=NOW - month, status="completed")
        last = Cycle(started_at=NOW - 3 * minute, finished_at=NOW - 2 * minute, status="completed")
        session.add_all([old, last])
        session.commit()
        cycles = (old.id, last.id)
        messages, responses, acks = [], [], []
        for i in range(1, n + 1 + n // 50 * 3):
            kind = "response" if i <= n else rng.choice(["duplicate", "auto_reply", "failed"])
            day = form.opens + dt.timedelta(days=rng.randint(0, (form.closes - form.opens).days + 5))
            received = dt.datetime.combine(day, dt.time(rng.randint(0, 23), rng.randint(0, 59)), dt.UTC)
            messages.append(
                {
                    "id": i,
                    "source_key": f"maildir:cur/{i}",
                    "message_id": f"<m{i}@example.org>",
                    "content_hash": hashlib.sha256(str(i).encode()).hexdigest(),
                    "raw": raw,
                    "size": len(raw),
                    "received_at": None if rng.random() < 0.002 else received,
                    "sender": f"person{i}@example.org",
                    "subject": "Consultation response",
                    "stored_at": NOW,
                    "cycle_id": cycles[i > n - n // 10],
                    "state": MessageState.DONE,
                    "moved": True,
                    "disposition": kind,
                    "problems": ["attachment is encrypted"] if kind == "failed" else [],
                    "duplicate_of": rng.randint(1, n) if kind == "duplicate" else None,
                    "attempts": 0,
                }
            )
            if kind == "response":
                responses.append(response_row(rng, i, form, cats, day > form.closes))
            if kind != "failed":
                status = rng.choice(["sent", "sent", "sent", "pending", "failed", "suppressed"])
                acks.append({"message_pk": i, "status": status, "created_at": NOW, "to_address": f"p{i}@example.org"})
            if len(messages) >= BATCH:
                flush(session, messages, responses, acks)
        flush(session, messages, responses, acks)
    engine.dispose()


def response_row(rng: random.Random, i: int, form: FormDefinition, cats: list, late: bool) -> dict:
    review = rng.random() < 0.05
    return {
        "reference": f"CT08-{i:06d}",
        "message_pk": i,
        "seq": 0,
        "source_kind": rng.choice(KINDS),
        "filename": "Response form.docx",
        "status": "needs_review" if review else "filed",
        "review_reasons": ["Question 3: two boxes are marked"] if review else [],
        "late": late,
        "name": f"Person {i}",
        "organisation": None,
        "address": f"{i} High Street, Exampleton",
        "email": f"person{i}@example.org",
        "category": rng.choice(cats),
        "confidential": rng.random() < 0.05,
        "acknowledge": rng.random() < 0.6,
        "contact_again": rng.choice(["yes", "no", None]),
        "answers": answers(rng, form),
        "found": {},
        "text": None,
        "fingerprint": f"f{i}",
        "filed_at": NOW,
    }


def flush(session: Session, messages: list, responses: list, acks: list) -> None:
    for table, rows in ((Message, messages), (Response, responses), (Acknowledgement, acks)):
        if rows:
            session.execute(insert(table), rows)
        rows.clear()
    session.commit()


# ---- measuring, each in a fresh process ----------------------------------------------------------


def measure(url: str, what: str) -> dict:
    """Run one report in this process; seconds and peak RSS (MiB)."""
    from store.campaigns import find_campaigns
    from store.figures import campaign_records
    from store.report_html import render_report
    from store.summary import render_text, summarise

    form = load_form(DEFAULT_FORM_PATH)
    engine = make_engine(url)
    with Session(engine) as session:
        session.connection()
        base = own_peak_rss_mb()
        start = time.perf_counter()
        if what == "text":
            size = len(render_text(summarise(session, form)))
        elif what == "html":
            size = len(render_report(session, form, now=NOW))
        else:
            size = len(find_campaigns(campaign_records(session, form)))
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mb": own_peak_rss_mb(), "base_mb": base, "size": size}


def measure_refresh(url: str, new: int) -> dict:
    """The campaign cache: first call, a refresh after `new` responses more, one with nothing new."""
    from sqlmodel import func, select

    from store.campaign_cache import CampaignCache

    form = load_form(DEFAULT_FORM_PATH)
    engine = make_engine(url)
    cats = [c.id for c in form.categories] + [None]
    out: dict = {}
    with Session(engine) as session:
        session.connection()
        out["base_mb"] = own_peak_rss_mb()
        cache = CampaignCache(form)
        out["build"] = timed(lambda: cache.campaigns(session))
        out["build_read"] = cache.last.read if cache.last else 0
        out["build_mb"] = own_peak_rss_mb()
        rng = random.Random(new)
        last = session.exec(select(func.max(Message.id))).one() or 0
        rows = [(last + 1 + k, rng) for k in range(new)]
        session.execute(insert(Message), [new_message(pk) for pk, _ in rows])
        session.execute(insert(Response), [response_row(r, pk, form, cats, False) for pk, r in rows])
        out["refresh"] = timed(lambda: cache.campaigns(session))
        out["refresh_read"] = cache.last.read if cache.last else 0
        out["refresh_rebuilt"] = cache.last.rebuilt if cache.last else None
        out["idle"] = timed(lambda: cache.campaigns(session))
        out["peak_mb"] = own_peak_rss_mb()
        session.rollback()
    return out


def describe_refresh(m: dict, new: int) -> str:
    rebuilt = f", rebuilt: {m['refresh_rebuilt']}" if m["refresh_rebuilt"] else ""
    return (
        f"campaign cache   first call {m['build']:.2f} s ({m['build_read']} read, RSS {m['build_mb']:.1f} MiB); "
        f"refresh with {new} new {m['refresh'] * 1000:.0f} ms ({m['refresh_read']} read{rebuilt}); "
        f"nothing new {m['idle'] * 1000:.0f} ms; peak RSS {m['peak_mb']:.1f} MiB (after imports {m['base_mb']:.1f} MiB)"
    )


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def new_message(pk: int) -> dict:
    return {
        "id": pk,
        "source_key": f"maildir:cur/new-{pk}",
        "message_id": f"<new{pk}@example.org>",
        "content_hash": hashlib.sha256(f"new{pk}".encode()).hexdigest(),
        "raw": b"new",
        "size": 3,
        "received_at": NOW,
        "sender": f"person{pk}@example.org",
        "stored_at": NOW,
        "state": MessageState.DONE,
        "disposition": "response",
        "problems": [],
        "attempts": 0,
    }


def in_child(url: str, what: str, new: int = 0) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", what, "--url", url, "--new", str(new)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


@contextlib.contextmanager
def database(kind: str, keep: str | None) -> Iterator[str]:
    if kind == "postgresql":
        from servers import fresh_database

        with fresh_database() as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{keep or Path(tmp) / 'report.db'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--responses", type=int, default=10_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--keep", metavar="PATH", help="SQLite: build the database here and keep it")
    parser.add_argument("--new", type=int, default=50, help="responses added before the campaign cache's refresh")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(
            json.dumps(
                measure_refresh(args.url, args.new) if args.measure == "refresh" else measure(args.url, args.measure)
            )
        )
        return
    form = load_form(DEFAULT_FORM_PATH)
    with database(args.database, args.keep) as url:
        start = time.perf_counter()
        build(url, args.responses, form)
        print(f"built {args.responses} responses on {args.database} in {time.perf_counter() - start:.1f} s")
        for what, title in (("text", "text report"), ("html", "HTML report"), ("campaigns", "campaigns alone")):
            m = in_child(url, what)
            print(
                f"{title:16s} {m['seconds']:6.2f} s   peak RSS {m['peak_mb']:6.1f} MiB "
                f"(after imports {m['base_mb']:.1f} MiB)"
            )
        print(describe_refresh(in_child(url, "refresh", args.new), args.new))


if __name__ == "__main__":
    main()
