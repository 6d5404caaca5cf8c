"""Positions from earlier days: carried MARGIN / MTF positions, CNC holdings and their sale, the
end of the day; each account's own order socket; the scrip master file, over raw HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from dhan.instruments import Limits, parse_instrument_csv
from dhansim import Simulator
from dhansim.admin import AdminCallError
from dhansim.pytest_plugin import SimAccount, new_account
from tests.integration.sim_helpers import DhanRest, FeedClient

HDFC = ("NSE_EQ", "1333")
NIFTY_FUT = ("NSE_FNO", "52175")  # lot 65, freeze 1800


def positions(rest: DhanRest) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["securityId"], p["productType"]): p for p in rest.call("GET", "/positions").json()}


def holding(rest: DhanRest, security_id: str) -> dict[str, Any] | None:
    found = [h for h in rest.call("GET", "/holdings").json() if h["securityId"] == security_id]
    return found[0] if found else None


def balance(rest: DhanRest) -> float:
    return float(rest.call("GET", "/fundlimit").json()["availabelBalance"])


def carried(
    segment_id: tuple[str, str], product: str, quantity: int, price: float
) -> dict[str, Any]:
    segment, security_id = segment_id
    return {
        "exchangeSegment": segment,
        "securityId": security_id,
        "productType": product,
        "quantity": quantity,
        "price": price,
    }


def test_a_carried_margin_position_shows_as_carry_forward_and_a_sale_today_reduces_it(
    sim: Simulator, sim_account: SimAccount
) -> None:
    sim.admin.set_ltp(*NIFTY_FUT, 25000.0)
    answer = sim.admin.carry_positions(
        sim_account.client_id, carried(NIFTY_FUT, "MARGIN", 130, 24800.0)
    )
    (shown,) = answer["positions"]
    assert shown["carryForwardBuyQty"] == 130 and shown["positionType"] == "LONG"
    rest = DhanRest(sim, sim_account)
    order = rest.place_ok(
        exchangeSegment="NSE_FNO", securityId="52175", productType="MARGIN",
        transactionType="SELL", quantity=65, price=25000.0,
    )  # fmt: skip
    rest.wait_status(order, "TRADED")
    p = positions(rest)[("52175", "MARGIN")]
    assert (p["positionType"], p["netQty"], p["buyQty"], p["sellQty"]) == ("LONG", 65, 130, 65)
    assert (p["carryForwardBuyQty"], p["carryForwardBuyValue"]) == (130, 130 * 24800.0)
    assert (p["dayBuyQty"], p["daySellQty"], p["daySellValue"]) == (0, 65, 65 * 25000.0)
    assert (p["carryForwardSellQty"], p["dayBuyValue"]) == (0, 0.0)
    assert p["realizedProfit"] == 65 * 200.0
    assert p["unrealizedProfit"] == 65 * 200.0


def test_a_carried_short_is_short_and_a_buy_covering_it_needs_no_margin(
    sim: Simulator,
) -> None:
    sim.admin.set_ltp(*NIFTY_FUT, 25000.0)
    # the short holds 244,725 of margin: 55,275 stay free, far below one lot's (243,750)
    account = new_account(sim, balance=300_000.0)
    sim.admin.carry_positions(account.client_id, carried(NIFTY_FUT, "MARGIN", -65, 25100.0))
    rest = DhanRest(sim, account)
    p = positions(rest)[("52175", "MARGIN")]
    assert (p["positionType"], p["netQty"], p["carryForwardSellQty"]) == ("SHORT", -65, 65)
    order = rest.place_ok(
        exchangeSegment="NSE_FNO", securityId="52175", productType="MARGIN", quantity=65,
        price=25000.0,
    )  # fmt: skip
    rest.wait_status(order, "TRADED")
    p = positions(rest)[("52175", "MARGIN")]
    assert (p["positionType"], p["netQty"], p["realizedProfit"]) == ("CLOSED", 0, 65 * 100.0)


def test_a_cnc_sale_against_holdings_sells_them_without_margin_and_leaves_them_at_day_end(
    sim: Simulator,
) -> None:
    sim.admin.set_ltp(*HDFC, 990.0)
    account = new_account(sim, balance=1_000.0)  # the sale is worth 39,600: no funds needed
    sim.admin.carry_positions(account.client_id, carried(HDFC, "CNC", 100, 900.0))
    rest = DhanRest(sim, account)
    before = holding(rest, "1333")
    assert before is not None
    assert (before["totalQty"], before["availableQty"], before["avgCostPrice"]) == (100, 100, 900.0)
    assert positions(rest) == {}  # holdings are not positions
    rest.wait_status(
        rest.place_ok(transactionType="SELL", productType="CNC", quantity=40, price=990.0),
        "TRADED",
    )
    p = positions(rest)[("1333", "CNC")]
    # the day's CNC position shows the sale (netQty -40, as Indian brokers show a holdings
    # sale: U at Dhan); the holdings' available quantity drops, the total at settlement
    assert (p["positionType"], p["netQty"], p["daySellQty"], p["sellAvg"]) == (
        "SHORT", -40, 40, 990.0,
    )  # fmt: skip
    assert (p["carryForwardBuyQty"], p["carryForwardSellQty"]) == (0, 0)
    assert (p["realizedProfit"], p["unrealizedProfit"]) == (40 * 90.0, 0.0)
    after = holding(rest, "1333")
    assert after is not None and (after["totalQty"], after["availableQty"]) == (100, 60)
    assert balance(rest) == 1_000.0 + 40 * 90.0  # the profit; no margin blocked
    exit_all = rest.call("DELETE", "/positions")
    assert exit_all.status_code == 202
    assert len(rest.book()) == 1  # nothing to square off: the sold holdings are not bought back
    # 10 beyond the rest of the holdings (60) would be a short: 9,900 of margin, not free
    refused = rest.place(transactionType="SELL", productType="CNC", quantity=70, price=990.0)
    assert refused.status_code == 400 and "insufficient funds" in refused.text
    sim.admin.end_of_day()
    next_day = holding(rest, "1333")
    assert next_day is not None
    assert (next_day["totalQty"], next_day["availableQty"], next_day["dpQty"]) == (60, 60, 60)
    assert positions(rest) == {}
    assert balance(rest) == 1_000.0 + 40 * 990.0  # the sale's proceeds
    # the next day sells from what is left
    rest.wait_status(
        rest.place_ok(transactionType="SELL", productType="CNC", quantity=60, price=990.0),
        "TRADED",
    )
    assert holding(rest, "1333")["availableQty"] == 0  # type: ignore[index]


def test_the_end_of_day_carries_margin_positions_turns_cnc_buys_into_holdings_and_settles_intraday(
    sim: Simulator, sim_account: SimAccount
) -> None:
    sim.admin.set_ltp(*HDFC, 990.0)
    sim.admin.set_ltp(*NIFTY_FUT, 25000.0)
    rest = DhanRest(sim, sim_account)
    start = balance(rest)
    fut = rest.place_ok(
        exchangeSegment="NSE_FNO", securityId="52175", productType="MARGIN", quantity=65,
        price=25000.0,
    )  # fmt: skip
    cnc = rest.place_ok(productType="CNC", quantity=10, price=990.0)
    intraday = rest.place_ok(productType="INTRADAY", quantity=5, price=990.0)
    for order in (fut, cnc, intraday):
        rest.wait_status(order, "TRADED")
    resting = rest.place_ok(productType="INTRADAY", quantity=5, price=900.0)
    sim.admin.set_ltp(*HDFC, 1000.0)
    assert sim.admin.end_of_day() == 1
    assert rest.order(resting)["orderStatus"] == "EXPIRED"
    shown = positions(rest)
    assert set(shown) == {("52175", "MARGIN")}
    p = shown[("52175", "MARGIN")]
    assert (p["netQty"], p["carryForwardBuyQty"], p["carryForwardBuyValue"]) == (
        65,
        65,
        65 * 25000.0,
    )
    assert (p["dayBuyQty"], p["buyAvg"], p["realizedProfit"]) == (0, 25000.0, 0.0)
    h = holding(rest, "1333")
    assert h is not None
    assert (h["totalQty"], h["t1Qty"], h["availableQty"], h["avgCostPrice"]) == (10, 10, 10, 990.0)
    # the CNC buy was paid for; the intraday one settled at the LTP (+10 a share); the
    # carried future still holds its margin (15 % of 65 x 25,000)
    assert balance(rest) == pytest.approx(start - 10 * 990.0 + 5 * 10.0 - 65 * 25000.0 * 0.15)


@pytest.mark.parametrize(
    ("item", "status", "message"),
    [
        (carried(NIFTY_FUT, "CO", 65, 100.0), 400, "CO and BO positions are intraday only"),
        (carried(HDFC, "CNC", -5, 900.0), 400, "CNC carries as holdings"),
        (carried(HDFC, "MARGIN", 5, 900.0), 400, "MARGIN is not for equity segments"),
        (carried(NIFTY_FUT, "CNC", 65, 900.0), 400, "CNC is for equity segments only"),
        (carried(NIFTY_FUT, "MARGIN", 64, 900.0), 400, "multiple of the lot size 65"),
        (carried(NIFTY_FUT, "MARGIN", 0, 900.0), 400, "non-zero integer"),
        (carried(NIFTY_FUT, "MARGIN", 65, 0), 400, "price (the average cost)"),
        (carried(("NSE_FNO", "1"), "MARGIN", 65, 1.0), 400, "name an instrument"),
        (carried(NIFTY_FUT, "FOO", 65, 1.0), 400, "productType must be"),
        (carried(NIFTY_FUT, "MARGIN", 65, 1.0), 409, "already has a MARGIN position"),
        (carried(HDFC, "CNC", 5, 900.0), 409, "already holds or traded"),
    ],
)
def test_carried_positions_the_admin_api_refuses(
    sim: Simulator, sim_account: SimAccount, item: dict[str, Any], status: int, message: str
) -> None:
    sim.admin.carry_positions(
        sim_account.client_id,
        carried(NIFTY_FUT, "MARGIN", 65, 1.0),
        carried(HDFC, "CNC", 5, 900.0),
    )
    with pytest.raises(AdminCallError) as caught:
        sim.admin.carry_positions(sim_account.client_id, item)
    assert caught.value.status == status and message in caught.value.message


def test_an_account_can_be_created_with_carried_positions(sim: Simulator) -> None:
    sim.admin.create_account(
        "1000000077", "t-77", positions=[carried(NIFTY_FUT, "MARGIN", -130, 25100.0)]
    )
    rest = DhanRest(sim, SimAccount("1000000077", "t-77"))
    p = positions(rest)[("52175", "MARGIN")]
    assert (p["netQty"], p["carryForwardSellQty"], p["sellAvg"]) == (-130, 130, 25100.0)
    with pytest.raises(AdminCallError, match="quantity must be a multiple"):
        sim.admin.create_account(
            "1000000078", "t-78", positions=[carried(NIFTY_FUT, "MARGIN", 1, 1.0)]
        )
    assert "1000000078" not in [a["dhanClientId"] for a in sim.admin.accounts()]


def test_each_account_gets_the_frames_of_its_own_orders_and_fills_only(sim: Simulator) -> None:
    sim.admin.set_ltp(*HDFC, 990.0)
    accounts = [new_account(sim), new_account(sim), new_account(sim)]
    feeds = [FeedClient(sim, a) for a in accounts]
    try:
        orders = {}
        for account in accounts:
            rest = DhanRest(sim, account)
            orders[account.client_id] = rest.place_ok(quantity=3, price=995.0)  # fills at once
        for account, feed in zip(accounts, feeds, strict=True):
            mine = orders[account.client_id]
            feed.wait_alert(lambda a, mine=mine: a["OrderNo"] == mine and a["Status"] == "TRADED")
            assert {a["OrderNo"] for a in feed.alerts()} == {mine}
            filled = [a for a in feed.alerts() if a["Status"] == "TRADED"]
            assert filled[0]["TradedQty"] == 3
    finally:
        for feed in feeds:
            feed.close()


def test_the_scrip_master_file_lists_the_master_with_lot_and_freeze_quantities(
    sim: Simulator,
) -> None:
    sim.admin.add_instruments(
        {"exchangeSegment": "NSE_FNO", "securityId": "70001", "symbol": "FINNIFTY-FUT",
         "instrument": "FUTIDX", "lotSize": 60, "tickSize": 0.05, "freezeQty": 1800, "ltp": 100.0},
    )  # fmt: skip
    answer = requests.get(sim.instruments_url, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.text.splitlines()[0].startswith("EXCH_ID,SEGMENT,SECURITY_ID,ISIN,INSTRUMENT")
    table = parse_instrument_csv(answer.text)
    assert table[("NSE_FNO", "52175")] == Limits(65, 1800)
    assert table[("NSE_FNO", "70001")] == Limits(60, 1800)
    assert table[("NSE_EQ", "1333")] == Limits(1, 0)
    listed = requests.get(f"{sim.base_url}/sim/instruments", timeout=10).json()
    assert set(table) == {(i["exchangeSegment"], i["securityId"]) for i in listed}


def _fno(rest: DhanRest, quantity: int, **fields: Any) -> str:
    body = {
        "exchangeSegment": "NSE_FNO", "securityId": "52175", "productType": "MARGIN",
        "quantity": quantity, "price": 24900.0, **fields,
    }  # fmt: skip
    return rest.place_ok(**body)


def test_the_exchange_rejects_an_order_above_the_freeze_quantity_and_a_modify_raising_one(
    sim: Simulator, sim_account: SimAccount
) -> None:
    sim.admin.set_ltp(*NIFTY_FUT, 25000.0)
    rest = DhanRest(sim, sim_account)
    above = rest.wait_status(_fno(rest, 1820), "REJECTED")  # 28 lots: above 1,800
    assert above["omsErrorDescription"] == "Quantity 1820 is above the freeze quantity 1800"
    within = _fno(rest, 1755)
    rest.wait_status(within, "PENDING")
    refused = rest.modify(within, quantity=1820, orderType="LIMIT", price=24900.0)
    assert refused.status_code == 400 and "above the freeze quantity 1800" in refused.text
    assert rest.modify(within, quantity=1690, orderType="LIMIT").status_code == 200
    assert rest.call("DELETE", f"/orders/{within}").status_code == 202  # frees its margin
    sim.admin.set_switches(freeze_limit=False)
    rest.wait_status(_fno(rest, 1820), "PENDING")


def test_exit_all_squares_a_position_above_the_freeze_quantity_off_in_pieces(
    sim: Simulator, sim_account: SimAccount
) -> None:
    sim.admin.set_ltp(*NIFTY_FUT, 25000.0)
    sim.admin.carry_positions(sim_account.client_id, carried(NIFTY_FUT, "MARGIN", 65 * 40, 25000.0))
    rest = DhanRest(sim, sim_account)
    assert rest.call("DELETE", "/positions").status_code == 202
    sizes = sorted(o["quantity"] for o in rest.book())
    assert sizes == [845, 1755]  # 40 lots: 27 + 13
    for o in rest.book():
        rest.wait_status(o["orderId"], "TRADED")
    assert positions(rest)[("52175", "MARGIN")]["netQty"] == 0


def test_converting_a_carried_position_moves_it_with_no_socket_frame(
    sim: Simulator, sim_account: SimAccount
) -> None:
    sim.admin.set_ltp(*NIFTY_FUT, 25000.0)
    sim.admin.carry_positions(sim_account.client_id, carried(NIFTY_FUT, "MARGIN", 130, 24800.0))
    rest = DhanRest(sim, sim_account)
    feed = FeedClient(sim, sim_account)
    try:
        body = {
            "dhanClientId": sim_account.client_id, "fromProductType": "MARGIN",
            "exchangeSegment": "NSE_FNO", "positionType": "LONG", "securityId": "52175",
            "convertQty": 65, "toProductType": "INTRADAY",
        }  # fmt: skip
        answer = rest.call("POST", "/positions/convert", body)
        assert (answer.status_code, answer.content) == (202, b"")
        shown = positions(rest)
        margin, intraday = shown[("52175", "MARGIN")], shown[("52175", "INTRADAY")]
        # no trade today: what moves is carried, and stays carried in the new product
        assert (margin["netQty"], margin["carryForwardBuyQty"], margin["dayBuyQty"]) == (65, 65, 0)
        assert (intraday["netQty"], intraday["carryForwardBuyQty"], intraday["buyAvg"]) == (
            65, 65, 24800.0,
        )  # fmt: skip
        # a frame the conversion sent would come before this order's own (one socket, in order)
        marker = rest.place_ok(price=900.0)
        feed.wait_alert(lambda a: a["OrderNo"] == marker)
        assert {a["OrderNo"] for a in feed.alerts()} == {marker}
    finally:
        feed.close()


def test_with_holdings_sale_view_carried_the_sold_holdings_show_as_carried_buys(
    sim: Simulator,
) -> None:
    sim.admin.set_ltp(*HDFC, 990.0)
    sim.admin.set_switches(holdings_sale_view="carried")
    account = new_account(sim, balance=1_000.0)
    sim.admin.carry_positions(account.client_id, carried(HDFC, "CNC", 100, 900.0))
    rest = DhanRest(sim, account)
    rest.wait_status(
        rest.place_ok(transactionType="SELL", productType="CNC", quantity=40, price=990.0),
        "TRADED",
    )
    p = positions(rest)[("1333", "CNC")]
    assert (p["positionType"], p["netQty"], p["buyQty"], p["buyAvg"]) == ("CLOSED", 0, 40, 900.0)
    assert (p["carryForwardBuyQty"], p["carryForwardBuyValue"]) == (40, 36_000.0)
    assert (p["dayBuyQty"], p["daySellQty"], p["sellQty"]) == (0, 40, 40)
    assert (p["realizedProfit"], p["unrealizedProfit"]) == (3_600.0, 0.0)
    assert holding(rest, "1333")["availableQty"] == 60  # type: ignore[index]
