"""Sending fuzzed requests the way a browser would, and judging the answers like a user would."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any
from urllib.parse import quote

import httpx

# Names reva's local drivers and EOS can hold (POSIX NAME_MAX / PATH_MAX, in UTF-8 bytes).
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096


def segment_url(segment: str) -> str:
    """Percent-encode one path segment. Dots are encoded too, so `.` and `..` reach the server
    as written instead of being folded away by the client; lone surrogates go out as the bytes
    Python's `surrogatepass` gives them (invalid UTF-8, as a broken client would send)."""
    raw = segment.encode("utf-8", "surrogatepass")
    return quote(raw, safe="").replace(".", "%2E")


def contents_url(segments: list[str], suffix: str = "") -> str:
    return "/api/contents/" + "/".join(segment_url(s) for s in segments) + suffix


def json_body(model: Any) -> bytes:
    """JSON with `\\uXXXX` escapes, so lone surrogates travel as JSON allows."""
    return json.dumps(model, ensure_ascii=True).encode("ascii")


def send(
    client: httpx.Client,
    stats: Counter[str],
    method: str,
    url: str,
    body: bytes | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    res = client.request(method, url, content=body, params=params)
    stats[f"HTTP {res.status_code}"] += 1
    stats[f"{method} {res.status_code // 100}xx"] += 1
    return res


def error_message(res: httpx.Response) -> str:
    """The message a user reads in JupyterLab's error dialog."""
    try:
        body = res.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body.get("message") or ""
    # jupyter_server's GET handler answers a missing file with plain text (its `_finish_error`),
    # still labelled application/json; JupyterLab shows that text as it is.
    if res.request.method == "GET" and res.status_code == 404:
        return res.text
    return ""


def assert_user_error(res: httpx.Response, root: str, what: str) -> str:
    """A 4xx with a message a user understands: present, no traceback, and naming paths as the
    user knows them (relative to the Jupyter root), never the storage layout behind it."""
    assert 400 <= res.status_code < 500, f"{what}: HTTP {res.status_code} {res.text[:300]}"
    assert "json" in res.headers.get("content-type", ""), f"{what}: {res.headers.get('content-type')}"
    message = error_message(res)
    assert message.strip(), f"{what}: HTTP {res.status_code} without a message: {res.text[:300]}"
    assert "Traceback" not in message, f"{what}: {message[:300]}"
    assert root not in message, f"{what}: the message shows the storage path: {message[:300]}"
    return message


def assert_not_server_error(res: httpx.Response, what: str) -> None:
    assert res.status_code < 500, f"{what}: HTTP {res.status_code} {res.text[:400]}"


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def is_text(text: str) -> bool:
    """Unicode text that UTF-8 can carry (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def upstream_unhandled(method: str, body: bytes) -> bool:
    """Whether jupyter_server's handler (2.21.1) may answer 500 "Unhandled error" for this body
    before any contents manager runs: bodies that are not UTF-8 (`get_json_body` decodes them
    outside its `try`), JSON that is not an object (`model.get`), or a `type` that cannot be
    hashed (`model.get("type") not in {...}`)."""
    if not body.strip():
        return False
    try:
        model = json.loads(body.strip().decode("utf-8"))
    except UnicodeDecodeError:
        return True
    except ValueError:
        return False
    if method == "PATCH":
        return model is not None and not isinstance(model, dict)
    if not model:
        return False
    if not isinstance(model, dict):
        return True
    return isinstance(model.get("type"), (list, dict))
