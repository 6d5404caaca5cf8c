"""Rate-limit windows, every REST fault of the nemesis, their seeded draws, and the journal."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from dhansim import AdminCallError, Simulator
from dhansim.pytest_plugin import SimAccount, new_account
from dhansim.ratelimit import SlidingWindows
from tests.integration.sim_helpers import DhanRest, wait_until


@pytest.fixture
def rest(sim: Simulator, sim_account: SimAccount) -> DhanRest:
    sim.admin.set_ltp("NSE_EQ", "1333", 990.0)
    return DhanRest(sim, sim_account)


def test_order_calls_beyond_ten_in_a_second_are_dh904_with_429(sim: Simulator, rest: DhanRest):
    refused = None
    for _ in range(100):  # as fast as this machine goes: far more than 10 per second
        response = rest.place(price=900.0)
        if response.status_code != 200:
            refused = response
            break
    assert refused is not None, "no call was refused"
    assert refused.status_code == 429
    assert refused.json()["errorCode"] == "DH-904"
    assert "10 per second" in refused.json()["errorMessage"]
    entries = sim.admin.journal(kind="rest", account=rest.account.client_id)
    admitted = [e["t_ns"] for e in entries if e["status"] == 200]
    refused_at = next(e["t_ns"] for e in entries if e["status"] == 429)
    assert len([t for t in admitted if refused_at - t < 1_000_000_000]) == 10
    assert rest.call("GET", "/orders").status_code == 200  # reads have their own budget
    other = DhanRest(sim, new_account(sim))
    assert other.place(price=900.0).status_code == 200  # limits are per account
    wait_until(lambda: rest.place(price=900.0).status_code == 200, timeout_s=3, poll_s=0.1)


def test_rate_limits_can_be_switched_off(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(rate_limits=False)
    assert {rest.place(price=900.0).status_code for _ in range(15)} == {200}


def test_the_optional_read_limit_refuses_the_21st_get_in_a_second(sim: Simulator, rest: DhanRest):
    sim.admin.set_switches(read_rate_limit=True)
    codes = [rest.call("GET", "/orders").status_code for _ in range(21)]
    assert codes[:20] == [200] * 20 and codes[20] == 429


def test_every_order_window_counts_only_admitted_requests():
    windows = SlidingWindows()
    now = 1000.0
    admitted = 0
    # 250 per minute: 10 per second for 25 seconds fills the minute window.
    for second in range(26):
        for _ in range(10):
            if windows.try_acquire(now + second) is None:
                admitted += 1
    assert admitted == 250
    assert windows.try_acquire(now + 30) == "250 per minute"
    assert windows.try_acquire(now + 60.5) is None  # the first second's 10 have aged out
    hourly = SlidingWindows(((3600.0, 1000),))
    assert all(hourly.try_acquire(float(i)) is None for i in range(1000))
    assert hourly.try_acquire(1000.0) == "1000 per hour"
    daily = SlidingWindows(((86400.0, 7000),))
    assert all(daily.try_acquire(float(i)) is None for i in range(7000))
    assert daily.try_acquire(80000.0) == "7000 per day"
    assert daily.try_acquire(86400.5) is None


def test_latency_fault_delays_the_named_endpoint_only(sim: Simulator, rest: DhanRest):
    sim.admin.set_faults({"per_endpoint": {"GET /orders": {"latency_ms": 500, "jitter_ms": 10}}})
    start = time.monotonic()
    rest.call("GET", "/orders")
    assert time.monotonic() - start >= 0.49
    start = time.monotonic()
    rest.call("GET", "/positions")
    assert time.monotonic() - start < 0.49


def test_a_5xx_fault_answers_dh908_and_creates_nothing(sim: Simulator, rest: DhanRest):
    sim.admin.set_faults({"error_5xx_p": 1.0})
    response = rest.place(price=900.0, correlationId="five-hundred")
    assert response.status_code == 500 and response.json()["errorCode"] == "DH-908"
    sim.admin.clear_faults()
    assert rest.call("GET", "/orders/external/five-hundred").status_code == 404


def test_a_5xx_fault_can_be_a_gateway_html_page(sim: Simulator, rest: DhanRest):
    sim.admin.set_faults({"error_5xx_p": 1.0, "error_5xx_html": True})
    response = rest.call("GET", "/orders")
    assert response.status_code == 502 and "Bad Gateway" in response.text


def test_a_timeout_fault_holds_then_drops_without_placing(sim: Simulator, rest: DhanRest):
    sim.admin.set_faults({"timeout_p": 1.0, "timeout_hold_s": 0.3})
    with pytest.raises(requests.ConnectionError):
        rest.place(price=900.0, correlationId="timed-out")
    sim.admin.clear_faults()
    assert rest.call("GET", "/orders/external/timed-out").status_code == 404


def test_a_timeout_fault_can_place_the_order_before_going_silent(sim: Simulator, rest: DhanRest):
    sim.admin.set_faults(
        {"timeout_p": 1.0, "timeout_hold_s": 5.0, "timeout_after_processing": True}
    )
    with pytest.raises(requests.Timeout):
        rest.session.post(
            rest.base + "/orders",
            json=_order_body(rest, "held-cid"),
            timeout=0.5,
        )
    sim.admin.clear_faults()
    assert rest.call("GET", "/orders/external/held-cid").status_code == 200


def _order_body(rest: DhanRest, cid: str) -> dict[str, Any]:
    return {
        "dhanClientId": rest.account.client_id,
        "correlationId": cid,
        "transactionType": "BUY",
        "exchangeSegment": "NSE_EQ",
        "productType": "INTRADAY",
        "orderType": "LIMIT",
        "validity": "DAY",
        "securityId": "1333",
        "quantity": 1,
        "price": 900.0,
    }


def test_accept_then_drop_creates_the_order_but_never_answers(sim: Simulator, rest: DhanRest):
    sim.admin.set_faults({"per_endpoint": {"POST /orders": {"accept_then_drop_p": 1.0}}})
    with pytest.raises(requests.ConnectionError):
        rest.place(price=900.0, correlationId="unknown-outcome")
    found = rest.call("GET", "/orders/external/unknown-outcome")
    assert found.status_code == 200 and found.json()["orderStatus"] in ("TRANSIT", "PENDING")
    [entry] = [e for e in sim.admin.journal(kind="rest") if e["endpoint"] == "POST /orders"]
    assert entry["fault"] == "accept-then-drop" and entry["orderId"] == found.json()["orderId"]


def test_a_rate_limit_storm_answers_dh904_regardless_of_the_real_budget(
    sim: Simulator, rest: DhanRest
):
    sim.admin.set_faults({"rate_limit_storm_p": 1.0})
    response = rest.call("GET", "/fundlimit")
    assert response.status_code == 429 and response.json()["errorCode"] == "DH-904"


def test_faults_can_target_some_accounts_only(sim: Simulator, rest: DhanRest):
    other = DhanRest(sim, new_account(sim))
    sim.admin.set_faults({"error_5xx_p": 1.0, "accounts": [other.account.client_id]})
    assert rest.call("GET", "/orders").status_code == 200
    assert other.call("GET", "/orders").status_code == 500


def test_a_bad_fault_plan_is_refused_with_a_message(sim: Simulator):
    with pytest.raises(AdminCallError, match="error_5xx_p is a probability"):
        sim.admin.set_faults({"error_5xx_p": 2})
    with pytest.raises(AdminCallError, match="unknown fault keys"):
        sim.admin.set_faults({"explode": True})


def _fault_pattern(sim: Simulator) -> list[int]:
    account = new_account(sim)
    rest = DhanRest(sim, account)
    sim.admin.set_faults({"error_5xx_p": 0.5})
    return [rest.call("GET", "/orders").status_code for _ in range(40)]


def test_fault_draws_are_reproducible_from_the_seed(sim_factory):
    first = _fault_pattern(sim_factory(seed=11))
    again = _fault_pattern(sim_factory(seed=11))
    other = _fault_pattern(sim_factory(seed=12))
    assert first == again
    assert first != other
    assert {200, 500} == set(first)


def test_the_journal_records_requests_and_frames_with_monotonic_times(
    sim: Simulator, rest: DhanRest
):
    from tests.integration.sim_helpers import FeedClient

    feed = FeedClient(sim, rest.account)
    mark = time.monotonic_ns()
    order_id = rest.place_ok(price=900.0, correlationId="journal-1")
    feed.wait_alert(lambda a: a["OrderNo"] == order_id and a["Status"] == "PENDING")
    entries = sim.admin.journal(since_ns=mark)
    [request] = [e for e in entries if e["kind"] == "rest"]
    assert request["endpoint"] == "POST /orders" and request["method"] == "POST"
    assert request["account"] == rest.account.client_id
    assert request["correlationId"] == "journal-1" and request["orderId"] == order_id
    assert request["status"] == 200
    assert mark <= request["t_ns"] <= request["t_done_ns"]
    frames = [e for e in entries if e["kind"] == "frame" and e["orderNo"] == order_id]
    assert [f["status"] for f in frames] == ["TRANSIT", "PENDING"]
    assert all(f["t_ns"] >= request["t_ns"] for f in frames)
    assert sim.admin.journal(since_ns=time.monotonic_ns()) == []
    assert len(sim.admin.journal(since_ns=mark, limit=1)) == 1
    feed.close()


def test_the_journal_is_a_bounded_ring(sim_factory):
    from dhansim import Simulator as Sim

    sim: Sim = sim_factory()
    small = Sim(seed=1, journal_size=5, random_walk=False)
    small.start()
    try:
        account = new_account(small)
        rest = DhanRest(small, account)
        for _ in range(8):
            rest.call("GET", "/orders")
        entries = small.admin.journal(kind="rest")
        assert len(entries) == 5
        assert [e["seq"] for e in entries] == list(range(4, 9))
    finally:
        small.stop()
    assert sim.admin.health()["ok"]
