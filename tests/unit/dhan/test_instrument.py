"""The client's instrument: told of each request's start and end, with the account, method,
path, correlation id and status, only when set (dhan.instrument)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from dhan.errors import NotSent, OutcomeUnknown
from dhan.instrument import ClientInstrument
from dhan.rest import DhanClient
from tests.unit.dhan.conftest import CLIENT_ID, TOKEN
from tests.unit.dhan.fake_dhan import FakeDhan
from tests.unit.dhan.test_rest_client import ORDER, buy_limit

CID = "Eabc-0123456789abcdef"


class Requests(ClientInstrument):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def request_started(self, client_id: str, method: str, path: str, cid: str | None) -> None:
        self.calls.append(("started", client_id, method, path, cid))

    def request_finished(
        self, client_id: str, method: str, path: str, cid: str | None, status: int | str
    ) -> None:
        self.calls.append(("finished", client_id, method, path, cid, status))


def test_each_request_is_started_then_finished_with_its_status(fake: FakeDhan, client: DhanClient):
    fake.answer("POST", "/orders", json_body={"orderId": "1", "orderStatus": "TRANSIT"})
    fake.answer("GET", "/orders/1", json_body=ORDER)
    client.instrument = seen = Requests()

    client.place_order(buy_limit())
    client.get_order("1")

    assert seen.calls == [
        ("started", CLIENT_ID, "POST", "/orders", CID),
        ("finished", CLIENT_ID, "POST", "/orders", CID, 200),
        ("started", CLIENT_ID, "GET", "/orders/1", None),
        ("finished", CLIENT_ID, "GET", "/orders/1", None, 200),
    ]
    assert TOKEN not in repr(seen.calls)


def test_a_request_refused_by_the_broker_is_finished_with_its_http_status(
    fake: FakeDhan, client: DhanClient
):
    fake.answer(
        "POST", "/orders", status=502, body="<html>bad gateway</html>", content_type="text/html"
    )
    client.instrument = seen = Requests()

    with pytest.raises(OutcomeUnknown):
        client.place_order(buy_limit())

    assert seen.calls == [
        ("started", CLIENT_ID, "POST", "/orders", CID),
        ("finished", CLIENT_ID, "POST", "/orders", CID, 502),
    ]


def test_a_request_that_never_reached_the_broker_is_finished_with_the_errors_name():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens on it now
    client = DhanClient(
        base_url=f"http://127.0.0.1:{port}/v2", client_id=CLIENT_ID, access_token=TOKEN
    )
    client.instrument = seen = Requests()
    try:
        with pytest.raises(NotSent):
            client.place_order(buy_limit())
    finally:
        client.close()

    started, finished = seen.calls
    assert started == ("started", CLIENT_ID, "POST", "/orders", CID)
    assert finished[:5] == ("finished", CLIENT_ID, "POST", "/orders", CID)
    assert isinstance(finished[5], str) and finished[5].isidentifier()  # a class name


def test_the_calls_run_on_the_calling_thread(fake: FakeDhan, client: DhanClient):
    fake.answer("GET", "/orders/1", json_body=ORDER)
    threads: list[str] = []

    class Where(ClientInstrument):
        def request_started(self, *args: Any) -> None:
            threads.append(threading.current_thread().name)

        def request_finished(self, *args: Any) -> None:
            threads.append(threading.current_thread().name)

    client.instrument = Where()
    worker = threading.Thread(target=client.get_order, args=("1",), name="caller")
    worker.start()
    worker.join(10)

    assert threads == ["caller", "caller"]


def test_without_an_instrument_nothing_is_called(fake: FakeDhan, client: DhanClient):
    fake.answer("GET", "/orders/1", json_body=ORDER)
    seen = Requests()
    client.instrument = seen
    client.instrument = None

    assert client.get_order("1").order_id == ORDER["orderId"]
    assert seen.calls == []
