"""Read stored messages ahead of filing them, on every core, every read still in the sandbox.

Each message is first read whole in one sandboxed call (parsers/whole.py); only when that call
fails is it read part by part as below, each attachment in its own call, so that the attachment
at fault alone goes to review with its reason.

Filing (ingest/filing.py) stays one transaction per message, in id order, each message claimed
(FOR UPDATE SKIP LOCKED) before anything is written. Reading a message is pure: its bytes in, a
`ParsedMail` and a `MessageReading` out. So the messages after the one being filed are read
meanwhile by a pool of `workers` threads, each of which only waits on a sandboxed child process
(parsers/sandbox.py: a warm worker process, every call with its own time and memory limits; a
worker that dies or runs over is killed and replaced, and only that message is read again part
by part). The pool takes the message filing needs soonest (the lowest id) first, so
filing goes on while the backlog is read. When filing reaches a message, its reading is usually
done. A message another worker claimed meanwhile is skipped by the claim as before; its reading
is simply thrown away.

LibreOffice costs ~2 s to start and ~0.1 s to convert a form, so the .doc/.rtf/.odt files of the
messages read ahead are converted together: messages whose headers hint at such a file are read
first, one converter thread takes every file asked for while the previous batch ran (a group
commit), converts them with one soffice start in a sandboxed child, and the readers then read the
docx it made, before the rest of the backlog. A file the batch could not convert (or every
file, when soffice crashed or hung) is converted alone as before, which gives its reason.

What is read ahead is bounded by messages and by bytes, so memory does not grow with the backlog.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from ingest.priority_pool import PriorityPool
from parsers.formdef import FormDefinition
from parsers.mail import ParsedMail
from parsers.message import Limits, MessageReading, ReadOne, files_to_convert, read_message
from parsers.sandbox import ParseLimitError
from parsers.whole import Converted, ConvertFirst, Files, ReadPartByPart, WholeResult, read_converted_first
from store.db import database_unavailable
from store.models import Message, MessageState

log = logging.getLogger(__name__)

Read = tuple[ParsedMail, MessageReading]
ReadWhole = Callable[[bytes, Converted | None], WholeResult]
Converter = Callable[[Files], Converted]

# Messages read ahead of the one being filed, and their raw bytes (at least one message, whatever
# its size). Deep enough that the .doc/.rtf/.odt files of a few hundred messages are known early
# and share one LibreOffice start (at 128, a backlog of 300 took four); the byte bound keeps the
# service's memory flat (~40 MB of readings at most).
MAX_AHEAD = 512
MAX_AHEAD_BYTES = 32_000_000
FILL_AT_LEAST = 64  # read ahead again once this many have room, not for each message filed
MAX_BATCH_FILES = 20  # files per LibreOffice start: a hang then costs at most these a retry
GATHER_SECONDS = 2.0  # a batch waits this long at most for messages still being taken apart
GATHER_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class _Job:
    """One message being read ahead: its id (its place in the pool's queue), bytes and reading."""

    pk: int
    raw: bytes
    result: Future[Read]


class ReadAhead:
    """Read the stored messages after a cursor concurrently; hand each reading over once."""

    def __init__(
        self,
        *,
        form: FormDefinition,
        limits: Limits,
        read_whole: ReadWhole,
        read_mail: Callable[[bytes], ParsedMail],
        read_one: ReadOne,
        convert: Converter | None,
        workers: int,
    ) -> None:
        self._form, self._limits = form, limits
        self._read_whole = read_whole
        self._read_mail, self._read_one = read_mail, read_one
        self._pool = PriorityPool(workers, name="reader")
        # Messages that may ask for conversions and have not been taken apart yet: those the hint
        # picked (read first) and those being read part by part. A batch waits for these only.
        self._parsing = 0
        self._parsing_lock = threading.Lock()
        self._storing = threading.Event()  # set while the store step may still add messages
        self._converter = (
            _BatchConverter(convert, self._all_parsed, self._storing.is_set) if convert is not None else None
        )
        self._ahead: dict[int, Future[Read]] = {}
        self._last = 0
        self._all_read = False  # the last look found every stored message after `_last`

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def fill(self, engine: Engine, cursor: int) -> None:
        """Start reading the stored messages after `cursor` that are not being read yet."""
        for pk in [pk for pk in self._ahead if pk <= cursor]:
            self._ahead.pop(pk).cancel()  # filed, or claimed by another worker: not needed
        if len(self._ahead) > MAX_AHEAD - FILL_AT_LEAST:
            self._all_read = False  # more may wait behind those in hand: look again once there is room
            return  # a query for a handful would be repeated for each message filed
        if self._all_read and not self._storing.is_set():
            return  # nothing new was stored since the last look (another worker's mail is filed unread)
        room = MAX_AHEAD - len(self._ahead)
        stored, self._all_read = _next_stored(engine, max(cursor, self._last), room)
        for pk, raw in stored:
            self._ahead[pk] = self._start(pk, raw, may_need_converting(raw))
        if stored:
            self._last = stored[-1][0]

    def take(self, message_pk: int) -> Future[Read] | None:
        """The reading of this message if it was started, else None (the caller reads it itself)."""
        return self._ahead.pop(message_pk, None)

    def close(self) -> None:
        """Stop reading ahead: what has not started is dropped, what runs ends within its limits."""
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()
        self._pool.shutdown()
        if self._converter is not None:
            self._converter.close()

    @contextlib.contextmanager
    def while_storing(self) -> Iterator[None]:
        """Around a store step that calls `fill` as it commits: reading starts, but conversions wait
        for its end, so the .doc/.rtf/.odt files of the whole backlog still share one LibreOffice start."""
        self._storing.set()
        try:
            yield
        finally:
            self._storing.clear()
            if self._converter is not None:
                self._converter.wake()

    def _all_parsed(self) -> bool:
        return self._parsing == 0

    def _start(self, pk: int, raw: bytes, hinted: bool) -> Future[Read]:
        job = _Job(pk, raw, Future())
        if hinted:
            with self._parsing_lock:
                self._parsing += 1
        asked = None if self._converter is not None else {}  # no LibreOffice: nothing to ask for
        then = functools.partial(self._read_whole_done, job, hinted)
        self._submit(job, then, self._read_whole, raw, asked, first=hinted)
        return job.result

    def _read_whole_done(self, job: _Job, counted: bool, whole: Future[WholeResult]) -> None:
        """The whole call ended: hand its reading over, convert first, or read the message part by part.

        `counted`: this call was one a batch waits for (see `_parsing`).
        A callback: whatever goes wrong here settles the result, so filing never waits for ever.
        """
        if counted:
            with self._parsing_lock:
                self._parsing -= 1
        try:
            if whole.cancelled():
                job.result.cancel()
                return
            err = whole.exception()
            if isinstance(err, ParseLimitError):
                log.info("a message was too much to read whole (%s); reading it part by part", err.reason)
                self._read_part_by_part(job)
                return
            if err is not None:
                _settle(job.result, exception=err)
                return
            outcome = whole.result()
            if isinstance(outcome, ReadPartByPart):
                self._read_part_by_part(job)
            elif isinstance(outcome, ConvertFirst):
                if self._converter is None:  # never: `_start` asks for files only when it can convert
                    raise RuntimeError("a message asked for conversions, but LibreOffice is not available")
                converted = self._converter.request(outcome.files)
                again = functools.partial(self._read_whole_done, job, False)
                converted.add_done_callback(
                    lambda done: self._submit(job, again, self._read_whole, job.raw, done.result())
                )
            else:
                _settle(job.result, value=outcome)
        except BaseException as err:  # noqa: BLE001 - handed to the filing step, which decides
            _settle(job.result, exception=err)

    def _read_part_by_part(self, job: _Job) -> None:
        """Take the message apart in one call, then read each attachment in its own."""
        if job.result.cancelled():
            return
        with self._parsing_lock:
            self._parsing += 1
        self._submit(job, functools.partial(self._parsed, job), self._read_mail, job.raw)

    def _parsed(self, job: _Job, parsed: Future[ParsedMail]) -> None:
        """A message was taken apart: convert its legacy files with others, then read it.

        A callback: whatever goes wrong here settles the result, so filing never waits for ever.
        """
        with self._parsing_lock:
            self._parsing -= 1
        try:
            if not _forward_failure(parsed, job.result):
                return
            mail = parsed.result()
            files = files_to_convert(mail, self._limits) if self._converter is not None else []
            then = functools.partial(_copy, job.result)
            if not files or self._converter is None:
                self._submit(job, then, self._read, mail, {})
                return
            converted = self._converter.request(files)
            converted.add_done_callback(lambda done: self._submit(job, then, self._read, mail, done.result()))
        except BaseException as err:  # noqa: BLE001 - handed to the filing step, which decides
            _settle(job.result, exception=err)

    def _submit(
        self, job: _Job, then: Callable[[Future], None], step: Callable, *args: object, first: bool = False
    ) -> None:
        """Run `step(*args)` on the pool, then `then` with its future (unless the reading was dropped).

        The pool takes the message filing needs soonest (lowest id) first; `first` puts the whole
        readings of the messages that may need converting before all, so their files are known early.
        """
        if job.result.cancelled():
            return
        try:
            future = self._pool.submit((0 if first else 1, job.pk), step, *args)
        except BaseException as err:  # noqa: BLE001 - e.g. the pool was shut down: the filing step has stopped
            _settle(job.result, exception=err)
            return
        future.add_done_callback(then)

    def _read(self, mail: ParsedMail, converted: Converted) -> Read:
        read_one = functools.partial(read_converted_first, self._read_one, converted) if converted else self._read_one
        return mail, read_message(mail, self._form, read_one, self._limits)


# Signs in a raw message of a .doc/.rtf/.odt attachment: a MIME type or a file name saying so, or
# a base64 line that starts an OLE2 (.doc) or RTF file. A hint for the order of reading only: a
# miss is read in turn, a false alarm costs nothing. Plain substring tests (a regular expression
# over every byte of the message cost 1.3 ms a message on the filing thread); base64 has no '.',
# so a name's ending is never found inside an attachment's bytes.
_LEGACY_TYPES = (b"application/msword", b"application/rtf", b"application/vnd.oasis.opendocument.text", b"text/rtf")
_LEGACY_NAME_ENDS = tuple(f".{kind}{end}".encode() for kind in ("doc", "rtf", "odt") for end in ('"', ";", "\r", "\n"))
_LEGACY_BASE64_STARTS = (b"\n0M8R4KGxGuE", b"\ne1xydGY")  # "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "{\\rtf"


def may_need_converting(raw: bytes) -> bool:
    """Whether the message may carry a file LibreOffice must convert, read first so that the files of
    a whole backlog are asked for together, at its start, and share one LibreOffice start."""
    if any(start in raw for start in _LEGACY_BASE64_STARTS):
        return True
    lowered = raw.lower()
    return any(sign in lowered for sign in (*_LEGACY_TYPES, *_LEGACY_NAME_ENDS))


def _next_stored(engine: Engine, after: int, room: int) -> tuple[list[tuple[int, bytes]], bool]:
    """(id, raw) of the next stored messages after `after`, within MAX_AHEAD_BYTES; no lock taken.

    Also whether that was all of them (fewer than `room` waiting, none left out for their bytes).
    """
    if room <= 0:
        return [], False
    try:
        with Session(engine) as session:
            sized = session.exec(
                select(Message.id, Message.size)
                .where(Message.state == MessageState.STORED, col(Message.id) > after)
                .order_by(col(Message.id))
                .limit(room)
            ).all()
            wanted, total = [], 0
            for pk, size in sized:
                if wanted and total + size > MAX_AHEAD_BYTES:
                    break
                wanted.append(pk)
                total += size
            everything = len(sized) < room and len(wanted) == len(sized)
            if not wanted:
                return [], everything
            raws = dict(session.exec(select(Message.id, Message.raw).where(col(Message.id).in_(wanted))).all())
    except SQLAlchemyError as err:
        raise database_unavailable(err, "reading ahead") from err
    return [(pk, raws[pk]) for pk in wanted if pk in raws], everything


def _forward_failure(source: Future, result: Future) -> bool:
    """Pass a failed or cancelled step on to the result; True when the step succeeded."""
    if source.cancelled():
        result.cancel()
        return False
    err = source.exception()
    if err is not None:
        _settle(result, exception=err)
        return False
    return True


def _copy(result: Future, source: Future) -> None:
    if _forward_failure(source, result):
        _settle(result, value=source.result())


def _settle(result: Future, *, value: object = None, exception: BaseException | None = None) -> None:
    """Set the result unless it was cancelled (the message was filed or taken) or is set already."""
    if result.done() or not result.set_running_or_notify_cancel():
        return
    if exception is not None:
        result.set_exception(exception)
    else:
        result.set_result(value)


class _BatchConverter:
    """One thread converting, at each turn, every file asked for while the last batch ran."""

    def __init__(self, convert: Converter, all_parsed: Callable[[], bool], storing: Callable[[], bool]) -> None:
        self._convert = convert
        self._all_parsed = all_parsed
        self._storing = storing
        self._waiting: list[tuple[Files, Future[dict[str, bytes]]]] = []
        self._changed = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="convert-batch", daemon=True)
        self._thread.start()

    def request(self, files: Files) -> Future[dict[str, bytes]]:
        future: Future[dict[str, bytes]] = Future()
        with self._changed:
            if self._closed:
                future.set_result({})
                return future
            self._waiting.append((files, future))
            self._changed.notify()
        return future

    def wake(self) -> None:
        with self._changed:
            self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            files = _distinct([f for files, _ in batch for f in files])
            converted = self._converted(files)
            for _, future in batch:
                future.set_result(converted)

    def _next_batch(self) -> list[tuple[Files, Future[dict[str, bytes]]]] | None:
        with self._changed:
            while not self._waiting and not self._closed:
                self._changed.wait()
            if not self._waiting:
                return None
            # Gather what the messages being taken apart that may need converting will ask for too,
            # for a moment at most: a LibreOffice start saved is worth ~2 s. Only those: waiting
            # for a whole backlog's readings would hold up every message filed after a .doc.
            # While the store step runs, wait for its end (`ReadAhead.while_storing`).
            while not self._closed and self._storing():
                self._changed.wait(GATHER_POLL_SECONDS)
            deadline = time.monotonic() + GATHER_SECONDS
            while not self._closed and not self._all_parsed() and time.monotonic() < deadline:
                self._changed.wait(GATHER_POLL_SECONDS)
            batch, count = [], 0
            while self._waiting and (not batch or count + len(self._waiting[0][0]) <= MAX_BATCH_FILES):
                files, future = self._waiting.pop(0)
                batch.append((files, future))
                count += len(files)
            return batch

    def _converted(self, files: Files) -> dict[str, bytes]:
        if self._closed:
            return {}
        try:
            return self._convert(files)
        except BaseException as err:  # noqa: BLE001 - each file is then converted alone, which says why
            log.info("a batch of %d conversions failed (%s); each file is converted alone", len(files), err)
            return {}


def _distinct(files: Files) -> Files:
    seen: set[str] = set()
    out: Files = []
    for kind, data in files:
        digest = hashlib.sha256(data).hexdigest()
        if digest not in seen:
            seen.add(digest)
            out.append((kind, data))
    return out
