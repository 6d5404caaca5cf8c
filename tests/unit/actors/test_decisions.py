"""The follower's decision table, row by row (docs/architecture.md)."""

from __future__ import annotations

import pytest

from actors.decisions import Step, next_step
from actors.messages import Action
from store.records import Intent
from store.states import IntentState
from tests.unit.actors import copies


def intent(state: IntentState, **fields: object) -> Intent:
    """The follower's copy (``tests/unit/actors/copies.py``), desired version 1 applied, no
    broker status yet: the decision tables set what each row is about."""
    defaults: dict[str, object] = {
        "correlation_id": "cid",
        "desired_version": 1,
        "broker_status": None,
        "attempts": 0,
    }
    return copies.intent(state, **(defaults | fields))


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
