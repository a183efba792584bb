"""User pods as KubeSpawner builds them from the rendered values, without a cluster.

`configure_kubespawner` configures a real KubeSpawner from the values tree of the rendered
Secret; KubeSpawner's own `get_pod_manifest` builds the pod and our `modify_pod_hook` adds the
token refresher, exactly the calls `KubeSpawner._start` makes before creating the pod. A
kubeconfig naming an unreachable server satisfies KubeSpawner's client set-up; no request is
sent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from traitlets.config import Config

from hub_config.kubernetes import READY_FILE, TOKEN_DIR, configure_kubespawner, quantity
from hub_config.values import SettingsError

from .chart import hub_values, validation_versions
from .conftest import API_TOKEN


def containers(pod: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = pod["spec"]
    notebook = next(c for c in spec["containers"] if c["name"] == "notebook")
    sidecars = [c for c in spec.get("initContainers", []) if c["name"] == "token-refresher"]
    assert len(sidecars) == 1, "exactly one token-refresher init container"
    return notebook, sidecars[0]


def env(container: dict[str, Any]) -> dict[str, str]:
    return {var["name"]: var.get("value") for var in container.get("env") or []}


def arg(container: dict[str, Any], name: str) -> str:
    args = container.get("args") or []
    found = [a.split("=", 1)[1] for a in args if a.startswith(f"--{name}=")]
    assert len(found) == 1, f"--{name} appears {len(found)} times in {args}"
    return found[0]


async def test_sidecar_volume_mounts_and_probe(render, site_case: str, make_pod) -> None:
    values = hub_values(render(site_case))
    spawner, pod = await make_pod(values)
    notebook, sidecar = containers(pod)
    spec = pod["spec"]

    # A native sidecar: an init container that keeps running, with a startup probe on its
    # readiness, so the server container starts after the first token is written.
    assert sidecar["restartPolicy"] == "Always"
    sidecar_env = env(sidecar)
    probe = sidecar["startupProbe"]
    port = next(p for p in sidecar["ports"] if p["name"] == probe["httpGet"]["port"])
    assert probe["httpGet"]["path"] == "/ready"
    assert str(port["containerPort"]) == sidecar_env["CS3_TOKEN_HEALTH_PORT"]
    assert sidecar_env["CS3_TOKEN_HEALTH_HOST"] == "0.0.0.0"
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 30
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/health"

    # Its own environment: the hub's API, the server's API token, the user.
    assert sidecar_env["JUPYTERHUB_API_URL"] == spawner.hub.api_url
    assert sidecar_env["JUPYTERHUB_API_TOKEN"] == spawner.api_token == API_TOKEN
    assert sidecar_env["JUPYTERHUB_USER"] == "einstein"
    assert sidecar_env["CS3_TOKEN_REFRESH_MARGIN"] == str(values["tokenRefresher"]["margin"])
    assert sidecar_env["CS3_TOKEN_READY_FILE"] == READY_FILE
    assert sidecar["image"] == (
        f"{values['tokenRefresher']['image']['repository']}:{values['tokenRefresher']['image']['tag']}"
    )

    # One in-memory emptyDir, mounted as a directory in both containers, read-only in the
    # server's; the token file the server reads is the one the sidecar writes.
    token_volumes = [v for v in spec["volumes"] if v.get("emptyDir", {}).get("medium") == "Memory"]
    assert len(token_volumes) == 1
    volume = token_volumes[0]["name"]
    (server_mount,) = [m for m in notebook["volumeMounts"] if m["name"] == volume]
    (sidecar_mount,) = [m for m in sidecar["volumeMounts"] if m["name"] == volume]
    for mount in (server_mount, sidecar_mount):
        assert mount["mountPath"] == TOKEN_DIR
        assert not mount.get("subPath")
        assert not mount.get("subPathExpr")
    assert server_mount["readOnly"] is True
    assert not sidecar_mount.get("readOnly")
    token_path = arg(notebook, "CS3FileManagerMixin.token_path")
    assert token_path == sidecar_env["CS3_TOKEN_PATH"]
    assert str(Path(token_path).parent) == TOKEN_DIR
    assert str(Path(sidecar_env["CS3_TOKEN_READY_FILE"]).parent) == TOKEN_DIR


async def test_security_contexts(render, site_case: str, make_pod) -> None:
    values = hub_values(render(site_case))
    _, pod = await make_pod(values)
    notebook, sidecar = containers(pod)
    pod_context = pod["spec"]["securityContext"]
    assert pod_context["runAsNonRoot"] is True
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod_context["fsGroup"] == values["singleuser"]["gid"]
    for container in (notebook, sidecar):
        context = container["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not context.get("privileged")
    # Same user in both: the sidecar writes the token file with mode 0600 for the server.
    assert notebook["securityContext"]["runAsUser"] == sidecar["securityContext"]["runAsUser"]
    assert notebook["securityContext"]["runAsUser"] == values["singleuser"]["uid"] != 0
    # A read-only image: the home and /tmp are emptyDirs.
    writable = {m["mountPath"] for m in notebook["volumeMounts"] if not m.get("readOnly")}
    assert {"/tmp", values["singleuser"]["homeDir"]} <= writable
    assert notebook["workingDir"] == values["singleuser"]["homeDir"]
    assert env(notebook)["HOME"] == values["singleuser"]["homeDir"]
    assert pod["spec"]["automountServiceAccountToken"] is False


async def test_root_path_and_limits_reach_the_server(render, make_pod) -> None:
    """The CERN-like layout: the root path template reaches the contents manager unexpanded
    (KubeSpawner does not template arguments), the limits as the seed's trait names."""
    values = hub_values(render("cern-eos"))
    _, pod = await make_pod(values, username="rwelande")
    notebook, _ = containers(pod)
    assert arg(notebook, "CS3FileManagerMixin.root_path") == "/eos/user/{username[0]}/{username}"
    assert arg(notebook, "CS3FileManagerMixin.host") == "cernbox-reva-gateway.cern.ch:9142"
    assert arg(notebook, "CS3FileManagerMixin.ssl_enabled") == "True"
    assert arg(notebook, "CS3FileManagerMixin.auth_login_type") == "bearer"
    assert arg(notebook, "CS3LargeFileManager.max_copy_folder_size_mb") == "2000"
    assert arg(notebook, "CS3LargeFileManager.max_open_file_size_mb") == "250"
    assert arg(notebook, "CS3LargeFileManager.max_upload_size_mb") == "10240"
    assert arg(notebook, "ServerApp.contents_manager_class") == "cs3_contents_manager.CS3LargeFileManager"
    assert notebook["args"][0] == "jupyterhub-singleuser"
    # The site CA: mounted read-only where the argument points.
    ca_file = arg(notebook, "CS3FileManagerMixin.ssl_ca_file")
    (ca_mount,) = [m for m in notebook["volumeMounts"] if m["mountPath"] == str(Path(ca_file).parent)]
    assert ca_mount["readOnly"] is True
    (ca_volume,) = [v for v in pod["spec"]["volumes"] if v["name"] == ca_mount["name"]]
    assert ca_volume["secret"]["secretName"] == "cern-ca-bundle"
    assert Path(ca_file).name == "CERN-bundle.pem"
    # Extra env goes through KubeSpawner's templates: doubled braces become literal ones.
    assert env(notebook)["CERNBOX_HOME_HINT"] == "/eos/user/{username}"
    assert env(notebook)["EOS_MGM_URL"] == "root://eosuser.cern.ch"
    # Resources: Kubernetes quantities become KubeSpawner's limits; others pass through.
    resources = notebook["resources"]
    assert quantity(resources["limits"]["memory"], "m") == quantity("8Gi", "m")
    assert quantity(resources["requests"]["cpu"], "c") == quantity("500m", "c")
    assert resources["limits"]["nvidia.com/gpu"] == "1"
    assert pod["spec"]["nodeSelector"] == {"swan.cern.ch/pool": "users"}
    # /tmp spools chunked uploads: room for two of the largest allowed (10240 MB).
    (tmp,) = [v for v in pod["spec"]["volumes"] if v["name"] == "tmp"]
    assert tmp["emptyDir"]["sizeLimit"] == "20480Mi"
    # Uploads in progress stay within four fifths of it (a chunk beyond answers 413), so
    # the kubelet never evicts the pod for overflowing /tmp.
    assert arg(notebook, "CS3LargeFileManager.spool_limit_mb") == str(20480 * 4 // 5)


async def test_other_layouts(render, make_pod) -> None:
    _, pod = await make_pod(hub_values(render("tls-ingress")), username="marie")
    notebook, _ = containers(pod)
    assert arg(notebook, "CS3FileManagerMixin.root_path") == ""
    assert arg(notebook, "CS3FileManagerMixin.ssl_enabled") == "False"
    assert arg(notebook, "CS3LargeFileManager.max_upload_size_mb") == "2048"
    (tmp,) = [v for v in pod["spec"]["volumes"] if v["name"] == "tmp"]
    assert tmp["emptyDir"]["sizeLimit"] == "4096Mi"
    assert int(arg(notebook, "CS3LargeFileManager.spool_limit_mb")) == 4096 * 4 // 5
    assert not any(a.startswith("--CS3FileManagerMixin.ssl_ca_file") for a in notebook["args"])
    _, pod = await make_pod(hub_values(render("existing-secrets")))
    notebook, _ = containers(pod)
    assert arg(notebook, "CS3FileManagerMixin.root_path") == "/home/{username}"
    assert pod["spec"]["imagePullSecrets"] == [{"name": "site-registry"}]


async def test_hook_is_idempotent(render, make_pod) -> None:
    spawner, _pod = await make_pod(hub_values(render("cern-eos")))
    again = spawner.modify_pod_hook(
        spawner, spawner.modify_pod_hook(spawner, await spawner.get_pod_manifest())
    )
    spec = again.spec
    assert [c.name for c in spec.init_containers].count("token-refresher") == 1
    names = [v.name for v in spec.volumes]
    assert len(names) == len(set(names))
    mounts = [m.name for m in spec.containers[0].volume_mounts]
    assert len(mounts) == len(set(mounts))


@pytest.mark.parametrize("version", validation_versions())
async def test_user_pod_validates(render, make_pod, version: str) -> None:
    """The pod KubeSpawner will create, sidecar included, is a valid v1 Pod (strict)."""
    for case in ("cern-eos", "tls-ingress", "existing-secrets", "site-admin"):
        _, pod = await make_pod(hub_values(render(case)), username="marie.curie@example.org")
        kubernetes_validate.validate(pod, version, strict=True)
    for profile in ("large", "gpu"):
        _, pod = await make_pod(hub_values(render("site-admin")), user_options={"profile": profile})
        kubernetes_validate.validate(pod, version, strict=True)


async def test_missing_gateway_is_named(render, kubeconfig: Path) -> None:
    values = hub_values(render("default"))
    with pytest.raises(SettingsError, match=r"cs3\.gateway"):
        configure_kubespawner(Config(), values)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("500m", "0.5"),
        ("2", "2"),
        ("1.5", "1.5"),
        ("2Gi", str(2 * 1024**3)),
        ("64Mi", str(64 * 1024**2)),
        ("1G", "1e9"),
    ],
)
def test_quantity(text: str, number: str) -> None:
    from decimal import Decimal

    assert quantity(text, "x") == Decimal(number)


def test_bad_quantity_is_named() -> None:
    with pytest.raises(SettingsError, match=r"singleuser\.resources\.limits\.memory"):
        quantity("lots", "singleuser.resources.limits.memory")


# -- what a site adds: profiles, volumes, containers -----------------------------------------


def assert_cs3_wiring(pod: dict[str, Any], values: dict[str, Any]) -> None:
    """What every user pod needs, whichever profile made it."""
    notebook, sidecar = containers(pod)
    assert sidecar["restartPolicy"] == "Always"
    for name in (
        "ServerApp.contents_manager_class",
        "CS3FileManagerMixin.host",
        "CS3FileManagerMixin.token_path",
    ):
        arg(notebook, name)
    assert arg(notebook, "CS3FileManagerMixin.host") == values["cs3"]["gateway"]
    mounts = {m["mountPath"]: m for m in notebook["volumeMounts"]}
    assert mounts[TOKEN_DIR]["readOnly"] is True
    assert {"/tmp", values["singleuser"]["homeDir"]} <= set(mounts)
    volumes = {v["name"] for v in pod["spec"]["volumes"]}
    assert {m["name"] for m in notebook["volumeMounts"]} <= volumes, "a mount without its volume"


async def test_the_default_profile_keeps_the_sites_volumes_and_containers(render, make_pod) -> None:
    values = hub_values(render("site-admin"))
    _, pod = await make_pod(values, username="marie", user_options={})
    assert_cs3_wiring(pod, values)
    notebook, _ = containers(pod)
    spec = pod["spec"]
    mounts = {m["mountPath"]: m for m in notebook["volumeMounts"]}
    assert mounts["/cvmfs"]["readOnly"] is True
    (cvmfs,) = [v for v in spec["volumes"] if v["name"] == mounts["/cvmfs"]["name"]]
    assert cvmfs["csi"]["driver"] == "cvmfs.csi.cern.ch"
    assert quantity(notebook["resources"]["limits"]["memory"], "m") == quantity("2Gi", "m")
    # The site's containers, templated for the user; its init container runs before the
    # token refresher, which is the last init container (the server waits for its token).
    (shipper,) = [c for c in spec["containers"] if c["name"] == "log-shipper"]
    assert shipper["args"] == ["--user=marie"]
    assert [c["name"] for c in spec["initContainers"]] == ["prepare", "token-refresher"]
    assert notebook["lifecycle"]["postStart"]["exec"]["command"][0] == "sh"
    assert pod["metadata"]["labels"]["site.example.org/user"] == "marie"
    assert pod["metadata"]["annotations"]["site.example.org/owner"] == "marie"
    assert spec["priorityClassName"] == "users"
    assert spec["dnsConfig"]["options"] == [{"name": "ndots", "value": "2"}]


async def test_a_chosen_profile_overrides_resources_and_keeps_the_cs3_wiring(render, make_pod) -> None:
    values = hub_values(render("site-admin"))
    _spawner, pod = await make_pod(values, username="marie", user_options={"profile": "large"})
    assert_cs3_wiring(pod, values)
    notebook, _ = containers(pod)
    resources = notebook["resources"]
    # "8Gi" (a Kubernetes quantity) and KubeSpawner's "4G" both mean powers of 1024.
    assert quantity(resources["limits"]["memory"], "m") == 8 * 1024**3
    assert quantity(resources["requests"]["memory"], "m") == 4 * 1024**3
    assert quantity(resources["limits"]["cpu"], "c") == 4
    assert pod["spec"]["nodeSelector"] == {"site.example.org/pool": "large"}
    assert env(notebook)["SITE_PROFILE"] == "large"
    # The profile's own argument is kept beside the CS3 ones; its volume list replaced the
    # site's, and the bundle's scratch and token volumes are there all the same.
    assert arg(notebook, "ServerApp.shutdown_no_activity_timeout") == "7200"
    mounts = {m["mountPath"] for m in notebook["volumeMounts"]}
    assert "/scratch" in mounts
    assert "/cvmfs" not in mounts


async def test_a_profile_option_choice_applies(render, make_pod) -> None:
    values = hub_values(render("site-admin"))
    _, pod = await make_pod(values, user_options={"profile": "gpu", "image": "plain"})
    assert_cs3_wiring(pod, values)
    notebook, _ = containers(pod)
    assert notebook["resources"]["limits"]["nvidia.com/gpu"] == "1"
    _, pod = await make_pod(values, user_options={"profile": "gpu"})
    notebook, _ = containers(pod)
    assert notebook["image"] == "registry.example.org/site/singleuser-cuda:2026.11"


async def test_an_unknown_profile_is_refused(render, make_pod) -> None:
    values = hub_values(render("site-admin"))
    with pytest.raises(ValueError, match="No such profile: huge"):
        await make_pod(values, user_options={"profile": "huge"})


@pytest.mark.parametrize("key", ["modify_pod_hook", "profile_list"])
def test_a_profile_may_not_replace_the_bundles_hooks(render, kubeconfig: Path, key: str) -> None:
    values = hub_values(render("site-admin"))
    values["singleuser"]["profileList"][1]["kubespawner_override"][key] = "x"
    with pytest.raises(SettingsError, match=rf"profileList\[1\].*{key}"):
        configure_kubespawner(Config(), values)


async def test_a_removed_profile_or_choice_falls_back_to_the_default(render, make_pod) -> None:
    """JupyterHub starts a server again with its last options; once the site has removed the
    profile they name, the server still starts, with the default."""
    values = hub_values(render("site-admin"))
    spawner, _ = await make_pod(values)
    for remembered, expected in (
        ({"profile": "huge"}, {}),
        ({"profile": "gpu", "image": "removed"}, {"profile": "gpu"}),
        ({"profile": "gpu", "image": "plain"}, {"profile": "gpu", "image": "plain"}),
    ):
        spawner.user_options = dict(remembered)
        spawner.pre_spawn_hook(spawner)
        assert spawner.user_options == expected
        await spawner.load_user_options()
    # With no profiles left at all, a remembered one is dropped as well.
    values["singleuser"]["profileList"] = []
    spawner, _ = await make_pod(values)
    spawner.user_options = {"profile": "large"}
    spawner.pre_spawn_hook(spawner)
    await spawner.load_user_options()
    assert spawner.user_options == {}
