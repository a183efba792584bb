"""The one request to the hub: `GET {api_url}/cs3/token`, sorted into token, transient or refused.

The sorting is what the loop's behaviour rests on: a transient failure (hub restarting,
identity provider down, a timeout) is retried quickly with backoff, while a refusal (the
server's API token is not allowed, the user must log in again) will not go away by itself
and is only retried slowly, in case the API token is rotated. Error messages carry status
codes and the hub's own explanation, never the body of a successful answer.
"""

from __future__ import annotations

import logging
import math
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .config import ConfigError, read_api_token_file
from .logs import register_secret

log = logging.getLogger(__name__)

# Statuses that say "try again soon" rather than "you may not".
TRANSIENT_STATUSES = frozenset({408, 425, 429})
MAX_HUB_MESSAGE = 200


@dataclass(frozen=True)
class TokenGrant:
    """An access token and when it expires (unix seconds); the token stays out of repr."""

    access_token: str = field(repr=False)
    expires_at: float


class HubError(Exception):
    """A fetch that gave no usable token; str() is safe to log."""


class HubUnavailable(HubError):
    """Worth retrying soon: connection refused, timeout, 5xx, a malformed or expired answer."""


class HubRefused(HubError):
    """The hub said no (401, 403, other 4xx): retrying quickly will not help."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiToken:
    """The server's hub API token; when it comes from a file, the file is re-read each time.

    Kubernetes updates a mounted secret in place, so a rotated API token is used without a
    restart. A file that has become unreadable keeps the last token that could be read.
    """

    def __init__(self, token: str, path: Path | None = None) -> None:
        self._token = token
        self._path = path
        self._read_failed = False
        register_secret(token, fixed=True)

    def __repr__(self) -> str:
        return f"ApiToken(path={self._path!r})"

    def get(self) -> str:
        if self._path is None:
            return self._token
        try:
            token = read_api_token_file(self._path)
        except ConfigError as err:
            if not self._read_failed:
                log.warning("Cannot re-read the API token (%s); using the last one read", err.problem)
                self._read_failed = True
            return self._token
        if self._read_failed:
            log.info("The API token file %s is readable again", self._path)
            self._read_failed = False
        if token != self._token:
            register_secret(token, fixed=True)
            log.info("The API token in %s changed; using the new one", self._path)
            self._token = token
        return self._token


class HubClient:
    """Fetches the user's access token from the hub over one pooled async HTTP client."""

    def __init__(self, url: str, api_token: ApiToken, *, timeout: float, ca_file: Path | None = None) -> None:
        self.url = url
        self._api_token = api_token
        self._timeout = timeout
        verify: ssl.SSLContext | bool = True
        if ca_file is not None:
            verify = ssl.create_default_context(cafile=str(ca_file))
        # trust_env=False: proxy variables meant for the user's code must not route the API
        # token through a proxy; the hub is always reached directly.
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            verify=verify,
            trust_env=False,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "cs3-token-refresher"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self) -> TokenGrant:
        """One request; raises HubUnavailable or HubRefused when there is no usable token."""
        headers = {"Authorization": f"token {self._api_token.get()}"}
        try:
            response = await self._client.get(self.url, headers=headers)
        except httpx.TimeoutException:
            raise HubUnavailable(f"no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as err:
            raise HubUnavailable(f"cannot connect ({describe_transport_error(err)})") from None
        status = response.status_code
        if status == 200:
            return parse_grant(response)
        explanation = hub_message(response)
        text = f"HTTP {status}" + (f": {explanation}" if explanation else "")
        if status >= 500 or status in TRANSIENT_STATUSES:
            raise HubUnavailable(text)
        raise HubRefused(status, text)


def describe_transport_error(err: httpx.HTTPError) -> str:
    """The cause of a connection failure in a few words (httpx messages hold no headers)."""
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def parse_grant(response: httpx.Response) -> TokenGrant:
    """Check the answer's shape; messages say what is wrong, never what the values are."""
    try:
        data: Any = response.json()
    except ValueError:
        raise HubUnavailable("the hub answered 200 without a JSON body") from None
    if not isinstance(data, dict):
        raise HubUnavailable("the hub's answer is not a JSON object")
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise HubUnavailable("the hub's answer has no access_token")
    register_secret(token)
    if any(c.isspace() or not c.isprintable() for c in token):
        raise HubUnavailable("the hub's access_token has whitespace or control characters")
    expires_at = data.get("expires_at")
    if (
        isinstance(expires_at, bool)
        or not isinstance(expires_at, int | float)
        or not math.isfinite(expires_at)
    ):
        raise HubUnavailable("the hub's answer has no numeric expires_at")
    return TokenGrant(access_token=token, expires_at=float(expires_at))


def hub_message(response: httpx.Response) -> str:
    """JupyterHub's error explanation ({"message": ...}), shortened and on one line."""
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if not isinstance(message, str):
        return ""
    one_line = " ".join("".join(c if c.isprintable() else " " for c in message).split())
    if len(one_line) > MAX_HUB_MESSAGE:
        one_line = one_line[: MAX_HUB_MESSAGE - 1] + "…"
    return one_line
