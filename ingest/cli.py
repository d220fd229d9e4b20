"""The `intake` command: builds objects, calls one library function, turns errors into exit codes.

Exit status: 0 when the command did its work (a cycle completed, even if some messages could not be
read: they are recorded); 2 for a configuration error, before anything is touched; 1 when the work
could not complete (mailbox, database or disk unreachable), after saying why on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from ingest.config import Config, load_config
from ingest.errors import ConfigError, IntakeError

log = logging.getLogger("intake")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intake",
        description="Take in e-mailed consultation responses: read the mailbox, file each response, "
        "acknowledge it, and report to staff.",
    )
    parser.add_argument("--config", default="config.toml", metavar="FILE", help="config file (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step, not just the outcome")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run one intake cycle, then exit")
    sub.add_parser("serve", help="run cycles on the configured schedule until SIGTERM or Ctrl-C")

    exp = sub.add_parser("export", help="write the responses (or --messages) as JSON lines")
    exp.add_argument("--messages", action="store_true", help="one line per e-mail message instead of per response")
    exp.add_argument("--format", choices=["jsonl"], default="jsonl", help="output format (default: %(default)s)")
    exp.add_argument("--output", metavar="PATH", help="write here instead of standard output")
    exp.add_argument("--exclude-confidential", action="store_true", help="leave out confidential responses")

    sub.add_parser("report", help="print the ingestion report: the last cycle, totals, what needs a person")

    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="create or upgrade the database schema to the newest version")

    form = sub.add_parser("form", help="write the blank response form from the form definition")
    form.add_argument("--docx", metavar="PATH", help="write the Word form here")
    form.add_argument("--pdf", metavar="PATH", help="write the fillable PDF form here")

    acks = sub.add_parser("acks", help="list pending and failed acknowledgements")
    acks.add_argument("--retry", action="store_true", help="try to send pending acknowledgements now")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        for noisy in ("alembic", "pdfminer", "imapclient", "mailparser", "mail-parser"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        return COMMANDS[args.command](config, args)
    except ConfigError as err:
        print(f"intake: configuration error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except (IntakeError, SQLAlchemyError, OSError) as err:
        print(f"intake: {err}", file=sys.stderr)
        return EXIT_FAILED


def _engine(config: Config):  # type: ignore[no-untyped-def]
    from store.db import make_engine, upgrade

    upgrade(config.database_url)
    return make_engine(config.database_url)


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from ingest.cycle import run_cycle

    result = run_cycle(config, _engine(config), progress=_progress_printer())
    counts = result.as_counts()
    log.info(
        "cycle %s %s: %s new messages, %s responses filed (%s need review), %s acknowledgements sent",
        result.cycle_id,
        "completed" if result.completed else "could not complete",
        counts["stored"],
        counts["responses"],
        counts["needs_review"],
        counts["acks_sent"],
    )
    for err in result.errors:
        print(f"intake: {err}", file=sys.stderr)
    return EXIT_OK if result.completed else EXIT_FAILED


def _progress_printer():  # type: ignore[no-untyped-def]
    def progress(n: int) -> None:
        if n % 100 == 0:
            log.info("%d messages stored so far", n)

    return progress


def cmd_serve(config: Config, args: argparse.Namespace) -> int:
    from scheduler import serve

    return serve(config, _engine(config))


def cmd_export(config: Config, args: argparse.Namespace) -> int:
    from store.export import iter_messages, iter_responses, write_jsonl

    engine = _engine(config)
    with Session(engine) as session:
        records = (
            iter_messages(session)
            if args.messages
            else iter_responses(session, config.form, exclude_confidential=args.exclude_confidential)
        )
        if args.output:
            with open(args.output, "w", encoding="utf-8") as out:
                n = write_jsonl(records, out)
            log.info("wrote %d records to %s", n, args.output)
        else:
            write_jsonl(records, sys.stdout)
    return EXIT_OK


def cmd_report(config: Config, args: argparse.Namespace) -> int:
    from store.summary import render_text, summarise

    with Session(_engine(config)) as session:
        sys.stdout.write(render_text(summarise(session, config.form)))
    return EXIT_OK


def cmd_db(config: Config, args: argparse.Namespace) -> int:
    from store.db import upgrade

    upgrade(config.database_url)
    log.info("database schema is up to date")
    return EXIT_OK


def cmd_form(config: Config, args: argparse.Namespace) -> int:
    if not (args.docx or args.pdf):
        print("intake form: give --docx PATH and/or --pdf PATH", file=sys.stderr)
        return EXIT_CONFIG
    if args.docx:
        from parsers.blankform_docx import write_blank_docx

        Path(args.docx).write_bytes(write_blank_docx(config.form))
        log.info("wrote the Word form to %s", args.docx)
    if args.pdf:
        from parsers.blankform_pdf import write_blank_pdf

        Path(args.pdf).write_bytes(write_blank_pdf(config.form))
        log.info("wrote the fillable PDF form to %s", args.pdf)
    return EXIT_OK


def cmd_acks(config: Config, args: argparse.Namespace) -> int:
    from sqlmodel import col, select

    from store.models import Acknowledgement, AckStatus

    engine = _engine(config)
    if args.retry:
        from ingest.cycle import open_mail_delivery
        from ingest.sending import send_pending

        s = config.settings
        counts = send_pending(
            engine,
            open_mail_delivery(config),
            envelope_from=s.smtp.from_address,
            max_attempts=s.acknowledgements.max_attempts,
            ignore_schedule=True,
        )
        log.info("retried: %d sent, %d still pending, %d failed", counts.sent, counts.deferred, counts.failed)
    with Session(engine) as session:
        rows = session.exec(
            select(Acknowledgement)
            .where(col(Acknowledgement.status).in_([AckStatus.PENDING, AckStatus.FAILED]))
            .order_by(col(Acknowledgement.id))
        ).all()
        for a in rows:
            print(f"{a.status:8s} #{a.id:<5d} to {a.to_address or '?'}  attempts {a.attempts}  {a.last_error or ''}")
        if not rows:
            print("No pending or failed acknowledgements.")
    return EXIT_OK


COMMANDS = {
    "run": cmd_run,
    "serve": cmd_serve,
    "export": cmd_export,
    "report": cmd_report,
    "db": cmd_db,
    "form": cmd_form,
    "acks": cmd_acks,
}

if __name__ == "__main__":
    sys.exit(main())
