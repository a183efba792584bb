"""The Jupyter server as a whole: it stays responsive during large transfers, and notebooks
whose folder exists only in CS3 still get a running kernel."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
import uuid

import httpx
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.contents.conftest import Api
from tests.harness.jupyter import JupyterServer

MiB = 1024 * 1024


async def poll_status(client: httpx.AsyncClient, stop: asyncio.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        res = await client.get("/api/status")
        assert res.status_code == 200
        latencies.append(time.monotonic() - started)
        await asyncio.sleep(0.05)


async def test_server_answers_during_200_mib_upload_and_download(api: Api, jupyter: JupyterServer) -> None:
    size = 200 * MiB
    block = os.urandom(MiB)
    digest = hashlib.sha256()
    async with jupyter.client() as probe:
        # Upload: JupyterLab's protocol, 1 MiB chunks numbered 1..n and -1 for the last.
        stop, latencies = asyncio.Event(), []
        poller = asyncio.create_task(poll_status(probe, stop, latencies))
        started = time.monotonic()
        chunks = size // MiB
        for number in range(1, chunks + 1):
            data = number.to_bytes(4, "big") + block[4:]
            digest.update(data)
            chunk = -1 if number == chunks else number
            res = await api.put(
                "big.bin",
                {
                    "type": "file",
                    "format": "base64",
                    "chunk": chunk,
                    "content": base64.b64encode(data).decode(),
                },
            )
            assert res.status_code in (200, 201), res.text
        upload_seconds = time.monotonic() - started
        stop.set()
        await poller
        upload_latencies = latencies

        # Download through /files/, streamed, read by a slow client (15 ms per MiB) so that the
        # transfer lasts seconds and the server has to keep the stream and its loop going.
        stop, latencies = asyncio.Event(), []
        poller = asyncio.create_task(poll_status(probe, stop, latencies))
        started = time.monotonic()
        received = hashlib.sha256()
        total = 0
        async with api.client.stream("GET", f"/files/{api.folder}/big.bin") as res:
            assert res.status_code == 200
            async for piece in res.aiter_bytes(MiB):
                received.update(piece)
                total += len(piece)
                await asyncio.sleep(0.015)
        download_seconds = time.monotonic() - started
        stop.set()
        await poller

    assert total == size
    assert received.hexdigest() == digest.hexdigest()
    print(
        f"upload {upload_seconds:.1f} s, /api/status max {max(upload_latencies) * 1000:.0f} ms; "
        f"download {download_seconds:.1f} s, /api/status max {max(latencies) * 1000:.0f} ms"
    )
    for seconds, polled in ((upload_seconds, upload_latencies), (download_seconds, latencies)):
        assert seconds > 2.0, "the transfer was too short to show anything"
        assert len(polled) >= 5
        assert max(polled) < 1.0, f"/api/status took {max(polled):.2f} s during a {seconds:.1f} s transfer"


async def execute(ws_url: str, headers: dict[str, str], code: str, timeout: float = 60.0) -> str:
    """Run code in a kernel over its websocket and return what it printed."""
    conn = await websocket_connect(HTTPRequest(ws_url, headers=headers))
    msg_id = uuid.uuid4().hex
    conn.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "msg_type": "execute_request",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False},
                "channel": "shell",
            }
        )
    )
    output = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            raw = await asyncio.wait_for(conn.read_message(), deadline - time.monotonic())
            assert raw is not None, "kernel websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                output.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                raise AssertionError(f"kernel error: {msg['content']['evalue']}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(output)
    finally:
        conn.close()
    raise AssertionError("kernel did not answer in time")


async def test_notebook_in_cs3_gets_a_running_kernel(api: Api, jupyter: JupyterServer) -> None:
    notebook = {
        "type": "notebook",
        "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
    }
    assert (await api.put("sub", {"type": "directory"})).status_code == 201
    assert (await api.put("sub/analysis.ipynb", notebook)).status_code == 201

    res = await api.client.post(
        "/api/sessions",
        json={"path": f"{api.folder}/sub/analysis.ipynb", "type": "notebook", "kernel": {"name": "python3"}},
    )
    assert res.status_code == 201, res.text
    session = res.json()
    kernel_id = session["kernel"]["id"]
    try:
        ws_url = jupyter.url.replace("http", "ws") + f"/api/kernels/{kernel_id}/channels"
        printed = await execute(ws_url, jupyter.headers(), "import os; print(os.getcwd()); print(6 * 7)")
        cwd, answer = printed.split()
        assert answer == "42"
        assert os.path.isdir(cwd)
        assert cwd == str(jupyter.workdir / "local-root")
    finally:
        await api.client.delete(f"/api/sessions/{session['id']}")
