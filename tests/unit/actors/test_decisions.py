"""The follower's decision table, row by row (docs/architecture.md)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from actors.decisions import Step, next_step
from actors.messages import Action
from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType, Validity
from store.records import Intent
from store.states import IntentState

NOW = datetime(2026, 11, 26, tzinfo=UTC)


def intent(state: IntentState, **fields: object) -> Intent:
    base = Intent(
        id=1,
        follower="f",
        leader_order_id="L-1",
        leg="",
        correlation_id="cid",
        transaction_type=TransactionType.BUY,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=ProductType.INTRADAY,
        order_type=OrderType.LIMIT,
        security_id="1333",
        quantity=10,
        validity=Validity.DAY,
        price=1500.0,
        trigger_price=0.0,
        bo_profit_value=None,
        bo_stop_loss_value=None,
        target_price=None,
        stop_loss_price=None,
        trailing_jump=None,
        desired_open=True,
        skip_reason=None,
        state=state,
        desired_version=1,
        applied_version=1,
        broker_order_id="B-1",
        broker_status=None,
        filled_qty=0,
        modifications=0,
        attempts=0,
        error_code=None,
        error_message=None,
        state_reason=None,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(base, **fields)  # type: ignore[arg-type]  # test data by keyword


S = IntentState


@pytest.mark.parametrize(
    ("row", "stale", "sent", "expected"),
    [
        (intent(S.PLANNED, broker_order_id=None), False, False, Action.PLACE),
        (intent(S.PLANNED, desired_open=False, quantity=0), False, False, Step.FINISH),
        (intent(S.SENDING, broker_order_id=None), False, False, Action.PLACE),
        (intent(S.SENDING, quantity=0, desired_open=False), False, False, Step.FINISH),
        (intent(S.SENDING), False, True, Step.LOOKUP),  # sent by us: never sent twice
        (intent(S.SENDING), True, False, Step.LOOKUP),  # found at start: maybe sent
        (intent(S.MODIFYING), False, False, Step.LOOKUP),
        (intent(S.CANCELLING), False, False, Step.LOOKUP),
        (intent(S.UNKNOWN), False, False, Step.LOOKUP),
        (intent(S.WORKING, desired_open=False), False, False, Action.CANCEL),
        (intent(S.WORKING, filled_qty=10, quantity=8), False, False, Action.CANCEL),
        (intent(S.WORKING, desired_version=2), False, False, Action.MODIFY),
        (intent(S.WORKING, desired_version=2, modifications=25), False, False, Step.GIVE_UP_MODIFY),
        (intent(S.WORKING), False, False, None),
        (intent(S.DONE), False, False, None),
        (intent(S.REJECTED), False, False, None),
    ],
    ids=lambda v: str(v) if isinstance(v, (Action, Step, bool)) or v is None else v.state,
)
def test_each_row_of_the_decision_table(
    row: Intent, stale: bool, sent: bool, expected: Action | Step | None
) -> None:
    assert next_step(row, stale=stale, sent=sent) == expected
