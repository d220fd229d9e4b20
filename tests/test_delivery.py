"""Delivery against a real SMTP server (aiosmtpd on loopback) and into an outbox folder."""

from __future__ import annotations

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword

from ingest.ack_compose import compose_acknowledgement
from ingest.delivery import OutboxDelivery, SmtpDelivery, SmtpRefusal, open_delivery, outbox_filename, wire_bytes
from ingest.errors import ConfigError, CredentialError, PermanentDeliveryError, TransientError

LOOPBACK = "127.0.0.1"
US = "childrentrusts.consultation@dcsf.gsi.gov.uk"
RESPONDENT = "jane.smith@example.org"


class Recorder:
    """An aiosmtpd handler that keeps what it accepts and can be told to refuse."""

    def __init__(self) -> None:
        self.accepted: list[Envelope] = []
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        if self.data_reply:
            return self.data_reply
        self.accepted.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def acknowledgement() -> bytes:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"Children's Trusts Consultation <{US}>"
    msg["To"] = RESPONDENT
    msg["Subject"] = "Re: Consultation response"
    msg["Message-ID"] = "<ack.1/2@intake.example.net>"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("Your reference is CT08-000123.")
    return wire_bytes(msg)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, which is its own CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def running(handler: Recorder, **kwargs: object) -> Iterator[Controller]:
    controller = Controller(handler, hostname=LOOPBACK, port=free_port(), **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def plain_smtp(recorder: Recorder) -> Iterator[Controller]:
    yield from running(recorder)


@pytest.fixture
def starttls_smtp(recorder: Recorder, certificate: tuple[Path, Path]) -> Iterator[Controller]:
    yield from running(recorder, tls_context=server_context(certificate), require_starttls=True)


@pytest.fixture
def smtps(recorder: Recorder, certificate: tuple[Path, Path]) -> Iterator[Controller]:
    yield from running(recorder, ssl_context=server_context(certificate))


def check_password(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def auth_smtp(recorder: Recorder, certificate: tuple[Path, Path]) -> Iterator[Controller]:
    yield from running(recorder, tls_context=server_context(certificate), require_starttls=True,
                       authenticator=check_password, auth_required=True)  # fmt: skip


def plain(controller: Controller) -> SmtpDelivery:
    return SmtpDelivery(LOOPBACK, controller.port, tls="none", timeout=5)


# --------------------------------------------------------------------------- SMTP


def test_delivery_succeeds(plain_smtp: Controller, recorder: Recorder) -> None:
    plain(plain_smtp).send(acknowledgement(), US, [RESPONDENT])
    [envelope] = recorder.accepted
    assert envelope.mail_from == US
    assert envelope.rcpt_tos == [RESPONDENT]
    received = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert received["Message-ID"] == "<ack.1/2@intake.example.net>"
    assert received["Auto-Submitted"] == "auto-replied"


def test_composed_acknowledgement_arrives_intact(plain_smtp: Controller, recorder: Recorder) -> None:
    """What compose_acknowledgement builds survives smtplib: long ids unencoded, threading kept."""
    long_id = "<OF1AB51D15.FE9C2089-ON80250ADE.0CF29BE3-8025129E.E229F3DC@hospital.nhs.example.net>"
    original = email.message_from_bytes(
        f"From: {RESPONDENT}\r\nSubject: Response\r\nMessage-ID: {long_id}\r\n\r\nHi.\r\n".encode(),
        policy=email.policy.default,
    )
    ack = compose_acknowledgement(
        original=original, to_address=RESPONDENT, to_name="Jane Smith", from_address=US,
        from_name="Children's Trusts Consultation", references=["CT08-000123"],
        received_at=datetime(2008, 4, 1, tzinfo=UTC), questions_answered=8, questions_total=8,
        confidential=False, contact="the Consultation Unit", loop_header="X-Consultation-Intake",
        message_id_domain="intake.example.net", subject_template=None, templates_dir=None,
    )  # fmt: skip
    stored_and_read_back = BytesParser(policy=email.policy.SMTP).parsebytes(ack.raw)
    for raw in (ack.raw, wire_bytes(stored_and_read_back)):
        plain(plain_smtp).send(raw, US, [RESPONDENT])
    for envelope in recorder.accepted:
        assert f"In-Reply-To: {long_id}\r\n".encode() in envelope.original_content
        received = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert received["References"] == long_id
        assert received["Message-ID"] == ack.message_id
        assert "CT08-000123" in received.get_body(("plain",)).get_content()


def test_no_recipients_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        SmtpDelivery(LOOPBACK, 25, tls="none").send(acknowledgement(), US, [])


def test_null_envelope_sender_is_possible(plain_smtp: Controller, recorder: Recorder) -> None:
    plain(plain_smtp).send(acknowledgement(), "", [RESPONDENT])
    assert recorder.accepted[0].mail_from in ("", "<>")  # aiosmtpd keeps the brackets


def test_451_is_transient(plain_smtp: Controller, recorder: Recorder) -> None:
    recorder.rcpt_reply = "451 4.7.1 Greylisted, try again later"
    with pytest.raises(TransientError, match="451"):
        plain(plain_smtp).send(acknowledgement(), US, [RESPONDENT])


def test_550_is_permanent_with_the_servers_words(plain_smtp: Controller, recorder: Recorder) -> None:
    recorder.rcpt_reply = "550 5.1.1 <jane.smith@example.org>: Recipient address rejected: User unknown"
    with pytest.raises(PermanentDeliveryError) as caught:
        plain(plain_smtp).send(acknowledgement(), US, [RESPONDENT])
    assert isinstance(caught.value, SmtpRefusal)
    assert caught.value.code == 550
    assert "User unknown" in caught.value.text
    assert "550 5.1.1" in str(caught.value)


def test_5xx_after_data_is_permanent(plain_smtp: Controller, recorder: Recorder) -> None:
    recorder.data_reply = "554 5.7.1 Message rejected as spam"
    with pytest.raises(SmtpRefusal, match="rejected as spam"):
        plain(plain_smtp).send(acknowledgement(), US, [RESPONDENT])


def test_server_down_is_transient() -> None:
    with pytest.raises(TransientError):
        SmtpDelivery(LOOPBACK, free_port(), tls="none", timeout=5).send(acknowledgement(), US, [RESPONDENT])


def test_silent_server_times_out_as_transient() -> None:
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()  # the kernel accepts; nobody ever says 220
        delivery = SmtpDelivery(LOOPBACK, listener.getsockname()[1], tls="none", timeout=0.5)
        with pytest.raises(TransientError):
            delivery.send(acknowledgement(), US, [RESPONDENT])


def test_starttls_verified_with_ca_file(
    starttls_smtp: Controller, recorder: Recorder, certificate: tuple[Path, Path]
) -> None:
    SmtpDelivery(LOOPBACK, starttls_smtp.port, ca_file=certificate[0], timeout=5).send(
        acknowledgement(), US, [RESPONDENT]
    )
    assert len(recorder.accepted) == 1


def test_starttls_with_unknown_ca_is_refused(starttls_smtp: Controller, recorder: Recorder) -> None:
    """Without our CA the self-signed certificate fails verification: nothing is sent in clear."""
    with pytest.raises(TransientError, match="certificate"):
        SmtpDelivery(LOOPBACK, starttls_smtp.port, timeout=5).send(acknowledgement(), US, [RESPONDENT])
    assert recorder.accepted == []


def test_starttls_required_but_not_offered(plain_smtp: Controller, recorder: Recorder) -> None:
    with pytest.raises(TransientError, match="STARTTLS"):
        SmtpDelivery(LOOPBACK, plain_smtp.port, timeout=5).send(acknowledgement(), US, [RESPONDENT])
    assert recorder.accepted == []


def test_smtps_verified_with_ca_file(smtps: Controller, recorder: Recorder, certificate: tuple[Path, Path]) -> None:
    delivery = open_delivery(f"smtps://{LOOPBACK}:{smtps.port}", ca_file=certificate[0])
    delivery.send(acknowledgement(), US, [RESPONDENT])
    assert len(recorder.accepted) == 1


def test_login_over_starttls(auth_smtp: Controller, recorder: Recorder, certificate: tuple[Path, Path]) -> None:
    delivery = open_delivery(f"smtp://intake@{LOOPBACK}:{auth_smtp.port}", password="s3cret", ca_file=certificate[0])
    delivery.send(acknowledgement(), US, [RESPONDENT])
    assert len(recorder.accepted) == 1
    assert "s3cret" not in repr(delivery)


def test_wrong_password_is_a_credential_error(auth_smtp: Controller, certificate: tuple[Path, Path]) -> None:
    delivery = open_delivery(f"smtp://intake@{LOOPBACK}:{auth_smtp.port}", password="wrong", ca_file=certificate[0])
    with pytest.raises(CredentialError):
        delivery.send(acknowledgement(), US, [RESPONDENT])


# --------------------------------------------------------------------------- outbox


def test_outbox_writes_a_file(tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    OutboxDelivery(outbox).send(acknowledgement(), US, [RESPONDENT])
    [written] = list(outbox.iterdir())
    assert written.name == "ack.1_2@intake.example.net.eml"
    parsed = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == "Re: Consultation response"


def test_outbox_resend_replaces_the_same_file(tmp_path: Path) -> None:
    delivery = OutboxDelivery(tmp_path)
    delivery.send(acknowledgement(), US, [RESPONDENT])
    delivery.send(acknowledgement(), US, [RESPONDENT])
    assert [p.name for p in tmp_path.iterdir()] == ["ack.1_2@intake.example.net.eml"]


@pytest.mark.parametrize(
    ("message_id", "expected"),
    [("<../../etc/passwd@x>", "etc_passwd@x.eml"), ("<a b\\c@x>", "a_b_c@x.eml")],
)
def test_outbox_filename_is_sanitised(message_id: str, expected: str) -> None:
    assert outbox_filename(message_id) == expected


def test_outbox_filename_without_message_id() -> None:
    assert outbox_filename(None).endswith(".eml") and len(outbox_filename(None)) > 10


def test_outbox_on_unwritable_path_is_transient(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TransientError):
        OutboxDelivery(blocker / "outbox").send(acknowledgement(), US, [RESPONDENT])


# --------------------------------------------------------------------------- open_delivery


def test_open_smtp_defaults_to_starttls() -> None:
    delivery = open_delivery("smtp://mail.example.org")
    assert isinstance(delivery, SmtpDelivery)
    assert (delivery.host, delivery.port, delivery.tls) == ("mail.example.org", 25, "starttls")


def test_open_smtp_with_user_and_port() -> None:
    delivery = open_delivery("smtp://intake%40dcsf@mail.example.org:587", password="x", tls="none")
    assert (delivery.username, delivery.port, delivery.tls) == ("intake@dcsf", 587, "none")


def test_open_smtps() -> None:
    delivery = open_delivery("smtps://mail.example.org")
    assert (delivery.port, delivery.tls) == (465, "ssl")


def test_open_outbox(tmp_path: Path) -> None:
    delivery = open_delivery(f"outbox:{tmp_path}")
    assert isinstance(delivery, OutboxDelivery) and delivery.path == tmp_path


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.org",
        "smtp://",
        "smtp://user:password@mail.example.org",
        "smtp://mail.example.org:notaport",
        "smtp://mail.example.org/path",
        "outbox:",
        "mail.example.org",
    ],
)
def test_bad_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        open_delivery(url)


@pytest.mark.parametrize(("url", "tls"), [("smtps://mail.example.org", "none"), ("smtp://m.example.org", "ssl")])
def test_contradictory_tls_is_a_config_error(url: str, tls: str) -> None:
    with pytest.raises(ConfigError):
        open_delivery(url, tls=tls)


def test_missing_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        open_delivery("smtp://mail.example.org", ca_file=tmp_path / "missing.pem")
