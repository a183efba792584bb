"""The cluster of the tests in this folder, with the site (reva and the identity provider) and
the chart's release in it: one for the whole folder, stopped at its end so that the rest of the
run does not share the machine with it (two never run at once: kube-proxy and kube-router own
the host's KUBE-* chains). The release is installed by the first test that needs it; modules
run in file order (test_admin_values, test_chart, test_cluster_up) and each leaves the release
with the values it found (test_chart's last test uninstalls it)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from .cluster import Binaries, Cluster
from .hub_api import ADMIN_VALUES
from .release import Release, image, import_project_images
from .site import Site, start_site


@pytest.fixture(scope="package")
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


@pytest.fixture(scope="package")
def images(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The project's images and the site's reva image, built and imported into containerd."""
    return import_project_images(cluster, tmp_path_factory.mktemp("images"))


@pytest.fixture(scope="package")
def site(
    cluster: Cluster, images: dict[str, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    started = time.monotonic()
    try:
        site = start_site(cluster, tmp_path_factory.mktemp("site"), image("proxy"), image("test-reva"))
    except Exception as err:
        raise AssertionError(f"{err}\n{cluster.logs('kubelet')}") from err
    images["site"] = round(time.monotonic() - started)
    try:
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="package")
def release(
    cluster: Cluster, images: dict[str, int], site: Site, tmp_path_factory: pytest.TempPathFactory
) -> Release:
    release = Release(cluster, site, tmp_path_factory.mktemp("release"))
    release.prepare()
    try:
        seconds = release.install(ADMIN_VALUES)
    except Exception as err:
        raise AssertionError(f"{err}\n{release.describe()}") from err
    print(f"images, site and install: {images}, helm install {seconds:.0f} s")
    return release
