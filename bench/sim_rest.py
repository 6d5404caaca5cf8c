"""Benchmark: REST requests per second served by the simulator on this machine.

Run: ``python -m bench.sim_rest [--duration-s 8] [--connections 64] [--accounts 20]``. The
simulator runs in this process (its own thread and loop); the load generator is a separate
process (``--worker``) with an aiohttp client, keep-alive and many concurrent connections. The
mix is place (POST /orders, a resting LIMIT), GET /orders/{id} and GET /fundlimit, rate limits
off. Prints a table (wall-clock requests/s, latency, and the server's CPU cost per request,
which stays meaningful on a busy shared machine) and writes ``bench/results/sim_rest.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import print_metrics, write_json


async def _worker(url: str, accounts: list[str], connections: int, duration_s: float) -> dict:
    import aiohttp

    latencies: dict[str, list[float]] = {"place": [], "get": [], "funds": []}
    errors = 0
    stop_at = time.perf_counter() + duration_s
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def loop(n: int) -> None:
            nonlocal errors
            client_id = accounts[n % len(accounts)]
            headers = {
                "access-token": f"bench-{client_id}",
                "client-id": client_id,
                "Content-Type": "application/json",
            }
            body = json.dumps(
                {
                    "dhanClientId": client_id,
                    "transactionType": "BUY",
                    "exchangeSegment": "NSE_EQ",
                    "productType": "INTRADAY",
                    "orderType": "LIMIT",
                    "validity": "DAY",
                    "securityId": "2885",
                    "quantity": 1,
                    "price": 1000.0,
                    "correlationId": f"b{n}",
                }
            )
            order_id = ""
            i = 0
            while time.perf_counter() < stop_at:
                kind = ("place", "get", "funds")[i % 3]
                i += 1
                started = time.perf_counter()
                if kind == "place" or not order_id:
                    kind = "place"
                    request = session.post(f"{url}/orders", data=body, headers=headers)
                elif kind == "get":
                    request = session.get(f"{url}/orders/{order_id}", headers=headers)
                else:
                    request = session.get(f"{url}/fundlimit", headers=headers)
                async with request as response:
                    data = await response.read()
                    if response.status != 200:
                        errors += 1
                        continue
                if kind == "place":
                    order_id = json.loads(data)["orderId"]
                latencies[kind].append(time.perf_counter() - started)

        begun = time.perf_counter()
        await asyncio.gather(*(loop(n) for n in range(connections)))
        elapsed_s = time.perf_counter() - begun
    total = sum(len(v) for v in latencies.values())
    every = sorted(x for v in latencies.values() for x in v)
    return {
        "requests": total,
        "errors": errors,
        "elapsed_s": elapsed_s,
        "requests_per_s": total / elapsed_s,
        "p50_ms": statistics.median(every) * 1e3 if every else None,
        "p99_ms": every[int(len(every) * 0.99) - 1] * 1e3 if every else None,
        "by_kind": {k: len(v) for k, v in latencies.items()},
    }


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.sim_rest")
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--account-ids", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_result = asyncio.run(
            _worker(args.url, args.account_ids.split(","), args.connections, args.duration_s)
        )
        print(json.dumps(worker_result))
        return 0

    import dhansim

    with dhansim.running(seed=1, rate_limits=False, random_walk=False) as sim:
        ids = [str(1_200_000_001 + n) for n in range(args.accounts)]
        for client_id in ids:
            sim.admin.create_account(client_id, f"bench-{client_id}", 1e13)
        sim.admin.set_ltp("NSE_EQ", "2885", 1480.0)  # the bench's 1000.0 buys rest unfilled
        # This process only runs the simulator while the worker runs (the main thread waits),
        # so its CPU time is the server's: a capacity figure robust to a busy shared machine.
        cpu_before_s = _cpu_s()
        worker = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.sim_rest",
                "--worker",
                "--url",
                sim.rest_url,
                "--account-ids",
                ",".join(ids),
                "--connections",
                str(args.connections),
                "--duration-s",
                str(args.duration_s),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=args.duration_s + 120,
        )
        server_cpu_s = _cpu_s() - cpu_before_s
        result: dict[str, Any] = json.loads(worker.stdout.strip().splitlines()[-1])
        journal_entries = len(sim.admin.journal(kind="rest", limit=1_000_000))
    result.update(
        {
            "benchmark": "sim_rest",
            "cpus": os.cpu_count(),
            "connections": args.connections,
            "accounts": args.accounts,
            "duration_s": args.duration_s,
            "journal_entries_kept": journal_entries,
            "server_cpu_s": server_cpu_s,
            "server_us_per_request": server_cpu_s / result["requests"] * 1e6,
            "server_requests_per_cpu_s": result["requests"] / server_cpu_s,
        }
    )
    write_json("sim_rest.json", result)
    print_metrics(
        "dhansim REST throughput (simulator in-process, load generator in a subprocess)",
        result,
        (
            "requests",
            "errors",
            "requests_per_s",
            "p50_ms",
            "p99_ms",
            "connections",
            "server_us_per_request",
            "server_requests_per_cpu_s",
        ),
        widths=(22, 14),
    )
    print(f"{'mix':<22}{json.dumps(result['by_kind']):>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
