"""Market quote (``/marketfeed/ltp|ohlc|quote``), position conversion, the margin calculator and
the trade history, over raw HTTP."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount, new_account
from tests.integration.sim_helpers import DhanRest, FeedClient
from tests.integration.test_sim_validation import assert_error

HDFC = ("NSE_EQ", "1333")


@pytest.fixture
def rest(sim: Simulator, sim_account: SimAccount) -> DhanRest:
    sim.admin.set_ltp(*HDFC, 990.0)
    return DhanRest(sim, sim_account)


def position(rest: DhanRest, security_id: str, product: str) -> dict[str, Any] | None:
    for p in rest.call("GET", "/positions").json():
        if (p["securityId"], p["productType"]) == (security_id, product):
            return dict(p)
    return None


# --- market quote ----------------------------------------------------------------------------


def test_ltp_ohlc_and_quote_answer_dhans_nested_shape(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(rate_limits=False)  # three quote calls inside a second
    sim.admin.set_ltp(*HDFC, 1000.0)
    sim.admin.set_ltp(*HDFC, 980.0)
    sim.admin.set_ltp(*HDFC, 995.0)
    rest.wait_status(rest.place_ok(price=996.0, quantity=7), "TRADED")
    body = {"NSE_EQ": [1333, "2885", 999999], "NSE_FNO": [52175]}
    ltp = rest.call("POST", "/marketfeed/ltp", body).json()
    assert ltp["status"] == "success"
    assert ltp["data"]["NSE_EQ"] == {
        "1333": {"last_price": 995.0},
        "2885": ltp["data"]["NSE_EQ"]["2885"],
    }
    assert set(ltp["data"]["NSE_FNO"]) == {"52175"}  # an unknown id is left out
    ohlc = rest.call("POST", "/marketfeed/ohlc", {"NSE_EQ": [1333]}).json()
    assert ohlc["data"]["NSE_EQ"]["1333"] == {
        "last_price": 995.0,
        "ohlc": {"open": 990.0, "close": ohlc["data"]["NSE_EQ"]["1333"]["ohlc"]["close"],
                 "high": 1000.0, "low": 980.0},
    }  # fmt: skip
    quote = rest.call("POST", "/marketfeed/quote", {"NSE_EQ": [1333]}).json()
    q = quote["data"]["NSE_EQ"]["1333"]
    assert (q["last_price"], q["volume"], q["last_quantity"], q["average_price"]) == (
        995.0, 7, 7, 995.0,
    )  # fmt: skip
    assert [level["price"] for level in q["depth"]["buy"]] == [994.95, 994.9, 994.85, 994.8, 994.75]
    assert q["depth"]["sell"][0]["price"] == 995.05
    assert q["buy_quantity"] == sum(level["quantity"] for level in q["depth"]["buy"])
    assert len(q["last_trade_time"]) == len("01/01/1980 00:00:00")


def test_market_quote_needs_the_client_id_header_and_allows_one_call_a_second(
    sim: Simulator, rest: DhanRest
):
    no_client_id = rest.session.post(
        rest.base + "/marketfeed/ltp", json={"NSE_EQ": [1333]}, headers={"client-id": None},
        timeout=5,
    )  # fmt: skip
    assert_error(no_client_id, 401, "DH-901", "invalid or expired")
    assert rest.call("POST", "/marketfeed/ltp", {"NSE_EQ": [1333]}).status_code == 200
    # back-to-back calls: one is refused within the second (a few tries, for a loaded host)
    answers = [rest.call("POST", "/marketfeed/ltp", {"NSE_EQ": [1333]}) for _ in range(3)]
    limited = next(a for a in answers if a.status_code != 200)
    assert limited.status_code == 429
    assert limited.json()["status"] == "failed" and set(limited.json()["data"]) == {"805"}


def test_a_bad_quote_request_is_dh905(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(rate_limits=False)
    assert_error(rest.call("POST", "/marketfeed/ltp", {"NSE": [1333]}), 400, "DH-905", "segment")
    assert_error(rest.call("POST", "/marketfeed/ltp", {"NSE_EQ": 1333}), 400, "DH-905", "list")
    many = {"NSE_EQ": list(range(1001))}
    assert_error(rest.call("POST", "/marketfeed/ltp", many), 400, "DH-905", "1000")


# --- position conversion -----------------------------------------------------------------------


def convert(rest: DhanRest, **fields: Any) -> Any:
    body = {
        "dhanClientId": rest.account.client_id, "fromProductType": "INTRADAY",
        "exchangeSegment": "NSE_EQ", "positionType": "LONG", "securityId": "1333",
        "convertQty": 4, "toProductType": "CNC",
    }  # fmt: skip
    body.update(fields)
    return rest.call("POST", "/positions/convert", body)


def test_an_intraday_position_converts_to_cnc_with_a_202_and_no_socket_frame(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    rest.wait_status(rest.place_ok(price=995.0, quantity=10), "TRADED")
    feed = FeedClient(sim, sim_account)
    try:
        answer = convert(rest)
        assert (answer.status_code, answer.content) == (202, b"")
        intraday, cnc = position(rest, "1333", "INTRADAY"), position(rest, "1333", "CNC")
        assert intraday is not None and cnc is not None
        assert (intraday["netQty"], cnc["netQty"], cnc["buyAvg"]) == (6, 4, 990.0)
        assert feed.alerts() == []
    finally:
        feed.close()


def test_a_conversion_beyond_the_position_or_the_funds_is_refused(sim: Simulator, rest: DhanRest):
    rest.wait_status(rest.place_ok(price=995.0, quantity=10), "TRADED")
    assert_error(convert(rest, convertQty=11), 400, "DH-906", "No LONG INTRADAY position")
    assert_error(convert(rest, positionType="SHORT"), 400, "DH-906", "No SHORT")
    assert_error(convert(rest, toProductType="INTRADAY"), 400, "DH-905", "must differ")
    poor = DhanRest(sim, new_account(sim, balance=3_000.0))
    poor.wait_status(poor.place_ok(price=995.0, quantity=10), "TRADED")  # 20% margin: 1,980
    assert_error(convert(poor, convertQty=10), 400, "DH-906", "insufficient funds")
    assert position(poor, "1333", "INTRADAY")["netQty"] == 10  # type: ignore[index]
    assert position(poor, "1333", "CNC") is None


# --- margin calculator -------------------------------------------------------------------------


def test_the_margin_calculator_quotes_what_an_order_would_block(rest: DhanRest):
    body = {
        "dhanClientId": rest.account.client_id, "exchangeSegment": "NSE_EQ",
        "transactionType": "BUY", "quantity": 10, "productType": "INTRADAY",
        "securityId": "1333", "price": 1000.0, "triggerPrice": 0.0,
    }  # fmt: skip
    answer = rest.call("POST", "/margincalculator", body)
    assert answer.status_code == 200, answer.text
    margin = answer.json()
    assert set(margin) == {
        "totalMargin", "spanMargin", "exposureMargin", "availableBalance", "variableMargin",
        "insufficientBalance", "brokerage", "leverage",
    }  # fmt: skip
    assert (margin["totalMargin"], margin["insufficientBalance"], margin["leverage"]) == (
        2000.0, 0.0, "5.00",
    )  # fmt: skip
    assert margin["availableBalance"] == rest.call("GET", "/fundlimit").json()["availabelBalance"]
    assert_error(
        rest.call("POST", "/margincalculator", {**body, "quantity": 0}), 400, "DH-905", "quantity"
    )


# --- trade history -----------------------------------------------------------------------------


def test_the_trade_history_pages_todays_fills_with_the_history_fields(
    sim: Simulator, rest: DhanRest
):
    sim.admin.set_switches(rate_limits=False)
    ids = [rest.place_ok(price=995.0) for _ in range(21)]
    for order_id in ids:
        rest.wait_status(order_id, "TRADED")
    today = date.today()
    span = f"/trades/{today - timedelta(days=1)}/{today + timedelta(days=1)}"
    first, second = rest.call("GET", f"{span}/0").json(), rest.call("GET", f"{span}/1").json()
    assert (len(first), len(second)) == (20, 1)
    assert [t["orderId"] for t in first + second] == ids
    assert {"isin", "instrument", "stt", "brokerageCharges", "exchangeTradeId"} <= set(first[0])
    assert rest.call("GET", f"{span}/2").json() == []
    past = f"/trades/{today - timedelta(days=9)}/{today - timedelta(days=2)}/0"
    assert rest.call("GET", past).json() == []
    assert_error(rest.call("GET", f"/trades/{today}/yesterday/0"), 400, "DH-905", "to-date")
