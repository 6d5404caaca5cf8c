"""The follower's permit ledger: the fast path, asking the limiter, late grants and requests
the limiter lost (``actors.permits``), on real rate windows and a fake clock."""

from __future__ import annotations

import time

import pytest

from actors.messages import PERMIT_RETRY_S, STALE_GRANT_S, Action, PermitGranted, PermitRequest
from actors.names import LIMITER
from actors.permits import PermitLedger
from actors.rate_windows import AccountWindows
from supervision.registry import Registry

from .copies import intent


def ledger(windows: AccountWindows | None) -> tuple[PermitLedger, list[PermitRequest]]:
    told: list[PermitRequest] = []
    return PermitLedger("f1", "follower.f1", windows, told.append), told


def full_windows(now: float) -> AccountWindows:
    windows = AccountWindows.dhan_defaults()
    while windows.wait_s(now) == 0.0:
        windows.take(now)
    return windows


@pytest.mark.parametrize(
    ("windows", "fits"),
    [
        (None, False),  # no shared windows: always ask the limiter
        (AccountWindows.dhan_defaults(), True),
        (full_windows(100.0), False),
    ],
)
def test_a_call_goes_out_at_once_only_if_the_accounts_windows_have_room(
    windows: AccountWindows | None, fits: bool
) -> None:
    permits, told = ledger(windows)
    assert permits.fits_now(100.0, Action.PLACE) is fits
    assert told == []


def test_a_request_is_awaited_until_answered_and_its_intent_taken_once() -> None:
    permits, told = ledger(None)
    copy = intent(id=7, modifications=3)
    permits.ask(copy, Action.MODIFY)
    assert told == [
        PermitRequest(
            account="f1", reply_to="follower.f1", intent_id=7, action=Action.MODIFY, modifications=3
        )
    ]
    assert 7 in permits.awaiting
    permits.answered(7)
    assert 7 not in permits.awaiting
    assert permits.take_requested(7) == copy
    assert permits.take_requested(7) is None


def test_a_limiter_that_is_not_running_leaves_nothing_awaited() -> None:
    registry = Registry()  # no limiter registered: as while it restarts

    def tell_limiter(request: PermitRequest) -> None:
        registry.tell(LIMITER, request)

    permits = PermitLedger("f1", "follower.f1", None, tell_limiter)
    permits.ask(intent(id=7), Action.PLACE)
    assert (permits.awaiting, permits.requested) == ({}, {})


@pytest.mark.parametrize(
    ("windows", "age_s", "good"),
    [
        (None, 10.0, True),  # no windows to stamp: the limiter's grant stands
        (AccountWindows.dhan_defaults(), STALE_GRANT_S / 2, True),  # fresh
        (AccountWindows.dhan_defaults(), STALE_GRANT_S * 2, True),  # late, stamped again
        (full_windows(100.0), STALE_GRANT_S * 2, False),  # late, no room: ask again
        (full_windows(100.0), STALE_GRANT_S / 2, True),  # fresh grants were counted already
    ],
)
def test_a_late_grant_is_used_only_if_it_can_be_stamped_again(
    windows: AccountWindows | None, age_s: float, good: bool
) -> None:
    permits, _told = ledger(windows)
    grant = PermitGranted(intent_id=7, action=Action.PLACE, granted_at=100.0 - age_s)
    assert permits.still_good(grant, 100.0) is good


def test_requests_unanswered_for_the_retry_time_are_forgotten() -> None:
    permits, _told = ledger(None)
    permits.ask(intent(id=1), Action.PLACE)
    permits.ask(intent(id=2), Action.CANCEL)
    asked_at = permits.awaiting[1][1]
    permits.awaiting[1] = (Action.PLACE, asked_at - PERMIT_RETRY_S - 1.0)  # asked long ago
    permits.forget_stale(time.monotonic())
    assert set(permits.awaiting) == {2}
    assert set(permits.requested) == {2}
