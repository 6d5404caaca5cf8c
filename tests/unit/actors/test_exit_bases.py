"""An order's exit basis from every account's exposure (actors/exit_bases.py), as tables."""

from __future__ import annotations

import pytest

from actors.exit_bases import (
    as_rows,
    basis_from_exposures,
    basis_from_stored,
    follower_open,
    keep_confirmed,
)
from actors.sizing import ExitBasis
from store.records import Exposure


def exp(net: int, pending: int = 0, inflight: int = 0, market: int = 0) -> Exposure:
    return Exposure(
        net_qty=net,
        pending_exit_qty=pending,
        inflight_entry_qty=inflight,
        pending_market_exit_qty=market,
    )


@pytest.mark.parametrize(
    ("case", "exposures", "immediate", "expected"),
    [
        (
            "a market exit beside a resting one closes what the position holds",
            {"leader": exp(19, pending=13), "a": exp(38, pending=26)},
            True,
            ExitBasis(19, {"a": 38}),
        ),
        (
            "a resting exit beside it takes its part (planned again when it moves)",
            {"leader": exp(19, pending=13), "a": exp(38, pending=26)},
            False,
            ExitBasis(6, {"a": 12}),
        ),
        (
            "a market exit still takes other market exits off",
            {"leader": exp(19, pending=13, market=4), "a": exp(38, pending=26, market=8)},
            True,
            ExitBasis(15, {"a": 30}),
        ),
    ],
)
def test_a_market_order_fills_before_resting_exits(
    case: str, exposures: dict[str, Exposure], immediate: bool, expected: ExitBasis
) -> None:
    assert basis_from_exposures(exposures, "SELL", ["a"], immediate=immediate) == expected, case


@pytest.mark.parametrize(
    ("case", "exposure", "immediate", "confirmed", "expected"),
    [
        ("entries about to fill count while a hold waits", exp(5, inflight=10), False, False, 15),
        ("after the longest hold only confirmed fills count", exp(5, inflight=10), False, True, 5),
        ("confirmed less its pending exits", exp(5, pending=3, inflight=10), False, True, 2),
        (
            "a market exit: only market exits taken off",
            exp(5, pending=3, inflight=10),
            True,
            True,
            5,
        ),
        ("never below flat", exp(0, pending=4, inflight=10), False, True, 0),
        ("nothing unconfirmed: the same either way", exp(8, pending=2), False, True, 6),
    ],
)
def test_follower_open_counts_unconfirmed_entries_unless_told_confirmed_only(
    case: str, exposure: Exposure, immediate: bool, confirmed: bool, expected: int
) -> None:
    got = follower_open(exposure, "SELL", immediate=immediate, confirmed=confirmed)
    assert got == expected, case


@pytest.mark.parametrize(
    ("case", "exposures", "side", "own", "expected"),
    [
        ("leader flat: an entry", {"leader": exp(0), "a": exp(10)}, "SELL", 0, ExitBasis(0, {})),
        (
            "leader long, a BUY: an entry",
            {"leader": exp(30), "a": exp(30)},
            "BUY",
            0,
            ExitBasis(0, {}),
        ),
        ("nothing journaled", {}, "SELL", 0, ExitBasis(0, {})),
        (
            "leader long 30, a SELL",
            {"leader": exp(30), "a": exp(30), "b": exp(5)},
            "SELL",
            0,
            ExitBasis(30, {"a": 30, "b": 5}),
        ),
        (
            "leader short 20, a BUY",
            {"leader": exp(-20), "a": exp(-40)},
            "BUY",
            0,
            ExitBasis(20, {"a": 40}),
        ),
        (
            "other resting exits take their part on both sides",
            {"leader": exp(30, pending=10), "a": exp(30, pending=10)},
            "SELL",
            0,
            ExitBasis(20, {"a": 20}),
        ),
        (
            "a follower's market entry about to fill counts",
            {"leader": exp(10), "a": exp(0, inflight=10)},
            "SELL",
            0,
            ExitBasis(10, {"a": 10}),
        ),
        (
            "a follower holding the other way holds nothing to close",
            {"leader": exp(10), "a": exp(-5)},
            "SELL",
            0,
            ExitBasis(10, {"a": 0}),
        ),
        (
            "the leader over-commits (a resting exit takes it all): an exit against the whole",
            {"leader": exp(10, pending=10), "a": exp(10, pending=10), "poor": exp(0)},
            "SELL",
            0,
            ExitBasis(10, {"a": 10, "poor": 0}),
        ),
        (
            "over-committed, a market exit still in flight on each side is taken off",
            {"leader": exp(10, pending=14, market=4), "a": exp(3, pending=4, market=1)},
            "SELL",
            0,
            ExitBasis(6, {"a": 2}),
        ),
        (
            "the order's own fills, counted by a position check, are taken back out",
            {"leader": exp(20), "a": exp(30)},
            "SELL",
            10,
            ExitBasis(30, {"a": 30}),
        ),
        (
            "a BUY's own fills too",
            {"leader": exp(-5), "a": exp(-20)},
            "BUY",
            15,
            ExitBasis(20, {"a": 20}),
        ),
        (
            "a follower with nothing journaled",
            {"leader": exp(10)},
            "SELL",
            0,
            ExitBasis(10, {"a": 0}),
        ),
    ],
)
def test_basis_from_exposures(
    case: str, exposures: dict[str, Exposure], side: str, own: int, expected: ExitBasis
) -> None:
    assert (
        basis_from_exposures(
            exposures,
            side,
            ["a", *(["b"] if "b" in exposures else []), *(["poor"] if "poor" in exposures else [])],
            own,
        )
        == expected
    ), case


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({"leader": 0}, ExitBasis(0, {})),
        ({"leader": 30, "a": 5, "b": 0}, ExitBasis(30, {"a": 5, "b": 0})),
        ({"a": 5}, ExitBasis(0, {})),
    ],
)
def test_basis_from_stored(stored: dict[str, int], expected: ExitBasis) -> None:
    assert basis_from_stored(stored) == expected


def test_rows_round_trip() -> None:
    basis = ExitBasis(30, {"a": 5})
    assert basis_from_stored(as_rows(basis)) == basis


@pytest.mark.parametrize(
    ("case", "fresh", "old", "keep", "expected"),
    [
        (
            "nothing unconfirmed: the fresh basis",
            ExitBasis(8, {"a": 8, "b": 4}),
            ExitBasis(5, {"a": 5, "b": 2}),
            frozenset(),
            ExitBasis(8, {"a": 8, "b": 4}),
        ),
        (
            "a follower counting unconfirmed entries keeps its quantity",
            ExitBasis(8, {"a": 8, "b": 40}),
            ExitBasis(5, {"a": 5, "b": 2}),
            frozenset({"b"}),
            ExitBasis(8, {"a": 8, "b": 2}),
        ),
        (
            "an order that was an entry has nothing to keep",
            ExitBasis(8, {"a": 8, "b": 40}),
            ExitBasis(0, {}),
            frozenset({"b"}),
            ExitBasis(8, {"a": 8, "b": 40}),
        ),
        (
            "an order that is an entry now stays one",
            ExitBasis(0, {}),
            ExitBasis(5, {"a": 5}),
            frozenset({"a"}),
            ExitBasis(0, {}),
        ),
        ("no basis known", ExitBasis(8, {"a": 8}), None, frozenset({"a"}), ExitBasis(8, {"a": 8})),
    ],
)
def test_a_replan_keeps_what_a_guess_would_change(
    case: str, fresh: ExitBasis, old: ExitBasis | None, keep: frozenset[str], expected: ExitBasis
) -> None:
    assert keep_confirmed(fresh, old, keep) == expected, case
