"""Margin the simulated RMS blocks for an order, and holds for an open position.

A deliberately simple, documented model (``docs/simulator.md``): a fraction of the notional per
product; option buyers pay the full premium, option writers a fraction of the strike notional.
An order that only reduces an existing position needs no margin.
"""

from __future__ import annotations

from dhan.codes import ProductType, TransactionType
from dhansim.instruments import Instrument

#: Fraction of notional blocked, per product.
MARGIN_FRACTION: dict[ProductType, float] = {
    ProductType.CNC: 1.0,
    ProductType.MTF: 0.5,
    ProductType.INTRADAY: 0.2,
    ProductType.MARGIN: 0.15,
    ProductType.CO: 0.1,
    ProductType.BO: 0.1,
}
OPTION_WRITER_FRACTION = 0.15


def margin_per_unit(
    inst: Instrument, product: ProductType, txn: TransactionType, price: float
) -> float:
    """Margin per unit of quantity for an opening order at ``price``."""
    if inst.is_option:
        if txn is TransactionType.BUY:
            return price
        return max(inst.strike_price, price) * OPTION_WRITER_FRACTION
    return price * MARGIN_FRACTION[product]
