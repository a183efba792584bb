"""revad crashes (SIGKILL) in the middle of a save, a chunked upload, a listing or a read.

Each kill lands at a measured point of the transfer, not after a guessed sleep: the link to
revad is slowed so a transfer lasts long enough, and revad is killed once its upload file
(for a listing or a read: the bytes the Jupyter server has received, by the kernel's
counters) reaches the wanted share of the whole. What a user must see: a 503 that says the
storage is unavailable and to try again, a retry that works once revad is back, and a file
that holds the old or the new content, byte for byte, never a mix or a truncated copy.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from tests.harness.faults import IsolatedRevad
from tests.harness.jupyter import JupyterServer

from .conftest import Ledger, running_jupyter, stored_bytes, wide_folder

MiB = 1024 * 1024
# Where in a transfer revad dies: the share of the body it has written when it is killed.
# 0.0 is right after the upload was initiated, before the first byte.
KILL_POINTS = (0.0, 0.25, 0.5, 0.75, 0.9)
UNAVAILABLE = "The storage service is unavailable; try again in a moment"
LINK_MBIT = 64  # 3 MiB take 0.4 s: room for five kill points per transfer


@pytest.fixture(scope="module")
def server(isolated_reva: IsolatedRevad, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with running_jupyter(
        isolated_reva, tmp_path_factory.mktemp("faults-jupyter"), call_timeout=5.0
    ) as jupyter:
        isolated_reva.netns.throttle(LINK_MBIT)  # type: ignore[union-attr]
        yield jupyter


async def crash_when(
    reva: IsolatedRevad, reached: Callable[[], int | None], target: float, request: asyncio.Task[Any]
) -> int:
    """Kill revad as soon as `reached()` is at least `target`; return where it was then.

    Fails the test if the request finished first: the fault would not have been injected.
    """
    deadline = time.monotonic() + 30
    while True:
        now = reached()
        if now is not None and now >= target:
            reva.crash()
            return now
        if request.done():
            pytest.fail(f"the request finished before revad could be killed at {target:.0f} (got to {now})")
        if time.monotonic() > deadline:
            pytest.fail(f"revad never got to {target:.0f} within 30 s (got to {now})")
        await asyncio.sleep(0.002)


def assert_unavailable(res: httpx.Response, name: str, ledger: Ledger) -> None:
    """The answer a user gets while revad is down: 503, saying what happened and what to do."""
    ledger.answer(res.status_code)
    assert res.status_code == 503, res.text[:500]
    message = res.json()["message"]
    assert UNAVAILABLE in message, message
    assert name in message, f"the message does not name the file: {message}"


def file_model(data: bytes) -> dict[str, Any]:
    return {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}


def notebook_model(data: bytes) -> dict[str, Any]:
    nb = new_notebook(cells=[new_code_cell(base64.b64encode(data).decode())])
    return {"type": "notebook", "content": json.loads(nbformat.writes(nb))}


def notebook_bytes(model: dict[str, Any]) -> bytes:
    """What the server stores for a notebook model: nbformat's own serialization."""
    return nbformat.writes(nbformat.from_dict(model["content"]), version=nbformat.NO_CONVERT).encode()


KINDS: dict[str, tuple[str, Callable[[bytes], dict[str, Any]]]] = {
    "file": ("bin", file_model),
    "notebook": ("ipynb", notebook_model),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.timeout(120)
async def test_crash_during_save_answers_503_and_keeps_a_whole_file(
    kind: str, server: JupyterServer, isolated_reva: IsolatedRevad, ledger: Ledger
) -> None:
    reva = isolated_reva
    ext, make_model = KINDS[kind]
    name = f"save-{uuid.uuid4().hex[:8]}.{ext}"
    cs3_path = f"{server.root}/{name}"  # type: ignore[attr-defined]
    url = f"/api/contents/{name}"

    def expected(model: dict[str, Any]) -> bytes:
        return notebook_bytes(model) if kind == "notebook" else base64.b64decode(model["content"])

    async with server.client() as client:
        old_model = make_model(os.urandom(64 * 1024))
        res = await client.put(url, json=old_model)
        assert res.status_code == 201, res.text
        old = expected(old_model)
        assert await stored_bytes(reva, cs3_path) == old
        for point in KILL_POINTS:
            new_model = make_model(os.urandom(3 * MiB))
            new = expected(new_model)
            before = reva.upload_files()
            request = asyncio.create_task(client.put(url, json=new_model))
            received = await crash_when(
                reva, lambda b=before: reva.received_bytes(b), point * len(new), request
            )
            ledger.fault(f"revad killed during a {kind} save")
            killed = time.monotonic()
            res = await request
            answered = time.monotonic() - killed
            assert_unavailable(res, name, ledger)
            assert answered < 10, f"the 503 took {answered:.1f} s after revad died"
            reva.restart()
            after_crash = await stored_bytes(reva, cs3_path)
            if received < len(new):
                # revad died before it had the whole body: the file must not have changed.
                assert ledger.compare(old, after_crash) == 0, f"killed at {received} of {len(new)} bytes"
            else:
                assert after_crash in (old, new), "the file is neither the old nor the new version"
            res = await client.put(url, json=new_model)
            ledger.answer(res.status_code)
            assert res.status_code == 200, res.text[:500]
            assert res.json()["size"] == len(new)
            assert ledger.compare(new, await stored_bytes(reva, cs3_path)) == 0
            old = new


def chunk_model(data: bytes, number: int) -> dict[str, Any]:
    return {**file_model(data), "chunk": number}


CHUNKS = 3  # of 1 MiB, as JupyterLab sends them; the last one is numbered -1


@pytest.mark.timeout(120)
async def test_crash_during_chunked_upload_never_stores_a_partial_file(
    server: JupyterServer, isolated_reva: IsolatedRevad, ledger: Ledger
) -> None:
    """Chunks are spooled by the server; revad sees one transfer when the last chunk arrives.

    Kill points: between chunks (the next chunk answers 503 and is taken when sent again), revad
    still down when the last chunk arrives, and during the final transfer. After a 503 the
    client sends the last chunk again (or, once, starts over, as a user re-uploading would).
    """
    reva = isolated_reva
    name = f"chunked-{uuid.uuid4().hex[:8]}.bin"
    cs3_path = f"{server.root}/{name}"  # type: ignore[attr-defined]
    url = f"/api/contents/{name}"
    points: list[str | float] = ["between chunks", "down at the last chunk", *KILL_POINTS[1:]]

    async with server.client() as client:
        old = os.urandom(100 * 1024)
        res = await client.put(url, json=file_model(old))
        assert res.status_code == 201, res.text
        for index, point in enumerate(points):
            parts = [os.urandom(MiB) for _ in range(CHUNKS)]
            new = b"".join(parts)
            numbers = [*range(1, CHUNKS), -1]
            for number, part in zip(numbers[:-1], parts[:-1], strict=True):
                res = await client.put(url, json=chunk_model(part, number))
                if point == "between chunks" and number == 2:
                    # The server looks the file up before taking a chunk: with revad down
                    # that is a 503, and the chunk is not taken; sent again, it is.
                    assert_unavailable(res, name, ledger)
                    reva.restart()
                    res = await client.put(url, json=chunk_model(part, number))
                assert res.status_code == 200, res.text[:500]
                if point == "between chunks" and number == 1:
                    reva.crash()
                    ledger.fault("revad killed between chunks of an upload")
            if point == "between chunks":
                res = await client.put(url, json=chunk_model(parts[-1], -1))
                assert res.status_code == 200, res.text[:500]
                assert ledger.compare(new, await stored_bytes(reva, cs3_path)) == 0
                old = new
                continue
            if point == "down at the last chunk":
                reva.crash()
                ledger.fault("revad down when the last chunk of an upload arrives")
                res = await client.put(url, json=chunk_model(parts[-1], -1))
            else:
                before = reva.upload_files()
                request = asyncio.create_task(client.put(url, json=chunk_model(parts[-1], -1)))
                assert isinstance(point, float)
                await crash_when(reva, lambda b=before: reva.received_bytes(b), point * len(new), request)
                ledger.fault("revad killed during the final transfer of a chunked upload")
                res = await request
            assert_unavailable(res, name, ledger)
            reva.restart()
            after_crash = await stored_bytes(reva, cs3_path)
            assert after_crash in (old, new), "the file is neither the old nor the new version"
            if index == 3:
                # Start over, as a user uploading the file again does.
                for number, part in zip(numbers, parts, strict=True):
                    res = await client.put(url, json=chunk_model(part, number))
                    assert res.status_code == 200, res.text[:500]
            else:
                # Send the last chunk again, as a client following "try again" does.
                res = await client.put(url, json=chunk_model(parts[-1], -1))
                ledger.answer(res.status_code)
                assert res.status_code == 200, res.text[:500]
            assert res.json()["size"] == len(new)
            assert ledger.compare(new, await stored_bytes(reva, cs3_path)) == 0
            old = new


ENTRIES = 2000
# Shares of the listing's answer the Jupyter server has received when revad dies. Up to about
# 140 KiB (link queue and revad's socket buffer, see IsolatedRevad.throttle) still arrives
# after the kill, so the last point stays clear of the end of the 1.5 MB answer.
LISTING_KILL_POINTS = (0.1, 0.3, 0.5, 0.7, 0.85)


@pytest.mark.timeout(120)
async def test_crash_during_listing_answers_503_then_lists_everything(
    server: JupyterServer, isolated_reva: IsolatedRevad, ledger: Ledger
) -> None:
    """A folder listing is repeated by the server while revad restarts; once its retries are
    spent the user gets a 503, and after the restart the listing is complete again."""
    reva = isolated_reva
    netns = reva.netns
    assert netns is not None
    async with server.client() as client:
        folder, names = await wide_folder(client, reva, server.root, ENTRIES)  # type: ignore[attr-defined]
        sent = netns.bytes_delivered_from(reva.grpc_port)
        res = await client.get(f"/api/contents/{folder}")
        assert res.status_code == 200, res.text[:500]
        assert {e["name"] for e in res.json()["content"]} == names
        listing_bytes = netns.bytes_delivered_from(reva.grpc_port) - sent
        netns.throttle(12)
        try:
            for point in LISTING_KILL_POINTS:
                sent = netns.bytes_delivered_from(reva.grpc_port)
                request = asyncio.create_task(client.get(f"/api/contents/{folder}"))
                await crash_when(
                    reva,
                    lambda s=sent: netns.bytes_delivered_from(reva.grpc_port) - s,
                    point * listing_bytes,
                    request,
                )
                ledger.fault("revad killed during a listing")
                killed = time.monotonic()
                res = await request
                answered = time.monotonic() - killed
                assert_unavailable(res, folder, ledger)
                # The server retries a listing for a few seconds before it gives up.
                assert answered < 15, f"the 503 took {answered:.1f} s after revad died"
                reva.restart()
                res = await client.get(f"/api/contents/{folder}")
                ledger.answer(res.status_code)
                assert res.status_code == 200, res.text[:500]
                assert {e["name"] for e in res.json()["content"]} == names
        finally:
            netns.throttle(LINK_MBIT)


# Shares of the file the Jupyter server has received when revad dies; up to about 460 KiB
# (link queue and socket buffer) still arrive after the kill, so the points stay below 85 %.
DOWNLOAD_KILL_POINTS = (0.1, 0.3, 0.5, 0.7)


@pytest.mark.timeout(120)
async def test_crash_during_a_read_never_passes_part_of_a_file_as_the_whole(
    server: JupyterServer, isolated_reva: IsolatedRevad, ledger: Ledger
) -> None:
    """Part of a file shown as the whole is how data gets lost: the user saves what they see.

    Opening a file (contents API) answers 503 instead; a `/files/` download, whose headers are
    gone when revad dies, ends as an incomplete transfer the browser reports as failed.
    """
    reva = isolated_reva
    netns = reva.netns
    assert netns is not None
    name = f"read-{uuid.uuid4().hex[:8]}.bin"
    data = os.urandom(3 * MiB)
    async with server.client() as client:
        res = await client.put(f"/api/contents/{name}", json=file_model(data))
        assert res.status_code == 201, res.text[:500]
        for index, point in enumerate(DOWNLOAD_KILL_POINTS):
            raw = index % 2 == 1
            url = f"/files/{name}" if raw else f"/api/contents/{name}"
            sent = netns.bytes_delivered_from(reva.http_port)
            request = asyncio.create_task(client.get(url))
            await crash_when(
                reva,
                lambda s=sent: netns.bytes_delivered_from(reva.http_port) - s,
                point * len(data),
                request,
            )
            ledger.fault("revad killed while a file is read")
            cut: str | None = None
            try:
                res = await request
            except httpx.RemoteProtocolError as err:
                cut = str(err)
            if cut is not None:
                # The body ended before the announced length: the browser marks it failed.
                assert raw, f"the contents API cut the connection instead of answering: {cut}"
                ledger.notes.append(f"/files/ download cut at {point:.0%}: {cut}")
            else:
                if raw and res.status_code == 200:
                    pytest.fail(f"/files/ answered 200 with {len(res.content)} of {len(data)} bytes")
                assert_unavailable(res, name, ledger)
            reva.restart()
            res = await client.get(url)
            ledger.answer(res.status_code)
            assert res.status_code == 200, res.text[:500]
            body = res.content if raw else base64.b64decode(res.json()["content"])
            assert ledger.compare(data, body) == 0
