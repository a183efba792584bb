"""What the chart tests share: the values cases, the pinned helm, helpers on rendered objects."""

from __future__ import annotations

import base64
import re
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from kubernetes_validate.utils import all_versions

from tests.harness.helm import CHART, Helm

VALUES_DIR = Path(__file__).parent / "values"
VALUES_FILES = sorted(VALUES_DIR.glob("*.yaml"))
# Each case: an id and the values files it renders with ("default" has none).
CASES: dict[str, tuple[Path, ...]] = {"default": ()} | {path.stem: (path,) for path in VALUES_FILES}
RELEASE = "hub"
NAMESPACE = "jupyter"
# A cluster nothing can reach: KubeSpawner loads it and never sends a request.
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
  - name: unreachable
    cluster: {server: "https://127.0.0.1:9"}
users:
  - name: nobody
    user: {token: not-a-real-token}
contexts:
  - name: unreachable
    context: {cluster: unreachable, user: nobody, namespace: jupyter}
current-context: unreachable
"""


@cache
def helm_binary() -> Helm:
    return Helm()


@cache
def render_cached(case: str, kube_version: str | None = None) -> tuple[dict[str, Any], ...]:
    return tuple(
        helm_binary().template(CASES[case], release=RELEASE, namespace=NAMESPACE, kube_version=kube_version)
    )


def copy(doc: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load(yaml.safe_dump(doc))


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of that kind (and name suffix)."""
    found = [
        doc
        for doc in docs
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"].endswith(name))
    ]
    assert len(found) == 1, (
        f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
    )
    return found[0]


def secret_data(secret: dict[str, Any]) -> dict[str, str]:
    return {key: base64.b64decode(value).decode() for key, value in (secret.get("data") or {}).items()}


def hub_values(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The values tree the hub reads: values.yaml of the chart's Secret, decoded."""
    return yaml.safe_load(secret_data(find(docs, "Secret", "-hub"))["values.yaml"])


def chart_kube_versions() -> tuple[str, str | None]:
    """The bounds of Chart.yaml's kubeVersion (">=1.29.0-0", optionally "<1.40.0-0")."""
    spec = yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]
    low = re.search(r">=\s*v?(\d+\.\d+)", spec)
    high = re.search(r"<\s*v?(\d+\.\d+)", spec)
    assert low, f"kubeVersion {spec!r} has no lower bound"
    return low.group(1), high.group(1) if high else None


def minor(version: str) -> tuple[int, int]:
    """(1, 29) for "1.29.0"."""
    major, minor_ = version.split(".")[:2]
    return int(major), int(minor_)


def validation_versions() -> list[str]:
    """Each Kubernetes minor version the chart claims (Chart.yaml kubeVersion) for which the
    installed kubernetes-validate has schemas. Its lower bound must be among them."""
    low, high = chart_kube_versions()
    available = sorted({".".join(v.split(".")[:2]) for v in all_versions()}, key=minor)
    claimed = [v for v in available if minor(v) >= minor(low) and (high is None or minor(v) < minor(high))]
    assert low in claimed, f"kubernetes-validate {kubernetes_validate.__version__} lacks Kubernetes {low}"
    return [f"{v}.0" for v in claimed]
