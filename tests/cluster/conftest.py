"""The cluster of the tests in this folder: one for the whole run (kube-proxy owns the host's
KUBE-* chains, so two cannot run at once), started by the first test that needs it."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .cluster import Binaries, Cluster


@pytest.fixture(scope="session")
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
