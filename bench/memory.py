"""Benchmark: resident memory of the engine process against the number of followers.

``python -m bench.memory [--followers 1,25,50] [--orders 500]``. For each N an engine
subprocess (``python -m copytrader --config X run``, metrics on, SQLite store) runs against a
simulator in its own process; VmRSS is read from ``/proc/<pid>/status`` once ``/readyz``
answers 200, and again after copying the leader's orders (every copy acknowledged, then a
settle pause for the ticks). The default is a trading day's worth, 500 leader orders placed at
``--leader-rate`` (4/s: under Dhan's 250 orders/min), so what grows with the day's orders
shows; the fan-out at 500 followers is ``--followers 1,100,500 --orders 5``. Per-follower cost
= the least-squares slope of RSS over N. The followers' reads of their order books are counted
in the simulator's journal: whole (``GET /orders``) and one order at a time (``GET
/orders/{id}``). Places the broker refused (DH-904 and the like, resent by the engine) are
counted apart from those it accepted, and once the engine has stopped the chaos checker
(``copytrader.checker``) judges the journal against the follower books and the leader's: a day
with a lost, duplicated or wrong copy exits 1. ``--probe DIR`` runs the engine under
``bench.memprobe`` (what the memory is made of; ``bench.memprobe_report DIR``). Writes
``bench/results/memory.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from actors.exit_sizing import NOTHING_TO_CLOSE
from bench.common import (
    LTP,
    SECURITY_ID,
    Accounts,
    EngineProcess,
    SimProcess,
    engine_config,
    machine,
    marketable_order,
    rss_kb,
    table,
    token_of,
    wait_until,
    workdir,
    write_config_yaml,
    write_json,
)
from copytrader.checker import CheckResult, check_books
from copytrader.commands import open_existing_journal
from copytrader.config import Config
from dhan.rest import DhanClient


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class _FollowerPlaces:
    """Counts the followers' ``POST /orders`` in the simulator's journal, reading only the
    entries since the last count (a day's copies make a long journal): those the broker
    accepted (2xx) apart from those it refused (by error code, e.g. DH-904 for a rate limit,
    or the HTTP status), and the followers' reads of the order book, whole (``GET /orders``)
    and one order at a time (``GET /orders/{order_id}``)."""

    def __init__(self, sim: SimProcess, accounts: Accounts) -> None:
        self.sim = sim
        self.followers = set(accounts.followers)
        self.count = 0
        self.refused: Counter[str] = Counter()
        self.seq = 0
        self.reads = {"GET /orders": 0, "GET /orders/{order_id}": 0}

    def __call__(self) -> int:
        """The accepted places so far."""
        entries = self.sim.api().journal(kind="rest", since_seq=self.seq)
        for e in entries:
            if e.get("account") not in self.followers:
                continue
            endpoint = e.get("endpoint")
            if endpoint == "POST /orders":
                status = e.get("status")
                if isinstance(status, int) and 200 <= status < 300:
                    self.count += 1
                else:
                    self.refused[str(e.get("errorCode") or e.get("fault") or status)] += 1
            elif endpoint in self.reads:
                self.reads[endpoint] += 1
        if entries:
            self.seq = max(e["seq"] for e in entries)
        return self.count


def check_day(
    sim: SimProcess, accounts: Accounts, config: Config, store_url: str
) -> tuple[CheckResult, int]:
    """The chaos checker over the day: the journal's intents against the follower books (and
    each copy's content against the leader's order): lost = duplicated = wrong = 0 expected.
    Also the exit copies skipped unsent as "nothing to close" (``actors.exit_sizing``)."""
    journal = open_existing_journal(store_url)
    try:
        intents = journal.intents()
    finally:
        journal.close()
    api = sim.api()
    books = {f.name: api.orders(f.client_id) for f in config.followers}
    check = check_books(
        intents, books, leader_book=api.orders(accounts.leader), followers=config.followers
    )
    return check, sum(1 for i in intents if i.skip_reason == NOTHING_TO_CLOSE)


class _Stalled:
    """True once ``count()`` has not grown for ``quiet_s`` (copies that will never come:
    exits skipped unsent, say): the day is over without waiting the full timeout."""

    def __init__(self, count: Any, quiet_s: float) -> None:
        self.count = count
        self.quiet_s = quiet_s
        self.last = -1
        self.since = time.monotonic()

    def __call__(self) -> int:
        now, n = time.monotonic(), self.count()
        if n != self.last:
            self.last, self.since = n, now
        return n

    def stalled(self) -> bool:
        return time.monotonic() - self.since >= self.quiet_s


def _probe(directory: Path | None, label: str, timeout_s: float = 300.0) -> dict[str, Any]:
    """Ask the engine's memory probe (``bench.memprobe``) for a reading; wait for it."""
    if directory is None:
        return {}
    (directory / f"{label}.req").write_text("")
    answer = directory / f"{label}.json"
    wait_until(answer.exists, timeout_s, 0.2, f"memory probe {label}")  # written whole
    result: dict[str, Any] = json.loads(answer.read_text())
    return result


def measure(
    sim: SimProcess,
    index: int,
    followers: int,
    orders: int,
    settle_s: float,
    leader_rate: float = 4.0,
    probe: Path | None = None,
    quiet_s: float = 120.0,
) -> dict[str, Any]:
    accounts = Accounts.block(index, followers)
    sim.create_accounts(accounts.all)
    sim.api().set_ltp("NSE_EQ", SECURITY_ID, LTP)
    with workdir("bench-memory-") as tmp:
        config = write_config_yaml(tmp / "config.yaml", accounts, sim.rest_url, sim.feed_url, tmp)
        cfg = engine_config(accounts, sim.rest_url, sim.feed_url, tmp)
        probe_dir = probe / f"n{followers}" if probe is not None else None
        if probe_dir is not None:
            probe_dir.mkdir(parents=True, exist_ok=True)
            os.environ["MEMPROBE_DIR"] = str(probe_dir)
        module = "bench.memprobe" if probe_dir is not None else "copytrader"
        engine = EngineProcess(config, tmp / "engine.log", module=module).start()
        leader = DhanClient(
            base_url=sim.rest_url, client_id=accounts.leader, access_token=token_of(accounts.leader)
        )
        try:
            ready_s = engine.wait_ready(300.0)
            time.sleep(settle_s)  # let start-up garbage settle before the first reading
            rss_ready = rss_kb(engine.pid)
            probed_ready = _probe(probe_dir, "ready")
            sim.api().clear_journal()
            places = _FollowerPlaces(sim, accounts)
            started = time.monotonic()
            for k in range(orders):
                # paced under Dhan's 250 orders/min per account (a burst would be refused)
                time.sleep(max(0.0, started + k / leader_rate - time.monotonic()))
                leader.place_order(marketable_order(k))
            want = orders * followers
            # counted in the simulator's journal, once a second: scraping /metrics of 500
            # followers would cost the measured process more than the copies do
            counted = _Stalled(places, quiet_s)
            try:
                wait_until(lambda: counted() >= want or counted.stalled(), 1800.0, 1.0)
            except TimeoutError:
                print("  not every copy placed within 1800 s", file=sys.stderr)
            if places() < want:
                print(f"  not every copy placed: none for {quiet_s:.0f} s", file=sys.stderr)
            copied = places()
            time.sleep(settle_s)  # a follower tick or two settles the copies (book refresh)
            rss_after = rss_kb(engine.pid)
            probed_day = _probe(probe_dir, "day")
            places()  # the reads of the settle pause too
            result = {
                "followers": followers,
                "ready_s": round(ready_s, 2),
                "rss_ready_mb": round(rss_ready / 1024, 1),
                "rss_after_copies_mb": round(rss_after / 1024, 1),
                "peak_rss_mb": round(_hwm_kb(engine.pid) / 1024, 1),
                "threads": _threads(engine.pid),
                "leader_orders": orders,
                "copies_placed": copied,
                "copies_expected": want,
                "places_refused": dict(places.refused),
                "book_reads": places.reads["GET /orders"],
                "order_reads": places.reads["GET /orders/{order_id}"],
            }
            if probe_dir is not None:
                result["probe"] = {"ready": probed_ready, "day": probed_day}
        finally:
            leader.close()
            engine.stop()
        check, nothing_to_close = check_day(sim, accounts, cfg, cfg.store.url)
        result["check"] = check.line()
        result["exits_nothing_to_close"] = nothing_to_close
        result["check_bad"] = check.bad
        for problem in check.problems[:10]:
            print(f"  check: {problem}", file=sys.stderr)
    return result


def slope_mb(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of RSS (MB) over the number of followers."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.memory", description=__doc__)
    parser.add_argument("--followers", default="1,25,50", help="comma-separated N values")
    parser.add_argument(
        "--orders", type=int, default=500, help="leader orders copied per N (500: a day's)"
    )
    parser.add_argument("--leader-rate", type=float, default=4.0, help="leader orders per second")
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument(
        "--quiet-s",
        type=float,
        default=120.0,
        help="stop waiting for the copies once none was placed for this long (an exit copy "
        "skipped as 'nothing to close' never comes; holds wait 30 s at most)",
    )
    parser.add_argument(
        "--probe",
        type=Path,
        default=None,
        help="run the engine under bench.memprobe and write its readings (ready, after the "
        "day) in DIR/n<followers>/ (VmRSS is then inflated by tracemalloc)",
    )
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.followers.split(",")]
    rows: list[dict[str, Any]] = []
    with SimProcess(rate_limits=True) as sim:
        for i, n in enumerate(sizes):
            print(f"memory: {n} followers ...", file=sys.stderr, flush=True)
            rows.append(
                measure(
                    sim,
                    200 + i,
                    n,
                    args.orders,
                    args.settle_s,
                    args.leader_rate,
                    args.probe,
                    args.quiet_s,
                )
            )
    after = slope_mb([(r["followers"], r["rss_after_copies_mb"]) for r in rows])
    ready = slope_mb([(r["followers"], r["rss_ready_mb"]) for r in rows])
    results = {
        "benchmark": "memory",
        "machine": machine(),
        "method": "VmRSS of an engine subprocess (python -m copytrader run, metrics on, SQLite)",
        "runs": rows,
        "per_follower_mb_after_copies": round(after, 3) if after is not None else None,
        "per_follower_mb_ready": round(ready, 3) if ready is not None else None,
        "leader_orders": args.orders,
        "target_mb_per_follower": 1.0,
    }
    path = write_json("memory.json", results)
    print("engine RSS by number of followers (MB)")
    print(
        table(
            [
                "followers",
                "ready s",
                "RSS ready",
                "RSS after copies",
                "peak",
                "threads",
                "copies",
                "refused",
                "book reads",
                "order reads",
            ],
            [
                [
                    r["followers"],
                    r["ready_s"],
                    r["rss_ready_mb"],
                    r["rss_after_copies_mb"],
                    r["peak_rss_mb"],
                    r["threads"],
                    f"{r['copies_placed']}/{r['copies_expected']}",
                    sum(r["places_refused"].values()),
                    r["book_reads"],
                    r["order_reads"],
                ]
                for r in rows
            ],
        )
    )
    print(
        f"per follower (slope): {results['per_follower_mb_after_copies']} MB after copying "
        f"{args.orders} leader orders, {results['per_follower_mb_ready']} MB at ready "
        "(target <= 1 MB)"
    )
    for r in rows:
        refused = ", ".join(f"{k} x{v}" for k, v in sorted(r["places_refused"].items()))
        print(
            f"N={r['followers']}: check {r['check']}; exits skipped 'nothing to close': "
            f"{r['exits_nothing_to_close']}; places refused: {refused or 'none'}"
        )
    print(f"\nwritten: {path}")
    return 0 if all(r["check_bad"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
