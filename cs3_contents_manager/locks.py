"""Changes give way to a lock that another application holds on the file.

While a document is open in CERNBox's office editors, the editor holds a CS3 lock on it and
writes it back later; a Jupyter save, delete or rename in between destroys one side's work.
EOS keeps such locks natively (GetLock). reva's local drivers keep none (their GetLock fails),
and sites whose storage has none can agree on an advisory lock kept in an arbitrary-metadata
attribute instead (`lock_as_attr`): the attribute and its `app!lock_id!expiry` value are the
ones cs3client writes, so locks taken by cs3-jupyter servers are honoured too.

This manager takes no locks of its own; it refuses to change a locked file, naming the holder.
Reading a lock must never stop work: when the lock state cannot be read, the change goes ahead
(the storage still enforces its own locks), and a storage that cannot answer GetLock at all is
not asked again for a while.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .cs3 import errors
from .cs3.storage import CS3Storage

ATTR_KEY = "cs3client.advlock"
# How long a storage whose GetLock failed (other than NOT_FOUND) is not asked again.
RETRY_NATIVE_AFTER = 600.0


@dataclass(frozen=True)
class Holder:
    """Who holds a lock, as far as the storage says."""

    app: str
    user: str = ""
    expires: float | None = None  # seconds since the epoch; None: until released

    def describe(self) -> str:
        who = f"'{self.app}'" if self.app else "another application"
        if self.user:
            who += f" (user {self.user})"
        if self.expires is not None:
            until = datetime.fromtimestamp(self.expires, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            who += f" until {until}"
        return who


def holder_of_lock(lock: object, now: float) -> Holder | None:
    """The holder of a CS3 lock, or None when it has expired."""
    expires = float(lock.expiration.seconds) if lock.HasField("expiration") else None  # type: ignore[attr-defined]
    if expires is not None and expires and expires <= now:
        return None
    user = lock.user.opaque_id if lock.HasField("user") else ""  # type: ignore[attr-defined]
    return Holder(app=lock.app_name, user=user, expires=expires or None)  # type: ignore[attr-defined]


def holder_of_attr(value: str | None, now: float) -> Holder | None:
    """The holder of an advisory lock attribute (`app!lock_id!expiry`), or None when it has
    expired; a value in another format is a lock whose holder is unknown, never expiring."""
    if not value:
        return None
    parts = value.split("!")
    if len(parts) != 3:
        return Holder(app="")
    app, _lock_id, expiry = parts
    try:
        expires = float(expiry)
    except ValueError:
        return Holder(app=app)
    if expires <= now:
        return None
    return Holder(app=app, expires=expires)


class LockCheck:
    """Finds the holder of a file's lock, the way the site's storage keeps locks."""

    def __init__(
        self,
        storage: CS3Storage,
        *,
        native: bool,
        as_attr: bool,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.native = native
        self.as_attr = as_attr
        self.log = log
        self._clock = clock
        self._native_failed_at: float | None = None

    @property
    def enabled(self) -> bool:
        return self.native or self.as_attr

    async def holder(self, path: str) -> Holder | None:
        """Who holds a lock on the CS3 path `path`, if anyone."""
        now = self._clock()
        if self.native and not self._native_paused(now):
            try:
                lock = await self.storage.get_lock(path)
            except (errors.Unavailable, errors.SessionExpired):
                raise
            except errors.CS3Error as err:
                self._native_failed_at = now
                self.log.info(
                    "The storage did not answer a lock lookup (%s); changes go ahead without "
                    "lock checks for %d minutes%s",
                    err.reason,
                    RETRY_NATIVE_AFTER // 60,
                    " (advisory lock attributes are still read)"
                    if self.as_attr
                    else ". Set lock_not_impl = True if it keeps no locks",
                )
            else:
                return None if lock is None else holder_of_lock(lock, now)
        if self.as_attr:
            try:
                value = await self.storage.metadata(path, ATTR_KEY)
            except errors.NotFound:
                return None
            except (errors.Unavailable, errors.SessionExpired):
                raise
            except errors.CS3Error as err:
                self.log.warning("Could not read the lock attribute of %s: %s", path, err.reason)
                return None
            return holder_of_attr(value, now)
        return None

    def _native_paused(self, now: float) -> bool:
        return self._native_failed_at is not None and now - self._native_failed_at < RETRY_NATIVE_AFTER
