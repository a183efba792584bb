"""OIDC login whose tokens never lapse: discovery, verified id tokens, proactive refresh.

Built on oauthenticator's GenericOAuthenticator, which refreshes only after a token has
already failed. Here the access token is renewed while it still has `refresh_margin` seconds
to live, by one request per user at a time (refresh-token rotation turns two concurrent
refreshes into a logout), and a provider that is down does not log anybody out.
A refresh also brings the provider's current groups: with `manage_groups` they are synced
as at login, and a user no longer in an allowed group must log in again (and is refused).
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any
from urllib.parse import urlencode

import jwt
from jupyterhub.utils import maybe_future
from oauthenticator.generic import GenericOAuthenticator
from tornado.httpclient import HTTPClientError
from tornado.web import HTTPError
from traitlets import Dict, Integer, Unicode, default

from hub_config.shutdown import RefreshDrain

EXPIRES_AT = "access_token_expires_at"


def fetch_discovery(issuer: str, timeout: float = 10.0, attempts: int = 6) -> dict[str, Any]:
    """The provider's metadata, retried while it starts (the hub may start first)."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    delay = 1.0
    for attempt in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as res:
                meta = json.load(res)
            if meta.get("issuer") != issuer:
                raise RuntimeError(f"{url} names issuer {meta.get('issuer')!r}, expected {issuer!r}")
            return meta
        except OSError as err:
            if attempt + 1 == attempts:
                raise RuntimeError(f"OIDC discovery at {url} failed: {err}") from err
            time.sleep(delay)
            delay = min(delay * 2, 10.0)
    raise AssertionError("unreachable")


def token_expiry(token_info: dict[str, Any], now: float) -> float:
    """When the access token expires: its `exp` claim if it is a JWT, else `expires_in`."""
    try:
        claims = jwt.decode(token_info["access_token"], options={"verify_signature": False})
        if isinstance(claims.get("exp"), int | float):
            return float(claims["exp"])
    except jwt.PyJWTError:
        pass
    return now + float(token_info.get("expires_in") or 0)


class CS3Authenticator(GenericOAuthenticator):
    """GenericOAuthenticator configured from the issuer, refreshing tokens before expiry."""

    issuer = Unicode(config=True, help="OIDC issuer URL; endpoints come from its discovery document.")
    refresh_margin = Integer(
        120, config=True, help="Refresh the access token when it has fewer seconds than this left."
    )
    post_logout_redirect_uri = Unicode(
        "", config=True, help="Where the provider sends the browser after ending the SSO session."
    )
    discovery = Dict(help="The provider's discovery document (fetched from `issuer`).")

    @default("discovery")
    def _discovery_default(self) -> dict[str, Any]:
        return fetch_discovery(self.issuer) if self.issuer else {}

    @default("authorize_url")
    def _authorize_url_default(self) -> str:
        return self.discovery.get("authorization_endpoint", "")

    @default("token_url")
    def _token_url_default(self) -> str:
        return self.discovery.get("token_endpoint", "")

    @default("userdata_url")
    def _userdata_url_default(self) -> str:
        return self.discovery.get("userinfo_endpoint", "")

    @default("logout_redirect_url")
    def _logout_redirect_url_default(self) -> str:
        # Ending the hub session also ends the SSO session where the provider offers it.
        end_session = self.discovery.get("end_session_endpoint", "")
        if not end_session or not self.post_logout_redirect_uri:
            return end_session
        query = urlencode(
            {"client_id": self.client_id, "post_logout_redirect_uri": self.post_logout_redirect_uri}
        )
        return f"{end_session}?{query}"

    @default("userdata_from_id_token")
    def _userdata_from_id_token_default(self) -> bool:
        return True

    @default("enable_auth_state")
    def _enable_auth_state_default(self) -> bool:
        return True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._refresh_locks: dict[str, asyncio.Lock] = {}
        self._drain = RefreshDrain()
        self._jwks: jwt.PyJWKClient | None = None

    # -- login -----------------------------------------------------------------------------

    async def token_to_user(self, token_info: dict[str, Any]) -> dict[str, Any]:
        """Claims of the id token, whose signature is checked against the provider's keys.

        The key is chosen by the token's `kid`; an unknown kid makes the key set be fetched
        again, so a key rotation at the provider needs no hub restart.
        """
        id_token = token_info.get("id_token")
        if not id_token:
            raise HTTPError(
                500, "The identity provider returned no id token (is the 'openid' scope requested?)"
            )
        if self._jwks is None:
            # No cooldown between forced re-fetches: id tokens come from the provider's token
            # endpoint over the back channel, never from the browser, so nobody can make the
            # hub fetch keys at will, and a rotated key must work at the first login.
            self._jwks = jwt.PyJWKClient(
                self.discovery["jwks_uri"], cache_keys=True, lifespan=3600, cooldown_duration=0
            )
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, id_token)
            return jwt.decode(
                id_token,
                key.key,
                algorithms=self.discovery.get("id_token_signing_alg_values_supported", ["RS256"]),
                audience=self.client_id,
                issuer=self.issuer,
                leeway=30,
            )
        except jwt.PyJWTError as err:
            raise HTTPError(
                403, f"The identity provider's id token is not valid: {type(err).__name__}"
            ) from err

    def build_auth_state_dict(self, token_info: dict[str, Any], user_info: dict[str, Any]) -> dict[str, Any]:
        state = super().build_auth_state_dict(token_info, user_info)
        state[EXPIRES_AT] = token_expiry(token_info, time.time())
        return state

    # -- refresh ---------------------------------------------------------------------------

    def _fresh(self, auth_state: dict[str, Any] | None) -> bool:
        if not auth_state or not auth_state.get("access_token"):
            return False
        return auth_state.get(EXPIRES_AT, 0) - time.time() > self.refresh_margin

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """Renew the access token ahead of expiry; True when nothing needed to change.

        A renewal answers the user model JupyterHub applies (`auth_to_user`), built from the
        new tokens as at login: with `manage_groups` JupyterHub refuses a model without
        groups, so it carries them, and the admin flag they give. False when a new login is
        needed: the provider refused the refresh token, or its groups no longer allow the user.
        """
        auth_state = await user.get_auth_state()
        if not auth_state:
            return False
        if self._fresh(auth_state):
            return True
        lock = self._refresh_locks.setdefault(user.name, asyncio.Lock())
        async with lock:
            # Whoever held the lock may have refreshed already: use that result.
            auth_state = await user.get_auth_state()
            if self._fresh(auth_state):
                return True
            if self._drain.draining:
                return True  # the hub is stopping: the current tokens stay, the next hub refreshes
            return await self._drain.run(self._refresh_and_save(user, auth_state))

    async def _refresh_and_save(self, user: Any, auth_state: dict[str, Any]) -> Any:
        """The provider exchange and the save of its result: one piece that a stopping hub
        waits for (hub_config.shutdown), since the provider has retired the old refresh token."""
        refreshed = await self._refresh_tokens(user.name, auth_state)
        if refreshed is None:
            return True  # provider unreachable: keep the current tokens, try again later
        if refreshed is False:
            return False
        model = await self._refreshed_model(user.name, refreshed)
        if model is None:
            # Not saved: the refused user's tokens are never handed out again.
            return False
        await user.save_auth_state(refreshed)
        return model

    async def _refreshed_model(self, name: str, auth_state: dict[str, Any]) -> dict[str, Any] | None:
        """The user model of a refresh, or None when the refreshed claims no longer allow them.

        The same steps as oauthenticator's login (`_token_to_auth_model`, then JupyterHub's
        `get_authenticated_user` checks), on the base class's own methods, so that groups and
        admin come out of a refresh exactly as out of a login: admin_users stay admins, and
        otherwise admin follows admin_groups. Refusing here is what makes a user removed from
        the allowed groups lose access before their next login is refused anyway.
        """
        model: dict[str, Any] = {
            "name": name,
            "admin": True if name in self.admin_users else None,
            "auth_state": auth_state,
        }
        model = await self.update_auth_model(model)
        if self.manage_groups:
            model = await self._apply_managed_groups(model)
        if not await maybe_future(self.check_blocked_users(name, model)):
            self.log.warning("%s is blocked: refusing the refreshed login", name)
            return None
        if not self.allow_all and not await maybe_future(self.check_allowed(name, model)):
            self.log.warning(
                "%s is no longer allowed by the provider's claims (groups %s): a new login is needed",
                name,
                ", ".join(model.get("groups") or []) or "none",
            )
            return None
        return model

    async def _refresh_tokens(self, name: str, auth_state: dict[str, Any]) -> dict[str, Any] | bool | None:
        """New auth state; False when a new login is needed; None when the provider failed."""
        refresh_token = auth_state.get("refresh_token")
        if not refresh_token:
            return False
        params = self.build_refresh_token_request_params(refresh_token)
        try:
            token_info = await self.get_token_info(None, params)
        except HTTPClientError as err:
            if err.code is not None and 400 <= err.code < 500:
                self.log.warning(
                    "Refresh token of %s was refused (%s): a new login is needed", name, err.code
                )
                return False
            self.log.warning(
                "Identity provider failed refreshing %s (%s); keeping current tokens", name, err.code
            )
            return None
        except (OSError, HTTPError) as err:
            self.log.warning("Identity provider unreachable refreshing %s (%s)", name, type(err).__name__)
            return None
        if not token_info.get("refresh_token"):
            token_info["refresh_token"] = refresh_token
        user_info = auth_state.get(self.user_auth_state_key) or {}
        if token_info.get("id_token"):
            user_info = await self.token_to_user(token_info)
        state = self.build_auth_state_dict(token_info, user_info)
        self.log.info("Refreshed the access token of %s; valid until %s", name, time.ctime(state[EXPIRES_AT]))
        return state
