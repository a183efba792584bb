"""Fixtures shared by every test: a real revad, its log in the report when a test fails, and
a sweep of every log the session wrote for tokens and passwords."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cs3_contents_manager.cs3.client import ChannelSettings
from cs3_contents_manager.cs3.storage import CS3Storage
from tests.harness.reva import DEMO_USERS, Revad, default_binary, start_revad

REVA_FIXTURES = ("reva", "fresh_reva")
# What the test processes write their logs to, below pytest's temporary folder.
LOG_FILES = ("*.log", "*.stdout", "*.stderr")
SWEEP = pytest.StashKey[str]()
# Any JSON Web Token: the provider's access and ID tokens and reva's own tokens all are.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+")


def secrets_in(text: str) -> list[str]:
    """What in `text` is a token or a demo user's password (named, never quoted)."""
    found = [f"a JWT at offset {m.start()}" for m in JWT.finditer(text)]
    found += [f"{user}'s password" for user, password in DEMO_USERS.items() if password in text]
    return found


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[None]:
    """After the last test: no log that any test's processes wrote (revad at every level used,
    the provider, JupyterHub, the Jupyter servers, the refreshers) holds a token or a password.
    The tests of each component look for the exact tokens they handed out; this sweep covers
    the logs of every test, including those that never thought of it."""
    yield
    leaks: dict[str, list[str]] = {}
    scanned = 0
    base = tmp_path_factory.getbasetemp()
    for path in sorted(p for pattern in LOG_FILES for p in base.rglob(pattern)):
        if not path.is_file():
            continue
        scanned += 1
        found = secrets_in(path.read_text(errors="replace"))
        if found:
            leaks[str(path)] = found[:3]
    pytestconfig.stash[SWEEP] = f"log sweep: {scanned} logs read, {len(leaks)} with a token or password"
    assert not leaks, f"secrets in {len(leaks)} of {scanned} logs: {leaks}"


@pytest.fixture(scope="session")
def revad_binary() -> Path:
    binary = default_binary()
    if not binary.exists():
        pytest.fail(f"{binary} is missing: `make test` builds it (or run `make revad`)", pytrace=False)
    return binary


@pytest.fixture(scope="session")
def reva(revad_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Revad]:
    """One revad for the whole session: tests that do not kill it share it."""
    server = start_revad(tmp_path_factory.mktemp("reva"), binary=revad_binary)
    yield server
    server.stop()


@pytest.fixture
def make_reva(revad_binary: Path, tmp_path: Path) -> Iterator[Callable[..., Revad]]:
    """Start revads of the test's own (for tests that kill, restart or reconfigure them)."""
    started: list[Revad] = []

    def make(**kwargs: Any) -> Revad:
        server = start_revad(tmp_path / f"reva-{len(started)}", binary=revad_binary, **kwargs)
        started.append(server)
        return server

    make.started = started  # type: ignore[attr-defined]
    yield make
    for server in started:
        server.stop()


@pytest.fixture
def fresh_reva(make_reva: Callable[..., Revad]) -> Revad:
    """A revad of the test's own, for tests that kill or break it."""
    return make_reva()


def storage_for(server: Revad, user: str, password: str | None = None, **kwargs: object) -> CS3Storage:
    return CS3Storage(
        ChannelSettings(server.gateway, **kwargs),  # type: ignore[arg-type]
        login_type="basic",
        client_id=user,
        secret=password if password is not None else DEMO_USERS[user],
    )


async def stored_containing(server: Any, user: str, path: str, needle: str, timeout: float = 30) -> str:
    """The file as reva holds it, read over CS3 as `user`, once it contains `needle` (a save
    from the browser lands a moment after the click)."""
    storage = storage_for(server, user)
    deadline = time.monotonic() + timeout
    seen = ""
    try:
        while time.monotonic() < deadline:
            try:
                seen = (await storage.read(path)).decode()
            except Exception as err:  # not written yet
                seen = f"<{err}>"
            if needle in seen:
                return seen
            await asyncio.sleep(0.5)
    finally:
        await storage.close()
    raise AssertionError(f"{path} in reva never contained {needle!r}: {seen[:300]}")


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def metric_samples(text: str) -> Samples:
    """Prometheus' text format as {(sample name, labels): value}, parsed by its own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def upload_calls(samples: Samples) -> float:
    """How many InitiateFileUpload calls the contents manager counted: one per save."""
    return samples.get(("cs3_call_duration_seconds_count", frozenset({("method", "InitiateFileUpload")})), 0)


@pytest.fixture
async def einstein(reva: Revad) -> AsyncIterator[CS3Storage]:
    storage = storage_for(reva, "einstein")
    yield storage
    await storage.close()


@pytest.fixture
async def marie(reva: Revad) -> AsyncIterator[CS3Storage]:
    storage = storage_for(reva, "marie")
    yield storage
    await storage.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Append the tail of revad's log to the report of a failed test that used revad."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        servers = [(name, funcargs.get(name)) for name in REVA_FIXTURES]
        made = getattr(funcargs.get("make_reva"), "started", [])
        servers += [(f"make_reva #{i}", server) for i, server in enumerate(made)]
        for name, server in servers:
            if isinstance(server, Revad):
                report.sections.append((f"revad log ({name})", server.log_tail(60)))
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if SWEEP in config.stash:
        terminalreporter.write_line(config.stash[SWEEP])
