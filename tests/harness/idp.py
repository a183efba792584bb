"""Start and stop a real OpenID Connect provider (tests/idp/server.mjs) for tests and `make run`.

The provider is npm's oidc-provider behind a real login form: the demo users of reva with
their passwords, authorization code flow with PKCE, rotating refresh tokens, and RS256 JWT
access tokens whose `sub` is the reva username, so reva's oidc auth manager accepts them.

    idp = IdentityProvider(tmp_path / "idp", access_token_ttl=20)
    idp.start()
    tokens = login_tokens(idp, "einstein", "relativity", client.client_id, client.client_secret,
                          client.redirect_uris[0])
    idp.stats()["grants"]["refresh_token"]["einstein"]

The npm packages come from `make node`. Every wait is bounded; a provider that dies while
starting is reported with the tail of its log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from html import unescape
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from .ports import free_port, port_in_use
from .process import ManagedProcess, http_probe, start_on_free_ports
from .reva import DEMO_USERS, REPO

SERVER = REPO / "tests" / "idp" / "server.mjs"
NODE_MODULES = REPO / "node_modules"

# The demo users' groups at the identity provider (reva's users.json has its own list).
DEMO_GROUPS: dict[str, list[str]] = {
    "einstein": ["physics-lovers", "sailing-lovers"],
    "marie": ["physics-lovers", "radium-lovers"],
    "richard": ["physics-lovers", "quantum-lovers"],
}
DEMO_NAMES: dict[str, str] = {
    "einstein": "Albert Einstein",
    "marie": "Marie Curie",
    "richard": "Richard Feynman",
}

DEFAULT_SCOPE = "openid profile email groups"
LOGIN_ERROR = "Invalid username or password"


class IdpError(RuntimeError):
    """The identity provider could not be started, or answered an admin call with an error."""


class LoginFailed(IdpError):
    """The login form refused the username and password."""


class TokenError(IdpError):
    """The token endpoint refused a grant; `error` is the OAuth error code."""

    def __init__(self, message: str, *, status: int, error: str, description: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.description = description


@dataclass
class Client:
    """An OAuth client registered at the provider (confidential, code + refresh_token)."""

    client_id: str
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    redirect_uris: list[str] = field(default_factory=lambda: ["http://127.0.0.1/oauth_callback"])
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    # Overrides the provider's access token lifetime for this client only.
    access_token_ttl: int | None = None

    @property
    def redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def to_config(self) -> dict[str, Any]:
        data = asdict(self)
        if data["access_token_ttl"] is None:
            del data["access_token_ttl"]
        return data


@dataclass
class User:
    username: str
    password: str
    name: str
    email: str
    groups: list[str]
    # A disabled user cannot log in and their refresh tokens are refused.
    disabled: bool = False


def demo_users() -> list[User]:
    return [
        User(name, password, DEMO_NAMES[name], f"{name}@example.org", list(DEMO_GROUPS[name]))
        for name, password in DEMO_USERS.items()
    ]


def default_clients() -> list[Client]:
    return [
        Client(
            "test-client",
            redirect_uris=["http://127.0.0.1/oauth_callback"],
            post_logout_redirect_uris=["http://127.0.0.1/logged_out"],
        )
    ]


@dataclass
class IdentityProvider(ManagedProcess):
    """One `node tests/idp/server.mjs` process on its own loopback port."""

    name: ClassVar[str] = "the identity provider"
    error: ClassVar[type[Exception]] = IdpError

    workdir: Path
    port: int = field(default_factory=free_port)
    access_token_ttl: int = 60
    id_token_ttl: int = 3600
    refresh_token_ttl: int = 3600
    session_ttl: int = 8 * 3600
    grant_ttl: int = 24 * 3600
    clients: list[Client] = field(default_factory=default_clients)
    users: list[User] = field(default_factory=demo_users)
    resource: str = "urn:cs3:reva"
    admin_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    node: str = field(default_factory=lambda: os.environ.get("NODE", "node"))
    # The address it listens on and names in its issuer; a node address lets pods of a test
    # cluster and the browser on the node use the same issuer.
    host: str = "127.0.0.1"
    # The address its issuer names instead, when it listens on another (0.0.0.0 in a pod
    # reached through a Service's address).
    public_host: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self._cookie_key = secrets.token_urlsafe(32)

    # -- addresses -------------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return f"http://{self.public_host or self.host}:{self.port}"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/auth"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def userinfo_endpoint(self) -> str:
        return f"{self.issuer}/userinfo"

    @property
    def end_session_endpoint(self) -> str:
        return f"{self.issuer}/session/end"

    @property
    def log_path(self) -> Path:
        return self.workdir / "idp.log"

    @property
    def config_path(self) -> Path:
        return self.workdir / "idp.json"

    def client(self, client_id: str | None = None) -> Client:
        """A registered client: the given one, else the first."""
        for client in self.clients:
            if client_id is None or client.client_id == client_id:
                return client
        raise KeyError(f"no client {client_id!r} is registered at the identity provider")

    # -- configuration ---------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "issuer": self.issuer,
            "admin_secret": self.admin_secret,
            "cookie_keys": [self._cookie_key],
            "resource": self.resource,
            "ttl": {
                "access_token": self.access_token_ttl,
                "id_token": self.id_token_ttl,
                "refresh_token": self.refresh_token_ttl,
                "session": self.session_ttl,
                "grant": self.grant_ttl,
            },
            "users": [asdict(user) for user in self.users],
            "clients": [client.to_config() for client in self.clients],
        }

    def render(self) -> Path:
        """Write the config (it holds passwords and secrets: mode 0600) and return its path."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(self.config(), out, indent=2)
        os.chmod(self.config_path, 0o600)
        return self.config_path

    # -- life cycle ------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Start the provider and return once its discovery document answers 200."""
        if self.running:
            raise IdpError(f"the identity provider at {self.issuer} is already running")
        if not (NODE_MODULES / "oidc-provider" / "package.json").exists():
            raise IdpError(f"{NODE_MODULES / 'oidc-provider'} is missing: run `make node` first")
        node = shutil.which(self.node)
        if node is None:
            raise IdpError(f"Node.js ({self.node!r}) is not on PATH: the identity provider needs it")
        if port_in_use(self.port):
            raise IdpError(
                f"cannot start the identity provider: port {self.host}:{self.port} is already in use"
            )
        self.render()
        self.spawn([node, str(SERVER), str(self.config_path)], cwd=REPO)
        with httpx.Client(timeout=2.0) as http:
            probe = http_probe(http, self.discovery_url, lambda res: res.json().get("issuer") == self.issuer)
            self.wait_ready(probe, timeout, interval=0.1)

    # -- admin -----------------------------------------------------------------------------

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            res = httpx.request(
                method,
                f"{self.issuer}/admin{path}",
                headers={"x-admin-secret": self.admin_secret},
                json=body,
                timeout=10.0,
            )
        except httpx.HTTPError as err:
            raise IdpError(f"admin {method} {path} failed: {err}\n{self.log_tail()}") from err
        if res.status_code != 200:
            raise IdpError(f"admin {method} {path} answered {res.status_code}: {res.text[:200]}")
        return res.json()

    def stats(self) -> dict[str, Any]:
        """Counts since start (or reset): `grants[grant_type][account]`, `grant_times` (epoch
        seconds of each grant), `grant_errors[grant_type][error]`, `logins["ok"|"failed"][user]`,
        `logouts`, `active_kid`, `kids`."""
        return self._admin("GET", "/stats")

    def grant_count(self, account: str, grant_type: str = "refresh_token") -> int:
        return int(self.stats()["grants"].get(grant_type, {}).get(account, 0))

    def grant_times(self, account: str, grant_type: str = "refresh_token") -> list[float]:
        """Epoch seconds of the account's grants of that type (the last 1000)."""
        return [float(t) for t in self.stats()["grant_times"].get(grant_type, {}).get(account, [])]

    def reset_stats(self) -> None:
        self._admin("POST", "/stats/reset")

    def rotate_key(self) -> str:
        """Sign from now on with a new RSA key (returned: its kid); old keys stay in the JWKS."""
        return self._admin("POST", "/rotate-key")["kid"]

    def add_client(self, client: Client) -> Client:
        """Register a client; at once if the provider runs, else at start."""
        self.clients = [c for c in self.clients if c.client_id != client.client_id] + [client]
        if self.running:
            self._admin("POST", "/clients", client.to_config())
        return client

    def update_user(
        self, username: str, *, groups: list[str] | None = None, disabled: bool | None = None
    ) -> dict[str, Any]:
        """Change what the provider says about a user from now on: their groups (in the id
        tokens of the next refresh), or disable them (the next refresh is refused with
        invalid_grant, as a site SSO refuses a user who left). Kept across a restart."""
        change: dict[str, Any] = {}
        if groups is not None:
            change["groups"] = list(groups)
        if disabled is not None:
            change["disabled"] = disabled
        answer = self._admin("PUT", f"/users/{username}", change) if self.running else {}
        for user in self.users:
            if user.username == username:
                user.groups = list(change.get("groups", user.groups))
                user.disabled = bool(change.get("disabled", user.disabled))
                break
        else:
            raise KeyError(f"no user {username!r} at the identity provider")
        return answer

    def jwks(self) -> dict[str, Any]:
        res = httpx.get(self.jwks_uri, timeout=10.0)
        res.raise_for_status()
        return res.json()


def start_idp(workdir: Path, attempts: int = 3, **kwargs: Any) -> IdentityProvider:
    """Start the provider on a fresh free port, picking another one if something took it."""

    def make(attempt: int) -> IdentityProvider:
        idp = IdentityProvider(Path(workdir) / f"attempt-{attempt}", **kwargs)
        idp.start()
        return idp

    return start_on_free_ports(make, IdpError, attempts)


# -- the browser side of the code flow ----------------------------------------------------

FORM_ACTION = re.compile(r"<form[^>]*\baction=\"([^\"]+)\"", re.IGNORECASE)
MAX_HOPS = 12


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _follow(http: httpx.Client, res: httpx.Response, redirect_uri: str) -> httpx.Response | dict[str, str]:
    """Follow redirects until the provider shows a page (returned) or sends the browser back to
    the client's redirect_uri (its query parameters are returned)."""
    for _ in range(MAX_HOPS):
        if not res.is_redirect:
            return res
        location = urljoin(str(res.url), res.headers["location"])
        if location.startswith(redirect_uri):
            query = parse_qs(urlsplit(location).query)
            return {key: values[0] for key, values in query.items()}
        res = http.get(location)
    raise IdpError(f"more than {MAX_HOPS} redirects in the login flow")


def authorize(
    idp: IdentityProvider,
    username: str,
    password: str,
    client_id: str,
    redirect_uri: str,
    *,
    scope: str = DEFAULT_SCOPE,
    http: httpx.Client | None = None,
    extra: dict[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    """Log in through the login form; return the redirect's parameters (code, state, iss) and the
    PKCE code verifier. Raises LoginFailed when the form refuses the password."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    params = {
        "client_id": client_id,
        "response_type": "code",
        "scope": scope,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state,
        "nonce": secrets.token_urlsafe(16),
        **(extra or {}),
    }
    own = http is None
    http = http or httpx.Client(timeout=10.0)
    try:
        result = _follow(http, http.get(idp.authorization_endpoint, params=params), redirect_uri)
        if isinstance(result, httpx.Response):
            match = FORM_ACTION.search(result.text)
            if result.status_code != 200 or match is None:
                raise IdpError(
                    f"expected the login form, got {result.status_code} from {result.url}: "
                    f"{result.text[:300]}"
                )
            action = urljoin(str(result.url), unescape(match.group(1)))
            res = http.post(action, data={"login": username, "password": password})
            result = _follow(http, res, redirect_uri)
            if isinstance(result, httpx.Response):
                if LOGIN_ERROR in result.text:
                    raise LoginFailed(f"the identity provider refused the password of {username!r}")
                raise IdpError(f"login of {username!r} ended at {result.status_code}: {result.text[:300]}")
    finally:
        if own:
            http.close()
    if "error" in result:
        raise IdpError(f"authorization failed: {result['error']}: {result.get('error_description', '')}")
    if result.get("state") != state:
        raise IdpError("the authorization response carries another state")
    return result, verifier


def token_request(
    idp: IdentityProvider,
    data: dict[str, str],
    client_id: str,
    client_secret: str,
    auth_method: str = "client_secret_basic",
) -> dict[str, Any]:
    """POST to the token endpoint with client authentication; TokenError unless 200."""
    if auth_method == "client_secret_basic":
        auth: httpx.BasicAuth | None = httpx.BasicAuth(client_id, client_secret)
    elif auth_method == "client_secret_post":
        auth = None
        data = {**data, "client_id": client_id, "client_secret": client_secret}
    else:
        raise ValueError(f"unsupported token endpoint auth method {auth_method!r}")
    res = httpx.post(idp.token_endpoint, data=data, auth=auth, timeout=10.0)
    if res.status_code != 200:
        try:
            body = res.json()
        except ValueError:
            body = {}
        error = body.get("error", "unknown")
        description = body.get("error_description", "")
        raise TokenError(
            f"token endpoint refused the {data.get('grant_type')} grant: {error} ({description})",
            status=res.status_code,
            error=error,
            description=description,
        )
    return res.json()


def login_tokens(
    idp: IdentityProvider,
    username: str,
    password: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    *,
    scope: str = DEFAULT_SCOPE,
    auth_method: str = "client_secret_basic",
    http: httpx.Client | None = None,
) -> dict[str, Any]:
    """The whole authorization code + PKCE flow: the token response (access_token,
    refresh_token, id_token, expires_in, scope, token_type). Pass `http` to keep the browser's
    cookies (the SSO session) across calls."""
    params, verifier = authorize(idp, username, password, client_id, redirect_uri, scope=scope, http=http)
    data = {
        "grant_type": "authorization_code",
        "code": params["code"],
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return token_request(idp, data, client_id, client_secret, auth_method)


def access_token(idp: IdentityProvider, user: str = "einstein", client_id: str = "notebooks") -> str:
    """An access token for a demo user, from the whole login flow of a registered client."""
    client = idp.client(client_id)
    tokens = login_tokens(
        idp, user, DEMO_USERS[user], client.client_id, client.client_secret, client.redirect_uri
    )
    return str(tokens["access_token"])


def write_token(path: Path, token: str) -> None:
    """Replace the token file atomically with mode 0600, as the token refresher does."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(16)}")
    temp.write_text(token)
    temp.chmod(0o600)
    os.replace(temp, path)


def refresh_tokens(
    idp: IdentityProvider,
    refresh_token: str,
    client_id: str,
    client_secret: str,
    *,
    auth_method: str = "client_secret_basic",
) -> dict[str, Any]:
    """A refresh_token grant: a new access token and a new (rotated) refresh token."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return token_request(idp, data, client_id, client_secret, auth_method)


def end_session(
    idp: IdentityProvider,
    http: httpx.Client,
    *,
    id_token: str,
    post_logout_redirect_uri: str,
    state: str | None = None,
) -> str:
    """RP-initiated logout as a browser does it (the confirmation form is submitted, as its
    script would): the URL the browser is sent back to."""
    params = {"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_redirect_uri}
    if state:
        params["state"] = state
    res = http.get(idp.end_session_endpoint, params=params)
    if res.status_code != 200:
        raise IdpError(f"end_session answered {res.status_code}: {res.text[:300]}")
    action = FORM_ACTION.search(res.text)
    xsrf = re.search(r'name="xsrf" value="([^"]+)"', res.text)
    if action is None or xsrf is None:
        raise IdpError(f"end_session page has no confirmation form: {res.text[:300]}")
    res = http.post(
        urljoin(str(res.url), unescape(action.group(1))), data={"xsrf": xsrf.group(1), "logout": "yes"}
    )
    if not res.is_redirect:
        raise IdpError(f"logout confirmation answered {res.status_code}: {res.text[:300]}")
    return urljoin(str(res.url), res.headers["location"])


def jwt_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a JWT, not verified (tests look inside tokens with it)."""
    header, payload, _ = token.split(".")

    def decode(part: str) -> dict[str, Any]:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    return decode(header), decode(payload)
