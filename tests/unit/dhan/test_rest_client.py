"""The REST client sends what Dhan documents and parses what Dhan answers (happy paths)."""

from __future__ import annotations

import logging
import threading

import pytest

from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.models import ModifyRequest, OrderRequest, SuperModifyRequest, SuperOrderRequest
from dhan.rest import DhanClient
from tests.unit.dhan.conftest import CLIENT_ID, TOKEN
from tests.unit.dhan.fake_dhan import FakeDhan

ORDER = {
    "dhanClientId": CLIENT_ID,
    "orderId": "112111182198",
    "correlationId": "Eabc-0123456789abcdef",
    "orderStatus": "PENDING",
    "transactionType": "BUY",
    "exchangeSegment": "NSE_EQ",
    "productType": "INTRADAY",
    "orderType": "LIMIT",
    "validity": "DAY",
    "tradingSymbol": "",
    "securityId": "11536",
    "quantity": 5,
    "disclosedQuantity": 0,
    "price": 1428.0,
    "triggerPrice": 0.0,
    "afterMarketOrder": False,
    "boProfitValue": 0.0,
    "boStopLossValue": 0.0,
    "legName": "",
    "createTime": "2026-07-01 10:00:00",
    "updateTime": "2026-07-01 10:00:01",
    "exchangeTime": "2026-07-01 10:00:01",
    "drvExpiryDate": None,
    "drvOptionType": None,
    "drvStrikePrice": 0.0,
    "omsErrorCode": None,
    "omsErrorDescription": None,
    "algoId": "0",
    "remainingQuantity": 3,
    "averageTradedPrice": 1428.0,
    "filledQty": 2,
    "someFutureField": {"nested": True},
}


def buy_limit(**overrides: object) -> OrderRequest:
    fields: dict[str, object] = {
        "transaction_type": TransactionType.BUY,
        "exchange_segment": ExchangeSegment.NSE_EQ,
        "product_type": ProductType.INTRADAY,
        "order_type": OrderType.LIMIT,
        "validity": Validity.DAY,
        "security_id": "11536",
        "quantity": 5,
        "price": 1428.0,
        "correlation_id": "Eabc-0123456789abcdef",
    }
    fields.update(overrides)
    return OrderRequest(**fields)  # type: ignore[arg-type]  # test helper: fields are checked at run time


def test_place_order_sends_the_documented_headers_and_body(fake: FakeDhan, client: DhanClient):
    fake.answer("POST", "/orders", json_body={"orderId": "112111182198", "orderStatus": "TRANSIT"})

    ack = client.place_order(buy_limit())

    assert ack.order_id == "112111182198"
    assert ack.order_status is OrderStatus.TRANSIT
    (seen,) = fake.seen
    assert (seen.method, seen.path) == ("POST", "/orders")
    assert seen.headers["access-token"] == TOKEN
    assert seen.headers["client-id"] == CLIENT_ID
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.json == {
        "dhanClientId": CLIENT_ID,
        "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ",
        "productType": "INTRADAY",
        "orderType": "LIMIT",
        "validity": "DAY",
        "securityId": "11536",
        "quantity": 5,
        "price": 1428.0,
        "correlationId": "Eabc-0123456789abcdef",
        "afterMarketOrder": False,
    }


def test_modify_order_puts_the_order_id_in_path_and_body(fake: FakeDhan, client: DhanClient):
    fake.answer("PUT", "/orders/42", json_body={"orderId": "42", "orderStatus": "TRANSIT"})

    client.modify_order("42", ModifyRequest(OrderType.LIMIT, 10, 101.5, None, Validity.DAY))

    body = fake.seen[0].json
    assert body == {
        "dhanClientId": CLIENT_ID,
        "orderId": "42",
        "orderType": "LIMIT",
        "quantity": 10,
        "price": 101.5,
        "validity": "DAY",
    }


def test_cancel_order_accepts_an_empty_202(fake: FakeDhan, client: DhanClient):
    fake.answer("DELETE", "/orders/42", status=202)

    assert client.cancel_order("42") is None
    assert fake.seen[0].body == b""


def test_cancel_order_parses_a_body_when_there_is_one(fake: FakeDhan, client: DhanClient):
    fake.answer("DELETE", "/orders/42", json_body={"orderId": "42", "orderStatus": "CANCELLED"})

    ack = client.cancel_order("42")

    assert ack is not None and ack.order_status is OrderStatus.CANCELLED


def test_get_order_parses_every_engine_field_and_ignores_unknown_ones(
    fake: FakeDhan, client: DhanClient
):
    fake.answer("GET", "/orders/112111182198", json_body=ORDER)

    order = client.get_order("112111182198")

    assert order.order_id == "112111182198"
    assert order.order_status is OrderStatus.PENDING
    assert order.exchange_segment is ExchangeSegment.NSE_EQ
    assert (order.quantity, order.filled_qty, order.remaining_quantity) == (5, 2, 3)
    assert order.price == 1428.0 and order.average_traded_price == 1428.0
    assert order.leg_name is None  # "" means "no leg"
    assert order.correlation_id == "Eabc-0123456789abcdef"
    assert order.update_time == "2026-07-01 10:00:01"


def test_order_lookup_by_unknown_correlation_id_is_none(fake: FakeDhan, client: DhanClient):
    fake.answer(
        "GET",
        "/orders/external/nope",
        status=404,
        json_body={"errorType": "Not_Found", "errorMessage": "no order"},
    )

    assert client.get_order_by_correlation_id("nope") is None


def test_order_lookup_by_correlation_id_returns_the_latest_of_a_list(
    fake: FakeDhan, client: DhanClient
):
    older = ORDER | {"orderId": "1", "updateTime": "2026-07-01 10:00:00"}
    newer = ORDER | {"orderId": "2", "updateTime": "2026-07-01 10:05:00"}
    fake.answer("GET", "/orders/external/cid-1", json_body=[newer, older])

    order = client.get_order_by_correlation_id("cid-1")

    assert order is not None and order.order_id == "2"
    assert fake.seen[0].path == "/orders/external/cid-1"


def test_order_lookup_by_correlation_id_treats_an_empty_answer_as_absent(
    fake: FakeDhan, client: DhanClient
):
    fake.answer("GET", "/orders/external/cid-1", json_body=[])

    assert client.get_order_by_correlation_id("cid-1") is None


def test_list_orders_parses_the_order_book(fake: FakeDhan, client: DhanClient):
    fake.answer("GET", "/orders", json_body=[ORDER, ORDER | {"orderId": "7", "quantity": "9"}])

    orders = client.list_orders()

    assert [o.order_id for o in orders] == ["112111182198", "7"]
    assert orders[1].quantity == 9  # numeric strings are numbers


def test_an_order_unchanged_since_the_last_book_is_not_parsed_again(
    fake: FakeDhan, client: DhanClient
):
    other = ORDER | {"orderId": "7", "quantity": "9"}
    fake.answer("GET", "/orders", json_body=[ORDER, other])
    first = client.list_orders()
    fake.answer("GET", "/orders", json_body=[ORDER, other | {"filledQty": 4}])

    second = client.list_orders()

    assert second[0] is first[0]  # the same wire object: the same record, not a new parse
    assert second[1] is not first[1] and second[1].filled_qty == 4  # changed: parsed afresh
    assert second[1].quantity == 9


def test_trades_of_one_order_accept_a_single_object(fake: FakeDhan, client: DhanClient):
    trade = {
        "orderId": "42",
        "exchangeTradeId": "T1",
        "transactionType": "SELL",
        "exchangeSegment": "NSE_FNO",
        "productType": "MARGIN",
        "orderType": "MARKET",
        "securityId": "52175",
        "tradedQuantity": 50,
        "tradedPrice": "101.25",
    }
    fake.answer("GET", "/trades/42", json_body=trade)

    (parsed,) = client.trades("42")

    assert parsed.traded_quantity == 50 and parsed.traded_price == 101.25
    assert parsed.exchange_segment is ExchangeSegment.NSE_FNO


def test_fund_limits_read_the_misspelled_wire_field(fake: FakeDhan, client: DhanClient):
    fake.answer(
        "GET",
        "/fundlimit",
        json_body={"dhanClientId": CLIENT_ID, "availabelBalance": 98440.0, "sodLimit": 113642},
    )

    funds = client.fund_limits()

    assert funds.available_balance == 98440.0 and funds.sod_limit == 113642.0


def test_positions_and_profile_parse(fake: FakeDhan, client: DhanClient):
    fake.answer(
        "GET",
        "/positions",
        json_body=[
            {
                "securityId": "11536",
                "exchangeSegment": "NSE_EQ",
                "productType": "CNC",
                "positionType": "LONG",
                "netQty": 10,
                "buyAvg": 100.5,
            }
        ],
    )
    fake.answer(
        "GET",
        "/profile",
        json_body={"dhanClientId": CLIENT_ID, "tokenValidity": "02/07/2026 10:00"},
    )

    (position,) = client.positions()
    profile = client.profile()

    assert position.net_qty == 10 and position.buy_avg == 100.5
    assert profile.client_id == CLIENT_ID and profile.token_validity == "02/07/2026 10:00"


def test_super_orders_place_modify_cancel_and_list(fake: FakeDhan, client: DhanClient):
    ack = {"orderId": "S1", "orderStatus": "PENDING"}
    fake.answer("POST", "/super/orders", json_body=ack)
    fake.answer("PUT", "/super/orders/S1", json_body=ack)
    fake.answer("DELETE", "/super/orders/S1/STOP_LOSS_LEG", status=202)
    fake.answer(
        "GET",
        "/super/orders",
        json_body=[
            {
                "orderId": "S1",
                "orderStatus": "TRADED",
                "transactionType": "BUY",
                "exchangeSegment": "NSE_EQ",
                "productType": "CNC",
                "orderType": "LIMIT",
                "securityId": "11536",
                "quantity": 5,
                "legName": "ENTRY_LEG",
                "legDetails": [
                    {
                        "orderId": "S1",
                        "legName": "STOP_LOSS_LEG",
                        "transactionType": "SELL",
                        "totalQuatity": 5,
                        "remainingQuantity": 5,
                        "price": 1400,
                        "orderStatus": "PENDING",
                        "trailingJump": 0.5,
                    },
                    {
                        "orderId": "S1",
                        "legName": "TARGET_LEG",
                        "remainingQuantity": 5,
                        "price": 1500,
                        "orderStatus": "PENDING",
                    },
                ],
            }
        ],
    )
    place = SuperOrderRequest(
        TransactionType.BUY,
        ExchangeSegment.NSE_EQ,
        ProductType.CNC,
        OrderType.LIMIT,
        "11536",
        5,
        price=1428.0,
        target_price=1500.0,
        stop_loss_price=1400.0,
        trailing_jump=0.5,
        correlation_id="cid-s1",
    )

    client.place_super_order(place)
    client.modify_super_order("S1", SuperModifyRequest.stop_loss(1410.0, 0.5))
    cancelled = client.cancel_super_order("S1", LegName.STOP_LOSS_LEG)
    (book,) = client.list_super_orders()

    assert fake.seen[0].json["targetPrice"] == 1500.0
    assert fake.seen[0].json["correlationId"] == "cid-s1"
    assert fake.seen[1].json == {
        "dhanClientId": CLIENT_ID,
        "orderId": "S1",
        "legName": "STOP_LOSS_LEG",
        "stopLossPrice": 1410.0,
        "trailingJump": 0.5,
    }
    assert cancelled is None
    stop = book.leg(LegName.STOP_LOSS_LEG)
    assert stop is not None and stop.total_quantity == 5 and stop.price == 1400.0
    target = book.leg(LegName.TARGET_LEG)
    assert target is not None and target.total_quantity is None


def test_update_token_is_used_from_the_next_request_on(fake: FakeDhan, client: DhanClient):
    fake.answer("GET", "/profile", json_body={"dhanClientId": CLIENT_ID})

    client.profile()
    client.update_token("a-brand-new-token")
    client.profile()

    assert [s.headers["access-token"] for s in fake.seen] == [TOKEN, "a-brand-new-token"]


def test_concurrent_calls_from_many_threads_all_succeed(fake: FakeDhan, client: DhanClient):
    fake.answer("GET", "/orders", json_body=[ORDER])
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                assert client.list_orders()[0].order_id == "112111182198"
        except BaseException as exc:  # collected and asserted on the main thread
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)

    assert failures == []
    assert len(fake.seen) == 40


def test_each_request_is_logged_once_at_debug_without_headers(
    fake: FakeDhan, client: DhanClient, caplog: pytest.LogCaptureFixture
):
    fake.answer("POST", "/orders", json_body={"orderId": "1", "orderStatus": "TRANSIT"})
    caplog.set_level(logging.DEBUG, logger="dhan.rest")

    client.place_order(buy_limit())

    lines = [r.getMessage() for r in caplog.records if r.name == "dhan.rest"]
    assert len(lines) == 1
    assert lines[0].startswith("POST /orders -> 200 in ")
    assert "cid=Eabc-0123456789abcdef" in lines[0]
    assert TOKEN not in caplog.text


def test_source_address_binds_the_local_ip_of_the_connection(fake: FakeDhan):
    with DhanClient(
        base_url=fake.url, client_id=CLIENT_ID, access_token=TOKEN, source_address="127.0.0.1"
    ) as bound:
        fake.answer("GET", "/profile", json_body={"dhanClientId": CLIENT_ID})
        bound.profile()

    assert fake.seen[0].peer_ip == "127.0.0.1"


def test_source_address_picks_a_non_default_loopback_ip(fake: FakeDhan, second_loopback: str):
    fake.answer("GET", "/profile", json_body={"dhanClientId": CLIENT_ID})

    with DhanClient(
        base_url=fake.url, client_id=CLIENT_ID, access_token=TOKEN, source_address=second_loopback
    ) as bound:
        bound.profile()

    assert fake.seen[0].peer_ip == second_loopback


def test_a_proxy_carries_the_accounts_traffic(fake: FakeDhan):
    proxy = FakeDhan().start()
    try:
        proxy.answer("GET", "/profile", json_body={"dhanClientId": CLIENT_ID})
        with DhanClient(
            base_url="http://dhan.invalid/v2",
            client_id=CLIENT_ID,
            access_token=TOKEN,
            proxy=proxy.url,
        ) as proxied:
            profile = proxied.profile()
    finally:
        proxy.stop()

    assert profile.client_id == CLIENT_ID
    assert proxy.seen[0].target == "http://dhan.invalid/v2/profile"
    assert fake.seen == []
