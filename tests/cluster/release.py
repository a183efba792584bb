"""The chart installed on the test cluster as a site would install it.

The site's storage and login (tests/cluster/site.py) run in the cluster beside the release;
the values point the hub and the user servers at their Service addresses. The proxy is a
NodePort Service on the node's address, the hub's callback URL points there.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.harness.docker import IMAGE_PREFIX, IMAGE_TAG, build_images, docker_unavailable
from tests.harness.helm import Helm

from .cluster import Cluster, ClusterError
from .site import Site

NAMESPACE = "jupyter"
RELEASE = "cs3"
PRODUCT_IMAGES = ("hub", "singleuser", "token-refresher", "proxy")
# Built by images/build.sh too: the site's reva (the provider runs on the proxy image's Node).
IMAGES = (*PRODUCT_IMAGES, "test-reva")
# The hub's database claim binds to a volume the test makes: the cluster has no provisioner.
STORAGE_CLASS = "cs3-test-local"


def image(name: str) -> str:
    """The name of one of the images images/build.sh made for the tests."""
    return f"{IMAGE_PREFIX}-{name}:{IMAGE_TAG}"


def import_project_images(cluster: Cluster, workdir: Path, timeout: float = 1800) -> dict[str, int]:
    """Build the images with images/build.sh (docker's cache makes a rebuild quick) and import
    them into the cluster's containerd; the seconds each step took."""
    reason = docker_unavailable()
    if reason:
        raise ClusterError(f"the images are built with docker: {reason}")
    workdir.mkdir(parents=True, exist_ok=True)
    timings = build_images(list(IMAGES), workdir / "build.log", timeout)
    started = time.monotonic()
    tar = workdir / "images.tar"
    names = [image(name) for name in IMAGES]
    subprocess.run(["docker", "save", "-o", str(tar), *names], check=True, timeout=600)
    cluster.ctr("images", "import", "--platform", "linux/amd64", str(tar), timeout=600)
    tar.unlink()
    timings["import"] = round(time.monotonic() - started)
    return timings


def site_values(site: Site, api_port: int) -> dict[str, Any]:
    """The values file a site would write for this storage and login, and for its API server
    (which the hub's NetworkPolicy lets it reach: on the node, at the test cluster's own port)."""
    reva_ports = [site.reva.grpc_port, site.reva.http_port]
    return {
        "cs3": {
            "gateway": site.reva.gateway,
            # reva's localhome driver: the user's home is what reva reports, uploads go by TUS
            # (a cut-off simple upload would leave a truncated file), and it keeps no locks.
            "rootPath": "",
            "tus": True,
            "lockNotImplemented": True,
        },
        "sso": {
            "issuer": site.idp.issuer,
            "clientId": site.client.client_id,
            "clientSecret": site.client.client_secret,
            "callbackUrl": site.client.redirect_uri,
            "postLogoutRedirectUrl": site.client.post_logout_redirect_uris[0],
            "refreshMargin": 10,
            "refreshCheckSeconds": 5,
        },
        "tokenRefresher": {"image": {"tag": IMAGE_TAG}, "margin": 10},
        "singleuser": {"image": {"tag": IMAGE_TAG}, "startTimeout": 120},
        "hub": {"image": {"tag": IMAGE_TAG}, "db": {"pvc": {"storageClassName": STORAGE_CLASS}}},
        "proxy": {"image": {"tag": IMAGE_TAG}, "service": {"type": "NodePort", "nodePort": site.node_port}},
        "networkPolicy": {
            "reva": {
                "cidrs": [site.cidr],
                "ports": [{"port": port, "protocol": "TCP"} for port in reva_ports],
            },
            "sso": {"cidrs": [site.cidr], "ports": [{"port": site.idp.port, "protocol": "TCP"}]},
            "kubernetesApi": {
                "cidrs": [f"{site.cluster.node_ip}/32"],
                "ports": [{"port": api_port, "protocol": "TCP"}],
            },
        },
    }


@dataclass
class Release:
    """`helm install` of the chart into NAMESPACE, restricted by Pod Security."""

    cluster: Cluster
    site: Site
    workdir: Path
    helm: Helm = field(default_factory=lambda: Helm(timeout=600))
    values_path: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.cluster.admin_kubeconfig)}

    def prepare(self) -> None:
        """The namespace (enforcing `restricted`) and the volume the hub's claim binds to."""
        api = self.cluster.api
        assert api is not None
        api.create(
            "/api/v1/namespaces",
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": NAMESPACE,
                    "labels": {
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/enforce-version": "latest",
                    },
                },
            },
        )
        # A hostPath volume keeps its owner: the hub (uid and gid 1000) must be able to write.
        db_dir = self.workdir / "hub-db"
        db_dir.mkdir(parents=True, exist_ok=True)
        os.chown(db_dir, 1000, 1000)
        db_dir.chmod(0o770)
        api.create(
            "/apis/storage.k8s.io/v1/storageclasses",
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": STORAGE_CLASS},
                "provisioner": "kubernetes.io/no-provisioner",
                "volumeBindingMode": "WaitForFirstConsumer",
            },
        )
        api.create(
            "/api/v1/persistentvolumes",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": "cs3-hub-db"},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "hostPath": {"path": str(db_dir), "type": "Directory"},
                },
            },
        )
        self.cluster.wait_service_account(NAMESPACE, time.monotonic() + 30)

    def write_values(self, extra: dict[str, Any] | None = None) -> Path:
        values = site_values(self.site, self.cluster.ports["apiserver"])
        for section, settings in (extra or {}).items():
            values.setdefault(section, {}).update(settings)
        path = self.workdir / "values.yaml"
        # It holds the OAuth client secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(values, out)
        self.values_path = path
        return path

    def install(self, extra: dict[str, Any] | None = None, timeout: str = "5m") -> float:
        """`helm install --wait`; the seconds until every Deployment of the release was Ready."""
        return self._apply("install", extra, timeout)

    def upgrade(self, extra: dict[str, Any] | None = None, timeout: str = "5m") -> float:
        """`helm upgrade --wait` with these values; the seconds it took."""
        return self._apply("upgrade", extra, timeout)

    def _apply(self, action: str, extra: dict[str, Any] | None, timeout: str) -> float:
        values = self.write_values(extra)
        started = time.monotonic()
        self.helm.run(
            action,
            *self.helm.template_args([values], release=RELEASE, namespace=NAMESPACE),
            "--wait",
            "--timeout",
            timeout,
            env=self.env,
        )
        return time.monotonic() - started

    def uninstall(self, timeout: str = "5m") -> float:
        """`helm uninstall --wait` (its pre-delete hook included); the seconds it took."""
        started = time.monotonic()
        self.helm.run(
            "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", timeout, env=self.env
        )
        return time.monotonic() - started

    def objects(self) -> set[str]:
        """`kind/name` of every object in the namespace but events and what Kubernetes puts in
        every namespace itself."""
        kinds = self.cluster.kubectl(
            "api-resources", "--namespaced", "--verbs=list", "-o", "name"
        ).stdout.split()
        kinds = [k for k in kinds if k not in ("events", "events.events.k8s.io")]
        listed = self.cluster.kubectl("get", ",".join(kinds), "-n", NAMESPACE, "-o", "json").stdout
        found = {f"{item['kind']}/{item['metadata']['name']}" for item in json.loads(listed)["items"]}
        return found - {"ServiceAccount/default", "ConfigMap/kube-root-ca.crt"}

    def pods(self, component: str) -> list[dict[str, Any]]:
        """The release's pods of a component (`hub`, `proxy`, `singleuser-server`)."""
        api = self.cluster.api
        assert api is not None
        selector = f"app.kubernetes.io/component={component}"
        return api.get(f"/api/v1/namespaces/{NAMESPACE}/pods", labelSelector=selector)["items"]

    def wait_new_hub(self, old_uid: str, timeout: float = 180) -> dict[str, Any]:
        """The hub pod that replaced the one with `old_uid`, once Ready."""
        found: dict[str, Any] = {}

        def replaced() -> str | None:
            pods = self.pods("hub")
            fresh = [p for p in pods if p["metadata"]["uid"] != old_uid]
            ready = [
                p
                for p in fresh
                if any(
                    c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])
                )
            ]
            if len(pods) == 1 and ready:
                found["pod"] = ready[0]
                return None
            return f"{len(pods)} hub pods, {len(fresh)} new, {len(ready)} of them Ready"

        self.cluster.wait_for("a new hub pod", replaced, timeout, ("kubelet", "kube-controller-manager"))
        return found["pod"]

    def log(self, pod: str, container: str, lines: int = 40) -> str:
        """The end of a container's log (the pod's current run)."""
        api = self.cluster.api
        assert api is not None
        res = api.request(
            "GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}/log", container=container, tailLines=lines
        )
        return f"--- {pod}/{container} (last {lines} lines) ---\n{res.text}"

    def describe(self) -> str:
        """What the release's pods and events look like, for a failure message."""
        api = self.cluster.api
        assert api is not None
        pods = api.get(f"/api/v1/namespaces/{NAMESPACE}/pods")["items"]
        events = api.get(f"/api/v1/namespaces/{NAMESPACE}/events")["items"]
        lines = [
            f"pod {p['metadata']['name']}: {p['status'].get('phase')} "
            f"{json.dumps(p['status'].get('containerStatuses', []))[:600]}"
            for p in pods
        ]
        lines += [
            f"event {e['involvedObject']['kind']}/{e['involvedObject']['name']}: {e['reason']} {e['message']}"
            for e in events[-30:]
        ]
        return "\n".join(lines)
