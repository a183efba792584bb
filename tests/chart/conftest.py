"""Fixtures of the chart tests: the pinned helm and the objects it renders for each case.

No cluster is involved: helm renders the chart, kubernetes-validate checks the objects, and
the hub configuration and KubeSpawner run on the rendered values in this process or a child.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from traitlets.config import Config

from hub_config.kubernetes import configure_kubespawner
from tests.harness.helm import Helm

from .chart import CASES, KUBECONFIG, copy, helm_binary, render_cached

API_TOKEN = "0123456789abcdef0123456789abcdef"


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


@pytest.fixture
def kubeconfig(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.getbasetemp() / "unreachable-kubeconfig"
    path.write_text(KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
async def make_pod(kubeconfig: Path) -> AsyncIterator[Callable[..., Any]]:
    """make_pod(values, username, user_options) → (spawner, pod dict) after the hook ran."""
    from kubernetes_asyncio.client import ApiClient
    from kubespawner import KubeSpawner

    spawners: list[Any] = []
    api = ApiClient()

    async def make(
        values: dict[str, Any], username: str = "einstein", user_options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        config = Config()
        configure_kubespawner(config, values)
        user = SimpleNamespace(name=username, id=7, url=f"/user/{username}/")
        hub = SimpleNamespace(
            api_url=values["hub"]["hubConnectUrl"] + "/hub/api",
            public_host="",
            url=values["hub"]["hubConnectUrl"] + "/hub/",
            base_url="/",
        )
        spawner = KubeSpawner(config=config, user=user, hub=hub, _mock=True)
        spawners.append(spawner)
        spawner.api_token = API_TOKEN
        if user_options is not None:
            # What the spawn form posts, applied as KubeSpawner's _start applies it.
            spawner.user_options = user_options
            await spawner.load_user_options()
        pod = await spawner.get_pod_manifest()
        pod = spawner.modify_pod_hook(spawner, pod)
        return spawner, api.sanitize_for_serialization(pod)

    yield make
    await api.close()
    for spawner in spawners:
        await spawner.api.api_client.close()
