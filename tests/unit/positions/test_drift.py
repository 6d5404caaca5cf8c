"""Position drift, pure: mirrored fills, exits clamped at zero, the reasons column, the table."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, Gauge

from actors.exit_sizing import CLOSE_BELOW_LOT, NOTHING_TO_CLOSE
from copytrader.drift import DriftGauge
from copytrader.positions import (
    CONVERTED,
    NOT_A_COPY,
    DriftRow,
    Held,
    clamp_exit,
    copy_part,
    drift_rows,
    format_table,
    leader_base,
    leader_views,
    lot_for,
    mirrored_fill,
    resync_plan,
    skip_category,
)
from dhan.codes import (
    ExchangeSegment,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
)
from store.records import LeaderOrderSnapshot, PositionKey, SnapshotSource
from store.states import IntentState
from tests.unit.actors import copies

S = IntentState
NOW = copies.NOW
EQ = PositionKey("NSE_EQ", "1333", "INTRADAY")
FNO = PositionKey("NSE_FNO", "43225", "MARGIN")
LOTS = {("NSE_FNO", "43225"): 50}
SELL = TransactionType.SELL
CAPPED = "below one lot: capped"


def snap(
    oid: str = "L-1",
    *,
    qty: int = 10,
    filled: int = 10,
    status: OrderStatus = OrderStatus.TRADED,
    side: TransactionType = TransactionType.BUY,
    leg: str = "",
    parent: str | None = None,
) -> LeaderOrderSnapshot:
    return LeaderOrderSnapshot(
        leader_order_id=oid,
        dedupe_key=f"{oid}{leg}{filled}",
        source=SnapshotSource.SOCKET,
        status=status,
        transaction_type=side,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.MARKET,
        security_id="1333",
        quantity=qty,
        filled_qty=filled,
        seq=1,
        leg_name=leg,
        parent_order_id=parent,
    )


def copy(
    state: IntentState = S.DONE,
    *,
    iid: int = 1,
    oid: str = "L-1",
    qty: int = 10,
    filled: int = 10,
    side: TransactionType = TransactionType.BUY,
    **fields: object,
) -> object:
    return copies.intent(
        state,
        id=iid,
        leader_order_id=oid,
        quantity=qty,
        filled_qty=filled,
        transaction_type=side,
        **fields,
    )


@pytest.mark.parametrize(
    ("copy_qty", "leader_filled", "base", "lot", "expected"),
    [
        (10, 10, 10, 1, 10),  # all filled
        (20, 5, 10, 1, 10),  # multiplier 2, half filled
        (7, 5, 10, 1, 3),  # 3.5 -> 3: whole units
        (100, 30, 60, 50, 50),  # half of two lots
        (100, 20, 60, 50, 0),  # a third of two lots: below a lot
        (10, 0, 10, 1, 0),  # nothing filled
        (10, 15, 10, 1, 10),  # never more than the copy
        (10, 5, 0, 1, 0),  # no base
        (0, 10, 10, 1, 0),  # no copy quantity
    ],
)
def test_mirrored_fill(
    copy_qty: int, leader_filled: int, base: int, lot: int, expected: int
) -> None:
    assert mirrored_fill(copy_qty, leader_filled, base, lot) == expected


@pytest.mark.parametrize(
    ("status", "qty", "filled", "base"),
    [
        (OrderStatus.TRADED, 10, 10, 10),
        (OrderStatus.PART_TRADED, 10, 4, 10),
        (OrderStatus.PENDING, 10, 0, 10),
        (OrderStatus.CANCELLED, 10, 4, 4),  # dead: only the filled part is mirrored
        (OrderStatus.EXPIRED, 10, 0, 0),
        (OrderStatus.REJECTED, 10, 0, 0),
    ],
)
def test_leader_base_is_the_filled_part_once_the_order_is_dead(
    status: OrderStatus, qty: int, filled: int, base: int
) -> None:
    assert leader_base(snap(qty=qty, filled=filled, status=status)) == base


@pytest.mark.parametrize(
    ("key", "lots", "expected"),
    [
        (EQ, {}, 1),
        (PositionKey("BSE_EQ", "500325", "CNC"), {}, 1),
        (FNO, LOTS, 50),
        (FNO, {}, None),
        (PositionKey("NSE_EQ", "1333", "CNC"), {("NSE_EQ", "1333"): 5}, 5),
    ],
)
def test_lot_for(key: PositionKey, lots: dict[tuple[str, str], int], expected: int | None) -> None:
    assert lot_for(key, lots) == expected


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("filtered: segment NSE_FNO", "filter"),
        ("below one lot: capped", "cap"),
        ("below one lot: sized 0.5 < 1", "below a lot"),
        ("waiting: capital sizing: balance unknown", "waiting"),
        ("leader order ended while the follower was disabled", "paused"),
        ("reconcile_policy: skip", "skipped: reconcile_policy: skip"),
        (NOTHING_TO_CLOSE, "nothing to close"),  # an exit's copy, the follower holding nothing
        (CLOSE_BELOW_LOT, "below a lot"),
        (None, "skipped"),
    ],
)
def test_skip_category(reason: str | None, category: str) -> None:
    assert skip_category(reason) == category


@pytest.mark.parametrize(
    ("intent", "leader", "mirrored", "filled", "reason"),
    [
        # mirrored as the leader filled
        (copy(filled=10), snap(), 10, 10, None),
        (
            copy(side=TransactionType.SELL, filled=10),
            snap(side=TransactionType.SELL),
            -10,
            -10,
            None,
        ),
        # the leader half filled, the copy fully: differs
        (
            copy(S.WORKING, filled=10),
            snap(filled=5, status=OrderStatus.PART_TRADED),
            5,
            10,
            "copy filled 10 of 5",
        ),
        # the leader filled, the copy not yet
        (copy(S.WORKING, filled=0), snap(), 10, 0, "copy filled 0 of 10"),
        (copy(S.PLANNED, filled=0), snap(), 10, 0, "copy not placed yet (PLANNED)"),
        (copy(S.UNKNOWN, filled=0), snap(), 10, 0, "copy not placed yet (UNKNOWN)"),
        # skipped / rejected / failed with a leader fill: nothing mirrored, the reason shown
        (
            copy(S.SKIPPED, qty=0, filled=0, skip_reason="below one lot: capped"),
            snap(),
            0,
            0,
            "cap",
        ),
        (
            copy(S.SKIPPED, qty=0, filled=0, skip_reason="filtered: product INTRADAY"),
            snap(),
            0,
            0,
            "filter",
        ),
        (copy(S.REJECTED, filled=0, error_code="DH-906"), snap(), 0, 0, "rejected DH-906"),
        (copy(S.FAILED, filled=0), snap(), 0, 0, "failed"),
        # skipped, and the leader filled nothing: no reason to show
        (
            copy(S.SKIPPED, qty=0, filled=0, skip_reason="below one lot: capped"),
            snap(filled=0, status=OrderStatus.CANCELLED),
            0,
            0,
            None,
        ),
        # never copied (the leader ended before the copy went out)
        (
            copy(S.DONE, filled=0, state_reason="leader order ended before it was copied"),
            snap(),
            10,
            0,
            "not copied: leader order ended before it was copied",
        ),
        # no leader snapshot: the copy's own fill is all there is to go by
        (copy(filled=7), None, 7, 7, None),
    ],
)
def test_copy_part(
    intent: object,
    leader: LeaderOrderSnapshot | None,
    mirrored: int,
    filled: int,
    reason: str | None,
) -> None:
    part = copy_part(intent, leader, 1)  # type: ignore[arg-type]  # test data
    assert (part.mirrored, part.filled, part.reason) == (mirrored, filled, reason)


def test_a_bracket_copy_nets_its_exit_legs() -> None:
    entry = snap("B-1", qty=10, filled=10)
    legs = [
        snap("B-1", qty=10, filled=10, leg="TARGET_LEG", parent="B-1", side=TransactionType.SELL),
        snap("B-1", qty=10, filled=0, leg="STOP_LOSS_LEG", parent="B-1", side=TransactionType.SELL),
    ]
    part = copy_part(
        copy(oid="B-1", qty=20, filled=20, product_type=ProductType.BO),
        entry,
        1,
        leader_legs=legs,
        legs_filled=20,
    )
    assert (part.mirrored, part.filled, part.reason) == (0, 0, None)
    half = copy_part(copy(oid="B-1", qty=20, filled=20), entry, 1, leader_legs=legs, legs_filled=0)
    assert (half.mirrored, half.filled) == (0, 20)


@pytest.mark.parametrize(
    ("held", "mirrored", "basis", "effect"),
    [
        (10, -10, 10, -10),  # a close of what is held
        (10, -15, 15, -10),  # a close sized with a manual extra: never past flat
        (10, -5, 10, -5),  # a partial exit
        (10, -25, 10, -25),  # a flip: close 10, then the new short 15
        (10, -25, 15, -20),  # a flip whose basis held a manual extra: flat, then short 10
        (-10, 15, 15, 10),  # a short closed
        (10, -15, 0, -15),  # no basis: an entry on the other side, whole
        (10, 5, 10, 5),  # same side: an entry
        (0, -5, 5, -5),  # nothing held
    ],
)
def test_an_exit_never_reverses_the_expected_position(
    held: int, mirrored: int, basis: int, effect: int
) -> None:
    assert clamp_exit(held, mirrored, basis) == effect


def _rows(intents: list[object], snaps: list[LeaderOrderSnapshot], **kw: object) -> list[DriftRow]:
    entries, legs = leader_views(snaps)
    actual = kw.pop("actual", {})
    return drift_rows("f", intents, entries, actual, LOTS, leader_legs=legs, **kw)  # type: ignore[arg-type]


def test_a_manual_trade_is_drift_the_copies_do_not_explain() -> None:
    rows = _rows([copy(filled=10)], [snap()], actual={EQ: Held(15, 0)})
    assert [(r.expected, r.actual, r.drift, r.drift_lots) for r in rows] == [(10, 15, 5, 5.0)]
    assert rows[0].reasons == (f"{NOT_A_COPY} +5",)


def test_a_manual_trade_names_the_orders_when_the_book_was_read() -> None:
    rows = _rows(
        [copy(filled=10)], [snap()], actual={EQ: Held(15, 0)}, not_copies={EQ: ["order M-9"]}
    )
    assert rows[0].reasons == (f"{NOT_A_COPY} +5: order M-9",)


def test_a_capped_skip_shows_its_reason_without_drift() -> None:
    rows = _rows(
        [
            copy(iid=1, filled=10),
            copy(S.SKIPPED, iid=2, oid="L-2", qty=0, filled=0, skip_reason="below one lot: capped"),
        ],
        [snap(), snap("L-2")],
        actual={EQ: Held(10, 0)},
    )
    assert [(r.expected, r.drift) for r in rows] == [(10, 0)]
    assert rows[0].reasons == ("cap (leader L-2)",)


def test_an_unfilled_copy_and_a_manual_trade_split_the_drift() -> None:
    rows = _rows(
        [copy(iid=1, filled=10), copy(S.WORKING, iid=2, oid="L-2", filled=0)],
        [snap(), snap("L-2")],
        actual={EQ: Held(13, 0)},
    )
    assert [(r.expected, r.drift) for r in rows] == [(20, -7)]
    assert rows[0].reasons == ("copy filled 0 of 10 (leader L-2)", f"{NOT_A_COPY} +3")


def test_the_carried_part_is_expected_and_earlier_copies_are_in_it() -> None:
    yesterday = NOW - timedelta(days=1)
    rows = _rows(
        [
            copy(iid=1, filled=10, created_at=yesterday, updated_at=yesterday),
            copy(iid=2, oid="L-2", qty=4, side=TransactionType.SELL, filled=4),
        ],
        [snap(), snap("L-2", qty=4, filled=4, side=TransactionType.SELL)],
        actual={EQ: Held(6, 10)},
        since=NOW,
    )
    assert [(r.expected, r.actual, r.drift) for r in rows] == [(6, 6, 0)]


def test_a_close_sized_with_a_manual_extra_expects_flat() -> None:
    # manual +5, then the leader closes: the exit (basis 15) closes all 15
    rows = _rows(
        [
            copy(iid=1, filled=10),
            copy(iid=2, oid="L-2", qty=15, filled=15, side=TransactionType.SELL),
        ],
        [snap(), snap("L-2", side=TransactionType.SELL)],
        actual={EQ: Held(0, 0)},
        bases={"L-2": {"f": 15, "leader": 10}}.get,
    )
    assert rows == []  # flat, expected flat, nothing to say


def test_a_key_flat_and_expected_flat_is_left_out_but_a_skip_is_shown() -> None:
    rows = _rows(
        [copy(S.SKIPPED, iid=1, qty=0, filled=0, skip_reason="filtered: security 1333")],
        [snap()],
    )
    assert [(r.expected, r.actual, r.reasons) for r in rows] == [(0, 0, ("filter (leader L-1)",))]
    assert (
        _rows(
            [copy(iid=1, filled=10), copy(iid=2, oid="L-2", side=TransactionType.SELL)],
            [snap(), snap("L-2", side=TransactionType.SELL)],
        )
        == []
    )


def test_other_followers_copies_are_not_counted() -> None:
    rows = _rows([copy(iid=1, follower="g", filled=10)], [snap()], actual={EQ: Held(0, 0)})
    assert rows == []


def test_drift_is_in_lots_for_derivatives() -> None:
    intent = copy(
        iid=1,
        qty=100,
        filled=100,
        exchange_segment=ExchangeSegment.NSE_FNO,
        security_id="43225",
        product_type=ProductType.MARGIN,
    )
    leader = replace(
        snap(qty=50, filled=50),
        exchange_segment=ExchangeSegment.NSE_FNO,
        security_id="43225",
        product_type=ProductType.MARGIN,
    )
    rows = _rows([intent], [leader], actual={FNO: Held(150, 0)}, leader={FNO: Held(50, 0)})
    assert [(r.lot, r.leader_net, r.expected, r.drift_lots, r.security) for r in rows] == [
        (50, 50, 100, 1.0, "NSE_FNO:43225:MARGIN")
    ]


def test_the_table_prints_one_line_per_row() -> None:
    row = DriftRow("f", EQ, 1, 10, 10, 15, (f"{NOT_A_COPY} +5",))
    lines = format_table([row])
    assert len(lines) == 2
    assert "NSE_EQ:1333:INTRADAY" in lines[1] and "+5" in lines[1] and NOT_A_COPY in lines[1]
    assert "-" in format_table([DriftRow("f", EQ, 1, 10, 10, 10)])[1].split()[-1]


@pytest.mark.parametrize(
    ("every_s", "last_s", "elapsed_s", "due"),
    [
        (10.0, 0.1, 9.9, False),
        (10.0, 0.1, 10.0, True),
        (10.0, 1.0, 10.0, False),  # a slow computation (a long history) spaces them out
        (10.0, 1.0, 20.0, True),
        (0.2, 0.0, 0.2, True),
    ],
)
def test_the_gauge_is_due_every_period_and_never_busier_than_its_duty_factor(
    every_s: float, last_s: float, elapsed_s: float, due: bool
) -> None:
    gauge = DriftGauge(Gauge("g", "test", ["follower", "security"], registry=CollectorRegistry()))
    gauge.every_s = every_s
    assert gauge.due(now=100.0)  # never computed yet
    gauge._last, gauge.last_s = 100.0, last_s  # as a computation that started at 100 s left it
    assert gauge.due(now=100.0 + elapsed_s) is due


def test_a_derivative_of_unknown_lot_counts_in_units_and_says_so() -> None:
    intent = copy(
        iid=1,
        filled=10,
        exchange_segment=ExchangeSegment.NSE_FNO,
        security_id="99999",
        product_type=ProductType.MARGIN,
    )
    leader = replace(
        snap(),
        exchange_segment=ExchangeSegment.NSE_FNO,
        security_id="99999",
        product_type=ProductType.MARGIN,
    )
    key = PositionKey("NSE_FNO", "99999", "MARGIN")
    (row,) = _rows([intent], [leader], actual={key: Held(25, 0)})
    assert (row.lot, row.lot_known, row.drift_lots) == (1, False, 15.0)
    assert row.reasons[-1] == "lot size unknown: drift in units"


CNC = PositionKey("NSE_EQ", "1333", "CNC")


@pytest.mark.parametrize(
    ("held", "drifts", "converted", "plan"),
    [
        # the copies bought INTRADAY; 10 converted to CNC: the instrument is as expected
        ({EQ: Held(0, 0), CNC: Held(10, 0)}, {EQ: 0, CNC: 0}, {EQ: -10, CNC: 10}, []),
        # half converted
        ({EQ: Held(5, 0), CNC: Held(5, 0)}, {EQ: 0, CNC: 0}, {EQ: -5, CNC: 5}, []),
        # converted and 3 more bought by hand: not a conversion alone, all of it drift
        (
            {EQ: Held(0, 0), CNC: Held(13, 0)},
            {EQ: -10, CNC: 13},
            {EQ: 0, CNC: 0},
            [(CNC, "SELL", 13), (EQ, "BUY", 10)],
        ),
        # nothing converted
        ({EQ: Held(10, 0)}, {EQ: 0}, {EQ: 0}, []),
    ],
)
def test_a_conversion_between_products_is_not_drift_nor_resynced(
    held: dict[PositionKey, Held],
    drifts: dict[PositionKey, int],
    converted: dict[PositionKey, int],
    plan: list[tuple[PositionKey, str, int]],
) -> None:
    rows = {r.key: r for r in _rows([copy(iid=1, filled=10)], [snap()], actual=held)}
    assert {k: r.drift for k, r in rows.items()} == drifts
    assert {k: r.converted for k, r in rows.items()} == converted
    for key, moved in converted.items():
        assert (CONVERTED in rows[key].reasons) == bool(moved)
    orders = resync_plan(sorted(rows.values(), key=lambda r: r.security), "r")
    assert [(o.key, o.transaction_type, o.quantity) for o in orders] == plan
