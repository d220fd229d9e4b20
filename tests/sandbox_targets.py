"""Functions for tests/test_sandbox.py to run in the sandbox's child process.

They live in their own module (top level, no test imports) so the fork server's children can
import them by name, whatever pytest does with the test module itself.
"""

from __future__ import annotations

import ctypes
import logging
import os
import resource
import subprocess
import time
from pathlib import Path


class ReaderRefused(ValueError):
    """A parser's own error, as a reader would raise it (picklable: one message argument)."""


class NeedsTwoArguments(Exception):
    """An exception whose pickle cannot be loaded again (its __init__ wants two arguments)."""

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"{what}: {why}")


def upper(data: bytes) -> bytes:
    return data.upper()


def prefixed(prefix: bytes, data: bytes) -> bytes:
    return prefix + data


def limits(data: bytes) -> dict[str, tuple[int, int]]:
    names = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE")
    return {name: resource.getrlimit(getattr(resource, name)) for name in names}


def refuse(data: bytes) -> None:
    raise ReaderRefused(data.decode())


def raise_key_error(data: bytes) -> None:
    raise KeyError(data.decode())


def raise_unpicklable(data: bytes) -> None:
    raise NeedsTwoArguments("form", data.decode())


def return_unpicklable(data: bytes) -> object:
    return (line for line in data.splitlines())


def sleep_forever(data: bytes) -> None:
    while True:
        time.sleep(60)


def start_grandchild_then_sleep(data: bytes) -> None:
    """Start a process in its own session (as soffice is started), record its pid, then hang."""
    grandchild = subprocess.Popen(["sleep", "600"], start_new_session=True)
    Path(data.decode()).write_text(str(grandchild.pid))
    sleep_forever(data)


def allocate_3_gb(data: bytes) -> int:
    return len(bytearray(3_000_000_000))


def exit_1(data: bytes) -> None:
    os._exit(1)


def segfault(data: bytes) -> bytes:
    return ctypes.string_at(0)


def give_up(data: bytes) -> None:
    raise SystemExit(3)


def pid(data: bytes) -> int:
    return os.getpid()


def burn_cpu(data: bytes) -> None:
    """Spin on the CPU (no sleeping), so only the CPU limit or the wall clock stops it."""
    while True:
        pass


def log_warnings(data: bytes) -> int:
    """Log `data` warnings, as a reader does about a damaged file, and answer."""
    for i in range(int(data)):
        logging.getLogger("parsers.pdf_reader").warning("damaged object %d", i)
    return 7


def log_with_an_object_attached(data: bytes) -> int:
    """A library may attach any object to its log records (`extra=`); the record must still cross."""
    logging.getLogger("parsers.docx_reader").warning("odd part", extra={"part": (line for line in data.splitlines())})
    return 7
