"""Chunked uploads in progress: their chunks wait in spool files on the server's local disk.

JupyterLab's chunks never say how large the file will be, and EOS needs the length before
the first byte, so nothing can go to the storage before the last chunk. Until then the
chunks fill a spool file in a private folder. That folder is scratch space a site sizes
(a pod's /tmp emptyDir, which the kubelet evicts the pod for overflowing): `UploadSpools`
keeps the uploads of one server within a limit, drops the ones a browser abandoned, and
leaves nothing behind when the server stops, or, after a crash, when the next one starts.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MiB = 1024 * 1024
# Chunks are written a few MiB at a time: one hand-off to a thread per batch rather than per
# 1 MiB chunk, which under load costs more than the write itself.
SPOOL_BATCH = 8 * MiB
PREFIX = "cs3-uploads-"
OWNER_FILE = ".owner"
# A folder with no owner file yet may belong to a server that is creating it right now.
UNOWNED_GRACE = 60.0


def _write_all(file: IO[bytes], pieces: list[bytes]) -> None:
    file.writelines(pieces)
    file.flush()


@dataclass(eq=False)
class Spool:
    """One upload in progress: the chunks received so far, in a private local file."""

    file: IO[bytes]
    path: Path
    size: int = 0
    touched: float = field(default_factory=time.monotonic)
    pending: list[bytes] = field(default_factory=list)
    pending_size: int = 0

    async def append(self, data: bytes) -> None:
        self.pending.append(data)
        self.pending_size += len(data)
        self.size += len(data)
        self.touched = time.monotonic()
        if self.pending_size >= SPOOL_BATCH:
            await self.flush()

    async def flush(self) -> None:
        """Write what is pending; the file then holds all `size` bytes."""
        if self.pending:
            pieces, self.pending, self.pending_size = self.pending, [], 0
            await asyncio.to_thread(_write_all, self.file, pieces)

    async def drop_last(self, size: int) -> None:
        """Forget the last `size` bytes (a last chunk whose transfer failed)."""
        await self.flush()
        await asyncio.to_thread(self.file.truncate, self.size - size)
        self.file.seek(0, os.SEEK_END)
        self.size -= size
        self.touched = time.monotonic()

    async def read(self, chunk: int = 4 * MiB) -> AsyncIterator[bytes]:
        """The spooled bytes, from a handle of their own (the file may be closed meanwhile)."""
        with self.path.open("rb") as f:
            while True:
                data = await asyncio.to_thread(f.read, chunk)
                if not data:
                    return
                yield data

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class UploadSpools:
    """The uploads in progress of one server, by API path, within `limit` bytes in all.

    An upload's spool is registered under its path while chunks arrive; while its last
    chunk is being sent to the storage it is detached ("in flight"), so a new upload of the
    same path (a retry, a second tab) gets a spool of its own and never touches it. In-flight
    spools still count against the limit: their bytes are on the disk until sent.
    """

    def __init__(
        self, base_dir: str, *, timeout: float, limit: int, log: logging.Logger | logging.LoggerAdapter[Any]
    ) -> None:
        self.base_dir = base_dir
        self.timeout = timeout
        self.limit = limit
        self.log = log
        self._registered: dict[str, Spool] = {}
        self._live: set[Spool] = set()
        self._folder: Path | None = None
        self._owner: IO[bytes] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # -- the folder ------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        """A private folder of this process, created on first use; leftovers of servers
        that died without cleaning up are removed then."""
        if self._folder is None:
            base = self.base_dir or tempfile.gettempdir()
            folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=base))
            folder.chmod(0o700)
            owner = (folder / OWNER_FILE).open("wb")
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._folder, self._owner = folder, owner
            atexit.register(self.close_all)
            self._remove_leftovers(Path(base))
        return self._folder

    def _remove_leftovers(self, base: Path) -> None:
        """Spool folders whose owner lock nobody holds belong to servers that are gone."""
        for folder in base.glob(f"{PREFIX}*"):
            if folder == self._folder or not folder.is_dir():
                continue
            try:
                with (folder / OWNER_FILE).open("rb") as owner:
                    fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except FileNotFoundError:
                try:
                    if time.time() - folder.stat().st_mtime < UNOWNED_GRACE:
                        continue
                except OSError:
                    continue
            except OSError:
                continue  # held by a running server, or not ours to read
            shutil.rmtree(folder, ignore_errors=True)
            self.log.info("Removed the uploads a stopped server left in %s", folder)

    def close_all(self) -> None:
        """End every upload and remove the folder (at server shutdown)."""
        for spool in list(self._live):
            spool.discard()
        self._live.clear()
        self._registered.clear()
        if self._sweeper is not None:
            # At interpreter exit the loop may be closed already.
            with contextlib.suppress(RuntimeError):
                self._sweeper.cancel()
            self._sweeper = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            if self._owner is not None:
                self._owner.close()
            self._folder = self._owner = None

    # -- uploads ---------------------------------------------------------------------------

    def get(self, key: str) -> Spool | None:
        return self._registered.get(key)

    def start(self, key: str) -> Spool:
        """A new, empty spool for `key`, replacing (and ending) any registered one."""
        self.close(key)
        fd, name = tempfile.mkstemp(dir=self.folder)
        spool = Spool(os.fdopen(fd, "w+b"), Path(name))
        self._registered[key] = spool
        self._live.add(spool)
        self._ensure_sweeper()
        return spool

    def detach(self, key: str, spool: Spool) -> None:
        """The spool's last chunk is being sent: chunks for `key` no longer go to it."""
        if self._registered.get(key) is spool:
            del self._registered[key]

    def reattach(self, key: str, spool: Spool) -> bool:
        """Register a detached spool again, unless a newer upload of `key` has begun."""
        if key in self._registered or spool not in self._live:
            return False
        self._registered[key] = spool
        return True

    def close(self, key: str, spool: Spool | None = None) -> None:
        """End `spool`, or whichever upload of `key` is registered. Given a spool, the
        registration is removed only if it is still that spool: a newer upload of the same
        path never loses its chunks because an older one ended."""
        if spool is None:
            spool = self._registered.pop(key, None)
        elif self._registered.get(key) is spool:
            del self._registered[key]
        if spool is not None:
            self._live.discard(spool)
            spool.discard()

    def held(self) -> int:
        """Bytes on the disk for all uploads in progress, in flight included."""
        return sum(spool.size for spool in self._live)

    def room_for(self, size: int) -> bool:
        return not self.limit or self.held() + size <= self.limit

    # -- abandoned uploads -----------------------------------------------------------------

    def drop_stale(self) -> None:
        """End registered uploads that received no chunk for `timeout` seconds."""
        cutoff = time.monotonic() - self.timeout
        for key, spool in list(self._registered.items()):
            if spool.touched < cutoff:
                self.log.info("Dropping the upload of %s: no chunk for %d s", key, self.timeout)
                self.close(key, spool)

    def _ensure_sweeper(self) -> None:
        """Look for abandoned uploads while there are uploads at all: a browser closed
        mid-upload sends no further chunk that could notice."""
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        interval = max(0.5, min(60.0, self.timeout / 4))
        while self._registered:
            await asyncio.sleep(interval)
            self.drop_stale()
