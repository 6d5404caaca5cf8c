"""Slicings and freeze quantities: a follower's share of a group of leader orders (pure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors import slicing
from actors.sizing import SizingContext, desired_share_intents
from copytrader.config import FollowerConfig, Secret, SizingConfig, SizingMode
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from store.records import (
    LeaderOrderSnapshot,
    SnapshotSource,
    freeze_piece_leg,
    is_freeze_piece_leg,
)

LOT = 65
NIFTY = ("NSE_FNO", "52175")
CTX = SizingContext(lot_sizes={NIFTY: LOT}, balances={})


def child(
    order_id: str,
    qty: int,
    *,
    created: str | None = "2026-12-07 10:15:02",
    status: OrderStatus = OrderStatus.PENDING,
    filled: int = 0,
    cid: str | None = None,
    **kw: object,
) -> LeaderOrderSnapshot:
    raw = {"OrderDateTime": created} if created else {}
    fields: dict[str, object] = {
        "exchange_segment": ExchangeSegment.NSE_FNO,
        "security_id": "52175",
        "product_type": ProductType.MARGIN,
        "transaction_type": TransactionType.BUY,
    }
    fields.update(kw)
    return LeaderOrderSnapshot(
        leader_order_id=order_id,
        dedupe_key=f"k{order_id}",
        source=SnapshotSource.SOCKET,
        status=status,
        order_type=OrderType.LIMIT,
        quantity=qty,
        filled_qty=filled,
        price=24900.0,
        seq=1,
        correlation_id=cid,
        raw=raw,
        **fields,  # type: ignore[arg-type]
    )


def follower(multiplier: float = 1.0, *, fixed: int | None = None) -> FollowerConfig:
    sizing = (
        SizingConfig(SizingMode.FIXED, quantity=fixed)
        if fixed is not None
        else SizingConfig(SizingMode.MULTIPLIER, multiplier=multiplier)
    )
    return FollowerConfig(name="f", client_id="2", access_token=Secret("t"), sizing=sizing)


def multiplier_sized(multiplier: float):  # type: ignore[no-untyped-def]
    return lambda q: int(q * multiplier / LOT + 1e-9) * LOT


@pytest.mark.parametrize(
    ("children", "multiplier", "shares"),
    [
        # the case: 27 + 13 lots
        ([1755, 845], 0.5, [845, 455]),  # 13 + 7 = 20 lots (child by child: 13 + 6 = 19)
        ([1755, 845], 1.5, [2600, 1300]),  # 40 + 20 = 60 lots (child by child: 40 + 19 = 59)
        ([1755, 845], 1.0, [1755, 845]),
        ([65, 65], 0.5, [0, 65]),  # half a lot each: the second child carries the lot
        ([1755, 1755, 1755, 65], 0.3, [520, 520, 520, 0]),  # 24 lots: the last adds none
    ],
)
def test_the_shares_of_a_slicing_add_up_to_the_sizing_of_the_whole(
    children: list[int], multiplier: float, shares: list[int]
) -> None:
    sized = multiplier_sized(multiplier)
    got = [slicing.share_of_group(sum(children[:k]), q, sized) for k, q in enumerate(children)]
    assert got == shares
    assert sum(got) == sized(sum(children))


@pytest.mark.parametrize(
    ("freeze", "lot", "largest"),
    [(1800, 65, 1755), (900, 30, 900), (1800, 1, 1800), (None, 65, None), (50, 65, None)],
)
def test_the_largest_order_is_the_largest_lot_multiple_within_the_freeze_quantity(
    freeze: int | None, lot: int, largest: int | None
) -> None:
    assert slicing.max_order_quantity(freeze, lot) == largest


@pytest.mark.parametrize(
    ("quantity", "largest", "pieces"),
    [
        (2600, 1755, [1755, 845]),
        (3510, 1755, [1755, 1755]),
        (1755, 1755, [1755]),
        (5000, None, [5000]),  # freeze unknown: not split
        (0, 1755, [0]),
    ],
)
def test_a_quantity_is_split_at_the_largest_order(
    quantity: int, largest: int | None, pieces: list[int]
) -> None:
    assert slicing.split_at_freeze(quantity, largest) == pieces


def test_piece_legs_are_empty_for_the_first_piece_then_numbered() -> None:
    legs = [freeze_piece_leg(i) for i in range(3)]
    assert legs == ["", "F2", "F3"]
    assert [is_freeze_piece_leg(leg) for leg in [*legs, "ENTRY_LEG", "F"]] == [
        False,
        True,
        True,
        False,
        False,
    ]


def test_children_created_together_with_the_same_fields_form_one_slicing_by_order_id() -> None:
    a, b = child("1002", 845), child("1001", 1755)
    other_side = child("1003", 65, transaction_type=TransactionType.SELL)
    later = child("1004", 65, created="2026-12-07 10:20:00")
    group = slicing.same_slicing(a, [b, other_side, later, a])
    assert [s.leader_order_id for s in group] == ["1001", "1002"]
    assert slicing.prior_quantity(group, "1002") == 1755
    assert slicing.prior_quantity(group, "1001") == 0


def test_a_slicing_that_straddles_a_second_is_still_one_group() -> None:
    a = child("1", 1755, created="2026-12-07 10:15:02")
    b = child("2", 1755, created="2026-12-07 10:15:03")
    c = child("3", 65, created="2026-12-07 10:15:04")
    assert len(slicing.same_slicing(a, [b, c])) == 3


def test_a_different_correlation_id_or_an_unknown_create_time_groups_nothing() -> None:
    a = child("1", 1755, cid="s1")
    assert slicing.same_slicing(a, [child("2", 845, cid="s2")]) == [a]
    alone = child("3", 845, created=None)
    assert slicing.same_slicing(alone, [child("4", 845)]) == [alone]


def test_a_dead_child_counts_with_what_it_filled() -> None:
    dead = child("1", 1755, status=OrderStatus.CANCELLED, filled=650)
    assert slicing.prior_quantity([dead, child("2", 845)], "2") == 650


def test_equity_and_bracket_orders_are_never_grouped() -> None:
    eq = child("1", 10, exchange_segment=ExchangeSegment.NSE_EQ)
    bo = child("2", 65, product_type=ProductType.BO)
    assert not slicing.can_be_sliced(eq)
    assert not slicing.can_be_sliced(bo)
    assert slicing.same_slicing(eq, [child("3", 10, exchange_segment=ExchangeSegment.NSE_EQ)]) == [
        eq
    ]


def test_a_share_above_the_freeze_quantity_becomes_pieces_with_their_own_correlation_ids() -> None:
    intents = desired_share_intents(
        child("1001", 1755), follower(1.5), CTX, prior=0, freeze_qty=1800
    )
    assert [(i.leg, i.quantity) for i in intents] == [("", 1755), ("F2", 845)]
    assert intents[0].correlation_id == correlation_id_for("f", "1001")
    assert intents[1].correlation_id == correlation_id_for("f", "1001", "F2")
    assert len({i.correlation_id for i in intents}) == 2


def test_the_second_child_gets_what_the_whole_needs_beyond_the_first() -> None:
    (half,) = desired_share_intents(
        child("1002", 845), follower(0.5), CTX, prior=1755, freeze_qty=1800
    )
    assert half.quantity == 455 and half.skip_reason is None
    intents = desired_share_intents(
        child("1002", 845), follower(1.5), CTX, prior=1755, freeze_qty=1800
    )
    assert [i.quantity for i in intents] == [1300]


def test_a_child_whose_share_is_zero_is_skipped_with_the_reason() -> None:
    (later,) = desired_share_intents(
        child("1002", 845), follower(fixed=65), CTX, prior=1755, freeze_qty=1800
    )
    assert later.quantity == 0 and not later.desired_open
    assert later.skip_reason is not None and "slicing" in later.skip_reason


def test_a_dead_child_with_no_share_is_closed_not_skipped() -> None:
    dead = child("1002", 845, status=OrderStatus.CANCELLED)
    (intent,) = desired_share_intents(dead, follower(1.5), CTX, prior=1755, freeze_qty=1800)
    assert intent.quantity == 0 and not intent.desired_open and intent.skip_reason is None


def test_without_a_known_lot_or_freeze_quantity_nothing_is_split() -> None:
    (unknown_lot,) = desired_share_intents(
        child("1", 1755),
        follower(1.5),
        SizingContext(lot_sizes={}, balances={}),
        prior=0,
        freeze_qty=1800,
    )
    assert unknown_lot.skip_reason is not None and "lot size unknown" in unknown_lot.skip_reason
    (whole,) = desired_share_intents(child("1", 1755), follower(1.5), CTX, prior=0, freeze_qty=None)
    assert whole.quantity == 2600


def test_caps_apply_to_the_share_before_it_is_split() -> None:
    capped = replace(follower(1.5), caps=replace(follower().caps, max_order_quantity=2000))
    intents = desired_share_intents(child("1", 1755), capped, CTX, prior=0, freeze_qty=1800)
    assert [i.quantity for i in intents] == [1755, 195]  # capped to 1950, then split
