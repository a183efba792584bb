"""The cluster of the tests in this folder: one per test module, stopped at the module's end
so that the rest of the run does not share the machine with it (it starts in about 12 s; two
never run at once, kube-proxy and kube-router own the host's KUBE-* chains)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .cluster import Binaries, Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("a Kubernetes node needs root (mounts, cgroups, network namespaces, iptables)")
    missing = Binaries().missing()
    if missing:
        pytest.fail(
            f"{len(missing)} cluster binaries are missing, e.g. {missing[0]}: run `make cluster-binaries`",
            pytrace=False,
        )
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
