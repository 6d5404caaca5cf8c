"""Exit copies held while a follower's entry of the position is unconfirmed
(actors/exit_holds.py): when a hold ends, which copies are held, as tables."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from actors.exit_bases import Taken, unconfirmed_entries
from actors.exit_holds import HELD, HELD_BEHIND, ExitHolds, release_due
from actors.sizing import ExitBasis
from dhan.codes import OrderStatus, OrderType, TransactionType
from store.records import DesiredIntent, Exposure
from tests.unit.store.factories import desired, snapshot


@pytest.mark.parametrize(
    ("unconfirmed", "held_for_s", "ended_unfilled", "due"),
    [
        (True, 0.0, False, False),  # its entry still unconfirmed: wait
        (True, 29.9, False, False),
        (True, 30.0, False, True),  # waited long enough: goes, sized from its confirmed fills
        (False, 0.0, False, True),  # confirmed (filled, refused, cancelled): goes
        (True, 0.1, True, True),  # the leader's order ended unfilled: nothing to size
    ],
)
def test_release_due(unconfirmed: bool, held_for_s: float, ended_unfilled: bool, due: bool) -> None:
    assert release_due(unconfirmed, held_for_s, ended_unfilled) is due


def exp(net: int, inflight: int = 0) -> Exposure:
    return Exposure(net_qty=net, pending_exit_qty=0, inflight_entry_qty=inflight)


@pytest.mark.parametrize(
    ("exposures", "basis", "expected"),
    [
        ({"a": exp(10)}, ExitBasis(10, {"a": 10}), frozenset()),  # all held is journaled
        ({"a": exp(0, inflight=10)}, ExitBasis(10, {"a": 10}), {"a"}),
        ({"a": exp(5, inflight=5), "b": exp(10)}, ExitBasis(10, {"a": 10, "b": 10}), {"a"}),
        # nothing to close anyway (its other exits take it all): nothing to hold
        ({"a": exp(0, inflight=10)}, ExitBasis(10, {"a": 0}), frozenset()),
        ({}, ExitBasis(10, {"a": 10}), frozenset()),
    ],
)
def test_unconfirmed_entries(
    exposures: dict[str, Exposure], basis: ExitBasis, expected: frozenset[str]
) -> None:
    assert unconfirmed_entries(exposures, basis) == expected


def holds() -> ExitHolds:
    # apply() needs neither the journal nor the bases: they serve release() and load()
    none: Any = None
    return ExitHolds(none, none, none, clock=lambda: 100.0)


EXIT = snapshot(
    "X1",
    status=OrderStatus.TRANSIT,
    transaction_type=TransactionType.SELL,
    order_type=OrderType.MARKET,
)


def sell(follower: str, leader_order_id: str = "X1", **kw: Any) -> DesiredIntent:
    return desired(follower, leader_order_id, transaction_type=TransactionType.SELL, **kw)


def first_sight(basis: ExitBasis, unconfirmed: set[str]) -> Taken:
    rows = {"leader": basis.leader_open, **basis.follower_open}
    return Taken(basis, rows, frozenset(unconfirmed))


def test_at_first_sight_only_the_followers_with_unconfirmed_entries_are_held() -> None:
    h = holds()
    basis = ExitBasis(10, {"a": 10, "b": 10})
    out = h.apply(EXIT, first_sight(basis, {"a"}), [sell("a"), sell("b")])
    assert [(i.follower, i.skip_reason) for i in out] == [("a", HELD), ("b", None)]
    assert h.take_new() == {"a"} and h.take_new() == set()
    assert h.holds["X1"].followers == {"a"}


def test_a_held_copy_stays_held_at_the_orders_later_events_and_a_skip_is_left_alone() -> None:
    h = holds()
    basis = ExitBasis(10, {"a": 10, "b": 10})
    h.apply(EXIT, first_sight(basis, {"a", "b"}), [sell("a"), sell("b", skip_reason="filter")])
    assert h.holds["X1"].followers == {"a"}  # b's skip is a decision: nothing to hold
    later = replace(EXIT, status=OrderStatus.TRADED, filled_qty=10)
    out = h.apply(later, Taken(basis), [sell("a"), sell("b")])
    assert [(i.follower, i.skip_reason) for i in out] == [("a", HELD), ("b", None)]
    assert h.holds["X1"].snap is later  # released with its latest snapshot


def test_a_later_exit_of_the_position_waits_behind_a_held_one() -> None:
    h = holds()
    basis = ExitBasis(10, {"a": 10, "b": 10})
    h.apply(EXIT, first_sight(basis, {"a"}), [sell("a"), sell("b")])
    second = replace(EXIT, leader_order_id="X2")
    out = h.apply(second, first_sight(basis, set()), [sell("a", "X2"), sell("b", "X2")])
    assert [(i.follower, i.skip_reason) for i in out] == [("a", HELD), ("b", None)]
    other = replace(EXIT, leader_order_id="X3", security_id="11536")  # another position
    out = h.apply(other, first_sight(basis, set()), [sell("a", "X3")])
    assert [i.skip_reason for i in out] == [None]


def test_an_entry_on_a_held_exits_side_waits_behind_it() -> None:
    # the follower's orders on a side keep the leader's order: a short entry placed after a
    # held close of a long must not fill before it (the close would then sell past flat)
    h = holds()
    h.apply(EXIT, first_sight(ExitBasis(10, {"a": 10, "b": 10}), {"a"}), [sell("a"), sell("b")])
    short = replace(EXIT, leader_order_id="E1")  # a SELL too: the leader is flat by then
    out = h.apply(short, first_sight(ExitBasis(0, {}), set()), [sell("a", "E1"), sell("b", "E1")])
    assert [(i.follower, i.skip_reason) for i in out] == [("a", HELD_BEHIND), ("b", None)]
    assert not h.holds["E1"].is_exit and h.holds["X1"].is_exit
    assert h.keep_held("E1", [sell("a", "E1")])[0].skip_reason == HELD_BEHIND
    # a BUY goes at once: the held SELL's F is never above its first sight's
    buy = replace(EXIT, leader_order_id="E2", transaction_type=TransactionType.BUY)
    out = h.apply(buy, first_sight(ExitBasis(0, {}), set()), [desired("a", "E2")])
    assert [i.skip_reason for i in out] == [None]
    elsewhere = replace(short, leader_order_id="E3", security_id="11536")  # another position
    out = h.apply(elsewhere, first_sight(ExitBasis(0, {}), set()), [sell("a", "E3")])
    assert [i.skip_reason for i in out] == [None]


def test_a_copy_already_sent_is_never_held() -> None:
    h = holds()
    h.apply(EXIT, first_sight(ExitBasis(10, {"a": 10}), {"a"}), [sell("a")])
    # X4 first seen before any hold (its copy sent), a later event while X1 is held
    sent = replace(EXIT, leader_order_id="X4")
    out = h.apply(sent, Taken(ExitBasis(10, {"a": 10})), [sell("a", "X4")])
    assert [i.skip_reason for i in out] == [None]


def test_keep_held_keeps_a_replans_held_copies() -> None:
    h = holds()
    h.apply(EXIT, first_sight(ExitBasis(10, {"a": 10, "b": 10}), {"a"}), [sell("a"), sell("b")])
    out = h.keep_held("X1", [sell("a", quantity=7), sell("b", quantity=7)])
    assert [(i.follower, i.skip_reason) for i in out] == [("a", HELD), ("b", None)]
    assert h.keep_held("X9", [sell("a", "X9")])[0].skip_reason is None


def test_a_first_sight_without_copies_decides_the_holds_when_the_copies_come() -> None:
    # a MARKET exit's TRANSIT frame makes no copy; its fill's frame does, with the basis
    # (and the unconfirmed entries) of the first sight
    h = holds()
    basis = ExitBasis(10, {"a": 10, "b": 10})
    assert h.apply(EXIT, first_sight(basis, {"a"}), []) == []
    assert not h.holds
    traded = replace(EXIT, status=OrderStatus.TRADED, filled_qty=10)
    out = h.apply(traded, Taken(basis), [sell("a"), sell("b")])
    assert [(i.follower, i.skip_reason) for i in out] == [("a", HELD), ("b", None)]
    assert h.holds["X1"].followers == {"a"}
    # decided once: a later event holds nothing new
    out = h.apply(traded, Taken(basis), [sell("b")])
    assert [i.skip_reason for i in out] == [None]


def test_a_later_exit_first_seen_without_copies_still_queues_behind_a_held_one() -> None:
    h = holds()
    basis = ExitBasis(10, {"a": 10, "b": 10})
    h.apply(EXIT, first_sight(basis, {"a"}), [sell("a"), sell("b")])
    second = replace(EXIT, leader_order_id="X2")
    assert h.apply(second, first_sight(basis, set()), []) == []
    filled = replace(second, status=OrderStatus.TRADED, filled_qty=10)
    out = h.apply(filled, Taken(basis), [sell("a", "X2"), sell("b", "X2")])
    assert [(i.follower, i.skip_reason) for i in out] == [("a", HELD), ("b", None)]


def test_an_exit_that_ends_without_copies_is_forgotten() -> None:
    h = holds()
    h.apply(EXIT, first_sight(ExitBasis(10, {"a": 10}), {"a"}), [])
    assert "X1" in h.undecided
    rejected = replace(EXIT, status=OrderStatus.REJECTED)
    h.apply(rejected, Taken(ExitBasis(10, {"a": 10})), [])
    assert "X1" not in h.undecided


def test_a_later_exit_with_nothing_open_at_first_sight_waits_behind_a_held_one_and_is_rebased() -> (
    None
):
    # the held order's copy (a flip's open part) is not in the position while it is held: an
    # F of 0 at a later order's first sight is no proof of nothing to close
    h = holds()
    h.apply(EXIT, first_sight(ExitBasis(10, {"a": 10, "b": 10}), {"a"}), [sell("a"), sell("b")])
    later = replace(EXIT, leader_order_id="X5")
    out = h.apply(later, first_sight(ExitBasis(2, {"a": 0, "b": 2}), set()), [sell("a", "X5")])
    assert [i.skip_reason for i in out] == [HELD]
    assert h.holds["X5"].rebase == {"a"}  # sized at release without the first sight's cap
