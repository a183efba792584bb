"""The chart README's values reference matches values.schema.json and values.yaml."""

from __future__ import annotations

from .reference import current, rows, section


def test_values_reference_is_up_to_date() -> None:
    assert current() == section(), (
        "the values reference is stale: run `.venv/bin/python -m tests.chart.reference`"
    )


def test_values_reference_covers_the_site_keys() -> None:
    from .reference import load

    keys = {row[0] for row in rows(*load())}
    for key in (
        "cs3.gateway",
        "cs3.rootPath",
        "limits.maxUploadSizeMb",
        "sso.issuer",
        "sso.existingSecret.name",
        "tokenRefresher.margin",
        "singleuser.extraEnv",
        "ingress.tls.enabled",
        "networkPolicy.reva.cidrs",
        "existingSecret",
    ):
        assert key in keys
