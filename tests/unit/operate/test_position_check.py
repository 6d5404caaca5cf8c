"""``copytrader.checker.check_positions``: the broker's fills -> reversed / over-closed / drift.

Each row is the leader's plain fills and one follower's copy fills (in time order, named by
the leader order they copy), the copies the broker never took (``refused``), and the counts.
"""

from __future__ import annotations

from typing import Any

import pytest

from copytrader.checker import (
    CheckResult,
    Fill,
    PositionResult,
    check_positions,
    copy_linker,
    is_plain,
    plain_fills,
)
from copytrader.config import FollowerConfig, Secret, SizingConfig, SizingMode
from dhan.correlation import correlation_id_for
from dhan.models import Trade

A = ("NSE_EQ", "1333", "INTRADAY")
B = ("NSE_EQ", "2885", "INTRADAY")


def follower(mode: SizingMode, value: float) -> FollowerConfig:
    sizing = (
        SizingConfig(mode=mode, multiplier=value)
        if mode is SizingMode.MULTIPLIER
        else SizingConfig(mode=mode, quantity=int(value))
    )
    return FollowerConfig(
        name="ana", client_id="1600000001", access_token=Secret("tok-ana"), sizing=sizing
    )


X1 = follower(SizingMode.MULTIPLIER, 1.0)
X2 = follower(SizingMode.MULTIPLIER, 2.0)
X15 = follower(SizingMode.MULTIPLIER, 1.5)
FIXED3 = follower(SizingMode.FIXED, 3)


def fills(*rows: tuple[str, int] | tuple[str, int, tuple[str, str, str]]) -> list[Fill]:
    return [Fill(r[0], r[2] if len(r) == 3 else A, r[1]) for r in rows]  # type: ignore[misc]


ROUND_TRIP = fills(("L1", 10), ("L2", -10))
FLIP = fills(("L1", 10), ("L2", -20))


@pytest.mark.parametrize(
    ("leader", "copies", "cfg", "refused", "expected"),
    [
        pytest.param(ROUND_TRIP, fills(("L1", 10), ("L2", -10)), X1, (), (0, 0, 0), id="mirror"),
        # the danger: the entry was rejected, the exit sold anyway (today's copying)
        pytest.param(ROUND_TRIP, fills(("L2", -10)), X1, {"L1"}, (1, 1, 1), id="short-flat"),
        # ... and under the exit rule: nothing to close, nothing sold
        pytest.param(ROUND_TRIP, [], X1, {"L1"}, (0, 0, 0), id="rejected-entry-ok"),
        # fixed 3: two exits of 5 copied as 3 each (today) over-close the second
        pytest.param(
            fills(("L1", 10), ("L2", -5), ("L3", -5)),
            fills(("L1", 3), ("L2", -3), ("L3", -3)),
            FIXED3,
            (),
            (1, 1, 1),
            id="fixed-exits-today",
        ),
        # ... and under the exit rule: floor(3 * 5/10) = 1, then all that is left
        pytest.param(
            fills(("L1", 10), ("L2", -5), ("L3", -5)),
            fills(("L1", 3), ("L2", -1), ("L3", -2)),
            FIXED3,
            (),
            (0, 0, 0),
            id="fixed-exits-rule",
        ),
        # a flip: close all + a scaled entry of the rest, through zero with the leader
        pytest.param(FLIP, fills(("L1", 20), ("L2", -40)), X2, (), (0, 0, 0), id="flip"),
        # a flip after a rejected entry: the new side's entry only
        pytest.param(FLIP, fills(("L2", -10)), X1, {"L1"}, (0, 0, 0), id="flip-no-entry"),
        # ... copied as the leader's 20 (today): on the leader's side, but 10 too short
        pytest.param(FLIP, fills(("L2", -20)), X1, {"L1"}, (0, 0, 1), id="flip-too-big"),
        # the flip refused: left long while the leader is short, explained: not reversed
        pytest.param(FLIP, fills(("L1", 10)), X1, {"L2"}, (0, 0, 0), id="flip-refused"),
        # ... but not refused (the copy is at the broker, unfilled): drift says so
        pytest.param(FLIP, fills(("L1", 10)), X1, (), (0, 0, 1), id="flip-unfilled"),
        # x1.5: entries of 1 and 1 are 1 each; a close of 2 sold as floor(3) over-closes
        pytest.param(
            fills(("L1", 1), ("L2", 1), ("L3", -2)),
            fills(("L1", 1), ("L2", 1), ("L3", -3)),
            X15,
            (),
            (1, 1, 1),
            id="rounding-today",
        ),
        pytest.param(
            fills(("L1", 1), ("L2", 1), ("L3", -2)),
            fills(("L1", 1), ("L2", 1), ("L3", -2)),
            X15,
            (),
            (0, 0, 0),
            id="rounding-rule",
        ),
        # x1.5 partial exit: floor(15 * 4/10) = 6 of the follower's 15
        pytest.param(
            fills(("L1", 10), ("L2", -4)),
            fills(("L1", 15), ("L2", -6)),
            X15,
            (),
            (0, 0, 0),
            id="proportional",
        ),
        # a copy filled where the leader's order never did
        pytest.param(
            fills(("L1", 10)), fills(("L1", 10), ("L9", -15)), X1, (), (1, 1, 1), id="ghost"
        ),
        # an over-close the leader's later short entry joins: counted, not reversed (20 vs 10)
        pytest.param(
            fills(("L1", 10), ("L2", -10), ("L3", -10)),
            fills(("L2", -10), ("L3", -10)),
            X1,
            {"L1"},
            (1, 0, 1),
            id="over-close-healed",
        ),
        # positions are per key: a short entry on B is not an exit of A
        pytest.param(
            fills(("L1", 10, A), ("L2", -10, B)),
            fills(("L1", 10, A), ("L2", -10, B)),
            X1,
            (),
            (0, 0, 0),
            id="two-keys",
        ),
        # a sell of B counted against A's long would be a reversed B
        pytest.param(
            fills(("L1", 10, A), ("L2", 10, B), ("L3", -10, B)),
            fills(("L1", 10, A), ("L3", -10, B)),
            X1,
            {"L2"},
            (1, 1, 1),
            id="key-b-short",
        ),
    ],
)
def test_counts_from_fills(
    leader: list[Fill],
    copies: list[Fill],
    cfg: FollowerConfig,
    refused: Any,
    expected: tuple[int, int, int],
) -> None:
    result = check_positions(leader, {"ana": copies}, [cfg], refused={"ana": refused})
    assert (result.over_closed, result.reversed, result.drift) == expected, result.problems
    assert result.bad == sum(expected)
    assert len(result.problems) == sum(expected)


def test_a_capital_follower_gets_no_drift_but_is_still_judged_for_reversal() -> None:
    capital = FollowerConfig(
        name="ana",
        client_id="1600000001",
        access_token=Secret("tok-ana"),
        sizing=SizingConfig(mode=SizingMode.CAPITAL),
    )
    result = check_positions(ROUND_TRIP, {"ana": fills(("L1", 7), ("L2", -9))}, [capital])
    assert (result.over_closed, result.reversed, result.drift) == (1, 1, 0)
    assert result.line() == "reversed=1 over_closed=1 drift=0"


def test_a_follower_lot_size_rounds_the_proportional_close() -> None:
    fno = ("NSE_FNO", "35001", "MARGIN")
    leader = fills(("L1", 100, fno), ("L2", -30, fno))
    # x1 in lots of 25: 100 -> 100; 30 of 100 is 30 -> one lot of 25
    right = fills(("L1", 100, fno), ("L2", -25, fno))
    result = check_positions(leader, {"ana": right}, [X1], lot_sizes={("NSE_FNO", "35001"): 25})
    assert result.bad == 0, result.problems
    wrong = fills(("L1", 100, fno), ("L2", -30, fno))
    result = check_positions(leader, {"ana": wrong}, [X1], lot_sizes={("NSE_FNO", "35001"): 25})
    assert (result.drift, result.over_closed) == (1, 0)


def trade(oid: str, side: str, qty: int, product: str = "INTRADAY") -> Trade:
    return Trade.from_wire(
        {
            "orderId": oid,
            "transactionType": side,
            "exchangeSegment": "NSE_EQ",
            "securityId": "1333",
            "tradedQuantity": qty,
            "tradedPrice": 1600.0,
            "productType": product,
        },
        "test",
    )


def row(oid: str, **kw: Any) -> dict[str, Any]:
    return {"orderId": oid, "productType": "INTRADAY", "kind": "PLAIN", "legName": None, **kw}


@pytest.mark.parametrize(
    ("rows", "plain"),
    [
        ([row("1")], True),
        ([row("1", productType="CNC", kind=None)], True),
        ([row("1", productType="CO", kind="CO_ENTRY")], False),
        ([row("1", kind="SUPER_ENTRY")], False),
        ([row("1", kind=None, legName="ENTRY_LEG")], False),
        ([row("1", kind=None, superOrder={"orderId": "1"})], False),
        ([row("1", kind=None, productType="BO")], False),
    ],
)
def test_only_plain_orders_of_plain_products_count(rows: list[dict[str, Any]], plain: bool) -> None:
    assert is_plain(rows) is plain


def test_fills_of_a_follower_are_named_by_the_leader_order_their_copy_copies() -> None:
    first = correlation_id_for("ana", "L1")
    book = [
        row("F1", correlationId=first),
        row("F2", correlationId=correlation_id_for("ana", "L2", generation=1)),
        row("F3", correlationId=None),  # not a copy
        row("F4", correlationId=correlation_id_for("ana", "L3"), kind="SUPER_ENTRY"),
    ]
    trades = [
        trade("F1", "BUY", 4),
        trade("F3", "BUY", 1),
        trade("F2", "SELL", 2),
        trade("F4", "BUY", 9),
        trade("F1", "BUY", 1),
        trade("F9", "BUY", 5),  # an order the book does not show
    ]
    got = plain_fills(trades, book, copy_linker("ana", ["L1", "L2", "L3"]))
    assert got == [Fill("L1", A, 4), Fill("L2", A, -2), Fill("L1", A, 1)]
    assert plain_fills([trade("7", "SELL", 3)], [row("7")]) == [Fill("7", A, -3)]


def test_a_check_result_shows_the_positions_counts_once_they_are_checked() -> None:
    result = CheckResult(ok=2)
    assert result.line().endswith("wrong=0") and result.bad == 0  # reconcile: not checked
    result.add_positions(PositionResult(reversed=1, over_closed=2, drift=0, problems=["p"]))
    assert result.line().endswith("wrong=0 reversed=1 over_closed=2 drift=0")
    assert (result.bad, result.problems) == (3, ["p"])
