"""``actors.leader_record``: a leader snapshot journaled once with every follower's copy, the
enabled followers' copies claimed, a reconcile's policy applied to orders the journal never saw."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from actors.leader_record import LeaderRecorder
from actors.settings import EngineConfig
from actors.sizing import ExitBasis
from dhan.codes import ExchangeSegment, OrderStatus
from store import IntentState, Journal
from store.records import DesiredIntent, LeaderOrderSnapshot
from tests.unit.actors.test_slicing import follower
from tests.unit.store.factories import snapshot

A = replace(follower(1.0), name="a").settings
B = replace(follower(2.0), name="b").settings
OFF = replace(follower(1.0), name="off", enabled=False).settings
NIFTY = ("NSE_FNO", "52175")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal.open(f"sqlite:///{tmp_path / 'journal.db'}")
    yield j
    j.close()


@pytest.fixture
def lots() -> dict[tuple[str, str], int]:
    return {NIFTY: 65}


@pytest.fixture
def recorder(journal: Journal, lots: dict[tuple[str, str], int]) -> LeaderRecorder:
    return LeaderRecorder(journal, lambda: [A, B, OFF], EngineConfig(), lots, {})


def fno(
    order_id: str = "L1", qty: int = 130, *, seq: int = 1, **fields: object
) -> LeaderOrderSnapshot:
    """A leader NIFTY future order of ``qty`` (two lots by default); ``seq`` orders events."""
    return snapshot(
        order_id,
        exchange_segment=ExchangeSegment.NSE_FNO,
        security_id=NIFTY[1],
        quantity=qty,
        seq=seq,
        dedupe_key=f"{order_id}|{qty}|{fields.get('status', 'PENDING')}",
        **fields,
    )


def test_a_new_order_is_journaled_once_with_the_enabled_followers_copies_claimed(
    journal: Journal, recorder: LeaderRecorder
) -> None:
    first = recorder.record([fno()])
    assert [s.leader_order_id for s in first.changed] == ["L1"]
    assert {name: [i.quantity for i in got] for name, got in first.claimed.items()} == {
        "a": [130],
        "b": [260],
    }
    assert first.touched == {"a", "b", "off"}
    assert first.missed == 0
    (off,) = journal.intents("off")
    assert off.state is IntentState.PLANNED  # its copy waits: it is not sent on this hint

    again = recorder.record([fno()])  # the same frame again
    assert (again.changed, again.claimed, again.touched) == ([], {}, set())


def test_a_modify_touches_the_copies_without_claiming_them(
    journal: Journal, recorder: LeaderRecorder
) -> None:
    recorder.record([fno()])
    modified = recorder.record([fno(qty=195, seq=2)])
    assert modified.claimed == {}
    assert modified.touched == {"a", "b", "off"}
    assert [i.quantity for i in journal.intents("b")] == [390]


def test_without_the_lot_size_journaled_copies_are_left_as_they_are(
    journal: Journal, recorder: LeaderRecorder, lots: dict[tuple[str, str], int]
) -> None:
    recorder.record([fno()])
    lots.clear()  # e.g. a restart that has not learned it yet
    recorder.record([fno(qty=195, seq=2)])
    assert [i.quantity for i in journal.intents("b")] == [260]
    (off,) = journal.intents("off")
    assert (off.state, off.quantity, off.desired_open) == (IntentState.PLANNED, 130, True)


def test_without_the_lot_size_an_order_that_ended_unfilled_still_reaches_its_copies(
    journal: Journal, recorder: LeaderRecorder, lots: dict[tuple[str, str], int]
) -> None:
    recorder.record([fno()])
    lots.clear()
    recorder.record([fno(status=OrderStatus.CANCELLED, seq=2)])
    (off,) = journal.intents("off")  # never sent: it is not sent now
    assert (off.state, off.desired_open) == (IntentState.SKIPPED, False)


def test_a_reconciles_policy_decides_only_for_plain_orders_the_journal_never_saw(
    journal: Journal, recorder: LeaderRecorder
) -> None:
    recorder.record([fno("L1")])
    asked: list[str] = []

    def skip_all(
        snap: LeaderOrderSnapshot, intents: list[DesiredIntent], _basis: ExitBasis | None
    ) -> list[DesiredIntent]:
        asked.append(snap.leader_order_id)
        return [replace(i, skip_reason="policy", desired_open=False) for i in intents]

    leg = fno("L9", leg_name="TARGET_LEG", parent_order_id="L1")
    got = recorder.record([fno("L1", qty=195, seq=2), fno("L2"), leg], skip_all)
    assert asked == ["L2"]
    assert got.missed == 1
    assert [s.leader_order_id for s in got.changed] == ["L1", "L2", "L9"]
    assert "a" not in got.claimed or all(i.leader_order_id != "L2" for i in got.claimed["a"])
    (skipped,) = journal.intents("a", leader_order_id="L2")
    assert (skipped.skip_reason, skipped.desired_open) == ("policy", False)
