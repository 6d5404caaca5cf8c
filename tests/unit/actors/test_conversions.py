"""The leader's position conversions, noticed from its positions (actors/conversions.py)."""

from __future__ import annotations

import pytest

from actors.conversions import Conversion, detect, follower_quantity
from store.records import PositionCheck, PositionKey


def check(product: str, journal: int, broker: int, security: str = "1333") -> PositionCheck:
    return PositionCheck("leader", PositionKey("NSE_EQ", security, product), journal, broker)


def conv(frm: str, to: str, side: str, qty: int, leader_open: int) -> Conversion:
    return Conversion("NSE_EQ", "1333", frm, to, side, qty, leader_open)


@pytest.mark.parametrize(
    ("checks", "expected"),
    [
        # INTRADAY long 10 -> CNC 10
        (
            [check("INTRADAY", 10, 0), check("CNC", 0, 10)],
            [conv("INTRADAY", "CNC", "LONG", 10, 10)],
        ),
        # part of it, the other way round in the list
        ([check("CNC", 0, 4), check("INTRADAY", 10, 6)], [conv("INTRADAY", "CNC", "LONG", 4, 10)]),
        # a short
        (
            [check("MARGIN", -20, -5), check("INTRADAY", 0, -15)],
            [conv("MARGIN", "INTRADAY", "SHORT", 15, 20)],
        ),
        # one product differs: a fill not yet seen, not a conversion
        ([check("INTRADAY", 10, 5)], []),
        # amounts that do not cancel out
        ([check("INTRADAY", 10, 0), check("CNC", 0, 5)], []),
        # the source changed sign: not a conversion
        ([check("INTRADAY", 10, -2), check("CNC", 0, 12)], []),
        # three products differ
        ([check("INTRADAY", 10, 0), check("CNC", 0, 5), check("MTF", 0, 5)], []),
        # two instruments, one converted each
        (
            [check("INTRADAY", 10, 0), check("CNC", 0, 10), check("INTRADAY", 3, 3, "9")],
            [conv("INTRADAY", "CNC", "LONG", 10, 10)],
        ),
        # agreeing rows are ignored
        ([check("INTRADAY", 5, 5), check("CNC", 2, 2)], []),
    ],
)
def test_detect(checks: list[PositionCheck], expected: list[Conversion]) -> None:
    assert detect(checks) == expected


@pytest.mark.parametrize(
    ("conversion", "follower_net", "lot", "expected"),
    [
        (conv("INTRADAY", "CNC", "LONG", 10, 10), 20, 1, 20),  # all of the leader's: all
        (conv("INTRADAY", "CNC", "LONG", 4, 10), 20, 1, 8),  # 40 %
        (conv("INTRADAY", "CNC", "LONG", 4, 10), 0, 1, 0),  # nothing held
        (conv("INTRADAY", "CNC", "LONG", 4, 10), -5, 1, 0),  # held the other way
        (conv("MARGIN", "INTRADAY", "SHORT", 15, 20), -40, 1, 30),
        (conv("MARGIN", "INTRADAY", "SHORT", 650, 1300), -975, 65, 455),
    ],
)
def test_follower_quantity(
    conversion: Conversion, follower_net: int, lot: int, expected: int
) -> None:
    assert follower_quantity(conversion, follower_net, lot) == expected


def test_the_ident_is_stable_and_differs_by_when_it_was_seen() -> None:
    c = conv("INTRADAY", "CNC", "LONG", 10, 10)
    assert c.ident("t1") == c.ident("t1")
    assert c.ident("t1") != c.ident("t2")
    assert len(c.ident("t1")) == 16
