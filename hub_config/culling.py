"""Idle servers are stopped by jupyterhub-idle-culler, run by the hub as a service of its own.

An idle server is not free here: its pod keeps its memory request and a token refresher that
renews the user's SSO token forever. The culler asks the hub for every user's last activity
and stops the servers idle longer than `culling.timeout`; its role holds only what that needs
(and deleting users only when `culling.users` asks for it).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from hub_config.values import SettingsError, get_value

SERVICE = "idle-culler"


def _whole(key: str, default: int, values: Mapping[str, Any], minimum: int) -> int:
    value = get_value(key, default, values)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SettingsError(f"{key} must be a whole number, at least {minimum} (got {value!r})")
    return value


def culler_service(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The hub-managed culler service and its role, or None when culling is off."""
    if not get_value("culling.enabled", True, values):
        return None
    timeout = _whole("culling.timeout", 3600, values, 1)
    every = _whole("culling.every", 600, values, 1)
    max_age = _whole("culling.maxAge", 0, values, 0)
    concurrency = _whole("culling.concurrency", 10, values, 1)
    cull_users = bool(get_value("culling.users", False, values))
    command = [
        sys.executable,
        "-m",
        "jupyterhub_idle_culler",
        f"--timeout={timeout}",
        f"--cull-every={every}",
        f"--concurrency={concurrency}",
    ]
    if max_age:
        command.append(f"--max-age={max_age}")
    scopes = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
    if cull_users:
        command.append("--cull-users")
        scopes.append("admin:users")
    service = {"name": SERVICE, "command": command}
    role = {
        "name": SERVICE,
        "description": "Stop servers idle for longer than culling.timeout",
        "scopes": scopes,
        "services": [SERVICE],
    }
    return service, role
