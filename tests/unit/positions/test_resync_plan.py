"""The resync plan, pure: exits first, whole lots, never past flat, ids of their own."""

from __future__ import annotations

import pytest

from copytrader.positions import (
    RESYNC_PREFIX,
    DriftRow,
    Held,
    broker_holdings,
    is_resync_id,
    key_steps,
    plannable,
    resync_correlation_id,
    resync_plan,
)
from dhan.correlation import correlation_id_for, is_valid_correlation_id
from dhan.models import Holding, Position
from store.records import PositionKey

EQ = PositionKey("NSE_EQ", "1333", "INTRADAY")
CNC = PositionKey("NSE_EQ", "1333", "CNC")
FNO = PositionKey("NSE_FNO", "43225", "MARGIN")


@pytest.mark.parametrize(
    ("actual", "expected", "lot", "steps"),
    [
        (15, 10, 1, [("SELL", 5, True)]),  # too long: reduce
        (5, 10, 1, [("BUY", 5, False)]),  # too short of long: add
        (10, 10, 1, []),  # no drift
        (10, 0, 1, [("SELL", 10, True)]),  # expected flat: close all
        (-10, 0, 1, [("BUY", 10, True)]),
        (10, -5, 1, [("SELL", 10, True), ("SELL", 5, False)]),  # reversed: flat, then short
        (-10, 20, 1, [("BUY", 10, True), ("BUY", 20, False)]),
        (0, -5, 1, [("SELL", 5, False)]),  # nothing held: an entry
        (-3, -10, 1, [("SELL", 7, False)]),
        (-10, -3, 1, [("BUY", 7, True)]),
        (150, 100, 50, [("SELL", 50, True)]),  # in lots
        (120, 100, 50, []),  # less than a lot of difference: nothing
        (100, 175, 50, [("BUY", 50, False)]),  # 1.5 lots short: one lot
        (100, -50, 50, [("SELL", 100, True), ("SELL", 50, False)]),
    ],
)
def test_key_steps(
    actual: int, expected: int, lot: int, steps: list[tuple[str, int, bool]]
) -> None:
    assert key_steps(actual, expected, lot) == steps


def test_the_plan_places_every_exit_before_any_entry() -> None:
    rows = [
        DriftRow("f", EQ, 1, 0, 10, 5),  # entry BUY 5
        DriftRow("f", FNO, 50, 0, 0, 100),  # exit SELL 100
        DriftRow("f", CNC, 1, 0, 3, 3),  # nothing
    ]
    plan = resync_plan(rows, "2026-12-07#0")
    assert [(o.key, o.transaction_type, o.quantity, o.exit) for o in plan] == [
        (FNO, "SELL", 100, True),
        (EQ, "BUY", 5, False),
    ]
    assert all("MARKET" in o.describe() and o.correlation_id in o.describe() for o in plan)


def test_a_row_of_unknown_lot_is_only_ever_closed() -> None:
    unknown = PositionKey("NSE_FNO", "99999", "MARGIN")
    rows = [
        DriftRow("f", unknown, 1, 0, 25, 50, lot_known=False),  # partial: not planned
        DriftRow("f", FNO, 1, 0, 0, 75, lot_known=False),  # to flat: all of it
    ]
    assert not plannable(rows[0]) and plannable(rows[1])
    plan = resync_plan(rows, "r")
    assert [(o.key, o.transaction_type, o.quantity) for o in plan] == [(FNO, "SELL", 75)]


def test_a_step_above_the_freeze_quantity_goes_in_pieces_each_with_its_own_id() -> None:
    rows = [DriftRow("f", FNO, 50, 0, 0, 2000)]  # 40 lots to close
    plan = resync_plan(rows, "r", {"NSE_FNO:43225": 900})  # at most 18 lots an order
    assert [(o.transaction_type, o.quantity, o.exit) for o in plan] == [
        ("SELL", 900, True),
        ("SELL", 900, True),
        ("SELL", 200, True),
    ]
    assert len({o.correlation_id for o in plan}) == 3
    assert plan == resync_plan(rows, "r", {"NSE_FNO:43225": 900})  # deterministic
    assert [o.quantity for o in resync_plan(rows, "r", {})] == [2000]  # unknown: one order


def test_resync_ids_are_deterministic_valid_and_never_a_copys() -> None:
    cid = resync_correlation_id("f", "2026-12-07#0", EQ, "BUY", 5)
    assert cid == resync_correlation_id("f", "2026-12-07#0", EQ, "BUY", 5)
    assert is_valid_correlation_id(cid) and cid.startswith(RESYNC_PREFIX) and is_resync_id(cid)
    others = {
        resync_correlation_id("f", "2026-12-07#1", EQ, "BUY", 5),  # a later run
        resync_correlation_id("g", "2026-12-07#0", EQ, "BUY", 5),
        resync_correlation_id("f", "2026-12-07#0", CNC, "BUY", 5),
        resync_correlation_id("f", "2026-12-07#0", EQ, "SELL", 5),
        resync_correlation_id("f", "2026-12-07#0", EQ, "BUY", 6),
    }
    assert cid not in others and len(others) == 5
    copy_id = correlation_id_for("f", "1125120712345")
    assert "_" not in copy_id and not is_resync_id(copy_id)
    assert not is_resync_id(None)


def _position(
    sid: str,
    product: str,
    net: int,
    cf_buy: int = 0,
    cf_sell: int = 0,
    day_buy: int | None = None,
    day_sell: int | None = None,
) -> Position:
    return Position.from_wire(
        {
            "securityId": sid,
            "exchangeSegment": "NSE_EQ",
            "productType": product,
            "netQty": net,
            "carryForwardBuyQty": cf_buy,
            "carryForwardSellQty": cf_sell,
            "dayBuyQty": max(net, 0) if day_buy is None else day_buy,
            "daySellQty": max(-net, 0) if day_sell is None else day_sell,
        }
    )


def _holding(exchange: str | None, security_id: str, total_qty: int) -> Holding:
    return Holding.from_wire(
        {"exchange": exchange, "securityId": security_id, "totalQty": total_qty}
    )


BSE = PositionKey("BSE_EQ", "1333", "CNC")


@pytest.mark.parametrize(
    ("positions", "holdings", "expected"),
    [
        ([_position("1333", "INTRADAY", 10)], [], {EQ: Held(10, 0)}),
        # a carried derivative-like position: net includes what was carried
        (
            [_position("1333", "INTRADAY", 5, cf_buy=8, cf_sell=2, day_buy=0, day_sell=1)],
            [],
            {EQ: Held(5, 6)},
        ),
        ([], [_holding("NSE", "1333", 20)], {CNC: Held(20, 20)}),
        ([], [_holding(None, "1333", 20)], {CNC: Held(20, 20)}),
        ([], [_holding("BSE", "1333", 20)], {BSE: Held(20, 20)}),
        # holdings sold in part today, shown as a short day position (netQty -5)
        ([_position("1333", "CNC", -5)], [_holding("NSE", "1333", 20)], {CNC: Held(15, 20)}),
        # the same sale shown as the sold holdings carried and closed (netQty 0)
        (
            [_position("1333", "CNC", 0, cf_buy=5, day_buy=0, day_sell=5)],
            [_holding("NSE", "1333", 20)],
            {CNC: Held(15, 20)},
        ),
        # CNC bought today, no holdings yet
        ([_position("1333", "CNC", 7)], [], {CNC: Held(7, 0)}),
        ([], [_holding("NSE", "1333", 0)], {}),
    ],
)
def test_broker_holdings(
    positions: list[Position], holdings: list[Holding], expected: dict[PositionKey, Held]
) -> None:
    def segment(exchange: str | None) -> str:
        return "BSE_EQ" if exchange == "BSE" else "NSE_EQ"

    assert broker_holdings(positions, holdings, segment) == expected
