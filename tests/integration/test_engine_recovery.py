"""Recovery: a lost leader socket, an expired follower token, an engine restart mid-stream."""

from __future__ import annotations

from pathlib import Path

import pytest

from copytrader.config import ReconcilePolicy
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import OrderType
from dhansim import Simulator
from store.states import IntentState
from supervision.faults import FaultPlan, Faults
from tests.integration.engine_harness import follower_config, limit_buy, start_rig, wait_until


@pytest.mark.parametrize("mpp_as_limit", [True, False], ids=["mpp_as_limit", "mpp_as_market"])
def test_orders_the_leader_placed_while_its_socket_was_down_are_found_by_reconcile(
    sim: Simulator, tmp_path: Path, mpp_as_limit: bool
) -> None:
    sim.admin.set_switches(mpp_show_as_limit=mpp_as_limit)
    f = follower_config("rc", "1400000001")
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, [f], policy=ReconcilePolicy.COPY_OPEN)
    try:
        sim.admin.set_faults({"socket_stall": True, "accounts": [rig.cfg.leader.client_id]})
        open_order = rig.leader.place_order(limit_buy(quantity=4, price=1500.0))
        filled = rig.leader.place_order(
            limit_buy(quantity=2, order_type=OrderType.MARKET, price=0.0)
        )
        # the stalled socket misses its pongs: the feed crashes, restarts and reconciles
        wait_until(lambda: rig.engine.feed_status.connects >= 2, 15.0, what="feed reconnect")
        sim.admin.clear_faults()
        rig.wait_copies(open_order.order_id, lambda _f, copies: len(copies) == 1, timeout_s=15.0)
        # the market order filled before anyone saw it: policy copy_open skips it, loudly
        wait_until(
            lambda: any(
                r.kind == "leader_order_missed" and r.payload["leader_order_id"] == filled.order_id
                for r in rig.engine.journal.audit_after(0, limit=10_000)
            ),
            what="missed-order audit record",
        )
        assert rig.follower_copies(f, filled.order_id) == []
    finally:
        rig.stop()


def test_a_rejected_token_pauses_only_that_follower_until_its_token_is_reloaded(
    sim: Simulator, tmp_path: Path
) -> None:
    from actors.messages import UpdateToken
    from actors.names import follower_name

    good, bad = follower_config("good", "1400000011"), follower_config("bad", "1400000012")
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, [good, bad])
    try:
        sim.admin.expire_token(bad.client_id)
        first = rig.leader.place_order(limit_buy(quantity=3, price=1500.0))
        rig.wait_copies(first.order_id, lambda _f, c: len(c) == 1, followers=[good])
        wait_until(
            lambda: (
                rig.engine.metrics.registry.get_sample_value(
                    "copytrader_follower_paused", {"follower": "bad"}
                )
                == 1.0
            ),
            what="bad follower paused",
        )
        second = rig.leader.place_order(limit_buy(quantity=2, price=1501.0))
        rig.wait_copies(second.order_id, lambda _f, c: len(c) == 1, followers=[good])
        assert rig.follower_copies(bad, first.order_id) == []
        # a new token (SIGHUP) resumes the paused follower, which catches up on both orders
        sim.admin.rotate_token(bad.client_id, "fresh-token-of-bad")
        assert rig.engine.root is not None
        rig.engine.root.registry.tell(follower_name("bad"), UpdateToken("fresh-token-of-bad"))
        for oid in (first.order_id, second.order_id):
            rig.wait_copies(oid, lambda _f, c: len(c) == 1, followers=[bad])
    finally:
        rig.stop()


def test_an_engine_restarted_on_the_same_store_resumes_without_duplicates(
    sim: Simulator, tmp_path: Path
) -> None:
    followers = [follower_config(f"r{i}", f"14000000{20 + i}") for i in range(3)]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, followers)
    ids = [
        rig.leader.place_order(limit_buy(quantity=1, price=1400.0 + i)).order_id for i in range(5)
    ]
    rig.engine.stop()  # mid-stream: some copies may not have been sent yet
    ids += [
        rig.leader.place_order(limit_buy(quantity=1, price=1450.0 + i)).order_id for i in range(3)
    ]
    engine = Engine(rig.cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    try:
        for oid in ids:
            rig.wait_copies(oid, lambda _f, c: len(c) == 1, timeout_s=15.0)
        wait_until(lambda: engine.journal.unresolved_count() == 0, what="settled")
        for oid in ids:
            for f in followers:
                assert len(rig.follower_copies(f, oid)) == 1
    finally:
        engine.stop()
        rig.leader.close()


def test_a_follower_that_dies_before_journaling_its_acks_adopts_its_copies_never_resends(
    sim: Simulator, tmp_path: Path
) -> None:
    # A plain copy's ack is journaled in a batch after the send, not at once: a crash in
    # between leaves SENDING intents whose orders exist. The next incarnation must find them
    # by correlationId (exactly one order each), never place them again.
    faults = Faults()
    faults.arm(FaultPlan(seed=1, at_hits={"follower.before_journal_acks": [1, 2]}))
    followers = [follower_config(f"ja{i}", f"14000000{40 + i}") for i in range(2)]
    sim.admin.set_ltp("NSE_EQ", "1333", 1600.0)
    rig = start_rig(sim, tmp_path, followers, faults=faults)
    try:
        ids = [
            rig.leader.place_order(limit_buy(quantity=1, price=1400.0 + i)).order_id
            for i in range(4)
        ]
        for oid in ids:
            rig.wait_copies(oid, lambda _f, c: len(c) == 1, timeout_s=15.0)
        wait_until(lambda: len(faults.fired()) == 2, what="both kills")
        wait_until(lambda: rig.engine.journal.unresolved_count() == 0, what="settled")
        for oid in ids:
            for f in followers:
                assert len(rig.follower_copies(f, oid)) == 1
                (intent,) = rig.engine.journal.intents(f.name, leader_order_id=oid)
                assert intent.state is IntentState.WORKING
                assert intent.broker_order_id == rig.follower_copies(f, oid)[0]["orderId"]
    finally:
        rig.stop()
