"""Real servers for the tests, started privately on loopback: Dovecot (IMAP), aiosmtpd (SMTP), PostgreSQL.

Nothing on the system is touched: Dovecot runs from a generated config in a temp dir with its own
state, ports and users; SMTP runs in-process; PostgreSQL tests get a fresh database that is dropped
afterwards. Register the fixtures by importing them in ``conftest.py``.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from imapclient import IMAPClient
from psycopg import sql

INSTALL_HINT = "run scripts/install-test-deps.sh to install the test servers"
LOOPBACK = "127.0.0.1"


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, proc: subprocess.Popen | None = None) -> None:
    """Block until something accepts on the loopback port; RuntimeError saying why if nothing does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing accepted on {LOOPBACK}:{port} within {timeout} s")


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost that is its own CA, so tests can verify TLS with it."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


# --------------------------------------------------------------------------- Dovecot


@dataclass(frozen=True)
class DovecotLayout:
    """How the server presents folders: Dovecot's default, or Courier-style ``INBOX.`` names.

    With ``oauth2_introspection_url`` the server also accepts SASL XOAUTH2 and OAUTHBEARER, checking
    each token at that RFC 7662 introspection endpoint (Dovecot's ``oauth2`` passdb); passwords
    still work, for the test helpers.
    """

    separator: str = "/"
    prefix: str = ""
    oauth2_introspection_url: str = ""


def dovecot_oauth2_lines(root: Path, layout: DovecotLayout) -> list[str]:
    """The passdb and mechanisms for XOAUTH2, and its dovecot-oauth2.conf.ext (written here)."""
    if not layout.oauth2_introspection_url:
        return []
    conf = root / "dovecot-oauth2.conf.ext"
    conf.write_text(
        f"introspection_url = {layout.oauth2_introspection_url}\n"
        "introspection_mode = post\n"
        "username_attribute = username\n"
        "active_attribute = active\n"
        "active_value = true\n"
    )
    conf.chmod(0o644)
    return [
        "auth_mechanisms = plain login xoauth2 oauthbearer",
        "passdb {",
        "  driver = oauth2",
        "  mechanisms = xoauth2 oauthbearer",
        f"  args = {conf}",
        "}",
    ]


def _mail_identity(as_root: bool) -> tuple[str, str]:
    """The non-root user/group that owns the mail; as uid 0 every mailbox command fails."""
    if as_root:
        return "nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
    return pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name


def dovecot_config(
    root: Path, imap_port: int, imaps_port: int, cert: Path, key: Path, layout: DovecotLayout, as_root: bool
) -> str:
    """The text of a self-contained dovecot.conf whose state all lives under ``root``.

    Run by an ordinary user, Dovecot cannot switch users or chroot, so every service runs as
    that user; run as root, mail is still handled as ``nobody``.
    """
    user, group = _mail_identity(as_root)
    lines = [
        f"base_dir = {root}/run",
        f"state_dir = {root}/state",
        f"log_path = {root}/dovecot.log",
        f"info_log_path = {root}/dovecot.log",
        "protocols = imap",
        f"listen = {LOOPBACK}",
        "service imap-login {",
        f"  inet_listener imap {{\n    address = {LOOPBACK}\n    port = {imap_port}\n  }}",
        f"  inet_listener imaps {{\n    address = {LOOPBACK}\n    port = {imaps_port}\n    ssl = yes\n  }}",
        *([] if as_root else ["  chroot ="]),
        "}",
        "auth_mechanisms = plain login",
        "auth_failure_delay = 0",  # a refused login in one test must not slow the next
        # No growing auth penalty per IP: every test connects from 127.0.0.1.
        "service anvil {",
        "  unix_listener anvil-auth-penalty {\n    mode = 0\n  }",
        *([] if as_root else ["  chroot ="]),
        "}",
        "disable_plaintext_auth = no",
        *dovecot_oauth2_lines(root, layout),
        "passdb {",
        "  driver = passwd-file",
        f"  args = scheme=PLAIN {root}/passwd",
        "}",
        "userdb {",
        "  driver = static",
        f"  args = uid={user} gid={group} home={root}/mail/%u",
        "}",
        "mail_location = maildir:~/Maildir",
        "first_valid_uid = 1",
        "namespace inbox {",
        "  inbox = yes",
        f"  separator = {layout.separator}",
        f"  prefix = {layout.prefix}",
        "}",
        "ssl = yes",
        f"ssl_cert = <{cert}",
        f"ssl_key = <{key}",
    ]
    if not as_root:
        lines += [
            f"default_login_user = {user}",
            f"default_internal_user = {user}",
            f"default_internal_group = {group}",
        ]
    return "\n".join(lines) + "\n"


@dataclass
class DovecotServer:
    """A private Dovecot with one user, plus helpers that read and write mail over plain IMAP."""

    root: Path
    layout: DovecotLayout
    host: str = LOOPBACK
    port: int = 0
    imaps_port: int = 0
    user: str = "intake"
    password: str = "s3cret-pw"
    ca_file: Path = Path()
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def imap_url(self) -> str:
        return f"imap://{self.user}@{self.host}:{self.port}/INBOX"

    @property
    def imaps_url(self) -> str:
        return f"imaps://{self.user}@{self.host}:{self.imaps_port}/INBOX"

    @property
    def log(self) -> str:
        """What Dovecot printed and logged, for failure messages."""
        paths = (self.root / "dovecot.out", self.root / "dovecot.log")
        return "".join(p.read_text(errors="replace") for p in paths if p.exists())

    def folder(self, name: str) -> str:
        """The server's name for a top-level folder (``Processed`` or ``INBOX.Processed``)."""
        return name if name.upper() == "INBOX" else self.layout.prefix + name

    @contextlib.contextmanager
    def client(self) -> Iterator[IMAPClient]:
        """A logged-in plain-IMAP client for test set-up and checks (not the code under test)."""
        imap = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        try:
            imap.login(self.user, self.password)
            yield imap
        finally:
            with contextlib.suppress(Exception):
                imap.logout()

    def append(self, folder: str, raw: bytes) -> None:
        """Put a message into a folder (created if missing), as a mail client would."""
        with self.client() as imap:
            if not imap.folder_exists(folder):
                imap.create_folder(folder)
            imap.append(folder, raw)

    def list_folder(self, folder: str) -> list[bytes]:
        """The exact raw bytes of every message in a folder, in UID order."""
        with self.client() as imap:
            if not imap.folder_exists(folder):
                return []
            imap.select_folder(folder, readonly=True)
            uids = sorted(imap.search("ALL"))
            fetched = imap.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            return [fetched[uid][b"BODY[]"] for uid in uids]

    def folders(self) -> list[str]:
        with self.client() as imap:
            return sorted(name for _flags, _sep, name in imap.list_folders())

    def reset(self) -> None:
        """Empty INBOX and delete every other folder, so each test starts from a clean mailbox."""
        with self.client() as imap:
            for name in self._deletable_folders(imap):
                imap.delete_folder(name)
            imap.select_folder("INBOX")
            uids = imap.search("ALL")
            if uids:
                imap.delete_messages(uids)
                imap.expunge()

    @staticmethod
    def _deletable_folders(imap: IMAPClient) -> list[str]:
        names = [name for _flags, _sep, name in imap.list_folders()]
        # Children first, so a parent is never deleted before what it contains.
        return sorted((n for n in names if n.upper() != "INBOX"), key=len, reverse=True)

    def start(self) -> None:
        """Generate certificate, passwd file and config, then run ``dovecot -F`` until it listens."""
        binary = shutil.which("dovecot") or next(
            (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(p, os.X_OK)), None
        )
        if binary is None:
            pytest.fail(f"the dovecot binary is missing: {INSTALL_HINT}", pytrace=False)
        if shutil.which("openssl") is None:
            pytest.fail(f"openssl is missing (needed for the test certificate): {INSTALL_HINT}", pytrace=False)
        self._prepare_files()
        self.port, self.imaps_port = free_port(), free_port()
        config = self.root / "dovecot.conf"
        config.write_text(
            dovecot_config(
                self.root,
                self.port,
                self.imaps_port,
                self.ca_file,
                self.root / "server.key",
                self.layout,
                as_root=os.geteuid() == 0,
            )
        )
        self._launch(binary, config)

    def restart(self) -> None:
        """Start the stopped server again on the same ports with the same mail (a server reboot)."""
        self.stop()
        self._launch(shutil.which("dovecot") or "/usr/sbin/dovecot", self.root / "dovecot.conf")

    def _launch(self, binary: str, config: Path) -> None:
        with open(self.root / "dovecot.out", "ab") as output:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [binary, "-F", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_for_port(self.port, proc=self.process)
            wait_for_port(self.imaps_port, proc=self.process)
        except RuntimeError as err:
            self.stop()
            pytest.fail(f"dovecot did not start: {err}\n{self.log}", pytrace=False)

    def _prepare_files(self) -> None:
        self.root.chmod(0o755)  # auth reads the passwd file as an unprivileged user
        self.ca_file, _key = make_self_signed_cert(self.root)
        passwd = self.root / "passwd"
        passwd.write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        passwd.chmod(0o644)
        mail = self.root / "mail"
        mail.mkdir()
        if os.geteuid() == 0:
            user, group = _mail_identity(as_root=True)
            os.chown(mail, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)

    def kill(self) -> None:
        """Kill the master and every process serving a connection at once, as a crash would."""
        if self.process is None or self.process.poll() is not None:
            return
        # Freeze the master first: killed children would otherwise be replaced while we kill them,
        # and an orphan left holding a port or the anvil socket keeps the restarted server down.
        os.kill(self.process.pid, signal.SIGSTOP)
        children = _children_of(self.process.pid)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.kill()
        self.process.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() for pid in children) and time.monotonic() < deadline:
            time.sleep(0.05)

    def kill_sessions(self) -> int:
        """SIGKILL every process serving a logged-in IMAP connection; the server stays up.

        Each client sees its connection end without a BYE, as after a crash of its session or a
        NAT box forgetting it. Returns how many were killed.
        """
        if self.process is None or self.process.poll() is not None:
            return 0
        killed = 0
        for pid in _children_of(self.process.pid):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "imap":
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
        return killed

    def stop(self) -> None:
        """Stop the master by its PID (it takes its children with it) and wait for it."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError), open(f"{entry.path}/stat", "rb") as stat:
                if int(stat.read().rsplit(b")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
    return found


@contextlib.contextmanager
def running_dovecot(layout: DovecotLayout = DovecotLayout()) -> Iterator[DovecotServer]:
    """A started Dovecot in a fresh temp dir, stopped and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
    server = DovecotServer(root=root, layout=layout)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """The session's Dovecot with ``/`` as separator and no prefix (Dovecot's default layout)."""
    with running_dovecot() as server:
        yield server


@pytest.fixture
def clean_dovecot(dovecot: DovecotServer) -> DovecotServer:
    """The session's Dovecot, emptied before the test so tests do not see each other's mail."""
    dovecot.reset()
    return dovecot


@pytest.fixture(scope="session")
def dovecot_dotted() -> Iterator[DovecotServer]:
    """A second Dovecot with Courier-style names: separator ``.`` and prefix ``INBOX.``."""
    with running_dovecot(DovecotLayout(separator=".", prefix="INBOX.")) as server:
        yield server


@pytest.fixture
def clean_dovecot_dotted(dovecot_dotted: DovecotServer) -> DovecotServer:
    """The Courier-style Dovecot, emptied before the test."""
    dovecot_dotted.reset()
    return dovecot_dotted


def tls_context(ca_file: Path | str) -> ssl.SSLContext:
    """A verifying client context that trusts only the test CA."""
    return ssl.create_default_context(cafile=str(ca_file))


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class ReceivedMessage:
    """One message as the SMTP server accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes


@dataclass
class ScriptedFailure:
    """A reply the server gives instead of accepting, at one SMTP stage, for a number of times."""

    code: int
    text: str
    times: int | None  # None: for ever
    stage: str = "DATA"


class RecordingHandler:
    """aiosmtpd handler that records every accepted message and plays scripted failures first."""

    def __init__(self) -> None:
        self.received: list[ReceivedMessage] = []
        self.failures: list[ScriptedFailure] = []
        self.attempts = 0  # DATA commands seen, accepted or refused

    def _scripted_reply(self, stage: str) -> str | None:
        for failure in self.failures:
            if failure.stage != stage:
                continue
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    self.failures.remove(failure)
            return f"{failure.code} {failure.text}"
        return None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802
        reply = self._scripted_reply("MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        reply = self._scripted_reply("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.attempts += 1
        reply = self._scripted_reply("DATA")
        if reply:
            return reply
        raw = envelope.original_content or envelope.content
        self.received.append(ReceivedMessage(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(raw)))
        return "250 OK queued"


class PasswordAuthenticator:
    """Accepts exactly one username/password; a refusal is left to aiosmtpd to answer (535)."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.logins = 0  # how many times a client tried to log in

    def __call__(self, server, session, envelope, mechanism, auth_data):
        self.logins += 1
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.username.encode()
            and auth_data.password == self.password.encode()
        )
        # handled=False on failure, else aiosmtpd sends no reply and the client hangs.
        return AuthResult(success=ok, handled=False)


class SmtpTestServer:
    """An in-process SMTP server on a fixed loopback port that can be stopped and started again."""

    def __init__(
        self, username: str | None = None, password: str | None = None, handler: RecordingHandler | None = None
    ) -> None:
        self.host = LOOPBACK
        self.port = free_port()
        self.handler = handler or RecordingHandler()
        self.username, self.password = username, password
        self._controller: Controller | None = None

    @property
    def received(self) -> list[ReceivedMessage]:
        return self.handler.received

    @property
    def attempts(self) -> int:
        return self.handler.attempts

    @property
    def running(self) -> bool:
        return self._controller is not None

    def fail_next(self, code: int, text: str, times: int | None = 1, stage: str = "DATA") -> None:
        """Answer the next ``times`` commands at ``stage`` (MAIL, RCPT or DATA) with ``code text``.

        ``times=None`` fails for ever, e.g. ``fail_next(550, "no such user", None)``.
        """
        self.handler.failures.append(ScriptedFailure(code, text, times, stage.upper()))

    def start(self) -> None:
        """Listen (again) on the same port, as a server coming back after downtime."""
        if self._controller is not None:
            return
        auth = {}
        if self.username is not None:
            self.authenticator = PasswordAuthenticator(self.username, self.password or "")
            auth = {"authenticator": self.authenticator, "auth_require_tls": False}
        elif hasattr(self.handler, "auth_XOAUTH2"):
            auth = {"auth_require_tls": False}
        controller = Controller(self.handler, hostname=self.host, port=self.port, **auth)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Stop listening; connections are refused until ``start()``."""
        if self._controller is not None:
            self._controller.stop()
            self._controller: Controller | None = None


@contextlib.contextmanager
def running_smtp(username: str | None = None, password: str | None = None) -> Iterator[SmtpTestServer]:
    server = SmtpTestServer(username, password)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpTestServer]:
    """A fresh SMTP server without AUTH that records what it receives."""
    with running_smtp() as server:
        yield server


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpTestServer]:
    """A fresh SMTP server that requires AUTH as ``mailer`` / ``mailer-pw``."""
    with running_smtp("mailer", "mailer-pw") as server:
        yield server


# --------------------------------------------------------------------------- PostgreSQL

PG_HOST = os.environ.get("TEST_PG_HOST", LOOPBACK)
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_ADMIN_DATABASE = os.environ.get("TEST_PG_DATABASE", "test")


def _pg_admin_connection(user: str) -> psycopg.Connection:
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=user, dbname=PG_ADMIN_DATABASE, autocommit=True, connect_timeout=5
    )


def pg_admin_user() -> str:
    """The first role that can create databases on the local server (trust auth)."""
    errors = []
    for user in dict.fromkeys(("postgres", getpass.getuser())):
        try:
            with _pg_admin_connection(user) as conn:
                row = conn.execute(
                    "SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
                ).fetchone()
                if row and row[0]:
                    return user
                errors.append(f"{user}: may not create databases")
        except psycopg.OperationalError as err:
            errors.append(f"{user}: {str(err).strip()}")
    raise ConnectionError(f"PostgreSQL on {PG_HOST}:{PG_PORT}: " + "; ".join(errors))


@contextlib.contextmanager
def fresh_database(user: str | None = None) -> Iterator[str]:
    """Create a uniquely named, empty database and yield its SQLAlchemy URL; drop it afterwards."""
    user = user or pg_admin_user()
    name = unique_name("intake_test")
    with _pg_admin_connection(user) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg://{user}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with _pg_admin_connection(user) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh empty database URL; skipped only outside CI when no server answers."""
    try:
        user = pg_admin_user()
    except ConnectionError as err:
        if os.environ.get("CI", "").lower() in ("", "0", "false", "no"):
            pytest.skip(f"PostgreSQL not reachable (start it with scripts/install-test-deps.sh): {err}")
        pytest.fail(f"PostgreSQL is required under CI but not reachable: {err}", pytrace=False)
    with fresh_database(user) as url:
        yield url


# --------------------------------------------------------------------------- tarpits


class Tarpit:
    """A loopback server that accepts connections and then never answers ("silent") or sends one
    byte every `interval` seconds and never a whole line ("trickle"), as a broken or hostile
    server does. Its loops end when the test stops it."""

    def __init__(self, mode: str, interval: float = 0.5) -> None:
        if mode not in ("silent", "trickle"):
            raise ValueError(mode)
        self.mode, self.interval = mode, interval
        self.host, self.port = LOOPBACK, 0
        self.connections = 0
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def _spawn(self, target, *args) -> None:  # type: ignore[no-untyped-def]
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                conn, _addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._spawn(self._hold, conn)

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            while not self._stop.wait(self.interval):
                if self.mode == "trickle":
                    try:
                        conn.sendall(b"*")
                    except OSError:
                        return

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        for thread in self._threads:
            thread.join(timeout=2)


@contextlib.contextmanager
def running_tarpit(mode: str, interval: float = 0.5) -> Iterator[Tarpit]:
    tarpit = Tarpit(mode, interval)
    tarpit.start()
    try:
        yield tarpit
    finally:
        tarpit.stop()


# --------------------------------------------------------------------------- OAuth 2.0


class OAuthTestServer:
    """A loopback OAuth 2.0 authorisation server: a token endpoint and RFC 7662 introspection.

    The token endpoint issues short-lived random tokens to one client by the client-credentials
    grant, or by a refresh token; introspection (what Dovecot's oauth2 passdb asks) says whether a
    token is active and whose it is. Tokens can be revoked, and the client disabled.
    """

    def __init__(self, user: str, client_id: str = "intake-app", client_secret: str = "app-secret") -> None:
        self.user, self.client_id, self.client_secret = user, client_id, client_secret
        self.refresh_token = "refresh-" + uuid.uuid4().hex
        self.lifetime = 3600.0
        self.client_disabled = False
        self.issued: dict[str, float] = {}  # token -> expiry (time.time())
        self.revoked: set[str] = set()
        self.introspections = 0
        self._http: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._http is not None
        return f"http://{LOOPBACK}:{self._http.server_address[1]}"

    @property
    def token_url(self) -> str:
        return self.base + "/token"

    @property
    def introspection_url(self) -> str:
        return self.base + "/introspect"

    def revoke_all(self) -> None:
        self.revoked.update(self.issued)

    def active(self, token: str) -> bool:
        return token in self.issued and token not in self.revoked and time.time() < self.issued[token]

    def token_reply(self, form: dict[str, str]) -> tuple[int, dict]:
        grant = form.get("grant_type")
        if grant == "client_credentials":
            ok = form.get("client_id") == self.client_id and form.get("client_secret") == self.client_secret
        elif grant == "refresh_token":
            ok = form.get("client_id") == self.client_id and form.get("refresh_token") == self.refresh_token
        else:
            return 400, {"error": "unsupported_grant_type"}
        if not ok or self.client_disabled:
            return 401 if grant == "client_credentials" else 400, {
                "error": "invalid_client" if grant == "client_credentials" else "invalid_grant",
                "error_description": "the client is disabled or its secret is wrong",
            }
        token = "tok-" + uuid.uuid4().hex
        self.issued[token] = time.time() + self.lifetime
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": int(self.lifetime)}

    def introspection_reply(self, form: dict[str, str]) -> tuple[int, dict]:
        self.introspections += 1
        token = form.get("token", "")
        if not self.active(token):
            return 200, {"active": False}
        return 200, {"active": True, "username": self.user, "client_id": self.client_id}

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's name)
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Bearer ") and "token" not in form:
                    form["token"] = auth[len("Bearer ") :]
                routes = {"/token": server.token_reply, "/introspect": server.introspection_reply}
                reply = routes.get(self.path.split("?")[0])
                code, body = reply(form) if reply else (404, {"error": "not_found"})
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._http = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()


@contextlib.contextmanager
def running_oauth_dovecot() -> Iterator[tuple[OAuthTestServer, DovecotServer]]:
    """An OAuth server and a private Dovecot that checks XOAUTH2 tokens with it."""
    oauth = OAuthTestServer("intake")
    oauth.start()
    try:
        with running_dovecot(DovecotLayout(oauth2_introspection_url=oauth.introspection_url)) as dovecot:
            yield oauth, dovecot
    finally:
        oauth.stop()


class XOAuth2Handler(RecordingHandler):
    """An SMTP handler that takes AUTH XOAUTH2 with a token the OAuth test server says is active."""

    def __init__(self, oauth: OAuthTestServer) -> None:
        super().__init__()
        self.oauth = oauth

    async def auth_XOAUTH2(self, server, args: list[str]) -> AuthResult:  # noqa: N802  (aiosmtpd's name)
        text = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
        token = fields.get("auth", "").removeprefix("Bearer ")
        ok = fields.get("user") == self.oauth.user and self.oauth.active(token)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself
