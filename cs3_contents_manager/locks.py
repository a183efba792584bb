"""Changes give way to a lock that another application holds on the file.

While a document is open in CERNBox's office editors, the editor holds a CS3 lock on it and
writes it back later; a Jupyter save, delete or rename in between destroys one side's work.
EOS keeps such locks natively (GetLock). reva's local drivers keep none (their GetLock fails),
and sites whose storage has none can agree on an advisory lock kept in an arbitrary-metadata
attribute instead (`lock_as_attr`): the attribute and its `app!lock_id!expiry` value are the
ones cs3client writes, so locks taken by cs3-jupyter servers are honoured too.

This manager takes no locks of its own; it refuses to change a locked file, naming the holder.
A lock that cannot be read does not stop a change: the storage still enforces the locks it
keeps. Only an unreachable storage or an expired session, which would fail the change anyway,
fail the lookup. reva reports "this storage keeps no locks" as an internal error, like any
other failure, so lookups stop only after several in a row on files that exist, and resume
after a while.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cs3.storage.provider.v1beta1 import resources_pb2

from .cs3 import errors
from .cs3.storage import CS3Storage

ATTR_KEY = "cs3client.advlock"
# After this many GetLock failures in a row on existing files, the storage is taken to keep no
# locks, and is not asked again for RETRY_NATIVE_AFTER seconds.
FAILURES_BEFORE_PAUSE = 3
RETRY_NATIVE_AFTER = 600.0
# Expiry times past this (the end of year 9999) cannot be shown as a date: a lock "forever".
LATEST_EXPIRY = 253402300799.0


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
            until = datetime.fromtimestamp(self.expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
            who += f"; the lock lasts until {until} unless renewed"
        return who


def _expiry(seconds: float) -> float | None:
    """A lock's expiry as a time that can be shown, or None for "no stated end"."""
    if not math.isfinite(seconds) or seconds <= 0 or seconds > LATEST_EXPIRY:
        return None
    return seconds


def holder_of_lock(lock: resources_pb2.Lock, now: float) -> Holder | None:
    """The holder of a CS3 lock, or None when it has expired."""
    seconds = float(lock.expiration.seconds) if lock.HasField("expiration") else 0.0
    if 0 < seconds <= now:
        return None
    user = lock.user.opaque_id if lock.HasField("user") else ""
    return Holder(app=lock.app_name, user=user, expires=_expiry(seconds))


def holder_of_attr(value: str | None, now: float) -> Holder | None:
    """The holder of an advisory lock attribute (`app!lock_id!expiry`; the lock id may itself
    hold `!`), or None when it has expired. A value in another format is a lock whose holder
    and end are unknown."""
    if not value:
        return None
    app, sep, rest = value.partition("!")
    _lock_id, sep2, expiry = rest.rpartition("!")
    if not (sep and sep2):
        return Holder(app="")
    try:
        seconds = float(expiry)
    except ValueError:
        return Holder(app=app)
    if math.isfinite(seconds) and seconds <= now:
        return None
    return Holder(app=app, expires=_expiry(seconds))


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
        self._failures = 0
        self._paused_at: float | None = None

    @property
    def enabled(self) -> bool:
        return self.native or self.as_attr

    async def holder(self, path: str) -> Holder | None:
        """Who holds a lock on the CS3 path `path`, if anyone."""
        now = self._clock()
        if self.native and not self._paused(now):
            holder = await self._native_holder(path, now)
            if holder is not None:
                return holder
        if self.as_attr:
            return await self._attr_holder(path, now)
        return None

    async def _native_holder(self, path: str, now: float) -> Holder | None:
        try:
            lock = await self.storage.get_lock(path)
        except (errors.Unavailable, errors.SessionExpired):
            raise
        except (errors.PermissionDenied, errors.InvalidArgument) as err:
            # About this file and this user, not about the storage: unknown, so no lock.
            self.log.debug("No lock lookup for %s: %s", path, err.reason)
            return None
        except errors.CS3Error as err:
            if isinstance(err, errors.Unsupported) or await self._exists(path):
                self._failed(now, err.reason)
            # EOS fails GetLock on a file that does not exist yet: nothing to hold a lock on.
            return None
        self._failures = 0
        return None if lock is None else holder_of_lock(lock, now)

    async def _attr_holder(self, path: str, now: float) -> Holder | None:
        try:
            info = await self.storage.stat(path, metadata_keys=(ATTR_KEY,))
        except errors.NotFound:
            return None
        except (errors.Unavailable, errors.SessionExpired):
            raise
        except errors.CS3Error as err:
            self.log.warning("Could not read the lock attribute of %s: %s", path, err.reason)
            return None
        return holder_of_attr(info.arbitrary_metadata.metadata.get(ATTR_KEY), now)

    async def _exists(self, path: str) -> bool:
        try:
            return await self.storage.exists(path)
        except errors.CS3Error:
            return False

    def _failed(self, now: float, reason: str) -> None:
        self._failures += 1
        if self._failures < FAILURES_BEFORE_PAUSE:
            return
        self._failures = 0
        self._paused_at = now
        self.log.info(
            "The storage did not answer %d lock lookups in a row (%s); changes go ahead without "
            "asking it for %d minutes%s",
            FAILURES_BEFORE_PAUSE,
            reason,
            RETRY_NATIVE_AFTER // 60,
            " (advisory lock attributes are still read)"
            if self.as_attr
            else ". Set lock_not_impl = True if it keeps no locks",
        )

    def _paused(self, now: float) -> bool:
        return self._paused_at is not None and now - self._paused_at < RETRY_NATIVE_AFTER
