"""Fixtures for the token refresher: a fake hub, a private token folder, and ways to run the refresher.

In-process tests drive `Daemon` in the test's event loop (quick, and they can read its
state); subprocess tests run the real command line to check exit statuses, signals and what
the process prints.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from tests.token_refresher.fakehub import FakeHub
from token_refresher.config import load_config
from token_refresher.daemon import Daemon
from token_refresher.logs import FORMAT


@pytest.fixture
def api_token() -> str:
    return f"FAKE-API-TOKEN-{uuid.uuid4().hex}"


@pytest.fixture
def hub(api_token: str) -> Iterator[FakeHub]:
    server = FakeHub(api_token)
    yield server
    server.close()


@pytest.fixture
def token_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cs3"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def env(hub: FakeHub, api_token: str, token_dir: Path) -> dict[str, str]:
    """A complete, valid environment for the refresher (nothing inherited that could interfere)."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("JUPYTERHUB_", "CS3_TOKEN_")) and key not in ("HTTP_PROXY", "HTTPS_PROXY")
    }
    return {
        **inherited,
        "JUPYTERHUB_API_URL": hub.api_url,
        "JUPYTERHUB_API_TOKEN": api_token,
        "JUPYTERHUB_USER": "einstein",
        "CS3_TOKEN_PATH": str(token_dir / "oauth.token"),
    }


class LogLines(logging.Handler):
    """Every record of the refresher's loggers, formatted as the real process would print it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(FORMAT))
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def count(self, fragment: str, level: int | None = None) -> int:
        return sum(
            1
            for record, line in zip(self.records, self.lines, strict=True)
            if fragment in line and (level is None or record.levelno == level)
        )


@pytest.fixture
def logs() -> Iterator[LogLines]:
    logger = logging.getLogger("token_refresher")
    handler = LogLines()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old_level)


class RunningDaemon:
    """A Daemon running in the test's loop, stopped by `stop()` (or at the end of the test)."""

    def __init__(self, daemon: Daemon, task: asyncio.Task[int], stop_event: asyncio.Event) -> None:
        self.daemon = daemon
        self.task = task
        self._stop = stop_event
        self._closed = False

    async def stop(self) -> int:
        """Stop as SIGTERM would; returns the exit status."""
        self._stop.set()
        try:
            return await asyncio.wait_for(self.task, 5)
        finally:
            if not self._closed:
                self._closed = True
                await self.daemon.close()


StartDaemon = Callable[..., Awaitable[RunningDaemon]]


@pytest.fixture
async def start_daemon(env: dict[str, str]) -> AsyncIterator[StartDaemon]:
    """Start the refresher in-process with extra flags (and the `env` fixture's environment as
    it is at that moment); a tiny minimum delay keeps short-lived-token tests short."""
    running: list[RunningDaemon] = []

    async def start(*argv: str, min_delay: float = 0.05) -> RunningDaemon:
        daemon = Daemon(load_config(list(argv), env), min_delay=min_delay)
        await daemon.start()
        stop_event = asyncio.Event()
        handle = RunningDaemon(daemon, asyncio.create_task(daemon.run(stop_event)), stop_event)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        await handle.stop()


async def wait_for(condition: Callable[[], object], timeout: float, what: str, step: float = 0.01) -> None:
    """Poll `condition` in the event loop until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(step)


def wait_for_sync(condition: Callable[[], object], timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def read_or_none(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def command(*argv: str) -> list[str]:
    """`python -m token_refresher` with the test's interpreter."""
    return [sys.executable, "-m", "token_refresher", *argv]


class Cli:
    """The command line running in the background, its output going to files (pipes could fill)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], folder: Path) -> None:
        self.stdout_path = folder / "refresher.stdout"
        self.stderr_path = folder / "refresher.stderr"
        with open(self.stdout_path, "w") as out, open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen(command(*argv), env=dict(env), cwd=folder, stdout=out, stderr=err)

    @property
    def output(self) -> str:
        return self.stdout_path.read_text() + self.stderr_path.read_text()

    def wait_for_output(self, fragment: str, timeout: float) -> None:
        wait_for_sync(
            lambda: fragment in self.output or self.proc.poll() is not None, timeout, repr(fragment)
        )
        assert fragment in self.output, self.output

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Cli]]:
    started: list[Cli] = []

    def start(argv: Sequence[str], env: Mapping[str, str]) -> Cli:
        cli = Cli(argv, env, tmp_path)
        started.append(cli)
        return cli

    yield start
    for cli in started:
        if cli.proc.poll() is None:
            cli.proc.kill()
            cli.proc.wait(5)


def run_cli(
    argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """Run the command line to its end; `cwd` is the test's own folder, never the repository."""
    return subprocess.run(
        command(*argv), env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
