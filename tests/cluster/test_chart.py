"""The chart on a real cluster: `helm install` with a site's values (its reva and identity
provider running in the cluster too), in a namespace where Pod Security enforces `restricted`,
brings up a hub and a proxy that answer on the proxy's Service; a user who logs in with
Chromium gets a pod from KubeSpawner whose token refresher starts before the server, and whose
saves land in the user's reva home across token lifetimes, hub restarts and upgrades; the
NetworkPolicies hold; `helm uninstall` removes all but what is kept on purpose."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from hub_config.kubernetes import SIDECAR, TOKEN_PATH, TOKEN_VOLUME
from tests.conftest import DEMO_USERS, storage_for, stored_containing
from tests.harness.browser import (
    chromium,
    open_new_notebook,
    run_cell,
    save,
    screenshot_on_failure,
    sso_login,
)
from token_refresher.schedule import LAPSED_RETRY_MAX

from .cluster import Cluster
from .hub_api import ADMIN_VALUES, admin, login, running_server, wait_for_server
from .release import NAMESPACE, RELEASE, Release
from .site import IDP_IP, REVA_IP, TOKEN_TTL

pytestmark = pytest.mark.timeout(1200)

USER = "einstein"


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


async def test_a_chromium_login_spawns_the_server_and_saves_a_notebook(
    cluster: Cluster, release: Release
) -> None:
    """The first login of the module, in the browser: it is what makes KubeSpawner create the pod
    the tests below look at."""
    assert running_server(release, USER) is None, "einstein already has a server: this test must log in first"
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        try:
            started = time.monotonic()
            await sso_login(page, release.site.hub_url, USER, DEMO_USERS[USER])
            await page.wait_for_url(f"**/user/{USER}/lab**", timeout=180_000)
            await page.locator(".jp-DirListing-content").wait_for(timeout=60_000)
            print(f"JupyterLab open {time.monotonic() - started:.1f} s after the login form was sent")
            await open_new_notebook(page, USER)
            await run_cell(page, "print(6 * 7)", "42")
            await save(page)
            saved = json.loads(
                await stored_containing(release.site.reva, USER, "/home/Untitled.ipynb", "6 * 7")
            )
            outputs = ["".join(o.get("text", "")) for c in saved["cells"] for o in c.get("outputs", [])]
            assert "42\n" in outputs
        except BaseException:
            await screenshot_on_failure(page, "cluster-einstein")
            raise
        finally:
            await context.close()
    (pod,) = release.pods("singleuser-server")
    assert pod["metadata"]["labels"].get("hub.jupyter.org/username") == USER


@pytest.fixture(scope="module")
def einstein_pod(cluster: Cluster, release: Release) -> dict[str, Any]:
    """einstein's pod, once the hub says his server is ready: the browser test's, or one started
    by a login here when that test did not run."""
    server = running_server(release, USER)
    if server is None:
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


def uid(pod: dict[str, Any]) -> str:
    return pod["metadata"]["uid"]


def generated_secrets(cluster: Cluster) -> dict[str, str]:
    assert cluster.api is not None
    secret = cluster.api.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{RELEASE}-cs3-jupyterhub-hub")
    return {key: secret["data"][key] for key in ("cookie-secret", "crypt-key", "proxy-token")}


async def save_works(release: Release, token: str, text: str, within: float = 0) -> float:
    """Save `text` and read it back from reva; the seconds saves answered 401 first.

    `within`: how long a save may be refused for an expired storage token, as after a hub
    outage longer than the token's life: the refresher gets a new one within
    LAPSED_RETRY_MAX of the hub's return.
    """
    started = time.monotonic()
    while True:
        async with contents(release, token) as server:
            res = await server.put("cluster.ipynb", json=notebook(text))
        if res.status_code != 401 or time.monotonic() - started > within:
            break
        await asyncio.sleep(1)
    if res.status_code not in (200, 201):  # 201: the first save of the file
        (pod,) = release.pods("singleuser-server")
        (hub,) = release.pods("hub")
        logs = [release.log(pod["metadata"]["name"], c) for c in (SIDECAR, "notebook")]
        logs.append(release.log(hub["metadata"]["name"], "hub"))
        raise AssertionError(f"save answered {res.status_code}: {res.text}\n" + "\n".join(logs))
    assert await stored_source(release, "cluster.ipynb") == text
    return time.monotonic() - started


async def test_helm_upgrade_replaces_the_hub_and_keeps_einsteins_server(
    cluster: Cluster, release: Release, einstein_pod: dict[str, Any], einstein_token: str
) -> None:
    (hub,) = release.pods("hub")
    secrets_before = generated_secrets(cluster)
    # From now on every request for the storage token also refreshes it at the provider (the
    # margin exceeds the tokens' life): the hub's restart below happens during refreshes.
    changed = {
        **ADMIN_VALUES,
        "hub": {**ADMIN_VALUES["hub"], "logLevel": "DEBUG"},
        "sso": {"refreshMargin": 3600},
    }
    seconds = release.upgrade(changed)
    new_hub = release.wait_new_hub(uid(hub))
    print(f"helm upgrade took {seconds:.1f} s")
    assert new_hub["spec"]["containers"][0]["image"] == hub["spec"]["containers"][0]["image"]
    # The generated secrets are kept: sessions and the encrypted tokens in the database stay valid.
    assert generated_secrets(cluster) == secrets_before
    # The new hub runs with the changed value.
    assert "[D " in release.log(new_hub["metadata"]["name"], "hub", lines=200)
    (pod,) = release.pods("singleuser-server")
    assert uid(pod) == uid(einstein_pod)
    assert all(c["restartCount"] == 0 for c in pod["status"]["containerStatuses"])
    # The hub found the running server again, and einstein saves without logging in again.
    server = wait_for_server(release, USER, 60)
    assert server["state"]["pod_name"] == pod["metadata"]["name"]
    refused = await save_works(release, einstein_token, "after the upgrade", LAPSED_RETRY_MAX + 5)
    print(f"saves worked again {refused:.1f} s after the new hub was Ready")


async def storage_token(release: Release, pod: dict[str, Any]) -> httpx.Response:
    """GET /hub/api/cs3/token with the server's own API token, as the refresher asks it."""
    (sidecar,) = [c for c in pod["spec"]["initContainers"] if c["name"] == SIDECAR]
    token = next(e["value"] for e in sidecar["env"] if e["name"] == "JUPYTERHUB_API_TOKEN")
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"token {token}"}) as hub:
        return await hub.get(f"{release.site.hub_url}/hub/api/cs3/token")


async def test_a_deleted_hub_pod_comes_back_and_finds_the_running_server(
    cluster: Cluster, release: Release, einstein_pod: dict[str, Any], einstein_token: str
) -> None:
    """Deleted while the token endpoint refreshes einstein's tokens without a pause: no
    rotated refresh token is lost on the way (the provider would refuse the old one and
    revoke the grant), so einstein's login survives and the token is never refused."""
    assert cluster.api is not None
    (hub,) = release.pods("hub")
    asked = await storage_token(release, einstein_pod)
    assert asked.status_code == 200, asked.text
    answers: list[int] = []
    stop = asyncio.Event()

    async def keep_asking() -> None:
        while not stop.is_set():
            try:
                answers.append((await storage_token(release, einstein_pod)).status_code)
            except httpx.HTTPError:
                answers.append(0)  # no hub behind the proxy for a moment
                await asyncio.sleep(0.2)

    askers = [asyncio.create_task(keep_asking()) for _ in range(3)]
    try:
        await asyncio.sleep(2)
        cluster.api.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/pods/{hub['metadata']['name']}")
        started = time.monotonic()
        await asyncio.to_thread(release.wait_new_hub, uid(hub))
        print(f"new hub pod Ready {time.monotonic() - started:.1f} s after the old one was deleted")
        await asyncio.sleep(5)
    finally:
        stop.set()
        await asyncio.gather(*askers)
    print(f"token requests during the restart: {len(answers)}, answers {sorted(set(answers))}")
    assert answers.count(200) > 10
    after = await storage_token(release, einstein_pod)
    assert after.status_code == 200, f"einstein's login did not survive the hub's restart: {after.text}"
    assert 401 not in answers, "the storage token was refused during the restart"
    (pod,) = release.pods("singleuser-server")
    assert uid(pod) == uid(einstein_pod)
    wait_for_server(release, USER, 60)
    refused = await save_works(release, einstein_token, "after the hub came back", LAPSED_RETRY_MAX + 5)
    print(f"saves worked again {refused:.1f} s after the new hub was Ready")
    # The refresher reaches the new hub: the token keeps being renewed.
    name = pod["metadata"]["name"]
    read_token = ["exec", "-n", NAMESPACE, name, "-c", "notebook", "--", "cat", TOKEN_PATH]
    before = cluster.kubectl(*read_token).stdout
    deadline = time.monotonic() + TOKEN_TTL + 15
    while cluster.kubectl(*read_token).stdout == before:
        if time.monotonic() > deadline:
            (hub,) = release.pods("hub")
            logs = [release.log(name, SIDECAR), release.log(hub["metadata"]["name"], "hub")]
            raise AssertionError("no fresh token from the new hub\n" + "\n".join(logs))
        time.sleep(2)


def test_every_pod_of_the_release_is_admitted_and_a_privileged_one_is_not(
    cluster: Cluster, release: Release, einstein_pod: dict[str, Any]
) -> None:
    assert cluster.api is not None
    namespace = cluster.api.get(f"/api/v1/namespaces/{NAMESPACE}")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    components = {
        p["metadata"]["labels"]["app.kubernetes.io/component"]
        for p in cluster.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
    }
    assert components == {"hub", "proxy", "singleuser-server"}
    # The same pod as einstein's, made privileged, is refused by the API server.
    bad = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged-notebook"},
        "spec": json.loads(json.dumps(einstein_pod["spec"])),
    }
    bad["spec"].pop("nodeName", None)
    bad["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    res = cluster.api.request("POST", f"/api/v1/namespaces/{NAMESPACE}/pods", bad)
    assert res.status_code == 403, res.text
    assert 'violates PodSecurity "restricted:latest"' in res.json()["message"]


# One TCP connection to each HOST:PORT argument, 3 s at most: "HOST:PORT open" or "... closed".
DIAL = """
import socket, sys
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        print(target, "open")
    except OSError as err:
        print(target, "closed", type(err).__name__)
"""


def dial_from(cluster: Cluster, pod: str, container: str, targets: list[str]) -> dict[str, bool]:
    """Whether `pod` can open a connection to each target; what its processes could reach."""
    out = cluster.kubectl(
        "exec", "-n", NAMESPACE, pod, "-c", container, "--", "python3", "-c", DIAL, *targets, timeout=120
    ).stdout
    seen = dict(line.split()[:2] for line in out.splitlines() if line.strip())
    return {target: seen.get(target) == "open" for target in targets}


def test_network_policies_keep_user_pods_to_reva_and_the_hub_api(
    cluster: Cluster, release: Release, einstein_pod: dict[str, Any]
) -> None:
    """Enforced by the cluster (kube-router), not merely accepted: what the user pod may not
    reach, the hub pod does reach, so each refusal is the policy's."""
    asyncio.run(login(release, "marie"))
    marie = wait_for_server(release, "marie", 180)
    assert cluster.api is not None
    marie_ip = cluster.api.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{marie['state']['pod_name']}")["status"][
        "podIP"
    ]
    site = release.site
    name = f"{RELEASE}-cs3-jupyterhub"
    reva = f"{REVA_IP}:{site.reva.grpc_port}"
    hub_api = f"{name}-hub:8081"
    proxy_api = f"{name}-proxy-api:8001"
    kube_api = "kubernetes.default.svc:443"
    node_api = f"{cluster.node_ip}:{cluster.ports['apiserver']}"
    provider = f"{IDP_IP}:{site.idp.port}"
    other_user = f"{marie_ip}:8888"
    from_user = dial_from(
        cluster,
        einstein_pod["metadata"]["name"],
        "notebook",
        [reva, hub_api, proxy_api, kube_api, node_api, provider, other_user],
    )
    assert from_user == {
        reva: True,
        hub_api: True,
        # The proxy's API would let a user take over other users' routes.
        proxy_api: False,
        kube_api: False,
        node_api: False,
        provider: False,
        other_user: False,
    }
    (hub,) = release.pods("hub")
    # Its own API through its Service too: the culler it runs calls it there.
    from_hub = dial_from(
        cluster, hub["metadata"]["name"], "hub", [hub_api, proxy_api, kube_api, node_api, other_user]
    )
    assert all(from_hub.values()), from_hub


async def test_helm_uninstall_leaves_only_the_hub_database_claim_and_the_users_files(
    cluster: Cluster, release: Release, einstein_pod: dict[str, Any], einstein_token: str
) -> None:
    """Last in the module: the release is gone afterwards."""
    await save_works(release, einstein_token, "before the uninstall", LAPSED_RETRY_MAX + 5)
    before = release.objects()
    assert f"Pod/{einstein_pod['metadata']['name']}" in before
    cluster.keep_pod_logs()
    seconds = release.uninstall()
    print(f"helm uninstall took {seconds:.1f} s")
    claim = f"PersistentVolumeClaim/{RELEASE}-cs3-jupyterhub-hub-db"
    # Garbage collection of what the deleted objects owned (ReplicaSets, EndpointSlices) goes on
    # after helm returns: wait until only the kept claim is left.
    deadline = time.monotonic() + 60
    while (left := release.objects()) != {claim}:
        assert time.monotonic() < deadline, f"left after helm uninstall: {sorted(left)}"
        time.sleep(1)
    # The files are the user's, in reva: untouched.
    assert await stored_source(release, "cluster.ipynb") == "before the uninstall"
