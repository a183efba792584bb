"""Once the provider refuses a user's refresh token, their server gets 401, not the stale token.

The user is disabled at the provider (as when they leave): their refresh token then gets
invalid_grant. The server's token refresher must learn that a new login is needed instead
of being handed the last access token again, which the provider no longer stands behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import STORAGE_TOKEN, TOKEN_TTL, Stack, running_stack
from tests.harness.hub import hub_login

pytestmark = pytest.mark.timeout(240)

USER, PASSWORD = "einstein", "relativity"
# oidc-provider's reason for a refresh token whose account findAccount no longer returns.
ACCOUNT_GONE = "refresh token invalid (referenced account not found)"


@pytest.fixture(scope="module")
def stack(revad_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack of this module's own: its provider disables a user."""
    with running_stack(revad_binary, tmp_path_factory.mktemp("refusal")) as running:
        yield running


def refused_refreshes(stack: Stack) -> int:
    return int(stack.idp.stats()["grant_errors"].get("refresh_token", {}).get(ACCOUNT_GONE, 0))


async def test_token_endpoint_answers_401_once_the_provider_refuses_the_refresh(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=60) as browser:
        res = await hub_login(browser, stack.hub, USER, PASSWORD)
        assert res.status_code == 200, res.text[:500]
    server_token = await stack.server_api_token(USER)
    async with stack.as_server(server_token) as server:
        res = await server.get(STORAGE_TOKEN)
        assert res.status_code == 200, res.text[:300]
        stale = res.json()["access_token"]
        stack.seen_secrets.add(stale)

        stack.idp.update_user(USER, disabled=True)
        # Polled until a request is made after the provider refused a refresh (whoever asked
        # for it, this request or the refresher): no new token can come any more.
        res = await stack.next_storage_answer(
            server, stale, timeout=TOKEN_TTL + 15, settled=lambda: refused_refreshes(stack) > 0
        )
        assert refused_refreshes(stack) > 0, "the provider refused no refresh"
        assert res.status_code == 401, (
            res.status_code,
            "stale token" if stale in res.text else res.text[:300],
        )
        assert f"The login of {USER} expired: a new login is needed" in res.text
        assert stale not in res.text
        # It stays refused.
        res = await server.get(STORAGE_TOKEN)
        assert res.status_code == 401, res.status_code

    await stack.assert_no_token_in_logs(
        {USER: "test_token_endpoint_answers_401_once_the_provider_refuses_the_refresh"}
    )
