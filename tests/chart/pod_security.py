"""Pod Security Standards, judged by Kubernetes' own evaluator.

A namespace labelled `pod-security.kubernetes.io/enforce: restricted` refuses pods that break
the profile, so a site running such namespaces could not start the hub or a user's server.
The verdict comes from `build/pss-check`, built by `make pss` from tests/chart/pss: a few
lines around the evaluator of the PodSecurity admission plugin (k8s.io/pod-security-admission,
the version pinned in its go.mod), so the rules are the API server's and not a re-reading
of the documentation.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.harness.reva import REPO

GO_MODULE = REPO / "tests" / "chart" / "pss"


def pinned_version() -> str:
    """The k8s.io/pod-security-admission version in the checker's go.mod."""
    text = (GO_MODULE / "go.mod").read_text()
    match = re.search(r"k8s\.io/pod-security-admission (v\S+)", text)
    if match is None:
        raise RuntimeError(f"no k8s.io/pod-security-admission requirement in {GO_MODULE / 'go.mod'}")
    return match.group(1)


def checker() -> Path:
    return REPO / "build" / f"pss-check-{pinned_version()}"


def violations(
    pods: dict[str, dict[str, Any]], level: str = "restricted", version: str = "latest"
) -> dict[str, list[str]]:
    """`name → pod` (a Pod object: metadata and spec) to `name → "reason: detail"` for each
    control the pod breaks at `level`; an empty list means the pod is admitted."""
    binary = checker()
    if not binary.exists():
        raise RuntimeError(f"{binary} is missing: run `make pss` (`make test` builds it)")
    request = {
        "level": level,
        "version": version,
        "pods": [{"name": name, "pod": pod} for name, pod in pods.items()],
    }
    done = subprocess.run(
        [str(binary)], input=json.dumps(request).encode(), capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"pss-check failed: {done.stderr.decode(errors='replace').strip()}")
    results = json.loads(done.stdout)
    return {r["name"]: [f"{f['reason']}: {f['detail']}" for f in r["forbidden"]] for r in results}
