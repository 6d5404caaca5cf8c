"""Benchmark: broker book reads of one follower's open brackets, one book per actor vs shared.

``python -m bench.brackets [--brackets 20] [--kind super|bo] [--window-s 10] [--tick-s 1]``.
One follower holds ``--brackets`` open super orders (or BOs), each watched by a
BracketLegActor under a supervisor, as the engine runs them, on a SQLite journal that holds
the leader orders and the follower intents. The simulator runs in its own process; its journal
counts the follower's GETs over ``--window-s`` in steady state (nothing moves, so nothing is
sent). Cases: ``own`` (``book=None``: each actor its own FollowerBook, as before) and
``shared`` (one FollowerBook for all). Writes ``bench/results/brackets.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from actors.bracket_leg import BracketLegActor
from actors.follower_book import FollowerBook
from actors.names import bracket_name
from actors.orders import place_request
from actors.sizing import SizingContext, desired_intents
from actors.snapshots import bracket_parents, snapshot_from_order, snapshots_from_super_order
from bench.common import (
    LTP,
    SECURITY_ID,
    Accounts,
    SimProcess,
    machine,
    table,
    token_of,
    wait_until,
    workdir,
    write_json,
)
from copytrader.config import EngineConfig, FollowerConfig, Secret, SizingConfig, SizingMode
from copytrader.metrics import Metrics
from dhan.codes import ExchangeSegment, OrderType, ProductType, TransactionType, Validity
from dhan.models import OrderRequest, SuperOrderRequest
from dhan.rest import DhanClient
from store import IntentState, Journal, LeaderOrderSnapshot
from supervision import ChildSpec, Restart, Supervisor

FOLLOWER = "f0000"
TARGET_INR = 40.0
STOP_INR = 40.0


def _leader_orders(leader: DhanClient, kind: str, n: int) -> list[LeaderOrderSnapshot]:
    """Place ``n`` leader brackets that trade at once; their snapshots as the feed journals them."""
    for k in range(n):
        if kind == "super":
            leader.place_super_order(
                SuperOrderRequest(
                    transaction_type=TransactionType.BUY,
                    exchange_segment=ExchangeSegment.NSE_EQ,
                    product_type=ProductType.INTRADAY,
                    order_type=OrderType.LIMIT,
                    security_id=SECURITY_ID,
                    quantity=1,
                    price=LTP,
                    target_price=LTP + TARGET_INR,
                    stop_loss_price=LTP - STOP_INR,
                )
            )
        else:
            leader.place_order(
                OrderRequest(
                    transaction_type=TransactionType.BUY,
                    exchange_segment=ExchangeSegment.NSE_EQ,
                    product_type=ProductType.BO,
                    order_type=OrderType.LIMIT,
                    validity=Validity.DAY,
                    security_id=SECURITY_ID,
                    quantity=1,
                    price=LTP,
                    bo_profit_value=TARGET_INR,
                    bo_stop_loss_value=STOP_INR,
                    # the legs carry the entry's correlationId: it links them to their entry
                    correlation_id=f"bench-bo-{k}",
                )
            )
    if kind == "super":
        wait_until(lambda: len(leader.list_super_orders()) == n, 10.0, what="leader orders")
        return [s for so in leader.list_super_orders() for s in snapshots_from_super_order(so)]
    # entry + target + stop per BO, once the entries traded
    wait_until(lambda: len(leader.list_orders()) == 3 * n, 10.0, what="leader BO legs")
    orders = leader.list_orders()
    parents = bracket_parents(orders)
    return [snapshot_from_order(o, parents=parents) for o in orders]


def _seed(journal: Journal, leader: DhanClient, follower: DhanClient, kind: str, n: int) -> None:
    """Journal the leader's brackets and the follower's copies, placed and WORKING."""
    cfg = FollowerConfig(
        name=FOLLOWER,
        client_id=follower.client_id,
        access_token=Secret(token_of(follower.client_id)),
        sizing=SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=1.0),
    )
    ctx = SizingContext(lot_sizes={(str(ExchangeSegment.NSE_EQ), SECURITY_ID): 1}, balances={})
    for snap in _leader_orders(leader, kind, n):
        journal.record_leader_snapshot(snap, desired_intents(snap, [cfg], ctx))
    for intent in journal.intents(FOLLOWER):
        intent = journal.transition(intent.id, IntentState.SENDING, reason="bench")
        if kind == "super":
            ack = follower.place_super_order(place_request(intent, super_order=True))  # type: ignore[arg-type]  # a SuperOrderRequest
        else:
            ack = follower.place_order(place_request(intent))  # type: ignore[arg-type]  # an OrderRequest
        journal.transition(
            intent.id,
            IntentState.WORKING,
            broker_order_id=ack.order_id,
            applied_version=intent.desired_version,
        )


def _count_gets(sim: SimProcess, client_id: str, since_seq: int) -> Counter[str]:
    entries = sim.api().journal(kind="rest", account=client_id, since_seq=since_seq)
    return Counter(e["endpoint"] for e in entries if e["method"] == "GET")


def _last_seq(sim: SimProcess) -> int:
    entries = sim.api().journal()
    return int(entries[-1]["seq"]) if entries else 0


def run_case(
    sim: SimProcess, kind: str, n: int, shared: bool, window_s: float, tick_s: float, index: int
) -> dict[str, Any]:
    accounts = Accounts.block(index, 1)
    sim.create_accounts(accounts.all)
    with (
        workdir("bench-brackets-") as tmp,
        Journal.open(f"sqlite:///{Path(tmp) / 'journal.db'}") as journal,
        DhanClient(
            base_url=sim.rest_url,
            client_id=accounts.leader,
            access_token=token_of(accounts.leader),
        ) as leader,
        DhanClient(
            base_url=sim.rest_url,
            client_id=accounts.followers[0],
            access_token=token_of(accounts.followers[0]),
        ) as follower,
    ):
        _seed(journal, leader, follower, kind, n)
        engine = EngineConfig(bracket_tick_s=tick_s, audit_path=str(Path(tmp) / "audit.jsonl"))
        book = FollowerBook(follower, max_age_s=tick_s / 2) if shared else None
        metrics = Metrics(process=False)
        specs = [
            ChildSpec.actor(
                bracket_name(FOLLOWER, intent.leader_order_id),
                BracketLegActor,
                follower=FOLLOWER,
                intent_id=intent.id,
                client=follower,
                journal=journal,
                engine=engine,
                metrics=metrics,
                book=book,
                restart=Restart.TRANSIENT,
            )
            for intent in journal.intents(FOLLOWER)
        ]
        assert len(specs) == n, f"{len(specs)} intents for {n} brackets"
        root = Supervisor("bench-brackets", specs).start()
        try:
            wait_until(
                lambda: len(journal.open_brackets(FOLLOWER)) == n, 10.0, what="legs journaled"
            )
            since = _last_seq(sim)
            cpu0, wall0 = time.process_time(), time.monotonic()
            time.sleep(window_s)  # the measurement window: the actors tick meanwhile
            cpu_s, wall_s = time.process_time() - cpu0, time.monotonic() - wall0
            gets = _count_gets(sim, follower.client_id, since)
            alive = len(journal.open_brackets(FOLLOWER))
        finally:
            root.stop()
    total = sum(gets.values())
    return {
        "kind": kind,
        "brackets": n,
        "book": "shared" if shared else "own",
        "window_s": round(wall_s, 2),
        "gets": dict(gets),
        "gets_per_s": round(total / wall_s, 2),
        "gets_per_bracket_tick": round(total / wall_s * tick_s / n, 3),
        "engine_cpu_pct": round(100 * cpu_s / wall_s, 1),
        "brackets_open_at_end": alive,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.brackets", description=__doc__)
    parser.add_argument("--brackets", type=int, default=20)
    parser.add_argument("--kind", choices=["super", "bo", "both"], default="both")
    parser.add_argument("--window-s", type=float, default=10.0)
    parser.add_argument("--tick-s", type=float, default=1.0, help="engine.bracket_tick_s")
    args = parser.parse_args(argv)
    kinds = ["super", "bo"] if args.kind == "both" else [args.kind]
    cases: list[dict[str, Any]] = []
    # no simulated order-rate limits: we count what the engine asks for, not what it is allowed
    with SimProcess(rate_limits=False) as sim:
        sim.api().set_ltp(str(ExchangeSegment.NSE_EQ), SECURITY_ID, LTP)
        index = 0
        for kind in kinds:
            for shared in (False, True):
                index += 1
                cases.append(
                    run_case(sim, kind, args.brackets, shared, args.window_s, args.tick_s, index)
                )
    path = write_json(
        "brackets.json",
        {"machine": machine(), "tick_s": args.tick_s, "cases": cases},
    )
    print(f"1 follower x {args.brackets} open brackets, bracket tick {args.tick_s} s")
    print(
        table(
            ["kind", "book", "GET/s", "GET per bracket tick", "engine CPU %", "open at end"],
            [
                [
                    c["kind"],
                    c["book"],
                    c["gets_per_s"],
                    c["gets_per_bracket_tick"],
                    c["engine_cpu_pct"],
                    c["brackets_open_at_end"],
                ]
                for c in cases
            ],
        )
    )
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
