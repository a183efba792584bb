"""`/files/<path>`: raw file downloads streamed from CS3, never read from the local disk.

jupyter_server's generic FilesHandler reads the whole file into a contents model (base64 for
binaries) before writing it; for a storage service that means the server's memory holds
every downloaded file. This handler streams chunk by chunk instead.
"""

from __future__ import annotations

import mimetypes
from asyncio import Future

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from .cs3 import errors
from .manager import CS3FileContentsManager, http_errors

AUTH_RESOURCE = "contents"
# Bytes of a download held in the server while the client is slower than the storage.
BUFFER = 4 * 1024 * 1024


class CS3FilesHandler(JupyterHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def content_security_policy(self) -> str:
        return super().content_security_policy + "; sandbox allow-scripts"

    def _content_type(self, name: str) -> str:
        if name.lower().endswith(".ipynb"):
            return "application/x-ipynb+json"
        mime, encoding = mimetypes.guess_type(name)
        if encoding == "gzip":
            return "application/gzip"
        if encoding is not None or mime is None:
            return "application/octet-stream"
        if mime.startswith("text/"):
            return f"{mime}; charset=UTF-8"
        return mime

    @web.authenticated
    @authorized
    async def head(self, path: str) -> None:
        await self.get(path, include_body=False)

    @web.authenticated
    @authorized
    async def get(self, path: str, include_body: bool = True) -> None:
        cm = self.contents_manager
        if not isinstance(cm, CS3FileContentsManager):
            raise web.HTTPError(500, "CS3FilesHandler needs a CS3FileContentsManager")
        path = path.strip("/")
        if not cm.allow_hidden and await cm.is_hidden(path):
            raise web.HTTPError(404)
        model = await cm.get(path, type="file", content=False)
        name = model["name"]
        if self.get_argument("download", None):
            self.set_attachment_header(name)
        self.set_header("Content-Type", self._content_type(name))
        self.set_header("Content-Length", str(model["size"]))
        self.set_header("Last-Modified", model["last_modified"])
        if not include_body:
            return
        with http_errors(path):
            async with cm.storage.download(await cm.cs3_path(path)) as chunks:
                try:
                    # One flush in flight (tornado allows no more): pieces read from the
                    # storage meanwhile gather in the handler's buffer and go out together
                    # with the next flush, up to BUFFER bytes before waiting for the client.
                    sending: Future[None] | None = None
                    buffered = 0
                    async for chunk in chunks:
                        self.write(chunk)
                        buffered += len(chunk)
                        if sending is not None and not sending.done() and buffered < BUFFER:
                            continue
                        if sending is not None:
                            await sending
                        sending = self.flush()
                        buffered = 0
                    if sending is not None:
                        await sending
                    await self.flush()
                except errors.CS3Error:
                    # Headers are gone already: cut the connection so the client sees a
                    # truncated transfer rather than a complete-looking file.
                    self.log.warning("Download of %s interrupted by the storage", path)
                    if self.request.connection is not None:
                        self.request.connection.close()  # type: ignore[attr-defined]
                    return
