"""After-market orders in the journal: the AMO flag and time of snapshots and intents
(migration 0002), on both backends."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from dhan.codes import AmoTime
from store import Journal
from store.engine import make_engine
from store.schema import alembic_config
from tests.unit.store.factories import desired, snapshot


def test_an_amo_snapshot_and_its_copies_keep_the_flag_and_time(journal: Journal) -> None:
    snap = snapshot("A1", after_market_order=True, amo_time=AmoTime.OPEN_30)
    claimed = journal.record_and_claim(
        snap, [desired("f1", "A1", after_market_order=True, amo_time=AmoTime.OPEN_30)], ["f1"]
    )
    assert claimed is not None
    (sent,) = claimed
    (read,) = journal.intents("f1", leader_order_id="A1")
    assert journal.leader_snapshot("A1") == snap
    for intent in (sent, read):
        assert intent.after_market_order is True and intent.amo_time is AmoTime.OPEN_30
    assert read.desired() == desired("f1", "A1", after_market_order=True, amo_time=AmoTime.OPEN_30)


def test_a_leader_order_that_becomes_an_amo_changes_the_copy(journal: Journal) -> None:
    journal.record_leader_snapshot(snapshot("A2", seq=1), [desired("f1", "A2")])
    journal.record_leader_snapshot(
        snapshot("A2", seq=2, after_market_order=True),
        [desired("f1", "A2", after_market_order=True)],
    )
    (intent,) = journal.intents("f1", leader_order_id="A2")
    assert intent.after_market_order is True and intent.amo_time is None
    assert intent.desired_version == 2


def test_a_journal_of_the_first_schema_upgrades_with_every_order_regular(
    fresh_journal_url: str,
) -> None:
    engine = make_engine(fresh_journal_url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
            conn.execute(
                text(
                    "INSERT INTO account_marks (account, name, value, updated_at)"
                    " VALUES ('leader', 'probe', 'x', CURRENT_TIMESTAMP)"
                )
            )
    finally:
        engine.dispose()
    with Journal.open(fresh_journal_url) as journal:  # upgrades to the head
        assert journal.get_mark("leader", "probe") == "x"
        journal.record_leader_snapshot(snapshot("A3"), [desired("f1", "A3")])
        (intent,) = journal.intents("f1", leader_order_id="A3")
        assert intent.after_market_order is False and intent.amo_time is None
