"""The contents manager's own Prometheus metrics, served on jupyter_server's `/metrics`.

jupyter_server exposes prometheus_client's default registry; everything here registers there
once, at import, so any number of managers in one process (the tests make many) share the
same metrics and never register twice. Labels are only `method`, `code`, `direction` and
`outcome`, each from a small fixed set: never a path, a user name or a token, which would
leak private data into the monitoring system and grow its series without bound.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CALL_DURATION = Histogram(
    "cs3_call_duration_seconds",
    "Time of each CS3 gRPC call to the reva gateway (every attempt, failed ones included), by "
    "method. Slow Stat and ListContainer calls are what users feel as a slow file browser.",
    ["method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)

CALL_ERRORS = Counter(
    "cs3_call_errors_total",
    "CS3 gRPC calls that did not succeed, by method and code: the CS3 status code reva answered "
    "(CODE_NOT_FOUND, CODE_PERMISSION_DENIED, CODE_INTERNAL, ...) or the gRPC status of a call "
    "that failed on the way (UNAVAILABLE, DEADLINE_EXCEEDED: reva down or too slow). Some "
    "CODE_NOT_FOUND is normal (existence checks); transport codes and CODE_INTERNAL are not.",
    ["method", "code"],
)

TRANSFER_BYTES = Counter(
    "cs3_transfer_bytes_total",
    "Bytes moved over reva's HTTP data gateway, by direction (upload, download), counted as "
    "they move: a transfer cut off half-way counts the half that went.",
    ["direction"],
)

LOGINS = Counter(
    "cs3_logins_total",
    "Logins to reva (Authenticate with the token file's secret), by outcome: ok; refused (reva "
    "rejected the credentials: an expired or revoked token, storage access lapses); error (the "
    "token file is missing or empty, or reva could not be asked).",
    ["outcome"],
)

for _direction in ("upload", "download"):
    TRANSFER_BYTES.labels(_direction)
for _outcome in ("ok", "refused", "error"):
    LOGINS.labels(_outcome)


class TokenFileState(Protocol):
    """What a token file tells at scrape time: when it last changed and when its token expires."""

    def scrape(self) -> tuple[float, float | None] | None:
        """(modification time, the token's `exp` or None), or None when it cannot be read."""
        ...


class TokenCollector(Collector):
    """The OAuth token files of the managers of this process, read at every scrape.

    The token refresher beside the server replaces the file shortly before the token expires;
    when it stops doing so, reva refuses the next login and storage access lapses. Both values
    are computed when Prometheus scrapes, not when the manager last looked at the file.
    """

    def __init__(self) -> None:
        self._files: weakref.WeakSet[TokenFileState] = weakref.WeakSet()

    def watch(self, token_file: TokenFileState) -> None:
        self._files.add(token_file)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = time.time()
        states = [state for state in (f.scrape() for f in list(self._files)) if state is not None]
        expires_in = GaugeMetricFamily(
            "cs3_token_expires_in_seconds",
            "Seconds until the OAuth access token in the token file expires (its `exp`; negative "
            "once expired). Alert when it stays below a minute: the token refresher is not "
            "renewing it and storage access is about to lapse. Absent when the file holds no JWT "
            "(basic login) or cannot be read; with several managers, the soonest.",
        )
        expiries = [exp for _, exp in states if exp is not None]
        if expiries:
            expires_in.add_metric([], min(expiries) - now)
        yield expires_in
        changed = GaugeMetricFamily(
            "cs3_token_file_changed_timestamp_seconds",
            "When the token file was last replaced (Unix time of its modification). time() minus "
            "this growing beyond the access token lifetime means the refresher has stopped; with "
            "several managers, the oldest.",
        )
        if states:
            changed.add_metric([], min(mtime for mtime, _ in states))
        yield changed


TOKEN_FILES = TokenCollector()
REGISTRY.register(TOKEN_FILES)
