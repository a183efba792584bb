"""What every harness does with the process it starts: log it, wait for it, stop it politely.

revad, the identity provider, JupyterHub and the Jupyter servers differ only in how they are
launched and in what proves them ready; `ManagedProcess` holds everything else, so a failed
start reads the same for each of them (exit code, why, and the end of the log).
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import ClassVar, Self, TypeVar

import httpx

ANSI = re.compile(r"\x1b\[[0-9;]*m")

T = TypeVar("T")

# What a probe returns: None once the process is ready, otherwise what it saw instead.
Probe = Callable[[], str | None]


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


def http_probe(
    client: httpx.Client, url: str, ready: Callable[[httpx.Response], bool] | None = None
) -> Probe:
    """A probe that is satisfied by a 200 from `url` (and by `ready`, when given)."""

    def probe() -> str | None:
        try:
            res = client.get(url)
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"
        if res.status_code == 200 and (ready is None or ready(res)):
            return None
        return f"{url} answered HTTP {res.status_code}"

    return probe


class ManagedProcess:
    """A child process started by a harness, with its output in `log_path`.

    Subclasses set `name` (for messages), `error` (the exception tests catch) and, where the
    program needs others, `stop_signal`, `stop_timeout` and `tail_lines`; they provide
    `log_path` and call `spawn` and `wait_ready` from their `start`.
    """

    name: ClassVar[str] = "the process"
    error: ClassVar[type[Exception]] = RuntimeError
    stop_signal: ClassVar[int] = signal.SIGTERM
    stop_timeout: ClassVar[float] = 10.0
    tail_lines: ClassVar[int] = 40
    process: subprocess.Popen[bytes] | None

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def spawn(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> None:
        """Start `argv` with stdout and stderr appended to the log and no stdin."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=None if env is None else dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, probe: Probe, timeout: float, interval: float = 0.2) -> None:
        """Poll `probe` until it is satisfied; on exit or timeout stop the process and raise.

        A process that dies during start-up is reported at once with its exit code, rather
        than after the whole timeout.
        """
        try:
            deadline = time.monotonic() + timeout
            last = "no answer yet"
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise self.error(self.explain_exit())
                seen = probe()
                if seen is None:
                    return
                last = seen
                time.sleep(interval)
            raise self.error(
                f"{self.name} did not become ready within {timeout:.0f} s "
                f"(last probe: {last})\n{self.log_tail()}"
            )
        except BaseException:
            self.stop()
            raise

    def explain_exit(self) -> str:
        """Why the process ended during start-up, in words, followed by its log."""
        tail = self.log_tail()
        return f"{self.exit_reason(tail)}\n{tail}"

    def exit_reason(self, tail: str) -> str:
        """The reason for an exit during start-up that the log's end `tail` gives."""
        assert self.process is not None
        if "address already in use" in tail:
            return f"{self.name} could not listen: a port it was given is already in use"
        return f"{self.name} exited with code {self.process.returncode} during start-up"

    def stop(self, timeout: float | None = None) -> None:
        stop_process(self.process, self.stop_signal, self.stop_timeout if timeout is None else timeout)

    def kill(self) -> None:
        """SIGKILL without a chance to clean up, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int | None = None) -> str:
        return log_tail(self.log_path, self.name, self.tail_lines if lines is None else lines)

    def start(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_on_free_ports(make: Callable[[int], T], error: type[Exception], attempts: int = 3) -> T:
    """Build and start a server with `make(attempt)`, again on new ports if one was taken.

    Free ports are found by binding port 0 and releasing it, so another process can grab one
    before the server binds it; building the server anew picks new ports and turns that race
    into a non-event. Any other failure is raised at once.
    """
    last: Exception | None = None
    for attempt in range(attempts):
        try:
            return make(attempt)
        except error as err:
            if "already in use" not in str(err):
                raise
            last = err
    assert last is not None
    raise last
