"""The campaigns of one view of the report, kept up to date between the service's reports.

After every cycle that changed something the service e-mails the report, and a full campaign
search reads and compares every response's words (store/campaigns.py): its cost would grow with
the history, not with the new mail. `CampaignCache` keeps one `CampaignIndex` for the life of the
serving process and, at each report, adds only the responses filed since: those whose primary key
is above the highest it holds, read through the key's index. The campaigns are what a full build
over the database would find at that moment. `intake report`, `intake run` and the web view build
in full each time, as before.

What forces a rebuild from scratch (a full build, as the first call does):

- The audit table moved: its row count or its highest id. A filed response's words change only
  through a correction (store/review.py `apply_corrections`, from `intake review` and the web
  view: comments, letter text, the confidential flag, the respondent's name, organisation,
  address and e-mail), which writes one audit row per changed field, or an erasure
  (store/erasure.py), which writes one per response it erases. The count as well as the highest
  id, because on PostgreSQL an id is taken before the commit, so a row can land below one already
  seen.
- The view's responses in the database are not as many as the index holds once the new ones are
  added: a response committed out of id order (another worker's transaction took its id earlier
  and committed later), or one deleted (no code path deletes responses today).
- For a view without personal data (`personal=False`) only: the number of erased messages moved.
  An erasure blanks the sender of every message it erases, and the published redaction of a
  response's words uses its message's sender (store/published.py); but it writes audit rows only
  for the responses it names, so an erasure that names none (`plan_for_person` for someone whose
  only trace is a message they sent carrying another person's response) changes that response's
  published words with no audit row. (Retention also blanks senders, only of failed and junk
  messages, which hold no responses.) The service's own report has personal data and never
  reads the sender.

Nothing else in the code changes what the records hold (a filed response's reference, position,
answers, letter text, confidential flag and respondent fields). A change made by hand in the
database is not seen until a rebuild. The cache belongs to one thread: the serve loop, whose
cycles never overlap. It holds the index's texts and an index of all their words (bench/report.py
measures the memory).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, func, select

from parsers.formdef import FormDefinition
from store.campaigns import Campaign, CampaignIndex, Position
from store.figures import campaign_records, response_count
from store.models import AuditEntry, Message

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Marks:
    """What is compared between refreshes to tell that stored words may have changed."""

    audit_rows: int
    last_audit: int | None
    erased_messages: int | None  # read only for a view without personal data


@dataclass(frozen=True)
class Refresh:
    """What one `campaigns` call did: how many responses it read, and why it rebuilt (None: it added)."""

    read: int
    rebuilt: str | None


class CampaignCache:
    """One view's campaign index (`published`, `personal` as in `campaign_records`) and its watermarks."""

    def __init__(self, form: FormDefinition, *, published: bool = False, personal: bool = True) -> None:
        self.form, self.published, self.personal = form, published, personal
        self.last: Refresh | None = None
        self._index: CampaignIndex | None = None
        self._marks: Marks | None = None
        self._last_id = 0  # the highest primary key the index holds
        self._included = 0  # how many responses it holds

    def campaigns(self, session: Session) -> list[Campaign]:
        """The view's campaigns now: the new responses added, or everything read again when needed."""
        try:
            return self._refresh(session)
        except BaseException:
            self._index = None  # half done: the next call starts again
            raise

    def _refresh(self, session: Session) -> list[Campaign]:
        marks = self._read_marks(session)  # before the responses: a change after this is seen next time
        why = self._why_rebuild(marks)
        read = 0
        if why is None:
            read = self._add_new(session)
            if response_count(session, published=self.published) != self._included:
                why = "responses committed out of id order, or removed"
        if why is None:
            log.info("campaign search: added %d new response(s)", read)
        else:
            rebuilt = self._rebuild(session)
            log.info("campaign search: rebuilt from %d response(s) (%s)", rebuilt, why)
            read += rebuilt
        self._marks = marks
        self.last = Refresh(read, why)
        assert self._index is not None
        return self._index.campaigns()

    def _read_marks(self, session: Session) -> Marks:
        rows, last = session.exec(select(func.count(), func.max(col(AuditEntry.id))).select_from(AuditEntry)).one()
        erased = None
        if not self.personal:
            query = select(func.count()).select_from(Message).where(col(Message.erased_at).is_not(None))
            erased = session.exec(query).one()
        return Marks(rows, last, erased)

    def _why_rebuild(self, marks: Marks) -> str | None:
        if self._index is None or self._marks is None:
            return "first build" if self.last is None else "the last refresh did not finish"
        if (marks.audit_rows, marks.last_audit) != (self._marks.audit_rows, self._marks.last_audit):
            return "corrections or erasures since the last refresh"
        if marks.erased_messages != self._marks.erased_messages:
            return "messages erased since the last refresh"
        return None

    def _records(self, session: Session, after_id: int | None = None) -> Iterator[dict[str, Any]]:
        return campaign_records(session, self.form, published=self.published, personal=self.personal, after_id=after_id)

    def _add_new(self, session: Session) -> int:
        assert self._index is not None
        added = 0
        for record in self._records(session, after_id=self._last_id):
            self._index.add(record["position"], record)
            self._note(record)
            added += 1
        return added

    def _rebuild(self, session: Session) -> int:
        self._index, self._last_id, self._included = None, 0, 0
        self._index = CampaignIndex.build(self._positioned(self._records(session)), for_additions=True)
        return self._included

    def _positioned(self, records: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Position, Mapping[str, Any]]]:
        for record in records:
            self._note(record)
            yield record["position"], record

    def _note(self, record: Mapping[str, Any]) -> None:
        self._last_id = max(self._last_id, record["response_pk"])
        self._included += 1
