"""Atomic, private writes of the token file.

The contents manager re-reads the file whenever it changes, possibly while it is being
rewritten, so a reader must only ever see a whole old token or a whole new one: the content
goes to a temporary file in the same folder, is flushed to disk, and is renamed over the
target in one step. The temporary file is created with the final mode already applied
(through os.open, never looser than the target), so the token is never readable by others,
not even for an instant.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import time
from pathlib import Path

TEMP_SUFFIX = ".tmp"
# A temporary file this old was left by a crashed run, not by a write in progress.
STALE_TEMP_AGE = 60.0


class TokenWriter:
    """Writes `fmt` with the token filled in to `path`, with permissions `mode`."""

    def __init__(self, path: Path, fmt: str, mode: int) -> None:
        self.path = path
        self.fmt = fmt
        self.mode = mode

    def __repr__(self) -> str:
        return f"TokenWriter(path={str(self.path)!r}, mode={self.mode:04o})"

    @property
    def folder(self) -> Path:
        return self.path.parent

    def render(self, token: str) -> bytes:
        # The format was checked to hold no field but {token}.
        return self.fmt.format(token=token).encode("utf-8")

    def write(self, token: str) -> None:
        """Replace the file's content atomically; on failure the previous file is untouched."""
        data = self.render(token)
        fd, temp = self._create_temp()
        try:
            try:
                # os.open applied the umask, which only removes bits: set the exact mode
                # (e.g. the group bit of 0640) before any byte is written.
                os.fchmod(fd, self.mode)
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._sync_folder()

    def _create_temp(self) -> tuple[int, str]:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        for _ in range(100):
            temp = str(self.folder / f".{self.path.name}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
            try:
                return os.open(temp, flags, self.mode), temp
            except FileExistsError:
                continue
        raise FileExistsError(f"no free temporary file name in {self.folder}")

    def _sync_folder(self) -> None:
        """Flush the rename itself, so a crash right after cannot bring back the old token."""
        try:
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass  # some file systems cannot fsync a folder; the rename is still atomic
        finally:
            os.close(fd)

    def folder_warnings(self) -> list[str]:
        """Problems with the folder that do not stop the refresher but deserve a warning."""
        warnings = []
        try:
            info = self.folder.stat()
        except OSError as err:
            return [f"cannot inspect folder {self.folder}: {err.strerror}"]
        if info.st_mode & stat.S_IWOTH:
            warnings.append(
                f"folder {self.folder} is writable by every user ({stat.S_IMODE(info.st_mode):04o}): "
                "others can delete or replace the token file; use a private folder"
            )
        return warnings

    def remove_stale_temps(self) -> int:
        """Delete temporary files a killed earlier run left behind; returns how many."""
        removed = 0
        prefix = f".{self.path.name}."
        now = time.time()
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return 0
        for entry in entries:
            if not (entry.name.startswith(prefix) and entry.name.endswith(TEMP_SUFFIX)):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if (
                    stat.S_ISREG(info.st_mode)
                    and info.st_uid == os.geteuid()
                    and now - info.st_mtime > STALE_TEMP_AGE
                ):
                    os.unlink(entry.path)
                    removed += 1
            except OSError:
                continue
        return removed
