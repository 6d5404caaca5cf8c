"""Copy slippage end to end: the market moves between the leader's fill and the copy's.

The instrument is made illiquid so nothing fills on its own: the leader's MARKET order and its
copy both rest until the test fills the leader's (the simulator's admin fill, at the LTP), moves
the LTP and makes the market liquid again, which fills the copy at the new price. The expected
bps are computed from the fill prices the simulator reports, not written down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from actors.copy_slippage import day_slippage
from actors.slippage import slippage_bps
from copytrader.config import load_config
from copytrader.engine import BrokerEndpoints, Engine
from copytrader.runner import config_env
from dhan.codes import OrderStatus, OrderType, TransactionType
from dhan.correlation import correlation_id_for
from dhan.rest import DhanClient
from dhansim import Simulator
from store import Journal
from tests.integration.cli_rig import make_cli_rig
from tests.integration.engine_harness import (
    bo_buy,
    follower_config,
    limit_buy,
    start_rig,
    wait_until,
)

SEG, SID = "NSE_EQ", "1333"
BUY, SELL = TransactionType.BUY, TransactionType.SELL


def _order(sim: Simulator, client_id: str, order_id: str) -> dict[str, Any]:
    return next(o for o in sim.admin.orders(client_id) if o["orderId"] == order_id)


def _copy(sim: Simulator, name: str, client_id: str, leader_order_id: str) -> dict[str, Any]:
    cid = correlation_id_for(name, leader_order_id)
    copies = [o for o in sim.admin.orders(client_id) if o.get("correlationId") == cid]
    return copies[0] if len(copies) == 1 else {}


def _observed(engine: Engine, follower: str) -> dict[float, float]:
    """The follower's cumulative bucket counts of ``copytrader_copy_slippage_bps`` (upper
    bound -> count). prometheus_client exports no ``_sum`` for a histogram with negative
    buckets (OpenMetrics): the buckets and ``_count`` are what Prometheus sees."""
    out: dict[float, float] = {}
    for family in engine.metrics.registry.collect():
        for s in family.samples:
            if s.name == "copytrader_copy_slippage_bps_bucket" and s.labels["follower"] == follower:
                out[float(s.labels["le"])] = s.value
    return out


def _count(engine: Engine, follower: str) -> float:
    labels = {"follower": follower}
    return (
        engine.metrics.registry.get_sample_value("copytrader_copy_slippage_bps_count", labels)
        or 0.0
    )


def _assert_buckets_hold(engine: Engine, follower: str, values: list[float]) -> None:
    buckets = _observed(engine, follower)
    assert buckets, "no bucket observed"
    for bound, count in buckets.items():
        assert count == sum(1 for v in values if v <= bound), (bound, buckets, values)


def _trade_after_a_move(
    sim: Simulator,
    engine: Engine,
    leader: DhanClient,
    follower: tuple[str, str],
    side: TransactionType,
    leader_price: float,
    copy_price: float,
) -> tuple[float, float]:
    """The leader's MARKET ``side`` fills at ``leader_price``; the market then moves to
    ``copy_price`` before the follower's copy fills. Returns the two average fill prices."""
    name, client_id = follower
    sim.admin.set_ltp(SEG, SID, leader_price, liquid=False)
    ack = leader.place_order(
        limit_buy(SID, quantity=10, price=0.0, order_type=OrderType.MARKET, transaction_type=side)
    )
    oid = ack.order_id
    # the copy is mirrored while the leader's order rests (the market is illiquid)
    wait_until(
        lambda: _copy(sim, name, client_id, oid).get("orderStatus") == "PENDING",
        what=f"the resting copy of {oid}",
    )
    wait_until(
        lambda: _order(sim, engine.cfg.leader.client_id, oid).get("orderStatus") == "PENDING",
        what=f"leader order {oid} accepted",
    )
    sim.admin.fill(oid)  # at the LTP
    # the leader's fill, with its average price, journaled before the copy fills: otherwise
    # the copy's fill may settle first and its slippage is not measured (documented)
    wait_until(
        lambda: (
            (s := engine.journal.leader_snapshot(oid)) is not None
            and s.status is OrderStatus.TRADED
            and s.avg_price > 0
        ),
        what=f"leader order {oid} journaled as traded",
    )
    sim.admin.set_ltp(SEG, SID, copy_price, liquid=True)  # the copy fills at the new price
    copy = wait_until(
        lambda: (c := _copy(sim, name, client_id, oid)).get("orderStatus") == "TRADED" and c,
        what=f"the copy of {oid} traded",
    )
    leader_avg = float(_order(sim, engine.cfg.leader.client_id, oid)["averageTradedPrice"])
    return leader_avg, float(copy["averageTradedPrice"])


def test_slippage_of_an_entry_and_its_exit_is_observed_signed_and_shown_by_status(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make_cli_rig(sim, tmp_path, ["ana"], id_base=2900000000)
    monkeypatch.setenv("COPYTRADER_ENV_FILE", str(rig.env_file))
    cfg = load_config(str(rig.config), config_env())
    ana = (cfg.followers[0].name, cfg.followers[0].client_id)
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    leader = DhanClient(
        base_url=sim.rest_url,
        client_id=cfg.leader.client_id,
        access_token=cfg.leader.access_token.reveal(),
    )
    try:
        wait_until(lambda: engine.ready()[0], 10.0, what="engine ready")
        # the entry: the leader buys at 1500, the copy at 1503 after the market rose
        entry = _trade_after_a_move(sim, engine, leader, ana, BUY, 1500.0, 1503.0)
        wait_until(lambda: _count(engine, "ana") == 1.0, what="entry observed")
        entry_bps = slippage_bps(BUY, *entry)
        assert entry_bps is not None and entry_bps > 0  # paid more than the leader: worse
        _assert_buckets_hold(engine, "ana", [entry_bps])

        # the exit: the leader sells at 1510, the copy at 1505 after the market fell
        exit_ = _trade_after_a_move(sim, engine, leader, ana, SELL, 1510.0, 1505.0)
        wait_until(lambda: _count(engine, "ana") == 2.0, what="exit observed")
        exit_bps = slippage_bps(SELL, *exit_)
        assert exit_bps is not None and exit_bps > 0  # received less than the leader: worse
        _assert_buckets_hold(engine, "ana", [entry_bps, exit_bps])
        summary = day_slippage(engine.journal, "ana")
        assert summary.count == 2
        assert summary.mean_bps == pytest.approx((entry_bps + exit_bps) / 2, abs=1e-3)
        assert summary.worst_bps == pytest.approx(max(entry_bps, exit_bps), abs=1e-3)
    finally:
        engine.stop()
        leader.close()

    # durable: the journal holds them once the engine has stopped
    journal = Journal.open(rig.store_url)
    try:
        assert day_slippage(journal, "ana").count == 2
    finally:
        journal.close()

    result = rig.cli("status")  # the engine is stopped: status reads the journal
    assert result.returncode == 0, result.stdout + result.stderr
    # the slippage section's line of ana (status has a line per follower in other sections)
    slippage = result.stdout.split("copy slippage today", 1)[1]
    line = next(s for s in slippage.splitlines() if s.strip().startswith("ana: "))
    mean = float(re.search(r"mean ([+-][0-9.]+) bps", line).group(1))  # type: ignore[union-attr]
    assert "2 copies" in line
    assert mean == pytest.approx((entry_bps + exit_bps) / 2, abs=0.051)
    rig.assert_no_token_in(result.stdout + result.stderr)


def test_a_bracket_exit_leg_is_measured_against_the_leaders_same_leg(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp(SEG, "2885", 1600.0)
    follower = follower_config("b1", "1300000011")
    rig = start_rig(sim, tmp_path, [follower])
    leader_id = rig.cfg.leader.client_id
    try:
        entry = rig.leader.place_order(bo_buy())
        cid = correlation_id_for(follower.name, entry.order_id)

        def target(client_id: str, cid: str | None) -> dict[str, Any]:
            return next(
                (
                    o
                    for o in sim.admin.orders(client_id)
                    if o.get("legName") == "TARGET_LEG"
                    and (cid is None or o.get("correlationId") == cid)
                ),
                {},
            )

        wait_until(lambda: target(follower.client_id, cid), what="the copy's target leg")
        sim.admin.set_ltp(SEG, "2885", 1600.0, liquid=False)  # the legs fill when we say
        leader_target = target(leader_id, None)
        sim.admin.fill(leader_target["orderId"], price=leader_target["price"])
        wait_until(
            lambda: any(
                s.leg_name == "TARGET_LEG" and s.status is OrderStatus.TRADED and s.avg_price > 0
                for s in rig.engine.journal.leader_legs(entry.order_id)
            ),
            what="the leader's target journaled as traded",
        )
        # the copy's target fills a rupee above its limit (a price improvement: better)
        copy_target = target(follower.client_id, cid)
        sim.admin.fill(copy_target["orderId"], price=copy_target["price"] + 1.0)

        def leg_mark() -> dict[str, str]:
            marks = rig.engine.journal.marks(follower.name, "slippage:")
            return {k: v for k, v in marks.items() if k.endswith(":TARGET_LEG")}

        marked = wait_until(leg_mark, what="the target leg's slippage marked")
        leader_avg = float(target(leader_id, None)["averageTradedPrice"])
        copy_avg = float(target(follower.client_id, cid)["averageTradedPrice"])
        expected = slippage_bps(SELL, leader_avg, copy_avg)  # the exit of a long sells
        assert expected is not None and expected < 0  # received more than the leader
        (value,) = marked.values()
        assert float(value) == pytest.approx(expected, abs=1e-3)
        buckets = _observed(rig.engine, follower.name)
        below = max(b for b in buckets if b < expected)
        assert buckets[below] == 0.0 and buckets[min(b for b in buckets if b >= expected)] >= 1
    finally:
        rig.stop()


def test_a_copy_that_fills_before_its_leader_order_is_measured_once_the_leader_fills(
    sim: Simulator, tmp_path: Path
) -> None:
    # two LIMIT orders filling in the same instant: the copy's fill may settle before the
    # leader's traded frame is journaled. Here the copy fills first, for certain.
    follower = follower_config("r1", "1300000021")
    rig = start_rig(sim, tmp_path, [follower])
    leader_id = rig.cfg.leader.client_id
    try:
        sim.admin.set_ltp(SEG, SID, 1500.0, liquid=False)
        oid = rig.leader.place_order(limit_buy(SID, quantity=10, price=1500.0)).order_id
        wait_until(
            lambda: (
                _copy(sim, follower.name, follower.client_id, oid).get("orderStatus") == "PENDING"
            ),
            what="the resting copy",
        )
        copy_id = _copy(sim, follower.name, follower.client_id, oid)["orderId"]
        sim.admin.fill(copy_id, price=1499.5)  # the copy fills first, half a rupee better

        def copy_done() -> bool:
            (intent,) = rig.engine.journal.intents(follower.name, leader_order_id=oid)
            return intent.state.value == "DONE"

        wait_until(copy_done, what="the copy settled filled")
        assert _count(rig.engine, follower.name) == 0.0  # the leader's price is not known yet

        wait_until(
            lambda: _order(sim, leader_id, oid).get("orderStatus") == "PENDING",
            what="the leader order accepted",
        )
        sim.admin.fill(oid, price=1500.0)
        wait_until(lambda: _count(rig.engine, follower.name) == 1.0, what="the copy measured")
        expected = slippage_bps(
            BUY,
            float(_order(sim, leader_id, oid)["averageTradedPrice"]),
            float(_copy(sim, follower.name, follower.client_id, oid)["averageTradedPrice"]),
        )
        assert expected is not None and expected < 0  # paid less than the leader: better
        _assert_buckets_hold(rig.engine, follower.name, [expected])
        (value,) = rig.engine.journal.marks(follower.name, "slippage:").values()
        assert float(value) == pytest.approx(expected, abs=1e-3)
    finally:
        rig.stop()
