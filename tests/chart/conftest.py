"""Fixtures of the chart tests: the pinned helm and the objects it renders for each case.

No cluster is involved: helm renders the chart, kubernetes-validate checks the objects, and
the hub configuration and KubeSpawner run on the rendered values in this process or a child.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.harness.helm import Helm

from .chart import CASES, copy, helm_binary, render_cached


@pytest.fixture(scope="session")
def helm() -> Helm:
    helm = helm_binary()
    if not helm.available:
        pytest.fail(f"{helm.binary} is missing: run `make helm` (`make test` builds it)", pytrace=False)
    return helm


@pytest.fixture(scope="session")
def render(helm: Helm) -> Callable[..., list[dict[str, Any]]]:
    """render(case, kube_version=None): the objects `helm template` renders for a case (a
    fresh copy of a cached rendering)."""

    def render(case: str, kube_version: str | None = None) -> list[dict[str, Any]]:
        return [copy(doc) for doc in render_cached(case, kube_version)]

    return render


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> str:
    """Every case: the default values and each realistic values file."""
    return request.param


@pytest.fixture(params=[case for case in CASES if case != "default"])
def site_case(request: pytest.FixtureRequest) -> str:
    """The realistic values files only."""
    return request.param
