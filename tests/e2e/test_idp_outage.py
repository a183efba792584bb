"""The identity provider unreachable for three token lifetimes, then back.

Packets to the provider's port are dropped (nftables on loopback), as when it is down or cut
off: connections the hub opens to refresh a token never complete, so each attempt runs into
its timeout, and the provider keeps its grants for when it returns, as a real provider's
database does. Meanwhile the user keeps saving: the server's reva session does not depend on
the provider, so nothing the user does may fail. The refresher keeps the last good token in
place and backs off; when the provider answers again, a fresh token arrives without anyone
logging in.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cs3_contents_manager.cs3.auth import jwt_expiry
from tests.e2e.conftest import TOKEN_TTL, Stack, running_stack
from tests.harness.hub import hub_login

pytestmark = pytest.mark.timeout(400)

OUTAGE = 3 * TOKEN_TTL
SAVE_EVERY = 2.0
USER, PASSWORD = "marie", "radioactivity"


@contextlib.contextmanager
def unreachable(port: int) -> Iterator[None]:
    """Drop every packet to `port` on this machine until the block ends."""
    table = f"cs3outage{uuid.uuid4().hex[:8]}"
    rules = f"""
        table inet {table} {{
            chain input {{
                type filter hook input priority -10; policy accept;
                tcp dport {port} drop
            }}
        }}
    """
    subprocess.run(["nft", "-f", "-"], input=rules.encode(), check=True, timeout=10)
    try:
        yield
    finally:
        subprocess.run(["nft", "delete", "table", "inet", table], check=True, timeout=10)


@pytest.fixture(scope="module")
def outage_stack(revad_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of this module's own: its provider becomes unreachable."""
    with running_stack(revad_binary, tmp_path_factory.mktemp("outage")) as running:
        yield running


async def save(server: httpx.AsyncClient, n: int) -> int:
    model = {"type": "file", "format": "text", "content": f"save {n}"}
    res = await server.put(f"outage-{n % 3}.txt", json=model)
    return res.status_code


async def test_saves_go_on_and_tokens_come_back_after_a_provider_outage(outage_stack: Stack) -> None:
    stack = outage_stack
    async with httpx.AsyncClient(timeout=60) as browser:
        res = await hub_login(browser, stack.hub, USER, PASSWORD)
        assert res.status_code == 200, res.text[:500]
    await stack.wait_for_server(USER)
    async with stack.admin() as admin:
        res = await admin.post(
            f"/users/{USER}/tokens", json={"scopes": [f"access:servers!user={USER}"], "expires_in": 3600}
        )
        assert res.status_code == 201, res.text
        api_token = res.json()["token"]
    token_file = stack.hub.token_file(USER)
    refresher_log = stack.hub.user_dir(USER) / "refresher.log"

    async with httpx.AsyncClient(
        base_url=f"{stack.hub.url}/user/{USER}/api/contents",
        headers={"Authorization": f"token {api_token}"},
        timeout=60,
    ) as server:
        assert await save(server, 0) in (200, 201)
        log_before = refresher_log.read_text()
        statuses: list[int] = []
        tokens_seen: set[str] = set()
        with unreachable(stack.idp.port):
            down_at = time.monotonic()
            n = 1
            while time.monotonic() - down_at < OUTAGE:
                statuses.append(await save(server, n))
                token = token_file.read_text().strip()
                tokens_seen.add(token)
                stack.seen_secrets.add(token)
                n += 1
                await asyncio.sleep(SAVE_EVERY)
            kept = token_file.read_text().strip()
        back_at = time.monotonic()

        # Every save worked while the provider was gone.
        assert statuses, "no save was attempted"
        assert set(statuses) <= {200, 201}, statuses
        # The refresher never replaced the token with a dead one: at most one fresh token
        # (from a refresh that finished just as the provider froze), then the same file.
        assert len(tokens_seen) <= 2
        expiry = jwt_expiry(kept)
        assert expiry is not None
        assert expiry < time.time(), "an outage of three lifetimes should outlast the last token"
        during = refresher_log.read_text()[len(log_before) :]
        assert "the current token stays in place" in during
        assert "no new one could be fetched yet" in during

        # The provider answers again: a fresh token arrives without a new login.
        deadline = back_at + 2 * TOKEN_TTL
        while time.monotonic() < deadline:
            current = token_file.read_text().strip()
            if current != kept and (jwt_expiry(current) or 0) > time.time():
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError(f"no fresh token {2 * TOKEN_TTL} s after the provider came back\n{during}")
        recovered = time.monotonic() - back_at
        stack.seen_secrets.add(current)
        assert "Recovered after" in refresher_log.read_text()[len(log_before) :]
        assert await save(server, n) in (200, 201)
    print(
        f"{len(statuses)} saves during a {OUTAGE} s outage, all worked; fresh token {recovered:.1f} s after"
    )
    await stack.assert_no_token_in_logs(
        {USER: "test_saves_go_on_and_tokens_come_back_after_a_provider_outage"}
    )
