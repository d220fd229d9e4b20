"""Engine, sessions, schema upgrades and the locks that let several workers share one database.

The schema is owned by Alembic: `upgrade(url)` brings any database to the newest revision, and
the service calls it at start, so a fresh SQLite file or an empty PostgreSQL database just works.
Several processes starting together migrate one at a time (a PostgreSQL advisory lock, or a lock
file beside the SQLite database), so none of them dies on a half-created schema.

Workers: on PostgreSQL any number of processes share the work (one polls the mailbox at a time,
filing and sending claim rows with FOR UPDATE SKIP LOCKED); SQLite has one writer, so there one
process runs a cycle at a time and the others wait for it (`exclusive_cycle`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlmodel import create_engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_SECONDS = 10
STATEMENT_TIMEOUT_MS = 120_000  # no single statement of this service should take two minutes
LOCK_TIMEOUT_MS = 30_000
MIGRATION_LOCK = "consultation-intake:migrations"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused the work (connection, disk full, timeout)."""


class AnotherWorkerRunning(Exception):
    """SQLite: another intake process holds the database's cycle lock for longer than we wait."""


def is_postgresql(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else engine_or_url.url.render_as_string()
    return url.startswith("postgresql")


def make_engine(url: str) -> Engine:
    """An engine with the settings this service relies on.

    SQLite: WAL, foreign keys, a busy wait, secure delete (erased bytes do not linger in free
    pages). PostgreSQL: a connect timeout, a statement and lock timeout, and TCP keepalives, so a
    database that hangs or vanishes gives an error, not a stall.
    """
    if url.startswith("sqlite:///") and not url.endswith(":memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict = {}
    if is_postgresql(url):
        connect_args = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={LOCK_TIMEOUT_MS}",
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    if url.startswith("sqlite"):
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine.pool, "invalidate", _connection_lost)
    return engine


def _connection_lost(_dbapi_connection, _record, exception) -> None:  # type: ignore[no-untyped-def]
    """A pooled connection found dead (terminated, server restarted): say so once, then reconnect."""
    if exception is not None:
        log.warning("database connection lost (%s); reconnecting", describe_database_error(exception))


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA secure_delete=ON")  # erased and expired bytes are overwritten, not left in free pages
    cur.close()


def describe_database_error(err: BaseException) -> str:
    """One line a person can act on, instead of SQLAlchemy's multi-line text with the SQL in it."""
    original = getattr(err, "orig", None) or err
    words = " ".join(str(original).split())
    if isinstance(err, DBAPIError) and err.connection_invalidated:
        words = f"connection lost: {words}"
    return words[:300] or type(original).__name__


def database_unavailable(err: SQLAlchemyError, doing: str) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"database unavailable while {doing}: {describe_database_error(err)}")


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest schema revision, one process at a time.

    On PostgreSQL the lock is taken inside the migration transaction (store/migrations/env.py);
    on SQLite a lock file beside the database serialises the processes.
    """
    try:
        make_engine(url).dispose()  # creates the SQLite folder
        if is_postgresql(url):
            command.upgrade(alembic_config(url), "head")
            return
        with _file_lock(_sqlite_lock_path(url, "migrate"), wait_seconds=300):
            command.upgrade(alembic_config(url), "head")
    except SQLAlchemyError as err:
        raise database_unavailable(err, "upgrading the schema") from err


def lock_migrations(connection: Connection) -> None:
    """Called by env.py inside the migration transaction: concurrent upgrades wait here."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": advisory_key(MIGRATION_LOCK)})


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock from a name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def exclusive_cycle(engine: Engine, *, wait_seconds: float) -> Iterator[None]:
    """SQLite: hold the database's cycle lock file (waiting up to `wait_seconds`); PostgreSQL: nothing.

    Raises `AnotherWorkerRunning` when another process holds it for longer than the wait.
    """
    if is_postgresql(engine) or engine.url.database in (None, "", ":memory:"):
        yield
        return
    with _file_lock(_sqlite_lock_path(engine.url.render_as_string(), "cycle"), wait_seconds=wait_seconds):
        yield


@contextlib.contextmanager
def mailbox_poll_lock(engine: Engine, mailbox: str) -> Iterator[bool]:
    """PostgreSQL: True while this process alone polls `mailbox` (a session advisory lock).

    Yields False at once when another worker is polling it: this process skips the poll and goes
    on to filing and sending. SQLite (one process a cycle) always yields True.
    """
    if not is_postgresql(engine):
        yield True
        return
    key = advisory_key(f"consultation-intake:mailbox:{mailbox}")
    with engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                with contextlib.suppress(SQLAlchemyError):
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()


def _sqlite_lock_path(url: str, purpose: str) -> Path:
    database = Path(url.removeprefix("sqlite:///"))
    return database.with_name(f"{database.name}.{purpose}.lock")


@contextlib.contextmanager
def _file_lock(path: Path, *, wait_seconds: float) -> Iterator[None]:
    """An exclusive flock on `path`; the kernel drops it when the process dies, however it dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        _acquire(fd, path, wait_seconds)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)  # releases the lock


def _acquire(fd: int, path: Path, wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
        if time.monotonic() >= deadline:
            raise AnotherWorkerRunning(f"another intake process holds {path.name} (pid {_holder(path)})")
        if not told:
            log.info("another intake process (pid %s) is running a cycle; waiting for it", _holder(path))
            told = True
        time.sleep(0.2)


def _holder(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text().strip() or "?"
    return "?"
