"""One exception root, split by what the caller should do about it.

The worker loop applies a policy per class rather than per library error: library errors are
wrapped at the boundary with ``raise ... from err`` so the cause stays in the traceback.

Two kinds of fault, decided once in `is_system_fault`: a fault of the *message* (unreadable,
hostile, too large) is recorded on that message and the cycle goes on; a fault of the *system*
(configuration, database, disk, mailbox, SMTP, shutdown) never becomes a message's state: the
step stops, the message waits, and a later cycle retries it.
"""

from __future__ import annotations

from store.db import AnotherWorkerRunning, DatabaseUnavailable  # noqa: F401  (the store's two, re-exported)


class IntakeError(Exception):
    """Root of every error this service raises on purpose."""


class ConfigError(IntakeError):
    """The configuration is wrong: report the key and exit with status 2 at start."""


class TransientError(IntakeError):
    """Server down, timeout, temporary refusal: retry on the next cycle."""


class CredentialError(IntakeError):
    """Login refused: back off and alert a person, retrying will not help soon."""


class MessageError(IntakeError):
    """One message cannot be handled: record it on that message and go on with the rest."""


class PermanentDeliveryError(IntakeError):
    """The receiving server refused for good (e.g. SMTP 5xx); the message carries its words."""


class ShutdownRequested(BaseException):
    """Stop after the message in hand; a BaseException so `except Exception` cannot swallow it."""


def is_system_fault(err: BaseException) -> bool:
    """True when `err` says nothing about the message in hand: the work must wait, not fail.

    Database errors other than a value that does not fit (`DataError`), operating-system errors
    (disk, files, sockets), template errors and our own transient, credential and configuration
    errors are the system's. Anything else raised while handling one message is treated as that
    message's problem (with retries, see ingest/filing.py).
    """
    from jinja2 import TemplateError
    from sqlalchemy.exc import DataError, SQLAlchemyError

    if not isinstance(err, Exception):  # KeyboardInterrupt, SystemExit, ShutdownRequested
        return True
    if isinstance(err, TransientError | CredentialError | ConfigError):
        return True
    if isinstance(err, AnotherWorkerRunning | DatabaseUnavailable):
        return True
    if isinstance(err, SQLAlchemyError):
        return not isinstance(err, DataError)
    return isinstance(err, OSError | TemplateError | MemoryError)
