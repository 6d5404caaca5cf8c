"""``check_invariants``: a copy the broker refused for the follower's funds is ``refused`` (by
design), not lost or wrong; any other missing or different copy still is. An exit the engine's
sizing skipped (nothing to close) is ``skipped`` when its basis agrees, wrong when not."""

from __future__ import annotations

from typing import Any

import pytest

from actors.exit_sizing import NOTHING_TO_CLOSE
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


SOLD = row(
    "L1",
    "TRADED",
    transactionType="SELL",
    orderType="MARKET",
    requestedOrderType="MARKET",
    quantity=10,
    filledQty=10,
)


@pytest.mark.parametrize(
    ("bases", "skip", "counts"),
    [
        # the leader closed 10; ana held nothing: no copy is the rule
        pytest.param({"leader": 10, "ana": 0}, NOTHING_TO_CLOSE, (1, 0, 0), id="nothing-held"),
        # ... but ana held 4 at the order's first sight: the skip was wrong
        pytest.param({"leader": 10, "ana": 4}, NOTHING_TO_CLOSE, (0, 1, 0), id="held-4"),
        # no intent at all: lost
        pytest.param({"leader": 10, "ana": 4}, None, (0, 0, 1), id="no-intent"),
    ],
)
def test_an_exit_skipped_by_the_rules_is_judged_against_its_basis(
    bases: dict[str, int], skip: str | None, counts: tuple[int, int, int]
) -> None:
    journal = []
    if skip is not None:
        journal = [
            intent(
                "ana",
                "L1",
                IntentState.SKIPPED,
                quantity=0,
                skip_reason=skip,
                broker_order_id=None,
                desired_open=False,
            )
        ]
    report = check_invariants([SOLD], {"ana": []}, [ANA], journal, 0, exit_bases=lambda oid: bases)
    assert (report.skipped, report.wrong, report.lost) == counts, report.render()
