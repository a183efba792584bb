"""Every pod the chart makes meets the Pod Security "restricted" profile.

The hub and proxy pods come from `helm template`, the user pods from KubeSpawner's own
`get_pod_manifest` plus our hook (the token refresher sidecar), for the default values and
each site's values file. The checker is proven on bad specs first, so a rule that never fires
cannot make these tests pass.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from .chart import hub_values
from .pod_security import violations

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def pod_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`Kind/name` → the pod template of every workload (and bare pod) rendered."""
    found = {}
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in WORKLOADS:
            found[f"{kind}/{name}"] = doc["spec"]["template"]
        elif kind == "CronJob":
            found[f"{kind}/{name}"] = doc["spec"]["jobTemplate"]["spec"]["template"]
        elif kind == "Pod":
            found[f"{kind}/{name}"] = doc
    return found


def test_chart_pods_are_restricted(render: Callable[..., list[dict[str, Any]]], case: str) -> None:
    templates = pod_templates(render(case))
    kinds = {key.split("/")[0] for key in templates}
    assert kinds == {"Deployment"}, f"expected the hub and proxy, got {sorted(templates)}"
    assert len(templates) >= 2, f"expected the hub and proxy, got {sorted(templates)}"
    for key, template in templates.items():
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        assert violations(template["spec"], annotations) == [], key


async def test_user_pods_are_restricted(
    render: Callable[..., list[dict[str, Any]]], site_case: str, make_pod
) -> None:
    # The default values lack the reva gateway, without which the hub builds no user pod.
    _, pod = await make_pod(hub_values(render(site_case)), username="rwelande")
    names = [c["name"] for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])]
    assert {"notebook", "token-refresher"} <= set(names)
    annotations = pod["metadata"].get("annotations") or {}
    assert violations(pod["spec"], annotations) == []


# -- the checker itself ---------------------------------------------------------------------

GOOD: dict[str, Any] = {
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "initContainers": [
        {
            "name": "sidecar",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }
    ],
    "containers": [
        {
            "name": "main",
            "ports": [{"containerPort": 8888}],
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
                "readOnlyRootFilesystem": True,
            },
        }
    ],
    "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "ca", "secret": {"secretName": "ca"}}],
}


def main(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["containers"][0]["securityContext"]


def sidecar(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["initContainers"][0]["securityContext"]


BAD: dict[str, Callable[[dict[str, Any]], object]] = {
    "host namespaces": lambda s: s.update(hostNetwork=True),
    "host process": lambda s: main(s).update(windowsOptions={"hostProcess": True}),
    "privileged containers": lambda s: sidecar(s).update(privileged=True),
    "hostPath volumes": lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    "host ports": lambda s: s["containers"][0]["ports"][0].update(hostPort=8888),
    "SELinux": lambda s: main(s).update(seLinuxOptions={"type": "spc_t"}),
    "/proc mount type": lambda s: main(s).update(procMount="Unmasked"),
    "seccomp (baseline)": lambda s: main(s).update(seccompProfile={"type": "Unconfined"}),
    "sysctls": lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
    "capabilities (baseline)": lambda s: main(s)["capabilities"].update(add=["SYS_ADMIN"]),
    "volume types": lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
    "privilege escalation": lambda s: sidecar(s).pop("allowPrivilegeEscalation"),
    "running as non-root": lambda s: s["securityContext"].pop("runAsNonRoot"),
    "running as non-root user": lambda s: sidecar(s).update(runAsUser=0),
    "seccomp (restricted)": lambda s: s["securityContext"].pop("seccompProfile"),
    "capabilities (restricted)": lambda s: sidecar(s)["capabilities"].update(drop=["NET_RAW"]),
}


def test_a_good_spec_passes() -> None:
    assert violations(copy.deepcopy(GOOD)) == []


@pytest.mark.parametrize("control", list(BAD))
def test_each_control_fires(control: str) -> None:
    spec = copy.deepcopy(GOOD)
    BAD[control](spec)
    found = violations(spec)
    assert any(v.startswith(f"{control}: ") for v in found), found


def test_apparmor_annotation_fires() -> None:
    annotations = {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}
    assert violations(copy.deepcopy(GOOD), annotations) == [
        "AppArmor: annotation container.apparmor.security.beta.kubernetes.io/main: unconfined"
    ]
