"""The chart on a real cluster: `helm install` with a site's values, in a namespace where Pod
Security enforces `restricted`, brings up a hub and a proxy that answer on the proxy's Service;
a user who logs in gets a pod from KubeSpawner whose token refresher starts before the server,
and whose saves land in the user's reva home across token lifetimes."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from hub_config.kubernetes import SIDECAR, TOKEN_PATH, TOKEN_VOLUME
from tests.conftest import DEMO_USERS, storage_for
from tests.harness.hub import hub_login

from .cluster import Cluster
from .release import NAMESPACE, RELEASE, TOKEN_TTL, Release, Site, import_project_images, start_site

pytestmark = pytest.mark.timeout(1200)

ADMIN_TOKEN = secrets.token_hex(24)
# A service of the hub holding what the tests need to watch users and their servers.
ADMIN_VALUES: dict[str, Any] = {
    "hub": {
        "services": {"cluster-tests": {"apiToken": ADMIN_TOKEN}},
        "loadRoles": [
            {
                "name": "cluster-tests",
                "scopes": ["admin:users", "admin:servers", "tokens"],
                "services": ["cluster-tests"],
            }
        ],
    }
}
USER = "einstein"


@pytest.fixture(scope="module")
def site(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    site = start_site(tmp_path_factory.mktemp("site"), cluster.node_ip)
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="module")
def release(cluster: Cluster, site: Site, tmp_path_factory: pytest.TempPathFactory) -> Release:
    workdir = tmp_path_factory.mktemp("release")
    timings = import_project_images(cluster, workdir / "images")
    release = Release(cluster, site, workdir)
    release.prepare()
    try:
        timings["helm install"] = round(release.install(ADMIN_VALUES))
    except Exception as err:
        raise AssertionError(f"{err}\n{release.describe()}") from err
    print(f"images and install: {timings}")
    return release


def deployment(cluster: Cluster, name: str) -> dict[str, Any]:
    assert cluster.api is not None
    return cluster.api.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")


def test_helm_install_brings_up_the_hub_and_the_proxy(cluster: Cluster, release: Release) -> None:
    for component in ("hub", "proxy"):
        status = deployment(cluster, f"{RELEASE}-cs3-jupyterhub-{component}")["status"]
        assert status.get("readyReplicas") == 1, status
    # The hub answers through the proxy's NodePort, as a browser on the node reaches it.
    deadline = time.monotonic() + 30
    while True:
        res = httpx.get(f"{release.site.hub_url}/hub/api/", timeout=5)
        if res.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert res.status_code == 200, res.text
    assert "version" in res.json()


def admin(release: Release) -> httpx.Client:
    return httpx.Client(
        base_url=f"{release.site.hub_url}/hub/api",
        headers={"Authorization": f"token {ADMIN_TOKEN}"},
        timeout=30,
    )


def wait_for_server(release: Release, user: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: Any = None
    with admin(release) as hub:
        while time.monotonic() < deadline:
            res = hub.get(f"/users/{user}")
            seen = res.json() if res.status_code == 200 else res.status_code
            server = (seen.get("servers") or {}).get("") if isinstance(seen, dict) else None
            if server and server.get("ready"):
                return server
            time.sleep(1)
    raise AssertionError(f"{user}'s server was not ready after {timeout:.0f} s: {seen}\n{release.describe()}")


async def login(release: Release, user: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as browser:
        return await hub_login(browser, release.site.hub_url, user, DEMO_USERS[user])


@pytest.fixture(scope="module")
def einstein_pod(cluster: Cluster, release: Release) -> dict[str, Any]:
    """einstein logged in through the provider; his pod, once the hub says his server is ready."""
    started = time.monotonic()
    res = asyncio.run(login(release, USER))
    assert res.status_code == 200, res.text[:500]
    server = wait_for_server(release, USER, 180)
    print(f"{USER}'s server ready {time.monotonic() - started:.1f} s after the login: {server['url']}")
    assert cluster.api is not None
    return cluster.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{server['state']['pod_name']}")


def started_at(status: dict[str, Any]) -> datetime:
    running = status["state"].get("running")
    assert running, f"{status['name']} is not running: {status['state']}"
    return datetime.fromisoformat(running["startedAt"])


def test_the_refresher_starts_before_the_notebook(einstein_pod: dict[str, Any]) -> None:
    status = einstein_pod["status"]
    sidecar = next(s for s in status["initContainerStatuses"] if s["name"] == SIDECAR)
    notebook = next(s for s in status["containerStatuses"] if s["name"] == "notebook")
    # A native sidecar: an init container that keeps running beside the notebook.
    spec = next(c for c in einstein_pod["spec"]["initContainers"] if c["name"] == SIDECAR)
    assert spec["restartPolicy"] == "Always"
    assert sidecar["started"], sidecar
    assert sidecar["ready"], sidecar
    assert notebook["ready"], notebook
    # The kubelet starts the notebook only once the sidecar's startup probe saw the first token.
    assert started_at(sidecar) <= started_at(notebook)
    assert sidecar["restartCount"] == 0
    assert notebook["restartCount"] == 0


def test_the_token_file_is_private_and_in_memory(cluster: Cluster, einstein_pod: dict[str, Any]) -> None:
    volume = next(v for v in einstein_pod["spec"]["volumes"] if v["name"] == TOKEN_VOLUME)
    assert volume["emptyDir"]["medium"] == "Memory"
    name = einstein_pod["metadata"]["name"]
    script = f"import os, stat; s = os.stat({TOKEN_PATH!r}); print(oct(stat.S_IMODE(s.st_mode)), s.st_size)"
    out = cluster.kubectl("exec", "-n", NAMESPACE, name, "-c", "notebook", "--", "python3", "-c", script)
    mode, size = out.stdout.split()
    assert mode == "0o600"
    assert int(size) > 100  # a JWT, not an empty placeholder


@pytest.fixture(scope="module")
def einstein_token(release: Release, einstein_pod: dict[str, Any]) -> str:
    """An API token of einstein's that reaches his server, as JupyterLab's requests do."""
    with admin(release) as hub:
        res = hub.post(
            f"/users/{USER}/tokens", json={"scopes": [f"access:servers!user={USER}"], "expires_in": 3600}
        )
    assert res.status_code == 201, res.text
    return res.json()["token"]


def contents(release: Release, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{release.site.hub_url}/user/{USER}/api/contents/",
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )


def notebook(text: str) -> dict[str, Any]:
    return {
        "type": "notebook",
        "format": "json",
        "content": {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {},
            "cells": [{"cell_type": "markdown", "id": "c1", "metadata": {}, "source": text}],
        },
    }


async def stored_source(release: Release, path: str) -> str:
    """The first cell of the notebook as reva holds it, read over CS3 as its owner."""
    storage = storage_for(release.site.reva, USER)
    try:
        data = await storage.read(f"/home/{path}")
    finally:
        await storage.close()
    source = json.loads(data)["cells"][0]["source"]
    # nbformat writes multi-line strings as lists of lines.
    return "".join(source) if isinstance(source, list) else source


async def test_saves_land_in_reva_across_token_lifetimes(
    cluster: Cluster, release: Release, einstein_pod: dict[str, Any], einstein_token: str
) -> None:
    name = einstein_pod["metadata"]["name"]
    read_token = ["exec", "-n", NAMESPACE, name, "-c", "notebook", "--", "cat", TOKEN_PATH]
    async with contents(release, einstein_token) as server:
        res = await server.put("cluster.ipynb", json=notebook("first save"))
        assert res.status_code == 201, res.text
        assert await stored_source(release, "cluster.ipynb") == "first save"
        first = cluster.kubectl(*read_token).stdout
        # Past two access-token lifetimes the refresher has replaced the token twice.
        await asyncio.sleep(2 * TOKEN_TTL + 5)
        res = await server.put("cluster.ipynb", json=notebook("still saving"))
        assert res.status_code == 200, res.text
        assert await stored_source(release, "cluster.ipynb") == "still saving"
    assert cluster.kubectl(*read_token).stdout != first
