"""``Journal.exposures`` (one SQL read) against the same sums made in Python from the journal's
other reads, over random journals: orders and copies on two instruments and products, both
sides, every order type that matters, open and finished, with and without exit bases."""

from __future__ import annotations

import random

import pytest

from dhan.codes import OrderStatus, OrderType, ProductType, TransactionType
from store import Exposure, IntentState, Journal, PositionKey
from store.records import LEADER_ACCOUNT, position_key_of
from tests.unit.store.factories import desired, snapshot

FOLLOWERS = ["f1", "f2", "f3"]
SECURITIES = ["1333", "11536"]
PRODUCTS = [ProductType.INTRADAY, ProductType.CNC]
KEYS = [PositionKey("NSE_EQ", s, str(p)) for s in SECURITIES for p in PRODUCTS]
ORDER_TYPES = [OrderType.LIMIT, OrderType.MARKET, OrderType.STOP_LOSS_MARKET, OrderType.STOP_LOSS]
SIDES = [TransactionType.BUY, TransactionType.SELL]
OPEN = [OrderStatus.PENDING, OrderStatus.PART_TRADED, OrderStatus.TRANSIT]
DONE = [OrderStatus.TRADED, OrderStatus.CANCELLED, OrderStatus.REJECTED]
MARKET_TYPES = {OrderType.MARKET}  # a stop-loss market copy rests until its trigger


def _basis(rng: random.Random) -> int | None:
    return rng.choice([None, 0, rng.randint(1, 50)])


def _journal_of(journal: Journal, rng: random.Random, orders: int) -> list[str]:
    ids = []
    for n in range(orders):
        order_id = f"R{n}"
        ids.append(order_id)
        security, product = rng.choice(SECURITIES), rng.choice(PRODUCTS)
        side = rng.choice(SIDES)
        quantity = rng.randint(1, 40)
        status = rng.choice(OPEN + DONE)
        filled = rng.randint(0, quantity) if status is not OrderStatus.REJECTED else 0
        fields = {"security_id": security, "product_type": product, "transaction_type": side}
        bases = {
            account: basis
            for account in [LEADER_ACCOUNT, *FOLLOWERS]
            if (basis := _basis(rng)) is not None
        }
        copies = [
            desired(
                f,
                order_id,
                quantity=rng.randint(1, 40),
                order_type=rng.choice(ORDER_TYPES),
                **fields,
            )
            for f in FOLLOWERS
            if rng.random() < 0.8
        ]
        claimed = journal.record_and_claim(
            snapshot(
                order_id,
                status=status,
                quantity=quantity,
                filled_qty=filled,
                leg_name=rng.choice(["", "", "", "TARGET_LEG"]),
                **fields,
            ),
            copies,
            [c.follower for c in copies],
            bases=bases,
        )
        assert claimed is not None
        for intent in claimed:
            moves = rng.choice(["sent", "working", "done", "rejected", "cancelling"])
            if moves == "sent":
                continue
            if moves == "rejected":
                journal.transition(intent.id, IntentState.REJECTED)
                continue
            journal.transition(
                intent.id,
                IntentState.WORKING,
                broker_order_id=f"B{intent.id}",
                applied_version=1,
                filled_qty=rng.randint(0, intent.quantity),
            )
            if moves == "done":
                journal.transition(intent.id, IntentState.DONE)
            elif moves == "cancelling":
                journal.transition(intent.id, IntentState.CANCELLING)
    return ids


def _remaining(quantity: int, filled: int) -> int:
    return max(quantity - filled, 0)


def reference(
    journal: Journal, key: PositionKey, side: str, accounts: list[str], exclude: str | None
) -> dict[str, Exposure]:
    """The exposures, summed in Python from ``positions``, ``leader_snapshots``, ``intents``
    and ``exit_bases``."""
    nets = {(p.account, p.key): p.net_qty for p in journal.positions()}
    other = "BUY" if side == "SELL" else "SELL"
    found = {}
    for account in accounts:
        pending = inflight = market = 0
        if account == LEADER_ACCOUNT:
            for snap in journal.leader_snapshots(open_only=True):
                basis = journal.exit_bases(snap.leader_order_id).get(LEADER_ACCOUNT, 0)
                if (
                    snap.leg_name == ""
                    and position_key_of(snap) == key
                    and str(snap.transaction_type) == side
                    and basis > 0
                    and snap.leader_order_id != exclude
                ):
                    pending += _remaining(snap.quantity, snap.filled_qty)
                    if snap.order_type is OrderType.MARKET:
                        market += _remaining(snap.quantity, snap.filled_qty)
        else:
            for intent in journal.intents(account):
                if (
                    intent.state.is_terminal
                    or position_key_of(intent) != key
                    or intent.leader_order_id == exclude
                ):
                    continue
                basis = journal.exit_bases(intent.leader_order_id).get(account, 0)
                left = _remaining(intent.quantity, intent.filled_qty)
                if str(intent.transaction_type) == side and basis > 0:
                    pending += left
                    if intent.order_type is OrderType.MARKET:
                        market += left
                elif (
                    str(intent.transaction_type) == other
                    and intent.order_type in MARKET_TYPES
                    and basis == 0
                ):
                    inflight += left
                elif str(intent.transaction_type) == other and intent.order_type in MARKET_TYPES:
                    # a flip's copy: what it opens beyond the position it closed, unfilled
                    inflight += _remaining(intent.quantity, max(intent.filled_qty, basis))
        found[account] = Exposure(
            net_qty=nets.get((account, key), 0),
            pending_exit_qty=pending,
            inflight_entry_qty=inflight,
            pending_market_exit_qty=market,
        )
    return found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exposures_are_the_sums_of_the_journals_own_facts(journal: Journal, seed: int) -> None:
    rng = random.Random(seed)
    ids = _journal_of(journal, rng, orders=40)
    accounts = [LEADER_ACCOUNT, *FOLLOWERS, "nobody"]
    nonzero = 0
    for key in KEYS:
        for side in ("BUY", "SELL"):
            for exclude in (None, rng.choice(ids)):
                wanted = rng.sample(accounts, rng.randint(1, len(accounts)))
                got = journal.exposures(key, side, wanted, exclude)
                assert got == reference(journal, key, side, wanted, exclude), (key, side, exclude)
                nonzero += sum(
                    1 for e in got.values() if e.pending_exit_qty or e.inflight_entry_qty
                )
    assert nonzero > 0  # the random journals do exercise the sums
