"""Start a real Jupyter Server process that serves its contents from reva.

Tests talk to it over HTTP like JupyterLab does; the config file it reads is the seed's
`c.CS3FileManagerMixin.*` block, so the compatibility of those names is exercised as well.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from .ports import free_port
from .process import ManagedProcess, http_probe
from .reva import DEMO_USERS


class JupyterError(RuntimeError):
    pass


@dataclass
class JupyterServer(ManagedProcess):
    """A Jupyter server on a free loopback port, reached with a token like JupyterLab is."""

    name: ClassVar[str] = "jupyter server"
    error: ClassVar[type[Exception]] = JupyterError
    workdir: Path
    settings: dict[str, dict[str, Any]]
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    # The interpreter that runs the server: another virtualenv's for a contents manager
    # installed there (the benchmarks' cs3-jupyter).
    python: Path = field(default_factory=lambda: Path(sys.executable))
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "jupyter.log"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers=self.headers(), timeout=60.0, **kwargs)

    def write_config(self) -> Path:
        lines = ["c = get_config()  # noqa"]
        for section, values in self.settings.items():
            for key, value in values.items():
                lines.append(f"c.{section}.{key} = {value!r}")
        path = self.workdir / "jupyter_server_config.py"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 60.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        local_root = self.workdir / "local-root"
        local_root.mkdir(exist_ok=True)
        config = self.write_config()
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),
            "JUPYTER_DATA_DIR": str(self.workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            **self.env,
        }
        self.spawn(
            [
                str(self.python),
                "-m",
                "jupyter_server",
                f"--config={config}",
                f"--ServerApp.port={self.port}",
                "--ServerApp.port_retries=0",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.open_browser=False",
                "--ServerApp.allow_root=True",
                f"--ServerApp.root_dir={local_root}",
            ],
            cwd=self.workdir,
            env=env,
        )
        with httpx.Client(timeout=2.0, headers=self.headers()) as http:
            self.wait_ready(http_probe(http, f"{self.url}/api/status"), timeout)


def seed_settings(
    gateway: str, root: str, token_path: Path, **extra: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """The seed configuration block of the design notes, pointed at a test reva."""
    settings: dict[str, dict[str, Any]] = {
        "ServerApp": {"contents_manager_class": "cs3_contents_manager.CS3LargeFileManager"},
        "CS3FileManagerMixin": {
            "host": gateway,
            "tus_enabled": False,
            "ssl_enabled": False,
            "token_path": str(token_path),
            "auth_login_type": "basic",
            "authtokenvalidity": 3600,
            "lock_not_impl": False,
            "lock_as_attr": False,
            "root_path": root,
        },
        "CS3LargeFileManager": {"max_copy_folder_size_mb": 500},
    }
    for section, values in extra.items():
        settings.setdefault(section, {}).update(values)
    return settings


def password_file(folder: Path, user: str = "einstein") -> Path:
    """A demo user's password in a file only its owner reads: the secret of `basic` login,
    in place of the OAuth token file of a real deployment."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{user}.secret"
    path.write_text(DEMO_USERS[user])
    path.chmod(0o600)
    return path


def seed_server(
    gateway: str,
    workdir: Path,
    root: str,
    *,
    user: str = "einstein",
    env: dict[str, str] | None = None,
    **sections: dict[str, Any],
) -> JupyterServer:
    """A Jupyter server (not started) on the seed configuration, serving `root` as `user`;
    `sections` add to or override the seed's settings."""
    settings = seed_settings(gateway, root, password_file(workdir, user), **sections)
    return JupyterServer(workdir, settings, env={"JUPYTERHUB_USER": user, **(env or {})})


@asynccontextmanager
async def notebook_kernel(base_url: str, headers: dict[str, str], path: str) -> AsyncIterator[str]:
    """A kernel started for the notebook at `path` as JupyterLab starts one (POST /api/sessions
    with the notebook's path and name, python3): yields the URL of its channels websocket and
    ends the session after."""
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60.0) as http:
        res = await http.post(
            "api/sessions",
            json={
                "path": path,
                "name": path.rsplit("/", 1)[-1],
                "type": "notebook",
                "kernel": {"name": "python3"},
            },
        )
        assert res.status_code == 201, res.text
        session = res.json()
        try:
            ws_base = base_url.rstrip("/").replace("http", "ws", 1)
            yield f"{ws_base}/api/kernels/{session['kernel']['id']}/channels"
        finally:
            await http.delete(f"api/sessions/{session['id']}")
