"""A file another application has locked is not changed: saves, uploads, deletes, renames and
checkpoint restores answer 423 naming the holder, and the stored file stays as it was.

reva's local drivers keep no CS3 locks (GetLock fails), so the locks here are the advisory
attribute of `lock_as_attr`, written as cs3client writes it; the native GetLock is still asked
first, as it would be on EOS, and its failure must not stop anyone's work.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cs3.storage.provider.v1beta1 import provider_api_pb2, resources_pb2
from tornado.web import HTTPError

from cs3_contents_manager import CS3LargeFileManager
from cs3_contents_manager.cs3.storage import CS3Storage, ref
from cs3_contents_manager.locks import ATTR_KEY, Holder, holder_of_attr
from tests.conftest import storage_for
from tests.contents.conftest import cs3_config
from tests.harness.jupyter import JupyterServer, seed_server
from tests.harness.reva import Revad


async def lock(admin: CS3Storage, path: str, value: str) -> None:
    """Lock `path` as another application would, in the advisory attribute."""
    await admin.gateway.call(
        "SetArbitraryMetadata",
        provider_api_pb2.SetArbitraryMetadataRequest(
            ref=ref(path), arbitrary_metadata=resources_pb2.ArbitraryMetadata(metadata={ATTR_KEY: value})
        ),
        idempotent=True,
        op="lock",
        path=path,
    )


async def unlock(admin: CS3Storage, path: str) -> None:
    await admin.gateway.call(
        "UnsetArbitraryMetadata",
        provider_api_pb2.UnsetArbitraryMetadataRequest(ref=ref(path), arbitrary_metadata_keys=[ATTR_KEY]),
        idempotent=True,
        op="unlock",
        path=path,
    )


def held_by(app: str, seconds: float = 600) -> str:
    return f"{app}!lock-{uuid.uuid4().hex[:6]}!{int(time.time() + seconds)}"


def text(content: str) -> dict[str, str]:
    return {"type": "file", "format": "text", "content": content}


def chunk(data: bytes) -> dict[str, str]:
    return {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}


@pytest.fixture
async def lm(reva: Revad, cs3_root: str, password_file: Path) -> AsyncIterator[CS3LargeFileManager]:
    manager = CS3LargeFileManager(
        config=cs3_config(reva, cs3_root, password_file, CS3FileManagerMixin__lock_as_attr=True)
    )
    yield manager
    await manager.storage.close()


async def refused(call: object, *words: str) -> str:
    with pytest.raises(HTTPError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.status_code == 423, caught.value
    message = str(caught.value.log_message)
    for word in words:
        assert word in message, message
    return message


async def test_a_locked_file_is_neither_saved_deleted_renamed_nor_restored(
    lm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    await lm.save(text("my analysis"), "report.txt")
    checkpoint = await lm.create_checkpoint("report.txt")
    await lm.save(text("my analysis, revised"), "report.txt")
    target = f"{cs3_root}/report.txt"
    await lock(admin, target, held_by("collabora"))

    message = await refused(
        lm.save(text("overwritten"), "report.txt"), "report.txt", "'collabora'", "not saved"
    )
    assert "until" in message
    await refused(lm.delete("report.txt"), "not deleted")
    await refused(lm.rename("report.txt", "moved.txt"), "not renamed")
    await refused(lm.restore_checkpoint(checkpoint["id"], "report.txt"), "not restored")
    await refused(lm.save({**chunk(b"first part"), "chunk": 1}, "report.txt"), "not saved")

    assert bytes(await admin.read(target)) == b"my analysis, revised"
    assert not await lm.file_exists("moved.txt")

    await unlock(admin, target)
    await lm.save(text("saved once the editor let go"), "report.txt")
    assert bytes(await admin.read(target)) == b"saved once the editor let go"


async def test_a_lock_taken_during_an_upload_keeps_the_chunks_for_a_retry(
    lm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    await lm.save(text("old"), "data.bin")
    target = f"{cs3_root}/data.bin"
    await lm.save({**chunk(b"A" * 1000), "chunk": 1}, "data.bin")
    await lm.save({**chunk(b"B" * 1000), "chunk": 2}, "data.bin")
    await lock(admin, target, held_by("onlyoffice"))
    await refused(lm.save({**chunk(b"C" * 10), "chunk": -1}, "data.bin"), "'onlyoffice'")
    assert bytes(await admin.read(target)) == b"old"

    await unlock(admin, target)
    model = await lm.save({**chunk(b"C" * 10), "chunk": -1}, "data.bin")
    assert model["size"] == 2010
    assert bytes(await admin.read(target)) == b"A" * 1000 + b"B" * 1000 + b"C" * 10


async def test_expired_and_released_locks_do_not_block(
    lm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    await lm.save(text("v1"), "notes.txt")
    target = f"{cs3_root}/notes.txt"
    await lock(admin, target, held_by("collabora", seconds=-5))
    await lm.save(text("v2"), "notes.txt")
    await lock(admin, target, "")
    await lm.save(text("v3"), "notes.txt")
    assert bytes(await admin.read(target)) == b"v3"
    # New files have no lock to look up.
    await lm.save(text("fresh"), "new.txt")
    await lm.rename("new.txt", "renamed.txt")
    await lm.delete("renamed.txt")


async def test_a_lock_in_another_format_blocks_with_an_unknown_holder(
    lm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    await lm.save(text("v1"), "odd.txt")
    await lock(admin, f"{cs3_root}/odd.txt", "held")
    await refused(lm.save(text("v2"), "odd.txt"), "another application")


async def test_advisory_locks_are_ignored_unless_configured(
    cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    """The seed's defaults (lock_as_attr off): the attribute means nothing to the manager."""
    await cm.save(text("v1"), "free.txt")
    await lock(admin, f"{cs3_root}/free.txt", held_by("collabora"))
    await cm.save(text("v2"), "free.txt")
    assert bytes(await admin.read(f"{cs3_root}/free.txt")) == b"v2"


async def test_a_storage_without_locks_is_asked_once_not_on_every_save(
    cm: CS3LargeFileManager, caplog: pytest.LogCaptureFixture
) -> None:
    """lock_not_impl is False in the seed config; reva's local drivers fail GetLock. Saves go
    on, and the storage is not asked again (one lookup, one log line, for ten saves)."""
    caplog.set_level(logging.INFO)
    cm.log = logging.getLogger("test-locks")
    for i in range(10):
        await cm.save(text(f"v{i}"), "plain.txt")
    lines = [r for r in caplog.records if "did not answer a lock lookup" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert "lock_not_impl = True" in lines[0].getMessage()


async def test_lock_not_impl_skips_the_lookup(
    reva: Revad, cs3_root: str, password_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = cs3_config(reva, cs3_root, password_file, CS3FileManagerMixin__lock_not_impl=True)
    manager = CS3LargeFileManager(config=config, log=logging.getLogger("test-locks-off"))
    caplog.set_level(logging.INFO)
    try:
        await manager.save(text("v1"), "plain.txt")
    finally:
        await manager.storage.close()
    assert not [r for r in caplog.records if "lock lookup" in r.getMessage()]
    assert not manager.lock_check.enabled


def test_advisory_values() -> None:
    now = 1_000_000.0
    assert holder_of_attr("collabora!x!1000600", now) == Holder(app="collabora", expires=1000600.0)
    assert holder_of_attr("collabora!x!999999", now) is None
    assert holder_of_attr("", now) is None
    assert holder_of_attr(None, now) is None
    assert holder_of_attr("a!b", now) == Holder(app="")
    assert holder_of_attr("app!id!soon", now) == Holder(app="app")
    assert Holder(app="").describe() == "another application"
    assert (
        Holder(app="x", user="marie", expires=0.0).describe()
        == "'x' (user marie) until 1970-01-01 00:00:00 UTC"
    )


@pytest.fixture(scope="module")
def locking_server(reva: Revad, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    workdir = tmp_path_factory.mktemp("jupyter-locks")
    server = seed_server(reva.gateway, workdir, "/home", CS3FileManagerMixin={"lock_as_attr": True})
    server.start()
    yield server
    server.stop()


async def test_jupyterlab_is_told_who_holds_the_lock(locking_server: JupyterServer, reva: Revad) -> None:
    admin = storage_for(reva, "einstein")
    name = f"locked-{uuid.uuid4().hex[:8]}.ipynb"
    notebook = {
        "type": "notebook",
        "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
    }
    try:
        async with locking_server.client() as client:
            res = await client.put(f"/api/contents/{name}", json=notebook)
            assert res.status_code == 201, res.text
            await lock(admin, f"/home/{name}", held_by("collabora"))
            before = bytes(await admin.read(f"/home/{name}"))
            notebook["content"]["metadata"] = {"edited": True}  # type: ignore[index]
            res = await client.put(f"/api/contents/{name}", json=notebook)
            assert res.status_code == 423, res.text
            assert "locked by 'collabora'" in res.json()["message"]
            res = await client.delete(f"/api/contents/{name}")
            assert res.status_code == 423, res.text
            assert bytes(await admin.read(f"/home/{name}")) == before
            await unlock(admin, f"/home/{name}")
            res = await client.delete(f"/api/contents/{name}")
            assert res.status_code == 204, res.text
    finally:
        await admin.close()
