"""What probes see: a ready file and a tiny HTTP server with /ready and /health.

The notebook server must not start before the token file exists (its first storage call
would fail), so a Kubernetes startupProbe, or the local spawner, waits for readiness:
either the ready file (`test -f`) or GET /ready. GET /health tells a liveness probe that
the refresh loop is still running. Neither ever says anything about the token but when it
expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 5.0
MAX_REQUEST_HEAD = 16 * 1024


@dataclass
class Status:
    """The refresher's state, shared with the probes."""

    ready: bool = False  # a token has been written by this process
    running: bool = False  # the refresh loop is running
    state: str = "starting"
    expires_at: float | None = None


class ReadyFile:
    """An empty file that exists once the first token is written."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def clear(self) -> bool:
        """Remove a ready file a previous run left, so readiness means "written by this run"."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return False
        return True

    def touch(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        os.close(fd)


class HealthServer:
    """GET /ready and GET /health over plain HTTP/1.1, one request per connection."""

    def __init__(self, status: Status) -> None:
        self.status = status
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._handle, host, port, limit=MAX_REQUEST_HEAD)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def answer(self, method: str, target: str) -> tuple[HTTPStatus, dict[str, object]]:
        """The status and JSON body for one request."""
        if method not in ("GET", "HEAD"):
            return HTTPStatus.METHOD_NOT_ALLOWED, {"error": "only GET and HEAD"}
        path = urlsplit(target).path
        status = self.status
        if path == "/ready":
            code = HTTPStatus.OK if status.ready else HTTPStatus.SERVICE_UNAVAILABLE
            return code, {"ready": status.ready, "state": status.state, "expires_at": status.expires_at}
        if path == "/health":
            code = HTTPStatus.OK if status.running else HTTPStatus.SERVICE_UNAVAILABLE
            return code, {"running": status.running, "state": status.state}
        return HTTPStatus.NOT_FOUND, {"error": "try /ready or /health"}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(parts) == 3:
                method, target = parts[0], parts[1]
                code, body = self.answer(method, target)
            else:
                method, code, body = "GET", HTTPStatus.BAD_REQUEST, {"error": "bad request line"}
            payload = json.dumps(body).encode() + b"\n"
            writer.write(
                f"HTTP/1.1 {code.value} {code.phrase}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\n"
                "Cache-Control: no-store\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                writer.write(payload)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
