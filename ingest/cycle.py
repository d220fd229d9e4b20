"""One intake cycle: store new mail, file what it holds, send acknowledgements.

Nested error boundaries (STYLE.md point 3): the cycle catches per step, each step per message.
A fault of the system (mailbox, database, SMTP, a shutdown) ends its step with one log line and an
entry in the cycle's errors (so `intake run` exits 1 and monitoring hears of it); what it did not
finish waits, unchanged, for the next cycle. A mailbox that cannot be reached still lets stored
messages be filed and pending acknowledgements be sent. The whole cycle runs under a deadline
(`CycleGuard`) that breaks off a server that trickles, and under the database's cycle lock on
SQLite, where one process works at a time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from ingest.backoff import LoginBackoff
from ingest.config import Config
from ingest.delivery import Delivery, open_delivery
from ingest.errors import CredentialError, DatabaseUnavailable, IntakeError, TransientError, is_system_fault
from ingest.failpoints import failpoint
from ingest.filing import AckSettings, FilingCounts, MailReader, file_stored
from ingest.guard import CycleGuard
from ingest.readahead import Converter, ReadAhead, ReadWhole
from ingest.sending import SendCounts, copy_to_sent, send_pending
from ingest.sources import MailSource, open_source
from ingest.storing import Progress, StoreCounts, store_new
from ingest.workers import is_gone, worker_id
from parsers.attachments import AttachmentJob, convert_batch, read_attachment
from parsers.convert import soffice_available
from parsers.mail import MailParseError, ParsedMail, parse_mail
from parsers.message import Limits, ReadOne
from parsers.model import Reading
from parsers.sandbox import ParseLimitError, ReaderInterrupted, preload_modules, run_sandboxed, warm_workers
from parsers.whole import Converted, WholeResult, read_whole
from store.db import database_unavailable, exclusive_cycle, mailbox_poll_lock
from store.models import Cycle, utcnow

if TYPE_CHECKING:
    from store.campaign_cache import CampaignCache

log = logging.getLogger(__name__)

preload_modules(["parsers.attachments", "parsers.mail", "parsers.whole"])
CONVERTED = frozenset({"doc", "odt", "rtf"})
READ_WHILE_STORING_EVERY = 25  # stored messages between two calls for reading ahead
SEND_MEANWHILE_POLL_SECONDS = 0.5  # how often the acknowledgements of newly filed messages go out


@dataclass
class CycleResult:
    cycle_id: int | None = None
    stored: StoreCounts = field(default_factory=StoreCounts)
    filed: FilingCounts = field(default_factory=FilingCounts)
    sent: SendCounts = field(default_factory=SendCounts)
    errors: list[str] = field(default_factory=list)

    @property
    def completed(self) -> bool:
        return not self.errors

    @property
    def did_work(self) -> bool:
        """Whether anything changed: a message stored or filed, an acknowledgement sent or given up."""
        return bool(self.stored.stored or self.filed.processed or self.sent.sent or self.sent.failed)

    def summary(self) -> str:
        """The cycle's one log line: counts only, never an address, name or subject."""
        c = self.as_counts()
        outcome = "completed" if self.completed else "could not complete"
        return (
            f"cycle {self.cycle_id} {outcome}: {c['stored']} new messages, {c['responses']} responses filed "
            f"({c['needs_review']} need review, {c['failed']} failed), {c['acks_sent']} acknowledgements sent"
        )

    def as_counts(self) -> dict:
        return {
            "stored": self.stored.stored,
            "already_stored": self.stored.already_stored,
            "filed_messages": self.filed.processed,
            "responses": self.filed.responses,
            "needs_review": self.filed.needs_review,
            "failed": self.filed.failed,
            "dispositions": dict(self.filed.by_disposition),
            "acks_queued": self.filed.acks_queued,
            "acks_sent": self.sent.sent,
            "acks_deferred": self.sent.deferred,
            "acks_failed": self.sent.failed,
        }


def sandboxed_reader(config: Config, cancel: threading.Event | None = None) -> ReadOne:
    """Read each attachment in a child process under the configured time and memory limits."""
    limits = config.settings.limits

    def read(job: AttachmentJob, data: bytes) -> Reading:
        return run_sandboxed(
            functools.partial(read_attachment, job),
            data,
            timeout=limits.parse_timeout_seconds + (limits.convert_timeout_seconds if job.kind in CONVERTED else 0),
            memory_bytes=limits.parse_memory_mb * 1_000_000,
            on_started=lambda: failpoint("parsing"),
            cancel=cancel,
        )

    return read


def sandboxed_mail_reader(config: Config, cancel: threading.Event | None = None) -> MailReader:
    """Take a message apart (MIME, headers, attachments) in a child process under the same limits.

    A message of 20,000 unterminated parts costs mail-parser minutes of CPU; in the parent that
    would stall the cycle. Here it costs at most the parse timeout, and the message is `failed`
    with the reason, as any unreadable message is.
    """
    limits = config.settings.limits

    def read(raw: bytes) -> ParsedMail:
        try:
            return run_sandboxed(
                parse_mail,
                raw,
                timeout=limits.parse_timeout_seconds,
                memory_bytes=limits.parse_memory_mb * 1_000_000,
                cancel=cancel,
            )
        except ParseLimitError as err:
            raise MailParseError(f"the message itself could not be read: {err.reason}") from err

    return read


def sandboxed_whole_reader(config: Config, cancel: threading.Event | None = None) -> ReadWhole:
    """Read a stored message whole (MIME, attachments, body) in one call under the parse limits."""
    limits = config.settings.limits
    parse = parse_limits(config)

    def read(raw: bytes, converted: Converted | None) -> WholeResult:
        return run_sandboxed(
            functools.partial(read_whole, config.form, parse, converted),
            raw,
            timeout=limits.parse_timeout_seconds,
            memory_bytes=limits.parse_memory_mb * 1_000_000,
            on_started=lambda: failpoint("parsing"),
            cancel=cancel,
        )

    return read


def sandboxed_converter(config: Config, cancel: threading.Event | None = None) -> Converter:
    """Convert a batch of .doc/.rtf/.odt files with one LibreOffice start, in a child under the limits."""
    limits = config.settings.limits

    def convert(files: list[tuple[str, bytes]]) -> dict[str, bytes]:
        return run_sandboxed(
            functools.partial(convert_batch, files, limits.convert_timeout_seconds),
            b"",
            timeout=limits.convert_timeout_seconds + limits.parse_timeout_seconds,
            memory_bytes=limits.parse_memory_mb * 1_000_000,
            cancel=cancel,
        )

    return convert


@contextlib.contextmanager
def sandboxed_read_ahead(config: Config) -> Iterator[ReadAhead]:
    """Readers of stored messages on every core (ingest/readahead.py), all stopped when done.

    Their sandboxed workers stay warm from one message to the next, from the first messages the
    store step commits (`_reading_as_stored`) until the filing step ends.
    """
    cancel = threading.Event()
    with warm_workers():
        ahead = ReadAhead(
            form=config.form,
            limits=parse_limits(config),
            read_whole=sandboxed_whole_reader(config, cancel),
            read_mail=sandboxed_mail_reader(config, cancel),
            read_one=sandboxed_reader(config, cancel),
            convert=sandboxed_converter(config, cancel) if soffice_available() else None,
            workers=config.settings.limits.reader_workers,
        )
        try:
            yield ahead
        finally:
            cancel.set()  # the filing step is over: readings nobody will take are abandoned
            ahead.close()


def parse_limits(config: Config) -> Limits:
    lim = config.settings.limits
    return Limits(
        max_attachment_bytes=int(lim.max_attachment_mb * 1_000_000),
        max_pdf_pages=lim.max_pdf_pages,
        convert_timeout=lim.convert_timeout_seconds,
    )


def ack_settings(config: Config) -> AckSettings:
    s = config.settings
    ours = {s.smtp.from_address.lower(), config.form.mailbox.lower()}
    return AckSettings(
        policy=s.acknowledgements.policy,
        from_address=s.smtp.from_address,
        from_name=s.smtp.from_name,
        our_addresses=frozenset(ours),
        loop_header=s.acknowledgements.loop_header,
        per_recipient_daily=s.acknowledgements.per_recipient_daily,
        per_cycle=s.acknowledgements.per_cycle,
        subject=s.acknowledgements.subject or None,
        templates_dir=str(config.path(s.acknowledgements.templates)) if s.acknowledgements.templates else None,
        contact=s.acknowledgements.contact,
    )


def open_mail_source(config: Config) -> MailSource:
    m = config.settings.mailbox
    return open_source(
        config.mailbox_url,
        Config.secret("mailbox"),
        processed_folder=m.processed_folder,
        tls=m.tls or None,
        ca_file=str(config.path(m.ca_file)) if m.ca_file else None,
        timeout=m.timeout_seconds,
        token_source=config.token_source("mailbox"),
    )


def open_mail_delivery(config: Config) -> Delivery:
    s = config.settings.smtp
    return open_delivery(
        config.smtp_url,
        password=Config.secret("smtp"),
        tls=s.tls or None,
        ca_file=str(config.path(s.ca_file)) if s.ca_file else None,
        timeout=s.timeout_seconds,
        token_source=config.token_source("smtp"),
    )


def run_cycle(
    config: Config,
    engine: Engine,
    *,
    stop: threading.Event | None = None,
    read_one: ReadOne | None = None,
    progress: Progress | None = None,
    lock_wait_seconds: float | None = None,
    campaign_cache: CampaignCache | None = None,
) -> CycleResult:
    """Run one complete cycle and record it; never raises for a mailbox, message or SMTP failure.

    Raises `DatabaseUnavailable` when the cycle cannot even be recorded, and `AnotherWorkerRunning`
    (SQLite) when another process holds the database for longer than `lock_wait_seconds`.
    `campaign_cache` (the serve loop's, kept across cycles) lets the e-mailed report's campaign
    search read only the responses filed since the last; without it the search reads them all.
    """
    stop = stop or threading.Event()
    deadline = config.settings.schedule.cycle_deadline_seconds
    wait = deadline if lock_wait_seconds is None else lock_wait_seconds
    with exclusive_cycle(engine, wait_seconds=wait), CycleGuard(stop, deadline) as guard:
        result = CycleResult(cycle_id=_start_cycle(engine))
        source: MailSource | None = None
        try:
            with _read_ahead(config, read_one) as ahead:
                source = _store_step(config, engine, result, progress, guard, ahead)
                if not guard.should_stop():
                    with _sending_meanwhile(config, engine, guard, _sent_copy(config, source)) as result.sent:
                        _file_step(config, engine, result, read_one, guard, ahead)
            if not guard.should_stop():
                _send_step(config, engine, source, result, guard)
            if config.settings.report.email_to and (result.stored.stored or result.filed.processed):
                _mail_report(config, engine, campaign_cache)
            if guard.should_stop():
                result.errors.append(f"cycle: {guard.why()}; what is left waits for the next cycle")
        finally:
            if source is not None:
                source.close()
            _record_cycle(engine, result)
    return result


def _start_cycle(engine: Engine) -> int | None:
    """Record the cycle as running (and mark cycles of workers that died as interrupted)."""
    try:
        with Session(engine) as session:
            for stale in session.exec(select(Cycle).where(Cycle.status == "running")).all():
                if is_gone(stale.worker):
                    stale.status, stale.finished_at = "interrupted", utcnow()
                    stale.error = "the process running it stopped before the cycle ended"
                    session.add(stale)
            cycle = Cycle(worker=worker_id())
            session.add(cycle)
            session.commit()
            return cycle.id
    except SQLAlchemyError as err:
        raise database_unavailable(err, "starting a cycle") from err


def _system_fault(result: CycleResult, step: str, err: BaseException) -> None:
    """One clear line for a fault of the system; the work waits for a later cycle."""
    log.error("%s: %s; the work waits for the next cycle", step, err)
    result.errors.append(f"{step}: {err}")


def _store_step(
    config: Config,
    engine: Engine,
    result: CycleResult,
    progress: Progress | None,
    guard: CycleGuard,
    ahead: ReadAhead | None,
) -> MailSource | None:
    """Store the new mail; with `ahead`, what is committed starts being read meanwhile."""
    m = config.settings.mailbox
    logins = LoginBackoff(engine, "mailbox-login", dt.timedelta(seconds=config.settings.schedule.interval_seconds))
    source: MailSource | None = None
    try:
        if _backing_off(logins, "mailbox", result):
            return None
        source = open_mail_source(config)
        guard.on_trip(source.abort)
        with mailbox_poll_lock(engine, config.mailbox_url) as polling:
            if not polling:
                log.debug("another worker is polling the mailbox; filing and sending only")
                return source
            with ahead.while_storing() if ahead else contextlib.nullcontext():
                result.stored = store_new(
                    source,
                    engine,
                    cycle_id=result.cycle_id,
                    batch_size=m.batch_size,
                    max_message_bytes=int(config.settings.limits.max_message_mb * 1_000_000),
                    progress=_reading_as_stored(progress, ahead, engine),
                    stop_requested=guard.should_stop,
                )
                if ahead is not None:
                    ahead.fill(engine, 0)  # the last few, before conversions may start
        logins.succeeded()
        return source
    except CredentialError as err:
        retry_at = logins.refused(str(err))
        _system_fault(result, "mailbox", f"{err} (next attempt after {retry_at:%H:%M:%S} UTC)")
    except TransientError as err:
        _system_fault(result, "mailbox", err)
    except DatabaseUnavailable as err:
        _system_fault(result, "database", err)
    except SQLAlchemyError as err:
        _system_fault(result, "database", database_unavailable(err, "polling"))
    if source is not None:
        source.close()  # failed this cycle: hang up now rather than keep the socket to the end
    return None


def _backing_off(logins: LoginBackoff, step: str, result: CycleResult) -> bool:
    """True (and said once) while a refused login waits for its next allowed attempt."""
    retry_at = logins.waiting_until()
    if retry_at is None:
        return False
    _system_fault(result, step, f"login refused before; next attempt after {retry_at:%Y-%m-%d %H:%M:%S} UTC")
    return True


def _read_ahead(config: Config, read_one: ReadOne | None) -> contextlib.AbstractContextManager[ReadAhead | None]:
    """The cycle's readers on every core, or none when a reader is given (one message at a time)."""
    return contextlib.nullcontext() if read_one else sandboxed_read_ahead(config)


def _reading_as_stored(progress: Progress | None, ahead: ReadAhead | None, engine: Engine) -> Progress | None:
    """Start reading what the store step has committed while it stores the rest.

    Storing runs on one core; without this the readers, and the other core, waited for the whole
    store step (3 s for 300 messages from IMAP into PostgreSQL).
    """
    if ahead is None:
        return progress

    def stored(count: int) -> None:
        if progress is not None:
            progress(count)
        if count % READ_WHILE_STORING_EVERY == 0:
            ahead.fill(engine, 0)

    return stored


def _file_step(
    config: Config,
    engine: Engine,
    result: CycleResult,
    read_one: ReadOne | None,
    guard: CycleGuard,
    ahead: ReadAhead | None,
) -> None:
    try:
        file_stored(
            engine,
            config.form,
            read_one or sandboxed_reader(config),
            parse_limits(config),
            ack_settings(config),
            read_mail=parse_mail if read_one else sandboxed_mail_reader(config),
            stop_requested=guard.should_stop,
            counts=result.filed,
            ahead=ahead,
        )
    except ReaderInterrupted as err:
        _system_fault(result, "filing", f"{err}: the message in hand will be read again")
    except BaseException as err:
        if not is_system_fault(err) or isinstance(err, KeyboardInterrupt | SystemExit):
            raise
        _system_fault(result, "database" if isinstance(err, DatabaseUnavailable) else "filing", err)


@contextlib.contextmanager
def _sending_meanwhile(
    config: Config, engine: Engine, guard: CycleGuard, sent_copy: tuple[MailSource, str] | None
) -> Iterator[SendCounts]:
    """Send the acknowledgements of the messages already filed while the rest are being filed.

    Filing a backlog leaves the main thread waiting on the readers part of the time, and the send
    step used to start only after the last message, on one core. A second thread now sends what
    each committed message queued, pass after pass, until the filing step ends; the send step then
    sends the rest and reports. Each pass copies what it sent to Sent: the mail source is free,
    since the store step that used it has ended and the send step starts after this thread. A pass
    that finds the server down or refusing our login stops here, and the send step reports that
    without trying the server again.
    """
    counts = SendCounts()
    filing_done = threading.Event()
    smtp_logins = LoginBackoff(engine, "smtp-login", dt.timedelta(seconds=config.settings.schedule.interval_seconds))

    def send_passes() -> None:
        try:
            if smtp_logins.waiting_until() is not None:
                return  # the send step says why
            delivery = open_mail_delivery(config)
            guard.on_trip(delivery.abort)
            while not filing_done.is_set() and not guard.should_stop():
                counts.add(deliver_acknowledgements(config, engine, guard, sent_copy=sent_copy, delivery=delivery))
                if counts.down or counts.login_refused:
                    return
                filing_done.wait(SEND_MEANWHILE_POLL_SECONDS)
        except Exception as err:  # noqa: BLE001 - the send step runs next and reports what is wrong
            log.info("sending while filing stopped (%s); the send step goes on", type(err).__name__)

    thread = threading.Thread(target=send_passes, name="send-meanwhile", daemon=True)
    thread.start()
    try:
        yield counts
    finally:
        filing_done.set()
        thread.join()


def _send_step(
    config: Config, engine: Engine, source: MailSource | None, result: CycleResult, guard: CycleGuard
) -> None:
    """Send what is left after filing (`_sending_meanwhile` sent the rest) and report the whole."""
    s = config.settings
    copy = _sent_copy(config, source)
    logins = LoginBackoff(engine, "smtp-login", dt.timedelta(seconds=s.schedule.interval_seconds))
    try:
        if _backing_off(logins, "smtp", result):
            return
        if result.sent.login_refused is None and result.sent.down is None:
            result.sent.add(deliver_acknowledgements(config, engine, guard, sent_copy=copy))
        elif copy is not None:
            copy_to_sent(engine, *copy, stop_requested=guard.should_stop)
        if result.sent.login_refused:
            retry_at = logins.refused(result.sent.login_refused)
            _system_fault(result, "smtp", f"{result.sent.login_refused} (next attempt after {retry_at:%H:%M:%S} UTC)")
            return
        if result.sent.sent:
            logins.succeeded()
    except DatabaseUnavailable as err:
        _system_fault(result, "database", err)
        return
    except IntakeError as err:
        _system_fault(result, "smtp", err)
        return
    if result.sent.down:
        _system_fault(result, "smtp", f"{result.sent.down} (acknowledgements wait, with backoff)")


def _sent_copy(config: Config, source: MailSource | None) -> tuple[MailSource, str] | None:
    """Where copies of the acknowledgements go (the mailbox's Sent folder), if anywhere."""
    s = config.settings
    if s.acknowledgements.sent_copy and s.mailbox.sent_folder and source is not None:
        return (source, s.mailbox.sent_folder)
    return None


def deliver_acknowledgements(
    config: Config,
    engine: Engine,
    guard: CycleGuard,
    *,
    sent_copy: tuple[MailSource, str] | None = None,
    ignore_schedule: bool = False,
    delivery: Delivery | None = None,
) -> SendCounts:
    """Send the due acknowledgements through the configured delivery, under the guard's deadline."""
    s = config.settings
    if delivery is None:
        delivery = open_mail_delivery(config)
        guard.on_trip(delivery.abort)
    return send_pending(
        engine,
        delivery,
        envelope_from=s.smtp.from_address,
        max_attempts=s.acknowledgements.max_attempts,
        retry_base=dt.timedelta(seconds=s.acknowledgements.retry_base_seconds),
        sent_copy=sent_copy,
        ignore_schedule=ignore_schedule,
        stop_requested=guard.should_stop,
    )


def _mail_report(config: Config, engine: Engine, campaign_cache: CampaignCache | None) -> None:
    from ingest.report_mail import send_report

    try:
        delivery = open_mail_delivery(config)
        send_report(
            engine,
            delivery,
            form=config.form,
            from_address=config.settings.smtp.from_address,
            to=list(config.settings.report.email_to),
            interval_seconds=config.settings.schedule.interval_seconds,
            campaign_cache=campaign_cache,
        )
    except (IntakeError, SQLAlchemyError, OSError) as err:
        log.warning("report not e-mailed: %s", err)


def _record_cycle(engine: Engine, result: CycleResult) -> None:
    """Close the cycle's record; with the database gone, the next cycle marks it interrupted."""
    try:
        with Session(engine) as session:
            cycle = session.get(Cycle, result.cycle_id)
            if cycle is None:
                return
            cycle.finished_at = utcnow()
            cycle.status = "completed" if result.completed else "failed"
            cycle.error = "; ".join(result.errors)[:4000] or None
            cycle.counts = result.as_counts()
            session.add(cycle)
            session.commit()
    except SQLAlchemyError as err:
        log.error("could not record the end of cycle %s: %s", result.cycle_id, database_unavailable(err, "closing"))
