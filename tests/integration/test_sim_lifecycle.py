"""Simulator lifecycle and account-level calls: several simulators at once, clean shutdown,
token renewal, exit-all, and end of day with bracket legs created on the way."""

from __future__ import annotations

import threading

import requests

import dhansim
from dhansim import Simulator
from dhansim.pytest_plugin import SimAccount, new_account
from tests.integration.sim_helpers import DhanRest, wait_until


def test_running_listens_on_return_and_leaves_no_thread_behind():
    before = set(threading.enumerate())
    with dhansim.running(seed=3) as sim:
        assert sim.rest_url.startswith("http://127.0.0.1:") and sim.rest_url.endswith("/v2")
        assert sim.order_feed_url == sim.rest_url.replace("http", "ws")[:-3] + "/order-update"
        assert requests.get(sim.rest_url[:-3] + "/sim/health", timeout=5).json()["ok"]
    assert set(threading.enumerate()) == before


def test_two_simulators_in_one_process_share_nothing(sim_factory):
    first, second = sim_factory(seed=1), sim_factory(seed=2)
    assert first.port != second.port
    account = new_account(first)
    DhanRest(first, account).place_ok(price=900.0)
    assert second.admin.accounts() == []
    assert len(first.admin.orders(account.client_id)) == 1


def test_renew_token_issues_a_new_token_and_expires_the_old_one(
    sim: Simulator, sim_account: SimAccount
):
    rest = DhanRest(sim, sim_account)
    response = rest.call("GET", "/RenewToken")
    assert response.status_code == 200
    token = response.json()["accessToken"]
    assert token != sim_account.access_token
    assert rest.call("GET", "/orders").status_code == 401
    renewed = DhanRest(sim, SimAccount(sim_account.client_id, token))
    assert renewed.call("GET", "/orders").status_code == 200


def test_exit_all_cancels_open_orders_and_squares_off_positions(
    sim: Simulator, sim_account: SimAccount
):
    sim.admin.set_ltp("NSE_EQ", "1333", 990.0)
    rest = DhanRest(sim, sim_account)
    rest.wait_status(rest.place_ok(price=995.0, quantity=7), "TRADED")
    resting = rest.place_ok(price=900.0)
    rest.wait_status(resting, "PENDING")
    response = rest.call("DELETE", "/positions")
    assert response.status_code == 202
    [exit_id] = response.json()["orderIds"]
    assert rest.order(resting)["orderStatus"] == "CANCELLED"
    exit_order = rest.wait_status(exit_id, "TRADED")
    assert (exit_order["transactionType"], exit_order["quantity"]) == ("SELL", 7)
    wait_until(lambda: rest.call("GET", "/positions").json()[0]["netQty"] == 0)


def test_exit_all_squares_off_cover_and_bracket_positions_without_new_legs(
    sim: Simulator, sim_account: SimAccount
):
    sim.admin.set_ltp("NSE_EQ", "1333", 990.0)
    rest = DhanRest(sim, sim_account)
    bracket = rest.place_ok(productType="BO", price=995.0, boProfitValue=10.0, boStopLossValue=5.0)
    cover = rest.place_ok(productType="CO", orderType="MARKET", price=0, triggerPrice=950.0)
    for entry in (bracket, cover):
        rest.wait_status(entry, "TRADED")
    wait_until(lambda: len(rest.book()) == 5)  # two entries, BO target + stop, CO stop
    response = rest.call("DELETE", "/positions")
    assert response.status_code == 202, response.text
    exits = response.json()["orderIds"]
    assert len(exits) == 2
    for exit_id in exits:
        exit_order = rest.wait_status(exit_id, "TRADED")
        assert exit_order["legName"] is None and exit_order["transactionType"] == "SELL"
    positions = rest.call("GET", "/positions").json()
    assert {(p["productType"], p["netQty"]) for p in positions} == {("BO", 0), ("CO", 0)}
    assert len(rest.book()) == 7  # the square-offs grew no exit legs
    assert not [o for o in rest.book() if o["orderStatus"] in ("PENDING", "TRANSIT")]


def test_end_of_day_also_expires_legs_born_from_a_part_filled_bracket(
    sim: Simulator, sim_account: SimAccount
):
    sim.admin.set_ltp("NSE_EQ", "1333", 990.0)
    rest = DhanRest(sim, sim_account)
    entry = rest.place_ok(
        productType="BO", price=980.0, quantity=10, boProfitValue=20.0, boStopLossValue=5.0
    )
    rest.wait_status(entry, "PENDING")
    sim.admin.fill(entry, quantity=4, price=980.0)
    assert sim.admin.end_of_day() == 3  # the entry, then its two new legs
    kinds = {o["kind"]: o for o in sim.admin.orders(sim_account.client_id)}
    assert kinds["BO_ENTRY"]["orderStatus"] == "EXPIRED"
    assert kinds["BO_TARGET"]["quantity"] == 4
    assert {kinds[k]["orderStatus"] for k in ("BO_TARGET", "BO_STOP")} == {"EXPIRED"}


def test_access_tokens_never_reach_the_journal_the_admin_view_or_a_repr(
    sim: Simulator, sim_account: SimAccount
):
    rest = DhanRest(sim, sim_account)
    rest.place_ok(price=900.0)
    rest.session.get(rest.base + "/orders", headers={"access-token": "bad-secret"}, timeout=5)
    token = sim_account.access_token
    dumped = repr(sim.admin.journal()) + repr(sim.admin.accounts()) + repr(sim_account)
    assert token not in dumped and "bad-secret" not in dumped
    assert sim.core is not None
    assert token not in repr(sim.core.exchange.accounts[sim_account.client_id])


def test_accounts_are_listed_and_duplicates_refused(sim: Simulator, sim_account: SimAccount):
    [summary] = sim.admin.accounts()
    assert summary["dhanClientId"] == sim_account.client_id
    assert summary["availableBalance"] == 1e7
    try:
        sim.admin.create_account(sim_account.client_id, "another-token")
    except dhansim.AdminCallError as exc:
        assert exc.status == 409
    else:
        raise AssertionError("a duplicate account was created")


def test_an_added_instrument_trades_with_its_own_lot_and_tick(
    sim: Simulator, sim_account: SimAccount
):
    sim.admin.add_instruments(
        {
            "exchangeSegment": "NSE_FNO",
            "securityId": "71001",
            "symbol": "FINNIFTY-Dec2026-FUT",
            "instrument": "FUTIDX",
            "lotSize": 60,
            "tickSize": 0.1,
            "ltp": 26000.0,
        }
    )
    rest = DhanRest(sim, sim_account)
    fields = {"exchangeSegment": "NSE_FNO", "securityId": "71001", "productType": "MARGIN"}
    assert rest.place(**fields, quantity=50, price=25990.0).status_code == 400
    order_id = rest.place_ok(**fields, quantity=120, price=26000.1)
    assert rest.wait_status(order_id, "TRADED")["averageTradedPrice"] == 26000.0


def test_the_admin_api_answers_loopback_clients_only():
    from dhansim.admin_api import _is_loopback

    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("127.3.0.1")
    assert not _is_loopback("10.0.0.5") and not _is_loopback(None) and not _is_loopback("x")


def test_admin_values_that_are_not_finite_or_of_the_wrong_type_are_refused_with_400(
    sim: Simulator,
):
    base = sim.rest_url[:-3] + "/sim"
    for method, path, raw in (
        ("PUT", "/switches", '{"walk_volatility": NaN}'),
        ("PUT", "/switches", '{"ping_interval_s": Infinity}'),
        ("PUT", "/partial-fills", '{"enabled": true, "interval_ms": NaN}'),
        ("PUT", "/faults", '{"latency_ms": NaN}'),
        ("PUT", "/faults", '{"timeout_hold_s": Infinity}'),
        ("PUT", "/ltp/NSE_EQ/1333", '{"ltp": NaN}'),
        ("PUT", "/ltp/NSE_EQ/1333", '{"ltp": 1' + "0" * 400 + "}"),
        ("POST", "/instruments", '{"exchangeSegment": "NSE_EQ", "securityId": "9", '
         '"symbol": "X", "tickSize": Infinity}'),
        ("POST", "/instruments", '{"exchangeSegment": "NSE_EQ", "securityId": "9", '
         '"symbol": "X", "freezeQty": [1]}'),
    ):  # fmt: skip
        response = requests.request(method, base + path, data=raw, timeout=5)
        assert response.status_code == 400, (path, raw, response.text)
        assert response.json()["error"]
    assert sim.admin.switches()["walk_volatility"] == 0.0005
    assert sim.admin.ltp("NSE_EQ", "1333") == 990.0
    assert sim.admin.health()["ok"]
