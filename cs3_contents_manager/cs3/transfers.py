"""The HTTP side of CS3: bytes move between Jupyter and reva's data gateway, streamed.

reva hands out an endpoint and a transfer token per upload or download; the bytes then go
over plain HTTP(S). Nothing here holds a whole file in memory: uploads read from an async
iterator of chunks, downloads yield chunks as they arrive.

aiohttp carries the bytes: its C parser reads a response at about twice the speed of a
pure-Python HTTP stack, and on a single-user server every file opened or downloaded passes
through here.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from ..metrics import TRANSFER_BYTES
from . import errors

log = logging.getLogger(__name__)

# What reva's data providers answer on success, by protocol: simple PUT answers 200 or 201,
# some drivers 204; a TUS PATCH answers 204.
UPLOAD_OK = {200, 201, 204}

# The exceptions that mean "the data gateway could not be reached, or went away mid-way".
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, ConnectionError)

UPLOADED = TRANSFER_BYTES.labels("upload")
DOWNLOADED = TRANSFER_BYTES.labels("download")


class DataGateway:
    """Streams bytes to and from the endpoints reva returns for InitiateFileUpload/Download."""

    def __init__(self, *, verify: bool | str = True, timeout: float = 60.0) -> None:
        # No overall deadline for a transfer (a large file takes as long as it takes), but
        # connecting (within 10 s at most: a black-holed host never refuses) and every read
        # or write must make progress within `timeout`.
        self.verify = verify
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _ssl(self) -> ssl.SSLContext | bool:
        """Certificates are always verified; `verify` may name the CA bundle to trust."""
        if isinstance(self.verify, str):
            return ssl.create_default_context(cafile=self.verify)
        return bool(self.verify)

    def _client(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session binds to the running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ssl=self._ssl()),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=min(self.timeout, 10.0), sock_read=self.timeout
                ),
                trust_env=False,
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None

    @staticmethod
    def _headers(transfer_token: str, reva_token: str) -> dict[str, str]:
        headers = {"x-access-token": reva_token}
        if transfer_token:
            headers["X-Reva-Transfer"] = transfer_token
        return headers

    async def upload(
        self,
        endpoint: str,
        *,
        transfer_token: str,
        reva_token: str,
        body: AsyncIterable[bytes] | bytes,
        size: int | None,
        path: str,
        protocol: str = "simple",
    ) -> None:
        """PUT the bytes (simple protocol), or PATCH them from offset 0 (TUS: the upload's
        length was announced in InitiateFileUpload)."""
        headers = self._headers(transfer_token, reva_token)
        if size is not None:
            headers["Content-Length"] = str(size)
        method = "PUT"
        if protocol == "tus":
            if size is None:
                raise ValueError("a TUS upload needs the size up front")
            method = "PATCH"
            headers.update(
                {
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                }
            )
        else:
            headers["Content-Type"] = "application/octet-stream"
        watchdog = _Watchdog(self.timeout)
        pieces = _slices(body) if isinstance(body, bytes | bytearray) else body
        try:
            request = self._send(method, endpoint, watchdog.watch(pieces), headers, path)
            status, offset, text = await watchdog.run(request)
        except TRANSPORT_ERRORS as err:
            raise _transport_error("upload", path, err) from err
        if status not in UPLOAD_OK:
            raise errors.from_http(status, "upload", path, text)
        if protocol == "tus" and offset != str(size):
            raise errors.CS3Error(
                f"Upload of {path} was cut short: the storage received {offset} of {size} bytes",
                path=path,
                reason="Upload incomplete",
            )

    async def _send(
        self, method: str, endpoint: str, data: object, headers: dict[str, str], path: str
    ) -> tuple[int, str | None, str]:
        async with self._client().request(method, endpoint, data=data, headers=headers) as res:
            text = "" if res.status in UPLOAD_OK else await res.text(errors="replace")
            return res.status, res.headers.get("Upload-Offset"), text

    @asynccontextmanager
    async def download(
        self, endpoint: str, *, transfer_token: str, reva_token: str, path: str
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """`async with gateway.download(...) as chunks: async for chunk in chunks: ...`"""
        headers = self._headers(transfer_token, reva_token)
        try:
            async with self._client().get(endpoint, headers=headers) as res:
                if res.status != 200:
                    body = await res.text(errors="replace")
                    raise errors.from_http(res.status, "download", path, body)
                yield _guarded(res.content.iter_any(), path)
        except TRANSPORT_ERRORS as err:
            raise _transport_error("download", path, err) from err

    @asynccontextmanager
    async def download_range(
        self, endpoint: str, *, transfer_token: str, reva_token: str, path: str, start: int, end: int
    ) -> AsyncIterator[tuple[int, AsyncIterator[bytes]]]:
        """Bytes `start` to `end` (exclusive), for readers that seek (pyarrow, h5py).

        Yields `(206, chunks)` where the data server serves byte ranges (EOS), `(200, chunks)`
        of the whole file where it ignores the Range header, and `(416, chunks)` with no bytes
        where it refuses ranges altogether: reva's local drivers answer 416 to every Range
        request, even `bytes=0-`, so the caller has to fall back to reading from the start.
        """
        headers = self._headers(transfer_token, reva_token)
        headers["Range"] = f"bytes={start}-{end - 1}"
        try:
            async with self._client().get(endpoint, headers=headers) as res:
                if res.status not in (200, 206, 416):
                    body = await res.text(errors="replace")
                    raise errors.from_http(res.status, "download", path, body)
                yield res.status, _guarded(res.content.iter_any(), path)
        except TRANSPORT_ERRORS as err:
            raise _transport_error("download", path, err) from err


class _Watchdog:
    """Fails an upload whose body stops moving for `timeout` seconds.

    aiohttp's read timeout starts only once the whole body is sent; a data gateway that stops
    reading mid-upload (a black-holed host) would otherwise leave the save hanging forever.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.moved = time.monotonic()

    async def watch(self, body: AsyncIterable[bytes | memoryview]) -> AsyncIterator[bytes | memoryview]:
        async for chunk in body:
            self.moved = time.monotonic()
            yield chunk
            # aiohttp asks for the next chunk once it has written this one.
            UPLOADED.inc(chunk.nbytes if isinstance(chunk, memoryview) else len(chunk))
        self.moved = time.monotonic()

    async def run(self, request: object) -> tuple[int, str | None, str]:
        task = asyncio.ensure_future(request)  # type: ignore[arg-type]
        try:
            while True:
                left = self.moved + self.timeout - time.monotonic()
                done, _ = await asyncio.wait({task}, timeout=max(left, 0.05))
                if done:
                    return task.result()
                if time.monotonic() - self.moved >= self.timeout:
                    task.cancel()
                    raise TimeoutError(f"no upload progress for {self.timeout:g} s")
        finally:
            if not task.done():
                task.cancel()


async def _slices(data: bytes | bytearray, size: int = 1024 * 1024) -> AsyncIterator[memoryview]:
    """Bytes in memory, sent a slice at a time so the watchdog sees them move."""
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield view[start : start + size]


def _transport_error(op: str, path: str, err: BaseException) -> errors.CS3Error:
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        problem = getattr(err.certificate_error, "verify_message", None) or str(err.certificate_error)
        return errors.untrusted(op, path, problem)
    return errors.unavailable(op, path, err)


async def _guarded(chunks: AsyncIterator[bytes], path: str) -> AsyncIterator[bytes]:
    """Turn a connection lost mid-download into Unavailable rather than a truncated file."""
    try:
        async for chunk in chunks:
            DOWNLOADED.inc(len(chunk))
            yield chunk
    except TRANSPORT_ERRORS as err:
        raise errors.unavailable("download", path, err) from err
