"""Idle servers are stopped by the bundle's culler (jupyterhub-idle-culler as a hub service).

A server nobody uses keeps its memory and a refresher renewing the user's SSO token; the
culler stops it once it has been idle for `culling.timeout`, and leaves an active one alone.
The timeouts are short here; the chart's defaults are an hour, checked every ten minutes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Stack, running_stack
from tests.harness.hub import hub_login

pytestmark = pytest.mark.timeout(300)

TIMEOUT, EVERY = 20, 5


@pytest.fixture(scope="module")
def stack(revad_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    culling = {"culling": {"timeout": TIMEOUT, "every": EVERY}}
    with running_stack(revad_binary, tmp_path_factory.mktemp("culling"), extra_values=culling) as running:
        yield running


async def test_an_idle_server_is_stopped_and_an_active_one_is_not(stack: Stack) -> None:
    for user, password in (("einstein", "relativity"), ("marie", "radioactivity")):
        async with httpx.AsyncClient(timeout=60) as browser:
            res = await hub_login(browser, stack.hub, user, password)
        assert res.status_code == 200, res.text[:500]
    einstein = await stack.wait_for_server("einstein")
    await stack.wait_for_server("marie")
    pid = einstein["state"]["pid"]
    started = time.monotonic()
    # marie keeps working: her activity reaches the hub as a server's activity report does.
    async with stack.admin() as admin:
        while True:
            now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            res = await admin.post("/users/marie/activity", json={"servers": {"": {"last_activity": now}}})
            assert res.status_code in (200, 204), res.text
            einstein_model = (await admin.get("/users/einstein")).json()
            if not einstein_model["servers"]:
                break
            assert time.monotonic() - started < TIMEOUT + 4 * EVERY + 30, (
                f"einstein's idle server still runs\n{stack.hub.log_tail()}"
            )
            await asyncio.sleep(1)
        # Idle since the last activity the hub had recorded for it (its spawn, here).
        idle = datetime.now(UTC) - datetime.fromisoformat(einstein["last_activity"])
        print(f"einstein's server stopped after {idle.total_seconds():.0f} s idle (timeout {TIMEOUT} s)")
        assert idle.total_seconds() >= TIMEOUT, "stopped before it had been idle for the timeout"
        marie = (await admin.get("/users/marie")).json()
    assert marie["servers"].get("", {}).get("ready"), "marie's active server was stopped"
    # The server's process (and its token refresher with it) is gone, the user is kept.
    deadline = time.monotonic() + 30
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "einstein's server process still runs"
        await asyncio.sleep(0.5)
    assert einstein_model["name"] == "einstein"
