"""How a kernel learns where the user's CS3 files are, without the user configuring anything.

The contents manager puts its own settings into the server's environment as `FSSPEC_CS3`, a
JSON object: fsspec reads `FSSPEC_<PROTOCOL>` at import and passes it to the filesystem's
constructor, and kernels inherit the server's environment. Only where the files are and which
file holds the token go there, never a secret: the kernel reads the token file itself, as
the server does. `CS3FS_NOTEBOOK`, set per kernel by `kernels.CS3SessionManager`, names the
notebook (its path as the file browser shows it), so relative `cs3://` paths mean "next to
the notebook".
"""

from __future__ import annotations

import json
import os
from collections.abc import MutableMapping
from typing import Any

from ..paths import expand_root

FSSPEC_ENV = "FSSPEC_CS3"
NOTEBOOK_ENV = "CS3FS_NOTEBOOK"


def kernel_settings(manager: Any) -> dict[str, Any] | None:
    """The `CS3FileSystem` keyword arguments that reach the same storage, as the same user, as
    the contents manager `manager`; None where the manager logs in with a secret in its
    configuration (`client_secret`), which must not be copied into every kernel's environment."""
    if not manager.token_path:
        return None
    return {
        "host": manager.host,
        "token_path": os.path.abspath(manager.token_path),
        "login_type": manager.auth_login_type,
        "client_id": manager.client_id,
        # Expanded here so the kernel's root is the server's even where the template names a
        # user the kernel's environment does not.
        "root": expand_root(manager.root_path, manager.client_id),
        "ssl": bool(manager.ssl_enabled),
        "ca_file": manager.ssl_ca_file or None,
        "tus": bool(manager.tus_enabled),
        "token_validity": float(manager.authtokenvalidity),
        "call_timeout": float(manager.call_timeout),
        "list_timeout": float(max(manager.list_timeout, manager.call_timeout)),
    }


def export(settings: dict[str, Any], environ: MutableMapping[str, str] = os.environ) -> None:
    """Put `settings` into `environ` as FSSPEC_CS3, keeping what a site set there for keys the
    server does not decide (a `spool_dir`, say)."""
    current: dict[str, Any] = {}
    try:
        loaded = json.loads(environ.get(FSSPEC_ENV, "") or "{}")
        if isinstance(loaded, dict):
            current = loaded
    except ValueError:
        pass
    environ[FSSPEC_ENV] = json.dumps({**current, **settings})
