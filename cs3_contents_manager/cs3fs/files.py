"""File objects of `cs3://`: reads streamed, writes uploaded once when the file is closed.

Reading: readers that seek (pyarrow's parquet footer first, h5py's B-trees) want byte ranges.
Where the storage serves them (EOS) every block is one ranged GET. reva's local drivers
answer every Range request with 416, so there the file is read as one stream: reads that go
forward (pandas' CSV parser, a copy) cost nothing extra, and a read before the stream's
position opens it again from the start. The first 416 is remembered per storage, so later
files go straight to the stream.

Writing: CS3 uploads need the whole file (EOS wants the length before the first byte), and a
half-written file must never replace the stored one. Writes collect in memory up to the block
size and then in a private temporary file, and `close()` sends them in one upload: the stored
file changes only when the new one is complete, as with s3fs.
"""

from __future__ import annotations

import errno
import logging
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from fsspec.asyn import AbstractAsyncStreamedFile, sync
from fsspec.spec import AbstractBufferedFile

from ..cs3 import errors
from ..cs3.storage import CONTAINER, ResourceInfo
from .filesystem import PIECE, _pieces, close_on, oserror

if TYPE_CHECKING:
    from .filesystem import CS3FileSystem

log = logging.getLogger(__name__)


class RangeReader:
    """Byte ranges of one file as it was when opened (its etag), on any reva storage."""

    def __init__(self, fs: CS3FileSystem, name: str, cs3_path: str, info: ResourceInfo) -> None:
        self.fs = fs
        self.name = name
        self.cs3_path = cs3_path
        self.size = int(info.size)
        self.etag = info.etag
        self.storage_id = info.id.storage_id
        # The sequential stream, where the storage serves no ranges: `pending` holds the
        # bytes from offset `position` on that have arrived but were not asked for yet.
        self._stack: AsyncExitStack | None = None
        self._chunks: AsyncIterator[bytes] | None = None
        self._position = 0
        self._pending = b""
        self.opened = 0

    async def read(self, start: int, end: int) -> bytes:
        end = min(end, self.size)
        if start >= end:
            return b""
        try:
            if self.fs.ranges.get(self.storage_id) is not False:
                data = await self._ranged(start, end)
                if data is not None:
                    return data
            return await self._sequential(start, end)
        except errors.CS3Error as err:
            raise oserror(err, self.name) from None

    async def _ranged(self, start: int, end: int) -> bytes | None:
        async with self.fs.storage.download_range(self.cs3_path, start, end) as (status, chunks):
            if status == 206:
                self.fs.ranges[self.storage_id] = True
                data = b"".join([chunk async for chunk in chunks])
                if len(data) != end - start:
                    raise OSError(
                        errno.EIO,
                        f"The storage sent {len(data)} bytes for a range of {end - start}",
                        f"cs3://{self.name}",
                    )
                return data
        if self.fs.ranges.get(self.storage_id):
            # This storage serves ranges: refusing one that lay inside the file as opened
            # means the file is shorter now. Not a reason to stop asking for ranges.
            if status == 416:
                raise self._changed()
            return None
        if self.fs.ranges.get(self.storage_id) is None:
            log.info(
                "The storage of %s serves no byte ranges (HTTP %d): files there are read as one "
                "stream, and reading backwards starts the stream again",
                self.name,
                status,
            )
        self.fs.ranges[self.storage_id] = False
        return None

    def _changed(self) -> OSError:
        return OSError(
            errno.ESTALE,
            "The file changed on the storage while it was being read; open it again",
            f"cs3://{self.name}",
        )

    async def _sequential(self, start: int, end: int) -> bytes:
        for attempt in range(2):
            try:
                return await self._from_stream(start, end)
            except errors.Unavailable:
                # The connection went away between two reads (an idle stream the data
                # server closed): start over once, from the same file version.
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _open(self) -> None:
        await self.close()
        if self.opened:
            info = await self.fs.storage.stat(self.cs3_path)
            if info.etag != self.etag:
                raise self._changed()
        stack = AsyncExitStack()
        try:
            self._chunks = await stack.enter_async_context(self.fs.storage.download(self.cs3_path))
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        self._position = 0
        self._pending = b""
        self.opened += 1

    async def _next(self) -> bytes:
        assert self._chunks is not None
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            return b""

    async def _from_stream(self, start: int, end: int) -> bytes:
        if self._chunks is None or start < self._position:
            await self._open()
        # Skip to `start`.
        while self._position + len(self._pending) <= start:
            self._position += len(self._pending)
            self._pending = await self._next()
            if not self._pending:
                return b""
        if start > self._position:
            self._pending = self._pending[start - self._position :]
            self._position = start
        # Pieces joined once at the end: one copy of the bytes, not one per chunk.
        wanted = end - start
        pieces: list[bytes] = []
        have = 0
        while have < wanted:
            if not self._pending:
                self._pending = await self._next()
                if not self._pending:
                    break
            take = self._pending if len(self._pending) <= wanted - have else self._pending[: wanted - have]
            pieces.append(take)
            have += len(take)
            self._pending = self._pending[len(take) :]
            self._position += len(take)
        return b"".join(pieces)

    async def close(self) -> None:
        stack, self._stack, self._chunks = self._stack, None, None
        if stack is not None:
            await stack.aclose()


class CS3ReadFile(AbstractBufferedFile):
    """A file opened with mode "rb"."""

    def __init__(self, fs: CS3FileSystem, path: str, **kwargs: Any) -> None:
        name, cs3_path = sync(fs.loop, fs.locate, path)
        info = sync(fs.loop, fs.stat, name, cs3_path)
        if info.type == CONTAINER:
            raise IsADirectoryError(errno.EISDIR, "Is a folder", f"cs3://{name}")
        self.reader = RangeReader(fs, name, cs3_path, info)
        self._details = fs._entry(name, info)
        super().__init__(fs, name, mode="rb", size=int(info.size), **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        return sync(self.fs.loop, self.reader.read, start, end)

    def close(self) -> None:
        if not self.closed:
            self._close_reader()
        super().close()

    def _close_reader(self) -> None:
        """End the stream, also when the file is garbage-collected on fsspec's own loop
        thread (where a blocking call would deadlock) or after that loop stopped."""
        close_on(self.fs.loop, self.reader.close)


class CS3AsyncReadFile(AbstractAsyncStreamedFile):
    """`await fs.open_async(path)`: reads for code that runs on its own event loop."""

    def __init__(self, fs: CS3FileSystem, name: str, cs3_path: str, info: ResourceInfo) -> None:
        self.reader = RangeReader(fs, name, cs3_path, info)
        self._details = fs._entry(name, info)
        super().__init__(fs, name, mode="rb", size=int(info.size), cache_type="none")

    async def _fetch_range(self, start: int, end: int) -> bytes:
        return await self.reader.read(start, end)

    async def close(self) -> None:
        if not self.closed:
            await self.reader.close()
            self.closed = True


class CS3WriteFile(AbstractBufferedFile):
    """A file opened with mode "wb" (replace) or "xb" (only if it does not exist yet)."""

    def __init__(self, fs: CS3FileSystem, path: str, mode: str = "wb", **kwargs: Any) -> None:
        name, cs3_path = sync(fs.loop, fs.locate, path)
        self.cs3_path = cs3_path
        self.exclusive = mode == "xb"
        # Before the first byte is written, not only when the upload at close refuses.
        sync(fs.loop, fs.refuse_folder, name, cs3_path)
        if self.exclusive and sync(fs.loop, fs._exists, name):
            raise FileExistsError(errno.EEXIST, "File exists", f"cs3://{name}")
        self.spool: Any = None
        self._last = b""
        super().__init__(fs, name, mode=mode, **kwargs)

    def _initiate_upload(self) -> None:
        """Nothing reaches the storage before close: a file that is never closed, or a
        kernel that dies while writing, leaves the stored file as it was."""

    def _upload_chunk(self, final: bool = False) -> bool:
        data = self.buffer.getvalue()
        if final and self.spool is None:
            # Everything fit in one block: send it as it is.
            self._last = data
        else:
            if self.spool is None:
                # Closed by commit or discard, whichever comes first.
                self.spool = tempfile.TemporaryFile(dir=self.fs.spool_dir, prefix="cs3fs-")  # noqa: SIM115
            self.spool.write(data)
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        """Send the whole file in one upload (at close, or at the end of a transaction)."""
        try:
            if self.spool is None:
                data, self._last = self._last, b""
                sync(
                    self.fs.loop,
                    self.fs.upload,
                    self.path,
                    self.cs3_path,
                    data,
                    len(data),
                    exclusive=self.exclusive,
                )
                return
            size = self.spool.tell()
            self.spool.seek(0)
            sync(
                self.fs.loop,
                self.fs.upload,
                self.path,
                self.cs3_path,
                _pieces(self.spool),
                size,
                exclusive=self.exclusive,
            )
        finally:
            self.discard()

    def discard(self) -> None:
        if self.spool is not None:
            self.spool.close()
            self.spool = None
        self._last = b""


__all__ = ["PIECE", "CS3AsyncReadFile", "CS3ReadFile", "CS3WriteFile", "RangeReader"]
