"""Behaviour specific to a CS3 storage: credentials that change, reva restarts and failures,
path confinement, root templates, size limits and chunked uploads, against a real reva."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from cs3.rpc.v1beta1 import code_pb2
from tornado.web import HTTPError

from cs3_contents_manager import CS3LargeFileManager
from cs3_contents_manager.cs3 import errors
from cs3_contents_manager.cs3.storage import CS3Storage
from cs3_contents_manager.paths import expand_root
from tests.contents.conftest import cs3_config
from tests.harness.reva import Revad

MiB = 1024 * 1024


def replace_file(path: Path, text: str) -> None:
    """Swap a secret file atomically, as the token refresher does."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.rename(path)


async def on_disk_root(reva: Revad, cs3_root: str) -> Path:
    return reva.storage_root / "data" / "einstein" / cs3_root.removeprefix("/home/")


# -- credentials -----------------------------------------------------------------------------


async def test_changed_secret_file_is_used_at_once(cm: CS3LargeFileManager, password_file: Path) -> None:
    await cm.save({"type": "file", "format": "text", "content": "x"}, "a.txt")
    assert cm.storage.session.logins == 1

    replace_file(password_file, "not-the-password")
    with pytest.raises(HTTPError) as caught:
        await cm.get("a.txt")
    assert caught.value.status_code == 401
    assert "storage session expired" in caught.value.log_message

    replace_file(password_file, "relativity")
    assert (await cm.get("a.txt"))["content"] == "x"
    assert cm.storage.session.logins == 2


async def test_missing_secret_file_is_a_clear_401(cm: CS3LargeFileManager, password_file: Path) -> None:
    password_file.unlink()
    with pytest.raises(HTTPError) as caught:
        await cm.get("")
    assert caught.value.status_code == 401
    assert "does not exist" in caught.value.log_message


async def test_session_renewed_before_reva_token_expires(
    make_reva: Callable[..., Revad], password_file: Path
) -> None:
    reva = make_reva(reva_token_ttl=4)
    manager = CS3LargeFileManager(config=cs3_config(reva, "/home", password_file))
    try:
        started = time.monotonic()
        calls = 0
        while time.monotonic() - started < 10:
            await manager.get("", content=True)
            calls += 1
            await asyncio.sleep(0.25)
        # Every call succeeded; the 4 s reva token was renewed ahead of expiry, not per call.
        assert calls > 20
        assert 3 <= manager.storage.session.logins <= 6
    finally:
        await manager.storage.close()


async def test_reva_restart_with_new_keys_relogs_in_once(
    make_reva: Callable[..., Revad], password_file: Path
) -> None:
    reva = make_reva()
    manager = CS3LargeFileManager(config=cs3_config(reva, "/home", password_file))
    try:
        await manager.save({"type": "file", "format": "text", "content": "before"}, "r.txt")
        assert manager.storage.session.logins == 1
        reva.stop()
        reva.start()  # new signing secret: the cached reva token is now refused
        assert (await manager.get("r.txt"))["content"] == "before"
        assert manager.storage.session.logins == 2
    finally:
        await manager.storage.close()


# -- failures map to the right status --------------------------------------------------------


async def test_dead_reva_is_503_not_404(make_reva: Callable[..., Revad], password_file: Path) -> None:
    reva = make_reva()
    manager = CS3LargeFileManager(config=cs3_config(reva, "/home", password_file))
    try:
        await manager.get("")
        reva.kill()
        for call in (manager.get(""), manager.file_exists("x.txt"), manager.dir_exists("d")):
            with pytest.raises(HTTPError) as caught:
                await call
            assert caught.value.status_code == 503
            assert "unavailable" in caught.value.log_message
    finally:
        await manager.storage.close()


async def test_storage_failure_is_500_with_revas_message_and_keeps_old_content(
    cm: CS3LargeFileManager, reva: Revad, cs3_root: str
) -> None:
    await cm.save({"type": "file", "format": "text", "content": "precious"}, "keep.txt")
    folder = await on_disk_root(reva, cs3_root)
    subprocess.run(["chattr", "+i", str(folder / "keep.txt"), str(folder)], check=True)
    try:
        with pytest.raises(HTTPError) as caught:
            await cm.save({"type": "file", "format": "text", "content": "clobbered"}, "keep.txt")
        assert caught.value.status_code == 500
        assert "Storage error during upload" in caught.value.log_message
        with pytest.raises(HTTPError) as caught:
            await cm.delete("keep.txt")
        assert caught.value.status_code == 500
        assert "error deleting file" in caught.value.log_message
    finally:
        subprocess.run(["chattr", "-i", str(folder / "keep.txt"), str(folder)], check=True)
    assert (await cm.get("keep.txt"))["content"] == "precious"


async def test_existing_target_is_409(cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str) -> None:
    await cm.save({"type": "directory"}, "d")
    with pytest.raises(errors.AlreadyExists):
        await admin.mkdir(f"{cs3_root}/d")
    await cm.save({"type": "file", "format": "text", "content": "1"}, "one.txt")
    await cm.save({"type": "file", "format": "text", "content": "2"}, "two.txt")
    with pytest.raises(HTTPError) as caught:
        await cm.rename("one.txt", "two.txt")
    assert caught.value.status_code == 409
    assert (await cm.get("two.txt"))["content"] == "2"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (code_pb2.CODE_NOT_FOUND, 404),
        (code_pb2.CODE_PERMISSION_DENIED, 403),
        (code_pb2.CODE_ALREADY_EXISTS, 409),
        (code_pb2.CODE_LOCKED, 423),
        (code_pb2.CODE_INSUFFICIENT_STORAGE, 507),
        (code_pb2.CODE_RESOURCE_EXHAUSTED, 507),
        (code_pb2.CODE_UNAVAILABLE, 503),
        (code_pb2.CODE_DEADLINE_EXCEEDED, 503),
        (code_pb2.CODE_UNAUTHENTICATED, 401),
        (code_pb2.CODE_INTERNAL, 500),
        (code_pb2.CODE_UNKNOWN, 500),
    ],
)
def test_cs3_codes_map_to_http_status(code: int, status: int) -> None:
    class Status:
        pass

    st = Status()
    st.code = code  # type: ignore[attr-defined]
    st.message = "reva says why"  # type: ignore[attr-defined]
    err = errors.from_status(st, "stat", "/home/x")
    assert err.http_status == status
    assert err.path == "/home/x"
    if status == 500:
        assert "reva says why" in str(err)
    if status == 401:
        assert "session expired" in str(err)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.DEADLINE_EXCEEDED, 503),
        (grpc.StatusCode.UNAUTHENTICATED, 401),
        (grpc.StatusCode.PERMISSION_DENIED, 401),
        (grpc.StatusCode.INTERNAL, 500),
    ],
)
def test_grpc_failures_map_to_http_status(code: grpc.StatusCode, status: int) -> None:
    err = grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="why")
    assert errors.from_rpc_error(err, "listing", "/home").http_status == status


# -- confinement -----------------------------------------------------------------------------


def hostile_paths(seed: int = 1234, count: int = 200) -> list[str]:
    rng = random.Random(seed)
    pieces = ["..", "../..", "a", "b/..", "x\x00y", "\x00", "c\\..\\d", ".", "sub"]
    fixed = [
        "..",
        "../",
        "/..",
        "a/../..",
        "../sibling/secret.txt",
        "a/./b",
        "\x00",
        "nul\x00byte.txt",
        "..\\sibling",
        "./x",
    ]
    generated = []
    while len(generated) < count:
        parts = [rng.choice(pieces) for _ in range(rng.randint(1, 5))]
        path = "/".join(parts)
        if any(p in ("..", ".") or "\x00" in p or "\\" in p for p in path.split("/")):
            generated.append(path)
    return fixed + generated


async def test_paths_cannot_leave_the_root(cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str) -> None:
    # A sibling whose name starts with the root's name, holding something private.
    sibling = f"{cs3_root}2"
    await admin.mkdir(sibling)
    await admin.upload(f"{sibling}/secret.txt", b"private", size=7)
    before = sorted(i.path for i in await admin.list("/home"))

    for path in hostile_paths():
        for call in (
            cm.get(path),
            cm.save({"type": "file", "format": "text", "content": "pwned"}, path),
            cm.delete_file(path),
            cm.rename_file("x.txt", path),
            cm.new_untitled(path),
        ):
            with pytest.raises(HTTPError) as caught:
                await call
            assert caught.value.status_code in (400, 404), (path, caught.value)
    with pytest.raises(HTTPError):
        await cm.get("../" + sibling.rsplit("/", 1)[-1] + "/secret.txt")
    assert sorted(i.path for i in await admin.list("/home")) == before
    assert await admin.read(f"{sibling}/secret.txt") == b"private"
    assert [i.path for i in await admin.list(cs3_root)] == []


# -- root path -------------------------------------------------------------------------------


def test_root_template_expansion() -> None:
    assert expand_root("/eos/user/{username[0]}/{username}", "rwelande") == "/eos/user/r/rwelande"
    assert expand_root("/eos/project/x/", "rwelande") == "/eos/project/x"
    assert expand_root("", "rwelande") == ""
    for bad_template, user in [
        ("/eos/{user}", "rwelande"),
        ("relative/{username}", "rwelande"),
        ("/eos/../{username}", "rwelande"),
        ("/eos/user/{username}", ""),
        ("/eos/user/{username}", "../root"),
    ]:
        with pytest.raises(ValueError, match=r"root_path|user name"):
            expand_root(bad_template, user)


async def test_root_template_from_user(reva: Revad, admin: CS3Storage, password_file: Path) -> None:
    await admin.ensure_folder("/home/u-einstein")
    manager = CS3LargeFileManager(config=cs3_config(reva, "/home/u-{username}", password_file))
    try:
        await manager.save({"type": "file", "format": "text", "content": "mine"}, "in-root.txt")
        assert await admin.read("/home/u-einstein/in-root.txt") == b"mine"
    finally:
        await manager.storage.close()


async def test_empty_root_is_the_users_home(reva: Revad, admin: CS3Storage, password_file: Path) -> None:
    manager = CS3LargeFileManager(config=cs3_config(reva, "", password_file))
    try:
        assert await manager.cs3_root() == "/home"
        names = {e["name"] for e in (await manager.get(""))["content"]}
        assert names == {i.path.rsplit("/", 1)[-1] for i in await admin.list("/home")} - {
            n for n in names if n.startswith(".")
        }
    finally:
        await manager.storage.close()


# -- size limits -----------------------------------------------------------------------------


async def test_large_file_is_413_with_a_hint(cm: CS3LargeFileManager) -> None:
    cm.max_open_file_size_mb = 1
    data = os.urandom(MiB + 1)
    await cm.save({"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}, "big.bin")
    with pytest.raises(HTTPError) as caught:
        await cm.get("big.bin")
    assert caught.value.status_code == 413
    assert "download it instead" in caught.value.log_message
    model = await cm.get("big.bin", content=False)
    assert model["size"] == MiB + 1


async def test_upload_limit(cm: CS3LargeFileManager) -> None:
    cm.max_upload_size_mb = 1
    big = base64.b64encode(os.urandom(MiB + 10)).decode()
    with pytest.raises(HTTPError) as caught:
        await cm.save({"type": "file", "format": "base64", "content": big}, "big.bin")
    assert caught.value.status_code == 413
    half = base64.b64encode(os.urandom(MiB // 2 + 10)).decode()
    await cm.save({"type": "file", "format": "base64", "content": half, "chunk": 1}, "chunked.bin")
    with pytest.raises(HTTPError) as caught:
        await cm.save({"type": "file", "format": "base64", "content": half, "chunk": -1}, "chunked.bin")
    assert caught.value.status_code == 413
    assert not await cm.file_exists("big.bin")
    assert not await cm.file_exists("chunked.bin")


async def test_tus_uploads(reva: Revad, cs3_root: str, password_file: Path, admin: CS3Storage) -> None:
    manager = CS3LargeFileManager(config=cs3_config(reva, cs3_root, password_file))
    manager.tus_enabled = True
    assert manager.storage.upload_protocol == "tus"
    try:
        data = os.urandom(3 * MiB + 5)
        await manager.save(
            {"type": "file", "format": "base64", "content": base64.b64encode(data).decode()}, "t.bin"
        )
        assert await admin.read(f"{cs3_root}/t.bin") == data
        await manager.save(chunk_model(data[:MiB], 1), "c.bin")
        await manager.save(chunk_model(data[MiB:], -1), "c.bin")
        assert await admin.read(f"{cs3_root}/c.bin") == data
    finally:
        await manager.storage.close()


# -- chunked uploads -------------------------------------------------------------------------


def chunk_model(data: bytes, chunk: int) -> dict[str, object]:
    return {"type": "file", "format": "base64", "content": base64.b64encode(data).decode(), "chunk": chunk}


async def test_chunked_upload_keeps_every_chunk(
    cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    await cm.save({"type": "file", "format": "text", "content": "old"}, "up.bin")
    parts = [os.urandom(MiB) for _ in range(4)] + [os.urandom(1234)]
    for number, part in enumerate(parts[:-1], start=1):
        model = await cm.save(chunk_model(part, number), "up.bin")
        assert model["size"] == sum(len(p) for p in parts[:number])
        # Nothing stored changes until the upload is complete.
        assert await admin.read(f"{cs3_root}/up.bin") == b"old"
    final = await cm.save(chunk_model(parts[-1], -1), "up.bin")
    assert final["size"] == sum(len(p) for p in parts)
    assert await admin.read(f"{cs3_root}/up.bin") == b"".join(parts)
    assert cm.uploads.held() == 0
    assert [p.name for p in cm.uploads.folder.iterdir()] == [".owner"]


@pytest.mark.parametrize("bad", [0, -2, 1.5, "1", True, None])
async def test_invalid_chunk_numbers_are_400(cm: CS3LargeFileManager, bad: object) -> None:
    model = chunk_model(b"x", 1)
    model["chunk"] = bad
    if bad is None:
        # No chunk number: an ordinary save.
        assert (await cm.save(model, "c.bin"))["size"] == 1
        return
    with pytest.raises(HTTPError) as caught:
        await cm.save(model, "c.bin")
    assert caught.value.status_code == 400


async def test_chunks_append_in_arrival_order_like_jupyter_server(
    cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str
) -> None:
    # Without chunk 1, chunks append to the stored file (jupyter_server opens it with "ab").
    await cm.save({"type": "file", "format": "text", "content": "base-"}, "o.txt")
    await cm.save({**chunk_model(b"b", 2), "format": "base64"}, "o.txt")
    assert await admin.read(f"{cs3_root}/o.txt") == b"base-"
    await cm.save(chunk_model(b"c", 2), "o.txt")
    await cm.save(chunk_model(b"d", -1), "o.txt")
    assert await admin.read(f"{cs3_root}/o.txt") == b"base-bcd"
    # Chunk 1 starts over, even in the middle of an upload.
    await cm.save(chunk_model(b"x", 1), "o.txt")
    await cm.save(chunk_model(b"y", 1), "o.txt")
    await cm.save(chunk_model(b"z", -1), "o.txt")
    assert await admin.read(f"{cs3_root}/o.txt") == b"yz"


async def test_chunk_onto_a_folder_is_400(cm: CS3LargeFileManager) -> None:
    await cm.save({"type": "directory"}, "folder")
    with pytest.raises(HTTPError) as caught:
        await cm.save(chunk_model(b"a", 2), "folder")
    assert caught.value.status_code == 400
    assert await cm.dir_exists("folder")


async def test_a_folder_made_by_many_at_once_is_made_for_all(einstein: CS3Storage) -> None:
    """fsspec copies a folder's files in parallel, each first making sure the folder exists:
    all but one creator lose that race, and none of them may fail for it."""
    from cs3_contents_manager.cs3.storage import CONTAINER

    home = await einstein.home()
    for attempt in range(8):
        path = f"{home}/made-at-once-{attempt}-{random.randrange(10**9)}"
        await asyncio.gather(*(einstein.ensure_folder(path) for _ in range(24)))
        assert (await einstein.stat(path)).type == CONTAINER
