"""Who may log in, and who is an admin, comes from the provider's groups claim."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Stack, running_stack
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
