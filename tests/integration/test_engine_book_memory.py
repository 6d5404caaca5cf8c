"""A day's orders do not pile up in the engine: each follower's cached broker book keeps the
copies still working (and those being settled), not every order of the day, and every copy
still settles from it with the leader's content."""

from __future__ import annotations

from pathlib import Path

from dhan.codes import OrderStatus
from dhan.rest import DhanClient
from dhansim import Simulator
from store.records import Intent
from store.states import IntentState
from tests.integration.engine_harness import (
    Rig,
    follower_config,
    limit_buy,
    start_rig,
    wait_until,
)

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


def _reads(rig: Rig, client_id: str) -> dict[str, int]:
    """The account's order-book reads at the simulator: whole book and one order at a time."""
    counts = {"GET /orders": 0, "GET /orders/{order_id}": 0}
    for e in rig.sim.admin.journal(kind="rest", account=client_id):
        if e["endpoint"] in counts:
            counts[e["endpoint"]] += 1
    return counts


def _settled(rig: Rig, name: str, leader_order: str) -> Intent | None:
    (intent,) = [i for i in rig.engine.journal.intents(name) if i.leader_order_id == leader_order]
    return intent if intent.state is IntentState.DONE else None


def test_once_the_days_book_is_large_a_copy_is_settled_by_its_own_read_with_its_fills(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_switches(rate_limits=False)
    sim.admin.set_ltp("NSE_EQ", "1333", LTP)
    double = follower_config("double", "1400000093", multiplier=2.0)
    # the book fallback (no follower socket, which would settle the copies without a read)
    rig = start_rig(sim, tmp_path, [double], follower_sockets=False)
    own = DhanClient(
        base_url=sim.rest_url,
        client_id=double.client_id,
        access_token=double.access_token.reveal(),
    )
    try:
        # the morning: 30 orders that trade at once, so the day's book has 30 rows
        for _ in range(30):
            rig.leader.place_order(limit_buy(quantity=1, price=LTP + 10))

        def done() -> bool:
            states = [i.state for i in rig.engine.journal.intents(double.name)]
            return len(states) == 30 and set(states) == {IntentState.DONE}

        wait_until(done, 30.0, what="the morning's copies settled")
        sim.admin.clear_journal()

        # a resting order whose copy fills in two parts at the broker
        filled = rig.leader.place_order(limit_buy(quantity=3, price=1400.0)).order_id
        rig.wait_copies(filled, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        (copy,) = rig.follower_copies(double, filled)
        assert copy["quantity"] == 6
        sim.admin.fill(copy["orderId"], quantity=2)

        def part_filled() -> bool:
            (i,) = [
                i for i in rig.engine.journal.intents(double.name) if i.leader_order_id == filled
            ]
            return i.state is IntentState.WORKING and i.filled_qty == 2

        wait_until(part_filled, 10.0, what="the copy's first fill journaled")
        sim.admin.fill(copy["orderId"], quantity=4)
        wait_until(lambda: _settled(rig, double.name, filled), 10.0, what="copy settled")
        intent = _settled(rig, double.name, filled)
        assert intent is not None
        assert intent.broker_status is OrderStatus.TRADED and intent.filled_qty == 6
        assert intent.broker_order_id == copy["orderId"]

        # and one cancelled at the broker (by the account holder): it ends, nothing filled
        cancelled = rig.leader.place_order(limit_buy(quantity=2, price=1400.0)).order_id
        rig.wait_copies(cancelled, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING")
        (copy,) = rig.follower_copies(double, cancelled)
        own.cancel_order(copy["orderId"])
        wait_until(lambda: _settled(rig, double.name, cancelled), 10.0, what="cancel settled")
        intent = _settled(rig, double.name, cancelled)
        assert intent is not None
        assert intent.broker_status is OrderStatus.CANCELLED and intent.filled_qty == 0

        # settled by reading each copy, not the whole day's book
        reads = _reads(rig, double.client_id)
        assert reads["GET /orders/{order_id}"] >= 3, reads
        assert reads["GET /orders"] == 0, reads
    finally:
        own.close()
        rig.stop()


def test_while_the_days_book_is_small_copies_are_settled_from_one_read_of_the_whole_book(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.admin.set_ltp("NSE_EQ", "1333", LTP)
    single = follower_config("single", "1400000094")
    # the book fallback (no follower socket, which would settle the copies without a read)
    rig = start_rig(sim, tmp_path, [single], follower_sockets=False)
    try:
        sim.admin.clear_journal()
        leader_order = rig.leader.place_order(limit_buy(quantity=4, price=1400.0)).order_id
        rig.wait_copies(
            leader_order, lambda _f, c: len(c) == 1 and c[0]["orderStatus"] == "PENDING"
        )
        (copy,) = rig.follower_copies(single, leader_order)
        sim.admin.fill(copy["orderId"], quantity=4)
        wait_until(lambda: _settled(rig, single.name, leader_order), 10.0, what="copy settled")
        intent = _settled(rig, single.name, leader_order)
        assert intent is not None
        assert intent.broker_status is OrderStatus.TRADED and intent.filled_qty == 4
        reads = _reads(rig, single.client_id)
        assert reads["GET /orders"] >= 1 and reads["GET /orders/{order_id}"] == 0, reads
    finally:
        rig.stop()
