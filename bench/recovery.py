"""Benchmark: from an engine restart after SIGKILL to the first newly copied order.

``python -m bench.recovery [--runs 5] [--followers 10]``. An engine subprocess
(``python -m copytrader --config X run``) copies a leader order; it is SIGKILLed while the
copies of that order are in flight; the leader places a new resting LIMIT order right after the
kill (the socket never replays it: the restarted engine finds it in its REST reconcile); the
engine is restarted on the same store. Measured on the host's monotonic clock, which the
simulator's journal shares: restart (just before ``Popen``) -> the first follower place of the
new order received by the simulator, and -> every follower's. Also counts the copies of the
order in flight at the kill: at most one per follower (no duplicate). Writes
``bench/results/recovery.json``.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.common import (
    LTP,
    SECURITY_ID,
    Accounts,
    EngineProcess,
    SimProcess,
    machine,
    marketable_order,
    resting_limit_order,
    summary_ms,
    table,
    token_of,
    wait_until,
    workdir,
    write_config_yaml,
    write_json,
)
from dhan.correlation import correlation_id_for
from dhan.rest import DhanClient


def _places(sim: SimProcess, cids: set[str], since_ns: int) -> list[int]:
    """Arrival times (ns) of the first place request per correlationId in ``cids``."""
    first: dict[str, int] = {}
    for e in sim.api().journal(since_ns=since_ns, kind="rest"):
        cid = e.get("correlationId")
        if e.get("endpoint") == "POST /orders" and cid in cids and cid not in first:
            first[str(cid)] = int(e["t_ns"])
    return sorted(first.values())


def _copies(sim: SimProcess, accounts: Accounts, leader_order_id: str) -> list[int]:
    """Per follower: how many orders in its book carry the copy's correlationId."""
    counts = []
    for name, client_id in zip(accounts.names, accounts.followers, strict=True):
        cid = correlation_id_for(name, leader_order_id)
        counts.append(sum(1 for o in sim.api().orders(client_id) if o.get("correlationId") == cid))
    return counts


def _all_of(sim: SimProcess, cids: set[str], since_ns: int) -> Callable[[], list[int] | None]:
    """A predicate: the first-place times once every correlationId in ``cids`` was placed."""

    def check() -> list[int] | None:
        got = _places(sim, cids, since_ns)
        return got if len(got) == len(cids) else None

    return check


def import_s(samples: int = 3) -> float:
    """Median wall time of a fresh interpreter importing the engine: a floor under any restart."""
    took = []
    for _ in range(samples):
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", "import copytrader.cli, copytrader.runner, copytrader.engine"],
            check=True,
        )
        took.append(time.monotonic() - t0)
    return sorted(took)[len(took) // 2]


def run(runs: int, followers: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    accounts = Accounts.block(300, followers)
    records: list[dict[str, Any]] = []
    with SimProcess(rate_limits=True) as sim, workdir("bench-recovery-") as tmp:
        sim.create_accounts(accounts.all)
        sim.api().set_ltp("NSE_EQ", SECURITY_ID, LTP)
        config = write_config_yaml(tmp / "config.yaml", accounts, sim.rest_url, sim.feed_url, tmp)
        leader = DhanClient(
            base_url=sim.rest_url, client_id=accounts.leader, access_token=token_of(accounts.leader)
        )
        engine = EngineProcess(config, tmp / "engine.log").start()
        try:
            engine.wait_ready(120.0)
            for k in range(runs):
                print(f"recovery: run {k + 1}/{runs} ...", file=sys.stderr, flush=True)
                # copying: a leader order whose copies are in flight when the kill lands
                in_flight = leader.place_order(marketable_order(k)).order_id
                time.sleep(rng.uniform(0.0, 0.05))  # a random point in the fan-out
                engine.kill()
                fresh = leader.place_order(resting_limit_order()).order_id
                cids = {correlation_id_for(n, fresh) for n in accounts.names}
                engine = EngineProcess(config, tmp / "engine.log").start()
                restart_ns = engine.started_ns
                ready_s = engine.wait_ready(120.0)
                firsts = wait_until(
                    _all_of(sim, cids, restart_ns),
                    60.0,
                    0.05,
                    "every copy of the new order",
                )
                # the order in flight at the kill: copied if its snapshot was journaled before
                # the kill; found only by the reconcile it has traded, and copy_open skips it
                time.sleep(1.0)  # a follower tick's worth for in-flight copies to resolve
                killed = _copies(sim, accounts, in_flight)
                records.append(
                    {
                        "run": k + 1,
                        "ready_s": round(ready_s, 3),
                        "first_copy_s": round((firsts[0] - restart_ns) / 1e9, 3),
                        "all_copies_s": round((firsts[-1] - restart_ns) / 1e9, 3),
                        "killed_order_followers_with_a_copy": sum(1 for c in killed if c),
                        "killed_order_duplicates": sum(max(0, x - 1) for x in killed),
                    }
                )
        finally:
            leader.close()
            engine.stop()
    first = [r["first_copy_s"] for r in records]
    every = [r["all_copies_s"] for r in records]
    return {
        "benchmark": "recovery",
        "machine": machine(),
        "followers": followers,
        "runs": records,
        "first_copy": summary_ms(first),
        "all_copies": summary_ms(every),
        "ready": summary_ms([r["ready_s"] for r in records]),
        "duplicates": sum(r["killed_order_duplicates"] for r in records),
        "python_import_s": round(import_s(), 3),
        "target_s": 3.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.recovery", description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--followers", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill timing")
    args = parser.parse_args(argv)
    results = run(args.runs, args.followers, args.seed)
    path = write_json("recovery.json", results)
    print(f"restart after SIGKILL -> first newly copied order ({args.followers} followers), s")
    print(
        table(
            ["run", "/readyz", "first copy", "all copies", "killed order copied", "dups"],
            [
                [
                    r["run"],
                    r["ready_s"],
                    r["first_copy_s"],
                    r["all_copies_s"],
                    r["killed_order_followers_with_a_copy"],
                    r["killed_order_duplicates"],
                ]
                for r in results["runs"]
            ],
        )
    )
    f = results["first_copy"]
    print(
        f"first copy after restart: p50 {f['p50_ms'] / 1000:.2f} s, max {f['max_ms'] / 1000:.2f} s"
        f" (target <= 3 s); duplicates: {results['duplicates']}"
    )
    print(f"of which a fresh interpreter importing the engine: {results['python_import_s']} s")
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
