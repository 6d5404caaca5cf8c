"""The order-rate windows: Dhan's per-account limits and the DH-904 backoff, on a fake clock."""

from __future__ import annotations

from actors.rate_windows import DEFAULT_MARGIN_S, MIN_SCALE, RECOVER_STEP_S, AccountWindows

M = DEFAULT_MARGIN_S


def fill(w: AccountWindows, now: float, n: int) -> None:
    for _ in range(n):
        assert w.wait_s(now) == 0.0
        w.take(now)


def test_ten_orders_fit_in_one_second_and_the_eleventh_waits_for_the_oldest_to_age_out() -> None:
    w = AccountWindows.dhan_defaults()
    fill(w, 100.0, 10)
    assert abs(w.wait_s(100.0) - (1.0 + M)) < 1e-9
    assert abs(w.wait_s(100.5) - (0.5 + M)) < 1e-9
    assert w.wait_s(101.0 + M) == 0.0


def test_the_margin_keeps_eleven_requests_out_of_any_broker_second_despite_delivery_jitter() -> (
    None
):
    # grants stamped here; the broker stamps arrivals. The first request is delayed 80 ms on
    # its way, the eleventh is not: the broker's one-second window must still hold only ten.
    w = AccountWindows.dhan_defaults()
    grants = []
    t = 0.0
    while len(grants) < 11:
        wait = w.wait_s(t)
        if wait == 0.0:
            w.take(t)
            grants.append(t)
        else:
            t += wait
    arrivals = [grants[0] + 0.08, *grants[1:]]
    assert arrivals[10] - arrivals[0] >= 1.0


def test_the_minute_window_caps_at_250_even_when_each_second_is_within_its_limit() -> None:
    w = AccountWindows.dhan_defaults()
    t = 0.0
    for _ in range(25):  # 25 seconds x 10 orders = 250
        fill(w, t, 10)
        t += 1.0 + M
    assert w.wait_s(t) > 0.0
    assert w.wait_s(60.0 + M) == 0.0  # the first second's ten have left the minute window


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
        t = w.paused_until  # the next DH-904 comes right after the pause
    assert delays[:3] == [1.0, 2.0, 4.0]
    assert max(delays) == 15.0


def test_dh904_answers_arriving_during_the_pause_are_the_same_episode() -> None:
    w = AccountWindows.dhan_defaults()
    for i in range(10):  # ten calls in flight all come back DH-904
        w.throttled(5.0 + i * 0.01)
    assert w.scale == 0.5
    assert w.paused_until == 6.0


def test_the_allowance_never_shrinks_below_a_quarter_of_dhans_limits() -> None:
    w = AccountWindows.dhan_defaults()
    for i in range(6):
        w.throttled(i * 2.0, max_backoff_s=2.0)
    assert w.scale == MIN_SCALE
    fill(w, 12.0, 2)  # a quarter of 10/s, rounded down (the pause has ended, no recovery yet)
    assert w.wait_s(12.0) > 0.0


def test_the_allowance_doubles_back_for_every_quiet_step_after_a_throttle() -> None:
    w = AccountWindows.dhan_defaults()
    w.throttled(0.0)
    w.throttled(1.0)  # right after the first pause
    assert w.scale == 0.25
    w.wait_s(1.0 + RECOVER_STEP_S)
    assert w.scale == 0.5
    w.wait_s(1.0 + 2 * RECOVER_STEP_S)
    assert w.scale == 1.0
    fill(w, 1.0 + 2 * RECOVER_STEP_S, 10)


def test_an_urgent_cancel_ignores_the_shrunken_allowance_but_not_the_pause() -> None:
    w = AccountWindows.dhan_defaults()
    w.throttled(0.0)
    assert w.wait_s(0.5, urgent=True) == 0.5  # still paused
    fill(w, 1.0, 5)  # the halved allowance is used up
    assert w.wait_s(1.0) > 0.0
    assert w.wait_s(1.0, urgent=True) == 0.0  # Dhan's full 10/s still has room


def test_a_throttle_slows_bursts_but_leaves_the_minute_budget_whole() -> None:
    w = AccountWindows.dhan_defaults()
    t = 0.0
    for _ in range(10):  # 100 calls in the last ten seconds
        fill(w, t, 10)
        t += 1.0 + M
    w.throttled(t)
    w.throttled(t + 1.0)
    assert w.scale == MIN_SCALE
    t += 4.0  # the pause is over
    # two per second go on at once: the minute's 250 are not cut to a quarter (62 < 100)
    fill(w, t, 2)
    assert w.wait_s(t) > 0.0
