"""`GET /hub/api/cs3/token`: the user's current storage access token, for their own server.

Stock JupyterHub hands `auth_state` (refresh token included) to anything holding
`admin:auth_state`. This endpoint returns only the access token and its expiry, only to a
token carrying the `custom:cs3:token` scope for its own user (the server role gets it), and
refreshes the token first when it is close to expiry; once the provider refuses to refresh
it (or the user's groups no longer allow them), it answers 401 instead of the stale token.
"""

from __future__ import annotations

import hmac
import json
import time
from typing import Any

from jupyterhub.apihandlers.base import APIHandler
from jupyterhub.user import User
from jupyterhub.utils import compare_token
from tornado import web

from .authenticator import EXPIRES_AT, token_expiry

SCOPE = "custom:cs3:token"


class AccessTokenHandler(APIHandler):
    def check_xsrf_cookie(self) -> None:
        # Token-authenticated only (see get): there is no cookie to protect.
        return

    async def get(self) -> None:
        user = self.current_user
        # JupyterHub sets this flag only on token-authenticated requests.
        if not isinstance(user, User) or not getattr(self, "_token_authenticated", False):
            raise web.HTTPError(403, "Only a user's own server may read its storage token")
        allowed = {SCOPE, f"{SCOPE}!user={user.name}", f"{SCOPE}!user"}
        if not allowed & set(self.expanded_scopes):
            raise web.HTTPError(403, f"This token lacks the {SCOPE} scope for {user.name}")
        if not self._is_server_token(user):
            # The user's own API tokens inherit the scope too (a server token only holds what
            # its user holds), but none of them may fetch SSO tokens: only a server may.
            raise web.HTTPError(403, "Only a user's own server may read its storage token")
        await self._refresh(user)
        auth_state = await user.get_auth_state() or {}
        token = auth_state.get("access_token")
        if not token:
            raise web.HTTPError(404, f"{user.name} has no storage token: log in again")
        expires_at = auth_state.get(EXPIRES_AT)
        if not isinstance(expires_at, int | float):
            # Auth state saved before expiries were recorded: read it from the token.
            expires_at = token_expiry({"access_token": token}, time.time())
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"access_token": token, "expires_at": expires_at}))

    async def _refresh(self, user: User) -> None:
        """Refresh the user's tokens if they are close to expiry; 401 when that is refused.

        Not `refresh_auth`: on a token-authenticated request JupyterHub keeps the stale login
        when the refresh fails (unless `auth_refresh_strict`), and the endpoint would hand out
        an access token the provider no longer stands behind. A refreshed model is applied as
        `refresh_auth` applies it.
        """
        outcome: Any = await self.authenticator.refresh_user(user, self)
        if not outcome:
            raise web.HTTPError(401, f"The login of {user.name} expired: a new login is needed")
        user._auth_refreshed = time.monotonic()
        if outcome is True:
            return
        outcome["name"] = user.name  # a refresh cannot rename the user
        await self.auth_to_user(outcome, user)

    def _is_server_token(self, user: User) -> bool:
        """Whether the request's token is the API token of one of the user's servers.

        JupyterHub keeps a hash of each server's API token as the secret of that server's
        OAuth client, in the database, so this holds across hub restarts."""
        token = self.get_auth_token()
        if not token:
            return False
        for spawner in user.spawners.values():
            if spawner.api_token and hmac.compare_digest(spawner.api_token, token):
                return True
            client = spawner.orm_spawner.oauth_client
            if client is not None and client.secret and compare_token(client.secret, token):
                return True
        return False


def token_handlers(prefix: str = "/api/cs3/token") -> list[tuple[str, type]]:
    return [(prefix, AccessTokenHandler)]
