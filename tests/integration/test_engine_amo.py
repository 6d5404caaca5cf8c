"""After-market orders (AMO): a leader AMO is copied as an AMO, from the socket or the book."""

from __future__ import annotations

from pathlib import Path

from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import AmoTime
from dhansim import Simulator
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until


def test_a_leader_amo_is_copied_as_an_amo(sim: Simulator, tmp_path: Path) -> None:
    f = follower_config("amo", "1400000701")
    sim.admin.set_ltp("NSE_EQ", "3045", 800.0)
    rig = start_rig(sim, tmp_path, [f])
    try:
        regular = rig.leader.place_order(limit_buy("3045", quantity=3, price=780.0)).order_id
        amo = rig.leader.place_order(
            limit_buy(
                "3045", quantity=4, price=790.0, after_market_order=True, amo_time=AmoTime.OPEN
            )
        ).order_id
        for oid in (regular, amo):
            rig.wait_copies(oid, lambda _f, c: len(c) == 1)
        (copy,) = rig.follower_copies(f, amo)
        assert copy["afterMarketOrder"] is True and copy["quantity"] == 4
        assert rig.follower_copies(f, regular)[0]["afterMarketOrder"] is False
        (intent,) = rig.engine.journal.intents(f.name, leader_order_id=amo)
        assert intent.after_market_order is True
    finally:
        rig.stop()


def test_a_leader_amo_placed_while_the_engine_was_down_is_copied_as_an_amo(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("amo2", "1400000702")
    sim.admin.set_ltp("NSE_EQ", "3045", 800.0)
    rig = start_rig(sim, tmp_path, [f])
    rig.engine.stop()
    amo = rig.leader.place_order(
        limit_buy("3045", quantity=2, price=790.0, after_market_order=True, amo_time=AmoTime.OPEN)
    ).order_id
    engine = Engine(rig.cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    try:
        wait_until(lambda: len(rig.follower_copies(f, amo)) == 1, what="the reconciled copy")
        assert rig.follower_copies(f, amo)[0]["afterMarketOrder"] is True
    finally:
        engine.stop()
        rig.leader.close()
