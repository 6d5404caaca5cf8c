"""Each copy's audit record holds the order and the account's tags (client id, algo ID)."""

from __future__ import annotations

from typing import Any

import pytest

from store import Journal
from store.errors import SecretInPayload
from tests.unit.store.factories import copies, desired, snapshot


def planned(journal: Journal) -> dict[str, dict[str, Any]]:
    return {
        a.account or "": a.payload
        for a in journal.audit_after(0)
        if a.kind in ("intent_planned", "intent_updated")
    }


def test_the_planned_and_updated_records_carry_the_order_and_the_accounts_tags(
    journal: Journal,
) -> None:
    journal.tag_orders("f1", {"client_id": "1000000002", "algo_id": "ALGO-7"})
    journal.tag_orders("f2", {"client_id": "1000000003"})
    journal.record_leader_snapshot(snapshot("L1", seq=1), copies("L1", 2))

    first = planned(journal)
    for name in ("f1", "f2"):
        order = first[name]["order"]
        assert order["quantity"] > 0 and order["price"] == 100.5
        assert {"transaction_type", "exchange_segment", "security_id", "product_type"} <= set(order)
        assert None not in order.values()
    assert first["f1"]["client_id"] == "1000000002" and first["f1"]["algo_id"] == "ALGO-7"
    assert first["f2"]["client_id"] == "1000000003" and "algo_id" not in first["f2"]

    journal.record_leader_snapshot(snapshot("L1", seq=2, price=101.0), [desired("f1", price=101.0)])
    updated = [a.payload for a in journal.audit_after(0) if a.kind == "intent_updated"]
    assert updated[0]["order"]["price"] == 101.0 and updated[0]["algo_id"] == "ALGO-7"


def test_untagged_followers_records_carry_no_tags_and_tags_can_be_cleared(
    journal: Journal,
) -> None:
    journal.tag_orders("f1", {"client_id": "1000000002"})
    journal.tag_orders("f1", {})
    journal.record_leader_snapshot(snapshot("L1", seq=1), copies("L1", 2))

    for payload in planned(journal).values():
        assert "client_id" not in payload and "algo_id" not in payload
        assert payload["order"]


@pytest.mark.parametrize(
    "tags",
    [
        {"access_token": "abc"},
        {"algo_id": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"},  # a JWT
    ],
)
def test_a_credential_is_refused_as_a_tag(journal: Journal, tags: dict[str, str]) -> None:
    with pytest.raises(SecretInPayload):
        journal.tag_orders("f1", tags)
    journal.record_leader_snapshot(snapshot("L1", seq=1), copies("L1", 1))
    assert set(planned(journal)["f1"]) >= {"order"} and "algo_id" not in planned(journal)["f1"]
