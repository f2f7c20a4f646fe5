"""Small helpers shared by the benchmarks."""

from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path


def percentile(samples: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of samples."""
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


def summary_ms(samples: list[float]) -> str:
    """p50 / p99 / max of samples given in seconds, as milliseconds."""
    return (
        f"p50 {percentile(samples, 50) * 1e3:7.3f} ms  p99 {percentile(samples, 99) * 1e3:7.3f} ms"
        f"  max {max(samples) * 1e3:7.3f} ms  mean {statistics.fmean(samples) * 1e3:7.3f} ms"
    )


def machine() -> str:
    """One line describing where the figures were measured."""
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.node()}: {os.cpu_count()} cores, {cpu}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )


def status_mib(field: str) -> float:
    """A memory line of this process's /proc status (VmRSS, RssAnon...) in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_kib(pid: int | None = None) -> int:
    """Resident memory (VmRSS) of a process in KiB."""
    status = Path(f"/proc/{pid or 'self'}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")
