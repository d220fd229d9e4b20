"""Intake benchmark: how fast the whole service takes mail in, and how far it is from the floors.

    python3 bench/intake.py [--messages 300] [--source maildir|imap] [--database sqlite|postgresql]
                            [--keep DIR] [--profile FILE] [--main-imports MODULE]

Generates messages with the test suite's builders (Word forms in every variant, some answers in
the body, a few out-of-office replies) into a Maildir or a private Dovecot, then measures on the
same data:

- the I/O floor: read every raw message from the source (Maildir files; one IMAP session with
  FETCH BODY.PEEK[] in batches of 50) and write its bytes into the database, one transaction per
  message: the least work the storing step could do;
- the CPU floor: parse_mail + read_message with every attachment read in-process, no sandbox and
  no database: what the sandbox and the database add on top of;
- the real thing: `run_cycle` with the sandboxed reader and acknowledgements written to an outbox,
  in a fresh process as `intake run` would be, timed per step from the product's own log records
  and the `progress` callback; then a second `run_cycle` on the unchanged mailbox (an idle poll).

Prints messages/s, ratios to the floors, the sandbox overhead per attachment, peak memory of the
service process and of its largest child, and the database size per message. With --profile the
first cycle runs under cProfile (its times are then inflated; use it to find hot spots only).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import logging
import multiprocessing
import os
import pstats
import resource
import shutil
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]
MAIN_IMPORTS_ENV = "INTAKE_BENCH_MAIN_IMPORTS"
TIME_READS_ENV = "INTAKE_BENCH_TIME_READS"

# Every sandbox child (forkserver) and the spawned service process re-import the main script, as
# they would re-import the `intake` console script. Only the orchestrating process needs the
# builders and the product, so a re-import stays as cheap as a console script could be; setting
# the variable below makes it import what the real one imports (`ingest.cli`), to measure that.
if os.environ.get(MAIN_IMPORTS_ENV):
    importlib.import_module(os.environ[MAIN_IMPORTS_ENV])
if __name__ != "__mp_main__":
    from corpus import build_corpus, summary
    from floor import Floor, describe, naive_floor
    from imapclient import IMAPClient
    from servers import DovecotServer, fresh_database, running_dovecot
    from sqlalchemy import Engine, text

    from ingest.config import PASSWORD_ENV, Config, load_config
    from ingest.cycle import parse_limits
    from parsers.attachments import AttachmentJob, read_attachment
    from parsers.formdef import DEFAULT_FORM_PATH, load_form
    from parsers.mail import parse_mail
    from parsers.message import Limits, ReadOne, read_message
    from store.db import make_engine, upgrade

    FORM = load_form(DEFAULT_FORM_PATH)

log = logging.getLogger(__name__)
FETCH_BATCH = 50
STEP_LOGGERS = ("ingest.storing", "ingest.filing", "ingest.sending")
MB = 1024 * 1024


# --------------------------------------------------------------------------- the corpus


def fill_maildir(path: Path, raws: list[bytes]) -> None:
    """Deliver into new/ as an MTA would (tmp/ then rename), oldest first by mtime."""
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    start = time.time() - len(raws)
    for i, raw in enumerate(raws):
        name = f"{int(start) + i}.M{i:06d}P{os.getpid()}.bench"
        (path / "tmp" / name).write_bytes(raw)
        os.replace(path / "tmp" / name, path / "new" / name)
        os.utime(path / "new" / name, (start + i, start + i))


def fill_imap(server: DovecotServer, raws: list[bytes]) -> None:
    with server.client() as imap:
        for raw in raws:
            imap.append("INBOX", raw)


# --------------------------------------------------------------------------- floors


@dataclass
class IoFloor:
    read_seconds: float
    write_seconds: float
    raw_bytes: int

    @property
    def seconds(self) -> float:
        return self.read_seconds + self.write_seconds


@dataclass
class CpuFloor:
    seconds: float  # parse_mail + read_message for every message
    read_seconds: float  # of which inside read_attachment
    attachments: int


def read_maildir(path: Path) -> list[bytes]:
    """Every message file's bytes, as the Maildir source would read them."""
    files = sorted(p for sub in ("new", "cur") for p in (path / sub).iterdir() if p.is_file())
    return [p.read_bytes() for p in files]


def read_imap(server: DovecotServer) -> list[bytes]:
    """One session, STARTTLS as the service uses it, FETCH BODY.PEEK[] in batches."""
    with IMAPClient(server.host, port=server.port, ssl=False, timeout=60) as imap:
        imap.starttls(ssl.create_default_context(cafile=str(server.ca_file)))
        imap.login(server.user, server.password)
        imap.select_folder("INBOX", readonly=True)
        uids = sorted(imap.search("ALL"))
        raws: list[bytes] = []
        for start in range(0, len(uids), FETCH_BATCH):
            chunk = uids[start : start + FETCH_BATCH]
            fetched = imap.fetch(chunk, ["BODY.PEEK[]"])
            raws.extend(fetched[uid][b"BODY[]"] for uid in chunk)
        return raws


def write_floor(engine: Engine, raws: list[bytes]) -> None:
    """The storing step's minimum: each message's bytes in their own committed transaction."""
    blob = "BYTEA" if engine.dialect.name == "postgresql" else "BLOB"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE floor (id SERIAL PRIMARY KEY, raw {blob} NOT NULL)"))
    for raw in raws:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO floor (raw) VALUES (:raw)"), {"raw": raw})


def io_floor(read_all: Callable[[], list[bytes]], floor_url: str) -> tuple[IoFloor, list[bytes]]:
    t0 = time.perf_counter()
    raws = read_all()
    t1 = time.perf_counter()
    engine = make_engine(floor_url)
    try:
        write_floor(engine, raws)
    finally:
        engine.dispose()
    t2 = time.perf_counter()
    return IoFloor(t1 - t0, t2 - t1, sum(map(len, raws))), raws


def cpu_floor(raws: list[bytes], limits: Limits) -> CpuFloor:
    """Everything the filing step computes, in this process, with no sandbox and no database."""
    spent: list[float] = []

    def read_in_process(job: AttachmentJob, data: bytes):
        start = time.perf_counter()
        try:
            return read_attachment(job, data)
        finally:
            spent.append(time.perf_counter() - start)

    t0 = time.perf_counter()
    for raw in raws:
        read_message(parse_mail(raw), FORM, read_in_process, limits)
    return CpuFloor(time.perf_counter() - t0, sum(spent), len(spent))


# --------------------------------------------------------------------------- the service, in its own process


@dataclass
class CycleTimes:
    seconds: float
    store_seconds: float
    file_seconds: float
    send_seconds: float
    counts: dict
    errors: list[str]


@dataclass
class ServiceRun:
    first: CycleTimes
    idle: CycleTimes
    sandboxed_reads: int
    sandboxed_read_seconds: float
    maxrss_self_mb: float
    maxrss_children_mb: float | None
    log_records: dict[str, int] = field(default_factory=dict)
    conversions: list[tuple[int, float]] = field(default_factory=list)  # (files, seconds) per batch
    load_before: float = 0.0


class StepClock(logging.Handler):
    """Remembers when each step's logger last spoke: the end of that step's per-message work."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.last: dict[str, float] = {}
        self.records: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.last[record.name] = record.created
        self.records[record.name] = self.records.get(record.name, 0) + 1


def timed_reader(read_one: ReadOne, spent: list[float]) -> ReadOne:
    """The service's reader, timing each call (wrapped via run_cycle's public read_one argument)."""

    def read(job: AttachmentJob, data: bytes):
        start = time.perf_counter()
        try:
            return read_one(job, data)
        finally:
            spent.append(time.perf_counter() - start)

    return read


def timed_cycle(config: Config, engine: Engine, read_one: ReadOne | None, clock: StepClock) -> CycleTimes:
    """One run_cycle, split into steps at the last progress call and the last filing log record."""
    from ingest.cycle import run_cycle

    clock.last.clear()
    stored_at: list[float] = []
    t0 = time.time()
    result = run_cycle(config, engine, read_one=read_one, progress=lambda _n: stored_at.append(time.time()))
    t3 = time.time()
    t1 = stored_at[-1] if stored_at else t0
    t2 = max(clock.last.get("ingest.filing", t1), t1)
    return CycleTimes(t3 - t0, t1 - t0, t2 - t1, t3 - t2, result.as_counts(), result.errors)


def children_maxrss_mb() -> float | None:
    """Largest descendant's peak RSS. Sandbox children are reaped by the forkserver, so stop it
    first (a private but stable multiprocessing method) to have its children counted here."""
    try:
        from multiprocessing import forkserver

        forkserver._forkserver._stop()  # noqa: SLF001 - the bench's only way to reap the forkserver
    except (AttributeError, OSError):
        return None
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def time_conversions() -> list[tuple[int, float]]:
    """Record (files, seconds) of each LibreOffice batch the service runs."""
    import ingest.cycle

    batches: list[tuple[int, float]] = []
    made = ingest.cycle.sandboxed_converter

    def timed(config, cancel=None):  # type: ignore[no-untyped-def]
        convert = made(config, cancel)

        def run(files):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            try:
                return convert(files)
            finally:
                batches.append((len(files), time.perf_counter() - start))

        return run

    ingest.cycle.sandboxed_converter = timed
    return batches


def service_main(config_path: str, profile_path: str | None, reply: Connection) -> None:
    """Run in a fresh process, as `intake run` is: two cycles, then report back over the pipe."""
    from memory import own_peak_rss_mb

    from ingest.config import load_config
    from ingest.cycle import sandboxed_reader
    from store.db import make_engine

    clock = StepClock()
    for name in STEP_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
        logging.getLogger(name).addHandler(clock)
    load = os.getloadavg()[0]
    config = load_config(config_path)
    engine = make_engine(config.database_url)
    spent: list[float] = []
    conversions = time_conversions()
    # The service's own readers (read-ahead on every core, batched LibreOffice), as `intake run`;
    # with --cpu-floor the old single reader is timed instead, to give the per-read overhead.
    reader = timed_reader(sandboxed_reader(config), spent) if os.environ.get(TIME_READS_ENV) else None
    profiler = cProfile.Profile() if profile_path else None
    with profiler or contextlib.nullcontext():
        first = timed_cycle(config, engine, reader, clock)
    if profiler is not None and profile_path:
        profiler.dump_stats(profile_path)
    idle = timed_cycle(config, engine, reader, clock)
    engine.dispose()
    self_mb = own_peak_rss_mb()
    run = ServiceRun(
        first, idle, len(spent), sum(spent), self_mb, children_maxrss_mb(), dict(clock.records), conversions, load
    )
    reply.send(asdict(run))
    reply.close()


def run_service(config_path: Path, profile_path: Path | None) -> dict:
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    proc = ctx.Process(
        target=service_main, args=(str(config_path), str(profile_path) if profile_path else None, sender)
    )
    proc.start()
    sender.close()
    try:
        return receiver.recv()
    finally:
        proc.join()


# --------------------------------------------------------------------------- databases


@contextlib.contextmanager
def databases(kind: str, work: Path) -> Iterator[tuple[str, str]]:
    """(service URL, floor URL): two SQLite files, or two fresh PostgreSQL databases dropped after."""
    if kind == "sqlite":
        yield f"sqlite:///{work / 'intake.db'}", f"sqlite:///{work / 'floor.db'}"
        return
    with fresh_database("postgres") as service_url, fresh_database("postgres") as floor_url:
        yield service_url, floor_url


def database_bytes(url: str) -> int:
    """On-disk size: the SQLite file with its WAL, or pg_database_size."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the run


def write_config(work: Path, mailbox: str, ca_file: Path | None, database_url: str, workers: int = 0) -> Path:
    path = work / "config.toml"
    ca = f'ca_file = "{ca_file}"\n' if ca_file else ""
    path.write_text(
        f'[form]\ndefinition = "{DEFAULT_FORM_PATH}"\n'
        f'[mailbox]\nurl = "{mailbox}"\n{ca}'
        '[smtp]\nurl = "outbox:outbox"\n'
        f'[database]\nurl = "{database_url}"\n'
        "[acknowledgements]\nper_cycle = 100000\nper_recipient_daily = 100000\n"
        f"[limits]\nworkers = {workers}\n",
        encoding="utf-8",
    )
    return path


@contextlib.contextmanager
def mail_source(kind: str, work: Path, raws: list[bytes]) -> Iterator[tuple[str, Path | None, Callable]]:
    """(mailbox URL, CA file, read-everything function) for a filled Maildir or private Dovecot."""
    if kind == "maildir":
        fill_maildir(work / "mail", raws)
        yield f"maildir:{work / 'mail'}", None, lambda: read_maildir(work / "mail")
        return
    with running_dovecot() as server:
        fill_imap(server, raws)
        os.environ[PASSWORD_ENV["mailbox"]] = server.password
        yield server.imap_url, server.ca_file, lambda: read_imap(server)


def measure(args: argparse.Namespace, work: Path) -> None:
    t0 = time.perf_counter()
    raws = build_corpus(args.messages)
    print(f"corpus: {len(raws)} messages ({summary(args.messages)}) built in {time.perf_counter() - t0:.1f} s")
    with mail_source(args.source, work, raws) as (mailbox, ca_file, read_all), databases(args.database, work) as urls:
        service_url, floor_url = urls
        floor, fetched = io_floor(read_all, floor_url)
        naive = naive_floor(fetched)
        config_path = write_config(work, mailbox, ca_file, service_url, args.workers)
        cpu = cpu_floor(fetched, parse_limits(load_config(config_path))) if args.cpu_floor else None
        upgrade(service_url)
        empty_bytes = database_bytes(service_url)
        run = run_service(config_path, args.profile)
        full_bytes = database_bytes(service_url)
    report(args, floor, naive, cpu, run, full_bytes - empty_bytes)
    if args.profile:
        print_profile(args.profile)


def report(
    args: argparse.Namespace, floor: IoFloor, naive: Floor, cpu: CpuFloor | None, run: dict, db_bytes: int
) -> None:
    n = args.messages
    first, idle = run["first"], run["idle"]
    full = first["seconds"]
    print(f"setup: {args.source} + {args.database}, {os.cpu_count()} CPUs, workers {args.workers or 'one per core'}, "
          f"main script imports {args.main_imports or 'nothing'}, mean message {floor.raw_bytes / n / 1024:.1f} KiB, "
          f"load average before {run['load_before']:.2f}, after {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"counts: {first['counts']}" + (f" ERRORS {first['errors']}" if first["errors"] else ""))
    print(f"full cycle      {full:8.2f} s  {n / full:7.1f} messages/s")
    print(describe(naive, n))
    print(f"full cycle / naive floor  {full / naive.seconds:5.2f}   (goal <= 0.75)")
    for step in ("store", "file", "send"):
        secs = first[f"{step}_seconds"]
        print(f"  {step:5s} step    {secs:8.2f} s  {n / secs if secs else float('inf'):7.1f} messages/s")
    print(f"idle poll       {idle['seconds'] * 1000:8.1f} ms  (stored {idle['counts']['stored']}, "
          f"filed {idle['counts']['filed_messages']}, sent {idle['counts']['acks_sent']})")  # fmt: skip
    print(f"I/O floor       {floor.seconds:8.2f} s  {n / floor.seconds:7.1f} messages/s  (read "
          f"{floor.read_seconds:.2f} s + write {floor.write_seconds:.2f} s)")  # fmt: skip
    print(f"full cycle / I/O floor  {full / floor.seconds:6.1f}x   store step / I/O floor "
          f"{first['store_seconds'] / floor.seconds:6.1f}x")  # fmt: skip
    if cpu is not None:
        print(f"CPU floor       {cpu.seconds:8.2f} s  {n / cpu.seconds:7.1f} messages/s  (of which reading "
              f"attachments {cpu.read_seconds:.2f} s)")  # fmt: skip
        print(f"full cycle / CPU floor  {full / cpu.seconds:6.1f}x   file step / CPU floor "
              f"{first['file_seconds'] / cpu.seconds:6.1f}x")  # fmt: skip
        print_sandbox(cpu, run, first)
    print_conversions(run)
    kids = run["maxrss_children_mb"]
    print(f"peak memory: service process {run['maxrss_self_mb']:.0f} MB, largest child "
          f"{'n/a' if kids is None else f'{kids:.0f} MB'}")  # fmt: skip
    print(f"database: {db_bytes / n / 1024:.1f} KiB per message ({db_bytes / MB:.1f} MB for {n}; raw mail "
          f"{floor.raw_bytes / MB:.1f} MB)")  # fmt: skip


def print_sandbox(cpu: CpuFloor, run: dict, first: dict) -> None:
    n = max(cpu.attachments, 1)
    step = (first["file_seconds"] - cpu.seconds) / n
    reads = max(run["sandboxed_reads"], 1)
    per_read = run["sandboxed_read_seconds"] / reads - cpu.read_seconds / n
    print(f"sandbox overhead: {step * 1000:.1f} ms per attachment (file step - CPU floor, over {cpu.attachments}); "
          f"{per_read * 1000:.1f} ms per read (sandboxed {run['sandboxed_read_seconds'] / reads * 1000:.1f} ms "
          f"vs in-process {cpu.read_seconds / n * 1000:.1f} ms)")  # fmt: skip


def print_conversions(run: dict) -> None:
    batches = run["conversions"]
    files = sum(n for n, _ in batches)
    if files:
        secs = sum(t for _, t in batches)
        print(f"LibreOffice: {files} files in {len(batches)} batches, {secs:.2f} s = {secs / files:.2f} s per file "
              f"(sandboxed, one soffice start per batch)")  # fmt: skip


def print_profile(path: Path) -> None:
    print(f"profile of the first cycle (service process only) in {path}; top by own time:")
    pstats.Stats(str(path)).sort_stats("tottime").print_stats(12)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300, help="messages to generate (default 300)")
    parser.add_argument("--source", choices=("maildir", "imap"), default="maildir")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--workers", type=int, default=0, help="[limits] workers for the service (0: one per core)")
    parser.add_argument(
        "--cpu-floor",
        action="store_true",
        help="also measure the in-process CPU floor (then the service reads one at a time)",
    )
    parser.add_argument("--profile", type=Path, help="run the first cycle under cProfile, stats to this file")
    parser.add_argument(
        "--main-imports",
        metavar="MODULE",
        help="make the service's main script import MODULE, as the `intake` console script imports ingest.cli",
    )
    args = parser.parse_args()
    if args.cpu_floor:
        os.environ[TIME_READS_ENV] = "1"
    if args.main_imports:
        os.environ[MAIN_IMPORTS_ENV] = args.main_imports
    work = args.keep or Path(tempfile.mkdtemp(prefix="intake-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        measure(args, work.resolve())
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
