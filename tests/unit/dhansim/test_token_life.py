"""dhansim's token lifetimes and its PIN + TOTP check."""

from __future__ import annotations

import pyotp
import pytest

from dhansim.tokens import TokenLife, totp_secret_ok

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC = 13:30:00 IST


def test_a_token_lives_its_validity_from_its_issue() -> None:
    life = TokenLife(validity_s=5.0, issued_at=T0)
    assert life.live(T0) and life.live(T0 + 4.99)
    assert not life.live(T0 + 5.0)
    life.reissue(T0 + 10.0)
    assert life.live(T0 + 14.0) and not life.live(T0 + 15.0)


@pytest.mark.parametrize(
    ("validity_s", "expected"),
    [
        (24 * 3600.0, "16/01/2027 13:30"),  # Dhan's own format: minutes
        (5.0, "15/01/2027 13:30:05"),  # a test's short day: seconds
    ],
)
def test_token_validity_text(validity_s: float, expected: str) -> None:
    assert TokenLife(validity_s=validity_s, issued_at=T0).validity_text() == expected


def test_expiry_time_is_iso_in_ist() -> None:
    assert TokenLife(validity_s=60.0, issued_at=T0).expiry_time_text() == "2027-01-15T13:31:00"


@pytest.mark.parametrize(
    ("pin", "code_at", "expected"),
    [
        ("4321", T0, True),
        ("4321", T0 - 30, True),  # one step old: clock skew
        ("4321", T0 + 30, True),
        ("4321", T0 - 90, False),  # three steps old
        ("1234", T0, False),  # wrong PIN
    ],
)
def test_login_needs_the_pin_and_a_current_totp_code(
    pin: str, code_at: float, expected: bool
) -> None:
    life = TokenLife(pin="4321", totp_secret=SECRET)
    code = pyotp.TOTP(SECRET).at(code_at)
    assert life.login_ok(pin, code, now=T0) is expected


def test_no_login_without_pin_and_totp_set() -> None:
    assert not TokenLife().login_ok("", pyotp.TOTP(SECRET).at(T0), now=T0)


@pytest.mark.parametrize(
    ("secret", "ok"), [(SECRET, True), ("not base32 !!", False), ("", False), ("JBSWY3DP", False)]
)
def test_totp_secret_ok(secret: str, ok: bool) -> None:
    assert totp_secret_ok(secret) is ok
