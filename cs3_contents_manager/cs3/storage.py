"""A narrow async filesystem over CS3: what the contents manager needs, nothing more.

Paths here are absolute CS3 paths (`/home/notebooks/a.ipynb`, `/eos/user/r/rwelande/x`);
mapping Jupyter's relative API paths onto them, and confining them below a root, is the
contents manager's job.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from cs3.gateway.v1beta1 import gateway_api_pb2
from cs3.storage.provider.v1beta1 import provider_api_pb2, resources_pb2
from cs3.types.v1beta1 import types_pb2

from . import errors
from .auth import RevaSession
from .client import ChannelSettings, GatewayClient
from .transfers import DataGateway

ResourceInfo = resources_pb2.ResourceInfo
FILE = resources_pb2.RESOURCE_TYPE_FILE
CONTAINER = resources_pb2.RESOURCE_TYPE_CONTAINER


def ref(path: str) -> resources_pb2.Reference:
    return resources_pb2.Reference(path=path)


SUPPORTED_PROTOCOLS = ("simple", "tus")


def _pick(protocols: object, wanted: str, op: str, path: str) -> object:
    """The wanted transfer protocol, else any other one this client speaks."""
    offered = {p.protocol: p for p in protocols}  # type: ignore[attr-defined]
    for name in (wanted, *SUPPORTED_PROTOCOLS):
        if name in offered:
            return offered[name]
    reason = f"Storage error during {op} (reva offered no usable transfer protocol: {sorted(offered)})"
    raise errors.CS3Error(f"{reason}: {path}", path=path, reason=reason)


class CS3Storage:
    """Files and folders of one user on a reva gateway."""

    def __init__(
        self,
        settings: ChannelSettings,
        *,
        login_type: str,
        client_id: str,
        secret: object,
        token_validity: float = 3600.0,
        tus_enabled: bool = False,
    ) -> None:
        self.gateway = GatewayClient(settings)
        self.session = RevaSession(
            self.gateway.authenticate,
            login_type=login_type,
            client_id=client_id,
            secret=secret,  # type: ignore[arg-type]
            token_validity=token_validity,
        )
        self.gateway.session = self.session
        verify: bool | str = True
        if settings.ssl_enabled and settings.ca_file:
            verify = settings.ca_file
        self.data = DataGateway(verify=verify, timeout=settings.call_timeout)
        self.upload_protocol = "tus" if tus_enabled else "simple"
        # Held only while an upload of that path runs (see upload).
        self._write_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def close(self) -> None:
        await self.gateway.close()
        await self.data.close()

    # -- metadata --------------------------------------------------------------------------

    async def home(self) -> str:
        res = await self.gateway.call(
            "GetHome", provider_api_pb2.GetHomeRequest(), idempotent=True, op="home lookup"
        )
        return res.path

    async def root(self) -> str:
        """The user's home (GetHome) as the folder their paths are below, where no root_path
        is configured (paths.expand_root gave ""). One place, so that the contents manager
        and cs3:// cannot come to disagree on what `~` is; each caller tries its configured
        root first, without a storage call, as before."""
        home = await self.home()
        return home.rstrip("/") or "/"

    async def stat(self, path: str, metadata_keys: Sequence[str] = ()) -> ResourceInfo:
        """A file's or folder's info; `metadata_keys` names the arbitrary-metadata attributes
        wanted with it (EOS returns only those asked for)."""
        req = provider_api_pb2.StatRequest(ref=ref(path), arbitrary_metadata_keys=list(metadata_keys))
        res = await self.gateway.call("Stat", req, idempotent=True, op="stat", path=path)
        return res.info

    async def stat_below(self, path: str, top: str, *, include_top: bool) -> ResourceInfo:
        """`stat`, but NotFound for a path below a file, however deep.

        reva's local drivers answer INTERNAL (ENOTDIR), not NOT_FOUND, for a path below a
        file: the path is missing if a folder above it is missing or is no folder. Both the
        contents manager and cs3:// need that answer, so it is worked out here only. The
        folders above are looked at up to `top` (the caller's root): the contents manager does
        not look at its root itself (`include_top=False`), cs3:// does (`include_top=True`),
        as each did before this was shared. Any other failure is raised as it came, that of a
        folder above included (its `path` then names that folder).
        """
        try:
            return await self.stat(path)
        except errors.CS3Error as err:
            parent = path.rpartition("/")[0]
            walk = parent.startswith(top.rstrip("/") + "/") or (include_top and parent == top)
            if type(err) is errors.CS3Error and walk:
                try:
                    above: ResourceInfo | None = await self.stat_below(parent, top, include_top=include_top)
                except errors.NotFound:
                    above = None
                if above is None or above.type != CONTAINER:
                    reason = "No such file or directory"
                    raise errors.NotFound(f"{reason}: {path}", path=path, reason=reason) from None
            raise

    async def is_folder(self, path: str, *, strict: bool, top: str = "") -> bool | None:
        """Whether a folder is at `path`: True, False (nothing there, or a file), or, when not
        `strict`, None where the storage could not be asked.

        The question around every write of a whole file, which reva's local drivers make worth
        asking: they replace a folder, and everything in it, by a file uploaded to its path
        (so a writer refuses to write where this says True), and answer a write into a
        missing folder, or below a file, with INTERNAL or HTTP 500, not NOT_FOUND (so a
        failed writer asks this of its folder, and names it missing where this says False).

        The two callers differ on purpose, kept as `strict`: the contents manager (strict)
        takes a path below a file as no folder (stat_below, up to but not at its root `top`)
        and reports a failed look as its request's error; cs3:// (not strict) asks reva once
        and takes a failed look (reva down, an expired session, INTERNAL) as no answer, so
        that the write itself says what is wrong.
        """
        try:
            if strict:
                info = await self.stat_below(path, top, include_top=False)
            else:
                info = await self.stat(path)
        except errors.NotFound:
            return False
        except errors.CS3Error:
            if strict:
                raise
            return None
        return info.type == CONTAINER

    async def exists(self, path: str) -> bool:
        try:
            await self.stat(path)
        except errors.NotFound:
            return False
        return True

    async def list(self, path: str) -> list[ResourceInfo]:
        """All entries of a folder in one ListContainer call (no per-entry Stat)."""
        res = await self.gateway.call(
            "ListContainer",
            provider_api_pb2.ListContainerRequest(ref=ref(path)),
            idempotent=True,
            op="listing",
            path=path,
            timeout=self.gateway.settings.list_timeout,
        )
        return list(res.infos)

    # -- changes ---------------------------------------------------------------------------

    async def mkdir(self, path: str) -> None:
        await self.gateway.call(
            "CreateContainer",
            provider_api_pb2.CreateContainerRequest(ref=ref(path)),
            idempotent=False,
            op="folder creation",
            path=path,
        )

    async def ensure_folder(self, path: str) -> None:
        """Create a folder unless it exists (a concurrent creator is not an error).

        reva's local drivers answer a creator that lost the race either ALREADY_EXISTS or, when
        the other one's mkdir landed between their own check and mkdir, a bare INTERNAL: what
        decides is whether a folder is there now. Unavailable (reva down) is never retried
        into a success."""
        try:
            await self.mkdir(path)
        except errors.AlreadyExists:
            if (await self.stat(path)).type != CONTAINER:
                raise
        except errors.CS3Error as err:
            if type(err) is not errors.CS3Error:
                raise
            try:
                made = (await self.stat(path)).type == CONTAINER
            except errors.CS3Error:
                made = False
            if not made:
                raise err from None

    async def delete(self, path: str) -> None:
        await self.gateway.call(
            "Delete", provider_api_pb2.DeleteRequest(ref=ref(path)), idempotent=False, op="delete", path=path
        )

    async def move(self, src: str, dst: str) -> None:
        await self.gateway.call(
            "Move",
            provider_api_pb2.MoveRequest(source=ref(src), destination=ref(dst)),
            idempotent=False,
            op="rename",
            path=src,
        )

    # -- locks ---------------------------------------------------------------------------

    async def get_lock(self, path: str) -> resources_pb2.Lock | None:
        """The lock on a file, or None. EOS answers NOT_FOUND for a file without a lock;
        reva's local drivers have no locks and answer INTERNAL, which is raised."""
        try:
            res = await self.gateway.call(
                "GetLock",
                provider_api_pb2.GetLockRequest(ref=ref(path)),
                idempotent=True,
                op="lock lookup",
                path=path,
            )
        except errors.NotFound:
            return None
        lock = res.lock
        return lock if lock.lock_id or lock.app_name else None

    # -- versions --------------------------------------------------------------------------

    async def list_versions(self, path: str) -> list[Any]:
        """File versions, newest first (Unsupported where the storage keeps none)."""
        res = await self.gateway.call(
            "ListFileVersions",
            provider_api_pb2.ListFileVersionsRequest(ref=ref(path)),
            idempotent=True,
            op="version listing",
            path=path,
        )
        return sorted(res.versions, key=lambda v: v.mtime, reverse=True)

    async def restore_version(self, path: str, key: str) -> None:
        """Restore a version by the key ListFileVersions gave.

        reva's local drivers list keys without the `v` prefix their restore expects
        (cs3org/reva#3927): a key that is not found is retried once with the prefix.
        """
        for attempt in (key, f"v{key}"):
            try:
                await self.gateway.call(
                    "RestoreFileVersion",
                    provider_api_pb2.RestoreFileVersionRequest(ref=ref(path), key=attempt),
                    idempotent=False,
                    op="version restore",
                    path=path,
                )
                return
            except errors.NotFound:
                if attempt != key or key.startswith("v"):
                    raise

    # -- bytes -----------------------------------------------------------------------------

    async def upload(
        self,
        path: str,
        body: AsyncIterable[bytes] | bytes,
        *,
        size: int | None,
        if_match: str | None = None,
        if_not_exist: bool = False,
    ) -> None:
        """Write a whole file; `if_match` (an etag) or `if_not_exist` guard against lost updates.

        Writes to one path from this client are serialized: reva's local drivers fail
        (HTTP 500) when two uploads of the same file finish at once, and the last save
        winning is what a user of one server expects anyway.
        """
        lock = self._write_locks.get(path)
        if lock is None:
            lock = self._write_locks[path] = asyncio.Lock()
        async with lock:
            await self._upload(path, body, size=size, if_match=if_match, if_not_exist=if_not_exist)

    async def _upload(
        self,
        path: str,
        body: AsyncIterable[bytes] | bytes,
        *,
        size: int | None,
        if_match: str | None,
        if_not_exist: bool,
    ) -> None:
        req = provider_api_pb2.InitiateFileUploadRequest(ref=ref(path))
        if if_match:
            req.if_match = if_match
        if if_not_exist:
            req.if_not_exist = True
        if size is not None:
            req.opaque.CopyFrom(
                types_pb2.Opaque(
                    map={"Upload-Length": types_pb2.OpaqueEntry(decoder="plain", value=str(size).encode())}
                )
            )
        res: gateway_api_pb2.InitiateFileUploadResponse = await self.gateway.call(
            "InitiateFileUpload", req, idempotent=False, op="upload", path=path
        )
        proto = _pick(res.protocols, self.upload_protocol, "upload", path)
        token = await self.session.token()
        await self.data.upload(
            proto.upload_endpoint,  # type: ignore[attr-defined]
            transfer_token=proto.token,  # type: ignore[attr-defined]
            reva_token=token,
            body=body,
            size=size,
            path=path,
            protocol=proto.protocol,  # type: ignore[attr-defined]
        )

    async def _initiate_download(self, path: str) -> tuple[str, str, str]:
        """The data endpoint, transfer token and reva token for reading `path`.

        One place for InitiateFileDownload and the protocol choice, so that a whole download
        and a ranged one cannot come to ask reva differently.
        """
        res = await self.gateway.call(
            "InitiateFileDownload",
            provider_api_pb2.InitiateFileDownloadRequest(ref=ref(path)),
            idempotent=True,
            op="download",
            path=path,
        )
        proto = _pick(res.protocols, "simple", "download", path)
        token = await self.session.token()
        return proto.download_endpoint, proto.token, token  # type: ignore[attr-defined]

    @asynccontextmanager
    async def download(self, path: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """`async with storage.download(p) as chunks:` streams the file's bytes."""
        endpoint, transfer_token, token = await self._initiate_download(path)
        async with self.data.download(
            endpoint, transfer_token=transfer_token, reva_token=token, path=path
        ) as chunks:
            yield chunks

    @asynccontextmanager
    async def download_range(
        self, path: str, start: int, end: int
    ) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        """`async with storage.download_range(p, start, end) as (status, chunks):` bytes
        [start, end) where the storage serves ranges; see DataGateway.download_range for
        what `status` says when it does not."""
        endpoint, transfer_token, token = await self._initiate_download(path)
        async with self.data.download_range(
            endpoint, transfer_token=transfer_token, reva_token=token, path=path, start=start, end=end
        ) as answer:
            yield answer

    async def copy_file(
        self, src: str, dst: str, *, size: int | None = None, if_not_exist: bool = False
    ) -> None:
        """Copy a file through this process, streamed: CS3 has no server-side copy.

        `size` saves a Stat when the caller has just looked at the source.
        """
        if size is None:
            size = (await self.stat(src)).size
        async with self.download(src) as chunks:
            await self.upload(dst, chunks, size=size, if_not_exist=if_not_exist)

    async def read(self, path: str, size: int | None = None) -> bytes | bytearray:
        """A whole (small) file: notebooks and text the browser opens.

        With the size known (the caller has just looked), the bytes land in one buffer
        allocated up front, instead of a list of chunks joined into a second copy.
        """
        if size is None:
            parts = []
            async with self.download(path) as chunks:
                async for chunk in chunks:
                    parts.append(chunk)
            return b"".join(parts)
        buffer = bytearray(size)
        view = memoryview(buffer)
        filled = 0
        async with self.download(path) as chunks:
            async for chunk in chunks:
                end = filled + len(chunk)
                if end > size:
                    # The file grew since it was looked at: keep what arrives.
                    view.release()
                    buffer[filled:] = chunk
                    view = memoryview(buffer)
                else:
                    view[filled:end] = chunk
                filled = end
        view.release()
        if filled < size:
            del buffer[filled:]
        return buffer


__all__ = ["CONTAINER", "FILE", "CS3Storage", "ResourceInfo"]
