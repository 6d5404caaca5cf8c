"""``check_invariants``: a copy the broker refused for the follower's funds is ``refused`` (by
design), not lost or wrong; any other missing or different copy still is."""

from __future__ import annotations

from typing import Any

import pytest

from copytrader.chaos import check_invariants
from store.states import IntentState
from tests.unit.operate.test_book_diff import intent
from tests.unit.operate.test_checker import ANA, copy_of, row

FUNDS = "RMS:Margin Exceeds: You have insufficient funds. Required margin 640.00"
TRADED = row("L1", "TRADED", orderType="MARKET", requestedOrderType="MARKET", filledQty=2)
PENDING = row("L1", quantity=5)  # the leader raised its resting order to 5: the copy wants 10


def rejected(message: str) -> dict[str, Any]:
    return copy_of(
        "L1",
        orderStatus="REJECTED",
        orderType="MARKET",
        requestedOrderType="MARKET",
        quantity=4,
        omsErrorDescription=message,
    )


@pytest.mark.parametrize(
    ("leader", "book", "state", "error", "counts"),
    [
        # the place refused as an error (DH-906): no order, the journal says why
        pytest.param(TRADED, [], IntentState.REJECTED, FUNDS, (1, 0, 0), id="place-error"),
        pytest.param(TRADED, [], IntentState.REJECTED, "RMS: price band", (0, 1, 0), id="other"),
        # the place refused as a REJECTED order in the book
        pytest.param(TRADED, [rejected(FUNDS)], IntentState.REJECTED, FUNDS, (1, 0, 0), id="rms"),
        pytest.param(
            TRADED, [rejected("price band")], IntentState.REJECTED, None, (0, 0, 1), id="rms-other"
        ),
        # a modify that raised the quantity refused: the copy stays at 4
        pytest.param(
            PENDING, [copy_of("L1", quantity=4)], IntentState.WORKING, FUNDS, (1, 0, 0), id="mod"
        ),
        pytest.param(
            PENDING, [copy_of("L1", quantity=4)], IntentState.WORKING, None, (0, 0, 1), id="stale"
        ),
    ],
)
def test_refused_for_funds_is_by_design(
    leader: dict[str, Any],
    book: list[dict[str, Any]],
    state: IntentState,
    error: str | None,
    counts: tuple[int, int, int],
) -> None:
    journal = [intent("ana", "L1", state, quantity=4, error_message=error, broker_order_id=None)]
    report = check_invariants([leader], {"ana": book}, [ANA], journal, 0)
    assert (report.refused, report.lost, report.wrong) == counts, report.render()
