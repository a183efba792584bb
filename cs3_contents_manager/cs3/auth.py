"""Keep a valid reva token for the CS3 calls of one Jupyter server.

The secret is a file (the OAuth access token a sidecar keeps fresh, or a password for local
use). The file is re-read when its identity changes (inode, mtime, size: an atomic rename
changes the inode), and the reva token is renewed before it expires, so a fresh OAuth token
reaches reva before the old one lapses. Tokens are never logged or put into messages.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ..metrics import LOGINS, TOKEN_FILES
from .errors import SessionExpired

log = logging.getLogger(__name__)

# Renew this long before the reva token expires, so a call in flight never carries a token
# that lapses on the way.
RENEW_MARGIN = 60.0


@dataclass(frozen=True)
class FileIdentity:
    inode: int
    mtime_ns: int
    size: int


class SecretFile:
    """A token or password file that may be replaced at any time."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._identity: FileIdentity | None = None
        self._value = ""
        # What the metrics last read, kept apart from _identity: a scrape must not make a
        # changed file look already read to the session.
        self._scraped: tuple[FileIdentity, float | None] | None = None

    def _stat(self) -> FileIdentity:
        try:
            st = self.path.stat()
        except FileNotFoundError as err:
            raise SessionExpired(f"The storage credentials file {self.path} does not exist") from err
        return FileIdentity(st.st_ino, st.st_mtime_ns, st.st_size)

    def changed(self) -> bool:
        try:
            return self._stat() != self._identity
        except SessionExpired:
            return True

    def read(self) -> str:
        identity = self._stat()
        if identity != self._identity:
            value = self.path.read_text().strip()
            if not value:
                raise SessionExpired(f"The storage credentials file {self.path} is empty")
            self._value = value
            self._identity = identity
            log.info("Read storage credentials from %s", self.path)
        return self._value

    def scrape(self) -> tuple[float, float | None] | None:
        """(modification time, the token's `exp`) for the metrics; None if unreadable."""
        try:
            st = self.path.stat()
            identity = FileIdentity(st.st_ino, st.st_mtime_ns, st.st_size)
            scraped = self._scraped
            if scraped is None or scraped[0] != identity:
                scraped = self._scraped = (identity, jwt_expiry(self.path.read_text().strip()))
        except OSError:
            return None
        return identity.mtime_ns / 1e9, scraped[1]


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without verifying it (reva verifies; we only schedule)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        exp = json.loads(base64.urlsafe_b64decode(payload)).get("exp")
    except (ValueError, AttributeError):
        return None
    return float(exp) if isinstance(exp, int | float) else None


# Signature of the call that exchanges a secret for a reva token: (type, client_id, secret) ->
# (reva token). Injected so this module knows nothing about channels and stubs.
AuthenticateFn = Callable[[str, str, str], Awaitable[str]]


class RevaSession:
    """One reva token, renewed on expiry, on a new secret, and once after UNAUTHENTICATED."""

    def __init__(
        self,
        authenticate: AuthenticateFn,
        *,
        login_type: str,
        client_id: str,
        secret: SecretFile | str,
        token_validity: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if login_type not in ("bearer", "basic"):
            raise ValueError(f"auth_login_type must be 'bearer' or 'basic', not {login_type!r}")
        self._authenticate = authenticate
        self.login_type = login_type
        self.client_id = client_id
        self._secret = secret
        self.token_validity = token_validity
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.logins = 0
        if login_type == "bearer" and isinstance(secret, SecretFile):
            TOKEN_FILES.watch(secret)

    def _secret_value(self) -> str:
        return self._secret.read() if isinstance(self._secret, SecretFile) else self._secret

    def _stale(self) -> bool:
        if self._token is None:
            return True
        if isinstance(self._secret, SecretFile) and self._secret.changed():
            return True
        return self._clock() >= self._renew_at

    async def token(self) -> str:
        """A reva token valid for at least the renew margin."""
        if not self._stale():
            assert self._token is not None
            return self._token
        async with self._lock:
            if self._stale():
                await self._login()
            assert self._token is not None
            return self._token

    async def refresh(self, rejected: str) -> str:
        """Called after reva answered UNAUTHENTICATED to `rejected`: log in again, once."""
        async with self._lock:
            if self._token == rejected:
                await self._login()
            assert self._token is not None
            return self._token

    async def _login(self) -> None:
        try:
            secret = self._secret_value()
        except Exception:
            LOGINS.labels("error").inc()
            raise
        try:
            token = await self._authenticate(self.login_type, self.client_id, secret)
        except SessionExpired:
            LOGINS.labels("refused").inc()
            raise
        except Exception:
            LOGINS.labels("error").inc()
            raise
        LOGINS.labels("ok").inc()
        now = self._clock()
        lifetime = min((jwt_expiry(token) or now + self.token_validity) - now, self.token_validity)
        self._token = token
        # Renew a margin before expiry: a minute, or a quarter of a short lifetime.
        self._renew_at = now + lifetime - min(RENEW_MARGIN, lifetime / 4)
        self.logins += 1
        log.info(
            "Authenticated to the storage as %s (%s); session valid for %.0f s",
            self.client_id,
            self.login_type,
            lifetime,
        )
