"""Checkpoints kept as hidden files next to the file, in the CS3 storage itself.

The layout matches jupyter_server's FileCheckpoints (`.ipynb_checkpoints/<name>-checkpoint<ext>`
in the file's folder), so checkpoints work on every reva driver, survive server restarts and
move with their files. One checkpoint per file, with the id "checkpoint", as upstream.
"""

from __future__ import annotations

import posixpath
from typing import Any

from jupyter_server.services.contents.checkpoints import AsyncCheckpoints
from tornado.web import HTTPError
from traitlets import Unicode

from . import models
from .cs3 import errors
from .manager import CS3FileContentsManager, http_errors
from .paths import split_api_path

CHECKPOINT_ID = "checkpoint"


class CS3FileCheckpoints(AsyncCheckpoints):
    """Checkpoints of a CS3FileContentsManager (its `parent`), stored beside the files."""

    checkpoint_dir = Unicode(".ipynb_checkpoints", config=True, help="Hidden folder holding checkpoints.")

    @property
    def manager(self) -> CS3FileContentsManager:
        parent = self.parent
        if not isinstance(parent, CS3FileContentsManager):
            raise TypeError("CS3FileCheckpoints works only under a CS3FileContentsManager")
        return parent

    def checkpoint_api_path(self, checkpoint_id: str, path: str) -> str:
        """API path of a checkpoint: the hidden folder is an ordinary CS3 folder."""
        parts = split_api_path(path)
        if not parts:
            raise HTTPError(400, "The root directory has no checkpoints")
        name = parts[-1]
        stem, ext = posixpath.splitext(name)
        return "/".join([*parts[:-1], self.checkpoint_dir, f"{stem}-{checkpoint_id}{ext}"])

    async def _cs3(self, api_path: str) -> str:
        return await self.manager.cs3_path(api_path)

    def _model(self, info: Any) -> dict[str, Any]:
        return {"id": CHECKPOINT_ID, "last_modified": models.cs3_time(info)}

    async def create_checkpoint(self, contents_mgr: Any, path: str) -> dict[str, Any]:
        path = path.strip("/")
        storage = self.manager.storage
        cp_path = self.checkpoint_api_path(CHECKPOINT_ID, path)
        with http_errors(path):
            source = await storage.stat(await self._cs3(path))
            if models.is_dir(source):
                raise HTTPError(400, f"Directories have no checkpoints: {path}")
            await storage.ensure_folder(await self._cs3(posixpath.dirname(cp_path)))
            target = await self._cs3(cp_path)
            await storage.copy_file(await self._cs3(path), target)
            return self._model(await storage.stat(target))

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        path = path.strip("/")
        cp_path = self.checkpoint_api_path(checkpoint_id, path)
        with http_errors(path):
            try:
                await self.manager.storage.copy_file(await self._cs3(cp_path), await self._cs3(path))
            except errors.NotFound:
                self._no_such_checkpoint(path, checkpoint_id)

    async def rename_checkpoint(self, checkpoint_id: str, old_path: str, new_path: str) -> None:
        old_cp = self.checkpoint_api_path(checkpoint_id, old_path)
        new_cp = self.checkpoint_api_path(checkpoint_id, new_path)
        storage = self.manager.storage
        with http_errors(old_path):
            await storage.ensure_folder(await self._cs3(posixpath.dirname(new_cp)))
            target = await self._cs3(new_cp)
            if await storage.exists(target):
                await storage.delete(target)
            await storage.move(await self._cs3(old_cp), target)

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        path = path.strip("/")
        with http_errors(path):
            try:
                await self.manager.storage.delete(
                    await self._cs3(self.checkpoint_api_path(checkpoint_id, path))
                )
            except errors.NotFound:
                self._no_such_checkpoint(path, checkpoint_id)

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        path = path.strip("/")
        with http_errors(path):
            try:
                info = await self.manager.storage.stat(
                    await self._cs3(self.checkpoint_api_path(CHECKPOINT_ID, path))
                )
            except errors.NotFound:
                return []
        return [self._model(info)]

    async def delete_all_checkpoints(self, path: str) -> None:
        # A deleted folder takes its hidden checkpoint folder with it.
        if not split_api_path(path):
            return
        await super().delete_all_checkpoints(path)

    @staticmethod
    def _no_such_checkpoint(path: str, checkpoint_id: str) -> None:
        raise HTTPError(404, f"Checkpoint does not exist: {path}@{checkpoint_id}")
