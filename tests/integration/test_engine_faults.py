"""The invariants under broker faults: nothing lost, nothing duplicated (dhansim nemesis)."""

from __future__ import annotations

from pathlib import Path

from dhansim import Simulator
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until


def test_a_follower_place_accepted_then_dropped_leaves_exactly_one_follower_order(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("drop", "1200000011")
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        sim.admin.set_faults(
            {
                "accounts": [f.client_id],
                "per_endpoint": {"POST /orders": {"accept_then_drop_p": 1.0}},
            }
        )
        ack = rig.leader.place_order(limit_buy(quantity=5, price=1500.0))
        # the first place is processed and its answer lost; the engine must find it by id
        rig.wait_copies(ack.order_id, lambda _f, copies: len(copies) == 1)
        sim.admin.clear_faults()
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, what="intents settled")
        assert len(rig.follower_copies(f, ack.order_id)) == 1
    finally:
        rig.stop()


def test_a_rate_limit_storm_delays_copies_but_every_order_lands_once(
    sim: Simulator, tmp_path: Path
) -> None:
    followers = [follower_config(f"storm{i}", f"12000000{20 + i}") for i in range(3)]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, followers)
    try:
        sim.admin.set_faults(
            {
                "accounts": [f.client_id for f in followers],
                "per_endpoint": {"POST /orders": {"rate_limit_storm_p": 0.6}},
            }
        )
        leader_ids = [
            rig.leader.place_order(limit_buy(quantity=1 + i, price=1400.0 + i)).order_id
            for i in range(5)
        ]

        def throttled() -> float:
            reg = rig.engine.metrics.registry
            return sum(
                reg.get_sample_value("copytrader_rate_limited_total", {"account": f.name}) or 0.0
                for f in followers
            )

        wait_until(lambda: throttled() >= 2, what="DH-904 answers seen by the engine")
        sim.admin.clear_faults()
        for oid in leader_ids:
            rig.wait_copies(oid, lambda _f, copies: len(copies) == 1, timeout_s=20.0)
    finally:
        rig.stop()


def test_timeouts_and_5xx_on_follower_places_never_duplicate(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("flaky", "1200000031")
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        sim.admin.set_faults(
            {
                "accounts": [f.client_id],
                "per_endpoint": {
                    "POST /orders": {
                        "error_5xx_p": 0.3,
                        "timeout_p": 0.3,
                        "timeout_hold_s": 2.0,
                        "timeout_after_processing": True,
                    }
                },
            }
        )
        leader_ids = [
            rig.leader.place_order(limit_buy(quantity=1, price=1300.0 + i)).order_id
            for i in range(6)
        ]
        for oid in leader_ids:
            rig.wait_copies(oid, lambda _f, copies: len(copies) >= 1, timeout_s=30.0)
        sim.admin.clear_faults()
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, 20.0, what="settled")
        for oid in leader_ids:
            assert len(rig.follower_copies(f, oid)) == 1, oid
    finally:
        rig.stop()
