"""Fixtures for fault injection: a revad of each module's own, in a network namespace it may
break, a Jupyter server in front of it, and a ledger of the faults injected and bytes lost."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import storage_for
from tests.harness.faults import IsolatedRevad, network_faults_unavailable
from tests.harness.jupyter import JupyterServer, seed_server
from tests.harness.reva import Revad


@dataclass
class Ledger:
    """What the fault tests did, printed at the end of the run: a crash test that injected no
    fault, or lost a byte, is visible at a glance."""

    faults: dict[str, int] = field(default_factory=dict)
    bytes_checked: int = 0
    bytes_lost: int = 0
    errors_seen: dict[int, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def fault(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

    def answer(self, status: int) -> None:
        self.errors_seen[status] = self.errors_seen.get(status, 0) + 1

    def compare(self, expected: bytes, stored: bytes) -> int:
        """Count and return the bytes of `expected` that `stored` does not hold at their place."""
        lost = sum(a != b for a, b in zip(expected, stored, strict=False)) + abs(len(expected) - len(stored))
        self.bytes_checked += len(expected)
        self.bytes_lost += lost
        return lost


LEDGER = Ledger()


@pytest.fixture(scope="session")
def ledger() -> Ledger:
    return LEDGER


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not LEDGER.faults:
        return
    write = terminalreporter.write_line
    terminalreporter.section("faults injected")
    for kind, count in sorted(LEDGER.faults.items()):
        write(f"{kind}: {count}")
    write(f"total faults: {sum(LEDGER.faults.values())}")
    write(f"error answers seen by the client: {dict(sorted(LEDGER.errors_seen.items()))}")
    write(f"bytes verified after recovery: {LEDGER.bytes_checked}, bytes lost: {LEDGER.bytes_lost}")
    for note in LEDGER.notes:
        write(note)


@pytest.fixture(scope="module")
def isolated_reva(revad_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IsolatedRevad]:
    """A revad of this module's own, in its own network namespace: killing it, freezing it or
    cutting its network disturbs no other test."""
    reason = network_faults_unavailable()
    if reason:
        pytest.fail(reason, pytrace=False)
    server = IsolatedRevad(tmp_path_factory.mktemp("faults-reva"), binary=revad_binary)
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@contextmanager
def running_jupyter(reva: Revad, workdir: Path, **manager: object) -> Iterator[JupyterServer]:
    """A real Jupyter server serving a fresh folder of einstein's home from `reva`, with
    `manager` settings of the contents manager; stopped on leaving."""
    root = f"/home/faults-{uuid.uuid4().hex[:10]}"

    async def make_root() -> None:
        storage = storage_for(reva, "einstein")
        try:
            await storage.mkdir(root)
        finally:
            await storage.close()

    asyncio.run(make_root())
    server = seed_server(reva.gateway, workdir, root, CS3FileManagerMixin=dict(manager))
    server.root = root  # type: ignore[attr-defined]
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def stored_bytes(reva: Revad, path: str) -> bytes:
    """The file as a new client sees it: a fresh login, nothing cached."""
    storage = storage_for(reva, "einstein")
    try:
        return bytes(await storage.read(path))
    finally:
        await storage.close()


async def wide_folder(
    client: httpx.AsyncClient, reva: Revad, root: str, entries: int
) -> tuple[str, set[str]]:
    """A new folder below the server's `root` holding `entries` one-byte files, and their
    names. The files are written straight into revad's storage folder: as good as uploads for
    a listing, and thousands of uploads would take most of a test's time."""
    folder = f"wide-{uuid.uuid4().hex[:8]}"
    res = await client.put(f"/api/contents/{folder}", json={"type": "directory"})
    assert res.status_code == 201, res.text
    on_disk = reva.storage_root / "data" / "einstein" / root.split("/", 2)[2] / folder
    names = {f"entry-{i:05d}.txt" for i in range(entries)}
    for name in names:
        (on_disk / name).write_bytes(b"x")
    return folder, names


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Append the logs of this module's revad and Jupyter server to a failed test's report."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, IsolatedRevad):
                report.sections.append(("revad log (isolated)", value.log_tail(60)))
            elif isinstance(value, JupyterServer):
                report.sections.append(("jupyter server log", value.log_tail(60)))
    return report
