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
from ingest.errors import AnotherWorkerRunning, ConfigError, DatabaseUnavailable, IntakeError

log = logging.getLogger("intake")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intake",
        description="Take in e-mailed consultation responses: read the mailbox, file each response, "
        "acknowledge it, and report to staff.",
        epilog="examples:\n"
        "  intake run                                  one cycle now\n"
        "  intake report --html report.html            the staff report\n"
        "  intake review CT08-000123 --set q3.choice=agree --done\n"
        "  intake export --format xlsx --output responses.xlsx --exclude-confidential\n"
        "  intake person ann@example.org --export sar  subject access: all that is held about one person\n"
        "  intake erase --person ann@example.org       erase one person's personal data (asks first)\n"
        "  intake status --json                        is the service healthy? (exit 0 yes, 1 no)\n"
        "\nexit status: 0 done, 1 could not complete (mailbox, database or disk), 2 configuration error",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default="config.toml", metavar="FILE", help="config file (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every step, not just the outcome")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run one intake cycle, then exit")
    sub.add_parser("serve", help="run cycles on the configured schedule until SIGTERM or Ctrl-C")

    exp = sub.add_parser("export", help="write the responses (or --messages) for analysis: JSON lines, CSV or XLSX")
    exp.add_argument("--messages", action="store_true", help="one line per e-mail message instead of per response")
    exp.add_argument(
        "--format", choices=["jsonl", "csv", "xlsx"], default="jsonl", help="output format (default: %(default)s)"
    )
    exp.add_argument("--output", metavar="PATH", help="write here instead of standard output (xlsx needs a PATH)")
    exp.add_argument(
        "--exclude-confidential",
        action="store_true",
        help="the published export: leave out confidential responses, and every respondent's personal data",
    )
    exp.add_argument("--include-personal", action="store_true", help="with --exclude-confidential: keep personal data")

    rep = sub.add_parser("report", help="the ingestion report: last cycle, totals, what needs a person, results")
    rep.add_argument("--html", metavar="PATH", help="write the full staff report as one self-contained HTML file")
    rep.add_argument(
        "--published", action="store_true", help="the published view: no confidential responses, no personal data"
    )
    rep.add_argument("--include-personal", action="store_true", help="with --published: keep personal data")

    rev = sub.add_parser("review", help="list what needs a person, or correct and clear one response")
    rev.add_argument("reference", nargs="?", help="the response to correct (e.g. CT08-000123)")
    rev.add_argument(
        "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
        help="a correction, e.g. q3.choice=agree or respondent.category=school (repeatable)",
    )  # fmt: skip
    rev.add_argument("--done", action="store_true", help="mark the response reviewed: status filed, reasons cleared")
    rev.add_argument("--who", default=None, help="who made the change, for the audit trail (default: login name)")

    show = sub.add_parser("show", help="print one response with its provenance and audit trail")
    show.add_argument("reference")

    orig = sub.add_parser("original", help="write the stored original message and its attachments")
    orig.add_argument("reference")
    orig.add_argument("--out", required=True, metavar="DIR", help="folder to write into (created if missing)")

    db = sub.add_parser("db", help="database administration")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="create or upgrade the database schema to the newest version")

    form = sub.add_parser("form", help="write the blank response form from the form definition")
    form.add_argument("--docx", metavar="PATH", help="write the Word form here")
    form.add_argument("--pdf", metavar="PATH", help="write the fillable PDF form here")

    acks = sub.add_parser("acks", help="list pending and failed acknowledgements")
    acks.add_argument(
        "--retry", action="store_true",
        help="send pending acknowledgements now, and those that gave up after repeated failures",
    )  # fmt: skip

    status = sub.add_parser(
        "status", help="is the service healthy? last cycle, queues, errors; exit 0 healthy, 1 stale or failing"
    )
    status.add_argument("--json", action="store_true", help="one JSON object, for monitoring systems")

    refile = sub.add_parser("refile", help="file stored messages again (those that failed, or named ones)")
    refile.add_argument("messages", nargs="*", metavar="MESSAGE", help="message numbers, as in the log (#12 or 12)")
    refile.add_argument("--failed", action="store_true", help="every message whose filing failed")
    _add_personal_data_commands(sub)
    _add_staff_web_parsers(sub)
    return parser


def _add_personal_data_commands(sub) -> None:  # type: ignore[no-untyped-def]
    person = sub.add_parser("person", help="subject access: every message, response and record about one person")
    person.add_argument("email", metavar="EMAIL", help="the person's e-mail address")
    person.add_argument("--name", help="also find forms that give this respondent name")
    person.add_argument("--export", metavar="DIR", help="write the records and the original messages into DIR")

    erase = sub.add_parser("erase", help="erase the personal data of responses, or of one person (asks first)")
    erase.add_argument("references", nargs="*", metavar="REF", help="the responses to erase (e.g. CT08-000123)")
    erase.add_argument("--person", metavar="EMAIL", help="instead: everything held about this address")
    erase.add_argument("--name", help="with --person: the respondent name given in forms")
    erase.add_argument(
        "--redact-text", action="store_true", help="also replace free text naming the person with [erased]"
    )
    erase.add_argument(
        "--yes", action="store_true", help="do not ask (free text is then kept unless --redact-text is given)"
    )
    erase.add_argument("--who", default=None, help="who erased it, for the audit trail (default: login name)")

    keep = sub.add_parser("retention", help="show what the [retention] periods remove now; --apply removes it")
    keep.add_argument("--apply", action="store_true", help="remove what is due now (what `serve` does daily)")


def _add_staff_web_parsers(sub: argparse._SubParsersAction) -> None:
    """`intake web` and `intake user` (the staff pages and their accounts)."""
    sub.add_parser("web", help="serve the staff pages (report, review queue, corrections, exports) behind a sign-in")
    user = sub.add_parser("user", help="manage the staff accounts of `intake web`")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="add a user; the password is read from standard input, never an argument")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["viewer", "reviewer", "admin"], help="what the user may do")
    add.add_argument("--one-time", action="store_true", help="make the user choose a new password at the first sign-in")
    user_sub.add_parser("list", help="list the users, their roles and whether they are disabled")
    disable = user_sub.add_parser("disable", help="disable a user and end their sessions")
    disable.add_argument("name")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # APScheduler says "Running job" and "executed successfully" at INFO for every cycle.
        for noisy in ("alembic", "pdfminer", "imapclient", "mailparser", "mail-parser", "apscheduler"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
        if args.command in ("run", "serve"):
            from ingest.preflight import check_config

            check_config(config)
        return COMMANDS[args.command](config, args)
    except ConfigError as err:
        print(f"intake: configuration error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    except SQLAlchemyError as err:
        from store.db import describe_database_error

        print(f"intake: database unavailable: {describe_database_error(err)}", file=sys.stderr)
        return EXIT_FAILED
    except (IntakeError, DatabaseUnavailable, AnotherWorkerRunning, OSError) as err:
        print(f"intake: {err}", file=sys.stderr)
        return EXIT_FAILED


def _engine(config: Config):  # type: ignore[no-untyped-def]
    from store.db import make_engine, upgrade

    upgrade(config.database_url)
    return make_engine(config.database_url)


def cmd_run(config: Config, args: argparse.Namespace) -> int:
    from ingest.cycle import run_cycle
    from scheduler import stop_on_signals

    engine = _engine(config)
    with stop_on_signals() as stop:
        result = run_cycle(config, engine, progress=_progress_printer(), stop=stop)
    log.info("%s", result.summary())
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
    from store.export import iter_messages, iter_responses
    from store.figures import answer_counts
    from store.tabular import write_xlsx

    if args.format != "jsonl" and args.messages:
        print("intake export: --messages is written as jsonl only", file=sys.stderr)
        return EXIT_CONFIG
    if args.format == "xlsx" and not args.output:
        print("intake export: --format xlsx needs --output PATH", file=sys.stderr)
        return EXIT_CONFIG
    engine = _engine(config)
    view = {
        "exclude_confidential": args.exclude_confidential,
        "personal": args.include_personal or not args.exclude_confidential,
    }
    with Session(engine) as session:
        records = iter_messages(session, **view) if args.messages else iter_responses(session, config.form, **view)
        if args.format == "xlsx":
            answers = answer_counts(session, published=args.exclude_confidential)
            n = write_xlsx(records, config.form, args.output, answers)
        elif args.output:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                n = _write_text(records, args.format, config, out)
        else:
            n = _write_text(records, args.format, config, sys.stdout)
        if args.output:
            log.info("wrote %d records to %s", n, args.output)
    return EXIT_OK


def _write_text(records, fmt: str, config: Config, out) -> int:  # type: ignore[no-untyped-def]
    from store.export import write_jsonl
    from store.tabular import write_csv

    return write_csv(records, config.form, out) if fmt == "csv" else write_jsonl(records, out)


def cmd_report(config: Config, args: argparse.Namespace) -> int:
    from store.report_html import render_report
    from store.summary import render_text, summarise

    with Session(_engine(config)) as session:
        if args.html:
            html = render_report(
                session,
                config.form,
                published=args.published,
                include_personal=args.include_personal,
                interval_seconds=config.settings.schedule.interval_seconds,
            )
            Path(args.html).write_text(html, encoding="utf-8")
            log.info("wrote the %sreport to %s", "published " if args.published else "", args.html)
        else:
            summary = summarise(session, config.form, published=args.published, include_personal=args.include_personal)
            sys.stdout.write(render_text(summary))
    return EXIT_OK


def cmd_review(config: Config, args: argparse.Namespace) -> int:
    import getpass

    from store.review import ReviewError, apply_corrections, list_for_review

    with Session(_engine(config)) as session:
        if not args.reference:
            rows = list_for_review(session)
            for r in rows:
                print(f"{r.reference}  {r.source_kind:5s} {r.filename or '(e-mail body)'}")
                for reason in r.review_reasons:
                    print(f"    - {reason}")
            print(f"{len(rows)} response(s) need a person." if rows else "Nothing needs review.")
            return EXIT_OK
        if not (args.settings or args.done):
            print("intake review: give --set KEY=VALUE corrections and/or --done", file=sys.stderr)
            return EXIT_CONFIG
        try:
            resp = apply_corrections(
                session, config.form, args.reference, args.settings, who=args.who or getpass.getuser(), done=args.done
            )
        except ReviewError as err:
            print(f"intake review: {err}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"{resp.reference}: {len(args.settings)} correction(s) saved; status {resp.status}")
    return EXIT_OK


def cmd_show(config: Config, args: argparse.Namespace) -> int:
    from store.review import ReviewError, describe_response

    with Session(_engine(config)) as session:
        try:
            sys.stdout.write(describe_response(session, config.form, args.reference))
        except ReviewError as err:
            print(f"intake show: {err}", file=sys.stderr)
            return EXIT_CONFIG
    return EXIT_OK


def cmd_original(config: Config, args: argparse.Namespace) -> int:
    from store.review import ReviewError, original_files

    with Session(_engine(config)) as session:
        try:
            files = original_files(session, args.reference)
        except ReviewError as err:
            print(f"intake original: {err}", file=sys.stderr)
            return EXIT_CONFIG
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        (out / name).write_bytes(data)
        print(out / name)
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
        _retry_acknowledgements(config, engine)
    with Session(engine) as session:
        rows = session.exec(
            select(Acknowledgement)
            .where(col(Acknowledgement.status).in_([AckStatus.PENDING, AckStatus.FAILED]))
            .order_by(col(Acknowledgement.id))
        ).all()
        for a in rows:
            print(f"{a.status:8s} #{a.id:<5d} to {a.to_address or '?'}  attempts {a.attempts}  "
                  f"{a.reason or a.last_error or ''}")  # fmt: skip
        if not rows:
            print("No pending or failed acknowledgements.")
    return EXIT_OK


def _retry_acknowledgements(config: Config, engine) -> None:  # type: ignore[no-untyped-def]
    import threading

    from ingest.cycle import deliver_acknowledgements
    from ingest.guard import CycleGuard
    from ingest.sending import retry_given_up

    revived = retry_given_up(engine)
    with CycleGuard(threading.Event(), config.settings.schedule.cycle_deadline_seconds) as guard:
        counts = deliver_acknowledgements(config, engine, guard, ignore_schedule=True)
    log.info(
        "retried%s: %d sent, %d still pending, %d failed",
        f" ({revived} that had given up)" if revived else "",
        counts.sent,
        counts.deferred,
        counts.failed,
    )
    if counts.down:
        print(f"intake acks: SMTP unavailable: {counts.down}", file=sys.stderr)
    if counts.login_refused:
        print(f"intake acks: {counts.login_refused}", file=sys.stderr)
    elif counts.sent:
        import datetime as dt

        from ingest.backoff import LoginBackoff

        LoginBackoff(engine, "smtp-login", dt.timedelta(0)).succeeded()  # the login works again


def cmd_status(config: Config, args: argparse.Namespace) -> int:
    import datetime as dt

    from ingest.status import gather_status, render_text

    with Session(_engine(config)) as session:
        status = gather_status(session, dt.datetime.now(dt.UTC), config.settings.schedule.interval_seconds)
    sys.stdout.write(status.as_json() + "\n" if args.json else render_text(status))
    return EXIT_OK if status.healthy else EXIT_FAILED


def cmd_refile(config: Config, args: argparse.Namespace) -> int:
    from sqlmodel import select

    from ingest.filing import refile
    from store.models import Message

    if not (args.messages or args.failed):
        print("intake refile: name messages (e.g. 12) or give --failed", file=sys.stderr)
        return EXIT_CONFIG
    try:
        wanted = [int(m.lstrip("#")) for m in args.messages]
    except ValueError:
        print("intake refile: messages are numbers, as in the log (#12 or 12)", file=sys.stderr)
        return EXIT_CONFIG
    engine = _engine(config)
    if args.failed:
        with Session(engine) as session:
            wanted += [i for i in session.exec(select(Message.id).where(Message.disposition == "failed")) if i]
    reset = refile(engine, wanted)
    skipped = sorted(set(wanted) - set(reset))
    print(f"{len(reset)} message(s) will be filed again by the next cycle (`intake run`).")
    if skipped:
        print(f"Not refiled (unknown, not yet filed, or a response already filed): {', '.join(map(str, skipped))}")
    return EXIT_OK


def cmd_person(config: Config, args: argparse.Namespace) -> int:
    from store.personal import Person, find_person
    from store.subject_access import describe_holdings, export_holdings

    if not _plain_address(args.email, "intake person"):
        return EXIT_CONFIG
    with Session(_engine(config)) as session:
        held = find_person(session, Person(args.email, args.name))
        sys.stdout.write(describe_holdings(session, held))
        if args.export:
            written = export_holdings(session, held, config.form, Path(args.export))
            print(f"Wrote {len(written)} file(s) to {args.export}")
    return EXIT_OK


def cmd_erase(config: Config, args: argparse.Namespace) -> int:
    import getpass

    from store.erasure import ErasureError, describe_plan, erase, plan_for_person, plan_for_references
    from store.personal import Person

    if bool(args.references) == bool(args.person):
        print("intake erase: give the references to erase, or --person EMAIL (not both)", file=sys.stderr)
        return EXIT_CONFIG
    if args.person and not _plain_address(args.person, "intake erase"):
        return EXIT_CONFIG
    with Session(_engine(config)) as session:
        try:
            if args.person:
                plan = plan_for_person(session, Person(args.person, args.name))
            else:
                plan = plan_for_references(session, args.references)
        except ErasureError as err:
            print(f"intake erase: {err}", file=sys.stderr)
            return EXIT_CONFIG
        sys.stdout.write(describe_plan(plan))
        if plan.empty:
            return EXIT_OK
        if not (args.yes or _confirm("Erase the personal data listed above?")):
            print("Nothing erased.")
            return EXIT_FAILED
        redact_text = args.redact_text
        if plan.passages and not (redact_text or args.yes):
            redact_text = _confirm(
                f"Also replace the {len(plan.passages)} passage(s) of free text above with [erased]?"
            )
        count = erase(session, plan, who=args.who or getpass.getuser(), redact_text=redact_text)
        kept = len(plan.passages) - count
        print(f"Erased. {count} passage(s) of free text replaced" + (f", {kept} kept." if kept else "."))
    return EXIT_OK


def _plain_address(value: str, command: str) -> bool:
    if "@" in value and not any(c in value for c in " \r\n<>,"):
        return True
    print(f"{command}: {value!r} is not a plain e-mail address (give a name with --name)", file=sys.stderr)
    return False


def _confirm(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def cmd_retention(config: Config, args: argparse.Namespace) -> int:
    import datetime as dt

    from store.retention import apply_retention, describe_retention, plan_retention

    policy = config.retention
    if not policy.configured:
        print("No [retention] periods are configured: everything is kept.")
        return EXIT_OK
    engine = _engine(config)
    now = dt.datetime.now(dt.UTC)
    if args.apply:
        plan = apply_retention(engine, policy, now)
    else:
        with Session(engine) as session:
            plan = plan_retention(session, policy, now)
    sys.stdout.write(describe_retention(plan, applied=args.apply))
    return EXIT_OK


COMMANDS = {
    "run": cmd_run,
    "serve": cmd_serve,
    "export": cmd_export,
    "report": cmd_report,
    "db": cmd_db,
    "form": cmd_form,
    "acks": cmd_acks,
    "review": cmd_review,
    "show": cmd_show,
    "original": cmd_original,
    "refile": cmd_refile,
    "status": cmd_status,
    "person": cmd_person,
    "erase": cmd_erase,
    "retention": cmd_retention,
}


def cmd_web(config: Config, args: argparse.Namespace) -> int:
    from ingest.web.app import serve

    return serve(config, _engine(config))


def cmd_user(config: Config, args: argparse.Namespace) -> int:
    from ingest.web import auth

    with Session(_engine(config)) as session:
        try:
            if args.user_command == "add":
                user = auth.add_user(session, args.name, args.role, _read_password(), must_change=args.one_time)
                print(f"{user.name}: added as {user.role}")
            elif args.user_command == "disable":
                print(f"{auth.disable_user(session, args.name).name}: disabled, signed out everywhere")
            else:
                for u in auth.list_users(session):
                    state = "disabled" if u.disabled else "active"
                    last = f"{u.last_sign_in_at:%Y-%m-%d %H:%M}" if u.last_sign_in_at else "never signed in"
                    print(f"{u.name:24s} {u.role:9s} {state:9s} {last}")
        except auth.AccountError as err:
            print(f"intake user: {err}", file=sys.stderr)
            return EXIT_CONFIG
    return EXIT_OK


def _read_password() -> str:
    """The new password from standard input: asked twice on a terminal, else its first line."""
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise _account_error("the two passwords are not the same")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _account_error(message: str) -> Exception:
    from ingest.web.auth import AccountError

    return AccountError(message)


COMMANDS.update(web=cmd_web, user=cmd_user)

if __name__ == "__main__":
    sys.exit(main())
