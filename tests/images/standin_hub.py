"""A stand-in for the few hub endpoints a user pod talks to, run inside the HUB image.

The image smoke test runs it with the hub image's own Python and tornado (JupyterHub's web
framework), not the real hub: the real `GET /hub/api/cs3/token` hands out the access token of
an OIDC login, which would need an identity provider and a browser login. This script answers
with a fixed token instead (the reva password of the test user, as `auth_login_type=basic`
reads it), and only to the server's API token, like the real endpoint. It also answers what
`jupyterhub-singleuser` asks the hub (`/hub/api/` version check, `/hub/api/user` token
checks, activity reports), and serves an OIDC discovery document so that a real JupyterHub
started from the hub image finds an "issuer" (nobody logs in there).

Settings (environment): STANDIN_USER, STANDIN_SERVER_TOKEN (the server's API token),
STANDIN_USER_TOKEN (a token the test sends to the user server, as a browser's session would
be), STANDIN_ACCESS_TOKEN (what /hub/api/cs3/token returns), STANDIN_URL (its own URL, the
issuer), STANDIN_PORT (8081).
"""

import json
import os
import time

import jupyterhub
from tornado import ioloop, web

USER = os.environ["STANDIN_USER"]
SERVER_TOKEN = os.environ["STANDIN_SERVER_TOKEN"]
USER_TOKEN = os.environ["STANDIN_USER_TOKEN"]
ACCESS_TOKEN = os.environ["STANDIN_ACCESS_TOKEN"]
URL = os.environ.get("STANDIN_URL", "http://hub:8081").rstrip("/")
PORT = int(os.environ.get("STANDIN_PORT", "8081"))
SCOPES = [f"access:servers!user={USER}", f"access:servers!server={USER}/", f"users:activity!user={USER}"]
token_requests = 0


class Base(web.RequestHandler):
    def token(self) -> str:
        header = self.request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() in ("token", "bearer") else ""

    def reply(self, body: object, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("X-JupyterHub-Version", jupyterhub.__version__)
        self.finish(json.dumps(body))


class Root(Base):
    def get(self) -> None:
        self.reply({"version": jupyterhub.__version__})


class CurrentUser(Base):
    def get(self) -> None:
        if self.token() not in (SERVER_TOKEN, USER_TOKEN):
            self.reply({"status": 403, "message": "unknown token"}, 403)
            return
        kind = "server" if self.token() == SERVER_TOKEN else "user"
        model = {"kind": "user", "name": USER, "admin": False, "groups": [], "scopes": SCOPES}
        model["session_id"] = None if kind == "server" else "smoke"
        self.reply(model)


class StorageToken(Base):
    def get(self) -> None:
        global token_requests
        if self.token() != SERVER_TOKEN:
            self.reply({"status": 403, "message": "only the user's server may read its token"}, 403)
            return
        token_requests += 1
        self.set_header("Cache-Control", "no-store")
        self.reply({"access_token": ACCESS_TOKEN, "expires_at": time.time() + 3600})


class Activity(Base):
    def post(self, name: str) -> None:
        self.reply({}, 200 if self.token() == SERVER_TOKEN and name == USER else 403)


class Stats(Base):
    def get(self) -> None:
        self.reply({"token_requests": token_requests})


class Discovery(Base):
    def get(self) -> None:
        self.reply(
            {
                "issuer": URL,
                "authorization_endpoint": f"{URL}/authorize",
                "token_endpoint": f"{URL}/token",
                "userinfo_endpoint": f"{URL}/userinfo",
                "jwks_uri": f"{URL}/jwks",
                "end_session_endpoint": f"{URL}/logout",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )


def main() -> None:
    app = web.Application(
        [
            (r"/hub/api/?", Root),
            (r"/hub/api/user", CurrentUser),
            (r"/hub/api/cs3/token", StorageToken),
            (r"/hub/api/users/([^/]+)/activity", Activity),
            (r"/standin/stats", Stats),
            (r"/.well-known/openid-configuration", Discovery),
        ]
    )
    app.listen(PORT, address="0.0.0.0")
    print(f"stand-in hub for {USER} listening on 0.0.0.0:{PORT}", flush=True)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
