"""The feed's slicing glue on a real journal: shares are right whatever order children arrive in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from actors.sizing import SizingContext
from actors.slice_groups import copy_intents, resize_later_children
from dhan.codes import OrderStatus
from store import IntentState, Journal
from store.records import LeaderOrderSnapshot
from tests.unit.actors.test_slicing import CTX, child, follower

HALF = replace(follower(0.5), name="half")
ONE_AND_HALF = replace(follower(1.5), name="onehalf")
FOLLOWERS = [HALF, ONE_AND_HALF]
FREEZE = {"NSE_FNO:52175": 1800}


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
    yield j
    j.close()


def record(journal: Journal, snap: LeaderOrderSnapshot, ctx: SizingContext = CTX) -> set[str]:
    """What ``LeaderRecorder.record`` does with one snapshot; returns the touched followers."""
    touched: set[str] = set()
    grouped = copy_intents(journal, snap, FOLLOWERS, ctx, FREEZE)
    if journal.record_and_claim(snap, grouped.intents, ["half", "onehalf"], touched) is not None:
        resize_later_children(journal, snap, grouped, FOLLOWERS, ctx, FREEZE, touched)
    return touched


def wanted(journal: Journal, name: str) -> dict[tuple[str, str], int]:
    """(leader order, leg) -> quantity of the follower's copies that are wanted open."""
    return {
        (i.leader_order_id, i.leg): i.quantity
        for i in journal.intents(name)
        if i.desired_open and i.skip_reason is None
    }


def test_children_arriving_in_order_get_their_shares_and_pieces(journal: Journal) -> None:
    record(journal, child("1001", 1755))
    record(journal, child("1002", 845))
    assert wanted(journal, "half") == {("1001", ""): 845, ("1002", ""): 455}
    assert wanted(journal, "onehalf") == {
        ("1001", ""): 1755,
        ("1001", "F2"): 845,
        ("1002", ""): 1300,
    }


def test_a_child_arriving_late_moves_the_share_of_the_child_after_it(journal: Journal) -> None:
    record(journal, child("1002", 845))
    assert wanted(journal, "half") == {("1002", ""): 390}  # sized alone: 6 lots
    touched = record(journal, child("1001", 1755))
    assert wanted(journal, "half") == {("1001", ""): 845, ("1002", ""): 455}
    assert sum(wanted(journal, "onehalf").values()) == 3900
    assert "half" in touched
    (later,) = journal.intents("half", leader_order_id="1002")
    assert later.desired_version == 2


def test_a_cancelled_child_closes_its_pieces_and_resizes_the_children_after_it(
    journal: Journal,
) -> None:
    first = child("1001", 1755)
    record(journal, first)
    record(journal, child("1002", 845))
    record(journal, replace(first, dedupe_key="k1001c", status=OrderStatus.CANCELLED, seq=2))
    assert wanted(journal, "onehalf") == {("1002", ""): 1235}  # 19 lots of the 13 left
    pieces = {i.leg: i for i in journal.intents("onehalf", leader_order_id="1001")}
    assert not pieces[""].desired_open and not pieces["F2"].desired_open
    assert {i.state for i in pieces.values()} == {IntentState.SENDING}  # claimed, then closed


def test_a_re_price_of_a_child_does_not_re_derive_the_children_after_it(journal: Journal) -> None:
    first = child("1001", 1755)
    record(journal, first)
    record(journal, child("1002", 845))
    repriced = replace(first, dedupe_key="k1001p", price=24950.0, seq=2)
    assert not copy_intents(journal, repriced, FOLLOWERS, CTX, FREEZE).moves_later
    cut = replace(first, dedupe_key="k1001q", quantity=1690, seq=3)
    assert copy_intents(journal, cut, FOLLOWERS, CTX, FREEZE).moves_later
