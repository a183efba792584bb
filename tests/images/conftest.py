"""Container logs in the report of a failed image test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    pod = getattr(item, "funcargs", {}).get("pod")
    if report.failed and pod is not None:
        for name, logs in pod.stack.logs():
            report.sections.append((f"container {name}", logs))
    return report
