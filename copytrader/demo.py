"""``python -m copytrader demo``: the first thing a new user runs. No credentials, no network.

Starts the bundled simulator, the engine with N followers on a throw-away store, and a scripted
leader that trades a realistic mix (market, limit, modify, cancel, a bracket order whose target
fills, a super order, an exit). Shows a live table of the leader's orders and each follower's
copy, then a summary: orders copied, p50/p99 copy latency, copy slippage per follower, lost /
duplicated (must be 0).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.copy_slippage import day_slippage
from copytrader.checker import check_books, positions_of
from copytrader.config import (
    AccountConfig,
    Config,
    EngineConfig,
    FollowerConfig,
    Secret,
    SizingConfig,
    SizingMode,
)
from copytrader.engine import BrokerEndpoints, Engine
from copytrader.latency import copy_latencies, percentile
from copytrader.logs import setup_logging
from copytrader.scripted import nse_order, sim_engine_config
from dhan.codes import (
    ExchangeSegment,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.correlation import correlation_id_for
from dhan.models import ModifyRequest, OrderRequest, SuperOrderRequest, Trade
from dhan.rest import DhanClient

logger = logging.getLogger("copytrader.demo")

LEADER_ID = "1000000001"
_SIZINGS = (
    SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=1.0),
    SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=2.0),
    SizingConfig(mode=SizingMode.FIXED, quantity=3),
    SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=0.5),
)


def demo_config(rest_url: str, feed_url: str, followers: int, workdir: Path) -> Config:
    return sim_engine_config(
        rest_url,
        feed_url,
        workdir,
        leader=AccountConfig(client_id=LEADER_ID, access_token=Secret("demo-leader-token")),
        followers=(
            FollowerConfig(
                name=f"follower{i + 1}",
                client_id=str(2000000001 + i),
                access_token=Secret(f"demo-follower-token-{i + 1}"),
                sizing=_SIZINGS[i % len(_SIZINGS)],
            )
            for i in range(followers)
        ),
        store_file="demo.db",
        engine=EngineConfig(follower_tick_s=0.5, bracket_tick_s=0.25),
        ping_s=2.0,
    )


def leader_script(
    leader: DhanClient, set_ltp: Callable[[str, float], object]
) -> list[tuple[str, Callable[[], object]]]:
    """The scripted leader: (description, action) pairs, run in order."""
    state: dict[str, str] = {}

    def place(key: str, req: OrderRequest) -> Callable[[], object]:
        return lambda: state.__setitem__(key, leader.place_order(req).order_id)

    return [
        ("market BUY 10 HDFCBANK", place("m", nse_order("1333", 10, OrderType.MARKET))),
        (
            "limit BUY 5 RELIANCE @ 2380",
            place("l", nse_order("2885", 5, OrderType.LIMIT, price=2380.0)),
        ),
        (
            "modify that limit to 2390",
            lambda: leader.modify_order(
                state["l"],
                ModifyRequest(
                    OrderType.LIMIT,
                    quantity=5,
                    price=2390.0,
                    trigger_price=None,
                    validity=Validity.DAY,
                ),
            ),
        ),
        (
            "limit BUY 8 INFY @ 1450",
            place("c", nse_order("1594", 8, OrderType.LIMIT, price=1450.0)),
        ),
        ("cancel that INFY order", lambda: leader.cancel_order(state["c"])),
        (
            "bracket BUY 4 TCS (target +20, stop -10)",
            place(
                "bo",
                nse_order(
                    "11536",
                    4,
                    OrderType.LIMIT,
                    price=3500.0,
                    product=ProductType.BO,
                    bo_profit_value=20.0,
                    bo_stop_loss_value=10.0,
                ),
            ),
        ),
        (
            "super order BUY 6 SBIN (target 830, stop 800)",
            lambda: state.__setitem__(
                "so",
                leader.place_super_order(
                    SuperOrderRequest(
                        transaction_type=TransactionType.BUY,
                        exchange_segment=ExchangeSegment.NSE_EQ,
                        product_type=ProductType.INTRADAY,
                        order_type=OrderType.LIMIT,
                        security_id="3045",
                        quantity=6,
                        price=810.0,
                        target_price=830.0,
                        stop_loss_price=800.0,
                    )
                ).order_id,
            ),
        ),
        ("TCS rallies to 3525: the bracket's target fills", lambda: set_ltp("11536", 3525.0)),
        (
            "market SELL 10 HDFCBANK (exit)",
            place("x", nse_order("1333", 10, OrderType.MARKET, TransactionType.SELL)),
        ),
    ]


_EXIT_LEGS = {"TARGET_LEG": "target leg", "STOP_LOSS_LEG": "stop-loss leg"}
_LEG_ORDER = {"": 0, "TARGET_LEG": 1, "STOP_LOSS_LEG": 2}
_OPEN = {"TRANSIT", "PENDING", "PART_TRADED", "TRIGGERED"}


@dataclass(frozen=True, slots=True)
class _Row:
    """One line of the table: a leader order or one of its exit legs."""

    entry_id: str  #: the leader order (a bracket's entry for its legs)
    leg: str  #: "" for the order itself, else TARGET_LEG / STOP_LOSS_LEG


def _key(order: Mapping[str, Any]) -> _Row:
    leg = str(order.get("legName") or "")
    if leg not in _EXIT_LEGS:
        return _Row(str(order["orderId"]), "")
    # bracket (BO/CO) legs point to their entry; a super order's legs share its id
    return _Row(str(order.get("parentOrderId") or order["orderId"]), leg)


def _order_type(order: Mapping[str, Any]) -> str:
    """What the trader asked for: a market order the broker turned into a protected limit
    order is still a market order (dhansim keeps it as ``requestedOrderType``)."""
    return str(order.get("requestedOrderType") or order.get("orderType") or "")


def _describe(order: Mapping[str, Any], leg: str) -> str:
    price = float(order.get("price") or 0.0)
    at = f" @{price:g}" if price and _order_type(order) in ("LIMIT", "STOP_LOSS") else ""
    if leg:
        return f"  {_EXIT_LEGS[leg]}{at}"
    product = str(order.get("productType") or "")
    kind = "SUPER" if order.get("legName") == "ENTRY_LEG" and product not in ("BO", "CO") else ""
    kind = kind or (product if product in ("BO", "CO") else _order_type(order))
    return f"{order.get('transactionType')} {kind} {order.get('quantity')}{at}"


def render_table(
    leader_book: Sequence[Mapping[str, Any]],
    follower_books: Mapping[str, Sequence[Mapping[str, Any]]],
    latencies_s: Mapping[tuple[str, str], float] | None = None,
) -> str:
    """The leader's orders (and bracket legs), one column per follower: each copy's status,
    quantity, limit price and copy latency. Books are ``GET /orders`` dicts; a copy is matched
    by its correlationId (legs carry their entry's); ``latencies_s`` maps (leader order,
    follower name) to seconds."""
    latencies_s = latencies_s or {}
    leader_rows: dict[_Row, Mapping[str, Any]] = {}
    for order in leader_book:
        leader_rows.setdefault(_key(order), order)
    cells: dict[str, dict[_Row, str]] = {}
    for name, book in follower_books.items():
        of_cid = {correlation_id_for(name, row.entry_id): row.entry_id for row in leader_rows}
        mine: dict[_Row, str] = {}
        for order in book:
            entry_id = of_cid.get(str(order.get("correlationId") or ""))
            if entry_id is None:
                continue
            row = _Row(entry_id, _key(order).leg)
            status = str(order.get("orderStatus"))
            price = float(order.get("price") or 0.0)
            text = f"{status} {order.get('quantity')}"
            if status in _OPEN and price and _order_type(order) in ("LIMIT", "STOP_LOSS"):
                text += f" @{price:g}"
            latency = latencies_s.get((entry_id, name)) if not row.leg else None
            if latency is not None:
                text += f" {latency * 1000:.0f}ms"
            mine[row] = text
        cells[name] = mine
    names = list(follower_books)
    header = ["leader order", "what", "status", *names]
    body = []
    for row in sorted(leader_rows, key=lambda r: (r.entry_id, _LEG_ORDER[r.leg])):
        order = leader_rows[row]
        body.append(
            [
                "" if row.leg else row.entry_id,
                _describe(order, row.leg),
                str(order.get("orderStatus")),
                *(cells[n].get(row, "-") for n in names),
            ]
        )
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("-" * len(lines[0]))
    for line in body:
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _latencies(admin: Any, cfg: Config) -> dict[tuple[str, str], float]:
    """(leader order, follower name) -> leader frame sent -> follower place received, seconds."""
    leader_ids = [str(order["orderId"]) for order in admin.orders(LEADER_ID)]
    leader_of_cid = {
        correlation_id_for(f.name, oid): oid for f in cfg.followers for oid in leader_ids
    }
    name_of = {f.client_id: f.name for f in cfg.followers}
    samples = copy_latencies(admin.journal(), LEADER_ID, leader_of_cid.get)
    return {(s.leader_order_id, name_of[s.follower_client_id]): s.latency_s for s in samples}


def _live_table(admin: Any, cfg: Config, recent: Sequence[str]) -> str:
    books = {f.name: admin.orders(f.client_id) for f in cfg.followers}
    table = render_table(admin.orders(LEADER_ID), books, _latencies(admin, cfg))
    return "\n".join(["copytrader demo (live)", "", table, "", *recent])


def run(args: argparse.Namespace) -> int:
    import dhansim

    setup_logging(args.log_level or "WARNING", args.log_format or "text")
    tty = sys.stdout.isatty()
    with (
        tempfile.TemporaryDirectory(prefix="copytrader-demo-") as tmp,
        dhansim.running(seed=args.seed, random_walk=False) as sim,
    ):
        workdir = Path(tmp)
        cfg = demo_config(sim.rest_url, sim.order_feed_url, args.followers, workdir)
        prices = {"1333": 1600.0, "2885": 2400.0, "1594": 1500.0, "11536": 3500.0, "3045": 810.0}
        for sec, ltp in prices.items():
            sim.admin.set_ltp("NSE_EQ", sec, ltp)
        accounts: list[AccountConfig | FollowerConfig] = [cfg.leader, *cfg.followers]
        for account in accounts:
            sim.admin.create_account(account.client_id, account.access_token.reveal(), 1e8)
        engine = Engine(cfg, endpoints=BrokerEndpoints(sim.rest_url, sim.order_feed_url)).start()
        leader = DhanClient(
            base_url=sim.rest_url,
            client_id=LEADER_ID,
            access_token=cfg.leader.access_token.reveal(),
        )
        try:
            deadline = time.monotonic() + 10
            while not engine.ready()[0] and time.monotonic() < deadline:
                time.sleep(0.05)
            print(f"copytrader demo: simulator at {sim.rest_url}, {args.followers} followers\n")
            steps = leader_script(leader, lambda sec, ltp: sim.admin.set_ltp("NSE_EQ", sec, ltp))
            gap_s = max(0.3, (args.seconds - 3.0) / len(steps))
            done = threading.Event()
            recent: deque[str] = deque(maxlen=4)

            def script() -> None:
                for text, action in steps:
                    recent.append(f"leader: {text}")
                    if not tty:  # a pipe or a log: one line per step, no screen control
                        print(f"leader: {text}", flush=True)
                    action()
                    if done.wait(gap_s):
                        return
                done.set()

            worker = threading.Thread(target=script, name="demo-leader", daemon=True)
            worker.start()
            while not done.wait(0.5):
                if tty:  # redraw in place: cursor home, clear screen
                    print("\x1b[H\x1b[2J" + _live_table(sim.admin, cfg, recent), flush=True)
            worker.join()
            settle = time.monotonic() + 10
            while engine.journal.unresolved_count() and time.monotonic() < settle:
                time.sleep(0.1)
            return _summary(engine, cfg, sim)
        finally:
            done_flag = engine.stop()
            leader.close()
            if not done_flag:
                logger.warning("some actors did not stop in time")


def _summary(engine: Engine, cfg: Config, sim: object) -> int:
    admin = sim.admin  # type: ignore[attr-defined]  # dhansim.Simulator
    intents = engine.journal.intents()
    latencies = _latencies(admin, cfg)
    books = {f.name: admin.orders(f.client_id) for f in cfg.followers}
    print("\n" + render_table(admin.orders(LEADER_ID), books, latencies) + "\n")
    leader_book = admin.orders(LEADER_ID)
    check = check_books(
        intents,
        books,
        leader_book=leader_book,
        followers=cfg.followers,
        exit_bases=engine.journal.exit_bases,
    )
    # the positions the accounts' fills add up to: none reversed, over-closed or drifted
    rest_url: str = sim.rest_url  # type: ignore[attr-defined]  # dhansim.Simulator
    check.add_positions(
        positions_of(leader_book, books, cfg.followers, _trade_books(cfg, rest_url))
    )
    values = list(latencies.values())
    print(
        f"copied {check.ok} follower orders from "
        f"{len({i.leader_order_id for i in intents})} leader orders; "
        f"copy latency p50 {percentile(values, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(values, 0.99) * 1000:.1f} ms (leader frame -> follower order, "
        f"{len(values)} samples)"
    )
    print("copy slippage (fully filled copies, bps of the leader's fill price, + worse):")
    for f in cfg.followers:
        print(f"  {f.name + ':':<13}{day_slippage(engine.journal, f.name).line()}")
    brackets, both_filled = _bracket_exits(books)
    print(f"brackets: {brackets} follower exits, both legs filled in {both_filled}")
    print(f"check: {check.line()}")
    for problem in check.problems[:20]:
        print(f"  {problem}")
    return 0 if check.bad == 0 and both_filled == 0 else 1


def _trade_books(cfg: Config, rest_url: str) -> dict[str, list[Trade]]:
    """Each account's ``GET /trades`` ("leader" and each follower's name)."""
    out: dict[str, list[Trade]] = {}
    accounts: list[tuple[str, AccountConfig | FollowerConfig]] = [("leader", cfg.leader)]
    accounts += [(f.name, f) for f in cfg.followers]
    for name, account in accounts:
        token = account.access_token.reveal()
        with DhanClient(base_url=rest_url, client_id=account.client_id, access_token=token) as c:
            out[name] = c.trades()
    return out


def _bracket_exits(books: Mapping[str, Sequence[Mapping[str, Any]]]) -> tuple[int, int]:
    """(follower brackets with a filled exit leg, those where both exit legs filled)."""
    exits = both = 0
    for book in books.values():
        legs: dict[str, list[str]] = {}
        for order in book:
            row = _key(order)
            if row.leg:
                legs.setdefault(row.entry_id, []).append(str(order.get("orderStatus")))
        for statuses in legs.values():
            filled = statuses.count("TRADED")
            exits += filled >= 1
            both += filled >= 2
    return exits, both
