"""Prometheus reads the hub's and a user server's metrics with one scrape token.

The token of the `metrics` service holds read:metrics and nothing else: it reads /hub/metrics
(JupyterHub's own check) and /user/<name>/metrics (the contents manager's handler admits that
scope), and the contents manager's CS3 counters move when the user saves a file. Without a
token, or with a token that may do much else but not read metrics, both refuse.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import metric_samples, upload_calls
from tests.e2e.conftest import Stack, running_stack
from tests.harness.hub import hub_login

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def scrape_token(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    token = secrets.token_hex(24)
    path = tmp_path_factory.mktemp("scrape") / "metrics.token"
    path.write_text(token)
    path.chmod(0o600)
    return token, path


@pytest.fixture(scope="module")
def stack(
    revad_binary: Path, tmp_path_factory: pytest.TempPathFactory, scrape_token: tuple[str, Path]
) -> Iterator[Stack]:
    extra = {
        "metrics": {"enabled": True},
        "hub": {"services": {"metrics": {"apiTokenFile": str(scrape_token[1])}}},
    }
    with running_stack(revad_binary, tmp_path_factory.mktemp("metrics"), extra_values=extra) as running:
        running.seen_secrets.add(scrape_token[0])
        yield running


async def test_one_scrape_token_reads_the_hub_and_the_user_server(
    stack: Stack, scrape_token: tuple[str, Path]
) -> None:
    async with httpx.AsyncClient(timeout=60) as browser:
        res = await hub_login(browser, stack.hub, "einstein", "relativity")
        assert res.status_code == 200, res.text[:500]
    await stack.wait_for_server("einstein")
    scrape = {"Authorization": f"Bearer {scrape_token[0]}"}
    hub_metrics = f"{stack.hub.url}/hub/metrics"
    server_metrics = f"{stack.hub.url}/user/einstein/metrics"
    async with httpx.AsyncClient(timeout=30) as client, stack.admin() as admin:
        # The hub's: JupyterHub's own metrics, for the scrape token only.
        res = await client.get(hub_metrics, headers=scrape)
        assert res.status_code == 200, res.text[:300]
        assert ("jupyterhub_running_servers", frozenset()) in metric_samples(res.text)
        assert (await client.get(hub_metrics)).status_code == 403

        # The user server's: the contents manager's counters, for the scrape token.
        res = await client.get(server_metrics, headers=scrape)
        assert res.status_code == 200, res.text[:300]
        before = metric_samples(res.text)
        assert any(name.startswith("cs3_") for name, _ in before)
        # An admin token may stop the server, but reading its metrics is not among its scopes.
        admin_header = {"Authorization": f"token {stack.admin_token}"}
        assert (await client.get(server_metrics, headers=admin_header)).status_code == 403
        assert (await client.get(server_metrics)).status_code in (302, 403)

        # einstein saves a file through his server; its upload call is counted.
        res = await admin.post("/users/einstein/tokens", json={"note": "metrics test", "expires_in": 600})
        assert res.status_code == 201, res.text
        user_token = res.json()["token"]
        stack.seen_secrets.add(user_token)
        body = {"type": "file", "format": "base64", "content": base64.b64encode(b"a,b\n1,2\n").decode()}
        res = await client.put(
            f"{stack.hub.url}/user/einstein/api/contents/measured.csv",
            json=body,
            headers={"Authorization": f"token {user_token}"},
        )
        assert res.status_code in (200, 201), res.text
        res = await client.get(server_metrics, headers=scrape)
        assert res.status_code == 200
        after = metric_samples(res.text)
        assert upload_calls(after) >= upload_calls(before) + 1
    assert scrape_token[0] not in res.text
