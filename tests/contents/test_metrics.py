"""The contents manager's metrics as an operator's Prometheus sees them on `/metrics`.

A real Jupyter server logs in to a real reva with an OAuth access token from the test
identity provider (bearer, as in a deployment); the tests read `/metrics` with the server's
token, do what a user does through the contents API, and read it again.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from tornado.web import HTTPError
from traitlets.config import Config

from cs3_contents_manager import CS3LargeFileManager
from tests.conftest import storage_for
from tests.harness.idp import Client, IdentityProvider, access_token, jwt_parts, start_idp, write_token
from tests.harness.jupyter import JupyterServer, seed_server
from tests.harness.ports import free_port
from tests.harness.reva import OidcSettings, Revad, start_revad

ACCESS_TTL = 300
ALLOWED_LABELS = {"method", "code", "direction", "outcome"}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityProvider]:
    client = Client("notebooks", redirect_uris=["http://127.0.0.1/callback"])
    server = start_idp(tmp_path_factory.mktemp("idp"), access_token_ttl=ACCESS_TTL, clients=[client])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def oidc_reva(
    revad_binary: Path, idp: IdentityProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Revad]:
    server = start_revad(tmp_path_factory.mktemp("reva"), binary=revad_binary, oidc=OidcSettings(idp.issuer))
    yield server
    server.stop()


class Bearer:
    """A Jupyter server whose storage login is the OAuth token in `token_file`."""

    def __init__(self, server: JupyterServer, token_file: Path, root: str) -> None:
        self.server = server
        self.token_file = token_file
        self.root = root


@pytest.fixture(scope="module")
def bearer(
    oidc_reva: Revad, idp: IdentityProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bearer]:
    workdir = tmp_path_factory.mktemp("jupyter-metrics")
    token_file = workdir / "cs3" / "oauth.token"
    token_file.parent.mkdir(mode=0o700)
    write_token(token_file, access_token(idp))
    root = f"/home/metrics-{uuid.uuid4().hex[:10]}"

    async def make_root() -> None:
        storage = storage_for(oidc_reva, "einstein")
        try:
            await storage.mkdir(root)
        finally:
            await storage.close()

    asyncio.run(make_root())
    server = seed_server(
        oidc_reva.gateway,
        workdir,
        root,
        CS3FileManagerMixin={"auth_login_type": "bearer", "token_path": str(token_file)},
    )
    server.start()
    yield Bearer(server, token_file, root)
    server.stop()


@pytest.fixture
async def client(bearer: Bearer) -> AsyncIterator[httpx.AsyncClient]:
    async with bearer.server.client() as http:
        # The manager logs in on its first storage call: make sure one happened.
        res = await http.get("/api/contents")
        assert res.status_code == 200, res.text
        yield http


async def scrape(http: httpx.AsyncClient) -> Samples:
    res = await http.get("/metrics")
    assert res.status_code == 200, res.text
    samples: Samples = {}
    for family in text_string_to_metric_families(res.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def cs3_samples(samples: Samples) -> Samples:
    return {key: v for key, v in samples.items() if key[0].startswith("cs3_")}


async def test_metrics_without_the_servers_token_are_refused(bearer: Bearer) -> None:
    async with httpx.AsyncClient(base_url=bearer.server.url, timeout=30) as anonymous:
        res = await anonymous.get("/metrics")
        assert res.status_code == 403
        assert "cs3_" not in res.text
        res = await anonymous.get("/metrics", headers={"Authorization": "token not-the-token"})
        assert res.status_code == 403
        assert "cs3_" not in res.text


async def test_a_save_moves_the_upload_bytes_and_initiate_upload_calls(
    client: httpx.AsyncClient, bearer: Bearer
) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    name = f"blob-{uuid.uuid4().hex[:8]}.bin"
    before = await scrape(client)
    res = await client.put(
        f"/api/contents/{name}",
        json={"type": "file", "format": "base64", "content": base64.b64encode(data).decode()},
    )
    assert res.status_code == 201, res.text
    saved = await scrape(client)
    uploaded = value(saved, "cs3_transfer_bytes_total", direction="upload") - value(
        before, "cs3_transfer_bytes_total", direction="upload"
    )
    assert uploaded >= len(data)
    count = "cs3_call_duration_seconds_count"
    assert value(saved, count, method="InitiateFileUpload") > value(
        before, count, method="InitiateFileUpload"
    )
    total = "cs3_call_duration_seconds_sum"
    assert value(saved, total, method="InitiateFileUpload") > value(
        before, total, method="InitiateFileUpload"
    )

    res = await client.get(f"/api/contents/{name}", params={"content": "1", "format": "base64"})
    assert res.status_code == 200, res.text
    assert base64.b64decode(res.json()["content"]) == data
    read = await scrape(client)
    downloaded = value(read, "cs3_transfer_bytes_total", direction="download") - value(
        saved, "cs3_transfer_bytes_total", direction="download"
    )
    assert downloaded >= len(data)
    assert value(read, count, method="InitiateFileDownload") > value(
        saved, count, method="InitiateFileDownload"
    )


async def test_a_missing_file_counts_a_not_found_error(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    res = await client.get(f"/api/contents/missing-{uuid.uuid4().hex[:8]}.txt")
    assert res.status_code == 404, res.text
    after = await scrape(client)
    errors = "cs3_call_errors_total"
    assert value(after, errors, method="Stat", code="CODE_NOT_FOUND") > value(
        before, errors, method="Stat", code="CODE_NOT_FOUND"
    )
    # reva answered: nothing failed on the way to it.
    moved = {
        labels
        for (name, labels), v in cs3_samples(after).items()
        if name == errors and v != before.get((name, labels))
    }
    assert moved == {frozenset({("method", "Stat"), ("code", "CODE_NOT_FOUND")})}


async def test_logins_are_counted_by_outcome(
    client: httpx.AsyncClient, bearer: Bearer, idp: IdentityProvider
) -> None:
    samples = await scrape(client)
    assert value(samples, "cs3_logins_total", outcome="ok") >= 1
    refused = value(samples, "cs3_logins_total", outcome="refused")
    ok = value(samples, "cs3_logins_total", outcome="ok")

    # A token reva does not accept: the manager logs in with it as soon as the file changes.
    header, payload = (
        base64.urlsafe_b64encode(part.encode()).rstrip(b"=").decode()
        for part in ('{"alg":"RS256","typ":"JWT"}', f'{{"sub":"einstein","exp":{int(time.time()) + 600}}}')
    )
    write_token(bearer.token_file, f"{header}.{payload}.bm90LXNpZ25lZA")
    res = await client.get("/api/contents")
    assert res.status_code == 401, res.text
    samples = await scrape(client)
    assert value(samples, "cs3_logins_total", outcome="refused") > refused

    write_token(bearer.token_file, access_token(idp))
    res = await client.get("/api/contents")
    assert res.status_code == 200, res.text
    samples = await scrape(client)
    assert value(samples, "cs3_logins_total", outcome="ok") > ok
    assert value(samples, "cs3_logins_total", outcome="error") == 0


async def test_token_expiry_is_the_token_files_remaining_lifetime_at_scrape_time(
    client: httpx.AsyncClient, bearer: Bearer, idp: IdentityProvider
) -> None:
    for _ in range(2):
        exp = jwt_parts(bearer.token_file.read_text())[1]["exp"]
        changed = bearer.token_file.stat().st_mtime_ns / 1e9
        asked = time.time()
        samples = await scrape(client)
        answered = time.time()
        expires_in = samples[("cs3_token_expires_in_seconds", frozenset())]
        assert exp - answered <= expires_in <= exp - asked
        assert 0 < expires_in <= ACCESS_TTL
        assert samples[("cs3_token_file_changed_timestamp_seconds", frozenset())] == pytest.approx(
            changed, abs=1e-3
        )
        # The refresher replaces the file: the next scrape reads the new one, with no
        # storage call in between.
        write_token(bearer.token_file, access_token(idp))


async def test_labels_carry_no_user_path_or_token(client: httpx.AsyncClient, bearer: Bearer) -> None:
    name = f"private-{uuid.uuid4().hex[:8]}.txt"
    res = await client.put(f"/api/contents/{name}", json={"type": "file", "format": "text", "content": "x"})
    assert res.status_code == 201, res.text
    res = await client.get(f"/api/contents/{name}.missing")
    assert res.status_code == 404, res.text
    res = await client.get("/metrics")
    assert res.status_code == 200, res.text
    samples = cs3_samples(await scrape(client))
    assert value(samples, "cs3_call_duration_seconds_count", method="InitiateFileUpload") >= 1
    for metric, labels in samples:
        assert {key for key, _ in labels} <= ALLOWED_LABELS | {"le"}, metric
    token = bearer.token_file.read_text()
    for secret in (token, *token.split("."), "einstein", bearer.root.rsplit("/", 1)[-1], name):
        assert secret not in res.text


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def manager_for(host: str, token_file: Path) -> CS3LargeFileManager:
    config = Config()
    config.CS3FileManagerMixin.host = host
    config.CS3FileManagerMixin.auth_login_type = "bearer"
    config.CS3FileManagerMixin.client_id = "einstein"
    config.CS3FileManagerMixin.token_path = str(token_file)
    config.CS3FileManagerMixin.call_timeout = 5.0
    return CS3LargeFileManager(config=config)


async def test_an_unreachable_gateway_counts_as_unavailable(tmp_path: Path) -> None:
    token_file = tmp_path / "oauth.token"
    write_token(token_file, "a-token")
    before = sample("cs3_call_errors_total", method="Authenticate", code="UNAVAILABLE")
    failed_logins = sample("cs3_logins_total", outcome="error")
    cm = manager_for(f"127.0.0.1:{free_port()}", token_file)
    try:
        with pytest.raises(HTTPError) as err:
            await cm.get("")
    finally:
        await cm.storage.close()
    assert err.value.status_code == 503
    assert sample("cs3_call_errors_total", method="Authenticate", code="UNAVAILABLE") > before
    assert sample("cs3_logins_total", outcome="error") == failed_logins + 1


async def test_a_missing_token_file_is_a_failed_login(oidc_reva: Revad, tmp_path: Path) -> None:
    failed_logins = sample("cs3_logins_total", outcome="error")
    authenticate_calls = sample("cs3_call_duration_seconds_count", method="Authenticate")
    cm = manager_for(oidc_reva.gateway, tmp_path / "never-written.token")
    try:
        with pytest.raises(HTTPError) as err:
            await cm.get("")
    finally:
        await cm.storage.close()
    assert err.value.status_code == 401
    assert sample("cs3_logins_total", outcome="error") == failed_logins + 1
    # Nothing was sent to reva.
    assert sample("cs3_call_duration_seconds_count", method="Authenticate") == authenticate_calls
