"""Peak resident memory of the running benchmark process, shared by the benchmarks that report it."""

from __future__ import annotations

from pathlib import Path


def peak_rss_bytes() -> int:
    """This process's own peak RSS (``VmHWM`` of its address space).

    Not ``ru_maxrss``: Linux carries the parent's high-water mark over fork and exec into the child's
    ``ru_maxrss``, so every child would report at least the parent's peak (which built the synthetic file).
    """
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")
