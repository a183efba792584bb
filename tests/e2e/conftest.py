"""The whole system minus Kubernetes, started once per module: identity provider, reva that
trusts it, JupyterHub with configurable-http-proxy spawning local servers with a token
refresher each. Short access-token lifetimes make token refresh happen during the tests."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import JWT
from tests.harness.hub import Hub
from tests.harness.idp import Client, IdentityProvider
from tests.harness.reva import REPO, OidcSettings, Revad, start_revad

TOKEN_TTL = 20
STORAGE_TOKEN = "/hub/api/cs3/token"
ARTIFACTS = REPO / "test-artifacts"


@dataclass
class Stack:
    workdir: Path
    idp: IdentityProvider
    reva: Revad
    hub: Hub
    admin_token: str
    seen_secrets: set[str] = field(default_factory=set)

    def admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"{self.hub.url}/hub/api",
            headers={"Authorization": f"token {self.admin_token}"},
            timeout=30,
        )

    async def wait_for_server(self, user: str, timeout: float = 120) -> dict[str, Any]:
        """The model of the user's default server once it is ready (its `state` included)."""
        deadline = time.monotonic() + timeout
        async with self.admin() as admin:
            while time.monotonic() < deadline:
                res = await admin.get(f"/users/{user}")
                server = (res.json().get("servers") or {}).get("") if res.status_code == 200 else None
                if server and server.get("ready"):
                    return server
                await asyncio.sleep(1)
        raise AssertionError(f"{user}'s server did not start\n{self.hub.log_tail()}")

    async def server_api_token(self, user: str) -> str:
        """The API token the hub gave the user's running server, as the server itself holds it.

        Only a server's own token may read the storage token, and the hub never shows it: it
        is read from the environment of the server's process (its pid is the local spawner's
        state). Remembered for the log scan.
        """
        server = await self.wait_for_server(user)
        pid = (server.get("state") or {}).get("pid")
        assert isinstance(pid, int), f"no pid in the state of {user}'s server: {server.get('state')}"
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        prefix = b"JUPYTERHUB_API_TOKEN="
        token = next((v[len(prefix) :].decode() for v in environ if v.startswith(prefix)), "")
        assert token, f"{user}'s server (pid {pid}) has no JUPYTERHUB_API_TOKEN"
        self.seen_secrets.add(token)
        return token

    def as_server(self, server_token: str) -> httpx.AsyncClient:
        """A client of the hub holding a server's API token, as its token refresher is."""
        return httpx.AsyncClient(
            base_url=self.hub.url, headers={"Authorization": f"token {server_token}"}, timeout=30
        )

    async def next_storage_answer(
        self,
        server: httpx.AsyncClient,
        previous: str,
        timeout: float = TOKEN_TTL + 15,
        settled: Callable[[], bool] = lambda: False,
    ) -> httpx.Response:
        """Ask the storage-token endpoint once a second, as `server`, until it answers other
        than 200 with `previous`: an error, or a refreshed token. Also the first answer to a
        request made once `settled()` held. AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            was_settled = settled()
            res = await server.get(STORAGE_TOKEN)
            if res.status_code != 200:
                return res
            token = res.json()["access_token"]
            self.seen_secrets.add(token)
            if token != previous or was_settled:
                return res
            if time.monotonic() > deadline:
                raise AssertionError(f"{STORAGE_TOKEN} answered the same token for {timeout} s")
            await asyncio.sleep(1)

    def remember_token_file(self, user: str) -> bytes:
        """Read a user's token file, remembering the token for the log scan."""
        data = self.hub.token_file(user).read_bytes()
        self.seen_secrets.add(data.decode().strip())
        return data

    def logs(self) -> dict[Path, str]:
        files = [*self.workdir.rglob("*.log")]
        return {f: f.read_text(errors="replace") for f in files if f.is_file()}

    async def assert_no_token_in_logs(self, logged_in_by: dict[str, str]) -> None:
        """Every log of this stack is free of the tokens the users held, and of any JWT.

        `logged_in_by` names, for each user, the earlier test whose login gave them the tokens
        looked for: when that test failed before its login, this one says so rather than
        failing on its own.
        """
        async with self.admin() as admin:
            for user, test in logged_in_by.items():
                res = await admin.get(f"/users/{user}")
                if res.status_code == 404:
                    pytest.fail(f"{user} never logged in: see {test}", pytrace=False)
                assert res.status_code == 200, res.text
                state = res.json().get("auth_state") or {}
                for key in ("access_token", "refresh_token", "id_token"):
                    if state.get(key):
                        self.seen_secrets.add(state[key])
                token_file = self.hub.token_file(user)
                if token_file.exists():
                    self.seen_secrets.add(token_file.read_text().strip())
        assert self.seen_secrets, "the tests saw no token to look for"
        logs = self.logs()
        assert len(logs) >= 4, f"expected hub, provider, reva and refresher logs, found {sorted(logs)}"
        for path, text in logs.items():
            for secret in self.seen_secrets:
                assert secret not in text, f"a token appears in {path}"
            leaked = JWT.search(text)
            assert leaked is None, f"a JWT appears in {path} at offset {leaked.start() if leaked else 0}"


@contextmanager
def running_stack(
    revad_binary: Path,
    work: Path,
    sso: dict[str, Any] | None = None,
    extra_values: dict[str, dict[str, Any]] | None = None,
) -> Iterator[Stack]:
    """Provider, reva trusting it and the hub, with `sso` values (and other sections of
    `extra_values`) added to the hub's."""
    hub = Hub(work / "hub", reva_gateway="", refresh_margin=8, refresher_margin=5)
    client = Client(
        "jupyterhub", redirect_uris=[hub.callback_url], post_logout_redirect_uris=[f"{hub.url}/hub/login"]
    )
    idp = IdentityProvider(work / "idp", access_token_ttl=TOKEN_TTL, clients=[client])
    idp.start()
    reva: Revad | None = None
    try:
        reva = start_revad(work / "reva", binary=revad_binary, oidc=OidcSettings(issuer=idp.issuer))
        admin_token = secrets.token_hex(24)
        token_file = work / "e2e-admin.token"
        token_file.write_text(admin_token)
        token_file.chmod(0o600)
        hub.issuer = idp.issuer
        hub.reva_gateway = reva.gateway
        hub.client_id = client.client_id
        hub.client_secret = client.client_secret
        extra = dict(extra_values or {})
        # A test's own hub settings: its services beside the admin service of the tests.
        hub_extra = dict(extra.pop("hub", {}))
        hub.extra_values = {
            "hub": {
                **hub_extra,
                "services": {"e2e": {"apiTokenFile": str(token_file)}, **hub_extra.get("services", {})},
                "loadRoles": [
                    {
                        "name": "e2e-admin",
                        "scopes": ["admin:users", "admin:servers", "admin:auth_state", "tokens"],
                        "services": ["e2e"],
                    },
                    *hub_extra.get("loadRoles", []),
                ],
            },
            "sso": dict(sso or {}),
            **extra,
        }
        hub.start()
        yield Stack(work, idp, reva, hub, admin_token)
    finally:
        hub.stop()
        if reva is not None:
            reva.stop()
        idp.stop()


@pytest.fixture(scope="module")
def stack(revad_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(revad_binary, tmp_path_factory.mktemp("e2e")) as running:
        yield running


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.failed and isinstance(stack, Stack):
        report.sections.append(("JupyterHub log", stack.hub.log_tail(80)))
        report.sections.append(("identity provider log", stack.idp.log_tail(40)))
    return report
