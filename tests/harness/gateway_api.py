"""The Gateway API's own CRDs, from its Go module: the HTTPRoute schema the chart's route is
checked against, and the CRD the test cluster installs.

kubernetes-validate knows only built-in kinds; the CRD YAML ships in the module zip of
sigs.k8s.io/gateway-api, which the Go module proxy serves (`go mod download` caches it).
"""

from __future__ import annotations

import copy
import json
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

MODULE = "sigs.k8s.io/gateway-api"
VERSION = "v1.6.3"


@cache
def module_dir() -> Path:
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{VERSION}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go mod download {MODULE}@{VERSION} failed: {proc.stdout}{proc.stderr}")
    return Path(json.loads(proc.stdout)["Dir"])


def crd_path(plural: str = "httproutes") -> Path:
    return module_dir() / "config" / "crd" / "standard" / f"gateway.networking.k8s.io_{plural}.yaml"


@cache
def _schema(plural: str, version: str) -> dict[str, Any]:
    crd = yaml.safe_load(crd_path(plural).read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return _closed(copy.deepcopy(served["schema"]["openAPIV3Schema"]))


def _closed(node: Any) -> Any:
    """Unknown fields are errors, as `kubectl apply --validate=strict` makes them."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
            node["properties"].setdefault("apiVersion", {"type": "string"})
            node["properties"].setdefault("kind", {"type": "string"})
            node["properties"].setdefault("metadata", {"type": "object"})
        for value in node.values():
            _closed(value)
    elif isinstance(node, list):
        for value in node:
            _closed(value)
    return node


def validate(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if `doc` does not match its Gateway API kind."""
    group, version = doc["apiVersion"].split("/")
    assert group == "gateway.networking.k8s.io", doc["apiVersion"]
    plural = doc["kind"].lower() + "s"
    jsonschema.validate(doc, _schema(plural, version))
