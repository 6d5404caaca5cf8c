"""A scriptable stand-in for Dhan's order-update socket on loopback (aiohttp, autoping off).

It records the login frame, answers pings only while ``answer_pings`` is set, and lets a test
push frames, reset the connection right after login (Dhan's answer to a bad token), or close.
"""

from __future__ import annotations

import asyncio
import threading

from aiohttp import WSMsgType, web

from dhan.http_testing import LoopbackServer


class FakeFeed:
    def __init__(self, *, after_login: str = "serve", close_code: int = 1011) -> None:
        self.after_login = after_login  # "serve" | "reset" | "close"
        self.close_code = close_code
        self.logins: list[str] = []
        self.pings_seen = 0
        self.client_close_codes: list[int | None] = []
        self.answer_pings = threading.Event()
        self.answer_pings.set()
        self.logged_in = threading.Event()
        self.disconnected = threading.Event()
        self._ws: web.WebSocketResponse | None = None
        app = web.Application()
        app.router.add_get("/", self._handle)
        app.router.add_get("/refuse", self._refuse)
        self.server = LoopbackServer(app)

    @property
    def url(self) -> str:
        return self.server.ws_url

    def start(self) -> FakeFeed:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def send(self, text: str) -> None:
        """Push one text frame to the connected client."""

        async def push() -> None:
            assert self._ws is not None, "no client connected"
            await self._ws.send_str(text)

        self.server.run(push)

    async def _refuse(self, _: web.Request) -> web.StreamResponse:
        return web.Response(status=401, text="unauthorised")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=False, heartbeat=None)
        await ws.prepare(request)
        self._ws = ws
        try:
            login = await ws.receive(timeout=5)
            self.logins.append(login.data)
            self.logged_in.set()
            if self.after_login == "reset":
                assert request.transport is not None
                request.transport.abort()
                return ws
            if self.after_login == "close":
                await ws.close(code=self.close_code, message=b"go away")
                return ws
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    self.pings_seen += 1
                    if self.answer_pings.is_set():
                        await ws.pong(msg.data)
            self.client_close_codes.append(ws.close_code)
            return ws
        except asyncio.CancelledError:
            raise
        finally:
            self.disconnected.set()
