"""Saves keep working across ten access-token lifetimes, with one provider refresh per token."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from html import unescape

import httpx

from tests.conftest import storage_for
from tests.e2e.conftest import TOKEN_TTL, Stack
from tests.harness.hub import hub_login

LIFETIMES = 10
SAVE_EVERY = 3.0


async def test_periodic_saves_over_ten_token_lifetimes(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=60) as browser:
        res = await hub_login(browser, stack.hub, "richard", "superfluidity")
        assert res.status_code == 200, res.text[:500]
    await stack.wait_for_server("richard")
    async with stack.admin() as admin:
        res = await admin.post(
            "/users/richard/tokens", json={"scopes": ["access:servers!user=richard"], "expires_in": 3600}
        )
        assert res.status_code == 201, res.text
        api_token = res.json()["token"]

    stack.idp.reset_stats()
    started = time.monotonic()
    saves, failures = 0, []
    last: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=f"{stack.hub.url}/user/richard/api/contents",
        headers={"Authorization": f"token {api_token}"},
        timeout=30,
    ) as server:
        while time.monotonic() - started < LIFETIMES * TOKEN_TTL + 5:
            name = f"soak-{saves % 5}.txt"
            content = f"save {saves} at {time.time():.1f}"
            res = await server.put(name, json={"type": "file", "format": "text", "content": content})
            if res.status_code in (200, 201):
                last[name] = content
            else:
                failures.append((saves, res.status_code, res.text[:200]))
            saves += 1
            await asyncio.sleep(SAVE_EVERY)
    elapsed = time.monotonic() - started

    assert failures == [], failures
    assert saves >= LIFETIMES * TOKEN_TTL / SAVE_EVERY - 5
    storage = storage_for(stack.reva, "richard")
    try:
        for name, content in last.items():
            assert (await storage.read(f"/home/{name}")).decode() == content
    finally:
        await storage.close()

    # Refreshes at the provider: one per token, none doubled by concurrent requests.
    times = stack.idp.grant_times("richard", "refresh_token")
    assert len(times) >= LIFETIMES - 1, f"only {len(times)} refreshes in {elapsed:.0f} s"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    min_gap = TOKEN_TTL - stack.hub.refresh_margin - 2
    assert all(gap >= min_gap for gap in gaps), f"refreshes closer than {min_gap} s: {gaps}"
    assert len(times) <= elapsed / min_gap + 1


async def test_token_endpoint_refuses_everyone_but_the_server(stack: Stack) -> None:
    url = f"{stack.hub.url}/hub/api/cs3/token"
    async with httpx.AsyncClient(timeout=30) as anonymous:
        assert (await anonymous.get(url)).status_code == 403
    async with httpx.AsyncClient(timeout=30) as browser:
        await hub_login(browser, stack.hub, "marie", "radioactivity")
        # marie's own browser session (cookie) may not read it either.
        assert (await browser.get(url)).status_code == 403
    async with stack.admin() as admin:
        # An admin service token has no storage-token scope.
        assert (await admin.get("/cs3/token")).status_code == 403
        res = await admin.post("/users/marie/tokens", json={"scopes": ["read:users:name!user=marie"]})
        assert res.status_code == 201, res.text
        narrow = res.json()["token"]
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"token {narrow}"}) as other:
        res = await other.get(url)
        assert res.status_code == 403
        assert "access_token" not in res.text
    # A personal token as /hub/token makes it inherits all of marie's scopes, the storage
    # token's included: it still may not read her SSO token, only her server's token may.
    async with stack.admin() as admin:
        res = await admin.post("/users/marie/tokens", json={"note": "Server at /user/marie/"})
        assert res.status_code == 201, res.text
        personal = res.json()["token"]
    async with httpx.AsyncClient(timeout=30, headers={"Authorization": f"token {personal}"}) as other:
        assert (await other.get(f"{stack.hub.url}/hub/api/user")).status_code == 200
        res = await other.get(url)
        assert "access_token" not in res.text, "a personal token read the SSO access token"
        assert res.status_code == 403


async def test_login_after_provider_key_rotation(stack: Stack) -> None:
    new_kid = stack.idp.rotate_key()
    async with httpx.AsyncClient(timeout=60) as browser:
        res = await hub_login(browser, stack.hub, "einstein", "relativity")
        assert res.status_code == 200
        assert "/hub/" in str(res.url) or "/user/einstein" in str(res.url)
        assert "oauth_callback" not in str(res.url)
    assert new_kid in stack.idp.stats()["kids"]


async def test_logout_ends_the_sso_session(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=60) as browser:
        await hub_login(browser, stack.hub, "marie", "radioactivity")
        before = stack.idp.stats()["logouts"]
        res = await browser.get(f"{stack.hub.url}/hub/logout", follow_redirects=True)
        assert res.status_code == 200
        # The provider's confirmation form submits itself in a browser; do what its script does.
        form = re.search(r'<form[^>]*id="op.logoutForm"[^>]*>', res.text)
        assert form, res.text[:500]
        action = re.search(r'action="([^"]+)"', form.group(0))
        assert action
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', res.text))
        res = await browser.post(
            str(res.url.join(unescape(action.group(1)))),
            data={**fields, "logout": "yes"},
            follow_redirects=True,
        )
        assert res.status_code == 200
        assert "/hub/login" in str(res.url)
        # Logging in again needs the password: the provider's session is gone.
        res = await browser.get(f"{stack.hub.url}/hub/oauth_login", follow_redirects=True)
        assert 'name="password"' in res.text
    assert stack.idp.stats()["logouts"] == before + 1


async def test_logs_hold_no_token(stack: Stack) -> None:
    await stack.assert_no_token_in_logs(
        {
            "richard": "test_periodic_saves_over_ten_token_lifetimes",
            "marie": "test_token_endpoint_refuses_everyone_but_the_server",
            "einstein": "test_login_after_provider_key_rotation",
        }
    )
