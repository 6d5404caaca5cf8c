"""``LeaderRecorder.record``'s ``late`` rules: asked after ``missed``, for plain orders the
journal never saw, with each order's exit basis (``actors.late_entries`` decides with it)."""

from __future__ import annotations

from dataclasses import replace

from actors.leader_record import LeaderRecorder
from actors.sizing import ExitBasis
from dhan.codes import OrderStatus, TransactionType
from store import Journal
from store.records import DesiredIntent, LeaderOrderSnapshot
from tests.unit.actors.test_leader_record import fno, journal, lots, recorder

__all__ = ["journal", "lots", "recorder"]  # the fixtures this module uses


def test_late_rules_get_each_unseen_plain_orders_basis_after_the_policy(
    journal: Journal, recorder: LeaderRecorder
) -> None:
    recorder.record([fno("L1", status=OrderStatus.TRADED, filled_qty=130)])  # long 130
    calls: list[str] = []
    bases: dict[str, ExitBasis | None] = {}

    def policy(
        snap: LeaderOrderSnapshot, intents: list[DesiredIntent], _basis: ExitBasis | None
    ) -> list[DesiredIntent]:
        calls.append(f"missed {snap.leader_order_id}")
        return [replace(i, skip_reason=None) for i in intents]

    def late(
        snap: LeaderOrderSnapshot, intents: list[DesiredIntent], basis: ExitBasis | None
    ) -> list[DesiredIntent]:
        calls.append(f"late {snap.leader_order_id}")
        bases[snap.leader_order_id] = basis
        return [replace(i, skip_reason="stale: test", desired_open=False) for i in intents]

    exit_ = fno(
        "L2",
        seq=2,
        status=OrderStatus.TRADED,
        filled_qty=130,
        transaction_type=TransactionType.SELL,
    )
    entry = fno("L3", seq=3, status=OrderStatus.TRADED, filled_qty=130)
    leg = fno("L9", seq=4, leg_name="TARGET_LEG", parent_order_id="L1")
    known = fno("L1", seq=5, status=OrderStatus.TRADED, filled_qty=130, price=101.0)
    recorder.record([exit_, entry, leg, known], policy, late)

    assert calls == ["missed L2", "late L2", "missed L3", "late L3"]
    assert bases["L2"] is not None and bases["L2"].is_exit
    assert bases["L3"] is not None and not bases["L3"].is_exit
    (skipped,) = journal.intents("a", leader_order_id="L3")
    assert (skipped.skip_reason, skipped.desired_open) == ("stale: test", False)
