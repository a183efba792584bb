"""The hub of the test release as the cluster tests watch it: through a service of its own
whose token may see and manage users and servers, over the proxy's NodePort."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx

from tests.conftest import DEMO_USERS
from tests.harness.hub import hub_login

from .release import Release

ADMIN_TOKEN = secrets.token_hex(24)
# A service of the hub holding what the tests need to watch users and their servers.
ADMIN_VALUES: dict[str, Any] = {
    "hub": {
        "services": {"cluster-tests": {"apiToken": ADMIN_TOKEN}},
        "loadRoles": [
            {
                "name": "cluster-tests",
                "scopes": ["admin:users", "admin:servers", "tokens"],
                "services": ["cluster-tests"],
            }
        ],
    }
}


def admin(release: Release) -> httpx.Client:
    return httpx.Client(
        base_url=f"{release.site.hub_url}/hub/api",
        headers={"Authorization": f"token {ADMIN_TOKEN}"},
        timeout=30,
    )


def wait_for_server(release: Release, user: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (server := running_server(release, user)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{user}'s server was not ready after {timeout:.0f} s\n{release.describe()}")
        time.sleep(1)
    return server


async def login(release: Release, user: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as browser:
        return await hub_login(browser, release.site.hub_url, user, DEMO_USERS[user])


def running_server(release: Release, user: str) -> dict[str, Any] | None:
    with admin(release) as hub:
        res = hub.get(f"/users/{user}")
    if res.status_code == 404:
        return None
    assert res.status_code == 200, res.text
    server = (res.json().get("servers") or {}).get("")
    return server if server and server.get("ready") else None
