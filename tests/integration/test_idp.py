"""The test identity provider is a real OpenID Connect provider, and reva trusts its tokens.

A login form that checks passwords, the code flow with PKCE, rotating refresh tokens counted
per account, RS256 JWT access tokens that reva's oidc auth manager accepts (and refuses when
forged or expired), key rotation, RP-initiated logout, and users whose groups change or who
are disabled while they hold tokens.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cs3_contents_manager.cs3 import errors
from cs3_contents_manager.cs3.client import ChannelSettings
from cs3_contents_manager.cs3.storage import CONTAINER, CS3Storage
from tests.harness.idp import (
    LOGIN_ERROR,
    Client,
    IdentityProvider,
    LoginFailed,
    TokenError,
    authorize,
    end_session,
    jwt_parts,
    login_tokens,
    pkce_pair,
    refresh_tokens,
    start_idp,
    token_request,
)
from tests.harness.reva import DEMO_USERS, OidcSettings, Revad

pytestmark = pytest.mark.timeout(60)

TTL = 20
SHORT_TTL = 3


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    clients = [
        Client(
            "test-client",
            redirect_uris=["http://127.0.0.1/oauth_callback"],
            post_logout_redirect_uris=["http://127.0.0.1/logged_out"],
        ),
        Client("short-lived", redirect_uris=["http://127.0.0.1/short_callback"], access_token_ttl=SHORT_TTL),
    ]
    server = start_idp(tmp_path_factory.mktemp("idp"), access_token_ttl=TTL, clients=clients)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def idp_log_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the provider's log after each test: pytest shows it only when the test failed."""
    yield
    if "idp" in request.fixturenames:
        print(request.getfixturevalue("idp").log_tail(60))


@pytest.fixture
def own_idp(tmp_path: Path) -> Iterator[IdentityProvider]:
    """A provider of the test's own, for tests that rotate its keys or stop it."""
    server = start_idp(tmp_path / "idp", access_token_ttl=60)
    yield server
    print(server.log_tail(60))  # shown when the test failed
    server.stop()


def tokens_for(idp: IdentityProvider, user: str, client_id: str = "test-client", **kwargs: object) -> dict:
    client = idp.client(client_id)
    return login_tokens(
        idp,
        user,
        DEMO_USERS[user],
        client.client_id,
        client.client_secret,
        client.redirect_uri,
        **kwargs,  # type: ignore[arg-type]
    )


def bearer_storage(reva: Revad, token: str) -> CS3Storage:
    return CS3Storage(ChannelSettings(reva.gateway), login_type="bearer", client_id="", secret=token)


def reva_trusting(make_reva: Callable[..., Revad], idp: IdentityProvider) -> Revad:
    return make_reva(oidc=OidcSettings(issuer=idp.issuer))


def login_form(http: httpx.Client, idp: IdentityProvider, client: Client) -> httpx.Response:
    """The authorization request of a browser, up to the login page."""
    _, challenge = pkce_pair()
    res = http.get(
        idp.authorization_endpoint,
        params={
            "client_id": client.client_id,
            "response_type": "code",
            "scope": "openid profile",
            "redirect_uri": client.redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s1",
        },
        follow_redirects=True,
    )
    assert res.status_code == 200, res.text
    assert 'name="login"' in res.text
    assert 'name="password"' in res.text
    return res


# -- the provider on its own ----------------------------------------------------------------


def test_discovery_and_jwks(idp: IdentityProvider) -> None:
    doc = httpx.get(idp.discovery_url, timeout=10).json()
    assert doc["issuer"] == idp.issuer == f"http://127.0.0.1:{idp.port}"
    assert doc["authorization_endpoint"] == idp.authorization_endpoint
    assert doc["token_endpoint"] == idp.token_endpoint
    assert doc["jwks_uri"] == idp.jwks_uri
    assert doc["userinfo_endpoint"] == idp.userinfo_endpoint
    assert doc["end_session_endpoint"] == idp.end_session_endpoint
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post"}
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert {"openid", "profile", "email", "groups"} <= set(doc["scopes_supported"])

    keys = idp.jwks()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "the JWKS leaks private key parts"
    assert idp.stats()["active_kid"] == key["kid"]


def test_login_gives_an_rs256_jwt_access_token(idp: IdentityProvider) -> None:
    before = time.time()
    tokens = tokens_for(idp, "einstein")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == TTL
    assert tokens["refresh_token"]
    assert set(tokens["scope"].split()) == {"openid", "profile", "email", "groups"}

    header, claims = jwt_parts(tokens["access_token"])
    assert header["alg"] == "RS256"
    assert header["kid"] in {k["kid"] for k in idp.jwks()["keys"]}
    assert claims["iss"] == idp.issuer
    assert claims["sub"] == "einstein"
    assert claims["preferred_username"] == "einstein"
    assert claims["groups"] == ["physics-lovers", "sailing-lovers"]
    assert claims["client_id"] == "test-client"
    assert "openid" in claims["scope"].split()
    assert claims["exp"] - claims["iat"] == TTL
    assert before + TTL - 5 <= claims["exp"] <= time.time() + TTL + 5

    # The ID token carries the profile for the hub, without a userinfo call.
    _, id_claims = jwt_parts(tokens["id_token"])
    assert id_claims["aud"] == "test-client"
    assert id_claims["sub"] == "einstein"
    assert id_claims["name"] == "Albert Einstein"
    assert id_claims["email"] == "einstein@example.org"
    assert id_claims["groups"] == ["physics-lovers", "sailing-lovers"]

    # And userinfo accepts the JWT access token too.
    res = httpx.get(
        idp.userinfo_endpoint, headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
    )
    assert res.status_code == 200
    assert res.json()["preferred_username"] == "einstein"
    assert res.json()["groups"] == ["physics-lovers", "sailing-lovers"]
    bad = httpx.get(idp.userinfo_endpoint, headers={"Authorization": "Bearer nonsense"}, timeout=10)
    assert bad.status_code == 401


def test_wrong_password_shows_the_form_again_and_logs_nobody_in(idp: IdentityProvider) -> None:
    client = idp.client("test-client")
    failed_before = idp.stats()["logins"]["failed"].get("marie", 0)
    with httpx.Client(timeout=10) as http:
        page = login_form(http, idp, client)
        action = page.text.split('action="', 1)[1].split('"', 1)[0]
        res = http.post(
            str(page.url.join(action)), data={"login": "marie", "password": "radium"}, follow_redirects=True
        )
        assert res.status_code == 401
        assert LOGIN_ERROR in res.text
        assert 'name="password"' in res.text
        assert "code=" not in str(res.url)
        assert not any("code=" in r.headers.get("location", "") for r in res.history)
        # Unknown users get the same answer.
        res = http.post(
            str(page.url.join(action)), data={"login": "nobody", "password": "x"}, follow_redirects=True
        )
        assert res.status_code == 401
        assert LOGIN_ERROR in res.text

    with pytest.raises(LoginFailed):
        login_tokens(idp, "marie", "wrong", client.client_id, client.client_secret, client.redirect_uri)
    assert idp.stats()["logins"]["failed"]["marie"] == failed_before + 2
    assert "login.failed user=marie" in idp.log_path.read_text()


def test_pkce_is_required(idp: IdentityProvider) -> None:
    client = idp.client("test-client")
    base = {
        "client_id": client.client_id,
        "response_type": "code",
        "scope": "openid",
        "redirect_uri": client.redirect_uri,
        "state": "s2",
    }
    verifier, _ = pkce_pair()
    for extra in ({}, {"code_challenge": verifier, "code_challenge_method": "plain"}):
        res = httpx.get(idp.authorization_endpoint, params={**base, **extra}, timeout=10)
        assert res.is_redirect, res.text
        location = res.headers["location"]
        assert location.startswith(client.redirect_uri)
        query = parse_qs(urlsplit(location).query)
        assert query["error"] == ["invalid_request"]
        assert "code" not in query

    # A code obtained with a challenge cannot be redeemed without its verifier.
    params, _ = authorize(idp, "richard", DEMO_USERS["richard"], client.client_id, client.redirect_uri)
    with pytest.raises(TokenError) as err:
        token_request(
            idp,
            {
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": client.redirect_uri,
                "code_verifier": verifier,
            },
            client.client_id,
            client.client_secret,
        )
    assert err.value.error == "invalid_grant"


def test_refresh_rotates_and_counts_per_account(idp: IdentityProvider) -> None:
    client = idp.client("test-client")
    refreshes_before = idp.grant_count("richard")
    codes_before = idp.grant_count("richard", "authorization_code")
    first = tokens_for(idp, "richard")

    second = refresh_tokens(
        idp, first["refresh_token"], client.client_id, client.client_secret, auth_method="client_secret_post"
    )
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["expires_in"] == TTL
    assert jwt_parts(second["access_token"])[1]["sub"] == "richard"
    assert jwt_parts(second["access_token"])[1]["jti"] != jwt_parts(first["access_token"])[1]["jti"]

    third = refresh_tokens(idp, second["refresh_token"], client.client_id, client.client_secret)
    assert third["refresh_token"] not in {first["refresh_token"], second["refresh_token"]}

    stats = idp.stats()
    assert stats["grants"]["refresh_token"]["richard"] == refreshes_before + 2
    assert stats["grants"]["authorization_code"]["richard"] == codes_before + 1
    assert len(stats["grant_times"]["refresh_token"]["richard"]) == refreshes_before + 2

    # A rotated-away refresh token is dead, and replaying it revokes the whole grant (reuse
    # detection): the newest refresh token dies with it.
    with pytest.raises(TokenError) as err:
        refresh_tokens(idp, first["refresh_token"], client.client_id, client.client_secret)
    assert err.value.error == "invalid_grant"
    with pytest.raises(TokenError):
        refresh_tokens(idp, third["refresh_token"], client.client_id, client.client_secret)
    assert idp.grant_count("richard") == refreshes_before + 2
    assert idp.stats()["grant_errors"]["refresh_token"]["refresh token already used"] >= 1

    # The log tells what happened, and never a token.
    log = idp.log_path.read_text()
    assert "token.grant grant_type=refresh_token account=richard" in log
    for tokens in (first, second, third):
        for value in (tokens["access_token"], tokens["refresh_token"], tokens["id_token"]):
            assert value not in log
    assert client.client_secret not in log
    assert DEMO_USERS["richard"] not in log


def test_admin_endpoints_need_the_secret(idp: IdentityProvider) -> None:
    for headers in ({}, {"x-admin-secret": "guess"}):
        assert httpx.get(f"{idp.issuer}/admin/stats", headers=headers, timeout=10).status_code == 403
        assert httpx.post(f"{idp.issuer}/admin/rotate-key", headers=headers, timeout=10).status_code == 403
    assert idp.stats()["kids"] == [k["kid"] for k in idp.jwks()["keys"]]


def test_user_changes_reach_the_next_refresh(own_idp: IdentityProvider) -> None:
    idp = own_idp
    client = idp.client("test-client")
    first = tokens_for(idp, "marie")
    assert "radium-lovers" in jwt_parts(first["id_token"])[1]["groups"]

    assert idp.update_user("marie", groups=["physics-lovers"])["groups"] == ["physics-lovers"]
    second = refresh_tokens(idp, first["refresh_token"], client.client_id, client.client_secret)
    assert jwt_parts(second["id_token"])[1]["groups"] == ["physics-lovers"]
    assert jwt_parts(second["access_token"])[1]["groups"] == ["physics-lovers"]

    # A disabled user's refresh token is refused, and so is their password.
    assert idp.update_user("marie", disabled=True)["disabled"] is True
    with pytest.raises(TokenError) as err:
        refresh_tokens(idp, second["refresh_token"], client.client_id, client.client_secret)
    assert err.value.error == "invalid_grant"
    with pytest.raises(LoginFailed):
        tokens_for(idp, "marie")
    idp.update_user("marie", disabled=False)
    assert jwt_parts(tokens_for(idp, "marie")["access_token"])[1]["sub"] == "marie"

    url = f"{idp.issuer}/admin/users"
    secret = {"x-admin-secret": idp.admin_secret}
    assert httpx.put(f"{url}/marie", json={"disabled": True}, timeout=10).status_code == 403
    assert httpx.put(f"{url}/marie", json={"groups": "x"}, headers=secret, timeout=10).status_code == 400
    assert httpx.put(f"{url}/marie", json={"disabled": 1}, headers=secret, timeout=10).status_code == 400
    assert httpx.put(f"{url}/nobody", json={}, headers=secret, timeout=10).status_code == 404
    assert tokens_for(idp, "marie")["access_token"]


def test_sso_session_and_rp_initiated_logout(idp: IdentityProvider) -> None:
    client = idp.client("test-client")
    with httpx.Client(timeout=10) as http:
        tokens = tokens_for(idp, "marie", http=http)
        logins = idp.stats()["logins"]["ok"]["marie"]
        # The SSO session logs marie in again without the form.
        again = tokens_for(idp, "marie", http=http)
        assert jwt_parts(again["access_token"])[1]["sub"] == "marie"
        assert idp.stats()["logins"]["ok"]["marie"] == logins

        back = end_session(
            idp,
            http,
            id_token=tokens["id_token"],
            post_logout_redirect_uri=client.post_logout_redirect_uris[0],
            state="bye",
        )
        assert back == f"{client.post_logout_redirect_uris[0]}?state=bye"
        # The session is gone: the next authorization shows the login form.
        login_form(http, idp, client)
    # Tokens without offline_access end with the session.
    with pytest.raises(TokenError):
        refresh_tokens(idp, again["refresh_token"], client.client_id, client.client_secret)


def test_clients_can_be_added_while_running(idp: IdentityProvider) -> None:
    client = idp.add_client(Client("late-client", redirect_uris=["http://127.0.0.1:1/late"]))
    tokens = tokens_for(idp, "einstein", "late-client")
    assert jwt_parts(tokens["access_token"])[1]["client_id"] == client.client_id
    assert "late-client" in idp.stats()["clients"]


# -- reva trusts the tokens -----------------------------------------------------------------


async def test_reva_accepts_the_access_token(idp: IdentityProvider, make_reva: Callable[..., Revad]) -> None:
    reva = reva_trusting(make_reva, idp)
    einstein = bearer_storage(reva, tokens_for(idp, "einstein")["access_token"])
    marie = bearer_storage(reva, tokens_for(idp, "marie")["access_token"])
    try:
        assert await einstein.home() == "/home"
        assert (await einstein.stat("/home")).type == CONTAINER
        body = b"E = m c^2"
        await einstein.upload("/home/bearer.txt", body, size=len(body))
        assert await einstein.read("/home/bearer.txt") == body
        assert "/home/bearer.txt" in {i.path for i in await einstein.list("/home")}
        assert (reva.storage_root / "data" / "einstein" / "bearer.txt").read_bytes() == body

        # marie's token maps to marie: her own home, not einstein's.
        await marie.upload("/home/marie.txt", b"Ra", size=2)
        assert "/home/bearer.txt" not in {i.path for i in await marie.list("/home")}
        assert (reva.storage_root / "data" / "marie" / "marie.txt").read_bytes() == b"Ra"
        assert einstein.session.logins == 1
        assert marie.session.logins == 1
    finally:
        await einstein.close()
        await marie.close()


def forge_subject(token: str, sub: str) -> str:
    """The same signed token with another `sub`: its signature no longer matches."""
    header, payload, signature = token.split(".")
    claims = jwt_parts(token)[1] | {"sub": sub}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert forged != payload
    return f"{header}.{forged}.{signature}"


async def test_reva_refuses_garbage_forged_and_expired_tokens(
    idp: IdentityProvider, make_reva: Callable[..., Revad]
) -> None:
    reva = reva_trusting(make_reva, idp)
    short = tokens_for(idp, "einstein", "short-lived")["access_token"]
    exp = jwt_parts(short)[1]["exp"]
    assert exp - jwt_parts(short)[1]["iat"] == SHORT_TTL

    fresh = bearer_storage(reva, short)
    try:
        assert await fresh.home() == "/home"

        for bad in ("not-a-token", "a.b.c", forge_subject(short, "marie")):
            storage = bearer_storage(reva, bad)
            try:
                with pytest.raises(errors.SessionExpired):
                    await storage.home()
            finally:
                await storage.close()
        assert "failed to verify signature" in reva.log_path.read_text()

        # reva checks `exp` without leeway: one second after it the token is refused.
        await asyncio.sleep(max(0.0, exp + 1.2 - time.time()))
        expired = bearer_storage(reva, short)
        try:
            with pytest.raises(errors.SessionExpired):
                await expired.home()
        finally:
            await expired.close()
        assert "oidc: token is expired" in reva.log_path.read_text()

        # reva checks the access token only when it is exchanged for a reva token: a session
        # made before `exp` goes on until reva's own token expires.
        assert await fresh.home() == "/home"
        assert fresh.session.logins == 1
    finally:
        await fresh.close()


async def test_key_rotation_keeps_reva_accepting_tokens(
    own_idp: IdentityProvider, make_reva: Callable[..., Revad]
) -> None:
    idp = own_idp
    client = idp.client()
    reva = reva_trusting(make_reva, idp)
    old = tokens_for(idp, "einstein")
    old_kid = jwt_parts(old["access_token"])[0]["kid"]
    storage = bearer_storage(reva, old["access_token"])
    try:
        assert await storage.home() == "/home"  # reva has fetched and cached the first JWKS
    finally:
        await storage.close()

    new_kid = idp.rotate_key()
    assert new_kid != old_kid
    assert [k["kid"] for k in idp.jwks()["keys"]] == [new_kid, old_kid]
    assert idp.stats()["active_kid"] == new_kid

    # Tokens issued from now on (login or refresh) carry the new kid, and reva, which only
    # knew the old key, fetches the JWKS again when it meets the unknown kid.
    new = tokens_for(idp, "marie")
    refreshed = refresh_tokens(idp, old["refresh_token"], client.client_id, client.client_secret)
    for token, user in ((new["access_token"], "marie"), (refreshed["access_token"], "einstein")):
        assert jwt_parts(token)[0]["kid"] == new_kid
        assert jwt_parts(token)[1]["sub"] == user
        storage = bearer_storage(reva, token)
        try:
            assert await storage.home() == "/home"
            await storage.upload(f"/home/{user}-after-rotation.txt", b"ok", size=2)
        finally:
            await storage.close()
    assert (reva.storage_root / "data" / "marie" / "marie-after-rotation.txt").exists()

    # A token signed with the old key before the rotation stays valid until it expires.
    storage = bearer_storage(reva, old["access_token"])
    try:
        assert await storage.home() == "/home"
    finally:
        await storage.close()


def test_stops_cleanly_on_sigterm(own_idp: IdentityProvider) -> None:
    assert own_idp.running
    own_idp.stop()
    assert own_idp.process is not None
    assert own_idp.process.returncode == 0
    assert "stopping signal=SIGTERM" in own_idp.log_path.read_text()


def test_missing_node_modules_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.harness.idp as harness

    monkeypatch.setattr(harness, "NODE_MODULES", tmp_path / "node_modules")
    with pytest.raises(harness.IdpError, match="make node"):
        IdentityProvider(tmp_path / "idp").start()
