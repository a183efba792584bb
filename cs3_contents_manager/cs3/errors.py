"""CS3 failures as exceptions that carry the HTTP status a Jupyter user should see.

reva answers most failures inside a successful gRPC call (`status.code` in the response),
and some as a failed call (the channel is down, a deadline passed). Both end up here so the
layers above map one exception type to one HTTP status, and never mistake "reva is down" or
"permission denied" for "file not found".
"""

from __future__ import annotations

import grpc
from cs3.rpc.v1beta1 import code_pb2


class CS3Error(Exception):
    """Base class: `http_status` is what the contents API answers, `str()` what the user reads."""

    http_status = 500

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        cs3_code: str | None = None,
        reason: str = "",
        detail: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.cs3_code = cs3_code
        # The message without the storage path, so callers can name the path the user knows.
        self.reason = reason or message
        # reva's own text, for callers that know how to read it (share conflicts carry JSON).
        self.detail = detail


class InvalidArgument(CS3Error):
    http_status = 400


class SessionExpired(CS3Error):
    """The storage refused our credentials: the OAuth token expired or was revoked."""

    http_status = 401


class TokenRejected(SessionExpired):
    """reva's auth interceptor refused the token itself (expired, or signed with other keys):
    a gRPC-level UNAUTHENTICATED or PERMISSION_DENIED, as opposed to a status in a response."""


class PermissionDenied(CS3Error):
    http_status = 403


class NotFound(CS3Error):
    http_status = 404


class AlreadyExists(CS3Error):
    http_status = 409


class PreconditionFailed(CS3Error):
    """The file changed on the storage since it was read (lost-update protection)."""

    http_status = 409


class Locked(CS3Error):
    http_status = 423


class InsufficientStorage(CS3Error):
    http_status = 507


class Unavailable(CS3Error):
    """reva is down, unreachable, or did not answer in time."""

    http_status = 503


class Unsupported(CS3Error):
    """The storage behind reva does not implement the operation (locks on localhome, say)."""

    http_status = 501


_BY_CODE: dict[int, type[CS3Error]] = {
    code_pb2.CODE_NOT_FOUND: NotFound,
    code_pb2.CODE_PERMISSION_DENIED: PermissionDenied,
    code_pb2.CODE_ALREADY_EXISTS: AlreadyExists,
    code_pb2.CODE_LOCKED: Locked,
    code_pb2.CODE_INSUFFICIENT_STORAGE: InsufficientStorage,
    code_pb2.CODE_RESOURCE_EXHAUSTED: InsufficientStorage,
    code_pb2.CODE_UNAVAILABLE: Unavailable,
    code_pb2.CODE_DEADLINE_EXCEEDED: Unavailable,
    code_pb2.CODE_UNAUTHENTICATED: SessionExpired,
    code_pb2.CODE_INVALID_ARGUMENT: InvalidArgument,
    code_pb2.CODE_FAILED_PRECONDITION: PreconditionFailed,
    code_pb2.CODE_ABORTED: PreconditionFailed,
    code_pb2.CODE_UNIMPLEMENTED: Unsupported,
}

_BY_GRPC: dict[grpc.StatusCode, type[CS3Error]] = {
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: Unavailable,
    grpc.StatusCode.CANCELLED: Unavailable,
    grpc.StatusCode.UNAUTHENTICATED: TokenRejected,
    grpc.StatusCode.PERMISSION_DENIED: TokenRejected,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNIMPLEMENTED: Unsupported,
    grpc.StatusCode.RESOURCE_EXHAUSTED: InsufficientStorage,
}

_WHAT: dict[type[CS3Error], str] = {
    NotFound: "No such file or directory",
    PermissionDenied: "Permission denied",
    AlreadyExists: "File already exists",
    PreconditionFailed: "The file was changed on the storage in the meantime",
    Locked: "The file is locked",
    InsufficientStorage: "Not enough space left on the storage (quota exceeded?)",
    Unavailable: "The storage service is unavailable; try again in a moment",
    SessionExpired: "The storage session expired; log in again or wait for the token to be refreshed",
    TokenRejected: "The storage session expired; log in again or wait for the token to be refreshed",
    InvalidArgument: "The storage rejected the request",
    Unsupported: "The storage does not support this operation",
}


def _reason(cls: type[CS3Error], op: str, detail: str) -> str:
    if cls is CS3Error:
        return f"Storage error during {op} ({detail or 'no details'})"
    return _WHAT[cls]


def _make(cls: type[CS3Error], op: str, path: str | None, detail: str, code: str) -> CS3Error:
    reason = _reason(cls, op, detail)
    message = f"{reason}: {path}" if path else reason
    return cls(message, path=path, cs3_code=code, reason=reason, detail=detail)


def from_status(status: object, op: str, path: str | None = None) -> CS3Error:
    """Turn a non-OK `cs3.rpc.v1beta1.Status` into the matching exception."""
    code = getattr(status, "code", code_pb2.CODE_UNKNOWN)
    message = getattr(status, "message", "")
    cls = _BY_CODE.get(code, CS3Error)
    name = code_pb2.Code.Name(code) if code in code_pb2.Code.values() else str(code)
    return _make(cls, op, path, message, name)


def from_rpc_error(err: grpc.RpcError, op: str, path: str | None = None) -> CS3Error:
    """Turn a failed gRPC call (channel down, deadline) into the matching exception."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    problem = tls_problem(details or "")
    if code == grpc.StatusCode.UNAVAILABLE and problem:
        return untrusted(op, path, problem)
    cls = _BY_GRPC.get(code, CS3Error)
    return _make(cls, op, path, details or "", code.name)


def tls_problem(details: str) -> str | None:
    """What went wrong in a TLS handshake with the gateway, from gRPC's error details."""
    if "Hostname Verification" in details:
        return "its certificate does not name the gateway's host"
    if "CERTIFICATE_VERIFY_FAILED" in details:
        reason = details.split("CERTIFICATE_VERIFY_FAILED", 1)[1].strip(": ").split(":")[0].strip()
        return f"certificate verify failed: {reason}" if reason else "certificate verify failed"
    if "handshake failed" in details.lower():
        return "the TLS handshake failed"
    return None


def untrusted(op: str, path: str | None, problem: str) -> Unavailable:
    """The gateway's certificate was refused: an admin's setting to fix, not a passing outage."""
    reason = (
        f"The storage's TLS certificate was not accepted during {op} ({problem}); "
        "ssl_ca_file must name the CA that signed it"
    )
    message = f"{reason}: {path}" if path else reason
    return Unavailable(message, path=path, cs3_code="UNAVAILABLE", reason=reason)


def from_http(status: int, op: str, path: str, body: str) -> CS3Error:
    """Turn a failed data-gateway transfer into the matching exception."""
    cls = _BY_HTTP.get(status, CS3Error)
    return _make(cls, op, path, f"HTTP {status}: {body.strip()[:200]}", f"HTTP {status}")


def unavailable(op: str, path: str, cause: BaseException) -> Unavailable:
    """A transfer that could not reach the data gateway, or was cut off mid-way."""
    reason = f"{_WHAT[Unavailable]} ({op} failed: {type(cause).__name__})"
    return Unavailable(f"{reason}: {path}", path=path, cs3_code="UNAVAILABLE", reason=reason)


_BY_HTTP: dict[int, type[CS3Error]] = {
    400: InvalidArgument,
    401: SessionExpired,
    403: PermissionDenied,
    404: NotFound,
    409: AlreadyExists,
    412: PreconditionFailed,
    413: InsufficientStorage,
    423: Locked,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
    507: InsufficientStorage,
}
