"""Market price protection (MPP): a leader MARKET order shown as a LIMIT at its band price, or
(simulator switch ``mpp_show_as_limit`` off) as the MARKET it was placed as."""

from __future__ import annotations

from pathlib import Path

import pytest

from dhan.codes import OrderType, Validity
from dhan.models import ModifyRequest
from dhansim import Simulator
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until

TCS = "11536"


@pytest.mark.parametrize("mpp_as_limit", [True, False], ids=["mpp_as_limit", "mpp_as_market"])
def test_a_leader_re_price_of_a_protected_market_order_reaches_the_copy(
    sim: Simulator, tmp_path: Path, mpp_as_limit: bool
) -> None:
    sim.admin.set_switches(mpp_show_as_limit=mpp_as_limit)
    f = follower_config("mpp", "1400000501")
    sim.admin.set_ltp("NSE_EQ", TCS, 3500.0, liquid=False)  # the protected order rests
    rig = start_rig(sim, tmp_path, [f])
    try:
        leader_id = rig.leader.place_order(
            limit_buy(TCS, quantity=5, order_type=OrderType.MARKET, price=0.0)
        ).order_id
        rig.wait_copies(leader_id, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        # resting, the leader's order is shown one way throughout: a LIMIT at its band price,
        # or (mpp_show_as_limit off) a MARKET at price 0
        shown = rig.leader.get_order(leader_id)
        band = shown.price
        if mpp_as_limit:
            assert shown.order_type is OrderType.LIMIT and band > 0, shown
        else:
            assert shown.order_type is OrderType.MARKET and band == 0.0, shown
        # a part fill: its frame shows the protected order as a LIMIT at the band, which
        # changes nothing for the copy (the follower broker's own protected MARKET)
        sim.admin.fill(leader_id, quantity=2, price=3500.0)
        wait_until(
            lambda: (s := rig.engine.journal.leader_snapshot(leader_id)) and s.filled_qty == 2,
            what="the part fill journaled",
        )
        (intent,) = rig.engine.journal.intents(f.name, leader_order_id=leader_id)
        assert intent.order_type is OrderType.MARKET and intent.desired_version == 1, intent
        rig.leader.modify_order(
            leader_id,
            ModifyRequest(
                order_type=OrderType.LIMIT,
                quantity=5,
                price=3450.0,
                trigger_price=None,
                validity=Validity.DAY,
            ),
        )
        rig.wait_copies(
            leader_id,
            lambda _f, c: len(c) == 1 and c[0]["orderType"] == "LIMIT" and c[0]["price"] == 3450.0,
        )
        assert band != 3450.0
        sim.admin.set_ltp("NSE_EQ", TCS, 3460.0, liquid=True)  # above both bids: nothing fills
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, what="settled")
        assert rig.leader.get_order(leader_id).order_status.value == "PART_TRADED"
        assert [c["orderStatus"] for c in rig.follower_copies(f, leader_id)] == ["PENDING"]
    finally:
        rig.stop()
