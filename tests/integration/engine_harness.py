"""Test harness: an engine wired to an in-process dhansim, plus the checks the invariants need.

Not a mock: the engine, the simulator and the SQLite journal are the real ones, talking over
loopback. The helpers here only build configs, drive the leader through the REST API like a
trader would, and wait (polling with a deadline) for the followers' books to converge.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from copytrader.config import (
    AccountConfig,
    BrokerConfig,
    CapsConfig,
    Config,
    EngineConfig,
    FiltersConfig,
    FollowerConfig,
    LoggingConfig,
    MetricsConfig,
    ReconcilePolicy,
    Secret,
    SizingConfig,
    SizingMode,
    StoreConfig,
)
from copytrader.engine import BrokerEndpoints, Engine
from dhan.codes import (
    ExchangeSegment,
    LegName,
    OrderType,
    ProductType,
    TransactionType,
    Validity,
)
from dhan.correlation import correlation_id_for
from dhan.models import ModifyRequest, OrderRequest
from dhan.rest import DhanClient
from dhansim import Simulator

LEADER_ID = "1100000000"


def wait_until(
    predicate: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.02, what: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)  # polling interval, not synchronisation: the deadline decides
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what or predicate}: {last!r}")


def follower_config(
    name: str,
    client_id: str,
    *,
    multiplier: float | None = 1.0,
    fixed: int | None = None,
    enabled: bool = True,
    caps: CapsConfig | None = None,
    filters: FiltersConfig | None = None,
) -> FollowerConfig:
    if fixed is not None:
        sizing = SizingConfig(mode=SizingMode.FIXED, quantity=fixed)
    else:
        sizing = SizingConfig(mode=SizingMode.MULTIPLIER, multiplier=multiplier or 1.0)
    return FollowerConfig(
        name=name,
        client_id=client_id,
        access_token=Secret(f"tok-{client_id}"),
        sizing=sizing,
        enabled=enabled,
        caps=caps or CapsConfig(),
        filters=filters or FiltersConfig(),
    )


def build_config(
    sim: Simulator,
    tmp_path: Path,
    followers: Iterable[FollowerConfig],
    *,
    policy: ReconcilePolicy = ReconcilePolicy.COPY_OPEN,
    store_name: str = "journal.db",
    leader_reconcile_s: float | None = None,
    follower_tick_s: float = 0.3,
    follower_sockets: bool = True,
    max_orders_per_second: int | None = None,
) -> Config:
    """``leader_reconcile_s`` None: the engine's default period of the leader reconcile.
    ``max_orders_per_second`` None: the engine's default rate cap per follower account.
    ``follower_tick_s``: long to make a test depend on hints only (no refresh from the book).
    ``follower_sockets`` False: the followers learn fills from their books only (polling)."""
    engine = EngineConfig(
        reconcile_policy=policy,
        follower_tick_s=follower_tick_s,
        follower_sockets=follower_sockets,
        bracket_tick_s=0.15,
        outcome_lookup_delay_s=0.2,
        audit_path=str(tmp_path / "audit.jsonl"),
    )
    if leader_reconcile_s is not None:
        engine = replace(engine, leader_reconcile_s=leader_reconcile_s)
    if max_orders_per_second is not None:
        engine = replace(engine, max_orders_per_second=max_orders_per_second)
    return Config(
        leader=AccountConfig(client_id=LEADER_ID, access_token=Secret(f"tok-{LEADER_ID}")),
        followers=tuple(followers),
        broker=BrokerConfig(
            embedded_sim=False,
            rest_url=sim.rest_url,
            order_feed_url=sim.order_feed_url,
            connect_timeout_s=1.0,
            read_timeout_s=1.0,
            feed_ping_interval_s=0.5,
            feed_ping_timeout_s=1.0,
        ),
        engine=engine,
        store=StoreConfig(url=f"sqlite:///{tmp_path / store_name}"),
        metrics=MetricsConfig(enabled=False),
        logging=LoggingConfig(),
    )


def create_accounts(
    sim: Simulator, cfg: Config, balance: float = 1e8, balances: dict[str, float] | None = None
) -> None:
    """Every account with ``balance`` rupees, or its own from ``balances`` (by client id)."""
    for account in (cfg.leader, *cfg.followers):
        own = (balances or {}).get(account.client_id, balance)
        sim.admin.create_account(account.client_id, account.access_token.reveal(), own)


@dataclass
class Rig:
    """A running engine on a simulator, and the leader's own REST client."""

    sim: Simulator
    cfg: Config
    engine: Engine
    leader: DhanClient
    extra: dict[str, Any] = field(default_factory=dict)

    def book(self, client_id: str) -> list[dict[str, Any]]:
        return self.sim.admin.orders(client_id)

    def follower_copies(
        self, follower: FollowerConfig, leader_order_id: str
    ) -> list[dict[str, Any]]:
        cid = correlation_id_for(follower.name, leader_order_id)
        return [
            o
            for o in self.book(follower.client_id)
            if o.get("correlationId") == cid and o.get("legName") in (None, "", "ENTRY_LEG", "NA")
        ]

    def wait_copies(
        self,
        leader_order_id: str,
        predicate: Callable[[FollowerConfig, list[dict[str, Any]]], bool],
        timeout_s: float = 10.0,
        followers: Iterable[FollowerConfig] | None = None,
    ) -> None:
        targets = list(followers if followers is not None else self.cfg.followers)

        def done() -> bool:
            return all(predicate(f, self.follower_copies(f, leader_order_id)) for f in targets)

        wait_until(done, timeout_s, what=f"copies of leader order {leader_order_id}")

    def stop(self) -> None:
        self.engine.stop()
        self.leader.close()


def start_rig(
    sim: Simulator, tmp_path: Path, followers: Iterable[FollowerConfig], **kw: Any
) -> Rig:
    faults = kw.pop("faults", None)
    balances = kw.pop("balances", None)
    cfg = build_config(sim, tmp_path, followers, **kw)
    create_accounts(sim, cfg, balances=balances)
    endpoints = BrokerEndpoints(sim.rest_url, sim.order_feed_url)
    engine = Engine(cfg, endpoints=endpoints, faults=faults).start()
    wait_until(lambda: engine.ready()[0], 10.0, what="engine ready")
    leader = DhanClient(
        base_url=sim.rest_url,
        client_id=cfg.leader.client_id,
        access_token=cfg.leader.access_token.reveal(),
    )
    return Rig(sim=sim, cfg=cfg, engine=engine, leader=leader)


def limit_buy(
    security_id: str = "1333", quantity: int = 10, price: float = 1500.0, **kw: Any
) -> OrderRequest:
    return OrderRequest(
        transaction_type=kw.pop("transaction_type", TransactionType.BUY),
        exchange_segment=kw.pop("exchange_segment", ExchangeSegment.NSE_EQ),
        product_type=kw.pop("product_type", ProductType.INTRADAY),
        order_type=kw.pop("order_type", OrderType.LIMIT),
        validity=kw.pop("validity", Validity.DAY),
        security_id=security_id,
        quantity=quantity,
        price=price,
        **kw,
    )


def bo_buy(
    quantity: int = 5,
    price: float = 1600.0,
    profit: float = 20.0,
    stop: float = 10.0,
    security_id: str = "2885",
) -> OrderRequest:
    """A bracket order's BUY LIMIT entry, its target ``profit`` and its stop ``stop`` away."""
    return limit_buy(
        security_id=security_id,
        quantity=quantity,
        price=price,
        product_type=ProductType.BO,
        bo_profit_value=profit,
        bo_stop_loss_value=stop,
    )


def move_leader_stop(rig: Rig, trigger: float) -> str:
    """The leader moves its bracket's stop-loss leg to ``trigger`` (a SL-M); its order id."""
    stop = next(
        o for o in rig.book(rig.cfg.leader.client_id) if o.get("legName") == "STOP_LOSS_LEG"
    )
    rig.leader.modify_order(
        stop["orderId"],
        ModifyRequest(
            order_type=OrderType.STOP_LOSS_MARKET,
            quantity=stop["quantity"],
            price=None,
            trigger_price=trigger,
            validity=Validity.DAY,
            leg_name=LegName.STOP_LOSS_LEG,
        ),
    )
    return str(stop["orderId"])
