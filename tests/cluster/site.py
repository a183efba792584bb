"""The site's storage and login, running in the test cluster beside the release.

revad (the test reva image, checking bearer tokens against the provider) and the test
identity provider (tests/idp/server.mjs, on the Node.js of the proxy image) run as pods in
the namespace `site`, each behind a Service with a fixed cluster IP. That one address is what
every client uses: the hub and the user pods through the pod network, the browser and the
tests on the node through kube-proxy's rules, which the node's own traffic goes through too.
So reva's data gateway URL and the provider's issuer are the same for all of them, as a
site's public names are.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.idp import NODE_MODULES, SERVER, Client, IdentityProvider

from .cluster import CLUSTER_CIDR, Cluster, ClusterError

SITE_NAMESPACE = "site"
# Fixed addresses in the cluster's service range (10.96.0.0/16), clear of the API server's
# (10.96.0.1) and the DNS Service's (10.96.0.10).
REVA_IP = "10.96.0.50"
IDP_IP = "10.96.0.51"
REVA_GRPC_PORT = 19000
REVA_HTTP_PORT = 19001
IDP_PORT = 20080
# Short-lived access tokens make the refresher and the hub refresh during the tests.
TOKEN_TTL = 30
# The range every cluster reserves for NodePorts; the proxy takes one at random.
NODE_PORTS = range(30000, 32768)


@dataclass(frozen=True)
class ServedReva:
    """Where revad answers in the cluster (what `storage_for` and the values need)."""

    gateway: str
    grpc_port: int
    http_port: int


@dataclass
class Site:
    """The storage and the login of the site, as pods of the cluster."""

    cluster: Cluster
    workdir: Path
    idp: IdentityProvider
    reva: ServedReva
    client: Client
    node_port: int
    # Where NetworkPolicies must let the hub and the user pods go: the site's pods.
    cidr: str = CLUSTER_CIDR

    @property
    def hub_url(self) -> str:
        """The proxy's NodePort, where a browser on the node opens the hub."""
        return f"http://{self.cluster.node_ip}:{self.node_port}"

    def stop(self) -> None:
        api = self.cluster.api
        if api is not None:
            api.request("DELETE", f"/api/v1/namespaces/{SITE_NAMESPACE}")


def _pod(name: str, image: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": name, "image": image, "imagePullPolicy": "Never", **spec}]},
    }


def _service(name: str, ip: str, ports: list[int]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": {"app": name},
            "clusterIP": ip,
            "ports": [{"name": f"p{port}", "port": port, "targetPort": port} for port in ports],
        },
    }


def start_site(cluster: Cluster, workdir: Path, proxy_image: str, reva_image: str) -> Site:
    """The provider, then revad (which reads the provider's discovery at start), both Ready."""
    api = cluster.api
    assert api is not None
    if not (NODE_MODULES / "oidc-provider" / "package.json").exists():
        raise ClusterError(f"{NODE_MODULES / 'oidc-provider'} is missing: run `make node` first")
    node_port = secrets.choice(NODE_PORTS)
    hub_url = f"http://{cluster.node_ip}:{node_port}"
    client = Client(
        "jupyterhub",
        redirect_uris=[f"{hub_url}/hub/oauth_callback"],
        post_logout_redirect_uris=[f"{hub_url}/hub/login"],
    )
    idp = IdentityProvider(
        workdir / "idp",
        port=IDP_PORT,
        access_token_ttl=TOKEN_TTL,
        clients=[client],
        host="0.0.0.0",
        public_host=IDP_IP,
    )
    config = idp.render()
    api.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SITE_NAMESPACE}}
    )
    cluster.wait_service_account(SITE_NAMESPACE, time.monotonic() + 30)
    base = f"/api/v1/namespaces/{SITE_NAMESPACE}"
    repo = SERVER.parents[2]
    # The provider's code and its Node modules come from the checkout, its config (0600,
    # root's) from the test's folder: the site namespace is not restricted.
    provider = _pod(
        "idp",
        proxy_image,
        {
            "command": ["node", str(SERVER), f"/etc/idp/{config.name}"],
            "workingDir": str(repo),
            "securityContext": {"runAsUser": 0, "runAsGroup": 0},
            "ports": [{"containerPort": IDP_PORT}],
            "readinessProbe": {
                "httpGet": {"path": "/.well-known/openid-configuration", "port": IDP_PORT},
                "periodSeconds": 1,
            },
            "volumeMounts": [
                {"name": "repo", "mountPath": str(repo), "readOnly": True},
                {"name": "config", "mountPath": "/etc/idp", "readOnly": True},
            ],
        },
    )
    provider["spec"]["volumes"] = [
        {"name": "repo", "hostPath": {"path": str(repo), "type": "Directory"}},
        {"name": "config", "hostPath": {"path": str(config.parent), "type": "Directory"}},
    ]
    api.create(f"{base}/pods", provider)
    api.create(f"{base}/services", _service("idp", IDP_IP, [IDP_PORT]))
    cluster.wait_pod(SITE_NAMESPACE, "idp", 90)

    reva = _pod(
        "reva",
        reva_image,
        {
            "env": [
                {"name": "REVA_PUBLIC_HTTP_URL", "value": f"http://{REVA_IP}:{REVA_HTTP_PORT}"},
                {"name": "REVA_OIDC_ISSUER", "value": idp.issuer},
            ],
            "ports": [{"containerPort": REVA_GRPC_PORT}, {"containerPort": REVA_HTTP_PORT}],
            "readinessProbe": {"tcpSocket": {"port": REVA_GRPC_PORT}, "periodSeconds": 1},
        },
    )
    api.create(f"{base}/pods", reva)
    api.create(f"{base}/services", _service("reva", REVA_IP, [REVA_GRPC_PORT, REVA_HTTP_PORT]))
    cluster.wait_pod(SITE_NAMESPACE, "reva", 90)
    served = ServedReva(f"{REVA_IP}:{REVA_GRPC_PORT}", REVA_GRPC_PORT, REVA_HTTP_PORT)
    return Site(cluster, workdir, idp, served, client, node_port)
