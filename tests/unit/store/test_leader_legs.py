"""``Journal.leader_legs``: the exit legs of one leader bracket, found by their entry's id."""

from __future__ import annotations

from typing import Any

from dhan.codes import LegName, OrderStatus, ProductType
from store import Journal, LeaderOrderSnapshot
from tests.unit.store.factories import snapshot


def _leg(order_id: str, parent: str, leg: LegName, **fields: Any) -> LeaderOrderSnapshot:
    return snapshot(order_id, leg_name=str(leg), parent_order_id=parent, **fields)


def test_the_exit_legs_of_a_bracket_are_found_by_their_entry_order_id(journal: Journal):
    journal.record_leader_snapshot(snapshot("E1", product_type=ProductType.BO), [])
    journal.record_leader_snapshot(_leg("T1", "E1", LegName.TARGET_LEG, price=110.0), [])
    journal.record_leader_snapshot(_leg("S1", "E1", LegName.STOP_LOSS_LEG, trigger_price=95.0), [])
    journal.record_leader_snapshot(_leg("T2", "E2", LegName.TARGET_LEG, price=120.0), [])

    legs = journal.leader_legs("E1")

    assert [(s.leader_order_id, s.leg_name) for s in legs] == [
        ("S1", str(LegName.STOP_LOSS_LEG)),
        ("T1", str(LegName.TARGET_LEG)),
    ]
    assert legs[1].price == 110.0
    assert legs[0].trigger_price == 95.0


def test_a_super_orders_legs_share_the_entry_id_and_the_entry_itself_is_not_a_leg(
    journal: Journal,
):
    journal.record_leader_snapshot(snapshot("SO1", target_price=130.0), [])
    journal.record_leader_snapshot(_leg("SO1", "SO1", LegName.TARGET_LEG, price=130.0), [])

    assert [s.leg_name for s in journal.leader_legs("SO1")] == [str(LegName.TARGET_LEG)]


def test_the_latest_snapshot_of_a_leg_is_returned(journal: Journal):
    journal.record_leader_snapshot(_leg("T1", "E1", LegName.TARGET_LEG, price=110.0), [])
    journal.record_leader_snapshot(
        _leg("T1", "E1", LegName.TARGET_LEG, price=111.0, status=OrderStatus.CANCELLED), []
    )

    (leg,) = journal.leader_legs("E1")
    assert (leg.price, leg.status) == (111.0, OrderStatus.CANCELLED)


def test_an_unknown_entry_has_no_legs(journal: Journal):
    assert journal.leader_legs("nope") == []
