"""Fixtures for `cs3://`: a real Jupyter server of the bundle on a real reva, and filesystems
logged in the way its kernels are (the server's token file, the server's root)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cs3_contents_manager.cs3fs import CS3FileSystem
from tests.conftest import storage_for
from tests.harness.jupyter import JupyterServer, seed_server
from tests.harness.reva import Revad


def make_folder(reva: Revad, path: str) -> None:
    async def mkdir() -> None:
        storage = storage_for(reva, "einstein")
        try:
            await storage.mkdir(path)
        finally:
            await storage.close()

    asyncio.run(mkdir())


@pytest.fixture(scope="session")
def server(reva: Revad, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One Jupyter server of the bundle (the seed configuration) for the cs3:// tests."""
    workdir = tmp_path_factory.mktemp("cs3fs-jupyter")
    root = f"/home/fs-{uuid.uuid4().hex[:12]}"
    make_folder(reva, root)
    jupyter = seed_server(reva.gateway, workdir, root)
    jupyter.root = root  # type: ignore[attr-defined]
    jupyter.start()
    yield jupyter
    jupyter.stop()


@pytest.fixture
def secret(server: JupyterServer) -> Path:
    """The server's token file (basic login: it holds the password)."""
    return Path(server.settings["CS3FileManagerMixin"]["token_path"])


@pytest.fixture
def folder(reva: Revad, server: JupyterServer) -> str:
    """A fresh folder below the server's root: its path in the file browser."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    make_folder(reva, f"{server.root}/{name}")  # type: ignore[attr-defined]
    return name


def filesystem(reva: Revad, server: JupyterServer, secret: Path, **kwargs: object) -> CS3FileSystem:
    """A filesystem with the settings the server gives its kernels."""
    settings: dict[str, object] = {
        "host": reva.gateway,
        "token_path": str(secret),
        "login_type": "basic",
        "client_id": "einstein",
        "root": server.root,  # type: ignore[attr-defined]
        "skip_instance_cache": True,
    }
    settings.update(kwargs)
    return CS3FileSystem(**settings)  # type: ignore[arg-type]


@pytest.fixture
def fs(reva: Revad, server: JupyterServer, secret: Path) -> CS3FileSystem:
    return filesystem(reva, server, secret)
