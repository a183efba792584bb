"""The hub stops only once the token refreshes in flight are saved.

On SIGTERM JupyterHub cleans up and then cancels every task of its event loop. A refresh
cancelled after the provider answered is lost: providers that rotate refresh tokens have
already retired the one in the database, refuse it at the next refresh (and, detecting a
reuse, revoke the whole grant), so the user's storage access ends until they log in again.
That happens on every hub restart that falls on a refresh: an upgrade, a deleted or evicted
pod. So the signal first stops new refreshes, waits (bounded) for those in flight, and only
then hands over to JupyterHub's own shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger("JupyterHub")


class RefreshDrain:
    """Critical sections (provider exchange, then save) that a shutdown waits for."""

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = timeout
        self.draining = False
        self._inflight: set[asyncio.Task[Any]] = set()
        self._installed = False

    async def run(self, work: Awaitable[T]) -> T:
        """Run `work` to its end even if the request that started it is cancelled."""
        self._install()
        task = asyncio.ensure_future(work)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    def _install(self) -> None:
        """Put the drain in front of JupyterHub's own signal handlers (set up by its start)."""
        if self._installed:
            return
        self._installed = True
        from jupyterhub.app import JupyterHub

        if not JupyterHub.initialized():
            return  # not inside a running hub (a test of the authenticator alone)
        app = JupyterHub.instance()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(
                sig, lambda sig=sig: asyncio.ensure_future(self._drain_then_stop(app, sig))
            )

    async def _drain_then_stop(self, app: Any, sig: signal.Signals) -> None:
        if self.draining:
            return
        self.draining = True
        pending = [task for task in self._inflight if not task.done()]
        if pending:
            log.info("Received %s: saving %d token refresh(es) in flight first", sig.name, len(pending))
            _, late = await asyncio.wait(pending, timeout=self.timeout)
            if late:
                log.warning(
                    "%d token refresh(es) still in flight after %g s; stopping anyway",
                    len(late),
                    self.timeout,
                )
        await app.shutdown_cancel_tasks(sig)
