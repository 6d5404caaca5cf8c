"""Late and far entries (issue 17): ``engine.max_entry_age_s`` and
``engine.max_entry_deviation_pct`` on leader orders a REST reconcile finds after a gap.

The engine is stopped while the leader trades (the longest socket gap there is), then started
again on the same store: its first reconcile finds what the leader did meanwhile, under
``reconcile_policy: copy_all`` (which would copy every one of those orders as they are).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from actors.late_entries import STALE_PREFIX
from copytrader.commands import _report
from copytrader.config import ReconcilePolicy
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import OrderType, TransactionType
from dhansim import Simulator
from store.states import IntentState
from tests.integration.engine_harness import (
    Rig,
    build_config,
    create_accounts,
    follower_config,
    limit_buy,
    wait_until,
)
from tests.integration.test_position_exits import LTP, SEC, broker_net, copy_of, filled, settled


def start(
    sim: Simulator,
    tmp_path: Path,
    ids: str,
    policy: ReconcilePolicy = ReconcilePolicy.COPY_ALL,
    **engine: Any,
) -> Rig:
    """A rig with one multiplier-1 follower ``f`` (client id ``ids``), ``policy``, the
    engine keys ``engine`` set, the LTP of SEC at :data:`LTP`."""
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    f = follower_config("f", ids)
    cfg = build_config(sim, tmp_path, [f], policy=policy)
    cfg = replace(cfg, engine=replace(cfg.engine, **engine))
    create_accounts(sim, cfg)
    return Rig(sim=sim, cfg=cfg, engine=restart(sim, cfg), leader=leader_client(sim, cfg))


def restart(sim: Simulator, cfg: Any) -> Engine:
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    wait_until(lambda: engine.ready()[0], 10.0, what="engine ready")
    return engine


def leader_client(sim: Simulator, cfg: Any) -> Any:
    from dhan.rest import DhanClient

    return DhanClient(
        base_url=sim.rest_url,
        client_id=cfg.leader.client_id,
        access_token=cfg.leader.access_token.reveal(),
    )


def reconcile_problems(sim: Simulator, rig: Rig) -> list[str]:
    """What ``copytrader reconcile`` reports as differences (the engine stopped)."""
    report = _report(rig.cfg, BrokerEndpoints(sim.rest_url, sim.order_feed_url))
    assert report.diff is not None
    return report.diff.problems


def market(qty: int, side: TransactionType = TransactionType.BUY) -> Any:
    return limit_buy(
        SEC, quantity=qty, price=0.0, order_type=OrderType.MARKET, transaction_type=side
    )


@pytest.mark.parametrize("gap", ["socket", "restart"])
def test_after_a_gap_a_stale_traded_entry_is_not_copied_a_resting_one_and_an_exit_are(
    sim: Simulator, tmp_path: Path, gap: str
) -> None:
    """``socket``: the leader's socket stalls and its order book cannot be read until the
    leader's trades are old; ``restart``: the engine is stopped meanwhile."""
    max_age_s = 1.0
    rig = start(
        sim, tmp_path, "1700000001" if gap == "socket" else "1700000002", max_entry_age_s=max_age_s
    )
    f = rig.cfg.followers[0]
    engine = rig.engine
    try:
        # live: the socket copies an entry at once, whatever the age rule
        entry = rig.leader.place_order(market(5)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 5
        if gap == "socket":
            connects = engine.feed_status.connects
            sim.admin.set_faults(
                {
                    "socket_stall": True,
                    "per_endpoint": {"GET /orders": {"error_5xx_p": 1.0}},
                    "accounts": [rig.cfg.leader.client_id],
                }
            )
        else:
            engine.stop()

        # the gap: the leader exits, enters again at market, and rests a limit buy
        exit_ = rig.leader.place_order(market(5, TransactionType.SELL)).order_id
        filled(rig, exit_)
        stale = rig.leader.place_order(market(3)).order_id
        filled(rig, stale)
        resting = rig.leader.place_order(limit_buy(SEC, quantity=4, price=LTP - 100.0)).order_id
        traded_by = time.time()
        # the broker's trade times are whole seconds: one more makes both fills older than
        # the limit whatever their fraction
        wait_until(lambda: time.time() > traded_by + max_age_s + 1.0, 5.0, what="trades grow stale")

        if gap == "socket":
            sim.admin.clear_faults()
            wait_until(lambda: engine.feed_status.connects > connects, 15.0, what="reconnect")
        else:
            engine = restart(sim, rig.cfg)
        rig.wait_copies(resting, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        settled(rig, engine)
        # the exit is copied however late: the follower is flat again
        assert len(rig.follower_copies(f, exit_)) == 1
        assert broker_net(sim, f.client_id) == 0
        # the stale entry is not: skipped, with its reason, and audited
        assert rig.follower_copies(f, stale) == []
        skipped = copy_of(engine, "f", stale)
        assert skipped.state is IntentState.SKIPPED
        assert skipped.skip_reason.startswith(STALE_PREFIX), skipped.skip_reason
        assert "engine.max_entry_age_s 1" in skipped.skip_reason
        stale_audits = [
            r.payload["leader_order_id"]
            for r in engine.journal.audit_after(0, limit=10_000)
            if r.kind == "leader_order_stale"
        ]
        assert stale_audits == [stale]
        # the resting entry is mirrored as now
        assert copy_of(engine, "f", resting).state is IntentState.WORKING
        # ``copytrader reconcile``: the stale skip is by design, nothing differs
        engine.stop()
        assert reconcile_problems(sim, rig) == []
    finally:
        engine.stop()
        rig.leader.close()


def test_under_copy_open_an_exit_the_socket_missed_is_copied_though_traded_an_entry_is_not(
    sim: Simulator, tmp_path: Path
) -> None:
    """The default ``copy_open`` after a socket gap: the leader's exit that traded meanwhile
    still closes the follower's position (exits are always copied, sized from the follower's
    own position); an entry that traded meanwhile is not bought at today's price."""
    rig = start(sim, tmp_path, "1700000003", policy=ReconcilePolicy.COPY_OPEN)
    f = rig.cfg.followers[0]
    engine = rig.engine
    try:
        entry = rig.leader.place_order(market(5)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 5
        connects = engine.feed_status.connects
        sim.admin.set_faults(
            {
                "socket_stall": True,
                "per_endpoint": {"GET /orders": {"error_5xx_p": 1.0}},
                "accounts": [rig.cfg.leader.client_id],
            }
        )
        # the gap: the leader sells 3 of its 5, then buys 2 more
        exit_ = rig.leader.place_order(market(3, TransactionType.SELL)).order_id
        filled(rig, exit_)
        late = rig.leader.place_order(market(2)).order_id
        filled(rig, late)
        # the stalled socket is given up (heartbeat) before the broker answers again
        wait_until(lambda: not engine.feed_status.connected, 15.0, what="stall noticed")
        sim.admin.clear_faults()
        wait_until(lambda: engine.feed_status.connects > connects, 15.0, what="reconnect")
        rig.wait_copies(exit_, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "TRADED")
        settled(rig, engine)
        (copy,) = rig.follower_copies(f, exit_)
        assert (copy["transactionType"], copy["quantity"]) == ("SELL", 3)
        assert broker_net(sim, f.client_id) == 2
        assert rig.follower_copies(f, late) == []
        skipped = copy_of(engine, "f", late)
        assert skipped.state is IntentState.SKIPPED
        assert skipped.skip_reason == "found only by reconcile (TRADED); policy copy_open"
        engine.stop()
        assert reconcile_problems(sim, rig) == []
    finally:
        engine.stop()
        rig.leader.close()


@pytest.mark.parametrize("mpp_as_limit", [True, False], ids=["mpp_as_limit", "mpp_as_market"])
def test_after_a_gap_a_market_entry_5_pct_away_goes_as_a_limit_1_pct_from_the_leaders_fill(
    sim: Simulator, tmp_path: Path, mpp_as_limit: bool
) -> None:
    """The REST book shows the leader's MARKET orders as placed, or (market price protection)
    as LIMITs at their band, 3 % beyond the market: either way the copy is bounded."""
    sim.admin.set_switches(mpp_show_as_limit=mpp_as_limit)
    rig = start(sim, tmp_path, "1700000011", max_entry_deviation_pct=1.0)
    f = rig.cfg.followers[0]
    engine = rig.engine
    try:
        engine.stop()
        # the leader buys at 1600, the price jumps 5 %, the leader buys again at 1680
        far = rig.leader.place_order(market(2)).order_id
        filled(rig, far)
        sim.admin.set_ltp("NSE_EQ", SEC, LTP * 1.05)
        near = rig.leader.place_order(market(3)).order_id
        filled(rig, near)
        assert rig.leader.get_order(far).average_traded_price == LTP

        engine = restart(sim, rig.cfg)
        # the copy of the entry at 1680 fills at once: within 1 % of the leader's fill
        rig.wait_copies(near, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "TRADED")
        (near_copy,) = rig.follower_copies(f, near)
        assert near_copy["orderType"] == "LIMIT"
        assert near_copy["price"] == 1696.8  # 1680 + 1 %
        assert near_copy["averageTradedPrice"] <= 1696.8
        # the copy of the entry at 1600 rests at 1616: the market is 5 % away
        rig.wait_copies(far, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        (far_copy,) = rig.follower_copies(f, far)
        assert (far_copy["orderType"], far_copy["price"], far_copy["filledQty"]) == (
            "LIMIT",
            1616.0,
            0,
        )
        assert broker_net(sim, f.client_id) == 3
        # back within 1 %: it fills, never above the bound
        sim.admin.set_ltp("NSE_EQ", SEC, 1610.0)
        rig.wait_copies(far, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "TRADED")
        (far_copy,) = rig.follower_copies(f, far)
        assert far_copy["averageTradedPrice"] <= 1616.0
        settled(rig, engine)
        assert broker_net(sim, f.client_id) == 5
        # ``copytrader reconcile`` judges both bounded copies right, as the engine sent them
        engine.stop()
        assert reconcile_problems(sim, rig) == []
    finally:
        engine.stop()
        rig.leader.close()
