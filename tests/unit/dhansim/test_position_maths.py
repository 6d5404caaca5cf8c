"""A position's realized P&L and margin, computed inline for speed, equal their definitions in
terms of the position's averages exactly (the same floats, not just close ones)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dhan.codes import ProductType, TransactionType
from dhansim.account import Position
from dhansim.instruments import InstrumentMaster
from dhansim.margin import margin_per_unit

INSTRUMENTS = list(InstrumentMaster())

fills = st.lists(
    st.tuples(
        st.sampled_from(TransactionType),
        st.integers(1, 5000),
        st.floats(min_value=0.05, max_value=1e6, allow_nan=False),
    ),
    max_size=8,
)


@given(st.sampled_from(INSTRUMENTS), st.sampled_from(ProductType), fills)
def test_realized_and_margin_follow_their_definitions(inst, product, trades):
    position = Position(inst, product)
    for txn, qty, price in trades:
        position.apply(txn, qty, price)
    matched = min(position.buy_qty, position.sell_qty)
    realized = matched * (position.sell_avg - position.buy_avg) if matched else 0.0
    net = position.net_qty
    txn = TransactionType.BUY if net > 0 else TransactionType.SELL
    margin = abs(net) * margin_per_unit(inst, product, txn, position.cost_price) if net else 0.0
    assert position.realized == realized
    assert position.margin() == margin


HDFC = next(i for i in INSTRUMENTS if i.security_id == "1333")
NIFTY_FUT = next(i for i in INSTRUMENTS if i.security_id == "52175")
B, S = TransactionType.BUY, TransactionType.SELL


@pytest.mark.parametrize(
    ("held", "carried", "trades", "expected"),
    [
        # CNC holdings of 100 at 900, 40 sold at 990: the sale closes holdings, nothing open
        ((100, 900.0), 0, [(S, 40, 990.0)], (-40, 40, 0, 60, 3600.0, 0.0, 0.0)),
        # 15 sold against 10 held: 5 are a short (margin, unrealised P&L at LTP 990)
        ((10, 900.0), 0, [(S, 15, 1000.0)], (-15, 10, -5, -5, 1000.0, 50.0, 5000.0)),
        # a day buy is sold first, then holdings: 5 x 50 + 7 x 100
        ((10, 900.0), 0, [(B, 5, 950.0), (S, 12, 1000.0)], (-7, 7, 0, 3, 950.0, 0.0, 0.0)),
        # no holdings: a plain CNC long bought today
        ((0, 0.0), 0, [(B, 5, 950.0)], (5, 0, 5, 5, 0.0, 200.0, 4750.0)),
        # a carried long of 2 lots, one sold today at 200 over its average
        ((0, 0.0), 130, [(S, 65, 25000.0)], (65, 0, 65, 65, 13000.0, 6500.0, 65 * 3720.0)),
        # a carried short of one lot, covered today
        ((0, 0.0), -65, [(B, 65, 24700.0)], (0, 0, 0, 0, 6500.0, 0.0, 0.0)),
    ],
)
def test_holdings_and_carried_quantities_in_a_position(
    held: tuple[int, float],
    carried: int,
    trades: list[tuple[TransactionType, int, float]],
    expected: tuple[int, int, int, int, float, float, float],
):
    """(netQty, holdings sold, open, sellable long, realised, unrealised at LTP, margin)."""
    if carried:
        position = Position(NIFTY_FUT, ProductType.MARGIN)
        position.carry(carried, 24800.0)
        ltp = 24900.0
    else:
        position = Position(HDFC, ProductType.CNC, held_qty=held[0], held_cost=held[1])
        ltp = 990.0
    for txn, qty, price in trades:
        position.apply(txn, qty, price)
    got = (
        position.net_qty,
        position.holdings_sold,
        position.open_qty,
        position.sellable_long,
        round(position.realized, 6),
        round(position.unrealized(ltp), 6),
        round(position.margin(), 6),
    )
    assert got == expected
    shown = position.to_json("1", ltp)
    assert shown["carryForwardBuyQty"] + shown["dayBuyQty"] == shown["buyQty"]
    assert shown["carryForwardSellQty"] + shown["daySellQty"] == shown["sellQty"]
