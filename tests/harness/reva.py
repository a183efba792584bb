"""Start and stop a real revad for tests and for `make run`.

Every run gets its own folder, its own free loopback ports and its own secrets, so two runs on
one machine never collide. Readiness is a real basic `Authenticate` against the gateway: a
listening port only proves that the Go runtime started, not that the auth and user providers
behind the gateway answer.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import ClassVar

import grpc
from cs3.gateway.v1beta1 import gateway_api_pb2, gateway_api_pb2_grpc
from cs3.rpc.v1beta1 import code_pb2

from .ports import free_port, port_in_use
from .process import ManagedProcess, Probe, start_on_free_ports

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
GO_MODULE = REPO / "tests" / "reva"

# The demo accounts of reva's own users file; the identity provider of the end-to-end tests
# knows the same names and passwords.
DEMO_USERS: dict[str, str] = {
    "einstein": "relativity",
    "marie": "radioactivity",
    "richard": "superfluidity",
}


class RevaError(RuntimeError):
    """revad could not be started or stopped; the message carries the tail of its log."""


def pinned_version() -> str:
    """The reva version required by our Go module: the binary's name depends on it."""
    for line in (GO_MODULE / "go.mod").read_text().splitlines():
        parts = line.split()
        if "github.com/cs3org/reva/v3" in parts and parts[0] != "replace":
            return parts[parts.index("github.com/cs3org/reva/v3") + 1]
    raise RevaError(f"{GO_MODULE / 'go.mod'} does not require github.com/cs3org/reva/v3")


def default_binary() -> Path:
    env = os.environ.get("REVAD_BIN")
    if env:
        return Path(env)
    return REPO / "build" / f"revad-{pinned_version()}"


@dataclass
class OidcSettings:
    """Where reva's bearer (oidc) auth provider checks access tokens."""

    issuer: str
    id_claim: str = "sub"
    insecure: bool = False


@dataclass
class Revad(ManagedProcess):
    """One revad process serving gateway, auth, users, storage and data transfers."""

    name: ClassVar[str] = "revad"
    error: ClassVar[type[Exception]] = RevaError
    # revad stops gracefully on SIGINT.
    stop_signal: ClassVar[int] = signal.SIGINT

    workdir: Path
    binary: Path = field(default_factory=default_binary)
    oidc: OidcSettings | None = None
    grpc_port: int | None = None
    http_port: int | None = None
    oidc_port: int | None = None
    reva_token_ttl: int = 3600
    log_level: str = "info"
    # Where clients are sent for transfers (default: revad's own HTTP address); a TLS proxy
    # in front of it makes the transfers HTTPS.
    public_http_url: str | None = None
    # The address every endpoint listens on; a node address lets pods of a test cluster in.
    host: str = "127.0.0.1"
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self._fixed_ports = self.grpc_port is not None or self.http_port is not None
        self.grpc_port = self.grpc_port or free_port()
        self.http_port = self.http_port or free_port()
        if self.oidc is not None:
            self.oidc_port = self.oidc_port or free_port()

    # -- addresses -------------------------------------------------------------------------

    @property
    def gateway(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def webdav_url(self) -> str:
        """reva's WebDAV endpoint (ocdav): the user's home, with HTTP basic auth."""
        return f"{self.http_url}/remote.php/webdav"

    @property
    def storage_root(self) -> Path:
        return self.workdir / "storage"

    @property
    def log_path(self) -> Path:
        return self.workdir / "revad.log"

    @property
    def config_path(self) -> Path:
        return self.workdir / "revad.toml"

    # -- configuration ---------------------------------------------------------------------

    def render(self) -> Path:
        """Write revad.toml, users and groups into the work folder and return the config path."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_root.mkdir(exist_ok=True)
        idp = self.oidc.issuer if self.oidc else "http://localhost:20080"
        users = Template((HERE / "users.json").read_text()).substitute(idp=idp)
        users_file = self.workdir / "users.json"
        users_file.write_text(users)
        groups_file = self.workdir / "groups.json"
        groups_file.write_text("[]\n")
        if self.oidc is not None:
            oidc_address = f"127.0.0.1:{self.oidc_port}"
            bearer_rule = f'bearer = "{oidc_address}"'
            oidc_block = "\n".join(
                [
                    "[[grpc.services.authprovider]]",
                    f'address = "{oidc_address}"',
                    'auth_manager = "oidc"',
                    "",
                    "[grpc.services.authprovider.auth_managers.oidc]",
                    f"issuer = {json.dumps(self.oidc.issuer)}",
                    f"default_id_claim = {json.dumps(self.oidc.id_claim)}",
                    f"insecure = {'true' if self.oidc.insecure else 'false'}",
                    f'gatewaysvc = "{self.gateway}"',
                ]
            )
        else:
            bearer_rule = ""
            oidc_block = ""
        text = Template((HERE / "revad.toml.tmpl").read_text()).substitute(
            log_level=self.log_level,
            grpc_address=self.gateway,
            http_address=f"{self.host}:{self.http_port}",
            http_url=self.http_url,
            datagateway_url=f"{self.public_http_url or self.http_url}/datagateway",
            jwt_secret=secrets.token_hex(16),
            transfer_secret=secrets.token_hex(16),
            reva_token_ttl=self.reva_token_ttl,
            users_file=users_file,
            groups_file=groups_file,
            shares_db=self.workdir / "shares.db",
            storage_root=self.storage_root,
            mount_id="123e4567-e89b-12d3-a456-426655440000",
            bearer_rule=bearer_rule,
            oidc_block=oidc_block,
        )
        self.config_path.write_text(text)
        return self.config_path

    # -- life cycle ------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start revad and return once a basic Authenticate succeeds."""
        if not self.binary.exists():
            raise RevaError(f"revad binary {self.binary} is missing: run `make revad` first")
        for port in self._ports():
            if port_in_use(port):
                raise RevaError(f"cannot start revad: port {self.host}:{port} is already in use")
        self.render()
        self.spawn(
            [str(self.binary), "-c", str(self.config_path), "-p", str(self.workdir / "revad.pid")],
            cwd=self.workdir,
        )
        with grpc.insecure_channel(self.gateway) as channel:
            self.wait_ready(self._authenticate_probe(channel), timeout)

    def _ports(self) -> list[int]:
        ports = [self.grpc_port, self.http_port]
        if self.oidc_port:
            ports.append(self.oidc_port)
        return [p for p in ports if p]

    def _authenticate_probe(self, channel: grpc.Channel) -> Probe:
        stub = gateway_api_pb2_grpc.GatewayAPIStub(channel)
        request = gateway_api_pb2.AuthenticateRequest(
            type="basic", client_id="einstein", client_secret=DEMO_USERS["einstein"]
        )

        def probe() -> str | None:
            try:
                res = stub.Authenticate(request, timeout=2)
            except grpc.RpcError as err:
                return f"{err.code().name}: {err.details()}"
            if res.status.code == code_pb2.CODE_OK:
                return None
            return f"Authenticate answered {code_pb2.Code.Name(res.status.code)}: {res.status.message}"

        return probe

    def exit_reason(self, tail: str) -> str:
        reason = super().exit_reason(tail)
        if "address already in use" not in tail and "error" in tail.lower() and "config" in tail.lower():
            reason += " (its configuration was rejected)"
        return reason


def start_revad(workdir: Path, attempts: int = 3, **kwargs: object) -> Revad:
    """Start revad on fresh free ports, picking new ones if another process took them first."""

    def make(attempt: int) -> Revad:
        server = Revad(Path(workdir) / f"attempt-{attempt}", **kwargs)  # type: ignore[arg-type]
        server.start()
        return server

    return start_on_free_ports(make, RevaError, attempts)
