"""After a cycle that changed something, e-mail the staff report to the addresses in config.

The report is internal (it names respondents), so it goes only to the configured staff addresses,
as plain text with the full HTML report attached. A failure to send is logged and never fails the
cycle: the report can always be made again with `intake report`.
"""

from __future__ import annotations

import datetime as dt
import logging
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import Engine
from sqlmodel import Session

from ingest.delivery import Delivery, wire_bytes
from parsers.formdef import FormDefinition
from store.campaign_cache import CampaignCache
from store.personal import redact_emails
from store.report_html import render_report
from store.summary import render_text, summarise

log = logging.getLogger(__name__)


def compose_report_mail(
    *, from_address: str, to: list[str], form: FormDefinition, text: str, html: str, now: dt.datetime
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = from_address
    msg["To"] = ", ".join(to)
    msg["Subject"] = f"Consultation intake report: {form.reference_prefix} {now:%Y-%m-%d %H:%M} UTC"
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2])
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    msg.add_attachment(html.encode("utf-8"), maintype="text", subtype="html", filename="intake-report.html")
    return msg


def send_report(
    engine: Engine,
    delivery: Delivery,
    *,
    form: FormDefinition,
    from_address: str,
    to: list[str],
    interval_seconds: int,
    campaign_cache: CampaignCache | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Render and send the report; True when the server took it.

    `campaign_cache` is the serving process's (store/campaign_cache.py): the campaign search then
    reads only the responses filed since the last report, and finds what a full search would.
    """
    now = now or dt.datetime.now(dt.UTC)
    with Session(engine) as session:
        text = render_text(summarise(session, form))
        html = render_report(session, form, interval_seconds=interval_seconds, now=now, campaign_cache=campaign_cache)
    msg = compose_report_mail(from_address=from_address, to=to, form=form, text=text, html=html, now=now)
    try:
        delivery.send(wire_bytes(msg), from_address, to)
    except Exception as err:  # the report is a convenience; the cycle's work is done and recorded
        log.warning("could not e-mail the report to %d address(es): %s", len(to), redact_emails(str(err)))
        log.debug("report recipients: %s", ", ".join(to))
        return False
    log.info("e-mailed the report to %d address(es)", len(to))
    log.debug("report recipients: %s", ", ".join(to))
    return True
