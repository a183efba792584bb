"""A stand-in for the hub's `GET /hub/api/cs3/token`, a real HTTP server on a free loopback port.

It runs tornado on an event loop of its own, in a thread, so both in-process async tests and
tests that run the refresher as a subprocess (with blocking waits) can talk to it. The test
decides every answer: which tokens, how long they live, failures, delays, and whether the
port listens at all.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from tests.harness.ports import free_port

ENDPOINT = "/hub/api/cs3/token"


@dataclass(frozen=True)
class Seen:
    """One request the hub answered."""

    at: float
    authorization: str | None
    status: int


class _TokenHandler(web.RequestHandler):
    def initialize(self, hub: FakeHub) -> None:
        self.hub = hub

    async def get(self) -> None:
        delay = self.hub.delay
        if delay:
            await asyncio.sleep(delay)
        status, body = self.hub.answer(self.request.headers.get("Authorization"))
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(body if isinstance(body, str) else json.dumps(body))


class FakeHub:
    """The token endpoint; by default it hands out distinctive fake tokens that rotate."""

    def __init__(self, api_token: str) -> None:
        self.api_token = api_token
        self.port = free_port()
        self.prefix = f"FAKE-ACCESS-TOKEN-{uuid.uuid4().hex}"
        self.delay = 0.0
        self.requests: list[Seen] = []
        self.issued: list[str] = []
        self.expiry: dict[str, float] = {}  # token -> the expires_at handed out with it
        self._lock = threading.Lock()
        self._lifetime = 3600.0
        self._hub_margin = 0.0
        self._current: tuple[str, float] | None = None
        self._failure: tuple[int, Any] | None = None
        self._custom: Callable[[], tuple[int, Any]] | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-hub", daemon=True)
        self._thread.start()
        self._server: HTTPServer | None = None
        self.start_listening()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hub/api"

    # -- what the hub answers ------------------------------------------------------------

    def serve_tokens(self, lifetime: float, hub_margin: float = 0.0) -> None:
        """Hand out the current token until it has `hub_margin` s left, then a new one (like
        the real hub, which refreshes a token close to expiry); failures stop."""
        with self._lock:
            self._lifetime = lifetime
            self._hub_margin = hub_margin
            self._failure = None
            self._custom = None
            self._current = None

    def fail(self, status: int, message: str = "fake failure") -> None:
        with self._lock:
            self._failure = (status, {"status": status, "message": message})

    def recover(self) -> None:
        with self._lock:
            self._failure = None

    def answer_with(self, answer: Callable[[], tuple[int, Any]]) -> None:
        """Answer every request with whatever `answer` returns (status, body)."""
        with self._lock:
            self._custom = answer
            self._failure = None

    def answer(self, authorization: str | None) -> tuple[int, Any]:
        with self._lock:
            status, body = self._answer_locked(authorization)
            self.requests.append(Seen(time.monotonic(), authorization, status))
            return status, body

    def _answer_locked(self, authorization: str | None) -> tuple[int, Any]:
        if authorization != f"token {self.api_token}":
            return 403, {"status": 403, "message": "Action is not authorized with current scopes"}
        if self._failure is not None:
            return self._failure
        if self._custom is not None:
            return self._custom()
        now = time.time()
        if self._current is None or self._current[1] - now <= self._hub_margin:
            token = f"{self.prefix}-{len(self.issued)}.{uuid.uuid4().hex}"
            self.issued.append(token)
            self.expiry[token] = now + self._lifetime
            self._current = (token, now + self._lifetime)
        token, expires_at = self._current
        return 200, {"access_token": token, "expires_at": expires_at}

    def statuses(self) -> list[int]:
        with self._lock:
            return [seen.status for seen in self.requests]

    # -- the listening socket --------------------------------------------------------------

    def _run(self, make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
        return asyncio.run_coroutine_threadsafe(make(), self._loop).result(10)

    def start_listening(self) -> None:
        async def listen() -> None:
            app = web.Application([(ENDPOINT, _TokenHandler, {"hub": self})], log_function=lambda _: None)
            self._server = HTTPServer(app)
            self._server.add_sockets(bind_sockets(self.port, "127.0.0.1"))

        self._run(listen)

    def stop_listening(self) -> None:
        """Close the port and every open connection: clients now get "connection refused"."""

        async def stop() -> None:
            if self._server is not None:
                self._server.stop()
                await self._server.close_all_connections()
                self._server = None

        self._run(stop)

    def close(self) -> None:
        self.stop_listening()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
