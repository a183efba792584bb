"""`cs3://` from async code (fsspec's asynchronous mode, on the caller's event loop), and how
the contents manager hands its settings to kernels inside a Jupyter server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from jupyter_server.serverapp import ServerApp
from jupyter_server.services.sessions.sessionmanager import SessionManager
from traitlets.config import Config

from cs3_contents_manager import CS3LargeFileManager
from cs3_contents_manager.cs3fs import CS3FileSystem
from cs3_contents_manager.cs3fs.config import FSSPEC_ENV
from cs3_contents_manager.cs3fs.kernels import CS3SessionManager
from tests.cs3fs.conftest import filesystem
from tests.harness.jupyter import JupyterServer
from tests.harness.reva import Revad

pytestmark = pytest.mark.reva


async def test_asynchronous_use_on_the_callers_loop(
    reva: Revad, server: JupyterServer, secret: Path, folder: str
) -> None:
    fs = filesystem(reva, server, secret, asynchronous=True)
    try:
        await fs._pipe_file(f"~/{folder}/async.txt", b"awaited")
        assert await fs._cat_file(f"~/{folder}/async.txt") == b"awaited"
        assert await fs._cat_file(f"~/{folder}/async.txt", start=2, end=5) == b"ait"
        assert [e["name"] for e in await fs._ls(f"~/{folder}")] == [f"/~/{folder}/async.txt"]
        with pytest.raises(FileNotFoundError):
            await fs._info(f"~/{folder}/none.txt")
        f = await fs.open_async(f"~/{folder}/async.txt")
        async with f:
            assert await f.read(3) == b"awa"
            f.seek(1)
            assert await f.read() == b"waited"
    finally:
        await fs.close_session()


def manager_in_a_server(monkeypatch: pytest.MonkeyPatch, config: Config) -> CS3LargeFileManager:
    # The manager writes os.environ itself: set, then delete, so that monkeypatch takes the
    # variable out again afterwards (a delenv of an absent variable restores nothing) and
    # later servers and kernels of the session do not inherit this test's settings.
    monkeypatch.setenv(FSSPEC_ENV, "{}")
    monkeypatch.delenv(FSSPEC_ENV)
    if "session_manager_class" not in config.ServerApp:
        # jupyter_server's default, which ServerApp computes only once initialized.
        config.ServerApp.session_manager_class = SessionManager
    app = ServerApp(config=config)
    return CS3LargeFileManager(parent=app, config=config)


def test_the_manager_exports_its_settings_and_never_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = Config()
    config.CS3FileManagerMixin.host = "reva.example.org:19000"
    config.CS3FileManagerMixin.token_path = str(tmp_path / "oauth.token")
    config.CS3FileManagerMixin.client_id = "einstein"
    config.CS3FileManagerMixin.root_path = "/eos/user/{username[0]}/{username}"
    config.CS3FileManagerMixin.ssl_enabled = True
    manager = manager_in_a_server(monkeypatch, config)
    settings = json.loads(os.environ[FSSPEC_ENV])
    assert settings["host"] == "reva.example.org:19000"
    assert settings["root"] == "/eos/user/e/einstein"
    assert settings["token_path"] == str(tmp_path / "oauth.token")
    assert settings["ssl"] is True
    assert manager.parent.session_manager_class is CS3SessionManager  # type: ignore[union-attr]
    # What a kernel builds from it: the same storage, as the same user, below the same root.
    fs = CS3FileSystem(**settings, skip_instance_cache=True)
    assert fs.client_id == "einstein"
    assert fs.root_template == "/eos/user/e/einstein"


def test_a_password_in_the_configuration_is_not_handed_to_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    config = Config()
    config.CS3FileManagerMixin.auth_login_type = "basic"
    config.CS3FileManagerMixin.client_id = "einstein"
    config.CS3FileManagerMixin.client_secret = "relativity"
    manager_in_a_server(monkeypatch, config)
    assert FSSPEC_ENV not in os.environ


def test_a_sites_own_session_manager_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    class SiteSessions(SessionManager):
        pass

    config = Config()
    config.ServerApp.session_manager_class = SiteSessions
    config.CS3FileManagerMixin.token_path = str(tmp_path / "oauth.token")
    manager = manager_in_a_server(monkeypatch, config)
    assert manager.parent.session_manager_class is SiteSessions  # type: ignore[union-attr]
