"""Jupyter contents managers whose files live in a CS3 storage (reva).

`CS3FileManagerMixin` holds the configuration (the names sites already use) and the
connection; `CS3FileContentsManager` implements jupyter_server's contents semantics on top
of the narrow filesystem in `cs3.storage`; `CS3LargeFileManager` adds chunked uploads.
"""

from __future__ import annotations

import binascii
import errno
import fnmatch
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import nbformat
import pybase64
from jupyter_server.services.contents.manager import AsyncContentsManager
from tornado.web import HTTPError
from traitlets import Bool, Enum, Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from . import models
from .cs3 import errors
from .cs3.auth import SecretFile
from .cs3.client import ChannelSettings
from .cs3.storage import CS3Storage
from .locks import LockCheck
from .paths import expand_root, is_hidden_path, split_api_path, to_api_path, to_cs3_path
from .uploads import Spool, UploadSpools

MiB = 1024 * 1024
CONTENTS_API = "cs3_contents_manager.contents_api"
# Routes the server loads ahead of its own: the strict contents API, /metrics readable by a hub
# scrape token (metrics_api), and shares and quota on the same storage session (sharing_api).
SERVER_APIS = (CONTENTS_API, "cs3_contents_manager.metrics_api", "cs3_contents_manager.sharing_api")
COPY_PATTERN = re.compile(r"\-Copy\d*\.")


@lru_cache(maxsize=8)
def _hidden_names(globs: tuple[str, ...]) -> re.Pattern[str] | None:
    """All of hide_globs as one regular expression: a listing of thousands of entries would
    otherwise run every glob against every name."""
    if not globs:
        return None
    return re.compile("|".join(fnmatch.translate(glob) for glob in globs))


@contextmanager
def http_errors(api_path: str) -> Iterator[None]:
    """Report a storage failure with the status and the path the user knows."""
    try:
        yield
    except errors.CS3Error as err:
        message = f"{err.reason}: {api_path}" if api_path else err.reason
        raise HTTPError(err.http_status, message) from None


class CS3FileManagerMixin(LoggingConfigurable):
    """Where the storage is and how to log in; shared by the contents manager and checkpoints."""

    host = Unicode("localhost:19000", config=True, help="reva gateway address (host:port).")
    ssl_enabled = Bool(False, config=True, help="Use TLS to the gateway, verifying its certificate.")
    ssl_ca_file = Unicode(
        "", config=True, help="CA bundle for the gateway's certificate (default: the system's)."
    )
    tus_enabled = Bool(False, config=True, help="Upload with the TUS protocol instead of a simple PUT.")
    token_path = Unicode(
        "",
        config=True,
        help="File holding the secret: the OAuth access token (bearer) or the password (basic). "
        "Re-read whenever it changes.",
    )
    auth_login_type = Enum(["bearer", "basic"], "bearer", config=True, help="How to authenticate to reva.")
    client_id = Unicode(config=True, help="User name sent to reva (default: $JUPYTERHUB_USER, then $USER).")
    client_secret = Unicode(
        "", config=True, help="Password for basic login when token_path is not set (local use only)."
    )
    authtokenvalidity = Integer(
        3600, config=True, help="Seconds a reva token is used before logging in again, at most."
    )
    lock_not_impl = Bool(
        False,
        config=True,
        help="The storage keeps no CS3 locks: do not ask it (GetLock) before changing a file.",
    )
    lock_as_attr = Bool(
        False,
        config=True,
        help="Also honour advisory locks kept in the file's 'cs3client.advlock' attribute, "
        "for storages without CS3 locks (as cs3-jupyter servers write them).",
    )
    root_path = Unicode(
        "",
        config=True,
        help="CS3 folder shown as the Jupyter root. May use {username}, e.g. "
        "/eos/user/{username[0]}/{username}. Empty: the user's home as reva reports it.",
    )
    call_timeout = Float(30.0, config=True, help="Deadline in seconds for each CS3 call.")
    list_timeout = Float(
        120.0,
        config=True,
        help="Deadline in seconds for listing one folder: folders of many thousand entries "
        "take longer than a single call_timeout. Never shorter than call_timeout.",
    )

    @default("client_id")
    def _default_client_id(self) -> str:
        return os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER", "")

    _storage: CS3Storage | None = None
    _root: str | None = None

    @property
    def storage(self) -> CS3Storage:
        if self._storage is None:
            secret: SecretFile | str
            if self.token_path:
                secret = SecretFile(self.token_path)
            elif self.client_secret:
                secret = self.client_secret
            else:
                raise HTTPError(500, "CS3 storage is not configured: set token_path (or client_secret)")
            self._storage = CS3Storage(
                ChannelSettings(
                    host=self.host,
                    ssl_enabled=self.ssl_enabled,
                    ca_file=self.ssl_ca_file or None,
                    call_timeout=self.call_timeout,
                    list_timeout=max(self.list_timeout, self.call_timeout),
                ),
                login_type=self.auth_login_type,
                client_id=self.client_id,
                secret=secret,
                token_validity=self.authtokenvalidity,
                tus_enabled=self.tus_enabled,
            )
        return self._storage

    async def cs3_root(self) -> str:
        if self._root is None:
            root = expand_root(self.root_path, self.client_id)
            if not root:
                with http_errors(""):
                    root = await self.storage.root()
            self._root = root
        return self._root

    async def cs3_path(self, api_path: str) -> str:
        return to_cs3_path(await self.cs3_root(), api_path)


class CS3FileContentsManager(CS3FileManagerMixin, AsyncContentsManager):
    """The Jupyter contents API served from a CS3 storage."""

    max_copy_folder_size_mb = Integer(500, config=True, help="Largest folder copied, in MiB.")
    hash_algorithm = Enum(
        sorted(hashlib.algorithms_guaranteed),
        "sha256",
        config=True,
        help="Hash returned with `hash=1` (computed while streaming the file).",
    )
    max_open_file_size_mb = Integer(
        100,
        config=True,
        help="Largest file opened in the browser, in MiB; larger files answer 413 and can be "
        "downloaded instead. 0: no limit.",
    )
    max_upload_size_mb = Integer(0, config=True, help="Largest file saved or uploaded, in MiB. 0: no limit.")
    always_delete_dir = Bool(
        False, config=True, help="Delete non-empty folders even when delete_to_trash is off."
    )
    delete_to_trash = Bool(
        True,
        config=True,
        help="Allow deleting non-empty folders, since reva moves them to the storage's recycle "
        "bin. Off: such deletes are refused unless always_delete_dir is set.",
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._register_contents_api()
        self._serve_kernels()

    def _serve_kernels(self) -> None:
        """Inside a Jupyter server, give its kernels `cs3://` with this manager's storage,
        login and root (cs3fs.kernels), so notebooks read their files with no setup."""
        server = self.parent
        if server is None or not server.has_trait("session_manager_class"):
            return
        from .cs3fs.kernels import install

        install(self)

    def _register_contents_api(self) -> None:
        """Have the server load our routes (SERVER_APIS) ahead of its own: the server reads
        `extra_services` after creating its contents manager, so a site's configuration needs
        nothing more than this manager's class name."""
        server = self.parent
        services = getattr(server, "extra_services", None)
        if server is not None and services is not None:
            server.extra_services = [*services, *(api for api in SERVER_APIS if api not in services)]

    # -- locks held by other applications --------------------------------------------------

    _lock_check: LockCheck | None = None

    @property
    def lock_check(self) -> LockCheck:
        if self._lock_check is None:
            self._lock_check = LockCheck(
                self.storage, native=not self.lock_not_impl, as_attr=self.lock_as_attr, log=self.log
            )
        return self._lock_check

    async def refuse_locked(self, api_path: str, action: str) -> None:
        """423 when another application holds a lock on the file: it must not change under it."""
        if not self.lock_check.enabled:
            return
        with http_errors(api_path):
            holder = await self.lock_check.holder(await self.cs3_path(api_path))
        if holder is not None:
            raise HTTPError(
                423,
                f"{api_path} was not {action}: it is locked by {holder.describe()}. "
                "Try again once the file is closed in that application",
            )

    @default("checkpoints_class")
    def _checkpoints_class_default(self) -> type:
        from .checkpoints import CS3FileCheckpoints

        return CS3FileCheckpoints

    @default("files_handler_class")
    def _files_handler_class_default(self) -> type:
        from .handlers import CS3FilesHandler

        return CS3FilesHandler

    @default("files_handler_params")
    def _files_handler_params_default(self) -> dict[str, Any]:
        return {}

    # -- lookups ---------------------------------------------------------------------------

    def should_list(self, name: str) -> bool:
        hidden = _hidden_names(tuple(self.hide_globs))
        return hidden is None or hidden.match(name) is None

    async def _stat(self, path: str) -> Any | None:
        """The info at `path`, None where nothing is (also below a file: see
        CS3Storage.stat_below)."""
        cs3_path = await self.cs3_path(path)
        try:
            return await self.storage.stat_below(cs3_path, await self.cs3_root(), include_top=False)
        except errors.NotFound:
            return None

    async def dir_exists(self, path: str) -> bool:
        """Also what keeps a file from replacing a folder (new) and names a write's missing
        folder (_refuse_missing_parent): see CS3Storage.is_folder."""
        path = path.strip("/")
        with http_errors(path):
            cs3_path = await self.cs3_path(path)
            return bool(await self.storage.is_folder(cs3_path, strict=True, top=await self.cs3_root()))

    async def file_exists(self, path: str) -> bool:
        path = path.strip("/")
        with http_errors(path):
            info = await self._stat(path)
        return info is not None and not models.is_dir(info)

    async def exists(self, path: str) -> bool:
        path = path.strip("/")
        with http_errors(path):
            return await self._stat(path) is not None

    async def is_hidden(self, path: str) -> bool:
        split_api_path(path)
        return is_hidden_path(path)

    def _refuse_hidden(self, path: str, status: int = 404, what: str = "No such file or directory") -> None:
        if not self.allow_hidden and is_hidden_path(path):
            self.log.info("Refusing to serve hidden file or directory %r", path)
            raise HTTPError(status, f"{what}: {path}")

    # -- get -------------------------------------------------------------------------------

    async def get(
        self,
        path: str,
        content: bool = True,
        type: str | None = None,
        format: str | None = None,
        require_hash: bool = False,
    ) -> dict[str, Any]:
        path = path.strip("/")
        split_api_path(path)
        self._refuse_hidden(path)
        with http_errors(path):
            info = await self._stat(path)
        if info is None:
            raise HTTPError(404, f"No such file or directory: {path}")
        if models.is_dir(info):
            if type not in (None, "directory"):
                raise HTTPError(400, f"{path} is a directory, not a {type}", reason="bad type")
            model = await self._dir_model(path, info, content)
        else:
            if type == "directory":
                raise HTTPError(400, f"{path} is not a directory", reason="bad type")
            kind = models.kind_of(path, info, type)
            model = await self._file_model(path, info, kind, content, format, require_hash)
        self.emit(data={"action": "get", "path": path})
        return model

    async def _dir_model(self, path: str, info: Any, content: bool) -> dict[str, Any]:
        model = models.base_model(path, info, "directory", self.log)
        if not content:
            return model
        root = await self.cs3_root()
        with http_errors(path):
            entries = await self.storage.list(await self.cs3_path(path))
        listing = []
        for entry in entries:
            name = entry.path.rsplit("/", 1)[-1]
            if not self.should_list(name) or (not self.allow_hidden and name.startswith(".")):
                continue
            if entry.type not in (models.CONTAINER, models.resources_pb2.RESOURCE_TYPE_FILE):
                continue
            child = to_api_path(root, entry.path)
            listing.append(models.base_model(child, entry, models.kind_of(child, entry), self.log))
        model["content"] = listing
        model["format"] = "json"
        return model

    def _check_open_size(self, path: str, size: int) -> None:
        limit = self.max_open_file_size_mb * MiB
        if limit and size > limit:
            raise HTTPError(
                413,
                f"{path} is {size / MiB:.1f} MiB, larger than the {self.max_open_file_size_mb} MiB "
                "that can be opened in the browser; download it instead",
            )

    async def _read_bytes(self, path: str, size: int | None = None) -> bytes | bytearray:
        with http_errors(path):
            return await self.storage.read(await self.cs3_path(path), size)

    async def _hash_of(self, path: str) -> str:
        digest = hashlib.new(self.hash_algorithm)
        with http_errors(path):
            async with self.storage.download(await self.cs3_path(path)) as chunks:
                async for chunk in chunks:
                    digest.update(chunk)
        return digest.hexdigest()

    async def _file_model(
        self, path: str, info: Any, kind: str, content: bool, format: str | None, require_hash: bool
    ) -> dict[str, Any]:
        model = models.base_model(path, info, kind, self.log)
        data: bytes | None = None
        if content:
            self._check_open_size(path, int(info.size))
            data = await self._read_bytes(path, int(info.size))
            if kind == "notebook":
                self._fill_notebook(model, path, data)
            else:
                self._fill_file(model, path, data, format)
        if require_hash:
            digest = hashlib.new(self.hash_algorithm, data).hexdigest() if data is not None else None
            model.update(hash=digest or await self._hash_of(path), hash_algorithm=self.hash_algorithm)
        return model

    def _fill_notebook(self, model: dict[str, Any], path: str, data: bytes) -> None:
        validation_error: dict[str, Any] = {}
        try:
            nb = nbformat.reads(data.decode("utf8"), as_version=4, capture_validation_error=validation_error)
        except Exception as e:
            raise HTTPError(400, f"Unreadable Notebook: {path} {e!r}") from e
        self.mark_trusted_cells(nb, path)
        model["content"] = nb
        model["format"] = "json"
        self.validate_notebook_model(model, validation_error)

    def _fill_file(self, model: dict[str, Any], path: str, data: bytes, format: str | None) -> None:
        if format not in (None, "text", "base64"):
            raise HTTPError(400, f"Format {format!r} is not one of 'text' or 'base64'", reason="bad format")
        if format in (None, "text"):
            try:
                model["content"] = data.decode("utf8")
                model["format"] = "text"
            except UnicodeError as e:
                if format == "text":
                    raise HTTPError(400, f"{path} is not UTF-8 encoded", reason="bad format") from e
        if model["content"] is None:
            model["content"] = pybase64.b64encode_as_string(data)
            model["format"] = "base64"
        if model["mimetype"] is None:
            model["mimetype"] = {"text": "text/plain", "base64": "application/octet-stream"}[model["format"]]

    # -- save ------------------------------------------------------------------------------

    def _check_upload_size(self, path: str, size: int) -> None:
        limit = self.max_upload_size_mb * MiB
        if limit and size > limit:
            raise HTTPError(
                413, f"{path} is {size / MiB:.1f} MiB, larger than the {self.max_upload_size_mb} MiB allowed"
            )

    @staticmethod
    def _decode_content(path: str, content: Any, format: str | None) -> bytes:
        if not isinstance(content, str):
            raise HTTPError(400, f"The content of {path} must be a string")
        if format == "text" or format is None:
            try:
                return content.encode("utf8")
            except UnicodeEncodeError as e:
                # JSON can carry lone surrogates ("\udc80"), which no UTF-8 file can hold.
                raise HTTPError(400, f"The content of {path} is not valid Unicode text ({e.reason})") from e
        if format == "base64":
            # Chunked uploads are base64 throughout: decoding is most of a large upload's
            # work. The strict decoder is several times faster; content with line breaks
            # (as Python's encodebytes writes it) takes the lenient path, as before.
            try:
                return pybase64.b64decode(content, validate=True)
            except (binascii.Error, ValueError):
                pass
            try:
                return pybase64.b64decode(content, validate=False)
            except (binascii.Error, ValueError) as e:
                raise HTTPError(400, f"Encoding error saving {path}: {e}") from e
        raise HTTPError(400, "Must specify format of file contents as 'text' or 'base64'")

    async def _upload(self, path: str, data: bytes) -> None:
        self._check_upload_size(path, len(data))
        await self.refuse_locked(path, "saved")
        with http_errors(path):
            await self.storage.upload(await self.cs3_path(path), data, size=len(data))

    async def _save_directory(self, path: str) -> None:
        if not self.allow_hidden and is_hidden_path(path):
            raise HTTPError(400, f"Cannot create hidden directory {path!r}")
        with http_errors(path):
            info = await self._stat(path)
            if info is None:
                await self.storage.mkdir(await self.cs3_path(path))
            elif not models.is_dir(info):
                raise HTTPError(400, f"Not a directory: {path}")

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        path = path.strip("/")
        if not path:
            raise HTTPError(400, "Can't save the root directory")
        split_api_path(path)
        if not isinstance(model, dict):
            raise HTTPError(400, "The model must be a JSON object")
        self.run_pre_save_hooks(model=model, path=path)
        if "type" not in model:
            raise HTTPError(400, "No file type provided")
        if "content" not in model and model["type"] != "directory":
            raise HTTPError(400, "No file content provided")
        validation_error: dict[str, Any] = {}
        kind = model["type"]
        if kind == "notebook":
            try:
                nb = nbformat.from_dict(model["content"])
            except Exception as e:
                raise HTTPError(400, f"Invalid notebook content for {path}: {e}") from e
            for key in ("nbformat", "nbformat_minor"):
                # nbformat checks these with `assert`: say what is wrong instead.
                version = nb.get(key) if isinstance(nb, dict) else None
                if not isinstance(version, int) or isinstance(version, bool):
                    raise HTTPError(400, f"Invalid notebook content for {path}: '{key}' must be an integer")
            try:
                self.check_and_sign(nb, path)
                text = nbformat.writes(
                    nb, version=nbformat.NO_CONVERT, capture_validation_error=validation_error
                )
            except (
                AssertionError,
                AttributeError,
                KeyError,
                TypeError,
                ValueError,
                ImportError,
                RecursionError,
            ) as e:
                # Not a notebook nbformat can write (no object, no or an unknown nbformat
                # version, cells without their fields, text that is not Unicode): the request
                # is at fault, so the user gets a 400 naming the problem, not a server error.
                self.log.info("Refusing invalid notebook %s: %r", path, e)
                raise HTTPError(400, f"Invalid notebook content for {path}: {e!r}") from e
            except Exception as e:
                self.log.exception("Error while saving file: %s", path)
                raise HTTPError(500, f"Unexpected error while saving file: {path} {e}") from e
            await self._upload(path, text.encode("utf8"))
            if not await self.checkpoints.list_checkpoints(path):
                await self.create_checkpoint(path)
        elif kind == "file":
            await self._upload(path, self._decode_content(path, model["content"], model.get("format")))
        elif kind == "directory":
            await self._save_directory(path)
        else:
            raise HTTPError(400, f"Unhandled contents type: {kind}")

        validation_message = None
        if kind == "notebook":
            self.validate_notebook_model(model, validation_error=validation_error)
            validation_message = model.get("message")
        saved = await self.get(path, content=False)
        if validation_message:
            saved["message"] = validation_message
        self.run_post_save_hooks(model=saved, os_path=await self.cs3_path(path))
        self.emit(data={"action": "save", "path": path})
        return saved

    # -- request validation ----------------------------------------------------------------

    async def new(self, model: dict[str, Any] | None = None, path: str = "") -> dict[str, Any]:
        """Refuse to put a file where a folder is: a reva upload replaces the folder, and
        everything in it is gone (jupyter_server's PUT lands here whenever no *file* exists)."""
        kind = model.get("type") if isinstance(model, dict) else None
        clean = path.strip("/") if isinstance(path, str) else path
        if kind != "directory" and clean and await self.dir_exists(clean):
            raise HTTPError(400, f"{clean} is a directory; a file cannot replace it")
        try:
            return await super().new(model, path)
        except HTTPError as err:
            await self._refuse_missing_parent(err, clean)
            raise

    async def _refuse_missing_parent(self, err: HTTPError, path: str) -> None:
        """reva's local drivers fail with INTERNAL when a write's folder is missing or is a
        file; once a write has failed so, say which folder is missing (404)."""
        parent = path.rpartition("/")[0]
        if err.status_code >= 500 and parent and not await self.dir_exists(parent):
            raise HTTPError(404, f"No such directory: {parent}") from None

    async def new_untitled(self, path: str = "", type: str = "", ext: str = "") -> dict[str, Any]:
        if not isinstance(ext, str):
            raise HTTPError(400, f"The extension must be a string, not {ext!r}")
        return await super().new_untitled(path=path, type=type, ext=ext)

    async def update(self, model: dict[str, Any], path: str) -> dict[str, Any]:
        new_path = model.get("path", path) if isinstance(model, dict) else None
        if not isinstance(new_path, str):
            raise HTTPError(400, f"The new path must be a string, not {new_path!r}")
        try:
            return await super().update(model, path)
        except HTTPError as err:
            await self._refuse_missing_parent(err, new_path.strip("/"))
            raise

    async def restore_checkpoint(self, checkpoint_id: str, path: str) -> None:
        await self.refuse_locked(path.strip("/"), "restored")
        await super().restore_checkpoint(checkpoint_id, path)

    # -- delete, rename, copy --------------------------------------------------------------

    async def delete_file(self, path: str) -> None:
        """Delete a file or folder; reva moves it to the storage's recycle bin.

        That recycle bin is the trash of jupyter_server's semantics: with `delete_to_trash`
        (the default) non-empty folders are deleted; without it, a folder that holds more
        than checkpoints is deleted only when `always_delete_dir` is set.
        """
        path = path.strip("/")
        split_api_path(path)
        if not self.allow_hidden and is_hidden_path(path):
            raise HTTPError(400, f"Cannot delete file or directory {path!r}")
        with http_errors(path):
            info = await self._stat(path)
            if info is None:
                raise HTTPError(404, f"File or directory does not exist: {path}")
            target = await self.cs3_path(path)
            if not models.is_dir(info):
                await self.refuse_locked(path, "deleted")
            if models.is_dir(info) and not (self.delete_to_trash or self.always_delete_dir):
                entries = await self.storage.list(target)
                if any(e.path.rsplit("/", 1)[-1] != ".ipynb_checkpoints" for e in entries):
                    raise HTTPError(400, f"Directory {path} not empty")
            await self.storage.delete(target)

    async def rename_file(self, old_path: str, new_path: str) -> None:
        old_path = old_path.strip("/")
        new_path = new_path.strip("/")
        if old_path == new_path:
            return
        split_api_path(old_path)
        if not split_api_path(new_path):
            raise HTTPError(400, "Cannot rename to the root directory")
        if not self.allow_hidden and (is_hidden_path(old_path) or is_hidden_path(new_path)):
            raise HTTPError(400, f"Cannot rename file or directory {old_path!r}")
        with http_errors(old_path):
            if await self._stat(new_path) is not None:
                raise HTTPError(409, f"File already exists: {new_path}")
            if new_path.startswith(old_path + "/"):
                raise HTTPError(400, f"Cannot move {old_path} into itself")
            await self.refuse_locked(old_path, "renamed")
            try:
                await self.storage.move(await self.cs3_path(old_path), await self.cs3_path(new_path))
            except errors.CS3Error:
                # Storages differ in how they report a missing source (reva's local drivers
                # answer INTERNAL): look, but only once the move has failed.
                if await self._stat(old_path) is None:
                    raise HTTPError(404, f"File or directory does not exist: {old_path}") from None
                raise

    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        """Copy a file or a folder, streaming each file once through this server.

        As in jupyter_server: a file copied into an existing folder gets a `-Copy<n>` name,
        otherwise `to_path` is its new path; a folder is copied to `<to_path>/<name>` (numbered
        when that exists), creating `to_path` if needed.
        """
        path = from_path.strip("/")
        split_api_path(path)
        self._refuse_hidden(path)
        from_dir, _, from_name = path.rpartition("/")
        with http_errors(path):
            info = await self._stat(path)
        if info is None:
            raise HTTPError(404, f"No such file or directory: {path}")
        destination = from_dir if to_path is None else to_path.strip("/")
        split_api_path(destination)
        if models.is_dir(info):
            target = await self._copy_folder(path, destination, from_name)
        else:
            target = await self._copy_one_file(path, info, destination, from_name, to_path is None)
        model = await self.get(target, content=False)
        self.emit(data={"action": "copy", "path": target, "source_path": from_path})
        return model

    async def _copy_one_file(
        self, path: str, info: Any, destination: str, from_name: str, implicit: bool
    ) -> str:
        if await self.dir_exists(destination):
            name = COPY_PATTERN.sub(".", from_name)
            to_name = await self.increment_filename(name, destination, insert="-Copy")
            target = f"{destination}/{to_name}".strip("/")
        elif implicit:
            raise HTTPError(404, f"No such directory: {destination}")
        else:
            parent = destination.rpartition("/")[0]
            if not await self.dir_exists(parent):
                raise HTTPError(404, f"No such parent directory: {parent} to copy file in")
            target = destination
            await self.refuse_locked(target, "replaced")
        self._check_upload_size(target, int(info.size))
        with http_errors(path):
            await self.storage.copy_file(
                await self.cs3_path(path), await self.cs3_path(target), size=int(info.size)
            )
        return target

    async def _copy_folder(self, path: str, destination: str, from_name: str) -> str:
        await self.check_folder_size(path)
        to_name = COPY_PATTERN.sub(".", from_name)
        if await self.dir_exists(destination):
            to_name = await self.increment_filename(to_name, destination, insert="-Copy")
        target = f"{destination}/{to_name}".strip("/")
        if target == path or target.startswith(path + "/"):
            raise HTTPError(400, f"Can't copy the folder {path} into itself")
        with http_errors(destination):
            folder = ""
            for part in split_api_path(destination):
                folder = f"{folder}/{part}".strip("/")
                await self.storage.ensure_folder(await self.cs3_path(folder))
        await self._copy_tree(path, target)
        return target

    async def _copy_tree(self, src: str, dst: str) -> None:
        with http_errors(src):
            root = await self.cs3_root()
            await self.storage.mkdir(await self.cs3_path(dst))
            for entry in await self.storage.list(await self.cs3_path(src)):
                child = to_api_path(root, entry.path)
                name = child.rsplit("/", 1)[-1]
                if models.is_dir(entry):
                    await self._copy_tree(child, f"{dst}/{name}")
                else:
                    target = await self.cs3_path(f"{dst}/{name}")
                    await self.storage.copy_file(entry.path, target, size=int(entry.size))

    async def check_folder_size(self, path: str) -> None:
        """Refuse (400) to copy a folder larger than max_copy_folder_size_mb."""
        limit = self.max_copy_folder_size_mb * MiB
        total = 0
        pending = [await self.cs3_path(path)]
        with http_errors(path):
            while pending:
                for entry in await self.storage.list(pending.pop()):
                    if models.is_dir(entry):
                        pending.append(entry.path)
                    else:
                        total += int(entry.size)
                if total > limit:
                    raise HTTPError(
                        400,
                        f"Can't copy folders larger than {self.max_copy_folder_size_mb}MB, "
                        f'"{path}" is more than {total / MiB:.1f} MB',
                    )

    async def get_kernel_path(self, path: str, model: Any = None) -> str:
        """Kernels run on the local disk: their working folder is the server's root."""
        return ""

    def info_string(self) -> str:
        return f"Serving contents from CS3 storage at {self.host}"


class CS3LargeFileManager(CS3FileContentsManager):
    """Adds chunked uploads: JupyterLab sends files over 15 MiB in 1 MiB chunks (1..n, -1).

    Chunks are spooled to a private local file (`uploads.UploadSpools`) and the whole file
    is uploaded to reva once the last chunk arrives, streamed from disk: memory stays flat
    whatever the size, and the stored file changes only when the upload is complete.
    """

    spool_dir = Unicode(
        "", config=True, help="Folder for chunked uploads in progress (default: a private temp folder)."
    )
    spool_timeout = Integer(3600, config=True, help="Seconds after which an abandoned upload is dropped.")
    spool_limit_mb = Integer(
        0,
        config=True,
        help="Local disk space, in MiB, that all chunked uploads in progress may take together; "
        "a chunk that would go beyond it answers 413. Keep it below the size of the scratch "
        "space spool_dir is on (in a pod, /tmp's emptyDir). 0: no limit but the disk's.",
    )

    _uploads: UploadSpools | None = None

    @property
    def uploads(self) -> UploadSpools:
        if self._uploads is None:
            self._uploads = UploadSpools(
                self.spool_dir, timeout=self.spool_timeout, limit=self.spool_limit_mb * MiB, log=self.log
            )
        return self._uploads

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        chunk = model.get("chunk") if isinstance(model, dict) else None
        if chunk is None:
            return await super().save(model, path)
        path = path.strip("/")
        split_api_path(path)
        if not path:
            raise HTTPError(400, "Can't save the root directory")
        if isinstance(chunk, bool) or not isinstance(chunk, int) or (chunk < 1 and chunk != -1):
            raise HTTPError(400, f"Invalid chunk number {chunk!r}: chunks count 1, 2, … and -1 for the last")
        if "type" not in model:
            raise HTTPError(400, "No file type provided")
        if model["type"] != "file":
            raise HTTPError(400, f'File type "{model.get("type")}" is not supported for large file transfer')
        if "content" not in model:
            raise HTTPError(400, "No file content provided")
        if not self.allow_hidden and is_hidden_path(path):
            raise HTTPError(400, f"Cannot create hidden file {path!r}")
        data = self._decode_content(path, model["content"], model.get("format"))
        if chunk == 1:
            # Say so before the user sends the rest of a large file; checked again at the end.
            # A new upload replaces any earlier one of this path, refused or not.
            self.uploads.close(path)
            await self.refuse_locked(path, "saved")
            self.run_pre_save_hooks(model=model, path=path)
        size = await self._append_chunk(path, chunk, data)
        if chunk != -1:
            return self._partial_model(path, size)
        saved = await self.get(path, content=False)
        self.run_post_save_hooks(model=saved, os_path=await self.cs3_path(path))
        self.emit(data={"action": "save", "path": path})
        return saved

    async def _append_chunk(self, path: str, chunk: int, data: bytes) -> int:
        """Chunk 1 starts the file; any other chunk is appended in arrival order, as in
        jupyter_server. An append with no upload in progress starts from the stored file.
        Returns the size received so far."""
        uploads = self.uploads
        uploads.drop_stale()
        spool = uploads.get(path)
        if chunk == 1 or spool is None:
            # save() has already ended any earlier upload of this path when chunk 1 came.
            if chunk != 1:
                await self.refuse_locked(path, "saved")
            self._refuse_no_room(path, len(data))
            spool = uploads.start(path)
            if chunk != 1:
                await self._spool_stored_file(path, spool)
        try:
            self._check_upload_size(path, spool.size + len(data))
            self._refuse_no_room(path, len(data))
        except HTTPError:
            uploads.close(path, spool)
            raise
        try:
            await spool.append(data)
        except OSError as e:
            # The server's own disk (spool_dir) failed: the upload cannot go on.
            uploads.close(path, spool)
            raise HTTPError(507 if e.errno == errno.ENOSPC else 500, f"Upload of {path} failed: {e}") from e
        if chunk == -1:
            await self._finish_upload(path, spool, len(data))
        return spool.size

    def _refuse_no_room(self, path: str, size: int) -> None:
        """413 when the uploads in progress would outgrow the scratch space they are given
        (in a pod, overflowing /tmp gets the pod evicted, kernels and all)."""
        if not self.uploads.room_for(size):
            raise HTTPError(
                413,
                f"{path} was not uploaded: the server's space for uploads in progress "
                f"({self.spool_limit_mb} MiB) is full. Wait until other uploads finish, "
                "or upload a smaller file",
            )

    async def _finish_upload(self, path: str, spool: Spool, last_chunk: int) -> None:
        """Send the spooled file to the storage in one stream.

        While it is in flight the upload is detached from its path, so chunks of a new
        upload of the same path start a spool of their own instead of touching this one;
        the storage then writes the two files one after the other, the newer last.
        """
        uploads = self.uploads
        uploads.detach(path, spool)
        try:
            await spool.flush()
            await self.refuse_locked(path, "saved")
            with http_errors(path):
                await self.storage.upload(await self.cs3_path(path), spool.read(), size=spool.size)
        except HTTPError:
            # Keep the chunks before this one, unless a newer upload of the path began: the
            # last chunk sent again then finishes this upload, instead of starting one from
            # the stored file and appending it.
            try:
                await spool.drop_last(last_chunk)
            except (OSError, ValueError):
                uploads.close(path, spool)
                raise
            if not uploads.reattach(path, spool):
                uploads.close(path, spool)
            raise
        except BaseException:
            uploads.close(path, spool)
            raise
        uploads.close(path, spool)

    async def _spool_stored_file(self, path: str, spool: Spool) -> None:
        with http_errors(path):
            info = await self._stat(path)
            if info is None:
                return
            if models.is_dir(info):
                self.uploads.close(path, spool)
                raise HTTPError(400, f"{path} is a directory")
            try:
                self._refuse_no_room(path, int(info.size))
            except HTTPError:
                self.uploads.close(path, spool)
                raise
            async with self.storage.download(await self.cs3_path(path)) as chunks:
                async for piece in chunks:
                    await spool.append(piece)

    def _partial_model(self, path: str, size: int) -> dict[str, Any]:
        """What an upload in progress looks like: the stored file is not touched until the end."""
        now = datetime.now(UTC)
        return {
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "type": "file",
            "last_modified": now,
            "created": now,
            "content": None,
            "format": None,
            "mimetype": None,
            "size": size,
            "writable": True,
            "hash": None,
            "hash_algorithm": None,
        }
