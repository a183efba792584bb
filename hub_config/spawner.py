"""Run a user's Jupyter server with the CS3 contents manager and a token refresher beside it.

On Kubernetes the refresher is a native sidecar of the user pod (the chart wires it through
KubeSpawner). `LocalCS3Spawner` is the same contract without Kubernetes, for `make run` and
the end-to-end tests: a refresher process writes the token file, the server starts only
once the first token is there, and both stop together.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Dict, Float, Integer, Unicode

TOKEN_FILE = "oauth.token"


def server_args(settings: dict[str, Any], token_path: str) -> list[str]:
    """Command-line config of the single-user server: the seed's names, from the settings."""
    cs3 = settings.get("cs3", {})
    limits = settings.get("limits", {})
    args = [
        "--ServerApp.contents_manager_class=cs3_contents_manager.CS3LargeFileManager",
        f"--CS3FileManagerMixin.host={cs3.get('gateway', 'localhost:19000')}",
        f"--CS3FileManagerMixin.ssl_enabled={bool(cs3.get('tls', False))}",
        f"--CS3FileManagerMixin.auth_login_type={cs3.get('authType', 'bearer')}",
        f"--CS3FileManagerMixin.root_path={cs3.get('rootPath', '')}",
        f"--CS3FileManagerMixin.token_path={token_path}",
    ]
    if cs3.get("caFile"):
        args.append(f"--CS3FileManagerMixin.ssl_ca_file={cs3['caFile']}")
    for key, trait in (
        ("tus", "tus_enabled"),
        ("lockNotImplemented", "lock_not_impl"),
        ("lockAsAttribute", "lock_as_attr"),
    ):
        if key in cs3:
            args.append(f"--CS3FileManagerMixin.{trait}={bool(cs3[key])}")
    for key, trait in (("callTimeoutSeconds", "call_timeout"), ("listTimeoutSeconds", "list_timeout")):
        if key in cs3:
            args.append(f"--CS3FileManagerMixin.{trait}={float(cs3[key])}")
    for key, trait in (
        ("maxCopyFolderSizeMb", "max_copy_folder_size_mb"),
        ("maxOpenFileSizeMb", "max_open_file_size_mb"),
        ("maxUploadSizeMb", "max_upload_size_mb"),
    ):
        if key in limits:
            args.append(f"--CS3LargeFileManager.{trait}={int(limits[key])}")
    return args


class LocalCS3Spawner(SimpleLocalProcessSpawner):
    settings = Dict(config=True, help="The hub settings tree (cs3, limits, tokenRefresher).")
    refresher_margin = Integer(60, config=True, help="Seconds before expiry the refresher fetches again.")
    refresher_start_timeout = Float(30.0, config=True, help="Seconds to wait for the first token.")
    refresher_log = Unicode("refresher.log", config=True, help="Refresher log file in the user's folder.")

    _refresher: asyncio.subprocess.Process | None = None

    @property
    def token_dir(self) -> Path:
        return Path(self.home_dir) / ".cs3"

    def get_args(self) -> list[str]:
        args = [*super().get_args(), *server_args(self.settings, str(self.token_dir / TOKEN_FILE))]
        if os.geteuid() == 0:
            # Local runs only (containers and CI run as root); the chart's pods never do.
            args.append("--ServerApp.allow_root=True")
        return args

    def _prepare_folders(self) -> None:
        """The user's folder and a token folder only the user can read."""
        Path(self.home_dir).mkdir(parents=True, exist_ok=True)
        self.token_dir.mkdir(mode=0o700, exist_ok=True)
        self.token_dir.chmod(0o700)
        (self.token_dir / "ready").unlink(missing_ok=True)

    async def start(self) -> Any:
        await asyncio.to_thread(self._prepare_folders)
        await self._start_refresher()
        try:
            return await super().start()
        except BaseException:
            await self._stop_refresher()
            raise

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            await self._stop_refresher()

    async def _start_refresher(self) -> None:
        ready = self.token_dir / "ready"
        env = {
            **os.environ,
            "JUPYTERHUB_API_URL": self.hub.api_url,
            "JUPYTERHUB_API_TOKEN": self.api_token,
            "JUPYTERHUB_USER": self.user.name,
            "CS3_TOKEN_PATH": str(self.token_dir / TOKEN_FILE),
            "CS3_TOKEN_READY_FILE": str(ready),
            "CS3_TOKEN_REFRESH_MARGIN": str(self.refresher_margin),
        }
        log = await asyncio.to_thread(open, Path(self.home_dir) / self.refresher_log, "ab")
        try:
            self._refresher = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "token_refresher", env=env, stdout=log, stderr=log
            )
        finally:
            log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.refresher_start_timeout
        while not ready.exists():
            if self._refresher.returncode is not None:
                raise RuntimeError(
                    f"token refresher of {self.user.name} exited with {self._refresher.returncode}"
                )
            if loop.time() > deadline:
                await self._stop_refresher()
                raise TimeoutError(
                    f"no storage token for {self.user.name} within {self.refresher_start_timeout} s"
                )
            await asyncio.sleep(0.1)

    async def _stop_refresher(self) -> None:
        proc, self._refresher = self._refresher, None
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
