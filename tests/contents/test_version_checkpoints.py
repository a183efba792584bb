"""Checkpoints kept as the storage's own file versions (reva's local driver keeps versions)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tornado.web import HTTPError

from cs3_contents_manager import CS3LargeFileManager, CS3VersionCheckpoints
from cs3_contents_manager.cs3.storage import CS3Storage
from tests.contents.conftest import cs3_config
from tests.harness.reva import Revad


@pytest.fixture
async def vm(reva: Revad, cs3_root: str, password_file: Path) -> AsyncIterator[CS3LargeFileManager]:
    config = cs3_config(reva, cs3_root, password_file)
    config.CS3FileContentsManager.checkpoints_class = CS3VersionCheckpoints
    manager = CS3LargeFileManager(config=config)
    assert isinstance(manager.checkpoints, CS3VersionCheckpoints)
    yield manager
    await manager.storage.close()


def text(content: str) -> dict[str, str]:
    return {"type": "file", "format": "text", "content": content}


async def test_checkpoint_restore_round_trip(
    vm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    await vm.save(text("first draft"), "paper.txt")
    checkpoint = await vm.create_checkpoint("paper.txt")
    await vm.save(text("ruined"), "paper.txt")
    listed = await vm.list_checkpoints("paper.txt")
    assert checkpoint["id"] in [c["id"] for c in listed]
    await vm.restore_checkpoint(checkpoint["id"], "paper.txt")
    assert (await vm.get("paper.txt"))["content"] == "first draft"
    # No hidden checkpoint files: the versions live in the storage.
    assert [i.path.rsplit("/", 1)[-1] for i in await admin.list(cs3_root)] == ["paper.txt"]


async def test_folder_rename_and_delete_with_version_checkpoints(vm: CS3LargeFileManager) -> None:
    await vm.save({"type": "directory"}, "d")
    await vm.save(text("inside"), "d/x.txt")
    await vm.create_checkpoint("d/x.txt")
    await vm.rename("d", "e")
    assert (await vm.get("e/x.txt"))["content"] == "inside"
    await vm.delete("e/x.txt")
    assert not await vm.file_exists("e/x.txt")


async def test_versions_cannot_be_deleted_one_by_one(vm: CS3LargeFileManager) -> None:
    await vm.save(text("v1"), "a.txt")
    checkpoint = await vm.create_checkpoint("a.txt")
    with pytest.raises(HTTPError) as caught:
        await vm.delete_checkpoint(checkpoint["id"], "a.txt")
    assert caught.value.status_code == 400


async def test_unknown_version_is_404(vm: CS3LargeFileManager) -> None:
    await vm.save(text("v1"), "a.txt")
    await vm.create_checkpoint("a.txt")
    with pytest.raises(HTTPError) as caught:
        await vm.restore_checkpoint("123", "a.txt")
    assert caught.value.status_code == 404
    assert (await vm.get("a.txt"))["content"] == "v1"


async def test_checkpoints_are_listed_oldest_first(vm: CS3LargeFileManager) -> None:
    """JupyterLab's "Revert to Checkpoint" preselects the last checkpoint listed, as
    jupyter_server lists them from oldest to newest: it must be the newest."""
    await vm.save(text("one"), "order.txt")
    await vm.create_checkpoint("order.txt")
    for content in ("two", "three"):
        # reva's local drivers keep modification times to the second.
        await asyncio.sleep(1.1)
        await vm.save(text(content), "order.txt")
        newest = await vm.create_checkpoint("order.txt")
    listed = await vm.list_checkpoints("order.txt")
    assert len(listed) >= 3
    times = [c["last_modified"] for c in listed]
    assert times == sorted(times)
    assert listed[-1]["id"] == newest["id"]
    await vm.save(text("ruined"), "order.txt")
    await vm.restore_checkpoint(listed[-1]["id"], "order.txt")
    assert (await vm.get("order.txt"))["content"] == "three"


@pytest.mark.parametrize("call", ["create", "list", "restore"])
async def test_checkpoint_of_a_missing_file_is_not_a_server_error(
    reva: Revad, cs3_root: str, password_file: Path, call: str
) -> None:
    """The first checkpoint call decides whether the storage keeps versions; on a file that
    does not exist it answers 404 (a listing: none), not a server error."""
    config = cs3_config(reva, cs3_root, password_file)
    config.CS3FileContentsManager.checkpoints_class = CS3VersionCheckpoints
    manager = CS3LargeFileManager(config=config)
    calls = {
        "create": lambda: manager.create_checkpoint("nowhere.txt"),
        "list": lambda: manager.list_checkpoints("nowhere.txt"),
        "restore": lambda: manager.restore_checkpoint("1", "nowhere.txt"),
    }
    try:
        if call == "list":
            assert await calls[call]() == []
        else:
            with pytest.raises(HTTPError) as caught:
                await calls[call]()
            assert caught.value.status_code == 404, caught.value
        # Versions are used once the file exists.
        await manager.save(text("here"), "nowhere.txt")
        await manager.create_checkpoint("nowhere.txt")
        assert await manager.list_checkpoints("nowhere.txt")
    finally:
        await manager.storage.close()


async def test_checkpoint_with_reva_down_is_503(fresh_reva: Revad, tmp_path: Path) -> None:
    from tests.harness.jupyter import password_file as make_password_file

    config = cs3_config(
        fresh_reva, "/home", make_password_file(tmp_path), CS3FileManagerMixin__call_timeout=3.0
    )
    config.CS3FileContentsManager.checkpoints_class = CS3VersionCheckpoints
    manager = CS3LargeFileManager(config=config)
    try:
        await manager.cs3_root()
        fresh_reva.stop()
        with pytest.raises(HTTPError) as caught:
            await manager.list_checkpoints("a.txt")
        assert caught.value.status_code == 503, caught.value
    finally:
        await manager.storage.close()
