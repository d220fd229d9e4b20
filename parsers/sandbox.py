"""Run a document parser in a child process with time and memory limits.

A crafted or merely broken attachment can make a parser loop, allocate gigabytes or crash in C
code. So every parser runs in a worker: a child process from the "forkserver" context (forking a
threaded parent is unsafe; the fork server is a single-threaded process that forks quickly) that
set rlimits on itself when it started and takes one call at a time over a pipe, its result sent
back pickled. The parent enforces the wall-clock timeout of each call, kills the worker and
anything it started (soffice) with SIGKILL when it runs over, and always reaps it.

Outside `warm_workers()` each call gets a fresh worker that ends with it. Inside, a worker that
answered is kept for the next call (of the same memory limit), so a backlog does not pay a fork,
an unpickling of the parser's module state and a cold cache per attachment. A worker that died,
ran over, ran out of memory, grew (`RECYCLE_GROWTH_BYTES`) or served `MAX_CALLS_PER_WORKER` calls
is replaced: each call still starts with the whole memory limit and its own CPU limit, and only
the attachment in hand is affected by its failure.

Per-call overhead measured on the project machine (2 cores), returning a small result:
- a fresh worker: ~11 ms a call; ~25-55 ms when the parser's module imports pdfplumber and
  python-docx and is preloaded in the fork server (the first call also starts the server, ~0.3 s);
- a fresh worker without preloading that module: ~270 ms a call (every child imports it again);
- a warm worker: well under a millisecond beyond pickling the bytes over the pipe;
- spawn: ~120 ms a call before any import.
So the parser's module is preloaded: the first function's module automatically, others by
`preload_modules()` called before the first run. Like any spawn/forkserver start, each child
re-imports the main script, which must guard its entry point with `if __name__ == "__main__"`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import multiprocessing
import os
import pickle
import resource
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0
DEFAULT_MEMORY_BYTES = 1_500_000_000
FILE_SIZE_LIMIT = 64 * 1024 * 1024  # parsers write nothing; a runaway temp file stops here
OPEN_FILES_LIMIT = 256
NICENESS = 5  # reading yields the CPU to filing and the database, whose waits hold up every message after
CPU_GRACE_SECONDS = 5  # RLIMIT_CPU backstop beyond the wall-clock timeout
_PRELOAD = ["parsers.sandbox_forkserver", "parsers.sandbox"]
CANCEL_POLL_SECONDS = 0.2
MAX_CALLS_PER_WORKER = 200  # then a fresh worker: whatever state a stranger's file left behind goes
RECYCLE_GROWTH_BYTES = 64 * 1024 * 1024  # a worker grown this much since its first call is replaced
# Starting a child hides __main__ for a moment (_main_module_hidden): one thread at a time.
_start_lock = threading.Lock()

_OK, _RAISED, _NO_MEMORY, _UNPICKLABLE = "ok", "raised", "no-memory", "unpicklable"
_LOGGED = "logged"  # the worker's log records of the call, sent before its answer
MAX_RECORDS_PER_CALL = 20
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class ParseLimitError(Exception):
    """An attachment could not be read within the limits set for reading it; a person must look.

    `reason` is a sentence for staff, e.g. "the attachment took longer than 30 s to read".
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SandboxTimeout(ParseLimitError):
    """The parser ran past its wall-clock (or CPU) limit and was killed."""


class SandboxMemoryExceeded(ParseLimitError):
    """The parser needed more memory than allowed."""


class SandboxCrashed(ParseLimitError):
    """The parser's process died (signal, exit) or raised something that cannot cross processes."""


class ReaderInterrupted(BaseException):
    """The parser's process was stopped from outside (SIGTERM, SIGINT, SIGHUP): not the file's fault.

    A BaseException, like a shutdown, so no `except Exception` turns it into a review reason: the
    message is left as it was and read again by a later cycle.
    """


def preload_modules(modules: Iterable[str]) -> None:
    """Import these modules once in the fork server, so no child pays for importing them.

    Takes effect only if called before the first `run_sandboxed` call of the process.
    """
    _PRELOAD.extend(m for m in modules if m not in _PRELOAD)


def run_sandboxed(
    func: Callable[[bytes], T],
    data: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    on_started: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
) -> T:
    """Return `func(data)` computed in a sandboxed worker process under time and memory limits.

    `func` must be a module-level function or a functools.partial of one with picklable
    arguments (it is pickled by name). An exception it raises is
    re-raised here with its own class when it survives pickling; otherwise, and when the worker
    dies or runs over its limits, a `ParseLimitError` subclass with a reason for staff is raised.
    Setting `cancel` kills the worker and raises `ReaderInterrupted` (a reading nobody waits for).
    May be called from several threads at once (ingest/readahead.py).
    """
    pool = _warm
    worker = _submitted(func, data, _cpu_seconds(timeout), memory_bytes, pool)
    message: tuple[str, Any] | None = None
    try:
        if on_started is not None:
            on_started()
        message = _await_message(worker.conn, worker.process, timeout, cancel)
    finally:
        answered = message is not None and message[0] in (_OK, _RAISED)
        if pool is not None and answered:
            pool.give_back(worker)
            exitcode = None
        else:
            exitcode = worker.stop()
    return _outcome(message, exitcode, timeout, memory_bytes)


@contextlib.contextmanager
def warm_workers() -> Iterator[None]:
    """Within this block, workers that answered are kept for the next call; all end with it.

    For a backlog (ingest/readahead.py). Nested blocks share the outer block's workers.
    """
    global _warm
    if _warm is not None:
        yield
        return
    pool = _WorkerPool()
    _warm = pool
    try:
        yield
    finally:
        _warm = None
        pool.close()


def _submitted(func: Callable[[bytes], Any], data: bytes, cpu: int, memory: int, pool: _WorkerPool | None) -> _Worker:
    """A worker that has been handed the call: a warm one if it still takes calls, else a new one."""
    task = (func, data, cpu)
    warm = pool.take(memory) if pool is not None else None
    if warm is not None:
        if warm.submit(task):
            return warm
        warm.stop()  # it died while idle (its own fault or the OOM killer's): the call never began
    worker = _Worker.start(_context(func), memory)
    if not worker.submit(task):
        worker.stop()
        raise SandboxCrashed("the attachment reader stopped before it could be given the attachment")
    return worker


class _Worker:
    """A sandboxed child process with its memory limit set, taking one call at a time."""

    def __init__(self, process: Any, conn: Connection, memory: int) -> None:
        self.process, self.conn, self.memory = process, conn, memory
        self.calls = 0
        self.settled_size: int | None = None  # its address space after its first call

    @classmethod
    def start(cls, ctx: Any, memory: int) -> _Worker:
        conn, child_end = ctx.Pipe(duplex=True)
        process = ctx.Process(target=_worker_main, args=(child_end, memory), name="sandbox:reader", daemon=True)
        try:
            with _start_lock, _main_module_hidden():
                process.start()
        finally:
            child_end.close()  # the worker holds the only other end now, so its death reads as EOF
        return cls(process, conn, memory)

    def submit(self, task: tuple[Callable[[bytes], Any], bytes, int]) -> bool:
        """Hand over one call; False if the worker is gone (nothing was started)."""
        try:
            self.conn.send(task)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            return False
        self.calls += 1
        return True

    def worn(self) -> bool:
        """True once the worker should make way for a fresh one (see the module docstring)."""
        size = _address_space(self.process.pid)
        if self.settled_size is None:
            self.settled_size = size
        return (
            self.calls >= MAX_CALLS_PER_WORKER
            or size is None
            or size - (self.settled_size or size) > RECYCLE_GROWTH_BYTES
        )

    def stop(self) -> int | None:
        """End the worker (it exits when its pipe closes; killed if it lingers); its exit code."""
        self.conn.close()
        return _reap(self.process)


class _WorkerPool:
    """Idle warm workers, by memory limit; thread-safe."""

    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    def take(self, memory: int) -> _Worker | None:
        with self._lock:
            for i, worker in enumerate(self._idle):
                if worker.memory == memory:
                    return self._idle.pop(i)
        return None

    def give_back(self, worker: _Worker) -> None:
        if not worker.worn():
            with self._lock:
                if not self._closed:
                    self._idle.append(worker)
                    return
        worker.stop()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


_warm: _WorkerPool | None = None


def _address_space(pid: int | None) -> int | None:
    """The process's virtual size in bytes (what RLIMIT_AS limits), None if it is gone."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _context(func: Callable[..., Any]) -> Any:
    """The forkserver context, preloading the parser's own module if the server is not yet up."""
    module = getattr(_unwrapped(func), "__module__", None)
    if module and module != "__main__" and module not in _PRELOAD:
        _PRELOAD.append(module)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(_PRELOAD))
    return ctx


def _unwrapped(func: Callable[..., Any]) -> Callable[..., Any]:
    """The function inside functools.partial wrappers (for its module and name)."""
    while isinstance(func, functools.partial):
        func = func.func
    return func


def _cpu_seconds(timeout: float) -> int:
    return int(timeout) + CPU_GRACE_SECONDS


# --- parent side -------------------------------------------------------------------------------


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start a child without telling it which script is __main__.

    multiprocessing makes every forkserver child re-run the main script's imports (for `intake`,
    SQLAlchemy, pydantic and the rest: about a second per attachment), and the fork server's own
    "__main__" preload does not take effect on Python 3.11. The sandbox only runs functions from
    importable modules, never from __main__, so the child does not need it.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved_file = main.__dict__.pop("__file__", _MISSING)
    saved_spec = main.__dict__.get("__spec__")
    main.__spec__ = None
    try:
        yield
    finally:
        main.__spec__ = saved_spec
        if saved_file is not _MISSING:
            main.__file__ = saved_file


_MISSING = object()


def _await_message(
    receiver: Connection, child: Any, timeout: float, cancel: threading.Event | None = None
) -> tuple[str, Any] | None:
    """The child's one message, or None if it died first or the deadline passed (then kill it)."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _kill(child)
            return None
        if cancel is not None and cancel.is_set():
            _kill_tree(child)
            raise ReaderInterrupted("the reading was abandoned: nothing waits for it any more")
        ready = wait([receiver, child.sentinel], remaining if cancel is None else min(remaining, CANCEL_POLL_SECONDS))
        if receiver in ready or (ready and receiver.poll()):
            message = _receive(receiver)
            if message is not None and message[0] == _LOGGED:
                _log_here(message[1])
                continue
            return message
        if ready:  # the child exited without sending anything
            return None


def _log_here(records: list[dict[str, Any]]) -> None:
    """Log what the worker logged during the call through this process's own logging."""
    for fields in records:
        record = logging.makeLogRecord(fields)
        target = logging.getLogger(record.name)
        if target.isEnabledFor(record.levelno):
            target.handle(record)


def _receive(receiver: Connection) -> tuple[str, Any] | None:
    """The child's message; None if it died mid-send; an error message if it cannot be unpickled."""
    try:
        return receiver.recv()
    except (EOFError, OSError):
        return None
    except Exception as err:  # unpickling runs arbitrary constructors: any error is possible
        return (_UNPICKLABLE, f"its answer could not be read ({type(err).__name__}: {err})")


def _kill(child: Any) -> None:
    if child.is_alive():
        logger.warning("sandboxed parser %s ran past its time limit; killing it", child.name)
        _kill_tree(child)


def _reap(child: Any) -> int | None:
    """Wait for the child (killing it if it lingers) so no zombie is left; return its exit code."""
    if child.pid is None:
        return None
    child.join(timeout=5)
    if child.is_alive():
        _kill_tree(child)
        child.join()
    exitcode = child.exitcode
    child.close()
    return exitcode


def _kill_tree(child: Any) -> None:
    """SIGKILL the child and whatever it started (soffice runs in its own process group)."""
    for pid, pgid in _descendants(child.pid):
        _kill_quietly(os.killpg if pid == pgid else os.kill, pid)  # a group leader takes its group
    child.kill()


def _kill_quietly(kill: Callable[[int, int], None], target: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(target, signal.SIGKILL)


def _descendants(root: int) -> list[tuple[int, int]]:
    """(pid, process group) of every process below `root`, read from /proc (Linux)."""
    table = _process_table()
    found: list[tuple[int, int]] = []
    parents = {root}
    while parents:
        children = [(pid, pgid) for pid, (ppid, pgid) in table.items() if ppid in parents]
        found.extend(children)
        parents = {pid for pid, _ in children}
    return found


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) for every process we can see."""
    table: dict[int, tuple[int, int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(entry.path)
            if fields:
                table[int(entry.name)] = fields
    return table


def _stat_fields(proc_dir: str) -> tuple[int, int] | None:
    try:
        with open(f"{proc_dir}/stat", "rb") as stat:
            after_name = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(after_name[1]), int(after_name[2])


def _outcome(message: tuple[str, Any] | None, exitcode: int | None, timeout: float, memory: int) -> Any:
    if message is None:
        raise _death_error(exitcode, timeout, memory)
    status, payload = message
    if status == _OK:
        return payload
    if status == _RAISED:
        raise payload
    if status == _NO_MEMORY:
        raise SandboxMemoryExceeded(memory_reason(memory))
    raise SandboxCrashed(f"the attachment reader failed: {payload}")


# How a C library under RLIMIT_AS usually dies when an allocation fails.
_OOM_SIGNALS = frozenset({signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS})


_STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGHUP})


def _death_error(exitcode: int | None, timeout: float, memory: int) -> ParseLimitError:
    """Explain a child that sent nothing: killed at the deadline, over its CPU limit, or crashed."""
    if exitcode is not None and -exitcode in _STOP_SIGNALS:
        raise ReaderInterrupted(f"the attachment reader was stopped by {signal.Signals(-exitcode).name}")
    if exitcode == -signal.SIGKILL:
        return SandboxTimeout(timeout_reason(timeout))
    if exitcode == -signal.SIGXCPU:
        return SandboxTimeout(timeout_reason(timeout))
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = f", most likely out of its {memory / 1e6:.0f} MB memory limit" if -exitcode in _OOM_SIGNALS else ""
        return SandboxCrashed(f"the attachment reader crashed ({name}) while reading the attachment{hint}")
    return SandboxCrashed(f"the attachment reader stopped unexpectedly (exit status {exitcode})")


def timeout_reason(timeout: float) -> str:
    """A sentence for staff: "the attachment took longer than 30 s to read"."""
    return f"the attachment took longer than {timeout:g} s to read"


def memory_reason(memory_bytes: int) -> str:
    """A sentence for staff: "reading the attachment needed more than 1.5 GB of memory"."""
    if memory_bytes >= 1_000_000_000:
        amount = f"{memory_bytes / 1e9:.1f}".removesuffix(".0") + " GB"
    else:
        amount = f"{memory_bytes / 1e6:.0f} MB"
    return f"reading the attachment needed more than {amount} of memory"


# --- child side --------------------------------------------------------------------------------


def _worker_main(conn: Connection, memory: int) -> None:
    """Entry point of a worker: limit itself, then run calls until its pipe closes."""
    _detach_from_stop_signals()
    _limit_self(memory)
    logged = _LogKeeper()
    while True:
        try:
            func, data, cpu = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe (or died): the worker's work is over
            return
        _limit_cpu(cpu)
        outcome = _run(func, data)
        records = logged.take()
        if records:
            conn.send((_LOGGED, records))
        _send(conn, outcome)


_PLAIN = (str, int, float, bool, type(None))


class _LogKeeper(logging.Handler):
    """Keep the worker's log records of one call (INFO and above), for the parent to log as its own.

    A reader's log line ("could not read a docx attachment") belongs in the service's log, written
    by its handlers with its format; a worker has none. A call logs at most `MAX_RECORDS_PER_CALL`
    lines: a broken file must not flood the log with one warning per damaged object.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._records: list[dict[str, Any]] = []
        self._dropped = 0
        root = logging.getLogger()
        root.handlers = [self]
        root.setLevel(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        if len(self._records) >= MAX_RECORDS_PER_CALL:
            self._dropped += 1
            return
        try:
            fields = {key: value for key, value in record.__dict__.items() if isinstance(value, _PLAIN)}
            trace = logging.Formatter().formatException(record.exc_info) if record.exc_info else None
            fields.update(msg=record.getMessage(), args=None, exc_info=None, exc_text=trace, stack_info=None)
        except Exception:  # noqa: BLE001 - a malformed log call must not fail the reading
            self.handleError(record)
            return
        self._records.append(fields)  # plain values only: a record must never fail to cross

    def take(self) -> list[dict[str, Any]]:
        records, self._records = self._records, []
        if self._dropped:
            more = f"{self._dropped} more log lines of this reading were dropped"
            records.append(logging.makeLogRecord({"name": __name__, "levelno": logging.INFO,
                                                  "levelname": "INFO", "msg": more}).__dict__)  # fmt: skip
            self._dropped = 0
        return records


def _detach_from_stop_signals() -> None:
    """Let the parent decide when to stop: a SIGTERM to the whole group (systemd) must not kill the
    reader of an attachment the parent will finish; and die with the fork server if it dies."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _send(sender: Connection, message: tuple[str, Any]) -> None:
    """Send the message; a result that cannot be pickled (or sent in memory) becomes an error."""
    try:
        sender.send(message)
    except MemoryError:
        sender.send((_NO_MEMORY, None))
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        sender.send((_UNPICKLABLE, f"its result could not be sent back ({err})"))


def _limit_self(memory: int) -> None:
    os.nice(NICENESS)
    for limit, value in (
        (resource.RLIMIT_AS, memory),
        (resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT),
        (resource.RLIMIT_NOFILE, OPEN_FILES_LIMIT),
        (resource.RLIMIT_CORE, 0),
    ):
        _set_soft_and_hard(limit, value)


def _limit_cpu(seconds: int) -> None:
    """Allow this call `seconds` of CPU beyond what the worker has used (SIGXCPU past it).

    Only the soft limit moves: a warm worker raises it again for its next call.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime) + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _set_soft_and_hard(limit: int, value: int) -> None:
    """Lower both limits (never raise them: an unprivileged child could not)."""
    soft, hard = resource.getrlimit(limit)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(limit, (value, value))


def _run(func: Callable[[bytes], Any], data: bytes) -> tuple[str, Any]:
    try:
        return (_OK, func(data))
    except MemoryError:
        return (_NO_MEMORY, None)
    except Exception as err:
        return _raised(err)
    except BaseException as err:  # SystemExit and the like: the parser gave up on its own
        return (_UNPICKLABLE, f"{type(err).__name__}: {err}")


def _raised(err: Exception) -> tuple[str, Any]:
    """Pass the exception itself if it survives a pickle round trip, else its description."""
    err.add_note("raised in the sandboxed child:\n" + "".join(traceback.format_exception(err)))
    try:
        pickle.loads(pickle.dumps(err))
    except Exception:  # noqa: BLE001 - any failure means it cannot cross, whatever the cause
        return (_UNPICKLABLE, f"{type(err).__name__}: {err}")
    return (_RAISED, err)
