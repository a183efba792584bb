"""Who may log in, and who is an admin, comes from the provider's groups claim, at login and
at each token refresh."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import STORAGE_TOKEN, Stack, running_stack
from tests.harness.hub import hub_login


@pytest.fixture(scope="module")
def stack(revad_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    sso = {"allowedGroups": ["radium-lovers", "quantum-lovers"], "adminGroups": ["quantum-lovers"]}
    with running_stack(revad_binary, tmp_path_factory.mktemp("groups"), sso) as running:
        yield running


async def test_groups_decide_access_and_admin(stack: Stack) -> None:
    for user, password in (("marie", "radioactivity"), ("richard", "superfluidity")):
        async with httpx.AsyncClient(timeout=60) as browser:
            res = await hub_login(browser, stack.hub, user, password)
            assert res.status_code == 200, (user, res.status_code)
    async with httpx.AsyncClient(timeout=60) as browser:
        res = await hub_login(browser, stack.hub, "einstein", "relativity")
        assert res.status_code == 403
    async with stack.admin() as admin:
        marie = (await admin.get("/users/marie")).json()
        richard = (await admin.get("/users/richard")).json()
        assert (await admin.get("/users/einstein")).status_code == 404
    assert marie["admin"] is False
    assert richard["admin"] is True
    assert "radium-lovers" in marie["groups"]


async def log_in(stack: Stack, users: dict[str, str]) -> None:
    for user, password in users.items():
        async with httpx.AsyncClient(timeout=60) as browser:
            res = await hub_login(browser, stack.hub, user, password)
            assert res.status_code == 200, (user, res.status_code)


async def test_refresh_syncs_groups_and_refuses_who_left_the_allowed_groups(stack: Stack) -> None:
    users = {"marie": "radioactivity", "richard": "superfluidity"}
    await log_in(stack, users)  # starts their servers
    servers = {user: await stack.server_api_token(user) for user in users}
    # Fresh tokens once the servers run, so that the polling below (once a second, from the
    # start of the refresh margin) refreshes them before the servers' refreshers ask.
    await log_in(stack, users)

    # A refresh with groups managed answers a fresh token (it once answered 500).
    async with stack.as_server(servers["richard"]) as richard:
        res = await richard.get(STORAGE_TOKEN)
        assert res.status_code == 200, res.text[:300]
        login_token = res.json()["access_token"]
        stack.seen_secrets.add(login_token)
        res = await stack.next_storage_answer(richard, login_token)
        assert res.status_code == 200, res.text[:300]
        assert res.json()["expires_at"] > time.time()

        # richard leaves the admin group for an allowed one: the next refresh says so.
        stack.idp.update_user("richard", groups=["physics-lovers", "radium-lovers"])
        res = await richard.get(STORAGE_TOKEN)
        assert res.status_code == 200, res.text[:300]
        res = await stack.next_storage_answer(richard, res.json()["access_token"])
        assert res.status_code == 200, res.text[:300]
    async with stack.admin() as admin:
        model = (await admin.get("/users/richard")).json()
    assert sorted(model["groups"]) == ["physics-lovers", "radium-lovers"]
    assert model["admin"] is False

    # marie is in no allowed group any more: her next refresh is refused, and so is her login.
    stack.idp.update_user("marie", groups=["physics-lovers"])
    async with stack.as_server(servers["marie"]) as marie:
        res = await marie.get(STORAGE_TOKEN)
        if res.status_code == 200:
            stack.seen_secrets.add(res.json()["access_token"])
            res = await stack.next_storage_answer(marie, res.json()["access_token"])
        assert res.status_code == 401, (res.status_code, res.text[:300])
        assert "The login of marie expired: a new login is needed" in res.text
        assert "access_token" not in res.text
    async with httpx.AsyncClient(timeout=60) as browser:
        assert (await hub_login(browser, stack.hub, "marie", "radioactivity")).status_code == 403

    await stack.assert_no_token_in_logs(
        {user: "test_refresh_syncs_groups_and_refuses_who_left_the_allowed_groups" for user in servers}
    )
