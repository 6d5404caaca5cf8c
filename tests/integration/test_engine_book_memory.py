"""A day's orders do not pile up in the engine: each follower's cached broker book keeps the
copies still working (and those being settled), not every order of the day, and every copy
still settles from it with the leader's content."""

from __future__ import annotations

from pathlib import Path

from dhansim import Simulator
from store.states import IntentState
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until

LTP = 1600.0


def test_settled_copies_are_not_kept_in_the_followers_book_memory(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_switches(rate_limits=False)  # the leader places faster than Dhan's 10/s
    sim.admin.set_ltp("NSE_EQ", "1333", LTP)
    single, double = (
        follower_config("single", "1400000091"),
        follower_config("double", "1400000092", multiplier=2.0),
    )
    rig = start_rig(sim, tmp_path, [single, double])
    try:
        # a day in brief: orders that trade at once, and one that rests all day
        resting = rig.leader.place_order(limit_buy(quantity=3, price=1400.0)).order_id
        traded = [
            rig.leader.place_order(limit_buy(quantity=1 + k % 3, price=LTP + 10)).order_id
            for k in range(40)
        ]
        journal = rig.engine.journal

        def all_settled() -> bool:
            for f in (single, double):
                states = [i.state for i in journal.intents(f.name)]
                if len(states) != 41 or states.count(IntentState.DONE) != 40:
                    return False
            return True

        wait_until(all_settled, 60.0, what="every copy settled")

        # the content: each copy traded in full, scaled; the resting one still works
        for follower, scale in ((single, 1), (double, 2)):
            for k, leader_order in enumerate(traded):
                (copy,) = rig.follower_copies(follower, leader_order)
                assert copy["orderStatus"] == "TRADED"
                assert copy["filledQty"] == copy["quantity"] == (1 + k % 3) * scale
            (rest,) = rig.follower_copies(follower, resting)
            assert rest["orderStatus"] == "PENDING" and rest["quantity"] == 3 * scale
            (working,) = journal.intents(follower.name, states=[IntentState.WORKING])
            assert working.leader_order_id == resting

        # and the book in memory: the working copy, not the 40 traded ones
        clients = [rig.engine.clients[f.name] for f in (single, double)]
        wait_until(
            lambda: all(c.remembered_orders <= 2 for c in clients),
            10.0,
            what="each book trimmed to the working copies",
        )
    finally:
        rig.stop()
