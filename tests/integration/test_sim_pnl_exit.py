"""P&L based exit (``POST``/``GET``/``DELETE /pnlExit``): the day's P&L of the chosen products
reaching a value exits those positions (orders in the book and on the socket), cancels those
open orders, and activates the kill switch if asked."""

from __future__ import annotations

from typing import Any

import pytest

from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount
from tests.integration.sim_helpers import DhanRest, FeedClient, wait_until
from tests.integration.test_sim_validation import assert_error

HDFC = ("NSE_EQ", "1333")
RELIANCE = ("NSE_EQ", "2885")


@pytest.fixture
def rest(sim: Simulator, sim_account: SimAccount) -> DhanRest:
    sim.admin.set_ltp(*HDFC, 990.0)
    sim.admin.set_ltp(*RELIANCE, 1500.0)
    return DhanRest(sim, sim_account)


def pnl_exit(rest: DhanRest, **fields: Any) -> Any:
    body = {"profitValue": 100.0, "lossValue": 50.0, "productType": ["INTRADAY"]}
    body.update(fields)
    return rest.call("POST", "/pnlExit", body)


def net_qty(rest: DhanRest, security_id: str, product: str) -> int:
    for p in rest.call("GET", "/positions").json():
        if (p["securityId"], p["productType"]) == (security_id, product):
            return int(p["netQty"])
    return 0


def test_a_loss_reaching_the_loss_value_exits_the_intraday_positions_and_kills_trading(
    sim: Simulator, sim_account: SimAccount, rest: DhanRest
):
    feed = FeedClient(sim, sim_account)
    try:
        rest.wait_status(rest.place_ok(price=995.0, quantity=10), "TRADED")  # long 10 @ 990
        cnc = rest.place_ok(securityId="2885", price=1505.0, quantity=2, productType="CNC")
        rest.wait_status(cnc, "TRADED")
        resting = rest.place_ok(price=900.0, quantity=1)  # an open INTRADAY order
        rest.wait_status(resting, "PENDING")
        answer = pnl_exit(rest, enableKillSwitch=True)
        assert answer.json() == {
            "pnlExitStatus": "ACTIVE", "message": "P&L based exit configured successfully",
        }  # fmt: skip
        assert rest.call("GET", "/pnlExit").json() == {
            "pnlExitStatus": "ACTIVE", "profit": "100.00", "loss": "50.00",
            "productType": ["INTRADAY"], "enable_kill_switch": True,
        }  # fmt: skip
        sim.admin.set_ltp(*HDFC, 986.0)  # -40: not yet
        assert net_qty(rest, "1333", "INTRADAY") == 10
        sim.admin.set_ltp(*HDFC, 984.0)  # -60: the loss value is reached
        wait_until(lambda: net_qty(rest, "1333", "INTRADAY") == 0)
        book = {o["orderId"]: o for o in rest.book()}
        [exit_order] = [
            o for o in book.values() if o["transactionType"] == "SELL" and o["securityId"] == "1333"
        ]
        assert (exit_order["quantity"], exit_order["productType"]) == (10, "INTRADAY")
        assert exit_order["orderStatus"] == "TRADED"
        assert book[resting]["orderStatus"] == "CANCELLED"
        feed.wait_alert(lambda a: a["OrderNo"] == exit_order["orderId"] and a["Status"] == "TRADED")
        assert net_qty(rest, "2885", "CNC") == 2  # DELIVERY was not chosen
        assert rest.call("GET", "/killswitch").json()["killSwitchStatus"] == "ACTIVATE"
        assert_error(rest.place(price=985.0), 400, "DH-906", "Kill switch")
        assert rest.call("GET", "/pnlExit").json()["pnlExitStatus"] == "INACTIVE"
    finally:
        feed.close()


def test_a_profit_value_already_reached_exits_at_once_and_without_kill_switch(
    sim: Simulator, rest: DhanRest
):
    rest.wait_status(rest.place_ok(price=995.0, quantity=10, productType="CNC"), "TRADED")
    sim.admin.set_ltp(*HDFC, 1001.0)  # +110
    answer = pnl_exit(rest, productType=["DELIVERY"], enableKillSwitch=False)
    assert answer.status_code == 200, answer.text
    wait_until(lambda: net_qty(rest, "1333", "CNC") == 0)
    assert rest.call("GET", "/killswitch").json()["killSwitchStatus"] == "DEACTIVATE"
    rest.place_ok(price=985.0)


def test_a_stopped_pnl_exit_does_nothing(sim: Simulator, rest: DhanRest):
    rest.wait_status(rest.place_ok(price=995.0, quantity=10), "TRADED")
    assert pnl_exit(rest).status_code == 200
    assert rest.call("DELETE", "/pnlExit").json() == {
        "pnlExitStatus": "DISABLED", "message": "P&L based exit stopped successfully",
    }  # fmt: skip
    sim.admin.set_ltp(*HDFC, 900.0)
    assert net_qty(rest, "1333", "INTRADAY") == 10
    assert rest.call("GET", "/pnlExit").json()["pnlExitStatus"] == "INACTIVE"


def test_a_bad_pnl_exit_is_dh905(rest: DhanRest):
    assert_error(pnl_exit(rest, productType=["MIS"]), 400, "DH-905", "productType")
    assert_error(pnl_exit(rest, profitValue=0, lossValue=0), 400, "DH-905", "greater than 0")
    assert_error(pnl_exit(rest, enableKillSwitch="yes"), 400, "DH-905", "enableKillSwitch")
