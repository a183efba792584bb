"""Fixtures for the contents manager: a fresh CS3 folder per test as the Jupyter root."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from traitlets.config import Config

from cs3_contents_manager import CS3LargeFileManager
from cs3_contents_manager.cs3.storage import CS3Storage
from tests.conftest import storage_for
from tests.harness.jupyter import JupyterServer, seed_server
from tests.harness.jupyter import password_file as make_password_file
from tests.harness.reva import Revad

# jupyter_server's tests/conftest.py `dirs`: (folder, base name of the notebook, text file and
# blob inside it), shared by the ported conformance suites.
DIRS: list[tuple[str, str]] = [
    ("", "inroot"),
    ("Directory with spaces in", "inspace"),
    ("unicodé", "innonascii"),
    ("foo", "a"),
    ("foo", "b"),
    ("foo", "name with spaces"),
    ("foo", "unicodé"),
    ("foo/bar", "baz"),
    ("ordering", "A"),
    ("ordering", "b"),
    ("ordering", "C"),
    ("å b", "ç d"),
]


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    return make_password_file(tmp_path)


@pytest.fixture
async def cs3_root(reva: Revad) -> AsyncIterator[str]:
    """A new, empty folder in einstein's home: the root every test starts from."""
    storage = storage_for(reva, "einstein")
    root = f"/home/t-{uuid.uuid4().hex[:12]}"
    await storage.mkdir(root)
    yield root
    await storage.close()


@pytest.fixture
async def admin(reva: Revad) -> AsyncIterator[CS3Storage]:
    """einstein's storage seen directly over CS3, to check what the manager really stored."""
    storage = storage_for(reva, "einstein")
    yield storage
    await storage.close()


def cs3_config(reva: Revad, root: str, secret: Path, **extra: Any) -> Config:
    c = Config()
    c.CS3FileManagerMixin.host = reva.gateway
    c.CS3FileManagerMixin.auth_login_type = "basic"
    c.CS3FileManagerMixin.client_id = "einstein"
    c.CS3FileManagerMixin.token_path = str(secret)
    c.CS3FileManagerMixin.root_path = root
    for key, value in extra.items():
        section, name = key.split("__")
        setattr(getattr(c, section), name, value)
    return c


@pytest.fixture
async def cm(reva: Revad, cs3_root: str, password_file: Path) -> AsyncIterator[CS3LargeFileManager]:
    manager = CS3LargeFileManager(config=cs3_config(reva, cs3_root, password_file))
    yield manager
    await manager.storage.close()


@pytest.fixture(scope="session")
def jupyter(reva: Revad, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServer]:
    """One real Jupyter Server for the session, configured with the seed's names."""
    workdir = tmp_path_factory.mktemp("jupyter")
    root = f"/home/srv-{uuid.uuid4().hex[:12]}"

    async def make_root() -> None:
        storage = storage_for(reva, "einstein")
        try:
            await storage.mkdir(root)
        finally:
            await storage.close()

    asyncio.run(make_root())
    server = seed_server(reva.gateway, workdir, root)
    server.root = root  # type: ignore[attr-defined]
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def api(jupyter: JupyterServer) -> AsyncIterator[Api]:
    """An HTTP client of the Jupyter server, working in a fresh folder of its own."""
    async with jupyter.client() as client:
        folder = f"t-{uuid.uuid4().hex[:12]}"
        res = await client.put(f"/api/contents/{folder}", json={"type": "directory"})
        assert res.status_code == 201, res.text
        yield Api(client, folder, f"{jupyter.root}/{folder}")  # type: ignore[attr-defined]


class Api:
    """Contents REST calls relative to a test's own folder."""

    def __init__(self, client: httpx.AsyncClient, folder: str, cs3_folder: str) -> None:
        self.client = client
        self.folder = folder
        self.cs3_folder = cs3_folder

    def url(self, path: str = "") -> str:
        return "/api/contents/" + quote(f"{self.folder}/{path}".rstrip("/"))

    async def get(self, path: str = "", **params: Any) -> httpx.Response:
        return await self.client.get(self.url(path), params=params)

    async def put(self, path: str, model: Any) -> httpx.Response:
        return await self.client.put(self.url(path), json=model)

    async def post(self, path: str = "", model: Any = None) -> httpx.Response:
        return await self.client.post(self.url(path), json=model or {})

    async def patch(self, path: str, new_path: str) -> httpx.Response:
        return await self.client.patch(self.url(path), json={"path": f"{self.folder}/{new_path}"})

    async def delete(self, path: str) -> httpx.Response:
        return await self.client.delete(self.url(path))
