"""One intake cycle: store new mail, file what it holds, send acknowledgements.

Nested error boundaries (STYLE.md point 3): the cycle catches per step, the filing step per
message. A mailbox that cannot be reached still lets stored messages be filed and pending
acknowledgements be sent; an SMTP server that is down leaves them pending for the next cycle.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlmodel import Session

from ingest.config import Config
from ingest.delivery import Delivery, open_delivery
from ingest.errors import CredentialError, IntakeError, TransientError
from ingest.filing import AckSettings, FilingCounts, file_stored
from ingest.sending import SendCounts, send_pending
from ingest.sources import MailSource, open_source
from ingest.storing import Progress, StoreCounts, store_new
from parsers.attachments import AttachmentJob, read_attachment
from parsers.message import Limits, ReadOne
from parsers.model import Reading
from parsers.sandbox import preload_modules, run_sandboxed
from store.models import Cycle, utcnow

log = logging.getLogger(__name__)

preload_modules(["parsers.attachments"])
CONVERTED = frozenset({"doc", "odt", "rtf"})


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


def sandboxed_reader(config: Config) -> ReadOne:
    """Read each attachment in a child process under the configured time and memory limits."""
    limits = config.settings.limits

    def read(job: AttachmentJob, data: bytes) -> Reading:
        return run_sandboxed(
            functools.partial(read_attachment, job),
            data,
            timeout=limits.parse_timeout_seconds + (limits.convert_timeout_seconds if job.kind in CONVERTED else 0),
            memory_bytes=limits.parse_memory_mb * 1_000_000,
        )

    return read


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
    )


def open_mail_delivery(config: Config) -> Delivery:
    s = config.settings.smtp
    return open_delivery(
        config.smtp_url,
        password=Config.secret("smtp"),
        tls=s.tls or None,
        ca_file=str(config.path(s.ca_file)) if s.ca_file else None,
        timeout=s.timeout_seconds,
    )


def run_cycle(
    config: Config,
    engine: Engine,
    *,
    stop: threading.Event | None = None,
    read_one: ReadOne | None = None,
    progress: Progress | None = None,
) -> CycleResult:
    """Run one complete cycle and record it; never raises for a mailbox, message or SMTP failure."""
    stop = stop or threading.Event()
    result = CycleResult()
    with Session(engine) as session:
        cycle = Cycle()
        session.add(cycle)
        session.commit()
        result.cycle_id = cycle.id
    source = _store_step(config, engine, result, progress, stop)
    try:
        if not stop.is_set():
            result.filed = file_stored(
                engine,
                config.form,
                read_one or sandboxed_reader(config),
                parse_limits(config),
                ack_settings(config),
                stop_requested=stop.is_set,
            )
        if not stop.is_set():
            _send_step(config, engine, source, result)
        if config.settings.report.email_to and (result.stored.stored or result.filed.processed):
            _mail_report(config, engine)
    finally:
        if source is not None:
            source.close()
        _record_cycle(engine, result)
    return result


def _store_step(
    config: Config, engine: Engine, result: CycleResult, progress: Progress | None, stop: threading.Event
) -> MailSource | None:
    m = config.settings.mailbox
    try:
        source = open_mail_source(config)
    except (TransientError, CredentialError) as err:
        log.error("mailbox unreachable: %s", err)
        result.errors.append(f"mailbox: {err}")
        return None
    try:
        result.stored = store_new(
            source,
            engine,
            cycle_id=result.cycle_id,
            batch_size=m.batch_size,
            max_message_bytes=int(config.settings.limits.max_message_mb * 1_000_000),
            progress=progress,
            stop_requested=stop.is_set,
        )
    except IntakeError as err:
        log.error("mailbox failed during the poll: %s", err)
        result.errors.append(f"mailbox: {err}")
    return source


def _send_step(config: Config, engine: Engine, source: MailSource | None, result: CycleResult) -> None:
    s = config.settings
    copy = None
    if s.acknowledgements.sent_copy and s.mailbox.sent_folder and source is not None:
        copy = (source, s.mailbox.sent_folder)
    try:
        delivery = open_mail_delivery(config)
        result.sent = send_pending(
            engine,
            delivery,
            envelope_from=s.smtp.from_address,
            max_attempts=s.acknowledgements.max_attempts,
            sent_copy=copy,
        )
    except IntakeError as err:
        log.warning("acknowledgements not sent this cycle: %s", err)


def _mail_report(config: Config, engine: Engine) -> None:
    from ingest.report_mail import send_report

    try:
        delivery = open_mail_delivery(config)
    except IntakeError as err:
        log.warning("report not e-mailed: %s", err)
        return
    send_report(
        engine,
        delivery,
        form=config.form,
        from_address=config.settings.smtp.from_address,
        to=list(config.settings.report.email_to),
        interval_seconds=config.settings.schedule.interval_seconds,
    )


def _record_cycle(engine: Engine, result: CycleResult) -> None:
    with Session(engine) as session:
        cycle = session.get(Cycle, result.cycle_id)
        if cycle is None:
            return
        cycle.finished_at = utcnow()
        cycle.status = "completed" if result.completed else "failed"
        cycle.error = "; ".join(result.errors) or None
        cycle.counts = result.as_counts()
        session.add(cycle)
        session.commit()
