"""Load benchmark: does a message cost the same with 10,000 stored as with none (issue 9)?

    python3 bench/load.py [--messages 10000] [--every 1000] [--database sqlite|postgresql]

A private Dovecot (tests/servers.py) receives the mixed mail of bench/corpus.py, `--every`
messages at a time; after each delivery the service (its own process, as `intake run`, every
sandbox limit in force) runs one cycle, which takes in, files and acknowledges them. Printed:
messages/s for each chunk (flat if the cost grows with new mail only), the service's peak RSS
after each chunk, and the idle cycle (nothing new; the median of five) with every message
processed against the idle cycle on the empty mailbox, with the IMAP FETCH items each idle cycle
asked for (no body).

The messages are the corpus's templates (`--templates`, default 100) with a new sender and
Message-ID for each copy: a copy of a form that names its author is then filed as a duplicate of
the first, so the duplicate check is exercised at scale too.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "bench")]

SEED = 70_000
IDLE_RUNS = 5  # idle cycles measured each way; the median is compared


def copy_of(template: bytes, j: int, i: int) -> bytes:
    """Template j as message i: its own sender and Message-ID, nothing else changed."""
    return template.replace(f"respondent{SEED + j}@".encode(), f"load{i}@".encode()).replace(
        f"<bench-{SEED}-{j}@".encode(), f"<load-{i}@".encode()
    )


def service_main(config_path: str, commands: Connection) -> None:
    """The service's process: one cycle per command, then its figures back over the pipe."""
    import imapclient
    from memory import own_peak_rss_mb

    from ingest.config import load_config
    from ingest.cycle import run_cycle
    from store.db import make_engine

    fetched: list[str] = []
    fetch = imapclient.IMAPClient.fetch

    def recording_fetch(self, messages, data, *args, **kwargs):  # type: ignore[no-untyped-def]
        fetched.append(" ".join(d.decode() if isinstance(d, bytes) else str(d) for d in data))
        return fetch(self, messages, data, *args, **kwargs)

    imapclient.IMAPClient.fetch = recording_fetch  # type: ignore[method-assign]
    config = load_config(config_path)
    engine = make_engine(config.database_url)
    while commands.recv() == "cycle":
        fetched.clear()
        start = time.perf_counter()
        result = run_cycle(config, engine)
        seconds = time.perf_counter() - start
        rss = own_peak_rss_mb()
        commands.send((seconds, result.as_counts(), result.errors, rss, sorted(set(fetched))))
    engine.dispose()


@contextlib.contextmanager
def service(config_path: Path) -> Iterator[Connection]:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=service_main, args=(str(config_path), theirs))
    proc.start()
    try:
        yield ours
    finally:
        ours.send("stop")
        proc.join()


def cycle(conn: Connection) -> tuple[float, dict, list[str], float, list[str]]:
    conn.send("cycle")
    return conn.recv()


def idle_cycles(conn: Connection) -> list[tuple[float, dict, list[str], float, list[str]]]:
    """IDLE_RUNS cycles with nothing new: one cycle of some 20 ms is within the noise of a shared VM."""
    return [cycle(conn) for _ in range(IDLE_RUNS)]


def median(runs: list[tuple[float, dict, list[str], float, list[str]]]) -> float:
    return statistics.median(run[0] for run in runs)


def idle_text(runs: list[tuple[float, dict, list[str], float, list[str]]]) -> str:
    fetched = sorted({item for run in runs for item in run[4]})
    low, high = min(run[0] for run in runs), max(run[0] for run in runs)
    return (f"median {median(runs) * 1000:.0f} ms of {len(runs)} ({low * 1000:.0f}-{high * 1000:.0f}), "
            f"FETCH items {fetched or 'none'}")  # fmt: skip


def deliver(server, raws: list[bytes]) -> None:  # type: ignore[no-untyped-def]
    with server.client() as imap:
        for raw in raws:
            imap.append("INBOX", raw)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--every", type=int, default=1_000, help="messages delivered before each cycle")
    parser.add_argument("--templates", type=int, default=100)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    from corpus import build_corpus, summary
    from intake_env import write_config
    from servers import fresh_database, running_dovecot

    from ingest.config import PASSWORD_ENV
    from store.db import upgrade

    templates = build_corpus(args.templates, seed=SEED)
    print(f"templates: {len(templates)} ({summary(args.templates)})")
    print(f"{args.messages} messages into {args.database}, one cycle every {args.every}")
    work = Path(tempfile.mkdtemp(prefix="intake-load-"))
    try:
        with running_dovecot() as server, contextlib.ExitStack() as stack:
            url = f"sqlite:///{work / 'intake.db'}"
            if args.database == "postgresql":
                url = stack.enter_context(fresh_database("postgres"))
            os.environ[PASSWORD_ENV["mailbox"]] = server.password
            config = write_config(
                work,
                mailbox_url=server.imap_url,
                smtp_url=f"outbox:{work / 'outbox'}",
                database_url=url,
                extra="[acknowledgements]\nper_cycle = 100000\nper_recipient_daily = 100000\n",
            )
            upgrade(url)
            print(f"load average at start {os.getloadavg()[0]:.2f}")
            with service(config) as conn:
                cycle(conn)  # the first cycle starts the fork server and warms the imports
                empty = idle_cycles(conn)
                print(f"idle cycle, empty mailbox: {idle_text(empty)}")
                done = 0
                while done < args.messages:
                    n = min(args.every, args.messages - done)
                    deliver(server, [copy_of(templates[(done + k) % len(templates)], (done + k) % len(templates),
                                             done + k) for k in range(n)])  # fmt: skip
                    seconds, counts, errors, rss, _ = cycle(conn)
                    done += n
                    print(f"messages {done - n + 1:>6}-{done:<6} {seconds:8.1f} s  {n / seconds:6.2f} msg/s  "
                          f"filed {counts['filed_messages']}  service peak RSS {rss:.0f} MB  load "
                          f"{os.getloadavg()[0]:.2f}" + (f"  ERRORS {errors}" if errors else ""))  # fmt: skip
                cycle(conn)
                full = idle_cycles(conn)
            print(f"idle cycle, {done} processed: {idle_text(full)}")
            print(f"idle ratio (processed / empty, medians): {median(full) / median(empty):.2f}  (goal <= 1.2)")
            print(f"service peak RSS: {full[-1][3]:.0f} MB  (goal <= 300 MB)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
