"""`helm install` (server-side dry runs) against a fake API server: NOTES.txt tells the admin
what to do next, and the cluster's version is checked against the chart's kubeVersion. An
upgrade keeping the generated secrets runs on a real cluster (tests/cluster/test_chart.py)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.helm import CHART, Helm, HelmError

from .chart import CASES, NAMESPACE, RELEASE, find, secret_data
from .fakekube import FakeKube

GENERATED = ("cookie-secret", "crypt-key", "proxy-token")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[FakeKube]:
    fake = FakeKube()
    fake.start()
    fake.write_kubeconfig(tmp_path / "kubeconfig", NAMESPACE)
    yield fake
    fake.stop()


def helm_release(helm: Helm, cluster: FakeKube, action: str, case: str, *extra: str) -> dict[str, Any]:
    """`helm <action> --dry-run=server -o json`: the release helm would store."""
    args = [action, RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=server"]
    args += ["--disable-openapi-validation", "--output", "json"]
    for path in CASES[case]:
        args += ["--values", str(path)]
    proc = helm.run(*args, *extra, env={"KUBECONFIG": str(cluster.kubeconfig_path)})
    return json.loads(proc.stdout)


def objects(release: dict[str, Any]) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(release["manifest"]) if doc]


def apply(cluster: FakeKube, release: dict[str, Any]) -> None:
    """What a real install leaves behind that the next upgrade reads: the chart's Secret and
    helm's release record."""
    cluster.add_secret(NAMESPACE, find(objects(release), "Secret", "-hub"))
    stored = {**release, "info": {**release["info"], "status": "deployed"}}
    blob = base64.b64encode(gzip.compress(json.dumps(stored).encode())).decode()
    version = str(release["version"])
    cluster.add_secret(
        NAMESPACE,
        {
            "metadata": {
                "name": f"sh.helm.release.v1.{RELEASE}.v{version}",
                "labels": {"name": RELEASE, "owner": "helm", "status": "deployed", "version": version},
            },
            "type": "helm.sh/release.v1",
            "data": {"release": base64.b64encode(blob.encode()).decode()},
        },
    )


def test_secrets_are_generated_when_none_exist(helm: Helm) -> None:
    # Kept across upgrades on the real cluster (tests/cluster/test_chart.py); here, without a
    # Secret to read back, each install generates its own.
    first = secret_data(find(helm.template(CASES["default"]), "Secret", "-hub"))
    second = secret_data(find(helm.template(CASES["default"]), "Secret", "-hub"))
    for key in GENERATED:
        assert first[key] != second[key]
        assert len(first[key]) == 64


def test_notes_for_a_site(helm: Helm, cluster: FakeKube) -> None:
    notes = helm_release(helm, cluster, "install", "tls-ingress")["info"]["notes"]
    assert "ACTION REQUIRED" not in notes
    assert "redirect URI:              https://jupyter.example.org/hub/oauth_callback" in notes
    assert "https://jupyter.example.org/" in notes
    assert "10.96.0.0/12, 10.244.0.0/16 on ports 19000, 19001" in notes
    assert f"Keep the Secret {RELEASE}-cs3-jupyterhub-hub" in notes


def test_notes_name_what_is_missing(helm: Helm, cluster: FakeKube) -> None:
    notes = helm_release(helm, cluster, "install", "default")["info"]["notes"]
    assert "ACTION REQUIRED" in notes
    for key in ("sso.issuer", "sso.clientId", "sso.clientSecret", "cs3.gateway"):
        assert f"  - {key}" in notes
    assert f"port-forward service/{RELEASE}-cs3-jupyterhub-proxy-public" in notes


def test_notes_with_existing_secrets(helm: Helm, cluster: FakeKube) -> None:
    notes = helm_release(helm, cluster, "install", "existing-secrets")["info"]["notes"]
    assert "ACTION REQUIRED" not in notes
    assert "Keep the Secret" not in notes
    assert "NetworkPolicies are on" not in notes
    assert "EXTERNAL-IP" in notes


def test_cluster_too_old(helm: Helm, cluster: FakeKube) -> None:
    cluster.version = "1.28.9"
    with pytest.raises(HelmError, match="kubeVersion"):
        helm_release(helm, cluster, "install", "tls-ingress")
