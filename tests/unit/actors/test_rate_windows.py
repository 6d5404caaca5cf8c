"""The order-rate windows: Dhan's per-account limits and the DH-904 backoff, on a fake clock."""

from __future__ import annotations

from actors.rate_windows import AccountWindows


def fill(w: AccountWindows, now: float, n: int) -> None:
    for _ in range(n):
        assert w.wait_s(now) == 0.0
        w.take(now)


def test_ten_orders_fit_in_one_second_and_the_eleventh_waits_for_the_oldest_to_age_out() -> None:
    w = AccountWindows.dhan_defaults()
    fill(w, 100.0, 10)
    assert w.wait_s(100.0) == 1.0
    assert w.wait_s(100.5) == 0.5
    assert w.wait_s(101.0) == 0.0


def test_the_minute_window_caps_at_250_even_when_each_second_is_within_its_limit() -> None:
    w = AccountWindows.dhan_defaults()
    t = 0.0
    for _ in range(25):  # 25 seconds x 10 orders = 250
        fill(w, t, 10)
        t += 1.0
    assert w.wait_s(t) > 0.0
    assert w.wait_s(60.0) == 0.0  # the first second's ten have left the minute window


def test_a_broker_throttle_pauses_the_account_and_halves_its_allowance() -> None:
    w = AccountWindows.dhan_defaults()
    w.throttled(10.0)
    assert w.wait_s(10.0) == 1.0  # paused for the initial backoff
    fill(w, 11.0, 5)  # half of 10/s
    assert w.wait_s(11.0) > 0.0


def test_repeated_throttles_double_the_backoff_up_to_its_cap() -> None:
    w = AccountWindows.dhan_defaults()
    delays = []
    t = 0.0
    for _ in range(8):
        w.throttled(t)
        delays.append(w.paused_until - t)
        t += 0.1
    assert delays[:3] == [1.0, 2.0, 4.0]
    assert max(delays) == 30.0


def test_the_allowance_recovers_after_a_quiet_minute() -> None:
    w = AccountWindows.dhan_defaults()
    w.throttled(0.0)
    assert w.scale == 0.5
    w.wait_s(61.0)
    assert w.scale == 1.0
    fill(w, 61.0, 10)
