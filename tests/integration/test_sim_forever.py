"""Forever orders (GTT): SINGLE and OCO are armed (CONFIRM) until the LTP crosses a trigger; then
a normal order with its own orderId is placed, in the book and on the socket."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount
from tests.integration.sim_helpers import DhanRest, FeedClient, wait_until
from tests.integration.test_sim_validation import assert_error

HDFC = ("NSE_EQ", "1333")


@pytest.fixture
def rest(sim: Simulator, sim_account: SimAccount) -> DhanRest:
    sim.admin.set_ltp(*HDFC, 990.0)
    return DhanRest(sim, sim_account)


def place_forever(rest: DhanRest, **fields: Any) -> Any:
    body = {
        "dhanClientId": rest.account.client_id, "correlationId": "gtt-1", "orderFlag": "SINGLE",
        "transactionType": "BUY", "exchangeSegment": "NSE_EQ", "productType": "CNC",
        "orderType": "LIMIT", "validity": "DAY", "securityId": "1333", "quantity": 5,
        "disclosedQuantity": 0, "price": 981.0, "triggerPrice": 980.0,
    }  # fmt: skip
    body.update(fields)
    return rest.call("POST", "/forever/orders", body)


def forever_id(rest: DhanRest, **fields: Any) -> str:
    answer = place_forever(rest, **fields)
    assert answer.status_code == 200, answer.text
    assert answer.json()["orderStatus"] == "PENDING"
    return str(answer.json()["orderId"])


def forever_list(rest: DhanRest) -> list[dict[str, Any]]:
    answer = rest.call("GET", "/forever/orders")
    assert answer.status_code == 200, answer.text
    assert rest.call("GET", "/forever/all").json() == answer.json()
    result: list[dict[str, Any]] = answer.json()
    return result


def test_a_single_forever_order_places_a_normal_order_when_its_trigger_is_crossed(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)
    try:
        gtt = forever_id(rest)
        [record] = forever_list(rest)
        assert (record["orderId"], record["orderStatus"], record["orderType"]) == (
            gtt, "CONFIRM", "SINGLE",
        )  # fmt: skip
        assert (record["legName"], record["quantity"], record["triggerPrice"]) == (
            "ENTRY_LEG", 5, 980.0,
        )  # fmt: skip
        sim.admin.set_ltp(*HDFC, 985.0)
        assert rest.book() == []  # armed: no order yet
        sim.admin.set_ltp(*HDFC, 979.95)
        [order] = wait_until(rest.book)
        assert order["orderId"] != gtt
        assert (order["transactionType"], order["productType"], order["orderType"]) == (
            "BUY", "CNC", "LIMIT",
        )  # fmt: skip
        assert (order["quantity"], order["price"], order["correlationId"]) == (5, 981.0, "gtt-1")
        assert rest.wait_status(order["orderId"], "TRADED")["averageTradedPrice"] == 979.95
        feed.wait_alert(lambda a: a["OrderNo"] == order["orderId"] and a["Status"] == "TRADED")
        frames = feed.alerts()
        assert {a["OrderNo"] for a in frames} == {order["orderId"]}  # no frame of the GTT itself
        good_till = date.fromisoformat(frames[0]["GoodTillDaysDate"])
        assert good_till - date.today() >= timedelta(days=364)
        assert forever_list(rest)[0]["orderStatus"] == "TRADED"
        sim.admin.set_ltp(*HDFC, 970.0)
        assert len(rest.book()) == 1  # fired once
    finally:
        feed.close()


def test_an_oco_forever_order_fires_the_leg_crossed_first_and_cancels_the_other(
    sim: Simulator, rest: DhanRest
):
    gtt = forever_id(
        rest, orderFlag="OCO", transactionType="SELL", quantity=5, price=1009.0,
        triggerPrice=1010.0, price1=969.0, triggerPrice1=970.0, quantity1=3,
    )  # fmt: skip
    records = forever_list(rest)
    assert [(r["orderId"], r["legName"], r["orderType"]) for r in records] == [
        (gtt, "TARGET_LEG", "OCO"), (gtt, "STOP_LOSS_LEG", "OCO"),
    ]  # fmt: skip
    sim.admin.set_ltp(*HDFC, 971.0)
    assert rest.book() == []
    sim.admin.set_ltp(*HDFC, 969.5)
    [order] = wait_until(rest.book)
    assert (order["transactionType"], order["quantity"], order["price"]) == ("SELL", 3, 969.0)
    sim.admin.set_ltp(*HDFC, 1011.0)  # the target leg no longer fires
    assert len(rest.book()) == 1
    assert {r["orderStatus"] for r in forever_list(rest)} == {"TRADED"}


def test_a_forever_order_is_modified_by_leg_and_cancelled(sim: Simulator, rest: DhanRest):
    gtt = forever_id(rest)
    body = {
        "dhanClientId": rest.account.client_id, "orderId": gtt, "orderFlag": "SINGLE",
        "orderType": "LIMIT", "legName": "TARGET_LEG", "quantity": 10, "price": 971.0,
        "disclosedQuantity": 0, "triggerPrice": 970.0, "validity": "DAY",
    }  # fmt: skip
    modified = rest.call("PUT", f"/forever/orders/{gtt}", body)
    assert modified.json() == {"orderId": gtt, "orderStatus": "PENDING"}, modified.text
    [record] = forever_list(rest)
    assert (record["quantity"], record["price"], record["triggerPrice"]) == (10, 971.0, 970.0)
    sim.admin.set_ltp(*HDFC, 975.0)  # past the old trigger, not the new one
    assert rest.book() == []
    cancelled = rest.call("DELETE", f"/forever/orders/{gtt}")
    assert cancelled.status_code == 202
    assert cancelled.json() == {"orderId": gtt, "orderStatus": "CANCELLED"}
    sim.admin.set_ltp(*HDFC, 960.0)
    assert rest.book() == []
    assert forever_list(rest)[0]["orderStatus"] == "CANCELLED"
    assert_error(rest.call("PUT", f"/forever/orders/{gtt}", body), 400, "DH-906", "CANCELLED")
    assert_error(rest.call("DELETE", f"/forever/orders/{gtt}"), 400, "DH-906", "CANCELLED")
    assert_error(rest.call("DELETE", "/forever/orders/123"), 404, "DH-905", "not found")


def test_a_forever_order_whose_order_is_refused_shows_rejected(sim: Simulator, rest: DhanRest):
    gtt = forever_id(rest, quantity=100_000)  # far more than the balance buys
    sim.admin.set_ltp(*HDFC, 979.0)
    assert rest.book() == []
    [record] = forever_list(rest)
    assert (record["orderId"], record["orderStatus"]) == (gtt, "REJECTED")


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"orderFlag": "GTT"}, "orderFlag"),
        ({"productType": "INTRADAY"}, "productType"),
        ({"orderType": "STOP_LOSS"}, "LIMIT or MARKET"),
        ({"triggerPrice": 0}, "triggerPrice"),
        ({"price": 0}, "price"),
        ({"orderFlag": "OCO"}, "quantity1"),
        ({"orderFlag": "OCO", "quantity1": 1, "price1": 969.0}, "triggerPrice1"),
    ],
)
def test_a_bad_forever_order_is_dh905(rest: DhanRest, fields: dict[str, Any], fragment: str):
    assert_error(place_forever(rest, **fields), 400, "DH-905", fragment)
