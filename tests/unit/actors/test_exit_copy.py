"""A leader exit's copy (actors/sizing.py with an ExitBasis): sized from the follower's position."""

from __future__ import annotations

import pytest

from actors import exit_sizing as ex
from actors.settings import CapsConfig, FollowerSettings, SizingConfig, SizingMode
from actors.sizing import ExitBasis, SizingContext, desired_intent, desired_share_intents
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from store.records import LeaderOrderSnapshot, SnapshotSource, is_transient_skip

FNO = ExchangeSegment.NSE_FNO
CTX = SizingContext(lot_sizes={("NSE_FNO", "35001"): 65}, balances={"leader": 100.0})
MULT1 = SizingConfig(SizingMode.MULTIPLIER, multiplier=1.0)
MULT2 = SizingConfig(SizingMode.MULTIPLIER, multiplier=2.0)
FIXED5 = SizingConfig(SizingMode.FIXED, quantity=5)
CAPITAL = SizingConfig(SizingMode.CAPITAL, capital_multiplier=1.0)


def sell(
    qty: int,
    *,
    filled: int = 0,
    status: OrderStatus = OrderStatus.PENDING,
    segment: ExchangeSegment = ExchangeSegment.NSE_EQ,
    security: str = "1333",
) -> LeaderOrderSnapshot:
    return LeaderOrderSnapshot(
        leader_order_id="L9",
        dedupe_key="k",
        source=SnapshotSource.SOCKET,
        status=status,
        transaction_type=TransactionType.SELL,
        exchange_segment=segment,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id=security,
        quantity=qty,
        filled_qty=filled,
        price=100.0,
        seq=1,
    )


def follower(sizing: SizingConfig, **kw: object) -> FollowerSettings:
    return FollowerSettings(name="f", client_id="2", sizing=sizing, **kw)  # type: ignore[arg-type]


def basis(leader_open: int, follower_open: int) -> ExitBasis:
    return ExitBasis(leader_open, {"f": follower_open})


@pytest.mark.parametrize(
    ("case", "snap", "sizing", "b", "qty", "reason"),
    [
        (
            "entry rejected for funds: nothing",
            sell(10),
            MULT1,
            basis(10, 0),
            0,
            ex.NOTHING_TO_CLOSE,
        ),
        ("half filled entry, full exit", sell(50), MULT1, basis(50, 50), 50, None),
        ("fixed 5, first of three", sell(10), FIXED5, basis(30, 5), 1, None),
        ("fixed 5, second of three", sell(10), FIXED5, basis(20, 4), 2, None),
        ("fixed 5, last of three", sell(10), FIXED5, basis(10, 2), 2, None),
        ("flip long 10 -> short 10, x2", sell(20), MULT2, basis(10, 20), 40, None),
        ("flip, follower held nothing", sell(20), MULT2, basis(10, 0), 20, None),
        ("carried CNC: partial sale", sell(40), MULT1, basis(100, 50), 20, None),
        ("a third of 1 share: below one lot", sell(1), MULT1, basis(3, 1), 0, ex.CLOSE_BELOW_LOT),
        (
            "dead after a partial fill: the filled part",
            sell(30, filled=10, status=OrderStatus.CANCELLED),
            MULT1,
            basis(30, 30),
            10,
            None,
        ),
        (
            "dead, unfilled: nothing, no skip",
            sell(30, status=OrderStatus.CANCELLED),
            MULT1,
            basis(30, 30),
            0,
            None,
        ),
        ("not an exit: the entry rule", sell(10), MULT2, basis(0, 99), 20, None),
        (
            "F&O in lots",
            sell(650, segment=FNO, security="35001"),
            MULT1,
            basis(1300, 975),
            455,
            None,
        ),
        ("capital: no balance needed to close", sell(10), CAPITAL, basis(10, 7), 7, None),
    ],
)
def test_exit_copy_quantity(
    case: str,
    snap: LeaderOrderSnapshot,
    sizing: SizingConfig,
    b: ExitBasis,
    qty: int,
    reason: str | None,
) -> None:
    got = desired_intent(snap, follower(sizing), CTX, b)
    assert (got.quantity, got.skip_reason) == (qty, reason), case
    assert got.desired_open is (qty > 0)


def test_an_exit_is_not_capped_but_the_flips_entry_is() -> None:
    capped = follower(MULT1, caps=CapsConfig(max_order_quantity=5))
    assert desired_intent(sell(10), capped, CTX, basis(10, 10)).quantity == 10
    # flip: close 10 (uncapped) + the new side 10 capped to 5
    assert desired_intent(sell(20), capped, CTX, basis(10, 10)).quantity == 15


def test_a_flip_whose_new_side_waits_for_a_balance_still_closes() -> None:
    no_balance = SizingContext(lot_sizes={}, balances={})
    got = desired_intent(sell(20), follower(CAPITAL), no_balance, basis(10, 10))
    assert (got.quantity, got.skip_reason) == (10, None)
    nothing_held = desired_intent(sell(20), follower(CAPITAL), no_balance, basis(10, 0))
    assert nothing_held.quantity == 0 and is_transient_skip(nothing_held.skip_reason)


def test_a_sliced_exit_is_sized_from_the_position_and_split_at_the_freeze_quantity() -> None:
    # leader closes 40 lots with a slicing child of 27 lots; follower x1.5 holds 60 lots
    snap = sell(27 * 65, segment=FNO, security="35001")
    got = desired_share_intents(
        snap,
        follower(SizingConfig(SizingMode.MULTIPLIER, multiplier=1.5)),
        CTX,
        prior=0,
        freeze_qty=1800,
        basis=basis(40 * 65, 60 * 65),
    )
    assert [i.quantity for i in got] == [1755, 845]  # 40.5 -> 40 lots, split at 27 lots
    assert [i.leg for i in got] == ["", "F2"]
    # a later child of the same slicing is an exit against what is still open, not a share
    later = desired_share_intents(
        sell(13 * 65, segment=FNO, security="35001"),
        follower(MULT1),
        CTX,
        prior=27 * 65,
        freeze_qty=1800,
        basis=basis(13 * 65, 13 * 65),
    )
    assert [i.quantity for i in later] == [13 * 65]
