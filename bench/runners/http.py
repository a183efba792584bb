"""A running Jupyter server, driven over its REST API the way JupyterLab does.

Request bodies are built before the clock starts and large responses are streamed and
dropped, so the time is the server's (plus loopback HTTP), and the memory measured is the
server's. The client is aiohttp, the HTTP stack the raw-reva contender reads and writes
with, so both sides of a ratio pay the same client cost. Options: `url`, `token`, `pid`
(the server process).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import aiohttp

from ..notebooks import make_notebook
from ..operations import Operation
from . import Runner


class HttpError(RuntimeError):
    pass


class HttpRunner(Runner):
    def __init__(self, work: str, options: dict[str, Any]) -> None:
        super().__init__(work, options)
        self.url = options["url"].rstrip("/")
        self.headers = {"Authorization": f"token {options['token']}"}
        self._session: aiohttp.ClientSession | None = None
        self.bodies: dict[str, bytes] = {}

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=900.0, sock_connect=10.0),
                connector=aiohttp.TCPConnector(limit=100),
                auto_decompress=False,
            )
        return self._session

    @property
    def pid(self) -> int:
        return int(self.options["pid"])

    def api(self, path: str) -> str:
        return f"{self.url}/api/contents/{quote(path)}"

    async def request(self, method: str, url: str, *ok: int, **kwargs: Any) -> Any:
        """The JSON answer of one request; HttpError unless its status is one of `ok`."""
        async with self.client.request(method, url, **kwargs) as res:
            body = await res.read()
            if res.status not in (ok or (200,)):
                raise self.failure(res, body)
            return json.loads(body) if body else None

    @staticmethod
    def failure(res: aiohttp.ClientResponse, body: bytes) -> HttpError:
        text = body.decode(errors="replace")
        try:
            message = json.loads(text).get("message") or text
        except ValueError:
            message = text
        if message.lstrip().startswith("<"):  # an HTML error page: its reason says enough
            message = f"{res.reason} (HTML error page)"
        return HttpError(f"HTTP {res.status} {res.method} {res.url.path}: {message[:300]}")

    async def _drain(self, url: str, params: dict[str, str] | None = None) -> int:
        received = 0
        async with self.client.get(url, params=params) as res:
            if res.status != 200:
                raise self.failure(res, await res.read())
            async for chunk in res.content.iter_any():
                received += len(chunk)
        return received

    async def start(self) -> None:
        try:
            await self.request("GET", self.api(self.work), params={"content": "0"})
        except HttpError as err:
            if "HTTP 404" not in str(err):
                raise
            await self.request("PUT", self.api(self.work), 201, json={"type": "directory"})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def setup(self, op: Operation) -> None:
        await super().setup(op)
        if op.kind == "save_notebook":
            model = {"type": "notebook", "content": make_notebook(op.size)}
            self.bodies[op.key] = json.dumps(model).encode()
        elif op.kind == "chunked_upload":
            content = json.dumps(self.chunk_base64).encode()
            self.bodies[op.key] = content

    async def put_notebook(self, source: str, target: str) -> None:
        model = await self.request("GET", self.api(source), params={"type": "notebook"})
        body = {"type": "notebook", "content": model["content"]}
        await self.request("PUT", self.api(target), 200, 201, json=body)

    async def _put(self, path: str, body: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        await self.request("PUT", self.api(path), 200, 201, data=body, headers=headers)

    # -- operations ------------------------------------------------------------------------

    async def list(self, op: Operation, index: int) -> None:
        model = await self.request("GET", self.api(op.path), params={"content": "1"})
        listed = len(model["content"])
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
        received = await self._drain(f"{self.url}/files/{quote(op.path)}")
        if received != op.size:
            raise AssertionError(f"downloaded {received} bytes, expected {op.size}")

    async def copy(self, op: Operation, index: int) -> None:
        await self.request("POST", self.api(self.work), 201, json={"copy_from": op.path})

    async def rename(self, op: Operation, index: int) -> None:
        src, dst = self.rename_paths(self.work, index)
        await self.request("PATCH", self.api(src), json={"path": dst})

    async def concurrent_get(self, op: Operation, index: int) -> None:
        params = {"type": "notebook", "content": "1"}
        await asyncio.gather(*(self._drain(self.api(op.path), params) for _ in range(op.count)))
