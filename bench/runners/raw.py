"""Raw reva, the limit: gRPC calls and data-gateway transfers through CS3Storage, no Jupyter.

Listing is one ListContainer; a get is InitiateFileDownload plus one HTTP GET (bytes, not
parsed); a save or an upload is InitiateFileUpload plus one streamed HTTP PUT; copy streams
the file down and up again (CS3 has no server-side copy); rename is one Move.
Options: `gateway`, `user`, `password`, `root` (absolute CS3 folder).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from typing import Any

from cs3_contents_manager.cs3.client import ChannelSettings
from cs3_contents_manager.cs3.storage import CS3Storage

from ..notebooks import make_notebook, notebook_bytes
from ..operations import MiB, Operation
from . import Runner


class RawRunner(Runner):
    def __init__(self, work: str, options: dict[str, Any]) -> None:
        super().__init__(work, options)
        self.root = options["root"].rstrip("/")
        self.storage = CS3Storage(
            ChannelSettings(options["gateway"]),
            login_type="basic",
            client_id=options["user"],
            secret=options["password"],
        )
        self.bodies: dict[int, bytes] = {}

    def abs(self, path: str) -> str:
        return f"{self.root}/{path}"

    async def start(self) -> None:
        await self.storage.ensure_folder(self.abs(self.work))

    async def close(self) -> None:
        await self.storage.close()

    async def setup(self, op: Operation) -> None:
        await super().setup(op)
        if op.kind == "save_notebook":
            self.bodies[op.size] = notebook_bytes(make_notebook(op.size))

    async def put_notebook(self, source: str, target: str) -> None:
        await self.storage.copy_file(self.abs(source), self.abs(target))

    async def _drain(self, path: str) -> int:
        received = 0
        async with self.storage.download(self.abs(path)) as chunks:
            async for chunk in chunks:
                received += len(chunk)
        return received

    # -- operations ------------------------------------------------------------------------

    async def list(self, op: Operation, index: int) -> None:
        entries = await self.storage.list(self.abs(op.path))
        if len(entries) != op.count:
            raise AssertionError(f"listed {len(entries)} entries, expected {op.count}")

    async def get_notebook(self, op: Operation, index: int) -> None:
        await self.storage.read(self.abs(op.path))

    async def save_notebook(self, op: Operation, index: int) -> None:
        body = self.bodies[op.size]
        await self.storage.upload(self.abs(f"{self.work}/{op.key}.ipynb"), body, size=len(body))

    async def chunked_upload(self, op: Operation, index: int) -> None:
        """The same bytes in one streamed PUT: what any upload costs at least."""
        block = base64.b64decode(self.chunk_base64)
        count = op.size // MiB

        async def blocks() -> AsyncIterator[bytes]:
            for _ in range(count):
                yield block

        await self.storage.upload(self.abs(f"{self.work}/{op.key}.bin"), blocks(), size=count * MiB)

    async def get_file(self, op: Operation, index: int) -> None:
        await self.storage.read(self.abs(op.path))

    async def download(self, op: Operation, index: int) -> None:
        await self._drain(op.path)

    async def copy(self, op: Operation, index: int) -> None:
        await self.storage.copy_file(self.abs(op.path), self.abs(f"{self.work}/copy-{index}.ipynb"))

    async def rename(self, op: Operation, index: int) -> None:
        src, dst = self.rename_paths(self.work, index)
        await self.storage.move(self.abs(src), self.abs(dst))

    async def concurrent_get(self, op: Operation, index: int) -> None:
        await asyncio.gather(*(self.storage.read(self.abs(op.path)) for _ in range(op.count)))
