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
from cs3.identity.user.v1beta1 import resources_pb2 as identity_pb2
from cs3.storage.provider.v1beta1 import provider_api_pb2, resources_pb2
from cs3.types.v1beta1 import types_pb2
from tornado.web import HTTPError

from cs3_contents_manager import CS3LargeFileManager, CS3VersionCheckpoints
from cs3_contents_manager.cs3 import errors
from cs3_contents_manager.cs3.storage import CS3Storage, ref
from cs3_contents_manager.locks import (
    ATTR_KEY,
    FAILURES_BEFORE_PAUSE,
    RETRY_NATIVE_AFTER,
    Holder,
    LockCheck,
    holder_of_attr,
)
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


async def test_a_storage_without_locks_is_not_asked_on_every_save(
    cm: CS3LargeFileManager, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lock_not_impl is False in the seed config; reva's local drivers fail GetLock. Saves go
    on, and after a few failures on an existing file the storage is not asked again."""
    caplog.set_level(logging.INFO)
    cm.log = logging.getLogger("test-locks")
    asked = []
    real_get_lock = cm.storage.get_lock

    async def counting_get_lock(path: str) -> object:
        asked.append(path)
        return await real_get_lock(path)

    monkeypatch.setattr(cm.storage, "get_lock", counting_get_lock)
    for i in range(10):
        await cm.save(text(f"v{i}"), "plain.txt")
    assert (await cm.get("plain.txt"))["content"] == "v9"
    # The first save's lookup was of a file not there yet: it does not count.
    assert len(asked) == FAILURES_BEFORE_PAUSE + 1, asked
    lines = [r for r in caplog.records if "did not answer" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert "lock_not_impl = True" in lines[0].getMessage()


async def test_copies_onto_and_checkpoints_of_a_locked_file_are_refused(
    lm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    await lm.save(text("theirs"), "shared.txt")
    await lm.save(text("mine"), "draft.txt")
    await lock(admin, f"{cs3_root}/shared.txt", held_by("collabora"))
    await refused(lm.copy("draft.txt", "shared.txt"), "not replaced")
    assert bytes(await admin.read(f"{cs3_root}/shared.txt")) == b"theirs"
    # A copy to a new name is no change to the locked file.
    await lm.copy("shared.txt", "shared-copy.txt")
    assert bytes(await admin.read(f"{cs3_root}/shared-copy.txt")) == b"theirs"


async def test_a_version_checkpoint_of_a_locked_file_is_refused(
    reva: Revad, cs3_root: str, password_file: Path, admin: CS3Storage
) -> None:
    """Version checkpoints rewrite the file in place so that the storage keeps a version."""
    config = cs3_config(reva, cs3_root, password_file, CS3FileManagerMixin__lock_as_attr=True)
    config.CS3FileContentsManager.checkpoints_class = CS3VersionCheckpoints
    manager = CS3LargeFileManager(config=config)
    try:
        await manager.save(text("v1"), "paper.txt")
        before = (await admin.stat(f"{cs3_root}/paper.txt")).etag
        await lock(admin, f"{cs3_root}/paper.txt", held_by("onlyoffice"))
        await refused(manager.create_checkpoint("paper.txt"), "not checkpointed")
        assert (await admin.stat(f"{cs3_root}/paper.txt")).etag == before
    finally:
        await manager.storage.close()


async def test_a_refused_first_chunk_ends_the_earlier_upload(
    lm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    await lm.save(text("stored"), "up.bin")
    await lm.save({**chunk(b"abandoned upload "), "chunk": 1}, "up.bin")
    await lock(admin, f"{cs3_root}/up.bin", held_by("collabora"))
    await refused(lm.save({**chunk(b"new upload "), "chunk": 1}, "up.bin"), "not saved")
    await unlock(admin, f"{cs3_root}/up.bin")
    # Carrying on after the refusal appends to the stored file, never to the abandoned spool.
    await lm.save({**chunk(b"+ more"), "chunk": -1}, "up.bin")
    assert bytes(await admin.read(f"{cs3_root}/up.bin")) == b"stored+ more"


@pytest.mark.parametrize(
    ("value", "holder"),
    [
        ("collabora!id!inf", "'collabora'"),
        ("collabora!id!nan", "'collabora'"),
        ("collabora!id!99999999999999", "'collabora'"),
        ("office!id!with!bangs!9999999999", "'office'"),
    ],
)
async def test_odd_advisory_values_are_locks_not_errors(
    lm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str, value: str, holder: str
) -> None:
    await lm.save(text("v1"), "odd.txt")
    await lock(admin, f"{cs3_root}/odd.txt", value)
    await refused(lm.save(text("v2"), "odd.txt"), holder)
    assert bytes(await admin.read(f"{cs3_root}/odd.txt")) == b"v1"


async def test_lock_not_impl_skips_the_lookup(
    reva: Revad, cs3_root: str, password_file: Path, admin: CS3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = cs3_config(reva, cs3_root, password_file, CS3FileManagerMixin__lock_not_impl=True)
    manager = CS3LargeFileManager(config=config)

    async def no_lookup(path: str) -> None:
        raise AssertionError(f"GetLock asked for {path} although lock_not_impl is set")

    monkeypatch.setattr(manager.storage, "get_lock", no_lookup)
    try:
        for i in range(3):
            await manager.save(text(f"v{i}"), "plain.txt")
        await manager.rename("plain.txt", "moved.txt")
        await manager.delete("moved.txt")
    finally:
        await manager.storage.close()
    assert not await admin.exists(f"{cs3_root}/moved.txt")


def test_advisory_values() -> None:
    now = 1_000_000.0
    assert holder_of_attr("collabora!x!1000600", now) == Holder(app="collabora", expires=1000600.0)
    assert holder_of_attr("collabora!x!999999", now) is None
    assert holder_of_attr("", now) is None
    assert holder_of_attr(None, now) is None
    assert holder_of_attr("a!b", now) == Holder(app="")
    assert holder_of_attr("app!id!soon", now) == Holder(app="app")
    assert holder_of_attr("app!id!with!bang!1000600", now) == Holder(app="app", expires=1000600.0)
    assert holder_of_attr("app!id!inf", now) == Holder(app="app")
    assert Holder(app="").describe() == "another application"
    assert (
        Holder(app="x", user="marie", expires=86400.0).describe()
        == "'x' (user marie); the lock lasts until 1970-01-02 00:00 UTC unless renewed"
    )


class LockStorage:
    """The two lookups LockCheck makes, answering as a storage with CS3 locks (EOS) would.
    Only for the lookup's own logic: the real storage paths are tested above against reva."""

    def __init__(self) -> None:
        self.locks: dict[str, resources_pb2.Lock] = {}
        self.attrs: dict[str, str] = {}
        self.files: set[str] = set()
        self.fail: type[errors.CS3Error] | None = None
        self.asked = 0

    async def get_lock(self, path: str) -> resources_pb2.Lock | None:
        self.asked += 1
        if self.fail is not None:
            raise self.fail("GetLock failed", path=path, reason="GetLock failed")
        return self.locks.get(path)

    async def stat(self, path: str, metadata_keys: tuple[str, ...] = ()) -> resources_pb2.ResourceInfo:
        wanted = {ATTR_KEY: self.attrs[path]} if ATTR_KEY in metadata_keys and path in self.attrs else {}
        return resources_pb2.ResourceInfo(
            path=path, arbitrary_metadata=resources_pb2.ArbitraryMetadata(metadata=wanted)
        )

    async def exists(self, path: str) -> bool:
        return path in self.files


def check(storage: LockStorage, clock: list[float], **kwargs: bool) -> LockCheck:
    settings = {"native": True, "as_attr": False, **kwargs}
    return LockCheck(
        storage,  # type: ignore[arg-type]
        log=logging.getLogger("test-lock-check"),
        clock=lambda: clock[0],
        **settings,
    )


async def test_native_locks_name_their_holder_until_they_expire() -> None:
    storage, clock = LockStorage(), [1_000.0]
    storage.locks["/f"] = resources_pb2.Lock(
        lock_id="x",
        app_name="collabora",
        type=resources_pb2.LOCK_TYPE_WRITE,
        user=identity_pb2.UserId(opaque_id="marie"),
        expiration=types_pb2.Timestamp(seconds=2_000),
    )
    storage.locks["/forever"] = resources_pb2.Lock(lock_id="y", app_name="wopi")
    lookup = check(storage, clock)
    assert await lookup.holder("/f") == Holder(app="collabora", user="marie", expires=2_000.0)
    assert await lookup.holder("/forever") == Holder(app="wopi")
    assert await lookup.holder("/free") is None
    clock[0] = 2_000.0
    assert await lookup.holder("/f") is None


async def test_advisory_locks_are_read_even_where_native_locks_answer() -> None:
    storage, clock = LockStorage(), [1_000.0]
    storage.attrs["/f"] = "jupyter-rtc-marie!id!5000"
    assert await check(storage, clock, as_attr=True).holder("/f") == Holder(
        app="jupyter-rtc-marie", expires=5_000.0
    )
    assert await check(storage, clock).holder("/f") is None


async def test_lookups_pause_only_after_repeated_failures_on_existing_files() -> None:
    storage, clock = LockStorage(), [1_000.0]
    storage.files = {"/a"}
    lookup = check(storage, clock)
    storage.fail = errors.CS3Error
    for _ in range(5):  # a file that does not exist (EOS fails GetLock on it): no pause
        assert await lookup.holder("/new") is None
    storage.fail = errors.PermissionDenied
    for _ in range(5):  # about this file and user, not about the storage: no pause
        assert await lookup.holder("/a") is None
    storage.fail = errors.CS3Error
    for _ in range(FAILURES_BEFORE_PAUSE - 1):
        await lookup.holder("/a")
    storage.fail = None  # one answer resets the count
    await lookup.holder("/a")
    storage.fail = errors.CS3Error
    for _ in range(FAILURES_BEFORE_PAUSE):
        await lookup.holder("/a")
    asked = storage.asked
    await lookup.holder("/a")
    assert storage.asked == asked, "paused: not asked"
    clock[0] += RETRY_NATIVE_AFTER
    storage.fail = None
    storage.locks["/a"] = resources_pb2.Lock(lock_id="z", app_name="collabora")
    assert await lookup.holder("/a") == Holder(app="collabora")
    assert storage.asked == asked + 1


async def test_an_unreachable_storage_fails_the_lookup() -> None:
    storage, clock = LockStorage(), [1_000.0]
    storage.fail = errors.Unavailable
    with pytest.raises(errors.Unavailable):
        await check(storage, clock).holder("/a")


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
