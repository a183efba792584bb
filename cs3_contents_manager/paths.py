"""Map Jupyter API paths onto CS3 paths below a root, and never outside it.

Jupyter API paths are relative and `/`-separated. Every one of them is resolved against the
root segment by segment; anything that could step out of the root or confuse the storage
(`..`, `.`, NUL, backslashes) is refused as 404, like jupyter_server refuses paths outside
its root directory. Since the root is joined with a `/`, a sibling of the root whose name
merely starts with the root's name can never be reached.
"""

from __future__ import annotations

import string

from tornado.web import HTTPError

FORBIDDEN_CHARS = ("\x00", "\\")
# POSIX NAME_MAX and PATH_MAX, which EOS and reva's local drivers share. reva reports longer
# names only as an internal error, so they are refused here, before the storage sees them.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4096


def _utf8_length(path: str, text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        # A lone surrogate (JSON allows "\udc80"): no storage can hold such a name.
        raise HTTPError(400, f"{path!r} is not a valid file name: it is not Unicode text") from None


def split_api_path(path: str) -> list[str]:
    """The segments of an API path; 404 for anything that is not a plain relative path, 400
    for names no storage can hold (not text, or longer than a file system allows)."""
    if not isinstance(path, str):
        raise HTTPError(400, f"A path must be a string, not {type(path).__name__}")
    parts = [p for p in path.strip("/").split("/") if p]
    # A path that could leave the root is refused as such, whatever else is wrong with it.
    for part in parts:
        if part in (".", "..") or any(c in part for c in FORBIDDEN_CHARS):
            raise HTTPError(404, f"{path!r} is outside root contents directory")
    for part in parts:
        if _utf8_length(path, part) > MAX_NAME_BYTES:
            raise HTTPError(400, f"File name too long (more than {MAX_NAME_BYTES} bytes): {part[:40]}…")
    return parts


def to_cs3_path(root: str, path: str) -> str:
    parts = split_api_path(path)
    base = root.rstrip("/") or ""
    cs3_path = "/".join([base, *parts]) if parts else (base or "/")
    if len(cs3_path.encode("utf-8")) > MAX_PATH_BYTES:
        raise HTTPError(400, f"Path too long (more than {MAX_PATH_BYTES} bytes): {path[:40]}…")
    return cs3_path


def to_api_path(root: str, cs3_path: str) -> str:
    """The API path of a CS3 path below root (as ListContainer reports entries)."""
    base = root.rstrip("/")
    if cs3_path == base:
        return ""
    if not cs3_path.startswith(base + "/"):
        raise HTTPError(500, f"The storage answered with a path outside the root: {cs3_path!r}")
    return cs3_path[len(base) + 1 :]


def is_hidden_path(path: str) -> bool:
    return any(part.startswith(".") for part in path.strip("/").split("/") if part)


def expand_root(template: str, username: str) -> str:
    """Fill `{username}` (and `{username[0]}` etc.) in a root path template.

    Only the `username` field is known; a template naming anything else is a configuration
    error that must surface at start-up, not as a path with braces in it.
    """
    if not template:
        return ""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    unknown = {f.split("[")[0].split(".")[0] for f in fields} - {"username"}
    if unknown:
        raise ValueError(f"root_path {template!r} uses unknown fields {sorted(unknown)}; only {{username}}")
    if fields and not username:
        raise ValueError(f"root_path {template!r} needs a user name: set JUPYTERHUB_USER or client_id")
    if fields and ("/" in username or username in (".", "..") or "\x00" in username):
        raise ValueError(f"user name {username!r} cannot be used in a storage path")
    root = template.format(username=username)
    if not root.startswith("/") or any(p in (".", "..") for p in root.split("/")):
        raise ValueError(f"root_path must be an absolute path without . or .., got {root!r}")
    return root.rstrip("/") or "/"
