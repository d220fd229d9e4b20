"""Peak memory of the process that asks, as the benchmarks report it."""

from __future__ import annotations

from pathlib import Path


def own_peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM), in MiB.

    Not `ru_maxrss`: Linux carries that across exec, so a service process started by the benchmark
    (fork, then exec of a fresh Python) reported the benchmark's own peak, ~270 MB after building
    the corpus, instead of its own (~150 MB, as `intake run` measures under /usr/bin/time).
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
