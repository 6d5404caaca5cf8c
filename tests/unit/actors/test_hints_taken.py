"""HintsTaken: the leader feed waits until every claimed follower's copy has left, or a bound."""

from __future__ import annotations

import threading
import time

from actors.messages import HintsTaken, LeaderChanged


def test_the_wait_ends_when_the_last_follower_says_its_copy_left() -> None:
    taken = HintsTaken(3)
    ended = threading.Event()

    def feed() -> None:
        if taken.wait(10.0):
            ended.set()

    t = threading.Thread(target=feed)
    t.start()
    taken.take()
    taken.take()
    assert not ended.wait(0.05)  # one follower still to go
    taken.take()
    assert ended.wait(5.0)
    t.join(5.0)


def test_a_follower_that_never_answers_costs_only_the_timeout() -> None:
    taken = HintsTaken(2)
    taken.take()
    started = time.monotonic()
    assert taken.wait(0.02) is False
    assert time.monotonic() - started < 1.0


def test_no_claimed_follower_means_no_wait() -> None:
    assert HintsTaken(0).wait(0.0) is True


def test_the_counter_does_not_make_two_hints_unequal() -> None:
    a = LeaderChanged(("L1",), 1, taken=HintsTaken(1))
    b = LeaderChanged(("L1",), 1, taken=HintsTaken(1))
    assert a == b
