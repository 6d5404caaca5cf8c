"""A position's realized P&L and margin, computed inline for speed, equal their definitions in
terms of the position's averages exactly (the same floats, not just close ones)."""

from __future__ import annotations

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
