"""Matching against LTP: limits, stops, market price protection, IOC, partial fills, end of day."""

from __future__ import annotations

import random

import pytest

from dhansim import Simulator
from dhansim.instruments import InstrumentMaster
from dhansim.market import Market
from dhansim.pytest_plugin import SimAccount
from tests.integration.sim_helpers import DhanRest, FeedClient, wait_until

HDFC = ("NSE_EQ", "1333")


@pytest.fixture
def rest(sim: Simulator, sim_account: SimAccount) -> DhanRest:
    sim.admin.set_ltp(*HDFC, 990.0)
    return DhanRest(sim, sim_account)


def test_a_limit_buy_rests_until_ltp_crosses_and_then_fills_at_its_limit(
    sim: Simulator, rest: DhanRest
):
    order_id = rest.place_ok(price=985.0, quantity=4)
    order = rest.wait_status(order_id, "PENDING")
    assert order["filledQty"] == 0 and order["remainingQuantity"] == 4
    sim.admin.set_ltp(*HDFC, 985.05)
    assert rest.order(order_id)["orderStatus"] == "PENDING"
    sim.admin.set_ltp(*HDFC, 980.0)
    order = rest.wait_status(order_id, "TRADED")
    assert order["averageTradedPrice"] == 985.0
    assert order["filledQty"] == 4 and order["remainingQuantity"] == 0


def test_a_marketable_limit_fills_on_arrival_at_the_ltp(rest: DhanRest):
    order_id = rest.place_ok(price=995.0)
    assert rest.wait_status(order_id, "TRADED")["averageTradedPrice"] == 990.0


def test_a_stop_loss_buy_triggers_at_its_trigger_then_works_as_a_limit(
    sim: Simulator, rest: DhanRest
):
    order_id = rest.place_ok(orderType="STOP_LOSS", triggerPrice=995.0, price=996.0)
    rest.wait_status(order_id, "PENDING")
    sim.admin.set_ltp(*HDFC, 994.95)
    assert rest.order(order_id)["orderStatus"] == "PENDING"
    sim.admin.set_ltp(*HDFC, 997.0)  # triggered, but the 996 limit is not marketable
    assert rest.order(order_id)["orderStatus"] == "PENDING"
    sim.admin.set_ltp(*HDFC, 995.5)
    assert rest.wait_status(order_id, "TRADED")["averageTradedPrice"] == 996.0


def test_a_stop_loss_market_sell_triggers_and_fills_at_the_ltp(sim: Simulator, rest: DhanRest):
    order_id = rest.place_ok(
        transactionType="SELL", orderType="STOP_LOSS_MARKET", triggerPrice=980.0, price=0
    )
    rest.wait_status(order_id, "PENDING")
    sim.admin.set_ltp(*HDFC, 979.5)
    assert rest.wait_status(order_id, "TRADED")["averageTradedPrice"] == 979.5


def test_a_stop_whose_trigger_is_already_crossed_is_rejected_by_the_exchange(rest: DhanRest):
    order_id = rest.place_ok(orderType="STOP_LOSS_MARKET", triggerPrice=985.0, price=0)
    order = rest.wait_status(order_id, "REJECTED")
    assert "above LTP" in order["omsErrorDescription"]


def test_market_price_protection_shows_a_limit_that_can_stay_pending(
    sim: Simulator, rest: DhanRest
):
    sim.admin.set_ltp(*HDFC, 990.0, liquid=False)
    order_id = rest.place_ok(orderType="MARKET", price=0)
    order = rest.wait_status(order_id, "PENDING")
    assert order["orderType"] == "LIMIT"
    assert order["price"] == pytest.approx(1019.7)  # 990 + 3 %, on the 0.05 tick
    sim.admin.set_ltp(*HDFC, 1030.0, liquid=True)  # liquid again, but beyond the band
    assert rest.order(order_id)["orderStatus"] == "PENDING"
    sim.admin.set_ltp(*HDFC, 1015.0)
    assert rest.wait_status(order_id, "TRADED")["averageTradedPrice"] == 1015.0


@pytest.mark.parametrize(
    ("as_limit", "shown", "feed_type", "band"),
    [(True, "LIMIT", "LMT", 1019.7), (False, "MARKET", "MKT", 0.0)],
    ids=["mpp_show_as_limit", "mpp_show_as_market"],
)
def test_a_protected_market_order_looks_the_same_in_every_view_once_at_the_market(
    sim: Simulator,
    sim_account: SimAccount,
    rest: DhanRest,
    as_limit: bool,
    shown: str,
    feed_type: str,
    band: float,
):
    # Dhan's MPP: an API MARKET order becomes a LIMIT at the band price. The book by id, the
    # book, the socket's PENDING and TRADED frames and the trade book tell one story per
    # mpp_show_as_limit; only the TRANSIT frame (not yet at the market) says MKT at 0.
    sim.admin.set_switches(mpp_show_as_limit=as_limit)
    feed = FeedClient(sim, sim_account)
    try:
        sim.admin.set_ltp(*HDFC, 990.0, liquid=False)  # illiquid: the order rests PENDING
        order_id = rest.place_ok(orderType="MARKET", price=0)
        order = rest.wait_status(order_id, "PENDING")
        assert (order["orderType"], order["price"]) == (shown, pytest.approx(band))
        [listed] = [o for o in rest.book() if o["orderId"] == order_id]
        assert (listed["orderType"], listed["price"]) == (shown, pytest.approx(band))
        pending = feed.wait_alert(lambda a: a["OrderNo"] == order_id and a["Status"] == "PENDING")
        assert (pending["OrderType"], pending["Price"]) == (feed_type, pytest.approx(band))
        sim.admin.set_ltp(*HDFC, 1000.0, liquid=True)
        traded = feed.wait_alert(lambda a: a["OrderNo"] == order_id and a["Status"] == "TRADED")
        assert (traded["OrderType"], traded["Price"]) == (feed_type, pytest.approx(band))
        assert traded["AvgTradedPrice"] == 1000.0
        order = rest.order(order_id)
        assert (order["orderType"], order["price"]) == (shown, pytest.approx(band))
        for path in ("/trades", f"/trades/{order_id}"):
            [fill] = [t for t in rest.call("GET", path).json() if t["orderId"] == order_id]
            assert (fill["orderType"], fill["tradedPrice"]) == (shown, 1000.0), path
        transit = feed.wait_alert(lambda a: a["OrderNo"] == order_id)
        assert (transit["Status"], transit["OrderType"], transit["Price"]) == ("TRANSIT", "MKT", 0)
    finally:
        feed.close()


def test_without_market_protection_a_market_order_stays_market_and_fills_at_ltp(
    sim: Simulator, rest: DhanRest
):
    sim.admin.set_switches(market_protection=False)
    order_id = rest.place_ok(orderType="MARKET", price=0)
    order = rest.wait_status(order_id, "TRADED")
    assert order["orderType"] == "MARKET" and order["averageTradedPrice"] == 990.0


def test_an_ioc_limit_that_cannot_fill_expires_at_once(rest: DhanRest):
    order_id = rest.place_ok(validity="IOC", price=980.0)
    order = rest.wait_status(order_id, "EXPIRED")
    assert order["filledQty"] == 0


def test_an_ioc_remainder_can_be_cancelled_instead_of_expired(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(ioc_remainder_status="CANCELLED")
    order_id = rest.place_ok(validity="IOC", price=980.0)
    rest.wait_status(order_id, "CANCELLED")


def test_partial_fills_go_through_part_traded_with_a_trade_and_a_frame_per_fill(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)
    sim.admin.set_partial_fills(enabled=True, parts=3, interval_ms=300)
    order_id = rest.place_ok(price=995.0, quantity=9)
    seen = rest.wait_status(order_id, "PART_TRADED")
    assert 0 < seen["filledQty"] < 9
    order = rest.wait_status(order_id, "TRADED")
    assert order["filledQty"] == 9
    trades = rest.call("GET", f"/trades/{order_id}").json()
    assert [t["tradedQuantity"] for t in trades] == [3, 3, 3]
    feed.wait_alert(lambda a: a["OrderNo"] == order_id and a["Status"] == "TRADED")
    fills = [
        (a["Status"], a["TradedQty"], a["RemainingQuantity"])
        for a in feed.alerts()
        if a["OrderNo"] == order_id and a["TradedQty"]
    ]
    assert fills == [("PENDING", 3, 6), ("PENDING", 6, 3), ("TRADED", 9, 0)]
    feed.close()


def test_partial_ioc_fills_one_part_and_expires_the_rest(sim: Simulator, rest: DhanRest):
    sim.admin.set_partial_fills(enabled=True, parts=2)
    order_id = rest.place_ok(validity="IOC", price=995.0, quantity=10)
    order = rest.wait_status(order_id, "EXPIRED")
    assert order["filledQty"] == 5 and order["remainingQuantity"] == 5


def test_end_of_day_expires_open_day_orders_only(sim: Simulator, rest: DhanRest):
    resting = rest.place_ok(price=900.0)
    filled = rest.place_ok(price=995.0)
    rest.wait_status(resting, "PENDING")
    rest.wait_status(filled, "TRADED")
    assert sim.admin.end_of_day() == 1
    assert rest.order(resting)["orderStatus"] == "EXPIRED"
    assert rest.order(filled)["orderStatus"] == "TRADED"


def test_an_order_is_in_transit_until_the_exchange_accepts_it(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(exchange_delay_ms=1000)
    response = rest.place(price=900.0)
    assert response.json()["orderStatus"] == "TRANSIT"
    order_id = response.json()["orderId"]
    assert rest.order(order_id)["orderStatus"] == "TRANSIT"
    rest.wait_status(order_id, "PENDING")


def test_an_order_cancelled_in_transit_never_reaches_the_exchange(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(exchange_delay_ms=1000)
    order_id = rest.place_ok(price=995.0)
    assert rest.call("DELETE", f"/orders/{order_id}").status_code == 202
    sim.admin.set_switches(exchange_delay_ms=0)
    rest.place_ok(price=900.0)  # a later order is accepted: the cancelled one stayed so
    assert rest.order(order_id)["orderStatus"] == "CANCELLED"
    assert rest.call("GET", "/trades").json() == []


def test_cancel_answers_202_with_the_documented_body_or_empty_by_switch(
    sim: Simulator, rest: DhanRest
):
    first = rest.place_ok(price=900.0)
    response = rest.call("DELETE", f"/orders/{first}")
    assert response.status_code == 202
    assert response.json() == {"orderId": first, "orderStatus": "CANCELLED"}
    sim.admin.set_switches(cancel_empty_body=True)
    second = rest.place_ok(price=900.0)
    response = rest.call("DELETE", f"/orders/{second}")
    assert (response.status_code, response.content) == (202, b"")


def test_admin_fill_fills_an_exact_quantity_at_an_exact_price(sim: Simulator, rest: DhanRest):
    order_id = rest.place_ok(price=900.0, quantity=10)
    rest.wait_status(order_id, "PENDING")
    sim.admin.fill(order_id, quantity=4, price=899.5)
    order = rest.order(order_id)
    assert (order["orderStatus"], order["filledQty"], order["averageTradedPrice"]) == (
        "PART_TRADED",
        4,
        899.5,
    )


def test_a_round_trip_books_realized_profit_and_frees_the_margin(sim: Simulator, rest: DhanRest):
    start = rest.call("GET", "/fundlimit").json()["availabelBalance"]
    rest.wait_status(rest.place_ok(price=995.0, quantity=10), "TRADED")
    held = rest.call("GET", "/fundlimit").json()
    assert held["availabelBalance"] == pytest.approx(start - 10 * 990.0 * 0.2)
    sim.admin.set_ltp(*HDFC, 1000.0)
    rest.wait_status(rest.place_ok(transactionType="SELL", price=995.0, quantity=10), "TRADED")
    [position] = rest.call("GET", "/positions").json()
    assert position["netQty"] == 0 and position["positionType"] == "CLOSED"
    assert position["realizedProfit"] == pytest.approx(100.0)
    assert rest.call("GET", "/fundlimit").json()["availabelBalance"] == pytest.approx(start + 100)


def test_modify_quantity_is_the_total_and_keeps_the_fills(sim: Simulator, rest: DhanRest):
    order_id = rest.place_ok(price=900.0, quantity=10)
    rest.wait_status(order_id, "PENDING")
    sim.admin.fill(order_id, quantity=4)
    assert rest.modify(order_id, orderType="LIMIT", quantity=6).status_code == 200
    order = rest.order(order_id)
    assert (order["quantity"], order["filledQty"], order["remainingQuantity"]) == (6, 4, 2)
    assert rest.modify(order_id, orderType="LIMIT", quantity=4).status_code == 400


def test_a_modify_that_makes_a_limit_marketable_fills_it(rest: DhanRest):
    order_id = rest.place_ok(price=900.0)
    rest.wait_status(order_id, "PENDING")
    assert rest.modify(order_id, orderType="LIMIT", price=990.0).status_code == 200
    assert rest.wait_status(order_id, "TRADED")["averageTradedPrice"] == 990.0


def test_slicing_splits_above_the_freeze_quantity_with_one_correlation_id(rest: DhanRest):
    response = rest.place(
        "/orders/slicing",
        exchangeSegment="NSE_FNO",
        securityId="60101",
        productType="MARGIN",
        quantity=65 * 30,
        price=100.0,
        correlationId="slice-1",
    )
    assert response.status_code == 200, response.text
    children = response.json()
    assert len(children) == 2
    quantities = sorted(rest.order(c["orderId"])["quantity"] for c in children)
    assert quantities == [195, 1755]  # 27 lots of 65 fit under the 1800 freeze
    latest = rest.call("GET", "/orders/external/slice-1").json()
    assert latest["orderId"] == children[-1]["orderId"]


def test_slicing_refuses_a_quantity_that_needs_more_than_a_hundred_children(rest: DhanRest):
    fields = {"exchangeSegment": "NSE_FNO", "securityId": "60101", "productType": "MARGIN"}
    # 1755 per child (27 lots): 100 children hold 175,500; one lot more needs a 101st.
    too_many = rest.place("/orders/slicing", **fields, quantity=175_500 + 65, price=0.05)
    assert too_many.status_code == 400, too_many.text
    assert too_many.json()["errorCode"] == "DH-905"
    assert "more than 100 slices" in too_many.json()["errorMessage"]
    assert rest.book() == []
    hundred = rest.place("/orders/slicing", **fields, quantity=175_500, price=0.05)
    assert hundred.status_code == 200, hundred.text
    assert len(hundred.json()) == 100


def test_the_random_walk_is_reproducible_from_the_seed():
    def path(seed: int) -> list[float]:
        master = InstrumentMaster()
        market = Market(master, random.Random(seed))
        inst = master.get("NSE_EQ", "2885")
        assert inst is not None
        out = []
        for _ in range(50):
            market.walk(0.001)
            out.append(market.ltp(inst))
        return out

    assert path(7) == path(7)
    assert path(7) != path(8)
    assert all(p > 0 for p in path(7))


def test_unpinned_prices_walk_while_pinned_ones_stay(sim_factory):
    sim = sim_factory(random_walk=True, walk_interval_ms=10, walk_volatility=0.01)
    sim.admin.set_ltp(*HDFC, 990.0)
    start = sim.admin.ltp("NSE_EQ", "2885")
    wait_until(lambda: sim.admin.ltp("NSE_EQ", "2885") != start)
    assert sim.admin.ltp(*HDFC) == 990.0
