"""Start the real system minus Kubernetes: JupyterHub with configurable-http-proxy, logging in
at the test identity provider, spawning per user a Jupyter server on the CS3 contents manager
with a token refresher beside it. `make run` and the end-to-end tests both use this."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any, ClassVar

import httpx
import yaml

from .ports import free_port
from .process import ManagedProcess, http_probe
from .reva import REPO

CHP = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
HUB_CONFIG = REPO / "hub_config" / "jupyterhub_config.py"


class HubError(RuntimeError):
    pass


@dataclass
class Hub(ManagedProcess):
    """JupyterHub + proxy on free loopback ports, configured through a values YAML."""

    name: ClassVar[str] = "JupyterHub"
    error: ClassVar[type[Exception]] = HubError
    stop_timeout: ClassVar[float] = 20.0
    tail_lines: ClassVar[int] = 60

    workdir: Path
    reva_gateway: str
    issuer: str = ""
    client_id: str = "jupyterhub"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    port: int = field(default_factory=free_port)
    hub_port: int = field(default_factory=free_port)
    proxy_api_port: int = field(default_factory=free_port)
    refresh_margin: int = 10
    refresher_margin: int = 8
    extra_values: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def callback_url(self) -> str:
        return f"{self.url}/hub/oauth_callback"

    @property
    def log_path(self) -> Path:
        return self.workdir / "hub.log"

    def user_dir(self, name: str) -> Path:
        return self.workdir / "users" / name

    def token_file(self, name: str) -> Path:
        return self.user_dir(name) / ".cs3" / "oauth.token"

    def values(self) -> dict[str, Any]:
        singleuser = Path(sys.executable).parent / "jupyterhub-singleuser"
        values: dict[str, Any] = {
            "hub": {
                "bindUrl": self.url,
                "hubBindUrl": f"http://127.0.0.1:{self.hub_port}",
                "dbUrl": f"sqlite:///{self.workdir / 'jupyterhub.sqlite'}",
                "cookieSecretFile": str(self.workdir / "cookie_secret"),
            },
            "proxy": {"command": [str(CHP)], "apiUrl": f"http://127.0.0.1:{self.proxy_api_port}"},
            "sso": {
                "issuer": self.issuer,
                "clientId": self.client_id,
                "clientSecretFile": str(self.workdir / "client_secret"),
                "callbackUrl": self.callback_url,
                "scopes": ["openid", "profile", "email", "groups"],
                "usernameClaim": "preferred_username",
                "refreshMargin": self.refresh_margin,
                "postLogoutRedirectUrl": f"{self.url}/hub/login",
            },
            "cs3": {"gateway": self.reva_gateway, "authType": "bearer", "rootPath": ""},
            "tokenRefresher": {"margin": self.refresher_margin},
            "spawner": {
                "kind": "local",
                "homeDirTemplate": str(self.workdir / "users" / "{username}"),
                "cmd": [str(singleuser)],
            },
        }
        for section, settings in self.extra_values.items():
            values.setdefault(section, {}).update(settings)
        return values

    def start(self, timeout: float = 60.0) -> None:
        if not CHP.exists():
            raise HubError(f"{CHP} is missing: run `make node` first")
        self.workdir.mkdir(parents=True, exist_ok=True)
        secret = self.workdir / "client_secret"
        secret.write_text(self.client_secret)
        secret.chmod(0o600)
        values_path = self.workdir / "values.yaml"
        values_path.write_text(yaml.safe_dump(self.values()))
        values_path.chmod(0o600)
        env = {
            **os.environ,
            "CS3HUB_VALUES": str(values_path),
            "JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32),
            "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(32),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        self.spawn([sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG)], cwd=self.workdir, env=env)
        with httpx.Client(timeout=2.0) as http:
            self.wait_ready(http_probe(http, f"{self.url}/hub/api/"), timeout, interval=0.3)


FORM = re.compile(r"<form[^>]*action=\"([^\"]*)\"", re.I)


async def hub_login(
    client: httpx.AsyncClient, hub: Hub | str, username: str, password: str
) -> httpx.Response:
    """Log in at the hub (a Hub, or the URL of one) through the provider's login form, as a
    browser without JavaScript.

    Returns the last response: the hub (logged in) or the provider's form again (refused).
    """
    url = hub if isinstance(hub, str) else hub.url
    res = await client.get(f"{url}/hub/oauth_login", follow_redirects=True)
    match = FORM.search(res.text)
    if not match:
        raise HubError(f"no login form at {res.url}")
    action = httpx.URL(str(res.url)).join(unescape(match.group(1)))
    return await client.post(
        str(action), data={"login": username, "password": password}, follow_redirects=True
    )
