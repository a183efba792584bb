"""The OAuth token file under stress: replaced mid-upload, expired with nobody refreshing it.

Real pieces only: the test identity provider issues RS256 access tokens, reva's `oidc` auth
provider checks them at every reva login, and the contents manager reads the token file the
refresher would keep fresh. The refresher itself is not running here: the tests play it by
writing the file, so they decide exactly when a token changes or goes stale.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.web import HTTPError
from traitlets.config import Config

from cs3_contents_manager import CS3LargeFileManager
from tests.conftest import storage_for
from tests.harness.idp import Client, IdentityProvider, access_token, start_idp, write_token
from tests.harness.reva import OidcSettings, Revad

pytestmark = pytest.mark.timeout(120)

ACCESS_TTL = 6  # seconds an access token lives at the provider
REVA_TTL = 6  # seconds a reva session lives: after that reva checks the OAuth token again
EXPIRED = "The storage session expired"
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    client = Client("notebooks", redirect_uris=["http://127.0.0.1/callback"])
    server = start_idp(tmp_path_factory.mktemp("idp"), access_token_ttl=ACCESS_TTL, clients=[client])
    yield server
    server.stop()


# Every token a test handed out; after each test no log may hold any of them.
ISSUED: list[str] = []


@pytest.fixture
def reva(make_reva: Callable[..., Revad], idp: IdentityProvider) -> Revad:
    # Debug level: "no token in any log at any level" includes reva's most verbose one.
    return make_reva(oidc=OidcSettings(issuer=idp.issuer), reva_token_ttl=REVA_TTL, log_level="debug")


@pytest.fixture(autouse=True)
def no_token_in_logs(reva: Revad, idp: IdentityProvider, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    ISSUED.clear()
    yield
    assert ISSUED, "the test handed out no token"
    logs = {
        "revad": reva.log_path.read_text(errors="replace"),
        "provider": idp.log_path.read_text(errors="replace"),
        "contents manager (debug)": caplog.text,
    }
    for name, text in logs.items():
        for token in ISSUED:
            assert token not in text, f"a token appears in the {name} log"


def fresh_token(idp: IdentityProvider, user: str = "einstein") -> str:
    token = access_token(idp, user)
    ISSUED.append(token)
    return token


@pytest.fixture
async def bearer(reva: Revad, idp: IdentityProvider, tmp_path: Path) -> AsyncIterator[Any]:
    """(manager, token file, folder) with einstein logged in by OAuth token, on a fresh folder."""
    token_file = tmp_path / "cs3" / "oauth.token"
    token_file.parent.mkdir(mode=0o700)
    write_token(token_file, fresh_token(idp))
    admin = storage_for(reva, "einstein")
    folder = f"/home/tok-{uuid.uuid4().hex[:10]}"
    await admin.mkdir(folder)
    config = Config()
    config.CS3FileManagerMixin.host = reva.gateway
    config.CS3FileManagerMixin.auth_login_type = "bearer"
    config.CS3FileManagerMixin.client_id = "einstein"
    config.CS3FileManagerMixin.token_path = str(token_file)
    config.CS3FileManagerMixin.root_path = folder
    cm = CS3LargeFileManager(config=config)
    yield cm, token_file, folder, admin
    await cm.storage.close()
    await admin.close()


async def stored(admin: Any, path: str) -> bytes:
    return bytes(await admin.read(path))


async def test_expired_token_with_no_refresher_says_so_and_recovers(
    bearer: Any, idp: IdentityProvider
) -> None:
    cm, token_file, folder, admin = bearer
    await cm.save({"type": "file", "format": "text", "content": "before"}, "a.txt")
    # Nobody refreshes the file: once both the access token and the reva session are past
    # their lifetime, reva refuses the next login.
    started = time.monotonic()
    status = message = None
    while time.monotonic() - started < ACCESS_TTL + REVA_TTL + 10:
        try:
            await cm.save({"type": "file", "format": "text", "content": "during"}, "a.txt")
        except HTTPError as err:
            status, message = err.status_code, err.log_message
            break
        await asyncio.sleep(0.5)
    assert status == 401, "the session never expired"
    assert message is not None
    assert message.startswith(EXPIRED)
    expired_after = time.monotonic() - started
    assert expired_after > min(ACCESS_TTL, REVA_TTL) - 1
    # Reads fail the same way, and what is stored is untouched.
    with pytest.raises(HTTPError) as err:
        await cm.get("a.txt")
    assert err.value.status_code == 401
    assert await stored(admin, f"{folder}/a.txt") in (b"before", b"during")
    kept = await stored(admin, f"{folder}/a.txt")
    # The refresher writes a fresh token: the very next request works, no restart.
    write_token(token_file, fresh_token(idp))
    await cm.save({"type": "file", "format": "text", "content": "after"}, "a.txt")
    assert (await cm.get("a.txt"))["content"] == "after"
    assert kept != b"after"
    print(f"session expired {expired_after:.1f} s after the last token was written")


async def upload_chunks(cm: CS3LargeFileManager, path: str, blocks: list[bytes], chunks: list[int]) -> None:
    for number in chunks:
        content = base64.b64encode(blocks[abs(number) - 1 if number > 0 else len(blocks) - 1]).decode()
        await cm.save({"type": "file", "format": "base64", "chunk": number, "content": content}, path)


async def test_token_replaced_mid_upload_is_used_from_then_on(bearer: Any, idp: IdentityProvider) -> None:
    cm, token_file, folder, admin = bearer
    blocks = [os.urandom(MiB) for _ in range(6)]
    await upload_chunks(cm, "big.bin", blocks, [1, 2, 3])
    logins = cm.storage.session.logins
    write_token(token_file, fresh_token(idp))
    await upload_chunks(cm, "big.bin", blocks, [4, 5, -1])
    assert await stored(admin, f"{folder}/big.bin") == b"".join(blocks)
    # The new file was noticed and used for exactly one new login.
    assert cm.storage.session.logins == logins + 1


async def test_token_replaced_by_a_bad_one_mid_upload_keeps_the_old_file(
    bearer: Any, idp: IdentityProvider
) -> None:
    cm, token_file, folder, admin = bearer
    old = os.urandom(MiB)
    await admin.upload(f"{folder}/big.bin", old, size=len(old))
    blocks = [os.urandom(MiB) for _ in range(4)]
    await upload_chunks(cm, "big.bin", blocks, [1, 2, 3])
    write_token(token_file, "not-a-token")  # what a broken refresher might leave behind
    with pytest.raises(HTTPError) as err:
        await upload_chunks(cm, "big.bin", blocks, [-1])
    assert err.value.status_code == 401
    assert err.value.log_message.startswith(EXPIRED)
    assert await stored(admin, f"{folder}/big.bin") == old
    # A good token again: sending the last chunk once more finishes the same upload.
    write_token(token_file, fresh_token(idp))
    await upload_chunks(cm, "big.bin", blocks, [-1])
    assert await stored(admin, f"{folder}/big.bin") == b"".join(blocks)
