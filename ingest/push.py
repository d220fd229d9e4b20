"""New mail now, not at the next poll: IMAP IDLE (RFC 2177) on the inbox, or a short Maildir poll.

`intake serve` runs one watcher thread beside its cycles. The watcher only *wakes* the serve loop
(an `Event`); the cycle then opens its own connection as always, so the cycle's one connection
for poll, moves and Sent copies stays as it is and the watcher never reads or moves mail.

The IDLE connection is re-issued every `idle_renew_seconds` (servers drop an IDLE after 29
minutes, RFC 2177; NAT boxes sooner). A dropped connection is said once at WARNING and reconnected
with a growing wait (1, 2, 4 … s, at most `MAX_RECONNECT_WAIT`); a mailbox login that is backing
off (ingest/backoff.py) is respected, so the watcher never adds refused logins of its own. The
schedule stays the fallback: if IDLE is missing or down, the cycles still poll.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import Engine

from ingest.backoff import LoginBackoff
from ingest.errors import CredentialError, DatabaseUnavailable, TransientError
from ingest.sources import ImapSource, MaildirSource, MailSource

log = logging.getLogger(__name__)

MAX_RECONNECT_WAIT = 300.0
CHECK_SECONDS = 30.0  # longest single wait in IDLE; a silent early return is checked with DONE


class ConnectionDropped(Exception):
    """The server ended the IDLE connection (BYE, or the socket closed)."""


class ImapIdleWatcher:
    """Waits in IDLE on the source folder and calls `on_new_mail` when the server reports mail."""

    def __init__(
        self,
        open_source: Callable[[], MailSource],
        on_new_mail: Callable[[], None],
        stop: threading.Event,
        *,
        logins: LoginBackoff,
        renew_seconds: float = 600.0,
        first_wait: float = 1.0,
    ) -> None:
        self.open_source, self.on_new_mail, self.stop = open_source, on_new_mail, stop
        self.logins, self.renew_seconds, self.first_wait = logins, renew_seconds, first_wait
        self.connections = 0  # IDLE sessions established, for tests and the log
        self._source: ImapSource | None = None
        self._down, self._wait = False, first_wait

    def run(self) -> None:
        """Thread body: connect, IDLE, reconnect after a drop, until `stop` is set."""
        while not self.stop.is_set():
            try:
                if self._login_backing_off():
                    continue
                if not self._watch_once():
                    return  # no IDLE on this server: the schedule polls
            except (TransientError, CredentialError, ConnectionDropped, IMAPClientError, OSError) as err:
                if self.stop.is_set():
                    return
                self._dropped(err)
            except DatabaseUnavailable as err:  # the cycles say so; check again later
                log.debug("new-mail watch: %s", err)
                self.stop.wait(MAX_RECONNECT_WAIT)
            except Exception as err:  # e.g. a ConfigError the cycles report too: the schedule polls
                log.error("new-mail watch stopped: %s; new mail is seen at each scheduled poll", err)
                return

    def _dropped(self, err: Exception) -> None:
        """One WARNING for the first failure of a run of them; then wait longer each time."""
        if isinstance(err, CredentialError):
            self.logins.refused(str(err))
        if not self._down:
            log.warning("new-mail watch (IDLE) lost: %s; reconnecting with back-off, polling meanwhile", err)
        self._down = True
        self.stop.wait(self._wait)
        self._wait = min(self._wait * 2, MAX_RECONNECT_WAIT)

    def abort(self) -> None:
        """From another thread (SIGTERM): break off the IDLE wait at once."""
        source = self._source
        if source is not None:
            source.abort()

    def _login_backing_off(self) -> bool:
        retry_at = self.logins.waiting_until()
        if retry_at is None:
            return False
        self.stop.wait(max((retry_at - dt.datetime.now(dt.UTC)).total_seconds(), 1.0))
        return True

    def _watch_once(self) -> bool:
        """One IDLE connection, until `stop` or a drop; False when the server has no IDLE."""
        source = self.open_source()
        if not isinstance(source, ImapSource):
            raise TypeError("IMAP IDLE needs an IMAP source")
        self._source = source
        try:
            if self.stop.is_set():
                return True
            client = source.watch_connection()
            if client is None:
                log.info("the IMAP server offers no IDLE: new mail is seen at each scheduled poll")
                return False
            self.logins.succeeded()
            self.connections += 1
            if self._down:
                log.info("new-mail watch (IDLE) re-established")
                self._down, self._wait = False, self.first_wait
                self.on_new_mail()  # mail that came while it was down
            elif self.connections == 1:
                log.info("new-mail watch: waiting in IMAP IDLE")
            self._idle(client)
            return True
        finally:
            self._source = None
            source.close()

    def _idle(self, client: IMAPClient) -> None:
        """IDLE until `stop`, re-issued every `renew_seconds` on the same connection."""
        while not self.stop.is_set():
            self._idle_until(client, time.monotonic() + self.renew_seconds)

    def _idle_until(self, client: IMAPClient, renew_at: float) -> None:
        client.idle()
        try:
            while not self.stop.is_set() and time.monotonic() < renew_at:
                timeout = min(CHECK_SECONDS, max(renew_at - time.monotonic(), 0.1))
                started = time.monotonic()
                responses = client.idle_check(timeout=timeout)
                if any(r[0] == b"BYE" for r in responses):
                    raise ConnectionDropped(f"the server said BYE: {_text(responses)}")
                if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
                    log.debug("new mail reported in IDLE")
                    self.on_new_mail()
                elif not responses and time.monotonic() - started < timeout / 2:
                    # Woken with nothing to read: the socket may have closed (imapclient swallows
                    # EOF). DONE finds out: a live server answers it, a dead one raises.
                    client.idle_done()
                    client.idle()
        finally:
            with contextlib.suppress(IMAPClientError, OSError):
                if not self.stop.is_set():
                    client.idle_done()


def _text(responses: list) -> str:
    return " ".join(repr(r) for r in responses)[:200]


class MaildirWatcher:
    """A short poll of a Maildir's new/ and cur/: wakes the serve loop when a file name appears."""

    def __init__(self, path: Path, on_new_mail: Callable[[], None], stop: threading.Event, every: float) -> None:
        self.path, self.on_new_mail, self.stop, self.every = path, on_new_mail, stop, every

    def names(self) -> set[str]:
        found: set[str] = set()
        for sub in ("new", "cur"):
            with contextlib.suppress(FileNotFoundError):
                found.update(entry.name for entry in os.scandir(self.path / sub))
        return found

    def run(self) -> None:
        seen = self.names()
        while not self.stop.wait(self.every):
            now = self.names()
            if now - seen:
                self.on_new_mail()
            seen = now

    def abort(self) -> None:
        """Nothing to break off: the wait ends with `stop`."""


def make_watcher(
    source: MailSource,
    open_source: Callable[[], MailSource],
    on_new_mail: Callable[[], None],
    stop: threading.Event,
    *,
    engine: Engine,
    renew_seconds: float,
    maildir_every: float,
    login_base: dt.timedelta,
) -> ImapIdleWatcher | MaildirWatcher:
    """The watcher for this kind of source (`source` only tells which kind; it is not used)."""
    if isinstance(source, MaildirSource):
        return MaildirWatcher(source.path, on_new_mail, stop, maildir_every)
    logins = LoginBackoff(engine, "mailbox-login", login_base)
    return ImapIdleWatcher(open_source, on_new_mail, stop, logins=logins, renew_seconds=renew_seconds)
