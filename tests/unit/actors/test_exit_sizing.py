"""Exits sized from positions (actors/exit_sizing.py), as tables."""

from __future__ import annotations

import pytest

from actors import exit_sizing as ex
from dhan.codes import ProductType, TransactionType

BUY, SELL = TransactionType.BUY, TransactionType.SELL


@pytest.mark.parametrize(
    ("net", "side", "pending", "inflight", "expected"),
    [
        (30, SELL, 0, 0, 30),  # long 30: a SELL can close 30
        (30, BUY, 0, 0, 0),  # long 30: a BUY adds, closes nothing
        (-20, BUY, 0, 0, 20),  # short 20: a BUY closes it
        (-20, SELL, 0, 0, 0),
        (0, SELL, 0, 0, 0),  # flat: nothing to close
        (30, SELL, 10, 0, 20),  # another open SELL 10 already takes 10 of it
        (30, SELL, 40, 0, 0),  # never below 0
        (0, SELL, 0, 10, 10),  # a MARKET entry of 10 about to fill
        (5, SELL, 0, 10, 15),
        (-5, SELL, 0, 10, 5),  # short 5 then a BUY 10 fills: long 5
        (0, BUY, 0, 10, 10),  # a short entry of 10 about to fill, a BUY closes it
    ],
)
def test_open_against(
    net: int, side: TransactionType, pending: int, inflight: int, expected: int
) -> None:
    assert (
        ex.open_against(net, side, pending_exit_qty=pending, inflight_entry_qty=inflight)
        == expected
    )


@pytest.mark.parametrize(
    ("qty", "leader_open", "expected"),
    [
        (10, 30, (10, 0)),  # a partial close
        (30, 30, (30, 0)),  # a full close
        (20, 10, (10, 10)),  # a flip: close 10, open 10 on the other side
        (10, 0, (0, 10)),  # an entry
        (0, 30, (0, 0)),
        (-5, 30, (0, 0)),
        (10, -3, (0, 10)),
    ],
)
def test_split(qty: int, leader_open: int, expected: tuple[int, int]) -> None:
    assert ex.split(qty, leader_open) == expected


@pytest.mark.parametrize(
    ("close", "leader_open", "follower_open", "lot", "expected"),
    [
        (50, 100, 50, 1, 25),  # half of the leader's: half of the follower's
        (100, 100, 50, 1, 50),  # the leader closes all: the follower closes all
        (150, 100, 50, 1, 50),  # never more than the follower holds
        (10, 30, 5, 1, 1),  # fixed 5, leader sells a third: 1.67 -> 1
        (10, 20, 4, 1, 2),  # ... then half of the rest
        (10, 10, 2, 1, 2),  # ... then the rest: flat, never short
        (10, 30, 0, 1, 0),  # a follower whose entry was rejected: nothing
        (0, 30, 5, 1, 0),
        (10, 0, 5, 1, 0),  # the leader holds nothing: not an exit
        (650, 1300, 975, 65, 455),  # F&O: 975 * 0.5 = 487.5 -> 7 lots of 65
        (65, 1300, 130, 65, 0),  # below one lot
        (1300, 1300, 975, 65, 975),  # the close of the whole: the whole, lots or not
        (1, 3, 3, 1, 1),  # 3 * 1/3 = 0.999.. -> 1 (float tolerance)
    ],
)
def test_follower_close(
    close: int, leader_open: int, follower_open: int, lot: int, expected: int
) -> None:
    got = ex.follower_close(close, leader_open, follower_open, lot)
    assert got == expected
    assert 0 <= got <= max(0, follower_open)


def test_fixed_follower_scaling_out_in_steps_ends_flat_never_short() -> None:
    """The issue's case: fixed 5, leader BUY 30 then SELL 10 three times."""
    leader, follower = 30, 5
    for _ in range(3):
        closed = ex.follower_close(10, leader, follower, 1)
        leader, follower = leader - 10, follower - closed
        assert follower >= 0
    assert (leader, follower) == (0, 0)


@pytest.mark.parametrize(
    ("follower_open", "close", "expected"),
    [
        (0, 0, ex.NOTHING_TO_CLOSE),
        (-5, 0, ex.NOTHING_TO_CLOSE),
        (3, 0, ex.CLOSE_BELOW_LOT),
        (3, 1, None),
    ],
)
def test_close_skip_reason(follower_open: int, close: int, expected: str | None) -> None:
    assert ex.close_skip_reason(follower_open, close) == expected


@pytest.mark.parametrize(
    ("product", "is_leg", "expected"),
    [
        (ProductType.CNC, False, True),
        (ProductType.INTRADAY, False, True),
        (ProductType.MARGIN, False, True),
        (ProductType.MTF, False, True),
        (ProductType.CO, False, False),
        (ProductType.BO, False, False),
        (ProductType.INTRADAY, True, False),
        ("INTRADAY", False, True),
    ],
)
def test_is_exit_candidate(product: ProductType | str, is_leg: bool, expected: bool) -> None:
    assert ex.is_exit_candidate(product, is_leg) is expected


@pytest.mark.parametrize(("side", "expected"), [(SELL, 1), (BUY, -1), ("SELL", 1), ("BUY", -1)])
def test_direction(side: TransactionType | str, expected: int) -> None:
    assert ex.direction(side) == expected
