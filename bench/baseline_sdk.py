"""The naive copier ``bench.fanout`` compares the engine with: the official ``dhanhq`` SDK.

One SDK ``OrderUpdate`` socket on the leader; on each new leader order it sees, it places the
follower copies with ``dhanhq.place_order`` in a sequential loop, one follower after the other,
on the socket's own thread -- how a copier written straight from the SDK's examples works.
No journal, no rate limiting, no retries: it is the speed floor, not a correct copier.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Sequence
from typing import Any

import websockets
from dhanhq import DhanContext, OrderUpdate, dhanhq

from bench.common import Accounts, token_of
from dhan.codes import (
    ORDER_TYPE_FROM_FEED,
    PRODUCT_FROM_FEED,
    SEGMENT_FROM_FEED,
    TXN_FROM_FEED,
)
from dhan.correlation import correlation_id_for


class _QuietOrderUpdate(OrderUpdate):
    """The SDK's ``OrderUpdate`` without its ``print`` of the login message (it has the token)."""

    async def connect_order_update(self) -> None:
        async with websockets.connect(self.order_feed_wss) as websocket:
            login = {
                "LoginReq": {
                    "MsgCode": 42,
                    "ClientId": str(self.client_id),
                    "Token": str(self.access_token),
                },
                "UserType": "SELF",
            }
            await websocket.send(json.dumps(login))
            async for message in websocket:
                self.handle_order_update(json.loads(message))


class SdkBaseline:
    """Sequential SDK fan-out on each new leader order; ``start()`` / ``stop()``."""

    def __init__(self, rest_url: str, feed_url: str, accounts: Accounts) -> None:
        self.accounts = accounts
        self.followers: list[tuple[str, Any]] = []
        for name, client_id in zip(accounts.names, accounts.followers, strict=True):
            ctx = DhanContext(client_id, token_of(client_id))
            ctx.get_dhan_http().base_url = rest_url
            self.followers.append((name, dhanhq(ctx)))
        leader_ctx = DhanContext(accounts.leader, token_of(accounts.leader))
        self.feed = _QuietOrderUpdate(leader_ctx)
        self.feed.order_feed_wss = feed_url
        self.feed.on_update = self._on_update
        self.seen: set[str] = set()
        #: leader order id -> set when every follower's place call has returned
        self.done: dict[str, threading.Event] = {}
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None

    def expect(self, leader_order_id: str) -> threading.Event:
        with self._lock:
            return self.done.setdefault(leader_order_id, threading.Event())

    def correlation_ids(self, leader_order_ids: Sequence[str]) -> dict[str, str]:
        return {
            correlation_id_for(name, oid): oid
            for oid in leader_order_ids
            for name, _sdk in self.followers
        }

    def _on_update(self, message: dict[str, Any]) -> None:
        data = message.get("Data") or {}
        oid = str(data.get("OrderNo") or "")
        if not oid or oid in self.seen:
            return  # later frames of an order already copied
        self.seen.add(oid)
        segment = SEGMENT_FROM_FEED[(data["Exchange"], data["Segment"])]
        order_type = ORDER_TYPE_FROM_FEED[data["OrderType"]]
        for name, sdk in self.followers:  # the naive loop: one follower after the other
            answer = sdk.place_order(
                security_id=str(data["SecurityId"]),
                exchange_segment=segment.value,
                transaction_type=TXN_FROM_FEED[data["TxnType"]].value,
                quantity=int(data["Quantity"]),
                order_type=order_type.value,
                product_type=PRODUCT_FROM_FEED[data["Product"]].value,
                price=float(data.get("Price") or 0.0),
                tag=correlation_id_for(name, oid),
            )
            if answer.get("status") != "success":
                self.failures.append(f"{name} {oid}: {answer.get('remarks')}")
        self.expect(oid).set()

    def start(self) -> SdkBaseline:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._task = loop.create_task(self.feed.connect_order_update())
            ready.set()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                loop.run_until_complete(self._task)
            loop.close()

        self._thread = threading.Thread(target=run, name="sdk-baseline-feed", daemon=True)
        self._thread.start()
        ready.wait(5.0)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(10.0)
        for _name, sdk in self.followers:
            with contextlib.suppress(Exception):
                sdk.dhan_http.session.close()
