"""The test cluster comes up: its node is Ready, Pod Security admission enforces `restricted`
on a labelled namespace, and a compliant pod runs and is reached from another pod through a
Service (kube-proxy's rules over the CNI bridge), by its cluster IP and by its name (CoreDNS);
a NetworkPolicy is enforced (kube-router): a pod it does not admit cannot connect."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from .cluster import NODE_NAME, Cluster

pytestmark = pytest.mark.timeout(600)

NAMESPACE = "cs3-restricted"
# What `restricted` demands of every container, and nothing more.
RESTRICTED_POD: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def pod(name: str, image: str, args: list[str], labels: dict[str, str] | None = None, **spec: Any) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "securityContext": RESTRICTED_POD,
            "containers": [
                {
                    "name": name,
                    "image": image,
                    # The image was imported into containerd; there is no registry to pull from.
                    "imagePullPolicy": "Never",
                    "args": args,
                    "securityContext": RESTRICTED_CONTAINER,
                    **spec.pop("container", {}),
                }
            ],
            **spec,
        },
    }


@pytest.fixture(scope="module")
def namespace(cluster: Cluster) -> str:
    assert cluster.api is not None
    cluster.api.create(
        "/api/v1/namespaces",
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": NAMESPACE,
                "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
            },
        },
    )

    cluster.wait_service_account(NAMESPACE, time.monotonic() + 30)
    return NAMESPACE


def test_node_is_ready_at_the_pinned_version(cluster: Cluster) -> None:
    assert cluster.api is not None
    node = cluster.api.get(f"/api/v1/nodes/{NODE_NAME}")
    assert node["status"]["nodeInfo"]["kubeletVersion"] == cluster.binaries.kubernetes_version
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://2.")
    print(f"cluster ready in {cluster.timings['ready']:.1f} s: {cluster.timings}")


def test_restricted_namespace_refuses_a_privileged_pod(cluster: Cluster, namespace: str) -> None:
    assert cluster.api is not None
    bad = pod("privileged", cluster.netcheck_image, ["serve", ":8080"])
    bad["spec"]["containers"][0]["securityContext"] = {"privileged": True}
    res = cluster.api.request("POST", f"/api/v1/namespaces/{namespace}/pods", bad)
    assert res.status_code == 403, res.text
    message = res.json()["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "privileged" in message


def test_restricted_namespace_refuses_what_baseline_allows(cluster: Cluster, namespace: str) -> None:
    """A pod with no security context at all passes `baseline`: only `restricted` refuses it."""
    assert cluster.api is not None
    bare = pod("bare", cluster.netcheck_image, ["serve", ":8080"])
    del bare["spec"]["securityContext"]
    del bare["spec"]["containers"][0]["securityContext"]
    res = cluster.api.request("POST", f"/api/v1/namespaces/{namespace}/pods", bare)
    assert res.status_code == 403, res.text
    message = res.json()["message"]
    for rule in ("allowPrivilegeEscalation != false", "unrestricted capabilities", "runAsNonRoot != true"):
        assert rule in message, message
    assert "seccompProfile" in message, message


@pytest.fixture(scope="module")
def web(cluster: Cluster, namespace: str) -> dict[str, Any]:
    """A restricted pod serving HTTP, Ready, behind the Service `web` (port 80); its Service."""
    assert cluster.api is not None
    api = cluster.api
    base = f"/api/v1/namespaces/{namespace}"
    started = time.monotonic()
    api.create(
        f"{base}/pods",
        pod(
            "web",
            cluster.netcheck_image,
            ["serve", ":8080"],
            labels={"app": "web"},
            container={
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
            },
        ),
    )
    service = api.create(
        f"{base}/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    web = cluster.wait_pod(namespace, "web", 90)
    print(f"pod web Ready after {time.monotonic() - started:.1f} s on {web['status']['podIP']}")
    # The node reaches the Service once kube-proxy has written its rules; a pod that tried
    # before that would have been answered by whatever the default route leads to.
    url = f"http://{service['spec']['clusterIP']}/"

    def routed() -> str | None:
        res = httpx.get(url, timeout=2)
        return None if "netcheck ok web" in res.text else f"HTTP {res.status_code}: {res.text[:100]}"

    cluster.wait_for("kube-proxy routing the Service web", routed, 30, ("kube-proxy",))
    return service


def run_client(
    cluster: Cluster, namespace: str, name: str, urls: list[str], labels: dict[str, str] | None = None
) -> str:
    """Run netcheck get URLS in a restricted pod to completion; return its log."""
    assert cluster.api is not None
    cluster.api.create(
        f"/api/v1/namespaces/{namespace}/pods",
        pod(name, cluster.netcheck_image, ["get", *urls], labels=labels, restartPolicy="Never"),
    )
    client = cluster.wait_pod(namespace, name, 90, phase="Succeeded")
    log = cluster.api.get(f"/api/v1/namespaces/{namespace}/pods/{name}/log")
    assert client["status"]["phase"] == "Succeeded", log
    return log


def test_restricted_pod_is_reached_through_its_service_ip(
    cluster: Cluster, namespace: str, web: dict[str, Any]
) -> None:
    log = run_client(cluster, namespace, "client", [f"http://{web['spec']['clusterIP']}/"])
    assert "netcheck ok web" in log


def test_service_names_resolve_through_coredns(cluster: Cluster, namespace: str, web: dict[str, Any]) -> None:
    urls = ["http://web/", f"http://web.{namespace}.svc.cluster.local/"]
    log = run_client(cluster, namespace, "dns-client", urls)
    assert log.count("netcheck ok web") == 2, log


def dial(cluster: Cluster, namespace: str, name: str, addresses: list[str], labels: dict[str, str]) -> str:
    """Run netcheck dial ADDRESSES in a restricted pod with these labels; return its log."""
    assert cluster.api is not None
    cluster.api.create(
        f"/api/v1/namespaces/{namespace}/pods",
        pod(name, cluster.netcheck_image, ["dial", *addresses], labels=labels, restartPolicy="Never"),
    )
    cluster.wait_pod(namespace, name, 90, phase="Succeeded")
    return cluster.api.get(f"/api/v1/namespaces/{namespace}/pods/{name}/log")


def test_a_network_policy_refuses_the_pods_it_does_not_admit(
    cluster: Cluster, namespace: str, web: dict[str, Any]
) -> None:
    assert cluster.api is not None
    (web_pod,) = cluster.api.get(f"/api/v1/namespaces/{namespace}/pods", labelSelector="app=web")["items"]
    target = f"{web_pod['status']['podIP']}:8080"
    # Reached by any pod before the policy.
    assert f"{target} open" in dial(cluster, namespace, "before-policy", [target], {})
    cluster.api.create(
        f"/apis/networking.k8s.io/v1/namespaces/{namespace}/networkpolicies",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "web-from-friends"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "web"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "friend"}}}]}],
            },
        },
    )
    # kube-router applies a new policy within its sync; a stranger is refused from then on.
    deadline = time.monotonic() + 30
    attempt = 0
    while True:
        attempt += 1
        log = dial(cluster, namespace, f"stranger-{attempt}", [target], {})
        if f"{target} closed" in log:
            break
        assert time.monotonic() < deadline, f"still open 30 s after the policy: {log}"
    # A pod the policy admits still gets through, by the Service too.
    log = run_client(
        cluster, namespace, "friend", [f"http://{web['spec']['clusterIP']}/"], {"role": "friend"}
    )
    assert "netcheck ok web" in log
