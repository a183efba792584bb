"""The chart on a real cluster: `helm install` with a site's values, in a namespace where Pod
Security enforces `restricted`, brings up a hub and a proxy that answer on the proxy's Service."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from .cluster import Cluster
from .release import NAMESPACE, RELEASE, Release, Site, import_project_images, start_site

pytestmark = pytest.mark.timeout(1200)


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
        timings["helm install"] = round(release.install())
    except Exception as err:
        raise AssertionError(f"{err}\n{release.describe()}") from err
    print(f"images and install: {timings}")
    return release


def deployment_ready(cluster: Cluster, name: str) -> dict:
    assert cluster.api is not None
    deployment = cluster.api.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{name}")
    return deployment


def test_helm_install_brings_up_the_hub_and_the_proxy(cluster: Cluster, release: Release) -> None:
    for component in ("hub", "proxy"):
        deployment = deployment_ready(cluster, f"{RELEASE}-cs3-jupyterhub-{component}")
        status = deployment["status"]
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
