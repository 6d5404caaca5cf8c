"""Bracket orders: legs mirrored from the leader, and the engine's own one-cancels-other."""

from __future__ import annotations

import time
from pathlib import Path

from dhan.codes import OrderType, ProductType, Validity
from dhan.models import ModifyRequest
from dhansim import Simulator
from tests.integration.engine_harness import (
    bo_buy,
    follower_config,
    limit_buy,
    move_leader_stop,
    start_rig,
    wait_until,
)


def _legs(rig, client_id: str, cid: str) -> dict[str, dict]:
    return {
        o["legName"]: o
        for o in rig.book(client_id)
        if o.get("correlationId") == cid and o.get("legName") in ("TARGET_LEG", "STOP_LOSS_LEG")
    }


def test_with_broker_oco_off_the_engine_cancels_the_stop_after_the_target_fills(
    sim: Simulator, tmp_path: Path
) -> None:
    from dhan.correlation import correlation_id_for

    sim.admin.set_switches(broker_oco=False)
    sim.admin.set_ltp("NSE_EQ", "2885", 1600.0)
    followers = [
        follower_config("b1", "1300000001"),
        follower_config("b2", "1300000002", multiplier=2),
    ]
    rig = start_rig(sim, tmp_path, followers)
    try:
        entry = rig.leader.place_order(bo_buy())
        cids = {f.name: correlation_id_for(f.name, entry.order_id) for f in followers}
        # every follower's BO entry fills and its broker creates both exit legs
        for f in followers:
            wait_until(
                lambda f=f: len(_legs(rig, f.client_id, cids[f.name])) == 2, what=f"{f.name} legs"
            )
        move_leader_stop(rig, 1595.0)
        for f in followers:
            wait_until(
                lambda f=f: (
                    _legs(rig, f.client_id, cids[f.name])["STOP_LOSS_LEG"]["triggerPrice"] == 1595.0
                ),
                what=f"{f.name} stop moved to 1595",
            )
        sim.admin.set_ltp("NSE_EQ", "2885", 1625.0)  # every target fills; no broker OCO
        for f in followers:
            wait_until(
                lambda f=f: (
                    _legs(rig, f.client_id, cids[f.name])["STOP_LOSS_LEG"]["orderStatus"]
                    == "CANCELLED"
                ),
                what=f"{f.name} stop cancelled by the engine",
            )
        sim.admin.set_ltp("NSE_EQ", "2885", 1580.0)  # would have hit the stops
        for f in followers:
            legs = _legs(rig, f.client_id, cids[f.name])
            assert legs["TARGET_LEG"]["orderStatus"] == "TRADED"
            assert legs["STOP_LOSS_LEG"]["orderStatus"] == "CANCELLED"
    finally:
        rig.stop()


def test_a_followers_open_brackets_share_one_book_read_per_tick(
    sim: Simulator, tmp_path: Path
) -> None:
    # six open BO copies, each with its own BracketLegActor polling every bracket tick: they
    # read the follower's book through one FollowerBook, so the broker sees about one
    # GET /orders per tick, not one per bracket
    from dhan.correlation import correlation_id_for

    sim.admin.set_switches(broker_oco=False)
    sim.admin.set_ltp("NSE_EQ", "2885", 1600.0)
    f = follower_config("shared", "1300000003")
    rig = start_rig(sim, tmp_path, [f])
    try:
        cids = []
        for _ in range(6):
            entry = rig.leader.place_order(
                limit_buy(
                    security_id="2885",
                    quantity=1,
                    price=1600.0,
                    product_type=ProductType.BO,
                    bo_profit_value=50.0,
                    bo_stop_loss_value=50.0,
                )
            )
            cids.append(correlation_id_for(f.name, entry.order_id))
        for cid in cids:
            wait_until(lambda cid=cid: len(_legs(rig, f.client_id, cid)) == 2, what="legs")
        tick_s = rig.cfg.engine.bracket_tick_s
        start_ns = time.monotonic_ns()  # the simulator journal's clock (docs/simulator.md)
        window_s = 6 * tick_s

        def reads_in_window() -> list[dict] | None:
            rows = sim.admin.journal(since_ns=start_ns, kind="rest", account=f.client_id)
            if not rows or rows[-1]["t_ns"] - start_ns < window_s * 1e9:
                return None  # the window is not over yet (the engine keeps polling)
            return [
                r
                for r in rows
                if r["endpoint"] == "GET /orders" and r["t_ns"] - start_ns <= window_s * 1e9
            ]

        reads = wait_until(reads_in_window, timeout_s=window_s + 10.0, what="a polling window")
        # six brackets reading on their own: 6 per tick (36); shared: at most two per tick
        # (the book's max age is half a tick) plus the follower's own refresh
        assert len(reads) <= 4 * 6, [r["t_ns"] for r in reads]
        assert len(reads) >= 1, "no polling at all"
        print(f"GET /orders in {window_s:.2f} s: {len(reads)}")
    finally:
        rig.stop()


def test_a_bracket_whose_values_cannot_be_read_waits_and_is_copied_whole_once_they_can(
    sim: Simulator, tmp_path: Path
) -> None:
    """Socket frames carry no boProfitValue / boStopLossValue: the feed reads them from the
    leader's book. While that read fails the copy waits (it used to go out without them and
    be rejected for good); the leader's next event brings them and the copy is placed."""
    sim.admin.set_ltp("NSE_EQ", "2885", 1600.0)
    f = follower_config("bv", "1300000031")
    rig = start_rig(sim, tmp_path, [f])
    try:
        sim.admin.set_faults(
            {
                "accounts": [rig.cfg.leader.client_id],
                "per_endpoint": {"GET /orders/{order_id}": {"error_5xx_p": 1.0}},
            }
        )
        entry = rig.leader.place_order(
            limit_buy(
                security_id="2885",
                quantity=5,
                price=1590.0,  # rests below the market
                product_type=ProductType.BO,
                bo_profit_value=20.0,
                bo_stop_loss_value=10.0,
            )
        )
        wait_until(
            lambda: any(
                i.leader_order_id == entry.order_id for i in rig.engine.journal.intents(f.name)
            ),
            what="the follower's intent for the leader's bracket",
        )
        sim.admin.clear_faults()
        rig.leader.modify_order(
            entry.order_id,
            ModifyRequest(
                order_type=OrderType.LIMIT,
                quantity=5,
                price=1591.0,
                trigger_price=None,
                validity=Validity.DAY,
            ),
        )
        rig.wait_copies(
            entry.order_id,
            lambda _f, copies: len(copies) == 1 and copies[0]["orderStatus"] == "PENDING",
        )
        (copy,) = rig.follower_copies(f, entry.order_id)
        assert (copy["price"], copy["boProfitValue"], copy["boStopLossValue"]) == (
            1591.0,
            20.0,
            10.0,
        )
    finally:
        rig.stop()
