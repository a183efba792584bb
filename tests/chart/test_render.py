"""The chart renders, lints, validates and wires its objects as intended, without a cluster."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

from hub_config.spawner import server_args
from tests.harness import gateway_api
from tests.harness.helm import CHART, Helm, HelmError

from .chart import (
    CASES,
    NAMESPACE,
    RELEASE,
    VALUES_FILES,
    chart_kube_versions,
    copy,
    find,
    hub_values,
    minor,
    secret_data,
    validation_versions,
)

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (doc["metadata"]["name"], doc["spec"]["template"]["spec"])
        for doc in docs
        if doc["kind"] == "Deployment"
    ]


# -- helm itself ------------------------------------------------------------------------------


def test_lint_strict(helm: Helm) -> None:
    args = ["lint", "--strict", str(CHART)]
    for path in VALUES_FILES:
        proc = helm.run(*args, "--values", str(path))
        assert "0 chart(s) failed" in proc.stdout
        assert not re.search(r"\[(WARNING|ERROR)\]", proc.stdout), proc.stdout
    proc = helm.run(*args)
    assert not re.search(r"\[(WARNING|ERROR)\]", proc.stdout), proc.stdout


def test_renders(render, case: str) -> None:
    docs = render(case)
    kinds = {doc["kind"] for doc in docs}
    assert {"Deployment", "Service", "Secret", "ConfigMap", "ServiceAccount", "Role", "RoleBinding"} <= kinds
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
    assert len(names) == len(set(names)), "two objects of one kind share a name"
    for doc in docs:
        assert "namespace" not in doc["metadata"] or doc["metadata"]["namespace"] == NAMESPACE
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE
    assert {name for name, _ in pod_specs(docs)} == {
        f"{RELEASE}-cs3-jupyterhub-hub",
        f"{RELEASE}-cs3-jupyterhub-proxy",
    }


def test_older_kubernetes_is_refused(helm: Helm) -> None:
    low, _ = chart_kube_versions()
    major, low_minor = minor(low)
    with pytest.raises(HelmError, match="kubeVersion"):
        helm.template(release=RELEASE, namespace=NAMESPACE, kube_version=f"{major}.{low_minor - 1}.0")


@pytest.mark.parametrize("version", validation_versions())
def test_manifests_validate_strict(render, case: str, version: str) -> None:
    """Every rendered object against the Kubernetes schema of each claimed version; an object
    whose schema is unknown fails too (it would not be checked)."""
    docs = render(case, kube_version=version)
    for doc in docs:
        if doc["apiVersion"].startswith("gateway.networking.k8s.io/"):
            gateway_api.validate(doc)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except SchemaNotFoundError as err:
            pytest.fail(err.message)
        except kubernetes_validate.ValidationError as err:
            path = ".".join(str(p) for p in err.path)
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']} is invalid for {version}: {path}: {err.message}"
            )


# -- the schema -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("sso.clientid", "x", r"at '/sso': additional properties 'clientid' not allowed"),
        ("cs3.rootpath", "/eos", r"at '/cs3': additional properties 'rootpath' not allowed"),
        ("limits.maxUploadSizeMB", 5, r"at '/limits': additional properties 'maxUploadSizeMB' not allowed"),
        ("singleuser.image.tags", "1", r"at '/singleuser/image': additional properties 'tags' not allowed"),
        (
            "networkPolicy.reva.cidr",
            ["10.0.0.0/8"],
            r"at '/networkPolicy/reva': additional properties 'cidr'",
        ),
        ("ingres", {"enabled": True}, r"additional properties 'ingres' not allowed"),
        ("tokenRefresher.resources.limit", {"cpu": "1"}, r"additional properties 'limit' not allowed"),
    ],
)
def test_schema_rejects_misspelt_keys(helm: Helm, key: str, value: Any, named: str) -> None:
    with pytest.raises(HelmError) as err:
        helm.template(set_values={key: value})
    assert re.search(named, str(err.value)), str(err.value)
    assert "values don't meet the specifications of the schema" in str(err.value)


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [
        ("limits.maxUploadSizeMb", "lots", "/limits/maxUploadSizeMb"),
        ("limits.maxCopyFolderSizeMb", -1, "/limits/maxCopyFolderSizeMb"),
        ("cs3.authType", "kerberos", "/cs3/authType"),
        ("hub.db.type", "oracle", "/hub/db/type"),
        ("hub.db.type", "postgres", "/hub/db"),
        ("hub.db", {"type": "mysql", "url": "postgresql://db/hub"}, "/hub/db/url"),
        ("sso.issuer", "auth.example.org", "/sso/issuer"),
        ("singleuser.resources.limits.memory", "2 GB", "/singleuser/resources/limits/memory"),
        ("singleuser.uid", 0, "/singleuser/uid"),
    ],
)
def test_schema_rejects_bad_values(helm: Helm, key: str, value: Any, where: str) -> None:
    with pytest.raises(HelmError) as err:
        helm.template(set_values={key: value})
    assert f"at '{where}'" in str(err.value)


def test_schema_describes_every_key() -> None:
    """Every object of the schema is closed or typed, and every property has a description."""
    import json

    schema = json.loads((CHART / "values.schema.json").read_text())
    definitions = schema.get("definitions", {})

    def walk(node: dict[str, Any], path: str) -> None:
        if "$ref" in node:
            walk(definitions[node["$ref"].rsplit("/", 1)[1]], path)
            return
        if node.get("type") == "object" and path != "global":
            assert "additionalProperties" in node, f"{path}: object without additionalProperties"
            assert node["additionalProperties"] is not True, f"{path}: open object"
        for name, child in node.get("properties", {}).items():
            assert child.get("description"), f"{path}.{name} has no description"
            walk(child, f"{path}.{name}".lstrip("."))
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.*")
        if isinstance(node.get("items"), dict):
            walk(node["items"], f"{path}[]")

    walk(schema, "")
    # And every key of values.yaml is in the schema (the defaults pass it, see test_renders).
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"])


# -- what reaches the hub -----------------------------------------------------------------------


def test_hub_values_for_in_cluster_use(render, case: str) -> None:
    docs = render(case)
    values = hub_values(docs)
    hub_service = find(docs, "Service", "-hub")
    proxy_api = find(docs, "Service", "-proxy-api")
    assert values["spawner"]["kind"] == "kubernetes"
    assert values["spawner"]["namespace"] == NAMESPACE
    assert values["hub"]["hubConnectUrl"] == f"http://{hub_service['metadata']['name']}:8081"
    assert values["hub"]["hubBindUrl"] == "http://:8081"
    assert hub_service["spec"]["ports"][0]["port"] == 8081
    assert values["proxy"]["apiUrl"] == f"http://{proxy_api['metadata']['name']}:8001"
    assert values["proxy"]["manage"] is False
    # The hub finds the tree where the Secret is mounted.
    deployment = find(docs, "Deployment", "-hub")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {v["name"]: v for v in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["CS3HUB_VALUES"]["value"] == f"{mounts['secret']}/values.yaml"
    assert container["command"][0] == "jupyterhub"
    config = find(docs, "ConfigMap", "-hub")
    assert container["command"][1] == f"--config={mounts['config']}/jupyterhub_config.py"
    assert "jupyterhub_config.py" in config["data"]
    # JupyterHub's own secrets come from a Secret, by the names JupyterHub reads.
    for name in ("JUPYTERHUB_CRYPT_KEY", "CONFIGPROXY_AUTH_TOKEN", "JPY_COOKIE_SECRET"):
        assert "secretKeyRef" in env[name]["valueFrom"]
    # Image tags resolved; the client secret never in the tree, only its file.
    assert values["singleuser"]["image"]["tag"]
    assert values["tokenRefresher"]["image"]["tag"]
    assert "clientSecret" not in values["sso"]
    if "clientSecretFile" in values["sso"]:
        assert values["sso"]["clientSecretFile"] == f"{mounts['secret']}/sso-client-secret"


def test_default_values_leave_required_settings_missing(render) -> None:
    """Empty required SSO settings are left out of the tree, so the hub names them at start."""
    values = hub_values(render("default"))
    assert "issuer" not in values["sso"]
    assert "clientId" not in values["sso"]
    assert "clientSecretFile" not in values["sso"]


def test_root_path_and_limits_reach_server_args(render) -> None:
    """The values Secret → hub_config's server_args: the seed's settings of the server."""
    values = hub_values(render("cern-eos"))
    args = server_args(values, "/var/run/cs3/oauth.token")
    assert "--CS3FileManagerMixin.root_path=/eos/user/{username[0]}/{username}" in args
    assert "--CS3LargeFileManager.max_copy_folder_size_mb=2000" in args
    assert "--CS3LargeFileManager.max_open_file_size_mb=250" in args
    assert "--CS3LargeFileManager.max_upload_size_mb=10240" in args
    assert "--CS3FileManagerMixin.host=cernbox-reva-gateway.cern.ch:9142" in args
    assert "--CS3FileManagerMixin.ssl_enabled=True" in args
    local = server_args(hub_values(render("tls-ingress")), "/t")
    assert "--CS3FileManagerMixin.tus_enabled=True" in local
    assert "--CS3FileManagerMixin.lock_not_impl=True" in local
    assert "--CS3FileManagerMixin.lock_as_attr=True" in local
    assert "--CS3FileManagerMixin.call_timeout=10.0" in local
    assert "--CS3FileManagerMixin.list_timeout=120.0" in local
    defaults = server_args(hub_values(render("default")), "/t")
    assert "--CS3FileManagerMixin.tus_enabled=False" in defaults
    assert "--CS3FileManagerMixin.lock_not_impl=False" in defaults
    assert "--CS3FileManagerMixin.lock_as_attr=False" in defaults
    assert "--CS3FileManagerMixin.call_timeout=30.0" in defaults
    assert "--CS3FileManagerMixin.root_path=/eos/user/{username[0]}/{username}" in defaults
    assert "--CS3LargeFileManager.max_copy_folder_size_mb=500" in defaults


def test_sso_urls(render) -> None:
    values = hub_values(render("tls-ingress"))
    assert values["sso"]["callbackUrl"] == "https://jupyter.example.org/hub/oauth_callback"
    assert values["sso"]["postLogoutRedirectUrl"] == "https://jupyter.example.org/hub/login"
    values = hub_values(render("existing-secrets"))
    assert values["sso"]["callbackUrl"] == "https://hub.example.net/hub/oauth_callback"
    values = hub_values(render("default"))
    assert values["sso"]["callbackUrl"] == ""  # derived from each request


# -- secrets ----------------------------------------------------------------------------------


def secret_strings(docs: list[dict[str, Any]], case: str) -> set[str]:
    """Every secret value of a case: the chart's generated secrets, the client secret and
    service tokens from the values file."""
    found = set()
    for doc in docs:
        if doc["kind"] == "Secret":
            found |= {v for k, v in secret_data(doc).items() if k != "values.yaml"}
    for path in CASES[case]:
        values = yaml.safe_load(path.read_text())
        sso = values.get("sso", {})
        if sso.get("clientSecret"):
            found.add(sso["clientSecret"])
        for service in values.get("hub", {}).get("services", {}).values():
            if service.get("apiToken"):
                found.add(service["apiToken"])
    return found


def test_no_secret_outside_secrets(render, case: str) -> None:
    """No secret value in a ConfigMap, nor anywhere else but in Secrets."""
    docs = render(case)
    secrets = secret_strings(docs, case)
    for doc in docs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{doc['kind']}/{doc['metadata']['name']} holds a secret value"
    for config in (d for d in docs if d["kind"] == "ConfigMap"):
        text = yaml.safe_dump(config)
        assert not re.search(r"(?i)(secret|token|password)\s*[:=]\s*['\"]?[A-Za-z0-9+/=_-]{16,}", text)


def test_generated_secrets(render) -> None:
    first = secret_data(find(render("default"), "Secret", "-hub"))
    for key in ("cookie-secret", "crypt-key", "proxy-token"):
        assert HEX64.match(first[key]), f"{key} is not 32 bytes of hex"
    # Without a cluster there is nothing to look up: each rendering generates anew (the
    # lookup of the installed Secret is tested in test_upgrade.py).
    again = secret_data(find(render("tls-ingress"), "Secret", "-hub"))
    assert first["crypt-key"] != again["crypt-key"]
    assert again["sso-client-secret"] == "example-client-secret-for-tests"


def test_existing_secrets(render) -> None:
    docs = render("existing-secrets")
    data = secret_data(find(docs, "Secret", "-hub"))
    assert set(data) == {"values.yaml"}, "with existingSecret the chart generates nothing"
    hub = find(docs, "Deployment", "-hub")["spec"]["template"]["spec"]
    proxy = find(docs, "Deployment", "-proxy")["spec"]["template"]["spec"]
    for spec in (hub, proxy):
        for var in spec["containers"][0]["env"]:
            if "valueFrom" in var:
                assert var["valueFrom"]["secretKeyRef"]["name"] == "hub-secrets"
    sources = hub["volumes"][1]["projected"]["sources"]
    assert {"name": "oidc-client", "items": [{"key": "secret", "path": "sso-client-secret"}]} in [
        s["secret"] for s in sources
    ]


# -- pods ---------------------------------------------------------------------------------------


def test_security_defaults(render, case: str) -> None:
    for name, spec in pod_specs(render(case)):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["runAsUser"] > 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not any(spec.get(key) for key in ("hostNetwork", "hostPID", "hostIPC")), name
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["runAsNonRoot"] is True, name
            assert container["resources"]["limits"]["memory"], name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
    hub = find(render(case), "Deployment", "-hub")["spec"]["template"]["spec"]
    writable = {m["mountPath"] for m in hub["containers"][0]["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/srv/jupyterhub", "/tmp"}


def test_rbac_is_namespaced(render, case: str) -> None:
    docs = render(case)
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    role = find(docs, "Role", "-hub")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources == {"pods", "persistentvolumeclaims", "events", "secrets"}
    assert all(rule["apiGroups"] == [""] for rule in role["rules"])
    binding = find(docs, "RoleBinding", "-hub")
    account = find(docs, "ServiceAccount", "-hub")
    hub = find(docs, "Deployment", "-hub")["spec"]["template"]["spec"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert hub["serviceAccountName"] == account["metadata"]["name"]
    proxy = find(docs, "Deployment", "-proxy")["spec"]["template"]["spec"]
    assert proxy["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in proxy


HOOK_ANNOTATIONS = {
    "helm.sh/hook": "pre-delete",
    "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
}


async def test_the_uninstall_hook_deletes_the_releases_user_pods_only(
    render, site_case: str, make_pod
) -> None:
    docs = render(site_case)
    hook = [d for d in docs if d["metadata"]["name"].endswith("-hub-uninstall")]
    assert sorted(d["kind"] for d in hook) == ["Job", "Role", "RoleBinding", "ServiceAccount"]
    for doc in hook:
        assert HOOK_ANNOTATIONS.items() <= doc["metadata"]["annotations"].items(), doc["kind"]
    # Created before the job that uses them.
    weights = {d["kind"]: int(d["metadata"]["annotations"]["helm.sh/hook-weight"]) for d in hook}
    assert weights["Job"] > max(weights[k] for k in ("Role", "RoleBinding", "ServiceAccount"))
    role = find(hook, "Role")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "delete"]}]
    pod_spec = find(hook, "Job")["spec"]["template"]["spec"]
    assert pod_spec["serviceAccountName"] == find(hook, "ServiceAccount")["metadata"]["name"]
    (container,) = pod_spec["containers"]
    assert (
        container["image"]
        == find(docs, "Deployment", "-hub")["spec"]["template"]["spec"]["containers"][0]["image"]
    )
    args = dict(a.removeprefix("--").split("=", 1) for a in container["command"][3:])
    assert args["namespace"] == NAMESPACE
    selector = dict(pair.split("=", 1) for pair in args["selector"].split(","))
    # It selects the pods KubeSpawner makes for this release, and not the hub or the proxy.
    _, user_pod = await make_pod(hub_values(docs))
    assert selector.items() <= user_pod["metadata"]["labels"].items()
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        assert not selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert selector["app.kubernetes.io/instance"] == RELEASE


def test_the_uninstall_hook_can_be_turned_off(helm: Helm) -> None:
    docs = helm.template(set_values={"hub.deleteUserPodsOnUninstall": False})
    assert not [d for d in docs if "helm.sh/hook" in (d["metadata"].get("annotations") or {})]


def test_selectors_match(render, case: str) -> None:
    docs = render(case)
    labels = {
        d["metadata"]["name"]: d["spec"]["template"]["metadata"]["labels"]
        for d in docs
        if d["kind"] == "Deployment"
    }
    for service in (d for d in docs if d["kind"] == "Service"):
        selector = service["spec"]["selector"]
        matching = [name for name, pod in labels.items() if selector.items() <= pod.items()]
        assert len(matching) == 1, f"Service {service['metadata']['name']} selects {matching}"
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        match = deployment["spec"]["selector"]["matchLabels"]
        assert match.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


# -- network policies ---------------------------------------------------------------------------


def egress_to(policy: dict[str, Any], cidr: str) -> list[dict[str, Any]]:
    return [
        rule
        for rule in policy["spec"]["egress"]
        if any(peer.get("ipBlock", {}).get("cidr") == cidr for peer in rule.get("to", []))
    ]


def test_network_policies(render) -> None:
    docs = render("cern-eos")
    policies = {d["metadata"]["name"].rsplit("-", 1)[1]: d for d in docs if d["kind"] == "NetworkPolicy"}
    assert set(policies) == {"hub", "proxy", "singleuser"}
    for policy in policies.values():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        dns = [r for r in policy["spec"]["egress"] if "to" not in r]
        assert dns
        assert {(p["port"], p["protocol"]) for p in dns[0]["ports"]} == {(53, "UDP"), (53, "TCP")}
    user = policies["singleuser"]
    (reva,) = egress_to(user, "188.184.0.0/15")
    assert {p["port"] for p in reva["ports"]} == {9142, 443}
    assert any(peer["ipBlock"]["cidr"] == "2001:1458::/31" for peer in reva["to"])
    assert not egress_to(user, "0.0.0.0/0"), "user servers reach only the gateway's addresses"
    (sso,) = egress_to(policies["hub"], "188.184.0.0/15")
    assert [p["port"] for p in sso["ports"]] == [443]
    assert egress_to(policies["hub"], "10.254.0.1/32")
    # User pods are reached only by the hub and the proxy, on the server port.
    (ingress,) = user["spec"]["ingress"]
    sources = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in ingress["from"]}
    assert sources == {"hub", "proxy"}
    assert ingress["ports"] == [{"port": 8888, "protocol": "TCP"}]
    # The proxy API only from the hub.
    api = [r for r in policies["proxy"]["spec"]["ingress"] if {"port": 8001, "protocol": "TCP"} in r["ports"]]
    assert len(api) == 1
    assert api[0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "hub"
    # The hub's API: from the proxy, the user pods and the hub's own services (the culler).
    (hub_in,) = policies["hub"]["spec"]["ingress"]
    sources = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for peer in hub_in["from"]}
    assert sources == {"hub", "proxy", "singleuser-server"}
    to_self = [
        r
        for r in policies["hub"]["spec"]["egress"]
        if any(
            peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") == "hub"
            for peer in r.get("to", [])
        )
    ]
    assert [r["ports"] for r in to_self] == [[{"port": 8081, "protocol": "TCP"}]]


def test_default_egress_leaves_out_cloud_metadata(render) -> None:
    docs = render("tls-ingress")
    hub = find(docs, "NetworkPolicy", "-hub")
    for rule in egress_to(hub, "0.0.0.0/0"):
        for peer in rule["to"]:
            assert peer["ipBlock"]["except"] == ["169.254.169.254/32"]
    user = find(docs, "NetworkPolicy", "-singleuser")
    # egressToSso adds the provider's rule to user pods; extraEgress is appended verbatim.
    assert len(egress_to(user, "0.0.0.0/0")) == 2
    assert not [d for d in render("existing-secrets") if d["kind"] == "NetworkPolicy"]


# -- ingress, services, pdb -----------------------------------------------------------------------


def test_ingress(render) -> None:
    docs = render("cern-eos")
    ingress = find(docs, "Ingress")
    public = find(docs, "Service", "-proxy-public")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["swan-cs3.cern.ch"], "secretName": "swan-cs3-cert"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "swan-cs3.cern.ch"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": public["metadata"]["name"], "port": {"name": "http"}}
    tls = find(render("tls-ingress"), "Ingress")["spec"]["tls"][0]
    assert tls["secretName"] == f"{RELEASE}-cs3-jupyterhub-tls"
    assert not [d for d in render("default") if d["kind"] == "Ingress"]
    assert find(render("existing-secrets"), "Service", "-proxy-public")["spec"]["type"] == "LoadBalancer"


def test_ingress_needs_a_host(helm: Helm) -> None:
    with pytest.raises(HelmError, match=r"ingress\.host is required"):
        helm.template(set_values={"ingress.enabled": True})


def test_pdb_and_database(render) -> None:
    docs = render("cern-eos")
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    assert len(pdbs) == 2
    for pdb in pdbs:
        component = pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        assert component in ("hub", "proxy")
        assert pdb["spec"]["minAvailable"] == 1
    claim = find(docs, "PersistentVolumeClaim")
    assert claim["spec"]["storageClassName"] == "ceph-rbd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert hub_values(docs)["hub"]["dbUrl"] == "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
    external = render("existing-secrets")
    assert not [d for d in external if d["kind"] in ("PersistentVolumeClaim", "PodDisruptionBudget")]
    assert hub_values(external)["hub"]["dbUrl"] == "postgresql://jupyterhub@db.example.net/jupyterhub"


def test_values_change_restarts_the_hub(helm: Helm) -> None:
    def checksum(**set_values: Any) -> str:
        docs = helm.template(set_values=set_values)
        return find(docs, "Deployment", "-hub")["spec"]["template"]["metadata"]["annotations"][
            "checksum/values"
        ]

    assert checksum() == checksum()
    assert checksum() != checksum(**{"limits.maxUploadSizeMb": 7})


# -- what a site adds to the hub --------------------------------------------------------------


def test_hub_extras_reach_the_hub_pod(render) -> None:
    docs = render("site-admin")
    spec = find(docs, "Deployment", "-hub")["spec"]["template"]["spec"]
    hub = spec["containers"][0]
    env = {v["name"]: v for v in hub["env"]}
    assert env["SITE_NAME"]["value"] == "Example"
    assert env["SITE_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "site-secret", "key": "token"}
    mounts = {m["mountPath"]: m for m in hub["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes[mounts["/etc/site-ca"]["name"]]["configMap"]["name"] == "site-ca"
    # Each extra file is mounted alone (subPath) from the files Secret, with its mode.
    files = find(docs, "Secret", "-hub-files")
    data = secret_data(files)
    login = mounts["/usr/local/share/site/login.html"]
    assert login["subPath"] == "templates-login"
    assert login["readOnly"] is True
    assert data["templates-login"].startswith('{% extends "templates/login.html" %}')
    assert json.loads(data["site-json"]) == {"name": "Example site"}
    items = {i["key"]: i for i in volumes["files"]["secret"]["items"]}
    assert items["site-json"]["mode"] == 0o444
    assert items["templates-login"]["mode"] == 0o440
    assert volumes["files"]["secret"]["secretName"] == files["metadata"]["name"]
    assert "extraFiles" not in hub_values(docs)["hub"]
    # The base URL: probes, the proxy's error page and the derived OAuth URLs follow it.
    assert hub["startupProbe"]["httpGet"]["path"] == "/jupyter/hub/health"
    proxy = find(docs, "Deployment", "-proxy")["spec"]["template"]["spec"]["containers"][0]
    assert any(a.endswith(":8081/jupyter/hub/error") for a in proxy["command"] + proxy.get("args", []))
    assert find(docs, "Service", "-hub")["metadata"]["annotations"]["prometheus.io/scrape"] == "true"


def test_service_tokens_are_generated_once_and_read_from_files(render) -> None:
    docs = render("site-admin")
    secret = secret_data(find(docs, "Secret", "-hub"))
    values = hub_values(docs)
    spec = find(docs, "Deployment", "-hub")["spec"]["template"]["spec"]
    secret_dir = next(m["mountPath"] for m in spec["containers"][0]["volumeMounts"] if m["name"] == "secret")
    projected = next(v for v in spec["volumes"] if v["name"] == "secret")["projected"]["sources"][0]["secret"]
    for name in ("monitoring", "announcements"):
        key = f"hub.services.{name}.apiToken"
        assert HEX64.match(secret[key]), key
        assert values["hub"]["services"][name]["apiTokenFile"] == f"{secret_dir}/{key}"
        assert {"key": key, "path": key} in projected["items"]
    assert values["hub"]["services"]["announcements"]["oauth_no_confirm"] is True


@pytest.mark.parametrize(
    ("key", "value", "where"),
    [
        ("hub.baseUrl", "/jupyter", "/hub/baseUrl"),
        ("hub.services.x.oauth_no_confirn", True, "/hub/services/x"),
        ("hub.extraFiles.f.mountPath", "relative", "/hub/extraFiles/f/mountPath"),
        ("singleuser.extraVolumes", [{"name": "home", "emptyDir": {}}], "/singleuser/extraVolumes/0/name"),
        ("singleuser.extraVolumeMounts", [{"name": "x"}], "/singleuser/extraVolumeMounts/0"),
        ("singleuser.extraContainers", [{"name": "notebook"}], "/singleuser/extraContainers/0/name"),
        ("singleuser.profileList", [{"slug": "x"}], "/singleuser/profileList/0"),
        ("singleuser.lifecycleHooks", {"postStrat": {}}, "/singleuser/lifecycleHooks"),
    ],
)
def test_schema_rejects_bad_site_additions(helm: Helm, key: str, value: Any, where: str) -> None:
    with pytest.raises(HelmError) as err:
        helm.template(set_values={key: value})
    assert f"at '{where}'" in str(err.value), str(err.value)


def test_schema_keeps_the_bundles_hooks_out_of_profiles(helm: Helm) -> None:
    profile = {"display_name": "X", "kubespawner_override": {"modify_pod_hook": "x"}}
    with pytest.raises(HelmError, match="invalid propertyName 'modify_pod_hook'"):
        helm.template(set_values={"singleuser.profileList": [profile]})


def test_a_database_server_with_its_password_and_schema_upgrades(helm: Helm) -> None:
    db = {
        "type": "postgres",
        "url": "postgresql://jupyterhub@db.example.org:5432/jupyterhub",
        "password": {"name": "hub-db", "key": "pw"},
        "upgrade": True,
    }
    docs = [d for d in helm.template(set_values={"hub.db": db}) if d]
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    values = hub_values(docs)
    assert values["hub"]["dbUrl"] == db["url"]
    assert "password" not in yaml.safe_dump(values["hub"]["db"]).replace("password:", "")
    spec = find(docs, "Deployment", "-hub")["spec"]["template"]["spec"]
    (upgrade,) = spec["initContainers"]
    hub = spec["containers"][0]
    assert upgrade["name"] == "upgrade-db"
    assert upgrade["command"][:2] == ["jupyterhub", "upgrade-db"]
    assert upgrade["command"][2] == next(a for a in hub["command"] if a.startswith("--config="))
    # The same environment and files as the hub, the password from the site's Secret.
    assert upgrade["env"] == hub["env"]
    assert upgrade["volumeMounts"] == hub["volumeMounts"]
    assert upgrade["image"] == hub["image"]
    password = next(v for v in hub["env"] if v["name"] == "CS3HUB_DB_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": "hub-db", "key": "pw"}
    # Without upgrade, no init container.
    db["upgrade"] = False
    spec = find(helm.template(set_values={"hub.db": db}), "Deployment", "-hub")["spec"]["template"]["spec"]
    assert "initContainers" not in spec


def test_metrics_scrape_token_and_network_policies(render) -> None:
    docs = render("site-admin")
    secret = secret_data(find(docs, "Secret", "-hub"))
    assert HEX64.match(secret["hub.services.metrics.apiToken"])
    assert "apiTokenFile" in hub_values(docs)["hub"]["services"]["metrics"]
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for suffix, port in (("-hub", 8081), ("-singleuser", 8888)):
        policy = find(docs, "NetworkPolicy", suffix)
        rules = [r for r in policy["spec"]["ingress"] if peer in r["from"]]
        assert [r["ports"] for r in rules] == [[{"port": port, "protocol": "TCP"}]], suffix
    # Off by default: no scrape service, no token, no extra ingress.
    default = render("cern-eos")
    assert "hub.services.metrics.apiToken" not in secret_data(find(default, "Secret", "-hub"))
    assert "metrics" not in hub_values(default)["hub"]["services"]


def test_http_route_to_the_proxy(render) -> None:
    docs = render("site-admin")
    route = find(docs, "HTTPRoute")
    proxy = find(docs, "Service", "-proxy-public")
    gateway_api.validate(route)
    assert route["spec"]["parentRefs"] == [
        {"name": "site-gateway", "namespace": "gateways", "sectionName": "https"}
    ]
    assert route["spec"]["hostnames"] == ["hub.example.org"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/jupyter/"}}]
    port = proxy["spec"]["ports"][0]["port"]
    assert rule["backendRefs"] == [{"name": proxy["metadata"]["name"], "port": port}]
    # The CRD's schema catches what the chart's own schema would let through.
    broken = copy(route)
    broken["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Prefix"
    with pytest.raises(jsonschema.ValidationError):
        gateway_api.validate(broken)


def test_http_route_needs_its_gateway(helm: Helm) -> None:
    with pytest.raises(HelmError, match=r"httpRoute\.parentRefs must name the Gateway"):
        helm.template(set_values={"httpRoute.enabled": True})
