"""CS3FileSystem: fsspec's async filesystem over the contents manager's CS3 access layer.

Paths (after `cs3://`):

- `~/a/b.csv`: below the user's root, the folder the Jupyter file browser shows at its top
  (the manager's `root_path`, else the user's home); `~` alone is the root itself. `/~/a/b.csv`
  is the same, and the form names come back in (see ROOT).
- `a/b.csv`, `../data/b.csv`: relative to the folder of the notebook whose kernel runs the
  code (`CS3FS_NOTEBOOK`, set by the server for each kernel), else to the root.
- `/eos/user/e/einstein/b.csv`: a CS3 path, as CERNBox shows it; it must lie below the root.

`..` is resolved lexically; a path that would climb above the root is refused with
PermissionError, and what remains goes through the manager's own rules (`paths.py`: no NUL,
no backslash, names and paths no longer than the storage allows). Names in listings and
`info` are in the `~/…` form, so they mean the same file whichever notebook uses them.

Nothing is cached between calls: a file saved from the browser, CERNBox or another kernel is
seen by the next call.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import posixpath
import tempfile
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from glob import has_magic
from typing import Any

from fsspec.asyn import AsyncFileSystem, sync
from tornado.web import HTTPError

from ..cs3 import errors
from ..cs3.auth import SecretFile
from ..cs3.client import ChannelSettings
from ..cs3.storage import CONTAINER, FILE, CS3Storage, ResourceInfo
from ..paths import expand_root, to_cs3_path
from .config import NOTEBOOK_ENV

log = logging.getLogger(__name__)

# The root in names: `~` as users write it, behind a slash because pyarrow (and pandas for
# parquet) expand a leading `~` to the local home directory in any path they are given.
ROOT = "/~"
MiB = 1024 * 1024
# Pieces read from local files for put and from spooled writes: large enough that the
# per-piece cost vanishes, small enough that memory stays flat.
PIECE = MiB

_OSERRORS: dict[type[errors.CS3Error], tuple[type[OSError], int]] = {
    errors.NotFound: (FileNotFoundError, errno.ENOENT),
    errors.PermissionDenied: (PermissionError, errno.EACCES),
    errors.SessionExpired: (PermissionError, errno.EACCES),
    errors.TokenRejected: (PermissionError, errno.EACCES),
    errors.AlreadyExists: (FileExistsError, errno.EEXIST),
    errors.Locked: (PermissionError, errno.EBUSY),
    errors.InsufficientStorage: (OSError, errno.ENOSPC),
    errors.Unavailable: (ConnectionError, errno.EHOSTUNREACH),
    errors.InvalidArgument: (OSError, errno.EINVAL),
    errors.PreconditionFailed: (OSError, errno.ESTALE),
    errors.Unsupported: (OSError, errno.EOPNOTSUPP),
}


def oserror(err: errors.CS3Error, name: str) -> OSError:
    """The Python exception a user of a local file would get, naming the path they gave."""
    cls, code = _OSERRORS.get(type(err), (OSError, errno.EIO))
    return cls(code, err.reason, f"cs3://{name}")


def _flag(value: Any) -> bool:
    """A boolean setting, also from `FSSPEC_CS3_<NAME>` variables, which fsspec passes as text."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _normalize(parts: list[str], path: str) -> list[str]:
    """Resolve `.` and `..` lexically; climbing above the root is refused."""
    out: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                raise PermissionError(
                    errno.EACCES, "Outside your CS3 root: cs3:// paths cannot leave it", f"cs3://{path}"
                )
            out.pop()
        else:
            out.append(part)
    return out


def name_of(api_path: str) -> str:
    return f"{ROOT}/{api_path}" if api_path else ROOT


class CS3FileSystem(AsyncFileSystem):
    """The user's CS3 files (a reva gateway) as an fsspec filesystem, protocol `cs3`.

    In a Jupyter server of this bundle, every argument comes from the server (`FSSPEC_CS3`);
    elsewhere pass at least `host` and `token_path`. `token_path` is re-read whenever it
    changes, as by the contents manager, so a token refreshed during a long computation is
    used from the next call on.
    """

    protocol = "cs3"
    root_marker = ""

    def __init__(
        self,
        host: str | None = None,
        token_path: str | None = None,
        *,
        login_type: str = "bearer",
        client_id: str | None = None,
        root: str = "",
        ssl: bool | str = False,
        ca_file: str | None = None,
        tus: bool | str = False,
        token_validity: float | str = 3600.0,
        call_timeout: float | str = 30.0,
        list_timeout: float | str = 120.0,
        cwd: str | None = None,
        spool_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not host or not token_path:
            raise ValueError(
                "cs3:// is not configured: no reva gateway (host) or token file (token_path). "
                "A Jupyter server running cs3_contents_manager sets FSSPEC_CS3 for its kernels; "
                "elsewhere pass host=… and token_path=… (fsspec.filesystem('cs3', host=…, token_path=…))"
            )
        if login_type not in ("bearer", "basic"):
            raise ValueError(f"login_type must be 'bearer' or 'basic', not {login_type!r}")
        self.client_id = client_id or os.environ.get("JUPYTERHUB_USER") or os.environ.get("USER", "")
        self.root_template = root or ""
        # Fails now, not at the first read, when the template cannot be filled.
        self._root: str | None = expand_root(self.root_template, self.client_id) or None
        self.cwd = self._initial_cwd(cwd)
        self.spool_dir = spool_dir or None
        self.storage = CS3Storage(
            ChannelSettings(
                host=host,
                ssl_enabled=_flag(ssl),
                ca_file=ca_file or None,
                call_timeout=float(call_timeout),
                list_timeout=max(float(list_timeout), float(call_timeout)),
            ),
            login_type=login_type,
            client_id=self.client_id,
            secret=SecretFile(token_path),
            token_validity=float(token_validity),
            tus_enabled=_flag(tus),
        )
        # Whether the data server behind a storage (by storage id) serves byte ranges:
        # unknown until the first ranged read asks (see files.RangeReader).
        self.ranges: dict[str, bool] = {}
        weakref.finalize(self, _close_storage, self.storage, self._loop)

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        stripped = super()._strip_protocol(path)
        if isinstance(stripped, str) and (stripped == "~" or stripped.startswith("~/")):
            return "/" + stripped
        return stripped

    @staticmethod
    def _initial_cwd(cwd: str | None) -> str:
        """The notebook's folder (an API path) that relative paths start from."""
        if cwd is None:
            notebook = os.environ.get(NOTEBOOK_ENV, "")
            cwd = posixpath.dirname(notebook.strip("/")) if notebook else ""
        try:
            parts = _normalize(cwd.split("/"), cwd)
        except PermissionError:
            parts = []
        return "/".join(parts)

    async def close_session(self) -> None:
        """Close the gRPC channel and HTTP connections (for `asynchronous=True` users; the
        synchronous filesystem closes them when it is garbage-collected)."""
        await self.storage.close()

    # -- paths -----------------------------------------------------------------------------

    async def root(self) -> str:
        """The CS3 folder `~` stands for."""
        if self._root is None:
            try:
                self._root = await self.storage.root()
            except errors.CS3Error as err:
                raise oserror(err, ROOT) from None
        return self._root

    async def api_path(self, path: str) -> str:
        """The path below the root (the contents API's path) of any accepted form."""
        path = self._strip_protocol(path)
        if path == ROOT or path.startswith(ROOT + "/"):
            parts = path[len(ROOT) :].split("/")
        elif path.startswith("/"):
            root = await self.root()
            base = root.rstrip("/")
            if path != base and not path.startswith(base + "/"):
                raise PermissionError(
                    errno.EACCES,
                    f"Outside your CS3 root {root}: use cs3://~/… for files below it",
                    f"cs3://{path}",
                )
            parts = path[len(base) :].split("/")
        else:
            parts = [*self.cwd.split("/"), *path.split("/")]
        return "/".join(_normalize(parts, path))

    async def locate(self, path: str) -> tuple[str, str]:
        """(name in the `/~/…` form, absolute CS3 path) of `path`, confined to the root."""
        api = await self.api_path(path)
        try:
            cs3_path = to_cs3_path(await self.root(), api)
        except HTTPError as err:
            # `..` is resolved above: what the manager's rules still refuse is a name no
            # storage can hold, with a NUL or backslash (their 404), too long or not text.
            reason = "no name may hold a backslash or NUL" if err.status_code == 404 else err.log_message
            raise ValueError(f"Not a usable cs3:// path {path!r}: {reason}") from None
        return name_of(api), cs3_path

    async def canonical(self, path: str | list[str]) -> str | list[str]:
        """Paths in the `/~/…` form that listings use, so that fsspec's globbing and
        recursive copies compare like with like."""
        if isinstance(path, list):
            return [(await self.locate(p))[0] for p in path]
        trailing = path.endswith("/") and path.rstrip("/") != ""
        name = (await self.locate(path))[0]
        return name + "/" if trailing else name

    # -- metadata --------------------------------------------------------------------------

    def _entry(self, name: str, info: ResourceInfo) -> dict[str, Any]:
        kind = "directory" if info.type == CONTAINER else "file" if info.type == FILE else "other"
        mtime = info.mtime.seconds + info.mtime.nanos / 1e9
        entry: dict[str, Any] = {
            "name": name,
            "size": int(info.size),
            "type": kind,
            "mtime": mtime,
            # Changes whenever the content does (EOS: also for folders, on any change below).
            "etag": info.etag,
            "fileid": f"{info.id.storage_id}!{info.id.opaque_id}" if info.id.opaque_id else None,
            "mimetype": info.mime_type or None,
            "storage_id": info.id.storage_id,
        }
        if info.checksum.sum:
            entry["checksum"] = info.checksum.sum
        return entry

    async def stat(self, name: str, cs3_path: str) -> ResourceInfo:
        """The info at `cs3_path`; FileNotFoundError also below a file (see
        CS3Storage.stat_below). A failure of a folder above names that folder."""
        try:
            return await self.storage.stat_below(cs3_path, await self.root(), include_top=True)
        except errors.CS3Error as err:
            raise oserror(err, _name_at(name, cs3_path, err.path)) from None

    async def _info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        name, cs3_path = await self.locate(path)
        return self._entry(name, await self.stat(name, cs3_path))

    async def _ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        name, cs3_path = await self.locate(path)
        info = await self.stat(name, cs3_path)
        if info.type != CONTAINER:
            entries = [self._entry(name, info)]
        else:
            try:
                infos = await self.storage.list(cs3_path)
            except errors.CS3Error as err:
                raise oserror(err, name) from None
            base = name.rstrip("/")
            entries = [
                self._entry(f"{base}/{entry.path.rstrip('/').rsplit('/', 1)[-1]}", entry) for entry in infos
            ]
            entries.sort(key=lambda e: e["name"])
        return entries if detail else [e["name"] for e in entries]

    def modified(self, path: str) -> datetime:
        """The modification time the storage reports (1 s resolution on reva's local drivers)."""
        return datetime.fromtimestamp(self.info(path)["mtime"], tz=UTC)

    def ukey(self, path: str) -> str:
        """The etag: it changes whenever the file does, which is what caches key on."""
        return str(self.info(path)["etag"])

    # fsspec's own globbing and recursive walks compare the names they are given with the
    # names listings return: give them the `/~/…` form.

    async def _glob(self, path: str, maxdepth: int | None = None, **kwargs: Any) -> Any:
        return await super()._glob(await self.canonical(path), maxdepth=maxdepth, **kwargs)

    async def _find(
        self, path: str, maxdepth: int | None = None, withdirs: bool = False, **kwargs: Any
    ) -> Any:
        return await super()._find(await self.canonical(path), maxdepth=maxdepth, withdirs=withdirs, **kwargs)

    async def _walk(self, path: str, maxdepth: int | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        async for item in super()._walk(await self.canonical(path), maxdepth=maxdepth, **kwargs):
            yield item

    async def _expand_path(
        self, path: str | list[str], recursive: bool = False, maxdepth: int | None = None
    ) -> list[str]:
        paths = [path] if isinstance(path, str) else path
        if recursive or any(has_magic(p) for p in paths):
            path = await self.canonical(path)
        # A plain path stays as given: fsspec's cat and rm tell "one file" from "many" by
        # comparing the expansion with the path itself.
        return await super()._expand_path(path, recursive=recursive, maxdepth=maxdepth)

    # -- folders and moves -----------------------------------------------------------------

    async def _mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        name, cs3_path = await self.locate(path)
        if create_parents:
            parent = name.rpartition("/")[0]
            if parent and parent != ROOT and not await self._exists(parent):
                await self._mkdir(parent, create_parents=True)
        try:
            await self.storage.mkdir(cs3_path)
        except errors.CS3Error as err:
            raise oserror(err, name) from None

    async def _makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Create a folder and any missing folders above it. Concurrent creators (fsspec
        copies the files of a folder in parallel) are not an error."""
        name, cs3_path = await self.locate(path)
        try:
            info: ResourceInfo | None = await self.stat(name, cs3_path)
        except FileNotFoundError:
            # Also below a file: the file is then found in the way one level up.
            info = None
        if info is not None:
            if info.type != CONTAINER:
                raise FileExistsError(errno.EEXIST, "A file is in the way of the folder", f"cs3://{name}")
            if not exist_ok:
                raise FileExistsError(errno.EEXIST, "The folder exists", f"cs3://{name}")
            return
        parent = name.rpartition("/")[0]
        if parent and parent != ROOT:
            await self._makedirs(parent, exist_ok=True)
        try:
            await self.storage.ensure_folder(cs3_path)
        except errors.AlreadyExists:
            raise FileExistsError(
                errno.EEXIST, "A file is in the way of the folder", f"cs3://{name}"
            ) from None
        except errors.CS3Error as err:
            raise oserror(err, name) from None

    async def _delete(self, name: str, cs3_path: str) -> None:
        if cs3_path == await self.root():
            # Without it the file browser has no folder to show and the server's saves fail.
            raise PermissionError(
                errno.EPERM, "Your CS3 root cannot be deleted; delete what is in it", f"cs3://{name}"
            )
        try:
            await self.storage.delete(cs3_path)
        except errors.CS3Error as err:
            raise oserror(err, name) from None

    async def _rm_file(self, path: str, **kwargs: Any) -> None:
        name, cs3_path = await self.locate(path)
        info = await self.stat(name, cs3_path)
        if info.type == CONTAINER:
            raise IsADirectoryError(errno.EISDIR, "Is a folder (use rm(…, recursive=True))", f"cs3://{name}")
        await self._delete(name, cs3_path)

    async def _rmdir(self, path: str) -> None:
        name, cs3_path = await self.locate(path)
        info = await self.stat(name, cs3_path)
        if info.type != CONTAINER:
            raise NotADirectoryError(errno.ENOTDIR, "Not a folder", f"cs3://{name}")
        if await self.storage.list(cs3_path):
            raise OSError(errno.ENOTEMPTY, "The folder is not empty", f"cs3://{name}")
        await self._delete(name, cs3_path)

    async def _rm(
        self, path: str | list[str], recursive: bool = False, maxdepth: int | None = None, **kwargs: Any
    ) -> None:
        """Delete files, and folders with `recursive=True`: one Delete per folder, which
        reva moves into the storage's recycle bin whole (undoable there), instead of one
        per file below it.

        Paths may lie inside one another (`find(…, withdirs=True)`, `**` globs give such
        lists): with `recursive` those inside a listed folder go with it, without it they
        are deleted deepest first, so that each folder is empty by its turn."""
        paths = [path] if isinstance(path, str) else list(path)
        names: dict[str, str] = {}  # CS3 path -> the name errors give
        for p in paths:
            for one in await self._expand_path(p) if has_magic(p) else [p]:
                name, cs3_path = await self.locate(one)
                names.setdefault(cs3_path, name)
        # Reversed order puts everything inside a folder before the folder itself.
        targets = sorted(names, reverse=True)
        if recursive:
            targets = [t for t in targets if not any(a in names for a in _ancestors(t))]
        for cs3_path in targets:
            name = names[cs3_path]
            info = await self.stat(name, cs3_path)
            if info.type == CONTAINER and not recursive and await self.storage.list(cs3_path):
                raise IsADirectoryError(
                    errno.EISDIR, "Is a folder that is not empty (use recursive=True)", f"cs3://{name}"
                )
            await self._delete(name, cs3_path)

    async def _mv(
        self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any
    ) -> None:
        """Rename on the storage (one Move, files and folders alike), never copy and delete.
        Into an existing folder, the source keeps its name."""
        src_name, src = await self.locate(path1)
        dst_name, dst = await self.locate(path2)
        await self.stat(src_name, src)
        try:
            target = await self.storage.stat(dst)
        except errors.NotFound:
            target = None
        except errors.CS3Error as err:
            raise oserror(err, dst_name) from None
        if target is not None and target.type == CONTAINER:
            leaf = src.rsplit("/", 1)[-1]
            dst_name, dst = f"{dst_name}/{leaf}", f"{dst}/{leaf}"
        if dst == src:
            return
        if dst.startswith(src + "/"):
            raise OSError(errno.EINVAL, "Cannot move a folder into itself", f"cs3://{dst_name}")
        try:
            await self.storage.move(src, dst)
        except errors.CS3Error as err:
            raise oserror(err, src_name) from None

    async def _mv_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        await self._mv(path1, path2)

    # fsspec mirrors only its own list of coroutines as blocking methods.

    def mv(
        self, path1: str, path2: str, recursive: bool = False, maxdepth: int | None = None, **kwargs: Any
    ) -> None:
        sync(self.loop, self._mv, path1, path2, recursive=recursive, maxdepth=maxdepth, **kwargs)

    def rmdir(self, path: str) -> None:
        sync(self.loop, self._rmdir, path)

    async def _cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy through this process, streamed: CS3 has no server-side copy."""
        src_name, src = await self.locate(path1)
        dst_name, dst = await self.locate(path2)
        info = await self.stat(src_name, src)
        if info.type == CONTAINER:
            await self._makedirs(dst_name, exist_ok=True)
            return
        parent = dst_name.rpartition("/")[0]
        if parent and parent != ROOT:
            await self._makedirs(parent, exist_ok=True)
        await self.refuse_folder(dst_name, dst)
        try:
            await self.storage.copy_file(src, dst, size=int(info.size))
        except errors.NotFound as err:
            raise oserror(err, src_name if err.path == src else dst_name) from None
        except errors.CS3Error as err:
            raise oserror(err, dst_name) from None

    # -- bytes -----------------------------------------------------------------------------

    async def _cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        from .files import RangeReader

        name, cs3_path = await self.locate(path)
        info = await self.stat(name, cs3_path)
        if info.type == CONTAINER:
            raise IsADirectoryError(errno.EISDIR, "Is a folder", f"cs3://{name}")
        if start is None and end is None:
            # The chunks as received, joined once: one copy of the file in memory.
            try:
                async with self.storage.download(cs3_path) as chunks:
                    return b"".join([chunk async for chunk in chunks])
            except errors.CS3Error as err:
                raise oserror(err, name) from None
        reader = RangeReader(self, name, cs3_path, info)
        try:
            return await reader.read(*_limits(start, end, int(info.size)))
        finally:
            await reader.close()

    async def _cat_ranges(
        self,
        paths: list[str],
        starts: Any,
        ends: Any,
        max_gap: int | None = None,
        batch_size: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        """Byte ranges of files (zarr, kerchunk and fsspec.parquet ask for many at once):
        one reader per file, its ranges in file order, so a storage without byte ranges
        streams each file once instead of once per range. Files are read concurrently."""
        from .files import RangeReader

        if not isinstance(paths, list):
            raise TypeError("paths must be a list")
        starts = list(starts) if isinstance(starts, list | tuple) else [starts] * len(paths)
        ends = list(ends) if isinstance(ends, list | tuple) else [ends] * len(paths)
        if len(starts) != len(paths) or len(ends) != len(paths):
            raise ValueError("paths, starts and ends must be as long")
        out: list[Any] = [None] * len(paths)
        by_path: dict[str, list[int]] = {}
        for index, path in enumerate(paths):
            by_path.setdefault(path, []).append(index)

        async def one_file(path: str, indexes: list[int]) -> None:
            try:
                name, cs3_path = await self.locate(path)
                info = await self.stat(name, cs3_path)
                if info.type == CONTAINER:
                    raise IsADirectoryError(errno.EISDIR, "Is a folder", f"cs3://{name}")
            except Exception as err:
                for index in indexes:
                    out[index] = err
                return
            size = int(info.size)
            limits = {i: _limits(starts[i], ends[i], size) for i in indexes}
            reader = RangeReader(self, name, cs3_path, info)
            try:
                for index in sorted(indexes, key=lambda i: limits[i]):
                    try:
                        out[index] = await reader.read(*limits[index])
                    except Exception as err:
                        out[index] = err
            finally:
                await reader.close()

        await asyncio.gather(*(one_file(path, indexes) for path, indexes in by_path.items()))
        if on_error != "return":
            failed = next((r for r in out if isinstance(r, BaseException)), None)
            if failed is not None:
                raise failed
        return out

    async def _pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kwargs: Any) -> None:
        name, cs3_path = await self.locate(path)
        await self.upload(name, cs3_path, bytes(value), len(value), exclusive=mode == "create")

    async def upload(
        self,
        name: str,
        cs3_path: str,
        body: bytes | AsyncIterator[bytes],
        size: int,
        *,
        exclusive: bool = False,
    ) -> None:
        """One upload of the whole file; the storage's file changes only once it is complete."""
        await self.refuse_folder(name, cs3_path)
        try:
            await self.storage.upload(cs3_path, body, size=size, if_not_exist=exclusive)
        except errors.CS3Error as err:
            parent = cs3_path.rpartition("/")[0]
            if type(err) is errors.CS3Error and parent and await self._folder_missing(parent):
                # reva's local drivers answer an upload into a missing folder with HTTP 500.
                raise FileNotFoundError(
                    errno.ENOENT, "No such folder to write the file in", f"cs3://{name.rpartition('/')[0]}"
                ) from None
            raise oserror(err, name) from None

    async def refuse_folder(self, name: str, cs3_path: str) -> None:
        """reva's local drivers replace a folder, and everything in it, by a file uploaded to
        its path: a write there is refused, as a local file system refuses it. Nothing there
        (the usual case), or no answer: the write itself says what is wrong."""
        if await self.storage.is_folder(cs3_path, strict=False) is True:
            raise IsADirectoryError(errno.EISDIR, "Is a folder; a file cannot replace it", f"cs3://{name}")

    async def _folder_missing(self, cs3_path: str) -> bool:
        """Whether there is certainly no folder at `cs3_path`: a storage that cannot be asked
        (reva down, session expired) is no proof, and the caller reports its own error (see
        CS3Storage.is_folder)."""
        return await self.storage.is_folder(cs3_path, strict=False) is False

    async def _put_file(self, lpath: str, rpath: str, mode: str = "overwrite", **kwargs: Any) -> None:
        if os.path.isdir(lpath):  # noqa: ASYNC240 - one stat of a local path
            await self._makedirs(rpath, exist_ok=True)
            return
        name, cs3_path = await self.locate(rpath)
        with open(lpath, "rb") as local:  # noqa: ASYNC230 - pieces of a local file, read as sent
            size = os.fstat(local.fileno()).st_size
            await self.upload(name, cs3_path, _pieces(local), size, exclusive=mode == "create")

    async def _get_file(self, rpath: str, lpath: str, **kwargs: Any) -> None:
        """Download to a temporary file beside `lpath`, renamed once complete: a broken
        transfer never leaves a truncated file under the real name."""
        name, cs3_path = await self.locate(rpath)
        info = await self.stat(name, cs3_path)
        if info.type == CONTAINER:
            os.makedirs(lpath, exist_ok=True)
            return
        folder = os.path.dirname(os.path.abspath(lpath))  # noqa: ASYNC240 - no I/O
        fd, temp = tempfile.mkstemp(dir=folder, prefix=".cs3-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as local:
                async with self.storage.download(cs3_path) as chunks:
                    async for chunk in chunks:
                        local.write(chunk)
            os.replace(temp, lpath)
        except errors.CS3Error as err:
            raise oserror(err, name) from None
        finally:
            if os.path.exists(temp):  # noqa: ASYNC240 - one stat of a local path
                os.unlink(temp)

    async def open_async(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        """A file to read with `await f.read(n)` (writing: use `_pipe_file`, one upload)."""
        from .files import CS3AsyncReadFile

        if mode != "rb":
            raise NotImplementedError("open_async reads only; write whole files with _pipe_file")
        name, cs3_path = await self.locate(path)
        info = await self.stat(name, cs3_path)
        if info.type == CONTAINER:
            raise IsADirectoryError(errno.EISDIR, "Is a folder", f"cs3://{name}")
        return CS3AsyncReadFile(self, name, cs3_path, info)

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: int | str | None = None,
        autocommit: bool = True,
        cache_options: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        from .files import CS3ReadFile, CS3WriteFile

        if mode == "rb":
            return CS3ReadFile(self, path, block_size=block_size, cache_options=cache_options, **kwargs)
        if mode in ("wb", "xb"):
            return CS3WriteFile(self, path, mode=mode, block_size=block_size, autocommit=autocommit, **kwargs)
        if mode == "ab":
            raise NotImplementedError(
                "Appending is not supported by CS3 storages: read the file, and write it whole"
            )
        raise ValueError(f"Unsupported mode {mode!r} for cs3:// files (rb, wb, xb, and their text forms)")


def _name_at(name: str, cs3_path: str, at: str | None) -> str:
    """The name of `at`, which is `cs3_path` (named `name`) or a folder above it."""
    while at and cs3_path != at and cs3_path and name != ROOT:
        cs3_path = cs3_path.rpartition("/")[0]
        name = name.rpartition("/")[0]
    return name


def _ancestors(cs3_path: str) -> list[str]:
    """The folders above a CS3 path, nearest first (`/a/b/c`: `/a/b`, `/a`)."""
    out = []
    while (cs3_path := cs3_path.rpartition("/")[0]) != "":
        out.append(cs3_path)
    return out


def _limits(start: int | None, end: int | None, size: int) -> tuple[int, int]:
    """fsspec's range arguments (None: the file's start or end; negative: from the end) as
    offsets within the file."""
    first = 0 if start is None else (max(size + start, 0) if start < 0 else min(start, size))
    last = size if end is None else (max(size + end, 0) if end < 0 else min(end, size))
    return first, last


async def _pieces(local: Any) -> AsyncIterator[bytes]:
    while piece := local.read(PIECE):
        yield piece


def close_on(loop: asyncio.AbstractEventLoop | None, close: Callable[[], Awaitable[None]]) -> None:
    """Run `close` on fsspec's loop from any thread: from that loop's own thread (a garbage
    collection there, where waiting for the loop would deadlock) as a task, from others
    waiting for it, and not at all once the loop has stopped (at exit)."""
    if loop is None or not loop.is_running():
        return
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        task = loop.create_task(close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)
    else:
        sync(loop, close, timeout=5)


# Closes scheduled from the loop itself, kept alive until they finish.
_closing: set[asyncio.Task[None]] = set()


def _close_storage(storage: CS3Storage, loop: asyncio.AbstractEventLoop | None) -> None:
    """Close the channel and connections of a filesystem that is garbage-collected."""
    try:
        close_on(loop, storage.close)
    except Exception:  # the loop is going away: nothing left to tidy
        log.debug("Could not close the CS3 connections", exc_info=True)
