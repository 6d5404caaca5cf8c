"""A copy split at the freeze quantity: its pieces, re-derived intents and slicing siblings."""

from __future__ import annotations

from dhan.codes import ExchangeSegment, ProductType, TransactionType
from store import IntentState, Journal
from tests.unit.store.factories import desired, snapshot


def test_a_piece_the_copy_no_longer_has_is_wanted_closed(journal: Journal):
    two = [desired("f1", "L1", quantity=1755), desired("f1", "L1", leg="F2", quantity=845)]
    journal.record_leader_snapshot(snapshot("L1"), two)
    one = [desired("f1", "L1", quantity=1300)]
    journal.record_leader_snapshot(snapshot("L1"), one)

    by_leg = {i.leg: i for i in journal.intents(leader_order_id="L1")}
    assert by_leg[""].quantity == 1300 and by_leg[""].desired_open
    assert not by_leg["F2"].desired_open and by_leg["F2"].quantity == 845
    assert by_leg["F2"].desired_version == 2


def test_an_other_followers_pieces_are_left_alone(journal: Journal):
    pieces = [desired("f1", "L1", quantity=1755), desired("f1", "L1", leg="F2", quantity=845)]
    journal.record_leader_snapshot(snapshot("L1"), pieces)
    journal.record_leader_snapshot(snapshot("L1"), [desired("f2", "L1", quantity=10)])

    f1 = {i.leg: i for i in journal.intents("f1")}
    assert f1["F2"].desired_open and f1["F2"].desired_version == 1


def test_intents_re_derived_for_a_journaled_order_are_recorded_without_a_new_event(
    journal: Journal,
):
    snap = snapshot("L2")
    journal.record_leader_snapshot(snap, [desired("f1", "L2", quantity=845)])
    touched: set[str] = set()

    journal.record_intents(snap, [desired("f1", "L2", quantity=455)], touched)

    (intent,) = journal.intents(leader_order_id="L2")
    assert intent.quantity == 455 and intent.desired_version == 2
    assert intent.state is IntentState.PLANNED
    assert touched == {"f1"}
    touched.clear()
    journal.record_intents(snap, [desired("f1", "L2", quantity=455)], touched)
    assert touched == set()  # nothing changed, nothing written


def test_slicing_candidates_are_plain_orders_of_the_instrument_side_and_product_created_nearby(
    journal: Journal,
):
    fno = {
        "exchange_segment": ExchangeSegment.NSE_FNO,
        "security_id": "52175",
        "product_type": ProductType.MARGIN,
        "raw": {"OrderDateTime": "2026-12-07 10:15:02"},
    }
    journal.record_leader_snapshot(snapshot("A", **fno), [])
    journal.record_leader_snapshot(
        snapshot("B", **{**fno, "raw": {"createTime": "2026-12-07 10:15:03"}}), []
    )
    journal.record_leader_snapshot(snapshot("C", **fno, transaction_type=TransactionType.SELL), [])
    journal.record_leader_snapshot(snapshot("D"), [])
    journal.record_leader_snapshot(
        snapshot("E", **{**fno, "raw": {"OrderDateTime": "2026-12-07 11:00:00"}}), []
    )
    keys = ("OrderDateTime", "createTime")

    found = journal.slicing_candidates(
        snapshot("B", **fno), keys, "2026-12-07 10:14:57", "2026-12-07 10:15:07"
    )
    assert sorted(s.leader_order_id for s in found) == ["A", "B"]


def test_the_precompiled_candidates_read_equals_a_filter_of_every_snapshot(journal: Journal):
    times = ["2026-12-07 10:14:50", "2026-12-07 10:15:00", "2026-12-07 10:15:09", None]
    for i, (at, side) in enumerate(
        (at, side) for at in times for side in (TransactionType.BUY, TransactionType.SELL)
    ):
        raw = {} if at is None else {("OrderDateTime" if i % 3 else "createTime"): at}
        snap = snapshot(
            f"O{i}",
            exchange_segment=ExchangeSegment.NSE_FNO,
            security_id="52175",
            product_type=ProductType.MARGIN,
            transaction_type=side,
            raw=raw,
        )
        journal.record_leader_snapshot(snap, [])
    keys = ("OrderDateTime", "createTime")
    lo, hi = "2026-12-07 10:14:55", "2026-12-07 10:15:05"
    probe = snapshot(
        "P",
        exchange_segment=ExchangeSegment.NSE_FNO,
        security_id="52175",
        product_type=ProductType.MARGIN,
    )

    def created(raw: dict[str, str]) -> str | None:
        return next((raw[k] for k in keys if k in raw), None)

    expected = sorted(
        s.leader_order_id
        for s in journal.leader_snapshots()
        if s.transaction_type is TransactionType.BUY and lo <= (created(s.raw) or "") <= hi
    )
    got = sorted(s.leader_order_id for s in journal.slicing_candidates(probe, keys, lo, hi))
    assert got == expected and len(got) == 1
