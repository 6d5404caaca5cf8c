"""A failed broker call -> the journal move and the follow-up, row by row (``send_outcomes``)."""

from __future__ import annotations

import pytest

from actors.messages import Action
from actors.send_outcomes import (
    CANCEL_SENT,
    FailedSend,
    FollowUp,
    after_failed_send,
    after_refused_change,
)
from dhan import errors
from dhan.codes import OrderStatus
from dhan.models import Order
from store.records import Intent, TransitionRequest
from store.states import IntentState

from .copies import intent, order

S = IntentState
F = FollowUp
P, M, C = Action.PLACE, Action.MODIFY, Action.CANCEL

TIMEOUT = errors.OutcomeUnknown("read timed out", http_status=None)
HTTP_502 = errors.OutcomeUnknown("bad gateway", code="DH-908", http_status=502)
GARBLED = errors.BadResponse("no orderId in the answer", http_status=200)
REFUSED = errors.NotSent("connection refused")
THROTTLED = errors.RateLimited("too many requests", code="DH-904", http_status=429)
THROTTLED_NO_CODE = errors.RateLimited("too many requests", http_status=429)
TOKEN = errors.AuthError("invalid token", code="DH-901", http_status=401)
STATIC_IP = errors.StaticIpRefused("not the static IP", code="DH-905", http_status=400)
RMS = errors.OrderError("insufficient funds " + "x" * 600, code="DH-906", http_status=400)
INPUT = errors.InputError("bad price", code="DH-905", http_status=400)


@pytest.mark.parametrize(
    ("action", "exc", "expected"),
    [
        # sent, no definite answer: UNKNOWN, looked up later (a cancel's lookup checks overtaking)
        (P, TIMEOUT, FailedSend(S.UNKNOWN, F.LOOK_UP_LATER, None, str(TIMEOUT))),
        (M, HTTP_502, FailedSend(S.UNKNOWN, F.LOOK_UP_LATER, "DH-908", str(HTTP_502))),
        (P, GARBLED, FailedSend(S.UNKNOWN, F.LOOK_UP_LATER, None, str(GARBLED))),
        (
            C,
            TIMEOUT,
            FailedSend(
                S.UNKNOWN,
                F.LOOK_UP_LATER,
                None,
                str(TIMEOUT),
                reason=f"{CANCEL_SENT}; its outcome is unknown",
            ),
        ),
        # never left: back where it was, sent again by the next pass
        (P, REFUSED, FailedSend(S.PLANNED, F.NONE, None, str(REFUSED))),
        (M, REFUSED, FailedSend(S.WORKING, F.NONE, None, str(REFUSED))),
        (C, REFUSED, FailedSend(S.WORKING, F.NONE, None, str(REFUSED))),
        # throttled: back, and the limiter is told
        (P, THROTTLED, FailedSend(S.PLANNED, F.THROTTLED, "DH-904")),
        (C, THROTTLED_NO_CODE, FailedSend(S.WORKING, F.THROTTLED, "DH-904")),
        # the account's token or address refused: back, and the follower pauses
        (P, TOKEN, FailedSend(S.PLANNED, F.PAUSE_FOR_TOKEN, "DH-901")),
        (M, TOKEN, FailedSend(S.WORKING, F.PAUSE_FOR_TOKEN, "DH-901")),
        (P, STATIC_IP, FailedSend(S.PLANNED, F.PAUSE_FOR_SOURCE_ADDRESS, "DH-905")),
        (C, STATIC_IP, FailedSend(S.WORKING, F.PAUSE_FOR_SOURCE_ADDRESS, "DH-905")),
        # any other refusal: a place is REJECTED, a modify / cancel reads the order first
        (P, RMS, FailedSend(S.REJECTED, F.NONE, "DH-906", RMS.message[:500])),
        (P, INPUT, FailedSend(S.REJECTED, F.NONE, "DH-905", "bad price")),
        (M, RMS, FailedSend(None, F.CHECK_ORDER)),
        (C, INPUT, FailedSend(None, F.CHECK_ORDER)),
    ],
)
def test_a_failed_call_moves_the_intent_as_the_error_says_it_could_have_reached_dhan(
    action: Action, exc: errors.DhanError, expected: FailedSend
) -> None:
    assert after_failed_send(action, exc) == expected


def test_an_error_message_kept_in_the_journal_is_cut_to_500_characters() -> None:
    failed = after_failed_send(Action.PLACE, RMS)
    assert failed.error_message is not None and len(failed.error_message) == 500


W = intent(S.MODIFYING, applied_version=1, desired_version=2, filled_qty=0)
CANCELLING = intent(S.CANCELLING, applied_version=1, desired_version=2)


@pytest.mark.parametrize(
    ("row", "action", "found", "expected"),
    [
        # the order could not be read: WORKING with the refusal, nothing else learned; a
        # refused modify is not tried again for this version, a refused cancel is
        (
            W,
            M,
            None,
            TransitionRequest(
                intent_id=1,
                to=S.WORKING,
                expect_from=S.MODIFYING,
                applied_version=2,
                error_code="DH-905",
                error_message="bad price",
            ),
        ),
        (
            CANCELLING,
            C,
            None,
            TransitionRequest(
                intent_id=1,
                to=S.WORKING,
                expect_from=S.CANCELLING,
                applied_version=1,
                error_code="DH-905",
                error_message="bad price",
            ),
        ),
        # still open with a fill: WORKING with what it filled (the next step may be a cancel)
        (
            W,
            M,
            order(OrderStatus.PART_TRADED, filled_qty=6),
            TransitionRequest(
                intent_id=1,
                to=S.WORKING,
                expect_from=S.MODIFYING,
                applied_version=2,
                error_code="DH-905",
                error_message="bad price",
                filled_qty=6,
                broker_status=OrderStatus.PART_TRADED,
            ),
        ),
        # it ended meanwhile: settled from the broker's view, the refusal kept as the record
        # of why the copy kept its old price (the content check reads it)
        (
            CANCELLING,
            C,
            order(OrderStatus.TRADED, filled_qty=10),
            TransitionRequest(
                intent_id=1,
                to=S.DONE,
                expect_from=S.CANCELLING,
                broker_order_id="B-1",
                broker_status=OrderStatus.TRADED,
                filled_qty=10,
                applied_version=2,  # the order carries the desired price,
                error_code="DH-905",
                error_message="bad price",
            ),
        ),
    ],
)
def test_a_refused_modify_or_cancel_is_settled_by_what_the_order_shows(
    row: Intent, action: Action, found: Order | None, expected: TransitionRequest
) -> None:
    assert after_refused_change(row, action, INPUT, found) == expected
