"""engine.max_orders_per_second: the per-second window of a follower account, on a fake clock."""

from __future__ import annotations

import pytest

from actors.rate_windows import DEFAULT_MARGIN_S, AccountWindows, order_rate_limits
from dhan.codes import ORDER_RATE_LIMITS

M = DEFAULT_MARGIN_S


@pytest.mark.parametrize(
    ("max_per_second", "expected"),
    [
        (9, ((1.0, 9), (60.0, 250), (3600.0, 1000), (86400.0, 7000))),
        (10, ORDER_RATE_LIMITS),
        (1, ((1.0, 1), (60.0, 250), (3600.0, 1000), (86400.0, 7000))),
        # never above the broker's own limit: the other windows are never touched
        (25, ORDER_RATE_LIMITS),
    ],
)  # fmt: skip
def test_only_the_per_second_window_takes_the_configured_rate(
    max_per_second: int, expected: tuple[tuple[float, int], ...]
) -> None:
    assert order_rate_limits(max_per_second) == expected


@pytest.mark.parametrize("bad", [0, -1])
def test_a_rate_below_one_is_refused(bad: int) -> None:
    with pytest.raises(ValueError, match="max_per_second"):
        order_rate_limits(bad)


def grants_within(w: AccountWindows, start: float, horizon_s: float) -> list[float]:
    """Every time a call is granted from ``start`` on, taking each as soon as it fits."""
    t, out = start, []
    while t < start + horizon_s:
        wait = w.wait_s(t)
        if wait == 0.0:
            w.take(t)
            out.append(t)
        else:
            t += wait
    return out


def most_in_any_second(stamps: list[float]) -> int:
    return max(sum(1 for s in stamps if t <= s < t + 1.0) for t in stamps)


@pytest.mark.parametrize(
    ("max_per_second", "in_first_instant", "most_per_second"),
    [
        (9, 9, 9),
        (10, 10, 10),
        (3, 3, 3),
    ],
)  # fmt: skip
def test_a_follower_account_is_granted_at_most_the_configured_rate_in_any_rolling_second(
    max_per_second: int, in_first_instant: int, most_per_second: int
) -> None:
    w = AccountWindows.dhan_defaults(order_rate_limits(max_per_second))
    grants = grants_within(w, 100.0, 5.0)

    assert grants.count(100.0) == in_first_instant
    assert most_in_any_second(grants) == most_per_second
    # the next batch waits the whole window plus its margin
    assert grants[in_first_instant] == pytest.approx(100.0 + 1.0 + M)


@pytest.mark.parametrize(
    ("max_per_second", "after_one_throttle", "urgent"),
    [
        (9, 4, 9),  # a DH-904 halves the configured rate (int(9 * 0.5)); a cancel is not shrunk
        (10, 5, 10),
        (1, 1, 1),  # never below one call a second
    ],
)  # fmt: skip
def test_the_dh904_backoff_shrinks_the_configured_rate_and_spares_cancels(
    max_per_second: int, after_one_throttle: int, urgent: int
) -> None:
    w = AccountWindows.dhan_defaults(order_rate_limits(max_per_second))
    w.throttled(10.0)
    assert w.wait_s(10.0) == 1.0  # paused for the initial backoff
    t = 11.0
    granted = 0
    while w.wait_s(t) == 0.0:
        w.take(t)
        granted += 1
    assert granted == after_one_throttle
    # a cancel is measured against the full (configured) per-second limit, not the shrunk one
    extra = 0
    while w.wait_s(t, urgent=True) == 0.0:
        w.take(t)
        extra += 1
    assert granted + extra == urgent
