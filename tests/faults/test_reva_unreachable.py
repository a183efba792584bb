"""revad alive but unreachable: its packets dropped on the network, or the process frozen.

Nothing is refused in either case, so nothing fails fast: a client without deadlines would
wait forever. What a user must see: a 503 within the deadline the manager's `call_timeout`
sets, a Jupyter server that keeps answering everything else meanwhile, and everything working
again once revad can be reached.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest

from tests.harness.faults import IsolatedRevad
from tests.harness.jupyter import JupyterServer

from .conftest import Ledger, running_jupyter, stored_bytes, wide_folder

CALL_TIMEOUT = 3.0
# A request against an unreachable revad must end within the deadline plus this much.
SLACK = 2.0
UNAVAILABLE = "The storage service is unavailable; try again in a moment"


@pytest.fixture(scope="module")
def server(isolated_reva: IsolatedRevad, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    with running_jupyter(
        isolated_reva, tmp_path_factory.mktemp("faults-jupyter"), call_timeout=CALL_TIMEOUT
    ) as jupyter:
        yield jupyter


async def timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    res = await call
    return res, time.monotonic() - started


async def still_answering(client: httpx.AsyncClient, pending: list[asyncio.Task[object]]) -> int:
    """While the contents requests hang, the server's other endpoints answer within 1 s."""
    checks = 0
    while not all(task.done() for task in pending):
        for url in ("/api/status", "/api/kernelspecs"):
            res, took = await timed(client.get(url))
            assert res.status_code == 200, f"{url}: {res.status_code}"
            assert took < 1.0, f"{url} took {took:.2f} s while a contents request waited for revad"
            checks += 1
        await asyncio.sleep(0.1)
    return checks


async def recovered(client: httpx.AsyncClient, url: str, within: float) -> tuple[httpx.Response, float, int]:
    """Poll until `url` answers 200 again; the time it took and the 503s seen on the way."""
    started = time.monotonic()
    refused = 0
    while True:
        res = await client.get(url)
        if res.status_code == 200:
            return res, time.monotonic() - started, refused
        assert res.status_code == 503, res.text[:300]
        refused += 1
        if time.monotonic() - started > within:
            pytest.fail(f"{url} still answers 503 {within:.0f} s after revad became reachable again")
        await asyncio.sleep(0.2)


def file_model(data: bytes) -> dict[str, object]:
    return {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}


def assert_unavailable(res: httpx.Response, took: float, what: str, ledger: Ledger) -> None:
    ledger.answer(res.status_code)
    assert res.status_code == 503, f"{what}: {res.status_code} {res.text[:300]}"
    assert UNAVAILABLE in res.text, res.text[:300]
    assert took < CALL_TIMEOUT + SLACK, f"{what} took {took:.1f} s (call_timeout {CALL_TIMEOUT} s)"


FAULTS: dict[str, tuple[Callable[[IsolatedRevad], None], Callable[[IsolatedRevad], None]]] = {
    "network black hole": (
        lambda r: r.netns.blackhole([r.grpc_port, r.http_port]),  # type: ignore[union-attr]
        lambda r: r.netns.heal(),  # type: ignore[union-attr]
    ),
    "frozen process": (IsolatedRevad.freeze, IsolatedRevad.thaw),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.timeout(90)
async def test_unreachable_reva_answers_503_within_the_deadline_and_recovers(
    fault: str, server: JupyterServer, isolated_reva: IsolatedRevad, ledger: Ledger
) -> None:
    reva = isolated_reva
    inject, lift = FAULTS[fault]
    folder = f"dark-{uuid.uuid4().hex[:8]}"
    name = f"{folder}/kept.bin"
    cs3_path = f"{server.root}/{name}"  # type: ignore[attr-defined]
    old = os.urandom(200 * 1024)
    async with server.client() as client:
        assert (await client.put(f"/api/contents/{folder}", json={"type": "directory"})).status_code == 201
        assert (await client.put(f"/api/contents/{name}", json=file_model(old))).status_code == 201
        inject(reva)
        ledger.fault(f"revad unreachable ({fault})")
        try:
            calls = {
                "open a file": client.get(f"/api/contents/{name}"),
                "save a file": client.put(f"/api/contents/{name}", json=file_model(os.urandom(1024))),
                "list a folder": client.get(f"/api/contents/{folder}"),
                "download a file": client.get(f"/files/{name}"),
            }
            tasks = {what: asyncio.create_task(timed(call)) for what, call in calls.items()}
            checks = await still_answering(client, list(tasks.values()))  # type: ignore[arg-type]
            assert checks >= 4, "the contents requests ended before the server could be checked"
            for what, task in tasks.items():
                res, took = task.result()
                assert_unavailable(res, took, what, ledger)
        finally:
            lift(reva)
        res, took, refused = await recovered(client, f"/api/contents/{name}", within=30)
        ledger.notes.append(
            f"{fault}: reads worked again {took:.1f} s after it ended ({refused} 503s meanwhile)"
        )
        assert base64.b64decode(res.json()["content"]) == old
        assert ledger.compare(old, await stored_bytes(reva, cs3_path)) == 0
        new = os.urandom(200 * 1024)
        res = await client.put(f"/api/contents/{name}", json=file_model(new))
        assert res.status_code == 200, res.text[:300]
        assert ledger.compare(new, await stored_bytes(reva, cs3_path)) == 0


@pytest.mark.timeout(90)
async def test_unreachable_data_gateway_answers_503_within_the_deadline(
    server: JupyterServer, isolated_reva: IsolatedRevad, ledger: Ledger
) -> None:
    """The CS3 calls get through but the bytes do not: transfers must time out, not hang."""
    reva = isolated_reva
    netns = reva.netns
    assert netns is not None
    folder = f"nodata-{uuid.uuid4().hex[:8]}"
    name = f"{folder}/kept.bin"
    cs3_path = f"{server.root}/{name}"  # type: ignore[attr-defined]
    old = os.urandom(200 * 1024)
    async with server.client() as client:
        assert (await client.put(f"/api/contents/{folder}", json={"type": "directory"})).status_code == 201
        assert (await client.put(f"/api/contents/{name}", json=file_model(old))).status_code == 201
        netns.blackhole([reva.http_port])
        ledger.fault("revad's data gateway unreachable")
        try:
            calls = {
                "open a file": client.get(f"/api/contents/{name}"),
                "save a file": client.put(f"/api/contents/{name}", json=file_model(os.urandom(300 * 1024))),
                "download a file": client.get(f"/files/{name}"),
            }
            tasks = {what: asyncio.create_task(timed(call)) for what, call in calls.items()}
            await still_answering(client, list(tasks.values()))  # type: ignore[arg-type]
            for what, task in tasks.items():
                res, took = task.result()
                assert_unavailable(res, took, what, ledger)
            # Listings need no data transfer: they keep working.
            res = await client.get(f"/api/contents/{folder}")
            assert res.status_code == 200, res.text[:300]
        finally:
            netns.heal()
        res, took, refused = await recovered(client, f"/api/contents/{name}", within=30)
        ledger.notes.append(
            f"data gateway black hole: reads worked again {took:.1f} s after it ended "
            f"({refused} 503s meanwhile)"
        )
        assert base64.b64decode(res.json()["content"]) == old
        assert ledger.compare(old, await stored_bytes(reva, cs3_path)) == 0


LIST_TIMEOUT = 5.0
ENTRIES = 2000


@pytest.fixture(scope="module")
def listing_server(
    isolated_reva: IsolatedRevad, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterServer]:
    """A server whose listings have a deadline of their own, shorter than the default."""
    with running_jupyter(
        isolated_reva,
        tmp_path_factory.mktemp("list-deadline"),
        call_timeout=CALL_TIMEOUT,
        list_timeout=LIST_TIMEOUT,
    ) as jupyter:
        yield jupyter


@pytest.mark.timeout(120)
async def test_listing_cut_off_mid_answer_ends_at_list_timeout(
    isolated_reva: IsolatedRevad, listing_server: JupyterServer, ledger: Ledger
) -> None:
    """The network goes dark while a long listing's answer is on its way (the Stat before it
    has succeeded): the listing's own deadline, `list_timeout`, ends the wait."""
    reva = isolated_reva
    netns = reva.netns
    assert netns is not None
    jupyter = listing_server
    async with jupyter.client() as client:
        # The listing's answer is about 1.5 MB.
        folder, names = await wide_folder(client, reva, jupyter.root, ENTRIES)  # type: ignore[attr-defined]
        sent = netns.bytes_delivered_from(reva.grpc_port)
        assert (await client.get(f"/api/contents/{folder}")).status_code == 200
        listing_bytes = netns.bytes_delivered_from(reva.grpc_port) - sent
        netns.throttle(4)  # about 3 s for the whole answer
        try:
            sent = netns.bytes_delivered_from(reva.grpc_port)
            request = asyncio.create_task(timed(client.get(f"/api/contents/{folder}")))
            deadline = time.monotonic() + 30
            while netns.bytes_delivered_from(reva.grpc_port) - sent < 0.3 * listing_bytes:
                assert not request.done(), "the listing ended before the network could be cut"
                assert time.monotonic() < deadline, "the listing's answer never started"
                await asyncio.sleep(0.005)
            netns.blackhole([reva.grpc_port, reva.http_port])
            ledger.fault("revad unreachable in the middle of a listing's answer")
            checks = await still_answering(client, [request])  # type: ignore[list-item]
            assert checks >= 4
            res, took = request.result()
            ledger.answer(res.status_code)
            assert res.status_code == 503, res.text[:300]
            assert UNAVAILABLE in res.text, res.text[:300]
            # Without list_timeout the wait would be the 120 s default.
            assert took < LIST_TIMEOUT + SLACK, f"the listing took {took:.1f} s"
            ledger.notes.append(f"listing cut off mid-answer: 503 after {took:.1f} s (list_timeout 5 s)")
        finally:
            netns.heal()
            netns.unthrottle()
        res, _, _ = await recovered(client, f"/api/contents/{folder}", within=30)
        assert {e["name"] for e in res.json()["content"]} == names
