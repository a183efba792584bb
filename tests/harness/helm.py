"""Run the pinned helm (built by `make helm` into build/) on the chart, without a cluster.

    helm = Helm()                       # the binary the Makefile pins, or $HELM_BIN
    docs = helm.template(values_files=[path], kube_version="1.29.0")
    helm.run("lint", "--strict", str(CHART))

`template` returns the rendered objects as dicts; a failing helm raises HelmError with its
stderr (schema violations, `fail` messages) in the message.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .reva import REPO

CHART = REPO / "helm" / "cs3-jupyterhub"
MAKEFILE = REPO / "Makefile"


class HelmError(RuntimeError):
    """helm exited non-zero; the message holds its output."""

    def __init__(self, message: str, *, stdout: str = "", stderr: str = "") -> None:
        super().__init__(message)
        self.stdout = stdout
        self.stderr = stderr


def pinned_version() -> str:
    match = re.search(r"^HELM_VERSION\s*:?=\s*(\S+)", MAKEFILE.read_text(), re.MULTILINE)
    if not match:
        raise HelmError(f"{MAKEFILE} pins no HELM_VERSION")
    return match.group(1)


def default_binary() -> Path:
    env = os.environ.get("HELM_BIN")
    if env:
        return Path(env)
    return REPO / "build" / f"helm-{pinned_version()}"


@dataclass
class Helm:
    binary: Path | None = None
    chart: Path = CHART
    timeout: float = 120.0

    def __post_init__(self) -> None:
        self.binary = Path(self.binary or default_binary())

    @property
    def available(self) -> bool:
        return self.binary is not None and self.binary.is_file() and os.access(self.binary, os.X_OK)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """helm with the given arguments; HelmError unless it exits 0."""
        cmd = [str(self.binary), *args]
        # No user's helm or kube configuration leaks in: caches and config live in build/.
        home = REPO / "build" / "helm-home"
        base = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(home),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "KUBECONFIG": str(home / "no-kubeconfig"),
        }
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            env={**base, **(env or {})},
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if proc.returncode != 0:
            raise HelmError(
                f"{' '.join(cmd[1:3])} exited with {proc.returncode}:\n{proc.stderr.strip()}",
                stdout=proc.stdout,
                stderr=proc.stderr,
            )
        return proc

    def template_args(
        self,
        values_files: list[Path] | tuple[Path, ...] = (),
        set_values: dict[str, Any] | None = None,
        release: str = "hub",
        namespace: str = "jupyter",
        kube_version: str | None = None,
    ) -> list[str]:
        args = [release, str(self.chart), "--namespace", namespace]
        for path in values_files:
            args += ["--values", str(path)]
        for key, value in (set_values or {}).items():
            if isinstance(value, str):
                args += ["--set-string", f"{key}={value}"]
            else:
                args += ["--set-json", f"{key}={json.dumps(value)}"]
        if kube_version:
            args += ["--kube-version", kube_version]
        return args

    def template(
        self, values_files: list[Path] | tuple[Path, ...] = (), **kwargs: Any
    ) -> list[dict[str, Any]]:
        """`helm template`: the rendered objects."""
        proc = self.run("template", *self.template_args(values_files, **kwargs))
        return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
