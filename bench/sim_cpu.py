"""Benchmark: the simulator's CPU cost of one REST request, by endpoint.

Run: ``python -m bench.sim_cpu [--n 1000] [--sockets 2] [--repeat 3]``. The simulator runs in
its own process (rate limits off, price pinned); one client sends sequential requests, so the
server's CPU time (``/proc/<pid>/stat``) divided by the request count is its cost per request.
Phases: GET /profile (about the aiohttp floor), POST /orders (a marketable LIMIT, then resting
LIMITs), PUT, GET by id and DELETE of those, GET /orders of another account's fixed 1,000-order
book, and POST /orders again with ``--sockets`` order-update sockets of the account connected
(each order sends its TRANSIT, PENDING and TRADED frames to each). Each phase keeps the cheapest
of ``--repeat`` passes, as other load on a shared machine only adds to it. For scale, the first
row is a bare aiohttp server (its own process, no middleware) answering the same client's
POST /orders with a constant body: the floor no simulator change can go below. Prints a table
and writes ``bench/results/sim_cpu.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import websocket

from bench.common import (
    LTP,
    RESULTS,
    SECURITY_ID,
    SimProcess,
    cpu_s,
    marketable_order,
    resting_limit_order,
    token_of,
)
from dhan.codes import OrderType, Validity
from dhan.models import ModifyRequest
from dhan.rest import DhanClient

CLIENT_ID = "1000000001"
BOOK_CLIENT_ID = "1000000002"  # holds a fixed book for GET /orders
BOOK_SIZE = 1000


class _SocketReader:
    """One order-update socket of the account, counting the frames it receives."""

    def __init__(self, url: str) -> None:
        self.ws = websocket.create_connection(url, timeout=10)
        login = {
            "LoginReq": {"MsgCode": 42, "ClientId": CLIENT_ID, "Token": token_of(CLIENT_ID)},
            "UserType": "SELF",
        }
        self.ws.send(json.dumps(login))
        self.frames = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while True:
            try:
                self.ws.recv()
            except Exception:  # closed at the end of the run
                return
            self.frames += 1

    def close(self) -> None:
        self.ws.close()
        self._thread.join(5.0)


_FLOOR_ANSWER = b'{"orderId":"112000000001","orderStatus":"TRANSIT"}'


def _serve_floor() -> None:
    """The bare aiohttp server of the floor row: prints its port, serves until killed."""
    from aiohttp import web

    async def place(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=_FLOOR_ANSWER, content_type="application/json")

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/v2/orders", place)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        print(runner.addresses[0][1], flush=True)  # the port bound to 0
        await asyncio.Event().wait()

    asyncio.run(serve())


def _floor(n: int, repeat: int) -> float:
    """Microseconds of CPU per POST /orders of the bare aiohttp server (cheapest pass)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.sim_cpu", "--serve-floor"], stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        client = DhanClient(
            base_url=f"http://127.0.0.1:{port}/v2",
            client_id=CLIENT_ID,
            access_token=token_of(CLIENT_ID),
        )
        for i in range(50):
            client.place_order(marketable_order(i))
        best = min(
            _measure(proc.pid, n, lambda i: client.place_order(marketable_order(i)))
            for _ in range(repeat)
        )
        client.close()
        return best
    finally:
        proc.kill()
        proc.wait(5.0)


def _measure(pid: int, count: int, call: Callable[[int], Any]) -> float:
    """Microseconds of simulator CPU per call over ``count`` sequential calls."""
    before_s = cpu_s(pid)
    for i in range(count):
        call(i)
    return (cpu_s(pid) - before_s) / count * 1e6


def _phases(
    sim: SimProcess, client: DhanClient, book_client: DhanClient, n: int, sockets: int
) -> dict[str, float]:
    """One pass over every phase: microseconds of simulator CPU per request, by phase."""
    pid = sim.pid
    results: dict[str, float] = {}
    results["GET /profile (near the aiohttp floor)"] = _measure(pid, n, lambda i: client.profile())
    results["POST /orders (marketable)"] = _measure(
        pid, n, lambda i: client.place_order(marketable_order(i))
    )
    resting: list[str] = []
    results["POST /orders (resting)"] = _measure(
        pid, n, lambda i: resting.append(client.place_order(resting_limit_order()).order_id)
    )
    modify = ModifyRequest(
        order_type=OrderType.LIMIT,
        quantity=2,
        price=round(LTP * 0.89, 2),
        trigger_price=None,
        validity=Validity.DAY,
    )
    results["PUT /orders/{id}"] = _measure(
        pid, n, lambda i: client.modify_order(resting[i], modify)
    )
    results["GET /orders/{id}"] = _measure(pid, n, lambda i: client.get_order(resting[i]))
    results["DELETE /orders/{id}"] = _measure(pid, n, lambda i: client.cancel_order(resting[i]))
    results[f"GET /orders (book of {BOOK_SIZE})"] = _measure(
        pid, 20, lambda i: book_client.list_orders()
    )
    if sockets:
        readers = [_SocketReader(sim.feed_url) for _ in range(sockets)]
        deadline = time.monotonic() + 10
        while sim.api().socket_count(CLIENT_ID) < sockets and time.monotonic() < deadline:
            time.sleep(0.01)
        key = f"POST /orders (marketable, {sockets} sockets)"
        results[key] = _measure(pid, n, lambda i: client.place_order(marketable_order(i)))
        for reader in readers:
            reader.close()
        while sim.api().socket_count(CLIENT_ID) and time.monotonic() < deadline:
            time.sleep(0.01)
    return results


def run(n: int, sockets: int, repeat: int) -> dict[str, float]:
    """The cheapest of ``repeat`` passes per phase (other load on the machine only adds)."""
    best = {"bare aiohttp POST (the floor)": _floor(n, repeat)}
    with SimProcess(seed=1, rate_limits=False) as sim:
        sim.create_accounts([CLIENT_ID, BOOK_CLIENT_ID])
        sim.api().set_ltp("NSE_EQ", SECURITY_ID, LTP)
        client = DhanClient(
            base_url=sim.rest_url, client_id=CLIENT_ID, access_token=token_of(CLIENT_ID)
        )
        book_client = DhanClient(
            base_url=sim.rest_url,
            client_id=BOOK_CLIENT_ID,
            access_token=token_of(BOOK_CLIENT_ID),
        )
        # A fixed book: half traded, a quarter resting, a quarter cancelled.
        for i in range(BOOK_SIZE // 2):
            book_client.place_order(marketable_order(i))
        for i in range(BOOK_SIZE // 2):
            order_id = book_client.place_order(resting_limit_order()).order_id
            if i % 2:
                book_client.cancel_order(order_id)
        for i in range(50):  # warm up: connections, code paths
            client.place_order(marketable_order(i))
        for _ in range(repeat):
            for name, us in _phases(sim, client, book_client, n, sockets).items():
                best[name] = min(us, best.get(name, us))
        client.close()
        book_client.close()
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="requests per phase")
    parser.add_argument("--sockets", type=int, default=2, help="order sockets in the last phase")
    parser.add_argument("--repeat", type=int, default=3, help="passes; the cheapest counts")
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_floor:
        _serve_floor()
        return 0
    results = run(args.n, args.sockets, args.repeat)
    width = max(len(k) for k in results)
    print(f"{'request':<{width}}  sim CPU us/request")
    for name, us in results.items():
        print(f"{name:<{width}}  {us:10.0f}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "sim_cpu.json"
    out.write_text(
        json.dumps({"n": args.n, "repeat": args.repeat, "us_per_request": results}, indent=2) + "\n"
    )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
