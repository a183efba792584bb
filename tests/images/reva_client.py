"""Talk CS3 to the containerised reva from the test process, through its published ports.

reva hands out data-gateway URLs for its name on the docker network (http://reva:19001/…),
which the host cannot resolve; `public_http` maps them onto the published HTTP port. Apart
from that rewrite these are the ordinary CS3 calls: Authenticate, Stat, InitiateFileUpload
and InitiateFileDownload with the `simple` protocol.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import grpc
import httpx
from cs3.gateway.v1beta1 import gateway_api_pb2, gateway_api_pb2_grpc
from cs3.rpc.v1beta1 import code_pb2
from cs3.storage.provider.v1beta1 import provider_api_pb2, resources_pb2


class RevaClientError(RuntimeError):
    pass


@dataclass
class RevaClient:
    grpc_address: str  # 127.0.0.1:<published 19000>
    public_http: str  # http://127.0.0.1:<published 19001>
    user: str
    password: str

    def __post_init__(self) -> None:
        self.channel = grpc.insecure_channel(self.grpc_address)
        self.stub = gateway_api_pb2_grpc.GatewayAPIStub(self.channel)
        self.token = ""

    def close(self) -> None:
        self.channel.close()

    def _check(self, op: str, status: object) -> None:
        if status.code != code_pb2.CODE_OK:  # type: ignore[attr-defined]
            name = code_pb2.Code.Name(status.code)  # type: ignore[attr-defined]
            raise RevaClientError(f"{op}: {name} {status.message}")  # type: ignore[attr-defined]

    def login(self, timeout: float = 60.0) -> None:
        """Authenticate (basic), retried until reva answers or the timeout passes."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        while time.monotonic() < deadline:
            try:
                res = self.stub.Authenticate(
                    gateway_api_pb2.AuthenticateRequest(
                        type="basic", client_id=self.user, client_secret=self.password
                    ),
                    timeout=5,
                )
                if res.status.code == code_pb2.CODE_OK:
                    self.token = res.token
                    return
                last = f"{code_pb2.Code.Name(res.status.code)}: {res.status.message}"
            except grpc.RpcError as err:
                last = f"{err.code().name}: {err.details()}"
            time.sleep(0.5)
        raise RevaClientError(f"reva did not accept a basic login within {timeout:.0f} s ({last})")

    @property
    def _meta(self) -> list[tuple[str, str]]:
        return [("x-access-token", self.token)]

    def home(self) -> str:
        res = self.stub.GetHome(provider_api_pb2.GetHomeRequest(), metadata=self._meta, timeout=20)
        self._check("GetHome", res.status)
        return res.path

    def stat(self, path: str) -> resources_pb2.ResourceInfo:
        res = self.stub.Stat(
            provider_api_pb2.StatRequest(ref=resources_pb2.Reference(path=path)),
            metadata=self._meta,
            timeout=20,
        )
        self._check(f"Stat {path}", res.status)
        return res.info

    def _public(self, endpoint: str) -> str:
        parts = urlsplit(endpoint)
        public = urlsplit(self.public_http)
        return urlunsplit((public.scheme, public.netloc, parts.path, parts.query, parts.fragment))

    def _protocol(self, protocols: object, op: str) -> object:
        for proto in protocols:  # type: ignore[attr-defined]
            if proto.protocol == "simple":
                return proto
        raise RevaClientError(f"{op}: reva offered no simple protocol")

    def upload(self, path: str, data: bytes) -> None:
        res = self.stub.InitiateFileUpload(
            provider_api_pb2.InitiateFileUploadRequest(ref=resources_pb2.Reference(path=path)),
            metadata=self._meta,
            timeout=20,
        )
        self._check(f"InitiateFileUpload {path}", res.status)
        proto = self._protocol(res.protocols, "upload")
        reply = httpx.put(
            self._public(proto.upload_endpoint),  # type: ignore[attr-defined]
            content=data,
            headers={"X-Reva-Transfer": proto.token, "x-access-token": self.token},  # type: ignore[attr-defined]
            timeout=30,
        )
        if reply.status_code not in (200, 201, 204):
            raise RevaClientError(f"upload {path}: HTTP {reply.status_code} {reply.text[:200]}")

    def download(self, path: str) -> bytes:
        res = self.stub.InitiateFileDownload(
            provider_api_pb2.InitiateFileDownloadRequest(ref=resources_pb2.Reference(path=path)),
            metadata=self._meta,
            timeout=20,
        )
        self._check(f"InitiateFileDownload {path}", res.status)
        proto = self._protocol(res.protocols, "download")
        reply = httpx.get(
            self._public(proto.download_endpoint),  # type: ignore[attr-defined]
            headers={"X-Reva-Transfer": proto.token, "x-access-token": self.token},  # type: ignore[attr-defined]
            timeout=30,
        )
        if reply.status_code != 200:
            raise RevaClientError(f"download {path}: HTTP {reply.status_code} {reply.text[:200]}")
        return reply.content
