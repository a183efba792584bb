"""What every harness does with the process it starts: stop it politely, show its log."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def stop_process(
    proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    """Send `sig`, then SIGKILL if the process has not exited within `timeout` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def log_tail(path: Path, name: str, lines: int = 40) -> str:
    """The last lines of a log, colour codes removed, titled for a test report."""
    try:
        text = ANSI.sub("", path.read_text(errors="replace")).splitlines()
    except FileNotFoundError:
        return f"({name} wrote no log)"
    body = "\n".join(text[-lines:])
    return f"--- {name} log (last {lines} lines) ---\n{body}"
