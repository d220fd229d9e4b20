"""OAuth 2.0 access tokens for SASL XOAUTH2, as Microsoft 365 and Google Workspace require.

Microsoft 365 takes no passwords over IMAP and SMTP: an app registered in Entra ID gets an access
token by the client-credentials flow (`[mailbox] token_url` the tenant's v2.0 token endpoint,
`scope = "https://outlook.office365.com/.default"`) and logs in to the shared mailbox with it.
Google Workspace uses a refresh token obtained once by consent (`scope = "https://mail.google.com/"`).
The client secret and the refresh token come from the environment (INTAKE_OAUTH_CLIENT_SECRET,
INTAKE_OAUTH_REFRESH_TOKEN), never from the file, and neither they nor a token is ever logged.

Authlib does the HTTP (a maintained OAuth library rather than hand-written requests). A token is
kept in the process (one per endpoint, client and scope, shared by the IDLE watcher and the cycles)
and fetched again `EARLY` before it expires, or at once after the server refused it. A refusal by
the token endpoint (invalid_client, invalid_grant: a secret revoked or expired, consent withdrawn)
is a `CredentialError`, which backs the mailbox login off (ingest/backoff.py); an endpoint that
cannot be reached is a `TransientError`, tried again next cycle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.errors import ConfigError, CredentialError, TransientError

log = logging.getLogger(__name__)

CLIENT_SECRET_ENV = "INTAKE_OAUTH_CLIENT_SECRET"
REFRESH_TOKEN_ENV = "INTAKE_OAUTH_REFRESH_TOKEN"
EARLY = 60.0  # seconds before expiry at which a token is replaced
REFUSALS = frozenset({"invalid_client", "invalid_grant", "unauthorized_client", "access_denied", "invalid_scope"})


@dataclass(frozen=True)
class OAuthSettings:
    token_url: str
    client_id: str
    scope: str
    client_secret: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)

    @property
    def flow(self) -> str:
        return "refresh_token" if self.refresh_token else "client_credentials"

    def check(self, section: str) -> None:
        if self.flow == "client_credentials" and not self.client_secret:
            raise ConfigError(
                f'[{section}] auth = "xoauth2" needs {CLIENT_SECRET_ENV} (client credentials) '
                f"or {REFRESH_TOKEN_ENV} (a refresh token) in the environment"
            )


class TokenSource:
    """One cached access token, fetched again before it expires or after a refusal."""

    def __init__(self, settings: OAuthSettings, *, timeout: float = 30.0, clock: Callable[[], float] = time.time):
        self.settings, self.timeout, self.clock = settings, timeout, clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.fetched = 0  # tokens obtained, for tests and the debug log

    def __repr__(self) -> str:  # never the secret or the token
        s = self.settings
        return f"TokenSource({s.token_url!r}, client_id={s.client_id!r}, flow={s.flow})"

    def access_token(self) -> str:
        with self._lock:
            if self._token is None or self.clock() >= self._expires_at - EARLY:
                self._token, self._expires_at = self._fetch()
            return self._token

    def invalidate(self) -> None:
        """The server refused the token: the next login fetches a new one."""
        with self._lock:
            self._token = None

    def _fetch(self) -> tuple[str, float]:
        from authlib.integrations.base_client import OAuthError
        from authlib.integrations.requests_client import OAuth2Session
        from requests import RequestException

        s = self.settings
        where = f"OAuth token endpoint {s.token_url}"
        session = OAuth2Session(s.client_id, s.client_secret, scope=s.scope or None,
                                token_endpoint_auth_method="client_secret_post")  # fmt: skip
        try:
            with session:
                if s.flow == "refresh_token":
                    token = session.refresh_token(s.token_url, refresh_token=s.refresh_token, timeout=self.timeout)
                else:
                    token = session.fetch_token(s.token_url, grant_type="client_credentials", timeout=self.timeout)
        except OAuthError as err:
            words = f"{err.error}{': ' + err.description if err.description else ''}"
            if err.error in REFUSALS:
                raise CredentialError(f"{where} refused {s.client_id}: {words}") from err
            raise TransientError(f"{where}: {words}") from err
        except (RequestException, ValueError) as err:
            raise TransientError(f"{where} unavailable: {type(err).__name__}") from err
        if not token.get("access_token"):
            raise TransientError(f"{where} answered without an access token")
        self.fetched += 1
        lifetime = float(token.get("expires_in") or 3600)
        log.debug("new OAuth access token for %s, valid %.0f s", s.client_id, lifetime)
        return str(token["access_token"]), self.clock() + lifetime


_sources: dict[tuple[str, str, str, str], TokenSource] = {}
_sources_lock = threading.Lock()


def token_source_for(settings: OAuthSettings) -> TokenSource:
    """The process's one token source for this endpoint, client, scope and flow."""
    key = (settings.token_url, settings.client_id, settings.scope, settings.flow)
    with _sources_lock:
        source = _sources.get(key)
        if source is None or source.settings != settings:
            source = _sources[key] = TokenSource(settings)
        return source


def xoauth2_string(user: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64), as Google and Microsoft document it."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"
