"""A contents manager driven in this process through its Jupyter API (get, save, copy, rename).

Works for any ContentsManager, sync or async: this manager, cs3-jupyter's (inside its own
virtualenv) and jupyter_server's AsyncLargeFileManager on local disk. Options:
`class` (dotted path), `config` (traitlets sections), `kwargs` (constructor arguments).
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from jupyter_server.utils import ensure_async
from traitlets.config import Config

from ..notebooks import make_notebook
from ..operations import Operation
from . import Runner


def load_class(dotted: str) -> type:
    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


class ManagerRunner(Runner):
    def __init__(self, work: str, options: dict[str, Any]) -> None:
        super().__init__(work, options)
        cls = load_class(options["class"])
        self.cm = cls(config=Config(options.get("config", {})), **options.get("kwargs", {}))
        self.notebooks: dict[int, dict[str, Any]] = {}

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await ensure_async(getattr(self.cm, name)(*args, **kwargs))

    async def start(self) -> None:
        if not await self._call("dir_exists", self.work):
            await self._call("save", {"type": "directory"}, self.work)

    async def close(self) -> None:
        storage = getattr(self.cm, "_storage", None)  # this project's manager: close its channel
        if storage is not None and hasattr(storage, "close"):
            await storage.close()

    async def setup(self, op: Operation) -> None:
        await super().setup(op)
        if op.kind == "save_notebook":
            self.notebooks[op.size] = make_notebook(op.size)

    async def put_notebook(self, source: str, target: str) -> None:
        model = await self._call("get", source, content=True, type="notebook")
        await self._call("save", {"type": "notebook", "content": model["content"]}, target)

    # -- operations ------------------------------------------------------------------------

    async def list(self, op: Operation, index: int) -> None:
        model = await self._call("get", op.path, content=True)
        if len(model["content"]) != op.count:
            raise AssertionError(f"listed {len(model['content'])} entries, expected {op.count}")

    async def get_notebook(self, op: Operation, index: int) -> None:
        await self._call("get", op.path, content=True, type="notebook")

    async def save_notebook(self, op: Operation, index: int) -> None:
        model = {"type": "notebook", "content": self.notebooks[op.size]}
        await self._call("save", model, f"{self.work}/{op.key}.ipynb")

    async def chunked_upload(self, op: Operation, index: int) -> None:
        path = f"{self.work}/{op.key}.bin"
        for chunk in self.chunk_numbers(op.size):
            model = {"type": "file", "format": "base64", "chunk": chunk, "content": self.chunk_base64}
            await self._call("save", model, path)

    async def get_file(self, op: Operation, index: int) -> None:
        await self._call("get", op.path, content=True, type="file", format="base64")

    async def copy(self, op: Operation, index: int) -> None:
        await self._call("copy", op.path, self.work)

    async def rename(self, op: Operation, index: int) -> None:
        await self._call("rename", *self.rename_paths(self.work, index))

    async def concurrent_get(self, op: Operation, index: int) -> None:
        gets = [self._call("get", op.path, content=True, type="notebook") for _ in range(op.count)]
        await asyncio.gather(*gets)
