"""What a site admin sets in the values, on the real cluster: `helm upgrade` to values with a
database schema check before the hub starts, an extraConfig snippet, profiles, a volume of the
site's own in every user pod and a Prometheus scrape token; then short culling, which stops an
idle server and removes its pod. The first module of the folder: the release is left with the
values it was installed with, and without user servers, for test_chart."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import DEMO_USERS, metric_samples, upload_calls
from tests.harness import gateway_api
from tests.harness.browser import chromium, screenshot_on_failure, sso_login

from .cluster import Cluster
from .hub_api import ADMIN_VALUES, admin, running_server, wait_for_server
from .release import NAMESPACE, RELEASE, STORAGE_CLASS, Release

pytestmark = pytest.mark.timeout(900)

USER = "marie"
MOTD = "Maintenance on Monday: save your notebooks"
SITE_FILE = "The site's own files, mounted in every user pod"
LARGE_MEMORY = 3 * 1024**3
SITE_VALUES: dict[str, Any] = {
    **ADMIN_VALUES,
    "hub": {
        **ADMIN_VALUES["hub"],
        "db": {"pvc": {"storageClassName": STORAGE_CLASS}, "upgrade": True},
        "extraConfig": {"10-announce": 'c.JupyterHub.template_vars = {"announcement_login": custom["motd"]}'},
        "allowNamedServers": True,
        "namedServerLimitPerUser": 2,
    },
    "custom": {"motd": MOTD},
    "singleuser": {
        "profileList": [
            {"display_name": "Standard", "slug": "standard", "default": True},
            {
                "display_name": "Large",
                "slug": "large",
                "description": "3 GiB of memory",
                "kubespawner_override": {"mem_limit": "3Gi", "environment": {"SITE_PROFILE": "large"}},
            },
        ],
        # A ConfigMap stands in for the CSI volume (EOS, CVMFS) a site would mount.
        "extraVolumes": [{"name": "site-files", "configMap": {"name": "site-files"}}],
        "extraVolumeMounts": [{"name": "site-files", "mountPath": "/etc/site", "readOnly": True}],
    },
    "metrics": {"enabled": True},
    # The Gateway API's CRDs are installed first (a site's Gateway controller brings them).
    "httpRoute": {
        "enabled": True,
        "parentRefs": [{"name": "site-gateway"}],
        "hostnames": ["hub.example.org"],
    },
}
CULL_TIMEOUT, CULL_EVERY = 30, 10


@pytest.fixture(scope="module")
def site_release(cluster: Cluster, release: Release) -> Iterator[Release]:
    assert cluster.api is not None
    assert not release.pods("singleuser-server"), "this module expects no user server yet"
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "site-files"},
        "data": {"motd": SITE_FILE},
    }
    cluster.api.create(f"/api/v1/namespaces/{NAMESPACE}/configmaps", configmap)
    cluster.kubectl("apply", "--server-side", "-f", str(gateway_api.crd_path("httproutes")))
    cluster.kubectl("wait", "--for=condition=Established", "crd/httproutes.gateway.networking.k8s.io")
    seconds = release.upgrade(SITE_VALUES)
    print(f"helm upgrade to the site's values: {seconds:.1f} s")
    try:
        yield release
    finally:
        release.upgrade(ADMIN_VALUES)
        cluster.api.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/configmaps/site-files")


def test_the_database_schema_is_checked_before_the_hub_starts(site_release: Release) -> None:
    (hub,) = [p for p in site_release.pods("hub") if not p["metadata"].get("deletionTimestamp")]
    (init,) = hub["status"]["initContainerStatuses"]
    assert init["name"] == "upgrade-db"
    terminated = init["state"].get("terminated")
    assert terminated, init
    assert terminated["exitCode"] == 0, site_release.log(hub["metadata"]["name"], "upgrade-db")
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in hub["status"]["conditions"])


def test_the_api_server_admits_the_http_route(site_release: Release) -> None:
    """The route passes the CRD's own validation (its CEL rules included) in the API server."""
    assert site_release.cluster.api is not None
    route = site_release.cluster.api.get(
        f"/apis/gateway.networking.k8s.io/v1/namespaces/{NAMESPACE}/httproutes/{RELEASE}-cs3-jupyterhub"
    )
    (rule,) = route["spec"]["rules"]
    assert rule["backendRefs"][0]["name"] == f"{RELEASE}-cs3-jupyterhub-proxy-public"


def test_an_extra_config_snippet_takes_effect(site_release: Release) -> None:
    res = httpx.get(f"{site_release.site.hub_url}/hub/login", timeout=30)
    assert res.status_code == 200
    assert MOTD in res.text


def user_pod(release: Release) -> dict[str, Any]:
    pods = [
        p
        for p in release.pods("singleuser-server")
        if p["metadata"]["labels"].get("hub.jupyter.org/username") == USER
    ]
    assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
    return pods[0]


async def test_the_profile_chosen_in_the_spawn_form_sizes_the_pod(site_release: Release) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        try:
            await sso_login(page, site_release.site.hub_url, USER, DEMO_USERS[USER])
            await page.wait_for_url("**/hub/spawn**", timeout=60_000)
            await page.locator('label[for="profile-item-large"]').click()
            await page.get_by_role("button", name="Start").click()
            await page.wait_for_url(f"**/user/{USER}/lab**", timeout=180_000)
            await page.locator(".jp-DirListing-content").wait_for(timeout=60_000)
        except BaseException:
            await screenshot_on_failure(page, "cluster-profile")
            raise
        finally:
            await context.close()
    pod = user_pod(site_release)
    notebook = next(c for c in pod["spec"]["containers"] if c["name"] == "notebook")
    limit = notebook["resources"]["limits"]["memory"]
    assert limit in ("3Gi", str(LARGE_MEMORY)), limit
    env = {v["name"]: v.get("value") for v in notebook.get("env", [])}
    assert env["SITE_PROFILE"] == "large"
    # The profile keeps the CS3 wiring: the refresher, and the contents manager's arguments.
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["token-refresher"]
    assert any(a.startswith("--CS3FileManagerMixin.token_path=") for a in notebook["args"])
    # The site's volume is in the notebook container.
    shown = site_release.cluster.kubectl(
        "exec", "-n", NAMESPACE, pod["metadata"]["name"], "-c", "notebook", "--", "cat", "/etc/site/motd"
    ).stdout
    assert shown == SITE_FILE


def scrape_token(cluster: Cluster) -> str:
    assert cluster.api is not None
    secret = cluster.api.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{RELEASE}-cs3-jupyterhub-hub")
    return base64.b64decode(secret["data"]["hub.services.metrics.apiToken"]).decode()


async def test_prometheus_reads_the_hub_and_the_user_server_with_the_scrape_token(
    site_release: Release,
) -> None:
    wait_for_server(site_release, USER, 60)
    hub_url = site_release.site.hub_url
    scrape = {"Authorization": f"Bearer {scrape_token(site_release.cluster)}"}
    async with httpx.AsyncClient(timeout=30) as client:
        res = await client.get(f"{hub_url}/hub/metrics", headers=scrape)
        assert res.status_code == 200, res.text[:300]
        assert metric_samples(res.text)[("jupyterhub_running_servers", frozenset())] >= 1
        assert (await client.get(f"{hub_url}/hub/metrics")).status_code == 403
        server_metrics = f"{hub_url}/user/{USER}/metrics"
        res = await client.get(server_metrics, headers=scrape)
        assert res.status_code == 200, res.text[:300]
        before = upload_calls(metric_samples(res.text))
        with admin(site_release) as hub:
            res = hub.post(f"/users/{USER}/tokens", json={"note": "cluster metrics test", "expires_in": 300})
        assert res.status_code == 201, res.text
        body = {"type": "file", "format": "text", "content": "counted"}
        res = await client.put(
            f"{hub_url}/user/{USER}/api/contents/counted.txt",
            json=body,
            headers={"Authorization": f"token {res.json()['token']}"},
        )
        assert res.status_code in (200, 201), res.text
        res = await client.get(server_metrics, headers=scrape)
        assert upload_calls(metric_samples(res.text)) >= before + 1
        assert (await client.get(server_metrics)).status_code in (302, 403)


def test_a_named_server_has_its_own_refresher_and_token(site_release: Release) -> None:
    wait_for_server(site_release, USER, 60)
    with admin(site_release) as hub:
        res = hub.post(f"/users/{USER}/servers/second", json={"profile": "standard"})
        assert res.status_code in (201, 202), res.text
        deadline = time.monotonic() + 180
        while not (hub.get(f"/users/{USER}").json()["servers"].get("second") or {}).get("ready"):
            assert time.monotonic() < deadline, site_release.describe()
            time.sleep(1)
    pods = {
        p["metadata"]["annotations"].get("hub.jupyter.org/servername", ""): p
        for p in site_release.pods("singleuser-server")
    }
    assert set(pods) == {"", "second"}, sorted(pods)
    tokens = set()
    for name, pod in pods.items():
        sidecar = next(c for c in pod["spec"]["initContainers"] if c["name"] == "token-refresher")
        tokens.add(next(v["value"] for v in sidecar["env"] if v["name"] == "JUPYTERHUB_API_TOKEN"))
        written = site_release.cluster.kubectl(
            "exec",
            "-n",
            NAMESPACE,
            pod["metadata"]["name"],
            "-c",
            "notebook",
            "--",
            "python3",
            "-c",
            "import os; print(os.path.getsize('/var/run/cs3/oauth.token'))",
        ).stdout
        assert int(written) > 100, f"{name or 'default'} server has no token"
    assert len(tokens) == 2, "each server refreshes with its own API token"
    with admin(site_release) as hub:
        res = hub.delete(f"/users/{USER}/servers/second", params={"remove": "true"})
        assert res.status_code in (202, 204), res.text


def test_an_idle_server_is_culled_and_its_pod_removed(site_release: Release) -> None:
    """Last here: culling with a short timeout stops marie's server, idle since the tests above."""
    pod = user_pod(site_release)["metadata"]["name"]
    assert running_server(site_release, USER) is not None
    site_release.upgrade({**SITE_VALUES, "culling": {"timeout": CULL_TIMEOUT, "every": CULL_EVERY}})
    started = time.monotonic()
    deadline = started + CULL_TIMEOUT + 4 * CULL_EVERY + 60

    def servers() -> dict[str, Any]:
        with admin(site_release) as hub:
            return hub.get(f"/users/{USER}").json()["servers"]

    # Gone from the cluster, and from the hub (not merely stopping).
    while site_release.pods("singleuser-server") or servers():
        assert time.monotonic() < deadline, f"{pod} still there\n{site_release.describe()}"
        time.sleep(2)
    took = time.monotonic() - started
    print(f"{pod} removed {took:.0f} s after the culling upgrade (timeout {CULL_TIMEOUT} s)")
