"""JupyterHub configuration of the bundle, the same file in the chart and for `make run`.

Every setting comes from one values tree (`hub_config.values.get_value`): the chart mounts its
values as a Secret, `make run` writes a local YAML. Secrets may also be given as files
(`<key>File`) or, for JupyterHub's own ones, as the usual environment variables
(JUPYTERHUB_CRYPT_KEY, CONFIGPROXY_AUTH_TOKEN).
"""

# ruff: noqa: F821 - `c` is provided by JupyterHub when it loads this file
from hub_config.authenticator import CS3Authenticator
from hub_config.culling import culler_service
from hub_config.database import database_url
from hub_config.extra_config import run_extra_config
from hub_config.handlers import SCOPE, token_handlers
from hub_config.values import SettingsError, get_value, load_values, read_secret

values = load_values()

# -- hub and proxy -------------------------------------------------------------------------
c.JupyterHub.bind_url = get_value("hub.bindUrl", "http://127.0.0.1:8000")
c.JupyterHub.hub_bind_url = get_value("hub.hubBindUrl", "http://127.0.0.1:8081")
if get_value("hub.hubConnectUrl", None):
    c.JupyterHub.hub_connect_url = get_value("hub.hubConnectUrl")
c.JupyterHub.db_url = database_url(get_value("hub.dbUrl", "sqlite:///jupyterhub.sqlite"))
c.JupyterHub.cookie_secret_file = get_value("hub.cookieSecretFile", "jupyterhub_cookie_secret")
c.JupyterHub.log_level = get_value("hub.logLevel", "INFO")
c.JupyterHub.base_url = get_value("hub.baseUrl", "/")
if get_value("proxy.command", None):
    c.ConfigurableHTTPProxy.command = list(get_value("proxy.command"))
if get_value("proxy.apiUrl", None):
    c.ConfigurableHTTPProxy.api_url = get_value("proxy.apiUrl")
    c.ConfigurableHTTPProxy.should_start = bool(get_value("proxy.manage", True))

# Limits: spawns at once (each is a pod being scheduled and pulled), servers running at
# once (a full cluster refuses new ones with a message instead of queueing pods), and
# failed spawns in a row before the hub stops itself (a broken image or node fails them all:
# a restart in Kubernetes is then the visible signal). 0 turns a limit off.
c.JupyterHub.concurrent_spawn_limit = int(get_value("hub.concurrentSpawnLimit", 64))
c.JupyterHub.active_server_limit = int(get_value("hub.activeServerLimit", 0) or 0)
c.Spawner.consecutive_failure_limit = int(get_value("hub.consecutiveFailureLimit", 5))
# Named servers: each is a pod of its own, with its own refresher and token file.
c.JupyterHub.allow_named_servers = bool(get_value("hub.allowNamedServers", False))
c.JupyterHub.named_server_limit_per_user = int(get_value("hub.namedServerLimitPerUser", 0) or 0)

# Services (monitoring, culling, tests) with their API token in a file, and extra roles.
services = [
    {
        # JupyterHub's own service keys pass through; the token is inline or a file.
        **{key: value for key, value in spec.items() if key not in ("apiToken", "apiTokenFile")},
        "name": name,
        "api_token": read_secret(f"hub.services.{name}.apiToken"),
    }
    for name, spec in get_value("hub.services", {}).items()
]
extra_roles = list(get_value("hub.loadRoles", []))
# Prometheus: the `metrics` service's token reads /hub/metrics and the user servers' /metrics
# (their handler admits read:metrics), and nothing else.
if get_value("metrics.enabled", False):
    if "metrics" not in {service["name"] for service in services}:
        raise SettingsError("metrics.enabled needs the service hub.services.metrics and its token")
    extra_roles.append(
        {
            "name": "metrics",
            "description": "Prometheus: read the hub's and the user servers' metrics",
            "scopes": ["read:metrics"],
            "services": ["metrics"],
        }
    )
culler = culler_service(values)
if culler is not None:
    services.append(culler[0])
    extra_roles.append(culler[1])
c.JupyterHub.services = services

# -- login ---------------------------------------------------------------------------------
c.JupyterHub.authenticator_class = CS3Authenticator
c.CS3Authenticator.issuer = get_value("sso.issuer")
c.CS3Authenticator.client_id = get_value("sso.clientId")
c.CS3Authenticator.client_secret = read_secret("sso.clientSecret")
c.CS3Authenticator.oauth_callback_url = get_value("sso.callbackUrl")
c.CS3Authenticator.scope = list(get_value("sso.scopes", ["openid", "profile", "email"]))
c.CS3Authenticator.username_claim = get_value("sso.usernameClaim", "preferred_username")
c.CS3Authenticator.refresh_margin = int(get_value("sso.refreshMargin", 120))
c.CS3Authenticator.enable_pkce = True
# How often any request may trigger a refresh check; the check itself is cheap when the
# token is fresh, and the token endpoint forces it anyway.
c.CS3Authenticator.auth_refresh_age = int(get_value("sso.refreshCheckSeconds", 30))
c.CS3Authenticator.post_logout_redirect_uri = get_value("sso.postLogoutRedirectUrl", "")
groups_claim = get_value("sso.groupsClaim", "groups")
allowed_groups = set(get_value("sso.allowedGroups", []))
admin_groups = set(get_value("sso.adminGroups", []))
if allowed_groups or admin_groups:
    c.CS3Authenticator.manage_groups = True
    c.CS3Authenticator.auth_state_groups_key = f"oauth_user.{groups_claim}"
    c.CS3Authenticator.allowed_groups = allowed_groups
    c.CS3Authenticator.admin_groups = admin_groups
if not allowed_groups:
    c.CS3Authenticator.allow_all = True
c.CS3Authenticator.admin_users = set(get_value("sso.adminUsers", []))

# -- the storage token for user servers ----------------------------------------------------
c.JupyterHub.extra_handlers = token_handlers()
c.JupyterHub.custom_scopes = {
    SCOPE: {"description": "Read the user's current storage access token (not the refresh token)."}
}
# A server's API token holds the subset of its scopes that its user holds, so both roles name
# the scope; the endpoint itself accepts only token-authenticated requests.
c.JupyterHub.load_roles = [
    {
        "name": "user",
        "description": "What a user may do with their own account, plus reading their storage token",
        "scopes": ["self", f"{SCOPE}!user"],
    },
    {
        "name": "server",
        "description": "A user's server: post activity, and read the user's storage token",
        "scopes": ["users:activity!user", "access:servers!server", f"{SCOPE}!user"],
    },
    *extra_roles,
]

# -- user servers --------------------------------------------------------------------------
c.Spawner.default_url = get_value("singleuser.defaultUrl", "/lab")
c.Spawner.environment = dict(get_value("singleuser.extraEnv", {}))
kind = get_value("spawner.kind", "kubernetes")
if kind == "local":
    from hub_config.spawner import LocalCS3Spawner

    c.JupyterHub.spawner_class = LocalCS3Spawner
    c.LocalCS3Spawner.settings = values
    c.LocalCS3Spawner.home_dir_template = get_value("spawner.homeDirTemplate")
    c.LocalCS3Spawner.refresher_margin = int(get_value("tokenRefresher.margin", 60))
    c.LocalCS3Spawner.cmd = list(get_value("spawner.cmd", ["jupyterhub-singleuser"]))
    c.LocalCS3Spawner.http_timeout = 60
    c.LocalCS3Spawner.start_timeout = 120
else:
    if kind != "kubernetes":
        raise SettingsError(f"spawner.kind {kind!r}: 'local' or 'kubernetes'")
    from hub_config.kubernetes import configure_kubespawner

    configure_kubespawner(c, values)

# -- the site's own snippets, last, so that they may change anything above ------------------
run_extra_config(c, values)
