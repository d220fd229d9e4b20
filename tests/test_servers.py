"""Smoke tests for the private test servers: if these fail, nothing that uses them can pass."""

from __future__ import annotations

import smtplib
import ssl

import psycopg
import pytest
from imapclient import IMAPClient
from servers import DovecotServer, SmtpTestServer, tls_context

HELLO = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: hello\r\n\r\nHello there.\r\n"


def send(server: SmtpTestServer, raw: bytes = HELLO, login: tuple[str, str] | None = None) -> None:
    with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
        if login:
            smtp.login(*login)
        smtp.sendmail("a@example.org", ["b@example.org", "c@example.org"], raw)


# --------------------------------------------------------------------------- Dovecot


def test_dovecot_append_then_list_gives_exact_bytes(clean_dovecot: DovecotServer):
    clean_dovecot.append("INBOX", HELLO)

    assert clean_dovecot.list_folder("INBOX") == [HELLO]


def test_dovecot_reset_empties_inbox_and_removes_folders(clean_dovecot: DovecotServer):
    clean_dovecot.append("INBOX", HELLO)
    clean_dovecot.append("Processed", HELLO)
    assert clean_dovecot.folders() == ["INBOX", "Processed"]

    clean_dovecot.reset()

    assert clean_dovecot.folders() == ["INBOX"]
    assert clean_dovecot.list_folder("INBOX") == []


def test_dovecot_refuses_a_wrong_password(dovecot: DovecotServer):
    imap = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10)
    with pytest.raises(IMAPClient.Error):
        imap.login(dovecot.user, "wrong")
    imap.shutdown()


def test_dovecot_imaps_verifies_with_the_test_ca(dovecot: DovecotServer):
    imap = IMAPClient(dovecot.host, port=dovecot.imaps_port, ssl=True, ssl_context=tls_context(dovecot.ca_file))
    imap.login(dovecot.user, dovecot.password)
    assert imap.folder_exists("INBOX")
    imap.logout()


def test_dovecot_starttls_verifies_with_the_test_ca(dovecot: DovecotServer):
    imap = IMAPClient(dovecot.host, port=dovecot.port, ssl=False, timeout=10)
    imap.starttls(tls_context(dovecot.ca_file))
    imap.login(dovecot.user, dovecot.password)
    imap.logout()


def test_dovecot_imaps_is_refused_without_the_test_ca(dovecot: DovecotServer):
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(dovecot.host, port=dovecot.imaps_port, ssl=True, ssl_context=ssl.create_default_context())


def test_dotted_dovecot_names_folders_under_inbox(clean_dovecot_dotted: DovecotServer):
    clean_dovecot_dotted.append(clean_dovecot_dotted.folder("Processed"), HELLO)

    assert clean_dovecot_dotted.folders() == ["INBOX", "INBOX.Processed"]
    with clean_dovecot_dotted.client() as imap:
        assert imap.namespace().personal == (("INBOX.", "."),)


def test_dovecot_url_names_user_and_port(dovecot: DovecotServer):
    assert dovecot.imap_url == f"imap://intake@127.0.0.1:{dovecot.port}/INBOX"


# --------------------------------------------------------------------------- SMTP


def test_smtp_records_envelope_and_bytes(smtp_server: SmtpTestServer):
    send(smtp_server)

    (received,) = smtp_server.received
    assert received.mail_from == "a@example.org"
    assert received.rcpt_tos == ("b@example.org", "c@example.org")
    assert received.raw == HELLO


def test_smtp_scripted_451_twice_then_accepts(smtp_server: SmtpTestServer):
    smtp_server.fail_next(451, "try again later", times=2)

    for _ in range(2):
        with pytest.raises(smtplib.SMTPDataError) as refused:
            send(smtp_server)
        assert refused.value.smtp_code == 451
    send(smtp_server)

    assert len(smtp_server.received) == 1
    assert smtp_server.attempts == 3


def test_smtp_scripted_550_for_ever(smtp_server: SmtpTestServer):
    smtp_server.fail_next(550, "no such user", times=None, stage="RCPT")

    for _ in range(3):
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            send(smtp_server)
        codes = {code for code, _text in refused.value.recipients.values()}
        assert codes == {550}
    assert smtp_server.received == []


def test_smtp_stop_refuses_and_start_serves_on_the_same_port(smtp_server: SmtpTestServer):
    port = smtp_server.port
    smtp_server.stop()
    with pytest.raises(ConnectionRefusedError):
        send(smtp_server)

    smtp_server.start()
    send(smtp_server)

    assert smtp_server.port == port
    assert len(smtp_server.received) == 1


def test_smtp_auth_accepts_right_password(smtp_auth_server: SmtpTestServer):
    send(smtp_auth_server, login=("mailer", "mailer-pw"))

    assert len(smtp_auth_server.received) == 1


def test_smtp_auth_refuses_wrong_password(smtp_auth_server: SmtpTestServer):
    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        send(smtp_auth_server, login=("mailer", "wrong"))

    assert refused.value.smtp_code == 535
    assert smtp_auth_server.received == []


# --------------------------------------------------------------------------- PostgreSQL


def test_pg_url_is_a_fresh_empty_database(pg_url: str):
    assert pg_url.startswith("postgresql+psycopg://")
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        conn.execute("CREATE TABLE t (x int)")
    assert tables == (0,)


def test_pg_url_differs_between_tests(pg_url: str, request: pytest.FixtureRequest):
    # A second database in the same test proves names are unique.
    from servers import fresh_database

    with fresh_database() as other:
        assert other != pg_url
