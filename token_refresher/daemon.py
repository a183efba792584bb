"""The refresh loop, and the process around it: start-up checks, probes, signals, --once.

The loop's promise to the notebook server next to it: the token file, once written, always
holds the best token there is. A failure never removes or truncates it; only a newer token
from the hub replaces it. Every change of state is logged once (not every retry), so the
pod's log tells the story without drowning it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

from .config import BY_DEST, Config, ConfigError
from .hub import ApiToken, HubClient, HubRefused, HubUnavailable, TokenGrant
from .readiness import HealthServer, ReadyFile, Status
from .schedule import MIN_DELAY, failure_delay, jittered, refresh_delay
from .writer import TokenWriter

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1


def when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds(value: float) -> str:
    return f"{value:.0f} s" if abs(value) >= 10 else f"{value:.1f} s"


def display_url(url: str) -> str:
    """The URL without any user:password part, for messages."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc))


class Refresher:
    """Fetch, write, decide when to fetch again; log each change of state."""

    def __init__(
        self,
        config: Config,
        hub: HubClient,
        writer: TokenWriter,
        status: Status,
        ready_file: ReadyFile | None = None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        min_delay: float = MIN_DELAY,
        once: bool = False,
    ) -> None:
        self.config = config
        self.hub = hub
        self.writer = writer
        self.status = status
        self.ready_file = ready_file
        self._rng = rng or random.Random()
        self._clock = clock
        self._min_delay = min_delay
        self._once = once
        # A digest, not the token: enough to tell "refreshed" from "same again".
        self._written_digest: bytes | None = None
        self._expires_at: float | None = None
        self._ready_touched = False
        self._failures = 0
        self._problem: tuple[str, str] | None = None
        self._expiry_reported: float | None = None
        self._same_token_reported = False

    @property
    def written(self) -> bool:
        return self._written_digest is not None

    async def run(self) -> None:
        """Refresh until cancelled."""
        self.status.running = True
        try:
            while True:
                delay = await self.attempt()
                await asyncio.sleep(delay)
        finally:
            self.status.running = False

    async def attempt(self) -> float:
        """One fetch and write; returns the seconds to wait before the next attempt."""
        try:
            grant = await self.hub.fetch()
            self._reject_expired(grant)
        except HubRefused as err:
            return self._fail(
                "refused",
                f"Hub refused the token request: {err}; the server's API token may lack the "
                "permission, or the user must log in again",
                logging.ERROR,
                at_cap=True,
            )
        except HubUnavailable as err:
            return self._fail("unavailable", f"Hub unavailable: {err}", logging.WARNING)
        try:
            await asyncio.to_thread(self.writer.write, grant.access_token)
        except OSError as err:
            return self._fail(
                "write_failed",
                f"Cannot write the token to {self.writer.path}: {err.strerror or type(err).__name__}",
                logging.ERROR,
            )
        return self._succeed(grant)

    def _reject_expired(self, grant: TokenGrant) -> None:
        age = self._clock() - grant.expires_at
        if age >= 0:
            # Writing it would only replace a token that may still work with one that does not.
            raise HubUnavailable(
                f"the hub handed out a token that expired {seconds(age)} ago; its own refresh "
                "with the identity provider may be failing"
            )

    def _succeed(self, grant: TokenGrant) -> float:
        now = self._clock()
        digest = hashlib.sha256(grant.access_token.encode()).digest()
        first = self._written_digest is None
        changed = digest != self._written_digest
        self._written_digest = digest
        self._expires_at = grant.expires_at
        remaining = grant.expires_at - now
        delay = refresh_delay(
            grant.expires_at, now, self.config.margin, self.config.jitter, self._rng, self._min_delay
        )
        if self._problem is not None:
            log.info(
                "Recovered after %d failed attempt(s) (last problem: %s)", self._failures, self._problem[1]
            )
        self._problem = None
        self._failures = 0
        expiry = f"expires {when(grant.expires_at)}, in {seconds(remaining)}"
        if first:
            log.info("First token written to %s (%s); %s", self.writer.path, expiry, self._next(delay))
        elif changed:
            log.info("Token refreshed (%s); %s", expiry, self._next(delay))
            self._same_token_reported = False
        elif remaining <= self.config.margin and not self._same_token_reported:
            log.info(
                "The hub has not refreshed the token yet (%s, within the %g s margin); %s",
                expiry,
                self.config.margin,
                self._next(delay),
            )
            self._same_token_reported = True
        else:
            log.debug("The hub returned the same token (%s); %s", expiry, self._next(delay))
        self.status.ready = True
        self.status.state = "fresh"
        self.status.expires_at = grant.expires_at
        self._touch_ready_file()
        return delay

    def _touch_ready_file(self) -> None:
        if self.ready_file is None or self._ready_touched:
            return
        try:
            self.ready_file.touch()
        except OSError as err:
            log.error("Cannot create the ready file %s (%s)", self.ready_file.path, err.strerror)
            return
        self._ready_touched = True
        log.info("Ready: created %s", self.ready_file.path)

    def _fail(self, kind: str, message: str, level: int, *, at_cap: bool = False) -> float:
        self._failures += 1
        if at_cap:
            delay = jittered(self.config.backoff_max, self._rng)
        else:
            delay = failure_delay(
                self._failures,
                self.config.backoff_initial,
                self.config.backoff_max,
                self._rng,
                self._expires_at,
                self._clock(),
                self._min_delay,
            )
        self.status.state = kind
        keeping = "the current token stays in place" if self.written else "no token written yet"
        retry = self._next(delay, "retrying" if at_cap else "backing off, retrying")
        if self._problem != (kind, message):
            log.log(level, "%s; %s; %s", message, keeping, retry)
            self._problem = (kind, message)
        else:
            log.debug("Attempt %d failed the same way; %s", self._failures, retry)
        self._report_expiry()
        return delay

    def _report_expiry(self) -> None:
        """Say once per token when the one in place has expired while no new one comes."""
        expires_at = self._expires_at
        if expires_at is None or expires_at == self._expiry_reported or self._clock() < expires_at:
            return
        self._expiry_reported = expires_at
        log.warning(
            "The token in %s expired at %s and no new one could be fetched yet",
            self.writer.path,
            when(expires_at),
        )

    def _next(self, delay: float, what: str = "next fetch") -> str:
        if self._once:
            return "exiting (--once)"
        return f"{what} in {seconds(delay)}"


class Daemon:
    """Everything one run needs, set up in the order that keeps errors early and clear."""

    def __init__(
        self, config: Config, *, rng: random.Random | None = None, min_delay: float = MIN_DELAY
    ) -> None:
        self.config = config
        self.status = Status()
        self.writer = TokenWriter(config.token_path, config.token_format, config.mode)
        self.ready_file = ReadyFile(config.ready_file) if config.ready_file is not None else None
        serve = config.health_port is not None and not config.once
        self.health = HealthServer(self.status) if serve else None
        self.hub = HubClient(
            config.token_url,
            ApiToken(config.api_token, config.api_token_file),
            timeout=config.timeout,
            ca_file=config.ca_file,
        )
        self.refresher = Refresher(
            config,
            self.hub,
            self.writer,
            self.status,
            self.ready_file,
            rng=rng,
            min_delay=min_delay,
            once=config.once,
        )

    async def start(self) -> None:
        """Local checks and the probe listener, before any request to the hub.

        Raises ConfigError for what makes the run impossible (e.g. the port is taken).
        """
        for warning in self.writer.folder_warnings():
            log.warning("%s", warning)
        if removed := self.writer.remove_stale_temps():
            log.info("Removed %d temporary file(s) left by an earlier run", removed)
        if self.ready_file is not None:
            try:
                if self.ready_file.clear():
                    log.info("Removed the ready file %s left by an earlier run", self.ready_file.path)
            except OSError as err:
                raise ConfigError(
                    BY_DEST["ready_file"].label, f"cannot remove {self.ready_file.path}: {err.strerror}"
                ) from None
        if self.health is not None:
            host, port = self.config.health_host, self.config.health_port
            assert port is not None
            try:
                await self.health.start(host, port)
            except OSError as err:
                raise ConfigError(
                    BY_DEST["health_port"].label, f"cannot listen on {host}:{port}: {err.strerror or err}"
                ) from None
            log.info("Serving /ready and /health on %s:%d", host, self.health.port)

    async def run(self, stop: asyncio.Event) -> int:
        """Refresh until `stop` is set (exit 0) or the loop dies of a bug (exit 1)."""
        config = self.config
        log.info(
            "Started for user %s: token from %s written to %s (mode %04o), fetched %g s before "
            "expiry (up to %g s earlier at random)",
            config.user,
            display_url(config.token_url),
            config.token_path,
            config.mode,
            config.margin,
            config.jitter,
        )
        loop_task = asyncio.create_task(self.refresher.run(), name="refresh-loop")
        stop_task = asyncio.create_task(stop.wait(), name="stop")
        try:
            done, _ = await asyncio.wait({loop_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (loop_task, stop_task):
                task.cancel()
            await asyncio.gather(loop_task, stop_task, return_exceptions=True)
        if loop_task in done and not loop_task.cancelled() and loop_task.exception() is not None:
            log.error("The refresh loop stopped unexpectedly", exc_info=loop_task.exception())
            return EXIT_FAILED
        log.info("Stopped")
        return EXIT_OK

    async def once(self) -> int:
        log.info(
            "Fetching one token for user %s from %s", self.config.user, display_url(self.config.token_url)
        )
        await self.refresher.attempt()
        return EXIT_OK if self.refresher.written else EXIT_FAILED

    async def close(self) -> None:
        if self.health is not None:
            await self.health.close()
        await self.hub.aclose()


async def run_daemon(config: Config) -> int:
    """The sidecar's life: refresh until SIGTERM or SIGINT, then exit 0."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        if not stop.is_set():
            log.info("Received %s; stopping", signum.name)
        stop.set()

    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, on_signal, signum)
    daemon = Daemon(config)
    try:
        await daemon.start()
        return await daemon.run(stop)
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
        await daemon.close()


async def run_once(config: Config) -> int:
    """--once: one fetch and write; 0 when a token was written, 1 otherwise."""
    daemon = Daemon(config)
    try:
        await daemon.start()
        return await daemon.once()
    finally:
        with contextlib.suppress(Exception):
            await daemon.close()
