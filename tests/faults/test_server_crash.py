"""The Jupyter server itself killed (SIGKILL) while it uploads a file to reva.

A pod evicted or OOM-killed mid-save cuts the upload off wherever it is. With TUS uploads
(`tus_enabled`), reva finishes an upload only once every announced byte has arrived, so the
stored file keeps its old content, and a new server saves normally. (With the `simple`
protocol, reva's local drivers keep the part that arrived: README, "Interrupted uploads".)
The kill lands when revad's upload file holds a given share of the body: measured, not timed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.harness.faults import IsolatedRevad
from tests.harness.jupyter import JupyterServer

from .conftest import Ledger, running_jupyter, stored_bytes

MiB = 1024 * 1024
SIZE = 3 * MiB
KILL_POINTS = (0.25, 0.5, 0.9)
LINK_MBIT = 64


@pytest.fixture(scope="module")
def tus_server(
    isolated_reva: IsolatedRevad, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    with running_jupyter(
        isolated_reva, tmp_path_factory.mktemp("tus-jupyter"), tus_enabled=True, call_timeout=5.0
    ) as jupyter:
        isolated_reva.netns.throttle(LINK_MBIT)  # type: ignore[union-attr]
        yield jupyter


def file_model(data: bytes, chunk: int | None = None) -> dict[str, object]:
    model: dict[str, object] = {
        "type": "file",
        "format": "base64",
        "content": base64.b64encode(data).decode(),
    }
    if chunk is not None:
        model["chunk"] = chunk
    return model


async def first_version(server: JupyterServer, prefix: str) -> tuple[str, str, bytes]:
    """A new 64 KiB file saved through `server`: its API URL, CS3 path and content."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}.bin"
    url = f"/api/contents/{name}"
    old = os.urandom(64 * 1024)
    async with server.client() as client:
        assert (await client.put(url, json=file_model(old))).status_code == 201
    return url, f"{server.root}/{name}", old  # type: ignore[attr-defined]


async def kill_server_when(
    reva: IsolatedRevad, server: JupyterServer, before: set[str], target: float
) -> int:
    """SIGKILL the Jupyter server once revad holds `target` bytes of a new upload."""
    deadline = time.monotonic() + 30
    while True:
        now = reva.received_bytes(before)
        if now is not None and now >= target:
            assert server.process is not None
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(10)
            return now
        assert time.monotonic() < deadline, f"revad never got to {target:.0f} bytes (got to {now})"
        await asyncio.sleep(0.002)


def check_old_or_new(
    ledger: Ledger, old: bytes, new: bytes, after: bytes, point: float, received: int
) -> None:
    """The stored file is the old one or, when the rest of the body was already on its way
    (socket buffers hold a few hundred KiB), the whole new one: never a part of it."""
    what = f"killed at {received} of {SIZE} bytes"
    if after == new:
        ledger.notes.append(f"{what}: the rest was in flight, the new file was stored whole")
        assert point > 0.5, f"{what}, yet the whole new file arrived"
        ledger.compare(new, after)
        return
    assert ledger.compare(old, after) == 0, f"{what}: the stored file is neither the old nor the new one"


async def send_and_kill(
    server: JupyterServer, reva: IsolatedRevad, url: str, model: dict[str, object], target: float
) -> int:
    before = reva.upload_files()
    async with server.client() as client:
        request = asyncio.create_task(client.put(url, json=model))
        received = await kill_server_when(reva, server, before, target)
        with contextlib.suppress(httpx.TransportError):
            await request
            pytest.fail("the save finished although its server was killed")
    return received


@pytest.mark.timeout(180)
async def test_server_killed_mid_save_leaves_the_old_file(
    tus_server: JupyterServer, isolated_reva: IsolatedRevad, ledger: Ledger
) -> None:
    reva, server = isolated_reva, tus_server
    url, cs3_path, old = await first_version(server, "killed")
    for point in KILL_POINTS:
        new = os.urandom(SIZE)
        received = await send_and_kill(server, reva, url, file_model(new), point * SIZE)
        ledger.fault("Jupyter server killed during a TUS save")
        assert received < SIZE
        await asyncio.sleep(1)  # revad notices the connection is gone
        check_old_or_new(ledger, old, new, await stored_bytes(reva, cs3_path), point, received)
        await asyncio.to_thread(server.start)
        async with server.client() as client:
            res = await client.put(url, json=file_model(new))
            ledger.answer(res.status_code)
            assert res.status_code == 200, res.text[:300]
        assert ledger.compare(new, await stored_bytes(reva, cs3_path)) == 0
        old = new


@pytest.mark.timeout(180)
async def test_server_killed_during_the_last_chunk_leaves_the_old_file(
    tus_server: JupyterServer, isolated_reva: IsolatedRevad, ledger: Ledger
) -> None:
    """The last chunk makes the server upload the whole spooled file: killed during that."""
    reva, server = isolated_reva, tus_server
    url, cs3_path, old = await first_version(server, "chunked")
    for point in KILL_POINTS:
        blocks = [os.urandom(MiB) for _ in range(3)]
        async with server.client() as client:
            for number, block in ((1, blocks[0]), (2, blocks[1])):
                res = await client.put(url, json=file_model(block, number))
                assert res.status_code in (200, 201), res.text[:300]
        received = await send_and_kill(server, reva, url, file_model(blocks[2], -1), point * SIZE)
        ledger.fault("Jupyter server killed while uploading the last chunk (TUS)")
        await asyncio.sleep(1)
        check_old_or_new(ledger, old, b"".join(blocks), await stored_bytes(reva, cs3_path), point, received)
        # The spool died with the server: the user uploads again, from chunk 1.
        await asyncio.to_thread(server.start)
        async with server.client() as client:
            for number, block in ((1, blocks[0]), (2, blocks[1]), (-1, blocks[2])):
                res = await client.put(url, json=file_model(block, number))
                ledger.answer(res.status_code)
                assert res.status_code in (200, 201), res.text[:300]
        new = b"".join(blocks)
        assert ledger.compare(new, await stored_bytes(reva, cs3_path)) == 0
        old = new
