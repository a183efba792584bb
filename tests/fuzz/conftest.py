"""A real Jupyter Server on the real revad, with neighbours around its root to prove untouched.

Einstein's storage holds, for the whole session:

    /home/fz-<id>/secret.txt          a file in the root's parent
    /home/fz-<id>/root/               the Jupyter root every fuzz test talks to
    /home/fz-<id>/root-sibling/...    a sibling whose name starts with the root's name
    /home/fz-<id>/other/notes.txt     another sibling

`untouched` snapshots everything outside the root (names, types, sizes, etags and the bytes of
every file, plus the names in einstein's home) over a separate CS3 connection before a test and
compares after it: a path that escaped the root would show up as a difference.

Every fuzz test counts the inputs it tried and the answers it got in `fuzz_stats`; the counts
are printed at the end of the run and written to `fuzz-counts.json` in pytest's base temp dir.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from cs3_contents_manager import models
from cs3_contents_manager.cs3.storage import CS3Storage
from tests.conftest import storage_for
from tests.harness.jupyter import JupyterServer, seed_server
from tests.harness.reva import Revad

HOME = "/home"
STATS: dict[str, Counter[str]] = {}


@dataclass
class FuzzSite:
    """The server under test and where its root sits in CS3."""

    server: JupyterServer
    reva: Revad
    parent: str
    root: str
    neighbours: dict[str, bytes] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers=self.server.headers(), timeout=60.0)


async def _layout(reva: Revad, parent: str, files: dict[str, bytes]) -> None:
    storage = storage_for(reva, "einstein")
    try:
        await storage.mkdir(parent)
        for folder in ("root", "root-sibling", "other"):
            await storage.mkdir(f"{parent}/{folder}")
        for path, data in files.items():
            await storage.upload(path, data, size=len(data))
    finally:
        await storage.close()


@pytest.fixture(scope="session")
def fuzz_site(reva: Revad, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzSite]:
    """One Jupyter Server (the seed configuration) whose root has a parent and siblings."""
    workdir = tmp_path_factory.mktemp("fuzz-jupyter")
    parent = f"{HOME}/fz-{uuid.uuid4().hex[:10]}"
    root = f"{parent}/root"
    neighbours = {
        f"{parent}/secret.txt": b"outside the root: never to be read or written\n",
        f"{parent}/root-sibling/data.txt": b"a sibling with the root's name as prefix\n",
        f"{parent}/other/notes.txt": b"another user folder\n",
    }
    asyncio.run(_layout(reva, parent, neighbours))
    server = seed_server(reva.gateway, workdir, root)
    server.start()
    yield FuzzSite(server, reva, parent, root, neighbours)
    server.stop()


async def _snapshot(storage: CS3Storage, parent: str, root: str) -> dict[str, Any]:
    """Everything below `parent` except the root's subtree, and the names in the home."""
    seen: dict[str, Any] = {"home": sorted(e.path for e in await storage.list(HOME))}
    pending = [parent]
    while pending:
        folder = pending.pop()
        for entry in await storage.list(folder):
            if entry.path == root or entry.path.startswith(root + "/"):
                continue
            if models.is_dir(entry):
                seen[entry.path] = ("dir", entry.etag)
                pending.append(entry.path)
            else:
                data = bytes(await storage.read(entry.path))
                seen[entry.path] = ("file", entry.size, entry.etag, hashlib.sha256(data).hexdigest())
    return seen


def snapshot(site: FuzzSite) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        storage = storage_for(site.reva, "einstein")
        try:
            return await _snapshot(storage, site.parent, site.root)
        finally:
            await storage.close()

    return asyncio.run(run())


@pytest.fixture
def untouched(fuzz_site: FuzzSite) -> Iterator[dict[str, Any]]:
    """Fail the test if anything outside the Jupyter root changed while it ran."""
    before = snapshot(fuzz_site)
    assert set(fuzz_site.neighbours) <= set(before), "the neighbours of the root are missing"
    yield before
    after = snapshot(fuzz_site)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"outside the root, these changed: {changed}"


@pytest.fixture
def fuzz_stats(request: pytest.FixtureRequest) -> Counter[str]:
    """Counts of inputs tried and answers seen, reported per test at the end of the run."""
    return STATS.setdefault(request.node.name, Counter())


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not STATS:
        return
    terminalreporter.section("fuzz inputs tried")
    for name, counts in STATS.items():
        statuses = " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if k.startswith("HTTP "))
        others = " ".join(f"{k}={v}" for k, v in sorted(counts.items()) if not k.startswith("HTTP "))
        terminalreporter.write_line(f"{name}: {others} | {statuses}")
    total = sum(c["inputs"] for c in STATS.values())
    requests = sum(v for c in STATS.values() for k, v in c.items() if k.startswith("HTTP "))
    terminalreporter.write_line(f"total: {total} inputs, {requests} HTTP requests")
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    (base / "fuzz-counts.json").write_text(json.dumps({k: dict(v) for k, v in STATS.items()}, indent=1))
