"""Exits sized from the follower's position (issue 16), against dhansim over loopback.

Each case drives the leader through its REST API like a trader, and judges the followers by
the broker's own positions (``GET /positions`` of each account), not by the engine's journal:
a follower must end where its position says it should, never short when the leader is flat.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from actors import exit_holds, exit_sizing
from copytrader.config import SizingConfig, SizingMode
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import ExchangeSegment, PositionType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from dhan.models import ConvertRequest
from dhan.rest import DhanClient
from dhansim import Simulator
from store.records import PositionKey
from store.states import IntentState
from tests.integration.engine_harness import (
    Rig,
    build_config,
    create_accounts,
    follower_config,
    limit_buy,
    start_rig,
    wait_until,
)

SEC = "1333"
LTP = 1600.0
KEY = PositionKey("NSE_EQ", SEC, "INTRADAY")


def buy(qty: int, **kw: Any) -> Any:
    """A marketable limit BUY (fills at once at the LTP)."""
    return limit_buy(SEC, quantity=qty, price=LTP + 100.0, **kw)


def sell(qty: int, **kw: Any) -> Any:
    """A marketable limit SELL."""
    return limit_buy(
        SEC, quantity=qty, price=LTP - 100.0, transaction_type=TransactionType.SELL, **kw
    )


def broker_net(sim: Simulator, client_id: str, product: str = "INTRADAY") -> int:
    """The account's net position in SEC as the broker reports it."""
    client = DhanClient(base_url=sim.rest_url, client_id=client_id, access_token=f"tok-{client_id}")
    try:
        return sum(
            p.net_qty
            for p in client.positions()
            if p.security_id == SEC and str(p.product_type) == product
        )
    finally:
        client.close()


def journal_net(engine: Engine, account: str, key: PositionKey = KEY) -> int:
    return sum(r.net_qty for r in engine.journal.positions(account) if r.key == key)


def settled(rig: Rig, engine: Engine | None = None) -> None:
    """Wait until every copy is settled and each account's journaled position is the broker's."""
    engine = engine or rig.engine
    wait_until(lambda: engine.journal.unresolved_count() == 0, 15.0, what="copies settled")

    def agree() -> bool:
        return all(
            journal_net(engine, name) == broker_net(rig.sim, cid)
            for name, cid in [("leader", rig.cfg.leader.client_id)]
            + [(f.name, f.client_id) for f in rig.cfg.followers]
        )

    wait_until(agree, 15.0, what="journaled positions equal the broker's")


def filled(rig: Rig, order_id: str) -> None:
    def done() -> bool:
        order = rig.leader.get_order(order_id)
        return order.filled_qty == order.quantity

    wait_until(done, what=f"leader order {order_id} filled")


def copy_of(engine: Engine, follower: str, leader_order_id: str) -> Any:
    """The follower's journaled copy of the leader order (None before it is derived)."""
    found = engine.journal.intents(follower, leader_order_id=leader_order_id)
    assert len(found) <= 1
    return found[0] if found else None


def refused(rig: Rig, follower: str, leader_order_id: str) -> None:
    """Wait until the broker has refused ``follower``'s copy of the leader order (funds)."""
    wait_until(
        lambda: (
            getattr(copy_of(rig.engine, follower, leader_order_id), "state", None)
            is IntentState.REJECTED
        ),
        what=f"{follower}'s copy of {leader_order_id} refused",
    )


def rich_and_poor(
    sim: Simulator, tmp_path: Path, ids: str, *, poor_balance: float
) -> tuple[Rig, Any, Any]:
    """A rig with two multiplier-1 followers, ``rich`` (client id ``ids + "1"``) and ``poor``
    (``ids + "2"``, ``poor_balance`` to spend), the LTP of SEC set."""
    rich = follower_config("rich", f"{ids}1")
    poor = follower_config("poor", f"{ids}2")
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [rich, poor], balances={poor.client_id: poor_balance})
    return rig, rich, poor


def test_a_follower_whose_entry_was_rejected_for_funds_gets_no_exit(
    sim: Simulator, tmp_path: Path
) -> None:
    rig, rich, poor = rich_and_poor(sim, tmp_path, "150000000", poor_balance=100.0)
    try:
        entry = rig.leader.place_order(buy(10)).order_id
        filled(rig, entry)
        refused(rig, "poor", entry)
        settled(rig)
        exit_ = rig.leader.place_order(sell(10)).order_id
        filled(rig, exit_)
        settled(rig)
        skipped = copy_of(rig.engine, "poor", exit_)
        assert skipped.state is IntentState.SKIPPED
        assert skipped.skip_reason == exit_sizing.NOTHING_TO_CLOSE
        assert rig.follower_copies(poor, exit_) == []  # nothing sent
        assert broker_net(sim, poor.client_id) == 0  # not short
        assert broker_net(sim, rich.client_id) == 0  # the other follower closed its 10
        assert broker_net(sim, rig.cfg.leader.client_id) == 0
    finally:
        rig.stop()


def test_a_half_filled_then_cancelled_entry_is_closed_by_the_leaders_exit_of_its_half(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("half", "1500000011")
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f])
    try:
        entry = rig.leader.place_order(limit_buy(SEC, quantity=100, price=LTP - 50.0)).order_id
        rig.wait_copies(entry, lambda _f, c: len(c) == 1 and c[0]["quantity"] == 100)
        sim.admin.fill(entry, quantity=50)
        (copy,) = rig.follower_copies(f, entry)
        sim.admin.fill(copy["orderId"], quantity=50)
        rig.leader.cancel_order(entry)
        rig.wait_copies(entry, lambda _f, c: c[0]["orderStatus"] in ("CANCELLED", "TRADED"))
        settled(rig)
        assert broker_net(sim, f.client_id) == 50
        exit_ = rig.leader.place_order(sell(50)).order_id
        rig.wait_copies(exit_, lambda _f, c: len(c) == 1 and c[0]["quantity"] == 50)
        filled(rig, exit_)
        settled(rig)
        assert broker_net(sim, f.client_id) == 0
    finally:
        rig.stop()


def test_a_fixed_follower_scaling_out_in_three_steps_ends_flat_never_short(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("fix5", "1500000021", fixed=5)
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f])
    try:
        entry = rig.leader.place_order(buy(30)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 5
        seen = [5]
        for _ in range(3):
            exit_ = rig.leader.place_order(sell(10)).order_id
            filled(rig, exit_)
            settled(rig)
            seen.append(broker_net(sim, f.client_id))
        assert seen == [5, 4, 2, 0]  # 5 x 10/30 -> 1, 4 x 10/20 -> 2, then the rest
        assert broker_net(sim, rig.cfg.leader.client_id) == 0
    finally:
        rig.stop()


def test_a_capital_follower_whose_balance_halved_between_entry_and_exit_ends_flat(
    sim: Simulator, tmp_path: Path
) -> None:
    f = replace(
        follower_config("cap", "1500000031"),
        sizing=SizingConfig(SizingMode.CAPITAL, capital_multiplier=1.0),
    )
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    # the follower has half the leader's capital: it buys 5 of the leader's 10
    rig = start_rig(
        sim, tmp_path, [f], balances={"1100000000": 2_000_000.0, "1500000031": 1_000_000.0}
    )
    try:
        wait_until(lambda: "cap" in rig.engine.balances, what="the follower's balance read")
        entry = rig.leader.place_order(buy(10)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 5
        # the follower's free balance halves: it spends it on another instrument by hand
        own = DhanClient(
            base_url=sim.rest_url, client_id=f.client_id, access_token=f"tok-{f.client_id}"
        )
        try:
            sim.admin.set_ltp("NSE_EQ", "11536", 4000.0)
            own.place_order(
                limit_buy("11536", quantity=60, price=4100.0, product_type=ProductType.CNC)
            )
        finally:
            own.close()
        exit_ = rig.leader.place_order(sell(10)).order_id
        filled(rig, exit_)
        settled(rig)
        assert broker_net(sim, f.client_id) == 0
    finally:
        rig.stop()


def test_a_leader_flip_from_long_to_short_flips_a_double_follower(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("x2", "1500000041", multiplier=2.0)
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f])
    try:
        entry = rig.leader.place_order(buy(10)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 20
        flip = rig.leader.place_order(sell(20)).order_id
        rig.wait_copies(flip, lambda _f, c: len(c) == 1 and c[0]["quantity"] == 40)
        filled(rig, flip)
        settled(rig)
        assert broker_net(sim, rig.cfg.leader.client_id) == -10
        assert broker_net(sim, f.client_id) == -20
    finally:
        rig.stop()


def test_an_exit_after_a_restart_between_entry_and_exit_is_sized_from_the_position(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("rs", "1500000051", fixed=3)
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f])
    entry = rig.leader.place_order(buy(9)).order_id
    filled(rig, entry)
    settled(rig)
    assert broker_net(sim, f.client_id) == 3
    rig.engine.stop()
    engine = Engine(rig.cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    try:
        wait_until(lambda: engine.ready()[0], what="engine ready")
        assert journal_net(engine, "rs") == 3  # the journal kept it
        exit_ = rig.leader.place_order(sell(3)).order_id  # a third of the leader's 9
        wait_until(
            lambda: (
                [
                    o["quantity"]
                    for o in rig.book(f.client_id)
                    if o.get("correlationId") == correlation_id_for("rs", exit_)
                ]
                == [1]
            ),
            what="the exit copy: a third of the follower's 3 (fixed sizing would send 3)",
        )
        filled(rig, exit_)
        settled(rig, engine)
        assert broker_net(sim, f.client_id) == 2
    finally:
        engine.stop()
        rig.leader.close()


def broker_cnc(sim: Simulator, client_id: str) -> int:
    """The account's CNC holding of SEC, as Dhan shows it: holdings ``totalQty`` plus the
    day's CNC buys less its sales (docs/simulator.md, "Carried positions and holdings")."""
    client = DhanClient(base_url=sim.rest_url, client_id=client_id, access_token=f"tok-{client_id}")
    try:
        held = sum(h.total_qty for h in client.holdings() if h.security_id == SEC)
        day = sum(
            p.day_buy_qty - p.day_sell_qty
            for p in client.positions()
            if p.security_id == SEC and str(p.product_type) == "CNC"
        )
        return held + day
    finally:
        client.close()


def test_a_partial_sale_of_carried_holdings_sells_the_followers_proportional_part(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("cnc", "1500000061")
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    cfg = build_config(sim, tmp_path, [f])
    create_accounts(sim, cfg)
    # bought on an earlier day: the leader holds 100, the follower 50 (half: multiplier 1)
    carried = {"exchangeSegment": "NSE_EQ", "securityId": SEC, "productType": "CNC"}
    sim.admin.carry_positions(cfg.leader.client_id, {**carried, "quantity": 100, "price": 1500.0})
    sim.admin.carry_positions(f.client_id, {**carried, "quantity": 50, "price": 1500.0})
    engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
    leader = DhanClient(
        base_url=sim.rest_url,
        client_id=cfg.leader.client_id,
        access_token=cfg.leader.access_token.reveal(),
    )
    cnc = PositionKey("NSE_EQ", SEC, "CNC")
    try:
        wait_until(lambda: engine.ready()[0], what="engine ready")
        wait_until(
            lambda: (
                (journal_net(engine, "leader", cnc), journal_net(engine, "cnc", cnc)) == (100, 50)
            ),
            what="the carried holdings learned at start",
        )
        sale = leader.place_order(sell(40, product_type=ProductType.CNC)).order_id
        wait_until(
            lambda: (
                [
                    o["quantity"]
                    for o in sim.admin.orders(f.client_id)
                    if o.get("correlationId") == correlation_id_for("cnc", sale)
                ]
                == [20]
            ),
            what="the follower's sale: 40 % of its 50",
        )
        wait_until(lambda: broker_cnc(sim, f.client_id) == 30, what="the follower holds 30")
        assert broker_cnc(sim, cfg.leader.client_id) == 60
    finally:
        engine.stop()
        leader.close()


def leader_position_reads(sim: Simulator) -> list[dict[str, Any]]:
    """The leader's ``GET /positions`` requests the simulator saw (its position checks)."""
    return [
        e
        for e in sim.admin.journal(kind="rest", account="1100000000")
        if e["method"] == "GET" and e["path"] == "/v2/positions"
    ]


def test_a_leader_conversion_between_products_is_mirrored_in_proportion_once(
    sim: Simulator, tmp_path: Path
) -> None:
    f = follower_config("cv", "1500000071", multiplier=2.0)
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f], leader_reconcile_s=0.5)
    try:
        entry = rig.leader.place_order(buy(10)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 20
        # the leader carries 4 of its 10 overnight: no order, no socket frame
        rig.leader.convert_position(
            ConvertRequest(
                from_product_type=ProductType.INTRADAY,
                to_product_type=ProductType.CNC,
                exchange_segment=ExchangeSegment.NSE_EQ,
                position_type=PositionType.LONG,
                security_id=SEC,
                convert_qty=4,
            )
        )
        wait_until(
            lambda: (broker_net(sim, f.client_id), broker_net(sim, f.client_id, "CNC")) == (12, 8),
            what="the follower converted 8 of its 20 (40 %)",
        )
        cnc = PositionKey("NSE_EQ", SEC, "CNC")
        wait_until(
            lambda: (journal_net(rig.engine, "cv"), journal_net(rig.engine, "cv", cnc)) == (12, 8),
            what="the follower's journaled positions follow",
        )
        marks = rig.engine.journal.marks("cv", "conversion:")
        assert len(marks) == 1 and '"state": "DONE"' in next(iter(marks.values()))
        # later checks of the leader's positions find nothing new: converted once
        seen = len(leader_position_reads(sim))
        wait_until(
            lambda: len(leader_position_reads(sim)) >= seen + 2, what="two more leader checks"
        )
        assert (broker_net(sim, f.client_id), broker_net(sim, f.client_id, "CNC")) == (12, 8)
        assert len(rig.engine.journal.marks("cv", "conversion:")) == 1
    finally:
        rig.stop()


def test_a_resting_exit_is_planned_again_when_the_leader_buys_before_it_fills(
    sim: Simulator, tmp_path: Path
) -> None:
    """Leader long 7 rests a SELL 11 (placed: close 7, go short 4), then buys 4 before it
    fills: at its fill it only closes. A follower whose copy of that BUY was refused for
    funds must not end short 4 while the leader is flat: its resting copy is cut to what it
    holds when the leader's position moves."""
    rig, rich, poor = rich_and_poor(sim, tmp_path, "150000006", poor_balance=60_000.0)
    try:
        entry = rig.leader.place_order(buy(7)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, poor.client_id) == 7
        resting = rig.leader.place_order(
            limit_buy(SEC, quantity=11, price=LTP + 50.0, transaction_type=TransactionType.SELL)
        ).order_id
        rig.wait_copies(resting, lambda _f, c: len(c) == 1 and c[0]["quantity"] == 11)
        # the poor follower spends what it has left by hand: its copy of the BUY is refused
        own = DhanClient(
            base_url=sim.rest_url, client_id=poor.client_id, access_token=f"tok-{poor.client_id}"
        )
        try:
            sim.admin.set_ltp("NSE_EQ", "11536", 100.0)
            for _ in range(3):  # the price it fills at may leave some over: spend that too
                free = own.fund_limits().available_balance
                if free < 101.0:
                    break
                own.place_order(
                    limit_buy(
                        "11536",
                        quantity=int(free // 101),
                        price=101.0,
                        product_type=ProductType.CNC,
                    )
                )
            assert own.fund_limits().available_balance < 101.0
        finally:
            own.close()
        more = rig.leader.place_order(buy(4)).order_id
        filled(rig, more)
        refused(rig, "poor", more)
        # the resting copies follow the leader's position: rich closes its 11, poor its 7
        rig.wait_copies(
            resting,
            lambda f, c: len(c) == 1 and c[0]["quantity"] == (11 if f.name == "rich" else 7),
        )
        assert dict(rig.engine.journal.exit_bases(resting)) == {"leader": 11, "rich": 11, "poor": 7}
        sim.admin.set_ltp("NSE_EQ", SEC, LTP + 100.0)  # the leader's SELL fills, and the copies
        filled(rig, resting)
        settled(rig)
        assert broker_net(sim, rig.cfg.leader.client_id) == 0
        assert broker_net(sim, rich.client_id) == 0
        assert broker_net(sim, poor.client_id) == 0  # not short 4 while the leader is flat
    finally:
        rig.stop()


def test_garbled_leader_frames_read_the_book_and_lose_no_copy(
    sim: Simulator, tmp_path: Path
) -> None:
    """A garbled frame before each of the leader's frames (dhansim's fault adds one; Dhan's
    would be a lost update): the feed reads the book on each, yet the entry is still copied
    (not journaled as an order the socket missed, which ``copy_open`` leaves uncopied once
    filled) and the exit after it closes the follower's copy."""
    f = follower_config("f", "1500000071")
    sim.admin.set_ltp("NSE_EQ", SEC, LTP)
    rig = start_rig(sim, tmp_path, [f])
    try:
        leader_id = rig.cfg.leader.client_id
        sim.admin.set_faults({"accounts": [leader_id], "socket_malformed_p": 1.0})
        entry = rig.leader.place_order(buy(10)).order_id
        filled(rig, entry)
        settled(rig)
        assert broker_net(sim, f.client_id) == 10
        exit_ = rig.leader.place_order(sell(10)).order_id
        filled(rig, exit_)
        settled(rig)
        sim.admin.clear_faults()
        assert rig.engine.journal.exit_bases(exit_)["leader"] == 10
        assert broker_net(sim, leader_id) == 0
        assert broker_net(sim, f.client_id) == 0
        assert rig.engine.feed_status.frames_lost >= 2
    finally:
        rig.stop()


def follower_client(sim: Simulator, client_id: str) -> DhanClient:
    return DhanClient(base_url=sim.rest_url, client_id=client_id, access_token=f"tok-{client_id}")


def fill_one_cancel_the_other(
    sim: Simulator, rig: Any, entry: str, fills: Any, cancels: Any
) -> None:
    """The broker fills ``fills``' copy of ``entry``; ``cancels`` cancels its own by hand."""
    (kept,) = rig.follower_copies(fills, entry)
    sim.admin.fill(kept["orderId"])
    (dropped,) = rig.follower_copies(cancels, entry)
    hand = follower_client(sim, cancels.client_id)
    try:
        hand.cancel_order(dropped["orderId"])
    finally:
        hand.close()


def test_an_exit_waits_for_the_followers_unconfirmed_entry_and_sends_only_what_it_filled(
    sim: Simulator, tmp_path: Path
) -> None:
    """The leader's entry has filled; the followers' copies of it have not (they rest). The
    leader's exit counts them as about to fill -- so its copies are held until the broker has
    said: one follower's entry fills and its exit closes it; the other's is cancelled by hand
    and it sends nothing (sent at once, that exit would have left it short 10)."""
    rig, fills, cancels = rich_and_poor(sim, tmp_path, "150000010", poor_balance=10_000_000.0)
    try:
        entry = rig.leader.place_order(limit_buy(SEC, quantity=10, price=LTP - 50.0)).order_id
        rig.wait_copies(entry, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        sim.admin.fill(entry)  # the leader's fills; its copies still rest
        filled(rig, entry)
        wait_until(lambda: journal_net(rig.engine, exit_sizing.LEADER) == 10, what="leader long 10")
        exit_ = rig.leader.place_order(sell(10)).order_id
        filled(rig, exit_)
        for f in (fills, cancels):  # held, not sent
            wait_until(
                lambda f=f: (
                    getattr(copy_of(rig.engine, f.name, exit_), "skip_reason", None)
                    == exit_holds.HELD
                ),
                what=f"{f.name}'s exit copy held",
            )
        assert rig.follower_copies(cancels, exit_) == []
        fill_one_cancel_the_other(sim, rig, entry, fills, cancels)
        rig.wait_copies(exit_, lambda f, c: f.name == cancels.name or len(c) == 1)
        settled(rig)
        assert rig.follower_copies(cancels, exit_) == []
        assert copy_of(rig.engine, cancels.name, exit_).skip_reason == exit_sizing.NOTHING_TO_CLOSE
        assert [c["quantity"] for c in rig.follower_copies(fills, exit_)] == [10]
        assert broker_net(sim, fills.client_id) == 0
        assert broker_net(sim, cancels.client_id) == 0  # not short 10
        assert broker_net(sim, rig.cfg.leader.client_id) == 0
    finally:
        rig.stop()


def test_an_entry_after_a_held_exit_waits_for_it_so_the_follower_keeps_the_leaders_order(
    sim: Simulator, tmp_path: Path
) -> None:
    """The leader closes its long 10 (the followers' exit copies held: their entries rest)
    and at once opens a short 5. Sent at once, a follower's short entry would fill before its
    held exit, and the exit would then close the short it opened. It waits behind the exit:
    each follower ends short 5, as the leader, its exit placed before its entry."""
    rig, fills, cancels = rich_and_poor(sim, tmp_path, "150000012", poor_balance=10_000_000.0)
    try:
        entry = rig.leader.place_order(limit_buy(SEC, quantity=10, price=LTP - 50.0)).order_id
        rig.wait_copies(entry, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        sim.admin.fill(entry)
        filled(rig, entry)
        wait_until(lambda: journal_net(rig.engine, exit_sizing.LEADER) == 10, what="leader long 10")
        exit_ = rig.leader.place_order(sell(10)).order_id
        filled(rig, exit_)
        short = rig.leader.place_order(sell(5)).order_id
        filled(rig, short)
        for f in (fills, cancels):
            wait_until(
                lambda f=f: (
                    getattr(copy_of(rig.engine, f.name, short), "skip_reason", None)
                    == exit_holds.HELD_BEHIND
                ),
                what=f"{f.name}'s short entry queued behind its held exit",
            )
        assert rig.follower_copies(fills, short) == rig.follower_copies(cancels, short) == []
        fill_one_cancel_the_other(sim, rig, entry, fills, cancels)
        rig.wait_copies(short, lambda _f, c: len(c) == 1)
        settled(rig)
        (closed,) = rig.follower_copies(fills, exit_)
        (opened,) = rig.follower_copies(fills, short)
        assert int(closed["orderId"]) < int(opened["orderId"])  # placed in the leader's order
        assert [closed["quantity"], opened["quantity"]] == [10, 5]
        assert rig.follower_copies(cancels, exit_) == []  # nothing to close
        assert broker_net(sim, rig.cfg.leader.client_id) == -5
        assert broker_net(sim, fills.client_id) == -5
        assert broker_net(sim, cancels.client_id) == -5
    finally:
        rig.stop()
