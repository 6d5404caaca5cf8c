"""The engine copies a leader's orders into every follower over loopback (dhansim + SQLite)."""

from __future__ import annotations

from pathlib import Path

from dhansim import Simulator
from tests.integration.engine_harness import follower_config, limit_buy, start_rig


def test_a_leader_limit_order_is_copied_scaled_into_every_follower(
    sim: Simulator, tmp_path: Path
) -> None:
    followers = [
        follower_config("f1", "1200000001", multiplier=1.0),
        follower_config("f2", "1200000002", multiplier=2.0),
        follower_config("f3", "1200000003", fixed=3),
    ]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)  # the limit rests below the market
    rig = start_rig(sim, tmp_path, followers)
    try:
        ack = rig.leader.place_order(limit_buy(quantity=10, price=1500.0))
        expected = {"f1": 10, "f2": 20, "f3": 3}
        rig.wait_copies(
            ack.order_id,
            lambda f, copies: len(copies) == 1 and copies[0]["quantity"] == expected[f.name],
        )
    finally:
        rig.stop()
