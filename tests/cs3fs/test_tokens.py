"""A long computation outlives many OAuth tokens: `cs3://` reads the token file again when the
refresher replaces it, as the contents manager does, so reads and writes go on, and with
nobody refreshing the user is told that the session expired.

Real pieces only: the test identity provider issues short-lived RS256 access tokens, reva's
`oidc` auth provider checks them at every reva login, and reva's own sessions are as short.
The tests play the refresher by writing the token file."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cs3_contents_manager.cs3fs import CS3FileSystem
from tests.harness.idp import Client, IdentityProvider, access_token, start_idp, write_token
from tests.harness.reva import OidcSettings, Revad

pytestmark = [pytest.mark.reva, pytest.mark.timeout(180)]

ACCESS_TTL = 6  # seconds an access token lives at the provider
REVA_TTL = 6  # seconds a reva session lives: then reva checks the OAuth token again
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    client = Client("notebooks", redirect_uris=["http://127.0.0.1/callback"])
    server = start_idp(tmp_path_factory.mktemp("idp"), access_token_ttl=ACCESS_TTL, clients=[client])
    yield server
    server.stop()


@pytest.fixture
def oidc_reva(make_reva: Callable[..., Revad], idp: IdentityProvider) -> Revad:
    return make_reva(oidc=OidcSettings(issuer=idp.issuer), reva_token_ttl=REVA_TTL)


@pytest.fixture
def token_file(tmp_path: Path, idp: IdentityProvider) -> Path:
    path = tmp_path / "cs3" / "oauth.token"
    path.parent.mkdir(mode=0o700)
    write_token(path, access_token(idp))
    return path


def bearer_fs(reva: Revad, token_file: Path) -> CS3FileSystem:
    return CS3FileSystem(
        host=reva.gateway,
        token_path=str(token_file),
        login_type="bearer",
        client_id="einstein",
        root="/home",
        skip_instance_cache=True,
    )


class Refresher(threading.Thread):
    """Writes a fresh access token every `every` seconds, like token_refresher."""

    def __init__(self, idp: IdentityProvider, path: Path, every: float) -> None:
        super().__init__(daemon=True)
        self.idp, self.path, self.every = idp, path, every
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        while not self.stop.wait(self.every):
            write_token(self.path, access_token(self.idp))
            self.written += 1


def test_reads_and_writes_go_on_across_token_lifetimes(
    oidc_reva: Revad, idp: IdentityProvider, token_file: Path
) -> None:
    fs = bearer_fs(oidc_reva, token_file)
    data = os.urandom(4 * MiB)
    fs.mkdir("~/loop")
    fs.pipe("~/loop/data.bin", data)
    refresher = Refresher(idp, token_file, every=ACCESS_TTL / 2)
    refresher.start()
    try:
        started = time.monotonic()
        rounds = 0
        # One file stays open for the whole loop and is read a block at a time; every round
        # also reads whole files, seeks back (a new transfer) and writes one.
        with fs.open("~/loop/data.bin", "rb", block_size=64 * 1024) as slow:
            while time.monotonic() - started < 4 * ACCESS_TTL:
                rounds += 1
                assert fs.cat("~/loop/data.bin") == data
                slow.seek((rounds * 300_000) % len(data))
                position = slow.tell()
                assert slow.read(50_000) == data[position : position + 50_000]
                fs.pipe(f"~/loop/result-{rounds % 3}.txt", f"round {rounds}".encode())
                assert fs.cat(f"~/loop/result-{rounds % 3}.txt") == f"round {rounds}".encode()
                time.sleep(0.5)
    finally:
        refresher.stop.set()
        refresher.join()
    assert refresher.written >= 6, "the loop did not span several tokens"
    # Every new token was used: one reva login per token file seen, and more than one.
    assert fs.storage.session.logins >= 4
    print(f"{rounds} rounds over {refresher.written} tokens, {fs.storage.session.logins} reva logins")


def test_with_nobody_refreshing_the_error_says_so_and_a_new_token_fixes_it(
    oidc_reva: Revad, idp: IdentityProvider, token_file: Path
) -> None:
    fs = bearer_fs(oidc_reva, token_file)
    fs.pipe("~/stale.txt", b"before")
    deadline = time.monotonic() + ACCESS_TTL + REVA_TTL + 15
    error: PermissionError | None = None
    while time.monotonic() < deadline:
        try:
            fs.cat("~/stale.txt")
        except PermissionError as err:
            error = err
            break
        time.sleep(0.5)
    assert error is not None, "the session never expired"
    assert "The storage session expired" in str(error)
    write_token(token_file, access_token(idp))
    assert fs.cat("~/stale.txt") == b"before"
