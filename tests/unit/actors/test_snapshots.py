"""``actors.snapshots``: a socket frame, an order-book row and a super-order-book row each become
the journal's leader snapshot, legs keyed apart from their entry, the same event keyed the same."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from actors.snapshots import (
    snapshot_from_order,
    snapshot_from_update,
    snapshots_from_super_order,
    super_entry_with_leg,
)
from dhan.codes import (
    AmoTime,
    ExchangeSegment,
    LegName,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.models import Order, SuperLeg, SuperOrder
from dhan.order_feed import OrderUpdate
from store.records import LeaderOrderSnapshot, SnapshotSource
from tests.unit.store.factories import snapshot

BUY, SELL = TransactionType.BUY, TransactionType.SELL


def update(**fields: Any) -> OrderUpdate:
    """A socket frame of a PENDING LIMIT BUY of 10 x 1333 at 100 (override any field)."""
    base: dict[str, Any] = {
        "order_no": "L1",
        "status": OrderStatus.PENDING,
        "raw_status": "Pending",
        "quantity": 10,
        "traded_qty": 0,
        "remaining_quantity": 10,
        "exchange_segment": ExchangeSegment.NSE_EQ,
        "security_id": "1333",
        "product_type": ProductType.INTRADAY,
        "transaction_type": BUY,
        "order_type": OrderType.LIMIT,
        "price": 100.0,
        "raw": {"OrderNo": "L1"},
    }
    base.update(fields)
    return OrderUpdate(**base)


@pytest.mark.parametrize(
    ("frame", "leg", "parent"),
    [
        (update(), "", None),
        (update(leg_name=LegName.NA), "", None),
        (update(leg_name=LegName.ENTRY_LEG, product_type=ProductType.BO), "", None),
        # a BO/CO leg has its own number; AlgoOrdNo names the entry
        (
            update(order_no="L2", leg_name=LegName.TARGET_LEG, parent_order_no="L1"),
            "TARGET_LEG",
            "L1",
        ),
        # a super order's leg shares the entry's number
        (update(leg_name=LegName.STOP_LOSS_LEG, is_super=True), "STOP_LOSS_LEG", "L1"),
        # a leg frame without AlgoOrdNo: its own number (the book links it later)
        (update(order_no="L3", leg_name=LegName.STOP_LOSS_LEG), "STOP_LOSS_LEG", "L3"),
    ],
)
def test_an_exit_leg_frame_is_keyed_apart_from_its_entry_and_names_it(
    frame: OrderUpdate, leg: str, parent: str | None
) -> None:
    snap = snapshot_from_update(frame, seq=7)
    assert (snap.leader_order_id, snap.leg_name, snap.parent_order_id) == (
        frame.order_no,
        leg,
        parent,
    )
    assert (snap.dedupe_key, snap.source, snap.seq) == (
        "ws|" + frame.dedupe_key,
        SnapshotSource.SOCKET,
        7,
    )


@pytest.mark.parametrize(
    ("validity", "expected"),
    [(Validity.DAY, Validity.DAY), (Validity.IOC, Validity.IOC), (None, None), ("", None)],
)
def test_a_frames_validity_is_kept_when_known(
    validity: Validity | str | None, expected: Validity | None
) -> None:
    assert snapshot_from_update(update(validity=validity)).validity == expected


def test_a_frame_carries_its_fill_amo_flag_and_correlation_id_and_keeps_its_fields() -> None:
    frame = update(
        traded_qty=4,
        remaining_quantity=6,
        status=OrderStatus.PART_TRADED,
        avg_traded_price=99.5,
        trigger_price=0.0,
        correlation_id="",
        is_amo=True,
        last_updated_time="2026-12-07 10:15:02",
        raw={"OrderNo": "L1", "OffMktFlag": "1"},
    )
    snap = snapshot_from_update(frame)
    assert (snap.filled_qty, snap.avg_price, snap.status) == (4, 99.5, OrderStatus.PART_TRADED)
    assert (snap.after_market_order, snap.amo_time, snap.correlation_id) == (True, None, None)
    assert snap.updated_at == "2026-12-07 10:15:02"
    assert snap.raw == {"OrderNo": "L1", "OffMktFlag": "1"}
    assert snap.target_price is None and snap.bo_profit_value is None


def test_a_super_entry_frame_takes_the_prices_its_frame_lacks_from_the_journaled_entry() -> None:
    entry = snapshot(
        "L1",
        target_price=110.0,
        stop_loss_price=95.0,
        trailing_jump=1.0,
        bo_profit_value=None,
        bo_stop_loss_value=None,
    )
    snap = snapshot_from_update(update(is_super=True, leg_name=LegName.ENTRY_LEG), entry=entry)
    assert (snap.target_price, snap.stop_loss_price, snap.trailing_jump) == (110.0, 95.0, 1.0)
    assert snap.is_super


def test_a_frame_without_its_instrument_is_refused() -> None:
    with pytest.raises(ValueError, match="L1 lacks instrument fields"):
        snapshot_from_update(update(security_id=None))


ENTRY = snapshot("S1", target_price=110.0, stop_loss_price=95.0, is_super=True, seq=1)


@pytest.mark.parametrize(
    ("leg", "target", "stop"),
    [
        (update(order_no="S1", leg_name=LegName.TARGET_LEG, price=112.0), 112.0, 95.0),
        (update(order_no="S1", leg_name=LegName.STOP_LOSS_LEG, trigger_price=96.0), 110.0, 96.0),
        (update(order_no="S1", leg_name=LegName.STOP_LOSS_LEG, price=94.0), 110.0, 94.0),
    ],
)
def test_a_super_leg_frame_moves_the_entrys_target_or_stop(
    leg: OrderUpdate, target: float, stop: float
) -> None:
    moved = super_entry_with_leg(ENTRY, leg)
    assert (moved.target_price, moved.stop_loss_price) == (target, stop)
    assert moved.dedupe_key == f"{ENTRY.dedupe_key}|leg:{leg.dedupe_key}"
    assert (moved.leader_order_id, moved.leg_name, moved.source) == ("S1", "", "socket")
    assert moved.seq > ENTRY.seq


def test_an_entry_leg_frame_leaves_the_super_entry_as_it_is() -> None:
    assert super_entry_with_leg(ENTRY, update(order_no="S1", leg_name=LegName.ENTRY_LEG)) is ENTRY


def row(**fields: Any) -> Order:
    """An order-book row of a PENDING LIMIT BUY of 10 x 1333 at 100 (override any field)."""
    base = Order(
        order_id="L1",
        order_status=OrderStatus.PENDING,
        transaction_type=BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=10,
        price=100.0,
        bo_profit_value=10.0,
        bo_stop_loss_value=5.0,
        update_time="2026-12-07 10:15:02",
    )
    return replace(base, **fields)


@pytest.mark.parametrize(
    ("product", "profit", "stop"),
    [
        (ProductType.BO, 10.0, 5.0),
        (ProductType.CO, None, 5.0),  # a cover order has a stop only
        (ProductType.INTRADAY, None, None),  # the book's zeros mean nothing here
        (ProductType.CNC, None, None),
    ],
)
def test_a_book_row_keeps_bracket_values_only_for_the_products_that_have_them(
    product: ProductType, profit: float | None, stop: float | None
) -> None:
    snap = snapshot_from_order(row(product_type=product))
    assert (snap.bo_profit_value, snap.bo_stop_loss_value) == (profit, stop)


@pytest.mark.parametrize(
    ("amo", "amo_time", "expected"),
    [
        (True, AmoTime.OPEN_30, AmoTime.OPEN_30),
        (True, None, None),
        (False, AmoTime.OPEN_30, None),  # an AMO time on a regular order means nothing
    ],
)
def test_a_book_rows_amo_time_is_kept_only_for_an_amo(
    amo: bool, amo_time: AmoTime | None, expected: AmoTime | None
) -> None:
    snap = snapshot_from_order(row(after_market_order=amo, amo_time=amo_time))
    assert (snap.after_market_order, snap.amo_time) == (amo, expected)


def test_a_book_legs_entry_comes_from_the_parents_given_and_an_entry_has_none() -> None:
    leg = row(order_id="L2", leg_name=LegName.TARGET_LEG, product_type=ProductType.BO)
    assert snapshot_from_order(leg, parents={"L2": "L1"}).parent_order_id == "L1"
    assert snapshot_from_order(leg).parent_order_id is None
    entry = row(leg_name=LegName.ENTRY_LEG, product_type=ProductType.BO)
    got = snapshot_from_order(entry, parents={"L1": "L0"})
    assert (got.leg_name, got.parent_order_id) == ("", None)


def test_a_book_row_is_keyed_by_what_it_says_and_keeps_only_its_create_time() -> None:
    first = snapshot_from_order(row(create_time="2026-12-07 10:15:01"))
    assert first.source is SnapshotSource.RECONCILE
    assert first.raw == {"createTime": "2026-12-07 10:15:01"}
    assert snapshot_from_order(row()).raw == {}
    assert snapshot_from_order(row()).dedupe_key == snapshot_from_order(row()).dedupe_key
    for changed in (
        row(order_status=OrderStatus.TRADED),
        row(filled_qty=4),
        row(quantity=12),
        row(price=101.0),
        row(trigger_price=99.0),
        row(update_time="2026-12-07 10:15:03"),
        row(leg_name=LegName.TARGET_LEG),
    ):
        assert snapshot_from_order(changed).dedupe_key != first.dedupe_key, changed


def super_order(*legs: SuperLeg, **fields: Any) -> SuperOrder:
    base = SuperOrder(
        order_id="S1",
        order_status=OrderStatus.TRADED,
        transaction_type=BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=10,
        filled_qty=10,
        price=100.0,
        legs=legs,
        update_time="2026-12-07 10:15:02",
    )
    return replace(base, **fields)


TARGET = SuperLeg(
    order_id="S1",
    leg_name=LegName.TARGET_LEG,
    order_status=OrderStatus.PENDING,
    transaction_type=SELL,
    remaining_quantity=10,
    price=110.0,
)
STOP = SuperLeg(
    order_id="S1",
    leg_name=LegName.STOP_LOSS_LEG,
    order_status=OrderStatus.PART_TRADED,
    transaction_type=SELL,
    total_quantity=10,
    remaining_quantity=6,
    price=95.0,
    trailing_jump=0.5,
)


def test_a_super_order_is_its_entry_with_target_and_stop_and_one_snapshot_per_exit_leg() -> None:
    entry, target, stop = snapshots_from_super_order(super_order(TARGET, STOP), seq=5)
    assert (entry.leg_name, entry.is_super, entry.seq) == ("", True, 5)
    assert (entry.target_price, entry.stop_loss_price, entry.trailing_jump) == (110.0, 95.0, 0.5)
    assert [(s.leg_name, s.parent_order_id, s.status) for s in (target, stop)] == [
        ("TARGET_LEG", "S1", OrderStatus.PENDING),
        ("STOP_LOSS_LEG", "S1", OrderStatus.PART_TRADED),
    ]
    assert [(s.transaction_type, s.quantity, s.filled_qty, s.price) for s in (target, stop)] == [
        (SELL, 10, 0, 110.0),  # no total given: the entry's quantity
        (SELL, 10, 4, 95.0),
    ]
    assert len({entry.dedupe_key, target.dedupe_key, stop.dedupe_key}) == 3


@pytest.mark.parametrize(
    ("legs", "order_jump", "jump"),
    [
        ((TARGET, STOP), 0.0, 0.5),
        ((TARGET, replace(STOP, trailing_jump=0.0)), 2.0, 2.0),  # the order's when the leg's is 0
        ((TARGET,), 2.0, 2.0),
        ((TARGET,), 0.0, 0.0),
    ],
)
def test_a_super_orders_trailing_jump_is_its_stop_legs_else_its_own(
    legs: tuple[SuperLeg, ...], order_jump: float, jump: float
) -> None:
    entry = snapshots_from_super_order(super_order(*legs, trailing_jump=order_jump))[0]
    assert entry.trailing_jump == jump


def test_a_super_orders_key_moves_with_any_leg() -> None:
    before = snapshots_from_super_order(super_order(TARGET, STOP))[0]
    after = snapshots_from_super_order(super_order(replace(TARGET, price=111.0), STOP))[0]
    assert before.dedupe_key != after.dedupe_key


def test_an_entry_leg_listed_with_the_legs_makes_no_snapshot_of_its_own() -> None:
    entry_leg = replace(TARGET, leg_name=LegName.ENTRY_LEG)
    snaps: list[LeaderOrderSnapshot] = snapshots_from_super_order(super_order(entry_leg, STOP))
    assert [s.leg_name for s in snaps] == ["", "STOP_LOSS_LEG"]
