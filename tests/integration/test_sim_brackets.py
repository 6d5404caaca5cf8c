"""CO / BO legs (own order ids, linked to the entry), broker OCO on and off, and super orders."""

from __future__ import annotations

from typing import Any

import pytest

from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount
from tests.integration.sim_helpers import DhanRest, FeedClient, wait_until

HDFC = ("NSE_EQ", "1333")


@pytest.fixture
def rest(sim: Simulator, sim_account: SimAccount) -> DhanRest:
    sim.admin.set_ltp(*HDFC, 990.0)
    return DhanRest(sim, sim_account)


def legs_of(rest: DhanRest, entry_id: str) -> dict[str, dict[str, Any]]:
    """The entry's child legs in GET /orders, by legName (linked by the entry's correlationId)."""
    entry = rest.order(entry_id)
    return {
        o["legName"]: o
        for o in rest.book()
        if o["orderId"] != entry_id
        and o["correlationId"] == entry["correlationId"]
        and o["legName"] in ("TARGET_LEG", "STOP_LOSS_LEG")
    }


def place_bo(rest: DhanRest, **fields: Any) -> str:
    body = {
        "productType": "BO",
        "price": 990.0,
        "quantity": 5,
        "boProfitValue": 10.0,
        "boStopLossValue": 5.0,
        "correlationId": "bo-1",
    }
    body.update(fields)
    return rest.place_ok(**body)


def test_a_filled_bracket_entry_creates_target_and_stop_legs_with_their_own_ids(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)
    entry_id = place_bo(rest)
    entry = rest.wait_status(entry_id, "TRADED")
    assert entry["legName"] == "ENTRY_LEG" and entry["productType"] == "BO"
    legs = wait_until(lambda: len(legs_of(rest, entry_id)) == 2 and legs_of(rest, entry_id))
    target, stop = legs["TARGET_LEG"], legs["STOP_LOSS_LEG"]
    assert len({entry_id, target["orderId"], stop["orderId"]}) == 3
    assert (target["transactionType"], target["orderType"], target["price"]) == (
        "SELL",
        "LIMIT",
        1000.0,
    )
    assert (stop["orderType"], stop["triggerPrice"]) == ("STOP_LOSS_MARKET", 985.0)
    admin_view = {o["orderId"]: o for o in sim.admin.orders(sim_account.client_id)}
    assert admin_view[target["orderId"]]["parentOrderId"] == entry_id
    frame = feed.wait_alert(lambda a: a["OrderNo"] == stop["orderId"])
    assert (frame["AlgoOrdNo"], frame["LegNo"], frame["Product"]) == (int(entry_id), 2, "B")
    target_frame = feed.wait_alert(lambda a: a["OrderNo"] == target["orderId"])
    assert (target_frame["LegNo"], target_frame["CorrelationId"]) == (3, "bo-1")
    feed.close()


def test_bracket_values_can_be_absolute_prices_by_switch(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(bo_values_absolute=True)
    entry_id = place_bo(rest, boProfitValue=1010.0, boStopLossValue=970.0)
    rest.wait_status(entry_id, "TRADED")
    legs = wait_until(lambda: len(legs_of(rest, entry_id)) == 2 and legs_of(rest, entry_id))
    assert legs["TARGET_LEG"]["price"] == 1010.0
    assert legs["STOP_LOSS_LEG"]["triggerPrice"] == 970.0


def test_with_broker_oco_a_filled_target_cancels_the_stop(sim: Simulator, rest: DhanRest):
    entry_id = place_bo(rest)
    rest.wait_status(entry_id, "TRADED")
    legs = wait_until(lambda: len(legs_of(rest, entry_id)) == 2 and legs_of(rest, entry_id))
    sim.admin.set_ltp(*HDFC, 1001.0)
    rest.wait_status(legs["TARGET_LEG"]["orderId"], "TRADED")
    assert rest.order(legs["STOP_LOSS_LEG"]["orderId"])["orderStatus"] == "CANCELLED"
    [position] = rest.call("GET", "/positions").json()
    assert position["netQty"] == 0


def test_without_broker_oco_both_exit_legs_stay_live_and_can_both_fill(
    sim: Simulator, rest: DhanRest
):
    sim.admin.set_switches(broker_oco=False)
    entry_id = place_bo(rest)
    rest.wait_status(entry_id, "TRADED")
    legs = wait_until(lambda: len(legs_of(rest, entry_id)) == 2 and legs_of(rest, entry_id))
    sim.admin.set_ltp(*HDFC, 1001.0)
    rest.wait_status(legs["TARGET_LEG"]["orderId"], "TRADED")
    assert rest.order(legs["STOP_LOSS_LEG"]["orderId"])["orderStatus"] == "PENDING"
    sim.admin.set_ltp(*HDFC, 984.0)
    rest.wait_status(legs["STOP_LOSS_LEG"]["orderId"], "TRADED")
    [position] = rest.call("GET", "/positions").json()
    assert position["netQty"] == -5  # the double exit the engine's own OCO must prevent


def test_a_stop_fill_cancels_the_target_with_oco(sim: Simulator, rest: DhanRest):
    entry_id = place_bo(rest, transactionType="SELL", price=990.0)
    rest.wait_status(entry_id, "TRADED")
    legs = wait_until(lambda: len(legs_of(rest, entry_id)) == 2 and legs_of(rest, entry_id))
    assert legs["TARGET_LEG"]["price"] == 980.0 and legs["STOP_LOSS_LEG"]["triggerPrice"] == 995.0
    sim.admin.set_ltp(*HDFC, 996.0)
    rest.wait_status(legs["STOP_LOSS_LEG"]["orderId"], "TRADED")
    assert rest.order(legs["TARGET_LEG"]["orderId"])["orderStatus"] == "CANCELLED"


def test_a_cover_order_gets_a_stop_leg_from_its_trigger_price(sim: Simulator, rest: DhanRest):
    entry_id = rest.place_ok(
        productType="CO", orderType="MARKET", price=0, triggerPrice=980.0, quantity=3,
        correlationId="co-1",
    )  # fmt: skip
    rest.wait_status(entry_id, "TRADED")
    legs = wait_until(lambda: legs_of(rest, entry_id))
    assert set(legs) == {"STOP_LOSS_LEG"}
    stop = legs["STOP_LOSS_LEG"]
    assert (stop["transactionType"], stop["triggerPrice"], stop["quantity"]) == ("SELL", 980.0, 3)
    sim.admin.set_ltp(*HDFC, 979.0)
    rest.wait_status(stop["orderId"], "TRADED")


def test_a_leg_is_modified_by_its_own_id_or_by_the_entry_id_with_leg_name(rest: DhanRest):
    entry_id = place_bo(rest)
    rest.wait_status(entry_id, "TRADED")
    legs = wait_until(lambda: len(legs_of(rest, entry_id)) == 2 and legs_of(rest, entry_id))
    target_id = legs["TARGET_LEG"]["orderId"]
    response = rest.modify(target_id, orderType="LIMIT", legName="TARGET_LEG", price=1005.0)
    assert response.status_code == 200, response.text
    assert rest.order(target_id)["price"] == 1005.0
    response = rest.modify(
        entry_id, orderType="STOP_LOSS_MARKET", legName="STOP_LOSS_LEG", triggerPrice=986.0
    )
    assert response.status_code == 200, response.text
    assert rest.order(legs["STOP_LOSS_LEG"]["orderId"])["triggerPrice"] == 986.0
    assert rest.modify(target_id, orderType="MARKET").status_code == 400


def place_super(rest: DhanRest, **fields: Any) -> str:
    body = {
        "dhanClientId": rest.account.client_id,
        "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ",
        "productType": "INTRADAY",
        "orderType": "LIMIT",
        "securityId": "1333",
        "quantity": 4,
        "price": 990.0,
        "targetPrice": 1000.0,
        "stopLossPrice": 980.0,
        "trailingJump": 0.0,
        "correlationId": "so-1",
    }
    body.update(fields)
    response = rest.call("POST", "/super/orders", body)
    assert response.status_code == 200, response.text
    return str(response.json()["orderId"])


def super_book(rest: DhanRest) -> dict[str, Any]:
    [record] = rest.call("GET", "/super/orders").json()
    record["legs"] = {leg["legName"]: leg for leg in record["legDetails"]}
    return record


def test_a_super_order_closes_when_its_target_fills_and_cancels_the_stop(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)
    order_id = place_super(rest)
    wait_until(lambda: super_book(rest)["orderStatus"] == "TRADED")
    sim.admin.set_ltp(*HDFC, 1000.5)
    wait_until(lambda: super_book(rest)["orderStatus"] == "CLOSED")
    legs = super_book(rest)["legs"]
    assert legs["TARGET_LEG"]["orderStatus"] == "TRADED"
    assert legs["STOP_LOSS_LEG"]["orderStatus"] == "CANCELLED"
    assert all(leg["orderId"] == order_id for leg in legs.values())
    feed.wait_alert(lambda a: a["LegNo"] == 3 and a["Status"] == "TRADED")
    frames = [a for a in feed.alerts() if a["OrderNo"] == order_id]
    assert {a["Remarks"] for a in frames} == {"Super Order"}
    assert {a["LegNo"] for a in frames} == {1, 2, 3}
    assert {a["CorrelationId"] for a in frames} == {"so-1"}
    # The order book shows the super order's legs under its orderId (as Dhan's docs say).
    assert [(o["orderId"], o["legName"]) for o in rest.book()] == [
        (order_id, leg) for leg in ("ENTRY_LEG", "TARGET_LEG", "STOP_LOSS_LEG")
    ]
    feed.close()


def test_super_legs_in_order_book_lists_the_exit_legs_in_get_orders_once_the_entry_traded(
    sim: Simulator, rest: DhanRest
):
    assert sim.admin.switches()["super_legs_in_order_book"]  # the default, as Dhan's docs say
    order_id = place_super(rest, price=985.0)
    wait_until(lambda: super_book(rest)["orderStatus"] == "PENDING")
    assert [(o["orderId"], o["legName"]) for o in rest.book()] == [(order_id, "ENTRY_LEG")]
    sim.admin.set_ltp(*HDFC, 984.0)
    wait_until(lambda: super_book(rest)["orderStatus"] == "TRADED")
    book = {o["legName"]: o for o in rest.book()}
    assert list(book) == ["ENTRY_LEG", "TARGET_LEG", "STOP_LOSS_LEG"]
    assert {o["orderId"] for o in book.values()} == {order_id}
    assert {o["correlationId"] for o in book.values()} == {"so-1"}
    target, stop = book["TARGET_LEG"], book["STOP_LOSS_LEG"]
    assert (target["transactionType"], target["orderType"], target["price"]) == (
        "SELL", "LIMIT", 1000.0,
    )  # fmt: skip
    assert (stop["transactionType"], stop["orderType"], stop["triggerPrice"]) == (
        "SELL", "STOP_LOSS_MARKET", 980.0,
    )  # fmt: skip
    assert (target["quantity"], stop["quantity"]) == (4, 4)
    assert (target["orderStatus"], stop["orderStatus"]) == ("PENDING", "PENDING")
    sim.admin.set_ltp(*HDFC, 1000.5)
    wait_until(lambda: super_book(rest)["orderStatus"] == "CLOSED")
    statuses = {o["legName"]: o["orderStatus"] for o in rest.book()}
    assert statuses == {"ENTRY_LEG": "TRADED", "TARGET_LEG": "TRADED", "STOP_LOSS_LEG": "CANCELLED"}
    # GET /orders/{id} is still the super order's entry
    assert rest.order(order_id)["legName"] == "ENTRY_LEG"


def test_without_super_legs_in_order_book_a_traded_super_order_is_listed_once(
    sim: Simulator, rest: DhanRest
):
    sim.admin.set_switches(super_legs_in_order_book=False)
    order_id = place_super(rest)
    wait_until(lambda: super_book(rest)["orderStatus"] == "TRADED")
    assert [(o["orderId"], o["legName"]) for o in rest.book()] == [(order_id, "ENTRY_LEG")]


def test_without_broker_oco_both_super_exit_legs_stay_live_and_can_both_fill(
    sim: Simulator, rest: DhanRest
):
    sim.admin.set_switches(broker_oco=False)
    place_super(rest)
    wait_until(lambda: super_book(rest)["orderStatus"] == "TRADED")
    sim.admin.set_ltp(*HDFC, 1000.5)
    wait_until(lambda: super_book(rest)["legs"]["TARGET_LEG"]["orderStatus"] == "TRADED")
    assert super_book(rest)["legs"]["STOP_LOSS_LEG"]["orderStatus"] == "PENDING"
    sim.admin.set_ltp(*HDFC, 979.0)
    wait_until(lambda: super_book(rest)["legs"]["STOP_LOSS_LEG"]["orderStatus"] == "TRADED")
    [position] = rest.call("GET", "/positions").json()
    assert position["netQty"] == -4  # both exits sold: the engine's own OCO must prevent this


def test_the_26th_modification_of_a_super_order_is_refused(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(rate_limits=False)  # 26 writes in a burst exceed 10/s
    order_id = place_super(rest, price=985.0)
    wait_until(lambda: super_book(rest)["orderStatus"] == "PENDING")
    body = {"dhanClientId": rest.account.client_id, "orderId": order_id, "legName": "TARGET_LEG"}
    for i in range(25):
        response = rest.call(
            "PUT", f"/super/orders/{order_id}", {**body, "targetPrice": 1000.0 + (i + 1) * 0.05}
        )
        assert response.status_code == 200, (i, response.text)
    refused = rest.call("PUT", f"/super/orders/{order_id}", {**body, "targetPrice": 1010.0})
    assert refused.status_code == 400 and refused.json()["errorCode"] == "DH-906"
    assert "25 modifications" in refused.json()["errorMessage"]
    assert super_book(rest)["legs"]["TARGET_LEG"]["price"] == 1001.25


def test_a_super_stop_triggers_shows_triggered_then_traded(sim: Simulator, rest: DhanRest):
    sim.admin.set_partial_fills(enabled=True, parts=2, interval_ms=400)
    place_super(rest, quantity=4)
    wait_until(lambda: super_book(rest)["orderStatus"] == "TRADED", timeout_s=5)
    sim.admin.set_ltp(*HDFC, 979.0)
    wait_until(lambda: super_book(rest)["legs"]["STOP_LOSS_LEG"]["orderStatus"] == "TRIGGERED")
    wait_until(lambda: super_book(rest)["orderStatus"] == "CLOSED")
    assert super_book(rest)["legs"]["TARGET_LEG"]["orderStatus"] == "CANCELLED"


def test_a_super_stop_trails_by_whole_jumps_and_never_back(sim: Simulator, rest: DhanRest):
    place_super(rest, trailingJump=5.0)
    wait_until(lambda: super_book(rest)["orderStatus"] == "TRADED")
    sim.admin.set_ltp(*HDFC, 994.0)
    assert super_book(rest)["legs"]["STOP_LOSS_LEG"]["price"] == 980.0
    sim.admin.set_ltp(*HDFC, 999.0)
    assert super_book(rest)["legs"]["STOP_LOSS_LEG"]["price"] == 985.0
    sim.admin.set_ltp(*HDFC, 996.0)
    assert super_book(rest)["legs"]["STOP_LOSS_LEG"]["price"] == 985.0


def test_super_legs_are_modified_and_cancelled_by_leg(sim: Simulator, rest: DhanRest):
    order_id = place_super(rest, price=985.0)
    wait_until(lambda: super_book(rest)["orderStatus"] == "PENDING")
    body = {"dhanClientId": rest.account.client_id, "orderId": order_id}
    entry = {
        **body,
        "legName": "ENTRY_LEG",
        "orderType": "LIMIT",
        "quantity": 6,
        "price": 986.0,
        "targetPrice": 1001.0,
        "stopLossPrice": 981.0,
        "trailingJump": 0,
    }
    assert rest.call("PUT", f"/super/orders/{order_id}", entry).status_code == 200
    record = super_book(rest)
    assert (record["quantity"], record["price"]) == (6, 986.0)
    assert record["legs"]["TARGET_LEG"]["price"] == 1001.0
    response = rest.call("DELETE", f"/super/orders/{order_id}/TARGET_LEG")
    assert response.status_code == 202
    target = {**body, "legName": "TARGET_LEG", "targetPrice": 1002.0}
    refused = rest.call("PUT", f"/super/orders/{order_id}", target)
    assert refused.status_code == 400 and "cannot be modified" in refused.json()["errorMessage"]
    sim.admin.set_ltp(*HDFC, 985.0)
    wait_until(lambda: super_book(rest)["orderStatus"] == "TRADED")
    refused = rest.call("PUT", f"/super/orders/{order_id}", entry)
    assert refused.status_code == 400 and "PENDING or PART_TRADED" in refused.text
    stop = {**body, "legName": "STOP_LOSS_LEG", "stopLossPrice": 982.0, "trailingJump": 0}
    assert rest.call("PUT", f"/super/orders/{order_id}", stop).status_code == 200
    assert super_book(rest)["legs"]["STOP_LOSS_LEG"]["price"] == 982.0
    assert rest.call("DELETE", f"/super/orders/{order_id}/ENTRY_LEG").status_code == 202
    assert super_book(rest)["legs"]["STOP_LOSS_LEG"]["orderStatus"] == "CANCELLED"


def test_a_super_entry_cancelled_before_any_fill_cancels_every_leg(rest: DhanRest):
    order_id = place_super(rest, price=985.0)
    wait_until(lambda: super_book(rest)["orderStatus"] == "PENDING")
    assert rest.call("DELETE", f"/orders/{order_id}").status_code == 202
    record = super_book(rest)
    assert record["orderStatus"] == "CANCELLED"
    assert {leg["orderStatus"] for leg in record["legDetails"]} == {"CANCELLED"}
