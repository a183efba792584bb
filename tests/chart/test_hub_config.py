"""The hub configuration the chart produces loads in a real JupyterHub, without a cluster.

The rendered values Secret and ConfigMap are written where the hub container mounts them
(the Secret's values.yaml, the OAuth client secret file, the ConfigMap's entry point), the
container's environment is rebuilt from the rendered Secret, and `JupyterHub.initialize`
runs in a child process against the test identity provider (standing in for `sso.issuer`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
import yaml

from hub_config.database import database_url
from hub_config.handlers import SCOPE
from tests.harness.databases import Database, MariaDB, Postgres, missing_servers
from tests.harness.idp import IdentityProvider, start_idp
from tests.harness.reva import REPO

from .chart import CASES, KUBECONFIG, NAMESPACE, copy, find, hub_values, render_cached, secret_data


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Any:
    provider = start_idp(tmp_path_factory.mktemp("idp"))
    yield provider
    provider.stop()


def env_of(container: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The container's environment, secretKeyRefs resolved from rendered or given Secrets."""
    env = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def run_hub(
    tmp_path: Path,
    docs: list[dict[str, Any]],
    idp: IdentityProvider,
    extra_secrets: dict[str, Any],
    command: list[str] | None = None,
    keep_database: bool = False,
) -> dict[str, Any]:
    """Lay out the hub container's files under tmp_path and run the probe in a child, on a
    SQLite file there or, with `keep_database`, on the configured database, after `command`
    (e.g. upgrade-db) if given."""
    chart_secret = find(docs, "Secret", "-hub")
    secrets = {chart_secret["metadata"]["name"]: secret_data(chart_secret), **extra_secrets}
    deployment = find(docs, "Deployment", "-hub")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = env_of(container, secrets)

    # The projected "secret" volume: values.yaml, and the client secret when there is one.
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    for source in volumes["secret"]["projected"]["sources"]:
        ref = source["secret"]
        for item in ref["items"]:
            (secret_dir / item["path"]).write_text(secrets[ref["name"]][item["key"]])
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    configmap = find(docs, "ConfigMap", "-hub")
    for key, text in configmap["data"].items():
        (config_dir / key).write_text(text)

    # Paths inside the container → the same files here; the issuer → the test provider.
    values_text = (secret_dir / "values.yaml").read_text()
    values_text = values_text.replace(mounts["secret"], str(secret_dir))
    values = yaml.safe_load(values_text)
    values["sso"]["issuer"] = idp.issuer
    (secret_dir / "values.yaml").write_text(yaml.safe_dump(values))
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)

    assert env["CS3HUB_VALUES"].startswith(mounts["secret"] + "/")
    config_arg = next(arg for arg in container["command"] if arg.startswith("--config="))
    config_file = config_arg.removeprefix("--config=").replace(mounts["config"], str(config_dir))
    child_env = {
        **os.environ,
        **env,
        "CS3HUB_VALUES": env["CS3HUB_VALUES"].replace(mounts["secret"], str(secret_dir)),
        "KUBECONFIG": str(tmp_path / "kubeconfig"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv, cwd=tmp_path, env=child_env, capture_output=True, text=True, timeout=120, check=False
        )

    if command is not None:
        before = run([*command, f"--config={config_file}"])
        assert before.returncode == 0, f"{command} failed ({before.returncode}):\n{before.stderr[-4000:]}"
    database = "-" if keep_database else str(tmp_path / "hub.sqlite")
    proc = run([sys.executable, "-m", "tests.chart.hub_probe", config_file, database, "einstein"])
    lines = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
    assert proc.returncode == 0, f"the hub did not load (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    assert lines, f"the probe printed nothing:\n{proc.stderr[-4000:]}"
    result = json.loads(lines[-1].removeprefix("PROBE "))
    result["log"] = proc.stderr
    result["values"] = values
    return result


@pytest.fixture(scope="module")
def cern_hub(helm: Any, idp: IdentityProvider, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The CERN-like values, loaded once for the tests that only read the result."""
    docs = [copy(doc) for doc in render_cached("cern-eos")]
    return run_hub(tmp_path_factory.mktemp("cern-hub"), docs, idp, {})


def test_rendered_config_loads_in_jupyterhub(render, cern_hub: dict[str, Any], idp: IdentityProvider) -> None:
    docs = render("cern-eos")
    hub = cern_hub

    assert hub["spawner_class"] == "kubespawner.spawner.KubeSpawner"
    assert hub["authenticator_class"] == "hub_config.authenticator.CS3Authenticator"
    # The storage-token scope exists and the server role (the server's API token) holds it
    # for its own user only; the user role too, so the token's intersection keeps it.
    assert hub["custom_scopes"] == [SCOPE]
    assert f"{SCOPE}!user" in hub["roles"]["server"]
    assert f"{SCOPE}!user" in hub["roles"]["user"]
    assert f"{SCOPE}!user=einstein" in hub["server_token_scopes"]
    assert not any(scope.startswith("admin:auth_state") for scope in hub["server_token_scopes"])
    # The site's extra role and service from the values file.
    assert "culler" in hub["roles"]
    assert hub["services"] == ["culler", "idle-culler"]
    # The bundle's own culler, on by default, with the least scopes it needs.
    assert hub["roles"]["idle-culler"] == [
        "list:users",
        "read:users:activity",
        "read:servers",
        "delete:servers",
    ]
    # The site's limits; the failure limit keeps its default.
    assert hub["limits"] == {
        "concurrent_spawn_limit": 20,
        "active_server_limit": 400,
        "consecutive_failure_limit": 5,
        "allow_named_servers": True,
        "named_server_limit_per_user": 3,
    }

    # In-cluster wiring: the hub's API through its Service, the external proxy's API.
    service = find(docs, "Service", "-hub")["metadata"]["name"]
    proxy_api = find(docs, "Service", "-proxy-api")["metadata"]["name"]
    assert hub["hub_api_url"] == f"http://{service}:8081/hub/api"
    assert hub["proxy_api_url"] == f"http://{proxy_api}:8001"
    assert hub["proxy_should_start"] is False
    assert hub["cleanup_servers"] is False, "a hub restart must not stop the user pods"
    assert hub["namespace"] == NAMESPACE

    # Login: endpoints by discovery, the client secret read from its mounted file.
    assert hub["authorize_url"] == idp.authorization_endpoint
    assert hub["token_url"] == idp.token_endpoint
    assert hub["client_id"] == "swan-cs3-hub"
    assert hub["client_secret_set"] is True
    assert hub["callback_url"] == "https://swan-cs3.cern.ch/hub/oauth_callback"
    assert hub["enable_auth_state"] is True
    assert "keycloak-client-secret-for-tests" not in hub["log"]


def test_user_pod_from_the_hubs_own_spawner(render, cern_hub: dict[str, Any]) -> None:
    """The spawner JupyterHub builds from the rendered config makes the pod the design wants."""
    docs = render("cern-eos")
    hub = cern_hub
    pod = hub["pod"]
    spec = pod["spec"]
    notebook = next(c for c in spec["containers"] if c["name"] == "notebook")
    sidecar = next(c for c in spec["initContainers"] if c["name"] == "token-refresher")
    sidecar_env = {v["name"]: v["value"] for v in sidecar["env"]}

    assert sidecar["restartPolicy"] == "Always"
    assert sidecar_env["JUPYTERHUB_API_TOKEN"] == "<spawner.api_token>"
    assert sidecar_env["JUPYTERHUB_API_URL"] == hub["hub_api_url"]
    assert sidecar_env["JUPYTERHUB_USER"] == "einstein"
    assert "--CS3FileManagerMixin.root_path=/eos/user/{username[0]}/{username}" in notebook["args"]
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "singleuser-server"
    # The NetworkPolicy of user pods selects exactly these pods.
    policy = find(docs, "NetworkPolicy", "-singleuser")
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= pod["metadata"]["labels"].items()
    hub_values_tree = hub_values(docs)
    assert hub_values_tree["spawner"]["kind"] == "kubernetes"


def test_existing_secrets_load(render, idp: IdentityProvider, tmp_path: Path) -> None:
    """With existingSecret and sso.existingSecret the hub reads Secrets the chart did not make."""
    docs = render("existing-secrets")
    site_secrets = {
        "hub-secrets": {
            "cookie-secret": "ab" * 32,
            "crypt-key": "cd" * 32,
            "proxy-token": "ef" * 32,
        },
        "oidc-client": {"secret": "client-secret-from-the-site"},
    }
    hub = run_hub(tmp_path, docs, idp, site_secrets)
    assert hub["client_secret_set"] is True
    assert hub["authenticator_class"] == "hub_config.authenticator.CS3Authenticator"
    assert hub["values"]["sso"]["clientSecretFile"].endswith("/sso-client-secret")
    assert (tmp_path / "secret" / "sso-client-secret").read_text() == "client-secret-from-the-site"
    assert "client-secret-from-the-site" not in hub["log"]


def test_missing_gateway_stops_the_hub_with_its_name(render, idp: IdentityProvider, tmp_path: Path) -> None:
    """Default values lack the site's settings: the hub names the first missing one."""
    docs = render("tls-ingress")
    values = hub_values(docs)
    assert values["cs3"]["gateway"]
    # Take the gateway out of the rendered tree, as the default values leave it.
    secret = find(docs, "Secret", "-hub")
    values["cs3"]["gateway"] = ""
    secret["data"]["values.yaml"] = base64.b64encode(yaml.safe_dump(values).encode()).decode()
    with pytest.raises(AssertionError, match=r"cs3\.gateway"):
        run_hub(tmp_path, docs, idp, {})


# The Secret site-admin.yaml's hub.extraEnv reads from.
SITE_SECRETS = {"site-secret": {"token": "site-token-for-tests"}}


def test_a_sites_additions_load_in_jupyterhub(render, idp: IdentityProvider, tmp_path: Path) -> None:
    """extraConfig snippets run after the bundle's config, in name order, with `custom`;
    generated service tokens reach the hub from the Secret; the base URL holds throughout."""
    docs = render("site-admin")
    hub = run_hub(tmp_path, docs, idp, SITE_SECRETS)
    assert hub["template_vars"] == {"announcement_login": "Maintenance on Monday"}
    assert hub["shutdown_on_logout"] is True
    assert hub["base_url"] == "/jupyter/"
    service = find(docs, "Service", "-hub")["metadata"]["name"]
    assert hub["hub_api_url"] == f"http://{service}:8081/jupyter/hub/api"
    assert hub["callback_url"] == "https://hub.example.org/jupyter/hub/oauth_callback"
    secret = secret_data(find(docs, "Secret", "-hub"))
    for name in ("monitoring", "announcements"):
        generated = secret[f"hub.services.{name}.apiToken"]
        assert hub["service_tokens"][name] == hashlib.sha256(generated.encode()).hexdigest()
        assert generated not in hub["log"]
    assert hub["service_no_confirm"]["announcements"] is True
    assert hub["roles"]["monitoring"] == ["read:metrics"]
    # metrics.enabled: the scrape service holds read:metrics and nothing more.
    assert hub["roles"]["metrics"] == ["read:metrics"]
    assert "metrics" in hub["service_tokens"]


@pytest.mark.parametrize(
    ("snippet", "named"),
    [
        (
            "c.JupyterHub.template_vars = {'x': custom['missing']}",
            r"hub\.extraConfig\.10-motd' line 1: KeyError",
        ),
        ("def broken(:\n    pass", r"hub\.extraConfig\.10-motd' line 1: SyntaxError"),
    ],
)
def test_a_failing_snippet_stops_the_hub_with_its_name(
    render, idp: IdentityProvider, tmp_path: Path, snippet: str, named: str
) -> None:
    docs = render("site-admin")
    values = hub_values(docs)
    values["hub"]["extraConfig"]["10-motd"] = snippet
    secret = find(docs, "Secret", "-hub")
    secret["data"]["values.yaml"] = base64.b64encode(yaml.safe_dump(values).encode()).decode()
    with pytest.raises(AssertionError, match=named):
        run_hub(tmp_path, docs, idp, SITE_SECRETS)


# -- the hub on a database server ---------------------------------------------------------------


@pytest.fixture(scope="module", params=["postgres", "mysql"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    missing = missing_servers()
    if missing:
        pytest.fail(f"the database servers are missing: {missing}", pytrace=False)
    kind = {"postgres": Postgres, "mysql": MariaDB}[request.param]
    server = kind(tmp_path_factory.mktemp(request.param), kind=request.param)
    server.start()
    yield server
    server.stop()


def database_values(helm: Any, database: Database) -> list[dict[str, Any]]:
    db = {
        "type": database.kind,
        "url": database.url,
        "password": {"name": "hub-db", "key": "password"},
        "upgrade": True,
    }
    return [d for d in helm.template(values_files=CASES["cern-eos"], set_values={"hub.db": db}) if d]


def test_the_hub_runs_on_the_sites_database_server(
    helm: Any, database: Database, idp: IdentityProvider, tmp_path: Path
) -> None:
    """The init container's `jupyterhub upgrade-db`, then the hub itself, on a real server with
    the password from the site's Secret; the password is in no log."""
    docs = database_values(helm, database)
    (init,) = find(docs, "Deployment", "-hub")["spec"]["template"]["spec"]["initContainers"]
    upgrade = [sys.executable, "-m", "jupyterhub", *init["command"][1:2]]
    secrets = {"hub-db": {"password": database.password}}
    hub = run_hub(tmp_path, docs, idp, secrets, command=upgrade, keep_database=True)
    assert hub["spawner_class"] == "kubespawner.spawner.KubeSpawner"
    assert database.password not in hub["log"]
    engine = sqlalchemy.create_engine(database_url(database.url, database.password))
    with engine.connect() as conn:
        users = [row[0] for row in conn.execute(sqlalchemy.text("SELECT name FROM users"))]
        revision = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert "einstein" in users
    assert revision, "upgrade-db stamped no schema revision"


def test_a_wrong_database_password_stops_the_hub_without_showing_it(
    helm: Any, database: Database, idp: IdentityProvider, tmp_path: Path
) -> None:
    docs = database_values(helm, database)
    wrong = "not-" + database.password
    with pytest.raises(AssertionError) as err:
        run_hub(tmp_path, docs, idp, {"hub-db": {"password": wrong}}, keep_database=True)
    message = str(err.value)
    assert "did not load" in message
    assert wrong not in message
    assert database.password not in message
