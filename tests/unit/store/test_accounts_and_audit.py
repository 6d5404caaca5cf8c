"""Account marks, actor restarts, follower flags, the audit outbox and the health checks."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from store import IntentState, Journal, OperatorMode, SecretInPayload
from store.models import Base
from tests.unit.store.factories import planned_intent_id


def test_a_mark_is_set_read_and_overwritten_per_account(journal: Journal):
    assert journal.get_mark("f1", "reconciled_at") is None

    journal.set_mark("f1", "reconciled_at", "t1")
    journal.set_mark("f2", "reconciled_at", "other")
    journal.set_mark("f1", "reconciled_at", "t2")

    assert journal.get_mark("f1", "reconciled_at") == "t2"
    assert journal.get_mark("f2", "reconciled_at") == "other"


def test_marks_are_listed_by_a_prefix_of_their_name_per_account(journal: Journal):
    journal.set_mark("f1", "conversion:b", "2")
    journal.set_mark("f1", "conversion:a", "1")
    journal.set_mark("f1", "conversions", "not under the prefix 'conversion:'")
    journal.set_mark("f2", "conversion:c", "another account")
    journal.set_mark("f1", "lot_sizes", "x")

    assert journal.marks("f1", "conversion:") == {"conversion:a": "1", "conversion:b": "2"}
    assert journal.marks("f1", "nothing") == {}
    assert journal.marks("f3", "conversion:") == {}


def test_several_marks_are_set_in_one_call_and_overwritten_by_name(journal: Journal):
    journal.set_marks("f1", {})  # nothing to write: no transaction, no error
    journal.set_marks("f1", {"slippage:20261207:1": "2.5000", "slippage:20261207:2": "-1.0000"})
    journal.set_marks("f1", {"slippage:20261207:2": "-3.0000"})
    journal.set_marks("f2", {"slippage:20261207:3": "7.0000"})

    assert journal.marks("f1", "slippage:20261207:") == {
        "slippage:20261207:1": "2.5000",
        "slippage:20261207:2": "-3.0000",
    }
    assert journal.marks("f2", "slippage:") == {"slippage:20261207:3": "7.0000"}


def test_restarts_are_recorded_newest_first_and_audited(journal: Journal):
    first = journal.record_restart("followers/f1", "ConnectionError")
    second = journal.record_restart("leader_feed", "missed pong")

    assert [(r.id, r.actor, r.reason) for r in journal.restarts()] == [
        (second, "leader_feed", "missed pong"),
        (first, "followers/f1", "ConnectionError"),
    ]
    assert [r.id for r in journal.restarts(limit=1)] == [second]
    assert [r.id for r in journal.restarts(actor="followers/f1")] == [first]
    assert [a.payload["actor"] for a in journal.audit_after(0) if a.kind == "actor_restart"] == [
        "followers/f1",
        "leader_feed",
    ]


def test_a_follower_can_be_quarantined_and_released(journal: Journal):
    assert journal.follower_flag("f1") is None

    journal.set_follower_flag("f1", True, "5 restarts in 60 s")
    journal.set_follower_flag("f2", True, "token rejected")
    journal.set_follower_flag("f2", False, None)

    assert journal.quarantined_followers() == ["f1"]
    flag = journal.follower_flag("f1")
    assert flag is not None and (flag.quarantined, flag.reason) == (True, "5 restarts in 60 s")
    assert [a.account for a in journal.audit_after(0) if a.kind == "follower_flag"] == [
        "f1",
        "f2",
        "f2",
    ]


def test_audit_entries_come_back_in_order_with_their_payload(journal: Journal):
    ids = [
        journal.append_audit(
            "broker_call", actor="followers/f1", account="f1", payload={"n": n, "ok": True}
        )
        for n in range(5)
    ]

    assert ids == sorted(ids) and len(set(ids)) == 5
    records = journal.audit_after(ids[1], limit=2)
    assert [(r.id, r.kind, r.actor, r.account, r.payload) for r in records] == [
        (ids[2], "broker_call", "followers/f1", "f1", {"n": 2, "ok": True}),
        (ids[3], "broker_call", "followers/f1", "f1", {"n": 3, "ok": True}),
    ]
    assert journal.audit_after(ids[-1]) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"access_token": "x"},
        {"accessToken": "x"},
        {"token": "x"},
        {"password": "x"},
        {"client_secret": "x"},
        {"headers": {"Access-Token": "x"}},
        {"calls": [{"ok": 1}, {"secret": "x"}]},
        {"note": "eyJhbGciOiJIUzUxMiJ9.eyJkaGFuQ2xpZW50SWQiOiIxIn0.c2lnbmF0dXJl"},
    ],
    ids=lambda p: str(p)[:30],
)
def test_an_audit_payload_with_a_credential_is_refused(journal: Journal, payload):
    with pytest.raises(SecretInPayload) as raised:
        journal.append_audit("broker_call", actor="a", account=None, payload=payload)

    assert isinstance(raised.value, ValueError)
    assert 'x"' not in str(raised.value) and "c2lnbmF0dXJl" not in str(raised.value)
    assert journal.audit_after(0) == []


TOKEN = "eyJhbGciOiJIUzUxMiJ9.eyJkaGFuQ2xpZW50SWQiOiIxIn0.c2lnbmF0dXJl"


def _rows_holding(journal: Journal, needle: str) -> list[str]:
    """Every row of every journal table whose text holds ``needle`` (as an operator sees it)."""
    found = []
    with journal._engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(table.select()):
                if needle in str(tuple(row)):
                    found.append(f"{table.name}: {tuple(row)}")
    return found


def test_a_token_in_free_text_reaches_neither_the_audit_outbox_nor_any_table(journal: Journal):
    # error texts and crash reasons come from outside (broker bodies, exceptions): if one
    # ever echoes the token, the journal stores it redacted
    intent_id = planned_intent_id(journal)
    journal.transition(intent_id, IntentState.SENDING, reason=f"retry with {TOKEN}")
    moved = journal.transition(
        intent_id,
        IntentState.REJECTED,
        error_code="DH-901",
        error_message=f"invalid access-token {TOKEN} for client 1",
    )
    restart_id = journal.record_restart("followers/f1", f"HTTPError: Bearer {TOKEN}")
    journal.set_follower_flag("f1", True, f"crashed on {TOKEN}")

    assert _rows_holding(journal, "c2lnbmF0dXJl") == []
    assert moved.error_message == "invalid access-token <redacted> for client 1"
    assert journal.intent(intent_id) == moved
    (restart,) = journal.restarts()
    assert (restart.id, restart.reason) == (restart_id, "HTTPError: Bearer <redacted>")
    flag = journal.follower_flag("f1")
    assert flag is not None and flag.reason == "crashed on <redacted>"
    kinds = [a.kind for a in journal.audit_after(0)]
    assert kinds.count("intent_transition") == 2 and "actor_restart" in kinds


@pytest.mark.parametrize("field", ["kind", "actor", "account"])
def test_an_audit_entry_naming_a_token_outside_its_payload_is_refused(journal: Journal, field):
    entry = {"kind": "broker_call", "actor": "followers/f1", "account": "f1"} | {field: TOKEN}

    with pytest.raises(SecretInPayload) as raised:
        journal.append_audit(
            entry["kind"], actor=entry["actor"], account=entry["account"], payload={}
        )

    assert "c2lnbmF0dXJl" not in str(raised.value)
    assert journal.audit_after(0) == []


def test_an_audit_entry_needs_a_kind_and_an_actor(journal: Journal):
    with pytest.raises(ValueError):
        journal.append_audit("", actor="a", account=None, payload={})
    with pytest.raises(ValueError):
        journal.append_audit("k", actor="", account=None, payload={})


def test_the_drain_cursor_only_moves_forward_and_keeps_the_rows(journal: Journal):
    ids = [journal.append_audit("k", actor="a", account=None, payload={}) for _ in range(3)]
    assert journal.audit_drained_id() == 0

    journal.mark_audit_drained(ids[1])
    journal.mark_audit_drained(ids[0])

    assert journal.audit_drained_id() == ids[1]
    assert [r.id for r in journal.audit_after(journal.audit_drained_id())] == [ids[2]]
    assert len(journal.audit_after(0)) == 3


def test_a_healthy_journal_passes_the_integrity_check(journal: Journal):
    intent_id = planned_intent_id(journal)
    journal.transition(intent_id, IntentState.SENDING)

    assert journal.integrity_check() == []


def test_the_integrity_check_reports_broken_rules(journal: Journal):
    intent_id = planned_intent_id(journal)
    with journal._engine.begin() as conn:  # an operator's bad hand edit
        conn.execute(
            text(
                "UPDATE follower_intents SET applied_version = 5, state = 'WORKING' WHERE id = :i"
            ),
            {"i": intent_id},
        )

    problems = journal.integrity_check()

    assert problems == [
        f"intent {intent_id}: applied_version > desired_version",
        f"intent {intent_id}: open without a broker order id",
    ]


def test_the_database_refuses_an_unknown_state(journal: Journal):
    intent_id = planned_intent_id(journal)

    with pytest.raises(IntegrityError, match=r"(?i)check"), journal._engine.begin() as conn:
        conn.execute(
            text("UPDATE follower_intents SET state = 'LIMBO' WHERE id = :i"), {"i": intent_id}
        )


def test_an_operator_mode_is_set_per_follower_with_who_and_why_and_audited(journal: Journal):
    assert journal.operator_modes() == {}
    journal.set_operator_mode("f1", OperatorMode.PAUSED, set_by="pause", reason="margin call")
    journal.set_operator_mode("f2", OperatorMode.CLOSE_ONLY, set_by="close-only")
    journal.set_operator_mode("f1", OperatorMode.NORMAL, set_by="resume", reason="by ops")

    modes = journal.operator_modes()
    assert {n: (m.mode, m.set_by, m.reason) for n, m in modes.items()} == {
        "f1": (OperatorMode.NORMAL, "resume", "by ops"),
        "f2": (OperatorMode.CLOSE_ONLY, "close-only", None),
    }
    assert modes["f1"].set_at >= modes["f2"].set_at
    audit = [
        (r.account, r.actor, r.payload["mode"], r.payload["reason"])
        for r in journal.audit_after(0)
        if r.kind == "operator_mode"
    ]
    assert audit == [
        ("f1", "pause", "paused", "margin call"),
        ("f2", "close-only", "close_only", None),
        ("f1", "resume", "normal", "by ops"),
    ]


def test_an_operator_mode_the_schema_does_not_know_is_refused(journal: Journal):
    with pytest.raises(ValueError, match="sleepy"):
        journal.set_operator_mode("f1", "sleepy", set_by="test")  # type: ignore[arg-type]
    assert journal.operator_modes() == {}


def test_a_flatten_request_waits_pending_until_the_engine_finishes_it_once(journal: Journal):
    first = journal.request_flatten("f1", kill_switch=True, requested_by="flatten")
    second = journal.request_flatten("f2", kill_switch=False, requested_by="flatten")
    pending = journal.flatten_requests()
    assert [(r.id, r.follower, r.kill_switch, r.state) for r in pending] == [
        (first, "f1", True, "pending"),
        (second, "f2", False, "pending"),
    ]
    journal.finish_flatten(pending[0], flat=True, result="cancelled: order 1")
    journal.finish_flatten(pending[0], flat=False, result="a second finish changes nothing")
    assert [r.id for r in journal.flatten_requests()] == [second]
    done = journal.flatten_request(first)
    assert done is not None and (done.state, done.result) == ("done", "cancelled: order 1")
    assert done.finished_at is not None
    kinds = [(r.kind, r.account) for r in journal.audit_after(0) if r.kind.startswith("flatten")]
    assert kinds[:3] == [
        ("flatten_requested", "f1"),
        ("flatten_requested", "f2"),
        ("flatten_finished", "f1"),
    ]
