"""Positions in the journal (issue 16): fills applied once per order whichever path sees them,
the broker's truth at start, the leader's and the followers' fills in the transactions that
learn them, exit bases and the exposures exit sizing reads -- on both backends."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text

from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
)
from store import IntentState, Journal, TransitionRequest
from store.engine import make_engine
from store.errors import StoreUnavailable
from store.positions import opposite, signed
from store.records import (
    BrokerPosition,
    Exposure,
    OrderFill,
    PositionCheck,
    PositionKey,
    fill_order_id,
)
from store.schema import alembic_config
from tests.unit.store.factories import desired, snapshot

KEY = PositionKey("NSE_EQ", "1333", "INTRADAY")  # the factories' instrument and product
CNC = PositionKey("NSE_EQ", "1333", "CNC")
OTHER = PositionKey("NSE_FNO", "52175", "MARGIN")


def buy(order_id: str, qty: int, key: PositionKey = KEY) -> OrderFill:
    return OrderFill(order_id, key, "BUY", qty)


def sell(order_id: str, qty: int, key: PositionKey = KEY) -> OrderFill:
    return OrderFill(order_id, key, "SELL", qty)


def nets(journal: Journal, account: str | None = None) -> dict[tuple[str, PositionKey], int]:
    return {(p.account, p.key): p.net_qty for p in journal.positions(account)}


# --- pure pieces ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "qty", "expected"),
    [("BUY", 5, 5), ("SELL", 5, -5), ("BUY", 0, 0)],
)
def test_a_fill_moves_a_position_by_its_side(side: str, qty: int, expected: int) -> None:
    assert signed(side, qty) == expected


@pytest.mark.parametrize(("side", "other"), [("BUY", "SELL"), ("SELL", "BUY")])
def test_the_opposite_side(side: str, other: str) -> None:
    assert opposite(side) == other


@pytest.mark.parametrize("bad", ["buy", "", "B"])
def test_a_side_that_is_none_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="side"):
        signed(bad, 1)
    with pytest.raises(ValueError, match="side"):
        opposite(bad)


@pytest.mark.parametrize(
    ("order_id", "leg", "ledgered"),
    [
        ("O1", None, "O1"),
        ("O1", "", "O1"),
        ("O1", "NA", "O1"),
        ("O1", LegName.ENTRY_LEG.value, "O1"),
        ("O1", LegName.TARGET_LEG.value, "O1:TARGET_LEG"),
        ("O1", LegName.STOP_LOSS_LEG.value, "O1:STOP_LOSS_LEG"),
    ],
)
def test_an_exit_leg_is_ledgered_apart_from_its_entry(
    order_id: str, leg: str | None, ledgered: str
) -> None:
    assert fill_order_id(order_id, leg) == ledgered


# --- apply_fills ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batches", "expected_net", "changed_per_batch"),
    [
        # the same fill twice: counted once
        ([[buy("O1", 5)], [buy("O1", 5)]], 5, [1, 0]),
        # a cumulative smaller than the one applied is ignored
        ([[buy("O1", 5)], [buy("O1", 3)]], 5, [1, 0]),
        # a growing cumulative adds its delta
        ([[buy("O1", 2)], [buy("O1", 5)]], 5, [1, 1]),
        # two orders add up; a sell subtracts
        ([[buy("O1", 5), sell("O2", 2)]], 3, [1]),
        ([[sell("O1", 4)], [sell("O2", 1)]], -5, [1, 1]),
        # one order twice in one batch: its larger cumulative, once
        ([[buy("O1", 3), buy("O1", 7), buy("O1", 7)]], 7, [1]),
        # a buy and a sell that cancel out in one batch change no position
        ([[buy("O1", 4)], [buy("O2", 2), sell("O3", 2)]], 4, [1, 0]),
        # nothing filled: nothing written
        ([[buy("O1", 0)]], None, [0]),
    ],
)
def test_apply_fills_counts_each_orders_fill_once(
    journal: Journal,
    batches: list[list[OrderFill]],
    expected_net: int | None,
    changed_per_batch: list[int],
) -> None:
    changed = [journal.apply_fills("f1", batch) for batch in batches]

    assert [len(rows) for rows in changed] == changed_per_batch
    expected = {} if expected_net is None else {("f1", KEY): expected_net}
    assert nets(journal) == expected
    for rows in changed:
        for row in rows:
            assert (row.account, row.key, row.checked_at) == ("f1", KEY, None)


def test_apply_fills_returns_each_changed_position_once_with_its_new_net(journal: Journal) -> None:
    journal.apply_fills("f1", [buy("O1", 10, CNC)])

    changed = journal.apply_fills(
        "f1", [sell("O2", 4, CNC), buy("O3", 1, OTHER), sell("O4", 2, CNC), buy("O1", 10, CNC)]
    )

    assert sorted((p.key.product_type, p.net_qty) for p in changed) == [("CNC", 4), ("MARGIN", 1)]
    assert nets(journal) == {("f1", CNC): 4, ("f1", OTHER): 1}


def test_accounts_and_keys_are_apart(journal: Journal) -> None:
    journal.apply_fills("f1", [buy("O1", 5)])
    journal.apply_fills("f2", [buy("O1", 3)])  # the same order id in another account
    journal.apply_fills("f1", [buy("O2", 2, CNC)])

    assert nets(journal) == {("f1", KEY): 5, ("f1", CNC): 2, ("f2", KEY): 3}
    assert nets(journal, "f2") == {("f2", KEY): 3}


def test_codes_given_as_enums_are_stored_as_their_values(journal: Journal) -> None:
    key = PositionKey(ExchangeSegment.NSE_EQ, "1333", ProductType.INTRADAY)
    journal.apply_fills("f1", [OrderFill("O1", key, TransactionType.SELL, 5)])

    (row,) = journal.positions("f1")
    assert row.key == KEY and type(row.key.exchange_segment) is str and row.net_qty == -5
    assert journal.exposures(key, TransactionType.BUY, ["f1"])["f1"].net_qty == -5


@pytest.mark.parametrize(
    "bad",
    [OrderFill("O1", KEY, "buy", 5), OrderFill("", KEY, "BUY", 5)],
    ids=["no side", "no order id"],
)
def test_a_bad_fill_applies_nothing(journal: Journal, bad: OrderFill) -> None:
    with pytest.raises(ValueError, match="fill"):
        journal.apply_fills("f1", [buy("O0", 1), bad])
    assert journal.positions() == []


# --- reset_positions ------------------------------------------------------------------------


def test_reset_sets_the_brokers_truth_and_reports_the_differences(journal: Journal) -> None:
    journal.apply_fills("f1", [buy("O1", 5), buy("O2", 3, CNC)])
    journal.apply_fills("f2", [buy("O1", 9)])  # another account: untouched

    checks = journal.reset_positions(
        "f1",
        [BrokerPosition(CNC, 3, 3), BrokerPosition(OTHER, -50, -50)],  # KEY absent: flat
        [],
    )

    assert checks == [
        PositionCheck("f1", KEY, journal_qty=5, broker_qty=0),
        PositionCheck("f1", OTHER, journal_qty=0, broker_qty=-50),
    ]
    rows = {p.key: p for p in journal.positions("f1")}
    assert {k: (p.net_qty, p.carried_qty) for k, p in rows.items()} == {
        KEY: (0, 0),
        CNC: (3, 3),
        OTHER: (-50, -50),
    }
    assert all(p.checked_at is not None for p in rows.values())
    assert nets(journal, "f2") == {("f2", KEY): 9}
    (f2,) = journal.positions("f2")
    assert f2.checked_at is None
    audits = [a for a in journal.audit_after(0) if a.kind == "position_checked"]
    assert [(a.account, a.payload) for a in audits] == [
        (
            "f1",
            {
                "account": "f1",
                "key": {
                    "exchange_segment": k.exchange_segment,
                    "security_id": k.security_id,
                    "product_type": k.product_type,
                },
                "journal_qty": c.journal_qty,
                "broker_qty": c.broker_qty,
            },
        )
        for c, k in ((checks[0], KEY), (checks[1], OTHER))
    ]


def test_a_reset_that_agrees_reports_and_audits_nothing(journal: Journal) -> None:
    journal.apply_fills("leader", [sell("L1", 25)])

    assert journal.reset_positions("leader", [BrokerPosition(KEY, -25, 0)], []) == []

    assert [a for a in journal.audit_after(0) if a.kind == "position_checked"] == []
    (row,) = journal.positions("leader")
    assert (row.net_qty, row.carried_qty) == (-25, 0) and row.checked_at is not None


def test_the_fills_read_with_the_book_are_not_counted_again(journal: Journal) -> None:
    journal.apply_fills("f1", [buy("O1", 2)])  # the socket saw a part of O1

    journal.reset_positions("f1", [BrokerPosition(KEY, 10, 0)], [buy("O1", 6), buy("O2", 4)])

    # the book's fills are in the broker's net: applying them again adds nothing
    assert journal.apply_fills("f1", [buy("O1", 6), buy("O2", 4)]) == []
    assert nets(journal) == {("f1", KEY): 10}
    # what fills after the reset moves the position again
    (row,) = journal.apply_fills("f1", [buy("O1", 8)])
    assert row.net_qty == 12


def test_a_key_twice_in_the_brokers_positions_is_refused(journal: Journal) -> None:
    journal.apply_fills("f1", [buy("O1", 2)])
    with pytest.raises(ValueError, match="twice"):
        journal.reset_positions("f1", [BrokerPosition(KEY, 1, 0), BrokerPosition(KEY, 2, 0)], [])
    assert nets(journal) == {("f1", KEY): 2}


# --- the leader's fill, with its snapshot -----------------------------------------------------


def test_a_leader_snapshot_applies_the_leaders_fill(journal: Journal) -> None:
    journal.record_and_claim(snapshot("L1", seq=1), [desired("f1", "L1")], ["f1"])
    assert journal.positions() == []  # nothing filled yet: nothing written

    journal.record_and_claim(
        snapshot("L1", seq=2, status=OrderStatus.PART_TRADED, filled_qty=4), [], []
    )
    assert nets(journal) == {("leader", KEY): 4}

    journal.record_leader_snapshot(
        snapshot("L1", seq=3, status=OrderStatus.TRADED, filled_qty=10), []
    )
    assert nets(journal) == {("leader", KEY): 10}
    # the order book's view of the same order adds nothing
    assert journal.apply_fills("leader", [buy("L1", 10)]) == []


def test_a_duplicated_frame_applies_nothing(journal: Journal) -> None:
    snap = snapshot("L2", status=OrderStatus.TRADED, filled_qty=10, dedupe_key="L2|TRADED")
    assert journal.record_and_claim(snap, [], []) == []
    assert journal.record_and_claim(snap, [], []) is None

    assert nets(journal) == {("leader", KEY): 10}


def test_a_stale_snapshot_applies_nothing(journal: Journal) -> None:
    journal.record_leader_snapshot(snapshot("L3", seq=5, status=OrderStatus.PENDING), [])

    stale = snapshot("L3", seq=4, status=OrderStatus.PART_TRADED, filled_qty=3)
    assert journal.record_leader_snapshot(stale, []) is True

    assert nets(journal) == {}


def test_a_sell_and_an_exit_leg_move_the_leaders_position(journal: Journal) -> None:
    entry = snapshot("S1", status=OrderStatus.TRADED, filled_qty=10, is_super=True, seq=1)
    target = snapshot(
        "S1",  # a super order's leg shares its entry's order id
        seq=2,
        status=OrderStatus.TRADED,
        filled_qty=10,
        leg_name=LegName.TARGET_LEG.value,
        parent_order_id="S1",
        transaction_type=TransactionType.SELL,
    )
    journal.record_leader_snapshot(entry, [])
    journal.record_leader_snapshot(target, [])

    assert nets(journal) == {("leader", KEY): 0}


# --- a follower's fill, with its transition ---------------------------------------------------


def _sent(journal: Journal, follower: str = "f1", leader_order_id: str = "L1", **fields: Any):
    claimed = journal.record_and_claim(
        snapshot(leader_order_id), [desired(follower, leader_order_id, **fields)], [follower]
    )
    assert claimed is not None
    (intent,) = claimed
    return intent


def test_a_transition_that_raises_filled_qty_applies_the_delta(journal: Journal) -> None:
    intent = _sent(journal, transaction_type=TransactionType.SELL)
    journal.transition(
        intent.id, IntentState.WORKING, broker_order_id="B1", applied_version=1, filled_qty=0
    )
    assert journal.positions("f1") == []

    journal.transition(intent.id, IntentState.WORKING, filled_qty=4)
    journal.transition(intent.id, IntentState.WORKING, filled_qty=4)  # no rise: nothing
    journal.transition(intent.id, IntentState.DONE, filled_qty=10)

    assert nets(journal) == {("f1", KEY): -10}


def test_a_fill_seen_by_the_book_first_is_not_counted_again_by_the_transition(
    journal: Journal,
) -> None:
    intent = _sent(journal)
    journal.transition(intent.id, IntentState.WORKING, broker_order_id="B9", applied_version=1)
    journal.apply_fills("f1", [buy("B9", 6)])  # the socket / book first

    journal.transition(intent.id, IntentState.DONE, filled_qty=10)
    assert journal.apply_fills("f1", [buy("B9", 10)]) == []  # and the book once more

    assert nets(journal) == {("f1", KEY): 10}


def test_a_batch_of_transitions_applies_each_rise_once(journal: Journal) -> None:
    one = _sent(journal, "f1", "L1")
    two = _sent(journal, "f2", "L2", product_type="CNC")
    moved = journal.transitions(
        [
            TransitionRequest(
                intent_id=one.id,
                to=IntentState.WORKING,
                broker_order_id="B1",
                applied_version=1,
                filled_qty=3,
            ),
            TransitionRequest(
                intent_id=two.id,
                to=IntentState.WORKING,
                broker_order_id="B2",
                applied_version=1,
                filled_qty=2,
            ),
            TransitionRequest(intent_id=one.id, to=IntentState.DONE, filled_qty=10),
            # refused (DONE is terminal): its fill is not applied
            TransitionRequest(intent_id=one.id, to=IntentState.WORKING, filled_qty=99),
        ]
    )

    assert [type(m).__name__ for m in moved][:3] == ["Intent", "Intent", "Intent"]
    assert nets(journal) == {("f1", KEY): 10, ("f2", CNC): 2}


def test_a_fill_without_a_broker_order_id_is_ledgered_by_correlation_id(journal: Journal) -> None:
    intent = _sent(journal)
    journal.transition(intent.id, IntentState.UNKNOWN, filled_qty=5)

    assert journal.apply_fills("f1", [buy(intent.correlation_id, 5)]) == []
    assert nets(journal) == {("f1", KEY): 5}


@pytest.mark.parametrize("leg_order_id", ["B1", "B1-T", None], ids=["shared", "own", "none"])
def test_a_bracket_legs_fill_is_the_followers_exit(
    journal: Journal, leg_order_id: str | None
) -> None:
    intent = _sent(journal, product_type="BO", target_price=110.0, stop_loss_price=95.0)
    journal.transition(
        intent.id, IntentState.WORKING, broker_order_id="B1", applied_version=1, filled_qty=10
    )
    bo = PositionKey("NSE_EQ", "1333", "BO")
    journal.upsert_leg(intent.id, "TARGET_LEG", order_id=leg_order_id, status=OrderStatus.PENDING)
    assert nets(journal) == {("f1", bo): 10}

    journal.upsert_leg(
        intent.id,
        "TARGET_LEG",
        order_id=leg_order_id,
        status=OrderStatus.PART_TRADED,
        filled_qty=4,
    )
    journal.upsert_leg(
        intent.id, "TARGET_LEG", order_id=None, status=OrderStatus.TRADED, filled_qty=10
    )
    journal.upsert_leg(
        intent.id, "TARGET_LEG", order_id=None, status=OrderStatus.TRADED, filled_qty=10
    )

    assert nets(journal) == {("f1", bo): 0}
    # the book's view of the leg (the helper names it the same way) adds nothing
    leg_fill = OrderFill(fill_order_id(leg_order_id or "B1", "TARGET_LEG"), bo, "SELL", 10)
    assert journal.apply_fills("f1", [leg_fill]) == []


# --- exit bases -------------------------------------------------------------------------------


def test_the_first_recorded_basis_wins(journal: Journal) -> None:
    assert journal.exit_bases("X1") == {}
    journal.record_leader_snapshot(snapshot("X1", seq=1), [], bases={"leader": 10, "f1": 5})
    journal.record_and_claim(snapshot("X1", seq=2), [], [], bases={"leader": 3, "f2": 0})
    journal.record_intents(snapshot("X1", seq=2), [], bases={"f1": 1, "f3": 2})

    assert journal.exit_bases("X1") == {"leader": 10, "f1": 5, "f2": 0, "f3": 2}
    assert journal.exit_bases("X2") == {}


def test_a_rebase_replaces_the_recorded_basis(journal: Journal) -> None:
    journal.record_leader_snapshot(snapshot("X5", seq=1), [], bases={"leader": 7, "f1": 7})
    # a resting order planned again: the new basis wins, the accounts it does not name stay
    journal.record_intents(snapshot("X5", seq=1), [], bases={"leader": 11, "f2": 4}, rebase=True)

    assert journal.exit_bases("X5") == {"leader": 11, "f1": 7, "f2": 4}


def test_a_duplicated_frame_records_no_basis(journal: Journal) -> None:
    snap = snapshot("X3", dedupe_key="X3|once")
    journal.record_leader_snapshot(snap, [])
    journal.record_leader_snapshot(snap, [], bases={"leader": 4})

    assert journal.exit_bases("X3") == {}


@pytest.mark.parametrize("bad", [{"leader": -1}, {"": 2}, {"f1": 1.5}])
def test_a_bad_basis_records_nothing(journal: Journal, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="basis"):
        journal.record_leader_snapshot(snapshot("X4"), [desired("f1", "X4")], bases=bad)
    assert journal.leader_snapshot("X4") is None and journal.exit_bases("X4") == {}


# --- exposures --------------------------------------------------------------------------------


def _leader_order(
    journal: Journal,
    order_id: str,
    side: TransactionType,
    qty: int,
    filled: int,
    basis: int,
    status: OrderStatus = OrderStatus.PART_TRADED,
    **fields: Any,
) -> None:
    snap = snapshot(
        order_id, status=status, transaction_type=side, quantity=qty, filled_qty=filled, **fields
    )
    journal.record_leader_snapshot(snap, [], bases={"leader": basis})


def _copy(
    journal: Journal,
    follower: str,
    order_id: str,
    side: TransactionType,
    qty: int,
    filled: int,
    basis: int | None,
    order_type: OrderType = OrderType.LIMIT,
    to: IntentState = IntentState.WORKING,
    **fields: Any,
) -> None:
    bases = None if basis is None else {follower: basis}
    # no new leader event: the leader's snapshot of the order (if any) stays as recorded
    journal.record_intents(
        snapshot(order_id, transaction_type=side, order_type=order_type, **fields),
        [
            desired(
                follower,
                order_id,
                transaction_type=side,
                quantity=qty,
                order_type=order_type,
                **fields,
            )
        ],
        bases=bases,
    )
    (intent,) = journal.intents(follower, leader_order_id=order_id)
    journal.transition(intent.id, IntentState.SENDING)
    journal.transition(
        intent.id,
        IntentState.WORKING,
        broker_order_id=f"B-{follower}-{order_id}",
        applied_version=1,
        filled_qty=filled,
    )
    if to is not IntentState.WORKING:
        journal.transition(intent.id, to)


SELL, BUY = TransactionType.SELL, TransactionType.BUY


def test_exposures_sum_the_pending_exits_and_the_entries_in_flight(journal: Journal) -> None:
    journal.reset_positions("leader", [BrokerPosition(KEY, 100, 0)], [])
    journal.reset_positions("f1", [BrokerPosition(KEY, 50, 0)], [])
    # the leader: two open exits (30 and 10 left), one excluded, one without a basis, one done
    _leader_order(journal, "LX1", SELL, 40, 10, basis=100)
    _leader_order(journal, "LX2", SELL, 10, 0, basis=60, status=OrderStatus.PENDING)
    _leader_order(journal, "LX3", SELL, 20, 0, basis=90)  # the order being sized
    _leader_order(journal, "LE1", SELL, 15, 0, basis=0)  # opened a short: not an exit
    _leader_order(journal, "LX4", SELL, 5, 5, basis=100, status=OrderStatus.TRADED)
    _leader_order(journal, "LB1", BUY, 7, 0, basis=100)  # the other side
    _leader_order(journal, "LO1", SELL, 9, 0, basis=9, product_type="CNC")  # another key
    # f1: open exit copies (20 and 5 left), entries in flight on the other side
    _copy(journal, "f1", "LX1", SELL, 20, 0, basis=50)
    _copy(journal, "f1", "LX2", SELL, 5, 0, basis=30)
    _copy(journal, "f1", "LX3", SELL, 10, 0, basis=50)  # excluded
    _copy(journal, "f1", "LE1", SELL, 8, 0, basis=0)  # no basis: neither
    _copy(journal, "f1", "LX4", SELL, 5, 5, basis=50, to=IntentState.DONE)  # terminal
    _copy(journal, "f1", "LM1", BUY, 6, 2, basis=None, order_type=OrderType.MARKET)  # 4 left
    _copy(journal, "f1", "LM2", BUY, 3, 0, basis=0, order_type=OrderType.STOP_LOSS_MARKET)  # rests
    _copy(journal, "f1", "LM3", BUY, 9, 0, basis=None)  # LIMIT: not counted in flight
    _copy(journal, "f1", "LM4", BUY, 9, 0, basis=5, order_type=OrderType.MARKET)  # a flip: 4 opens
    # f2: only an entry in flight
    _copy(journal, "f2", "LM1", BUY, 12, 0, basis=None, order_type=OrderType.MARKET)

    found = journal.exposures(KEY, "SELL", ["leader", "f1", "f2", "f3"], "LX3")

    assert found == {
        "leader": Exposure(net_qty=100 - 10 - 5, pending_exit_qty=30 + 10, inflight_entry_qty=0),
        "f1": Exposure(net_qty=50 - 5 + 2, pending_exit_qty=20 + 5, inflight_entry_qty=4 + 4),
        "f2": Exposure(net_qty=0, pending_exit_qty=0, inflight_entry_qty=12),
        "f3": Exposure(net_qty=0, pending_exit_qty=0, inflight_entry_qty=0),
    }
    # without the exclusion, LX3 and f1's copy of it are pending too
    again = journal.exposures(KEY, "SELL", ["leader", "f1"])
    assert (again["leader"].pending_exit_qty, again["f1"].pending_exit_qty) == (60, 35)
    # the other side: f1's BUY MARKET with a basis is a pending exit of a short
    buys = journal.exposures(KEY, "BUY", ["f1"])
    assert buys == {
        "f1": Exposure(
            net_qty=47, pending_exit_qty=9, inflight_entry_qty=0, pending_market_exit_qty=9
        )
    }


def test_traded_exposures_count_copies_of_filled_leader_orders_in_flight(
    journal: Journal,
) -> None:
    # the leader bought 9 (LT1, filled) and rests a BUY 5 (LT2, nothing filled)
    _leader_order(journal, "LT1", BUY, 9, 9, basis=0, status=OrderStatus.TRADED)
    _leader_order(journal, "LT2", BUY, 5, 0, basis=0, status=OrderStatus.PENDING)
    # f1's LIMIT copies of both are open: 9 (2 filled) and 5
    _copy(journal, "f1", "LT1", BUY, 9, 2, basis=0)
    _copy(journal, "f1", "LT2", BUY, 5, 0, basis=0)

    plain = journal.exposures(KEY, "SELL", ["f1"])
    traded = journal.exposures(KEY, "SELL", ["f1"], traded=True)

    # a LIMIT copy counts as about to fill only once its leader order has filled
    assert plain["f1"] == Exposure(net_qty=2, pending_exit_qty=0, inflight_entry_qty=0)
    assert traded["f1"] == Exposure(net_qty=2, pending_exit_qty=0, inflight_entry_qty=7)


def test_exposures_before_an_intent_leave_out_the_copies_of_later_leader_orders(
    journal: Journal,
) -> None:
    # a held exit (actors.exit_holds) counts the entries of leader orders seen before it only
    _leader_order(journal, "LB1", BUY, 4, 4, basis=0, status=OrderStatus.TRADED)
    _copy(journal, "f1", "LB1", BUY, 4, 0, basis=0, order_type=OrderType.MARKET)
    _leader_order(journal, "LB2", BUY, 6, 6, basis=0, status=OrderStatus.TRADED)
    _copy(journal, "f1", "LB2", BUY, 6, 0, basis=0, order_type=OrderType.MARKET)
    (later,) = journal.intents("f1", leader_order_id="LB2")

    every = journal.exposures(KEY, "SELL", ["f1"], traded=True)["f1"]
    older = journal.exposures(KEY, "SELL", ["f1"], traded=True, before_intent_id=later.id)["f1"]

    assert (every.inflight_entry_qty, older.inflight_entry_qty) == (10, 4)


def test_the_open_part_of_a_flips_copy_in_flight_is_an_entry_in_flight(
    journal: Journal,
) -> None:
    # f1's MARKET SELL 30 closed its long of 12 (its basis) and opens a short of 18; 15 filled
    # (the close's 12 first): 15 of the short are still to come. A SELL 5 exit (basis 8) of
    # another long opens nothing.
    _copy(journal, "f1", "LF1", SELL, 30, 15, basis=12, order_type=OrderType.MARKET)
    _copy(journal, "f1", "LF2", SELL, 5, 0, basis=8, order_type=OrderType.MARKET)

    buys = journal.exposures(KEY, "BUY", ["f1"])["f1"]

    assert buys.inflight_entry_qty == 15
    assert journal.exposures(KEY, "SELL", ["f1"])["f1"].inflight_entry_qty == 0


def test_traded_exposures_count_exits_of_filled_leader_orders_as_about_to_fill(
    journal: Journal,
) -> None:
    journal.reset_positions("f1", [BrokerPosition(KEY, 28, 0)], [])
    # the leader's marketable SELL LIMIT 14 has filled; f1's copy of it has not settled yet
    _leader_order(journal, "LT4", SELL, 14, 14, basis=28, status=OrderStatus.TRADED)
    _copy(journal, "f1", "LT4", SELL, 14, 0, basis=28)

    plain = journal.exposures(KEY, "SELL", ["f1"])["f1"]
    traded = journal.exposures(KEY, "SELL", ["f1"], traded=True)["f1"]

    assert (plain.pending_exit_qty, plain.pending_market_exit_qty) == (14, 0)
    # a MARKET exit sized now takes it off: it is no resting exit that may never fill
    assert (traded.pending_exit_qty, traded.pending_market_exit_qty) == (14, 14)


def test_a_copys_fill_the_position_counts_is_not_in_flight_as_well(journal: Journal) -> None:
    _leader_order(journal, "LT3", BUY, 10, 10, basis=0, status=OrderStatus.TRADED)
    _copy(journal, "f1", "LT3", BUY, 10, 0, basis=0, order_type=OrderType.MARKET)
    assert journal.exposures(KEY, "SELL", ["f1"], traded=True)["f1"] == Exposure(
        net_qty=0, pending_exit_qty=0, inflight_entry_qty=10
    )
    # a position check read 6 of the copy's fill from the book before the copy's settle
    journal.apply_fills("f1", [buy("B-f1-LT3", 6)])

    assert journal.exposures(KEY, "SELL", ["f1"], traded=True)["f1"] == Exposure(
        net_qty=6, pending_exit_qty=0, inflight_entry_qty=4
    )


def test_exposures_of_the_leader_alone_and_of_followers_alone(journal: Journal) -> None:
    journal.apply_fills("leader", [buy("P1", 10)])
    _leader_order(journal, "LX5", SELL, 10, 0, basis=10)
    _copy(journal, "f1", "LX5", SELL, 4, 1, basis=4)

    assert journal.exposures(KEY, "SELL", ["leader"]) == {
        "leader": Exposure(net_qty=10, pending_exit_qty=10, inflight_entry_qty=0)
    }
    assert journal.exposures(KEY, "SELL", ["f1"]) == {
        "f1": Exposure(net_qty=-1, pending_exit_qty=3, inflight_entry_qty=0)
    }
    assert journal.exposures(KEY, "SELL", []) == {}


def test_exposures_refuse_a_side_that_is_none(journal: Journal) -> None:
    with pytest.raises(ValueError, match="side"):
        journal.exposures(KEY, "sell", ["leader"])


# --- outages ----------------------------------------------------------------------------------


CALLS: list[tuple[str, Callable[[Journal], object]]] = [
    ("apply_fills", lambda j: j.apply_fills("f1", [buy("O1", 1)])),
    ("reset_positions", lambda j: j.reset_positions("f1", [BrokerPosition(KEY, 1, 0)], [])),
    ("record with bases", lambda j: j.record_leader_snapshot(snapshot("U1"), [], bases={"f1": 1})),
]
READS: list[tuple[str, Callable[[Journal], object]]] = [
    ("positions", lambda j: j.positions()),
    ("exit_bases", lambda j: j.exit_bases("U1")),
    ("exposures", lambda j: j.exposures(KEY, "SELL", ["leader", "f1"])),
]


@pytest.mark.parametrize(("name", "call"), CALLS, ids=[n for n, _ in CALLS])
def test_a_write_past_the_busy_timeout_raises_store_unavailable(
    tmp_path: Path, name: str, call: Callable[[Journal], object]
) -> None:
    path = tmp_path / "journal.db"
    Journal.open(f"sqlite:///{path}").close()
    journal = Journal.open(f"sqlite:///{path}", busy_timeout_ms=100)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable):
            call(journal)
        holder.execute("ROLLBACK")
        call(journal)  # and works once the lock is gone
    finally:
        holder.close()
        journal.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("name", "call"), CALLS + READS, ids=[n for n, _ in CALLS + READS])
def test_an_unreachable_postgresql_raises_store_unavailable(
    name: str, call: Callable[[Journal], object]
) -> None:
    engine = make_engine(f"postgresql+psycopg://copytrader@127.0.0.1:{_free_port()}/none")
    journal = Journal(engine)
    try:
        with pytest.raises(StoreUnavailable):
            call(journal)
    finally:
        journal.close()


# --- migration ----------------------------------------------------------------------------------


def test_a_journal_of_schema_0002_with_rows_upgrades_to_positions(fresh_journal_url: str) -> None:
    # a journal with rows (an intent filled before positions existed), taken back to 0002
    with Journal.open(fresh_journal_url) as journal:
        intent = _sent(journal)
        journal.transition(
            intent.id, IntentState.WORKING, broker_order_id="B1", applied_version=1, filled_qty=4
        )
    engine = make_engine(fresh_journal_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0002")
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
            assert conn.execute(text("SELECT count(*) FROM follower_intents")).scalar() == 1
    finally:
        engine.dispose()

    with Journal.open(fresh_journal_url) as journal:  # upgrades to the head
        assert journal.positions() == []  # learned from the broker at the next start
        (kept,) = journal.intents("f1")
        assert (kept.id, kept.filled_qty) == (intent.id, 4)
        journal.transition(intent.id, IntentState.DONE, filled_qty=10)
        assert nets(journal) == {("f1", KEY): 10}  # the first ledger of B1: all of it
        assert journal.integrity_check() == []
    engine = make_engine(fresh_journal_url)
    try:
        with engine.connect() as conn:
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("leader_orders")}
    finally:
        engine.dispose()
    assert "ix_leader_orders_security_id" in indexes  # 0004: the open plain orders


def test_the_leaders_pending_exits_are_a_seek_in_the_open_orders_index(tmp_path: Path) -> None:
    # the partial index serves a query only when its WHERE says the same: a plan, not a timing
    with Journal.open(f"sqlite:///{tmp_path / 'j.db'}") as journal:
        journal.exposures(KEY, "SELL", ["leader"])
        sql = journal._hot.positions._exposures[(1, 0, True, False, False)]
        params = sql.params(
            {
                "exchange_segment": "NSE_EQ",
                "security_id": "1333",
                "product_type": "INTRADAY",
                "account_0": "leader",
                "side": "SELL",
                "exclude": "",
            }
        )
        db = sqlite3.connect(tmp_path / "j.db")
        try:
            plan = " | ".join(
                row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql.text}", params)
            )
        finally:
            db.close()
    assert "USING INDEX ix_leader_orders_security_id" in plan, plan
    assert "SCAN" not in plan, plan


def test_applied_fill_is_what_the_ledger_counted_of_an_order(journal: Journal) -> None:
    assert journal.applied_fill("leader", "A") == 0
    journal.apply_fills("leader", [buy("A", 4)])
    journal.reset_positions("leader", [], [sell("B", 7)])  # marked applied by a check
    assert journal.applied_fill("leader", "A") == 4
    assert journal.applied_fill("leader", "B") == 7
    assert journal.applied_fill("f1", "A") == 0  # per account


def test_a_journal_whose_0003_predates_the_open_orders_index_gets_it(
    fresh_journal_url: str,
) -> None:
    Journal.open(fresh_journal_url).close()
    engine = make_engine(fresh_journal_url)
    try:
        with engine.begin() as conn:  # the first 0003 had no index
            conn.execute(text("DROP INDEX ix_leader_orders_security_id"))
            for table in ("operator_modes", "flatten_requests"):  # 0005's: a 0003 journal has none
                conn.execute(text(f"DROP TABLE {table}"))
            conn.execute(text("UPDATE alembic_version SET version_num = '0003'"))
            assert "ix_leader_orders_security_id" not in {
                ix["name"] for ix in inspect(conn).get_indexes("leader_orders")
            }
    finally:
        engine.dispose()

    with Journal.open(fresh_journal_url) as journal:  # 0004
        journal.record_leader_snapshot(snapshot("I1"), [])

    engine = make_engine(fresh_journal_url)
    try:
        with engine.connect() as conn:
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("leader_orders")}
    finally:
        engine.dispose()
    assert "ix_leader_orders_security_id" in indexes
