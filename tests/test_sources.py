"""Mailbox sources: pure decisions without a server, ImapSource against a private Dovecot, Maildir on disk."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from servers import DovecotServer, free_port

from ingest.errors import ConfigError, CredentialError, MessageError, TransientError
from ingest.sources import (
    FetchedMessage,
    ImapSource,
    MaildirSource,
    UidPlan,
    backoff_delays,
    batches,
    connect_with_backoff,
    imap_key,
    maildir_key,
    maildir_subfolder,
    maildir_unique_name,
    open_source,
    parse_imap_key,
    parse_imap_url,
    select_new_uids,
    server_folder_name,
)


def message(subject: str, body: str = "Please find my response attached.") -> bytes:
    """A small RFC 5322 message with CRLF line ends, as it sits on an IMAP server."""
    return (
        f"From: Respondent <r@example.org>\r\nTo: consultation@example.gov.uk\r\n"
        f"Subject: {subject}\r\nMessage-ID: <{subject.replace(' ', '.')}@example.org>\r\n\r\n{body}\r\n"
    ).encode()


RESPONSE_WITH_8BIT = (
    b"From: r@example.org\r\nSubject: =?utf-8?q?R=C3=A9ponse?=\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\nCaf\xc3\xa9 \xe2\x98\x92 Yes\r\n"
)


def nothing_stored(key: str) -> bool:
    return False


class CountingImapSource(ImapSource):
    """Records which UIDs had their bodies downloaded, to prove stored ones never are."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.downloaded: list[int] = []
        self.batch_sizes: list[int] = []

    def _fetch_batch(self, client, uids: Sequence[int]):
        self.downloaded.extend(uids)
        self.batch_sizes.append(len(uids))
        return super()._fetch_batch(client, uids)


def imap_source(server: DovecotServer, cls: type[ImapSource] = ImapSource, **kwargs) -> ImapSource:
    kwargs.setdefault("tls", "none")
    return cls(server.host, server.port, server.user, server.password, retry_delay=0, **kwargs)


def uid_of(key: str) -> int:
    return parse_imap_key(key)[2]


# --------------------------------------------------------------------------- pure decisions


def test_select_new_uids_splits_by_stored_key():
    stored = {imap_key("INBOX", 7, 2), imap_key("INBOX", 7, 5)}

    plan = select_new_uids([5, 1, 2, 9], "INBOX", 7, stored.__contains__)

    assert plan == UidPlan(new=(1, 9), already_stored=(2, 5))


def test_select_new_uids_under_a_new_uidvalidity_treats_everything_as_new():
    stored = {imap_key("INBOX", 7, 1)}

    assert select_new_uids([1], "INBOX", 8, stored.__contains__) == UidPlan(new=(1,), already_stored=())


def test_imap_key_round_trips_even_with_a_colon_in_the_folder():
    key = imap_key("Responses:2008", 1234, 56)

    assert key == "imap:Responses:2008:1234:56"
    assert parse_imap_key(key) == ("Responses:2008", 1234, 56)


@pytest.mark.parametrize("key", ["maildir:abc", "imap:INBOX:x:1", "imap:INBOX:1", "imap::1:2", ""])
def test_parse_imap_key_refuses_other_keys(key):
    with pytest.raises(MessageError):
        parse_imap_key(key)


@pytest.mark.parametrize(
    ("name", "prefix", "separator", "expected"),
    [
        ("Processed", "", "/", "Processed"),
        ("Processed", "INBOX.", ".", "INBOX.Processed"),
        ("Archive/2008", "INBOX.", ".", "INBOX.Archive.2008"),
        ("Archive/2008", "", "/", "Archive/2008"),
        ("INBOX", "INBOX.", ".", "INBOX"),
        ("inbox", "", "/", "INBOX"),
        ("INBOX.Sent", "INBOX.", ".", "INBOX.Sent"),
    ],
)
def test_server_folder_name(name, prefix, separator, expected):
    assert server_folder_name(name, prefix, separator) == expected


def test_batches_cut_into_slices_of_at_most_size():
    assert list(batches((1, 2, 3, 4, 5), 2)) == [(1, 2), (3, 4), (5,)]
    assert list(batches((), 2)) == []


def test_backoff_delays_double():
    assert backoff_delays(4, 0.5) == [0.5, 1.0, 2.0]
    assert backoff_delays(1, 0.5) == []


def test_connect_with_backoff_retries_transient_errors_with_growing_waits():
    waits: list[float] = []
    outcomes = [TransientError("down"), TransientError("still down"), "connected"]

    def factory() -> str:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert connect_with_backoff(factory, attempts=3, base_delay=0.5, sleep=waits.append) == "connected"
    assert waits == [0.5, 1.0]


def test_connect_with_backoff_gives_up_with_the_last_error():
    calls: list[int] = []

    def factory() -> str:
        calls.append(1)
        raise TransientError(f"down {len(calls)}")

    with pytest.raises(TransientError, match="down 3"):
        connect_with_backoff(factory, attempts=3, base_delay=0, sleep=lambda _s: None)
    assert len(calls) == 3


def test_connect_with_backoff_does_not_retry_a_refused_login():
    calls: list[int] = []

    def factory() -> str:
        calls.append(1)
        raise CredentialError("refused")

    with pytest.raises(CredentialError):
        connect_with_backoff(factory, attempts=5, base_delay=0, sleep=lambda _s: None)
    assert calls == [1]


# --------------------------------------------------------------------------- IMAP against Dovecot


def test_fetch_new_returns_appended_messages_with_exact_bytes(clean_dovecot: DovecotServer):
    raws = [message("first"), RESPONSE_WITH_8BIT]
    for raw in raws:
        clean_dovecot.append("INBOX", raw)

    with imap_source(clean_dovecot) as source:
        fetched = list(source.fetch_new(nothing_stored))

    assert [m.raw for m in fetched] == raws
    assert all(m.key.startswith("imap:INBOX:") for m in fetched)
    first_uid = uid_of(fetched[0].key)
    assert [uid_of(m.key) for m in fetched] == [first_uid, first_uid + 1]
    assert all(m.internal_date is not None and m.internal_date.tzinfo is not None for m in fetched)


def test_fetch_new_does_not_mark_messages_seen(clean_dovecot: DovecotServer):
    clean_dovecot.append("INBOX", message("unread"))

    with imap_source(clean_dovecot) as source:
        list(source.fetch_new(nothing_stored))

    with clean_dovecot.client() as imap:
        imap.select_folder("INBOX", readonly=True)
        assert imap.search("SEEN") == []


def test_fetch_new_downloads_in_batches(clean_dovecot: DovecotServer):
    for n in range(5):
        clean_dovecot.append("INBOX", message(f"response {n}"))

    with imap_source(clean_dovecot, CountingImapSource) as source:
        fetched = list(source.fetch_new(nothing_stored, batch_size=2))

    assert source.batch_sizes == [2, 2, 1]
    assert [m.raw for m in fetched] == [message(f"response {n}") for n in range(5)]


def test_stored_messages_are_not_downloaded_but_moved(clean_dovecot: DovecotServer):
    for n in range(3):
        clean_dovecot.append("INBOX", message(f"old {n}"))
    with imap_source(clean_dovecot) as source:
        stored = {m.key for m in source.fetch_new(nothing_stored)}
    clean_dovecot.append("INBOX", message("new"))

    with imap_source(clean_dovecot, CountingImapSource) as source:
        fetched = list(source.fetch_new(stored.__contains__))

    assert [m.raw for m in fetched] == [message("new")]
    assert source.downloaded == [uid_of(fetched[0].key)]
    assert clean_dovecot.list_folder("Processed") == [message(f"old {n}") for n in range(3)]
    assert clean_dovecot.list_folder("INBOX") == [message("new")]


def test_mark_processed_moves_to_processed_and_is_repeatable(clean_dovecot: DovecotServer):
    clean_dovecot.append("INBOX", message("keep"))
    clean_dovecot.append("INBOX", message("file me"))

    with imap_source(clean_dovecot) as source:
        fetched = list(source.fetch_new(nothing_stored))
        source.mark_processed(fetched[1].key)
        source.mark_processed(fetched[1].key)

    assert clean_dovecot.list_folder("INBOX") == [message("keep")]
    assert clean_dovecot.list_folder("Processed") == [message("file me")]


def test_mark_processed_without_move_uses_copy_and_expunge(clean_dovecot: DovecotServer):
    clean_dovecot.append("INBOX", message("a"))
    clean_dovecot.append("INBOX", message("b"))

    with imap_source(clean_dovecot, processed_folder="Filed", use_move=False) as source:
        fetched = list(source.fetch_new(nothing_stored))
        source.mark_processed(fetched[0].key)
        source.mark_processed(fetched[0].key)  # already gone: nothing copied twice

    assert clean_dovecot.list_folder("INBOX") == [message("b")]
    assert clean_dovecot.list_folder("Filed") == [message("a")]
    with clean_dovecot.client() as imap:
        imap.select_folder("Filed", readonly=True)
        assert imap.search("DELETED") == []


def test_uidvalidity_change_gives_new_keys(clean_dovecot: DovecotServer):
    clean_dovecot.append("Responses", message("r"))
    with imap_source(clean_dovecot, folder="Responses") as source:
        (first,) = source.fetch_new(nothing_stored)
    with clean_dovecot.client() as imap:
        imap.delete_folder("Responses")
        imap.create_folder("Responses")
    clean_dovecot.append("Responses", message("r"))

    with imap_source(clean_dovecot, folder="Responses") as source:
        (again,) = source.fetch_new({first.key}.__contains__)
        with pytest.raises(MessageError, match="not moved"):
            source.mark_processed(first.key)

    assert again.raw == first.raw
    assert again.key != first.key
    assert parse_imap_key(again.key)[1] != parse_imap_key(first.key)[1]
    assert clean_dovecot.list_folder("Responses") == [message("r")]


def test_courier_style_server_gets_prefixed_folder_names(clean_dovecot_dotted: DovecotServer):
    clean_dovecot_dotted.append("INBOX", message("dotted"))

    with imap_source(clean_dovecot_dotted) as source:
        (fetched,) = source.fetch_new(nothing_stored)
        source.mark_processed(fetched.key)
        source.append("Sent", message("ack"))

    assert clean_dovecot_dotted.folders() == ["INBOX", "INBOX.Processed", "INBOX.Sent"]
    assert clean_dovecot_dotted.list_folder("INBOX.Processed") == [message("dotted")]


def test_append_creates_folder_and_stores_a_read_copy(clean_dovecot: DovecotServer):
    with imap_source(clean_dovecot) as source:
        source.append("Sent", message("acknowledgement"))

    assert clean_dovecot.list_folder("Sent") == [message("acknowledgement")]
    with clean_dovecot.client() as imap:
        imap.select_folder("Sent", readonly=True)
        assert len(imap.search("SEEN")) == 1


def test_wrong_password_is_a_credential_error(dovecot: DovecotServer):
    source = ImapSource(dovecot.host, dovecot.port, dovecot.user, "wrong", tls="none", retry_delay=0)

    with pytest.raises(CredentialError, match="refused"):
        list(source.fetch_new(nothing_stored))


def test_server_down_is_a_transient_error():
    source = ImapSource("127.0.0.1", free_port(), "intake", "pw", tls="none", connect_attempts=2, retry_delay=0)

    with pytest.raises(TransientError, match="cannot connect"):
        list(source.fetch_new(nothing_stored))


def test_imaps_with_private_ca(clean_dovecot: DovecotServer):
    clean_dovecot.append("INBOX", message("over tls"))
    source = ImapSource(clean_dovecot.host, clean_dovecot.imaps_port, clean_dovecot.user, clean_dovecot.password,
                        tls="ssl", ca_file=clean_dovecot.ca_file)  # fmt: skip

    with source:
        assert [m.raw for m in source.fetch_new(nothing_stored)] == [message("over tls")]


def test_starttls_with_private_ca(clean_dovecot: DovecotServer):
    clean_dovecot.append("INBOX", message("upgraded"))

    with imap_source(clean_dovecot, tls="starttls", ca_file=clean_dovecot.ca_file) as source:
        assert [m.raw for m in source.fetch_new(nothing_stored)] == [message("upgraded")]


def test_untrusted_certificate_is_refused(dovecot: DovecotServer):
    source = ImapSource(dovecot.host, dovecot.imaps_port, dovecot.user, dovecot.password, tls="ssl",
                        connect_attempts=1)  # fmt: skip

    with pytest.raises(TransientError, match="certificate"):
        list(source.fetch_new(nothing_stored))


def test_open_source_from_the_fixture_url(clean_dovecot: DovecotServer):
    clean_dovecot.append("INBOX", message("via url"))

    source = open_source(clean_dovecot.imap_url, clean_dovecot.password, "Processed", tls="none", ca_file=None)
    try:
        assert [m.raw for m in source.fetch_new(nothing_stored)] == [message("via url")]
    finally:
        source.close()


def test_a_dropped_connection_stays_down_for_the_cycle_and_the_next_source_recovers(clean_dovecot: DovecotServer):
    clean_dovecot.append("INBOX", message("one"))
    with imap_source(clean_dovecot) as source:
        (first,) = source.fetch_new(nothing_stored)
        source._connection().shutdown()  # the server side sees the socket close

        with pytest.raises(TransientError):
            source.mark_processed(first.key)
        with pytest.raises(TransientError, match="rest of this cycle"):  # no reconnect storm
            source.append("Sent", message("ack"))

    with imap_source(clean_dovecot) as next_cycle:
        next_cycle.mark_processed(first.key)
    assert clean_dovecot.list_folder("Processed") == [message("one")]


def test_batch_move_and_append_once(clean_dovecot: DovecotServer):
    for n in range(3):
        clean_dovecot.append("INBOX", message(f"batch {n}"))
    with imap_source(clean_dovecot) as source:
        fetched = list(source.fetch_new(nothing_stored))
        source.mark_processed_many([f.key for f in fetched])
        for _ in range(2):
            source.append_once("Sent", message("ack"), "<ack@example.org>")
    assert len(clean_dovecot.list_folder("Processed")) == 3
    assert clean_dovecot.list_folder("INBOX") == []
    assert len(clean_dovecot.list_folder("Sent")) == 1


# --------------------------------------------------------------------------- Maildir


def deliver(maildir: Path, sub: str, name: str, raw: bytes) -> Path:
    path = maildir / sub / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return path


def test_maildir_created_when_missing(tmp_path: Path):
    MaildirSource(tmp_path / "mail")

    assert sorted(p.name for p in (tmp_path / "mail").iterdir()) == ["cur", "new", "tmp"]


def test_maildir_fetches_new_and_cur_with_keys_without_flags(tmp_path: Path):
    source = MaildirSource(tmp_path)
    deliver(tmp_path, "new", "1000.M1P1Q1.host", message("unread"))
    old = deliver(tmp_path, "cur", "999.M1P1Q1.host:2,S", RESPONSE_WITH_8BIT)
    os.utime(old, (999, 999))

    fetched = list(source.fetch_new(nothing_stored))

    assert [(m.key, m.raw) for m in fetched] == [
        ("maildir:999.M1P1Q1.host", RESPONSE_WITH_8BIT),
        ("maildir:1000.M1P1Q1.host", message("unread")),
    ]
    assert all(isinstance(m, FetchedMessage) and m.internal_date is not None for m in fetched)


def test_maildir_mark_processed_moves_into_processed_submaildir(tmp_path: Path):
    source = MaildirSource(tmp_path)
    deliver(tmp_path, "new", "1.M1P1Q1.host", message("new one"))
    deliver(tmp_path, "cur", "2.M1P1Q1.host:2,RS", message("old one"))

    source.mark_processed("maildir:1.M1P1Q1.host")
    source.mark_processed("maildir:2.M1P1Q1.host")
    source.mark_processed("maildir:2.M1P1Q1.host")  # already moved: nothing to do

    processed = tmp_path / ".Processed" / "cur"
    assert sorted(p.name for p in processed.iterdir()) == ["1.M1P1Q1.host:2,", "2.M1P1Q1.host:2,RS"]
    assert list(source.fetch_new(nothing_stored)) == []


def test_maildir_stored_messages_are_moved_not_returned(tmp_path: Path):
    source = MaildirSource(tmp_path, processed_folder="Filed")
    deliver(tmp_path, "new", "1.a.host", message("stored"))
    deliver(tmp_path, "new", "2.a.host", message("fresh"))

    fetched = list(source.fetch_new({"maildir:1.a.host"}.__contains__))

    assert [m.key for m in fetched] == ["maildir:2.a.host"]
    assert (tmp_path / ".Filed" / "cur" / "1.a.host:2,").read_bytes() == message("stored")


def test_maildir_append_writes_a_read_message_into_the_folder(tmp_path: Path):
    source = MaildirSource(tmp_path)

    source.append("Sent", message("ack 1"))
    source.append("Sent", message("ack 2"))

    sent = tmp_path / ".Sent"
    names = sorted(p.name for p in (sent / "cur").iterdir())
    assert len(names) == 2 and all(n.endswith(":2,S") for n in names)
    assert sorted((sent / "cur" / n).read_bytes() for n in names) == [message("ack 1"), message("ack 2")]
    assert list((sent / "tmp").iterdir()) == []


def test_maildir_mark_processed_refuses_a_foreign_key(tmp_path: Path):
    with pytest.raises(MessageError):
        MaildirSource(tmp_path).mark_processed("imap:INBOX:1:2")


def test_maildir_names_and_folders():
    assert maildir_unique_name(1200.25, 42, 7, "mail/host:1") == r"1200.M250000P42Q7.mail\057host\0721"
    assert maildir_key("1.a.host:2,S") == "maildir:1.a.host"
    assert maildir_subfolder(Path("/m"), "Archive/2008") == Path("/m/.Archive.2008")
    assert maildir_subfolder(Path("/m"), "INBOX") == Path("/m")


# --------------------------------------------------------------------------- URLs


def test_imaps_url_defaults():
    where = parse_imap_url("imaps://intake@mail.example.org/INBOX")

    assert (where.username, where.host, where.port, where.folder, where.tls) == (
        "intake",
        "mail.example.org",
        993,
        "INBOX",
        "ssl",
    )


def test_imap_url_means_starttls_unless_told_none():
    assert parse_imap_url("imap://u@h/INBOX").tls == "starttls"
    assert parse_imap_url("imap://u@h:1143/INBOX", tls="none").tls == "none"
    assert parse_imap_url("imap://u@h:1143/INBOX").port == 1143


def test_imap_url_decodes_user_and_folder():
    where = parse_imap_url("imaps://consult%40example.gov.uk@h/Responses%202008/Children")

    assert where.username == "consult@example.gov.uk"
    assert where.folder == "Responses 2008/Children"


def test_imap_url_without_folder_means_inbox():
    assert parse_imap_url("imaps://u@h").folder == "INBOX"


def test_open_source_builds_the_right_kind(tmp_path: Path):
    imap = open_source("imaps://u@h:993/INBOX", "pw", "Processed", None, None)
    maildir = open_source(f"maildir:{tmp_path}/box", None, "Done", None, None)

    assert isinstance(imap, ImapSource) and (imap.host, imap.port, imap.tls) == ("h", 993, "ssl")
    assert isinstance(maildir, MaildirSource) and maildir.path == tmp_path / "box"
    assert maildir.processed_folder == "Done"
    assert "pw" not in repr(imap)


def test_open_source_accepts_maildir_triple_slash(tmp_path: Path):
    source = open_source(f"maildir://{tmp_path}", None, "Processed", None, None)

    assert isinstance(source, MaildirSource) and source.path == tmp_path


@pytest.mark.parametrize(
    ("url", "password", "tls", "problem"),
    [
        ("pop3://u@h/INBOX", "pw", None, "unsupported"),
        ("/var/mail/box", "pw", None, "unsupported"),
        ("imaps://h/INBOX", "pw", None, "no user"),
        ("imaps://u@/INBOX", "pw", None, "no host"),
        ("imaps://u@h:99999/INBOX", "pw", None, "bad port"),
        ("imaps://u@h:port/INBOX", "pw", None, "bad port"),
        ("imaps://u:secret@h/INBOX", "pw", None, "password"),
        ("imaps://u@h/INBOX", None, None, "no IMAP password"),
        ("imaps://u@h/INBOX", "pw", "starttls", "contradicts"),
        ("imap://u@h/INBOX", "pw", "ssl", "contradicts"),
        ("imap://u@h/INBOX", "pw", "tls1.3", "tls must be"),
        ("maildir:", None, None, "no path"),
        ("maildir://server/var/mail", None, None, "names a host"),
    ],
)
def test_bad_urls_are_config_errors(url, password, tls, problem):
    with pytest.raises(ConfigError, match=problem):
        open_source(url, password, "Processed", tls, None)
