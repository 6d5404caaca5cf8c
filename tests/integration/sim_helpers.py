"""Helpers for the simulator's tests: a raw REST caller, an order-socket client, wait_until."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import requests.adapters
import websocket

from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount


def wait_until(predicate: Callable[[], Any], timeout_s: float = 5.0, poll_s: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(poll_s)  # polling with a deadline, not synchronisation by sleeping


class _SourceAddressAdapter(requests.adapters.HTTPAdapter):
    """Connections from a chosen local address (e.g. 127.0.0.2: Linux routes all of 127/8)."""

    def __init__(self, source_ip: str) -> None:
        self._source = (source_ip, 0)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = self._source
        super().init_poolmanager(*args, **kwargs)


class DhanRest:
    """Raw HTTP calls to the simulator's /v2 API, as one account (status codes visible);
    from ``source_ip`` when given."""

    def __init__(self, sim: Simulator, account: SimAccount, source_ip: str | None = None) -> None:
        self.base = sim.rest_url
        self.account = account
        self.session = requests.Session()
        if source_ip is not None:
            self.session.mount("http://", _SourceAddressAdapter(source_ip))
        self.session.headers.update(
            {
                "access-token": account.access_token,
                "client-id": account.client_id,
                "Content-Type": "application/json",
            }
        )

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        data = None if body is None else json.dumps(body)
        return self.session.request(method, self.base + path, data=data, timeout=10, **kw)

    def place(self, path: str = "/orders", **fields: Any) -> requests.Response:
        body: dict[str, Any] = {
            "dhanClientId": self.account.client_id,
            "transactionType": "BUY",
            "exchangeSegment": "NSE_EQ",
            "productType": "INTRADAY",
            "orderType": "LIMIT",
            "validity": "DAY",
            "securityId": "1333",
            "quantity": 1,
            "price": 985.0,
        }
        body.update(fields)
        return self.call("POST", path, {k: v for k, v in body.items() if v is not ...})

    def place_ok(self, **fields: Any) -> str:
        response = self.place(**fields)
        assert response.status_code == 200, response.text
        return str(response.json()["orderId"])

    def modify(self, order_id: str, **fields: Any) -> requests.Response:
        body = {"dhanClientId": self.account.client_id, "orderId": order_id, **fields}
        return self.call("PUT", f"/orders/{order_id}", body)

    def order(self, order_id: str) -> dict[str, Any]:
        response = self.call("GET", f"/orders/{order_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def book(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.call("GET", "/orders").json()
        return result

    def wait_status(self, order_id: str, *statuses: str, timeout_s: float = 5.0) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def reached() -> bool:
            found.update(self.order(order_id))
            return found["orderStatus"] in statuses

        wait_until(reached, timeout_s)
        return found


class FeedClient:
    """An order-update socket client on websocket-client that records every text frame."""

    def __init__(self, sim: Simulator, account: SimAccount, *, login: bool = True) -> None:
        before = sim.admin.socket_count(account.client_id)
        self.ws = websocket.create_connection(sim.order_feed_url, timeout=30)
        self.frames: list[str] = []
        self.pings = 0
        self.pongs = 0
        self.close_frame_received = False
        self.closed = threading.Event()
        self._lock = threading.Lock()
        if login:
            self.login(account.client_id, account.access_token)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if login:
            # No login ack exists: wait until the server lists the socket before trading.
            wait_until(lambda: sim.admin.socket_count(account.client_id) > before)

    def login(self, client_id: str, token: str) -> None:
        frame: dict[str, Any] = {
            "LoginReq": {"MsgCode": 42, "ClientId": client_id, "Token": token},
            "UserType": "SELF",
        }
        self.ws.send(json.dumps(frame))

    def _read(self) -> None:
        try:
            while True:
                opcode, data = self.ws.recv_data(control_frame=True)
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self.close_frame_received = True
                    break
                if opcode == websocket.ABNF.OPCODE_PING:
                    self.pings += 1  # websocket-client has already answered it
                if opcode == websocket.ABNF.OPCODE_PONG:
                    self.pongs += 1
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    with self._lock:
                        self.frames.append(data.decode())
        except (websocket.WebSocketException, OSError):
            pass
        finally:
            self.closed.set()

    def alerts(self) -> list[dict[str, Any]]:
        out = []
        with self._lock:
            frames = list(self.frames)
        for text in frames:
            try:
                frame = json.loads(text)
            except ValueError:
                continue
            if isinstance(frame, dict) and frame.get("Type") == "order_alert":
                data = frame.get("Data")
                if isinstance(data, dict):
                    out.append(data)
        return out

    def wait_alert(
        self, predicate: Callable[[dict[str, Any]], bool], timeout_s: float = 5.0
    ) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((a for a in self.alerts() if predicate(a)), None)

        result: dict[str, Any] = wait_until(find, timeout_s)
        return result

    def close(self) -> None:
        with contextlib.suppress(websocket.WebSocketException, OSError):
            self.ws.close(timeout=1)
        self._reader.join(5)
