"""A follower converges to its leader where it used to give up (issue 19).

Each test drives the leader through the simulator's REST API and checks the follower's book at
the broker: the copy's content (status, quantity, filled quantity), not merely that it exists.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actors.follower_sync import FULL_REFRESH_EVERY_TICKS
from actors.messages import Tick
from actors.names import follower_name
from copytrader.config import CapsConfig, SizingConfig, SizingMode
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import OrderType, ProductType, Validity
from dhan.correlation import correlation_id_for
from dhan.models import ModifyRequest
from dhansim import Simulator
from tests.integration.engine_harness import (
    LEADER_ID,
    follower_config,
    limit_buy,
    start_rig,
    wait_until,
)


def test_a_failed_lookup_after_a_cancel_neither_crashes_the_follower_nor_leaves_its_copy_open(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("lookfail", "1200000701")
    sim.admin.set_ltp("NSE_EQ", "1333", 1000.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        oids = [
            rig.leader.place_order(limit_buy(quantity=1 + i, price=900.0 + i)).order_id
            for i in range(3)
        ]
        for oid in oids:
            rig.wait_copies(oid, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        # every lookup by correlationId fails (a transient 500); the cancels themselves work
        sim.admin.set_faults(
            {
                "accounts": [f.client_id],
                "per_endpoint": {"GET /orders/external/{correlation_id}": {"error_5xx_p": 1.0}},
            }
        )
        for oid in oids:
            rig.leader.cancel_order(oid)
        for oid in oids:
            rig.wait_copies(oid, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "CANCELLED")
        wait_until(
            lambda: {i.state for i in rig.engine.journal.intents(f.name)} == {"UNKNOWN"},
            what="the copies' final status waiting for a lookup",
        )
        sim.admin.clear_faults()
        wait_until(
            lambda: {i.state for i in rig.engine.journal.intents(f.name)} == {"DONE"},
            what="the lookups settle the cancelled copies",
        )
        assert [r for r in rig.engine.journal.restarts() if f.name in r.actor] == []
        # and it still copies
        new = rig.leader.place_order(limit_buy(quantity=2, price=950.0)).order_id
        rig.wait_copies(new, lambda _f, c: len(c) == 1 and c[0]["quantity"] == 2)
    finally:
        rig.stop()


def test_a_leader_cut_below_what_the_copy_already_filled_cancels_the_rest_of_the_copy(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("cutbelow", "1200000702")
    sim.admin.set_ltp("NSE_EQ", "11536", 3500.0)
    # ticks far apart: the copy's fill is learned only from the broker's answer to the modify
    rig = start_rig(sim, tmp_path, [f], follower_tick_s=60.0)
    try:
        oid = rig.leader.place_order(limit_buy("11536", quantity=10, price=3400.0)).order_id
        rig.wait_copies(oid, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        (copy,) = rig.follower_copies(f, oid)
        sim.admin.fill(copy["orderId"], quantity=6, price=3400.0)
        # the modify to 4 is refused (below the 6 traded): the rest of the copy is cancelled
        rig.leader.modify_order(oid, limit_modify(quantity=4, price=3400.0))
        rig.wait_copies(
            oid,
            lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "CANCELLED",
            timeout_s=10.0,
        )
        (copy,) = rig.follower_copies(f, oid)
        assert copy["filledQty"] == 6
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, what="settled")
    finally:
        rig.stop()


def test_a_refused_modify_whose_lookup_fails_neither_crashes_nor_stops_the_cancel_of_the_rest(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("cutlook", "1200000711")
    sim.admin.set_ltp("NSE_EQ", "11536", 3500.0)
    # ticks only when told; no order socket: the fill is learned from the book only, so the
    # modify below is refused (the follower's own socket would have settled the fill first)
    rig = start_rig(sim, tmp_path, [f], follower_tick_s=60.0, follower_sockets=False)
    try:
        oid = rig.leader.place_order(limit_buy("11536", quantity=10, price=3400.0)).order_id
        rig.wait_copies(oid, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        (copy,) = rig.follower_copies(f, oid)
        sim.admin.fill(copy["orderId"], quantity=6, price=3400.0)
        sim.admin.set_faults(
            {
                "accounts": [f.client_id],
                "per_endpoint": {"GET /orders/external/{correlation_id}": {"error_5xx_p": 1.0}},
            }
        )
        rig.leader.modify_order(oid, limit_modify(quantity=4, price=3400.0))
        journal = rig.engine.journal
        wait_until(
            lambda: (
                [(i.state, i.error_code) for i in journal.intents(f.name)]
                == [("WORKING", "DH-905")]
            ),
            what="the refused modify recorded although its lookup failed",
        )
        sim.admin.clear_faults()
        assert [r for r in journal.restarts() if f.name in r.actor] == []
        # the book refresh (every fifth tick) learns the fill: the rest is cancelled
        assert rig.engine.root is not None
        for _ in range(FULL_REFRESH_EVERY_TICKS):
            rig.engine.root.registry.tell(follower_name(f.name), Tick())
        rig.wait_copies(
            oid, lambda _f, c: [(o["orderStatus"], o["filledQty"]) for o in c] == [("CANCELLED", 6)]
        )
    finally:
        rig.stop()


@pytest.mark.parametrize("mpp_as_limit", [True, False], ids=["mpp_as_limit", "mpp_as_market"])
def test_the_order_value_cap_bounds_market_copies_with_and_without_price_protection(
    sim: Simulator, tmp_path: Path, mpp_as_limit: bool
) -> None:
    sim.admin.set_switches(mpp_show_as_limit=mpp_as_limit)
    f = follower_config("valcap", "1200000703", caps=CapsConfig(max_order_value_inr=5_000))
    sim.admin.set_ltp("NSE_EQ", "2885", 1300.0)
    sim.admin.set_ltp("NSE_EQ", "3045", 800.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        for security, ltp, protected in (("2885", 1300.0, True), ("3045", 800.0, False)):
            sim.admin.set_switches(market_protection=protected)
            market = limit_buy(security, quantity=20, price=0.0, order_type=OrderType.MARKET)
            oid = rig.leader.place_order(market).order_id
            rig.wait_copies(oid, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "TRADED")
            (copy,) = rig.follower_copies(f, oid)
            # at most 5,000 rupees; the band price of a protected order is above the LTP
            assert 0 < copy["quantity"] * ltp <= 5_000, (security, copy["quantity"])
            assert copy["quantity"] == (3 if protected else 6)
    finally:
        rig.stop()


def test_a_copy_below_one_lot_is_placed_once_the_leader_raises_its_order(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("half", "1200000704", multiplier=0.5)
    sim.admin.set_ltp("NSE_EQ", "3045", 800.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        # skipped at placement (0.5 share), then raised 1 -> 6: a copy of 3
        a = rig.leader.place_order(limit_buy("3045", quantity=1, price=790.0)).order_id
        wait_until(
            lambda: (
                [i.state for i in rig.engine.journal.intents(f.name, leader_order_id=a)]
                == ["SKIPPED"]
            ),
            what="the copy skipped below one lot",
        )
        rig.leader.modify_order(a, limit_modify(quantity=6, price=790.0))
        rig.wait_copies(
            a,
            lambda _f, c: (
                len(c) == 1 and c[0]["quantity"] == 3 and c[0]["orderStatus"] == "PENDING"
            ),
        )

        # a copy of 2, cut below one lot (cancelled), raised to 8: a new copy of 4
        b = rig.leader.place_order(limit_buy("3045", quantity=4, price=785.0)).order_id
        rig.wait_copies(b, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        rig.leader.modify_order(b, limit_modify(quantity=1, price=785.0))
        rig.wait_copies(b, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "CANCELLED")
        wait_until(
            lambda: (
                [i.state for i in rig.engine.journal.intents(f.name, leader_order_id=b)] == ["DONE"]
            ),
            what="the cancel of the copy journaled",
        )
        rig.leader.modify_order(b, limit_modify(quantity=8, price=785.0))
        second = correlation_id_for(f.name, b, generation=1)

        def new_copy() -> list[dict[str, Any]]:
            return [o for o in rig.book(f.client_id) if o.get("correlationId") == second]

        wait_until(
            lambda: [(o["quantity"], o["orderStatus"]) for o in new_copy()] == [(4, "PENDING")],
            what="a new copy of 4 under the copy's next correlationId",
        )
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, what="settled")
        (intent,) = rig.engine.journal.intents(f.name, leader_order_id=b)
        assert intent.correlation_id == second and intent.state == "WORKING"
    finally:
        rig.stop()


def test_a_leader_raise_that_overtakes_our_cancel_of_the_copy_gets_a_new_copy(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("overtaken", "1200000712", multiplier=0.5)
    sim.admin.set_ltp("NSE_EQ", "3045", 800.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        oid = rig.leader.place_order(limit_buy("3045", quantity=4, price=785.0)).order_id
        rig.wait_copies(oid, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        # our cancel takes a while to be answered
        sim.admin.set_faults(
            {
                "accounts": [f.client_id],
                "per_endpoint": {"DELETE /orders/{order_id}": {"latency_ms": 700.0}},
            }
        )
        rig.leader.modify_order(oid, limit_modify(quantity=1, price=785.0))  # bob: 0.5 -> cancel
        journal = rig.engine.journal
        wait_until(
            lambda: [i.state for i in journal.intents(f.name)] == ["CANCELLING"],
            what="our cancel in flight",
        )
        rig.leader.modify_order(oid, limit_modify(quantity=8, price=785.0))  # bob: 4
        second = correlation_id_for(f.name, oid, generation=1)
        wait_until(
            lambda: (
                [
                    (o["quantity"], o["orderStatus"])
                    for o in rig.book(f.client_id)
                    if o.get("correlationId") == second
                ]
                == [(4, "PENDING")]
            ),
            what="a new copy of 4 after the cancel settled",
        )
        sim.admin.clear_faults()
        (first,) = rig.follower_copies(f, oid)
        assert first["orderStatus"] == "CANCELLED"
    finally:
        rig.stop()


def test_a_capital_follower_copies_once_the_balance_that_failed_at_start_is_read(
    sim: Simulator, tmp_path: Path
) -> None:
    f = replace(
        follower_config("carol", "1200000705"),
        sizing=SizingConfig(mode=SizingMode.CAPITAL, capital_multiplier=1.0),
    )
    sim.admin.set_ltp("NSE_EQ", "1333", 1000.0)
    # the start-up read of the balances fails once (a 500), then the broker is healthy
    sim.admin.set_faults({"per_endpoint": {"GET /fundlimit": {"error_5xx_p": 1.0}}})
    rig = start_rig(sim, tmp_path, [f])
    try:
        sim.admin.clear_faults()
        oid = rig.leader.place_order(limit_buy(quantity=5, price=990.0)).order_id
        rig.wait_copies(
            oid,
            lambda _f, c: (
                len(c) == 1 and c[0]["quantity"] == 5 and c[0]["orderStatus"] == "PENDING"
            ),
        )
    finally:
        rig.stop()


def test_a_copy_that_waited_for_a_balance_is_sized_by_the_leader_feed_when_it_arrives(
    sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="actors.leader_feed")
    f = replace(
        follower_config("erin", "1200000707"),
        sizing=SizingConfig(mode=SizingMode.CAPITAL, capital_multiplier=1.0),
    )
    sim.admin.set_ltp("NSE_EQ", "1333", 1000.0)
    sim.admin.set_faults({"per_endpoint": {"GET /fundlimit": {"error_5xx_p": 1.0}}})
    rig = start_rig(sim, tmp_path, [f])
    try:
        oid = rig.leader.place_order(limit_buy(quantity=5, price=990.0)).order_id
        journal = rig.engine.journal

        def waiting() -> bool:
            intents = journal.intents(f.name, leader_order_id=oid)
            return any("balance unknown" in (i.skip_reason or "") for i in intents)

        wait_until(waiting, 10.0, what="the copy waiting for erin's balance")
        assert rig.follower_copies(f, oid) == []
        sim.admin.clear_faults()  # the sampler's next read gets the balance
        rig.wait_copies(
            oid,
            lambda _f, c: (
                len(c) == 1 and c[0]["quantity"] == 5 and c[0]["orderStatus"] == "PENDING"
            ),
            timeout_s=20.0,
        )
        sized = [r for r in caplog.records if "sized again for" in r.getMessage()]
        assert sized, "the copies that waited were sized again"
        # on the leader feed's thread, which writes the leader's snapshots: not the sampler's
        assert {r.threadName for r in sized} != {"engine-sampler"}
        assert all(r.name == "actors.leader_feed" for r in sized)
    finally:
        rig.stop()


@pytest.mark.parametrize("mpp_as_limit", [True, False], ids=["mpp_as_limit", "mpp_as_market"])
def test_re_enabling_a_follower_copies_only_the_leader_orders_still_open(
    sim: Simulator, tmp_path: Path, mpp_as_limit: bool
) -> None:
    sim.admin.set_switches(mpp_show_as_limit=mpp_as_limit)
    f = follower_config("dave", "1200000706", enabled=False)
    sim.admin.set_ltp("NSE_EQ", "2885", 1300.0)
    sim.admin.set_ltp("NSE_EQ", "1333", 1000.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        market = limit_buy("2885", quantity=20, price=0.0, order_type=OrderType.MARKET)
        filled = rig.leader.place_order(market).order_id
        crossing = rig.leader.place_order(limit_buy("1333", quantity=5, price=1000.0)).order_id
        resting = rig.leader.place_order(limit_buy("1333", quantity=3, price=900.0)).order_id
        journal = rig.engine.journal

        def leader_status(oid: str) -> str:
            snap = journal.leader_snapshot(oid)
            return "" if snap is None else str(snap.status)

        wait_until(
            lambda: (
                [leader_status(o) for o in (filled, crossing, resting)]
                == ["TRADED", "TRADED", "PENDING"]
            ),
            what="the leader's orders journaled (two filled, one resting)",
        )
        sim.admin.set_ltp("NSE_EQ", "2885", 1400.0)  # the market moves on

        rig.engine.reload(replace(rig.cfg, followers=(replace(f, enabled=True),)))

        rig.wait_copies(resting, lambda _f, c: len(c) == 1 and c[0]["quantity"] == 3)
        wait_until(lambda: journal.unresolved_count() == 0, what="settled")
        for oid in (filled, crossing):
            (intent,) = journal.intents(f.name, leader_order_id=oid)
            assert intent.state == "SKIPPED" and "policy copy_open" in (intent.state_reason or "")
        # nothing but the resting order's copy was placed
        assert [o["quantity"] for o in rig.book(f.client_id)] == [3]
    finally:
        rig.stop()


def test_a_follower_enabled_in_the_config_of_a_restart_copies_only_what_is_still_open(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("erin", "1200000707", enabled=False)
    sim.admin.set_ltp("NSE_EQ", "1333", 1000.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        crossing = rig.leader.place_order(limit_buy("1333", quantity=5, price=1000.0)).order_id
        resting = rig.leader.place_order(limit_buy("1333", quantity=3, price=900.0)).order_id
        wait_until(
            lambda: (
                len(rig.engine.journal.intents(f.name)) == 2
                and str(getattr(rig.engine.journal.leader_snapshot(crossing), "status", ""))
                == "TRADED"
            ),
            what="both leader orders journaled",
        )
    finally:
        rig.stop()
    cfg = replace(rig.cfg, followers=(replace(f, enabled=True),))
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    try:
        wait_until(lambda: engine.ready()[0], what="engine ready")
        wait_until(
            lambda: [o["quantity"] for o in sim.admin.orders(f.client_id)] == [3],
            what="a copy of the resting order only",
        )
        (skipped,) = engine.journal.intents(f.name, leader_order_id=crossing)
        assert skipped.state == "SKIPPED"
        (copied,) = engine.journal.intents(f.name, leader_order_id=resting)
        assert copied.state in ("SENDING", "WORKING")
    finally:
        engine.stop()


@pytest.mark.parametrize("mpp_as_limit", [True, False], ids=["mpp_as_limit", "mpp_as_market"])
def test_a_leader_market_order_rejected_by_rms_is_not_copied_for_a_follower_that_waits(
    sim: Simulator, tmp_path: Path, mpp_as_limit: bool
) -> None:
    sim.admin.set_switches(mpp_show_as_limit=mpp_as_limit)
    waits = follower_config("waits", "1200000708")  # the default: copy_market_after_accept
    eager = replace(follower_config("eager", "1200000709"), copy_market_after_accept=False)
    sim.admin.set_ltp("NSE_EQ", "2885", 1300.0)
    # RMS rejects an order beyond the balance after TRANSIT (a 200, then REJECTED)
    sim.admin.set_switches(rms_reject_as_order=True)
    rig = start_rig(sim, tmp_path, [waits, eager], balances={LEADER_ID: 200_000.0})
    try:
        market = limit_buy(
            "2885",
            quantity=500,
            price=0.0,
            order_type=OrderType.MARKET,
            product_type=ProductType.CNC,
        )
        rejected = rig.leader.place_order(market).order_id
        wait_until(
            lambda: (
                str(getattr(rig.engine.journal.leader_snapshot(rejected), "status", ""))
                == "REJECTED"
            ),
            what="the leader's order rejected by RMS",
        )
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, what="settled")
        assert rig.follower_copies(waits, rejected) == []
        # the eager follower copied the TRANSIT frame: its market copy filled at once (the
        # documented cost of copy_market_after_accept: false)
        rig.wait_copies(
            rejected, lambda _f, c: [o["orderStatus"] for o in c] == ["TRADED"], followers=[eager]
        )

        # an accepted market order is copied by both, the waiting one after its PENDING frame
        accepted = rig.leader.place_order(
            limit_buy(
                "2885",
                quantity=100,
                price=0.0,
                order_type=OrderType.MARKET,
                product_type=ProductType.CNC,
            )
        ).order_id
        rig.wait_copies(
            accepted,
            lambda _f, c: [(o["quantity"], o["orderStatus"]) for o in c] == [(100, "TRADED")],
        )
    finally:
        rig.stop()


def test_an_open_copy_of_a_leader_order_that_ends_rejected_is_cancelled(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("resting", "1200000710")
    sim.admin.set_ltp("NSE_EQ", "2885", 1300.0)
    sim.admin.set_switches(rms_reject_as_order=True, exchange_delay_ms=300.0)
    rig = start_rig(sim, tmp_path, [f], balances={LEADER_ID: 200_000.0})
    try:
        # a resting LIMIT beyond the leader's margin: copied on TRANSIT, then the leader's RMS
        # rejects it -> the copy (still open) is cancelled
        resting = limit_buy("2885", quantity=500, price=1200.0, product_type=ProductType.CNC)
        oid = rig.leader.place_order(resting).order_id
        rig.wait_copies(oid, lambda _f, c: [o["orderStatus"] for o in c] == ["CANCELLED"])
        assert str(getattr(rig.engine.journal.leader_snapshot(oid), "status", "")) == "REJECTED"
    finally:
        rig.stop()


def limit_modify(quantity: int, price: float) -> ModifyRequest:
    return ModifyRequest(
        OrderType.LIMIT, quantity=quantity, price=price, trigger_price=None, validity=Validity.DAY
    )
