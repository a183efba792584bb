"""The gRPC side of CS3: one long-lived channel to the reva gateway and a careful call helper.

Every call has a deadline; calls that are safe to repeat are retried with backoff when the
channel is UNAVAILABLE (reva restarting, a connection reset); a call rejected as
UNAUTHENTICATED is repeated once with a fresh reva token. Everything else becomes a CS3Error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cs3.gateway.v1beta1 import gateway_api_pb2, gateway_api_pb2_grpc
from cs3.rpc.v1beta1 import code_pb2

from ..metrics import CALL_DURATION, CALL_ERRORS
from . import errors
from .auth import RevaSession

log = logging.getLogger(__name__)

# Large enough for a ListContainer answer of 100k entries (a few hundred bytes each).
MAX_MESSAGE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class ChannelSettings:
    host: str
    ssl_enabled: bool = False
    ca_file: str | None = None
    call_timeout: float = 30.0
    list_timeout: float = 120.0
    retries: int = 4
    backoff: float = 0.25


def make_channel(settings: ChannelSettings) -> grpc.aio.Channel:
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
        # grpc-go servers answer pings more frequent than every 5 minutes with GOAWAY
        # (too_many_pings) by default, so keepalive stays at that interval.
        ("grpc.keepalive_time_ms", 300_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.enable_retries", 0),
    ]
    if settings.ssl_enabled:
        root = Path(settings.ca_file).read_bytes() if settings.ca_file else None
        return grpc.aio.secure_channel(settings.host, grpc.ssl_channel_credentials(root), options)
    return grpc.aio.insecure_channel(settings.host, options)


class GatewayClient:
    """Calls on the reva gateway, authenticated by a RevaSession."""

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings
        self._channel: grpc.aio.Channel | None = None
        self._stub: gateway_api_pb2_grpc.GatewayAPIStub | None = None
        self.session: RevaSession | None = None

    @property
    def stub(self) -> gateway_api_pb2_grpc.GatewayAPIStub:
        # Created on first use: a grpc.aio channel binds to the running event loop.
        if self._stub is None:
            self._channel = make_channel(self.settings)
            self._stub = gateway_api_pb2_grpc.GatewayAPIStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        self._channel = None
        self._stub = None

    async def authenticate(self, login_type: str, client_id: str, secret: str) -> str:
        """Exchange a secret for a reva token (the AuthenticateFn of RevaSession)."""
        req = gateway_api_pb2.AuthenticateRequest(type=login_type, client_id=client_id, client_secret=secret)
        res = await self._invoke("Authenticate", req, metadata=(), idempotent=True, op="login", path=None)
        if res.status.code != code_pb2.CODE_OK:
            if res.status.code in (code_pb2.CODE_UNAUTHENTICATED, code_pb2.CODE_PERMISSION_DENIED):
                raise errors.SessionExpired(
                    f"The storage session expired: reva refused the credentials of {client_id} "
                    f"({login_type}); log in again or wait for the token to be refreshed"
                )
            raise errors.from_status(res.status, "login")
        return res.token

    async def call(
        self,
        method: str,
        request: Any,
        *,
        idempotent: bool,
        op: str,
        path: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call `method` as the session's user and return the response whose status is OK."""
        if self.session is None:
            raise RuntimeError("GatewayClient.session must be set before authenticated calls")
        token = await self.session.token()
        for attempt in range(2):
            try:
                res = await self._invoke(
                    method,
                    request,
                    metadata=(("x-access-token", token),),
                    idempotent=idempotent,
                    op=op,
                    path=path,
                    timeout=timeout,
                )
                if res.status.code != code_pb2.CODE_OK:
                    raise errors.from_status(res.status, op, path)
                return res
            except errors.SessionExpired:
                # Refused by reva's auth interceptor or answered UNAUTHENTICATED: the call did
                # not run, so one repeat with a new login is safe.
                if attempt:
                    raise
                log.info("Storage rejected the session during %s; logging in again", op)
                token = await self.session.refresh(token)
        raise AssertionError("unreachable")

    async def _invoke(
        self,
        method: str,
        request: Any,
        *,
        metadata: tuple[tuple[str, str], ...],
        idempotent: bool,
        op: str,
        path: str | None,
        timeout: float | None = None,
    ) -> Any:
        rpc = getattr(self.stub, method)
        attempts = self.settings.retries + 1 if idempotent else 1
        delay = self.settings.backoff
        duration = CALL_DURATION.labels(method)
        for attempt in range(attempts):
            started = time.perf_counter()
            try:
                res = await rpc(request, metadata=metadata, timeout=timeout or self.settings.call_timeout)
            except grpc.aio.AioRpcError as err:
                duration.observe(time.perf_counter() - started)
                CALL_ERRORS.labels(method, err.code().name).inc()
                # A refused certificate stays refused: no point in asking again.
                retry = not errors.tls_problem(err.details() or "")
                if err.code() == grpc.StatusCode.UNAVAILABLE and retry and attempt + 1 < attempts:
                    log.warning("Storage unavailable during %s (attempt %d); retrying", op, attempt + 1)
                    await asyncio.sleep(delay)
                    delay *= 2
                    continue
                raise errors.from_rpc_error(err, op, path) from None
            duration.observe(time.perf_counter() - started)
            code = res.status.code
            if code != code_pb2.CODE_OK:
                CALL_ERRORS.labels(method, _code_name(code)).inc()
            return res
        raise AssertionError("unreachable")


def _code_name(code: int) -> str:
    """The CS3 code's name; a number this version of the stubs does not know is CODE_UNKNOWN,
    so the label keeps to a fixed set."""
    return code_pb2.Code.Name(code) if code in code_pb2.Code.values() else "CODE_UNKNOWN"
