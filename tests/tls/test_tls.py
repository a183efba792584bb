"""TLS to reva: certificates are verified whenever `ssl_enabled` is on.

revad sits behind two TLS proxies (tests/harness/tlsproxy.py): one for its gRPC gateway, one
for its data gateway, which revad advertises as an https URL for every transfer. The gateway's
certificate is signed by one test CA and the data gateway's by another, so each check below
can trust one and not the other. Nothing here turns verification off.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tornado.web import HTTPError

from cs3_contents_manager import CS3LargeFileManager
from tests.contents.conftest import cs3_config
from tests.harness.ports import free_port
from tests.harness.reva import DEMO_USERS, Revad, start_revad
from tests.harness.tlsproxy import CertificateAuthority, TlsProxy

pytestmark = pytest.mark.timeout(120)


@dataclass
class TlsReva:
    reva: Revad
    gateway: TlsProxy  # the gRPC gateway behind a certificate of `gateway_ca`
    data: TlsProxy  # the data gateway behind a certificate of `data_ca`
    wrong_host: TlsProxy  # the gRPC gateway behind a `gateway_ca` certificate for another host
    gateway_ca: Path
    data_ca: Path
    both_cas: Path
    password: Path


@pytest.fixture(scope="module")
def tls_reva(revad_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsReva]:
    work = tmp_path_factory.mktemp("tls")
    gateway_ca = CertificateAuthority(work / "gateway-ca", "CS3 test gateway CA")
    data_ca = CertificateAuthority(work / "data-ca", "CS3 test data CA")
    both = work / "both-cas.pem"
    both.write_bytes(gateway_ca.pem.cert.read_bytes() + data_ca.pem.cert.read_bytes())
    password = work / "einstein.secret"
    password.write_text(DEMO_USERS["einstein"])
    password.chmod(0o600)
    http_port = free_port()
    data = TlsProxy(http_port, data_ca.server("data")).start()
    reva = start_revad(
        work / "reva",
        binary=revad_binary,
        http_port=http_port,
        public_http_url=f"https://127.0.0.1:{data.port}",
    )
    gateway = TlsProxy(reva.grpc_port, gateway_ca.server("gateway")).start()  # type: ignore[arg-type]
    wrong = TlsProxy(reva.grpc_port, gateway_ca.server("elsewhere", ("reva.example.org",))).start()  # type: ignore[arg-type]
    yield TlsReva(reva, gateway, data, wrong, gateway_ca.pem.cert, data_ca.pem.cert, both, password)
    for proxy in (gateway, wrong, data):
        proxy.stop()
    reva.stop()


@pytest.fixture
async def manager(tls_reva: TlsReva) -> AsyncIterator[Any]:
    """make(host=..., **traits) → a CS3LargeFileManager on a fresh folder of einstein's home."""
    made: list[CS3LargeFileManager] = []

    def make(host: str, **traits: Any) -> CS3LargeFileManager:
        extra = {f"CS3FileManagerMixin__{name}": value for name, value in traits.items()}
        config = cs3_config(tls_reva.reva, f"/home/tls-{uuid.uuid4().hex[:10]}", tls_reva.password, **extra)
        config.CS3FileManagerMixin.host = host
        config.CS3FileManagerMixin.call_timeout = 10.0
        cm = CS3LargeFileManager(config=config)
        made.append(cm)
        return cm

    yield make
    for cm in made:
        await cm.storage.close()


async def test_everything_works_over_tls_with_the_site_ca(tls_reva: TlsReva, manager: Any) -> None:
    before = (tls_reva.gateway.connections, tls_reva.data.connections)
    cm = manager(tls_reva.gateway.address, ssl_enabled=True, ssl_ca_file=str(tls_reva.both_cas))
    await cm.storage.mkdir(await cm.cs3_root())
    await cm.save({"type": "file", "format": "text", "content": "over TLS"}, "note.txt")
    assert (await cm.get("note.txt"))["content"] == "over TLS"
    assert [e["name"] for e in (await cm.get(""))["content"]] == ["note.txt"]
    # A chunked upload: the whole file crosses the data gateway's TLS at the last chunk.
    block = os.urandom(1024 * 1024)
    for chunk in (1, 2, -1):
        content = base64.b64encode(block).decode()
        await cm.save({"type": "file", "format": "base64", "chunk": chunk, "content": content}, "big.bin")
    got = await cm.get("big.bin", format="base64", type="file")
    assert base64.b64decode(got["content"]) == block * 3
    # Both proxies saw handshakes that succeeded: gRPC and transfers really went over TLS.
    assert tls_reva.gateway.connections > before[0]
    assert tls_reva.data.connections > before[1]


async def test_without_the_ca_the_gateway_certificate_is_refused(tls_reva: TlsReva, manager: Any) -> None:
    cm = manager(tls_reva.gateway.address, ssl_enabled=True)
    started = time.monotonic()
    with pytest.raises(HTTPError) as err:
        await cm.get("")
    assert err.value.status_code == 503
    assert "TLS certificate was not accepted" in err.value.log_message
    assert "certificate verify failed" in err.value.log_message
    assert "ssl_ca_file" in err.value.log_message
    # Not retried as if the storage were restarting: the answer comes at once.
    assert time.monotonic() - started < 5


async def test_a_certificate_for_another_host_is_refused(tls_reva: TlsReva, manager: Any) -> None:
    cm = manager(tls_reva.wrong_host.address, ssl_enabled=True, ssl_ca_file=str(tls_reva.both_cas))
    with pytest.raises(HTTPError) as err:
        await cm.get("")
    assert err.value.status_code == 503
    assert "does not name the gateway's host" in err.value.log_message


async def test_a_plaintext_client_gets_nothing_from_the_tls_port(tls_reva: TlsReva, manager: Any) -> None:
    cm = manager(tls_reva.gateway.address, ssl_enabled=False, call_timeout=3.0)
    with pytest.raises(HTTPError) as err:
        await cm.get("")
    assert err.value.status_code == 503


async def test_the_data_gateway_certificate_is_verified_too(tls_reva: TlsReva, manager: Any) -> None:
    """The gateway is trusted, the data gateway's CA is not: the save fails, nothing is stored."""
    cm = manager(tls_reva.gateway.address, ssl_enabled=True, ssl_ca_file=str(tls_reva.gateway_ca))
    await cm.storage.mkdir(await cm.cs3_root())
    with pytest.raises(HTTPError) as err:
        await cm.save({"type": "file", "format": "text", "content": "secret"}, "note.txt")
    assert err.value.status_code == 503
    assert "TLS certificate was not accepted during upload" in err.value.log_message
    assert not await cm.file_exists("note.txt")
