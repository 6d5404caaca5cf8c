"""A tiny aiohttp server on loopback, in a background thread, for testing wire clients.

Test tooling shipped as product code: ``LoopbackServer(app)`` serves any ``aiohttp`` app on
``127.0.0.1`` and an ephemeral port, so the REST client and the order-update socket client
can be exercised against real sockets (no mocks). Not used at run time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from types import TracebackType
from typing import TypeVar

from aiohttp import web

T = TypeVar("T")


class LoopbackServer:
    """Runs ``app`` on ``host``:ephemeral port in its own thread and event loop.

    Use as a context manager, or call ``start()`` / ``stop()``. ``url`` is ``http://host:port``
    and ``ws_url`` the same with ``ws://``. ``run(coro_fn)`` runs a coroutine on the server's
    loop and returns its result (to poke server-side state from a test thread).
    """

    def __init__(
        self, app: web.Application, *, host: str = "127.0.0.1", shutdown_timeout_s: float = 1.0
    ) -> None:
        self.app = app
        self.host = host
        self.port = 0
        self._shutdown_timeout_s = shutdown_timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def start(self, timeout_s: float = 5.0) -> LoopbackServer:
        self._thread.start()
        self.run(self._start, timeout_s=timeout_s)
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(
            self.app, shutdown_timeout=self._shutdown_timeout_s, handle_signals=False
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    def run(self, coro_fn: Callable[[], Awaitable[T]], *, timeout_s: float = 5.0) -> T:
        """Run ``coro_fn()`` on the server loop; wait at most ``timeout_s`` for its result."""

        async def wrapper() -> T:
            return await coro_fn()

        fut: Future[T] = asyncio.run_coroutine_threadsafe(wrapper(), self._loop)
        return fut.result(timeout=timeout_s)

    def call_soon(self, fn: Callable[[], object]) -> None:
        """Schedule a plain function on the server loop (thread-safe, returns immediately)."""
        self._loop.call_soon_threadsafe(fn)

    def stop(self, timeout_s: float = 10.0) -> None:
        if not self._thread.is_alive():
            return
        if self._runner is not None:
            self.run(self._runner.cleanup, timeout_s=timeout_s)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout_s)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
