"""What the token keeper does for an account, and when it looks again (pure decisions)."""

from __future__ import annotations

import pytest

from copytrader.token_renewal import AccountAuth, Step, auth_url_for, next_check_in, plan

NOW = 1_000_000.0
HOUR = 3600.0
RENEWS = AccountAuth(renew=True)
LOGS_IN = AccountAuth(renew=True, pin="1234", totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
MANUAL = AccountAuth(renew=False)
MANUAL_WITH_LOGIN = AccountAuth(
    renew=False, pin="1234", totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
)


@pytest.mark.parametrize(
    ("expires_at", "refused", "renew_refused", "auth", "expected"),
    [
        # plenty of time left: nothing
        (NOW + 5 * HOUR, False, False, RENEWS, Step.NOTHING),
        # within renew_before_s: renew
        (NOW + 0.5 * HOUR, False, False, RENEWS, Step.RENEW),
        (NOW + HOUR, False, False, RENEWS, Step.RENEW),  # exactly at the lead
        # already past its expiry but not yet refused (clock skew): still try renewal
        (NOW - 10, False, False, RENEWS, Step.RENEW),
        # expiry unknown (profile unreadable): nothing until it is known
        (None, False, False, RENEWS, Step.NOTHING),
        # renewal off: the operator rotates it (the alert tells them)
        (NOW + 0.5 * HOUR, False, False, MANUAL, Step.NOTHING),
        (NOW + 0.5 * HOUR, False, False, MANUAL_WITH_LOGIN, Step.NOTHING),
        # the token does not work: a PIN + TOTP login if configured, else stuck
        (None, True, False, LOGS_IN, Step.GENERATE),
        (None, True, False, RENEWS, Step.STUCK),
        (None, True, False, MANUAL_WITH_LOGIN, Step.GENERATE),
        # Dhan refused to renew it: the same
        (NOW + 0.5 * HOUR, False, True, LOGS_IN, Step.GENERATE),
        (NOW + 0.5 * HOUR, False, True, RENEWS, Step.STUCK),
    ],
)
def test_plan(
    expires_at: float | None, refused: bool, renew_refused: bool, auth: AccountAuth, expected: Step
) -> None:
    got = plan(
        now=NOW,
        expires_at=expires_at,
        refused=refused,
        auth=auth,
        renew_before_s=HOUR,
        renew_refused=renew_refused,
    )
    assert got is expected


@pytest.mark.parametrize(
    ("due_at", "expected"),
    [
        ([], 900.0),  # nobody due: the regular interval
        ([NOW + 10_000], 900.0),  # due later than the interval
        ([NOW + 42.0, NOW + 7.5], 7.5),  # the earliest
        ([NOW - 5.0], 0.2),  # overdue: as soon as allowed
        ([NOW + 0.05], 0.2),
    ],
)
def test_next_check_in(due_at: list[float], expected: float) -> None:
    assert next_check_in(now=NOW, due_at=due_at, interval_s=900.0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("rest_url", "configured", "expected"),
    [
        ("https://api.dhan.co/v2", None, "https://auth.dhan.co"),
        ("https://sandbox.dhan.co/v2", None, "https://auth.dhan.co"),
        ("http://127.0.0.1:8123/v2", None, "http://127.0.0.1:8123"),
        ("https://api.dhan.co/v2", "https://auth.example/", "https://auth.example"),
        ("https://notdhan.co/v2", None, "https://notdhan.co"),
    ],
)
def test_where_pin_and_totp_logins_go(rest_url: str, configured: str | None, expected: str) -> None:
    assert auth_url_for(rest_url, configured) == expected


def test_auth_secrets_never_show_in_a_repr() -> None:
    assert "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP" not in repr(LOGS_IN) and "1234" not in repr(LOGS_IN)
