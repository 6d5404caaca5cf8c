"""A scriptable stand-in for Dhan's REST API on loopback, for the REST client's tests.

Paths are written without the ``/v2`` prefix the client puts in front. Each test scripts the
answers it needs (``fake.answer("POST", "/orders", json_body=...)``) and reads what the client
really sent from ``fake.seen``. Unscripted paths answer 404.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from dhan.http_testing import LoopbackServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer_ip: str
    peer_port: int  # the client's port: one per TCP connection
    target: str  # the request target as sent (absolute-form when it came through a proxy)

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class FakeDhan:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._routes: dict[tuple[str, str], Handler] = {}
        self._release: asyncio.Event | None = None
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = LoopbackServer(app)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> FakeDhan:
        self.server.start()
        self._release = self.server.run(self._make_event)
        return self

    async def _make_event(self) -> asyncio.Event:
        return asyncio.Event()

    def stop(self) -> None:
        release = self._release
        if release is not None:
            self.server.call_soon(release.set)
        self.server.stop()

    def on(self, method: str, path: str, handler: Handler) -> None:
        self._routes[(method, path)] = handler

    def answer(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json_body: Any = None,
        body: bytes | str | None = None,
        content_type: str = "application/json",
    ) -> None:
        async def handler(_: web.Request) -> web.StreamResponse:
            if json_body is not None:
                return web.json_response(json_body, status=status)
            raw = body.encode() if isinstance(body, str) else (body or b"")
            return web.Response(status=status, body=raw, content_type=content_type)

        self.on(method, path, handler)

    def hang(self, method: str, path: str) -> None:
        """Accept the request and never answer (until the fake stops)."""

        async def handler(_: web.Request) -> web.StreamResponse:
            assert self._release is not None
            await self._release.wait()
            return web.Response(status=503)

        self.on(method, path, handler)

    def reset(self, method: str, path: str) -> None:
        """Read the request, then drop the connection without an answer."""

        async def handler(request: web.Request) -> web.StreamResponse:
            await request.read()
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)

        self.on(method, path, handler)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.seen.append(
            Seen(
                method=request.method,
                path=request.path.removeprefix("/v2"),
                headers=dict(request.headers),
                body=await request.read(),
                peer_ip=peer[0] if peer else "",
                peer_port=peer[1] if peer else 0,
                target=request.raw_path if not request.url.is_absolute() else str(request.url),
            )
        )
        handler = self._routes.get((request.method, request.path.removeprefix("/v2")))
        if handler is None:
            return web.json_response(
                {"errorType": "Not_Found", "errorCode": None, "errorMessage": "no such route"},
                status=404,
            )
        return await handler(request)
