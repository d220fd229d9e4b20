"""How acknowledgements leave: by SMTP, or into an outbox folder of .eml files.

Errors are sorted by what the caller should do: `TransientError` (try again next cycle: 4xx
replies, refused connections, timeouts, TLS that could not be set up), `PermanentDeliveryError`
(5xx: record the server's words on the acknowledgement, do not retry), `CredentialError` (login
refused) and `ConfigError` (a delivery URL that cannot work).

The envelope sender. RFC 3834 §3.3 recommends that automatic responses go out with a null
MAIL FROM (`<>`) so that their failures are never answered. This service uses the consultation's
own address instead (the caller passes it as `envelope_from`): the issue wants replies to come
from the consultation, and a failed acknowledgement must come back as a bounce so it can be
recorded against the response (sample msg-0010 is such a bounce). The loop this could start is
cut by the acknowledgement's own marks (Auto-Submitted, X-Auto-Response-Suppress, our loop header)
and by `ack_policy`, which never answers a bounce, a null sender or our own address.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import smtplib
import socket
import ssl
import uuid
from email import policy as email_policy
from email.message import Message
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Protocol
from urllib.parse import SplitResult, unquote, urlsplit

from ingest.errors import ConfigError, CredentialError, PermanentDeliveryError, TransientError
from ingest.oauth import TokenSource, xoauth2_string

log = logging.getLogger(__name__)

TLS_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._@+-]")
# CRLF, and header lines that came from bytes written as they came.
WIRE_POLICY = email_policy.SMTP.clone(refold_source="none")


def wire_bytes(msg: Message) -> bytes:
    """The message as it goes on the wire, in the outbox or into the Sent folder.

    A message parsed from bytes (an acknowledgement stored and read back) keeps its header lines as
    they were folded when it was made: the `email` package's default re-folding would RFC 2047-encode
    a Message-ID longer than a line in In-Reply-To or References, breaking the thread.
    """
    return msg.as_bytes(policy=WIRE_POLICY)


class Delivery(Protocol):
    """One way of sending a finished message to its envelope recipients."""

    def send(self, raw: bytes, envelope_from: str, to: list[str]) -> None:
        """Send a finished message as it is (`wire_bytes`): never parsed and written out again."""
        ...

    def abort(self) -> None:
        """From another thread: break off a send that hangs; later sends fail at once."""
        ...


class SmtpRefusal(PermanentDeliveryError):
    """The SMTP server refused for good; `code` and `text` are its reply, kept for the record."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


class SmtpDelivery:
    """Sends through an SMTP server with smtplib, verifying its TLS certificate."""

    def __init__(
        self,
        host: str,
        port: int,
        tls: str = "starttls",
        username: str | None = None,
        password: str | None = None,
        ca_file: str | Path | None = None,
        timeout: float = 30,
        local_hostname: str | None = None,
        token_source: TokenSource | None = None,
    ) -> None:
        if tls not in TLS_MODES:
            raise ConfigError(f"smtp tls must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        if ca_file is not None and not Path(ca_file).is_file():
            raise ConfigError(f"smtp CA file {ca_file} does not exist")
        self.host, self.port, self.tls = host, port, tls
        self.username, self._password = username, password
        self.ca_file, self.timeout, self.local_hostname = ca_file, timeout, local_hostname
        self.token_source = token_source  # XOAUTH2 instead of the password (ingest/oauth.py)
        self._current: smtplib.SMTP | None = None
        self._aborted = False
        if username and tls == "none":
            log.warning("SMTP login to %s:%s without TLS sends the credentials in clear", host, port)

    def __repr__(self) -> str:  # never show the password
        return f"SmtpDelivery({self.host!r}, {self.port}, tls={self.tls!r}, username={self.username!r})"

    def send(self, raw: bytes, envelope_from: str, to: list[str]) -> None:
        """Deliver or raise TransientError / PermanentDeliveryError / CredentialError."""
        if not to:
            raise ValueError("no recipients to send to")
        if self._aborted:
            raise TransientError(f"SMTP {self.host}:{self.port}: sending was broken off this cycle")
        try:
            with self._unconnected() as smtp:
                self._current = smtp  # from here on `abort` can break off even the greeting
                smtp._host = self.host  # smtplib sets it only in __init__; TLS verifies the name against it
                code, greeting = smtp.connect(self.host, self.port)
                if code != 220:
                    raise smtplib.SMTPConnectError(code, greeting)
                self._start_session(smtp)
                refused = smtp.sendmail(envelope_from, to, raw)
        except smtplib.SMTPRecipientsRefused as err:
            raise _refusal_error(err.recipients) from err
        except smtplib.SMTPConnectError as err:  # refused at the greeting: the server, not this message
            raise TransientError(f"SMTP {self.host}:{self.port} greeting: {err.smtp_code} {_reply_text(err)}") from err
        except smtplib.SMTPAuthenticationError as err:
            if self.token_source is not None:
                self.token_source.invalidate()
            raise CredentialError(f"SMTP login refused by {self.host}: {_reply_text(err)}") from err
        except smtplib.SMTPResponseException as err:
            raise reply_error(err.smtp_code, _reply_text(err)) from err
        except (smtplib.SMTPException, OSError) as err:
            raise TransientError(f"SMTP {self.host}:{self.port}: {str(err) or type(err).__name__}") from err
        finally:
            self._current = None
        if refused:
            raise _refusal_error(refused)
        log.debug("sent %s to %d recipient(s) via %s", message_id_of(raw), len(to), self.host)

    def abort(self) -> None:
        self._aborted = True
        smtp = self._current
        sock = getattr(smtp, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _unconnected(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(local_hostname=self.local_hostname, timeout=self.timeout,
                                    context=self._tls_context())  # fmt: skip
        return smtplib.SMTP(local_hostname=self.local_hostname, timeout=self.timeout)

    def _tls_context(self) -> ssl.SSLContext:
        """Certificates and host names verified; a private CA comes from `ca_file`."""
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def _start_session(self, smtp: smtplib.SMTP) -> None:
        """EHLO, STARTTLS unless told not to (never falling back to clear text), then login."""
        smtp.ehlo()
        if self.tls == "starttls":
            if not smtp.has_extn("starttls"):
                raise TransientError(f"SMTP {self.host}:{self.port} does not offer STARTTLS")
            smtp.starttls(context=self._tls_context())
            smtp.ehlo()
        if self.username and self.token_source is not None:
            self._xoauth2(smtp, self.username, self.token_source.access_token())
        elif self.username:
            smtp.login(self.username, self._password or "")

    @staticmethod
    def _xoauth2(smtp: smtplib.SMTP, user: str, token: str) -> None:
        """AUTH XOAUTH2; to an error challenge (JSON) the answer is empty, and the server then says 535."""
        smtp.auth("XOAUTH2", lambda challenge=None: "" if challenge else xoauth2_string(user, token))


def reply_error(code: int, text: str) -> TransientError | SmtpRefusal:
    """5xx is final (RFC 5321 §4.2.1); anything else may succeed later."""
    if 500 <= code <= 599:
        return SmtpRefusal(code, text)
    return TransientError(f"SMTP {code} {text}")


def _refusal_error(recipients: dict[str, tuple[int, bytes]]) -> TransientError | SmtpRefusal:
    """For refused recipients, the worst reply decides: one 5xx makes the whole send final."""
    replies = sorted(((code, _decode(text)) for code, text in recipients.values()), reverse=True)
    code, text = replies[0]
    return reply_error(code, text)


def _reply_text(err: smtplib.SMTPResponseException) -> str:
    return _decode(err.smtp_error)


def _decode(text: bytes | str) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return " ".join(raw.split())


class OutboxDelivery:
    """Writes each message as `<Message-ID>.eml` in a folder, for another program or a person to send."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"OutboxDelivery({str(self.path)!r})"

    def send(self, raw: bytes, envelope_from: str, to: list[str]) -> None:
        """Write atomically (temp file, fsync, rename); the same Message-ID overwrites, so resends are safe."""
        target = self.path / outbox_filename(message_id_of(raw))
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            _write_atomically(target, raw)
        except OSError as err:
            raise TransientError(f"cannot write {target}: {err}") from err
        log.debug("wrote %s for %s", target, ", ".join(to))

    def abort(self) -> None:
        """Nothing to break off: writing a local file does not hang."""


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID of a message we made, read from its header block only."""
    return BytesHeaderParser(policy=email_policy.compat32).parsebytes(raw).get("Message-ID")


def outbox_filename(message_id: object) -> str:
    """A safe file name from a Message-ID: no path separators, bounded length, never empty."""
    stem = _UNSAFE_FILENAME.sub("_", str(message_id or "").strip().strip("<>")).strip("._")[:150]
    return f"{stem or uuid.uuid4().hex}.eml"


def _write_atomically(target: Path, data: bytes) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_delivery(
    url: str,
    password: str | None = None,
    tls: str | None = None,
    ca_file: str | Path | None = None,
    *,
    timeout: float = 30,
    local_hostname: str | None = None,
    token_source: TokenSource | None = None,
) -> Delivery:
    """`smtp://[user@]host[:port]` (STARTTLS unless tls='none'), `smtps://...`, or `outbox:PATH`.

    The password never sits in the URL: it comes from the environment through `password`.
    """
    if url.startswith("outbox:"):
        return _open_outbox(url[len("outbox:") :])
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ConfigError(f"delivery URL must start with smtp://, smtps:// or outbox:, not {url!r}")
    _check_smtp_url(parts, url)
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError as err:
        raise ConfigError(f"delivery URL {url!r} has a bad port") from err
    username = unquote(parts.username) if parts.username else None
    if token_source is not None and not username:
        raise ConfigError(
            f'[smtp] auth = "xoauth2" needs the user to log in as in the url: smtp://USER@{parts.hostname}'
        )
    return SmtpDelivery(parts.hostname, port, tls=_tls_mode(parts.scheme, tls), username=username,
                        password=password, ca_file=ca_file, timeout=timeout,
                        local_hostname=local_hostname, token_source=token_source)  # fmt: skip


def _open_outbox(path: str) -> OutboxDelivery:
    if path.startswith("//"):
        path = urlsplit("outbox:" + path).path
    if not path.strip():
        raise ConfigError("outbox delivery URL needs a folder: outbox:/path/to/outbox")
    return OutboxDelivery(Path(path))


def _check_smtp_url(parts: SplitResult, url: str) -> None:
    if not parts.hostname:
        raise ConfigError(f"delivery URL {url!r} names no host")
    if parts.password is not None:
        raise ConfigError("delivery URL must not contain a password; set it in the environment")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"delivery URL {url!r} has a path or query this service does not use")


def _tls_mode(scheme: str, tls: str | None) -> str:
    """smtps:// is TLS from the start; smtp:// is STARTTLS unless tls='none' says otherwise."""
    if scheme == "smtps":
        if tls not in (None, "ssl"):
            raise ConfigError(f"smtps:// is TLS from the start; tls={tls!r} contradicts it")
        return "ssl"
    if tls not in (None, "starttls", "none"):
        raise ConfigError(f"smtp:// supports tls 'starttls' or 'none', not {tls!r}; use smtps:// for TLS")
    return tls or "starttls"
