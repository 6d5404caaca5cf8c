"""The order request the wire-layer tests send: a 1-share MARKET buy, INTRADAY, NSE_EQ."""

from __future__ import annotations

from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType, Validity
from dhan.models import OrderRequest

CID = "Eabc-0123456789abcdef"


def market_buy(security_id: str = "11536", cid: str | None = CID) -> OrderRequest:
    return OrderRequest(
        TransactionType.BUY,
        ExchangeSegment.NSE_EQ,
        ProductType.INTRADAY,
        OrderType.MARKET,
        Validity.DAY,
        security_id,
        1,
        correlation_id=cid,
    )
