"""A running Jupyter server, driven over its REST API the way JupyterLab does.

Request bodies are built before the clock starts and large responses are streamed and
dropped, so the time is the server's (plus loopback HTTP), and the memory measured is the
server's. Options: `url`, `token`, `pid` (the server process).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx

from ..notebooks import make_notebook
from ..operations import Operation
from . import Runner


class HttpError(RuntimeError):
    pass


class HttpRunner(Runner):
    def __init__(self, work: str, options: dict[str, Any]) -> None:
        super().__init__(work, options)
        self.client = httpx.AsyncClient(
            base_url=options["url"],
            headers={"Authorization": f"token {options['token']}"},
            timeout=httpx.Timeout(900.0, connect=10.0),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )
        self.bodies: dict[str, bytes] = {}

    @property
    def pid(self) -> int:
        return int(self.options["pid"])

    @staticmethod
    def api(path: str) -> str:
        return "/api/contents/" + quote(path)

    @staticmethod
    def check(res: httpx.Response, *ok: int) -> httpx.Response:
        if res.status_code not in (ok or (200,)):
            try:
                message = res.json().get("message") or res.text
            except ValueError:
                message = res.text
            if message.lstrip().startswith("<"):  # an HTML error page: its reason says enough
                message = f"{res.reason_phrase} (HTML error page)"
            raise HttpError(f"HTTP {res.status_code} {res.request.method} {res.url.path}: {message[:300]}")
        return res

    async def _drain(self, url: str, params: dict[str, str] | None = None) -> int:
        received = 0
        async with self.client.stream("GET", url, params=params) as res:
            if res.status_code != 200:
                await res.aread()
                self.check(res)
            async for chunk in res.aiter_raw():
                received += len(chunk)
        return received

    async def start(self) -> None:
        res = await self.client.get(self.api(self.work), params={"content": "0"})
        if res.status_code == 404:
            self.check(await self.client.put(self.api(self.work), json={"type": "directory"}), 201)
        else:
            self.check(res)

    async def close(self) -> None:
        await self.client.aclose()

    async def setup(self, op: Operation) -> None:
        await super().setup(op)
        if op.kind == "save_notebook":
            model = {"type": "notebook", "content": make_notebook(op.size)}
            self.bodies[op.key] = json.dumps(model).encode()
        elif op.kind == "chunked_upload":
            content = json.dumps(self.chunk_base64).encode()
            self.bodies[op.key] = content

    async def put_notebook(self, source: str, target: str) -> None:
        res = self.check(await self.client.get(self.api(source), params={"type": "notebook"}))
        model = {"type": "notebook", "content": res.json()["content"]}
        self.check(await self.client.put(self.api(target), json=model), 200, 201)

    async def _put(self, path: str, body: bytes) -> None:
        res = await self.client.put(
            self.api(path), content=body, headers={"Content-Type": "application/json"}
        )
        self.check(res, 200, 201)

    # -- operations ------------------------------------------------------------------------

    async def list(self, op: Operation, index: int) -> None:
        res = self.check(await self.client.get(self.api(op.path), params={"content": "1"}))
        listed = len(res.json()["content"])
        if listed != op.count:
            raise AssertionError(f"listed {listed} entries, expected {op.count}")

    async def get_notebook(self, op: Operation, index: int) -> None:
        await self._drain(self.api(op.path), {"type": "notebook", "content": "1"})

    async def save_notebook(self, op: Operation, index: int) -> None:
        await self._put(f"{self.work}/{op.key}.ipynb", self.bodies[op.key])

    async def chunked_upload(self, op: Operation, index: int) -> None:
        path = f"{self.work}/{op.key}.bin"
        content = self.bodies[op.key]
        for chunk in self.chunk_numbers(op.size):
            head = f'{{"type": "file", "format": "base64", "chunk": {chunk}, "content": '.encode()
            await self._put(path, head + content + b"}")

    async def get_file(self, op: Operation, index: int) -> None:
        await self._drain(self.api(op.path), {"type": "file", "format": "base64", "content": "1"})

    async def download(self, op: Operation, index: int) -> None:
        received = await self._drain("/files/" + quote(op.path))
        if received != op.size:
            raise AssertionError(f"downloaded {received} bytes, expected {op.size}")

    async def copy(self, op: Operation, index: int) -> None:
        self.check(await self.client.post(self.api(self.work), json={"copy_from": op.path}), 201)

    async def rename(self, op: Operation, index: int) -> None:
        src, dst = self.rename_paths(self.work, index)
        self.check(await self.client.patch(self.api(src), json={"path": dst}))

    async def concurrent_get(self, op: Operation, index: int) -> None:
        params = {"type": "notebook", "content": "1"}
        await asyncio.gather(*(self._drain(self.api(op.path), params) for _ in range(op.count)))
