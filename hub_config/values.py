"""One reader for the hub's settings: the chart's values mounted as a file, or a local YAML.

Like zero-to-jupyterhub, the hub gets the whole values tree (from a Secret in Kubernetes,
from `make run`'s YAML locally) and reads it through `get_value("sso.issuer")`, so the chart
and the local stack configure the hub through one code path.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PATH = "/usr/local/etc/jupyterhub/values.yaml"
_MISSING = object()


class SettingsError(RuntimeError):
    """A required setting is missing or malformed; the message names it."""


@cache
def load_values(path: str | None = None) -> dict[str, Any]:
    path = path or os.environ.get("CS3HUB_VALUES", DEFAULT_PATH)
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as err:
        raise SettingsError(f"hub settings file {path} does not exist (set CS3HUB_VALUES)") from err
    if not isinstance(data, dict):
        raise SettingsError(f"hub settings file {path} must hold a mapping")
    return data


def get_value(key: str, default: Any = _MISSING, values: dict[str, Any] | None = None) -> Any:
    """`get_value("sso.clientId")`: a dotted path into the settings; missing → default or error."""
    node: Any = load_values() if values is None else values
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node or node[part] is None:
            if default is _MISSING:
                raise SettingsError(f"hub setting {key!r} is required")
            return default
        node = node[part]
    return node


def read_secret(key: str, values: dict[str, Any] | None = None) -> str:
    """A secret given inline (`<key>`) or, preferably, as a file (`<key>File`)."""
    path = get_value(f"{key}File", None, values)
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as err:
            raise SettingsError(f"cannot read {key}File {path}: {err.strerror}") from err
    value = get_value(key, None, values)
    if not value:
        raise SettingsError(f"hub setting {key!r} (or {key}File) is required")
    return str(value)
