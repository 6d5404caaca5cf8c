"""``actors.operator_modes``: which new copies each operator mode lets through."""

from __future__ import annotations

import pytest

from actors.operator_modes import (
    CLOSE_ONLY_SKIP,
    PAUSED_SKIP,
    CopyKind,
    ModeDecision,
    apply_modes,
    copy_kind,
    mode_decision,
)
from actors.sizing import ExitBasis
from dhan.codes import OrderStatus, TransactionType
from store.records import HELD_PREFIX, OperatorMode
from tests.unit.store.factories import desired, snapshot

N, P, C = OperatorMode.NORMAL, OperatorMode.PAUSED, OperatorMode.CLOSE_ONLY
E, X, F = CopyKind.ENTRY, CopyKind.EXIT, CopyKind.FLIP
COPY, PART, SKIP = ModeDecision.COPY, ModeDecision.CLOSE_PART, ModeDecision.SKIP

ENTRY = ExitBasis(0, {})
EXIT = ExitBasis(10, {"f1": 6})  # a SELL 10 against the leader's 10 long: closes it all
FLIP = ExitBasis(4, {"f1": 4})  # a SELL 10 against the leader's 4 long: closes 4, opens 6


@pytest.mark.parametrize(
    ("mode", "kind", "has_copy", "decision"),
    [
        (N, E, False, COPY),
        (N, X, False, COPY),
        (N, F, False, COPY),
        (C, E, False, SKIP),
        (C, X, False, COPY),
        (C, F, False, PART),
        (P, E, False, SKIP),
        (P, X, False, SKIP),
        (P, F, False, SKIP),
        # a copy that exists is mirrored in every mode: modifies, cancels, its legs
        (C, E, True, COPY),
        (P, E, True, COPY),
        (P, X, True, COPY),
        (P, F, True, COPY),
    ],
)
def test_mode_decides_only_copies_not_made_yet(
    mode: OperatorMode, kind: CopyKind, has_copy: bool, decision: ModeDecision
) -> None:
    assert mode_decision(mode, kind, has_copy=has_copy) is decision


@pytest.mark.parametrize(
    ("basis", "quantity", "status", "filled", "kind"),
    [
        (None, 10, OrderStatus.PENDING, 0, E),  # BO / CO / super order: no basis, an entry
        (ENTRY, 10, OrderStatus.PENDING, 0, E),
        (EXIT, 10, OrderStatus.PENDING, 0, X),
        (FLIP, 10, OrderStatus.PENDING, 0, F),
        (FLIP, 10, OrderStatus.CANCELLED, 3, X),  # only its filled 3 is mirrored: within 4
    ],
)
def test_copy_kind_from_the_basis(
    basis: ExitBasis | None, quantity: int, status: OrderStatus, filled: int, kind: CopyKind
) -> None:
    snap = snapshot(quantity=quantity, status=status, filled_qty=filled)
    assert copy_kind(snap, basis) is kind


def sell(**fields: object) -> object:
    return snapshot(transaction_type=TransactionType.SELL, quantity=10, **fields)


def test_no_mode_changes_nothing() -> None:
    intents = [desired("f1"), desired("f2")]
    assert apply_modes(snapshot(), intents, ENTRY, {}, set(), 1) == intents


def test_close_only_skips_a_new_entry_and_keeps_another_followers_copy() -> None:
    out = apply_modes(snapshot(), [desired("f1"), desired("f2")], ENTRY, {"f1": C}, set(), 1)
    assert (out[0].skip_reason, out[0].desired_open, out[0].quantity) == (CLOSE_ONLY_SKIP, False, 0)
    assert out[1] == desired("f2")


def test_paused_skips_a_new_exit_but_close_only_copies_it() -> None:
    intents = [desired("f1", quantity=6, transaction_type=TransactionType.SELL)]
    snap = sell()
    assert apply_modes(snap, intents, EXIT, {"f1": P}, set(), 1)[0].skip_reason == PAUSED_SKIP
    assert apply_modes(snap, intents, EXIT, {"f1": C}, set(), 1) == intents


def test_an_existing_copy_keeps_being_mirrored_when_paused() -> None:
    modified = desired("f1", quantity=20, price=101.0)
    assert apply_modes(snapshot(), [modified], ENTRY, {"f1": P}, {"f1"}, 1) == [modified]


def test_close_only_copies_only_the_close_part_of_a_flip_across_its_pieces() -> None:
    # the follower's flip copy: close 4 + open 6 = 10, sliced in pieces of 3, 3, 3, 1
    pieces = [
        desired("f1", leg=leg, quantity=q, transaction_type=TransactionType.SELL)
        for leg, q in [("", 3), ("F2", 3), ("F3", 3), ("F4", 1)]
    ]
    out = apply_modes(sell(), pieces, FLIP, {"f1": C}, set(), 1)
    assert [i.quantity for i in out] == [3, 1, 0, 0]
    assert [i.skip_reason for i in out] == [None, None, CLOSE_ONLY_SKIP, CLOSE_ONLY_SKIP]


def test_a_decision_that_stands_is_kept_and_a_revivable_skip_becomes_the_modes() -> None:
    filtered = desired("f1", quantity=0, desired_open=False, skip_reason="filtered: product BO")
    held = desired("f2", quantity=0, desired_open=False, skip_reason=f"{HELD_PREFIX}entry")
    waiting = desired("f3", quantity=0, desired_open=False, skip_reason="waiting: lot size")
    out = apply_modes(
        snapshot(), [filtered, held, waiting], ENTRY, {"f1": P, "f2": P, "f3": C}, set(), 1
    )
    assert [i.skip_reason for i in out] == ["filtered: product BO", PAUSED_SKIP, CLOSE_ONLY_SKIP]


def test_a_held_flip_is_left_whole_under_close_only() -> None:
    held = desired("f1", quantity=0, desired_open=False, skip_reason=f"{HELD_PREFIX}entry")
    assert apply_modes(sell(), [held], FLIP, {"f1": C}, set(), 1) == [held]
