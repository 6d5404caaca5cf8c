"""Which sent ids a follower still remembers (``actors.sent_copies``)."""

from __future__ import annotations

import pytest

from actors.sent_copies import sends_to_remember


@pytest.mark.parametrize(
    ("sent", "hinted_upto", "sending", "requested", "kept"),
    [
        # nothing hinted yet: a hint may still bring a stale copy of any of them
        ({1, 2, 3}, 0, set(), set(), {1, 2, 3}),
        # hinted up to 2, settled in the journal: 1 and 2 are forgotten, 3 may be hinted still
        ({1, 2, 3}, 2, set(), set(), {3}),
        # all hinted and settled: nothing kept
        ({1, 2, 3}, 3, set(), set(), set()),
        # the journal still says SENDING (ack not journaled): a fresh read would place it
        ({1, 2, 3}, 3, {2}, set(), {2}),
        # a permit request holds the copy read when it was asked
        ({1, 2, 3}, 3, set(), {1}, {1}),
        # SENDING or requested ids never sent by us are not added
        ({5}, 9, {4, 5}, {6}, {5}),
        ({10, 20, 30}, 20, {10}, {30}, {10, 30}),
        (set(), 7, {1}, {2}, set()),
    ],
)
def test_sends_to_remember(
    sent: set[int], hinted_upto: int, sending: set[int], requested: set[int], kept: set[int]
) -> None:
    assert (
        sends_to_remember(sent, hinted_upto=hinted_upto, sending=sending, requested=requested)
        == kept
    )


def test_the_kept_set_is_a_new_one() -> None:
    # a set never shrinks its table: the follower replaces it with the returned one
    sent = set(range(1, 2000))
    kept = sends_to_remember(sent, hinted_upto=1990, sending=set(), requested={})
    assert kept == set(range(1991, 2000)) and kept is not sent
    assert kept.__sizeof__() < sent.__sizeof__() / 10
