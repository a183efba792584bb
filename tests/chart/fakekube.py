"""A minimal stand-in for a Kubernetes API server, enough for `helm install --dry-run=server`.

helm asks for the server's version and API discovery, looks for an earlier release in its
storage Secrets, and runs the templates' `lookup` calls. This server answers those from
Secrets the test puts in (`secrets[(namespace, name)] = {...}`), answers 404 to any other
read, and refuses every write with 405 (a dry run writes nothing). Requests are recorded.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.harness.ports import free_port

# Groups and kinds the chart uses (helm maps each object to its resource through these).
RESOURCES: dict[str, list[tuple[str, str, bool]]] = {
    "v1": [
        ("configmaps", "ConfigMap", True),
        ("endpoints", "Endpoints", True),
        ("events", "Event", True),
        ("namespaces", "Namespace", False),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True),
        ("pods", "Pod", True),
        ("secrets", "Secret", True),
        ("serviceaccounts", "ServiceAccount", True),
        ("services", "Service", True),
    ],
    "apps/v1": [("deployments", "Deployment", True), ("replicasets", "ReplicaSet", True)],
    "networking.k8s.io/v1": [
        ("ingresses", "Ingress", True),
        ("ingressclasses", "IngressClass", False),
        ("networkpolicies", "NetworkPolicy", True),
    ],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "rbac.authorization.k8s.io/v1": [
        ("clusterrolebindings", "ClusterRoleBinding", False),
        ("clusterroles", "ClusterRole", False),
        ("rolebindings", "RoleBinding", True),
        ("roles", "Role", True),
    ],
}
VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
SECRET_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/secrets(?:/([^/]+))?$")


@dataclass
class FakeKube:
    version: str = "1.31.0"
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    kubeconfig_path: Path | None = None
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_kubeconfig(self, path: Path, namespace: str) -> Path:
        """A kubeconfig naming this server, for helm's KUBECONFIG."""
        path.write_text(self.kubeconfig(namespace))
        self.kubeconfig_path = path
        return path

    def kubeconfig(self, namespace: str) -> str:
        return json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "users": [{"name": "fake", "user": {"token": "fake"}}],
                "contexts": [
                    {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
                ],
                "current-context": "fake",
            }
        )

    def add_secret(self, namespace: str, secret: dict[str, Any]) -> None:
        secret = json.loads(json.dumps(secret))
        secret.setdefault("apiVersion", "v1")
        secret.setdefault("kind", "Secret")
        secret["metadata"] = {**secret["metadata"], "namespace": namespace, "resourceVersion": "1"}
        self.secrets[(namespace, secret["metadata"]["name"])] = secret

    # -- answers -----------------------------------------------------------------------------

    def answer(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        self.requests.append(f"{method} {path}")
        if method != "GET":
            return 405, status(405, "MethodNotAllowed", "this fake API server is read-only")
        if path == "/version":
            major, minor, _ = self.version.split(".")
            return 200, {
                "major": major,
                "minor": minor,
                "gitVersion": f"v{self.version}",
                "platform": "linux/amd64",
            }
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            groups = [gv.split("/") for gv in RESOURCES if "/" in gv]
            return 200, {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [
                    {
                        "name": group,
                        "versions": [{"groupVersion": f"{group}/{version}", "version": version}],
                        "preferredVersion": {"groupVersion": f"{group}/{version}", "version": version},
                    }
                    for group, version in groups
                ],
            }
        group_version = (
            path.removeprefix("/api/") if path.startswith("/api/") else path.removeprefix("/apis/")
        )
        if group_version in RESOURCES:
            return 200, {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": group_version,
                "resources": [
                    {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": VERBS}
                    for name, kind, namespaced in RESOURCES[group_version]
                ],
            }
        match = SECRET_PATH.match(path)
        if match:
            namespace, name = match.groups()
            if name is None:
                selector = query.get("labelSelector", [""])[0]
                items = [s for (ns, _), s in self.secrets.items() if ns == namespace and matches(s, selector)]
                return 200, {
                    "kind": "SecretList",
                    "apiVersion": "v1",
                    "metadata": {"resourceVersion": "1"},
                    "items": items,
                }
            if (namespace, name) in self.secrets:
                return 200, self.secrets[(namespace, name)]
        return 404, status(404, "NotFound", f"{path} not found")

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                url = urlsplit(self.path)
                code, body = fake.answer(self.command, url.path, parse_qs(url.query))
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def matches(obj: dict[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels", {})
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True
