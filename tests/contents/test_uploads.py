"""Chunked uploads in progress, against a real reva: two uploads of one path never mix, the
spool space a site gives the server is never outgrown, and no spool outlives its upload, a
closed browser or the server."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tornado.web import HTTPError

from cs3_contents_manager import CS3LargeFileManager
from cs3_contents_manager.cs3 import errors
from cs3_contents_manager.cs3.storage import CS3Storage
from cs3_contents_manager.uploads import OWNER_FILE, PREFIX
from tests.conftest import storage_for
from tests.contents.conftest import cs3_config
from tests.harness.jupyter import seed_server
from tests.harness.reva import Revad

MiB = 1024 * 1024


def chunk(data: bytes, number: int) -> dict[str, object]:
    return {"type": "file", "format": "base64", "content": base64.b64encode(data).decode(), "chunk": number}


def spool_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name != OWNER_FILE]


class HeldUpload:
    """Holds the storage transfer of the manager's first upload until released: the real
    upload to reva then goes on (or fails, if told to), so a second upload of the same path
    can be sent while the first one's last chunk is in flight."""

    def __init__(self, storage: CS3Storage, fail: bool = False) -> None:
        self.storage = storage
        self.real = storage.upload
        self.fail = fail
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.held = False

    async def upload(self, path: str, body: AsyncIterable[bytes] | bytes, **kwargs: Any) -> None:
        if not self.held:
            self.held = True
            self.entered.set()
            await self.release.wait()
            if self.fail:
                raise errors.Unavailable("reva went away", path=path, reason="Storage unavailable")
        await self.real(path, body, **kwargs)

    def __enter__(self) -> HeldUpload:
        self.storage.upload = self.upload  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.storage.upload = self.real  # type: ignore[method-assign]


async def test_second_upload_while_the_first_is_sent_keeps_its_own_content(
    cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    """A retry (or a second tab) starting while the first upload's last chunk is still
    going to reva: the file ends as what the second upload sent, not a mix of both."""
    with HeldUpload(cm.storage) as held:
        await cm.save(chunk(b"AAAA", 1), "same.bin")
        first = asyncio.create_task(cm.save(chunk(b"aaaa", -1), "same.bin"))
        await asyncio.wait_for(held.entered.wait(), 10)
        await cm.save(chunk(b"BBBB", 1), "same.bin")
        held.release.set()
        await first
        assert await admin.read(f"{cs3_root}/same.bin") == b"AAAAaaaa"
        await cm.save(chunk(b"bbbb", 2), "same.bin")
        await cm.save(chunk(b"cccc", -1), "same.bin")
    assert await admin.read(f"{cs3_root}/same.bin") == b"BBBBbbbbcccc"
    assert cm.uploads.held() == 0
    assert spool_files(cm.uploads.folder) == []


async def test_failed_first_upload_leaves_the_second_intact(
    cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    """The first upload's transfer fails after a second upload of the path began: the first
    gets its 503, the second is not disturbed, and nothing else is stored."""
    await cm.save({"type": "file", "format": "text", "content": "old"}, "same.bin")
    with HeldUpload(cm.storage, fail=True) as held:
        await cm.save(chunk(b"AAAA", 1), "same.bin")
        first = asyncio.create_task(cm.save(chunk(b"aaaa", -1), "same.bin"))
        await asyncio.wait_for(held.entered.wait(), 10)
        await cm.save(chunk(b"BBBB", 1), "same.bin")
        held.release.set()
        with pytest.raises(HTTPError) as err:
            await first
        assert err.value.status_code == 503
        assert await admin.read(f"{cs3_root}/same.bin") == b"old"
        await cm.save(chunk(b"bbbb", 2), "same.bin")
        await cm.save(chunk(b"cccc", -1), "same.bin")
    assert await admin.read(f"{cs3_root}/same.bin") == b"BBBBbbbbcccc"
    assert spool_files(cm.uploads.folder) == []


async def test_failed_last_chunk_can_be_sent_again(
    cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    """With no other upload of the path, a last chunk whose transfer failed keeps the chunks
    before it: sending it again finishes the upload."""
    with HeldUpload(cm.storage, fail=True) as held:
        await cm.save(chunk(b"AAAA", 1), "again.bin")
        held.release.set()
        with pytest.raises(HTTPError) as err:
            await cm.save(chunk(b"aaaa", -1), "again.bin")
        assert err.value.status_code == 503
    await cm.save(chunk(b"aaaa", -1), "again.bin")
    assert await admin.read(f"{cs3_root}/again.bin") == b"AAAAaaaa"


@pytest.fixture
async def small_spool(reva: Revad, cs3_root: str, password_file: Path) -> AsyncIterator[CS3LargeFileManager]:
    """A manager given 3 MiB of spool space in all."""
    manager = CS3LargeFileManager(
        config=cs3_config(reva, cs3_root, password_file, CS3LargeFileManager__spool_limit_mb=3)
    )
    yield manager
    await manager.storage.close()


async def test_chunk_beyond_the_spool_space_is_413(
    small_spool: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    cm = small_spool
    await cm.save({"type": "file", "format": "text", "content": "old"}, "big.bin")
    one = os.urandom(MiB)
    await cm.save(chunk(one, 1), "other.bin")
    await cm.save(chunk(one, 1), "big.bin")
    await cm.save(chunk(one, 2), "big.bin")
    with pytest.raises(HTTPError) as err:
        await cm.save(chunk(one, 3), "big.bin")
    assert err.value.status_code == 413
    assert "space for uploads in progress (3 MiB) is full" in err.value.log_message
    # The refused upload is over and its space free; the stored file is what it was.
    assert await admin.read(f"{cs3_root}/big.bin") == b"old"
    assert cm.uploads.held() == MiB
    # The other upload goes on and completes.
    await cm.save(chunk(one, 2), "other.bin")
    await cm.save(chunk(b"end", -1), "other.bin")
    assert await admin.read(f"{cs3_root}/other.bin") == one + one + b"end"
    assert cm.uploads.held() == 0


async def test_append_to_a_stored_file_that_does_not_fit_is_413(
    small_spool: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    """An append with no upload in progress starts from the stored file, which must fit too."""
    cm = small_spool
    stored = os.urandom(4 * MiB)
    await admin.upload(f"{cs3_root}/large.bin", stored, size=len(stored))
    with pytest.raises(HTTPError) as err:
        await cm.save(chunk(b"tail", 2), "large.bin")
    assert err.value.status_code == 413
    assert await admin.read(f"{cs3_root}/large.bin") == stored
    assert cm.uploads.held() == 0


async def test_abandoned_upload_is_dropped_without_another_chunk(
    reva: Revad, cs3_root: str, password_file: Path
) -> None:
    """A browser closed mid-upload sends nothing more: the spool goes after spool_timeout
    all the same."""
    cm = CS3LargeFileManager(
        config=cs3_config(reva, cs3_root, password_file, CS3LargeFileManager__spool_timeout=2)
    )
    try:
        await cm.save(chunk(os.urandom(MiB), 1), "left.bin")
        assert len(spool_files(cm.uploads.folder)) == 1
        # The sweep looks every timeout/4 s: give it up to 10 s.
        for _ in range(50):
            if not spool_files(cm.uploads.folder):
                break
            await asyncio.sleep(0.2)
        assert spool_files(cm.uploads.folder) == []
        assert cm.uploads.held() == 0
        # A later chunk finds no upload in progress: it starts from the stored file (none).
        model = await cm.save(chunk(b"x", 2), "left.bin")
        assert model["size"] == 1
    finally:
        cm.uploads.close_all()
        await cm.storage.close()


async def _start_upload(server: Any, name: str) -> None:
    async with server.client() as client:
        res = await client.put(f"/api/contents/{name}", json=chunk(os.urandom(MiB), 1))
        assert res.status_code in (200, 201), res.text


def _spool_folders(base: Path) -> list[Path]:
    return sorted(base.glob(f"{PREFIX}*"))


async def test_server_stop_and_restart_leave_no_spool(reva: Revad, tmp_path: Path) -> None:
    """Uploads in progress when the server stops are removed with it; those of a server that
    was killed are removed when the next one starts."""
    storage = storage_for(reva, "einstein")
    root = f"/home/spool-{uuid.uuid4().hex[:12]}"
    await storage.mkdir(root)
    await storage.close()
    base = tmp_path / "scratch"
    base.mkdir()
    sections = {"CS3LargeFileManager": {"spool_dir": str(base)}}

    server = seed_server(reva.gateway, tmp_path / "one", root, **sections)
    server.start()
    try:
        await _start_upload(server, "a.bin")
        assert len(_spool_folders(base)) == 1
    finally:
        server.stop()
    assert _spool_folders(base) == []

    killed = seed_server(reva.gateway, tmp_path / "two", root, **sections)
    killed.start()
    try:
        await _start_upload(killed, "b.bin")
    finally:
        assert killed.process is not None
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(10)
    (left,) = _spool_folders(base)
    assert spool_files(left)

    later = seed_server(reva.gateway, tmp_path / "three", root, **sections)
    later.start()
    try:
        await _start_upload(later, "c.bin")
        folders = _spool_folders(base)
        assert left not in folders
        assert len(folders) == 1
    finally:
        later.stop()
