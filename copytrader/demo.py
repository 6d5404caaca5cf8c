"""``python -m copytrader demo``: the first thing a new user runs. No credentials, no network.

Starts the bundled simulator, the engine with N followers on a throw-away store, and a scripted
leader that trades a realistic mix (market, limit, modify, cancel, a bracket order whose target
fills, a super order, an exit). Shows a live table of the leader's orders and each follower's
copy, then a summary: orders copied, p50/p99 copy latency, lost / duplicated (must be 0).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from copytrader.checker import check_books
from copytrader.config import (
    AccountConfig,
    BrokerConfig,
    Config,
    EngineConfig,
    FollowerConfig,
    LoggingConfig,
    MetricsConfig,
    Secret,
    SizingConfig,
    SizingMode,
    StoreConfig,
)
from copytrader.engine import BrokerEndpoints, Engine
from copytrader.latency import copy_latencies, percentile
from copytrader.logs import setup_logging
from dhan.codes import (
    ExchangeSegment,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.models import ModifyRequest, OrderRequest, SuperOrderRequest
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
    return Config(
        leader=AccountConfig(client_id=LEADER_ID, access_token=Secret("demo-leader-token")),
        followers=tuple(
            FollowerConfig(
                name=f"follower{i + 1}",
                client_id=str(2000000001 + i),
                access_token=Secret(f"demo-follower-token-{i + 1}"),
                sizing=_SIZINGS[i % len(_SIZINGS)],
            )
            for i in range(followers)
        ),
        broker=BrokerConfig(
            embedded_sim=False,
            rest_url=rest_url,
            order_feed_url=feed_url,
            feed_ping_interval_s=2.0,
            feed_ping_timeout_s=2.0,
        ),
        engine=EngineConfig(
            follower_tick_s=0.5,
            bracket_tick_s=0.25,
            audit_path=str(workdir / "audit.jsonl"),
        ),
        store=StoreConfig(url=f"sqlite:///{workdir / 'demo.db'}"),
        metrics=MetricsConfig(enabled=False),
        logging=LoggingConfig(level="WARNING"),
    )


def _order(
    security_id: str,
    qty: int,
    order_type: OrderType,
    price: float = 0.0,
    side: TransactionType = TransactionType.BUY,
    product: ProductType = ProductType.INTRADAY,
    **kw: float,
) -> OrderRequest:
    return OrderRequest(
        transaction_type=side,
        exchange_segment=ExchangeSegment.NSE_EQ,
        product_type=product,
        order_type=order_type,
        validity=Validity.DAY,
        security_id=security_id,
        quantity=qty,
        price=price,
        **kw,  # type: ignore[arg-type]  # bo_profit_value / bo_stop_loss_value floats
    )


def leader_script(
    leader: DhanClient, set_ltp: Callable[[str, float], object]
) -> list[tuple[str, Callable[[], object]]]:
    """The scripted leader: (description, action) pairs, run in order."""
    state: dict[str, str] = {}

    def place(key: str, req: OrderRequest) -> Callable[[], object]:
        return lambda: state.__setitem__(key, leader.place_order(req).order_id)

    return [
        ("market BUY 10 HDFCBANK", place("m", _order("1333", 10, OrderType.MARKET))),
        ("limit BUY 5 RELIANCE @ 2380", place("l", _order("2885", 5, OrderType.LIMIT, 2380.0))),
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
        ("limit BUY 8 INFY @ 1450", place("c", _order("1594", 8, OrderType.LIMIT, 1450.0))),
        ("cancel that INFY order", lambda: leader.cancel_order(state["c"])),
        (
            "bracket BUY 4 TCS (target +20, stop -10)",
            place(
                "bo",
                _order(
                    "11536",
                    4,
                    OrderType.LIMIT,
                    3500.0,
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
            place("x", _order("1333", 10, OrderType.MARKET, side=TransactionType.SELL)),
        ),
    ]


def _table(engine: Engine, cfg: Config, latencies: dict[tuple[str, str], float]) -> str:
    intents = engine.journal.intents()
    by_leader: dict[str, dict[str, str]] = {}
    for i in intents:
        status = str(i.broker_status or i.state)
        by_leader.setdefault(i.leader_order_id, {})[i.follower] = f"{status}:{i.quantity}"
    snaps = {s.leader_order_id: s for s in engine.journal.leader_snapshots() if not s.leg_name}
    names = [f.name for f in cfg.followers]
    header = f"{'leader order':<14}{'type':<18}{'qty':>5} {'status':<11}" + "".join(
        f"{n:>22}" for n in names
    )
    lines = [header, "-" * len(header)]
    for oid, s in sorted(snaps.items()):
        kind = f"{s.transaction_type} {s.order_type}"[:17]
        if s.product_type in (ProductType.BO, ProductType.CO) or s.is_super:
            kind = f"{s.transaction_type} {'SUPER' if s.is_super else s.product_type}"
        cells = []
        for f in cfg.followers:
            cell = by_leader.get(oid, {}).get(f.name, "-")
            ms = latencies.get((oid, f.client_id))
            cells.append(f"{cell}{f' {ms * 1000:.0f}ms' if ms is not None else ''}"[:21])
        lines.append(
            f"{oid:<14}{kind:<18}{s.quantity:>5} {s.status!s:<11}"
            + "".join(f"{c:>22}" for c in cells)
        )
    return "\n".join(lines)


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

            def script() -> None:
                for text, action in steps:
                    print(f"leader: {text}", flush=True)
                    action()
                    if done.wait(gap_s):
                        return
                done.set()

            worker = threading.Thread(target=script, name="demo-leader", daemon=True)
            worker.start()
            while not done.wait(1.0):
                if tty:
                    print("\x1b[H\x1b[2J" + _table(engine, cfg, {}), flush=True)
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
    cid_to_leader = {i.correlation_id: i.leader_order_id for i in intents}
    samples = copy_latencies(admin.journal(), LEADER_ID, cid_to_leader.get)
    lat = {(s.leader_order_id, s.follower_client_id): s.latency_s for s in samples}
    print("\n" + _table(engine, cfg, lat) + "\n")
    books = {f.name: admin.orders(f.client_id) for f in cfg.followers}
    check = check_books(intents, books)
    values = [s.latency_s for s in samples]
    print(
        f"copied {check.ok} follower orders from "
        f"{len({i.leader_order_id for i in intents})} leader orders; "
        f"copy latency p50 {percentile(values, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(values, 0.99) * 1000:.1f} ms (leader frame -> follower order, "
        f"{len(values)} samples)"
    )
    print(f"check: {check.line()}")
    for problem in check.problems[:20]:
        print(f"  {problem}")
    return 0 if check.bad == 0 else 1
