"""The HTTP side of CS3: bytes move between Jupyter and reva's data gateway, streamed.

reva hands out an endpoint and a transfer token per upload or download; the bytes then go
over plain HTTP. Nothing here holds a whole file in memory: uploads read from an async
iterator of chunks, downloads yield chunks as they arrive.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager

import httpx

from . import errors

log = logging.getLogger(__name__)

# What reva's data providers answer on success, by protocol: simple PUT answers 200 or 201,
# some drivers 204; a TUS PATCH answers 204.
UPLOAD_OK = {200, 201, 204}


class DataGateway:
    """Streams bytes to and from the endpoints reva returns for InitiateFileUpload/Download."""

    def __init__(self, *, verify: bool | str = True, timeout: float = 60.0) -> None:
        # No overall deadline for a transfer (a large file takes as long as it takes), but
        # connecting and every single read or write must make progress within `timeout`
        # (connecting within 10 s at most: a black-holed host never refuses).
        self._client = httpx.AsyncClient(
            verify=verify,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            trust_env=False,
            # Keep as many connections alive as a burst of concurrent opens uses (httpx keeps
            # 20), so the next burst does not pay for new connections.
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )

    async def close(self) -> None:
        await self._client.aclose()

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
        try:
            res = await self._client.request(method, endpoint, content=body, headers=headers)
        except httpx.TransportError as err:
            raise errors.unavailable("upload", path, err) from err
        if res.status_code not in UPLOAD_OK:
            raise errors.from_http(res.status_code, "upload", path, res.text)
        if protocol == "tus" and res.headers.get("Upload-Offset") != str(size):
            raise errors.CS3Error(
                f"Upload of {path} was cut short: the storage received "
                f"{res.headers.get('Upload-Offset')} of {size} bytes",
                path=path,
                reason="Upload incomplete",
            )

    @asynccontextmanager
    async def download(
        self, endpoint: str, *, transfer_token: str, reva_token: str, path: str
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """`async with gateway.download(...) as chunks: async for chunk in chunks: ...`"""
        headers = self._headers(transfer_token, reva_token)
        try:
            async with self._client.stream("GET", endpoint, headers=headers) as res:
                if res.status_code != 200:
                    body = (await res.aread()).decode(errors="replace")
                    raise errors.from_http(res.status_code, "download", path, body)
                yield _guarded(res.aiter_raw(), path)
        except httpx.TransportError as err:
            raise errors.unavailable("download", path, err) from err


async def _guarded(chunks: AsyncIterator[bytes], path: str) -> AsyncIterator[bytes]:
    """Turn a connection lost mid-download into Unavailable rather than a truncated file."""
    try:
        async for chunk in chunks:
            yield chunk
    except httpx.TransportError as err:
        raise errors.unavailable("download", path, err) from err
