"""jupyter_server's `/metrics`, readable by a JupyterHub scrape token as well.

jupyter_server serves its Prometheus metrics (the contents manager's `cs3_*` among them) to
whoever is logged in to the server. Under JupyterHub that means a token with `access:servers`
for the user, which also lets its holder run code as the user: far too much for Prometheus.
This handler also admits a hub token whose scopes hold `read:metrics`, the hub's own scope for
reading its metrics, so one scrape token with that scope alone reads the hub and every user
server, and nothing else.

The manager adds this module to `ServerApp.extra_services`, whose routes come before the
server's own, so it answers `/metrics` in place of jupyter_server's handler.
"""

from __future__ import annotations

import prometheus_client
from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import PrometheusMetricsHandler
from tornado import web

SCRAPE_SCOPE = "read:metrics"


class ScrapeTokenMetricsHandler(PrometheusMetricsHandler):
    """The server's metrics for its user, or for a hub token holding `read:metrics`."""

    @allow_unauthenticated
    async def get(self) -> None:
        private = self.settings.get("authenticate_prometheus", True)
        if private and not self.logged_in and not await self._scrape_token_allowed():
            raise web.HTTPError(403, "Reading metrics needs the user's login or a token with read:metrics")
        self.set_header("Content-Type", prometheus_client.CONTENT_TYPE_LATEST)
        self.write(prometheus_client.generate_latest(prometheus_client.REGISTRY))

    async def _scrape_token_allowed(self) -> bool:
        hub_auth = getattr(self.identity_provider, "hub_auth", None)
        if hub_auth is None:
            return False
        token = hub_auth.get_token(self, in_cookie=False)
        if not token:
            return False
        model = await hub_auth.user_for_token(token, sync=False)
        return bool(model and hub_auth.check_scopes({SCRAPE_SCOPE}, model))


default_handlers = [(r"/metrics", ScrapeTokenMetricsHandler)]
