"""The order-update WebSocket (``/order-update``): login, per-account fan-out, pings, faults.

A client sends the login frame ``{"LoginReq":{"MsgCode":42,"ClientId","Token"},"UserType":"SELF"}``;
there is never an ack. A bad login is cut (TCP close without a WebSocket close frame, like Dhan).
Each connection has a bounded outbound queue and one writer task, so a slow client never blocks
the matching engine; a client whose queue overflows is cut. Nothing is replayed on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from dhansim.clock import mono_ns
from dhansim.faults import FaultDice, FaultPlan
from dhansim.journal import Journal
from dhansim.orders import Order
from dhansim.switches import LiveSettings

log = logging.getLogger("dhansim.feed")

LOGIN_TIMEOUT_S = 30.0
QUEUE_FRAMES_MAX = 10_000
#: ``json.dumps(frame, separators=(",", ":"))`` without building an encoder per frame.
_COMPACT = json.JSONEncoder(separators=(",", ":"))
_LEN16 = struct.Struct("!BBH")
_LEN64 = struct.Struct("!BBQ")
TokenCheck = Callable[[str, str], bool]


def _text_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed, final WebSocket text frame (RFC 6455 section 5.2), byte for
    byte what aiohttp's server writer sends for ``send_str``."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return _LEN16.pack(0x81, 126, length) + payload
    return _LEN64.pack(0x81, 127, length) + payload


class _Connection:
    """One logged-in socket of one account."""

    def __init__(self, conn_id: int, account: str, ws: web.WebSocketResponse, request: web.Request):
        self.conn_id = conn_id
        self.account = account
        self.ws = ws
        self.request = request
        # The outbound queue: a deque plus the writer's wake-up future (an asyncio.Queue costs
        # several times more per frame, and every order sends three frames to every socket).
        self.queue: deque[tuple[str, Order | None, str]] = deque()
        self.wakeup: asyncio.Future[None] | None = None
        self.stalled = False

    def put(self, item: tuple[str, Order | None, str]) -> bool:
        """Queue one frame for the writer; False when QUEUE_FRAMES_MAX are already waiting."""
        if len(self.queue) >= QUEUE_FRAMES_MAX:
            return False
        self.queue.append(item)
        wakeup = self.wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
        return True

    async def get(self) -> tuple[str, Order | None, str]:
        """The oldest queued frame, waiting for one if there is none."""
        while not self.queue:
            self.wakeup = asyncio.get_running_loop().create_future()
            try:
                await self.wakeup
            finally:
                self.wakeup = None
        return self.queue.popleft()

    def cut(self) -> None:
        """Close the TCP connection without a WebSocket close frame."""
        transport = self.request.transport
        if transport is not None:
            transport.abort()

    def set_stalled(self, stalled: bool) -> None:
        if stalled == self.stalled:
            return
        self.stalled = stalled
        transport = self.request.transport
        if transport is None:
            return
        # Not reading means client pings go unanswered: a hung server, as seen by the client.
        if stalled:
            transport.pause_reading()
        else:
            transport.resume_reading()


class OrderFeed:
    """Fan-out of order events to the sockets of each account."""

    def __init__(
        self,
        settings: LiveSettings,
        journal: Journal,
        dice: FaultDice,
        token_check: TokenCheck,
        frame_of: Callable[[Order], dict[str, Any]],
    ) -> None:
        self._settings = settings
        self._journal = journal
        self._dice = dice
        self._token_check = token_check
        self._frame_of = frame_of
        self._faults = FaultPlan()
        self._by_account: dict[str, set[_Connection]] = {}
        self._all: set[_Connection] = set()
        self._next_id = 1

    # --- publishing --------------------------------------------------------------------------

    def publish(self, order: Order) -> None:
        """Queue the frame of ``order``'s current state to every socket of its account."""
        conns = self._by_account.get(order.account_id)
        if not conns:
            return
        frame = self._frame_of(order)
        text = _COMPACT.encode(frame)
        status = frame["Data"]["Status"]
        malformed = self._faults.socket_malformed_p and self._faults.socket_applies(
            order.account_id
        )
        for conn in list(conns):
            if malformed and self._dice.hit(self._faults.socket_malformed_p):
                self._enqueue(conn, self._dice.malformed_frame(), None, "MALFORMED")
            self._enqueue(conn, text, order, status)

    def _enqueue(self, conn: _Connection, text: str, order: Order | None, status: str) -> None:
        if not conn.put((text, order, status)):
            log.warning("order socket %s of %s overflowed; cutting it", conn.conn_id, conn.account)
            self._journal_socket(conn, "overflow-cut")
            conn.cut()

    async def _writer(self, conn: _Connection) -> None:
        while True:
            text, order, status = await conn.get()
            if conn.stalled:
                self._journal_frame(conn, order, status, "dropped-stalled")
                continue
            if self._write_direct(conn, text, order, status):
                continue
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            self._journal_frame(conn, order, status, "sent")

    def _write_direct(self, conn: _Connection, text: str, order: Order | None, status: str) -> bool:
        """Write this frame and every frame queued behind it (an order's PENDING and TRADED
        frames are queued together) in one transport write, framed as aiohttp frames them:
        one system call, and none of ``send_str``'s per-frame layers.

        Only on an uncompressed, open socket whose transport has nothing buffered (a client
        keeping up); otherwise False, and the frame goes through ``send_str``, whose flow
        control makes the writer wait for a slow client while its queue fills.
        """
        ws = conn.ws
        transport = conn.request.transport
        if (
            ws.compress
            or ws.closed
            or transport is None
            or transport.is_closing()
            or transport.get_write_buffer_size()
        ):
            return False
        batch = [(text, order, status)]
        while conn.queue:
            batch.append(conn.queue.popleft())
        transport.write(b"".join([_text_frame(item[0].encode()) for item in batch]))
        for _text, item_order, item_status in batch:
            self._journal_frame(conn, item_order, item_status, "sent")
        return True

    def _journal_frame(self, conn: _Connection, order: Order | None, status: str, result: str):
        self._journal.record(
            {
                "kind": "frame",
                "t_ns": mono_ns(),
                "account": conn.account,
                "connection": conn.conn_id,
                "orderNo": order.order_id if order else None,
                "legName": order.leg_name.value if order and order.leg_name else None,
                "correlationId": order.correlation_id if order else None,
                "status": status,
                "result": result,
            }
        )

    def _journal_socket(self, conn: _Connection | None, event: str, account: str = "") -> None:
        self._journal.record(
            {
                "kind": "socket",
                "t_ns": mono_ns(),
                "account": conn.account if conn else account,
                "connection": conn.conn_id if conn else None,
                "event": event,
            }
        )

    # --- faults / admin ----------------------------------------------------------------------

    def apply_faults(self, plan: FaultPlan) -> None:
        self._faults = plan
        for conn in list(self._all):
            conn.set_stalled(plan.socket_stall and plan.socket_applies(conn.account))

    def drop_all(self) -> int:
        """Cut every order socket now (no close frame); returns how many were cut."""
        conns = list(self._all)
        for conn in conns:
            self._journal_socket(conn, "dropped-by-admin")
            conn.cut()
        return len(conns)

    def connection_count(self, account: str | None = None) -> int:
        if account is None:
            return len(self._all)
        return len(self._by_account.get(account, ()))

    async def close_all(self, timeout_s: float = 2.0) -> None:
        """Close every socket with 1001 (going away), in parallel; cut whatever is left."""
        conns = list(self._all)
        if not conns:
            return
        closing = [
            asyncio.ensure_future(conn.ws.close(code=1001, message=b"server shutdown"))
            for conn in conns
        ]
        _done, pending = await asyncio.wait(closing, timeout=timeout_s)
        for task in pending:
            task.cancel()
        for conn in conns:
            if not conn.ws.closed:
                conn.cut()

    # --- the socket handler ------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, heartbeat=None, max_msg_size=1 << 20)
        await ws.prepare(request)
        account = await self._login(ws, request)
        if account is None:
            return ws
        conn = _Connection(self._next_id, account, ws, request)
        self._next_id += 1
        self._by_account.setdefault(account, set()).add(conn)
        self._all.add(conn)
        self._journal_socket(conn, "login")
        conn.set_stalled(self._faults.socket_stall and self._faults.socket_applies(account))
        writer = asyncio.create_task(self._writer(conn))
        pinger = asyncio.create_task(self._pinger(conn))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break  # anything else a client sends after login is ignored, like Dhan
        finally:
            writer.cancel()
            pinger.cancel()
            for task in (writer, pinger):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._all.discard(conn)
            conns = self._by_account.get(account)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self._by_account[account]
            self._journal_socket(conn, "closed")
        return ws

    async def _login(self, ws: web.WebSocketResponse, request: web.Request) -> str | None:
        try:
            msg = await ws.receive(timeout=LOGIN_TIMEOUT_S)
        except TimeoutError:
            await ws.close(code=1008, message=b"login timeout")
            return None
        account = None
        if msg.type is WSMsgType.TEXT:
            account = self._check_login(msg.data)
        if account is not None:
            return account
        self._journal_socket(None, "login-rejected")
        if self._settings.switches.bad_login_close_frame:
            await ws.close(code=1008, message=b"invalid login")
        elif request.transport is not None:
            request.transport.abort()
        return None

    def _check_login(self, text: str) -> str | None:
        try:
            frame = json.loads(text)
        except ValueError:
            return None
        if not isinstance(frame, dict) or frame.get("UserType") != "SELF":
            return None
        login = frame.get("LoginReq")
        if not isinstance(login, dict) or str(login.get("MsgCode")) != "42":
            return None
        client_id, token = login.get("ClientId"), login.get("Token")
        if not isinstance(client_id, str) or not isinstance(token, str):
            return None
        return client_id if self._token_check(client_id, token) else None

    async def _pinger(self, conn: _Connection) -> None:
        while not conn.ws.closed:
            interval_s = self._settings.switches.ping_interval_s
            await asyncio.sleep(interval_s if interval_s > 0 else 1.0)
            if interval_s > 0 and not conn.stalled and not conn.ws.closed:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.ping()
