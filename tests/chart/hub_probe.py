"""Load the hub configuration as the chart's hub container does, in a real JupyterHub, and
print what it set up as JSON (run by test_hub_config.py in a child process):

    python -m tests.chart.hub_probe CONFIG_FILE DB_FILE|- USER

The environment is the container's (CS3HUB_VALUES, JUPYTERHUB_CRYPT_KEY, JPY_COOKIE_SECRET,
CONFIGPROXY_AUTH_TOKEN) plus a KUBECONFIG naming an unreachable cluster: nothing talks to
Kubernetes. `JupyterHub.initialize` runs in full (database, roles, services, authenticator
with the provider's discovery); then the hub's own spawner object for USER builds the user
pod, and the pod hook adds the sidecar, as `Spawner.start` would before creating it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from typing import Any


async def probe(config: str, db: str, username: str) -> dict[str, Any]:
    from jupyterhub import orm, roles
    from jupyterhub.app import JupyterHub
    from jupyterhub.scopes import get_scopes_for
    from jupyterhub.utils import maybe_future
    from kubernetes_asyncio.client import ApiClient

    app = JupyterHub()
    # The database path is the only deviation from the container (its volume is not here);
    # "-" keeps the configured database (a server the test started).
    argv = [f"--config={config}"]
    if db != "-":
        argv.append(f"--JupyterHub.db_url=sqlite:///{db}")
    await app.initialize(argv)
    orm_user = orm.User(name=username)
    app.db.add(orm_user)
    app.db.commit()
    roles.assign_default_roles(app.db, entity=orm_user)  # as at a user's first login
    user = app.users[orm_user]
    spawner = user.spawners[""]
    spawner.api_token = user.new_api_token(note="probe", roles=["server"])
    pod = await spawner.get_pod_manifest()
    if spawner.modify_pod_hook:
        pod = await maybe_future(spawner.modify_pod_hook(spawner, pod))
    api = ApiClient()
    manifest = _redact(api.sanitize_for_serialization(pod), spawner.api_token)
    await api.close()
    token = orm.APIToken.find(app.db, spawner.api_token)
    result = {
        "spawner_class": f"{type(spawner).__module__}.{type(spawner).__name__}",
        "authenticator_class": f"{type(app.authenticator).__module__}.{type(app.authenticator).__name__}",
        "roles": {role["name"]: role.get("scopes", []) for role in app.load_roles},
        "custom_scopes": sorted(app.custom_scopes),
        "server_token_scopes": sorted(get_scopes_for(token)) if token else [],
        "namespace": spawner.namespace,
        "hub_api_url": app.hub.api_url,
        "proxy_api_url": app.proxy.api_url,
        "proxy_should_start": app.proxy.should_start,
        "cleanup_servers": app.cleanup_servers,
        "authorize_url": app.authenticator.authorize_url,
        "token_url": app.authenticator.token_url,
        "callback_url": app.authenticator.oauth_callback_url,
        "client_id": app.authenticator.client_id,
        "client_secret_set": bool(app.authenticator.client_secret),
        "enable_auth_state": app.authenticator.enable_auth_state,
        "services": sorted(app._service_map),
        # A digest, never the token itself: the test compares it with the Secret's.
        "service_tokens": {
            name: hashlib.sha256(service.api_token.encode()).hexdigest()
            for name, service in app._service_map.items()
        },
        "service_no_confirm": {name: s.oauth_no_confirm for name, s in app._service_map.items()},
        "base_url": app.base_url,
        "template_vars": app.template_vars,
        "shutdown_on_logout": app.shutdown_on_logout,
        "limits": {
            "concurrent_spawn_limit": app.concurrent_spawn_limit,
            "active_server_limit": app.active_server_limit,
            "consecutive_failure_limit": spawner.consecutive_failure_limit,
            "allow_named_servers": app.allow_named_servers,
            "named_server_limit_per_user": app.named_server_limit_per_user,
        },
        "pod": manifest,
    }
    await spawner.api.api_client.close()
    return result


def _redact(manifest: dict[str, Any], api_token: str) -> dict[str, Any]:
    """Env values holding the server's API token become "<spawner.api_token>": the output
    shows where the token goes without printing it."""
    spec = manifest["spec"]
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        for var in container.get("env") or []:
            if var.get("value") == api_token:
                var["value"] = "<spawner.api_token>"
            elif "TOKEN" in var["name"] and "value" in var and not var["name"].startswith("CS3_"):
                var["value"] = "<another token>"
    return manifest


def main() -> None:
    config, db, username = sys.argv[1:4]
    result = asyncio.run(probe(config, db, username))
    print("PROBE " + json.dumps(result))


if __name__ == "__main__":
    main()
