"""The harness starts a real reva: users authenticate, files go through the data gateway,
users are isolated, and failures are loud and fast."""

from __future__ import annotations

import hashlib
import os
import socket
import time
from pathlib import Path

import pytest
from cs3.sharing.collaboration.v1beta1 import collaboration_api_pb2
from cs3.sharing.collaboration.v1beta1 import resources_pb2 as collab
from cs3.sharing.link.v1beta1 import link_api_pb2
from cs3.sharing.link.v1beta1 import resources_pb2 as link
from cs3.storage.provider.v1beta1 import provider_api_pb2, resources_pb2

from cs3_contents_manager.cs3 import errors
from cs3_contents_manager.cs3.storage import CONTAINER, FILE, CS3Storage
from tests.conftest import storage_for
from tests.harness.reva import Revad, RevaError

MiB = 1024 * 1024


async def chunks_of(data: bytes, size: int = MiB):
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def test_einstein_authenticates_and_sees_his_home(einstein: CS3Storage) -> None:
    home = await einstein.home()
    assert home == "/home"
    info = await einstein.stat(home)
    assert info.type == CONTAINER
    assert einstein.session.logins == 1


async def test_folder_and_10_mib_round_trip(einstein: CS3Storage, reva: Revad) -> None:
    folder = "/home/roundtrip"
    await einstein.mkdir(folder)
    assert (await einstein.stat(folder)).type == CONTAINER

    data = os.urandom(10 * MiB)
    await einstein.upload(f"{folder}/blob.bin", chunks_of(data), size=len(data))

    info = await einstein.stat(f"{folder}/blob.bin")
    assert info.type == FILE
    assert info.size == len(data)
    listed = {i.path: i for i in await einstein.list(folder)}
    assert set(listed) == {f"{folder}/blob.bin"}

    digest = hashlib.sha256()
    received = 0
    async with einstein.download(f"{folder}/blob.bin") as stream:
        async for chunk in stream:
            digest.update(chunk)
            received += len(chunk)
    assert received == len(data)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    # The bytes are really in reva's storage, under einstein's home.
    on_disk = reva.storage_root / "data" / "einstein" / "roundtrip" / "blob.bin"
    assert on_disk.read_bytes() == data


async def test_marie_cannot_reach_einsteins_file(einstein: CS3Storage, marie: CS3Storage) -> None:
    secret = b"E = m c^2, do not share"
    await einstein.upload("/home/private.txt", secret, size=len(secret))
    file_id = (await einstein.stat("/home/private.txt")).id

    # By path, /home is marie's own home: einstein's file is not in it.
    with pytest.raises(errors.NotFound):
        await marie.stat("/home/private.txt")
    with pytest.raises(errors.NotFound):
        await marie.read("/home/private.txt")
    assert "/home/private.txt" not in {i.path for i in await marie.list("/home")}

    # By resource id, reva refuses to resolve einstein's file for her.
    by_id = resources_pb2.Reference(resource_id=file_id)
    with pytest.raises((errors.NotFound, errors.PermissionDenied)):
        await marie.gateway.call("Stat", provider_api_pb2.StatRequest(ref=by_id), idempotent=True, op="stat")
    with pytest.raises((errors.NotFound, errors.PermissionDenied)):
        await marie.gateway.call(
            "Delete", provider_api_pb2.DeleteRequest(ref=by_id), idempotent=False, op="delete"
        )

    assert await einstein.read("/home/private.txt") == secret


async def test_wrong_password_is_refused(reva: Revad) -> None:
    storage = storage_for(reva, "einstein", password="not-relativity")
    try:
        with pytest.raises(
            errors.SessionExpired, match="session expired: reva refused the credentials of einstein"
        ):
            await storage.home()
    finally:
        await storage.close()


async def test_unknown_user_is_refused(reva: Revad) -> None:
    storage = storage_for(reva, "mallory", password="anything")
    try:
        with pytest.raises(errors.SessionExpired):
            await storage.home()
    finally:
        await storage.close()


async def test_killed_revad_fails_fast_and_clearly(fresh_reva: Revad) -> None:
    storage = storage_for(fresh_reva, "einstein", call_timeout=5.0)
    try:
        await storage.upload("/home/before.txt", b"written before the crash", size=24)
        fresh_reva.kill()
        started = time.monotonic()
        with pytest.raises(errors.Unavailable) as caught:
            await storage.stat("/home/before.txt")
        elapsed = time.monotonic() - started
        assert elapsed < 10, f"a dead reva took {elapsed:.1f} s to report"
        assert caught.value.http_status == 503
        assert "unavailable" in str(caught.value).lower()
        with pytest.raises(errors.Unavailable):
            await storage.read("/home/before.txt")
    finally:
        await storage.close()


def test_broken_config_fails_with_revads_reason(revad_binary: Path, tmp_path: Path) -> None:
    server = Revad(tmp_path, binary=revad_binary)
    server.render()
    original = server.render

    def broken_render() -> Path:
        path = original()
        path.write_text(path.read_text() + "\n[grpc.services.gateway\nthis is not toml\n")
        return path

    server.render = broken_render  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(RevaError, match="exited with code") as caught:
        server.start(timeout=30)
    assert time.monotonic() - started < 15
    assert "revad log" in str(caught.value)
    assert not server.running


def test_port_clash_is_reported(revad_binary: Path, tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = Revad(tmp_path, binary=revad_binary, grpc_port=taken)
        with pytest.raises(RevaError, match=f"127.0.0.1:{taken} is already in use"):
            server.start(timeout=30)
        assert not server.running


def test_readiness_wait_has_a_timeout(revad_binary: Path, tmp_path: Path) -> None:
    # A gateway whose auth registry points at nothing: revad runs, but never authenticates.
    server = Revad(tmp_path, binary=revad_binary)
    original = server.render

    def unreachable_auth() -> Path:
        path = original()
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))
        port = dead.getsockname()[1]
        dead.close()
        text = path.read_text().replace(f'basic = "{server.gateway}"', f'basic = "127.0.0.1:{port}"')
        path.write_text(text)
        return path

    server.render = unreachable_auth  # type: ignore[method-assign]
    started = time.monotonic()
    with pytest.raises(RevaError, match="did not become ready within 5 s"):
        server.start(timeout=5)
    assert time.monotonic() - started < 15
    assert not server.running


def test_two_harnesses_run_side_by_side(revad_binary: Path, tmp_path: Path) -> None:
    first = Revad(tmp_path / "a", binary=revad_binary)
    second = Revad(tmp_path / "b", binary=revad_binary)
    with first, second:
        assert {first.grpc_port, first.http_port}.isdisjoint({second.grpc_port, second.http_port})
        assert first.running
        assert second.running


async def test_shares_and_public_links_are_kept(einstein: CS3Storage, marie: CS3Storage) -> None:
    """The share providers are really there (reva ignores config it does not understand): a
    share einstein makes reaches marie's received list, and a public link gets a token and
    is listed, until he removes it."""
    path = f"/home/harness-share-{os.getpid()}-{time.monotonic_ns()}.txt"
    await einstein.upload(path, b"shared", size=6)
    info = await einstein.stat(path)
    read = resources_pb2.ResourcePermissions(stat=True, initiate_file_download=True)
    grant = collab.ShareGrant(
        grantee=resources_pb2.Grantee(
            type=resources_pb2.GRANTEE_TYPE_USER, user_id={"opaque_id": "marie", "idp": info.owner.idp}
        ),
        permissions=collab.SharePermissions(permissions=read),
    )
    made = await einstein.gateway.call(
        "CreateShare",
        collaboration_api_pb2.CreateShareRequest(resource_info=info, grant=grant),
        idempotent=False,
        op="share",
    )
    got = await marie.gateway.call(
        "ListReceivedShares",
        collaboration_api_pb2.ListReceivedSharesRequest(),
        idempotent=True,
        op="received",
    )
    mine = [r.share for r in got.shares if r.share.id.opaque_id == made.share.id.opaque_id]
    assert [s.resource_id.opaque_id for s in mine] == [info.id.opaque_id]
    assert mine[0].owner.opaque_id == "einstein"

    public = await einstein.gateway.call(
        "CreatePublicShare",
        link_api_pb2.CreatePublicShareRequest(
            resource_info=info,
            grant=link.Grant(permissions=link.PublicSharePermissions(permissions=read)),
        ),
        idempotent=False,
        op="public link",
    )
    assert len(public.share.token) >= 8

    async def links() -> list[str]:
        res = await einstein.gateway.call(
            "ListPublicShares", link_api_pb2.ListPublicSharesRequest(), idempotent=True, op="public links"
        )
        return [s.token for s in res.share]

    assert public.share.token in await links()
    await einstein.gateway.call(
        "RemovePublicShare",
        link_api_pb2.RemovePublicShareRequest(ref=link.PublicShareReference(id=public.share.id)),
        idempotent=False,
        op="public link removal",
    )
    assert public.share.token not in await links()
