"""The sandbox runs a parser in a child process and turns every way it can go wrong into an error."""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import resource
import time
from pathlib import Path

import pytest
import sandbox_targets as targets

from parsers import sandbox
from parsers.sandbox import (
    ParseLimitError,
    SandboxCrashed,
    SandboxMemoryExceeded,
    SandboxTimeout,
    memory_reason,
    run_sandboxed,
    timeout_reason,
    warm_workers,
)


@pytest.fixture(autouse=True)
def no_child_left_behind():
    yield
    assert multiprocessing.active_children() == []


def test_a_normal_call_returns_the_result():
    assert run_sandboxed(targets.upper, b"agree") == b"AGREE"


def test_a_partial_of_a_module_function_can_be_run():
    assert run_sandboxed(functools.partial(targets.prefixed, b"Q1: "), b"agree") == b"Q1: agree"


def test_the_child_runs_under_the_limits():
    got = run_sandboxed(targets.limits, b"", timeout=10, memory_bytes=800_000_000)
    assert got["RLIMIT_AS"] == (800_000_000, 800_000_000)
    assert got["RLIMIT_CPU"][0] <= 15
    assert got["RLIMIT_FSIZE"][0] <= 64 * 1024 * 1024
    assert got["RLIMIT_NOFILE"][0] <= 256
    assert got["RLIMIT_CORE"] == (0, 0)


def test_the_parent_keeps_its_own_limits():
    run_sandboxed(targets.upper, b"x", memory_bytes=500_000_000)
    assert resource.getrlimit(resource.RLIMIT_AS)[0] != 500_000_000


def test_a_parser_error_passes_through_with_its_class():
    with pytest.raises(targets.ReaderRefused, match="the PDF is protected by a password"):
        run_sandboxed(targets.refuse, b"the PDF is protected by a password")


def test_a_builtin_error_passes_through_with_its_class():
    with pytest.raises(KeyError, match="word/document.xml"):
        run_sandboxed(targets.raise_key_error, b"word/document.xml")


def test_a_passed_error_carries_the_child_traceback_as_a_note():
    with pytest.raises(targets.ReaderRefused) as caught:
        run_sandboxed(targets.refuse, b"no")
    assert any("sandbox_targets.py" in note for note in caught.value.__notes__)


def test_an_error_that_cannot_cross_becomes_a_crash_with_its_message():
    with pytest.raises(SandboxCrashed, match="NeedsTwoArguments: form: unreadable") as caught:
        run_sandboxed(targets.raise_unpicklable, b"unreadable")
    assert isinstance(caught.value, ParseLimitError)


def test_a_result_that_cannot_cross_becomes_a_crash():
    with pytest.raises(SandboxCrashed, match="could not be sent back"):
        run_sandboxed(targets.return_unpicklable, b"a\nb")


def test_a_parser_that_hangs_is_killed_at_the_timeout():
    with pytest.raises(SandboxTimeout) as caught:
        run_sandboxed(targets.sleep_forever, b"", timeout=1)
    assert caught.value.reason == "the attachment took longer than 1 s to read"


def test_what_a_hung_parser_started_is_killed_too(tmp_path: Path):
    pid_file = tmp_path / "grandchild.pid"
    with pytest.raises(SandboxTimeout):
        run_sandboxed(targets.start_grandchild_then_sleep, str(pid_file).encode(), timeout=2)
    assert _gone(int(pid_file.read_text()))


def test_a_parser_that_needs_too_much_memory_is_stopped():
    with pytest.raises(SandboxMemoryExceeded) as caught:
        run_sandboxed(targets.allocate_3_gb, b"", memory_bytes=500_000_000)
    assert caught.value.reason == "reading the attachment needed more than 500 MB of memory"


def test_a_parser_that_exits_is_a_crash():
    with pytest.raises(SandboxCrashed, match="exit status 1"):
        run_sandboxed(targets.exit_1, b"")


def test_a_parser_that_segfaults_is_a_crash():
    with pytest.raises(SandboxCrashed, match="SIGSEGV"):
        run_sandboxed(targets.segfault, b"")


def test_a_parser_that_calls_exit_is_a_crash():
    with pytest.raises(SandboxCrashed, match="SystemExit"):
        run_sandboxed(targets.give_up, b"")


def test_warm_workers_serve_one_call_after_another():
    with warm_workers():
        first = run_sandboxed(targets.pid, b"")
        assert run_sandboxed(targets.pid, b"") == first
        assert run_sandboxed(targets.upper, b"agree") == b"AGREE"
        assert len(multiprocessing.active_children()) == 1
    # the autouse fixture checks that leaving the block ended the worker


def test_a_warm_worker_that_raised_is_kept():
    with warm_workers():
        first = run_sandboxed(targets.pid, b"")
        with pytest.raises(targets.ReaderRefused):
            run_sandboxed(targets.refuse, b"no")
        assert run_sandboxed(targets.pid, b"") == first


@pytest.mark.parametrize(
    ("target", "error", "limits"),
    [
        (targets.sleep_forever, SandboxTimeout, {"timeout": 1}),
        (targets.allocate_3_gb, SandboxMemoryExceeded, {"memory_bytes": 500_000_000}),
        (targets.segfault, SandboxCrashed, {}),
        (targets.give_up, SandboxCrashed, {}),
    ],
)
def test_a_warm_worker_that_failed_is_replaced_and_the_next_call_is_read(target, error, limits):
    with warm_workers():
        first = run_sandboxed(targets.pid, b"", **limits)
        with pytest.raises(error):
            run_sandboxed(target, b"", **limits)
        second = run_sandboxed(targets.pid, b"", **limits)
        assert second != first
        assert run_sandboxed(targets.upper, b"agree", **limits) == b"AGREE"


def test_each_call_of_a_warm_worker_gets_its_own_cpu_limit():
    """A worker that spent CPU on earlier calls still allows the next call its whole limit, and no more."""
    with warm_workers():
        for _ in range(3):
            run_sandboxed(targets.upper, b"x", timeout=1)
        got = run_sandboxed(targets.limits, b"", timeout=10, memory_bytes=800_000_000)
        assert got["RLIMIT_AS"] == (800_000_000, 800_000_000)
        assert got["RLIMIT_CPU"][0] <= 15 + 1
        with pytest.raises(SandboxTimeout):
            run_sandboxed(targets.burn_cpu, b"", timeout=1)


def test_workers_of_another_memory_limit_are_not_shared():
    with warm_workers():
        small = run_sandboxed(targets.limits, b"", memory_bytes=600_000_000)
        large = run_sandboxed(targets.limits, b"", memory_bytes=900_000_000)
        assert small["RLIMIT_AS"][0] == 600_000_000
        assert large["RLIMIT_AS"][0] == 900_000_000


def test_a_warm_worker_is_replaced_after_its_share_of_calls(monkeypatch):
    monkeypatch.setattr(sandbox, "MAX_CALLS_PER_WORKER", 2)
    with warm_workers():
        pids = [run_sandboxed(targets.pid, b"") for _ in range(4)]
    assert pids[0] == pids[1] != pids[2] == pids[3]


def test_a_worker_killed_while_idle_is_replaced_without_losing_the_call():
    with warm_workers():
        first = run_sandboxed(targets.pid, b"")
        os.kill(first, 9)
        _gone(first)
        assert run_sandboxed(targets.upper, b"agree") == b"AGREE"


def test_what_the_worker_logs_is_logged_here_and_a_flood_is_cut_short(caplog):
    caplog.set_level(logging.INFO)
    with warm_workers():
        assert run_sandboxed(targets.log_warnings, b"2") == 7
        assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
            ("parsers.pdf_reader", "WARNING", "damaged object 0"),
            ("parsers.pdf_reader", "WARNING", "damaged object 1"),
        ]
        caplog.clear()
        assert run_sandboxed(targets.log_warnings, b"500") == 7
    assert len(caplog.records) == sandbox.MAX_RECORDS_PER_CALL + 1
    assert caplog.records[-1].getMessage() == "480 more log lines of this reading were dropped"


def test_a_log_record_carrying_an_object_still_crosses(caplog):
    caplog.set_level(logging.INFO)
    assert run_sandboxed(targets.log_with_an_object_attached, b"a\nb") == 7
    assert [r.getMessage() for r in caplog.records] == ["odd part"]


def test_reasons_read_as_staff_would_say_them():
    assert timeout_reason(30.0) == "the attachment took longer than 30 s to read"
    assert memory_reason(1_500_000_000) == "reading the attachment needed more than 1.5 GB of memory"
    assert memory_reason(2_000_000_000) == "reading the attachment needed more than 2 GB of memory"


def _gone(pid: int) -> bool:
    """True once the process has died (a zombie waiting for init to reap it counts as dead)."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    os.kill(pid, 9)
    return False
