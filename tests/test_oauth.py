"""XOAUTH2 on a real Dovecot whose `oauth2` passdb asks a local introspection endpoint.

The token endpoint (tests/servers.py `OAuthTestServer`) issues tokens by the client-credentials
grant, as Microsoft 365 does for app-only IMAP access. Shown: a login with a valid token; a token
replaced before it expires (and the expired one refused by the server); a revoked token reported
as a credential error that backs the mailbox login off; a disabled client likewise.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import pytest
from intake_env import response_mail, run_intake, write_config, write_local_config
from servers import SmtpTestServer, XOAuth2Handler, running_oauth_dovecot

from ingest.backoff import LoginBackoff
from ingest.delivery import open_delivery
from ingest.errors import CredentialError
from ingest.oauth import EARLY, OAuthSettings, TokenSource
from ingest.sources import ImapSource
from store.db import make_engine


@pytest.fixture(scope="module")
def oauth_dovecot():
    with running_oauth_dovecot() as servers:
        yield servers


@pytest.fixture
def oauth(oauth_dovecot):
    oauth, dovecot = oauth_dovecot
    dovecot.reset()
    oauth.client_disabled, oauth.lifetime, oauth.refresh_token = False, 3600.0, "refresh-of-the-test"
    return oauth, dovecot


def _config(tmp_path, oauth, dovecot, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("INTAKE_OAUTH_CLIENT_SECRET", oauth.client_secret)
    monkeypatch.delenv("INTAKE_MAILBOX_PASSWORD", raising=False)
    return write_config(
        tmp_path,
        mailbox_url=dovecot.imap_url,
        smtp_url=f"outbox:{tmp_path / 'outbox'}",
        database_url=f"sqlite:///{tmp_path / 'intake.db'}",
        mailbox=f'auth = "xoauth2"\ntoken_url = "{oauth.token_url}"\nclient_id = "{oauth.client_id}"\n'
        'scope = "https://outlook.office365.com/.default"',
    )


def _source(oauth, dovecot, tokens: TokenSource) -> ImapSource:  # type: ignore[no-untyped-def]
    return ImapSource(dovecot.host, dovecot.port, dovecot.user, "", tls="none", token_source=tokens,
                      connect_attempts=1)  # fmt: skip


def _logins(oauth, dovecot, tokens: TokenSource) -> None:  # type: ignore[no-untyped-def]
    with _source(oauth, dovecot, tokens) as source:
        assert list(source.fetch_new(lambda key: False)) == []


def test_intake_run_logs_in_with_a_client_credentials_token(oauth, tmp_path, monkeypatch, capsys):
    oauth, dovecot = oauth
    dovecot.append("INBOX", response_mail())
    config = _config(tmp_path, oauth, dovecot, monkeypatch)
    assert run_intake(config, "run") == 0, capsys.readouterr().err
    assert len(dovecot.list_folder("Processed")) == 1
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    assert oauth.introspections >= 1
    assert not any(token in capsys.readouterr().err for token in oauth.issued), "a token was printed"


def test_a_token_is_replaced_before_it_expires(oauth):
    oauth, dovecot = oauth
    now = [1_000_000.0]
    settings = OAuthSettings(oauth.token_url, oauth.client_id, "", client_secret=oauth.client_secret)
    tokens = TokenSource(settings, clock=lambda: now[0])
    _logins(oauth, dovecot, tokens)
    _logins(oauth, dovecot, tokens)
    assert tokens.fetched == 1, "a valid token is reused"
    first = tokens.access_token()
    now[0] += 3600 - EARLY + 1  # within a minute of its expiry
    oauth.issued[first] = 0  # and the server no longer takes it
    _logins(oauth, dovecot, tokens)
    assert tokens.fetched == 2 and tokens.access_token() != first


def test_a_revoked_token_is_a_credential_error_that_backs_off(oauth, tmp_path, monkeypatch, capsys):
    oauth, dovecot = oauth
    config = _config(tmp_path, oauth, dovecot, monkeypatch)
    assert run_intake(config, "run") == 0
    oauth.revoke_all()
    capsys.readouterr()
    assert run_intake(config, "run") == 1
    err = capsys.readouterr().err
    assert "login as intake" in err and "refused" in err, err
    logins = LoginBackoff(make_engine(f"sqlite:///{tmp_path / 'intake.db'}"), "mailbox-login", dt.timedelta(0))
    assert logins.failures() == 1
    asked = oauth.introspections
    assert run_intake(config, "run") == 1
    assert "login refused before" in capsys.readouterr().err
    assert oauth.introspections == asked, "no login while backing off"
    assert run_intake(config, "status") == 1
    assert "mailbox-login: refused 1 time(s)" in capsys.readouterr().out
    logins.succeeded()  # the back-off has passed: the next login fetches a new token
    assert run_intake(config, "run") == 0


def test_a_disabled_client_is_a_credential_error(oauth):
    oauth, dovecot = oauth
    oauth.client_disabled = True
    settings = OAuthSettings(oauth.token_url, oauth.client_id, "", client_secret=oauth.client_secret)
    with pytest.raises(CredentialError, match="invalid_client") as caught:
        _logins(oauth, dovecot, TokenSource(settings))
    assert oauth.client_secret not in str(caught.value)


def test_smtp_sends_with_xoauth2_and_a_revoked_token_is_a_credential_error(oauth):
    oauth, _dovecot = oauth
    smtp = SmtpTestServer(handler=XOAuth2Handler(oauth))
    smtp.start()
    try:
        settings = OAuthSettings(oauth.token_url, oauth.client_id, "", client_secret=oauth.client_secret)
        tokens = TokenSource(settings)
        delivery = open_delivery(f"smtp://intake@{smtp.host}:{smtp.port}", tls="none", token_source=tokens)
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "consultation@example.gov.uk", "pat@example.org", "ack"
        msg.set_content("Thank you.")
        raw = msg.as_bytes()
        delivery.send(raw, "consultation@example.gov.uk", ["pat@example.org"])
        assert len(smtp.received) == 1
        oauth.revoke_all()
        with pytest.raises(CredentialError, match="SMTP login refused"):
            delivery.send(raw, "consultation@example.gov.uk", ["pat@example.org"])
        delivery.send(raw, "consultation@example.gov.uk", ["pat@example.org"])  # a new token, fetched at once
        assert len(smtp.received) == 2 and tokens.fetched == 2
    finally:
        smtp.stop()


@pytest.mark.parametrize(
    ("lines", "needle"),
    [
        ('auth = "xoauth2"\n', "needs token_url and client_id"),
        ('auth = "xoauth2"\ntoken_url = "http://example.org/token"\nclient_id = "x"\n', "https://"),
        ('auth = "xoauth2"\ntoken_url = "https://login.example/token"\nclient_id = "x"\n', "INTAKE_OAUTH_"),
    ],
)
def test_xoauth2_configuration_errors_exit_2(tmp_path, monkeypatch, capsys, lines, needle):
    monkeypatch.delenv("INTAKE_OAUTH_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("INTAKE_OAUTH_REFRESH_TOKEN", raising=False)
    config = write_local_config(tmp_path)
    config.write_text(config.read_text().replace("[mailbox]\n", "[mailbox]\n" + lines, 1))
    assert run_intake(config, "run") == 2
    assert needle in capsys.readouterr().err


def test_a_refresh_token_logs_in_as_google_has_it(oauth):
    oauth, dovecot = oauth
    settings = OAuthSettings(oauth.token_url, oauth.client_id, "https://mail.google.com/",
                             refresh_token=oauth.refresh_token)  # fmt: skip
    tokens = TokenSource(settings)
    _logins(oauth, dovecot, tokens)
    assert tokens.fetched == 1 and settings.flow == "refresh_token"
    oauth.refresh_token = "withdrawn"  # consent withdrawn: the grant is refused
    tokens.invalidate()
    with pytest.raises(CredentialError, match="invalid_grant"):
        _logins(oauth, dovecot, tokens)
