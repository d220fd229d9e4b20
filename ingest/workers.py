"""Who is working: a name for this process that other processes can check for life.

A claim on a row (an acknowledgement being sent, a cycle running) names its worker as
``HOST:PID:START`` (START is the process's start time in clock ticks, so a reused pid is not
mistaken for the old process). A claim by a process on this host that no longer exists is void
at once; a claim from another host holds until its lease runs out.
"""

from __future__ import annotations

import functools
import os
import socket


@functools.cache
def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_ticks(os.getpid())}"


def is_gone(worker: str | None) -> bool:
    """True when `worker` ran on this host and that process has ended (or never was)."""
    if not worker:
        return True
    parts = worker.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    host, pid, start = parts
    if host != socket.gethostname():
        return False
    return _start_ticks(int(pid)) != start


def _start_ticks(pid: int) -> str:
    """Field 22 of /proc/PID/stat: when the process started; "" when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""
