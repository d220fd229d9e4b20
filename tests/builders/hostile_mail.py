"""Hostile messages as strangers send them: broken MIME, deep nesting, huge headers, floods of parts.

Each builder returns raw bytes exactly as they would sit in a mailbox (CRLF line ends); none goes
through the `email` package's generator, which would repair what these are meant to break.
"""

from __future__ import annotations

import base64
import os

HEAD = (
    "From: {sender}\r\nTo: childrentrusts.consultation@dcsf.gsi.gov.uk\r\n"
    "Subject: {subject}\r\nDate: Tue, 01 Apr 2008 10:00:00 +0000\r\nMessage-ID: <{mid}@example.org>\r\n"
)


def _head(name: str, subject: str = "Consultation response", sender: str = "") -> str:
    return HEAD.format(sender=sender or f"Sender {name} <{name}@example.org>", subject=subject, mid=name)


def missing_boundary() -> bytes:
    """multipart/mixed that names no boundary at all."""
    return (_head("no-boundary") + "MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\n"
            "--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n").encode()  # fmt: skip


def endless_boundary(parts: int = 20_000) -> bytes:
    """A multipart whose closing boundary never comes, after thousands of empty parts."""
    body = "".join("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(parts))
    return (
        _head("endless") + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n' + body
    ).encode()


def deep_nesting(depth: int = 100) -> bytes:
    """multipart/mixed nested `depth` deep around one line of text."""
    opening = "".join(f'--n{i}\r\nContent-Type: multipart/mixed; boundary="n{i + 1}"\r\n\r\n' for i in range(depth))
    closing = "".join(f"\r\n--n{i}--\r\n" for i in reversed(range(depth + 1)))
    inner = f"--n{depth}\r\nContent-Type: text/plain\r\n\r\ndeep"
    return (_head("deep") + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="n0"\r\n\r\n'
            + opening + inner + closing).encode()  # fmt: skip


def undecodable_charsets() -> bytes:
    """A body in a charset nobody knows, and bytes that are not the UTF-8 the header claims."""
    return (
        _head("charsets", subject="=?x-martian?B?AAAA?=").encode()
        + b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="c"\r\n\r\n'
        + b'--c\r\nContent-Type: text/plain; charset="x-martian"\r\n\r\n\xff\xfe\xfd answers\r\n'
        + b'--c\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
        + b"\xc3\x28\xa0\xa1\r\n"
        + b"--c--\r\n"
    )


def huge_header_line(size: int = 1_000_000) -> bytes:
    return (_head("huge-header", subject="S" * size) + "\r\nA message with a one-megabyte subject.\r\n").encode()


def nul_bytes() -> bytes:
    return _head("nul", subject="Response\x00 with NUL").encode() + b"\r\nAnswers\x00 with\x00 NULs\r\n"


def overlong_header_values() -> bytes:
    """Message-ID, From and Return-Path far longer than any column holds."""
    local = "x" * 1_200
    return (
        f"Return-Path: <{local}@example.org>\r\nFrom: {'N' * 3_000} <{local}@example.org>\r\n"
        "To: childrentrusts.consultation@dcsf.gsi.gov.uk\r\nSubject: Long\r\n"
        f"Message-ID: <{'m' * 1_200}@example.org>\r\n"
        "\r\nThe headers of this message are longer than any database column.\r\n"
    ).encode()


def many_attachments(count: int = 5_000) -> bytes:
    parts = "".join(
        f'--t\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f{i}.bin"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
        for i in range(count)
    )
    return (_head("many") + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="t"\r\n\r\n'
            + '--t\r\nContent-Type: text/plain\r\n\r\nFiles attached.\r\n' + parts + "--t--\r\n").encode()  # fmt: skip


def big_attachment(megabytes: int = 50) -> bytes:
    data = base64.encodebytes(os.urandom(megabytes * 1_000_000)).replace(b"\n", b"\r\n")
    return (
        _head("big").encode()
        + b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="g"\r\n\r\n'
        + b"--g\r\nContent-Type: text/plain\r\n\r\nA large file.\r\n"
        + b'--g\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="big.pdf"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + data
        + b"--g--\r\n"
    )


def traversal_filenames() -> bytes:
    """Attachments named to escape the folder `intake original` writes into."""
    names = ["../../../etc/evil.txt", "/etc/passwd", "..\\..\\windows\\win.ini", "....//x.txt"]
    parts = "".join(
        f'--p\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="{n}"\r\n\r\nowned\r\n'
        for n in names
    )
    return (_head("traversal") + 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="p"\r\n\r\n'
            + parts + "--p--\r\n").encode()  # fmt: skip


def forged_bounce() -> bytes:
    """A delivery failure report that claims Auto-Submitted: no."""
    return (
        b"Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        b"To: childrentrusts.consultation@dcsf.gsi.gov.uk\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        b"Auto-Submitted: no\r\nMessage-ID: <bounce@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n'
        b"--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--r--\r\n"
    )
