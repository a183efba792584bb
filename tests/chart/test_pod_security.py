"""Every pod the chart makes meets the Pod Security "restricted" profile.

The hub and proxy pods come from `helm template`, the user pods from KubeSpawner's own
`get_pod_manifest` plus our hook (the token refresher sidecar), for the default values and
each site's values file. Kubernetes' own evaluator judges them (pod_security.py); it is shown
refusing bad specs first, so a checker that admits everything cannot make these tests pass.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .chart import hub_values
from .pod_security import violations

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def pod_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`Kind/name` → the pod (template) of every workload and bare pod rendered."""
    found = {}
    for doc in docs:
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind in WORKLOADS:
            found[f"{kind}/{name}"] = doc["spec"]["template"]
        elif kind == "CronJob":
            found[f"{kind}/{name}"] = doc["spec"]["jobTemplate"]["spec"]["template"]
        elif kind == "Pod":
            found[f"{kind}/{name}"] = doc
    return {key: {"metadata": t.get("metadata") or {}, "spec": t["spec"]} for key, t in found.items()}


def test_chart_pods_are_restricted(render: Callable[..., list[dict[str, Any]]], case: str) -> None:
    templates = pod_templates(render(case))
    kinds = {key.split("/")[0] for key in templates}
    # The hub and proxy, and the uninstall hook's job.
    assert kinds == {"Deployment", "Job"}, f"expected the hub, proxy and hook, got {sorted(templates)}"
    assert len(templates) >= 3, f"expected the hub, proxy and hook, got {sorted(templates)}"
    assert violations(templates) == {key: [] for key in templates}


async def test_user_pods_are_restricted(
    render: Callable[..., list[dict[str, Any]]], site_case: str, make_pod
) -> None:
    # The default values lack the reva gateway, without which the hub builds no user pod.
    _, pod = await make_pod(hub_values(render(site_case)), username="rwelande")
    names = [c["name"] for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])]
    assert {"notebook", "token-refresher"} <= set(names)
    assert violations({"user pod": pod}) == {"user pod": []}


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


# Each control of the profile → a change of GOOD that breaks it, by the reason the evaluator
# gives (k8s.io/pod-security-admission's ForbiddenReason).
BAD: dict[str, tuple[str, Callable[[dict[str, Any]], object]]] = {
    "host namespaces": ("host namespaces", lambda s: s.update(hostNetwork=True)),
    "host process": ("hostProcess", lambda s: main(s).update(windowsOptions={"hostProcess": True})),
    "privileged containers": ("privileged", lambda s: sidecar(s).update(privileged=True)),
    # At "restricted" the evaluator reports hostPath under the stricter volume-type rule.
    "hostPath volumes": (
        "restricted volume types",
        lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
    ),
    "host ports": ("hostPort", lambda s: s["containers"][0]["ports"][0].update(hostPort=8888)),
    "SELinux": ("seLinuxOptions", lambda s: main(s).update(seLinuxOptions={"type": "spc_t"})),
    "/proc mount type": ("procMount", lambda s: main(s).update(procMount="Unmasked")),
    "seccomp (baseline)": ("seccompProfile", lambda s: main(s).update(seccompProfile={"type": "Unconfined"})),
    "sysctls": (
        "forbidden sysctls",
        lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
    ),
    # Likewise an added capability: the restricted rule allows only NET_BIND_SERVICE.
    "capabilities (baseline)": (
        "unrestricted capabilities",
        lambda s: main(s)["capabilities"].update(add=["SYS_ADMIN"]),
    ),
    "volume types": (
        "restricted volume types",
        lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
    ),
    "privilege escalation": (
        "allowPrivilegeEscalation != false",
        lambda s: sidecar(s).pop("allowPrivilegeEscalation"),
    ),
    "running as non-root": ("runAsNonRoot != true", lambda s: s["securityContext"].pop("runAsNonRoot")),
    "running as non-root user": ("runAsUser=0", lambda s: sidecar(s).update(runAsUser=0)),
    "seccomp (restricted)": ("seccompProfile", lambda s: s["securityContext"].pop("seccompProfile")),
    "capabilities (restricted)": (
        "unrestricted capabilities",
        lambda s: sidecar(s)["capabilities"].update(drop=["NET_RAW"]),
    ),
    "AppArmor": (
        "forbidden AppArmor profile",
        lambda s: main(s).update(appArmorProfile={"type": "Unconfined"}),
    ),
}


def pod(spec: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "p", "annotations": annotations or {}}, "spec": spec}


def test_a_good_spec_passes() -> None:
    assert violations({"good": pod(copy.deepcopy(GOOD))}) == {"good": []}


def test_each_control_fires() -> None:
    """All of them in one run of the checker: each bad spec is refused for its own reason."""
    pods = {}
    for control, (_, breaks) in BAD.items():
        spec = copy.deepcopy(GOOD)
        breaks(spec)
        pods[control] = pod(spec)
    found = violations(pods)
    for control, (reason, _) in BAD.items():
        assert any(v.startswith(f"{reason}: ") for v in found[control]), (control, found[control])


def test_apparmor_annotation_fires() -> None:
    annotations = {"container.apparmor.security.beta.kubernetes.io/main": "unconfined"}
    found = violations({"annotated": pod(copy.deepcopy(GOOD), annotations)})["annotated"]
    assert len(found) == 1, found
    assert found[0].startswith("forbidden AppArmor profile"), found


def test_baseline_is_laxer_than_restricted() -> None:
    """The level reaches the evaluator: running as root is baseline, not restricted."""
    spec = copy.deepcopy(GOOD)
    spec["securityContext"].pop("runAsNonRoot")
    assert violations({"root": pod(spec)}, level="baseline") == {"root": []}
    assert violations({"root": pod(spec)}, level="restricted")["root"]
