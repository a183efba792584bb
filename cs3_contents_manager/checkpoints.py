"""Checkpoints kept as hidden files next to the file, in the CS3 storage itself.

The layout matches jupyter_server's FileCheckpoints (`.ipynb_checkpoints/<name>-checkpoint<ext>`
in the file's folder), so checkpoints work on every reva driver, survive server restarts and
move with their files. One checkpoint per file, with the id "checkpoint", as upstream.
"""

from __future__ import annotations

import hashlib
import posixpath
from datetime import UTC, datetime
from typing import Any

from jupyter_server.services.contents.checkpoints import AsyncCheckpoints
from tornado.web import HTTPError
from traitlets import Unicode

from . import models
from .cs3 import errors
from .manager import CS3FileContentsManager, http_errors
from .paths import MAX_NAME_BYTES, split_api_path

CHECKPOINT_ID = "checkpoint"


def _no_versions(err: errors.CS3Error) -> bool:
    """A storage without versions says so only in words (reva maps it to INTERNAL)."""
    return "not supported" in err.message or "unimplemented" in err.message.lower()


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
        cp_name = f"{stem}-{checkpoint_id}{ext}"
        if len(cp_name.encode("utf-8")) > MAX_NAME_BYTES:
            # A name near the storage's limit leaves no room for the suffix: name the
            # checkpoint by a digest of the file name instead (unique, and always short).
            digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]
            cp_name = f"{digest}-{checkpoint_id}{ext if len(ext.encode('utf-8')) <= 64 else ''}"
        return "/".join([*parts[:-1], self.checkpoint_dir, cp_name])

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
            await storage.copy_file(await self._cs3(path), target, size=source.size)
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
            if posixpath.dirname(new_cp) != posixpath.dirname(old_cp):
                # A rename within one folder keeps the checkpoint folder the old one is in.
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


class CS3VersionCheckpoints(CS3FileCheckpoints):
    """Checkpoints that are the storage's own file versions (EOS keeps them for every file).

    Creating a checkpoint rewrites the file with its own content, which makes the storage
    keep the current content as a version; restoring one restores that version. Versions go
    with the file into the recycle bin and cannot be deleted one by one. They follow renames
    where the storage keys them by file id (EOS); reva's local drivers key them by path, so
    there a renamed file starts without checkpoints (use the default CS3FileCheckpoints when
    that matters). On a storage without versions this falls back to hidden checkpoint files,
    decided once, on first use.
    """

    _versions: bool | None = None

    async def _use_versions(self, path: str) -> bool:
        if self._versions is None:
            # Only the storage saying it keeps no versions decides; a missing file (404) or
            # an unreachable storage (503) is answered as such and decides nothing.
            with http_errors(path):
                try:
                    await self.manager.storage.list_versions(await self._cs3(path))
                    self._versions = True
                except (errors.Unsupported, errors.InvalidArgument):
                    self._versions = False
                except errors.CS3Error as err:
                    if type(err) is not errors.CS3Error or not _no_versions(err):
                        raise
                    self._versions = False
            if not self._versions:
                self.log.info("The storage keeps no file versions: checkpoints are hidden files")
        return self._versions

    @classmethod
    def _oldest_first(cls, versions: list[Any]) -> list[dict[str, Any]]:
        """Checkpoints from oldest to newest, as jupyter_server lists them: JupyterLab's
        "Revert to Checkpoint" offers the last one first (storages list newest first)."""
        models = [cls._version_model(v) for v in versions]
        return sorted(models, key=lambda m: m["last_modified"])

    @staticmethod
    def _version_model(version: Any) -> dict[str, Any]:
        mtime = version.mtime
        # CS3 says seconds; reva's local drivers report milliseconds.
        seconds = mtime / 1000 if mtime > 10**11 else mtime
        return {"id": version.key, "last_modified": datetime.fromtimestamp(seconds, tz=UTC)}

    async def create_checkpoint(self, contents_mgr: Any, path: str) -> dict[str, Any]:
        path = path.strip("/")
        if not await self._use_versions(path):
            return await super().create_checkpoint(contents_mgr, path)
        # The storage keeps a version when the file is written again, in place.
        await self.manager.refuse_locked(path, "checkpointed")
        storage = self.manager.storage
        target = await self._cs3(path)
        with http_errors(path):
            await storage.copy_file(target, target)
            versions = await storage.list_versions(target)
        if not versions:
            raise HTTPError(500, f"The storage kept no version of {path}")
        return self._oldest_first(versions)[-1]

    async def list_checkpoints(self, path: str) -> list[dict[str, Any]]:
        path = path.strip("/")
        if not await self._use_versions(path):
            return await super().list_checkpoints(path)
        with http_errors(path):
            try:
                versions = await self.manager.storage.list_versions(await self._cs3(path))
            except errors.NotFound:
                return []
        return self._oldest_first(versions)

    async def restore_checkpoint(self, contents_mgr: Any, checkpoint_id: str, path: str) -> None:
        path = path.strip("/")
        if not await self._use_versions(path):
            return await super().restore_checkpoint(contents_mgr, checkpoint_id, path)
        with http_errors(path):
            try:
                await self.manager.storage.restore_version(await self._cs3(path), checkpoint_id)
            except errors.NotFound:
                self._no_such_checkpoint(path, checkpoint_id)

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        if not await self._use_versions(path.strip("/")):
            return await super().delete_checkpoint(checkpoint_id, path)
        raise HTTPError(400, f"File versions are kept by the storage and cannot be deleted: {path}")

    async def rename_all_checkpoints(self, old_path: str, new_path: str) -> None:
        # Versions belong to the file and moved with it; hidden files have to follow. A
        # folder's checkpoints are inside it and moved with it too.
        if await self.manager.dir_exists(new_path):
            return
        if not await self._use_versions(new_path.strip("/")):
            for checkpoint in await CS3FileCheckpoints.list_checkpoints(self, old_path):
                await CS3FileCheckpoints.rename_checkpoint(self, checkpoint["id"], old_path, new_path)

    async def delete_all_checkpoints(self, path: str) -> None:
        # Versions went to the recycle bin with the file (whose absence also means versions
        # can no longer be detected here); hidden checkpoint files are removed if present.
        if self._versions is not True and split_api_path(path):
            for checkpoint in await CS3FileCheckpoints.list_checkpoints(self, path):
                await CS3FileCheckpoints.delete_checkpoint(self, checkpoint["id"], path)
