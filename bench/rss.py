"""Resident memory of a process, read from /proc (Linux only).

`peak_bytes` is the kernel's high-water mark (VmHWM). `reset_peak` sets it back to the current
RSS by writing 5 to /proc/<pid>/clear_refs, so the peak of one operation can be read without
a sampling thread: reset, run, read.
"""

from __future__ import annotations

from pathlib import Path

MiB = 1024 * 1024


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def rss_bytes(pid: int) -> int:
    """Current resident set size."""
    return _status_kib(pid, "VmRSS") * 1024


def peak_bytes(pid: int) -> int:
    """Highest resident set size since the process started or since `reset_peak`."""
    return _status_kib(pid, "VmHWM") * 1024


def reset_peak(pid: int) -> bool:
    """Restart the high-water mark at the current RSS; False where the kernel does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True
