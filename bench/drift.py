"""Cost of one position-drift computation (the engine's sampler, every 10 s, off the hot path).

``python -m bench.drift [--orders 500] [--followers 10] [--runs 10]`` fills a fresh SQLite
journal with a trading day: ``--orders`` leader MARKET orders (traded, alternately BUY and
SELL over 20 instruments), each copied to every follower (``multiplier`` 1; every tenth copy
skipped for a cap), the copies claimed, acked and settled filled (so the store applies their
fills to the followers' positions). Then it times ``DriftReader.rows`` for every follower --
the sampler's computation, with its reads -- and prints the wall p50 / max and the CPU of the
calling thread per computation. Meanwhile a probe thread sleeps 1 ms in a loop and records how
late it wakes (the GIL held by the computation delays every other thread, the copying ones
too); the same probe over an idle period of the same length is the reference. Last, the
cost of a sample that finds the journal unchanged (``copytrader.drift.fingerprint``).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from copytrader.drift import DriftReader, fingerprint, trading_day_start
from dhan.codes import ExchangeSegment, OrderStatus, OrderType, ProductType, TransactionType
from dhan.correlation import correlation_id_for
from store import DesiredIntent, IntentState, Journal, LeaderOrderSnapshot, SnapshotSource
from store.records import TransitionRequest


def _fill_journal(journal: Journal, orders: int, followers: list[str]) -> None:
    for n in range(orders):
        oid = f"{5_000_000 + n}"
        side = TransactionType.BUY if n % 2 == 0 else TransactionType.SELL
        security = str(1000 + n % 20)
        snap = LeaderOrderSnapshot(
            leader_order_id=oid,
            dedupe_key=f"{oid}-traded",
            source=SnapshotSource.SOCKET,
            status=OrderStatus.TRADED,
            transaction_type=side,
            exchange_segment=ExchangeSegment.NSE_EQ,
            product_type=ProductType.INTRADAY,
            order_type=OrderType.MARKET,
            security_id=security,
            quantity=10,
            filled_qty=10,
            seq=n + 1,
        )
        skip = "below one lot: capped" if n % 10 == 9 else None
        desired = [
            DesiredIntent(
                follower=f,
                leader_order_id=oid,
                correlation_id=correlation_id_for(f, oid),
                transaction_type=side,
                exchange_segment=ExchangeSegment.NSE_EQ,
                product_type=ProductType.INTRADAY,
                order_type=OrderType.MARKET,
                security_id=security,
                quantity=0 if skip else 10,
                desired_open=skip is None,
                skip_reason=skip,
            )
            for f in followers
        ]
        claimed = journal.record_and_claim(snap, desired, followers if skip is None else ())
        if not claimed:
            continue
        journal.transitions(
            [
                r
                for i, intent in enumerate(claimed)
                for r in (
                    TransitionRequest(
                        intent_id=intent.id,
                        to=IntentState.WORKING,
                        expect_from=IntentState.SENDING,
                        broker_order_id=f"B{oid}-{i}",
                        applied_version=intent.desired_version,
                    ),
                    TransitionRequest(intent_id=intent.id, to=IntentState.DONE, filled_qty=10),
                )
            ]
        )


def _late_wakeups(work: Callable[[], None]) -> str:
    """Run ``work`` while a thread sleeps 1 ms in a loop; how late it woke (p50 / p99 / max)."""
    stop = threading.Event()
    late: list[float] = []

    def probe() -> None:
        while not stop.is_set():
            t = time.perf_counter()
            time.sleep(0.001)
            late.append(time.perf_counter() - t - 0.001)

    thread = threading.Thread(target=probe, name="gil-probe")
    thread.start()
    try:
        work()
    finally:
        stop.set()
        thread.join()
    late.sort()
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))]
    return (
        f"p50 {statistics.median(late) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
        f"max {late[-1] * 1000:.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drift", description=__doc__)
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--followers", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    followers = [f"f{i:02d}" for i in range(args.followers)]
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal.open(f"sqlite:///{Path(tmp) / 'journal.db'}")
        try:
            started = time.monotonic()
            _fill_journal(journal, args.orders, followers)
            print(f"journal filled in {time.monotonic() - started:.1f} s")
            reader = DriftReader()
            walls: list[float] = []
            cpus: list[float] = []
            rows = []

            def computations() -> None:
                nonlocal rows
                for _ in range(args.runs):
                    w0, c0 = time.perf_counter(), time.thread_time()
                    rows = reader.rows(journal, followers, {}, now=trading_day_start())
                    cpus.append(time.thread_time() - c0)
                    walls.append(time.perf_counter() - w0)

            busy = _late_wakeups(computations)
            idle = _late_wakeups(lambda: time.sleep(sum(walls)))
            checks = []
            for _ in range(args.runs):
                c0 = time.thread_time()
                fingerprint(journal, followers, {})
                checks.append(time.thread_time() - c0)
        finally:
            journal.close()
    intents = args.orders * args.followers
    print(
        f"drift of {args.followers} followers over {args.orders} leader orders "
        f"({intents} copies, {len(rows)} rows, {sum(1 for r in rows if r.drift)} drifting): "
        f"wall p50 {statistics.median(walls) * 1000:.0f} ms, max {max(walls) * 1000:.0f} ms; "
        f"CPU p50 {statistics.median(cpus) * 1000:.0f} ms per computation"
    )
    print(f"a 1 ms sleeper wakes late by: {busy} during them; {idle} idle")
    print(
        f"a sample of an unchanged journal (its fingerprint only): CPU p50 "
        f"{statistics.median(checks) * 1000:.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
