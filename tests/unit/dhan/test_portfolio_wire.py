"""``POST /positions/convert`` and ``GET /holdings`` on the wire (dhan/models.py)."""

from __future__ import annotations

import pytest

from dhan.codes import ExchangeSegment, PositionType, ProductType
from dhan.models import ConvertRequest, Holding


def test_a_conversion_request_has_dhans_keys() -> None:
    req = ConvertRequest(
        ProductType.INTRADAY, ProductType.CNC, ExchangeSegment.NSE_EQ, PositionType.LONG, "1333", 5
    )
    assert req.to_wire() == {
        "fromProductType": "INTRADAY",
        "toProductType": "CNC",
        "exchangeSegment": "NSE_EQ",
        "positionType": "LONG",
        "securityId": "1333",
        "convertQty": 5,
    }


@pytest.mark.parametrize("qty", [0, -1])
def test_a_conversion_of_nothing_is_refused_before_it_is_sent(qty: int) -> None:
    with pytest.raises(ValueError):
        ConvertRequest(
            ProductType.INTRADAY,
            ProductType.CNC,
            ExchangeSegment.NSE_EQ,
            PositionType.LONG,
            "1333",
            qty,
        )


def test_a_holding_row_reads_its_quantities() -> None:
    row = Holding.from_wire(
        {"exchange": "ALL", "securityId": "1333", "totalQty": 100, "availableQty": 90, "t1Qty": 10}
    )
    assert (row.security_id, row.total_qty, row.available_qty, row.t1_qty) == ("1333", 100, 90, 10)
