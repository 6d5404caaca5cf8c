"""The official dhanhq 2.3.0 SDK, pointed at the simulator, cannot tell it from Dhan.

Each test drives the SDK's own calls (its payloads: nulls for unused fields, dhanClientId
injected) and reads the answers through the SDK's own parser.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from dhanhq import DhanContext, DhanLogin, OrderUpdate, dhanhq
from dhanhq.dhan_http import DhanHTTP

from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount
from tests.integration.sim_helpers import wait_until


@pytest.fixture
def sdk(sim: Simulator, sim_account: SimAccount) -> dhanhq:
    context = DhanContext(sim_account.client_id, sim_account.access_token)
    context.get_dhan_http().base_url = sim.rest_url
    return dhanhq(context)


def ok(response: dict[str, Any]) -> Any:
    assert response["status"] == "success", response
    return response["data"]


def wait_order(sdk: dhanhq, order_id: str, *statuses: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def reached() -> bool:
        found.update(ok(sdk.get_order_by_id(order_id)))
        return found["orderStatus"] in statuses

    wait_until(reached)
    return found


def test_sdk_places_a_limit_order_and_reads_it_back_by_id_and_by_correlation_id(sdk: dhanhq):
    placed = ok(sdk.place_order("1333", "NSE_EQ", "BUY", 5, "LIMIT", "CNC", 985.0, tag="cid-1"))
    assert placed["orderStatus"] in ("TRANSIT", "PENDING")
    order = wait_order(sdk, placed["orderId"], "PENDING")
    assert order["correlationId"] == "cid-1"
    assert order["quantity"] == 5 and order["price"] == 985.0
    by_cid = ok(sdk.get_order_by_correlationID("cid-1"))
    assert by_cid["orderId"] == placed["orderId"]


def test_sdk_modifies_then_cancels_an_order(sdk: dhanhq):
    order_id = ok(sdk.place_order("2885", "NSE_EQ", "SELL", 2, "LIMIT", "INTRADAY", 1500.0))[
        "orderId"
    ]
    wait_order(sdk, order_id, "PENDING")
    modified = ok(sdk.modify_order(order_id, "LIMIT", None, 4, 1499.0, 0, 0, "DAY"))
    assert modified["orderId"] == order_id
    order = ok(sdk.get_order_by_id(order_id))
    assert (order["quantity"], order["price"]) == (4, 1499.0)
    cancelled = ok(sdk.cancel_order(order_id))
    assert cancelled == {"orderId": order_id, "orderStatus": "CANCELLED"}
    assert ok(sdk.get_order_by_id(order_id))["orderStatus"] == "CANCELLED"


def test_sdk_market_order_fills_and_shows_in_book_trades_positions_and_funds(
    sim: Simulator, sdk: dhanhq
):
    sim.admin.set_ltp("NSE_EQ", "11536", 3150.0)
    order_id = ok(sdk.place_order("11536", "NSE_EQ", "BUY", 3, "MARKET", "INTRADAY", 0))["orderId"]
    order = wait_order(sdk, order_id, "TRADED")
    assert order["filledQty"] == 3 and order["averageTradedPrice"] == 3150.0
    assert [o["orderId"] for o in ok(sdk.get_order_list())] == [order_id]
    trades = ok(sdk.get_trade_book())
    assert [(t["orderId"], t["tradedQuantity"], t["tradedPrice"]) for t in trades] == [
        (order_id, 3, 3150.0)
    ]
    assert ok(sdk.get_trade_book(order_id))[0]["exchangeTradeId"] == trades[0]["exchangeTradeId"]
    positions = ok(sdk.get_positions())
    assert [(p["securityId"], p["netQty"], p["positionType"]) for p in positions] == [
        ("11536", 3, "LONG")
    ]
    funds = ok(sdk.get_fund_limits())
    assert funds["availabelBalance"] < funds["sodLimit"]
    assert ok(sdk.get_holdings()) == []


def test_sdk_places_lists_modifies_and_cancels_a_super_order(sim: Simulator, sdk: dhanhq):
    sim.admin.set_ltp("NSE_EQ", "2885", 1480.0)
    placed = ok(
        sdk.place_super_order(
            "2885", "NSE_EQ", "BUY", 5, "LIMIT", "INTRADAY", 1475.0, 1500.0, 1460.0, 1.0, tag="so-1"
        )
    )
    order_id = placed["orderId"]
    wait_until(lambda: ok(sdk.get_super_order_list())[0]["orderStatus"] == "PENDING")
    ok(sdk.modify_super_order(order_id, "LIMIT", "TARGET_LEG", targetPrice=1510.0))
    book = ok(sdk.get_super_order_list())
    assert book[0]["orderId"] == order_id and book[0]["correlationId"] == "so-1"
    legs = {leg["legName"]: leg for leg in book[0]["legDetails"]}
    assert legs["TARGET_LEG"]["price"] == 1510.0
    assert legs["STOP_LOSS_LEG"]["price"] == 1460.0
    ok(sdk.cancel_super_order(order_id, "ENTRY_LEG"))
    assert ok(sdk.get_super_order_list())[0]["orderStatus"] == "CANCELLED"


def test_sdk_every_other_call_it_makes_to_a_modelled_endpoint_succeeds(
    sim: Simulator, sdk: dhanhq, sim_account: SimAccount
):
    sim.admin.set_switches(rate_limits=False)  # a dozen order writes in a burst
    sliced = ok(sdk.place_slice_order("60101", "NSE_FNO", "BUY", 65 * 30, "LIMIT", "MARGIN", 5.0))
    assert len(sliced) == 2
    bracket = ok(
        sdk.place_order(
            "1333", "NSE_EQ", "BUY", 1, "LIMIT", "BO", 995.0,
            bo_profit_value=10.0, bo_stop_loss_Value=5.0, tag="sdk-bo",
        )
    )["orderId"]  # fmt: skip
    cover = ok(sdk.place_order("1333", "NSE_EQ", "BUY", 1, "MARKET", "CO", 0, trigger_price=950.0))
    amo = ok(
        sdk.place_order(
            "2885", "NSE_EQ", "BUY", 1, "LIMIT", "CNC", 1400.0,
            after_market_order=True, amo_time="OPEN_30",
        )
    )["orderId"]  # fmt: skip
    stop = ok(
        sdk.place_order("3045", "NSE_EQ", "SELL", 1, "STOP_LOSS_MARKET", "INTRADAY", 0, 800.0)
    )
    wait_order(sdk, bracket, "TRADED")
    wait_order(sdk, cover["orderId"], "TRADED")
    assert ok(sdk.get_order_by_id(amo))["afterMarketOrder"] is True
    assert wait_order(sdk, stop["orderId"], "PENDING")["triggerPrice"] == 800.0
    assert ok(sdk.get_trade_book(bracket))[0]["orderId"] == bracket
    super_id = ok(
        sdk.place_super_order(
            "2885", "NSE_EQ", "BUY", 5, "LIMIT", "INTRADAY", 1400.0, 1600.0, 1300.0, 5.0
        )
    )["orderId"]
    wait_until(lambda: ok(sdk.get_super_order_list())[0]["orderStatus"] == "PENDING")
    ok(sdk.modify_super_order(super_id, "LIMIT", "ENTRY_LEG", 6, 1401.0, 1601.0, 1301.0, 0))
    ok(sdk.modify_super_order(super_id, "LIMIT", "STOP_LOSS_LEG", stopLossPrice=1302.0))
    ok(sdk.cancel_super_order(super_id, "TARGET_LEG"))
    [record] = ok(sdk.get_super_order_list())
    assert record["quantity"] == 6
    assert {leg["legName"]: leg["orderStatus"] for leg in record["legDetails"]} == {
        "TARGET_LEG": "CANCELLED",
        "STOP_LOSS_LEG": "PENDING",
    }
    assert ok(sdk.get_holdings()) == []
    exits = ok(sdk.exit_all_positions())["orderIds"]
    for exit_id in exits:
        wait_order(sdk, exit_id, "TRADED")
    assert ok(sdk.kill_switch("activate"))["killSwitchStatus"].endswith("activated")
    assert ok(sdk.status_kill_switch())["killSwitchStatus"] == "ACTIVATE"
    ok(sdk.kill_switch("deactivate"))
    login = DhanLogin(sim_account.client_id)
    login.API_BASE_URL = sim.rest_url  # an instance attribute: the class keeps Dhan's URL
    assert login.user_profile(sim_account.access_token)["dhanClientId"] == sim_account.client_id
    renewed = login.renew_token(sim_account.access_token)
    assert renewed["accessToken"] != sim_account.access_token


def test_sdk_reports_the_dhan_error_body_for_a_bad_token(sim: Simulator, sim_account: SimAccount):
    context = DhanContext(sim_account.client_id, "not-the-token")
    context.get_dhan_http().base_url = sim.rest_url
    response = dhanhq(context).get_order_list()
    assert response["status"] == "failure"
    assert response["remarks"]["error_code"] == "DH-901"
    assert response["remarks"]["error_type"] == "Invalid_Authentication"


@pytest.fixture
def sdk_socket(sim: Simulator, sim_account: SimAccount) -> Iterator[list[dict[str, Any]]]:
    """The SDK's own OrderUpdate client, connected in a thread; yields the frames it got."""
    context = DhanContext(sim_account.client_id, sim_account.access_token)
    feed = OrderUpdate(context)
    feed.order_feed_wss = sim.order_feed_url
    received: list[dict[str, Any]] = []
    feed.on_update = received.append  # instance attribute: the class one is shared
    thread = threading.Thread(target=feed.connect_to_dhan_websocket_sync, daemon=True)
    thread.start()
    wait_until(lambda: sim.admin.socket_count(sim_account.client_id) == 1)
    yield received
    sim.admin.drop_order_sockets()  # the SDK has no disconnect; a cut ends its loop
    thread.join(5)
    assert not thread.is_alive()


def test_sdk_order_update_client_receives_order_alerts_for_each_event(
    sim: Simulator, sdk: dhanhq, sdk_socket: list[dict[str, Any]]
):
    sim.admin.set_ltp("NSE_EQ", "3045", 820.0)
    order_id = ok(sdk.place_order("3045", "NSE_EQ", "BUY", 10, "LIMIT", "INTRADAY", 815.0))[
        "orderId"
    ]
    wait_order(sdk, order_id, "PENDING")
    sim.admin.set_ltp("NSE_EQ", "3045", 814.0)
    wait_order(sdk, order_id, "TRADED")

    def statuses() -> list[str]:
        return [f["Data"]["Status"] for f in sdk_socket if f["Data"]["OrderNo"] == order_id]

    wait_until(lambda: statuses() == ["TRANSIT", "PENDING", "TRADED"])
    last = sdk_socket[-1]
    assert last["Type"] == "order_alert"
    data = last["Data"]
    assert (data["TxnType"], data["Product"], data["OrderType"]) == ("B", "I", "LMT")
    assert data["TradedQty"] == 10 and data["AvgTradedPrice"] == 815.0
    assert data["Exchange"] == "NSE" and data["Segment"] == "E"


# --- the endpoints added for issue 15: the SDK's own methods for each ----------------------------


def test_sdk_sets_modifies_and_reads_a_static_ip_and_orders_then_come_only_from_it(
    sim: Simulator, sim_account: SimAccount, sdk: dhanhq, monkeypatch: pytest.MonkeyPatch
):
    # DhanLogin's IP calls build their own DhanHTTP from the class's base URL.
    monkeypatch.setattr(DhanHTTP, "API_BASE_URL", sim.rest_url)
    sim.admin.set_switches(static_ip=True, static_ip_lock_days=0.0)
    login = DhanLogin(sim_account.client_id)
    token = sim_account.access_token
    assert ok(login.set_ip(token, "127.0.0.2", "PRIMARY"))["status"] == "SUCCESS"
    got = ok(login.get_ip(token))
    assert (got["primaryIP"], got["secondaryIP"]) == ("127.0.0.2", "")
    refused = sdk.place_order("1333", "NSE_EQ", "BUY", 1, "LIMIT", "CNC", 985.0)  # from .0.1
    assert refused["status"] == "failure"
    assert refused["remarks"]["error_message"].startswith("Invalid IP")
    assert ok(login.modify_ip(token, "127.0.0.1", "PRIMARY"))["status"] == "SUCCESS"
    assert ok(login.get_ip(token))["primaryIP"] == "127.0.0.1"
    ok(sdk.place_order("1333", "NSE_EQ", "BUY", 1, "LIMIT", "CNC", 985.0))


def test_sdk_places_lists_modifies_and_cancels_forever_orders_and_a_trigger_places_an_order(
    sim: Simulator, sdk: dhanhq
):
    sim.admin.set_ltp("NSE_EQ", "1333", 990.0)
    single = ok(
        sdk.place_forever("1333", "NSE_EQ", "BUY", "CNC", "LIMIT", 5, 981.0, 980.0, tag="gtt-s")
    )["orderId"]
    oco = ok(
        sdk.place_forever(
            "1333", "NSE_EQ", "SELL", "CNC", "LIMIT", 5, 1009.0, 1010.0, order_flag="OCO",
            price1=969.0, trigger_Price1=970.0, quantity1=5,
        )
    )["orderId"]  # fmt: skip
    listed = ok(sdk.get_forever())
    assert [(r["orderId"], r["orderStatus"]) for r in listed] == [
        (single, "CONFIRM"), (oco, "CONFIRM"), (oco, "CONFIRM"),
    ]  # fmt: skip
    ok(sdk.modify_forever(single, "SINGLE", "LIMIT", "TARGET_LEG", 6, 976.0, 975.0, 0, "DAY"))
    assert ok(sdk.cancel_forever(oco)) == {"orderId": oco, "orderStatus": "CANCELLED"}
    sim.admin.set_ltp("NSE_EQ", "1333", 974.0)
    [order] = wait_until(lambda: ok(sdk.get_order_list()))
    assert (order["quantity"], order["price"], order["correlationId"]) == (6, 976.0, "gtt-s")
    assert order["orderId"] not in (single, oco)
    wait_order(sdk, order["orderId"], "TRADED")


def test_sdk_sets_reads_and_stops_a_pnl_exit(sim: Simulator, sdk: dhanhq):
    answer = ok(sdk.set_pnl_exit(1500.0, 500.0, ["INTRADAY"], enable_kill_switch=True))
    assert answer["pnlExitStatus"] == "ACTIVE"
    assert ok(sdk.get_pnl_exit()) == {
        "pnlExitStatus": "ACTIVE", "profit": "1500.00", "loss": "500.00",
        "productType": ["INTRADAY"], "enable_kill_switch": True,
    }  # fmt: skip
    assert ok(sdk.stop_pnl_exit())["pnlExitStatus"] == "DISABLED"
    assert ok(sdk.get_pnl_exit())["pnlExitStatus"] == "INACTIVE"


def test_sdk_reads_ltp_ohlc_and_quote(sim: Simulator, sdk: dhanhq):
    sim.admin.set_switches(rate_limits=False)  # the quote APIs allow one call a second
    sim.admin.set_ltp("NSE_EQ", "11536", 3150.0)
    securities = {"NSE_EQ": [11536], "NSE_FNO": [52175]}
    ltp = ok(sdk.ticker_data(securities))
    assert ltp["data"]["NSE_EQ"]["11536"] == {"last_price": 3150.0}
    assert set(ltp["data"]["NSE_FNO"]) == {"52175"}
    assert ok(sdk.ohlc_data(securities))["data"]["NSE_EQ"]["11536"]["ohlc"]["high"] == 3150.0
    quote = ok(sdk.quote_data(securities))["data"]["NSE_EQ"]["11536"]
    assert quote["last_price"] == 3150.0 and len(quote["depth"]["buy"]) == 5


def test_sdk_converts_a_position_and_calculates_margin_and_reads_the_trade_history(
    sim: Simulator, sdk: dhanhq
):
    sim.admin.set_ltp("NSE_EQ", "11536", 3150.0)
    order_id = ok(sdk.place_order("11536", "NSE_EQ", "BUY", 3, "MARKET", "INTRADAY", 0))["orderId"]
    wait_order(sdk, order_id, "TRADED")
    converted = sdk.convert_position("INTRADAY", "NSE_EQ", "LONG", "11536", 2, "CNC")
    # Dhan answers 202 with no body, which the SDK's parser reports as a failure (it json-loads
    # every body); the conversion itself is done.
    assert converted["status"] == "failure" and "Expecting value" in converted["remarks"]
    positions = {p["productType"]: p["netQty"] for p in ok(sdk.get_positions())}
    assert positions == {"INTRADAY": 1, "CNC": 2}
    margin = ok(sdk.margin_calculator("11536", "NSE_EQ", "BUY", 10, "CNC", 3150.0))
    assert margin["totalMargin"] == 31500.0 and margin["leverage"] == "1.00"
    today = date.today()
    history = ok(
        sdk.get_trade_history(str(today - timedelta(days=1)), str(today + timedelta(days=1)))
    )
    assert [(t["orderId"], t["tradedQuantity"]) for t in history] == [(order_id, 3)]
