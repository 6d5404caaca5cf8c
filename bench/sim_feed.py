"""Benchmark: order-update frames delivered to 200 connected accounts.

Run: ``python -m bench.sim_feed [--accounts 200] [--rounds 10]``. The simulator runs in this
process; a separate worker process opens one aiohttp WebSocket per account (login frame as Dhan
documents), then each round places one resting LIMIT order per account over REST at once and
waits for that order's PENDING frame on the account's socket. Reports frames delivered per second
and place-to-frame latency; writes ``bench/results/sim_feed.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import print_metrics, write_json


async def _worker(rest_url: str, feed_url: str, accounts: list[str], rounds: int) -> dict:
    import aiohttp

    frames = 0
    waiters: dict[str, asyncio.Future[float]] = {}
    early: dict[str, float] = {}

    async def listen(ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal frames
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            frames += 1
            data = json.loads(msg.data)["Data"]
            if data["Status"] != "PENDING":
                continue
            now = time.perf_counter()
            future = waiters.get(data["OrderNo"])
            if future is not None and not future.done():
                future.set_result(now)
            else:
                early[data["OrderNo"]] = now

    connector = aiohttp.TCPConnector(limit=len(accounts) + 10)
    async with aiohttp.ClientSession(connector=connector) as session:
        sockets = []
        for client_id in accounts:
            ws = await session.ws_connect(feed_url, heartbeat=None)
            login = {"MsgCode": 42, "ClientId": client_id, "Token": f"bench-{client_id}"}
            await ws.send_str(json.dumps({"LoginReq": login, "UserType": "SELF"}))
            sockets.append(ws)
        listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
        admin = rest_url[: -len("/v2")] + "/sim/order-update/connections"
        while True:  # no login ack exists: wait until the server lists every socket
            async with session.get(admin) as response:
                if (await response.json())["connections"] >= len(accounts):
                    break
            await asyncio.sleep(0.05)

        latencies: list[float] = []

        async def place(client_id: str, n: int) -> None:
            body = {
                "dhanClientId": client_id,
                "transactionType": "BUY",
                "exchangeSegment": "NSE_EQ",
                "productType": "INTRADAY",
                "orderType": "LIMIT",
                "validity": "DAY",
                "securityId": "2885",
                "quantity": 1,
                "price": 1000.0,
                "correlationId": f"f{n}",
            }
            headers = {"access-token": f"bench-{client_id}", "client-id": client_id}
            sent = time.perf_counter()
            async with session.post(f"{rest_url}/orders", json=body, headers=headers) as resp:
                order_id = (await resp.json())["orderId"]
            if order_id in early:
                arrived = early.pop(order_id)
            else:
                future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                waiters[order_id] = future
                arrived = await asyncio.wait_for(future, 30)
            latencies.append(arrived - sent)

        begun = time.perf_counter()
        for r in range(rounds):
            await asyncio.gather(*(place(c, r) for c in accounts))
        elapsed_s = time.perf_counter() - begun
        for ws in sockets:
            await ws.close()
        for task in listeners:
            task.cancel()
    ordered = sorted(latencies)
    return {
        "orders": len(latencies),
        "frames_received": frames,
        "elapsed_s": elapsed_s,
        "frames_per_s": frames / elapsed_s,
        "place_to_frame_p50_ms": statistics.median(ordered) * 1e3,
        "place_to_frame_p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.sim_feed")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rest-url", help=argparse.SUPPRESS)
    parser.add_argument("--feed-url", help=argparse.SUPPRESS)
    parser.add_argument("--account-ids", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        ids = args.account_ids.split(",")
        worker_result = asyncio.run(_worker(args.rest_url, args.feed_url, ids, args.rounds))
        print(json.dumps(worker_result))
        return 0

    import dhansim

    with dhansim.running(seed=1, rate_limits=False, random_walk=False) as sim:
        ids = [str(1_300_000_001 + n) for n in range(args.accounts)]
        for client_id in ids:
            sim.admin.create_account(client_id, f"bench-{client_id}", 1e13)
        sim.admin.set_ltp("NSE_EQ", "2885", 1480.0)
        worker = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.sim_feed",
                "--worker",
                "--rest-url",
                sim.rest_url,
                "--feed-url",
                sim.order_feed_url,
                "--account-ids",
                ",".join(ids),
                "--rounds",
                str(args.rounds),
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        result: dict[str, Any] = json.loads(worker.stdout.strip().splitlines()[-1])
        sent = sim.admin.journal(kind="frame", limit=1_000_000)
    result.update(
        {
            "benchmark": "sim_feed",
            "cpus": os.cpu_count(),
            "accounts": args.accounts,
            "rounds": args.rounds,
            "frames_journaled_sent": sum(1 for e in sent if e["result"] == "sent"),
        }
    )
    write_json("sim_feed.json", result)
    print_metrics(
        "dhansim order-update fan-out (one socket per account, worker in a subprocess)",
        result,
        (
            "accounts",
            "orders",
            "frames_received",
            "frames_per_s",
            "place_to_frame_p50_ms",
            "place_to_frame_p99_ms",
        ),
        widths=(26, 12),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
