"""Mailbox sources: where raw messages come from and where they go once filed.

One small class per kind of mailbox (IMAP, Maildir) over the `MailSource` protocol. A source
never decides what is new on its own: the caller passes ``is_stored(key)`` so idempotence lives in
the store, and the server-side move happens only in `mark_processed`, which the caller invokes
after its local commit. The decisions (which UIDs to download, folder names, URL parsing) are pure
functions so they can be tested without a server.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError
from imapclient.imap4 import IMAP4WithTimeout
from imapclient.tls import IMAP4_TLS

from ingest.errors import ConfigError, CredentialError, IntakeError, MessageError, TransientError
from ingest.oauth import TokenSource

log = logging.getLogger(__name__)

T = TypeVar("T")
TLS_MODES = ("ssl", "starttls", "none")


@dataclass(frozen=True)
class FetchedMessage:
    """One message exactly as the server holds it, with its stable identity in the source."""

    key: str
    raw: bytes
    internal_date: datetime | None


class MailSource(Protocol):
    def fetch_new(self, is_stored: Callable[[str], bool], batch_size: int = 50) -> Iterator[FetchedMessage]:
        """Yield messages whose key is not stored yet; re-file the stored ones left behind."""
        ...

    def mark_processed(self, key: str) -> None:
        """Move the message to the processed folder; call only after the local commit."""
        ...

    def mark_processed_many(self, keys: Sequence[str]) -> None:
        """Move several messages at once (one command per folder on IMAP)."""
        ...

    def append(self, folder: str, raw: bytes) -> None:
        """Store a message in a folder, e.g. a copy of an acknowledgement in "Sent"."""
        ...

    def append_once(self, folder: str, raw: bytes, message_id: str, *, may_exist: bool = True) -> None:
        """`append`, unless the folder already holds a message with this Message-ID.

        `may_exist=False`: the caller knows no copy was ever tried, so the folder is not searched
        (on IMAP a search whose cost grows with the folder); the copy is still made so that a
        later `append_once` finds it.
        """
        ...

    def abort(self) -> None:
        """From another thread: break off a network operation that hangs (a deadline passed)."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class UidPlan:
    """What to do with the UIDs found in a folder: download the new, re-file the stored."""

    new: tuple[int, ...]
    already_stored: tuple[int, ...]


def imap_key(folder: str, uidvalidity: int, uid: int) -> str:
    return f"imap:{folder}:{uidvalidity}:{uid}"


def parse_imap_key(key: str) -> tuple[str, int, int]:
    """``imap:FOLDER:UIDVALIDITY:UID`` -> (folder, uidvalidity, uid); the folder may contain ':'."""
    scheme, _, rest = key.partition(":")
    folder, _, numbers = rest.rpartition(":")
    folder, _, uidvalidity = folder.rpartition(":")
    if scheme != "imap" or not folder or not uidvalidity.isdigit() or not numbers.isdigit():
        raise MessageError(f"not an IMAP message key: {key!r}")
    return folder, int(uidvalidity), int(numbers)


def select_new_uids(uids: Iterable[int], folder: str, uidvalidity: int, is_stored: Callable[[str], bool]) -> UidPlan:
    """Split a folder's UIDs (ascending) into those to download and those already stored."""
    new: list[int] = []
    stored: list[int] = []
    for uid in sorted(set(uids)):
        (stored if is_stored(imap_key(folder, uidvalidity, uid)) else new).append(uid)
    return UidPlan(tuple(new), tuple(stored))


def batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def server_folder_name(name: str, prefix: str, separator: str | None) -> str:
    """The server's name for a folder written with ``/`` in our config.

    ``Processed`` becomes ``INBOX.Processed`` on a Courier-style server (prefix ``INBOX.``,
    separator ``.``); INBOX itself and names already carrying the prefix are left alone.
    """
    name = name.strip("/")
    if name.upper() == "INBOX":
        return "INBOX"
    if separator:
        name = name.replace("/", separator)
    if prefix and not name.startswith(prefix):
        name = prefix + name
    return name


def backoff_delays(attempts: int, base_delay: float) -> list[float]:
    """Waits between ``attempts`` tries: base, 2*base, 4*base, ... (none after the last try)."""
    return [base_delay * 2**i for i in range(max(attempts - 1, 0))]


def connect_with_backoff(
    factory: Callable[[], T],
    attempts: int = 3,
    base_delay: float = 1.0,
    sleep: Callable[[float], object] = time.sleep,
) -> T:
    """Call ``factory`` until it succeeds, waiting longer after each `TransientError`.

    A `CredentialError` is not retried: hammering a server with a refused password gets the
    account locked. After the last try the last `TransientError` propagates.
    """
    delays = backoff_delays(attempts, base_delay)
    for attempt, delay in enumerate([*delays, None], start=1):
        try:
            return factory()
        except TransientError as err:
            if delay is None:
                raise
            log.warning("connection attempt %d/%d failed (%s); retrying in %.1f s", attempt, attempts, err, delay)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def tls_context(ca_file: str | os.PathLike | None) -> ssl.SSLContext:
    """A verifying context; ``ca_file`` replaces the system roots (a private CA)."""
    return ssl.create_default_context(cafile=os.fspath(ca_file) if ca_file else None)


# --------------------------------------------------------------------------- IMAP


class _WatchedIMAPClient(IMAPClient):
    """IMAPClient that reports its socket the moment it exists, before the server's greeting.

    A server that trickles its greeting holds the constructor for ever (each byte resets the read
    timeout); knowing the socket lets the cycle's watchdog shut it down from another thread.
    """

    def __init__(self, *args: object, on_socket: Callable[[socket.socket], None], **kwargs: object) -> None:
        self._on_socket = on_socket
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def _create_IMAP4(self):  # type: ignore[no-untyped-def]  # noqa: N802  (imapclient's name)
        on_socket = self._on_socket
        timeout = getattr(self._timeout, "connect", None)
        base = IMAP4_TLS if self.ssl else IMAP4WithTimeout

        class Watched(base):  # type: ignore[valid-type, misc]
            def _create_socket(self, timeout: float | None = None) -> socket.socket:
                sock = super()._create_socket(timeout)
                on_socket(sock)
                return sock

        if self.ssl:
            return Watched(self.host, self.port, self.ssl_context, timeout)
        return Watched(self.host, self.port, timeout)


class ImapSource:
    """An IMAP folder read incrementally by UIDVALIDITY and UID; filed messages move to a folder."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        folder: str = "INBOX",
        processed_folder: str = "Processed",
        tls: str = "ssl",
        ca_file: str | os.PathLike | None = None,
        timeout: float = 30.0,
        *,
        use_move: bool = True,
        connect_attempts: int = 3,
        retry_delay: float = 1.0,
        token_source: TokenSource | None = None,
    ) -> None:
        if tls not in TLS_MODES:
            raise ConfigError(f"tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        self.host, self.port, self.username = host, port, username
        self._password = password
        self.folder, self.processed_folder = folder, processed_folder
        self.tls, self.ca_file, self.timeout = tls, ca_file, timeout
        self.use_move = use_move
        self.connect_attempts, self.retry_delay = connect_attempts, retry_delay
        self.token_source = token_source  # XOAUTH2 instead of the password (ingest/oauth.py)
        self._client: IMAPClient | None = None
        self._socket: socket.socket | None = None  # known from the moment it connects
        self._aborted = False
        self._failure: IntakeError | None = None  # once the server failed, the source stays down
        # (server folder name, uidvalidity, read-only): the folder selected now, to select it once
        self._selected: tuple[str, int, bool] | None = None
        self._known_folders: set[str] = set()
        self._prefix, self._separator = "", "/"

    def __repr__(self) -> str:  # never shows the password
        return f"ImapSource({self.username}@{self.host}:{self.port}/{self.folder}, tls={self.tls})"

    def __enter__(self) -> ImapSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection

    def _open(self) -> IMAPClient:
        """One connection attempt: connect, secure, log in, learn the folder naming."""
        where = f"{self.host}:{self.port}"
        if self._aborted:
            raise TransientError(f"IMAP {where}: the cycle's network operations were broken off")
        try:
            client = _WatchedIMAPClient(
                self.host,
                port=self.port,
                ssl=self.tls == "ssl",
                timeout=self.timeout,
                ssl_context=tls_context(self.ca_file) if self.tls == "ssl" else None,
                on_socket=self._watch_socket,
            )
            if self.tls == "starttls":
                client.starttls(tls_context(self.ca_file))
        except ssl.SSLCertVerificationError as err:
            raise TransientError(f"TLS certificate of {where} not trusted: {err.verify_message}") from err
        except (OSError, IMAPClientError) as err:
            raise TransientError(f"cannot connect to IMAP server {where}: {err}") from err
        try:
            self._login(client)
            self._prefix, self._separator = self._read_naming(client)
        except LoginError as err:
            _shutdown_quietly(client)
            if self.token_source is not None:
                self.token_source.invalidate()  # revoked or expired early: the next login fetches anew
            raise CredentialError(f"IMAP login as {self.username} on {where} refused: {err}") from err
        except CredentialError:
            _shutdown_quietly(client)
            raise
        except (OSError, IMAPClientError) as err:
            _shutdown_quietly(client)
            raise TransientError(f"IMAP login on {where} failed: {err}") from err
        client.normalise_times = False  # keep INTERNALDATE's own time zone
        return client

    def _login(self, client: IMAPClient) -> None:
        if self.token_source is None:
            client.login(self.username, self._password)
        else:
            client.oauth2_login(self.username, self.token_source.access_token())

    @staticmethod
    def _read_naming(client: IMAPClient) -> tuple[str, str | None]:
        """The personal namespace's prefix and separator, from NAMESPACE or else LIST "" ""."""
        if client.has_capability("NAMESPACE"):
            personal = client.namespace().personal
            if personal:
                prefix, separator = personal[0]
                return prefix, separator
        listing = client.list_folders("", "")
        separator = listing[0][1] if listing else None
        return "", separator.decode() if isinstance(separator, bytes) else separator

    def _connection(self) -> IMAPClient:
        """The one connection of this source's life (a cycle): the poll, the moves and Sent copies.

        After a failure the source does not reconnect: every later call fails at once with the
        first error, so a silent or refusing server costs one timeout (or one login) a cycle.
        """
        if self._failure is not None:
            raise type(self._failure)(f"mailbox unavailable for the rest of this cycle: {self._failure}")
        if self._client is None:
            try:
                self._client = connect_with_backoff(self._open, self.connect_attempts, self.retry_delay)
            except (TransientError, CredentialError) as err:
                self._failure = err
                raise
            self._selected, self._known_folders = None, set()
        return self._client

    def _watch_socket(self, sock: socket.socket) -> None:
        self._socket = sock
        if self._aborted:
            _shut(sock)

    def abort(self) -> None:
        """Shut the socket down under a blocked read (even the greeting's); the reader fails at once."""
        self._aborted = True
        if self._socket is not None:
            _shut(self._socket)
        client = self._client
        if client is not None:
            with contextlib.suppress(OSError, AttributeError):
                _shut(client.socket())

    def _drop_connection(self) -> None:
        if self._client is not None:
            _shutdown_quietly(self._client)
        self._client, self._selected = None, None

    def close(self) -> None:
        """Log out politely, unless the server already failed this cycle (then just hang up)."""
        if self._client is not None and self._failure is None:
            with contextlib.suppress(OSError, IMAPClientError):
                self._client.logout()
        self._drop_connection()

    def _guarded(self, action: str, operation: Callable[[IMAPClient], T]) -> T:
        """Run one server operation; a broken connection is dropped and reported as transient."""
        client = self._connection()
        try:
            return operation(client)
        except (IMAPClientAbortError, OSError) as err:
            self._drop_connection()
            self._failure = TransientError(f"IMAP connection lost while {action}: {err or type(err).__name__}")
            raise self._failure from err
        except IMAPClientError as err:
            raise TransientError(f"IMAP server refused {action}: {err}") from err

    def watch_connection(self) -> IMAPClient | None:
        """This source's connection with its folder selected read-only, for IDLE (ingest/push.py).

        None when the server does not offer IDLE. Meant for a source of its own: the cycle's source
        keeps its one connection for the poll, the moves and the Sent copies.
        """
        client = self._connection()
        if not client.has_capability("IDLE"):
            return None
        name = server_folder_name(self.folder, self._prefix, self._separator)
        self._guarded("selecting the folder to watch", lambda c: c.select_folder(name, readonly=True))
        self._selected = None  # not one `_select` may reuse
        return client

    # -- folders

    def server_name(self, folder: str) -> str:
        """The server's name for one of our folder names (after connecting)."""
        self._connection()
        return server_folder_name(folder, self._prefix, self._separator)

    def _ensure_folder(self, client: IMAPClient, name: str) -> None:
        if name in self._known_folders:
            return
        if not client.folder_exists(name):
            log.info("creating IMAP folder %s", name)
            client.create_folder(name)
        self._known_folders.add(name)

    def _select(self, client: IMAPClient) -> tuple[str, int]:
        """Select the source folder read-write and return its name and UIDVALIDITY."""
        name = server_folder_name(self.folder, self._prefix, self._separator)
        if self._selected is None or self._selected[0] != name or self._selected[2]:
            status = client.select_folder(name)
            self._selected = (name, int(status[b"UIDVALIDITY"]), False)
        return self._selected[0], self._selected[1]

    # -- MailSource

    def fetch_new(self, is_stored: Callable[[str], bool], batch_size: int = 50) -> Iterator[FetchedMessage]:
        """Yield unseen-by-the-store messages in UID order, downloading ``batch_size`` at a time.

        Messages the store already has are not downloaded again; they are only moved to the
        processed folder, since their presence means an earlier run stopped before moving them.
        """
        folder, uidvalidity, plan = self._guarded("listing messages", lambda c: self._plan(c, is_stored))
        for uid in plan.already_stored:
            key = imap_key(folder, uidvalidity, uid)
            log.info("message %s already stored; moving it to %s", key, self.processed_folder)
            self.mark_processed(key)
        for chunk in batches(plan.new, batch_size):
            fetched = self._guarded("downloading messages", lambda c, chunk=chunk: self._fetch_batch(c, chunk))
            for uid in chunk:
                if uid in fetched:  # gone meanwhile (moved by someone else): skip
                    raw, internal_date = fetched[uid]
                    yield FetchedMessage(imap_key(folder, uidvalidity, uid), raw, internal_date)

    def _plan(self, client: IMAPClient, is_stored: Callable[[str], bool]) -> tuple[str, int, UidPlan]:
        self._selected = None  # select afresh each cycle: UIDVALIDITY may have changed
        folder, uidvalidity = self._select(client)
        uids = client.search("ALL")
        return folder, uidvalidity, select_new_uids(uids, folder, uidvalidity, is_stored)

    def _fetch_batch(self, client: IMAPClient, uids: Sequence[int]) -> dict[int, tuple[bytes, datetime | None]]:
        """Download bodies without setting \\Seen. Tests override this to count downloads."""
        response = client.fetch(list(uids), ["BODY.PEEK[]", "INTERNALDATE"])
        return {uid: (data[b"BODY[]"], data.get(b"INTERNALDATE")) for uid, data in response.items()}

    def mark_processed(self, key: str) -> None:
        """Move one message to the processed folder (MOVE, else COPY + \\Deleted + EXPUNGE).

        Moving a UID that is already gone is a no-op, so a repeated call is harmless. A key from
        another UIDVALIDITY is refused: its UID may now name a different message.
        """
        self.mark_processed_many([key])

    def mark_processed_many(self, keys: Sequence[str]) -> None:
        """Move a batch of messages with one MOVE (or COPY + EXPUNGE) per folder."""
        by_folder: dict[tuple[str, int], list[int]] = {}
        for key in keys:
            folder, uidvalidity, uid = parse_imap_key(key)
            by_folder.setdefault((folder, uidvalidity), []).append(uid)
        for (folder, uidvalidity), uids in by_folder.items():
            self._guarded("moving messages", lambda c, f=folder, v=uidvalidity, u=uids: self._move(c, f, v, u))

    def _move(self, client: IMAPClient, folder: str, uidvalidity: int, uids: list[int]) -> None:
        selected, current = self._select(client)
        if folder != selected or uidvalidity != current:
            raise MessageError(
                f"messages {folder}:{uidvalidity}:{uids[:3]} are not in the selected {selected}:{current}; not moved"
            )
        target = server_folder_name(self.processed_folder, self._prefix, self._separator)
        self._ensure_folder(client, target)
        if self.use_move and client.has_capability("MOVE"):
            client.move(uids, target)
        else:
            _copy_and_expunge(client, uids, target)

    def append(self, folder: str, raw: bytes) -> None:
        """Store ``raw`` as a read message in ``folder`` (created if missing)."""

        def _append(client: IMAPClient) -> None:
            name = server_folder_name(folder, self._prefix, self._separator)
            self._ensure_folder(client, name)
            client.append(name, raw, flags=[b"\\Seen"])

        self._guarded(f"appending to {folder}", _append)

    def append_once(self, folder: str, raw: bytes, message_id: str, *, may_exist: bool = True) -> None:
        """Append unless a message with this Message-ID is already there (a copy made before a crash).

        The search (SEARCH HEADER) reads every message of the folder, 0.3 ms with 100 and 12 ms with
        10,000 on Dovecot: it is made only when a copy may exist.
        """

        def _append(client: IMAPClient) -> None:
            name = server_folder_name(folder, self._prefix, self._separator)
            self._ensure_folder(client, name)
            if may_exist:
                if self._selected is None or self._selected[0] != name or not self._selected[2]:
                    status = client.select_folder(name, readonly=True)
                    self._selected = (name, int(status[b"UIDVALIDITY"]), True)
                if client.search(["HEADER", "Message-ID", message_id]):
                    return
            client.append(name, raw, flags=[b"\\Seen"])

        self._guarded(f"appending to {folder}", _append)


def _copy_and_expunge(client: IMAPClient, uids: list[int], target: str) -> None:
    """MOVE for servers without it; without UIDPLUS, EXPUNGE also removes others' \\Deleted mail."""
    client.copy(uids, target)
    client.add_flags(uids, [b"\\Deleted"])
    if client.has_capability("UIDPLUS"):
        client.uid_expunge(uids)
    else:
        client.expunge()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _shutdown_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, IMAPClientError):
        client.shutdown()


# --------------------------------------------------------------------------- Maildir


_counter = count()


def maildir_unique_name(now: float, pid: int, sequence: int, hostname: str) -> str:
    """A Maildir unique name ``SECONDS.MUSEC_PPID_QSEQ.HOST`` with '/' and ':' escaped as usual."""
    host = hostname.replace("/", r"\057").replace(":", r"\072")
    seconds = int(now)
    micros = int((now - seconds) * 1_000_000)
    return f"{seconds}.M{micros}P{pid}Q{sequence}.{host}"


def maildir_unique(filename: str) -> str:
    """The unique part of a Maildir file name, without the ``:2,FLAGS`` info suffix."""
    return filename.partition(":")[0]


def maildir_key(filename: str) -> str:
    return f"maildir:{maildir_unique(filename)}"


def maildir_subfolder(root: Path, folder: str) -> Path:
    """Maildir++: ``Sent`` is ``root/.Sent``, ``Archive/2008`` is ``root/.Archive.2008``; INBOX is root."""
    folder = folder.strip("/")
    if folder.upper() == "INBOX" or not folder:
        return root
    return root / ("." + folder.replace("/", "."))


def ensure_maildir(path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


class MaildirSource:
    """A local Maildir: messages in ``new/`` and ``cur/``, filed ones moved to ``.Processed``."""

    def __init__(self, path: str | os.PathLike, processed_folder: str = "Processed") -> None:
        self.path = ensure_maildir(Path(path))
        self.processed_folder = processed_folder
        self._listing: dict[str, Path] | None = None  # unique name -> file, from the poll's one listing
        self._copies: dict[Path, set[str]] = {}  # folder -> unique names in it, listed once a cycle

    def __repr__(self) -> str:
        return f"MaildirSource({self.path})"

    def _message_files(self) -> list[Path]:
        """Message files in new/ and cur/, oldest first (by modification time, then name)."""
        entries = [
            (entry.stat().st_mtime, entry.name, Path(entry.path))
            for sub in ("new", "cur")
            for entry in os.scandir(self.path / sub)
            if entry.is_file() and not entry.name.startswith(".")
        ]
        return [path for _mtime, _name, path in sorted(entries)]

    def fetch_new(self, is_stored: Callable[[str], bool], batch_size: int = 50) -> Iterator[FetchedMessage]:
        """Yield the messages not stored yet; the folder is listed once per poll."""
        files = self._list()
        for file in files:
            key = maildir_key(file.name)
            if is_stored(key):
                log.info("message %s already stored; moving it to %s", key, self.processed_folder)
                self.mark_processed(key)
                continue
            try:
                raw = file.read_bytes()
                mtime = datetime.fromtimestamp(file.stat().st_mtime, tz=UTC)
            except FileNotFoundError:  # moved away meanwhile
                continue
            yield FetchedMessage(key, raw, mtime)

    def mark_processed(self, key: str) -> None:
        """Move the file to ``.Processed/cur`` keeping its flags; a missing file is a no-op."""
        scheme, _, unique = key.partition(":")
        if scheme != "maildir" or not unique:
            raise MessageError(f"not a Maildir message key: {key!r}")
        if self._listing is None:
            self._list()
        assert self._listing is not None
        file = self._listing.pop(unique, None)
        if file is None:
            log.debug("message %s no longer in %s; nothing to move", key, self.path)
            return
        target = ensure_maildir(maildir_subfolder(self.path, self.processed_folder))
        name = file.name if ":" in file.name else file.name + ":2,"
        with contextlib.suppress(FileNotFoundError):  # moved away meanwhile
            os.replace(file, target / "cur" / name)

    def mark_processed_many(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.mark_processed(key)

    def _list(self) -> list[Path]:
        files = self._message_files()
        self._listing = self._index(files)
        return files

    @staticmethod
    def _index(files: list[Path]) -> dict[str, Path]:
        return {maildir_unique(f.name): f for f in files}

    def append(self, folder: str, raw: bytes) -> None:
        """Deliver as a read message: write in tmp/, fsync, then rename into cur/."""
        unique = maildir_unique_name(time.time(), os.getpid(), next(_counter), socket.gethostname())
        self._deliver(folder, unique, raw)

    def append_once(self, folder: str, raw: bytes, message_id: str, *, may_exist: bool = True) -> None:
        """Deliver under a name made from the Message-ID, so a second copy finds the first (the
        folder is listed once per source, so `may_exist` changes nothing here)."""
        unique = "ack-" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:32]
        target = maildir_subfolder(self.path, folder)
        if target not in self._copies:  # one listing per source (a cycle), not one per copy
            self._copies[target] = {
                maildir_unique(entry.name)
                for sub in ("cur", "new")
                if (target / sub).is_dir()
                for entry in os.scandir(target / sub)
            }
        if unique in self._copies[target]:
            return
        self._deliver(folder, unique, raw)
        self._copies[target].add(unique)

    def _deliver(self, folder: str, unique: str, raw: bytes) -> None:
        target = ensure_maildir(maildir_subfolder(self.path, folder))
        tmp = target / "tmp" / unique
        with open(tmp, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target / "cur" / f"{unique}:2,S")

    def abort(self) -> None:
        """Nothing to break off: local files do not hang."""

    def close(self) -> None:
        """Nothing to release: every call opens and closes its own files."""


# --------------------------------------------------------------------------- from a URL


@dataclass(frozen=True)
class ImapLocation:
    """The parts of an ``imap://`` or ``imaps://`` URL."""

    username: str
    host: str
    port: int
    folder: str
    tls: str


def parse_imap_url(url: str, tls: str | None = None) -> ImapLocation:
    """``imaps://USER@HOST:993/INBOX`` or ``imap://USER@HOST:143/INBOX`` (STARTTLS unless tls="none")."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if parts.password is not None:
        raise ConfigError("mailbox URL must not contain a password: give it in the environment")
    if not parts.username:
        raise ConfigError(f"mailbox URL {url!r} names no user (imaps://USER@HOST/FOLDER)")
    if not parts.hostname:
        raise ConfigError(f"mailbox URL {url!r} names no host")
    try:
        port = parts.port or (993 if scheme == "imaps" else 143)
    except ValueError as err:
        raise ConfigError(f"mailbox URL {url!r} has a bad port") from err
    folder = unquote(parts.path.strip("/")) or "INBOX"
    return ImapLocation(unquote(parts.username), parts.hostname, port, folder, _tls_for(scheme, tls))


def _tls_for(scheme: str, tls: str | None) -> str:
    """imaps:// means TLS from the first byte; imap:// means STARTTLS, or none if asked for."""
    if tls is not None and tls not in TLS_MODES:
        raise ConfigError(f"tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
    if scheme == "imaps":
        if tls not in (None, "ssl"):
            raise ConfigError(f"tls={tls!r} contradicts an imaps:// URL (use imap:// for {tls})")
        return "ssl"
    if tls == "ssl":
        raise ConfigError("tls='ssl' contradicts an imap:// URL (use imaps://)")
    return tls or "starttls"


def parse_maildir_url(url: str) -> Path:
    """``maildir:PATH`` or ``maildir:///abs/path`` -> the path."""
    rest = url[len("maildir:") :]
    if rest.startswith("//"):
        parts = urlsplit(url)
        if parts.netloc:
            raise ConfigError(f"maildir URL {url!r} names a host; use maildir:/path or maildir:///path")
        rest = parts.path
    if not rest:
        raise ConfigError(f"maildir URL {url!r} names no path")
    return Path(unquote(rest)).expanduser()


def open_source(
    url: str,
    password: str | None,
    processed_folder: str = "Processed",
    tls: str | None = None,
    ca_file: str | os.PathLike | None = None,
    timeout: float = 30.0,
    token_source: TokenSource | None = None,
) -> MailSource:
    """Build the source a mailbox URL names; nothing is contacted until it is first used.

    With a `token_source` the login is SASL XOAUTH2 (ingest/oauth.py) and no password is needed.
    """
    scheme = url.partition(":")[0].lower()
    if scheme == "maildir":
        return MaildirSource(parse_maildir_url(url), processed_folder)
    if scheme in ("imap", "imaps"):
        where = parse_imap_url(url, tls)
        if not (password or token_source):
            raise ConfigError(f"no IMAP password given for {where.username}@{where.host}")
        return ImapSource(
            where.host,
            where.port,
            where.username,
            password or "",
            where.folder,
            processed_folder,
            where.tls,
            ca_file,
            timeout,
            connect_attempts=2,  # one retry a cycle; the next cycle tries again
            token_source=token_source,
        )
    raise ConfigError(f"unsupported mailbox URL {url!r}: use imaps://, imap:// or maildir:")
