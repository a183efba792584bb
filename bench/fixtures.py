"""Seed the read-only `data/` folder of the plan, in CS3 (through raw calls) and on a local disk."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

from cs3.storage.provider.v1beta1 import provider_api_pb2

from cs3_contents_manager.cs3.storage import CS3Storage, ref

from .notebooks import make_notebook, notebook_bytes
from .operations import MiB, Plan

PARALLEL = 16


def entry_name(index: int) -> str:
    return f"file-{index:05d}.txt"


async def _touch(storage: CS3Storage, path: str) -> None:
    await storage.gateway.call(
        "TouchFile", provider_api_pb2.TouchFileRequest(ref=ref(path)), idempotent=False, op="touch", path=path
    )


async def _random_blocks(size: int) -> AsyncIterator[bytes]:
    block = os.urandom(MiB)
    for offset in range(0, size, MiB):
        yield block[: min(MiB, size - offset)]


async def seed_cs3(storage: CS3Storage, root: str, plan: Plan) -> None:
    """Create `root/data/...` as the plan describes (the root's parent must exist)."""
    root = root.rstrip("/")
    await storage.ensure_folder(root)
    await storage.ensure_folder(f"{root}/data")
    gate = asyncio.Semaphore(PARALLEL)

    async def touch(path: str) -> None:
        async with gate:
            await _touch(storage, path)

    for folder, count in plan.folders.items():
        await storage.ensure_folder(f"{root}/{folder}")
        await asyncio.gather(*(touch(f"{root}/{folder}/{entry_name(i)}") for i in range(count)))
    for path, size in plan.notebooks.items():
        body = notebook_bytes(make_notebook(size))
        await storage.upload(f"{root}/{path}", body, size=len(body))
    for path, size in plan.files.items():
        await storage.upload(f"{root}/{path}", _random_blocks(size), size=size)


def seed_local(root: Path, plan: Plan) -> None:
    """The same data on a local disk, for jupyter_server's own manager."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    for folder, count in plan.folders.items():
        (root / folder).mkdir(exist_ok=True)
        for i in range(count):
            (root / folder / entry_name(i)).touch()
    for path, size in plan.notebooks.items():
        (root / path).write_bytes(notebook_bytes(make_notebook(size)))
    for path, size in plan.files.items():
        with (root / path).open("wb") as f:
            block = os.urandom(MiB)
            for offset in range(0, size, MiB):
                f.write(block[: min(MiB, size - offset)])
