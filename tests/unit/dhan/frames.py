"""Order-update frames as Dhan documents them, for the socket client's tests."""

from __future__ import annotations

import json
from typing import Any

#: The documented ``order_alert`` sample (PascalCase), as a Data dict.
SAMPLE_DATA: dict[str, Any] = {
    "Exchange": "NSE",
    "Segment": "E",
    "Source": "P",
    "SecurityId": "14366",
    "ClientId": "1100000001",
    "ExchOrderNo": "1400000000404591",
    "OrderNo": "1124091136546",
    "Product": "C",
    "TxnType": "B",
    "OrderType": "LMT",
    "Validity": "DAY",
    "DiscQuantity": 1,
    "DiscQtyRem": 1,
    "RemainingQuantity": 1,
    "Quantity": 1,
    "TradedQty": 0,
    "Price": 13,
    "TriggerPrice": 0,
    "TradedPrice": 0,
    "AvgTradedPrice": 0,
    "AlgoOrdNo": "",
    "OffMktFlag": "0",
    "OrderDateTime": "2024-09-11 14:39:29",
    "ExchOrderTime": "2024-09-11 14:39:29",
    "LastUpdatedTime": "2024-09-11 14:39:29",
    "Remarks": "NR",
    "MktType": "NL",
    "ReasonDescription": "CONFIRMED",
    "LegNo": 1,
    "Instrument": "EQUITY",
    "Symbol": "IDEA",
    "ProductName": "CNC",
    "Status": "Cancelled",
    "LotSize": 1,
    "StrikePrice": 0,
    "ExpiryDate": "0001-01-01 00:00:00",
    "OptType": "XX",
    "DisplayName": "Vodafone Idea",
    "Isin": "INE669E01016",
    "Series": "EQ",
    "GoodTillDaysDate": "2024-09-11",
    "RefLtp": 13.08,
    "TickSize": 0.01,
    "AlgoId": "0",
    "Multiplier": 1,
    "CorrelationId": "Eabc-0123456789abcdef",
}


def alert(data: dict[str, Any] | None = None, **changes: Any) -> str:
    """An ``order_alert`` frame: ``data`` (default: the sample) with ``changes`` applied."""
    body = dict(SAMPLE_DATA if data is None else data)
    body.update(changes)
    return json.dumps({"Data": body, "Type": "order_alert"})


def with_camel_case_duplicates(**conflicting: Any) -> str:
    """The 2026 sample: camelCase duplicates first, then the PascalCase keys."""
    camel = {
        "series": "EQ",
        "goodTillDaysDate": "2024-09-11",
        "instrumentType": "EQUITY",
        "refLtp": 13.08,
        "tickSize": 0.01,
        "algoId": "0",
        "multiplier": 1,
    }
    camel.update(conflicting)
    return json.dumps({"Data": camel | SAMPLE_DATA, "Type": "order_alert"})
