"""What `cs3://` reports when the storage misbehaves in ways a real reva shows only by chance:
reva unreachable in the middle of an error check, a file that shrinks while it is read on a
storage that serves byte ranges. The filesystem is real, its storage calls are stand-ins."""

from __future__ import annotations

import asyncio
import errno
import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from cs3.storage.provider.v1beta1 import resources_pb2
from fsspec.asyn import get_loop, sync

from cs3_contents_manager.cs3 import errors
from cs3_contents_manager.cs3.storage import FILE
from cs3_contents_manager.cs3fs import CS3FileSystem


@pytest.fixture
def fs(tmp_path: Path) -> CS3FileSystem:
    token = tmp_path / "oauth.token"
    token.write_text("not-used")
    # A port nobody listens on: any call that is not a stand-in fails loudly.
    return CS3FileSystem(
        host="127.0.0.1:9",
        token_path=str(token),
        client_id="einstein",
        root="/home/einstein",
        asynchronous=True,
        skip_instance_cache=True,
    )


def file_info(size: int, etag: str = '"1"') -> Any:
    return resources_pb2.ResourceInfo(
        type=FILE,
        size=size,
        etag=etag,
        id=resources_pb2.ResourceId(storage_id="eos", opaque_id="42"),
    )


async def test_reva_down_after_a_failed_upload_is_not_a_missing_folder(
    fs: CS3FileSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def upload(*args: Any, **kwargs: Any) -> None:
        raise errors.CS3Error("Storage error during upload (HTTP 500)", reason="Storage error during upload")

    async def stat(path: str, *args: Any) -> Any:
        raise errors.Unavailable("The storage service is unavailable", reason="unavailable")

    monkeypatch.setattr(fs.storage, "upload", upload)
    monkeypatch.setattr(fs.storage, "stat", stat)
    with pytest.raises(OSError, match="Storage error during upload") as err:
        await fs._pipe_file("~/results/out.csv", b"x")
    assert not isinstance(err.value, FileNotFoundError)


async def test_a_file_that_shrinks_on_a_storage_with_ranges_is_reported_changed(
    fs: CS3FileSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 416 from a storage that has served ranges says the file is shorter now, not that
    the storage stopped serving ranges: later reads there must stay ranged."""
    data = bytes(range(256)) * 4096
    infos = [file_info(len(data))]

    async def stat(path: str, *args: Any) -> Any:
        return infos[-1]

    @asynccontextmanager
    async def download_range(path: str, start: int, end: int) -> AsyncIterator[tuple[int, Any]]:
        async def chunks() -> AsyncIterator[bytes]:
            if end <= int(infos[-1].size):
                yield data[start:end]

        yield (206 if end <= int(infos[-1].size) else 416), chunks()

    @asynccontextmanager
    async def download(path: str) -> AsyncIterator[Any]:
        async def chunks() -> AsyncIterator[bytes]:
            yield data[: int(infos[-1].size)]

        yield chunks()

    monkeypatch.setattr(fs.storage, "stat", stat)
    monkeypatch.setattr(fs.storage, "download_range", download_range)
    monkeypatch.setattr(fs.storage, "download", download)
    f = await fs.open_async("~/big.bin")
    assert await f.read(100) == data[:100]
    assert fs.ranges == {"eos": True}
    infos.append(file_info(1000, etag='"2"'))  # rewritten shorter by someone else
    f.seek(len(data) - 100)
    with pytest.raises(OSError, match="changed on the storage") as err:
        await f.read(100)
    assert err.value.errno == errno.ESTALE
    assert fs.ranges == {"eos": True}
    await f.close()


def test_a_filesystem_dropped_on_fsspecs_loop_closes_its_connections(tmp_path: Path) -> None:
    """Garbage collection can run on fsspec's own loop thread (a filesystem made and dropped
    inside a coroutine there), where waiting for the loop would deadlock: the gRPC channel
    and HTTP connections are closed all the same, not left to leak."""
    token = tmp_path / "oauth.token"
    token.write_text("not-used")
    closed = threading.Event()

    async def close() -> None:
        closed.set()

    async def make_and_drop() -> None:
        fs = CS3FileSystem(
            host="127.0.0.1:9", token_path=str(token), root="/home/einstein", skip_instance_cache=True
        )
        storage = fs.storage
        storage.close = close  # type: ignore[method-assign]
        del fs, storage
        gc.collect()
        await asyncio.sleep(0.1)

    sync(get_loop(), make_and_drop)
    assert closed.wait(5)


@pytest.mark.parametrize(
    "answers",
    [
        [errors.Unavailable("down", reason="The storage service is unavailable")],
        # reva's local drivers: INTERNAL for the path, then the parent cannot be asked.
        [errors.CS3Error("internal", reason="Storage error"), errors.Unavailable("down", reason="down")],
    ],
)
async def test_exists_with_reva_down_raises_instead_of_saying_missing(
    fs: CS3FileSystem, monkeypatch: pytest.MonkeyPatch, answers: list[errors.CS3Error]
) -> None:
    pending = list(answers)

    async def stat(path: str, *args: Any) -> Any:
        raise pending.pop(0)

    monkeypatch.setattr(fs.storage, "stat", stat)
    with pytest.raises(OSError) as err:  # noqa: PT011 - which one depends on the answer
        await fs._exists("~/data/table.csv")
    assert not isinstance(err.value, FileNotFoundError)
    assert not pending
