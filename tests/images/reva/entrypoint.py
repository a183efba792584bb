"""Render revad's config like tests/harness/reva.py does, for a container, and exec revad.

The same template (tests/harness/revad.toml.tmpl) and users file, with fresh secrets per
start. The differences from a harness run: revad listens on 0.0.0.0 (gRPC 19000, HTTP
19001), and the data gateway URL that reva hands to clients is `REVA_PUBLIC_HTTP_URL`
(default http://reva:19001, the container's name on the test's docker network). With
`REVA_OIDC_ISSUER`, bearer logins are checked against that OpenID Connect provider (as
the harness's `OidcSettings` do), so servers log in with their users' SSO access tokens.
"""

import json
import os
import secrets
from pathlib import Path
from string import Template

ETC = Path("/etc/revad")
HOME = Path("/var/lib/reva")
GRPC_PORT = 19000
HTTP_PORT = 19001
OIDC_PORT = 19002


def oidc_settings(issuer: str, gateway: str) -> tuple[str, str]:
    """The auth registry's bearer rule and the oidc auth provider's block of the template."""
    address = f"127.0.0.1:{OIDC_PORT}"
    block = "\n".join(
        [
            "[[grpc.services.authprovider]]",
            f'address = "{address}"',
            'auth_manager = "oidc"',
            "",
            "[grpc.services.authprovider.auth_managers.oidc]",
            f"issuer = {json.dumps(issuer)}",
            'default_id_claim = "sub"',
            "insecure = false",
            f'gatewaysvc = "{gateway}"',
        ]
    )
    return f'bearer = "{address}"', block


def main() -> None:
    public_http = os.environ.get("REVA_PUBLIC_HTTP_URL", f"http://reva:{HTTP_PORT}").rstrip("/")
    storage = HOME / "storage"
    storage.mkdir(exist_ok=True)
    users = HOME / "users.json"
    issuer = os.environ.get("REVA_OIDC_ISSUER", "")
    users.write_text(
        Template((ETC / "users.json").read_text()).substitute(idp=issuer or "http://localhost:20080")
    )
    groups = HOME / "groups.json"
    groups.write_text("[]\n")
    # The gateway reaches its own services at this address; only the listener is widened below.
    internal = f"127.0.0.1:{GRPC_PORT}"
    bearer_rule, oidc_block = oidc_settings(issuer, internal) if issuer else ("", "")
    text = Template((ETC / "revad.toml.tmpl").read_text()).substitute(
        log_level=os.environ.get("REVA_LOG_LEVEL", "info"),
        grpc_address=internal,
        http_address=f"0.0.0.0:{HTTP_PORT}",
        http_url=public_http,
        datagateway_url=f"{public_http}/datagateway",
        jwt_secret=secrets.token_hex(16),
        transfer_secret=secrets.token_hex(16),
        reva_token_ttl=int(os.environ.get("REVA_TOKEN_TTL", "3600")),
        users_file=users,
        groups_file=groups,
        shares_db=HOME / "shares.db",
        storage_root=storage,
        mount_id="123e4567-e89b-12d3-a456-426655440000",
        bearer_rule=bearer_rule,
        oidc_block=oidc_block,
    )
    listener = f'[grpc]\naddress = "{internal}"'
    if listener not in text:
        raise SystemExit("reva-entrypoint: the template's [grpc] address line changed; update entrypoint.py")
    text = text.replace(listener, f'[grpc]\naddress = "0.0.0.0:{GRPC_PORT}"')
    config = HOME / "revad.toml"
    config.write_text(text)
    os.execv("/usr/local/bin/revad", ["revad", "-c", str(config), "-p", str(HOME / "revad.pid")])


if __name__ == "__main__":
    main()
