"""The service's configuration: declared once, loaded once, frozen.

`load_config` reads `config.toml` with tomllib and validates it with pydantic (already a dependency
through SQLModel). Every error names the key at fault, and is raised as `ConfigError` before
anything is touched: the CLI turns it into one line on stderr and exit status 2. Secrets never sit
in the file; they come from the environment.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ingest.errors import ConfigError

if TYPE_CHECKING:
    from ingest.oauth import TokenSource
from parsers.formdef import FormDefinition, FormDefinitionError, load_form
from store.retention import RetentionPolicy

PASSWORD_ENV = {"mailbox": "INTAKE_MAILBOX_PASSWORD", "smtp": "INTAKE_SMTP_PASSWORD"}
WEB_SECRET_ENV = "INTAKE_WEB_SECRET_KEY"
MAILBOX_SCHEMES = ("imaps://", "imap://", "maildir:")
SMTP_SCHEMES = ("smtps://", "smtp://", "outbox:")
DATABASE_SCHEMES = ("sqlite://", "postgresql")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FormSection(_Section):
    definition: str = "forms/childrens-trusts-2008.toml"


class _LoginSection(_Section):
    """How a mail server login is made: a password, or an OAuth 2.0 token (SASL XOAUTH2)."""

    auth: Literal["password", "xoauth2"] = "password"
    token_url: str = ""
    client_id: str = ""
    scope: str = ""

    @field_validator("token_url")
    @classmethod
    def _token_url(cls, v: str) -> str:
        loopback = v.startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
        if v and not (v.startswith("https://") or loopback):
            raise ValueError("must be an https:// address (http:// only on loopback, for tests)")
        return v

    @model_validator(mode="after")
    def _xoauth2_needs_endpoint(self) -> _LoginSection:
        if self.auth == "xoauth2" and not (self.token_url and self.client_id):
            raise ValueError('auth = "xoauth2" needs token_url and client_id')
        return self


class MailboxSection(_LoginSection):
    url: str = "maildir:var/sample-maildir"
    processed_folder: str = "Processed"
    tls: Literal["", "none"] = ""
    ca_file: str = ""
    batch_size: int = Field(50, ge=1, le=1000)
    timeout_seconds: float = Field(30.0, gt=0)
    sent_folder: str = "Sent"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(MAILBOX_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(MAILBOX_SCHEMES)}")
        return v


class SmtpSection(_LoginSection):
    url: str = "outbox:var/outbox"
    from_address: str = Field("childrentrusts.consultation@dcsf.gsi.gov.uk", alias="from")
    from_name: str = "Children's Trusts Consultation"
    tls: Literal["", "none"] = ""
    ca_file: str = ""
    timeout_seconds: float = Field(30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(SMTP_SCHEMES):
            raise ValueError(f"must start with one of {', '.join(SMTP_SCHEMES)}")
        return v

    @field_validator("from_address")
    @classmethod
    def _from(cls, v: str) -> str:
        if "@" not in v or any(c in v for c in " \r\n<>"):
            raise ValueError("must be a plain e-mail address")
        return v


class AcknowledgementSection(_Section):
    policy: Literal["all", "requested", "never"] = "all"
    per_recipient_daily: int = Field(3, ge=1)
    per_cycle: int = Field(500, ge=1)
    subject: str = ""
    templates: str = ""
    contact: str = "childrentrusts.consultation@dcsf.gsi.gov.uk"
    loop_header: str = "X-Consultation-Intake"
    max_attempts: int = Field(10, ge=1)
    retry_base_seconds: float = Field(60.0, ge=0)
    sent_copy: bool = True


class DatabaseSection(_Section):
    url: str = "sqlite:///var/intake.db"

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(DATABASE_SCHEMES):
            raise ValueError("must be an SQLAlchemy URL starting sqlite:// or postgresql+psycopg://")
        return v


class ScheduleSection(_Section):
    interval_seconds: int = Field(300, ge=5)
    cycle_deadline_seconds: float = Field(3600.0, ge=5)
    push: bool = True
    idle_renew_seconds: float = Field(600.0, ge=10, le=1740)  # RFC 2177: servers may end IDLE at 30 min
    maildir_check_seconds: float = Field(5.0, gt=0)
    heartbeat_cycles: int = Field(12, ge=0)


class LimitsSection(_Section):
    max_message_mb: float = Field(40.0, gt=0)
    max_attachment_mb: float = Field(25.0, gt=0)
    parse_timeout_seconds: float = Field(60.0, gt=0)
    parse_memory_mb: int = Field(1500, ge=200)
    max_pdf_pages: int = Field(40, ge=1)
    convert_timeout_seconds: float = Field(90.0, gt=0)
    # Sandboxed readers working at once; 0 means one per core.
    workers: int = Field(0, ge=0, le=64)

    @property
    def reader_workers(self) -> int:
        return self.workers or os.cpu_count() or 1


class ReportSection(_Section):
    email_to: list[str] = []

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, v: list[str]) -> list[str]:
        for address in v:
            if "@" not in address or any(c in address for c in " \r\n<>,"):
                raise ValueError(f"{address!r} is not a plain e-mail address")
        return v


class RetentionSection(_Section):
    """Days each kind of personal data is kept (store/retention.py); unset keeps it for ever."""

    originals_days_after_close: int | None = Field(None, ge=0)
    acknowledgement_days: int | None = Field(None, ge=0)
    failed_and_junk_days: int | None = Field(None, ge=0)


class WebSection(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    base_url: str = ""
    secret_key_file: str = ""
    threads: int = Field(4, ge=1, le=64)

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        if v and (not v.startswith(("http://", "https://")) or any(c in v for c in " \r\n\"'<>")):
            raise ValueError("must be empty or an http:// or https:// address")
        return v.rstrip("/")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not v or any(c in v for c in " /\r\n"):
            raise ValueError("must be a host name or an IP address")
        return v


class Settings(_Section):
    form: FormSection = FormSection()
    mailbox: MailboxSection = MailboxSection()
    smtp: SmtpSection = SmtpSection()
    acknowledgements: AcknowledgementSection = AcknowledgementSection()
    database: DatabaseSection = DatabaseSection()
    schedule: ScheduleSection = ScheduleSection()
    limits: LimitsSection = LimitsSection()
    report: ReportSection = ReportSection()
    retention: RetentionSection = RetentionSection()
    web: WebSection = WebSection()


class Config:
    """Validated settings plus what they point to, with paths made absolute."""

    def __init__(self, settings: Settings, base_dir: Path, form: FormDefinition) -> None:
        self.settings = settings
        self.base_dir = base_dir
        self.form = form

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def mailbox_url(self) -> str:
        return _absolute_file_url(self.settings.mailbox.url, "maildir:", self)

    @property
    def smtp_url(self) -> str:
        return _absolute_file_url(self.settings.smtp.url, "outbox:", self)

    @property
    def database_url(self) -> str:
        url = self.settings.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
            return prefix + str(self.path(url[len(prefix) :]))
        return url

    @property
    def retention(self) -> RetentionPolicy:
        """The `[retention]` periods, counted from this consultation's closing date."""
        r = self.settings.retention
        return RetentionPolicy(
            closes=self.form.closes,
            originals_days_after_close=r.originals_days_after_close,
            acknowledgement_days=r.acknowledgement_days,
            failed_and_junk_days=r.failed_and_junk_days,
        )

    @staticmethod
    def secret(section: str) -> str | None:
        return os.environ.get(PASSWORD_ENV[section]) or None

    def token_source(self, section: str) -> TokenSource | None:
        """The shared OAuth token source of `[mailbox]` or `[smtp]`, or None for a password login."""
        from ingest.oauth import CLIENT_SECRET_ENV, REFRESH_TOKEN_ENV, OAuthSettings, token_source_for

        login: _LoginSection = getattr(self.settings, section)
        if login.auth != "xoauth2":
            return None
        settings = OAuthSettings(
            login.token_url,
            login.client_id,
            login.scope,
            client_secret=os.environ.get(CLIENT_SECRET_ENV) or None,
            refresh_token=os.environ.get(REFRESH_TOKEN_ENV) or None,
        )
        settings.check(section)
        return token_source_for(settings)


def _absolute_file_url(url: str, scheme: str, cfg: Config) -> str:
    if url.startswith(scheme):
        return scheme + str(cfg.path(url[len(scheme) :]))
    return url


def _describe(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    key = f"[{loc[0]}] {'.'.join(loc[1:])}" if len(loc) > 1 else loc[0] if loc else "?"
    kind = first["type"]
    if kind == "extra_forbidden":
        return f"{source}: unknown key {key} (misspelt?)"
    msg = first["msg"].removeprefix("Value error, ")
    return f"{source}: {key}: {msg}"


def load_config(path: str | Path) -> Config:
    """Read and validate the config file; raise ConfigError naming the key at fault."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: no such config file") from err
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from err
    try:
        settings = Settings.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, str(path))) from err
    base_dir = path.resolve().parent
    form_path = Path(settings.form.definition)
    form_path = form_path if form_path.is_absolute() else base_dir / form_path
    try:
        form = load_form(form_path)
    except FormDefinitionError as err:
        raise ConfigError(f"{path}: [form] definition: {err}") from err
    return Config(settings, base_dir, form)
