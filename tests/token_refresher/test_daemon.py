"""The refresh loop against a live fake hub: schedule, backoff, refusals, readiness, atomicity.

The refresher runs in the test's event loop (a `Daemon`, as the command line builds it) with
short token lifetimes and retry delays, so each scenario plays out in a few seconds.
"""

from __future__ import annotations

import asyncio
import errno
import itertools
import stat
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.harness.ports import free_port
from tests.token_refresher.conftest import LogLines, StartDaemon, read_or_none, wait_for
from tests.token_refresher.fakehub import FakeHub
from token_refresher.hub import ApiToken, TokenGrant
from token_refresher.readiness import HealthServer, Status
from token_refresher.writer import TokenWriter

FAST_RETRIES = ("--backoff-initial", "0.1", "--backoff-max", "0.4")


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(times)]


def failed_at(hub: FakeHub, status: int) -> list[float]:
    return [seen.at for seen in list(hub.requests) if seen.status == status]


async def test_token_is_fetched_again_before_it_expires(
    hub: FakeHub, start_daemon: StartDaemon, token_dir: Path, api_token: str, logs: LogLines
) -> None:
    hub.serve_tokens(lifetime=3, hub_margin=1.5)
    target = token_dir / "oauth.token"
    running = await start_daemon("--margin", "1", "--jitter", "0.1")

    await wait_for(lambda: read_or_none(target) is not None, 3, "the first token")
    assert target.read_text() == hub.issued[0]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert hub.requests[0].authorization == f"token {api_token}"

    for n in (1, 2):
        await wait_for(lambda n=n: read_or_none(target) == (hub.issued[n:] or [None])[0], 4, f"token {n + 1}")
        # Written about `margin` (plus jitter) before the old token expired, not after. The
        # file's mtime says when (the moment this loop noticed depends on the machine's load),
        # and the hub's record says when the old token expired (the daemon's status is
        # updated just after the file is replaced, so it may still be the old one here).
        assert target.stat().st_mtime < hub.expiry[hub.issued[n - 1]] - 0.5
    assert len(hub.requests) == 3  # one request per token: no polling in between
    assert logs.count("First token written", 20) == 1
    # The daemon logs a refresh just after replacing the file: wait for the line, bounded.
    await wait_for(lambda: logs.count("Token refreshed", 20) >= 2, 2, "the second refresh logged")
    assert logs.count("Token refreshed", 20) == 2
    assert await running.stop() == 0


async def test_hub_errors_back_off_keep_the_token_and_recover(
    hub: FakeHub, start_daemon: StartDaemon, token_dir: Path, logs: LogLines
) -> None:
    # A new token for every request. The outage starts 3 s before expiry: the backoff's own
    # cap (0.4 s) stays below half the token's remaining life for the five attempts below.
    hub.serve_tokens(lifetime=4, hub_margin=60)
    target = token_dir / "oauth.token"
    await start_daemon("--margin", "3", "--jitter", "0", *FAST_RETRIES)
    await wait_for(lambda: read_or_none(target) is not None, 3, "the first token")
    good = target.read_text()

    hub.fail(503, "The hub is restarting")
    await wait_for(lambda: len(failed_at(hub, 503)) >= 5, 5, "five failed attempts")
    delays = gaps(failed_at(hub, 503))
    # 0.1, 0.2, 0.4, 0.4 s, each up to 20% shorter: growing, then capped.
    assert delays[0] < delays[1] < delays[2]
    assert 0.3 <= delays[3] <= 0.6
    assert target.read_text() == good
    assert logs.count("HTTP 503: The hub is restarting", 30) == 1  # logged once, not per retry
    assert logs.count("the current token stays in place", 30) == 1

    await wait_for(lambda: logs.count("expired at", 30), 5, "the expiry warning")
    assert target.read_text() == good  # expired, but still the best there is

    hub.recover()
    await wait_for(lambda: read_or_none(target) not in (good, None), 3, "a new token after recovery")
    assert target.read_text() == hub.issued[-1]
    # The daemon logs the recovery just after replacing the file: wait for the line, bounded.
    await wait_for(lambda: logs.count("Recovered after", 20) >= 1, 2, "the recovery logged")
    assert logs.count("Recovered after", 20) == 1


async def test_an_outage_shorter_than_the_margin_is_bridged_before_the_token_expires(
    hub: FakeHub, start_daemon: StartDaemon, token_dir: Path
) -> None:
    # Long backoff allowed (a hub that has been failing for a while), short tokens: the
    # retries still come within the token's remaining life, so the first one after the
    # hub's return replaces the token before it expires.
    hub.serve_tokens(lifetime=8, hub_margin=60)
    target = token_dir / "oauth.token"
    # Fetches at 3 s (5 s left: fails), 5 s (3 s left: fails, the hub comes back), then after
    # half the remaining life (6.5 s) instead of the 4 s backoff (past the 8 s expiry).
    await start_daemon("--margin", "5", "--jitter", "0", "--backoff-initial", "2", "--backoff-max", "30")
    await wait_for(lambda: read_or_none(target) is not None, 3, "the first token")
    good = target.read_text()
    expires = hub.expiry[good]

    hub.fail(503, "The hub is restarting")
    await wait_for(lambda: len(failed_at(hub, 503)) >= 2, 7, "two failed attempts")
    hub.recover()
    await wait_for(lambda: read_or_none(target) not in (good, None), 6, "a new token after recovery")
    assert time.time() < expires, "the token lapsed although the hub was back before its expiry"
    assert all(at < expires for at in failed_at(hub, 503))


async def test_connection_refused_backs_off_and_recovers(
    hub: FakeHub, start_daemon: StartDaemon, token_dir: Path, logs: LogLines
) -> None:
    hub.serve_tokens(lifetime=2, hub_margin=60)
    target = token_dir / "oauth.token"
    await start_daemon("--margin", "1", *FAST_RETRIES)
    await wait_for(lambda: read_or_none(target) is not None, 3, "the first token")
    good = target.read_text()

    hub.stop_listening()
    await wait_for(lambda: logs.count("cannot connect", 30), 3, "the unreachable warning")
    await wait_for(lambda: logs.count("failed the same way", 10) >= 3, 3, "retries")
    assert target.read_text() == good
    assert logs.count("cannot connect", 30) == 1
    requests_before = len(hub.requests)

    hub.start_listening()
    await wait_for(lambda: read_or_none(target) not in (good, None), 3, "a new token after recovery")
    assert len(hub.requests) == requests_before + 1
    # The daemon logs the recovery just after replacing the file: wait for the line, bounded.
    await wait_for(lambda: logs.count("Recovered after", 20) >= 1, 2, "the recovery logged")
    assert logs.count("Recovered after", 20) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_refusal_is_logged_once_and_retried_at_the_cap(
    hub: FakeHub, start_daemon: StartDaemon, token_dir: Path, logs: LogLines, status: int
) -> None:
    hub.fail(status, "This token lacks the custom:cs3:token scope")
    target = token_dir / "oauth.token"
    running = await start_daemon("--backoff-initial", "0.05", "--backoff-max", "0.3")
    await wait_for(lambda: len(hub.requests) >= 4, 3, "four refused attempts")
    assert all(delay >= 0.8 * 0.3 - 0.02 for delay in gaps(failed_at(hub, status)))
    assert logs.count(f"HTTP {status}: This token lacks the custom:cs3:token scope", 40) == 1
    assert logs.count("no token written yet", 40) == 1
    assert not target.exists()
    assert running.daemon.status.ready is False
    assert running.daemon.status.state == "refused"

    hub.serve_tokens(lifetime=60)
    await wait_for(lambda: read_or_none(target) is not None, 2, "the token once allowed")
    # The daemon logs the recovery just after replacing the file: wait for the line, bounded.
    await wait_for(lambda: logs.count("Recovered after", 20) >= 1, 2, "the recovery logged")
    assert logs.count("Recovered after", 20) == 1


async def test_rotated_api_token_file_is_picked_up(
    hub: FakeHub,
    start_daemon: StartDaemon,
    env: dict[str, str],
    tmp_path: Path,
    token_dir: Path,
    api_token: str,
    logs: LogLines,
) -> None:
    secret = tmp_path / "api-token"
    secret.write_text("FAKE-API-TOKEN-outdated\n")
    del env["JUPYTERHUB_API_TOKEN"]
    env["JUPYTERHUB_API_TOKEN_FILE"] = str(secret)
    hub.serve_tokens(lifetime=60)
    await start_daemon("--backoff-max", "0.2")
    await wait_for(lambda: len(hub.requests) >= 2, 2, "refused attempts")
    assert set(hub.statuses()) == {403}

    secret.write_text(api_token + "\n")  # what kubelet does when the secret changes
    target = token_dir / "oauth.token"
    await wait_for(lambda: read_or_none(target) is not None, 2, "the token with the new API token")
    assert hub.requests[-1].authorization == f"token {api_token}"
    assert logs.count("changed; using the new one", 20) == 1


async def test_expired_or_malformed_answers_are_not_written(
    hub: FakeHub, start_daemon: StartDaemon, token_dir: Path, logs: LogLines
) -> None:
    stale = f"{hub.prefix}-stale"
    hub.answer_with(lambda: (200, {"access_token": stale, "expires_at": time.time() - 30}))
    target = token_dir / "oauth.token"
    await start_daemon(*FAST_RETRIES)
    await wait_for(lambda: logs.count("handed out a token that expired", 30), 2, "the expired warning")
    hub.answer_with(lambda: (200, {"access_token": stale, "expires_at": "tomorrow"}))
    await wait_for(lambda: logs.count("no numeric expires_at", 30), 2, "the malformed warning")
    hub.answer_with(lambda: (200, "<html>proxy error</html>"))
    await wait_for(lambda: logs.count("without a JSON body", 30), 2, "the not-JSON warning")
    assert not target.exists()
    assert stale not in logs.text


async def test_readiness_file_and_health_endpoint(
    hub: FakeHub, start_daemon: StartDaemon, token_dir: Path, logs: LogLines
) -> None:
    ready = token_dir / "ready"
    ready.touch()  # left by an earlier run: it must not count
    port = free_port()
    hub.fail(503)
    running = await start_daemon(
        "--ready-file",
        str(ready),
        "--health-port",
        str(port),
        "--backoff-initial",
        "0.1",
        "--backoff-max",
        "0.2",
    )
    assert not ready.exists()
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=5) as client:
        await wait_for(lambda: running.daemon.status.running, 2, "the loop")
        answer = await client.get(f"{base}/ready")
        assert answer.status_code == 503
        assert answer.json()["ready"] is False
        assert (await client.get(f"{base}/health")).status_code == 200

        hub.serve_tokens(lifetime=60)
        await wait_for(ready.exists, 3, "the ready file")
        answer = await client.get(f"{base}/ready")
        assert answer.status_code == 200
        assert answer.json()["ready"] is True
        assert hub.issued[0] not in answer.text
        assert (await client.get(f"{base}/health")).status_code == 200
        assert (await client.head(f"{base}/ready")).status_code == 200
        assert (await client.get(f"{base}/token")).status_code == 404
        assert (await client.post(f"{base}/ready")).status_code == 405

        assert await running.stop() == 0
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{base}/health")
    assert logs.count("Removed the ready file", 20) == 1


def test_health_is_503_when_the_loop_is_not_running() -> None:
    server = HealthServer(Status(ready=True, running=False))
    assert server.answer("GET", "/health")[0] == 503
    assert server.answer("GET", "/ready?verbose=1")[0] == 200


async def test_file_is_never_torn_while_the_refresher_rewrites_it(
    hub: FakeHub, start_daemon: StartDaemon, env: dict[str, str], token_dir: Path
) -> None:
    """A reader polling the file from another thread while tokens of a few hundredths of a second
    follow each other sees only whole, well-formed tokens that the hub handed out."""
    hub.serve_tokens(lifetime=0.06, hub_margin=60)
    target = token_dir / "oauth.token"
    env["CS3_TOKEN_FORMAT"] = "oauth2:{token}:https://auth.example.org"
    await start_daemon("--margin", "1", min_delay=0.005)
    await wait_for(lambda: read_or_none(target) is not None, 3, "the first token")

    stop = threading.Event()
    bad: list[str] = []
    seen: set[str] = set()

    def reader() -> None:
        while not stop.is_set():
            content = target.read_text()
            token = content.removeprefix("oauth2:").removesuffix(":https://auth.example.org")
            if not content.startswith("oauth2:") or token not in hub.issued:
                bad.append(f"{len(content)} chars")
            seen.add(token)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        await wait_for(lambda: len(hub.issued) >= 60, 10, "sixty rewrites")
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 10)
    assert bad == []
    assert len(seen) > 10


async def test_write_failures_are_retried_and_the_old_file_kept(
    hub: FakeHub, start_daemon: StartDaemon, token_dir: Path, logs: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.serve_tokens(lifetime=2, hub_margin=60)
    target = token_dir / "oauth.token"
    await start_daemon("--margin", "1", *FAST_RETRIES)
    await wait_for(lambda: read_or_none(target) is not None, 3, "the first token")
    good = target.read_text()

    real_write = TokenWriter.write
    attempts: list[str] = []

    def full_disk(self: TokenWriter, token: str) -> None:
        attempts.append(token)
        if len(attempts) <= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, token)

    monkeypatch.setattr(TokenWriter, "write", full_disk)
    await wait_for(lambda: len(attempts) >= 4, 4, "the write retries")
    await wait_for(lambda: read_or_none(target) != good, 2, "the write after the disk has room")
    assert logs.count("No space left on device", 40) == 1
    # The daemon logs the recovery just after replacing the file: wait for the line, bounded.
    await wait_for(lambda: logs.count("Recovered after", 20) >= 1, 2, "the recovery logged")
    assert logs.count("Recovered after 3 failed attempt(s)", 20) == 1


async def test_a_bug_in_the_loop_ends_the_run_with_status_1(
    hub: FakeHub, start_daemon: StartDaemon, logs: LogLines, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: TokenWriter, token: str) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(TokenWriter, "write", broken)
    running = await start_daemon()
    assert await asyncio.wait_for(running.task, 3) == 1
    assert logs.count("The refresh loop stopped unexpectedly", 40) == 1
    assert running.daemon.status.running is False


def test_reprs_hide_tokens() -> None:
    grant = TokenGrant(access_token="FAKE-ACCESS-TOKEN-repr", expires_at=1.0)
    assert "FAKE-ACCESS-TOKEN-repr" not in repr(grant)
    assert "FAKE-ACCESS-TOKEN-repr" not in str(grant)
    assert "FAKE-API-TOKEN-repr" not in repr(ApiToken("FAKE-API-TOKEN-repr"))
