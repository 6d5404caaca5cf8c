"""Many threads moving one account's positions: the database decides, each fill counts once,
and writers of crossing keys never deadlock (PostgreSQL row locks; SQLite's one writer)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from store import IntentState, Journal, OrderFill, PositionKey, TransitionRequest
from tests.unit.store.factories import desired, snapshot

THREADS = 8
KEYS = [PositionKey("NSE_EQ", str(1000 + k), "INTRADAY") for k in range(4)]


def test_threads_applying_the_same_growing_fills_count_each_order_once(journal: Journal) -> None:
    start = threading.Barrier(THREADS)

    def apply(t: int) -> None:
        start.wait(timeout=10)
        for cumulative in range(1, 11):
            # every thread reports the same orders, in a different key order
            fills = [OrderFill(f"O{k}", key, "BUY", cumulative) for k, key in enumerate(KEYS)]
            journal.apply_fills("f1", fills[t % 4 :] + fills[: t % 4])

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(apply, range(THREADS)))

    assert {p.key: p.net_qty for p in journal.positions("f1")} == {key: 10 for key in KEYS}


def test_batches_of_transitions_filling_crossing_keys_all_commit(journal: Journal) -> None:
    # each leader order's copies: one per key, for one follower; batches fill them in id order,
    # which crosses the key order (the positions' locks are taken last, sorted)
    orders = [f"L{n}" for n in range(THREADS)]
    ids: dict[str, list[int]] = {}
    for n, order in enumerate(orders):
        intents = [
            desired("f1", order, leg=f"F{k + 2}" if k else "", security_id=key.security_id)
            for k, key in enumerate(reversed(KEYS) if n % 2 else KEYS)
        ]
        claimed = journal.record_and_claim(snapshot(order), intents, ["f1"])
        assert claimed is not None
        ids[order] = [i.id for i in claimed]
    start = threading.Barrier(THREADS)

    def fill(order: str) -> None:
        start.wait(timeout=10)
        requests = [
            TransitionRequest(
                intent_id=intent_id,
                to=IntentState.DONE,
                broker_order_id=f"B{intent_id}",
                filled_qty=10,
            )
            for intent_id in ids[order]
        ]
        for outcome in journal.transitions(requests):
            assert not isinstance(outcome, Exception), outcome

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(fill, orders))

    assert {p.key: p.net_qty for p in journal.positions("f1")} == {
        key: 10 * THREADS for key in KEYS
    }
